/* SPDX-License-Identifier: Apache-2.0 */
/* GAP central: LE (Extended) Create Connection (Vol 4, Part E, 7.8.12 and
 * 7.8.66), its timeout and cancel (7.8.13).
 *
 * A failed attempt ends the MicroPython way: PERIPHERAL_DISCONNECT with
 * address type 0xff and a zero address. On a timeout or cancel the host
 * sends LE Create Connection Cancel, and the controller ends the attempt
 * with LE Connection Complete, status Unknown Connection Identifier (0x02);
 * that event (or any failed Connection Complete) produces the irq.
 */
#include <string.h>

#include "gap_internal.h"
#include "req.h"

/* How long the controller gets to report a cancelled attempt before the
 * host gives up waiting. */
#define CANCEL_GUARD_MS 2000

/* NimBLE's initiator defaults, which MicroPython uses: scan interval and
 * window 10 ms, supervision timeout 2.56 s. */
#define INIT_SCAN_UNITS 0x0010
#define INIT_SUPERVISION_TIMEOUT 0x0100

static void on_timer(uv_timer_t *t);

int gap_connect_init(uvble_t *ble) {
  struct gap_connect *c = &ble->gap->conn;
  return gap_timer_init(ble, &c->timer, &c->timer_open);
}

void gap_connect_close(uvble_t *ble) {
  struct gap_connect *c = &ble->gap->conn;
  gap_timer_close(ble, &c->timer, &c->timer_open);
}

bool gap_connect_pending(const uvble_t *ble) {
  return ble->gap && ble->gap->conn.state != GAP_CONNECT_NONE;
}

/* Tells the attempt's request (with req_status) or the irq handler (the
 * MicroPython way) that it failed with the HCI status; nobody when the
 * request was cancelled. */
static void emit_failed(uvble_t *ble, uint8_t status, int req_status) {
  struct gap_connect *c = &ble->gap->conn;
  uvble_req_t *req = c->req;
  bool swallow = c->req_cancelled;
  c->req = NULL;
  c->req_cancelled = false;
  if (swallow) {
    /* The attempt is over: the cancelled request may complete now. */
    ble->stats.req_late_responses++;
    req_cancel_done(req);
    return;
  }
  /* No link came up: no handle, no peer. */
  const uvble_addr_t none = {.type = UVBLE_ADDR_NONE};
  uvble_irq_data_t d;
  conn_event_data(&d, 0xffff, &none, status);
  req_or_irq(ble, req, UVBLE_IRQ_PERIPHERAL_DISCONNECT, true, req_status, &d);
}

/* Ends the attempt and tells the app, with the HCI status that ended it; a
 * request hears UVBLE_ETIMEDOUT when its scan duration ran out. */
static void fail(uvble_t *ble, uint8_t status) {
  struct gap_connect *c = &ble->gap->conn;
  c->state = GAP_CONNECT_NONE;
  if (c->timer_open) uv_timer_stop(&c->timer);
  emit_failed(ble, status, c->timed_out ? UVBLE_ETIMEDOUT : status);
}

void gap_connect_stop(uvble_t *ble, int err) {
  struct gap_connect *c = &ble->gap->conn;
  bool report =
      c->state == GAP_CONNECT_CREATING || c->state == GAP_CONNECT_CANCELING;
  c->state = GAP_CONNECT_NONE;
  if (c->timer_open) uv_timer_stop(&c->timer);
  if (report && !c->req_cancelled)
    emit_failed(ble, HCI_LOCAL_HOST_TERMINATED, err);
  else if (c->req_cancelled)
    req_cancel_done(c->req); /* completes with UVBLE_ECANCELED */
  c->req = NULL;
  c->req_cancelled = false;
}

bool gap_connect_on_failed(uvble_t *ble, uint8_t status) {
  struct gap_connect *c = &ble->gap->conn;
  switch (c->state) {
    case GAP_CONNECT_CREATING:
    case GAP_CONNECT_CANCELING:
      fail(ble, status);
      return true;
    case GAP_CONNECT_ORPHAN:
      /* Already reported when the cancel could not be sent. */
      c->state = GAP_CONNECT_NONE;
      return true;
    default:
      return false;
  }
}

