/* SPDX-License-Identifier: Apache-2.0 */
/* The connection table and the fixed-channel L2CAP dispatch. */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "pdu_reader.h"

struct ble_conn *conn_find(uvble_t *ble, uint16_t handle) {
  for (struct ble_conn *c = conn_first(ble); c; c = conn_next(c))
    if (c->handle == handle) return c;
  return NULL;
}

void conn_ref(struct ble_conn *conn) { conn->refs++; }

void conn_unref(struct ble_conn *conn) {
  if (--conn->refs > 0) return;
  free(conn->rx_buf);
  free(conn);
}

struct ble_conn *conn_add(uvble_t *ble, uint16_t handle, uint8_t role,
                          const uvble_addr_t *peer) {
  if (ble->conns.table.len >= CONN_TABLE_MAX) return NULL;
  struct ble_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->refs = 1; /* the table's */
  c->handle = handle;
  c->role = role;
  c->peer = *peer;
  /* Appended, so round-robin order follows connection order. */
  sq_push(&ble->conns.table, &c->node);
  return c;
}

int conn_open(uvble_t *ble, struct ble_conn *c) {
  /* A hook may raise an irq (SMP asks for the local IRK: GET_SECRET) whose
   * handler closes the stack: that teardown waits for the hooks. */
  ble_ref(ble);
  int r = conn_observers_open(ble, c);
  if (r < 0) {
    /* Nothing of it is left in any layer: refuse every send until the
     * controller confirms the link is gone. */
    c->refused = true;
    c->disconnecting = true;
  } else {
    c->open = true;
  }
  ble_unref(ble);
  return r;
}

void conn_free(uvble_t *ble, struct ble_conn *conn) {
  /* The controller flushes what it held for the handle and does not report
   * those packets as completed (Vol 4, Part E, 4.1.1). */
  ble->hci.acl_free += conn->acl_in_flight;
  conn->acl_in_flight = 0;
  if (ble->hci.acl_free > ble->hci.acl_total)
    ble->hci.acl_free = ble->hci.acl_total;
  acl_tx_discard(conn);
  free(conn->rx_buf);
  conn->rx_buf = NULL;
  conn_unref(conn);
}

static void conn_unlink(uvble_t *ble, struct ble_conn *conn) {
  struct ble_conn *next = conn_next(conn);
  if (!sq_remove(&ble->conns.table, &conn->node)) return;
  if (ble->hci.rr_next == conn) ble->hci.rr_next = next;
}

void conn_remove(uvble_t *ble, struct ble_conn *conn, uint8_t reason) {
  if (conn->gone) return; /* being removed already */
  conn->gone = true;
  bool was_open = conn->open;
  conn->open = false;
  /* Layers complete what is pending on the link while it is still in the
   * table (their callbacks may look it up by handle), then it goes. The
   * references keep it, and the stack, whatever those callbacks do. */
  ble_ref(ble);
  conn_ref(conn);
  if (was_open) conn_observers_closed(ble, conn, reason);
  conn_unlink(ble, conn);
  if (ble->state == BLE_CLOSING && ble->hci.edge_timer_open) {
    /* uvble_close(): the link's data may still go out, then the link is
     * ended so that the peer learns it at once (conn_edge.c). The table's
     * reference moves to the linger list. */
    free(conn->rx_buf);
    conn->rx_buf = NULL;
    sq_push_front(&ble->conns.linger, &conn->node);
  } else {
    conn_free(ble, conn);
  }
  conn_unref(conn);
  /* A power-down waiting for this link's data need not any more. */
  conn_drain_all_check(ble);
  ble_unref(ble);
}

void l2cap_on_pdu(uvble_t *ble, struct ble_conn *conn, const uint8_t *pdu,
                  size_t len) {
  /* The ACL layer only delivers PDUs whose basic header (length, CID)
   * matches their length; were one short, its CID would read as 0x0000,
   * which no one registers. */
  struct pdu_reader r;
  pdu_reader_init(&r, pdu, len);
  pdu_skip(&r, 2);
  uint16_t cid = pdu_get_le16(&r);
  size_t n;
  const uint8_t *info = pdu_get_rest(&r, &n);
  ble->stats.l2cap_rx_pdus++;
  struct ble_conns *cs = &ble->conns;
  if (cid < L2CAP_FIXED_CIDS && cs->fixed_rx[cid]) {
    cs->fixed_rx[cid](ble, conn, info, n);
    return;
  }
  if (cid >= 0x0040 && cs->dyn_rx && cs->dyn_rx(ble, conn, cid, info, n))
    return;
  ble->stats.l2cap_rx_unknown_cid++;
}

int l2cap_register_fixed(uvble_t *ble, uint16_t cid, l2cap_fixed_rx_fn fn) {
  if (cid >= L2CAP_FIXED_CIDS) return UVBLE_EINVAL;
  ble->conns.fixed_rx[cid] = fn;
  return 0;
}

void l2cap_register_dyn(uvble_t *ble, l2cap_dyn_rx_fn fn) {
  ble->conns.dyn_rx = fn;
}
