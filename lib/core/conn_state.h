/* SPDX-License-Identifier: Apache-2.0 */
/* The connection layer's state, embedded in the stack object
 * (ble_internal.h): the connection table and what the layers above
 * registered with it. conn/conn.h is the layer's API. Private. */
#ifndef UVBLE_CONN_STATE_H
#define UVBLE_CONN_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"
#include "uvble/uvble.h"

typedef struct uvble uvble_t;
struct ble_conn;

/* What the layers above register with the connection layer: open builds
 * the layer's per-connection state and returns 0 or an error
 * (UVBLE_ENOMEM), closed frees it (also undoing an open that succeeded
 * when a later layer's failed). */
typedef int (*conn_open_fn)(uvble_t *ble, struct ble_conn *c);
typedef void (*conn_closed_fn)(uvble_t *ble, struct ble_conn *c,
                               uint8_t reason);
#define CONN_OBSERVERS 8
struct conn_observer {
  conn_open_fn open;
  conn_closed_fn closed;
};

/* GAP's part in establishing a link (gap_connect.c, gap_adv.c). */
struct conn_gap_hooks {
  /* A failed LE Connection Complete: true when it ended our own attempt
   * (GAP reported it). */
  bool (*initiator_failed)(uvble_t *ble, uint8_t status);
  /* A link came up with us as central: false when its attempt was already
   * reported failed (the link is then ended). */
  bool (*initiator_connected)(uvble_t *ble, void **attempt);
  /* Our attempt's outcome, when initiator_connected gave a non-NULL
   * attempt: status 0 with the CONNECT event's data (instead of the
   * irq), or the error that kept the link from being served (d NULL). */
  void (*initiator_report)(uvble_t *ble, void *attempt, int status,
                           const uvble_irq_data_t *d);
  /* A link came up with us as peripheral: advertising has stopped (Vol 6,
   * Part B, 4.4.2). */
  void (*peripheral_connected)(uvble_t *ble);
};

/* A fixed L2CAP channel's receiver (ATT, signalling, SMP), and the
 * receiver for dynamic CIDs (LE credit-based channels): false when no
 * channel owns the CID. */
typedef void (*l2cap_fixed_rx_fn)(uvble_t *ble, struct ble_conn *conn,
                                  const uint8_t *data, size_t len);
typedef bool (*l2cap_dyn_rx_fn)(uvble_t *ble, struct ble_conn *conn,
                                uint16_t cid, const uint8_t *data, size_t len);
#define L2CAP_FIXED_CIDS 8

#define L2CAP_CID_ATT 0x0004
#define L2CAP_CID_LE_SIGNALING 0x0005
#define L2CAP_CID_SMP 0x0006

/* "Room to send": run after each Number Of Completed Packets, once the
 * acl_on_tx_done observers have, so senders top up the transmit queues. */
#define ACL_ROOM_OBSERVERS 4
typedef void (*acl_room_fn)(uvble_t *ble);

/* A bound on the table: one link per connection handle (12 bits, Vol 4,
 * Part E, 5.4.2). conn_mgr refuses a handle already on the table, so no
 * link the controller reports meets it. */
#define CONN_TABLE_MAX 0x1000

struct ble_conns {
  struct sq table; /* ble_conn, in connection order; at most CONN_TABLE_MAX */
  /* Links uvble_close() keeps, off the table, until their queued data is
   * out or the linger bound passes (conn_edge.c), the last removed first:
   * those the table held when it closed. */
  struct sq linger;
  struct conn_observer obs[CONN_OBSERVERS]; /* in registration order */
  unsigned nobs;
  struct conn_gap_hooks gap;
  l2cap_fixed_rx_fn fixed_rx[L2CAP_FIXED_CIDS]; /* by CID */
  l2cap_dyn_rx_fn dyn_rx;
  acl_room_fn room_obs[ACL_ROOM_OBSERVERS];
};

#endif
