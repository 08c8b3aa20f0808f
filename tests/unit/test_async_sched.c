/* SPDX-License-Identifier: Apache-2.0 */
/* Futures, the scheduler and the coroutine helpers (uvble/async.h,
 * uvble/co.h) without a stack: completion exactly once, timeouts, cancel,
 * abandon, callbacks never inside the starting call, tasks, joins, groups
 * of hundreds of tasks, scopes. Run under ASan: nothing may be left
 * behind. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "uvble/co.h"

static uv_loop_t loop;
static uvble_sched_t *sched;

static void setup(void) {
  uv_loop_init(&loop);
  REQUIRE_EQ(uvble_sched_new(&loop, &sched), 0);
}

static bool sched_closed;
static void on_sched_closed(uvble_sched_t *s, void *arg) {
  (void)s;
  (void)arg;
  sched_closed = true;
}

static void teardown(void) {
  sched_closed = false;
  uvble_sched_close(sched, on_sched_closed, NULL);
  run_until(&loop, &sched_closed, 5000);
  CHECK(sched_closed);
  loop_teardown(&loop);
}

struct rec {
  int calls;
  int status;
  uint64_t at;
};

static void on_rec(uvble_future_t *f) {
  struct rec *r = f->data;
  r->calls++;
  r->status = f->status;
  r->at = uv_now(&loop);
}

static bool rec_called(void *arg) { return ((struct rec *)arg)->calls > 0; }
static bool fut_done_pred(void *arg) { return uvble_future_done(arg); }

/* ---- futures ----------------------------------------------------------------- */
TEST(sleep_completes_once_from_the_loop) {
  setup();
  struct rec r = {0};
  uvble_future_t f = {.cb = on_rec, .data = &r};
  uint64_t t0 = uv_now(&loop);
  REQUIRE_EQ(uvble_sleep(&f, sched, 30), 0);
  CHECK(uvble_future_pending(&f));
  CHECK(!uvble_future_done(&f));
  CHECK_EQ(r.calls, 0);
  REQUIRE(run_until_pred(&loop, rec_called, &r, 1000));
  run_until_idle(&loop, 5000);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.status, 0);
  CHECK(r.at - t0 >= 30);
  CHECK(uvble_future_done(&f));
  CHECK(!uvble_future_pending(&f));
  teardown();
}

TEST(zero_sleep_never_calls_back_inside_the_start) {
  setup();
  struct rec r = {0};
  uvble_future_t f = {.cb = on_rec, .data = &r};
  REQUIRE_EQ(uvble_sleep(&f, sched, 0), 0);
  CHECK_EQ(r.calls, 0); /* queued, not called */
  uvble_sched_stats_t st;
  uvble_sched_get_stats(sched, &st);
  CHECK_EQ(st.ready, 1);
  run_until_idle(&loop, 5000);
  CHECK_EQ(r.calls, 1);
  teardown();
}

TEST(timeout_fires_with_etimedout_and_late_set_is_refused) {
  setup();
  struct rec r = {0};
  uvble_future_t f = {.cb = on_rec, .data = &r};
  REQUIRE_EQ(uvble_future_start(&f, sched, 20), 0);
  REQUIRE(run_until_pred(&loop, rec_called, &r, 1000));
  CHECK_EQ(r.status, UVBLE_ETIMEDOUT);
  CHECK_EQ(uvble_future_set(&f, 0), UVBLE_EALREADY);
  run_until_idle(&loop, 5000);
  CHECK_EQ(r.calls, 1);
  uvble_sched_stats_t st;
  uvble_sched_get_stats(sched, &st);
  CHECK_EQ(st.timeouts, 1);
  CHECK_EQ(st.pending, 0);
  CHECK_EQ(st.timed, 0);
  teardown();
}

TEST(cancel_completes_once_with_ecanceled) {
  setup();
  struct rec r = {0};
  uvble_future_t f = {.cb = on_rec, .data = &r};
  REQUIRE_EQ(uvble_future_start(&f, sched, 0), 0);
  CHECK_EQ(uvble_future_cancel(&f), 0);
  CHECK_EQ(uvble_future_cancel(&f), UVBLE_EALREADY);
  CHECK_EQ(uvble_future_set(&f, 0), UVBLE_EALREADY);
  CHECK_EQ(r.calls, 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.status, UVBLE_ECANCELED);
  CHECK_EQ(uvble_future_cancel(&f), UVBLE_EALREADY);
  teardown();
}

