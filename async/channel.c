/* SPDX-License-Identifier: Apache-2.0 */
/* L2CAP credit-based channels as objects (aioble's l2cap module), without
 * aioble's limits: many channels per connection, listening and connecting
 * at once, and a small backlog of channels peers opened before anyone
 * called accept. */
#include <stdlib.h>
#include <string.h>

#include "async_internal.h"
#include "uvble/l2cap.h"

static const struct fut_ops chan_wait_ops = {
    .name = "l2cap", .detach = fut_wait_detach, .ble = true};

/* ---- channel objects ------------------------------------------------------------ */
static uvble_l2cap_channel_t *chan_new(uvble_connection_t *c, uint16_t cid,
                                       uint16_t psm, bool incoming) {
  uvble_l2cap_channel_t *ch = calloc(1, sizeof *ch);
  if (!ch) return NULL;
  ch->a = c->a;
  ch->conn = uvble_connection_ref(c);
  ch->cid = cid;
  ch->psm = psm;
  ch->incoming = incoming;
  ch->next = c->chans;
  c->chans = ch;
  return ch;
}

static void deferred_remove(uvble_l2cap_channel_t *ch) {
  if (!ch->close_deferred) return;
  for (uvble_l2cap_channel_t **p = &ch->a->deferred; *p; p = &(*p)->dnext) {
    if (*p == ch) {
      *p = ch->dnext;
      break;
    }
  }
  ch->close_deferred = false;
}

/* An outgoing channel's core request (uvble_l2cap_connect_req); it
 * outlives a channel freed while connecting (ch NULL then). */
struct chreq {
  uvble_req_t req;
  uvble_l2cap_channel_t *ch;
};

/* Unlinks and frees; drop_ref false when the connection itself is going. */
static void chan_destroy(uvble_l2cap_channel_t *ch, bool drop_ref) {
  uvble_connection_t *c = ch->conn;
  if (ch->creq) {
    /* Still connecting: the core closes the channel if the peer accepts,
     * without an event, and completes the request. */
    ch->creq->ch = NULL;
    uvble_cancel(&ch->creq->req);
    ch->creq = NULL;
  }
  for (uvble_l2cap_channel_t **p = &c->chans; *p; p = &(*p)->next) {
    if (*p == ch) {
      *p = ch->next;
      break;
    }
  }
  deferred_remove(ch);
  free(ch);
  if (drop_ref) aio_conn_unref(c);
}

static uvble_l2cap_channel_t *chan_find(uvble_connection_t *c, uint16_t cid) {
  for (uvble_l2cap_channel_t *ch = c->chans; ch; ch = ch->next)
    if (ch->cid == cid && !ch->closed) return ch;
  return NULL;
}

static bool listening(const uvble_async_t *a, uint16_t psm) {
  return psm && psm < 256 && (a->listening[psm / 8] >> (psm % 8)) & 1;
}

static size_t backlog_of(const uvble_connection_t *c) {
  size_t n = 0;
  for (uvble_l2cap_channel_t *ch = c->chans; ch; ch = ch->next)
    if (ch->incoming && !ch->claimed && !ch->closed) n++;
  return n;
}

/* ---- accept ---------------------------------------------------------------------- */
static uvble_l2cap_channel_t *backlog_take(uvble_connection_t *c, uint16_t psm) {
  uvble_l2cap_channel_t *found = NULL;
  /* The oldest: the list is newest first. */
  for (uvble_l2cap_channel_t *ch = c->chans; ch; ch = ch->next)
    if (ch->incoming && !ch->claimed && ch->open && ch->psm == psm) found = ch;
  return found;
}

static void accept_detach(uvble_future_t *f, int status) {
  (void)status;
  fut_unwait(f);
}

static const struct fut_ops accept_ops = {
    .name = "l2cap_accept", .detach = accept_detach, .ble = true};

static int listen_on(uvble_async_t *a, uint16_t psm, uint16_t mtu) {
  if (listening(a, psm)) return 0;
  int r = uvble_l2cap_listen(a->ble, psm, mtu);
  if (r < 0 && r != UVBLE_EALREADY) return r;
  a->listening[psm / 8] |= (uint8_t)(1u << (psm % 8));
  return 0;
}

int uvble_async_l2cap_listen(uvble_async_t *a, uint16_t psm, uint16_t mtu) {
  if (!a || psm == 0 || psm > 0xFF || mtu < UVBLE_L2CAP_MIN_MTU)
    return UVBLE_EINVAL;
  if (a->closing) return UVBLE_ECANCELED;
  if (listening(a, psm)) return UVBLE_EALREADY;
  return listen_on(a, psm, mtu);
}

