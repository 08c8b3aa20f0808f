/* SPDX-License-Identifier: Apache-2.0 */
/* Scale: one scanner seeing 200 advertisers, 201 uvble hosts in this
 * process on one loop, each on its own controller of the in-memory radio
 * (tests/support/radio.h; btvirt serves at most 16 controllers). Every
 * advertiser's address and payload is reported, nothing is malformed or
 * lost, and the scanner then stops cleanly. A second pass scans actively:
 * each scannable advertiser's scan response follows its advertisement. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "radio.h"
#include "test.h"
#include "test_hooks.h"
#include "uvble/adv.h"
#include "uvble/gap.h"

#define NADV 200

static uv_loop_t loop;
static radio_t *radio;
static uvble_t *hosts[NADV + 1];
static int up_count, up_fail;

struct seen {
  int adv[NADV], rsp[NADV];
  int distinct, reports, bad, rsp_before_adv;
  bool done;
};
static struct seen seen;

static void on_up(uvble_t *b, int status, void *cb_arg) {
  (void)cb_arg;
  (void)b;
  up_count++;
  if (status) up_fail++;
}

/* "adv123" in the advertisement, "rsp123" in the scan response. */
static int number_in(const uint8_t *d, size_t n, const char *prefix) {
  char name[16];
  int idx = -1;
  if (uvble_adv_name_str(d, n, NULL, 0, name, sizeof name) == 6 &&
      strncmp(name, prefix, 3) == 0 && sscanf(name + 3, "%03d", &idx) == 1 &&
      idx >= 0 && idx < NADV)
    return idx;
  return -1;
}

static int scan_irq(uvble_t *b, int type, const uvble_irq_data_t *d, void *arg) {
  (void)b;
  (void)arg;
  if (type == UVBLE_IRQ_SCAN_DONE) seen.done = true;
  if (type != UVBLE_IRQ_SCAN_RESULT) return 0;
  const uvble_evt_scan_result_t *r = &d->scan_result;
  seen.reports++;
  bool rsp = r->adv_type == 4;
  int idx = number_in(r->adv_data, r->adv_data_len, rsp ? "rsp" : "adv");
  /* 00:AA:02:hh:ll:42 for host number idx + 1 (the scanner is 0). */
  if (idx < 0 || r->addr.val[3] != (uint8_t)((idx + 1) >> 8) ||
      r->addr.val[4] != (uint8_t)(idx + 1) || r->addr.val[2] != 0x02) {
    seen.bad++;
    return 0;
  }
  if (rsp) {
    if (!seen.adv[idx]) seen.rsp_before_adv++;
    seen.rsp[idx]++;
  } else {
    if (!seen.adv[idx]) seen.distinct++;
    seen.adv[idx]++;
    CHECK_EQ(r->adv_type, 2); /* scannable, not connectable: ADV_SCAN_IND */
  }
  return 0;
}

static bool all_up_pred(void *arg) {
  (void)arg;
  return up_count == NADV + 1;
}
static bool all_seen_pred(void *arg) {
  int want = *(int *)arg;
  return seen.reports >= want;
}

static int closed;
static void on_closed(uvble_t *b, void *cb_arg) {
  (void)cb_arg;
  (void)b;
  closed++;
}
static bool closed_pred(void *arg) { return closed == *(int *)arg; }

static void bring_up(void) {
  uv_loop_init(&loop);
  radio = radio_new(&loop);
  REQUIRE(radio != NULL);
  up_count = up_fail = 0;
  for (int i = 0; i <= NADV; i++) {
    uvble_transport_t *t = radio_add(radio);
    REQUIRE(t != NULL);
    REQUIRE_EQ(uvble_new_with_transport(&loop, t, &hosts[i]), 0);
    REQUIRE_EQ(uvble_active(hosts[i], true, on_up, NULL), 0);
  }
  REQUIRE(run_until_pred(&loop, all_up_pred, NULL, 30000));
  REQUIRE_EQ(up_fail, 0);
  uvble_irq(hosts[0], scan_irq, NULL);
  /* Every advertiser: flags + "advNNN", scan response "rspNNN",
   * scannable and not connectable. */
  for (int i = 1; i <= NADV; i++) {
    uint8_t adv[31], rsp[31];
    size_t alen = 0, rlen = 0;
    char name[8];
    uint8_t flags = 0x06;
    REQUIRE_EQ(uvble_adv_append(adv, sizeof adv, &alen, UVBLE_AD_FLAGS, &flags, 1), 0);
    snprintf(name, sizeof name, "adv%03d", i - 1);
    REQUIRE_EQ(uvble_adv_append(adv, sizeof adv, &alen, UVBLE_AD_NAME_COMPLETE, name, 6), 0);
    snprintf(name, sizeof name, "rsp%03d", i - 1);
    REQUIRE_EQ(uvble_adv_append(rsp, sizeof rsp, &rlen, UVBLE_AD_NAME_COMPLETE, name, 6), 0);
    REQUIRE_EQ(uvble_gap_advertise(hosts[i], 100000, adv, alen, rsp, rlen, false), 0);
  }
}

