/* SPDX-License-Identifier: Apache-2.0 */
/* GAP: requests (uvble/req.h) on a link — disconnect, connection parameter
 * update, PHY update. Each link has one slot per kind; the slot holds the
 * request until the outcome the plain call reports as an event (the link's
 * end, LE Connection Update Complete or a refusal, LE PHY Update Complete
 * or a refusal) completes it, the link drops, or its deadline passes. One
 * GAP timer serves every slot's deadline. */
#include <string.h>

#include "gap_internal.h"
#include "req.h"

/* LL procedure response timeout (Vol 6, Part B, 5.2): a peer that does not
 * take part in a procedure within 40 s loses the link, so no outcome comes
 * later than this. A disconnect first waits for the link's queues to drain
 * (config drain_ms). */
#define LREQ_TIMEOUT_MS 40000u

static const uvble_req_type_t LREQ_TYPE[GAP_LREQ_KINDS] = {
    [GAP_LREQ_DISCONNECT] = UVBLE_REQ_DISCONNECT,
    [GAP_LREQ_PARAMS] = UVBLE_REQ_CONN_PARAMS,
    [GAP_LREQ_PHY] = UVBLE_REQ_SET_PHY,
};

static void on_timer(uv_timer_t *t);

int gap_lreq_init(uvble_t *ble) {
  struct gap_state *g = ble->gap;
  g->lreq_timeout_ms = LREQ_TIMEOUT_MS;
  return gap_timer_init(ble, &g->lreq_timer, &g->lreq_timer_open);
}

void gap_lreq_close(uvble_t *ble) {
  struct gap_state *g = ble->gap;
  gap_timer_close(ble, &g->lreq_timer, &g->lreq_timer_open);
}

void gap_set_lreq_timeout_ms(uvble_t *ble, unsigned ms) {
  if (ble->gap) ble->gap->lreq_timeout_ms = ms;
}

/* Arms the timer for the earliest deadline of any link's slots. */
static void rearm(uvble_t *ble) {
  struct gap_state *g = ble->gap;
  if (!g || !g->lreq_timer_open) return;
  uint64_t first = 0;
  for (struct ble_conn *c = conn_first(ble); c; c = conn_next(c)) {
    if (!c->gap) continue;
    for (int k = 0; k < GAP_LREQ_KINDS; k++) {
      const struct gap_lreq *s = &c->gap->lreq[k];
      if (s->state != GAP_LREQ_IDLE && (!first || s->deadline < first))
        first = s->deadline;
    }
  }
  if (!first) {
    uv_timer_stop(&g->lreq_timer);
    return;
  }
  uint64_t now = ble_now_ms(ble->loop);
  uv_timer_start(&g->lreq_timer, on_timer, first > now ? first - now : 0, 0);
}

/* uvble_cancel: the procedure cannot be withdrawn from the controller; its
 * outcome is swallowed (counted as a late response) and the request
 * completes with UVBLE_ECANCELED on a later loop turn. */
static int cancel_lreq(uvble_req_t *req) {
  struct gap_lreq *s = req->op_;
  s->req = NULL;
  s->state = GAP_LREQ_CANCELLED;
  return 0;
}

int gap_lreq_start(uvble_t *ble, struct ble_conn *c, int kind,
                   uvble_req_t *req) {
  if (!c->gap) return UVBLE_ENOTCONN;
  struct gap_lreq *s = &c->gap->lreq[kind];
  if (s->state == GAP_LREQ_LIVE) return UVBLE_EBUSY;
  int r = req_start(ble, req, LREQ_TYPE[kind], s, cancel_lreq);
  if (r < 0) return r;
  uint64_t t = ble->gap->lreq_timeout_ms;
  if (kind == GAP_LREQ_DISCONNECT) t += ble->hci.drain_ms;
  s->req = req;
  s->state = GAP_LREQ_LIVE;
  s->deadline = ble_now_ms(ble->loop) + t;
  rearm(ble);
  return 0;
}

void gap_lreq_unstart(uvble_t *ble, struct ble_conn *c, int kind) {
  struct gap_lreq *s = &c->gap->lreq[kind];
  if (s->req) req_unstart(s->req);
  memset(s, 0, sizeof *s);
  rearm(ble);
}

bool gap_lreq_pending(const struct ble_conn *c, int kind) {
  return c->gap && c->gap->lreq[kind].state == GAP_LREQ_LIVE;
}

bool gap_lreq_complete(uvble_t *ble, struct ble_conn *c, int kind, int status,
                       const uvble_irq_data_t *d) {
  if (!c->gap) return false;
  struct gap_lreq *s = &c->gap->lreq[kind];
  if (s->state == GAP_LREQ_IDLE) return false;
  uvble_req_t *req = s->req;
  bool cancelled = s->state == GAP_LREQ_CANCELLED;
  memset(s, 0, sizeof *s);
  rearm(ble);
  if (cancelled)
    ble->stats.req_late_responses++;
  else
    req_complete(req, status, d);
  return true;
}

