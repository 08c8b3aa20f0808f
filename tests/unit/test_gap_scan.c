/* SPDX-License-Identifier: Apache-2.0 */
/* Observer against a scripted controller: the exact scan commands (legacy
 * and extended), duration and stop with SCAN_DONE, LE Advertising Report
 * and LE Extended Advertising Report parsing (multi-report events,
 * malformed reports, fragments, data status, legacy PDUs inside extended
 * reports), and the scan filters. */
#include "test_gap_common.h"

static const uint8_t ADDR1[6] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06};
static const uint8_t ADDR2[6] = {0x11, 0x12, 0x13, 0x14, 0x15, 0x16};

/* Appends one legacy report to an LE Advertising Report under
 * construction (buf[0] is Num_Reports). */
static size_t add_legacy(uint8_t *buf, size_t off, uint8_t type,
                         const uint8_t addr[6], const uint8_t *d, size_t n,
                         int8_t rssi) {
  buf[0]++;
  buf[off++] = type;
  buf[off++] = 0x00;
  memcpy(buf + off, addr, 6);
  off += 6;
  buf[off++] = (uint8_t)n;
  if (n) memcpy(buf + off, d, n);
  off += n;
  buf[off++] = (uint8_t)rssi;
  return off;
}

static size_t add_ext(uint8_t *buf, size_t off, uint16_t type,
                      const uint8_t addr[6], uint8_t sid, const uint8_t *d,
                      size_t n, int8_t rssi) {
  buf[0]++;
  uint8_t *r = buf + off;
  memset(r, 0, 24);
  r[0] = (uint8_t)type;
  r[1] = (uint8_t)(type >> 8);
  r[2] = 0x01; /* random */
  memcpy(r + 3, addr, 6);
  r[9] = 0x01;
  r[10] = 0x01;
  r[11] = sid;
  r[12] = 0x7F;
  r[13] = (uint8_t)rssi;
  r[23] = (uint8_t)n;
  if (n) memcpy(r + 24, d, n);
  return off + 24 + n;
}

static const uint8_t AD1[] = {0x02, 0x01, 0x06, 0x03, 0x03, 0x0d, 0x18};
static const uint8_t AD2[] = {0x04, 0x09, 'a', 'b', 'c'};

static void scanning_up(sc_t **sc, uvble_t **ble, bool ext, bool active) {
  up(sc, ble, ext);
  REQUIRE_EQ(uvble_gap_scan(*ble, 0, 0, 0, active), 0);
  run_until_idle(&loop, 5000);
}

TEST(legacy_scan_commands_are_exact) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, false);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 0, 0, false), 0);
  run_until_idle(&loop, 5000);
  const struct sc_cmd_rec *p = cmd_n(sc, HCI_OP_LE_SET_SCAN_PARAMS, 0);
  REQUIRE_EQ(p->len, 7);
  CHECK_EQ(p->params[0], 0x00);          /* passive */
  CHECK_EQ(le16(p->params + 1), 0x0800); /* 1.28 s */
  CHECK_EQ(le16(p->params + 3), 0x0012); /* 11.25 ms */
  CHECK_EQ(p->params[5], 0x00);
  CHECK_EQ(p->params[6], 0x00);
  const struct sc_cmd_rec *e = cmd_n(sc, HCI_OP_LE_SET_SCAN_ENABLE, 0);
  REQUIRE_EQ(e->len, 2);
  CHECK_EQ(e->params[0], 0x01);
  CHECK_EQ(e->params[1], 0x00); /* no duplicate filtering */
  CHECK(sc_find_cmd(sc, HCI_OP_LE_SET_SCAN_PARAMS, 0) <
        sc_find_cmd(sc, HCI_OP_LE_SET_SCAN_ENABLE, 0));
  CHECK_EQ(uvble_gap_scan(ble, 0, 0, 0, false), UVBLE_EALREADY);
  REQUIRE_EQ(uvble_gap_scan_stop(ble), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_SCAN_DONE], 1);
  const struct sc_cmd_rec *off = cmd_n(sc, HCI_OP_LE_SET_SCAN_ENABLE, 1);
  CHECK_EQ(off->params[0], 0x00);
  /* Active, window larger than interval (clamped), rounding, limits. */
  sc_clear(sc);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 100624, 200000, true), 0);
  run_until_idle(&loop, 5000);
  p = cmd_n(sc, HCI_OP_LE_SET_SCAN_PARAMS, 0);
  CHECK_EQ(p->params[0], 0x01);
  CHECK_EQ(le16(p->params + 1), 160);
  CHECK_EQ(le16(p->params + 3), 160);
  REQUIRE_EQ(uvble_gap_scan_stop(ble), 0);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 1000, 100, true), 0);
  REQUIRE_EQ(uvble_gap_scan_stop(ble), 0);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 20000000, 20000000, true), 0);
  run_until_idle(&loop, 5000);
  p = cmd_n(sc, HCI_OP_LE_SET_SCAN_PARAMS, 1);
  CHECK_EQ(le16(p->params + 1), 4); /* 2.5 ms minimum */
  CHECK_EQ(le16(p->params + 3), 4);
  p = cmd_n(sc, HCI_OP_LE_SET_SCAN_PARAMS, 2);
  CHECK_EQ(le16(p->params + 1), 0x4000); /* 10.24 s maximum */
  CHECK_EQ(le16(p->params + 3), 0x4000);
  down(sc, ble);
}

