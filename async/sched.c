/* SPDX-License-Identifier: Apache-2.0 */
/* The scheduler: futures' deadlines (one libuv timer for all of them) and
 * the ready queue (one idle handle), so that every future completes exactly
 * once and its callback runs from the loop, never inside the call that
 * started or cancelled the operation. */
#include <stdlib.h>
#include <string.h>

#include "async_internal.h"

/* Deadlines are armed from the current time, not the loop's cached one: a
 * future created after the loop was held up (setup before uv_run, a slow
 * callback) must not start out already expired. */
static uint64_t now_ms(uv_loop_t *loop) {
  uv_update_time(loop);
  return uv_now(loop);
}

#define NO_DEADLINE UINT64_MAX

/* ---- circular lists --------------------------------------------------------
 * One pointer per list; head->wprev_ is the tail. The same shape serves the
 * wait lists (wprev_/wnext_), the pending lists (sprev_/snext_) and the
 * ready queue (rprev_/rnext_), through these three macro-made families. */
#define LIST_FNS(name, P, N)                                                 \
  static void name##_push(uvble_future_t **head, uvble_future_t *f) {       \
    if (!*head) {                                                            \
      f->P = f->N = f;                                                       \
      *head = f;                                                             \
      return;                                                                \
    }                                                                        \
    uvble_future_t *tail = (*head)->P;                                       \
    tail->N = f;                                                             \
    f->P = tail;                                                             \
    f->N = *head;                                                            \
    (*head)->P = f;                                                          \
  }                                                                          \
  static void name##_remove(uvble_future_t **head, uvble_future_t *f) {     \
    if (f->N == f) {                                                         \
      *head = NULL;                                                          \
    } else {                                                                 \
      f->P->N = f->N;                                                        \
      f->N->P = f->P;                                                        \
      if (*head == f) *head = f->N;                                          \
    }                                                                        \
    f->P = f->N = NULL;                                                      \
  }

LIST_FNS(wl, wprev_, wnext_)
LIST_FNS(pl, sprev_, snext_)
LIST_FNS(rq, rprev_, rnext_)

void fut_list_push(uvble_future_t **head, uvble_future_t *f) {
  fut_unwait(f);
  wl_push(head, f);
  f->wlist_ = head;
}

void fut_list_remove(uvble_future_t **head, uvble_future_t *f) {
  if (f->wnext_ && f->wlist_ == head) {
    wl_remove(head, f);
    f->wlist_ = NULL;
  }
}

void fut_list_complete_all(uvble_future_t **head, int status) {
  uvble_future_t *f;
  while ((f = fut_list_pop(head)) != NULL) fut_complete(f, status);
}

uvble_future_t *fut_list_pop(uvble_future_t **head) {
  uvble_future_t *f = *head;
  if (f) {
    wl_remove(head, f);
    f->wlist_ = NULL;
  }
  return f;
}

void fut_unwait(uvble_future_t *f) {
  if (f->wlist_ && f->wnext_) wl_remove(f->wlist_, f);
  f->wlist_ = NULL;
}

void fut_wait_detach(uvble_future_t *f, int status) {
  (void)status;
  fut_unwait(f);
}

/* ---- deadlines ------------------------------------------------------------ */
static void on_timer(uv_timer_t *t);

static void rearm(uvble_sched_t *s) {
  if (s->closing) return;
  if (!s->timed) {
    if (s->armed) uv_timer_stop(&s->timer);
    s->armed = 0;
    return;
  }
  uint64_t when = s->timed->deadline_;
  if (s->armed == when) return;
  uint64_t now = now_ms(s->loop);
  uv_timer_start(&s->timer, on_timer, when > now ? when - now : 0, 0);
  s->armed = when;
}

/* Sorted insert, walking back from the tail: most operations of one kind
 * share a timeout, so a new deadline is usually the latest. */
static void timed_insert(uvble_sched_t *s, uvble_future_t *f) {
  if (!s->timed || s->timed->sprev_->deadline_ <= f->deadline_) {
    pl_push(&s->timed, f);
    return;
  }
  uvble_future_t *at = s->timed->sprev_;
  while (at != s->timed && at->sprev_->deadline_ > f->deadline_)
    at = at->sprev_;
  /* Insert f before at. */
  f->snext_ = at;
  f->sprev_ = at->sprev_;
  at->sprev_->snext_ = f;
  at->sprev_ = f;
  if (at == s->timed && at->deadline_ > f->deadline_) s->timed = f;
}