TEST(set_then_cancel_keeps_the_first_outcome) {
  setup();
  struct rec r = {0};
  uvble_future_t f = {.cb = on_rec, .data = &r};
  REQUIRE_EQ(uvble_future_start(&f, sched, 10), 0);
  CHECK_EQ(uvble_future_set(&f, 7), 0);
  CHECK_EQ(uvble_future_cancel(&f), UVBLE_EALREADY);
  /* time must pass: past the old deadline too */
  run_for(&loop, 30);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.status, 7);
  teardown();
}

TEST(starting_a_pending_future_is_ebusy_and_leaves_it_alone) {
  setup();
  struct rec r = {0};
  uvble_future_t f = {.cb = on_rec, .data = &r};
  REQUIRE_EQ(uvble_future_start(&f, sched, 0), 0);
  CHECK_EQ(uvble_sleep(&f, sched, 1), UVBLE_EBUSY);
  CHECK(uvble_future_pending(&f));
  CHECK_EQ(uvble_future_set(&f, 3), 0);
  CHECK_EQ(uvble_sleep(&f, sched, 1), UVBLE_EBUSY); /* completing */
  run_until_idle(&loop, 5000);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.status, 3);
  /* Done: reusable. */
  CHECK_EQ(uvble_sleep(&f, sched, 1), 0);
  RUN_UNTIL(&loop, r.calls >= 2, 5000);
  CHECK_EQ(r.calls, 2);
  CHECK_EQ(r.status, 0);
  teardown();
}

TEST(a_failing_start_on_a_pending_future_leaves_it_alone) {
  setup();
  struct rec r = {0};
  uvble_future_t f = {.cb = on_rec, .data = &r};
  REQUIRE_EQ(uvble_future_start(&f, sched, 0), 0);
  /* Bad arguments and a busy future: busy wins, nothing changes. */
  CHECK_EQ(uvble_sleep(&f, NULL, 1), UVBLE_EBUSY);
  uvble_task_t t;
  memset(&t, 0, sizeof t);
  CHECK_EQ(uvble_task_join(&f, &t, 0), UVBLE_EBUSY);
  CHECK(uvble_future_pending(&f));
  CHECK_EQ(uvble_future_set(&f, 5), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.status, 5);
  teardown();
}

TEST(abandon_frees_the_future_without_a_callback) {
  setup();
  struct rec r = {0};
  /* Heap futures: ASan flags any later touch. */
  uvble_future_t *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
  a->cb = b->cb = on_rec;
  a->data = b->data = &r;
  REQUIRE_EQ(uvble_sleep(a, sched, 10), 0);
  REQUIRE_EQ(uvble_future_start(b, sched, 0), 0);
  REQUIRE_EQ(uvble_future_set(b, 0), 0); /* queued */
  uvble_future_abandon(a);
  uvble_future_abandon(b);
  free(a);
  free(b);
  /* time must pass: past the abandoned 10 ms sleep, nothing is called */
  run_for(&loop, 40);
  CHECK_EQ(r.calls, 0);
  uvble_sched_stats_t st;
  uvble_sched_get_stats(sched, &st);
  CHECK_EQ(st.pending, 0);
  CHECK_EQ(st.ready, 0);
  teardown();
}

static int freed_futures;
static void free_self(uvble_future_t *f) {
  freed_futures++;
  free(f);
}

TEST(a_callback_may_free_its_own_future) {
  setup();
  freed_futures = 0;
  uvble_future_t *f = calloc(1, sizeof *f);
  f->cb = free_self;
  REQUIRE_EQ(uvble_sleep(f, sched, 1), 0);
  RUN_UNTIL(&loop, freed_futures >= 1, 5000);
  CHECK_EQ(freed_futures, 1);
  teardown();
}

static int order[64], norder;
static void on_order(uvble_future_t *f) {
  order[norder++] = (int)(intptr_t)f->data;
}

