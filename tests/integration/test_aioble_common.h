/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the aioble scenario tests: MicroPython's aioble multitests
 * (micropython-lib, aioble/multitests) rewritten as C tasks on the async
 * layer. Each "instance" is a uvble stack on its own btvirt controller with
 * an async context and one task; like the multitest runner, each instance
 * prints lines to its own log, and the test compares the logs with the
 * .exp files' text (adapted where uvble deliberately differs, as noted). */
#ifndef UVBLE_TEST_AIOBLE_COMMON_H
#define UVBLE_TEST_AIOBLE_COMMON_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "uvble/async.h"
#include "uvble/co.h"
#include "uvble/gap.h"

#define TIMEOUT_MS 5000

static uv_loop_t loop;

struct inst {
  uvble_t *ble;
  uvble_async_t *a;
  uvble_sched_t *s;
  uvble_addr_t mac;
  char log[16384];
  size_t loglen;
  bool closed;
};

static inline const char *transport(void) {
  return test_transport(); /* tests/support/test.c */
}

static inline void out(struct inst *in, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void out(struct inst *in, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(in->log + in->loglen, sizeof in->log - in->loglen, fmt, ap);
  va_end(ap);
  if (n > 0) in->loglen += (size_t)n;
  if (in->loglen < sizeof in->log - 1) in->log[in->loglen++] = '\n';
  in->log[in->loglen] = 0;
}

/* Python's repr of bytes: b'periph0', with \xNN for the rest. */
static inline const char *pybytes(const uint8_t *d, size_t n) {
  static char bufs[4][2048];
  static int k;
  char *b = bufs[k++ % 4];
  size_t o = 0;
  o += (size_t)snprintf(b + o, sizeof bufs[0] - o, "b'");
  for (size_t i = 0; i < n && o < sizeof bufs[0] - 8; i++) {
    if (d[i] >= 0x20 && d[i] < 0x7f && d[i] != '\'' && d[i] != '\\')
      b[o++] = (char)d[i];
    else
      o += (size_t)snprintf(b + o, sizeof bufs[0] - o, "\\x%02x", d[i]);
  }
  snprintf(b + o, sizeof bufs[0] - o, "'");
  return b;
}

/* MicroPython's repr of a UUID: UUID(0x180d) or UUID('a5a5...'). */
static inline const char *pyuuid(const uvble_uuid_t *u) {
  static char bufs[4][64];
  static int k;
  char *b = bufs[k++ % 4];
  char s[UVBLE_UUID_STR_LEN];
  uvble_uuid_to_str(u, s, sizeof s);
  if (u->type == 128)
    snprintf(b, 64, "UUID('%s')", s);
  else
    snprintf(b, 64, "UUID(0x%s)", s);
  return b;
}

static inline uvble_uuid_t uuid(const char *text) {
  uvble_uuid_t u;
  if (uvble_uuid_parse(&u, text) < 0) memset(&u, 0, sizeof u);
  return u;
}

static inline bool fut_done(void *f) { return uvble_future_done(f); }

/* Brings an instance up: a stack on a fresh btvirt controller, powered
 * through the async layer (aioble's ensure_active). */
static inline void inst_up(struct inst *in) {
  memset(in, 0, sizeof *in);
  char err[256] = "";
  int r = uvble_new(&loop, transport(), &in->ble, err, sizeof err);
  if (r < 0) fprintf(stderr, "  uvble_new: %s\n", err);
  REQUIRE_EQ(r, 0);
  REQUIRE_EQ(uvble_async_new(in->ble, NULL, NULL, &in->a), 0);
  in->s = uvble_async_sched(in->a);
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_async_start(&f, in->a, 10000), 0);
  REQUIRE(run_until_pred(&loop, fut_done, &f, 12000));
  REQUIRE_EQ(f.status, 0);
  REQUIRE_EQ(uvble_config_get_mac(in->ble, &in->mac), 0);
}

static inline void on_inst_closed(uvble_async_t *a, void *arg) {
  (void)a;
  ((struct inst *)arg)->closed = true;
}

static inline bool inst_closed(void *arg) {
  return ((struct inst *)arg)->closed;
}

static inline void inst_down(struct inst *in) {
  uvble_async_close(in->a, on_inst_closed, in);
  REQUIRE(run_until_pred(&loop, inst_closed, in, 5000));
}