/* The link is gone (before its DISCONNECT event): a disconnect request is
 * done, with the event's data; the others end with UVBLE_EDISCONNECTED, or
 * UVBLE_ECANCELED when the stack closes. */
void gap_lreq_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  if (!c->gap) return;
  bool closing = ble->state == BLE_CLOSING;
  for (int k = 0; k < GAP_LREQ_KINDS; k++) {
    struct gap_lreq *s = &c->gap->lreq[k];
    uvble_req_t *req = s->state == GAP_LREQ_LIVE ? s->req : NULL;
    memset(s, 0, sizeof *s);
    if (!req) continue;
    if (closing) {
      req_complete(req, UVBLE_ECANCELED, NULL);
    } else if (k == GAP_LREQ_DISCONNECT) {
      uvble_irq_data_t d; /* what the DISCONNECT event carries */
      conn_event_data(&d, c->handle, &c->peer, reason);
      req_complete(req, 0, &d);
    } else {
      req_complete(req, UVBLE_EDISCONNECTED, NULL);
    }
  }
  rearm(ble);
}

/* ---- deadlines ------------------------------------------------------- */
static void on_timer_run(uvble_t *ble) {
  uint64_t now = ble_now_ms(ble->loop);
  /* No link leaves the table while this dispatch holds its reference; a
   * callback may close the stack (then nothing more is emitted). */
  for (struct ble_conn *c = conn_first(ble); c && !ble_dead(ble);
       c = conn_next(c)) {
    for (int k = 0; k < GAP_LREQ_KINDS && c->gap && !ble_dead(ble); k++) {
      struct gap_lreq *s = &c->gap->lreq[k];
      if (s->state == GAP_LREQ_IDLE || s->deadline > now) continue;
      uvble_req_t *req = s->state == GAP_LREQ_LIVE ? s->req : NULL;
      memset(s, 0, sizeof *s);
      if (req) req_complete(req, UVBLE_ETIMEDOUT, NULL);
    }
  }
  if (!ble_dead(ble)) rearm(ble);
}

/* A timer is an entry from the loop: a dispatch reference (ble_ref). */
static void on_timer(uv_timer_t *t) {
  uvble_t *ble = ((struct gap_state *)t->data)->ble;
  ble_ref(ble);
  on_timer_run(ble);
  ble_unref(ble);
}

/* ---- the public calls ----------------------------------------------- */
static int check_args(uvble_req_t *req, uvble_t *ble) {
  if (!req || !ble) return UVBLE_EINVAL;
  if (!req->cb_) return UVBLE_EINVAL;
  if (uvble_req_active(req)) return UVBLE_EBUSY;
  if (ble->state != BLE_ON || !ble->gap) return UVBLE_ENOTACTIVE;
  return 0;
}

int uvble_gap_disconnect_req(uvble_req_t *req, uvble_t *ble,
                             uint16_t conn_handle) {
  int r = check_args(req, ble);
  if (r < 0) return r;
  struct ble_conn *c = conn_find(ble, conn_handle);
  if (!c || !conn_is_open(c)) return UVBLE_ENOTCONN;
  r = gap_lreq_start(ble, c, GAP_LREQ_DISCONNECT, req);
  if (r < 0) return r;
  /* Already ending (the app's earlier disconnect, or ours): the request
   * waits for the same end. */
  if (c->disconnecting) return 0;
  r = uvble_gap_disconnect(ble, conn_handle);
  if (r < 0) {
    gap_lreq_unstart(ble, c, GAP_LREQ_DISCONNECT);
    return r;
  }
  return 0;
}

int uvble_gap_update_conn_params_req(uvble_req_t *req, uvble_t *ble,
                                     uint16_t conn_handle,
                                     const uvble_gap_conn_params_t *p) {
  int r = check_args(req, ble);
  if (r < 0) return r;
  struct ble_conn *c = conn_find(ble, conn_handle);
  if (!c || !conn_is_open(c)) return UVBLE_ENOTCONN;
  struct gap_hci_params h;
  if ((r = gap_conn_params_to_hci(p, &h)) < 0) return r;
  if ((r = gap_lreq_start(ble, c, GAP_LREQ_PARAMS, req)) < 0) return r;
  r = gap_send_conn_params(ble, c, &h);
  if (r < 0) gap_lreq_unstart(ble, c, GAP_LREQ_PARAMS);
  return r;
}

int uvble_gap_set_phy_req(uvble_req_t *req, uvble_t *ble, uint16_t conn_handle,
                          int pref) {
  int r = check_args(req, ble);
  if (r < 0) return r;
  if (pref < UVBLE_PHY_PREF_ANY || pref > UVBLE_PHY_PREF_CODED_S8)
    return UVBLE_EINVAL;
  struct ble_conn *c = conn_find(ble, conn_handle);
  if (!c || !conn_is_open(c)) return UVBLE_ENOTCONN;
  if ((r = gap_lreq_start(ble, c, GAP_LREQ_PHY, req)) < 0) return r;
  r = gap_send_set_phy(ble, c, pref);
  if (r < 0) gap_lreq_unstart(ble, c, GAP_LREQ_PHY);
  return r;
}