TEST(deadlines_fire_in_order_whatever_the_start_order) {
  setup();
  static const int ms[] = {50, 10, 40, 20, 30, 10, 60, 5};
  uvble_future_t f[8];
  memset(f, 0, sizeof f);
  norder = 0;
  for (int i = 0; i < 8; i++) {
    f[i].cb = on_order;
    f[i].data = (void *)(intptr_t)ms[i];
    REQUIRE_EQ(uvble_sleep(&f[i], sched, ms[i]), 0);
  }
  RUN_UNTIL(&loop, norder >= 8, 5000);
  REQUIRE_EQ(norder, 8);
  for (int i = 1; i < 8; i++) CHECK(order[i - 1] <= order[i]);
  teardown();
}

TEST(a_completed_deadline_no_longer_holds_the_loop) {
  setup();
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_future_start(&f, sched, 10000), 0);
  REQUIRE_EQ(uvble_future_set(&f, 0), 0);
  uint64_t t0 = uv_now(&loop);
  uv_run(&loop, UV_RUN_DEFAULT); /* returns once nothing is active */
  uv_update_time(&loop);
  CHECK(uv_now(&loop) - t0 < 1000);
  CHECK(uvble_future_done(&f));
  teardown();
}

TEST(closing_the_scheduler_cancels_everything_inside_the_call) {
  setup();
  enum { N = 100 };
  struct rec r[N];
  uvble_future_t f[N];
  memset(r, 0, sizeof r);
  memset(f, 0, sizeof f);
  for (int i = 0; i < N; i++) {
    f[i].cb = on_rec;
    f[i].data = &r[i];
    if (i % 2)
      REQUIRE_EQ(uvble_future_start(&f[i], sched, 0), 0);
    else
      REQUIRE_EQ(uvble_sleep(&f[i], sched, 100000 + i), 0);
  }
  sched_closed = false;
  uvble_sched_close(sched, on_sched_closed, NULL);
  for (int i = 0; i < N; i++) {
    CHECK_EQ(r[i].calls, 1);
    CHECK_EQ(r[i].status, UVBLE_ECANCELED);
  }
  CHECK(!sched_closed); /* later */
  uvble_future_t g = {0};
  CHECK_EQ(uvble_sleep(&g, sched, 1), UVBLE_ECLOSING);
  CHECK(uvble_future_done(&g));
  CHECK_EQ(g.status, UVBLE_ECLOSING);
  run_until(&loop, &sched_closed, 5000);
  CHECK(sched_closed);
  loop_teardown(&loop);
}

/* ---- tasks ------------------------------------------------------------------- */
struct seq {
  uvble_task_t task;
  uvble_future_t f;
  int i;
  int steps[8];
  int nsteps;
  bool done;
};

static int seq_fn(uvble_task_t *t) {
  struct seq *s = (struct seq *)t;
  UVBLE_CO_BEGIN(t);
  for (s->i = 0; s->i < 3; s->i++) {
    s->steps[s->nsteps++] = s->i;
    UVBLE_AWAIT(t, (uvble_sleep(&s->f, sched, 5), &s->f));
  }
  /* A start that fails: the await does not block. */
  UVBLE_AWAIT(t, (uvble_sleep(&s->f, NULL, 5), &s->f));
  s->steps[s->nsteps++] = s->f.status;
  UVBLE_CO_RETURN(t, 42);
  UVBLE_CO_END(t);
}

static void seq_done(uvble_task_t *t) { ((struct seq *)t)->done = true; }
static bool seq_is_done(void *arg) { return ((struct seq *)arg)->done; }

TEST(a_task_runs_top_to_bottom_across_awaits) {
  setup();
  struct seq s;
  memset(&s, 0, sizeof s);
  REQUIRE_EQ(uvble_task_spawn(sched, &s.task, seq_fn, seq_done), 0);
  CHECK_EQ(s.nsteps, 0); /* first runs from the loop */
  CHECK_EQ(uvble_task_spawn(sched, &s.task, seq_fn, seq_done), UVBLE_EBUSY);
  REQUIRE(run_until_pred(&loop, seq_is_done, &s, 1000));
  CHECK_EQ(s.nsteps, 4);
  CHECK_EQ(s.steps[0], 0);
  CHECK_EQ(s.steps[2], 2);
  CHECK_EQ(s.steps[3], UVBLE_EINVAL);
  CHECK_EQ(s.task.status, 42);
  CHECK(!uvble_task_running(&s.task));
  teardown();
}

struct joiner {
  uvble_task_t task;
  uvble_future_t f;
  struct seq *other;
  int got;
};

