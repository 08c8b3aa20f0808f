/* SPDX-License-Identifier: Apache-2.0 */
/* The link through the async layer against a scripted controller with LE
 * 2M: uvble_connection_info follows the controller's events, and
 * uvble_connection_set_phy completes on LE PHY Update Complete (success,
 * HCI failure with proto_status, refusal at once), on its timeout, when
 * the link drops (EDISCONNECTED) and when the context closes (ECANCELED);
 * futures asking for the same PHY at once share one core request. */
#include "test_gap_common.h"
#include "uvble/async.h"

static sc_t *sc;
static uvble_t *ble;
static uvble_async_t *A;
static bool closed;
static const uint8_t PEER[6] = {1, 2, 3, 4, 5, 6};

static bool done(void *f) { return uvble_future_done(f); }
static void on_closed(uvble_async_t *a, void *arg) {
  (void)a;
  (void)arg;
  closed = true;
}
static bool closed_pred(void *arg) {
  (void)arg;
  return closed;
}

static uvble_connection_t *a_up(void) {
  uv_loop_init(&loop);
  uvble_transport_t *host;
  sc = sc_new(&loop, &host);
  struct sc_config *c = sc_config(sc);
  c->le_features[1] |= 0x01;       /* LE 2M PHY */
  c->commands[35] |= 0x20 | 0x40; /* LE Set Default PHY, LE Set PHY */
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  uvble_gap_link_config_t cfg;
  uvble_gap_get_link_config(ble, &cfg);
  cfg.auto_phy = false; /* the test asks */
  REQUIRE_EQ(uvble_gap_set_link_config(ble, &cfg), 0);
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(ble));
  REQUIRE_EQ(uvble_async_new(ble, NULL, NULL, &A), 0);
  sc_connect(sc, 0x0043, 0, PEER);
  run_until_idle(&loop, 5000);
  uvble_connection_t *conn = uvble_async_connection(A, 0x0043);
  REQUIRE(conn != NULL);
  return conn;
}

static void a_down(void) {
  closed = false;
  uvble_async_close(A, on_closed, NULL);
  REQUIRE(run_until_pred(&loop, closed_pred, NULL, 2000));
  sc_free(sc);
  run_until_idle(&loop, 5000);
  loop_teardown(&loop);
}

static void phy_update(uint8_t status, uint8_t tx, uint8_t rx) {
  uint8_t p[5] = {status, 0x43, 0x00, tx, rx};
  send_meta(sc, 0x0C, p, sizeof p);
}

TEST(set_phy_completes_on_phy_update_complete) {
  uvble_connection_t *c = a_up();
  uvble_conn_info_t i;
  REQUIRE_EQ(uvble_connection_info(c, &i), 0);
  CHECK_EQ(i.tx_phy, UVBLE_PHY_1M);
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_connection_set_phy(&f, c, UVBLE_PHY_PREF_2M, 1000), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_count(sc, 0x2032), 1);
  CHECK(!uvble_future_done(&f));
  phy_update(0, UVBLE_PHY_2M, UVBLE_PHY_2M);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  CHECK_EQ(f.status, 0);
  REQUIRE_EQ(uvble_connection_info(c, &i), 0);
  CHECK_EQ(i.tx_phy, UVBLE_PHY_2M);
  CHECK_EQ(i.rx_phy, UVBLE_PHY_2M);
  /* The peer's link layer refuses: the HCI status comes back. */
  REQUIRE_EQ(uvble_connection_set_phy(&f, c, UVBLE_PHY_PREF_1M, 1000), 0);
  phy_update(0x1A, 0, 0);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  CHECK_EQ(f.status, UVBLE_EHCI);
  CHECK_EQ(f.proto_status, 0x1A);
  /* What the core refuses at once. */
  CHECK_EQ(uvble_connection_set_phy(&f, c, UVBLE_PHY_PREF_CODED, 1000),
           UVBLE_ENOTSUP);
  CHECK(uvble_future_done(&f));
  CHECK_EQ(uvble_connection_set_phy(&f, c, 42, 1000), UVBLE_EINVAL);
  a_down();
}

