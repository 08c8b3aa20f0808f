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

/* One outgoing L2CAP PDU (basic header included), sent in fragments. */
struct acl_pdu {
  struct acl_pdu *next;
  size_t len;
  size_t sent; /* bytes handed to the controller so far */
  uint8_t data[];
};

struct ble_conn {
  struct ble_conn *next;
  uint16_t handle;
  uint8_t role;
  uvble_addr_t peer;
  uint16_t interval, latency, supervision_timeout;
  bool disconnecting;
  bool removing; /* conn_remove is running the layers' conn_closed hooks */

  /* transmit */
  struct acl_pdu *txq_head, *txq_tail;
  size_t txq_bytes;
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
struct ble_conn *conn_add(uvble_t *ble, uint16_t handle, uint8_t role,
                          const uvble_addr_t *peer);
/* Removes the connection: every layer's conn_closed hook runs (reason is
 * the HCI disconnect reason), its controller buffers come back, its queues
 * are dropped, it is freed. */
void conn_remove(uvble_t *ble, struct ble_conn *conn, uint8_t reason);
/* Drops every connection without telling the controller (after a reset or a
 * failure); emits the disconnect events. */
void conn_drop_all(uvble_t *ble);

/* Queues one L2CAP PDU with the basic header (length, cid) on conn, built
 * from iov. Returns 0, UVBLE_EMSGSIZE (payload over 65535) or UVBLE_ENOBUFS
 * when the connection's queue limit is reached. */
int l2cap_send_pdu(uvble_t *ble, struct ble_conn *conn, uint16_t cid,
                   const uvble_iov_t *iov, int iovcnt);
/* A reassembled PDU from the ACL layer (basic header included). */
void l2cap_on_pdu(uvble_t *ble, struct ble_conn *conn, const uint8_t *pdu,
                  size_t len);

#endif
