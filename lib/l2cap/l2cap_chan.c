/* SPDX-License-Identifier: Apache-2.0 */
/* L2CAP LE credit-based channels: setup and teardown (Core Spec Vol 3,
 * Part A, 4.6, 4.7, 4.22-4.24), listeners, and the control half of the
 * core API (listen, connect, disconnect, options, introspection). The data
 * path lives in l2cap_coc.c.
 *
 * A channel is in lc->chans from the moment we allocate its CID until its
 * L2CAP_DISCONNECT event, which is emitted after it is freed.
 */
#include <stdlib.h>
#include <string.h>

#include "l2cap_internal.h"

/* ---- channels
 * ------------------------------------------------------------------ */
static uint16_t auto_mps(const uvble_t *ble) {
  const struct l2cap_state *st = ble->l2cap;
  if (st->opt_mps) return st->opt_mps;
  /* A K-frame in one ACL packet: reassembly then hands it up in place. */
  int mps = (int)ble->hci.acl_mtu - 4;
  if (mps < UVBLE_L2CAP_MIN_MTU) mps = UVBLE_L2CAP_MIN_MTU;
  if (mps > (int)L2CAP_MAX_MPS) mps = L2CAP_MAX_MPS;
  return (uint16_t)mps;
}

static struct l2cap_chan *chan_new(uvble_t *ble, struct ble_conn *c,
                                   uint16_t psm, uint16_t mtu, int *err) {
  struct l2cap_conn *lc = c->l2cap;
  struct l2cap_state *st = ble->l2cap;
  unsigned i = 0;
  while (i < L2CAP_NUM_DYN && lc->chans[i]) i++;
  if (i == L2CAP_NUM_DYN) {
    *err = UVBLE_ENOSPC;
    return NULL;
  }
  struct l2cap_chan *ch = calloc(1, sizeof *ch);
  if (!ch) {
    *err = UVBLE_ENOMEM;
    return NULL;
  }
  ch->conn = c;
  ch->psm = psm;
  ch->lcid = (uint16_t)(L2CAP_CID_DYN_MIN + i);
  ch->our_mtu = mtu;
  ch->our_mps = auto_mps(ble);
  ch->rx_unit = ch->our_mps < (size_t)mtu + 2 ? ch->our_mps : (size_t)mtu + 2;
  ch->rx_window = st->opt_credits;
  if ((size_t)ch->rx_window * ch->rx_unit > L2CAP_MAX_RX_BUFFER)
    ch->rx_window = (uint32_t)(L2CAP_MAX_RX_BUFFER / ch->rx_unit);
  if (ch->rx_window == 0) ch->rx_window = 1;
  /* Room for the window, and for one whole SDU plus a K-frame so a
   * partial SDU can always be completed (credits need whole units). */
  size_t cap = (size_t)ch->rx_window * ch->rx_unit;
  if (cap < (size_t)mtu + 2 + ch->rx_unit) cap = (size_t)mtu + 2 + ch->rx_unit;
  ch->rx.buf = malloc(cap);
  if (!ch->rx.buf) {
    free(ch);
    *err = UVBLE_ENOMEM;
    return NULL;
  }
  ch->rx.cap = cap;
  ch->rx_credits = ch->rx_window;
  if (ble->hci.l2cap_rx_max_pdu < 4 + (size_t)ch->our_mps)
    ble->hci.l2cap_rx_max_pdu = 4 + (size_t)ch->our_mps;
  lc->chans[i] = ch;
  lc->nchans++;
  if (i + 1 > lc->hi) lc->hi = i + 1;
  return ch;
}

/* The peer's parameters are known: size the transmit ring. */
static int chan_open_tx(uvble_t *ble, struct l2cap_chan *ch) {
  size_t max_sdu = ch->peer_mtu;
  if (max_sdu > 2 * (size_t)ch->our_mtu) max_sdu = 2 * (size_t)ch->our_mtu;
  size_t cap = ble->l2cap->opt_tx_buffer;
  if (cap < 2 * (max_sdu + 2)) cap = 2 * (max_sdu + 2);
  ch->tx.buf = malloc(cap);
  if (!ch->tx.buf) return UVBLE_ENOMEM;
  ch->tx.cap = cap;
  ch->tx_max_sdu = max_sdu;
  return 0;
}