TEST(set_phy_futures_share_one_request_per_preference) {
  uvble_connection_t *c = a_up();
  uvble_future_t f = {0}, g = {0}, h = {0};
  REQUIRE_EQ(uvble_connection_set_phy(&f, c, UVBLE_PHY_PREF_2M, 1000), 0);
  REQUIRE_EQ(uvble_connection_set_phy(&g, c, UVBLE_PHY_PREF_2M, 1000), 0);
  /* Another preference would get this one's outcome: refused. */
  CHECK_EQ(uvble_connection_set_phy(&h, c, UVBLE_PHY_PREF_1M, 1000),
           UVBLE_EBUSY);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_count(sc, 0x2032), 1); /* one LE Set PHY */
  /* One leaves early: the request stays for the other. */
  CHECK_EQ(uvble_future_cancel(&f), 0);
  phy_update(0, UVBLE_PHY_2M, UVBLE_PHY_2M);
  REQUIRE(run_until_pred(&loop, done, &g, 1000));
  CHECK_EQ(f.status, UVBLE_ECANCELED);
  CHECK_EQ(g.status, 0);
  /* Both leave: the request is cancelled, its outcome swallowed. */
  uvble_stats_t st0, st;
  uvble_get_stats(ble, &st0);
  REQUIRE_EQ(uvble_connection_set_phy(&f, c, UVBLE_PHY_PREF_1M, 1000), 0);
  CHECK_EQ(uvble_future_cancel(&f), 0);
  run_until_idle(&loop, 5000);
  phy_update(0, UVBLE_PHY_1M, UVBLE_PHY_1M);
  run_until_idle(&loop, 5000);
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.req_late_responses, st0.req_late_responses + 1);
  CHECK_EQ(f.status, UVBLE_ECANCELED);
  a_down();
}

TEST(set_phy_times_out_and_ends_with_the_link) {
  uvble_connection_t *c = a_up();
  uvble_connection_ref(c);
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_connection_set_phy(&f, c, UVBLE_PHY_PREF_2M, 50), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  CHECK_EQ(f.status, UVBLE_ETIMEDOUT);
  REQUIRE_EQ(uvble_connection_set_phy(&f, c, UVBLE_PHY_PREF_2M, 5000), 0);
  sc_disconnect(sc, 0x0043, 0x08);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  CHECK_EQ(f.status, UVBLE_EDISCONNECTED);
  uvble_conn_info_t i;
  CHECK_EQ(uvble_connection_info(c, &i), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_connection_set_phy(&f, c, UVBLE_PHY_PREF_2M, 50),
           UVBLE_ENOTCONN);
  uvble_connection_release(c);
  a_down();
}

TEST(closing_cancels_a_pending_set_phy) {
  uvble_connection_t *c = a_up();
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_connection_set_phy(&f, c, UVBLE_PHY_PREF_2M, 5000), 0);
  run_until_idle(&loop, 5000);
  a_down();
  CHECK(uvble_future_done(&f));
  CHECK_EQ(f.status, UVBLE_ECANCELED);
}

TEST(connect_with_a_preset_carries_its_ce_lengths) {
  uvble_connection_t *c = a_up();
  (void)c;
  uvble_device_t d;
  static const uint8_t addr[6] = {0xC0, 1, 2, 3, 4, 5};
  REQUIRE_EQ(uvble_device_init(&d, UVBLE_ADDR_RANDOM, addr), 0);
  uvble_connect_params_t p = {.conn = UVBLE_CONN_PARAMS_THROUGHPUT};
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_device_connect(&f, A, &d, &p, 5000), 0);
  run_until_idle(&loop, 5000);
  /* LE Create Connection (7.8.12): 13 Connection_Interval_Min (2) = 12,
   * 15 _Max = 24, 17 Max_Latency = 0, 19 Supervision_Timeout = 400, 21
   * Min_CE_Length (2) = 24, 23 Max_CE_Length (2) = 48. */
  const struct sc_cmd_rec *r = cmd_n(sc, 0x200D, 0);
  REQUIRE_EQ(r->len, 25);
  static const uint8_t TAIL[] = {0x0C, 0x00, 0x18, 0x00, 0x00, 0x00,
                                 0x90, 0x01, 0x18, 0x00, 0x30, 0x00};
  CHECK_MEM(r->params + 13, TAIL, sizeof TAIL);
  a_down();
  CHECK_EQ(f.status, UVBLE_ECANCELED);
}

TEST_MAIN()
