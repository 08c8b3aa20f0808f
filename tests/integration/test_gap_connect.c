/* SPDX-License-Identifier: Apache-2.0 */
/* Central and peripheral on btvirt: connect and disconnect from each side
 * with the right events on both, a connect that stops a scan, cancelling a
 * pending connect, connecting to an absent address, one central with three
 * peripherals, a device in both roles at once, connection parameter
 * updates answered by the peer's GAP.
 *
 * btvirt (BlueZ 5.66) quirks the tests live with:
 *  - LE Create Connection completes at once (success when the peer
 *    advertises connectably, else status 0x3E);
 *  - a controller that connects as central stops its own advertising;
 *  - each controller numbers its links from 0x002a up (lowest free), but
 *    the peripheral's LE Connection Complete carries the central's handle.
 *    When the two numbers differ, the peripheral's host and controller
 *    disagree about the link (its later events use the real handle). The
 *    multi-link tests therefore give each peripheral as many earlier links
 *    as its central has ("padding"), so the numbers agree. On a real
 *    controller none of this applies. */
#include "test_gap_common.h"

static const uint8_t ADV[] = {0x02, 0x01, 0x06};

static void advertise(struct host *p) {
  REQUIRE_EQ(uvble_gap_advertise(p->ble, 20000, ADV, sizeof ADV, NULL, 0, true),
             0);
  run_until_idle(&loop, 5000); /* advertising is on at the controller */
}

static bool is_none(const uvble_evt_connect_t *e) {
  static const uint8_t zero[6];
  return e->addr.type == UVBLE_ADDR_NONE && memcmp(e->addr.val, zero, 6) == 0;
}

/* Central c connects to advertising peripheral p; returns c's handle. */
static uint16_t connect_pair(struct host *c, struct host *p) {
  int nc = c->count[UVBLE_IRQ_PERIPHERAL_CONNECT];
  int np = p->count[UVBLE_IRQ_CENTRAL_CONNECT];
  advertise(p);
  REQUIRE_EQ(uvble_gap_connect(c->ble, &p->addr, 0, 0, 0), 0);
  REQUIRE(wait_event(c, UVBLE_IRQ_PERIPHERAL_CONNECT, nc + 1, 3000));
  REQUIRE(wait_event(p, UVBLE_IRQ_CENTRAL_CONNECT, np + 1, 3000));
  const uvble_evt_connect_t *ec = &c->connect[UVBLE_IRQ_PERIPHERAL_CONNECT];
  const uvble_evt_connect_t *ep = &p->connect[UVBLE_IRQ_CENTRAL_CONNECT];
  CHECK_MEM(ec->addr.val, p->addr.val, 6);
  CHECK_EQ(ec->addr.type, UVBLE_ADDR_PUBLIC);
  CHECK_MEM(ep->addr.val, c->addr.val, 6);
  CHECK_EQ(ep->addr.type, UVBLE_ADDR_PUBLIC);
  /* The controller stops advertising when a central connects. */
  CHECK(!uvble_gap_advertising(p->ble));
  return ec->conn_handle;
}

TEST(connect_and_disconnect_from_the_central) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h, 2);
  struct host *p = &h[0], *c = &h[1];
  uint16_t hc = connect_pair(c, p);
  uint16_t hp = p->connect[UVBLE_IRQ_CENTRAL_CONNECT].conn_handle;
  CHECK_EQ(uvble_gap_disconnect(c->ble, hc), 1);
  REQUIRE(wait_event(c, UVBLE_IRQ_PERIPHERAL_DISCONNECT, 1, 3000));
  REQUIRE(wait_event(p, UVBLE_IRQ_CENTRAL_DISCONNECT, 1, 3000));
  CHECK_EQ(c->connect[UVBLE_IRQ_PERIPHERAL_DISCONNECT].conn_handle, hc);
  CHECK_MEM(c->connect[UVBLE_IRQ_PERIPHERAL_DISCONNECT].addr.val, p->addr.val,
            6);
  CHECK_EQ(p->connect[UVBLE_IRQ_CENTRAL_DISCONNECT].conn_handle, hp);
  CHECK_MEM(p->connect[UVBLE_IRQ_CENTRAL_DISCONNECT].addr.val, c->addr.val, 6);
  CHECK_EQ(uvble_gap_disconnect(c->ble, hc), 0); /* gone: False */
  /* The peripheral restarts advertising and is connectable again. */
  connect_pair(c, p);
  hosts_down(h, 2);
  loop_teardown(&loop);
}

