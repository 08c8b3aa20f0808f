/* SPDX-License-Identifier: Apache-2.0 */
/* L2CAP LE signalling channel (CID 5): command parsing and Command Reject,
 * identifiers and response timeouts for our requests, the Connection
 * Parameter Update procedure, and the layer's module hooks. The
 * credit-based channel commands are handed to l2cap_coc.c.
 *
 * Core Spec Vol 3, Part A, 4: on LE-U each C-frame carries one command;
 * identifier 0 is never valid; a command with an unknown code, or one whose
 * length is wrong for its code, is answered with Command Reject "command
 * not understood" (never a Command Reject itself); a response that matches
 * no request of ours is silently discarded.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "l2cap_internal.h"
#include "pdu_reader.h"

static void sig_rx(uvble_t *ble, struct ble_conn *c, const uint8_t *d,
                   size_t len);

/* ---- sending ----------------------------------------------------------------
 */
static struct l2cap_req *req_of(struct sq_node *n) {
  return n ? SQ_ENTRY(n, struct l2cap_req, node) : NULL;
}

static bool ident_in_use(const struct l2cap_conn *lc, uint8_t ident) {
  for (const struct l2cap_req *r = req_of(lc->reqs.head); r;
       r = req_of(r->node.next))
    if (r->ident == ident) return true;
  return false;
}

/* Identifiers cycle through 1..255 (Vol 3, Part A, 4), skipping those still
 * awaiting a response; at most L2SIG_MAX_PENDING (254) can be pending, so
 * a free one always exists. */
static uint8_t next_ident(struct l2cap_conn *lc) {
  uint8_t id = lc->next_ident;
  do {
    id = (uint8_t)(id == 255 ? 1 : id + 1);
  } while (ident_in_use(lc, id));
  lc->next_ident = id;
  return id;
}

int l2sig_send(uvble_t *ble, struct ble_conn *c, uint8_t code, uint8_t ident,
               const uint8_t *data, size_t len) {
  if (ident == 0) ident = next_ident(c->l2cap);
  uint8_t hdr[4] = {code, ident, 0, 0};
  put_le16(hdr + 2, (uint16_t)len);
  uvble_iov_t iov[2] = {{hdr, 4}, {data, len}};
  return l2cap_send_pdu(ble, c, L2CAP_CID_LE_SIGNALING, iov, len ? 2 : 1);
}

void l2sig_reject(uvble_t *ble, struct ble_conn *c, uint8_t ident,
                  uint16_t reason, const uint8_t *data, size_t len) {
  uint8_t p[2 + 4];
  put_le16(p, reason);
  if (len > 4) len = 4;
  if (len) memcpy(p + 2, data, len);
  if (l2sig_send(ble, c, L2SIG_COMMAND_REJECT, ident, p, 2 + len) == 0)
    ble->l2cap->stats.sig_rejects_sent++;
}

static void rtx_arm(uvble_t *ble);

int l2sig_send_request(uvble_t *ble, struct ble_conn *c, struct l2cap_req *req,
                       const uint8_t *data, size_t len) {
  struct l2cap_conn *lc = c->l2cap;
  if (lc->reqs.len >= L2SIG_MAX_PENDING) return UVBLE_ENOBUFS;
  uint8_t id = next_ident(lc);
  int r = l2sig_send(ble, c, req->code, id, data, len);
  if (r < 0) return r;
  req->ident = id;
  req->deadline = ble_now_ms(ble->loop) + ble->l2cap->rtx_ms;
  sq_push_front(&lc->reqs, &req->node);
  rtx_arm(ble);
  return 0;
}

void l2sig_forget_chan(struct l2cap_conn *lc, uint16_t lcid) {
  struct sq_node **at = &lc->reqs.head, *prev = NULL;
  while (*at) {
    struct l2cap_req *r = req_of(*at);
    if (r->code != L2SIG_CONN_PARAM_REQ && r->lcid == lcid)
      free(req_of(sq_unlink(&lc->reqs, at, prev)));
    else
      at = &(prev = *at)->next;
  }
}

/* Unlinks the request with ident whose code is among the ones a response
 * of this kind answers. */
static struct l2cap_req *take_req(struct l2cap_conn *lc, uint8_t ident,
                                  int req_code) {
  struct sq_node **at = &lc->reqs.head, *prev = NULL;
  for (; *at; at = &(prev = *at)->next) {
    struct l2cap_req *r = req_of(*at);
    if (r->ident == ident && (req_code < 0 || r->code == req_code))
      return req_of(sq_unlink(&lc->reqs, at, prev));
  }
  return NULL;
}

