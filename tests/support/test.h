/* SPDX-License-Identifier: Apache-2.0 */
/* A small test framework: TEST(name) { ... } defines a case, CHECK* macros
 * record failures (the case goes on), REQUIRE* abort the case. main() comes
 * from TEST_MAIN(), which runs every case (or those named on the command
 * line) and prints "N passed, N failed". */
#ifndef UVBLE_TEST_H
#define UVBLE_TEST_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void test_abort_case(void) __attribute__((noreturn));
int test_main(int argc, char **argv);
/* Whether the running case has failed so far. */
bool test_case_failed(void);
/* Replaces what test_abort_case() does (a case running in a child process
 * of its own ends the process instead of returning to test_main); NULL
 * restores the default. The hook must not return. */
void test_set_abort_hook(void (*hook)(void));

#define TEST(name)                                                     \
  static void test_##name(void);                                       \
  __attribute__((constructor)) static void test_reg_##name(void) {     \
    test_register(#name, test_##name);                                 \
  }                                                                    \
  static void test_##name(void)

#define TEST_MAIN() \
  int main(int argc, char **argv) { return test_main(argc, argv); }

#define CHECK(c)                                                        \
  do {                                                                  \
    if (!(c)) test_fail(__FILE__, __LINE__, "CHECK(%s)", #c);           \
  } while (0)
#define REQUIRE(c)                                                      \
  do {                                                                  \
    if (!(c)) {                                                         \
      test_fail(__FILE__, __LINE__, "REQUIRE(%s)", #c);                 \
      test_abort_case();                                                \
    }                                                                   \
  } while (0)
#define CHECK_EQ(a, b)                                                  \
  do {                                                                  \
    long long _a = (long long)(a), _b = (long long)(b);                 \
    if (_a != _b)                                                       \
      test_fail(__FILE__, __LINE__, "CHECK_EQ(%s, %s): %lld != %lld",   \
                #a, #b, _a, _b);                                        \
  } while (0)
#define REQUIRE_EQ(a, b)                                                \
  do {                                                                  \
    long long _a = (long long)(a), _b = (long long)(b);                 \
    if (_a != _b) {                                                     \
      test_fail(__FILE__, __LINE__, "REQUIRE_EQ(%s, %s): %lld != %lld", \
                #a, #b, _a, _b);                                        \
      test_abort_case();                                                \
    }                                                                   \
  } while (0)
#define CHECK_MEM(a, b, n)                                              \
  do {                                                                  \
    if (memcmp((a), (b), (n)) != 0)                                     \
      test_fail(__FILE__, __LINE__, "CHECK_MEM(%s, %s, %s) differs",    \
                #a, #b, #n);                                            \
  } while (0)
#define CHECK_STR(a, b)                                                 \
  do {                                                                  \
    const char *_a = (a), *_b = (b);                                    \
    if (!_a || !_b || strcmp(_a, _b) != 0)                              \
      test_fail(__FILE__, __LINE__, "CHECK_STR(%s, %s): \"%s\" != \"%s\"", \
                #a, #b, _a ? _a : "(null)", _b ? _b : "(null)");        \
  } while (0)

/* The transport for the next host of this case: UVBLE_LL_TRANSPORTS' entries
 * in turn (one per simulated controller, from tests/support/with-zephyr-ll;
 * past the last one the case fails),
 * else UVBLE_TRANSPORT, else btvirt's default socket. The string stays valid
 * until the next call. */
const char *test_transport(void);
/* Every host of the case has closed: test_transport() hands out the
 * controllers again from the first. */
void test_transport_release(void);

/* ms times UVBLE_TEST_TIME_SCALE (1 unless set; with-zephyr-ll sets 4):
 * for waits a scenario sizes to the link's speed. run_until*() apply it to
 * their limits themselves. */
unsigned test_scaled_ms(unsigned ms);

/* Runs loop until *flag becomes true or timeout_ms passes; returns *flag. */
bool run_until(uv_loop_t *loop, const volatile bool *flag, unsigned timeout_ms);
/* Runs loop until pred(arg) is true or timeout_ms passes; returns pred(arg). */
bool run_until_pred(uv_loop_t *loop, bool (*pred)(void *), void *arg,
                    unsigned timeout_ms);
/* Runs loop until the expression cond holds (evaluated before each pass)
 * or ms (scaled) pass; a statement: check cond after it. For an event
 * awaited where no predicate function is at hand:
 *   RUN_UNTIL(&loop, sc_find_cmd(sc, op, 0) >= 0, 2000);
 *   REQUIRE(sc_find_cmd(sc, op, 0) >= 0); */
struct test_wait {
  uv_loop_t *loop;
  uv_timer_t bound;
  bool expired;
  bool started;
};
void test_wait_start(struct test_wait *w, uv_loop_t *loop, unsigned ms);
/* One pass unless done or the bound passed; false (the bound closed)
 * when the wait is over. */
bool test_wait_more(struct test_wait *w, bool done);
#define RUN_UNTIL(loop, cond, ms)                                          \
  for (struct test_wait _tw = {0}; test_wait_start(&_tw, (loop), (ms)),     \
                                   test_wait_more(&_tw, (cond));)          \
    {                                                                      \
    }

/* Runs loop for ms milliseconds: only where time must pass on purpose (a
 * timeout expires, nothing arrives meanwhile); mark such calls
 * "time must pass: why". To wait for the stack's own work use
 * run_until_idle(), for a peer's an event (run_until). */
void run_for(uv_loop_t *loop, unsigned ms);

/* ---- waiting for the stack's own work (idle.c) ---------------------------
 * Runs loop until nothing of the stacks on it (found by walking the loop)
 * nor of the in-memory controllers registered with test_idle_add() is left
 * to do, and stays so for a few passes: no HCI command queued or awaiting
 * its answer, no ACL data queued or not completed, nothing queued in an
 * in-memory transport, no deferred work (a timer due now, a handle
 * closing). Fails the case (the case goes on) with what was still busy if
 * timeout_ms (scaled by test_scaled_ms) passes first; returns whether the
 * loop settled. Work that waits on another process (btvirt, a real link
 * layer) cannot be known done: await its event with run_until*(). */
#define run_until_idle(loop, timeout_ms) \
  test_run_until_idle_at(__FILE__, __LINE__, (loop), (timeout_ms))
bool test_run_until_idle_at(const char *file, int line, uv_loop_t *loop,
                            unsigned timeout_ms);
/* The same without failing the case: false with what was busy in why. */
bool test_idle_wait(uv_loop_t *loop, unsigned timeout_ms, char *why,
                    size_t len);
/* What is busy on loop now (0 when idle), in words in why (may be NULL). */
unsigned test_idle_busy(uv_loop_t *loop, char *why, size_t len);

/* A source of work besides the stacks (an in-memory controller): busy
 * returns TEST_IDLE_BUSY when it has something queued to deliver or
 * complete (and writes what into why), plus TEST_IDLE_NO_COMPLETIONS when
 * it completes no ACL packet unless the test tells it to (then packets the
 * stacks have in flight are not waited for) and TEST_IDLE_NO_ANSWERS when
 * it holds a command only the test will answer (then the stacks' commands
 * are not waited for). Removed by test_idle_remove with the same arg. */
enum {
  TEST_IDLE_BUSY = 1u << 0,
  TEST_IDLE_NO_COMPLETIONS = 1u << 1,
  TEST_IDLE_NO_ANSWERS = 1u << 2,
};
typedef unsigned (*test_idle_fn)(void *arg, char *why, size_t len);
void test_idle_add(uv_loop_t *loop, test_idle_fn busy, void *arg);
void test_idle_remove(void *arg);
/* Closes every handle left on loop, runs it dry, closes it; fails the case
 * if the loop could not be closed (a leaked handle). */
void loop_teardown(uv_loop_t *loop);

#endif