TEST(duration_stops_the_scan_with_scan_done) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, false);
  REQUIRE_EQ(uvble_gap_scan(ble, 100, 0, 0, false), 0);
  /* time must pass: inside the 100 ms the scan goes on */
  run_for(&loop, 40);
  CHECK_EQ(rec.count[UVBLE_IRQ_SCAN_DONE], 0);
  run_until_count(UVBLE_IRQ_SCAN_DONE, 1, 5000);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_SCAN_DONE], 1);
  CHECK_EQ(cmd_n(sc, HCI_OP_LE_SET_SCAN_ENABLE, 1)->params[0], 0x00);
  /* No report after SCAN_DONE reaches the app. */
  uint8_t ev[64] = {0};
  size_t n = add_legacy(ev, 1, 0, ADDR1, AD1, sizeof AD1, -40);
  send_meta(sc, HCI_LE_ADVERTISING_REPORT, ev, n);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.nres, 0);
  down(sc, ble);
}

TEST(stop_then_start_keeps_scan_done_in_order) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, false);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 0, 0, false), 0);
  REQUIRE_EQ(uvble_gap_scan_stop(ble), 0);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 0, 0, true), 0);
  run_until_idle(&loop, 5000);
  /* The first scan's SCAN_DONE came; the second runs. */
  CHECK_EQ(rec.count[UVBLE_IRQ_SCAN_DONE], 1);
  uint8_t ev[64] = {0};
  size_t n = add_legacy(ev, 1, 0, ADDR1, AD1, sizeof AD1, -40);
  send_meta(sc, HCI_LE_ADVERTISING_REPORT, ev, n);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.nres, 1);
  /* Stopping when nothing runs: no SCAN_DONE. */
  REQUIRE_EQ(uvble_gap_scan_stop(ble), 0);
  REQUIRE_EQ(uvble_gap_scan_stop(ble), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_SCAN_DONE], 2);
  down(sc, ble);
}

TEST(refused_scan_ends_with_scan_done_and_power_down_ends_a_scan) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, false);
  sc_fail_with(sc, HCI_OP_LE_SET_SCAN_ENABLE, 0x0C);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 0, 0, false), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_SCAN_DONE], 1);
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(ble, &gs);
  CHECK_EQ(gs.scan_errors, 1);
  /* A stop in flight when the stack powers down still owes its SCAN_DONE;
   * a running scan too. */
  sc_fail_with(sc, HCI_OP_LE_SET_SCAN_ENABLE, 0);
  sc_silence(sc, HCI_OP_LE_SET_SCAN_ENABLE);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 0, 0, false), 0);
  REQUIRE_EQ(uvble_gap_scan_stop(ble), 0);
  REQUIRE_EQ(uvble_active(ble, false, NULL, NULL), 0);
  CHECK_EQ(rec.count[UVBLE_IRQ_SCAN_DONE], 2);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_SCAN_DONE], 2);
  CHECK_EQ(uvble_gap_scan(ble, 0, 0, 0, false), UVBLE_ENOTACTIVE);
  down(sc, ble);
}

