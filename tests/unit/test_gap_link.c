/* SPDX-License-Identifier: Apache-2.0 */
/* The link's state from the controller's events: LE Data Length Change
 * (Vol 4, Part E, 7.7.65.7) and LE PHY Update Complete (7.7.65.12) tracked
 * per connection, delivered to the link listeners and uvble_gap_conn_info,
 * counted; malformed events (wrong length, values outside the spec's
 * ranges) dropped and counted; refusals of LE Set PHY / Set Data Length
 * reported; listeners bounded and safe to change or close the stack from. */
#include "test_gap_common.h"

static const uint8_t PEER[6] = {1, 2, 3, 4, 5, 6};

struct seen {
  int n;
  int what[16];
  int status[16];
  uvble_conn_info_t info[16];
  bool close_in_cb;
  bool unlisten_in_cb;
};
static struct seen seen;

static void on_link(uvble_t *ble, int what, int status,
                    const uvble_conn_info_t *info, void *arg) {
  struct seen *s = arg;
  if (s->n < 16) {
    s->what[s->n] = what;
    s->status[s->n] = status;
    s->info[s->n] = *info;
  }
  s->n++;
  if (s->unlisten_in_cb) uvble_gap_link_unlisten(ble, on_link, arg);
  if (s->close_in_cb) uvble_close(ble, NULL, NULL);
}

static void linked(sc_t **sc, uvble_t **ble) {
  up(sc, ble, false);
  memset(&seen, 0, sizeof seen);
  REQUIRE_EQ(uvble_gap_link_listen(*ble, on_link, &seen), 0);
  sc_connect(*sc, 0x0042, 1, PEER);
  run_until_idle(&loop, 5000);
  REQUIRE(conn_find(*ble, 0x0042) != NULL);
}

static void dl_change(sc_t *sc, uint16_t h, uint16_t txo, uint16_t txt,
                      uint16_t rxo, uint16_t rxt) {
  uint8_t p[10];
  uint16_t v[5] = {h, txo, txt, rxo, rxt};
  for (int i = 0; i < 5; i++) {
    p[2 * i] = (uint8_t)v[i];
    p[2 * i + 1] = (uint8_t)(v[i] >> 8);
  }
  send_meta(sc, 0x07, p, sizeof p);
  run_until_idle(&loop, 5000);
}

static void phy_update(sc_t *sc, uint8_t status, uint16_t h, uint8_t tx,
                       uint8_t rx) {
  uint8_t p[5] = {status, (uint8_t)h, (uint8_t)(h >> 8), tx, rx};
  send_meta(sc, 0x0C, p, sizeof p);
  run_until_idle(&loop, 5000);
}

static uvble_stats_t stats(uvble_t *ble) {
  uvble_stats_t s;
  uvble_get_stats(ble, &s);
  return s;
}

TEST(a_new_link_starts_at_27_octets_on_1m) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble);
  uvble_conn_info_t i;
  REQUIRE_EQ(uvble_gap_conn_info(ble, 0x0042, &i), 0);
  CHECK_EQ(i.conn_handle, 0x0042);
  CHECK_EQ(i.role, 1);
  CHECK_EQ(i.interval, 24); /* sc's Connection Complete */
  CHECK_EQ(i.supervision_timeout, 72);
  CHECK_EQ(i.tx_octets, 27);
  CHECK_EQ(i.rx_octets, 27);
  CHECK_EQ(i.tx_time_us, 328);
  CHECK_EQ(i.rx_time_us, 328);
  CHECK_EQ(i.tx_phy, UVBLE_PHY_1M);
  CHECK_EQ(i.rx_phy, UVBLE_PHY_1M);
  CHECK_EQ(uvble_gap_conn_info(ble, 0x0043, &i), UVBLE_ENOTCONN);
  /* The plain controller has no DLE and no 2M: nothing was asked. */
  CHECK_EQ(cmd_count(sc, 0x2022), 0);
  CHECK_EQ(cmd_count(sc, 0x2032), 0);
  CHECK_EQ(uvble_gap_set_data_length(ble, 0x0042, 0, 0), UVBLE_ENOTSUP);
  CHECK_EQ(uvble_gap_set_phy(ble, 0x0042, UVBLE_PHY_PREF_2M), UVBLE_ENOTSUP);
  down(sc, ble);
}

