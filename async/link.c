/* SPDX-License-Identifier: Apache-2.0 */
/* The link on a connection object: what the controller reports (data
 * length, PHY, parameters) and the PHY request as a future. The core's
 * link listener (uvble_gap_link_listen) feeds it. */
#include "async_internal.h"

static const struct fut_ops phy_ops = {
    .name = "set_phy", .detach = fut_wait_detach, .ble = true};

int uvble_connection_info(const uvble_connection_t *c, uvble_conn_info_t *out) {
  if (!c || !out) return UVBLE_EINVAL;
  if (!c->connected) return UVBLE_ENOTCONN;
  return uvble_gap_conn_info(c->a->ble, c->handle, out);
}

int uvble_connection_set_phy(uvble_future_t *f, uvble_connection_t *c,
                             int pref, uint32_t timeout_ms) {
  if (!c) return fut_fail(f, UVBLE_EINVAL);
  int r = aio_begin(f, c->a, &phy_ops, c, timeout_ms);
  if (r < 0) return r;
  if (!c->connected) return fut_abort(f, UVBLE_ENOTCONN);
  r = uvble_gap_set_phy(c->a->ble, c->handle, pref);
  if (r < 0) return fut_abort(f, r);
  fut_list_push(&c->phy_waiters, f);
  return 0;
}

void aio_link_on_change(uvble_t *ble, int what, int status,
                        const uvble_conn_info_t *info, void *arg) {
  (void)ble;
  uvble_async_t *a = arg;
  if (what != UVBLE_GAP_LINK_PHY) return;
  uvble_connection_t *c = aio_conn_find(a, info->conn_handle);
  if (!c) return;
  /* LE Set PHY always ends in a PHY Update Complete (Vol 4, Part E,
   * 7.8.49), also when nothing changes; a refusal of the command ends it
   * too. Every waiter learns the outcome. */
  uvble_future_t *f;
  while ((f = fut_list_pop(&c->phy_waiters)) != NULL) {
    if (status > 0)
      fut_complete_proto(f, UVBLE_EHCI, status);
    else
      fut_complete(f, status);
  }
}
