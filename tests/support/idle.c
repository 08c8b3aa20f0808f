/* SPDX-License-Identifier: Apache-2.0 */
/* run_until_idle(): waiting for the stacks' own work instead of sleeping
 * (test.h). What is pending is read from three places: the stacks, found by
 * walking the loop (uvble_test_busy, the test build of the library); the
 * in-memory controllers (memctl, found the same way; sc and others
 * register themselves with test_idle_add); and
 * the loop itself, where deferred work shows as an idle handle running
 * (an in-memory transport delivering, the async scheduler's ready
 * futures), a timer due now (ble_fail_later, deferred callbacks, cancelled
 * requests' completions) or a handle closing. */
#include "test.h"

#include <stdarg.h>
#include <stdio.h>

#include "memctl.h"
#include "test_hooks.h"

#define MAX_SOURCES 16
/* Passes in a row that must find nothing to do: work may be one loop
 * iteration away from showing (a packet handed on from inside a callback
 * is queued for the next iteration). */
#define STABLE_PASSES 3

static struct {
  uv_loop_t *loop;
  test_idle_fn busy;
  void *arg;
} sources[MAX_SOURCES];

void test_idle_add(uv_loop_t *loop, test_idle_fn busy, void *arg) {
  for (int i = 0; i < MAX_SOURCES; i++)
    if (!sources[i].busy) {
      sources[i].loop = loop;
      sources[i].busy = busy;
      sources[i].arg = arg;
      return;
    }
  test_fail(__FILE__, __LINE__, "test_idle_add: more than %d sources",
            MAX_SOURCES);
}

void test_idle_remove(void *arg) {
  for (int i = 0; i < MAX_SOURCES; i++)
    if (sources[i].busy && sources[i].arg == arg) sources[i].busy = NULL;
}

struct scan {
  char *why;
  size_t len, used;
  unsigned busy;
  bool no_completions; /* a controller completes no packet by itself */
  bool no_answers;     /* a controller holds a command for the test */
  const uv_timer_t *own; /* run_until_idle's bound */
};