static void unlink_pending(uvble_sched_t *s, uvble_future_t *f) {
  if (f->deadline_ != NO_DEADLINE) {
    bool was_head = s->timed == f;
    pl_remove(&s->timed, f);
    s->stats.timed--;
    if (was_head) rearm(s);
  } else {
    pl_remove(&s->untimed, f);
  }
  s->stats.pending--;
}

static void on_timer(uv_timer_t *t) {
  uvble_sched_t *s = t->data;
  s->armed = 0;
  uint64_t now = now_ms(s->loop);
  while (s->timed && s->timed->deadline_ <= now) {
    uvble_future_t *f = s->timed;
    const struct fut_ops *ops = f->ops_;
    bool ok = ops && ops->deadline_ok;
    if (!ok) s->stats.timeouts++;
    fut_end(f, ok ? 0 : UVBLE_ETIMEDOUT);
  }
  rearm(s);
}

/* ---- ready queue ---------------------------------------------------------- */
static void on_idle(uv_idle_t *h) { aio_sched_drain(h->data); }

void aio_sched_drain(uvble_sched_t *s) {
  uvble_future_t *f;
  while ((f = s->ready) != NULL) {
    rq_remove(&s->ready, f);
    s->stats.ready--;
    f->state_ = FUT_DONE;
    /* f may be freed or reused by its callback: keep what comes after. */
    const struct fut_ops *ops = f->ops_;
    void *aux = f->aux_;
    uvble_task_t *w = f->waiter_;
    f->waiter_ = NULL;
    if (f->cb) f->cb(f);
    if (w) aio_task_resume(w, f);
    if (ops && ops->release) ops->release(aux);
  }
  if (!s->closing) uv_idle_stop(&s->idle);
}

/* ---- futures -------------------------------------------------------------- */
int fut_fail(uvble_future_t *f, int err) {
  if (!f) return err;
  /* A pending future belongs to its operation: never touch it. */
  if (f->state_ == FUT_PENDING || f->state_ == FUT_READY) return UVBLE_EBUSY;
  f->status = err;
  f->state_ = FUT_DONE;
  return err;
}

int fut_begin(uvble_future_t *f, uvble_sched_t *s, const struct fut_ops *ops,
              void *owner, uint32_t timeout_ms) {
  if (!f) return UVBLE_EINVAL;
  if (f->state_ == FUT_PENDING || f->state_ == FUT_READY) return UVBLE_EBUSY;
  if (!s) return fut_fail(f, UVBLE_EINVAL);
  if (s->closing) return fut_fail(f, UVBLE_ECLOSING);
  f->status = 0;
  f->proto_status = 0;
  f->len = 0;
  f->truncated = false;
  f->result.ptr = NULL;
  f->sched_ = s;
  f->ops_ = ops;
  f->owner_ = owner;
  f->aux_ = NULL;
  f->waiter_ = NULL;
  f->wprev_ = f->wnext_ = NULL;
  f->wlist_ = NULL;
  f->rprev_ = f->rnext_ = NULL;
  f->buf_ = NULL;
  f->cap_ = 0;
  f->off_ = 0;
  f->arg_ = 0;
  f->state_ = FUT_PENDING;
  s->stats.pending++;
  if (timeout_ms == 0) {
    f->deadline_ = NO_DEADLINE;
    pl_push(&s->untimed, f);
  } else {
    f->deadline_ = now_ms(s->loop) + timeout_ms;
    timed_insert(s, f);
    s->stats.timed++;
    rearm(s);
  }
  return 0;
}

int fut_abort(uvble_future_t *f, int err) {
  if (f->state_ == FUT_PENDING) unlink_pending(f->sched_, f);
  fut_unwait(f);
  f->state_ = FUT_IDLE; /* no longer the operation's: fut_fail may mark it */
  return fut_fail(f, err);
}

void fut_complete(uvble_future_t *f, int status) {
  if (f->state_ != FUT_PENDING) return;
  uvble_sched_t *s = f->sched_;
  unlink_pending(s, f);
  fut_unwait(f);
  f->status = status;
  f->state_ = FUT_READY;
  s->stats.completed++;
  s->stats.ready++;
  rq_push(&s->ready, f);
  if (!s->closing) uv_idle_start(&s->idle, on_idle);
}

void fut_complete_proto(uvble_future_t *f, int status, int proto_status) {
  if (f->state_ != FUT_PENDING) return;
  f->proto_status = proto_status;
  fut_complete(f, status);
}

void fut_end(uvble_future_t *f, int status) {
  if (f->state_ != FUT_PENDING) return;
  const struct fut_ops *ops = f->ops_;
  if (ops && ops->detach) ops->detach(f, status);
  fut_complete(f, status);
}

