/* SPDX-License-Identifier: Apache-2.0 */
/* GATT client: the per-connection operation queue, response dispatch,
 * notifications and indications, and the layer hooks. The procedures
 * themselves live in gattc_discover.c and gattc_rw.c. */
#include <stdlib.h>
#include <string.h>

#include "gattc_internal.h"
#include "pdu_reader.h"

struct gattc_state {
  uv_timer_t timer; /* starts queue heads that complete without a request */
  bool timer_open;
};

static const struct gattc_proc *const procs[GATTC_OP_KINDS] = {
    [GATTC_OP_SERVICES] = &gattc_proc_services,
    [GATTC_OP_SERVICES_UUID] = &gattc_proc_services_uuid,
    [GATTC_OP_CHARACTERISTICS] = &gattc_proc_characteristics,
    [GATTC_OP_DESCRIPTORS] = &gattc_proc_descriptors,
    [GATTC_OP_READ] = &gattc_proc_read,
    [GATTC_OP_WRITE] = &gattc_proc_write,
};

static bool is_discovery(uint8_t kind) {
  return kind <= GATTC_OP_DESCRIPTORS;
}

/* ---- ops ---------------------------------------------------------------- */
struct gattc_op *gattc_op_new(uint8_t kind, size_t buf_len) {
  struct gattc_op *op = calloc(1, sizeof *op);
  if (!op) return NULL;
  op->kind = kind;
  if (buf_len) {
    op->buf = malloc(buf_len);
    if (!op->buf) {
      free(op);
      return NULL;
    }
  }
  return op;
}

void gattc_op_free(struct gattc_op *op) {
  if (!op) return;
  free(op->buf);
  free(op);
}

/* The op running (the queue's head), or NULL. */
static struct gattc_op *head_op(const struct gattc_conn *gc) {
  return SQ_FIRST(&gc->ops, struct gattc_op, node);
}

static void unlink_head(struct gattc_conn *gc, struct gattc_op *op) {
  sq_pop(&gc->ops);
  if (is_discovery(op->kind) && !op->via_req) gc->discovering = false;
}

/* ---- helpers for the procedures ------------------------------------------ */
/* After a call out: go on only while the stack is usable and the link up
 * (nothing is freed before the dispatch unwinds, see gattc_internal.h). */
static bool alive(const struct gattc_ctx *x) {
  return !ble_ending(x->ble) && conn_is_open(x->c) && x->c->gattc == x->gc;
}

/* The op's request, or the irq handler when it has none; nothing once it
 * was cancelled (the request completed already). */
static void deliver(uvble_t *ble, struct gattc_op *op, int event, bool final,
                    int status, const uvble_irq_data_t *d) {
  if (op->req || !op->cancelled)
    req_or_irq(ble, op->req, event, final, status, d);
}

bool gattc_emit(struct gattc_ctx *x, int event, const uvble_irq_data_t *d) {
  deliver(x->ble, x->op, event, false, 0, d);
  return alive(x);
}

int gattc_malformed(struct gattc_ctx *x) {
  x->ble->stats.gattc_rsp_malformed++;
  return UVBLE_EPROTO;
}

static void on_rsp(uvble_t *ble, struct ble_conn *c, int err,
                   const uint8_t *pdu, size_t len, void *arg);
static void arm_timer(uvble_t *ble, uint64_t ms);

/* The link's transmit queue is full (a burst of Write Commands or
 * notifications): keep the request and send it from the timer once there
 * is room, rather than failing the operation. The link dropping ends the
 * wait. */
static int defer_request(struct gattc_ctx *x, const uint8_t *pdu,
                         size_t len) {
  struct gattc_conn *gc = x->gc;
  if (!gc->retry_pdu && !(gc->retry_pdu = malloc(ATT_MAX_MTU))) {
    gc->inflight = false;
    return UVBLE_ENOMEM;
  }
  memcpy(gc->retry_pdu, pdu, len);
  gc->retry_len = len;
  gc->retry_due = true;
  arm_timer(x->ble, GATTC_RETRY_MS);
  return GATTC_PENDING;
}

int gattc_request(struct gattc_ctx *x, const uint8_t *pdu, size_t len) {
  /* A cancelled op sends nothing more, except the Execute Write that
   * makes the server drop a half-prepared long write. */
  if (x->op->cancelled &&
      !(x->op->kind == GATTC_OP_WRITE && x->op->stage == GATTC_WR_CANCEL))
    return UVBLE_ECANCELED;
  /* Marked before the call so that a response delivered from inside it
   * would still be recognised; it also holds the queue while a deferred
   * request waits for room. */
  x->gc->inflight = true;
  x->gc->req_opcode = pdu[0];
  int r = att_send_request(x->ble, x->c, pdu, len, on_rsp, NULL);
  if (!alive(x)) return GATTC_ABANDON;
  /* The app is ending the link (perhaps from this procedure's own irq):
   * the operation ends with it, UVBLE_EDISCONNECTED (gattc_conn_closed),
   * as every other one pending on it. */
  if (r == UVBLE_ENOTCONN && x->c->disconnecting) return GATTC_PENDING;
  if (r == UVBLE_ENOBUFS && len <= ATT_MAX_MTU)
    return defer_request(x, pdu, len);
  if (r < 0) {
    x->gc->inflight = false;
    return r;
  }
  return GATTC_PENDING;
}