static void chan_free(struct l2cap_conn *lc, struct l2cap_chan *ch) {
  unsigned i = ch->lcid - L2CAP_CID_DYN_MIN;
  set_busy(lc, ch, false);
  lc->chans[i] = NULL;
  lc->nchans--;
  while (lc->hi > 0 && !lc->chans[lc->hi - 1]) lc->hi--;
  l2sig_forget_chan(lc, ch->lcid);
  free(ch->rx.buf);
  free(ch->tx.buf);
  free(ch);
}

static struct l2cap_chan *chan_by_rcid(struct l2cap_conn *lc, uint16_t rcid) {
  for (unsigned i = 0; i < lc->hi; i++) {
    struct l2cap_chan *ch = lc->chans[i];
    if (ch && ch->state != CH_CONNECTING && ch->rcid == rcid) return ch;
  }
  return NULL;
}

/* ---- events
 * -------------------------------------------------------------------- */
static void open_payload(uvble_irq_data_t *d, uint16_t handle,
                         const struct l2cap_chan *ch) {
  memset(d, 0, sizeof *d);
  d->l2cap_connect.conn_handle = handle;
  d->l2cap_connect.cid = ch->lcid;
  d->l2cap_connect.psm = ch->psm;
  d->l2cap_connect.our_mtu = ch->our_mtu;
  d->l2cap_connect.peer_mtu = ch->peer_mtu;
}

static int emit_open(uvble_t *ble, int ev, uint16_t handle,
                     const struct l2cap_chan *ch) {
  uvble_irq_data_t d;
  open_payload(&d, handle, ch);
  return ble_irq(ble, ev, &d);
}

/* Our channel opened: its request, or the irq handler, hears it. */
static void emit_connected(uvble_t *ble, uint16_t handle,
                           struct l2cap_chan *ch) {
  uvble_irq_data_t d;
  open_payload(&d, handle, ch);
  uvble_req_t *req = ch->req;
  ch->req = NULL; /* from now on the channel's events go to the irq */
  req_or_irq(ble, req, UVBLE_IRQ_L2CAP_CONNECT, true, 0, &d);
}

/* Frees the channel, then tells the application (or the request of a
 * channel that never opened; nobody for a cancelled one). */
void chan_finish(uvble_t *ble, struct l2cap_conn *lc, uint16_t handle,
                 struct l2cap_chan *ch, int status) {
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.l2cap_disconnect.conn_handle = handle;
  d.l2cap_disconnect.cid = ch->lcid;
  d.l2cap_disconnect.psm = ch->psm;
  d.l2cap_disconnect.status = status;
  uvble_req_t *req = ch->req;
  bool silent = ch->req_cancelled;
  chan_free(lc, ch);
  if (silent) return;
  /* A request's channel closed before it opened with status 0 was closed
   * by uvble_l2cap_disconnect: that request was cancelled. */
  req_or_irq(ble, req, UVBLE_IRQ_L2CAP_DISCONNECT, true,
             status ? status : UVBLE_ECANCELED, &d);
}

/* Sends our Disconnection Request (Vol 3, Part A, 4.6); the channel drops
 * its data and waits for the response. */
int chan_close(uvble_t *ble, struct ble_conn *c, struct l2cap_chan *ch,
               int status) {
  struct l2cap_req *req = calloc(1, sizeof *req);
  if (!req) return UVBLE_ENOMEM;
  req->code = L2SIG_DISCONN_REQ;
  req->lcid = ch->lcid;
  uint8_t d[4];
  put_le16(d, ch->rcid);
  put_le16(d + 2, ch->lcid);
  int r = l2sig_send_request(ble, c, req, d, 4);
  if (r < 0) {
    free(req);
    return r;
  }
  ch->state = CH_DISCONNECTING;
  ch->close_status = status;
  ch->stalled = false;
  ch->tx.used = ch->tx.rd = 0;
  ch->tx_unqueued = 0;
  ch->tx_in_sdu = false;
  acl_tx_discard_cid(c, ch->rcid);
  set_busy(c->l2cap, ch, false);
  return 0;
}