int uvble_connection_l2cap_accept(uvble_future_t *f, uvble_connection_t *c,
                                  uint16_t psm, uint16_t mtu,
                                  uint32_t timeout_ms) {
  if (!c || psm == 0 || psm > 0xFF) return fut_fail(f, UVBLE_EINVAL);
  if (!c->connected) return fut_fail(f, UVBLE_ENOTCONN);
  uvble_async_t *a = c->a;
  int r = listen_on(a, psm, mtu);
  if (r < 0) return fut_fail(f, r);
  r = aio_begin(f, a, &accept_ops, c, timeout_ms);
  if (r < 0) return r;
  f->arg_ = psm;
  uvble_l2cap_channel_t *ch = backlog_take(c, psm);
  if (ch) {
    ch->claimed = true;
    f->result.channel = ch;
    fut_complete(f, 0);
  } else {
    fut_list_push(&c->accept_waiters, f);
  }
  return 0;
}

static uvble_future_t *accept_waiter(uvble_connection_t *c, uint16_t psm) {
  uvble_future_t *f = c->accept_waiters;
  if (!f) return NULL;
  do {
    if (f->arg_ == psm) return f;
    f = f->wnext_;
  } while (f != c->accept_waiters);
  return NULL;
}

/* ---- connect ------------------------------------------------------------------------ */
/* Abandoned (timeout, cancel): the channel object goes, and with it the
 * request (chan_destroy cancels it). */
static void connect_detach(uvble_future_t *f, int status) {
  (void)status;
  uvble_l2cap_channel_t *ch = f->owner_;
  ch->connect_f = NULL;
  chan_destroy(ch, true);
}

static const struct fut_ops connect_ops = {
    .name = "l2cap_connect", .detach = connect_detach, .ble = true};

/* The core's answer: the channel is open, or it never will be. */
static void on_chan_connected(uvble_req_t *req, int status,
                              const uvble_irq_data_t *d, void *arg) {
  (void)req;
  struct chreq *q = arg;
  uvble_l2cap_channel_t *ch = q->ch;
  free(q);
  if (!ch) return;
  ch->creq = NULL;
  uvble_future_t *f = ch->connect_f;
  ch->connect_f = NULL;
  uvble_async_t *a = ch->a;
  if (status == 0) {
    ch->open = true;
    ch->our_mtu = d->l2cap_connect.our_mtu;
    ch->peer_mtu = d->l2cap_connect.peer_mtu;
    ch->claimed = true;
    f->result.channel = ch;
    fut_complete(f, 0);
    aio_chain_irq(a, UVBLE_IRQ_L2CAP_CONNECT, d);
    return;
  }
  /* The peer's result code, or why it never got one. */
  if (status > 0)
    fut_complete_proto(f, UVBLE_EL2CAP, status);
  else
    fut_complete(f, status);
  chan_destroy(ch, true);
  aio_chain_irq(a, UVBLE_IRQ_L2CAP_DISCONNECT, d);
}

int uvble_connection_l2cap_connect(uvble_future_t *f, uvble_connection_t *c,
                                   uint16_t psm, uint16_t mtu,
                                   uint32_t timeout_ms) {
  if (!c) return fut_fail(f, UVBLE_EINVAL);
  if (!c->connected) return fut_fail(f, UVBLE_ENOTCONN);
  struct chreq *q = calloc(1, sizeof *q);
  if (!q) return fut_fail(f, UVBLE_ENOMEM);
  /* The channel object is the future's owner: made first, with the CID
   * filled in once the core gave one. */
  uvble_l2cap_channel_t *ch = chan_new(c, 0, psm, false);
  if (!ch) {
    free(q);
    return fut_fail(f, UVBLE_ENOMEM);
  }
  int r = aio_begin(f, c->a, &connect_ops, ch, timeout_ms);
  if (r < 0) {
    free(q);
    chan_destroy(ch, true);
    return r;
  }
  uvble_req_init(&q->req, on_chan_connected, q);
  int cid = uvble_l2cap_connect_req(&q->req, c->a->ble, c->handle, psm, mtu);
  if (cid < 0) {
    free(q);
    ch->connect_f = NULL;
    chan_destroy(ch, true);
    return fut_abort(f, cid);
  }
  q->ch = ch;
  ch->creq = q;
  ch->cid = (uint16_t)cid;
  ch->connect_f = f;
  return 0;
}