int gattc_lookup(uvble_t *ble, uint16_t conn_handle, struct ble_conn **c,
                 struct gattc_conn **gc) {
  if (!ble) return UVBLE_EINVAL;
  if (ble->state != BLE_ON) return UVBLE_ENOTACTIVE;
  *c = conn_find(ble, conn_handle);
  if (!*c || !(*c)->gattc || (*c)->disconnecting) return UVBLE_ENOTCONN;
  *gc = (*c)->gattc;
  return 0;
}

/* ---- running the queue ---------------------------------------------------- */
static void done_payload(const struct gattc_ctx *x, int status,
                         uvble_irq_data_t *d) {
  memset(d, 0, sizeof *d);
  if (x->op->kind == GATTC_OP_READ || x->op->kind == GATTC_OP_WRITE) {
    d->gatt_status.conn_handle = x->gc->conn_handle;
    d->gatt_status.value_handle = x->op->handle;
    d->gatt_status.status = status;
  } else {
    d->done.conn_handle = x->gc->conn_handle;
    d->done.status = status;
  }
}

/* Completes the head op: what precedes DONE, then DONE. Returns whether the
 * connection is still there. */
static bool finish(struct gattc_ctx *x, int status) {
  const struct gattc_proc *p = procs[x->op->kind];
  if (p->before_done && !p->before_done(x, status)) return false;
  unlink_head(x->gc, x->op);
  uvble_irq_data_t d;
  done_payload(x, status, &d);
  struct gattc_op *op = x->op;
  x->op = NULL;
  /* op is ours alone now: the close hook cannot see it. */
  deliver(x->ble, op, p->done_event, true, status, &d);
  gattc_op_free(op);
  return alive(x);
}

/* Starts queued ops until one waits for a response. Caller holds gc. */
static void kick(struct gattc_ctx *x) {
  while (alive(x) && head_op(x->gc) && !x->gc->inflight) {
    x->op = head_op(x->gc);
    /* Cancelled before it started: it ends unsent. */
    int r = x->op->cancelled ? UVBLE_ECANCELED
                             : procs[x->op->kind]->start(x);
    if (r == GATTC_PENDING || r == GATTC_ABANDON) return;
    if (!finish(x, r)) return;
  }
}

/* Completes the running op with a response-driven result r. */
static void settle(struct gattc_ctx *x, int r) {
  if (r == GATTC_ABANDON || !alive(x)) return;
  if (r != GATTC_PENDING && !finish(x, r)) return;
  kick(x);
}

/* The code of a valid Error Response, or 0: opcode, request opcode in
 * error, handle, code (Vol 3, Part F, 3.4.1.1). Code 0 is reserved. */
static uint8_t error_rsp_code(const struct gattc_conn *gc, const uint8_t *pdu,
                              size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, pdu, len);
  pdu_skip(&r, 1);
  uint8_t req_op = pdu_get_u8(&r);
  pdu_skip(&r, 2);
  uint8_t code = pdu_get_u8(&r);
  return pdu_done(&r) && req_op == gc->req_opcode ? code : 0;
}

static void on_rsp(uvble_t *ble, struct ble_conn *c, int err,
                   const uint8_t *pdu, size_t len, void *arg) {
  (void)arg;
  struct gattc_conn *gc = c ? c->gattc : NULL;
  /* No state: the link is closing and its ops completed already. Not in
   * flight: a response for a request we no longer wait for. */
  if (!gc || !gc->inflight || !head_op(gc)) return;
  gc->inflight = false;
  struct gattc_ctx x = {ble, c, gc, head_op(gc)};
  const struct gattc_proc *p = procs[x.op->kind];
  int r;
  if (err < 0) {
    r = err; /* timeout, disconnect, cancel: nothing more can be sent */
  } else if (x.op->cancelled) {
    /* The request was cancelled after this went out: the answer is
     * swallowed; a long write still discards what the server queued. */
    ble->stats.req_late_responses++;
    r = p->on_error(&x, UVBLE_ECANCELED);
  } else if (!pdu || len < 1) {
    r = p->on_error(&x, gattc_malformed(&x));
  } else if (pdu[0] == ATT_ERROR_RSP) {
    uint8_t code = error_rsp_code(gc, pdu, len);
    r = code ? p->on_error(&x, code) : p->on_error(&x, gattc_malformed(&x));
  } else if (pdu[0] != gc->req_opcode + 1) {
    /* Every request we send is answered by the opcode after it. */
    r = p->on_error(&x, gattc_malformed(&x));
  } else {
    r = p->on_pdu(&x, pdu, len);
  }
  settle(&x, r);
}