static void tear_down(void) {
  closed = 0;
  int n = NADV + 1;
  for (int i = 0; i <= NADV; i++) uvble_close(hosts[i], on_closed, NULL);
  CHECK(run_until_pred(&loop, closed_pred, &n, 10000));
  radio_free(radio);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

TEST(a_scanner_sees_200_advertisers) {
  memset(&seen, 0, sizeof seen);
  bring_up();
  /* The advertisers came up first: the scanner starts and hears each one
   * (passive: advertisements only). */
  uint64_t t0 = uv_hrtime();
  REQUIRE_EQ(uvble_gap_scan(hosts[0], 0, 0, 0, false), 0);
  int want = NADV;
  CHECK(run_until_pred(&loop, all_seen_pred, &want, 10000));
  run_until_idle(&loop, 10000);
  printf("  %d advertisers, %d reports in %.1f ms\n", seen.distinct, seen.reports,
         (double)(uv_hrtime() - t0) / 1e6);
  CHECK_EQ(seen.distinct, NADV);
  CHECK_EQ(seen.reports, NADV);
  CHECK_EQ(seen.bad, 0);
  for (int i = 0; i < NADV; i++) CHECK_EQ(seen.rsp[i], 0);
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(hosts[0], &gs);
  CHECK_EQ(gs.adv_reports, NADV);
  CHECK_EQ(gs.adv_reports_malformed, 0);
  REQUIRE_EQ(uvble_gap_scan_stop(hosts[0]), 0);
  run_until_idle(&loop, 10000);
  CHECK(seen.done);

  /* Active this time: 200 advertisements and 200 scan responses, each
   * response after its advertisement. */
  memset(&seen, 0, sizeof seen);
  REQUIRE_EQ(uvble_gap_scan(hosts[0], 0, 0, 0, true), 0);
  want = 2 * NADV;
  CHECK(run_until_pred(&loop, all_seen_pred, &want, 10000));
  run_until_idle(&loop, 10000);
  CHECK_EQ(seen.distinct, NADV);
  CHECK_EQ(seen.reports, 2 * NADV);
  CHECK_EQ(seen.rsp_before_adv, 0);
  for (int i = 0; i < NADV; i++) CHECK_EQ(seen.rsp[i], 1);
  struct radio_stats rs;
  radio_get_stats(radio, &rs);
  CHECK_EQ(rs.dropped, 0);
  tear_down();
}

TEST(advertisers_starting_while_the_scan_runs_are_each_reported) {
  memset(&seen, 0, sizeof seen);
  /* Scanner first, then the 200 advertisers start one by one. */
  uv_loop_init(&loop);
  radio = radio_new(&loop);
  up_count = up_fail = 0;
  for (int i = 0; i <= NADV; i++) {
    uvble_transport_t *t = radio_add(radio);
    REQUIRE(t != NULL);
    REQUIRE_EQ(uvble_new_with_transport(&loop, t, &hosts[i]), 0);
    REQUIRE_EQ(uvble_active(hosts[i], true, on_up, NULL), 0);
  }
  REQUIRE(run_until_pred(&loop, all_up_pred, NULL, 30000));
  REQUIRE_EQ(up_fail, 0);
  uvble_irq(hosts[0], scan_irq, NULL);
  REQUIRE_EQ(uvble_gap_scan(hosts[0], 0, 0, 0, false), 0);
  run_until_idle(&loop, 10000);
  for (int i = 1; i <= NADV; i++) {
    uint8_t adv[31];
    size_t alen = 0;
    char name[8];
    snprintf(name, sizeof name, "adv%03d", i - 1);
    REQUIRE_EQ(uvble_adv_append(adv, sizeof adv, &alen, UVBLE_AD_NAME_COMPLETE, name, 6), 0);
    REQUIRE_EQ(uvble_gap_advertise(hosts[i], 100000, adv, alen, (const uint8_t *)"", 0, false), 0);
    if (i % 20 == 0) /* some start while others are reported */
      for (int k = 0; k < 3; k++) uv_run(&loop, UV_RUN_NOWAIT);
  }
  int want = NADV;
  CHECK(run_until_pred(&loop, all_seen_pred, &want, 10000));
  CHECK_EQ(seen.distinct, NADV);
  CHECK_EQ(seen.bad, 0);
  tear_down();
}

/* ---- dense advertising never starves command completions ---- */
static radio_t *fr;
static bool flood_on;
static uint64_t flood_events;
/* LE Advertising Report, two reports: flags only; flags and 9 bytes of
 * manufacturer data. */
static const uint8_t FLOOD_EV[] = {
    0x3E, 39, 0x02, 2,
    0x00, 0x00, 1, 2, 3, 4, 5, 6, 3, 0x02, 0x01, 0x06, 0xC0,
    0x00, 0x00, 7, 8, 9, 10, 11, 12, 14, 0x02, 0x01, 0x06, 0x0A, 0xFF,
    0x59, 0x00, 1, 2, 3, 4, 5, 6, 7, 0xC8,
};

static void on_flood(uv_idle_t *h) {
  (void)h;
  while (flood_on && radio_send_raw(fr, 0, UVBLE_HCI_EVENT, FLOOD_EV, sizeof FLOOD_EV) == 0)
    flood_events++;
}

static int flood_reports;
static int count_irq(uvble_t *b, int type, const uvble_irq_data_t *d, void *arg) {
  (void)b;
  (void)d;
  (void)arg;
  if (type == UVBLE_IRQ_SCAN_RESULT) flood_reports++;
  return 0;
}

static bool cmds_idle(void *arg) {
  return (uvble_test_busy(arg, NULL, 0) &
          (UVBLE_TEST_BUSY_CMD_QUEUED | UVBLE_TEST_BUSY_CMD_INFLIGHT)) == 0;
}

TEST(commands_complete_under_a_report_flood) {
  uv_loop_init(&loop);
  fr = radio_new(&loop);
  uvble_transport_t *t = radio_add(fr);
  REQUIRE(t != NULL);
  uvble_t *b;
  REQUIRE_EQ(uvble_new_with_transport(&loop, t, &b), 0);
  up_count = up_fail = 0;
  REQUIRE_EQ(uvble_active(b, true, on_up, NULL), 0);
  while (up_count == 0) uv_run(&loop, UV_RUN_ONCE);
  REQUIRE_EQ(up_fail, 0);
  uvble_irq(b, count_irq, NULL);
  REQUIRE_EQ(uvble_gap_scan(b, 0, 0, 0, false), 0);
  run_until_idle(&loop, 10000);
  /* The controller keeps the host's inbound queue full of report events
   * (two reports each) while the host sends commands: each command's
   * completion waits behind at most one queue's worth of reports (the
   * transport is first in, first out), never for the flood to end. */
  REQUIRE_EQ(FLOOD_EV[1], sizeof FLOOD_EV - 2);
  uv_idle_t idle;
  uv_idle_init(&loop, &idle);
  flood_on = true;
  uv_idle_start(&idle, on_flood);
  uint64_t worst = 0;
  for (int k = 0; k < 10; k++) {
    uint64_t t0 = uv_hrtime();
    REQUIRE_EQ(uvble_gap_advertise(b, 100000, (uint8_t[]){2, 1, 6}, 3, NULL, 0, k & 1), 0);
    /* A command that waited for the flood to end would never complete:
     * the bound only has to outlast a loaded machine. */
    REQUIRE(run_until_pred(&loop, cmds_idle, b, 20000));
    uint64_t dt = uv_hrtime() - t0;
    if (dt > worst) worst = dt;
  }
  flood_on = false;
  uv_close((uv_handle_t *)&idle, NULL);
  run_until_idle(&loop, 10000); /* the reports still queued */
  printf("  %d reports delivered during the probe; slowest command round: %.1f ms\n",
         flood_reports, (double)worst / 1e6);
  CHECK(flood_reports > 10000);
  CHECK_EQ(b->stats.hci_cmd_timeouts, 0);
  CHECK(uvble_is_active(b));
  CHECK(uvble_gap_advertising(b));
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(b, &gs);
  CHECK_EQ(gs.adv_reports_malformed, 0);
  int closed1 = 1;
  closed = 0;
  uvble_close(b, on_closed, NULL);
  CHECK(run_until_pred(&loop, closed_pred, &closed1, 2000));
  radio_free(fr);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

TEST_MAIN()
