/* SPDX-License-Identifier: Apache-2.0 */
/* What only a real link layer shows (label ll; tests/ll/README.md): an
 * advertiser is reported at every advertising event, scan responses come
 * with them, a link holds for seconds (a malformed LE Set Extended
 * Advertising Parameters once made Zephyr drop every link with 0x3E), and
 * the stack brings a link to the controller's data length and LE 2M by
 * itself, and the link requests (PHY, parameters, disconnect) complete on
 * the link layer's own outcomes. Runs on any variant ($UVBLE_LL_VARIANT says
 * which). */
#include "../integration/test_gap_common.h"
#include "req_probe.h"

static const uint8_t ADV[] = {0x02, 0x01, 0x06, 0x05, 0x09, 'l', 'l', '-', 'a'};
static const uint8_t RSP[] = {0x05, 0xff, 0xf1, 0x05, 0x01, 0x02};

static int reports(const struct host *h, const uvble_addr_t *a, int type) {
  int n = 0;
  for (int i = 0; i < h->nresults; i++)
    if (memcmp(h->results[i].addr.val, a->val, 6) == 0 &&
        h->results[i].adv_type == type)
      n++;
  return n;
}

static const char *variant(void) {
  const char *v = getenv("UVBLE_LL_VARIANT");
  return v ? v : "";
}

TEST(every_advertising_event_is_reported_with_its_scan_response) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h, 2);
  struct host *a = &h[0], *b = &h[1];
  REQUIRE_EQ(uvble_gap_scan(b->ble, 0, 30000, 30000, true), 0);
  REQUIRE_EQ(uvble_gap_advertise(a->ble, 100000, ADV, sizeof ADV, RSP,
                                 sizeof RSP, true),
             0);
  /* 2 s of a 100 ms advertiser: about 18 events (advDelay adds 0-10 ms
   * each); the scanner listens on one channel of three at a time. */
  run_for(&loop, 2000);
  int adv = reports(b, &a->addr, 0), rsp = reports(b, &a->addr, 4);
  printf("  %d ADV_IND and %d SCAN_RSP reports from the advertiser in 2 s\n",
         adv, rsp);
  CHECK(adv >= 5);
  CHECK(rsp >= 3);
  int i = find_result(b, &a->addr, 4);
  REQUIRE(i >= 0);
  CHECK_EQ(b->results[i].len, sizeof RSP);
  CHECK_MEM(b->results[i].data, RSP, sizeof RSP);
  CHECK(b->results[i].rssi < 0 && b->results[i].rssi > -100);
  CHECK_EQ(uvble_gap_scan(b->ble, -1, 0, 0, false), 0);
  CHECK(wait_event(b, UVBLE_IRQ_SCAN_DONE, 1, 2000));
  hosts_down(h, 2);
  loop_teardown(&loop);
}

TEST(a_link_holds_and_reaches_the_data_length_and_phy) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h, 2);
  struct host *p = &h[0], *c = &h[1];
  REQUIRE_EQ(uvble_gap_advertise(p->ble, 20000, ADV, sizeof ADV, NULL, 0, true),
             0);
  REQUIRE_EQ(uvble_gap_connect(c->ble, &p->addr, 0, 0, 0), 0);
  REQUIRE(wait_event(c, UVBLE_IRQ_PERIPHERAL_CONNECT, 1, 3000));
  REQUIRE(wait_event(p, UVBLE_IRQ_CENTRAL_CONNECT, 1, 3000));
  uint16_t hc = c->connect[UVBLE_IRQ_PERIPHERAL_CONNECT].conn_handle;
  uint16_t hp = p->connect[UVBLE_IRQ_CENTRAL_CONNECT].conn_handle;
  /* Many connection events, and the data length and PHY procedures. */
  run_for(&loop, 3000);
  CHECK_EQ(c->count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 0);
  CHECK_EQ(p->count[UVBLE_IRQ_CENTRAL_DISCONNECT], 0);
  uvble_conn_info_t ci, pi;
  REQUIRE_EQ(uvble_gap_conn_info(c->ble, hc, &ci), 0);
  REQUIRE_EQ(uvble_gap_conn_info(p->ble, hp, &pi), 0);
  printf("  %s: central tx %u/rx %u octets, PHY %u/%u, interval %u x 1.25 ms\n",
         variant(), ci.tx_octets, ci.rx_octets, ci.tx_phy, ci.rx_phy,
         ci.interval);
  CHECK_EQ(ci.interval, pi.interval);
  /* The stack asks for the controller's maxima and LE 2M by itself
   * (uvble_gap_link_config_t defaults); stock's link layer keeps 27. */
  unsigned want = strcmp(variant(), "stock") == 0 ? 27 : 251;
  CHECK_EQ(ci.tx_octets, want);
  CHECK_EQ(ci.rx_octets, want);
  CHECK_EQ(pi.tx_octets, want);
  CHECK_EQ(ci.tx_phy, UVBLE_PHY_2M);
  CHECK_EQ(ci.rx_phy, UVBLE_PHY_2M);
  CHECK_EQ(pi.rx_phy, UVBLE_PHY_2M);
  /* Disconnect from the peripheral: the central hears "remote user
   * terminated" (0x13), the peripheral "terminated by local host" (0x16). */
  CHECK_EQ(uvble_gap_disconnect(p->ble, hp), 1);
  REQUIRE(wait_event(c, UVBLE_IRQ_PERIPHERAL_DISCONNECT, 1, 3000));
  REQUIRE(wait_event(p, UVBLE_IRQ_CENTRAL_DISCONNECT, 1, 3000));
  CHECK_EQ(c->connect[UVBLE_IRQ_PERIPHERAL_DISCONNECT].reason, 0x13);
  CHECK_EQ(p->connect[UVBLE_IRQ_CENTRAL_DISCONNECT].reason, 0x16);
  hosts_down(h, 2);
  loop_teardown(&loop);
}