/* ---- events ----------------------------------------------------------------------------- */
static void on_accept(uvble_connection_t *c, const uvble_evt_l2cap_connect_t *e,
                      int *ret) {
  uvble_async_t *a = c->a;
  if (!accept_waiter(c, e->psm) && backlog_of(c) >= a->cfg.l2cap_backlog) {
    a->stats.l2cap_refused++;
    *ret = UVBLE_L2CAP_RESULT_NO_RESOURCES;
    return;
  }
  if (!chan_new(c, e->cid, e->psm, true)) {
    *ret = UVBLE_L2CAP_RESULT_NO_RESOURCES;
    return;
  }
  *ret = 0;
}

static void on_open(uvble_connection_t *c, const uvble_evt_l2cap_connect_t *e) {
  uvble_l2cap_channel_t *ch = chan_find(c, e->cid);
  if (!ch) return;
  ch->open = true;
  ch->our_mtu = e->our_mtu;
  ch->peer_mtu = e->peer_mtu;
  /* Ours open through their requests (on_chan_connected). */
  if (!ch->incoming) return;
  uvble_future_t *f = accept_waiter(c, ch->psm);
  if (!f) return; /* stays in the backlog */
  fut_unwait(f);
  ch->claimed = true;
  f->result.channel = ch;
  fut_complete(f, 0);
}

static void on_defer(uvble_future_t *f);

static void on_closed(uvble_connection_t *c,
                      const uvble_evt_l2cap_disconnect_t *e) {
  uvble_l2cap_channel_t *ch = chan_find(c, e->cid);
  if (!ch) return;
  uvble_async_t *a = c->a;
  ch->closed = true;
  ch->close_status = e->status;
  bool was_open = ch->open;
  ch->open = false;
  ch->stalled = false;
  uvble_future_t *w;
  while ((w = fut_list_pop(&ch->down_waiters)) != NULL)
    fut_complete_proto(w, 0, e->status);
  if (!ch->claimed) {
    chan_destroy(ch, true);
    return;
  }
  if (!was_open) return;
  /* Status 0 comes both for a close and for a link going down, and the
   * link's DISCONNECT follows in the same burst of events: decide once it
   * is over (aio_chan_conn_down may get there first). */
  if (!ch->close_deferred) {
    ch->close_deferred = true;
    ch->dnext = a->deferred;
    a->deferred = ch;
  }
  if (!uvble_future_pending(&a->defer_f)) {
    a->defer_f.cb = on_defer;
    a->defer_f.data = a;
    uvble_sleep(&a->defer_f, a->sched, 0);
  }
}

static void fail_io(uvble_l2cap_channel_t *ch, int status) {
  fut_list_complete_all(&ch->recv_waiters, status);
  fut_list_complete_all(&ch->send_q, status);
  fut_list_complete_all(&ch->flush_waiters, status);
}

static void on_defer(uvble_future_t *f) {
  uvble_async_t *a = f->data;
  while (a->deferred) {
    uvble_l2cap_channel_t *ch = a->deferred;
    a->deferred = ch->dnext;
    ch->close_deferred = false;
    fail_io(ch, ch->conn->connected ? UVBLE_EL2CAPCLOSED : UVBLE_EDISCONNECTED);
  }
}

static void serve_recv(uvble_l2cap_channel_t *ch) {
  uvble_t *ble = ch->a->ble;
  while (ch->recv_waiters &&
         uvble_l2cap_recvinto(ble, ch->conn->handle, ch->cid, NULL, 0) > 0) {
    uvble_future_t *f = fut_list_pop(&ch->recv_waiters);
    int n = uvble_l2cap_recvinto(ble, ch->conn->handle, ch->cid, f->buf_,
                                 f->cap_);
    if (n < 0) {
      fut_complete(f, n);
      continue;
    }
    f->len = (size_t)n;
    fut_complete(f, 0);
  }
}

static void pump_send(uvble_l2cap_channel_t *ch);

static void check_flush(uvble_l2cap_channel_t *ch) {
  if (!ch->stalled && !ch->send_q) fut_list_complete_all(&ch->flush_waiters, 0);
}

