/* SPDX-License-Identifier: Apache-2.0 */
/* Hostile-input regressions from the controller side and the air: HCI
 * events whose length disagrees with their parameters (header against
 * packet, and parameters shorter or longer than the event needs), and
 * advertising data with zero-length or overrunning AD structures. A host
 * must not trust either (a buggy or compromised controller, a hostile
 * advertiser): each event is dropped and counted without changing any
 * state, each report's payload reaches the app unchanged but the AD parser
 * and the scan filters never read past a structure's end, and the stack
 * keeps working (a served Read Request, commands still completing). */
#include "hostile_common.h"
#include "uvble/adv.h"

static void ev(uint8_t code, const void *params, size_t len) {
  sc_send_event(sc, code, params, len);
  run_until_idle(&loop, 5000);
}

/* Commands still complete: advertising starts with no timeout. */
static void commands_work(void) {
  uvble_stats_t s0 = stats();
  uint8_t adv[3] = {0x02, 0x01, 0x06};
  REQUIRE_EQ(uvble_gap_advertise(ble, 100000, adv, 3, NULL, 0, false), 0);
  run_until_idle(&loop, 5000);
  uvble_stats_t s1 = stats();
  CHECK(s1.hci_cmds_sent > s0.hci_cmds_sent);
  CHECK_EQ(s1.hci_cmd_timeouts, 0);
  CHECK_EQ(uvble_gap_advertise(ble, -1, NULL, 0, NULL, 0, false), 0);
  run_until_idle(&loop, 5000);
}

TEST(event_header_length_disagreeing_with_the_packet) {
  bring(1);
  uvble_stats_t s0 = stats();
  /* Every transport frames events by their header (the H4 deframer reads
   * exactly the parameter length the header gives; the in-memory pair
   * refuses to carry a packet that disagrees with its header), so a
   * disagreeing packet can only come from a transport bug. The event
   * parser checks anyway: fed directly, each is dropped and counted.
   * Disconnection Complete for our link, header says 4 but 3 follow; then
   * header says 4 and 6 follow. Neither may drop the link. */
  hci_on_event(ble, (uint8_t[]){0x05, 4, 0, 0x40, 0x00}, 5);
  hci_on_event(ble, (uint8_t[]){0x05, 4, 0, 0x40, 0x00, 0x13, 1, 2}, 8);
  /* A header alone, and an event with a length byte of 255 and no body. */
  hci_on_event(ble, (uint8_t[]){0x0E}, 1);
  hci_on_event(ble, (uint8_t[]){0x3E, 255}, 2);
  run_until_idle(&loop, 5000);
  CHECK_EQ(stats().hci_events_malformed, s0.hci_events_malformed + 4);
  CHECK_EQ(count_ev(UVBLE_IRQ_CENTRAL_DISCONNECT), 0);
  alive();
  commands_work();
  finish();
}

TEST(events_whose_parameters_are_too_short_or_long) {
  bring(1);
  struct {
    uint8_t code;
    uint8_t p[40];
    size_t len;
  } cases[] = {
      {0x0E, {1, 0x03}, 2},                     /* Command Complete, no opcode */
      {0x0F, {0, 1, 0x03}, 3},                  /* Command Status, short */
      {0x13, {3, 0x40, 0, 1, 0}, 5},            /* NOCP: 3 handles, data for 1 */
      {0x13, {1, 0x40, 0, 1, 0, 9}, 6},         /* NOCP: a byte too many */
      {0x05, {0, 0x40, 0}, 3},                  /* Disconnection Complete, short */
      {0x05, {0, 0x40, 0, 0x13, 0}, 5},         /* ... long */
      {0x3E, {0}, 0},                           /* LE Meta, no subevent */
      {0x3E, {0x01, 0, 0x41, 0, 0, 0}, 6},      /* LE Connection Complete, short */
      {0x3E, {0x03, 0, 0x40, 0, 24}, 5},        /* Connection Update Complete, short */
      {0x3E, {0x0A, 0, 0x42, 0}, 4},            /* Enhanced Connection Complete, short */
      {0x08, {0, 0x40, 0}, 3},                  /* Encryption Change, short */
      {0x3E, {0x05, 0x40, 0, 1}, 4},            /* LTK Request, short */
  };
  int nev0 = nev;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    uvble_stats_t s0 = stats();
    ev(cases[k].code, cases[k].p, cases[k].len);
    if (stats().hci_events_malformed != s0.hci_events_malformed + 1)
      test_fail(__FILE__, __LINE__, "case %zu (event 0x%02x, %zu bytes) not counted",
                k, cases[k].code, cases[k].len);
  }
  /* Nothing changed: the one link is still there, no new one appeared, no
   * buffer was credited, nothing was encrypted. */
  CHECK_EQ(ble->conns.table.len, 1);
  CHECK(conn_find(ble, 0x41) == NULL);
  CHECK(conn_find(ble, 0x42) == NULL);
  CHECK_EQ(ble->hci.acl_free, ble->hci.acl_total);
  CHECK(!conn_find(ble, H)->encrypted);
  CHECK_EQ(nev, nev0); /* and the app heard of none of them */
  alive();
  commands_work();
  finish();
}