/* ---- incoming requests (Vol 3, Part A, 4.22)
 * --------------------------------- */
static const struct l2cap_listener *find_listener(const struct l2cap_state *st,
                                                  uint16_t psm) {
  for (size_t i = 0; i < st->nlisteners; i++)
    if (st->listeners[i].psm == psm) return &st->listeners[i];
  return NULL;
}

static int send_conn_rsp(uvble_t *ble, struct ble_conn *c, uint8_t ident,
                         const struct l2cap_chan *ch, uint16_t result) {
  uint8_t d[10];
  memset(d, 0, sizeof d); /* fields other than the result are 0 on refusal */
  if (result == UVBLE_L2CAP_RESULT_SUCCESS) {
    put_le16(d, ch->lcid);
    put_le16(d + 2, ch->our_mtu);
    put_le16(d + 4, ch->our_mps);
    put_le16(d + 6, (uint16_t)ch->rx_credits);
  } else {
    ble->l2cap->stats.chan_refused++;
  }
  put_le16(d + 8, result);
  return l2sig_send(ble, c, L2SIG_LE_CREDIT_CONN_RSP, ident, d, sizeof d);
}

/* The link's security against the listener's requirement (as Zephyr and
 * the Core Spec's Vol 3, Part C, 10.2 ask): without encryption, a bonded
 * peer is told to encrypt, any other to pair. */
static uint16_t check_security(const struct ble_conn *c, int required) {
  if (required == UVBLE_L2CAP_SEC_NONE) return UVBLE_L2CAP_RESULT_SUCCESS;
  if (!c->encrypted)
    return c->bonded ? UVBLE_L2CAP_RESULT_INSUFFICIENT_ENCRYPTION
                     : UVBLE_L2CAP_RESULT_INSUFFICIENT_AUTHENTICATION;
  if (required == UVBLE_L2CAP_SEC_AUTHENTICATED && !c->authenticated)
    return UVBLE_L2CAP_RESULT_INSUFFICIENT_AUTHENTICATION;
  return UVBLE_L2CAP_RESULT_SUCCESS;
}

/* The request's own fields, in the order the checks run. */
static uint16_t check_conn_req(const struct l2cap_state *st,
                               const struct ble_conn *c, uint16_t psm,
                               uint16_t scid, uint16_t mtu, uint16_t mps) {
  const struct l2cap_listener *l =
      psm == 0 || psm > 0x00FF ? NULL : find_listener(st, psm);
  if (!l) return UVBLE_L2CAP_RESULT_SPSM_NOT_SUPPORTED;
  uint16_t sec = check_security(c, l->security);
  if (sec != UVBLE_L2CAP_RESULT_SUCCESS) return sec;
  struct l2cap_conn *lc = c->l2cap;
  if (scid < L2CAP_CID_DYN_MIN || scid > L2CAP_CID_DYN_MAX)
    return UVBLE_L2CAP_RESULT_INVALID_SCID;
  if (chan_by_rcid(lc, scid)) return UVBLE_L2CAP_RESULT_SCID_IN_USE;
  if (mtu < UVBLE_L2CAP_MIN_MTU || mps < UVBLE_L2CAP_MIN_MTU ||
      mps > L2CAP_MAX_MPS)
    return UVBLE_L2CAP_RESULT_UNACCEPTABLE_PARAMS;
  return UVBLE_L2CAP_RESULT_SUCCESS;
}

