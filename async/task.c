/* SPDX-License-Identifier: Apache-2.0 */
/* Tasks, task groups and timeout scopes: the runtime behind uvble/co.h. */
#include <string.h>

#include "async_internal.h"

enum task_state { TASK_IDLE = 0, TASK_RUNNING, TASK_FINISHED };

/* Waiters on a task or group: futures in a wait list, owned by it. */
static void join_detach(uvble_future_t *f, int status);
static const struct fut_ops task_join_ops = {.name = "task_join",
                                             .detach = join_detach};
static const struct fut_ops group_join_ops = {.name = "group_join",
                                              .detach = join_detach};

static void join_detach(uvble_future_t *f, int status) {
  (void)status;
  if (f->ops_ == &task_join_ops) {
    uvble_task_t *t = f->owner_;
    fut_list_remove(&t->joiners_, f);
  } else {
    uvble_task_group_t *g = f->owner_;
    fut_list_remove(&g->joiners_, f);
  }
}

static void complete_joiners(uvble_future_t **head, int status) {
  uvble_future_t *f;
  while ((f = fut_list_pop(head)) != NULL) fut_complete(f, status);
}

/* ---- groups ----------------------------------------------------------------- */
static void group_remove(uvble_task_t *t) {
  uvble_task_group_t *g = t->group_;
  if (t->gnext_ == t) {
    g->head_ = NULL;
  } else {
    t->gprev_->gnext_ = t->gnext_;
    t->gnext_->gprev_ = t->gprev_;
    if (g->head_ == t) g->head_ = t->gnext_;
  }
  t->gprev_ = t->gnext_ = NULL;
  t->group_ = NULL;
}

static void group_add(uvble_task_group_t *g, uvble_task_t *t) {
  t->group_ = g;
  if (!g->head_) {
    t->gprev_ = t->gnext_ = t;
    g->head_ = t;
  } else {
    uvble_task_t *tail = g->head_->gprev_;
    tail->gnext_ = t;
    t->gprev_ = tail;
    t->gnext_ = g->head_;
    g->head_->gprev_ = t;
  }
}

static void group_task_finished(uvble_task_group_t *g, uvble_task_t *t) {
  group_remove(t);
  g->running--;
  g->finished++;
  if (t->status != 0 && g->first_error == 0) {
    g->first_error = t->status;
    if (g->cancel_on_error) uvble_task_group_cancel(g);
  }
  if (g->running == 0) complete_joiners(&g->joiners_, g->first_error);
}

/* ---- running a task ----------------------------------------------------------- */
static void task_finish(uvble_task_t *t) {
  t->state_ = TASK_FINISHED;
  t->awaiting_ = NULL;
  complete_joiners(&t->joiners_, t->status);
  if (t->group_) group_task_finished(t->group_, t);
  /* Last: the done callback may free t. */
  if (t->done_) t->done_(t);
}

static void task_run(uvble_task_t *t) {
  for (;;) {
    int r = t->fn_(t);
    if (r == UVBLE_CO_DONE) {
      task_finish(t);
      return;
    }
    if (uvble_task_blocked_(t)) return;
    /* Returned without anything to wait for (an await on a future that
     * completed meanwhile is impossible here: the macros continue in that
     * case). A hand-written task that returns WAITING without awaiting is
     * treated as a yield. */
    uvble_task_yield_(t);
    if (uvble_task_blocked_(t)) return;
    /* The scheduler is closing: nothing will ever resume t. */
    t->status = UVBLE_ECANCELED;
    task_finish(t);
    return;
  }
}

void aio_task_resume(uvble_task_t *t, uvble_future_t *f) {
  if (t->state_ != TASK_RUNNING || t->awaiting_ != f) return;
  task_run(t);
}

static const struct fut_ops wake_ops = {.name = "wake"};

void uvble_task_yield_(uvble_task_t *t) {
  t->awaiting_ = NULL;
  if (fut_begin(&t->wake_, t->sched_, &wake_ops, t, 0) < 0) return;
  t->wake_.waiter_ = t;
  t->awaiting_ = &t->wake_;
  fut_complete(&t->wake_, 0);
}

/* The status a fired scope imposes on the task's awaits, or 0. */
static int scope_status(const uvble_task_t *t) {
  for (const uvble_scope_t *sc = t->scope_; sc; sc = sc->parent_)
    if (sc->status) return sc->status;
  return 0;
}

void uvble_task_await_(uvble_task_t *t, uvble_future_t *f) {
  t->awaiting_ = f;
  if (!f || !uvble_future_pending(f)) return;
  f->waiter_ = t;
  if (f->state_ != FUT_PENDING) return;
  if (t->cancel_ == 1) {
    t->cancel_ = 2;
    f->sched_->stats.cancels++;
    fut_end(f, UVBLE_ECANCELED);
    return;
  }
  int st = scope_status(t);
  if (st) fut_end(f, st);
}

bool uvble_task_blocked_(uvble_task_t *t) {
  return t->awaiting_ && uvble_future_pending(t->awaiting_);
}

int uvble_task_last_status_(const uvble_task_t *t) {
  return t->awaiting_ ? t->awaiting_->status : 0;
}

