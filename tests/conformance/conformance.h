/* SPDX-License-Identifier: Apache-2.0 */
/* Conformance harness: MicroPython's tests/multi_bluetooth scenarios as C.
 *
 * MicroPython runs each scenario as two programs (instance0, normally the
 * peripheral; instance1, the central) and compares what each prints with the
 * scenario's .exp file. Here both instances are uvble hosts on btvirt's
 * virtual controllers, in one process on one loop (or one process each:
 * below), and each one "prints" into its own line log with out(). A test drives the two instances step
 * by step the way multitest's next()/broadcast()/wait() sequence them, then
 * compares each log with the expected lines: the .exp file's section for
 * that instance, written into the test (adapted, with a comment saying why,
 * where uvble differs on purpose).
 *
 * The irq handler mirrors the scenarios' Python one: each test supplies a
 * handler that prints what the original prints and may post a value for
 * wait_for() (MicroPython's waiting_events dict: an event is recorded once
 * and popped by the wait). Payload formatting follows MicroPython's reprs:
 * bytes as b'...', UUIDs as UUID(0x180d) / UUID('...').
 *
 * Lines starting with OUTPUT_METRIC are printed, not recorded (run-multitests
 * strips them from the comparison too).
 *
 * ONE PROCESS PER INSTANCE. With UVBLE_XPROC=1 in the environment (ctest's
 * conformance.NAME.xproc), or conf_xproc_forced set, insts_up() forks one
 * child per instance (tests/support/xproc.h): each runs the same scenario
 * on its own loop with its own uvble on its own btvirt controller, and the
 * parent only relays. The scenario's steps are marked with the instance
 * they belong to: AS(&i0) { ... } runs the block in instance0's process
 * (in one process it simply runs). When the next block belongs to another
 * instance, the process that ran the last one tells the next one to go
 * ("step N", through the parent) and the next one waits for it while its
 * loop runs, so the steps keep the order they have in one process, like
 * multitest's broadcast()/wait_for(). A value one instance computed and
 * another uses crosses with SHARE(&owner, var). Outside AS blocks every
 * process runs the code, so it must not depend on which instance is local;
 * out() and expect_lines() for an instance of another process do nothing,
 * and every other helper given such an instance fails the case, naming it.
 * Addresses (config("mac")) are exchanged by insts_up().
 */
#ifndef UVBLE_TEST_CONFORMANCE_H
#define UVBLE_TEST_CONFORMANCE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "test.h"
#include "xproc.h"
#include "uvble/adv.h"
#include "uvble/gap.h"
#include "uvble/gatt.h"
#include "uvble/gattc.h"
#include "uvble/gatts.h"
#include "uvble/l2cap.h"
#include "uvble/uvble.h"

#define CONF_MAX_LINES 512
#define CONF_LINE 160
#define CONF_TIMEOUT_MS 5000 /* MicroPython's TIMEOUT_MS in most scenarios */

/* The advertising payload every scenario uses: b"\x02\x01\x06\x04\xffMPY". */
static const uint8_t MPY_ADV[] = {0x02, 0x01, 0x06, 0x04, 0xff, 'M', 'P', 'Y'};

struct inst;
typedef void (*inst_handler)(struct inst *i, int ev, const uvble_irq_data_t *d);

struct inst {
  const char *name;
  uvble_t *ble;
  bool up_done;
  int up_status;
  uvble_addr_t addr; /* config("mac") */
  inst_handler handler;
  void *ctx;
  /* waiting_events: posted[ev] with the value the handler stored. */
  bool posted[UVBLE_IRQ_MAX + 1];
  long val[UVBLE_IRQ_MAX + 1];
  bool skip_post; /* the handler "returned" early: nothing posted */
  int ret;        /* what the irq returns (READ_REQUEST, ACCEPT, secrets) */
  int count[UVBLE_IRQ_MAX + 1];
  char lines[CONF_MAX_LINES][CONF_LINE];
  int nlines;
};

static uv_loop_t loop;

/* ---- one process, or one per instance ---- */

#define CONF_STEP_TIMEOUT_MS 60000 /* a safety net: each step has its own */
#define CONF_XPROC_HUB_MS 240000