/* ---- response timeout (RTX, Vol 3, Part A, 6.2.1)
 * ----------------------------- One timer for the stack, armed for the earliest
 * deadline of all pending requests: there are few, and no handle has to be
 * closed per request. */
static void on_rtx(uv_timer_t *t);

static void rtx_arm(uvble_t *ble) {
  struct l2cap_state *st = ble->l2cap;
  if (!st || !st->timer_open) return;
  uint64_t due = 0;
  for (struct ble_conn *c = conn_first(ble); c; c = conn_next(c)) {
    if (!c->l2cap) continue;
    for (struct l2cap_req *r = req_of(c->l2cap->reqs.head); r;
         r = req_of(r->node.next))
      if (due == 0 || r->deadline < due) due = r->deadline;
  }
  if (due == st->timer_due) return;
  st->timer_due = due;
  if (due == 0) {
    uv_timer_stop(&st->rtx_timer);
    return;
  }
  uint64_t now = ble_now_ms(ble->loop);
  uv_timer_start(&st->rtx_timer, on_rtx, due > now ? due - now : 0, 0);
}

static void req_failed(uvble_t *ble, struct ble_conn *c, struct l2cap_req *r,
                       int status) {
  if (r->code == L2SIG_CONN_PARAM_REQ) {
    if (r->param_cb) r->param_cb(ble, c, status, r->param_arg);
  } else {
    coc_on_req_failed(ble, c, r, status);
  }
  free(r);
}

/* A timer is an entry from the loop: a dispatch reference (ble_ref). */
static void on_rtx_run(uv_timer_t *t);

static void on_rtx(uv_timer_t *t) {
  uvble_t *ble = (uvble_t *)t->data;
  ble_ref(ble);
  on_rtx_run(t);
  ble_unref(ble);
}

static void on_rtx_run(uv_timer_t *t) {
  uvble_t *ble = t->data;
  ble->l2cap->timer_due = 0;
  for (;;) {
    uint64_t now = ble_now_ms(ble->loop);
    struct ble_conn *c;
    struct l2cap_req *r = NULL;
    for (c = conn_first(ble); c && !r; c = conn_next(c)) {
      if (!c->l2cap) continue;
      for (struct l2cap_req *x = req_of(c->l2cap->reqs.head); x;
           x = req_of(x->node.next))
        if (x->deadline <= now) {
          r = take_req(c->l2cap, x->ident, x->code);
          break;
        }
      if (r) break;
    }
    if (!r) break;
    ble->l2cap->stats.sig_timeouts++;
    req_failed(ble, c, r, UVBLE_ETIMEDOUT);
    /* Closed from a callback: the rest ends with the stack. */
    if (ble_dead(ble)) return;
  }
  rtx_arm(ble);
}

/* ---- Connection Parameter Update (Vol 3, Part A, 4.20 and 4.21)
 * ---------------- */
int l2cap_conn_param_update_request(uvble_t *ble, struct ble_conn *c,
                                    const struct l2cap_conn_params *p,
                                    l2cap_conn_param_cb cb, void *arg) {
  if (!ble->l2cap || !c || !p) return UVBLE_EINVAL;
  if (c->role != CONN_ROLE_PERIPHERAL) return UVBLE_EINVAL;
  if (!c->l2cap || c->l2cap->closing || c->disconnecting) return UVBLE_ENOTCONN;
  struct l2cap_req *req = calloc(1, sizeof *req);
  if (!req) return UVBLE_ENOMEM;
  req->code = L2SIG_CONN_PARAM_REQ;
  req->param_cb = cb;
  req->param_arg = arg;
  uint8_t d[8];
  put_le16(d, p->interval_min);
  put_le16(d + 2, p->interval_max);
  put_le16(d + 4, p->latency);
  put_le16(d + 6, p->timeout);
  int r = l2sig_send_request(ble, c, req, d, sizeof d);
  if (r < 0) free(req);
  return r;
}

/* The ranges of LE Connection Update (Vol 4, Part E, 7.8.18): a request
 * outside them is refused without asking GAP. */
static bool conn_params_valid(const struct l2cap_conn_params *p) {
  if (p->interval_min < 6 || p->interval_max > 3200 ||
      p->interval_min > p->interval_max)
    return false;
  if (p->latency > 499 || p->timeout < 10 || p->timeout > 3200) return false;
  /* timeout (10 ms) > (1 + latency) * interval_max (1.25 ms) * 2 */
  return (uint32_t)p->timeout * 4 > (1u + p->latency) * p->interval_max;
}