TEST(extended_scan_commands_are_exact) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, true);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 30000, 30000, true), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_SET_SCAN_PARAMS), 0);
  const struct sc_cmd_rec *p = cmd_n(sc, HCI_OP_LE_SET_EXT_SCAN_PARAMS, 0);
  static const uint8_t P[8] = {0x00, 0x00, 0x01, 0x01, 48, 0, 48, 0};
  REQUIRE_EQ(p->len, 8);
  CHECK_MEM(p->params, P, 8);
  const struct sc_cmd_rec *e = cmd_n(sc, HCI_OP_LE_SET_EXT_SCAN_ENABLE, 0);
  static const uint8_t E[6] = {1, 0, 0, 0, 0, 0};
  REQUIRE_EQ(e->len, 6);
  CHECK_MEM(e->params, E, 6);
  REQUIRE_EQ(uvble_gap_scan_stop(ble), 0);
  run_until_idle(&loop, 5000);
  static const uint8_t OFF[6] = {0, 0, 0, 0, 0, 0};
  CHECK_MEM(cmd_n(sc, HCI_OP_LE_SET_EXT_SCAN_ENABLE, 1)->params, OFF, 6);
  CHECK_EQ(rec.count[UVBLE_IRQ_SCAN_DONE], 1);
  down(sc, ble);
}

/* ---- legacy reports ---- */

TEST(multi_report_event_delivers_each_report) {
  sc_t *sc;
  uvble_t *ble;
  scanning_up(&sc, &ble, false, true);
  uint8_t ev[255] = {0};
  size_t n = 1;
  n = add_legacy(ev, n, 0, ADDR1, AD1, sizeof AD1, -40);
  n = add_legacy(ev, n, 4, ADDR1, AD2, sizeof AD2, -41);
  n = add_legacy(ev, n, 3, ADDR2, NULL, 0, 127);
  send_meta(sc, HCI_LE_ADVERTISING_REPORT, ev, n);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.nres, 3);
  CHECK_EQ(rec.adv_type[0], 0);
  CHECK_EQ(rec.rssi[0], -40);
  CHECK_EQ(rec.addr[0].type, UVBLE_ADDR_PUBLIC);
  static const uint8_t DISP1[6] = {0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
  CHECK_MEM(rec.addr[0].val, DISP1, 6);
  CHECK_EQ(rec.len[0], sizeof AD1);
  CHECK_MEM(rec.data[0], AD1, sizeof AD1);
  CHECK_EQ(rec.adv_type[1], 4);
  CHECK_MEM(rec.data[1], AD2, sizeof AD2);
  CHECK_EQ(rec.rssi[1], -41);
  CHECK_EQ(rec.adv_type[2], 3);
  CHECK_EQ(rec.len[2], 0);
  CHECK_EQ(rec.rssi[2], 127);
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(ble, &gs);
  CHECK_EQ(gs.adv_reports, 3);
  CHECK_EQ(gs.adv_reports_malformed, 0);
  down(sc, ble);
}

/* Sends ev[0..n) and returns how many results and malformed reports it
 * added. */
static void feed(sc_t *sc, uvble_t *ble, uint8_t sub, const uint8_t *ev,
                 size_t n, int *results, int *bad) {
  uvble_gap_stats_t before, after;
  uvble_gap_get_stats(ble, &before);
  int r0 = rec.nres;
  send_meta(sc, sub, ev, n);
  run_until_idle(&loop, 5000);
  uvble_gap_get_stats(ble, &after);
  *results = rec.nres - r0;
  *bad = (int)(after.adv_reports_malformed - before.adv_reports_malformed);
}