static bool conf_xproc_forced;  /* set by a test that only runs across processes */
static struct inst *conf_local; /* in a child: its instance; else NULL */
static struct inst *conf_owner; /* whose step ran last */
static int conf_step;

static inline bool conf_xproc(void) {
  const char *e = getenv("UVBLE_XPROC");
  return conf_xproc_forced || (e && strcmp(e, "0") != 0);
}

/* Whether instance i lives in this process. */
static inline bool is_local(const struct inst *i) {
  return !conf_local || conf_local == i;
}

/* A helper given an instance of another process, or used outside that
 * instance's AS() step, would act out of order: fail, naming it. */
#define need_local(i) need_local_at((i), __FILE__, __LINE__)
static inline void need_local_at(const struct inst *i, const char *file,
                                 int line) {
  if (!conf_local) return;
  if (conf_local != i || conf_owner != i) {
    test_fail(file, line, "%s used outside an AS(%s) step", i->name, i->name);
    test_abort_case();
  }
}

/* The start of a step of instance i: hand over or wait for the turn. */
static inline bool as_begin(struct inst *i) {
  if (!conf_local) return true;
  conf_step++;
  if (conf_owner && conf_owner != i) {
    char m[32];
    snprintf(m, sizeof m, "step %d", conf_step);
    if (conf_owner == conf_local) REQUIRE(xproc_broadcast(m));
    else if (i == conf_local)
      REQUIRE(xproc_wait(&loop, m, false, NULL, 0, CONF_STEP_TIMEOUT_MS));
  }
  conf_owner = i;
  return i == conf_local;
}
#define AS(i) for (int as_once_ = as_begin(i); as_once_; as_once_ = 0)

/* The owner's copy of n bytes at p reaches the other instances' copies. */
static inline void share_bytes(struct inst *owner, void *p, size_t n) {
  if (!conf_local) return;
  conf_step++;
  char m[XPROC_MSG_MAX];
  int o = snprintf(m, sizeof m, "val %d ", conf_step);
  REQUIRE(o > 0 && (size_t)o + 2 * n < sizeof m);
  if (owner == conf_local) {
    for (size_t k = 0; k < n; k++)
      o += snprintf(m + o, sizeof m - (size_t)o, "%02x", ((uint8_t *)p)[k]);
    REQUIRE(xproc_broadcast(m));
    return;
  }
  char got[XPROC_MSG_MAX];
  m[o] = '\0';
  REQUIRE(xproc_wait(&loop, m, true, got, sizeof got, CONF_STEP_TIMEOUT_MS));
  for (size_t k = 0; k < n; k++) {
    unsigned b;
    REQUIRE(sscanf(got + o + 2 * k, "%2x", &b) == 1);
    ((uint8_t *)p)[k] = (uint8_t)b;
  }
}
#define SHARE(owner, var) share_bytes((owner), &(var), sizeof(var))

static inline void conf_child_abort(void) {
  fprintf(stderr, "  %s: case aborted\n", conf_local ? conf_local->name : "?");
  fflush(NULL);
  _exit(1);
}

static inline const char *conf_transport(void) {
  return test_transport(); /* tests/support/test.c */
}

/* print(): one line in the instance's log (and on stdout, for the log). */
__attribute__((format(printf, 2, 3))) static inline void out(struct inst *i,
                                                             const char *fmt,
                                                             ...) {
  char buf[CONF_LINE];
  va_list ap;
  if (!is_local(i)) return;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  printf("  %s: %s\n", i->name, buf);
  if (i->nlines < CONF_MAX_LINES) {
    memcpy(i->lines[i->nlines], buf, sizeof buf);
    i->nlines++;
  }
}