bool gap_connect_on_success(uvble_t *ble, uvble_req_t **req) {
  struct gap_connect *c = &ble->gap->conn;
  bool orphan = c->state == GAP_CONNECT_ORPHAN || c->req_cancelled;
  if (c->req_cancelled) {
    ble->stats.req_late_responses++;
    req_cancel_done(c->req); /* the caller ends the link */
  }
  *req = orphan ? NULL : c->req;
  c->req = NULL;
  c->req_cancelled = false;
  c->state = GAP_CONNECT_NONE;
  if (c->timer_open) uv_timer_stop(&c->timer);
  return !orphan;
}

static void on_create_done(uvble_t *ble, int err, uint8_t st, const uint8_t *r,
                           size_t n, void *arg) {
  (void)r;
  (void)n;
  if (!err || !gap_tag_live(ble, arg)) return;
  struct gap_connect *c = &ble->gap->conn;
  /* The controller refused to initiate: no Connection Complete follows. */
  if (c->state != GAP_CONNECT_NONE && c->tag == gap_arg_tag(arg))
    fail(ble, err == UVBLE_EHCI ? st : HCI_UNSPECIFIED_ERROR);
}

static void on_cancel_done(uvble_t *ble, int err, uint8_t st, const uint8_t *r,
                           size_t n, void *arg) {
  (void)r;
  (void)n;
  if (!err || !gap_tag_live(ble, arg)) return;
  struct gap_connect *c = &ble->gap->conn;
  if (c->state != GAP_CONNECT_CANCELING || c->tag != gap_arg_tag(arg)) return;
  if (err == UVBLE_EHCI && st == HCI_UNKNOWN_COMMAND) {
    /* The controller cannot cancel: tell the app now, and end the link
     * should the attempt still succeed. */
    c->state = GAP_CONNECT_ORPHAN;
    if (c->timer_open) uv_timer_stop(&c->timer);
    emit_failed(ble, HCI_UNKNOWN_CONNECTION_ID,
                c->timed_out ? UVBLE_ETIMEDOUT : HCI_UNKNOWN_CONNECTION_ID);
    return;
  }
  /* Command Disallowed: no attempt runs in the controller any more, and a
   * Connection Complete would have come before this answer. */
  fail(ble, HCI_UNKNOWN_CONNECTION_ID);
}

static int start_cancel(uvble_t *ble) {
  struct gap_connect *c = &ble->gap->conn;
  c->state = GAP_CONNECT_CANCELING;
  if (c->timer_open) uv_timer_start(&c->timer, on_timer, CANCEL_GUARD_MS, 0);
  int r = hci_send_cmd(ble, HCI_OP_LE_CREATE_CONN_CANCEL, NULL, 0,
                       on_cancel_done, gap_tag_arg(c->tag));
  if (r < 0) fail(ble, HCI_UNKNOWN_CONNECTION_ID);
  return r;
}

/* A timer is an entry from the loop: a dispatch reference (ble_ref). */
static void on_timer_run(uv_timer_t *t);

static void on_timer(uv_timer_t *t) {
  uvble_t *ble = ((struct gap_state *)t->data)->ble;
  ble_ref(ble);
  on_timer_run(t);
  ble_unref(ble);
}

static void on_timer_run(uv_timer_t *t) {
  struct gap_state *g = t->data;
  uvble_t *ble = g->ble;
  if (ble->state != BLE_ON) return;
  if (g->conn.state == GAP_CONNECT_CREATING) {
    g->conn.timed_out = true;
    start_cancel(ble); /* scan_duration_ms passed */
  }
  else if (g->conn.state == GAP_CONNECT_CANCELING)
    /* The controller never reported the cancelled attempt. */
    fail(ble, HCI_UNKNOWN_CONNECTION_ID);
}