static int joiner_fn(uvble_task_t *t) {
  struct joiner *j = (struct joiner *)t;
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_task_join(&j->f, &j->other->task, 0), &j->f));
  j->got = j->f.status;
  /* Joining a finished task completes at once. */
  UVBLE_AWAIT(t, (uvble_task_join(&j->f, &j->other->task, 0), &j->f));
  UVBLE_CO_RETURN(t, j->f.status == j->got ? 0 : -1);
  UVBLE_CO_END(t);
}

static bool task_finished(void *arg) { return !uvble_task_running(arg); }

TEST(join_hands_over_the_task_status) {
  setup();
  struct seq s;
  struct joiner j;
  memset(&s, 0, sizeof s);
  memset(&j, 0, sizeof j);
  j.other = &s;
  REQUIRE_EQ(uvble_task_spawn(sched, &s.task, seq_fn, NULL), 0);
  REQUIRE_EQ(uvble_task_spawn(sched, &j.task, joiner_fn, NULL), 0);
  REQUIRE(run_until_pred(&loop, task_finished, &j.task, 1000));
  CHECK_EQ(j.got, 42);
  CHECK_EQ(j.task.status, 0);
  teardown();
}

struct canc {
  uvble_task_t task;
  uvble_future_t f;
  int first, second;
  bool cancelled_seen;
};

static int canc_fn(uvble_task_t *t) {
  struct canc *c = (struct canc *)t;
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_sleep(&c->f, sched, 100000), &c->f));
  c->first = c->f.status;
  c->cancelled_seen = uvble_task_cancelled(t);
  /* Cleanup after a cancel may still wait (delivered once). */
  UVBLE_AWAIT(t, (uvble_sleep(&c->f, sched, 5), &c->f));
  c->second = c->f.status;
  UVBLE_CO_RETURN(t, UVBLE_ECANCELED);
  UVBLE_CO_END(t);
}

TEST(cancel_reaches_the_awaited_future_once) {
  setup();
  struct canc c;
  memset(&c, 0, sizeof c);
  REQUIRE_EQ(uvble_task_spawn(sched, &c.task, canc_fn, NULL), 0);
  run_until_idle(&loop, 5000);
  CHECK(uvble_task_running(&c.task));
  CHECK_EQ(uvble_task_cancel(&c.task), 0);
  REQUIRE(run_until_pred(&loop, task_finished, &c.task, 1000));
  CHECK_EQ(c.first, UVBLE_ECANCELED);
  CHECK(c.cancelled_seen);
  CHECK_EQ(c.second, 0);
  CHECK_EQ(c.task.status, UVBLE_ECANCELED);
  CHECK_EQ(uvble_task_cancel(&c.task), UVBLE_EALREADY);
  teardown();
}

TEST(cancel_before_the_first_run_hits_the_first_await) {
  setup();
  struct canc c;
  memset(&c, 0, sizeof c);
  REQUIRE_EQ(uvble_task_spawn(sched, &c.task, canc_fn, NULL), 0);
  CHECK_EQ(uvble_task_cancel(&c.task), 0);
  REQUIRE(run_until_pred(&loop, task_finished, &c.task, 1000));
  CHECK_EQ(c.first, UVBLE_ECANCELED);
  CHECK_EQ(c.second, 0);
  teardown();
}

/* ---- groups --------------------------------------------------------------------- */
struct member {
  uvble_task_t task;
  uvble_future_t f;
  int id;
  int awaited;
};

static int first_failing = -1; /* the failing member that ended first */

static int member_fn(uvble_task_t *t) {
  struct member *m = (struct member *)t;
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_sleep(&m->f, sched, 1 + (uint32_t)(m->id * 7) % 40),
                  &m->f));
  UVBLE_AWAIT(t, (uvble_sleep(&m->f, sched, 0), &m->f));
  m->awaited = 2;
  if (m->id % 97 == 13 && first_failing < 0) first_failing = m->id;
  UVBLE_CO_RETURN(t, m->id % 97 == 13 ? -(1000 + m->id) : 0);
  UVBLE_CO_END(t);
}

static int freed_members;
static void member_done_free(uvble_task_t *t) {
  freed_members++;
  free(t);
}