/* One legacy advertising report event with one report. */
static void report(const uint8_t *data, size_t data_len, size_t claimed) {
  uint8_t p[64];
  size_t n = 0;
  p[n++] = 0x02; /* LE Advertising Report */
  p[n++] = 1;
  p[n++] = 0x00; /* ADV_IND */
  p[n++] = 0x00;
  memcpy(p + n, "\x01\x02\x03\x04\x05\x06", 6);
  n += 6;
  p[n++] = (uint8_t)claimed;
  memcpy(p + n, data, data_len);
  n += data_len;
  p[n++] = 0xC4; /* -60 dBm */
  ev(0x3E, p, n);
}

static const uvble_irq_data_t *last_scan(void) {
  return last_ev(UVBLE_IRQ_SCAN_RESULT);
}

TEST(advertising_data_with_malformed_ad_structures) {
  bring(1);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 0, 0, false), 0);
  run_until_idle(&loop, 5000);
  uvble_gap_stats_t g0;
  uvble_gap_get_stats(ble, &g0);

  /* A zero length first: the significant part is empty, the rest padding
   * (Core Spec Supplement, Part A, 1; Vol 3, Part C, 11). */
  static const uint8_t zero_first[] = {0x00, 0x02, 0x01, 0x06};
  report(zero_first, sizeof zero_first, sizeof zero_first);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_SCAN_RESULT), 1);
  CHECK_EQ(last_scan()->scan_result.adv_data_len, sizeof zero_first);
  CHECK_EQ(uvble_adv_validate(zero_first, sizeof zero_first), 0);
  uint8_t flags;
  CHECK_EQ(uvble_adv_flags(zero_first, sizeof zero_first, NULL, 0, &flags), UVBLE_ENOENT);

  /* A structure claiming 5 bytes with 3 left: never handed out. */
  static const uint8_t overrun[] = {0x02, 0x01, 0x06, 0x05, 0x09, 'a', 'b'};
  report(overrun, sizeof overrun, sizeof overrun);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_SCAN_RESULT), 2);
  CHECK_EQ(uvble_adv_validate(overrun, sizeof overrun), UVBLE_EPROTO);
  CHECK_EQ(uvble_adv_flags(overrun, sizeof overrun, NULL, 0, &flags), 0);
  CHECK_EQ(flags, 0x06);
  const uint8_t *name;
  size_t name_len;
  CHECK_EQ(uvble_adv_name(overrun, sizeof overrun, NULL, 0, &name, &name_len, NULL),
           UVBLE_ENOENT);
  uvble_adv_iter_t it;
  uvble_adv_iter_init(&it, overrun, sizeof overrun, NULL, 0);
  CHECK_EQ(uvble_adv_iter_next(&it, NULL, NULL, NULL), 1);
  CHECK_EQ(uvble_adv_iter_next(&it, NULL, NULL, NULL), UVBLE_EPROTO);
  CHECK(it.truncated);

  /* The last structure overrunning a full 31-byte payload by one. */
  uint8_t full[31];
  memset(full, 0xAB, sizeof full);
  full[0] = 0x1D; /* 29 bytes of manufacturer data + type = 30: fits */
  full[1] = 0xFF;
  full[30] = 0x01; /* a structure of 1 at the very end: needs one more */
  report(full, 31, 31);
  CHECK_EQ(count_ev(UVBLE_IRQ_SCAN_RESULT), 3);
  CHECK_EQ(uvble_adv_validate(full, 31), UVBLE_EPROTO);

  /* A prefix filter never matches inside a broken structure: the name
   * "ab" is not there to match, so the report is filtered and counted. */
  uvble_gap_prefix_t prefix = {(const uint8_t *)"\x09" "ab", 3};
  REQUIRE_EQ(uvble_gap_scan_filter(ble, &prefix, 1, UVBLE_GAP_RSSI_ANY), 0);
  report(overrun, sizeof overrun, sizeof overrun);
  CHECK_EQ(count_ev(UVBLE_IRQ_SCAN_RESULT), 3);
  uvble_gap_stats_t g1;
  uvble_gap_get_stats(ble, &g1);
  CHECK_EQ(g1.adv_reports_filtered, g0.adv_reports_filtered + 1);
  REQUIRE_EQ(uvble_gap_scan_filter(ble, NULL, 0, UVBLE_GAP_RSSI_ANY), 0);

  /* At the HCI level, a report whose data length runs past the event is
   * malformed: dropped and counted, nothing delivered. */
  report(overrun, sizeof overrun, 31);
  CHECK_EQ(count_ev(UVBLE_IRQ_SCAN_RESULT), 3);
  uvble_gap_get_stats(ble, &g1);
  CHECK_EQ(g1.adv_reports_malformed, g0.adv_reports_malformed + 1);
  /* And one claiming more than 31 bytes in a legacy report. */
  uint8_t big[40] = {0};
  report(big, sizeof big, sizeof big);
  uvble_gap_get_stats(ble, &g1);
  CHECK_EQ(g1.adv_reports_malformed, g0.adv_reports_malformed + 2);
  CHECK_EQ(count_ev(UVBLE_IRQ_SCAN_RESULT), 3);

  /* A good report still gets through. */
  static const uint8_t good[] = {0x02, 0x01, 0x06, 0x03, 0x09, 'o', 'k'};
  report(good, sizeof good, sizeof good);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_SCAN_RESULT), 4);
  CHECK_EQ(last_scan()->scan_result.rssi, -60);
  alive();
  finish();
}

TEST_MAIN()