static int conn_params(int32_t min_us, int32_t max_us,
                       struct gap_hci_params *p) {
  if (min_us < 0 || max_us < 0) return UVBLE_EINVAL;
  if ((min_us && min_us < 7500) || min_us > 4000000 ||
      (max_us && max_us < 7500) || max_us > 4000000)
    return UVBLE_EINVAL;
  uint32_t dmin = UVBLE_GAP_CONN_DEFAULT_MIN_INTERVAL_US / 1250;
  uint32_t dmax = UVBLE_GAP_CONN_DEFAULT_MAX_INTERVAL_US / 1250;
  uint32_t lo = min_us ? (uint32_t)min_us / 1250 : 0;
  uint32_t hi = max_us ? (uint32_t)max_us / 1250 : 0;
  if (!lo) lo = hi && hi < dmin ? hi : dmin;
  if (!hi) hi = lo > dmax ? lo : dmax;
  if (lo > hi) return UVBLE_EINVAL;
  /* Supervision timeout: 2.56 s, or more than twice the longest interval
   * (Vol 6, Part B, 4.5.2; latency is 0): in 10 ms units, hi / 4 + 1. */
  uint32_t t = INIT_SUPERVISION_TIMEOUT;
  if (t <= hi / 4) t = hi / 4 + 1;
  if (t > 3200) t = 3200;
  memset(p, 0, sizeof *p); /* latency 0, CE lengths: no preference */
  p->min = (uint16_t)lo;
  p->max = (uint16_t)hi;
  p->timeout = (uint16_t)t;
  return 0;
}

/* One PHY's initiating parameters of LE Extended Create Connection
 * (7.8.66): Scan_Interval, Scan_Window, Connection_Interval_Min/Max,
 * Max_Latency, Supervision_Timeout, Min/Max_CE_Length, 16 bytes. */
static void put_init_phy(uint8_t *p, const struct gap_hci_params *cp) {
  put_le16(p, INIT_SCAN_UNITS);
  put_le16(p + 2, INIT_SCAN_UNITS);
  put_le16(p + 4, cp->min);
  put_le16(p + 6, cp->max);
  put_le16(p + 8, cp->latency);
  put_le16(p + 10, cp->timeout);
  put_le16(p + 12, cp->ce_min);
  put_le16(p + 14, cp->ce_max);
}

static int queue_create(uvble_t *ble, const uvble_addr_t *addr,
                        const struct gap_hci_params *cp, uint8_t own) {
  struct gap_connect *c = &ble->gap->conn;
  uint8_t peer[6];
  ble_addr_to_hci(addr, peer);
  if (gap_mode(ble) == GAP_MODE_EXTENDED) {
    uint8_t p[10 + 2 * 16];
    memset(p, 0, sizeof p);
    p[0] = 0x00; /* no filter accept list: the given peer */
    p[1] = own;
    p[2] = addr->type;
    memcpy(p + 3, peer, 6);
    /* Initiating_PHYs: LE 1M, plus LE Coded for long range; one block of
     * parameters per bit set, in bit order. */
    bool coded = gap_use_coded(ble, ble->cfg.link.connect_coded);
    p[9] = coded ? 0x05 : 0x01;
    put_init_phy(p + 10, cp);
    if (coded) put_init_phy(p + 26, cp);
    return hci_send_cmd(ble, HCI_OP_LE_EXT_CREATE_CONN, p,
                        coded ? sizeof p : 26, on_create_done,
                        gap_tag_arg(c->tag));
  }
  uint8_t p[25];
  memset(p, 0, sizeof p);
  put_le16(p, INIT_SCAN_UNITS);
  put_le16(p + 2, INIT_SCAN_UNITS);
  p[4] = 0x00; /* no filter accept list: the given peer */
  p[5] = addr->type;
  memcpy(p + 6, peer, 6);
  p[12] = own;
  put_le16(p + 13, cp->min);
  put_le16(p + 15, cp->max);
  put_le16(p + 17, cp->latency);
  put_le16(p + 19, cp->timeout);
  put_le16(p + 21, cp->ce_min);
  put_le16(p + 23, cp->ce_max);
  return hci_send_cmd(ble, HCI_OP_LE_CREATE_CONN, p, sizeof p, on_create_done,
                      gap_tag_arg(c->tag));
}

static int start_connect(uvble_t *ble, uvble_req_t *req,
                         const uvble_addr_t *addr, int32_t scan_duration_ms,
                         const struct gap_hci_params *cp);

int uvble_gap_connect(uvble_t *ble, const uvble_addr_t *addr,
                      int32_t scan_duration_ms, int32_t min_conn_interval_us,
                      int32_t max_conn_interval_us) {
  if (!ble || !addr) return UVBLE_EINVAL;
  struct gap_hci_params cp;
  int r = conn_params(min_conn_interval_us, max_conn_interval_us, &cp);
  if (r < 0) return r;
  return start_connect(ble, NULL, addr, scan_duration_ms, &cp);
}