/* multitest.next(): a one-shot signal between the instances' tasks. */
struct barrier {
  uvble_future_t f;
  bool set;
};

static inline void barrier_init(struct barrier *b, uvble_sched_t *s) {
  memset(b, 0, sizeof *b);
  uvble_future_start(&b->f, s, 0);
}

static inline void barrier_set(struct barrier *b) {
  b->set = true;
  uvble_future_set(&b->f, 0);
}

static inline bool tasks_finished(void *arg) {
  uvble_task_t **t = arg;
  for (; *t; t++)
    if (uvble_task_running(*t)) return false;
  return true;
}

/* Awaits, and on failure logs it and ends the task with the status. */
#define AWAIT_LOGGED(t, in, fexpr)                                            \
  do {                                                                        \
    UVBLE_AWAIT(t, fexpr);                                                    \
    if (uvble_task_last_status_(t)) {                                         \
      out(in, "error %s at line %d",                                          \
          uvble_err_name(uvble_task_last_status_(t)), __LINE__);              \
      UVBLE_CO_RETURN(t, uvble_task_last_status_(t));                         \
    }                                                                         \
  } while (0)

static const char *const SERVICE_UUID __attribute__((unused)) = "a5a5a5a5-ffff-9999-1111-5a5a5a5a5a5a";
static const uint8_t MPY_ADV[] __attribute__((unused)) = {0x02, 0x01, 0x06, 0x04, 0xff, 'M', 'P', 'Y'};

/* aioble.advertise(20_000, adv_data=b"\x02\x01\x06\x04\xffMPY",
 * timeout_ms=TIMEOUT_MS), then tells the central (b, may be NULL). */
static inline uvble_future_t *start_advertise(struct inst *in, uvble_future_t *f,
                                              struct barrier *b) {
  uvble_advertise_params_t ap;
  uvble_advertise_params_init(&ap);
  ap.interval_us = 20000;
  ap.adv_data = MPY_ADV;
  ap.adv_len = sizeof MPY_ADV;
  uvble_advertise(f, in->a, &ap, TIMEOUT_MS);
  if (b) barrier_set(b);
  return f;
}

/* aioble.Device(*BDADDR).connect(timeout_ms=TIMEOUT_MS). */
static inline uvble_future_t *start_connect(struct inst *in, uvble_future_t *f,
                                            const struct inst *peer) {
  uvble_device_t dev;
  uvble_device_init(&dev, peer->mac.type, peer->mac.val);
  uvble_device_connect(f, in->a, &dev, NULL, TIMEOUT_MS);
  return f;
}

/* Connects, retrying while the peer's advertising is not on yet: btvirt
 * fails a connect to a silent address at once (0x3E), and on a loaded
 * machine the peripheral's HCI commands may lag behind the central. */
#define AWAIT_CONNECT(t, in, f, peer, tries)                                  \
  do {                                                                        \
    for ((tries) = 0; (tries) < 30; (tries)++) {                              \
      UVBLE_AWAIT(t, start_connect(in, f, peer));                             \
      if (!uvble_connect_retryable(f)) break;                                 \
      UVBLE_AWAIT_AT(t, (uvble_sleep(f, (in)->s, 100), f), __LINE__ * 4 + 1);  \
    }                                                                         \
    if ((f)->status) {                                                        \
      out(in, "error %s connecting %d", uvble_err_name((f)->status), (f)->proto_status); \
      UVBLE_CO_RETURN(t, (f)->status);                                        \
    }                                                                         \
  } while (0)

static inline uvble_future_t *start_service(uvble_future_t *f,
                                            uvble_connection_t *c,
                                            const char *text) {
  uvble_uuid_t u = uuid(text);
  uvble_connection_service(f, c, &u, TIMEOUT_MS);
  return f;
}

static inline uvble_future_t *start_char(uvble_future_t *f,
                                         uvble_client_service_t *s,
                                         const char *text) {
  uvble_uuid_t u = uuid(text);
  uvble_client_service_characteristic(f, s, &u, TIMEOUT_MS);
  return f;
}

/* Runs the loop until every task of the NULL-terminated list finished. */
static inline bool run_tasks(uvble_task_t **tasks, unsigned timeout_ms) {
  return run_until_pred(&loop, tasks_finished, tasks, timeout_ms);
}

#endif
