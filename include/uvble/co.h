/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — coroutine helpers: tasks written as sequential code.
 *
 * A task is a function that the scheduler calls again each time the future
 * it awaits completes. The helpers are stackless, in the manner of
 * protothreads: UVBLE_CO_BEGIN opens a switch on the task's resume point,
 * every UVBLE_AWAIT is a case label, so the function picks up after the
 * await it left from. Whatever must survive an await lives in a struct the
 * task's data points to (or that embeds the task), never in locals.
 *
 *   struct reader { uvble_task_t task; uvble_future_t f; uint8_t buf[64]; int n; };
 *
 *   static int reader_fn(uvble_task_t *t) {
 *     struct reader *r = (struct reader *)t;   // task is the first member
 *     UVBLE_CO_BEGIN(t);
 *     for (r->n = 0; r->n < 10; r->n++) {
 *       UVBLE_AWAIT(t, (uvble_client_characteristic_read(&r->f, chr, r->buf,
 *                                                        sizeof r->buf, 1000), &r->f));
 *       if (r->f.status) UVBLE_CO_RETURN(t, r->f.status);
 *     }
 *     UVBLE_CO_END(t);
 *   }
 *   ...
 *   uvble_task_spawn(sched, &r->task, reader_fn, on_reader_done);
 *
 * Rules of stackless coroutines:
 *   - locals do not survive UVBLE_AWAIT / UVBLE_CO_YIELD;
 *   - at most one UVBLE_AWAIT or UVBLE_CO_YIELD per source line (the line
 *     number is the resume point);
 *   - no UVBLE_AWAIT inside a switch statement of your own (the helpers'
 *     case labels would belong to it);
 *   - the function returns only through the macros.
 *
 * Cancellation (uvble_task_cancel) is cooperative, like asyncio's: the
 * future the task awaits — or the next one it awaits — completes with
 * UVBLE_ECANCELED, once; uvble_task_cancelled() stays true afterwards so
 * the task can clean up (a task may still await, e.g. a disconnect) and
 * then return.
 *
 * A task that finishes must not leave a future of its own pending if the
 * memory holding it is freed by the done callback (cancel or abandon it
 * first): the future would still complete into that memory.
 */
#ifndef UVBLE_CO_H
#define UVBLE_CO_H

#include "uvble/async.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uvble_task uvble_task_t;
typedef struct uvble_task_group uvble_task_group_t;
typedef struct uvble_scope uvble_scope_t;

/* What a task function returns (the macros do it). */
#define UVBLE_CO_WAITING 0
#define UVBLE_CO_DONE 1

typedef int (*uvble_task_fn)(uvble_task_t *t);
/* Runs once when the task has finished (t->status holds its result); the
 * task's memory may be freed here. */
typedef void (*uvble_task_done_cb)(uvble_task_t *t);

struct uvble_task {
  int co_line_;  /* resume point, managed by the macros */
  void *data;    /* free for the user (kept by uvble_task_spawn) */
  int status;    /* the task's result once finished */

  /* Private. */
  uvble_sched_t *sched_;
  uvble_task_fn fn_;
  uvble_task_done_cb done_;
  uvble_future_t wake_;      /* start and yield */
  uvble_future_t *awaiting_;
  uvble_task_group_t *group_;
  uvble_task_t *gprev_, *gnext_;
  uvble_future_t *joiners_;
  uvble_scope_t *scope_;
  uint8_t state_;
  uint8_t cancel_; /* 1 requested and not delivered, 2 delivered */
};

/* ---- the macros ----------------------------------------------------------- */
#if defined(__GNUC__) || defined(__clang__)
#define UVBLE_CO_FALLTHROUGH_ __attribute__((fallthrough))
#else
#define UVBLE_CO_FALLTHROUGH_ ((void)0)
#endif

/* Opens the task body; the matching UVBLE_CO_END closes it. */
#define UVBLE_CO_BEGIN(t)      \
  switch ((t)->co_line_) {     \
    case 0:

/* Ends the body: the task finishes with t->status (0 unless set). */
#define UVBLE_CO_END(t)        \
  }                            \
  (t)->co_line_ = -1;          \
  return UVBLE_CO_DONE

/* Suspends the task until future f (a uvble_future_t *) is done; continues
 * at once if it is not pending (e.g. its operation failed to start). f is
 * evaluated once, before the resume point, so it may be a comma expression
 * that starts the operation and yields the future:
 *   UVBLE_AWAIT(t, (uvble_sleep(&s->f, sched, 100), &s->f));
 * One task awaits a future at a time. */
#define UVBLE_AWAIT(t, f) UVBLE_AWAIT_AT(t, f, __LINE__ * 4)

/* The same with an explicit resume label, for macros of your own that
 * await more than once (all their lines are the invoking line): use
 * __LINE__ * 4 + k with k = 1, 2, 3 for the further awaits. */
#define UVBLE_AWAIT_AT(t, f, label)                              \
  do {                                                           \
    uvble_task_await_((t), (f));                                 \
    (t)->co_line_ = (label);                                     \
    UVBLE_CO_FALLTHROUGH_;                                       \
    case (label):                                                \
      if (uvble_task_blocked_(t)) return UVBLE_CO_WAITING;       \
  } while (0)

/* Lets every other ready task and callback run, then continues. */
#define UVBLE_CO_YIELD(t)                                        \
  do {                                                           \
    uvble_task_yield_(t);                                        \
    (t)->co_line_ = __LINE__ * 4;                                \
    UVBLE_CO_FALLTHROUGH_;                                       \
    case __LINE__ * 4:                                           \
      if (uvble_task_blocked_(t)) return UVBLE_CO_WAITING;       \
  } while (0)