TEST(connect_and_disconnect_from_the_peripheral) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h, 2);
  struct host *p = &h[0], *c = &h[1];
  uint16_t hc = connect_pair(c, p);
  uint16_t hp = p->connect[UVBLE_IRQ_CENTRAL_CONNECT].conn_handle;
  CHECK_EQ(uvble_gap_disconnect(p->ble, hp), 1);
  REQUIRE(wait_event(p, UVBLE_IRQ_CENTRAL_DISCONNECT, 1, 3000));
  REQUIRE(wait_event(c, UVBLE_IRQ_PERIPHERAL_DISCONNECT, 1, 3000));
  CHECK_EQ(c->connect[UVBLE_IRQ_PERIPHERAL_DISCONNECT].conn_handle, hc);
  CHECK(!is_none(&c->connect[UVBLE_IRQ_PERIPHERAL_DISCONNECT]));
  CHECK_EQ(p->connect[UVBLE_IRQ_CENTRAL_DISCONNECT].conn_handle, hp);
  CHECK_EQ(c->count[UVBLE_IRQ_PERIPHERAL_CONNECT], 1);
  CHECK_EQ(p->count[UVBLE_IRQ_CENTRAL_CONNECT], 1);
  hosts_down(h, 2);
  loop_teardown(&loop);
}

TEST(connect_stops_a_running_scan_first) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h, 2);
  struct host *p = &h[0], *c = &h[1];
  REQUIRE_EQ(uvble_gap_scan(c->ble, 0, 0, 0, true), 0);
  run_until_idle(&loop, 5000); /* scanning is on at the controller */
  connect_pair(c, p);
  CHECK_EQ(c->count[UVBLE_IRQ_SCAN_DONE], 1);
  int done = event_index(c, UVBLE_IRQ_SCAN_DONE, 0);
  int conn = event_index(c, UVBLE_IRQ_PERIPHERAL_CONNECT, 0);
  CHECK(done >= 0 && done < conn);
  hosts_down(h, 2);
  loop_teardown(&loop);
}