TEST(malformed_legacy_reports_are_counted_and_end_the_event) {
  sc_t *sc;
  uvble_t *ble;
  scanning_up(&sc, &ble, false, false);
  int res, bad;
  uint8_t ev[255];
  size_t n;

  /* The second report claims more data than the event holds: the first is
   * delivered, the rest dropped. */
  memset(ev, 0, sizeof ev);
  n = add_legacy(ev, 1, 0, ADDR1, AD1, sizeof AD1, -40);
  n = add_legacy(ev, n, 0, ADDR2, AD2, sizeof AD2, -40);
  ev[1 + 10 + sizeof AD1 + 8] = 30; /* its Data_Length */
  feed(sc, ble, HCI_LE_ADVERTISING_REPORT, ev, n, &res, &bad);
  CHECK_EQ(res, 1);
  CHECK_EQ(bad, 1);

  /* Data_Length over 31. */
  uint8_t big[40];
  memset(big, 0, sizeof big);
  memset(ev, 0, sizeof ev);
  n = add_legacy(ev, 1, 0, ADDR1, big, 32, -40);
  feed(sc, ble, HCI_LE_ADVERTISING_REPORT, ev, n, &res, &bad);
  CHECK_EQ(res, 0);
  CHECK_EQ(bad, 1);

  /* An event type beyond SCAN_RSP in the middle. */
  memset(ev, 0, sizeof ev);
  n = add_legacy(ev, 1, 0, ADDR1, AD1, sizeof AD1, -40);
  n = add_legacy(ev, n, 5, ADDR2, AD2, sizeof AD2, -40);
  n = add_legacy(ev, n, 0, ADDR2, AD2, sizeof AD2, -40);
  feed(sc, ble, HCI_LE_ADVERTISING_REPORT, ev, n, &res, &bad);
  CHECK_EQ(res, 1);
  CHECK_EQ(bad, 1);

  /* Num_Reports says 3, two are there. */
  memset(ev, 0, sizeof ev);
  n = add_legacy(ev, 1, 0, ADDR1, AD1, sizeof AD1, -40);
  n = add_legacy(ev, n, 0, ADDR2, AD2, sizeof AD2, -40);
  ev[0] = 3;
  feed(sc, ble, HCI_LE_ADVERTISING_REPORT, ev, n, &res, &bad);
  CHECK_EQ(res, 2);
  CHECK_EQ(bad, 1);

  /* A report cut inside its fixed fields, and one missing its RSSI. */
  memset(ev, 0, sizeof ev);
  n = add_legacy(ev, 1, 0, ADDR1, AD1, sizeof AD1, -40);
  feed(sc, ble, HCI_LE_ADVERTISING_REPORT, ev, 5, &res, &bad);
  CHECK_EQ(res, 0);
  CHECK_EQ(bad, 1);
  feed(sc, ble, HCI_LE_ADVERTISING_REPORT, ev, n - 1, &res, &bad);
  CHECK_EQ(res, 0);
  CHECK_EQ(bad, 1);

  /* Trailing bytes after the last report: it is delivered, the event
   * counted. */
  memset(ev, 0, sizeof ev);
  n = add_legacy(ev, 1, 0, ADDR1, AD1, sizeof AD1, -40);
  feed(sc, ble, HCI_LE_ADVERTISING_REPORT, ev, n + 2, &res, &bad);
  CHECK_EQ(res, 1);
  CHECK_EQ(bad, 1);

  /* No reports, and an empty event. */
  uint8_t zero = 0;
  feed(sc, ble, HCI_LE_ADVERTISING_REPORT, &zero, 1, &res, &bad);
  CHECK_EQ(bad, 1);
  feed(sc, ble, HCI_LE_ADVERTISING_REPORT, &zero, 0, &res, &bad);
  CHECK_EQ(bad, 1);
  down(sc, ble);
}

/* ---- filters ---- */

