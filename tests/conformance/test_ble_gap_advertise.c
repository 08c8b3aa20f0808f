/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/ble_gap_advertise.py: advertising and
 * scanning. instance0 advertises non-connectable (100 ms), then connectable
 * (20 ms), then stops; instance1 runs one passive scan across both phases
 * and reports the advertising types seen from instance0's address and the
 * payload (which must be the same in every report).
 *
 * Timing: the original gives each phase 3 s and scans for 6 s because a
 * radio may miss packets. btvirt delivers one report when advertising
 * starts (the scanner must already be scanning), so here each phase lasts
 * until the scanner has heard it (at most ADV_TIME_MS) and the scan's
 * duration covers both phases: the same sequence, without idle waits. */
#include "conformance.h"

#define ADV_TIME_MS 1500

static const char *const EXP0[] = {
    "gap_advertise(100_000, connectable=False)",
    "gap_advertise(20_000, connectable=True)",
    "gap_advertise(None)",
    NULL,
};
static const char *const EXP1[] = {
    /* ADV_IND (0) and ADV_SCAN_IND (2): non-connectable advertising without
     * a scan response is still reported as ADV_SCAN_IND, as with NimBLE. */
    "adv_types: [0, 2]",
    "adv_data: b'\\x02\\x01\\x06\\x04\\xffMPY'",
    NULL,
};

struct scan_state {
  const uvble_addr_t *bdaddr;
  bool types[8];
  bool have_data, mismatch, finished;
  uint8_t data[UVBLE_ADV_EXT_MAX];
  size_t len;
};

static void irq1(struct inst *i, int ev, const uvble_irq_data_t *d) {
  struct scan_state *s = i->ctx;
  if (ev == UVBLE_IRQ_SCAN_RESULT) {
    const uvble_evt_scan_result_t *r = &d->scan_result;
    if (r->addr.type == s->bdaddr->type &&
        memcmp(r->addr.val, s->bdaddr->val, 6) == 0) {
      if (r->adv_type < 8) s->types[r->adv_type] = true;
      if (!s->have_data) {
        s->have_data = true;
        s->len = r->adv_data_len;
        memcpy(s->data, r->adv_data, r->adv_data_len);
      } else if (r->adv_data_len != s->len ||
                 memcmp(r->adv_data, s->data, s->len) != 0) {
        s->mismatch = true;
      }
    }
  } else if (ev == UVBLE_IRQ_SCAN_DONE) {
    s->finished = true;
  }
}

static bool finished_pred(void *arg) { return ((struct scan_state *)arg)->finished; }

struct type_wait {
  struct scan_state *s;
  int type;
};
static bool seen_type_pred(void *arg) {
  struct type_wait *w = arg;
  return w->s->types[w->type];
}

TEST(ble_gap_advertise) {
  uv_loop_init(&loop);
  struct scan_state s;
  memset(&s, 0, sizeof s);
  struct inst i0 = {.name = "instance0"};
  struct inst i1 = {.name = "instance1", .handler = irq1, .ctx = &s};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, NULL);
  s.bdaddr = &i0.addr; /* multitest.globals(BDADDR=ble.config("mac")) */

  /* instance1: ble.gap_scan(2 * ADV_TIME_MS, 30000, 30000) */
  AS(&i1) {
    REQUIRE_EQ(uvble_gap_scan(i1.ble, 2 * ADV_TIME_MS, 30000, 30000, false), 0);
    settle(&i1);
  }

  /* Each advertising phase ends when the scanner has heard it. */
  struct type_wait w = {&s, 2};
  AS(&i0) {
    out(&i0, "gap_advertise(100_000, connectable=False)");
    advertise(&i0, 100000, false);
  }
  AS(&i1) run_until_pred(&loop, seen_type_pred, &w, ADV_TIME_MS);
  AS(&i0) {
    out(&i0, "gap_advertise(20_000, connectable=True)");
    advertise(&i0, 20000, true);
  }
  AS(&i1) {
    w.type = 0;
    run_until_pred(&loop, seen_type_pred, &w, ADV_TIME_MS);
  }
  AS(&i0) {
    out(&i0, "gap_advertise(None)");
    REQUIRE_EQ(uvble_gap_advertise(i0.ble, -1, NULL, 0, NULL, 0, false), 0);
    settle(&i0);
  }

  /* while not finished: machine.idle() */
  AS(&i1) {
    REQUIRE(run_until_pred(&loop, finished_pred, &s, 3 * ADV_TIME_MS + 2000));
    char types[64] = "[";
    for (int t = 0; t < 8; t++)
      if (s.types[t])
        snprintf(types + strlen(types), sizeof types - strlen(types), "%s%d",
                 strlen(types) > 1 ? ", " : "", t);
    strcat(types, "]");
    out(&i1, "adv_types: %s", types);
    if (s.mismatch)
      out(&i1, "adv_data: b'MISMATCH'");
    else if (!s.have_data)
      out(&i1, "adv_data: None");
    else
      out(&i1, "adv_data: %s", pybytes(s.data, s.len));
    CHECK_EQ(i1.count[UVBLE_IRQ_SCAN_DONE], 1);
  }

  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
