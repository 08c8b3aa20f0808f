/* SPDX-License-Identifier: Apache-2.0 */
/* GAP: the module hooks, GAP's part in connection establishment (the
 * connection layer runs it: conn_mgr.c), connection parameters (updates we
 * ask for, requests peers make), and what GAP registers with HCI. */
#include <stdlib.h>
#include <string.h>

#include "gap_internal.h"
#include "pdu_reader.h"
#include "req.h"
#include "l2cap.h"

/* ---- shared helpers -------------------------------------------------- */

static bool has_cmd(const uvble_t *ble, int octet, int bit) {
  return uvble_controller_has_command(ble, octet, bit);
}

enum gap_mode gap_mode(uvble_t *ble) {
  struct gap_state *g = ble->gap;
  if (g->mode != GAP_MODE_UNKNOWN) return g->mode;
  /* One command set per power cycle (Vol 4, Part E, 3.1.1). Extended only
   * when everything GAP needs from it is there. */
  bool ext = uvble_controller_has_le_feature(ble, HCI_LE_FEATURE_EXT_ADV) &&
             has_cmd(ble, HCI_CMD_LE_SET_ADV_SET_RANDOM_ADDR) &&
             has_cmd(ble, HCI_CMD_LE_SET_EXT_ADV_PARAMS) &&
             has_cmd(ble, HCI_CMD_LE_SET_EXT_ADV_DATA) &&
             has_cmd(ble, HCI_CMD_LE_SET_EXT_SCAN_RSP_DATA) &&
             has_cmd(ble, HCI_CMD_LE_SET_EXT_ADV_ENABLE) &&
             has_cmd(ble, HCI_CMD_LE_SET_EXT_SCAN_PARAMS) &&
             has_cmd(ble, HCI_CMD_LE_SET_EXT_SCAN_ENABLE) &&
             has_cmd(ble, HCI_CMD_LE_EXT_CREATE_CONN);
  g->mode = ext ? GAP_MODE_EXTENDED : GAP_MODE_LEGACY;
  return g->mode;
}

uint32_t gap_new_tag(struct gap_state *g) { return g->next_tag++; }

bool gap_tag_live(uvble_t *ble, void *arg) {
  struct gap_state *g = ble->gap;
  return g && !ble_dead(ble) && gap_arg_tag(arg) >= g->stale_below;
}

bool gap_emit(uvble_t *ble, int event, const uvble_irq_data_t *d) {
  ble_irq(ble, event, d);
  /* GAP's state outlives the handler (ble_ref): should it go on? */
  return !ble_dead(ble);
}

static void on_gap_handle_closed(uv_handle_t *h) {
  struct gap_state *g = h->data;
  uvble_t *ble = g->ble;
  if (--g->open_handles == 0) free(g);
  ble->pending_closes--;
  ble_handle_closed(ble);
}

int gap_timer_init(uvble_t *ble, uv_timer_t *t, bool *open) {
  int r = uv_timer_init(ble->loop, t);
  if (r) return r;
  t->data = ble->gap;
  *open = true;
  return 0;
}

void gap_timer_close(uvble_t *ble, uv_timer_t *t, bool *open) {
  if (!*open) return;
  *open = false;
  ble->gap->open_handles++;
  ble->pending_closes++;
  uv_close((uv_handle_t *)t, on_gap_handle_closed);
}

/* ---- module hooks ---------------------------------------------------- */

static const uvble_gap_param_bounds_t DEFAULT_BOUNDS = {
    .min_interval_us = 7500,
    .max_interval_us = 4000000,
    .max_latency = 499,
    .min_timeout_ms = 100,
    .max_timeout_ms = 32000,
};

static int register_events(uvble_t *ble);