TEST(a_group_of_five_hundred_tasks_joins_with_the_first_error) {
  setup();
  enum { N = 500 };
  uvble_task_group_t g;
  uvble_task_group_init(&g, sched);
  freed_members = 0;
  first_failing = -1;
  for (int i = 0; i < N; i++) {
    struct member *m = calloc(1, sizeof *m);
    m->id = i;
    REQUIRE_EQ(uvble_task_group_spawn(&g, &m->task, member_fn, member_done_free),
               0);
  }
  CHECK_EQ(g.running, N);
  uvble_future_t j = {0};
  REQUIRE_EQ(uvble_task_group_join(&j, &g, 5000), 0);
  REQUIRE(run_until_pred(&loop, fut_done_pred, &j, 5000));
  /* The first to fail: the failing member whose sleep ended first. Sleeps
   * count from when each starts (the current time, not the loop's cached
   * one), and starting 500 tasks takes a few milliseconds, so which one
   * that is depends on the machine's speed: it is the one seen first. */
  REQUIRE(first_failing >= 0);
  CHECK_EQ(j.status, -(1000 + first_failing));
  CHECK_EQ(g.running, 0);
  CHECK_EQ(g.finished, N);
  CHECK_EQ(freed_members, N);
  teardown();
}

struct blocker {
  uvble_task_t task;
  uvble_future_t f;
  int got;
};

static int blocker_fn(uvble_task_t *t) {
  struct blocker *b = (struct blocker *)t;
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_future_start(&b->f, sched, 0), &b->f));
  b->got = b->f.status;
  UVBLE_CO_RETURN(t, b->f.status);
  UVBLE_CO_END(t);
}