void coc_on_conn_req(uvble_t *ble, struct ble_conn *c, uint8_t ident,
                     const uint8_t *p) {
  struct l2cap_state *st = ble->l2cap;
  struct l2cap_conn *lc = c->l2cap;
  uint16_t psm = get_le16(p), scid = get_le16(p + 2), mtu = get_le16(p + 4),
           mps = get_le16(p + 6), credits = get_le16(p + 8);
  uint16_t result = check_conn_req(st, c, psm, scid, mtu, mps);
  if (result != UVBLE_L2CAP_RESULT_SUCCESS) {
    send_conn_rsp(ble, c, ident, NULL, result);
    return;
  }
  int err;
  struct l2cap_chan *ch =
      chan_new(ble, c, psm, find_listener(st, psm)->mtu, &err);
  if (ch) {
    ch->rcid = scid;
    ch->peer_mtu = mtu;
    ch->peer_mps = mps;
    ch->tx_credits = credits;
    ch->state = CH_CONNECTING; /* until accepted: no data either way */
    if (chan_open_tx(ble, ch) < 0) {
      chan_free(lc, ch);
      ch = NULL;
    }
  }
  if (!ch) {
    send_conn_rsp(ble, c, ident, NULL, UVBLE_L2CAP_RESULT_NO_RESOURCES);
    return;
  }
  uint16_t handle = c->handle;
  int ret = emit_open(ble, UVBLE_IRQ_L2CAP_ACCEPT, handle, ch);
  /* The handler may have closed or powered down the stack: the channel
   * and the link stay until this dispatch unwinds (ble_ref), and their
   * teardown then ends the unanswered request. */
  if (ble_ending(ble) || !conn_is_open(c)) return;
  if (ret != 0) {
    /* The application refused: its value is the result code. */
    result = ret > 0 && ret <= 0xFFFF ? (uint16_t)ret
                                      : UVBLE_L2CAP_RESULT_NO_RESOURCES;
    chan_free(lc, ch);
    send_conn_rsp(ble, c, ident, NULL, result);
    return;
  }
  ch->state = CH_OPEN;
  if (send_conn_rsp(ble, c, ident, ch, UVBLE_L2CAP_RESULT_SUCCESS) < 0) {
    /* Unanswered, the peer times out; the channel never opened. */
    chan_free(lc, ch);
    return;
  }
  st->stats.chan_opened++;
  emit_open(ble, UVBLE_IRQ_L2CAP_CONNECT, handle, ch);
}

/* ---- responses to our requests
 * ------------------------------------------------ */
void coc_on_conn_rsp(uvble_t *ble, struct ble_conn *c, struct l2cap_req *req,
                     const uint8_t *p) {
  struct l2cap_conn *lc = c->l2cap;
  struct l2cap_chan *ch = chan_by_lcid(lc, req->lcid);
  if (!ch || ch->state != CH_CONNECTING) return;
  if (ch->req_cancelled) ble->stats.req_late_responses++;
  uint16_t dcid = get_le16(p), mtu = get_le16(p + 2), mps = get_le16(p + 4),
           credits = get_le16(p + 6), result = get_le16(p + 8);
  uint16_t handle = c->handle;
  if (result != UVBLE_L2CAP_RESULT_SUCCESS) {
    chan_finish(ble, lc, handle, ch, result);
    return;
  }
  bool dcid_ok = dcid >= L2CAP_CID_DYN_MIN && dcid <= L2CAP_CID_DYN_MAX &&
                 !chan_by_rcid(lc, dcid);
  int status = 0;
  if (!dcid_ok || mtu < UVBLE_L2CAP_MIN_MTU || mps < UVBLE_L2CAP_MIN_MTU ||
      mps > L2CAP_MAX_MPS)
    status = UVBLE_EPROTO; /* a success we cannot use */
  ch->rcid = dcid;
  ch->peer_mtu = mtu;
  ch->peer_mps = mps;
  ch->tx_credits = credits;
  ch->state = CH_OPEN;
  if (status == 0 && chan_open_tx(ble, ch) < 0) status = UVBLE_ENOMEM;
  if (status != 0 || ch->close_on_connect) {
    /* Close what the peer opened; without a usable CID there is nothing
     * to close on its side we could name. */
    if (!dcid_ok || chan_close(ble, c, ch, status) < 0)
      chan_finish(ble, lc, handle, ch, status);
    return;
  }
  ble->l2cap->stats.chan_opened++;
  emit_connected(ble, handle, ch);
}

bool coc_on_disconn_rsp(uvble_t *ble, struct ble_conn *c, struct l2cap_req *req,
                        const uint8_t *p) {
  struct l2cap_conn *lc = c->l2cap;
  struct l2cap_chan *ch = chan_by_lcid(lc, req->lcid);
  if (!ch) return true;
  if (get_le16(p) != ch->rcid || get_le16(p + 2) != ch->lcid) return false;
  chan_finish(ble, lc, c->handle, ch, ch->close_status);
  return true;
}