int gap_init(uvble_t *ble) {
  struct gap_state *g = calloc(1, sizeof *g);
  if (!g) return UVBLE_ENOMEM;
  g->ble = ble;
  g->next_tag = 1;
  g->stale_below = 1;
  g->bounds = DEFAULT_BOUNDS;
  g->scan.min_rssi = UVBLE_GAP_RSSI_ANY;
  ble->gap = g;
  gap_link_init(ble);
  int r = register_events(ble);
  if (r == 0) r = gap_addr_init(ble);
  if (r == 0) r = gap_scan_init(ble);
  if (r == 0) r = gap_connect_init(ble);
  if (r == 0) r = gap_lreq_init(ble);
  return r;
}

void gap_stop(uvble_t *ble, int err) {
  struct gap_state *g = ble->gap;
  if (!g) return;
  /* Every completion still in flight is from the old session. */
  g->stale_below = g->next_tag;
  g->mode = GAP_MODE_UNKNOWN;
  gap_adv_stop(ble);
  gap_addr_stop(ble);
  gap_scan_stop(ble);
  gap_connect_stop(ble, err);
}

void gap_close(uvble_t *ble) {
  struct gap_state *g = ble->gap;
  if (!g) return;
  gap_scan_close(ble);
  gap_connect_close(ble);
  gap_lreq_close(ble);
  gap_addr_close(ble);
  ble->gap = NULL;
  /* The timers' close callbacks free g; without timers nothing waits. */
  if (g->open_handles == 0) free(g);
}

int gap_conn_open(uvble_t *ble, struct ble_conn *c) {
  struct gap_state *g = ble->gap;
  c->gap = calloc(1, sizeof *c->gap);
  if (!c->gap) return UVBLE_ENOMEM;
  if (!g) return 0;
  c->gap->own = c->role == CONN_ROLE_CENTRAL ? g->conn.own : g->adv.own;
  gap_link_open(ble, c);
  return 0;
}

void gap_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  gap_lreq_conn_closed(ble, c, reason);
  free(c->gap);
  c->gap = NULL;
}

int gap_conn_own_addr(uvble_t *ble, const struct ble_conn *c,
                      uvble_addr_t *out) {
  if (!c) return UVBLE_EINVAL;
  if (c->gap) {
    *out = c->gap->own;
    return 0;
  }
  gap_public_addr(ble, out);
  return UVBLE_ENOMEM;
}

/* ---- connections (the connection layer manages them: conn_mgr.c) ---- */

int uvble_gap_disconnect(uvble_t *ble, uint16_t conn_handle) {
  if (ble->state != BLE_ON) return UVBLE_ENOTACTIVE;
  struct ble_conn *c = conn_find(ble, conn_handle);
  if (!c || c->disconnecting) return 0;
  /* What is queued on the link goes out first (conn_edge.c). */
  int r = conn_disconnect(ble, c, HCI_REMOTE_USER_TERMINATED);
  return r < 0 ? r : 1;
}

/* ---- connection parameters ------------------------------------------- */

/* An update's outcome: to the link's request when there is one, else the
 * CONNECTION_UPDATE event. */
static void emit_update(uvble_t *ble, struct ble_conn *c, int status) {
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.conn_update.conn_handle = c->handle;
  d.conn_update.conn_interval = c->interval;
  d.conn_update.conn_latency = c->latency;
  d.conn_update.supervision_timeout = c->supervision_timeout;
  d.conn_update.status = status;
  if (!gap_lreq_complete(ble, c, GAP_LREQ_PARAMS, status, &d))
    ble_irq(ble, UVBLE_IRQ_CONNECTION_UPDATE, &d);
}