static void on_conn_param_req(uvble_t *ble, struct ble_conn *c, uint8_t ident,
                              const uint8_t *d, size_t len) {
  if (c->role != CONN_ROLE_CENTRAL) {
    /* Only a central answers this request (Vol 3, Part A, 4.20). */
    l2sig_reject(ble, c, ident, L2SIG_REJ_NOT_UNDERSTOOD, NULL, 0);
    return;
  }
  struct pdu_reader r; /* 8 bytes: sig_rx checked */
  pdu_reader_init(&r, d, len);
  struct l2cap_conn_params p;
  p.interval_min = pdu_get_le16(&r);
  p.interval_max = pdu_get_le16(&r);
  p.latency = pdu_get_le16(&r);
  p.timeout = pdu_get_le16(&r);
  l2cap_conn_param_fn fn = ble->l2cap->conn_param_fn;
  bool ok = conn_params_valid(&p) && fn && fn(ble, c, &p);
  uint8_t rsp[2];
  put_le16(rsp, ok ? 0x0000 : 0x0001);
  l2sig_send(ble, c, L2SIG_CONN_PARAM_RSP, ident, rsp, 2);
}

/* ---- receiving
 * ---------------------------------------------------------------- */
/* Exact parameter lengths of the commands we handle; -1 for the others. */
static int cmd_len(uint8_t code) {
  switch (code) {
    case L2SIG_DISCONN_REQ:
    case L2SIG_DISCONN_RSP:
    case L2SIG_FLOW_CONTROL_CREDIT:
      return 4;
    case L2SIG_CONN_PARAM_REQ:
      return 8;
    case L2SIG_CONN_PARAM_RSP:
      return 2;
    case L2SIG_LE_CREDIT_CONN_REQ:
    case L2SIG_LE_CREDIT_CONN_RSP:
      return 10;
    default:
      return -1;
  }
}

static void on_reject(uvble_t *ble, struct ble_conn *c, uint8_t ident,
                      const uint8_t *d, size_t len) {
  struct l2cap_state *st = ble->l2cap;
  struct pdu_reader rd;
  pdu_reader_init(&rd, d, len);
  pdu_get_le16(&rd); /* Reason; the data after it depends on it */
  if (!pdu_ok(&rd)) {
    st->stats.sig_malformed++; /* a reject is never answered */
    return;
  }
  st->stats.sig_rejects_received++;
  struct l2cap_req *r = take_req(c->l2cap, ident, -1);
  if (!r) {
    st->stats.sig_unmatched_rsp++;
    return;
  }
  req_failed(ble, c, r, UVBLE_ENOTSUP);
}

static void on_response(uvble_t *ble, struct ble_conn *c, uint8_t code,
                        uint8_t ident, const uint8_t *d, size_t len) {
  int req_code = code == L2SIG_DISCONN_RSP      ? L2SIG_DISCONN_REQ
                 : code == L2SIG_CONN_PARAM_RSP ? L2SIG_CONN_PARAM_REQ
                                                : L2SIG_LE_CREDIT_CONN_REQ;
  struct l2cap_req *r = take_req(c->l2cap, ident, req_code);
  if (!r) {
    ble->l2cap->stats.sig_unmatched_rsp++;
    return;
  }
  if (code == L2SIG_CONN_PARAM_RSP) {
    struct pdu_reader rd; /* 2 bytes: sig_rx checked */
    pdu_reader_init(&rd, d, len);
    uint16_t result = pdu_get_le16(&rd);
    if (r->param_cb) r->param_cb(ble, c, result, r->param_arg);
  } else if (code == L2SIG_DISCONN_RSP) {
    if (!coc_on_disconn_rsp(ble, c, r, d)) {
      /* Not for the channel we asked about: keep waiting. */
      ble->l2cap->stats.sig_unmatched_rsp++;
      sq_push_front(&c->l2cap->reqs, &r->node);
      return;
    }
  } else {
    coc_on_conn_rsp(ble, c, r, d);
  }
  free(r);
}