void coc_on_req_failed(uvble_t *ble, struct ble_conn *c, struct l2cap_req *req,
                       int status) {
  struct l2cap_conn *lc = c->l2cap;
  struct l2cap_chan *ch = chan_by_lcid(lc, req->lcid);
  if (!ch) return;
  if (req->code == L2SIG_DISCONN_REQ) {
    /* A reject means the peer has no such channel: it is closed. */
    if (status != UVBLE_ETIMEDOUT) status = ch->close_status;
  }
  chan_finish(ble, lc, c->handle, ch, status);
}

/* ---- the peer's commands on open channels
 * ---------------------------------------- */
void coc_on_credit(uvble_t *ble, struct ble_conn *c, const uint8_t *p) {
  struct l2cap_state *st = ble->l2cap;
  uint16_t cid = get_le16(p), credits = get_le16(p + 2);
  struct l2cap_chan *ch = chan_by_rcid(c->l2cap, cid);
  /* Not a request: nothing to reject; late ones cross a disconnection. */
  if (!ch || ch->state != CH_OPEN || credits == 0) {
    st->stats.credits_ignored++;
    return;
  }
  if ((uint32_t)ch->tx_credits + credits > L2CAP_MAX_CREDITS) {
    /* Vol 3, Part A, 10.1: the channel is disconnected. */
    st->stats.viol_credit_overflow++;
    if (chan_close(ble, c, ch, UVBLE_EPROTO) < 0)
      chan_finish(ble, c->l2cap, c->handle, ch, UVBLE_EPROTO);
    return;
  }
  ch->tx_credits += credits;
  coc_conn_service(ble, c);
}

void coc_on_disconn_req(uvble_t *ble, struct ble_conn *c, uint8_t ident,
                        const uint8_t *p) {
  uint16_t dcid = get_le16(p), scid = get_le16(p + 2);
  struct l2cap_chan *ch = chan_by_lcid(c->l2cap, dcid);
  if (!ch || ch->state == CH_CONNECTING || ch->rcid != scid) {
    /* Data: the request's DCID and SCID (Vol 3, Part A, 4.1). */
    l2sig_reject(ble, c, ident, L2SIG_REJ_INVALID_CID, p, 4);
    return;
  }
  l2sig_send(ble, c, L2SIG_DISCONN_RSP, ident, p, 4);
  acl_tx_discard_cid(c, ch->rcid); /* the peer has left it (4.6) */
  int status = ch->state == CH_DISCONNECTING ? ch->close_status : 0;
  chan_finish(ble, c->l2cap, c->handle, ch, status);
}

void coc_conn_closed(uvble_t *ble, struct l2cap_conn *lc, uint16_t handle) {
  int pending =
      ble->state == BLE_CLOSING ? UVBLE_ECANCELED : UVBLE_EDISCONNECTED;
  for (unsigned i = 0; i < L2CAP_NUM_DYN; i++) {
    struct l2cap_chan *ch = lc->chans[i];
    if (!ch) continue;
    int status = ch->state == CH_CONNECTING      ? pending
                 : ch->state == CH_DISCONNECTING ? ch->close_status
                                                 : 0;
    /* An incoming channel still in its ACCEPT handler was never
     * announced. */
    if (ch->state == CH_CONNECTING && !ch->outgoing) {
      chan_free(lc, ch);
      continue;
    }
    chan_finish(ble, lc, handle, ch, status);
  }
}

/* ---- API
 * --------------------------------------------------------------------- */
int uvble_l2cap_listen(uvble_t *ble, uint16_t psm, uint16_t mtu) {
  return uvble_l2cap_listen_secure(ble, psm, mtu, UVBLE_L2CAP_SEC_NONE);
}

