/* SPDX-License-Identifier: Apache-2.0 */
/* The link on a connection object: what the controller reports (data
 * length, PHY, parameters) and the PHY request as a future, on the core's
 * uvble_gap_set_phy_req. */
#include "async_internal.h"

static const struct fut_ops phy_ops = {
    .name = "set_phy", .detach = aio_sreq_detach, .ble = true};

int uvble_connection_info(const uvble_connection_t *c, uvble_conn_info_t *out) {
  if (!c || !out) return UVBLE_EINVAL;
  if (!c->connected) return UVBLE_ENOTCONN;
  return uvble_gap_conn_info(c->a->ble, c->handle, out);
}

/* LE Set PHY always ends in a PHY Update Complete (Vol 4, Part E, 7.8.49),
 * also when nothing changes; a refusal of the command ends it too. Every
 * future waiting learns the outcome. */
static void phy_done(uvble_connection_t *c, uvble_future_t **waiters,
                     int status, const uvble_irq_data_t *d) {
  (void)c;
  (void)d;
  uvble_future_t *f;
  while ((f = fut_list_pop(waiters)) != NULL) {
    f->aux_ = NULL;
    if (status > 0)
      fut_complete_proto(f, UVBLE_EHCI, status);
    else
      fut_complete(f, status);
  }
}

static int phy_start(uvble_req_t *req, uvble_t *ble, uint16_t handle,
                     int pref) {
  return uvble_gap_set_phy_req(req, ble, handle, pref);
}

int uvble_connection_set_phy(uvble_future_t *f, uvble_connection_t *c,
                             int pref, uint32_t timeout_ms) {
  if (!c) return fut_fail(f, UVBLE_EINVAL);
  int r = aio_begin(f, c->a, &phy_ops, c, timeout_ms);
  if (r < 0) return r;
  if (!c->connected) return fut_abort(f, UVBLE_ENOTCONN);
  /* One LE Set PHY at a time per link: a second future with another
   * preference would get the first one's outcome. */
  if (c->phy_req && c->phy_req->arg != pref)
    return fut_abort(f, UVBLE_EBUSY);
  r = aio_sreq_join(f, c, &c->phy_req, &c->phy_waiters, phy_start, pref,
                    phy_done);
  return r < 0 ? fut_abort(f, r) : 0;
}