TEST(connect_to_an_absent_address_fails_with_the_documented_event) {
  uv_loop_init(&loop);
  struct host h[1];
  hosts_up(h, 1);
  uvble_addr_t nobody = {UVBLE_ADDR_PUBLIC,
                         {0x00, 0xaa, 0x01, 0x0e, 0x00, 0x42}};
  uint64_t t0 = uv_now(&loop);
  REQUIRE_EQ(uvble_gap_connect(h[0].ble, &nobody, 500, 0, 0), 0);
  CHECK_EQ(uvble_gap_connect(h[0].ble, &nobody, 500, 0, 0), UVBLE_EALREADY);
  REQUIRE(wait_event(&h[0], UVBLE_IRQ_PERIPHERAL_DISCONNECT, 1, 3000));
  CHECK(uv_now(&loop) - t0 < 2000); /* within the scan duration + cancel */
  CHECK(is_none(&h[0].connect[UVBLE_IRQ_PERIPHERAL_DISCONNECT]));
  /* time must pass: nothing more once the duration has passed */
  run_for(&loop, 700);
  CHECK_EQ(h[0].count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  CHECK_EQ(h[0].count[UVBLE_IRQ_PERIPHERAL_CONNECT], 0);
  /* The next attempt is allowed. */
  CHECK_EQ(uvble_gap_connect(h[0].ble, &nobody, 200, 0, 0), 0);
  CHECK(wait_event(&h[0], UVBLE_IRQ_PERIPHERAL_DISCONNECT, 2, 3000));
  hosts_down(h, 1);
  loop_teardown(&loop);
}

TEST(cancelling_a_pending_connect_reports_it_once) {
  uv_loop_init(&loop);
  struct host h[1];
  hosts_up(h, 1);
  uvble_addr_t nobody = {UVBLE_ADDR_PUBLIC,
                         {0x00, 0xaa, 0x01, 0x0e, 0x00, 0x42}};
  CHECK_EQ(uvble_gap_connect_cancel(h[0].ble), UVBLE_EALREADY); /* none */
  REQUIRE_EQ(uvble_gap_connect(h[0].ble, &nobody, 5000, 0, 0), 0);
  CHECK_EQ(uvble_gap_connect_cancel(h[0].ble), 0);
  CHECK_EQ(uvble_gap_connect_cancel(h[0].ble), UVBLE_EALREADY);
  CHECK_EQ(uvble_gap_connect(h[0].ble, &nobody, 5000, 0, 0), UVBLE_EBUSY);
  REQUIRE(wait_event(&h[0], UVBLE_IRQ_PERIPHERAL_DISCONNECT, 1, 3000));
  CHECK(is_none(&h[0].connect[UVBLE_IRQ_PERIPHERAL_DISCONNECT]));
  /* time must pass: no second report */
  run_for(&loop, 300);
  CHECK_EQ(h[0].count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  uvble_stats_t st;
  uvble_get_stats(h[0].ble, &st);
  CHECK_EQ(st.hci_cmd_timeouts, 0);
  hosts_down(h, 1);
  loop_teardown(&loop);
}

TEST(one_central_with_three_peripherals) {
  uv_loop_init(&loop);
  struct host h[6];
  hosts_up(h, 6);
  struct host *c = &h[3], *d1 = &h[4], *d2 = &h[5];
  /* Padding (see the top): peripheral i gets i earlier links. */
  connect_pair(d1, &h[1]);
  connect_pair(d1, &h[2]);
  connect_pair(d2, &h[2]);
  uint16_t handles[3];
  for (int i = 0; i < 3; i++) {
    handles[i] = connect_pair(c, &h[i]);
    CHECK_EQ(h[i].connect[UVBLE_IRQ_CENTRAL_CONNECT].conn_handle, handles[i]);
  }
  CHECK(handles[0] != handles[1] && handles[1] != handles[2] &&
        handles[0] != handles[2]);
  CHECK_EQ(c->ble->conns.table.len, 3);
  /* Each link is its own: dropping the middle one leaves the others. */
  CHECK_EQ(uvble_gap_disconnect(c->ble, handles[1]), 1);
  REQUIRE(wait_event(&h[1], UVBLE_IRQ_CENTRAL_DISCONNECT, 1, 3000));
  REQUIRE(wait_event(c, UVBLE_IRQ_PERIPHERAL_DISCONNECT, 1, 3000));
  CHECK_EQ(c->connect[UVBLE_IRQ_PERIPHERAL_DISCONNECT].conn_handle, handles[1]);
  CHECK_EQ(h[1].connect[UVBLE_IRQ_CENTRAL_DISCONNECT].conn_handle, handles[1]);
  CHECK_EQ(h[0].count[UVBLE_IRQ_CENTRAL_DISCONNECT], 0);
  CHECK_EQ(h[2].count[UVBLE_IRQ_CENTRAL_DISCONNECT], 0);
  CHECK_EQ(c->ble->conns.table.len, 2);
  CHECK_EQ(uvble_gap_disconnect(c->ble, handles[0]), 1);
  CHECK_EQ(uvble_gap_disconnect(c->ble, handles[2]), 1);
  REQUIRE(wait_event(c, UVBLE_IRQ_PERIPHERAL_DISCONNECT, 3, 3000));
  REQUIRE(wait_event(&h[0], UVBLE_IRQ_CENTRAL_DISCONNECT, 1, 3000));
  REQUIRE(wait_event(&h[2], UVBLE_IRQ_CENTRAL_DISCONNECT, 1, 3000));
  CHECK_EQ(h[2].connect[UVBLE_IRQ_CENTRAL_DISCONNECT].conn_handle, handles[2]);
  hosts_down(h, 6);
  loop_teardown(&loop);
}

TEST(a_device_is_central_and_peripheral_at_once) {
  uv_loop_init(&loop);
  struct host h[4];
  hosts_up(h, 4);
  struct host *a = &h[0], *b = &h[1], *c = &h[2], *d = &h[3];
  /* B is C's peripheral ... */
  uint16_t c_to_b = connect_pair(c, b);
  uint16_t b_from_c = b->connect[UVBLE_IRQ_CENTRAL_CONNECT].conn_handle;
  CHECK_EQ(b_from_c, c_to_b);
  /* ... and A's central (A padded with a link from D, see the top). */
  connect_pair(d, a);
  uint16_t b_to_a = connect_pair(b, a);
  CHECK_EQ(a->connect[UVBLE_IRQ_CENTRAL_CONNECT].conn_handle, b_to_a);
  CHECK_EQ(b->ble->conns.table.len, 2);
  CHECK(b_to_a != b_from_c);
  CHECK_EQ(b->count[UVBLE_IRQ_PERIPHERAL_CONNECT], 1);
  CHECK_EQ(b->count[UVBLE_IRQ_CENTRAL_CONNECT], 1);
  /* C drops B: B hears CENTRAL_DISCONNECT, its link to A stays. */
  CHECK_EQ(uvble_gap_disconnect(c->ble, c_to_b), 1);
  REQUIRE(wait_event(b, UVBLE_IRQ_CENTRAL_DISCONNECT, 1, 3000));
  CHECK_EQ(b->connect[UVBLE_IRQ_CENTRAL_DISCONNECT].conn_handle, b_from_c);
  CHECK_EQ(b->count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 0);
  CHECK_EQ(b->ble->conns.table.len, 1);
  /* B drops A. */
  CHECK_EQ(uvble_gap_disconnect(b->ble, b_to_a), 1);
  REQUIRE(wait_event(b, UVBLE_IRQ_PERIPHERAL_DISCONNECT, 1, 3000));
  REQUIRE(wait_event(a, UVBLE_IRQ_CENTRAL_DISCONNECT, 1, 3000));
  CHECK_EQ(a->connect[UVBLE_IRQ_CENTRAL_DISCONNECT].conn_handle, b_to_a);
  CHECK_EQ(b->connect[UVBLE_IRQ_PERIPHERAL_DISCONNECT].conn_handle, b_to_a);
  CHECK_EQ(c->count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  hosts_down(h, 4);
  loop_teardown(&loop);
}

TEST(central_updates_parameters_and_the_peripheral_answers) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h, 2);
  struct host *p = &h[0], *c = &h[1];
  uint16_t hc = connect_pair(c, p);
  uint16_t hp = p->connect[UVBLE_IRQ_CENTRAL_CONNECT].conn_handle;
  /* 15 ms, latency 2, 2 s: btvirt asks the peripheral's host (LE Remote
   * Connection Parameter Request), which accepts within its bounds. */
  REQUIRE_EQ(uvble_gap_update_params(c->ble, hc, 15000, 15000, 2, 2000), 0);
  REQUIRE(wait_event(c, UVBLE_IRQ_CONNECTION_UPDATE, 1, 3000));
  REQUIRE(wait_event(p, UVBLE_IRQ_CONNECTION_UPDATE, 1, 3000));
  CHECK_EQ(c->update.status, 0);
  CHECK_EQ(c->update.conn_handle, hc);
  CHECK_EQ(c->update.conn_interval, 12);
  CHECK_EQ(c->update.conn_latency, 2);
  CHECK_EQ(c->update.supervision_timeout, 200);
  CHECK_EQ(p->update.status, 0);
  CHECK_EQ(p->update.conn_handle, hp);
  CHECK_EQ(p->update.conn_interval, 12);
  /* The peripheral now allows no latency: the same request is refused
   * and the central hears the controller's status. */
  uvble_gap_param_bounds_t b;
  uvble_gap_get_param_bounds(p->ble, &b);
  b.max_latency = 0;
  REQUIRE_EQ(uvble_gap_set_param_bounds(p->ble, &b), 0);
  REQUIRE_EQ(uvble_gap_update_params(c->ble, hc, 30000, 30000, 4, 2000), 0);
  REQUIRE(wait_event(c, UVBLE_IRQ_CONNECTION_UPDATE, 2, 3000));
  CHECK_EQ(c->update.status, 0x3B); /* Unacceptable Connection Parameters */
  CHECK_EQ(c->update.conn_interval, 12); /* unchanged */
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(p->ble, &gs);
  CHECK_EQ(gs.conn_param_accepted, 1);
  CHECK_EQ(gs.conn_param_rejected, 1);
  hosts_down(h, 2);
  loop_teardown(&loop);
}

TEST(peripheral_asks_and_the_central_grants_within_its_bounds) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h, 2);
  struct host *p = &h[0], *c = &h[1];
  uint16_t hc = connect_pair(c, p);
  uint16_t hp = p->connect[UVBLE_IRQ_CENTRAL_CONNECT].conn_handle;
  /* The central allows 20..100 ms: a request for 10..40 ms is granted as
   * 20..40 ms (L2CAP request, LE Connection Update, and btvirt's LE Remote
   * Connection Parameter Request back to the peripheral's GAP). */
  uvble_gap_param_bounds_t b = {20000, 100000, 4, 1000, 6000};
  REQUIRE_EQ(uvble_gap_set_param_bounds(c->ble, &b), 0);
  REQUIRE_EQ(uvble_gap_update_params(p->ble, hp, 10000, 40000, 0, 4000), 0);
  REQUIRE(wait_event(p, UVBLE_IRQ_CONNECTION_UPDATE, 1, 3000));
  REQUIRE(wait_event(c, UVBLE_IRQ_CONNECTION_UPDATE, 1, 3000));
  CHECK_EQ(p->update.status, 0);
  CHECK_EQ(p->update.conn_handle, hp);
  CHECK_EQ(c->update.conn_handle, hc);
  CHECK(p->update.conn_interval >= 16 && p->update.conn_interval <= 32);
  CHECK_EQ(p->update.supervision_timeout, 400);
  /* Outside the bounds: the central says no, the peripheral hears 1. */
  REQUIRE_EQ(uvble_gap_update_params(p->ble, hp, 7500, 10000, 0, 4000), 0);
  REQUIRE(wait_event(p, UVBLE_IRQ_CONNECTION_UPDATE, 2, 3000));
  CHECK_EQ(p->update.status, 1);
  /* time must pass: the central's side sees no second update */
  run_for(&loop, 100);
  CHECK_EQ(c->count[UVBLE_IRQ_CONNECTION_UPDATE], 1);
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(c->ble, &gs);
  CHECK_EQ(gs.conn_param_rejected, 1);
  hosts_down(h, 2);
  loop_teardown(&loop);
}