bool aio_chan_on_event(uvble_async_t *a, int event, const uvble_irq_data_t *d,
                   int *ret) {
  uvble_connection_t *c = aio_conn_find(a, d->l2cap_connect.conn_handle);
  if (!c) return false;
  uvble_l2cap_channel_t *ch;
  switch (event) {
    case UVBLE_IRQ_L2CAP_ACCEPT:
      if (!listening(a, d->l2cap_connect.psm)) return false;
      on_accept(c, &d->l2cap_connect, ret);
      return true;
    case UVBLE_IRQ_L2CAP_CONNECT:
      on_open(c, &d->l2cap_connect);
      break;
    case UVBLE_IRQ_L2CAP_DISCONNECT:
      on_closed(c, &d->l2cap_disconnect);
      break;
    case UVBLE_IRQ_L2CAP_RECV:
      if ((ch = chan_find(c, d->l2cap_io.cid)) != NULL) serve_recv(ch);
      break;
    case UVBLE_IRQ_L2CAP_SEND_READY:
      if ((ch = chan_find(c, d->l2cap_io.cid)) != NULL) {
        ch->stalled = false;
        pump_send(ch);
        check_flush(ch);
      }
      break;
    default:
      break;
  }
  return false;
}

/* ---- I/O ------------------------------------------------------------------------------ */
static int closed_status(const uvble_l2cap_channel_t *ch) {
  return ch->conn->connected ? UVBLE_EL2CAPCLOSED : UVBLE_EDISCONNECTED;
}

int uvble_l2cap_channel_recvinto(uvble_future_t *f, uvble_l2cap_channel_t *ch,
                                 uint8_t *buf, size_t cap,
                                 uint32_t timeout_ms) {
  if (!ch || !buf || !cap) return fut_fail(f, UVBLE_EINVAL);
  if (!ch->open) return fut_fail(f, closed_status(ch));
  int r = aio_begin(f, ch->a, &chan_wait_ops, ch, timeout_ms);
  if (r < 0) return r;
  f->buf_ = buf;
  f->cap_ = cap;
  fut_list_push(&ch->recv_waiters, f);
  serve_recv(ch);
  return 0;
}

static size_t chunk_of(const uvble_l2cap_channel_t *ch, size_t limit) {
  size_t n = (size_t)ch->our_mtu * 2;
  if (ch->peer_mtu < n) n = ch->peer_mtu;
  if (limit && limit < n) n = limit;
  return n ? n : 1;
}

/* Hands the queued sends to the channel until it stalls. */
static void pump_send(uvble_l2cap_channel_t *ch) {
  uvble_t *ble = ch->a->ble;
  while (ch->send_q && !ch->stalled && ch->open) {
    uvble_future_t *f = ch->send_q;
    size_t total = f->cap_;
    while (f->off_ < total) {
      size_t n = chunk_of(ch, f->arg_);
      if (n > total - f->off_) n = total - f->off_;
      int r = uvble_l2cap_send(ble, ch->conn->handle, ch->cid, f->buf_ + f->off_,
                               n);
      if (r == UVBLE_EAGAIN) {
        ch->stalled = true; /* nothing queued: retry this chunk later */
        return;
      }
      if (r < 0) {
        fut_complete(fut_list_pop(&ch->send_q), r);
        break;
      }
      f->off_ += n;
      f->len = f->off_;
      if (r == 0) {
        ch->stalled = true; /* queued; SEND_READY says when to go on */
        if (f->off_ == total) break;
        return;
      }
    }
    if (f->state_ == FUT_PENDING && f->off_ >= total)
      fut_complete(fut_list_pop(&ch->send_q), 0);
  }
}

int uvble_l2cap_channel_send(uvble_future_t *f, uvble_l2cap_channel_t *ch,
                             const void *buf, size_t len, size_t chunk_size,
                             uint32_t timeout_ms) {
  if (!ch || (len && !buf)) return fut_fail(f, UVBLE_EINVAL);
  if (!ch->open) return fut_fail(f, closed_status(ch));
  int r = aio_begin(f, ch->a, &chan_wait_ops, ch, timeout_ms);
  if (r < 0) return r;
  f->buf_ = (uint8_t *)(uintptr_t)buf;
  f->cap_ = len;
  f->arg_ = chunk_size > UINT32_MAX ? UINT32_MAX : (uint32_t)chunk_size;
  if (len == 0) {
    fut_complete(f, 0);
    return 0;
  }
  fut_list_push(&ch->send_q, f);
  pump_send(ch);
  return 0;
}

