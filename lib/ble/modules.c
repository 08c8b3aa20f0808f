/* SPDX-License-Identifier: Apache-2.0 */
/* The composition root: creates each layer and wires what a layer offers
 * to the layers it sits above, in a fixed order. Lower layers never name
 * the ones above; this file, at the top, does. Layers register their own
 * HCI event handlers and L2CAP fixed channels from their init; what needs
 * an order, or a layer created after its user (GAP is created first), is
 * registered here. */
#include "conn.h"
#include "modules.h"

static int wire(uvble_t *ble) {
  /* Senders that refill the ACL queues when the controller returns
   * buffers, in this order: credit-based channels, then notifications
   * that met a full queue. */
  int r = acl_on_room(ble, l2cap_on_acl_completed);
  if (r == 0) r = acl_on_room(ble, gatts_on_acl_completed);
  if (r < 0) return r;
  att_set_server(ble, gatts_on_pdu);
  att_set_client(ble, gattc_on_value);
  l2cap_set_conn_param_handler(ble, gap_on_conn_param_request);
  gatts_set_adv_query(ble, uvble_gap_advertising);
  static const struct smp_gap_hooks smp_hooks = {
      .local_irk = gap_local_irk,
      .set_local_irk = gap_set_local_irk,
      .conn_own_addr = gap_conn_own_addr,
  };
  smp_set_gap_hooks(ble, &smp_hooks);
  return 0;
}

int modules_init(uvble_t *ble) {
  int r = conn_layer_init(ble);
  if (r < 0) return r;
#define X(m)                                                            \
  if ((r = m##_init(ble)) < 0) return r;                                \
  if ((r = conn_add_observer(ble, m##_conn_open, m##_conn_closed)) < 0) \
    return r;
  UVBLE_MODULES(X)
#undef X
  return wire(ble);
}

/* Closing runs in reverse order: upper layers first. */
#define REVERSE_CALL(call) \
  call(smp) call(l2cap) call(gattc) call(gatts) call(att) call(gap)

void modules_stop(uvble_t *ble, int err) {
#define X(m) m##_stop(ble, err);
  REVERSE_CALL(X)
#undef X
}

void modules_close(uvble_t *ble) {
#define X(m) m##_close(ble);
  REVERSE_CALL(X)
#undef X
}
