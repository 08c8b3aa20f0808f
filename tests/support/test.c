/* SPDX-License-Identifier: Apache-2.0 */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>

#define MAX_TESTS 512

static struct {
  const char *name;
  test_fn fn;
} tests[MAX_TESTS];
static int ntests;
static int case_failed;
static jmp_buf case_jmp;
static unsigned transport_next; /* test_transport(): reset for every case */

void test_register(const char *name, test_fn fn) {
  if (ntests < MAX_TESTS) {
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
  }
}

void test_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "  %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  case_failed = 1;
}

static void (*abort_hook)(void);

void test_set_abort_hook(void (*hook)(void)) { abort_hook = hook; }

bool test_case_failed(void) { return case_failed != 0; }

void test_abort_case(void) {
  if (abort_hook) abort_hook();
  longjmp(case_jmp, 1);
}

static bool selected(int argc, char **argv, const char *name) {
  if (argc < 2) return true;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0) return true;
  return false;
}

int test_main(int argc, char **argv) {
  volatile int passed = 0, failed = 0;
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (volatile int i = 0; i < ntests; i++) {
    if (!selected(argc, argv, tests[i].name)) continue;
    case_failed = 0;
    transport_next = 0;
    printf("[ RUN  ] %s\n", tests[i].name);
    if (setjmp(case_jmp) == 0) tests[i].fn();
    if (case_failed) {
      printf("[ FAIL ] %s\n", tests[i].name);
      failed++;
    } else {
      printf("[  OK  ] %s\n", tests[i].name);
      passed++;
    }
  }
  printf("%d passed, %d failed\n", passed, failed);
  if (passed + failed == 0) {
    fprintf(stderr, "no test ran\n");
    return 1;
  }
  return failed ? 1 : 0;
}

/* UVBLE_LL_TRANSPORTS (tests/support/with-zephyr-ll) lists one transport
 * per simulated controller; a uart: PTY is one controller, so the hosts of a
 * case take them in turn, and a case with more hosts than controllers
 * fails (register it with a larger --count). Elsewhere every host opens UVBLE_TRANSPORT, where
 * btvirt makes each connection a fresh controller. */
void test_transport_release(void) { transport_next = 0; }

const char *test_transport(void) {
  static char spec[256];
  const char *list = getenv("UVBLE_LL_TRANSPORTS");
  if (!list || !*list) {
    const char *t = getenv("UVBLE_TRANSPORT");
    return t ? t : "unix:/tmp/bt-server-le";
  }
  unsigned n = 0;
  for (const char *p = list; *p;) {
    while (*p == ' ') p++;
    if (!*p) break;
    n++;
    while (*p && *p != ' ') p++;
  }
  unsigned want = transport_next++;
  if (want >= n) {
    /* A PTY is one controller: a second host on it would steal its bytes. */
    test_fail(__FILE__, __LINE__,
              "host %u of this case has no controller: UVBLE_LL_TRANSPORTS "
              "lists %u (with-zephyr-ll --count)", want + 1, n);
    return "uart:/nonexistent/more-hosts-than-simulated-controllers";
  }
  const char *p = list;
  for (unsigned i = 0;; i++) {
    while (*p == ' ') p++;
    size_t len = strcspn(p, " ");
    if (i == want || !p[len]) {
      snprintf(spec, sizeof spec, "%.*s", (int)len, p);
      return spec;
    }
    p += len;
  }
}

/* UVBLE_TEST_TIME_SCALE stretches every run_until*() limit: a real link
 * layer answers HCI in ~5 ms and runs connection events at air time, where
 * btvirt answers at once. run_for() keeps its length. */
unsigned test_scaled_ms(unsigned ms) {
  static double scale = 0;
  if (scale == 0) {
    const char *s = getenv("UVBLE_TEST_TIME_SCALE");
    scale = s ? atof(s) : 1;
    if (!(scale >= 1 && scale <= 100)) scale = 1;
  }
  return (unsigned)(ms * scale);
}

static void on_timeout(uv_timer_t *t) { *(bool *)t->data = true; }

static bool flag_pred(void *arg) { return *(const volatile bool *)arg; }

bool run_until(uv_loop_t *loop, const volatile bool *flag, unsigned timeout_ms) {
  return run_until_pred(loop, flag_pred, (void *)flag, timeout_ms);
}

bool run_until_pred(uv_loop_t *loop, bool (*pred)(void *), void *arg,
                    unsigned timeout_ms) {
  bool expired = false;
  uv_timer_t timer;
  uv_timer_init(loop, &timer);
  timer.data = &expired;
  uv_timer_start(&timer, on_timeout, test_scaled_ms(timeout_ms), 0);
  while (!pred(arg) && !expired) uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&timer, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return pred(arg);
}

void run_for(uv_loop_t *loop, unsigned ms) {
  bool expired = false;
  uv_timer_t timer;
  uv_timer_init(loop, &timer);
  timer.data = &expired;
  uv_timer_start(&timer, on_timeout, ms, 0);
  while (!expired) uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&timer, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) {
    fprintf(stderr, "  leaked libuv handle of type %s\n",
            uv_handle_type_name(uv_handle_get_type(h)));
    case_failed = 1;
    uv_close(h, NULL);
  }
}

void loop_teardown(uv_loop_t *loop) {
  uv_run(loop, UV_RUN_NOWAIT);
  uv_walk(loop, close_walk, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  if (uv_loop_close(loop) != 0) {
    fprintf(stderr, "  loop could not be closed\n");
    case_failed = 1;
  }
}