/* multitest.output_metric(): printed, never compared. */
__attribute__((format(printf, 1, 2))) static inline void metric(const char *fmt,
                                                                ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("OUTPUT_METRIC ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

/* "_IRQ_CENTRAL_CONNECT" */
static inline const char *irq_name(int ev) {
  static char buf[64];
  snprintf(buf, sizeof buf, "_IRQ_%s", uvble_irq_name(ev));
  return buf;
}

/* Python's repr() of a bytes object. */
static inline const char *pybytes(const uint8_t *p, size_t n) {
  static char bufs[4][CONF_LINE];
  static int which;
  char *b = bufs[which++ & 3];
  size_t o = 0;
  bool has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
  char q = (has_sq && !has_dq) ? '"' : '\'';
  o += (size_t)snprintf(b + o, CONF_LINE - o, "b%c", q);
  for (size_t k = 0; k < n && o < CONF_LINE - 8; k++) {
    uint8_t c = p[k];
    if (c == q || c == '\\')
      o += (size_t)snprintf(b + o, CONF_LINE - o, "\\%c", c);
    else if (c == '\t')
      o += (size_t)snprintf(b + o, CONF_LINE - o, "\\t");
    else if (c == '\n')
      o += (size_t)snprintf(b + o, CONF_LINE - o, "\\n");
    else if (c == '\r')
      o += (size_t)snprintf(b + o, CONF_LINE - o, "\\r");
    else if (c >= 0x20 && c < 0x7f)
      b[o++] = (char)c;
    else
      o += (size_t)snprintf(b + o, CONF_LINE - o, "\\x%02x", c);
  }
  snprintf(b + o, CONF_LINE - o, "%c", q);
  return b;
}

/* MicroPython's UUID repr: UUID(0x180d) for 16-bit, UUID('...') else. */
static inline const char *pyuuid(const uvble_uuid_t *u) {
  static char bufs[4][64];
  static int which;
  char *b = bufs[which++ & 3];
  char s[UVBLE_UUID_STR_LEN];
  if (uvble_uuid_to_str(u, s, sizeof s) < 0) snprintf(s, sizeof s, "?");
  if (u->type == 16)
    snprintf(b, 64, "UUID(0x%s)", s);
  else
    snprintf(b, 64, "UUID('%s')", s);
  return b;
}

static inline uvble_uuid_t parse_uuid(const char *s) {
  uvble_uuid_t u;
  memset(&u, 0, sizeof u);
  if (uvble_uuid_parse(&u, s) != 0) abort();
  return u;
}

/* waiting_events[ev] = value (first one wins until popped). */
static inline void post_val(struct inst *i, int ev, long v) {
  if (i->posted[ev]) return;
  i->posted[ev] = true;
  i->val[ev] = v;
}

static inline int inst_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d,
                           void *arg) {
  (void)ble;
  struct inst *i = arg;
  if (ev >= 1 && ev <= UVBLE_IRQ_MAX) i->count[ev]++;
  i->skip_post = false;
  i->ret = 0;
  if (i->handler) i->handler(i, ev, d);
  if (!i->skip_post && ev >= 1 && ev <= UVBLE_IRQ_MAX) post_val(i, ev, 0);
  return i->ret;
}

struct wait_arg {
  struct inst *i;
  int ev;
};
static inline bool posted_pred(void *arg) {
  struct wait_arg *w = arg;
  return w->i->posted[w->ev];
}

/* wait_for_event(): runs the loop until ev is posted, pops it and returns
 * its value; a timeout fails the case (MicroPython raises ValueError). */
#define wait_for(i, ev, ms) wait_for_at((i), (ev), (ms), __FILE__, __LINE__)
static inline long wait_for_at(struct inst *i, int ev, unsigned ms,
                               const char *file, int line) {
  struct wait_arg w = {i, ev};
  need_local_at(i, file, line);
  if (!run_until_pred(&loop, posted_pred, &w, ms)) {
    test_fail(file, line, "%s: timeout waiting for %s", i->name, irq_name(ev));
    test_abort_case();
  }
  i->posted[ev] = false;
  return i->val[ev];
}

/* Drops whatever was posted (a fresh waiting_events for a new phase). */
static inline void clear_posted(struct inst *i) {
  memset(i->posted, 0, sizeof i->posted);
}

static inline void inst_on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  struct inst *i = uvble_get_data(ble);
  i->up_done = true;
  i->up_status = status;
}

static inline bool insts_up_pred(void *arg) {
  struct inst **l = arg;
  for (int k = 0; l[k]; k++)
    if (!l[k]->up_done) return false;
  return true;
}

/* ble = bluetooth.BLE(); [config before active]; ble.active(1); ble.irq(irq)
 * for every instance in the NULL-terminated list. pre (may be NULL) runs on
 * each before activation (MicroPython's ble.config(...) before active).
 * Across processes this is where the children are forked: the parent
 * returns from the case once they have ended (failing it if one failed);
 * each child brings up only its own instance and learns the others'
 * addresses. */