int uvble_task_spawn(uvble_sched_t *s, uvble_task_t *t, uvble_task_fn fn,
                     uvble_task_done_cb done) {
  if (!s || !t || !fn) return UVBLE_EINVAL;
  if (t->state_ == TASK_RUNNING) return UVBLE_EBUSY;
  if (s->closing) return UVBLE_ECLOSING;
  void *data = t->data;
  memset(t, 0, sizeof *t);
  t->data = data;
  t->sched_ = s;
  t->fn_ = fn;
  t->done_ = done;
  t->state_ = TASK_RUNNING;
  uvble_task_yield_(t);
  return 0;
}

int uvble_task_cancel(uvble_task_t *t) {
  if (!t || t->state_ != TASK_RUNNING) return UVBLE_EALREADY;
  if (t->cancel_) return 0;
  t->cancel_ = 1;
  uvble_future_t *f = t->awaiting_;
  /* A task waiting for its own wake-up (spawned or yielding) gets the
   * cancellation at its next await. */
  if (f && f != &t->wake_ && f->state_ == FUT_PENDING) {
    t->cancel_ = 2;
    f->sched_->stats.cancels++;
    fut_end(f, UVBLE_ECANCELED);
  }
  return 0;
}

bool uvble_task_cancelled(const uvble_task_t *t) { return t && t->cancel_; }

bool uvble_task_running(const uvble_task_t *t) {
  return t && t->state_ == TASK_RUNNING;
}

int uvble_task_join(uvble_future_t *f, uvble_task_t *t, uint32_t timeout_ms) {
  if (!t || !t->sched_) return fut_fail(f, UVBLE_EINVAL);
  int r = fut_begin(f, t->sched_, &task_join_ops, t, timeout_ms);
  if (r < 0) return r;
  if (t->state_ == TASK_FINISHED)
    fut_complete(f, t->status);
  else
    fut_list_push(&t->joiners_, f);
  return 0;
}

/* ---- groups: public ------------------------------------------------------------ */
void uvble_task_group_init(uvble_task_group_t *g, uvble_sched_t *s) {
  memset(g, 0, sizeof *g);
  g->sched_ = s;
}

int uvble_task_group_spawn(uvble_task_group_t *g, uvble_task_t *t,
                           uvble_task_fn fn, uvble_task_done_cb done) {
  if (!g) return UVBLE_EINVAL;
  int r = uvble_task_spawn(g->sched_, t, fn, done);
  if (r < 0) return r;
  group_add(g, t);
  g->running++;
  return 0;
}

void uvble_task_group_cancel(uvble_task_group_t *g) {
  if (!g || !g->head_) return;
  /* Cancelling never runs a task synchronously (completions are queued),
   * so the member list is stable during the walk. */
  uvble_task_t *t = g->head_;
  do {
    uvble_task_cancel(t);
    t = t->gnext_;
  } while (t != g->head_);
}

int uvble_task_group_join(uvble_future_t *f, uvble_task_group_t *g,
                          uint32_t timeout_ms) {
  if (!g || !g->sched_) return fut_fail(f, UVBLE_EINVAL);
  int r = fut_begin(f, g->sched_, &group_join_ops, g, timeout_ms);
  if (r < 0) return r;
  if (g->running == 0)
    fut_complete(f, g->first_error);
  else
    fut_list_push(&g->joiners_, f);
  return 0;
}

/* ---- timeout scopes ----------------------------------------------------------- */
static bool scope_open(const uvble_scope_t *sc) {
  for (const uvble_scope_t *s = sc->task_->scope_; s; s = s->parent_)
    if (s == sc) return true;
  return false;
}

static void scope_fire(uvble_scope_t *sc, int status) {
  if (!scope_open(sc) || sc->status) return;
  sc->status = status;
  uvble_task_t *t = sc->task_;
  uvble_future_t *f = t->awaiting_;
  if (f && f != &t->wake_ && f->state_ == FUT_PENDING) fut_end(f, status);
}

static void on_scope_timer(uvble_future_t *f) {
  if (f->status == 0) scope_fire(f->data, UVBLE_ETIMEDOUT);
}

static void on_scope_drop(uvble_future_t *f) {
  /* 0: the connection went down. */
  if (f->status == 0) scope_fire(f->data, UVBLE_EDISCONNECTED);
}

int uvble_scope_enter(uvble_scope_t *sc, uvble_task_t *t,
                      uvble_connection_t *conn, uint32_t timeout_ms) {
  if (!sc || !t || t->state_ != TASK_RUNNING) return UVBLE_EINVAL;
  memset(sc, 0, sizeof *sc);
  sc->task_ = t;
  sc->parent_ = t->scope_;
  t->scope_ = sc;
  if (timeout_ms) {
    sc->timer_.cb = on_scope_timer;
    sc->timer_.data = sc;
    int r = uvble_sleep(&sc->timer_, t->sched_, timeout_ms);
    if (r < 0) return r;
  }
  if (conn) {
    sc->drop_.cb = on_scope_drop;
    sc->drop_.data = sc;
    uvble_connection_disconnected(&sc->drop_, conn, 0);
  }
  return 0;
}

int uvble_scope_exit(uvble_scope_t *sc) {
  if (!sc || !sc->task_) return UVBLE_EINVAL;
  uvble_future_abandon(&sc->timer_);
  uvble_future_abandon(&sc->drop_);
  uvble_task_t *t = sc->task_;
  /* Normally sc is innermost; an exit out of order unlinks it anyway. */
  for (uvble_scope_t **p = &t->scope_; *p; p = &(*p)->parent_) {
    if (*p == sc) {
      *p = sc->parent_;
      break;
    }
  }
  return sc->status;
}