static void sig_rx(uvble_t *ble, struct ble_conn *c, const uint8_t *d,
                   size_t len) {
  struct l2cap_state *st = ble->l2cap;
  if (!st || !c->l2cap || c->l2cap->closing) return;
  st->stats.sig_rx++;
  struct pdu_reader r;
  pdu_reader_init(&r, d, len);
  uint8_t code = pdu_get_u8(&r), ident = pdu_get_u8(&r);
  size_t clen = pdu_get_le16(&r);
  size_t n;
  const uint8_t *p = pdu_get_rest(&r, &n);
  if (!pdu_ok(&r) || ident == 0) {
    /* No complete header, or the invalid identifier 0: nothing to answer
     * to. */
    st->stats.sig_malformed++;
    return;
  }
  if (code == L2SIG_COMMAND_REJECT) {
    if (clen != n) {
      st->stats.sig_malformed++;
      return;
    }
    on_reject(ble, c, ident, p, n);
    return;
  }
  if (len > L2SIG_MTU) {
    /* Vol 3, Part A, 4.1: the data carries our MTUsig. */
    uint8_t mtu[2];
    put_le16(mtu, L2SIG_MTU);
    st->stats.sig_malformed++;
    l2sig_reject(ble, c, ident, L2SIG_REJ_MTU_EXCEEDED, mtu, 2);
    return;
  }
  int want = cmd_len(code);
  if (want < 0 || clen != n || clen != (size_t)want) {
    if (want >= 0) st->stats.sig_malformed++;
    l2sig_reject(ble, c, ident, L2SIG_REJ_NOT_UNDERSTOOD, NULL, 0);
    return;
  }
  switch (code) {
    case L2SIG_LE_CREDIT_CONN_REQ:
      coc_on_conn_req(ble, c, ident, p);
      break;
    case L2SIG_FLOW_CONTROL_CREDIT:
      coc_on_credit(ble, c, p);
      break;
    case L2SIG_DISCONN_REQ:
      coc_on_disconn_req(ble, c, ident, p);
      break;
    case L2SIG_CONN_PARAM_REQ:
      on_conn_param_req(ble, c, ident, p, n);
      break;
    default: /* the three responses */
      on_response(ble, c, code, ident, p, n);
      break;
  }
}

/* ---- module hooks
 * ------------------------------------------------------------- */
int l2cap_init(uvble_t *ble) {
  struct l2cap_state *st = calloc(1, sizeof *st);
  if (!st) return UVBLE_ENOMEM;
  st->ble = ble;
  st->opt_credits = L2CAP_DEFAULT_CREDITS;
  st->opt_tx_buffer = L2CAP_DEFAULT_TX_BUFFER;
  st->rtx_ms = L2CAP_DEFAULT_RTX_MS;
  int r = uv_timer_init(ble->loop, &st->rtx_timer);
  if (r) {
    free(st);
    return r;
  }
  st->rtx_timer.data = ble;
  st->timer_open = true;
  ble->l2cap = st;
  l2cap_register_dyn(ble, l2cap_dyn_rx);
  return l2cap_register_fixed(ble, L2CAP_CID_LE_SIGNALING, sig_rx);
}

void l2cap_set_conn_param_handler(uvble_t *ble, l2cap_conn_param_fn fn) {
  if (ble->l2cap) ble->l2cap->conn_param_fn = fn;
}

void l2cap_stop(uvble_t *ble, int err) {
  (void)err;
  struct l2cap_state *st = ble->l2cap;
  /* The connections, and with them every request, are gone already. */
  if (st && st->timer_open) {
    uv_timer_stop(&st->rtx_timer);
    st->timer_due = 0;
  }
}

static void on_state_closed(uv_handle_t *h) {
  uvble_t *ble = h->data;
  free((char *)h - offsetof(struct l2cap_state, rtx_timer));
  ble->pending_closes--;
  ble_handle_closed(ble);
}

void l2cap_close(uvble_t *ble) {
  struct l2cap_state *st = ble->l2cap;
  if (!st) return;
  ble->l2cap = NULL;
  l2cap_register_fixed(ble, L2CAP_CID_LE_SIGNALING, NULL);
  l2cap_register_dyn(ble, NULL);
  free(st->listeners);
  st->listeners = NULL;
  if (!st->timer_open) {
    free(st);
    return;
  }
  st->timer_open = false;
  ble->pending_closes++;
  uv_close((uv_handle_t *)&st->rtx_timer, on_state_closed);
}

int l2cap_conn_open(uvble_t *ble, struct ble_conn *c) {
  if (!ble->l2cap) return 0;
  c->l2cap = calloc(1, sizeof *c->l2cap);
  return c->l2cap ? 0 : UVBLE_ENOMEM;
}

void l2cap_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  (void)reason;
  struct l2cap_conn *lc = c->l2cap;
  if (!lc) return;
  /* Detached first: calls from the event handlers below see no L2CAP on
   * the link (UVBLE_ENOTCONN). */
  c->l2cap = NULL;
  lc->closing = true;
  uint16_t handle = c->handle;
  int status =
      ble->state == BLE_CLOSING ? UVBLE_ECANCELED : UVBLE_EDISCONNECTED;
  struct sq reqs = {0};
  sq_concat(&reqs, &lc->reqs);
  struct l2cap_req *r;
  while ((r = req_of(sq_pop(&reqs)))) {
    /* Channel requests end with their channels below. */
    if (r->code == L2SIG_CONN_PARAM_REQ && r->param_cb)
      r->param_cb(ble, c, status, r->param_arg);
    free(r);
  }
  coc_conn_closed(ble, lc, handle);
  free(lc);
  rtx_arm(ble);
}