struct phy_wait {
  uvble_t *ble;
  uint16_t handle;
  uint8_t phy;
};

static bool phy_is(void *arg) {
  const struct phy_wait *w = arg;
  uvble_conn_info_t ci;
  return uvble_gap_conn_info(w->ble, w->handle, &ci) == 0 &&
         ci.tx_phy == w->phy && ci.rx_phy == w->phy;
}

/* The requests of uvble/req.h on a real link layer: each completes on the
 * LL procedure's outcome (btvirt runs none of them). */
TEST(link_requests_complete_on_the_link_layers_outcomes) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h, 2);
  struct host *p = &h[0], *c = &h[1];
  REQUIRE_EQ(uvble_gap_advertise(p->ble, 20000, ADV, sizeof ADV, NULL, 0, true),
             0);
  REQUIRE_EQ(uvble_gap_connect(c->ble, &p->addr, 0, 0, 0), 0);
  REQUIRE(wait_event(c, UVBLE_IRQ_PERIPHERAL_CONNECT, 1, 3000));
  REQUIRE(wait_event(p, UVBLE_IRQ_CENTRAL_CONNECT, 1, 3000));
  uint16_t hc = c->connect[UVBLE_IRQ_PERIPHERAL_CONNECT].conn_handle;
  /* The stack's own LE 2M request first: a PHY request completes on the
   * link's next PHY update, which must be ours. */
  struct phy_wait w = {c->ble, hc, UVBLE_PHY_2M};
  REQUIRE(run_until_pred(&loop, phy_is, &w, 10000));

  /* Asking for LE 1M: the peripheral's stack set LE 2M as its only
   * preference (LE Set Default PHY, the link config's default), so the
   * procedure finds no other PHY both take; the link stays on LE 2M and
   * the controller still reports the procedure's end, which completes the
   * request. */
  struct req_probe q;
  req_probe_init(&q);
  REQUIRE_EQ(uvble_gap_set_phy_req(&q.req, c->ble, hc, UVBLE_PHY_PREF_1M), 0);
  REQUIRE(req_probe_wait(&loop, &q, 10000));
  CHECK_EQ(q.calls, 1);
  CHECK_EQ(q.status, 0);
  CHECK(phy_is(&w));

  /* 75 ms: a change from the 30-50 ms the link came up with. */
  uvble_gap_conn_params_t cp;
  REQUIRE_EQ(uvble_gap_conn_params_for(&cp, 75000, 75000), 0);
  req_probe_init(&q);
  REQUIRE_EQ(uvble_gap_update_conn_params_req(&q.req, c->ble, hc, &cp), 0);
  REQUIRE(req_probe_wait(&loop, &q, 15000));
  CHECK_EQ(q.status, 0);
  CHECK(q.had_result);
  CHECK_EQ(q.result.conn_update.conn_interval, 60); /* 75 ms in 1.25 ms units */

  /* The central ends it: its request hears "terminated by local host"
   * (0x16) as the DISCONNECT event does, the peripheral 0x13. */
  req_probe_init(&q);
  REQUIRE_EQ(uvble_gap_disconnect_req(&q.req, c->ble, hc), 0);
  REQUIRE(req_probe_wait(&loop, &q, 5000));
  CHECK_EQ(q.status, 0);
  CHECK(q.had_result);
  CHECK_EQ(q.result.connect.conn_handle, hc);
  CHECK_EQ(q.result.connect.reason, 0x16);
  REQUIRE(wait_event(p, UVBLE_IRQ_CENTRAL_DISCONNECT, 1, 3000));
  CHECK_EQ(p->connect[UVBLE_IRQ_CENTRAL_DISCONNECT].reason, 0x13);
  hosts_down(h, 2);
  loop_teardown(&loop);
}

TEST_MAIN()
