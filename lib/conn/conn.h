/* SPDX-License-Identifier: Apache-2.0 */
/* Connections: the table, each one's ACL transmit queue and receive
 * reassembly, and the fixed-channel L2CAP send path. Private. */
#ifndef UVBLE_CONN_H
#define UVBLE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hci.h"
#include "queue.h"
#include "uvble/uvble.h"

enum { CONN_ROLE_CENTRAL = 0, CONN_ROLE_PERIPHERAL = 1 };

/* Transmit classes: signalling and SMP PDUs go ahead of queued data on the
 * same link (never splitting a PDU that has started, never reordering
 * within a class), so a peer's request is answered while a channel
 * streams. */
enum { ACL_CLASS_CTL = 0, ACL_CLASS_DATA = 1, ACL_CLASSES = 2 };

/* One ACL packet of an outgoing L2CAP PDU, cut when the PDU is queued into
 * a block of the stack's pool (acl.c): the HCI ACL header (Vol 4, Part E,
 * 5.4.2) and at most the controller's ACL MTU of the PDU, so sending it is
 * one write of data[0 .. 4 + len). Once written it waits on the
 * connection's sent list until Number Of Completed Packets covers it (one
 * completion per packet, in order), then goes back to the pool. */
struct acl_pool;
struct acl_frag {
  struct sq_node node;
  struct acl_pool *pool; /* where it goes back to */
  uint64_t seq;     /* its PDU's number in its class, per connection */
  uint16_t cid;     /* its PDU's channel */
  uint16_t len;     /* payload bytes after the HCI header */
  uint16_t cap;     /* payload room: the pool's ACL MTU when it was made */
  uint8_t cls;      /* ACL_CLASS_* */
  bool first, last; /* its PDU's first / last fragment */
  uint8_t data[];   /* HCI ACL header + payload */
};

/* A connection is reference-counted (as Zephyr's bt_conn): the table (or
 * uvble_close's linger list) holds one reference, and whoever keeps the
 * pointer across a call that may end the link (a dispatch delivering a
 * PDU, conn_remove running the layers' hooks) holds another. Removal
 * takes it off the table, completes what is pending on it and clears
 * `open`; the memory goes with the last reference. */
struct ble_conn {
  struct sq_node node; /* on ble->conns.table, or .linger */
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
  struct sq txq[ACL_CLASSES]; /* acl_frag, not yet written */
  struct sq sentq;            /* acl_frag written, awaiting completion */
  size_t txq_bytes;       /* L2CAP bytes of both classes not yet written */
  uint64_t tx_seq[ACL_CLASSES];  /* last PDU queued, per class */
  uint64_t tx_done[ACL_CLASSES]; /* last PDU completed, per class */
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
   * freed in its conn_closed hook (core/module.h). */
  struct gap_conn *gap;
  struct att_bearer *att;
  struct gattc_conn *gattc;
  struct l2cap_conn *l2cap;
  struct smp_conn *smp;
};

#include "hci.h"
#include "queue.h"

/* Registers a layer's per-connection hooks (either may be NULL): open runs
 * when a link comes up, before the CONNECT irq, in registration order;
 * closed when it goes, before the DISCONNECT irq, in reverse order (upper
 * layers first). An open that fails undoes the ones before it (their
 * closed, reason 0x14) and the link is refused (conn_open). Returns 0 or
 * UVBLE_ENOBUFS. */
int conn_add_observer(uvble_t *ble, conn_open_fn open, conn_closed_fn closed);
int conn_observers_open(uvble_t *ble, struct ble_conn *c);
void conn_observers_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason);
void conn_set_gap_hooks(uvble_t *ble, const struct conn_gap_hooks *h);
/* Registers the connection layer's own HCI event handlers (connection
 * complete, disconnection complete, completed packets, the linger). */
int conn_layer_init(uvble_t *ble);

/* The L2CAP channel registry: a fixed channel's receiver (NULL removes
 * it), the dynamic-CID receiver. Returns 0 or UVBLE_EINVAL. */
int l2cap_register_fixed(uvble_t *ble, uint16_t cid, l2cap_fixed_rx_fn fn);
void l2cap_register_dyn(uvble_t *ble, l2cap_dyn_rx_fn fn);
/* Adds a "room to send" observer; 0 or UVBLE_ENOBUFS. */
int acl_on_room(uvble_t *ble, acl_room_fn fn);

struct ble_conn *conn_find(uvble_t *ble, uint16_t handle);
/* The data of a link's CONNECT and DISCONNECT events (reason 0 for a
 * connect): one builder for every layer that reports a link's ends. */
void conn_event_data(uvble_irq_data_t *d, uint16_t handle,
                     const uvble_addr_t *peer, uint8_t reason);
/* Walking the table: for (c = conn_first(ble); c; c = conn_next(c)).
 * conn_next also walks the linger list (conn_of its head). */
static inline struct ble_conn *conn_of(struct sq_node *n) {
  return n ? SQ_ENTRY(n, struct ble_conn, node) : NULL;
}
static inline struct ble_conn *conn_first(const uvble_t *ble) {
  return conn_of(ble->conns.table.head);
}
static inline struct ble_conn *conn_next(const struct ble_conn *c) {
  return conn_of(c->node.next);
}
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

/* ACL data path (acl.c). */
void acl_on_packet(uvble_t *ble, const uint8_t *pkt, size_t len);
void acl_on_completed(uvble_t *ble, const uint8_t *params, size_t len);
/* Sends whatever the controller has buffer space for. */
void acl_pump(uvble_t *ble);
/* Frees the pool's kept blocks and the spare reassembly buffer; blocks
 * still in use are freed when their links go (hci_close). */
void acl_close(uvble_t *ble);

/* uvble_close()'s linger (conn_edge.c): waits, at most the drain timeout
 * and never more than 1 s, for the replies to commands already sent and
 * for the kept links' data to be completed, resets a controller that was
 * started (was_started) so it goes quiet, then calls done. */
void conn_linger(uvble_t *ble, bool was_started, void (*done)(uvble_t *ble));
/* uvble_active(false) (conn_edge.c): refuses new sends on every link and
 * lets what is queued reach the controller and be completed, bounded by
 * the drain timeout (drops counted), then calls done. */
void conn_drain_all(uvble_t *ble, void (*done)(uvble_t *ble));
/* A link went or made progress: ends conn_drain_all once all are idle. */
void conn_drain_all_check(uvble_t *ble);
/* Progress during the linger: ends it once nothing is left. */
void conn_linger_check(uvble_t *ble);
/* Disconnection Complete during the linger. */
void conn_linger_on_disconnected(uvble_t *ble, uint16_t handle);
/* The transport failed during the linger: stop waiting. */
void conn_linger_abort(uvble_t *ble);

#endif