/* LE Connection Update Complete, Vol 4, Part E, 7.7.65.3. */
static void on_conn_update_complete(uvble_t *ble, const uint8_t *p,
                                    size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  uint8_t status = pdu_get_u8(&r);
  uint16_t handle = pdu_get_le16(&r) & 0x0fff;
  uint16_t interval = pdu_get_le16(&r), latency = pdu_get_le16(&r);
  uint16_t timeout = pdu_get_le16(&r);
  if (!pdu_done(&r)) {
    ble->stats.hci_events_malformed++;
    return;
  }
  struct ble_conn *c = conn_find(ble, handle);
  if (!c) {
    ble->stats.hci_events_unexpected++;
    return;
  }
  if (status == HCI_SUCCESS) {
    c->interval = interval;
    c->latency = latency;
    c->supervision_timeout = timeout;
  }
  emit_update(ble, c, status);
  /* c stays valid whatever the handler did (ble_ref); is it still up? */
  if (!ble_ending(ble) && conn_is_open(c))
    gap_link_notify(ble, c, UVBLE_GAP_LINK_PARAMS, status);
}

/* Interval in 1.25 ms units, timeout in 10 ms units, as HCI carries them. */
struct gap_params {
  uint16_t min, max, latency, timeout;
};

/* Fits a request into the bounds: the overlap of the interval ranges, and
 * latency and timeout as asked. Returns false when it cannot be accepted. */
static bool fit_request(const uvble_gap_param_bounds_t *b,
                        const struct gap_params *in, struct gap_params *out) {
  /* The Core Spec's own ranges (Vol 4, Part E, 7.8.18) first. */
  if (in->min < 6 || in->max > 3200 || in->min > in->max || in->latency > 499 ||
      in->timeout < 10 || in->timeout > 3200)
    return false;
  uint32_t bmin = (uint32_t)(b->min_interval_us + 1249) / 1250;
  uint32_t bmax = (uint32_t)b->max_interval_us / 1250;
  uint32_t lo = in->min > bmin ? in->min : bmin;
  uint32_t hi = in->max < bmax ? in->max : bmax;
  if (lo > hi || in->latency > b->max_latency) return false;
  uint32_t t_ms = in->timeout * 10u;
  if (t_ms < (uint32_t)b->min_timeout_ms || t_ms > (uint32_t)b->max_timeout_ms)
    return false;
  /* Supervision timeout > (1 + latency) * interval * 2 (Vol 6, Part B,
   * 4.5.2), checked against the longest interval we would allow; in
   * microseconds: timeout * 10000 > (1 + latency) * hi * 1250 * 2. */
  if ((uint64_t)in->timeout * 10000u <=
      (1u + in->latency) * (uint64_t)hi * 2500u)
    return false;
  out->min = (uint16_t)lo;
  out->max = (uint16_t)hi;
  out->latency = in->latency;
  out->timeout = in->timeout;
  return true;
}

static void on_update_cmd_done(uvble_t *ble, int err, uint8_t st,
                               const uint8_t *r, size_t n, void *arg) {
  (void)r;
  (void)n;
  if (!err || ble_dead(ble)) return;
  /* Refused (e.g. Command Disallowed while another procedure runs): the
   * app hears it, with the parameters still in force. */
  struct ble_conn *c = conn_find(ble, (uint16_t)(uintptr_t)arg);
  if (c) emit_update(ble, c, err == UVBLE_EHCI ? st : err);
}

/* LE Connection Update (7.8.18); ce_min/ce_max 0: no preference. */
static int send_conn_update(uvble_t *ble, uint16_t handle,
                            const struct gap_params *p, uint16_t ce_min,
                            uint16_t ce_max) {
  uint8_t cmd[14];
  put_le16(cmd, handle);
  put_le16(cmd + 2, p->min);
  put_le16(cmd + 4, p->max);
  put_le16(cmd + 6, p->latency);
  put_le16(cmd + 8, p->timeout);
  put_le16(cmd + 10, ce_min);
  put_le16(cmd + 12, ce_max);
  return hci_send_cmd(ble, HCI_OP_LE_CONN_UPDATE, cmd, sizeof cmd,
                      on_update_cmd_done, (void *)(uintptr_t)handle);
}

/* Central role: a peripheral's L2CAP Connection Parameter Update Request
 * (Vol 3, Part A, 4.20). L2CAP answers it with what we return. */