TEST(prefix_and_rssi_filters_apply_before_the_handler) {
  sc_t *sc;
  uvble_t *ble;
  scanning_up(&sc, &ble, false, false);
  static const uint8_t SVC[] = {0x03, 0x0d, 0x18}; /* 16-bit list, 0x180d */
  static const uint8_t NAME[] = {0x09, 'a'};
  uvble_gap_prefix_t pf[2] = {{SVC, sizeof SVC}, {NAME, sizeof NAME}};
  REQUIRE_EQ(uvble_gap_scan_filter(ble, pf, 2, -60), 0);
  uint8_t ev[255] = {0};
  size_t n = 1;
  n = add_legacy(ev, n, 0, ADDR1, AD1, sizeof AD1, -40); /* service: yes */
  n = add_legacy(ev, n, 4, ADDR1, AD2, sizeof AD2, -50); /* name "abc": yes */
  n = add_legacy(ev, n, 0, ADDR2, AD1, sizeof AD1, -70); /* too weak */
  static const uint8_t OTHER[] = {0x02, 0x01, 0x06};
  n = add_legacy(ev, n, 0, ADDR2, OTHER, sizeof OTHER, -10); /* no match */
  /* A structure overrunning the payload is not matched (or read). */
  static const uint8_t TRUNC[] = {0x05, 0x03, 0x0d, 0x18};
  n = add_legacy(ev, n, 0, ADDR2, TRUNC, sizeof TRUNC, -10);
  send_meta(sc, HCI_LE_ADVERTISING_REPORT, ev, n);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.nres, 2);
  CHECK_EQ(rec.adv_type[0], 0);
  CHECK_EQ(rec.adv_type[1], 4);
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(ble, &gs);
  CHECK_EQ(gs.adv_reports_filtered, 3);
  /* Cleared: everything passes. */
  REQUIRE_EQ(uvble_gap_scan_filter(ble, NULL, 0, UVBLE_GAP_RSSI_ANY), 0);
  send_meta(sc, HCI_LE_ADVERTISING_REPORT, ev, n);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.nres, 7);
  /* Bad filters. */
  uvble_gap_prefix_t empty = {SVC, 0};
  CHECK_EQ(uvble_gap_scan_filter(ble, &empty, 1, 0), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_scan_filter(ble, NULL, 1, 0), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_scan_filter(ble, NULL, 0, 128), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_scan_filter(ble, NULL, 0, -129), UVBLE_EINVAL);
  uvble_gap_prefix_t many[UVBLE_GAP_MAX_PREFIXES + 1];
  for (size_t i = 0; i < UVBLE_GAP_MAX_PREFIXES + 1; i++) many[i] = pf[0];
  CHECK_EQ(uvble_gap_scan_filter(ble, many, UVBLE_GAP_MAX_PREFIXES + 1, 0),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_scan_filter(ble, many, UVBLE_GAP_MAX_PREFIXES, 0), 0);
  down(sc, ble);
}

TEST(prefix_matching_walks_structures_strictly) {
  static const uint8_t P[] = {2, 0xff, 0x4c}; /* [len][bytes] */
  static const uint8_t D1[] = {0x02, 0x01, 0x06, 0x03, 0xff, 0x4c, 0x00};
  CHECK(gap_scan_prefix_match(P, sizeof P, D1, sizeof D1));
  /* Zero length ends the payload: nothing after it is looked at. */
  static const uint8_t D2[] = {0x00, 0x03, 0xff, 0x4c, 0x00};
  CHECK(!gap_scan_prefix_match(P, sizeof P, D2, sizeof D2));
  /* Shorter structure than the prefix. */
  static const uint8_t D3[] = {0x01, 0xff};
  CHECK(!gap_scan_prefix_match(P, sizeof P, D3, sizeof D3));
  /* Overrun. */
  static const uint8_t D4[] = {0x05, 0xff, 0x4c};
  CHECK(!gap_scan_prefix_match(P, sizeof P, D4, sizeof D4));
  CHECK(!gap_scan_prefix_match(P, sizeof P, NULL, 0));
}

/* ---- extended reports ---- */

TEST(extended_reports_map_event_types_to_micropython_adv_types) {
  sc_t *sc;
  uvble_t *ble;
  scanning_up(&sc, &ble, true, true);
  static const struct {
    uint16_t type;
    int adv_type;
  } T[] = {
      {0x13, 0}, {0x15, 1}, {0x12, 2}, {0x10, 3}, {0x1B, 4}, {0x1A, 4},
      {0x01, 0}, {0x05, 1}, {0x02, 2}, {0x00, 3}, {0x0A, 4}, {0x04, 3},
  };
  for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
    uint8_t ev[255] = {0};
    size_t n = add_ext(ev, 1, T[i].type, ADDR1, 0, AD1, sizeof AD1, -33);
    send_meta(sc, HCI_LE_EXT_ADV_REPORT, ev, n);
  }
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.nres, (int)(sizeof T / sizeof T[0]));
  for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
    CHECK_EQ(rec.adv_type[i], T[i].adv_type);
    CHECK_EQ(rec.rssi[i], -33);
    CHECK_EQ(rec.addr[i].type, UVBLE_ADDR_RANDOM);
    CHECK_EQ(rec.len[i], sizeof AD1);
  }
  /* Two reports in one event. */
  uint8_t ev[255] = {0};
  size_t n = add_ext(ev, 1, 0x13, ADDR1, 0, AD1, sizeof AD1, -1);
  n = add_ext(ev, n, 0x1B, ADDR1, 0, AD2, sizeof AD2, -2);
  send_meta(sc, HCI_LE_EXT_ADV_REPORT, ev, n);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.nres, 14);
  CHECK_MEM(rec.data[13], AD2, sizeof AD2);
  down(sc, ble);
}