int uvble_l2cap_listen_secure(uvble_t *ble, uint16_t psm, uint16_t mtu,
                              int security) {
  if (!ble || !ble->l2cap) return UVBLE_EINVAL;
  struct l2cap_state *st = ble->l2cap;
  if (psm == 0 || psm > 0x00FF || mtu < UVBLE_L2CAP_MIN_MTU)
    return UVBLE_EINVAL;
  if (security < UVBLE_L2CAP_SEC_NONE ||
      security > UVBLE_L2CAP_SEC_AUTHENTICATED)
    return UVBLE_EINVAL;
  if (find_listener(st, psm)) return UVBLE_EALREADY;
  if (st->nlisteners == st->listeners_cap) {
    size_t cap = st->listeners_cap ? st->listeners_cap * 2 : 4;
    struct l2cap_listener *l = realloc(st->listeners, cap * sizeof *l);
    if (!l) return UVBLE_ENOMEM;
    st->listeners = l;
    st->listeners_cap = cap;
  }
  st->listeners[st->nlisteners].psm = psm;
  st->listeners[st->nlisteners].mtu = mtu;
  st->listeners[st->nlisteners].security = security;
  st->nlisteners++;
  return 0;
}

int uvble_l2cap_listen_stop(uvble_t *ble, uint16_t psm) {
  if (!ble || !ble->l2cap) return UVBLE_EINVAL;
  struct l2cap_state *st = ble->l2cap;
  for (size_t i = 0; i < st->nlisteners; i++) {
    if (st->listeners[i].psm != psm) continue;
    st->listeners[i] = st->listeners[--st->nlisteners];
    return 0;
  }
  return UVBLE_ENOENT;
}

/* uvble_cancel: a Connection Request cannot be withdrawn; the channel is
 * closed when the peer answers (as uvble_l2cap_disconnect does), silently. */
static int cancel_connect(uvble_req_t *req) {
  struct l2cap_chan *ch = req->op_;
  ch->req = NULL;
  ch->req_cancelled = true;
  ch->close_on_connect = true;
  return 0;
}

int uvble_l2cap_connect(uvble_t *ble, uint16_t handle, uint16_t psm,
                        uint16_t mtu) {
  return uvble_l2cap_connect_req(NULL, ble, handle, psm, mtu);
}

int uvble_l2cap_connect_req(uvble_req_t *ureq, uvble_t *ble, uint16_t handle,
                            uint16_t psm, uint16_t mtu) {
  if (!ble || !ble->l2cap) return UVBLE_EINVAL;
  if (psm == 0 || psm > 0x00FF || mtu < UVBLE_L2CAP_MIN_MTU)
    return UVBLE_EINVAL;
  if (ureq && !ureq->cb_) return UVBLE_EINVAL;
  if (ureq && uvble_req_active(ureq)) return UVBLE_EBUSY;
  if (ble->state != BLE_ON) return UVBLE_ENOTACTIVE;
  struct ble_conn *c = conn_find(ble, handle);
  if (!c || !c->l2cap || c->disconnecting) return UVBLE_ENOTCONN;
  int err;
  struct l2cap_chan *ch = chan_new(ble, c, psm, mtu, &err);
  if (!ch) return err;
  ch->outgoing = true;
  ch->state = CH_CONNECTING;
  struct l2cap_req *req = calloc(1, sizeof *req);
  if (!req) {
    chan_free(c->l2cap, ch);
    return UVBLE_ENOMEM;
  }
  req->code = L2SIG_LE_CREDIT_CONN_REQ;
  req->lcid = ch->lcid;
  uint8_t d[10];
  put_le16(d, psm);
  put_le16(d + 2, ch->lcid);
  put_le16(d + 4, ch->our_mtu);
  put_le16(d + 6, ch->our_mps);
  put_le16(d + 8, (uint16_t)ch->rx_credits);
  int r = l2sig_send_request(ble, c, req, d, sizeof d);
  if (r < 0) {
    free(req);
    chan_free(c->l2cap, ch);
    return r;
  }
  if (ureq) {
    req_start(ble, ureq, UVBLE_REQ_L2CAP_CONNECT, ch, cancel_connect);
    ch->req = ureq;
  }
  return ch->lcid;
}