bool gap_on_conn_param_request(uvble_t *ble, struct ble_conn *c,
                               const struct l2cap_conn_params *p) {
  struct gap_state *g = ble->gap;
  if (!g || c->role != CONN_ROLE_CENTRAL || ble->state != BLE_ON) return false;
  struct gap_params in = {p->interval_min, p->interval_max, p->latency,
                          p->timeout};
  struct gap_params out;
  if (!fit_request(&g->bounds, &in, &out)) {
    g->stats.conn_param_rejected++;
    return false;
  }
  if (send_conn_update(ble, c->handle, &out, 0, 0) < 0) return false;
  g->stats.conn_param_accepted++;
  return true;
}

/* LE Remote Connection Parameter Request (Vol 4, Part E, 7.7.65.6): the
 * peer's link layer asks; we must reply or reject within the LL procedure
 * timeout. */
static void on_remote_conn_param_request(uvble_t *ble, const uint8_t *p,
                                         size_t len) {
  struct gap_state *g = ble->gap;
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  uint16_t handle = pdu_get_le16(&r) & 0x0fff;
  struct gap_params in;
  in.min = pdu_get_le16(&r);
  in.max = pdu_get_le16(&r);
  in.latency = pdu_get_le16(&r);
  in.timeout = pdu_get_le16(&r);
  if (!pdu_done(&r)) {
    ble->stats.hci_events_malformed++;
    return;
  }
  struct gap_params out;
  if (!conn_find(ble, handle)) ble->stats.hci_events_unexpected++;
  if (!fit_request(&g->bounds, &in, &out)) {
    g->stats.conn_param_rejected++;
    uint8_t cmd[3];
    put_le16(cmd, handle);
    cmd[2] = HCI_UNACCEPTABLE_CONN_PARAMS;
    hci_send_cmd(ble, HCI_OP_LE_CONN_PARAM_NEG_REPLY, cmd, 3, NULL, NULL);
    return;
  }
  g->stats.conn_param_accepted++;
  uint8_t cmd[14];
  put_le16(cmd, handle);
  put_le16(cmd + 2, out.min);
  put_le16(cmd + 4, out.max);
  put_le16(cmd + 6, out.latency);
  put_le16(cmd + 8, out.timeout);
  put_le16(cmd + 10, 0);
  put_le16(cmd + 12, 0);
  hci_send_cmd(ble, HCI_OP_LE_CONN_PARAM_REPLY, cmd, sizeof cmd, NULL, NULL);
}

static void on_l2cap_update_done(uvble_t *ble, struct ble_conn *c, int result,
                                 void *arg) {
  (void)arg;
  /* Accepted: the central's LE Connection Update Complete reports the
   * change. A dropped link reports nothing. */
  if (result == 0 || result == UVBLE_EDISCONNECTED || !c) return;
  if (ble_ending(ble) || !conn_is_open(c)) return;
  emit_update(ble, c, result);
}

int uvble_gap_update_params(uvble_t *ble, uint16_t conn_handle,
                            int32_t min_interval_us, int32_t max_interval_us,
                            uint16_t latency, int32_t timeout_ms) {
  uvble_gap_conn_params_t p = {min_interval_us, max_interval_us, latency,
                               timeout_ms, 0, 0};
  return uvble_gap_update_conn_params(ble, conn_handle, &p);
}

int gap_send_conn_params(uvble_t *ble, struct ble_conn *c,
                         const struct gap_hci_params *h) {
  struct gap_params p = {h->min, h->max, h->latency, h->timeout};
  if (c->role == CONN_ROLE_CENTRAL)
    return send_conn_update(ble, c->handle, &p, h->ce_min, h->ce_max);
  struct l2cap_conn_params lp = {p.min, p.max, p.latency, p.timeout};
  return l2cap_conn_param_update_request(ble, c, &lp, on_l2cap_update_done,
                                         NULL);
}

