/* SPDX-License-Identifier: Apache-2.0 */
/* Requests: start, results, completion, cancel (uvble/req.h). The layers
 * own their operations; this file owns only the requests' states and the
 * queue of cancelled requests whose callbacks are due. */
#include <stdlib.h>
#include <string.h>

#include "ble_internal.h"
#include "req.h"

struct req_state {
  uv_timer_t timer; /* first member: the close callback frees through it */
  uvble_req_t *head, *tail; /* cancelled, callback due */
  bool open;
};

void uvble_req_init(uvble_req_t *req, uvble_req_cb cb, void *arg) {
  if (!req) return;
  memset(req, 0, sizeof *req);
  req->cb_ = cb;
  req->arg_ = arg;
}

void uvble_req_on_result(uvble_req_t *req, uvble_req_result_cb cb) {
  if (req) req->result_cb_ = cb;
}

int uvble_req_active(const uvble_req_t *req) {
  return req && (req->state_ == REQ_ACTIVE || req->state_ == REQ_CANCELLED);
}

int req_start(uvble_t *ble, uvble_req_t *req, uvble_req_type_t type,
              void *op, int (*cancel)(uvble_req_t *req)) {
  if (!req->cb_) return UVBLE_EINVAL;
  if (uvble_req_active(req)) return UVBLE_EBUSY;
  req->type = type;
  req->ble_ = ble;
  req->op_ = op;
  req->cancel_ = cancel;
  req->next_ = NULL;
  req->state_ = REQ_ACTIVE;
  return 0;
}

void req_unstart(uvble_req_t *req) {
  req->state_ = REQ_IDLE;
  req->op_ = NULL;
}

void req_result(uvble_req_t *req, int event, const uvble_irq_data_t *d) {
  if (req->state_ == REQ_ACTIVE && req->result_cb_)
    req->result_cb_(req, event, d, req->arg_);
}

void req_complete(uvble_req_t *req, int status, const uvble_irq_data_t *d) {
  if (req->state_ != REQ_ACTIVE) return;
  req->state_ = REQ_DONE;
  req->op_ = NULL;
  /* Last touch: the callback may free or restart req. */
  req->cb_(req, status, d, req->arg_);
}

void req_or_irq(uvble_t *ble, uvble_req_t *req, int event, bool final,
                int status, const uvble_irq_data_t *d) {
  if (!req)
    ble_irq(ble, event, d);
  else if (final)
    req_complete(req, status, d);
  else
    req_result(req, event, d);
}

/* ---- cancel ------------------------------------------------------------- */
static struct req_state *state_of(uvble_t *ble) { return ble->req_state; }

static uvble_req_t *pop_cancelled(struct req_state *s) {
  uvble_req_t *req = s->head;
  if (!req) return NULL;
  s->head = req->next_;
  if (!s->head) s->tail = NULL;
  req->next_ = NULL;
  return req;
}

static void run_cancelled(uvble_req_t *req) {
  req->state_ = REQ_DONE;
  req->cb_(req, UVBLE_ECANCELED, NULL, req->arg_);
}

static void on_timer_run(uvble_t *ble);

/* A timer is an entry from the loop: a dispatch reference (ble_ref), so a
 * callback that closes the stack frees nothing under the loop below. */
static void on_timer(uv_timer_t *t) {
  uvble_t *ble = t->data;
  ble_ref(ble);
  on_timer_run(ble);
  ble_unref(ble);
}

static void on_timer_run(uvble_t *ble) {
  struct req_state *s = state_of(ble);
  /* Only what was queued before this turn: a callback that starts and
   * cancels another request gets it completed on a later turn. */
  uvble_req_t *last = s->tail;
  uvble_req_t *req;
  while (last && (req = pop_cancelled(s)) != NULL) {
    bool was_last = req == last;
    run_cancelled(req);
    if (was_last || !(s = state_of(ble))) break;
  }
  if (s && s->head && s->open) uv_timer_start(&s->timer, on_timer, 0, 0);
}

int uvble_cancel(uvble_req_t *req) {
  if (!req || req->state_ == REQ_IDLE) return UVBLE_EINVAL;
  if (req->state_ != REQ_ACTIVE) return UVBLE_EALREADY;
  uvble_t *ble = req->ble_;
  struct req_state *s = state_of(ble);
  if (!s || !s->open || !req->cancel_) return UVBLE_EALREADY;
  req->state_ = REQ_CANCELLED;
  int r = req->cancel_(req);
  if (r < 0) {
    req->state_ = REQ_ACTIVE;
    return r;
  }
  req->op_ = NULL;
  if (r == 0) req_cancel_done(req);
  return 0;
}

void req_cancel_done(uvble_req_t *req) {
  struct req_state *s = state_of(req->ble_);
  if (req->state_ != REQ_CANCELLED || !s) return;
  if (req->next_ || s->tail == req) return; /* queued already */
  if (s->tail)
    s->tail->next_ = req;
  else
    s->head = req;
  s->tail = req;
  if (s->open) uv_timer_start(&s->timer, on_timer, 0, 0);
}

/* ---- stack lifecycle ------------------------------------------------------ */
int req_init(uvble_t *ble) {
  struct req_state *s = calloc(1, sizeof *s);
  if (!s) return UVBLE_ENOMEM;
  if (uv_timer_init(ble->loop, &s->timer) != 0) {
    free(s);
    return UVBLE_EIO;
  }
  s->timer.data = ble;
  s->open = true;
  ble->req_state = s;
  return 0;
}

void req_flush(uvble_t *ble) {
  struct req_state *s = state_of(ble);
  uvble_req_t *req;
  while (s && (req = pop_cancelled(s)) != NULL) run_cancelled(req);
}

static void on_closed(uv_handle_t *h) {
  uvble_t *ble = h->data;
  free(h); /* the timer is the state's first member */
  ble->pending_closes--;
  ble_handle_closed(ble);
}

void req_close(uvble_t *ble) {
  struct req_state *s = state_of(ble);
  if (!s) return;
  req_flush(ble);
  ble->req_state = NULL;
  s->open = false;
  ble->pending_closes++;
  uv_close((uv_handle_t *)&s->timer, on_closed);
}