static inline void inst_up(struct inst *i, void (*pre)(struct inst *)) {
  char err[256] = "";
  int r = uvble_new(&loop, conf_transport(), &i->ble, err, sizeof err);
  if (r < 0) fprintf(stderr, "  uvble_new: %s\n", err);
  REQUIRE_EQ(r, 0);
  uvble_set_data(i->ble, i);
  uvble_irq(i->ble, inst_irq, i);
  if (pre) pre(i);
  REQUIRE_EQ(uvble_active(i->ble, true, inst_on_active, NULL), 0);
}

static inline void conf_fork(struct inst **l) {
  int n = 0;
  while (l[n]) n++;
  bool ok;
  int k = xproc_fork(n, CONF_XPROC_HUB_MS, &ok);
  if (k < 0) {
    loop_teardown(&loop);
    if (!ok) test_fail(__FILE__, __LINE__, "an instance failed (see above)");
    test_abort_case(); /* the parent's part of the case ends here */
  }
  REQUIRE_EQ(uv_loop_fork(&loop), 0);
  conf_local = l[k];
  conf_owner = NULL;
  conf_step = 0;
  test_set_abort_hook(conf_child_abort);
  xproc_child_start(&loop);
}

static inline void insts_up(struct inst **l, void (*pre)(struct inst *)) {
  struct inst *local[2] = {NULL, NULL};
  struct inst **up = l;
  if (conf_xproc()) {
    conf_fork(l);
    local[0] = conf_local;
    up = local;
  }
  for (int k = 0; up[k]; k++) inst_up(up[k], pre);
  REQUIRE(run_until_pred(&loop, insts_up_pred, up, 10000));
  for (int k = 0; up[k]; k++) {
    REQUIRE_EQ(up[k]->up_status, 0);
    REQUIRE_EQ(uvble_config_get_mac(up[k]->ble, &up[k]->addr), 0);
  }
  for (int k = 0; conf_local && l[k]; k++) SHARE(l[k], l[k]->addr);
}

static int conf_closed;
static inline void inst_closed(uvble_t *ble, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  conf_closed++;
}
static inline bool conf_closed_pred(void *arg) {
  return conf_closed == *(int *)arg;
}

/* ble.active(0) on every instance; the loop is then closed (a leaked
 * handle fails the case). */
static inline void insts_down(struct inst **l) {
  int n = 0;
  conf_closed = 0;
  /* Across processes: everyone has finished its steps before anyone
   * closes (multitest ends an instance only at the end of its program). */
  if (conf_local) CHECK(xproc_barrier(&loop, CONF_STEP_TIMEOUT_MS));
  for (int k = 0; l[k]; k++) {
    if (l[k]->ble) {
      uvble_close(l[k]->ble, inst_closed, NULL);
      n++;
    }
  }
  CHECK(run_until_pred(&loop, conf_closed_pred, &n, 5000));
  for (int k = 0; l[k]; k++) l[k]->ble = NULL;
  if (conf_local) xproc_child_stop();
  loop_teardown(&loop);
  if (conf_local) xproc_child_exit(test_case_failed());
}

/* Compares an instance's log with the expected lines (NULL-terminated):
 * prints both side by side from the first difference on. */
#define expect_lines(i, exp) expect_lines_at((i), (exp), __FILE__, __LINE__)
static inline void expect_lines_at(const struct inst *i,
                                   const char *const *exp, const char *file,
                                   int line) {
  int n = 0;
  if (!is_local(i)) return;
  while (exp[n]) n++;
  int first = -1;
  for (int k = 0; k < (n > i->nlines ? n : i->nlines); k++) {
    if (k >= n || k >= i->nlines || strcmp(exp[k], i->lines[k]) != 0) {
      first = k;
      break;
    }
  }
  if (first < 0) return;
  test_fail(file, line, "--- %s --- differs from line %d (%d expected, %d got)",
            i->name, first + 1, n, i->nlines);
  for (int k = first; k < n || k < i->nlines; k++)
    fprintf(stderr, "    %3d  expected: %-50s got: %s\n", k + 1,
            k < n ? exp[k] : "(none)", k < i->nlines ? i->lines[k] : "(none)");
}