void fut_set_bytes(uvble_future_t *f, const uint8_t *data, size_t n) {
  f->len = n;
  f->truncated = n > f->cap_;
  size_t c = n < f->cap_ ? n : f->cap_;
  if (c && f->buf_) memcpy(f->buf_, data, c);
}

bool uvble_future_pending(const uvble_future_t *f) {
  return f && (f->state_ == FUT_PENDING || f->state_ == FUT_READY);
}

bool uvble_future_done(const uvble_future_t *f) {
  return f && f->state_ == FUT_DONE;
}

int uvble_future_cancel(uvble_future_t *f) {
  if (!f || f->state_ != FUT_PENDING) return UVBLE_EALREADY;
  f->sched_->stats.cancels++;
  fut_end(f, UVBLE_ECANCELED);
  return 0;
}

void uvble_future_abandon(uvble_future_t *f) {
  if (!f) return;
  if (f->state_ == FUT_PENDING) {
    const struct fut_ops *ops = f->ops_;
    if (ops && ops->detach) ops->detach(f, UVBLE_ECANCELED);
    unlink_pending(f->sched_, f);
    f->sched_->stats.cancels++;
  } else if (f->state_ == FUT_READY) {
    rq_remove(&f->sched_->ready, f);
    f->sched_->stats.ready--;
    const struct fut_ops *ops = f->ops_;
    if (ops && ops->drop_result) ops->drop_result(f);
  } else {
    return;
  }
  const struct fut_ops *ops = f->ops_;
  void *aux = f->aux_;
  f->waiter_ = NULL;
  f->status = UVBLE_ECANCELED;
  f->state_ = FUT_DONE;
  if (ops && ops->release) ops->release(aux);
}

/* ---- sleeps and application futures ------------------------------------- */
static const struct fut_ops sleep_ops = {.name = "sleep", .deadline_ok = true};
static const struct fut_ops user_ops = {.name = "user"};

int uvble_sleep(uvble_future_t *f, uvble_sched_t *s, uint32_t ms) {
  int r = fut_begin(f, s, &sleep_ops, NULL, ms);
  if (r < 0) return r;
  if (ms == 0) fut_complete(f, 0);
  return 0;
}

int uvble_future_start(uvble_future_t *f, uvble_sched_t *s,
                       uint32_t timeout_ms) {
  return fut_begin(f, s, &user_ops, NULL, timeout_ms);
}

int uvble_future_set(uvble_future_t *f, int status) {
  if (!f || f->state_ != FUT_PENDING) return UVBLE_EALREADY;
  if (f->ops_ != &user_ops) return UVBLE_EINVAL;
  fut_complete(f, status);
  return 0;
}

/* ---- the scheduler object ------------------------------------------------- */
int uvble_sched_new(uv_loop_t *loop, uvble_sched_t **out) {
  if (!out) return UVBLE_EINVAL;
  *out = NULL;
  if (!loop) return UVBLE_EINVAL;
  uvble_sched_t *s = calloc(1, sizeof *s);
  if (!s) return UVBLE_ENOMEM;
  s->loop = loop;
  uv_timer_init(loop, &s->timer);
  uv_idle_init(loop, &s->idle);
  s->timer.data = s;
  s->idle.data = s;
  s->open_handles = 2;
  *out = s;
  return 0;
}

static void on_handle_closed(uv_handle_t *h) {
  uvble_sched_t *s = h->data;
  if (--s->open_handles > 0) return;
  if (s->close_cb) s->close_cb(s, s->close_arg);
  free(s);
}

void uvble_sched_close(uvble_sched_t *s, uvble_sched_close_cb cb, void *arg) {
  if (!s || s->closing) return;
  /* Cancel while the handles still work, then mark closing so that
   * callbacks starting new operations get UVBLE_ECLOSING. */
  while (s->timed || s->untimed) {
    uvble_future_t *f = s->timed ? s->timed : s->untimed;
    s->stats.cancels++;
    fut_end(f, UVBLE_ECANCELED);
  }
  s->closing = true;
  s->close_cb = cb;
  s->close_arg = arg;
  aio_sched_drain(s);
  /* A task resumed above may have left futures pending elsewhere, never
   * here: new ones fail with UVBLE_ECLOSING. */
  uv_timer_stop(&s->timer);
  uv_idle_stop(&s->idle);
  uv_close((uv_handle_t *)&s->timer, on_handle_closed);
  uv_close((uv_handle_t *)&s->idle, on_handle_closed);
}

uv_loop_t *uvble_sched_loop(const uvble_sched_t *s) { return s->loop; }

void uvble_sched_get_stats(const uvble_sched_t *s, uvble_sched_stats_t *out) {
  *out = s->stats;
}