TEST(extended_fragments_are_reassembled) {
  sc_t *sc;
  uvble_t *ble;
  scanning_up(&sc, &ble, true, false);
  static uint8_t big[500];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
  /* 500 bytes in three events: more (0x20), more, complete. */
  size_t cuts[4] = {0, 200, 400, 500};
  for (int i = 0; i < 3; i++) {
    uint8_t ev[255] = {0};
    uint16_t status = i < 2 ? 0x20 : 0x00;
    size_t n = add_ext(ev, 1, 0x01 | status, ADDR1, 3, big + cuts[i],
                       cuts[i + 1] - cuts[i], -50);
    send_meta(sc, HCI_LE_EXT_ADV_REPORT, ev, n);
    run_until_idle(&loop, 5000);
    CHECK_EQ(rec.nres, i < 2 ? 0 : 1);
  }
  REQUIRE_EQ(rec.nres, 1);
  CHECK_EQ(rec.len[0], sizeof big);
  CHECK_MEM(rec.data[0], big, sizeof big);
  CHECK_EQ(rec.adv_type[0], 0);

  /* Truncated: what arrived is delivered and counted. */
  uint8_t ev[255] = {0};
  size_t n = add_ext(ev, 1, 0x00 | 0x20, ADDR1, 3, big, 100, -50);
  send_meta(sc, HCI_LE_EXT_ADV_REPORT, ev, n);
  memset(ev, 0, sizeof ev);
  n = add_ext(ev, 1, 0x00 | 0x40, ADDR1, 3, big + 100, 50, -50);
  send_meta(sc, HCI_LE_EXT_ADV_REPORT, ev, n);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.nres, 2);
  CHECK_EQ(rec.len[1], 150);
  CHECK_EQ(rec.adv_type[1], 3);
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(ble, &gs);
  CHECK_EQ(gs.adv_reports_truncated, 1);

  /* Another advertiser's fragment interleaves: the older chain is
   * abandoned, the newer one completes. */
  memset(ev, 0, sizeof ev);
  n = add_ext(ev, 1, 0x20, ADDR1, 3, big, 100, -50);
  n = add_ext(ev, n, 0x20, ADDR2, 3, big, 50, -50);
  send_meta(sc, HCI_LE_EXT_ADV_REPORT, ev, n);
  memset(ev, 0, sizeof ev);
  n = add_ext(ev, 1, 0x00, ADDR2, 3, big + 50, 10, -50);
  send_meta(sc, HCI_LE_EXT_ADV_REPORT, ev, n);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.nres, 3);
  CHECK_EQ(rec.len[2], 60);
  uvble_gap_get_stats(ble, &gs);
  CHECK_EQ(gs.adv_fragments_dropped, 1);

  /* A chain that would exceed 1650 bytes is abandoned. */
  for (int i = 0; i < 7; i++) {
    memset(ev, 0, sizeof ev);
    n = add_ext(ev, 1, 0x20, ADDR1, 4, big, 229, -50);
    send_meta(sc, HCI_LE_EXT_ADV_REPORT, ev, n);
  }
  memset(ev, 0, sizeof ev);
  n = add_ext(ev, 1, 0x20, ADDR1, 4, big, 229, -50);
  send_meta(sc, HCI_LE_EXT_ADV_REPORT, ev, n);
  memset(ev, 0, sizeof ev);
  n = add_ext(ev, 1, 0x00, ADDR1, 4, big, 10, -50);
  send_meta(sc, HCI_LE_EXT_ADV_REPORT, ev, n);
  run_until_idle(&loop, 5000);
  uvble_gap_get_stats(ble, &gs);
  CHECK_EQ(gs.adv_fragments_dropped, 2);
  /* The final fragment after the drop stands alone. */
  CHECK_EQ(rec.nres, 4);
  CHECK_EQ(rec.len[3], 10);
  down(sc, ble);
}