int uvble_gap_conn_params_for(uvble_gap_conn_params_t *out, int32_t min_us,
                              int32_t max_us) {
  if (!out) return UVBLE_EINVAL;
  struct gap_hci_params cp;
  int r = conn_params(min_us, max_us, &cp);
  if (r < 0) return r;
  memset(out, 0, sizeof *out);
  out->min_interval_us = (int32_t)cp.min * 1250;
  out->max_interval_us = (int32_t)cp.max * 1250;
  out->timeout_ms = (int32_t)cp.timeout * 10;
  return 0;
}

int uvble_gap_connect_req(uvble_req_t *req, uvble_t *ble,
                          const uvble_addr_t *addr, int32_t scan_duration_ms,
                          const uvble_gap_conn_params_t *p) {
  if (!ble || !addr) return UVBLE_EINVAL;
  struct gap_hci_params cp;
  int r = p ? gap_conn_params_to_hci(p, &cp) : conn_params(0, 0, &cp);
  if (r < 0) return r;
  return start_connect(ble, req, addr, scan_duration_ms, &cp);
}

int uvble_gap_connect_with(uvble_t *ble, const uvble_addr_t *addr,
                           int32_t scan_duration_ms,
                           const uvble_gap_conn_params_t *p) {
  return uvble_gap_connect_req(NULL, ble, addr, scan_duration_ms, p);
}

/* uvble_cancel: LE Create Connection Cancel; the attempt's end (or a link
 * that came up meanwhile, which is then ended) is swallowed, and then the
 * request completes with UVBLE_ECANCELED: the controller is free for the
 * next attempt by then (returns 1: req_cancel_done follows). */
static int cancel_connect(uvble_req_t *req) {
  uvble_t *ble = req->ble_;
  struct gap_connect *c = &ble->gap->conn;
  c->req_cancelled = true;
  if (c->state == GAP_CONNECT_CREATING) start_cancel(ble);
  return 1;
}

static int start_connect(uvble_t *ble, uvble_req_t *req,
                         const uvble_addr_t *addr, int32_t scan_duration_ms,
                         const struct gap_hci_params *cp) {
  if (ble->state != BLE_ON || !ble->gap) return UVBLE_ENOTACTIVE;
  struct gap_connect *c = &ble->gap->conn;
  if (addr->type > UVBLE_ADDR_RANDOM_ID || scan_duration_ms < 0)
    return UVBLE_EINVAL;
  int r;
  if (req && !req->cb_) return UVBLE_EINVAL;
  if (req && uvble_req_active(req)) return UVBLE_EBUSY;
  if (c->state == GAP_CONNECT_CREATING) return UVBLE_EALREADY;
  if (c->state != GAP_CONNECT_NONE) return UVBLE_EBUSY;
  /* MicroPython stops a scan first (and reports SCAN_DONE). */
  gap_scan_halt(ble);
  if (ble->state != BLE_ON || !ble->gap) return UVBLE_ENOTACTIVE;
  uint8_t own;
  if ((r = gap_own_addr_prepare(ble, &own, &c->own)) < 0) return r;
  c->tag = gap_new_tag(ble->gap);
  if ((r = queue_create(ble, addr, cp, own)) < 0) return r;
  c->state = GAP_CONNECT_CREATING;
  c->timed_out = false;
  c->req_cancelled = false;
  c->req = req;
  if (req) req_start(ble, req, UVBLE_REQ_CONNECT, c, cancel_connect);
  if (c->timer_open)
    uv_timer_start(&c->timer, on_timer,
                   scan_duration_ms ? (uint64_t)scan_duration_ms
                                    : UVBLE_GAP_CONNECT_DEFAULT_SCAN_MS,
                   0);
  return 0;
}

int uvble_gap_connect_cancel(uvble_t *ble) {
  if (!ble) return UVBLE_EINVAL;
  if (ble->state != BLE_ON || !ble->gap) return UVBLE_ENOTACTIVE;
  if (ble->gap->conn.state != GAP_CONNECT_CREATING) return UVBLE_EALREADY;
  int r = start_cancel(ble);
  return r < 0 ? r : 0;
}