static void say(struct scan *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(struct scan *s, const char *fmt, ...) {
  if (!s->why || s->used + 3 >= s->len) return;
  if (s->used) {
    memcpy(s->why + s->used, "; ", 3);
    s->used += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(s->why + s->used, s->len - s->used, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  s->used += (size_t)n < s->len - s->used ? (size_t)n : s->len - s->used - 1;
}

/* What the loop shows of deferred work. */
static void walk_loop(uv_handle_t *h, void *arg) {
  struct scan *s = arg;
  if (uv_is_closing(h)) {
    s->busy |= TEST_IDLE_BUSY;
    say(s, "a %s handle is closing", uv_handle_type_name(h->type));
    return;
  }
  if (h->type == UV_IDLE && uv_is_active(h)) {
    s->busy |= TEST_IDLE_BUSY;
    say(s, "an idle handle runs (in-memory transport delivering, ready "
        "futures)");
  } else if (h->type == UV_TIMER && uv_is_active(h) &&
             (const uv_timer_t *)h != s->own &&
             uv_timer_get_due_in((const uv_timer_t *)h) == 0) {
    s->busy |= TEST_IDLE_BUSY;
    say(s, "a timer is due now (deferred work)");
  }
}

/* The in-memory controller pairs on the loop. */
static void walk_ctl(uv_handle_t *h, void *arg) {
  struct scan *s = arg;
  memctl_t *m = memctl_of_handle(h);
  if (!m) return;
  char why[128];
  unsigned b = memctl_pending(m, why, sizeof why);
  if (b & MEMCTL_HELD) s->no_completions = true;
  if (b & MEMCTL_BUSY) {
    s->busy |= TEST_IDLE_BUSY;
    say(s, "%s", why);
  }
}

/* The stacks' own work; ACL in flight (and queued behind it) only when
 * their controllers complete packets by themselves. */
static void walk_stacks(uv_handle_t *h, void *arg) {
  struct scan *s = arg;
  uvble_t *ble = uvble_test_stack_of_handle(h);
  if (!ble) return;
  char why[256];
  unsigned b = uvble_test_busy(ble, why, sizeof why);
  /* Fragments queued behind packets nobody will complete wait too. */
  if (s->no_completions)
    b &= ~(unsigned)(UVBLE_TEST_BUSY_ACL_INFLIGHT | UVBLE_TEST_BUSY_ACL_QUEUED);
  /* Behind an unanswered command the queue cannot move either. */
  if (s->no_answers)
    b &= ~(unsigned)(UVBLE_TEST_BUSY_CMD_INFLIGHT | UVBLE_TEST_BUSY_CMD_QUEUED);
  if (!b) return;
  s->busy |= TEST_IDLE_BUSY;
  say(s, "stack %p: %s", (void *)ble, why);
}

/* What is busy on loop, leaving out own (run_until_idle's bound). */
static unsigned scan_busy(uv_loop_t *loop, const uv_timer_t *own, char *why,
                          size_t len) {
  struct scan s = {why, len, 0, 0, false, false, own};
  if (why && len) why[0] = 0;
  for (int i = 0; i < MAX_SOURCES; i++) {
    if (!sources[i].busy || sources[i].loop != loop) continue;
    char w[256] = "";
    unsigned b = sources[i].busy(sources[i].arg, w, sizeof w);
    if (b & TEST_IDLE_NO_COMPLETIONS) s.no_completions = true;
    if (b & TEST_IDLE_NO_ANSWERS) s.no_answers = true;
    if (b & TEST_IDLE_BUSY) {
      s.busy |= TEST_IDLE_BUSY;
      say(&s, "%s", w[0] ? w : "a controller has work queued");
    }
  }
  uv_walk(loop, walk_ctl, &s);
  uv_walk(loop, walk_stacks, &s);
  uv_walk(loop, walk_loop, &s);
  return s.busy;
}

unsigned test_idle_busy(uv_loop_t *loop, char *why, size_t len) {
  return scan_busy(loop, NULL, why, len);
}

static void on_bound(uv_timer_t *t) { *(bool *)t->data = true; }

bool test_idle_wait(uv_loop_t *loop, unsigned timeout_ms, char *why,
                    size_t len) {
  bool expired = false;
  uv_timer_t bound;
  uv_timer_init(loop, &bound);
  bound.data = &expired;
  uv_timer_start(&bound, on_bound, test_scaled_ms(timeout_ms), 0);
  int stable = 0;
  for (;;) {
    /* The loop's cached time decides which timers are due now. */
    uv_update_time(loop);
    if (scan_busy(loop, &bound, why, len) == 0) {
      if (++stable >= STABLE_PASSES) break;
      /* Settled so far: look again after a pass that does not block. */
      uv_run(loop, UV_RUN_NOWAIT);
      continue;
    }
    stable = 0;
    if (expired) break;
    /* Something is due or awaited: a blocking pass ends when it is done
     * or at the bound. */
    uv_run(loop, UV_RUN_ONCE);
  }
  uv_close((uv_handle_t *)&bound, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return stable >= STABLE_PASSES;
}

bool test_run_until_idle_at(const char *file, int line, uv_loop_t *loop,
                            unsigned timeout_ms) {
  char why[1024];
  if (test_idle_wait(loop, timeout_ms, why, sizeof why)) return true;
  test_fail(file, line, "run_until_idle: still busy after %u ms: %s",
            test_scaled_ms(timeout_ms), why);
  return false;
}

/* ---- RUN_UNTIL (test.h) ------------------------------------------------- */
static void on_wait_bound(uv_timer_t *t) {
  ((struct test_wait *)t->data)->expired = true;
}

void test_wait_start(struct test_wait *w, uv_loop_t *loop, unsigned ms) {
  if (w->started) return;
  w->started = true;
  w->loop = loop;
  w->expired = false;
  uv_timer_init(loop, &w->bound);
  w->bound.data = w;
  uv_timer_start(&w->bound, on_wait_bound, test_scaled_ms(ms), 0);
}

bool test_wait_more(struct test_wait *w, bool done) {
  if (!done && !w->expired) {
    uv_run(w->loop, UV_RUN_ONCE);
    return true;
  }
  /* The close completes in this pass: w may go out of scope after. */
  uv_close((uv_handle_t *)&w->bound, NULL);
  uv_run(w->loop, UV_RUN_NOWAIT);
  return false;
}