int uvble_gap_update_conn_params(uvble_t *ble, uint16_t conn_handle,
                                 const uvble_gap_conn_params_t *cp) {
  if (!ble) return UVBLE_EINVAL;
  if (ble->state != BLE_ON) return UVBLE_ENOTACTIVE;
  struct ble_conn *c = conn_find(ble, conn_handle);
  if (!c) return UVBLE_ENOTCONN;
  struct gap_hci_params h;
  int r = gap_conn_params_to_hci(cp, &h);
  if (r < 0) return r;
  if (gap_lreq_pending(c, GAP_LREQ_PARAMS)) return UVBLE_EBUSY;
  return gap_send_conn_params(ble, c, &h);
}

int uvble_gap_set_param_bounds(uvble_t *ble,
                               const uvble_gap_param_bounds_t *b) {
  if (!ble || !ble->gap) return UVBLE_EINVAL;
  if (!b) {
    ble->gap->bounds = DEFAULT_BOUNDS;
    return 0;
  }
  if (b->min_interval_us < 7500 || b->max_interval_us > 4000000 ||
      b->min_interval_us > b->max_interval_us || b->max_latency > 499 ||
      b->min_timeout_ms < 100 || b->max_timeout_ms > 32000 ||
      b->min_timeout_ms > b->max_timeout_ms)
    return UVBLE_EINVAL;
  ble->gap->bounds = *b;
  return 0;
}

void uvble_gap_get_param_bounds(const uvble_t *ble,
                                uvble_gap_param_bounds_t *out) {
  *out = ble->gap ? ble->gap->bounds : DEFAULT_BOUNDS;
}

void uvble_gap_get_stats(const uvble_t *ble, uvble_gap_stats_t *out) {
  if (ble->gap)
    *out = ble->gap->stats;
  else
    memset(out, 0, sizeof *out);
}

/* ---- what GAP registers with the layers below ----------------------- */

/* The connection layer's view of our attempt: an opaque token (the
 * request of uvble_gap_connect_req, or NULL for the irq API). */
static bool gap_initiator_connected(uvble_t *ble, void **attempt) {
  uvble_req_t *req = NULL;
  bool ok = gap_connect_on_success(ble, &req);
  *attempt = req;
  return ok;
}

static void gap_initiator_report(uvble_t *ble, void *attempt, int status,
                                 const uvble_irq_data_t *d) {
  uvble_req_t *req = attempt;
  if (status)
    req_complete(req, status, NULL);
  else
    req_or_irq(ble, req, UVBLE_IRQ_PERIPHERAL_CONNECT, true, 0, d);
}

static int register_events(uvble_t *ble) {
  static const struct {
    uint8_t subevent;
    hci_event_fn fn;
  } le[] = {
      {HCI_LE_ADVERTISING_REPORT, gap_scan_on_adv_report},
      {HCI_LE_EXT_ADV_REPORT, gap_scan_on_ext_adv_report},
      {HCI_LE_CONNECTION_UPDATE_COMPLETE, on_conn_update_complete},
      {HCI_LE_REMOTE_CONN_PARAM_REQUEST, on_remote_conn_param_request},
      {HCI_LE_ADV_SET_TERMINATED, gap_adv_on_set_terminated},
      {HCI_LE_DATA_LENGTH_CHANGE, gap_link_on_data_length_change},
      {HCI_LE_PHY_UPDATE_COMPLETE, gap_link_on_phy_update},
  };
  for (size_t i = 0; i < sizeof le / sizeof le[0]; i++) {
    int r = hci_add_le_event_handler(ble, le[i].subevent, le[i].fn);
    if (r < 0) return r;
  }
  static const struct conn_gap_hooks hooks = {
      .initiator_failed = gap_connect_on_failed,
      .initiator_connected = gap_initiator_connected,
      .initiator_report = gap_initiator_report,
      .peripheral_connected = gap_adv_on_peripheral_connected,
  };
  conn_set_gap_hooks(ble, &hooks);
  return 0;
}
