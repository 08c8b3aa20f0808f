/* SPDX-License-Identifier: Apache-2.0 */
/* Connections: the table, each one's ACL transmit queue and receive
 * reassembly, and the fixed-channel L2CAP send path. Private. */
#ifndef UVBLE_CONN_H
#define UVBLE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvble/uvble.h"

enum { CONN_ROLE_CENTRAL = 0, CONN_ROLE_PERIPHERAL = 1 };

/* One outgoing L2CAP PDU (basic header included), sent in fragments. Once
 * its last fragment is with the controller it waits, shrunk to the header,
 * on the connection's sent list until Number Of Completed Packets covers
 * that fragment (frag_end). */
struct acl_pdu {
  struct acl_pdu *next;
  size_t len;
  size_t sent;       /* bytes handed to the controller so far */
  uint64_t seq;      /* per connection and class, from 1 */
  uint64_t frag_end; /* tx_frags_sent after its last fragment */
  uint8_t cls;       /* ACL_CLASS_* */
  uint8_t data[];
};

/* Transmit classes: signalling and SMP PDUs go ahead of queued data on the
 * same link (never splitting a PDU that has started, never reordering
 * within a class), so a peer's request is answered while a channel
 * streams. */
enum { ACL_CLASS_CTL = 0, ACL_CLASS_DATA = 1, ACL_CLASSES = 2 };

struct acl_txq {
  struct acl_pdu *head, *tail;
};

/* A connection is reference-counted (as Zephyr's bt_conn): the table (or
 * uvble_close's linger list) holds one reference, and whoever keeps the
 * pointer across a call that may end the link (a dispatch delivering a
 * PDU, conn_remove running the layers' hooks) holds another. Removal
 * takes it off the table, completes what is pending on it and clears
 * `open`; the memory goes with the last reference. */
struct ble_conn {
  struct ble_conn *next;
  int refs;
  bool open;     /* on the table, every layer's conn_open hook ran */
  bool refused;  /* a conn_open hook failed: ending it, the app not told */
  bool gone;     /* conn_remove ran (or runs) on it */
  uint16_t handle;
  uint8_t role;
  uvble_addr_t peer;
  uint16_t interval, latency, supervision_timeout;
  /* Ending on our side (uvble_gap_disconnect): new sends are refused while
   * the queues drain, then HCI Disconnect goes out (conn_edge.c). */
  bool disconnecting;
  bool disc_sent;          /* HCI Disconnect queued */
  uint8_t disc_reason;
  uint64_t drain_deadline; /* ble_now_ms() value; 0 when not draining */

  /* transmit */
  struct acl_txq txq[ACL_CLASSES];
  struct acl_txq sentq;   /* sent, waiting for their completion */
  size_t txq_bytes;       /* both classes, not yet fully sent */
  uint64_t tx_seq[ACL_CLASSES];  /* last PDU queued, per class */
  uint64_t tx_done[ACL_CLASSES]; /* last PDU completed, per class */
  uint64_t tx_frags_sent, tx_frags_done;
  uint16_t acl_in_flight; /* fragments the controller has not completed */
  bool notify_refused;    /* a notification met a full queue: tell the app
                             when there is room (uvble_gatts_on_tx_ready) */

  /* receive reassembly */
  uint8_t *rx_buf;
  size_t rx_len;     /* bytes collected */
  size_t rx_total;   /* expected PDU length incl. header, 0 while unknown */
  size_t rx_cap;
  bool rx_discard;   /* dropping the rest of a bad PDU */

  /* Link security, kept by SMP, read by everyone (GATT permissions). */
  bool encrypted;
  bool authenticated;
  bool bonded;
  uint8_t key_size;

  /* Each layer's per-connection state, created in its conn_open hook and
   * freed in its conn_closed hook (modules.h). */
  struct gap_conn *gap;
  struct att_bearer *att;
  struct gattc_conn *gattc;
  struct l2cap_conn *l2cap;
  struct smp_conn *smp;
};

struct ble_conns {
  struct ble_conn *head;
  unsigned count;
};

struct ble_conn *conn_find(uvble_t *ble, uint16_t handle);
/* Adds a connection to the table (the table's reference); NULL when out
 * of memory. */