/* MicroPython's gap_* calls block until the controller has answered
 * (NimBLE waits for each HCI command); uvble's queue the commands and
 * return. settle() runs the loop until the instance's HCI command queue is
 * empty, which is what "the call returned" means in the scenarios. */
static inline bool hci_idle_pred(void *arg) {
  const struct inst *i = arg;
  return i->ble->hci.queue.head == NULL && i->ble->hci.inflight.head == NULL;
}
static inline void settle(struct inst *i) {
  need_local(i);
  REQUIRE(run_until_pred(&loop, hci_idle_pred, i, 5000));
}

/* gap_advertise(interval, MPY_ADV, connectable=...) and wait for it. */
static inline void advertise(struct inst *i, int32_t interval_us,
                             bool connectable) {
  need_local(i);
  REQUIRE_EQ(uvble_gap_advertise(i->ble, interval_us, MPY_ADV, sizeof MPY_ADV,
                                 NULL, 0, connectable),
             0);
  settle(i);
}

/* The peripheral advertises; the central (gap_connect(*BDADDR)) connects;
 * both wait for their CONNECT (values posted by the handlers, as the
 * scenarios do with waiting_events[event] = data[0]). */
static inline int conf_gap_connect(struct inst *central, const struct inst *periph,
                                   int32_t scan_ms) {
  need_local(central);
  return uvble_gap_connect(central->ble, &periph->addr, scan_ms, 0, 0);
}

/* "gap_disconnect: True" */
static inline const char *pybool(int r) { return r == 1 ? "True" : "False"; }

/* The opening most scenarios share, as steps: the peripheral p prints
 * "gap_advertise" and advertises; the central c prints "gap_connect" and
 * connects; each waits for its CONNECT. Returns the central's handle; the
 * peripheral's goes to *pconn when given (valid in p's process). */
static inline uint16_t connect_steps(struct inst *p, struct inst *c, long *pconn) {
  long cc = 0, pc;
  AS(p) {
    out(p, "gap_advertise");
    advertise(p, 20000, true);
  }
  AS(c) {
    out(c, "gap_connect");
    REQUIRE_EQ(conf_gap_connect(c, p, 0), 0);
    cc = wait_for(c, UVBLE_IRQ_PERIPHERAL_CONNECT, CONF_TIMEOUT_MS);
  }
  AS(p) {
    pc = wait_for(p, UVBLE_IRQ_CENTRAL_CONNECT, CONF_TIMEOUT_MS);
    if (pconn) *pconn = pc;
  }
  return (uint16_t)cc;
}

/* The closing most scenarios share: the central c prints
 * "gap_disconnect: True" and disconnects; each side waits for its
 * DISCONNECT. */
static inline void disconnect_steps(struct inst *c, uint16_t conn,
                                    struct inst *p) {
  AS(c) {
    out(c, "gap_disconnect: %s", pybool(uvble_gap_disconnect(c->ble, conn)));
    wait_for(c, UVBLE_IRQ_PERIPHERAL_DISCONNECT, CONF_TIMEOUT_MS);
  }
  AS(p) wait_for(p, UVBLE_IRQ_CENTRAL_DISCONNECT, CONF_TIMEOUT_MS);
}

/* An instance handler's common part: the connect/disconnect lines every
 * scenario prints, posting conn_handle for CONNECT as the scenarios do.
 * Returns true when it handled ev. */
static inline bool print_conn_events(struct inst *i, int ev,
                                     const uvble_irq_data_t *d) {
  switch (ev) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
      out(i, "%s", irq_name(ev));
      post_val(i, ev, d->connect.conn_handle);
      return true;
    case UVBLE_IRQ_CENTRAL_DISCONNECT:
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
      out(i, "%s", irq_name(ev));
      return true;
    default:
      return false;
  }
}


/* ble.gatts_read(handle) as bytes repr. */
static inline const char *gatts_read_repr(struct inst *i, uint16_t h) {
  static uint8_t buf[UVBLE_GATTS_DEFAULT_BUFFER * 26];
  size_t len = 0;
  if (!is_local(i)) return "<instance of another process>";
  if (uvble_gatts_read(i->ble, h, buf, sizeof buf, &len) != 0) return "<error>";
  return pybytes(buf, len);
}

#endif