TEST(malformed_extended_reports_are_counted_and_end_the_event) {
  sc_t *sc;
  uvble_t *ble;
  scanning_up(&sc, &ble, true, false);
  int res, bad;
  uint8_t ev[255];
  size_t n;
  /* Data_Length past the end, second report. */
  memset(ev, 0, sizeof ev);
  n = add_ext(ev, 1, 0x13, ADDR1, 0, AD1, sizeof AD1, -1);
  n = add_ext(ev, n, 0x13, ADDR2, 0, AD2, sizeof AD2, -1);
  feed(sc, ble, HCI_LE_EXT_ADV_REPORT, ev, n - 1, &res, &bad);
  CHECK_EQ(res, 1);
  CHECK_EQ(bad, 1);
  /* A legacy PDU with more than 31 bytes, or with a data status. */
  uint8_t big[40] = {0};
  memset(ev, 0, sizeof ev);
  n = add_ext(ev, 1, 0x13, ADDR1, 0, big, 32, -1);
  feed(sc, ble, HCI_LE_EXT_ADV_REPORT, ev, n, &res, &bad);
  CHECK_EQ(res, 0);
  CHECK_EQ(bad, 1);
  memset(ev, 0, sizeof ev);
  n = add_ext(ev, 1, 0x13 | 0x20, ADDR1, 0, AD1, sizeof AD1, -1);
  feed(sc, ble, HCI_LE_EXT_ADV_REPORT, ev, n, &res, &bad);
  CHECK_EQ(bad, 1);
  /* Legacy bit with a combination no legacy PDU has. */
  memset(ev, 0, sizeof ev);
  n = add_ext(ev, 1, 0x11, ADDR1, 0, AD1, sizeof AD1, -1);
  feed(sc, ble, HCI_LE_EXT_ADV_REPORT, ev, n, &res, &bad);
  CHECK_EQ(res, 0);
  CHECK_EQ(bad, 1);
  /* Reserved data status 0b11. */
  memset(ev, 0, sizeof ev);
  n = add_ext(ev, 1, 0x01 | 0x60, ADDR1, 0, AD1, sizeof AD1, -1);
  feed(sc, ble, HCI_LE_EXT_ADV_REPORT, ev, n, &res, &bad);
  CHECK_EQ(bad, 1);
  /* Header cut short; Num_Reports 0 and over 10. */
  feed(sc, ble, HCI_LE_EXT_ADV_REPORT, ev, 20, &res, &bad);
  CHECK_EQ(bad, 1);
  ev[0] = 0;
  feed(sc, ble, HCI_LE_EXT_ADV_REPORT, ev, 1, &res, &bad);
  CHECK_EQ(bad, 1);
  ev[0] = 11;
  feed(sc, ble, HCI_LE_EXT_ADV_REPORT, ev, 200, &res, &bad);
  CHECK_EQ(bad, 1);
  CHECK_EQ(rec.nres, 1);
  down(sc, ble);
}

static void stop_on_first(uvble_t *ble, int ev, const uvble_irq_data_t *d) {
  (void)d;
  if (ev == UVBLE_IRQ_SCAN_RESULT && rec.nres == 1) uvble_gap_scan_stop(ble);
}

static void close_on_first(uvble_t *ble, int ev, const uvble_irq_data_t *d) {
  (void)d;
  if (ev == UVBLE_IRQ_SCAN_RESULT && rec.nres == 1) uvble_close(ble, NULL, NULL);
}

TEST(handler_may_stop_the_scan_or_close_the_stack_mid_event) {
  sc_t *sc;
  uvble_t *ble;
  scanning_up(&sc, &ble, false, false);
  rec.hook = stop_on_first;
  uint8_t ev[255] = {0};
  size_t n = 1;
  for (int i = 0; i < 3; i++)
    n = add_legacy(ev, n, 0, ADDR1, AD1, sizeof AD1, -40);
  send_meta(sc, HCI_LE_ADVERTISING_REPORT, ev, n);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.nres, 1);
  CHECK_EQ(rec.count[UVBLE_IRQ_SCAN_DONE], 1);
  /* Closing from the handler: the rest of the event is not touched. */
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 0, 0, false), 0);
  run_until_idle(&loop, 5000);
  rec.nres = 0;
  rec.hook = close_on_first;
  send_meta(sc, HCI_LE_ADVERTISING_REPORT, ev, n);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.nres, 1);
  sc_free(sc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

TEST_MAIN()