struct ble_conn *conn_add(uvble_t *ble, uint16_t handle, uint8_t role,
                          const uvble_addr_t *peer);
/* Runs every layer's conn_open hook on a connection just added. A hook
 * that fails undoes the ones before it (all or nothing): the connection
 * then stays on the table `refused` (no layer state, sends refused) until
 * its Disconnection Complete, and the error is returned. */
int conn_open(uvble_t *ble, struct ble_conn *c);
/* Removes the connection: it leaves the table, every layer's conn_closed
 * hook runs (reason is the HCI disconnect reason), its controller buffers
 * come back, its queues are dropped; the memory goes with its last
 * reference. */
void conn_remove(uvble_t *ble, struct ble_conn *conn, uint8_t reason);
/* Drops the reference of a connection already off the table (the linger
 * list's): its controller buffers come back. */
void conn_free(uvble_t *ble, struct ble_conn *conn);
/* References (see struct ble_conn). */
void conn_ref(struct ble_conn *conn);
void conn_unref(struct ble_conn *conn);
/* True while the connection is on the table and serving (not refused). */
static inline bool conn_is_open(const struct ble_conn *conn) {
  return conn->open;
}
/* Drops every connection without telling the controller (after a reset or a
 * failure); emits the disconnect events. */
void conn_drop_all(uvble_t *ble);

/* Queues one L2CAP PDU with the basic header (length, cid) on conn, built
 * from iov. Returns 0, UVBLE_EMSGSIZE (payload over 65535), UVBLE_ENOTCONN
 * while the link is being ended or UVBLE_ENOBUFS when the connection's
 * queue limit is reached. Signalling and SMP PDUs (CIDs 5 and 6) go ahead
 * of other queued data. */
int l2cap_send_pdu(uvble_t *ble, struct ble_conn *conn, uint16_t cid,
                   const uvble_iov_t *iov, int iovcnt);

/* Completion markers: the PDU last queued on cid's class on conn, and
 * whether the controller has completed it (and so everything of its class
 * queued before it). A layer that must know its PDUs are out (SMP's key
 * distribution) takes a mark after queuing and checks it from an
 * acl_on_tx_done observer. Mark 0 is always done. */
uint64_t acl_tx_mark(const struct ble_conn *conn, uint16_t cid);
bool acl_tx_done(const struct ble_conn *conn, uint64_t mark);
/* Observers run after every Number Of Completed Packets event has been
 * accounted (at most ACL_TX_OBSERVERS). */
#define ACL_TX_OBSERVERS 4
typedef void (*acl_tx_done_fn)(uvble_t *ble);
int acl_on_tx_done(uvble_t *ble, acl_tx_done_fn fn);
/* True when nothing of conn's is queued or held by the controller. */
bool acl_tx_idle(const struct ble_conn *conn);
/* Frees conn's queued and uncompleted PDUs; returns how many had not
 * reached the controller (the drop count). */
unsigned acl_tx_discard(struct ble_conn *conn);

/* Drops the queued data PDUs of one channel (cid: the peer's) that have
 * not started out; returns how many. A channel being disconnected sends no
 * more data (Vol 3, Part A, 4.6), and what is left would otherwise follow
 * the control PDUs that overtake it, onto a new channel given the same
 * CID. */
unsigned acl_tx_discard_cid(struct ble_conn *conn, uint16_t cid);

/* Ends a link on the application's behalf (conn_edge.c): refuses new
 * sends, lets the queued PDUs reach the controller and be completed, then
 * sends HCI Disconnect with reason; after the drain timeout it disconnects
 * anyway, counting what it dropped (uvble_stats_t.acl_tx_dropped). Returns
 * 0 or the error queuing HCI Disconnect. */
int conn_disconnect(uvble_t *ble, struct ble_conn *conn, uint8_t reason);
/* The ACL layer reports progress on conn's queues. */
void conn_edge_on_progress(uvble_t *ble, struct ble_conn *conn);
/* A reassembled PDU from the ACL layer (basic header included). */
void l2cap_on_pdu(uvble_t *ble, struct ble_conn *conn, const uint8_t *pdu,
                  size_t len);

#endif