TEST(data_length_change_is_tracked_delivered_and_counted) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble);
  dl_change(sc, 0x0042, 251, 2120, 200, 1712);
  REQUIRE_EQ(seen.n, 1);
  CHECK_EQ(seen.what[0], UVBLE_GAP_LINK_DATA_LENGTH);
  CHECK_EQ(seen.status[0], 0);
  CHECK_EQ(seen.info[0].conn_handle, 0x0042);
  CHECK_EQ(seen.info[0].tx_octets, 251);
  CHECK_EQ(seen.info[0].tx_time_us, 2120);
  CHECK_EQ(seen.info[0].rx_octets, 200);
  CHECK_EQ(seen.info[0].rx_time_us, 1712);
  uvble_conn_info_t i;
  REQUIRE_EQ(uvble_gap_conn_info(ble, 0x0042, &i), 0);
  CHECK_EQ(i.tx_octets, 251);
  CHECK_EQ(i.rx_time_us, 1712);
  CHECK_EQ(stats(ble).link_data_length_changes, 1);
  down(sc, ble);
}

TEST(malformed_data_length_change_is_dropped_and_counted) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble);
  uint64_t bad = stats(ble).hci_events_malformed;
  uint8_t p[11] = {0x42, 0, 251, 0, 0x48, 0x08, 251, 0, 0x48, 0x08, 0};
  send_meta(sc, 0x07, p, 9); /* short */
  send_meta(sc, 0x07, p, 11); /* long */
  run_until_idle(&loop, 5000);
  CHECK_EQ(stats(ble).hci_events_malformed, bad + 2);
  /* Values outside 27..251 octets / 328..17040 us. */
  dl_change(sc, 0x0042, 26, 2120, 251, 2120);
  dl_change(sc, 0x0042, 252, 2120, 251, 2120);
  dl_change(sc, 0x0042, 251, 327, 251, 2120);
  dl_change(sc, 0x0042, 251, 2120, 251, 17041);
  dl_change(sc, 0x0042, 251, 2120, 0, 2120);
  CHECK_EQ(stats(ble).hci_events_malformed, bad + 7);
  /* An unknown handle. */
  uint64_t unexp = stats(ble).hci_events_unexpected;
  dl_change(sc, 0x0099, 251, 2120, 251, 2120);
  CHECK_EQ(stats(ble).hci_events_unexpected, unexp + 1);
  CHECK_EQ(seen.n, 0);
  CHECK_EQ(stats(ble).link_data_length_changes, 0);
  uvble_conn_info_t i;
  REQUIRE_EQ(uvble_gap_conn_info(ble, 0x0042, &i), 0);
  CHECK_EQ(i.tx_octets, 27);
  down(sc, ble);
}

TEST(phy_update_complete_is_tracked_and_failures_reported) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble);
  phy_update(sc, 0, 0x0042, UVBLE_PHY_2M, UVBLE_PHY_2M);
  REQUIRE_EQ(seen.n, 1);
  CHECK_EQ(seen.what[0], UVBLE_GAP_LINK_PHY);
  CHECK_EQ(seen.info[0].tx_phy, UVBLE_PHY_2M);
  CHECK_EQ(seen.info[0].rx_phy, UVBLE_PHY_2M);
  /* A failed procedure (0x1A Unsupported Remote Feature): reported with
   * the PHYs still in force. */
  phy_update(sc, 0x1A, 0x0042, 0, 0);
  REQUIRE_EQ(seen.n, 2);
  CHECK_EQ(seen.status[1], 0x1A);
  CHECK_EQ(seen.info[1].tx_phy, UVBLE_PHY_2M);
  phy_update(sc, 0, 0x0042, UVBLE_PHY_CODED, UVBLE_PHY_1M);
  uvble_conn_info_t i;
  REQUIRE_EQ(uvble_gap_conn_info(ble, 0x0042, &i), 0);
  CHECK_EQ(i.tx_phy, UVBLE_PHY_CODED);
  CHECK_EQ(i.rx_phy, UVBLE_PHY_1M);
  CHECK_EQ(stats(ble).link_phy_updates, 3);
  down(sc, ble);
}

TEST(malformed_phy_update_is_dropped_and_counted) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble);
  uint64_t bad = stats(ble).hci_events_malformed;
  uint8_t p[6] = {0, 0x42, 0, 2, 2, 0};
  send_meta(sc, 0x0C, p, 4);
  send_meta(sc, 0x0C, p, 6);
  run_until_idle(&loop, 5000);
  phy_update(sc, 0, 0x0042, 0, 1); /* PHY 0 does not exist */
  phy_update(sc, 0, 0x0042, 1, 4);
  CHECK_EQ(stats(ble).hci_events_malformed, bad + 4);
  uint64_t unexp = stats(ble).hci_events_unexpected;
  phy_update(sc, 0, 0x0777, 2, 2);
  CHECK_EQ(stats(ble).hci_events_unexpected, unexp + 1);
  CHECK_EQ(seen.n, 0);
  CHECK_EQ(stats(ble).link_phy_updates, 0);
  down(sc, ble);
}