/* uvble_cancel: an op still queued behind the head goes unsent; the head
 * (its request is with the bearer, about to be, or its procedure is
 * running) ends silently when its answer comes. */
static int cancel_op(uvble_req_t *req) {
  struct gattc_op *op = req->op_;
  struct gattc_conn *gc = op->gc;
  op->req = NULL;
  op->cancelled = true;
  if (head_op(gc) == op) return 0;
  /* Queued behind the head (never elsewhere): it goes unsent. */
  if (sq_remove(&gc->ops, &op->node)) gattc_op_free(op);
  return 0;
}

static int submit_check(uvble_t *ble, struct gattc_conn *gc,
                        struct gattc_op *op,
                        uvble_req_t *req, uvble_req_type_t type) {
  if (gc->ops.len >= UVBLE_GATTC_MAX_QUEUED) return UVBLE_ENOBUFS;
  /* Only the irq API needs one discovery at a time (its events say not
   * which discovery they belong to); a request's results are its own. */
  if (is_discovery(op->kind) && !req && gc->discovering) return UVBLE_EBUSY;
  if (req) {
    int r = req_start(ble, req, type, op, cancel_op);
    if (r < 0) return r;
    op->req = req;
    op->via_req = true;
  }
  return 0;
}

int gattc_submit(uvble_t *ble, struct ble_conn *c, struct gattc_conn *gc,
                 struct gattc_op *op, uvble_req_t *req,
                 uvble_req_type_t type) {
  op->gc = gc;
  int err = submit_check(ble, gc, op, req, type);
  if (err < 0) {
    gattc_op_free(op);
    return err;
  }
  if (is_discovery(op->kind) && !req) {
    gc->discovering = true;
  }
  sq_push(&gc->ops, &op->node);
  if (head_op(gc) != op || gc->inflight || gc->kick_pending) return 0;
  /* Idle queue: send now, so that errors the bearer reports at once come
   * back as this call's return value. A procedure that would complete
   * without a request (an empty descriptor range) starts from the timer:
   * its DONE must not run inside this call. */
  if (op->kind == GATTC_OP_DESCRIPTORS &&
      (op->range_done || op->next_handle > op->end)) {
    gc->kick_pending = true;
    arm_timer(ble, 0);
    return 0;
  }
  struct gattc_ctx x = {ble, c, gc, op};
  int r = procs[op->kind]->start(&x);
  int ret = 0;
  if (r != GATTC_PENDING && r != GATTC_ABANDON) {
    /* start only returns a status when sending failed. */
    unlink_head(gc, op);
    if (op->req) req_unstart(op->req);
    gattc_op_free(op);
    ret = r < 0 ? r : UVBLE_EIO;
  }
  return ret;
}

/* ---- deferral timer ---------------------------------------------------------
 * Starts queue heads that complete without a request (never inside the
 * call that queued them) and resends requests the full link refused. */
static struct ble_conn *find_marked(uvble_t *ble, bool retry) {
  for (struct ble_conn *c = conn_first(ble); c; c = conn_next(c)) {
    struct gattc_conn *gc = c->gattc;
    if (gc && (retry ? gc->retry_due : gc->kick_pending)) return c;
  }
  return NULL;
}

static void retry_request(uvble_t *ble, struct ble_conn *c,
                          struct gattc_conn *gc) {
  gc->retry_due = false;
  struct gattc_ctx x = {ble, c, gc, head_op(gc)};
  int r = att_send_request(ble, c, gc->retry_pdu, gc->retry_len, on_rsp, NULL);
  if (!alive(&x)) return;
  if (r == UVBLE_ENOBUFS) return; /* still full: next round */
  gc->retry_len = 0;
  if (r < 0) {
    gc->inflight = false;
    settle(&x, r);
  }
}

/* A timer is an entry from the loop: a dispatch reference (ble_ref). */
static void on_timer_run(uv_timer_t *t);

static void on_timer(uv_timer_t *t) {
  uvble_t *ble = (uvble_t *)t->data;
  ble_ref(ble);
  on_timer_run(t);
  ble_unref(ble);
}

