/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the GAP unit tests: a stack on a scripted controller (legacy,
 * or listing the extended advertising commands and feature), an irq
 * recorder, and helpers to find and read the commands the host sent. */
#ifndef UVBLE_TEST_GAP_UNIT_COMMON_H
#define UVBLE_TEST_GAP_UNIT_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "gap_internal.h"
#include "sc.h"
#include "test.h"
#include "uvble/gap.h"

static uv_loop_t loop;

#define REC_MAX 64

struct rec {
  int events[256];
  int n;
  int count[UVBLE_IRQ_MAX + 1];
  uvble_irq_data_t last[UVBLE_IRQ_MAX + 1];
  /* SCAN_RESULT copies */
  int nres;
  uvble_addr_t addr[REC_MAX];
  uint8_t adv_type[REC_MAX];
  int8_t rssi[REC_MAX];
  uint8_t data[REC_MAX][UVBLE_ADV_EXT_MAX];
  size_t len[REC_MAX];
  /* Optional action inside the handler. */
  void (*hook)(uvble_t *ble, int ev, const uvble_irq_data_t *d);
};
static struct rec rec;

static inline int rec_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d,
                          void *arg) {
  (void)arg;
  if (rec.n < 256) rec.events[rec.n++] = ev;
  if (ev >= 1 && ev <= UVBLE_IRQ_MAX) {
    rec.count[ev]++;
    rec.last[ev] = *d;
  }
  if (ev == UVBLE_IRQ_SCAN_RESULT && rec.nres < REC_MAX) {
    int i = rec.nres++;
    rec.addr[i] = d->scan_result.addr;
    rec.adv_type[i] = d->scan_result.adv_type;
    rec.rssi[i] = d->scan_result.rssi;
    rec.len[i] = d->scan_result.adv_data_len;
    /* Every byte of the borrowed buffer must be readable (ASan). */
    memcpy(rec.data[i], d->scan_result.adv_data, rec.len[i]);
  }
  if (rec.hook) rec.hook(ble, ev, d);
  return 0;
}

/* Runs the loop until the irq ev has been seen n times (or ms pass):
 * for events that come after a timer of the stack's own. */
struct rec_wait {
  int ev, n;
};
static inline bool rec_reached(void *arg) {
  const struct rec_wait *w = arg;
  return rec.count[w->ev] >= w->n;
}
static inline bool run_until_count(int ev, int n, unsigned ms) {
  struct rec_wait w = {ev, n};
  return run_until_pred(&loop, rec_reached, &w, ms);
}

/* Makes the scripted controller list what extended GAP needs. */
static inline void sc_make_extended(sc_t *sc) {
  struct sc_config *c = sc_config(sc);
  c->le_features[1] |= 0x10; /* bit 12: LE Extended Advertising */
  /* bits 1-5 the set's commands, 6 LE Read Maximum Advertising Data
   * Length (answered with sc_config's max_adv_data_len) */
  c->commands[36] |= 0x02 | 0x04 | 0x08 | 0x10 | 0x20 | 0x40;
  c->commands[37] |= 0x01 | 0x20 | 0x40 | 0x80;
}

/* Brings a stack up; extended picks the controller's command set, and
 * max_adv (when not 0) what it answers to LE Read Maximum Advertising Data
 * Length. */
static inline void up_max_adv(sc_t **sc, uvble_t **ble, bool extended,
                              uint16_t max_adv) {
  uv_loop_init(&loop);
  uvble_transport_t *host;
  *sc = sc_new(&loop, &host);
  if (extended) sc_make_extended(*sc);
  if (max_adv) sc_config(*sc)->max_adv_data_len = max_adv;
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, ble), 0);
  REQUIRE_EQ(uvble_active(*ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(*ble));
  memset(&rec, 0, sizeof rec);
  uvble_irq(*ble, rec_irq, NULL);
  sc_clear(*sc);
}

static inline void up(sc_t **sc, uvble_t **ble, bool extended) {
  up_max_adv(sc, ble, extended, 0);
}

static inline void down(sc_t *sc, uvble_t *ble) {
  sc_tear_down(&loop, sc, ble);
  loop_teardown(&loop);
}

/* The n-th command with opcode (REQUIREs that it was sent). */
static inline const struct sc_cmd_rec *cmd_n(sc_t *sc, uint16_t op, int n) {
  int i = sc_find_cmd(sc, op, n);
  if (i < 0) {
    test_fail(__FILE__, __LINE__, "command 0x%04x #%d not sent", op, n);
    test_abort_case();
  }
  return sc_cmd(sc, (size_t)i);
}

static inline int cmd_count(sc_t *sc, uint16_t op) {
  int n = 0;
  while (sc_find_cmd(sc, op, n) >= 0) n++;
  return n;
}

static inline uint16_t le16(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}

/* Sends an LE meta event with subevent and parameters. */
static inline void send_meta(sc_t *sc, uint8_t sub, const void *p, size_t n) {
  uint8_t buf[255];
  buf[0] = sub;
  memcpy(buf + 1, p, n);
  sc_send_event(sc, 0x3E, buf, 1 + n);
}

#endif