TEST(power_down_ends_a_scan_and_drops_links) {
  uv_loop_init(&loop);
  struct host h[3];
  hosts_up(h, 3);
  struct host *p = &h[0], *c = &h[1], *c2 = &h[2];
  connect_pair(c, p);
  REQUIRE_EQ(uvble_gap_scan(p->ble, 0, 0, 0, false), 0);
  REQUIRE_EQ(uvble_active(p->ble, false, host_on_active, NULL), 0);
  p->up_done = false;
  REQUIRE(run_until(&loop, &p->up_done, 3000));
  CHECK_EQ(p->up_status, 0);
  CHECK_EQ(p->count[UVBLE_IRQ_SCAN_DONE], 1);
  CHECK_EQ(p->count[UVBLE_IRQ_CENTRAL_DISCONNECT], 1);
  CHECK(!uvble_gap_advertising(p->ble));
  CHECK_EQ(uvble_gap_scan(p->ble, 0, 0, 0, false), UVBLE_ENOTACTIVE);
  /* Powered up again, it advertises and accepts a connection anew (from a
   * fresh central: btvirt does not tell c its link went). */
  REQUIRE_EQ(uvble_active(p->ble, true, host_on_active, NULL), 0);
  p->up_done = false;
  REQUIRE(run_until(&loop, &p->up_done, 3000));
  REQUIRE_EQ(p->up_status, 0);
  connect_pair(c2, p);
  hosts_down(h, 3);
  loop_teardown(&loop);
}

TEST_MAIN()