static void on_timer_run(uv_timer_t *t) {
  uvble_t *ble = t->data;
  struct ble_conn *c;
  /* Each pass clears the flag it acts on; rescan from the head each time,
   * as an irq may have marked another link. */
  while (!ble_dead(ble) && (c = find_marked(ble, true)))
    retry_request(ble, c, c->gattc);
  while (!ble_dead(ble) && (c = find_marked(ble, false))) {
    struct gattc_conn *gc = c->gattc;
    gc->kick_pending = false;
    struct gattc_ctx x = {ble, c, gc, NULL};
    kick(&x);
  }
  if (ble_dead(ble)) return;
  /* Requests still waiting for room: try again later. */
  bool again = false;
  for (c = conn_first(ble); c; c = conn_next(c))
    if (c->gattc && c->gattc->retry_len && !c->gattc->retry_due) {
      c->gattc->retry_due = true;
      again = true;
    }
  if (again) arm_timer(ble, GATTC_RETRY_MS);
}

static void arm_timer(uvble_t *ble, uint64_t ms) {
  struct gattc_state *s = ble->gattc;
  if (!s || !s->timer_open) return;
  /* A pending earlier expiry stays: the callback handles both kinds. */
  if (uv_is_active((uv_handle_t *)&s->timer) &&
      uv_timer_get_due_in(&s->timer) <= ms)
    return;
  uv_timer_start(&s->timer, on_timer, ms, 0);
}

static void on_timer_closed(uv_handle_t *h) {
  uvble_t *ble = h->data;
  free((struct gattc_state *)(void *)h); /* the timer is its first member */
  ble->pending_closes--;
  ble_handle_closed(ble);
}

/* ---- layer hooks ------------------------------------------------------------- */
int gattc_init(uvble_t *ble) {
  struct gattc_state *s = calloc(1, sizeof *s);
  if (!s) return UVBLE_ENOMEM;
  if (uv_timer_init(ble->loop, &s->timer) != 0) {
    free(s);
    return UVBLE_EIO;
  }
  s->timer.data = ble;
  s->timer_open = true;
  ble->gattc = s;
  return 0;
}

void gattc_stop(uvble_t *ble, int err) {
  /* Every operation belongs to a connection, and the core drops the
   * connections (gattc_conn_closed) before stopping the layers. */
  (void)err;
  if (ble->gattc && ble->gattc->timer_open) uv_timer_stop(&ble->gattc->timer);
}

void gattc_close(uvble_t *ble) {
  struct gattc_state *s = ble->gattc;
  if (!s) return;
  ble->gattc = NULL;
  s->timer_open = false;
  ble->pending_closes++;
  uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

int gattc_conn_open(uvble_t *ble, struct ble_conn *c) {
  (void)ble;
  struct gattc_conn *gc = calloc(1, sizeof *gc);
  if (!gc) return UVBLE_ENOMEM;
  gc->conn_handle = c->handle;
  c->gattc = gc;
  return 0;
}

void gattc_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  (void)reason;
  struct gattc_conn *gc = c->gattc;
  if (!gc) return;
  c->gattc = NULL; /* calls from the irqs below get UVBLE_ENOTCONN */
  gc->inflight = false;
  int status =
      ble->state == BLE_CLOSING ? UVBLE_ECANCELED : UVBLE_EDISCONNECTED;
  struct gattc_ctx x = {ble, c, gc, NULL};
  struct gattc_op *op;
  while ((op = head_op(gc))) {
    unlink_head(gc, op);
    x.op = op;
    uvble_irq_data_t d;
    done_payload(&x, status, &d);
    deliver(ble, op, procs[op->kind]->done_event, true, status, &d);
    gattc_op_free(op);
  }
  free(gc->retry_pdu);
  free(gc);
}

/* ---- values from the peer's server -------------------------------------------- */
void gattc_on_value(uvble_t *ble, struct ble_conn *c, bool indication,
                    uint16_t handle, const uint8_t *value, size_t len) {
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.gattc_data.conn_handle = c->handle;
  d.gattc_data.value_handle = handle;
  d.gattc_data.data = value;
  d.gattc_data.data_len = len;
  ble_irq(ble, indication ? UVBLE_IRQ_GATTC_INDICATE : UVBLE_IRQ_GATTC_NOTIFY,
          &d);
}

int uvble_gattc_exchange_mtu_req(uvble_req_t *req, uvble_t *ble,
                                 uint16_t conn_handle) {
  struct ble_conn *c;
  struct gattc_conn *gc;
  int r = gattc_lookup(ble, conn_handle, &c, &gc);
  if (r < 0) return r;
  return att_exchange_mtu_req(ble, c, req);
}

int uvble_gattc_exchange_mtu(uvble_t *ble, uint16_t conn_handle) {
  return uvble_gattc_exchange_mtu_req(NULL, ble, conn_handle);
}