int uvble_l2cap_channel_flush(uvble_future_t *f, uvble_l2cap_channel_t *ch,
                              uint32_t timeout_ms) {
  if (!ch) return fut_fail(f, UVBLE_EINVAL);
  if (!ch->open) return fut_fail(f, closed_status(ch));
  int r = aio_begin(f, ch->a, &chan_wait_ops, ch, timeout_ms);
  if (r < 0) return r;
  fut_list_push(&ch->flush_waiters, f);
  check_flush(ch);
  return 0;
}

static int wait_closed(uvble_future_t *f, uvble_l2cap_channel_t *ch,
                       bool disconnect, uint32_t timeout_ms) {
  if (!ch) return fut_fail(f, UVBLE_EINVAL);
  int r = aio_begin(f, ch->a, &chan_wait_ops, ch, timeout_ms);
  if (r < 0) return r;
  if (ch->closed || !ch->conn->connected) {
    fut_complete_proto(f, 0, ch->close_status);
    return 0;
  }
  if (disconnect) {
    r = uvble_l2cap_disconnect(ch->a->ble, ch->conn->handle, ch->cid);
    if (r < 0 && r != UVBLE_EALREADY) return fut_abort(f, r);
  }
  fut_list_push(&ch->down_waiters, f);
  return 0;
}

int uvble_l2cap_channel_disconnect(uvble_future_t *f, uvble_l2cap_channel_t *ch,
                                   uint32_t timeout_ms) {
  return wait_closed(f, ch, true, timeout_ms);
}

int uvble_l2cap_channel_disconnected(uvble_future_t *f,
                                     uvble_l2cap_channel_t *ch,
                                     uint32_t timeout_ms) {
  return wait_closed(f, ch, false, timeout_ms);
}

uint16_t uvble_l2cap_channel_our_mtu(const uvble_l2cap_channel_t *ch) {
  return ch->our_mtu;
}
uint16_t uvble_l2cap_channel_peer_mtu(const uvble_l2cap_channel_t *ch) {
  return ch->peer_mtu;
}
uint16_t uvble_l2cap_channel_cid(const uvble_l2cap_channel_t *ch) {
  return ch->cid;
}
uvble_connection_t *uvble_l2cap_channel_connection(
    const uvble_l2cap_channel_t *ch) {
  return ch->conn;
}
bool uvble_l2cap_channel_is_open(const uvble_l2cap_channel_t *ch) {
  return ch->open;
}
bool uvble_l2cap_channel_available(const uvble_l2cap_channel_t *ch) {
  return ch->open && uvble_l2cap_recvinto(ch->a->ble, ch->conn->handle,
                                          ch->cid, NULL, 0) > 0;
}

/* ---- teardown --------------------------------------------------------------------------- */
void uvble_l2cap_channel_free(uvble_l2cap_channel_t *ch) {
  if (!ch) return;
  /* Kept: after uvble_async_close the stack is closing, and
   * uvble_l2cap_disconnect would still look the link up and send. */
  if (!ch->closed && ch->conn->connected && !ch->a->closing)
    uvble_l2cap_disconnect(ch->a->ble, ch->conn->handle, ch->cid);
  fail_io(ch, UVBLE_ECANCELED);
  fut_list_complete_all(&ch->down_waiters, UVBLE_ECANCELED);
  chan_destroy(ch, true);
}

void aio_chan_conn_down(uvble_connection_t *c, int status) {
  uvble_l2cap_channel_t *ch = c->chans;
  while (ch) {
    uvble_l2cap_channel_t *next = ch->next;
    deferred_remove(ch);
    /* A connect under way ended before this event (the core completes its
     * request with EDISCONNECTED), so no channel here is connecting. */
    ch->open = false;
    ch->closed = true;
    fail_io(ch, status);
    fut_list_complete_all(&ch->down_waiters, 0);
    /* The connection keeps its link reference until after this event, so
     * dropping a channel's reference cannot free it here. */
    if (!ch->claimed) chan_destroy(ch, true);
    ch = next;
  }
}

void aio_chan_free_all(uvble_connection_t *c) {
  while (c->chans) {
    uvble_l2cap_channel_t *ch = c->chans;
    /* Only reached when the context closes (every future has ended by
     * then, connects included) or the last reference went (a channel holds
     * one, so there is none). */
    ch->connect_f = NULL;
    chan_destroy(ch, false);
  }
}

void aio_chan_stop(uvble_async_t *a, int status) {
  for (uvble_connection_t *c = a->conns; c; c = c->next)
    fut_list_complete_all(&c->accept_waiters, status);
}