TEST(cancelling_a_group_ends_hundreds_of_blocked_tasks) {
  setup();
  enum { N = 300 };
  struct blocker *b = calloc(N, sizeof *b);
  uvble_task_group_t g;
  uvble_task_group_init(&g, sched);
  for (int i = 0; i < N; i++)
    REQUIRE_EQ(uvble_task_group_spawn(&g, &b[i].task, blocker_fn, NULL), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(g.running, N);
  uvble_task_group_cancel(&g);
  uvble_future_t j = {0};
  REQUIRE_EQ(uvble_task_group_join(&j, &g, 1000), 0);
  REQUIRE(run_until_pred(&loop, fut_done_pred, &j, 2000));
  CHECK_EQ(j.status, UVBLE_ECANCELED);
  for (int i = 0; i < N; i++) CHECK_EQ(b[i].got, UVBLE_ECANCELED);
  uvble_sched_stats_t st;
  uvble_sched_get_stats(sched, &st);
  CHECK_EQ(st.pending, 0);
  free(b);
  teardown();
}

TEST(cancel_on_error_stops_the_rest_of_the_group) {
  setup();
  enum { N = 50 };
  struct blocker *b = calloc(N, sizeof *b);
  struct member *m = calloc(1, sizeof *m);
  m->id = 13; /* fails */
  uvble_task_group_t g;
  uvble_task_group_init(&g, sched);
  g.cancel_on_error = true;
  for (int i = 0; i < N; i++)
    REQUIRE_EQ(uvble_task_group_spawn(&g, &b[i].task, blocker_fn, NULL), 0);
  REQUIRE_EQ(uvble_task_group_spawn(&g, &m->task, member_fn, NULL), 0);
  uvble_future_t j = {0};
  REQUIRE_EQ(uvble_task_group_join(&j, &g, 2000), 0);
  REQUIRE(run_until_pred(&loop, fut_done_pred, &j, 3000));
  CHECK_EQ(j.status, -(1000 + 13));
  for (int i = 0; i < N; i++) CHECK_EQ(b[i].got, UVBLE_ECANCELED);
  free(b);
  free(m);
  teardown();
}

TEST(joining_an_empty_group_completes_on_the_next_iteration) {
  setup();
  uvble_task_group_t g;
  uvble_task_group_init(&g, sched);
  struct rec r = {0};
  uvble_future_t j = {.cb = on_rec, .data = &r};
  REQUIRE_EQ(uvble_task_group_join(&j, &g, 0), 0);
  CHECK_EQ(r.calls, 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.status, 0);
  teardown();
}

/* ---- yield ------------------------------------------------------------------------ */
static char trace[32];
static int ntrace;

struct yielder {
  uvble_task_t task;
  char name;
  int i;
};

static int yielder_fn(uvble_task_t *t) {
  struct yielder *y = (struct yielder *)t;
  UVBLE_CO_BEGIN(t);
  for (y->i = 0; y->i < 3; y->i++) {
    trace[ntrace++] = y->name;
    UVBLE_CO_YIELD(t);
  }
  UVBLE_CO_END(t);
}

TEST(yield_interleaves_ready_tasks) {
  setup();
  struct yielder a = {.name = 'a'}, b = {.name = 'b'};
  ntrace = 0;
  memset(trace, 0, sizeof trace);
  REQUIRE_EQ(uvble_task_spawn(sched, &a.task, yielder_fn, NULL), 0);
  REQUIRE_EQ(uvble_task_spawn(sched, &b.task, yielder_fn, NULL), 0);
  run_until_idle(&loop, 5000);
  CHECK_STR(trace, "ababab");
  teardown();
}

/* ---- scopes -------------------------------------------------------------------------- */
struct scoped {
  uvble_task_t task;
  uvble_future_t f;
  uvble_scope_t scope;
  int first, second, scope_status, after;
  uint64_t t0, t_fired;
};

static int scoped_fn(uvble_task_t *t) {
  struct scoped *s = (struct scoped *)t;
  UVBLE_CO_BEGIN(t);
  s->t0 = uv_now(&loop);
  UVBLE_SCOPE_BEGIN(t, &s->scope, NULL, 30);
  UVBLE_AWAIT(t, (uvble_sleep(&s->f, sched, 100000), &s->f));
  s->first = s->f.status;
  s->t_fired = uv_now(&loop);
  /* The scope has fired: this await ends at once. */
  UVBLE_AWAIT(t, (uvble_future_start(&s->f, sched, 0), &s->f));
  s->second = s->f.status;
  s->scope_status = UVBLE_SCOPE_END(t, &s->scope);
  UVBLE_AWAIT(t, (uvble_sleep(&s->f, sched, 5), &s->f));
  s->after = s->f.status;
  UVBLE_CO_END(t);
}

TEST(a_scope_ends_its_body_on_timeout) {
  setup();
  struct scoped s;
  memset(&s, 0, sizeof s);
  REQUIRE_EQ(uvble_task_spawn(sched, &s.task, scoped_fn, NULL), 0);
  REQUIRE(run_until_pred(&loop, task_finished, &s.task, 2000));
  CHECK_EQ(s.first, UVBLE_ETIMEDOUT);
  CHECK_EQ(s.second, UVBLE_ETIMEDOUT);
  CHECK_EQ(s.scope_status, UVBLE_ETIMEDOUT);
  CHECK_EQ(s.after, 0);
  CHECK(s.t_fired - s.t0 >= 30);
  CHECK(s.t_fired - s.t0 < 1000);
  uvble_sched_stats_t st;
  uvble_sched_get_stats(sched, &st);
  CHECK_EQ(st.pending, 0);
  teardown();
}

struct quick {
  uvble_task_t task;
  uvble_future_t f;
  uvble_scope_t scope;
  int st;
};

static int quick_fn(uvble_task_t *t) {
  struct quick *q = (struct quick *)t;
  UVBLE_CO_BEGIN(t);
  UVBLE_SCOPE_BEGIN(t, &q->scope, NULL, 100000);
  UVBLE_AWAIT(t, (uvble_sleep(&q->f, sched, 5), &q->f));
  q->st = UVBLE_SCOPE_END(t, &q->scope);
  UVBLE_CO_RETURN(t, q->f.status);
  UVBLE_CO_END(t);
}

static void quick_done_free(uvble_task_t *t) { free(t); }

TEST(a_scope_that_does_not_fire_leaves_nothing_behind) {
  setup();
  /* Freed by its done callback: the scope's timer must be gone by then. */
  struct quick *q = calloc(1, sizeof *q);
  REQUIRE_EQ(uvble_task_spawn(sched, &q->task, quick_fn, quick_done_free), 0);
  uvble_sched_stats_t st;
  RUN_UNTIL(&loop, (uvble_sched_get_stats(sched, &st),
                    st.pending == 0 && st.timed == 0), 5000);
  CHECK_EQ(st.pending, 0);
  CHECK_EQ(st.timed, 0);
  uint64_t t0 = uv_now(&loop);
  uv_run(&loop, UV_RUN_DEFAULT); /* nothing holds the loop */
  uv_update_time(&loop);
  CHECK(uv_now(&loop) - t0 < 1000);
  teardown();
}

TEST_MAIN()