/* Finishes the task with status st. */
#define UVBLE_CO_RETURN(t, st) \
  do {                         \
    (t)->status = (st);        \
    (t)->co_line_ = -1;        \
    return UVBLE_CO_DONE;      \
  } while (0)

/* Awaits f and finishes the task with f's status if it is not 0. */
#define UVBLE_AWAIT_OK(t, f)                                     \
  do {                                                           \
    UVBLE_AWAIT(t, f);                                           \
    if (uvble_task_last_status_(t) != 0)                         \
      UVBLE_CO_RETURN(t, uvble_task_last_status_(t));            \
  } while (0)

/* ---- tasks ---------------------------------------------------------------- */

/* Starts t: fn first runs on a later loop iteration. t's memory is the
 * caller's; uvble_task_spawn initialises every field but data. done (may be
 * NULL) runs when fn has finished. Returns 0, UVBLE_EBUSY (t is running)
 * or UVBLE_ECLOSING. */
UVBLE_EXTERN int uvble_task_spawn(uvble_sched_t *s, uvble_task_t *t,
                                  uvble_task_fn fn, uvble_task_done_cb done);

/* Requests cancellation (see above). Returns 0, or UVBLE_EALREADY if the
 * task is not running. */
UVBLE_EXTERN int uvble_task_cancel(uvble_task_t *t);
UVBLE_EXTERN bool uvble_task_cancelled(const uvble_task_t *t);
UVBLE_EXTERN bool uvble_task_running(const uvble_task_t *t);

/* A future that completes when t finishes, with t's status (at once, on
 * the next iteration, if t has already finished). t must stay valid until
 * then. */
UVBLE_EXTERN int uvble_task_join(uvble_future_t *f, uvble_task_t *t,
                                 uint32_t timeout_ms);

/* ---- task groups ------------------------------------------------------------
 * A group tracks any number of tasks (one per device, for hundreds of
 * devices): spawning into it, waiting for all of them, cancelling all of
 * them. Tasks leave the group when they finish; the group needs no memory
 * of its own beyond the struct. */
struct uvble_task_group {
  size_t running;    /* tasks of the group still running */
  size_t finished;   /* tasks that have finished, since init */
  int first_error;   /* the first non-zero status a task finished with */
  bool cancel_on_error; /* a task finishing with an error cancels the rest */

  /* Private. */
  uvble_sched_t *sched_;
  uvble_task_t *head_;
  uvble_future_t *joiners_;
};

UVBLE_EXTERN void uvble_task_group_init(uvble_task_group_t *g,
                                        uvble_sched_t *s);
/* Spawns t into g (as uvble_task_spawn). */
UVBLE_EXTERN int uvble_task_group_spawn(uvble_task_group_t *g, uvble_task_t *t,
                                        uvble_task_fn fn,
                                        uvble_task_done_cb done);
/* Cancels every running task of g. */
UVBLE_EXTERN void uvble_task_group_cancel(uvble_task_group_t *g);
/* A future that completes when no task of g is running (status:
 * g->first_error). */
UVBLE_EXTERN int uvble_task_group_join(uvble_future_t *f, uvble_task_group_t *g,
                                       uint32_t timeout_ms);

/* ---- timeout scopes (aioble's `with connection.timeout(ms)`) ---------------
 *
 *   UVBLE_SCOPE_BEGIN(t, &s->scope, conn, 5000);
 *   UVBLE_AWAIT(t, ...);            // ends with ETIMEDOUT / EDISCONNECTED
 *   if (t->... ) goto out;          //   once the scope has fired
 *   ...
 *   out:
 *   UVBLE_SCOPE_END(t, &s->scope);  // s->scope.status: 0, UVBLE_ETIMEDOUT
 *                                   //   or UVBLE_EDISCONNECTED
 *
 * While the scope is open, once timeout_ms (0: none) has passed or conn
 * (NULL: none) has disconnected, the future the task awaits completes at
 * once with the scope's status, and so does every later await in the
 * scope: the body runs to its end without waiting again. Scopes nest. The
 * scope's memory must stay valid until UVBLE_SCOPE_END. */
struct uvble_scope {
  int status; /* 0 while the scope has not fired */

  /* Private. */
  uvble_task_t *task_;
  uvble_scope_t *parent_;
  uvble_future_t timer_;
  uvble_future_t drop_;
};

UVBLE_EXTERN int uvble_scope_enter(uvble_scope_t *sc, uvble_task_t *t,
                                   uvble_connection_t *conn,
                                   uint32_t timeout_ms);
/* Closes the scope and returns its status. */
UVBLE_EXTERN int uvble_scope_exit(uvble_scope_t *sc);

#define UVBLE_SCOPE_BEGIN(t, sc, conn, ms) uvble_scope_enter((sc), (t), (conn), (ms))
#define UVBLE_SCOPE_END(t, sc) uvble_scope_exit(sc)

/* ---- used by the macros --------------------------------------------------- */
UVBLE_EXTERN void uvble_task_await_(uvble_task_t *t, uvble_future_t *f);
UVBLE_EXTERN void uvble_task_yield_(uvble_task_t *t);
UVBLE_EXTERN bool uvble_task_blocked_(uvble_task_t *t);
UVBLE_EXTERN int uvble_task_last_status_(const uvble_task_t *t);

#ifdef __cplusplus
}
#endif
#endif