TEST(refused_requests_reach_the_listeners) {
  sc_t *sc;
  uvble_t *ble;
  /* A controller with DLE and 2M that refuses both per-link commands. */
  uv_loop_init(&loop);
  uvble_transport_t *host;
  sc = sc_new(&loop, &host);
  struct sc_config *c = sc_config(sc);
  c->le_features[0] |= 0x20;
  c->le_features[1] |= 0x01;
  c->commands[33] |= 0x40;
  c->commands[35] |= 0x40;
  sc_fail_with(sc, 0x2022, 0x12); /* Invalid HCI Command Parameters */
  sc_fail_with(sc, 0x2032, 0x11); /* Unsupported Feature or Parameter */
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(ble));
  memset(&seen, 0, sizeof seen);
  REQUIRE_EQ(uvble_gap_link_listen(ble, on_link, &seen), 0);
  sc_connect(sc, 0x0042, 0, PEER);
  run_until_idle(&loop, 5000);
  /* The automatic LE Set Data Length and LE Set PHY were refused. */
  REQUIRE_EQ(seen.n, 2);
  CHECK_EQ(seen.what[0], UVBLE_GAP_LINK_DATA_LENGTH);
  CHECK_EQ(seen.status[0], 0x12);
  CHECK_EQ(seen.what[1], UVBLE_GAP_LINK_PHY);
  CHECK_EQ(seen.status[1], 0x11);
  CHECK_EQ(seen.info[1].tx_phy, UVBLE_PHY_1M);
  CHECK_EQ(stats(ble).link_requests_refused, 2);
  down(sc, ble);
}

TEST(connection_update_reaches_the_listeners) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble);
  uint8_t p[9] = {0, 0x42, 0, 12, 0, 2, 0, 200, 0};
  send_meta(sc, 0x03, p, sizeof p);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(seen.n, 1);
  CHECK_EQ(seen.what[0], UVBLE_GAP_LINK_PARAMS);
  CHECK_EQ(seen.info[0].interval, 12);
  CHECK_EQ(seen.info[0].latency, 2);
  CHECK_EQ(seen.info[0].supervision_timeout, 200);
  CHECK_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 1); /* MicroPython's too */
  down(sc, ble);
}

static void other(uvble_t *ble, int what, int status,
                  const uvble_conn_info_t *info, void *arg) {
  (void)ble;
  (void)what;
  (void)status;
  (void)info;
  (*(int *)arg)++;
}

TEST(listeners_are_bounded_and_may_leave_or_close) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble);
  CHECK_EQ(uvble_gap_link_listen(ble, on_link, &seen), UVBLE_EEXIST);
  CHECK_EQ(uvble_gap_link_listen(ble, NULL, NULL), UVBLE_EINVAL);
  int counts[4] = {0};
  for (int i = 0; i < UVBLE_GAP_LINK_LISTENERS - 1; i++)
    CHECK_EQ(uvble_gap_link_listen(ble, other, &counts[i]), 0);
  CHECK_EQ(uvble_gap_link_listen(ble, other, &counts[3]), UVBLE_ENOBUFS);
  dl_change(sc, 0x0042, 100, 1000, 100, 1000);
  CHECK_EQ(seen.n, 1);
  for (int i = 0; i < UVBLE_GAP_LINK_LISTENERS - 1; i++)
    CHECK_EQ(counts[i], 1);
  CHECK_EQ(uvble_gap_link_unlisten(ble, other, &counts[0]), 0);
  CHECK_EQ(uvble_gap_link_unlisten(ble, other, &counts[0]), UVBLE_ENOENT);
  /* Leaving from inside the callback. */
  seen.unlisten_in_cb = true;
  dl_change(sc, 0x0042, 101, 1000, 100, 1000);
  dl_change(sc, 0x0042, 102, 1000, 100, 1000);
  CHECK_EQ(seen.n, 2);
  CHECK_EQ(counts[0], 1);
  CHECK_EQ(counts[1], 3);
  /* Closing the stack from inside: the rest are not called. */
  REQUIRE_EQ(uvble_gap_link_listen(ble, on_link, &seen), 0);
  seen.unlisten_in_cb = false;
  seen.close_in_cb = true;
  CHECK_EQ(uvble_gap_link_unlisten(ble, other, &counts[1]), 0);
  CHECK_EQ(uvble_gap_link_unlisten(ble, other, &counts[2]), 0);
  CHECK_EQ(uvble_gap_link_listen(ble, other, &counts[2]), 0);
  phy_update(sc, 0, 0x0042, 2, 2);
  CHECK_EQ(seen.n, 3);
  CHECK_EQ(counts[2], 3); /* after the closing listener: not called */
  sc_tear_down(&loop, sc, NULL);
  loop_teardown(&loop);
}

TEST_MAIN()