int uvble_l2cap_disconnect(uvble_t *ble, uint16_t handle, uint16_t cid) {
  if (!ble || !ble->l2cap) return UVBLE_EINVAL;
  struct ble_conn *c = conn_find(ble, handle);
  struct l2cap_chan *ch = c && c->l2cap ? chan_by_lcid(c->l2cap, cid) : NULL;
  if (!ch || (ch->state == CH_CONNECTING && !ch->outgoing))
    return UVBLE_ENOTCONN;
  if (ch->state == CH_DISCONNECTING || ch->close_on_connect)
    return UVBLE_EALREADY;
  if (ch->state == CH_CONNECTING) {
    /* A request cannot be withdrawn: close once the peer answers. */
    ch->close_on_connect = true;
    return 0;
  }
  return chan_close(ble, c, ch, 0);
}

/* ---- options, introspection
 * ------------------------------------------------------- */
int uvble_l2cap_set_opt(uvble_t *ble, int opt, int v) {
  if (!ble || !ble->l2cap) return UVBLE_EINVAL;
  struct l2cap_state *st = ble->l2cap;
  switch (opt) {
    case UVBLE_L2CAP_OPT_CREDITS:
      if (v < 1 || v > (int)L2CAP_MAX_CREDITS) return UVBLE_EINVAL;
      st->opt_credits = (uint32_t)v;
      return 0;
    case UVBLE_L2CAP_OPT_MPS:
      if (v != 0 && (v < UVBLE_L2CAP_MIN_MTU || v > (int)L2CAP_MAX_MPS))
        return UVBLE_EINVAL;
      st->opt_mps = (uint16_t)v;
      return 0;
    case UVBLE_L2CAP_OPT_TX_BUFFER:
      if (v < 4096 || v > 16 * 1024 * 1024) return UVBLE_EINVAL;
      st->opt_tx_buffer = (size_t)v;
      return 0;
    case UVBLE_L2CAP_OPT_TIMEOUT_MS:
      if (v < 1000 || v > 60000) return UVBLE_EINVAL;
      st->rtx_ms = (unsigned)v;
      return 0;
    default:
      return UVBLE_EUNKNOWNKEY;
  }
}

int uvble_l2cap_get_opt(const uvble_t *ble, int opt, int *v) {
  if (!ble || !ble->l2cap || !v) return UVBLE_EINVAL;
  const struct l2cap_state *st = ble->l2cap;
  switch (opt) {
    case UVBLE_L2CAP_OPT_CREDITS:
      *v = (int)st->opt_credits;
      return 0;
    case UVBLE_L2CAP_OPT_MPS:
      *v = st->opt_mps;
      return 0;
    case UVBLE_L2CAP_OPT_TX_BUFFER:
      *v = (int)st->opt_tx_buffer;
      return 0;
    case UVBLE_L2CAP_OPT_TIMEOUT_MS:
      *v = (int)st->rtx_ms;
      return 0;
    default:
      return UVBLE_EUNKNOWNKEY;
  }
}

int uvble_l2cap_chan_info(const uvble_t *ble, uint16_t handle, uint16_t cid,
                          uvble_l2cap_chan_info_t *out) {
  if (!ble || !ble->l2cap || !out) return UVBLE_EINVAL;
  struct ble_conn *c = conn_find((uvble_t *)ble, handle);
  struct l2cap_chan *ch = c && c->l2cap ? chan_by_lcid(c->l2cap, cid) : NULL;
  if (!ch) return UVBLE_ENOTCONN;
  memset(out, 0, sizeof *out);
  out->psm = ch->psm;
  out->cid = ch->lcid;
  out->peer_cid = ch->rcid;
  out->our_mtu = ch->our_mtu;
  out->our_mps = ch->our_mps;
  out->peer_mtu = ch->peer_mtu;
  out->peer_mps = ch->peer_mps;
  out->open = ch->state == CH_OPEN;
  out->tx_credits = ch->tx_credits;
  out->rx_credits = ch->rx_credits;
  out->rx_buffer = ch->rx.cap;
  out->rx_unread = ch->rx_unread;
  out->tx_buffer = ch->tx.cap;
  out->tx_queued = ch->tx_unqueued;
  return 0;
}

void uvble_l2cap_get_stats(const uvble_t *ble, uvble_l2cap_stats_t *out) {
  if (!out) return;
  if (!ble || !ble->l2cap) {
    memset(out, 0, sizeof *out);
    return;
  }
  *out = ble->l2cap->stats;
}
