/* SPDX-License-Identifier: Apache-2.0 */
/* 200 start/stop cycles of peripherals and centrals on one btvirt leave it
 * alive. uvble_close() waits (bounded) for the replies to commands already
 * sent and for queued data before closing its socket: btvirt writing a
 * reply into a closed socket dies of SIGPIPE, taking every other host on
 * it down. Each cycle closes its two hosts with commands in flight: right
 * after uvble_active() (init sequence running), right after asking to
 * advertise and scan, or with a link up and a disconnect and data
 * queued. At the end a fresh pair still comes up and connects. */
#include "test_gap_common.h"

static const uint8_t ADV[] = {0x02, 0x01, 0x06};
#define CYCLES 200

static void close_both(struct host *h) {
  hosts_down(h, 2);
}

/* Both hosts started, closed while their init sequences run. */
static void cycle_during_init(void) {
  struct host h[2];
  for (int i = 0; i < 2; i++) {
    memset(&h[i], 0, sizeof h[i]);
    char err[256] = "";
    int r = uvble_new(&loop, transport(), &h[i].ble, err, sizeof err);
    if (r < 0) fprintf(stderr, "  uvble_new: %s\n", err);
    REQUIRE_EQ(r, 0);
    uvble_set_data(h[i].ble, &h[i]);
    REQUIRE_EQ(uvble_active(h[i].ble, true, host_on_active, NULL), 0);
  }
  /* time must pass: a moment only, so the close meets the init running */
  run_for(&loop, 1);
  close_both(h);
}

/* A peripheral asked to advertise and a central asked to scan, closed at
 * once. */
static void cycle_adv_scan(void) {
  struct host h[2];
  hosts_up(h, 2);
  REQUIRE_EQ(uvble_gap_advertise(h[0].ble, 20000, ADV, sizeof ADV, NULL, 0,
                                 true),
             0);
  REQUIRE_EQ(uvble_gap_scan(h[1].ble, 0, 30000, 30000, false), 0);
  close_both(h);
}

static bool advertising(void *arg) { return uvble_gap_advertising(arg); }

struct attempt {
  struct host *c;
  int connects, fails;
};
static bool attempt_over(void *arg) {
  struct attempt *a = arg;
  return a->c->count[UVBLE_IRQ_PERIPHERAL_CONNECT] > a->connects ||
         a->c->count[UVBLE_IRQ_PERIPHERAL_DISCONNECT] > a->fails;
}

/* Connects c to p, retrying while btvirt refuses a connect to an address
 * not advertising yet (it fails such a connect at once). */
static void connect_to(struct host *c, struct host *p) {
  REQUIRE_EQ(uvble_gap_advertise(p->ble, 20000, ADV, sizeof ADV, NULL, 0,
                                 true),
             0);
  REQUIRE(run_until_pred(&loop, advertising, p->ble, 3000));
  for (int tries = 0; tries < 20; tries++) {
    struct attempt a = {c, c->count[UVBLE_IRQ_PERIPHERAL_CONNECT],
                        c->count[UVBLE_IRQ_PERIPHERAL_DISCONNECT]};
    REQUIRE_EQ(uvble_gap_connect(c->ble, &p->addr, 0, 0, 0), 0);
    REQUIRE(run_until_pred(&loop, attempt_over, &a, 5000));
    if (c->count[UVBLE_IRQ_PERIPHERAL_CONNECT] > a.connects) return;
    run_until_idle(&loop, 5000);
  }
  REQUIRE(!"connected");
}

/* Connected; the central disconnects with a PDU queued and both close. */
static void cycle_connected(void) {
  struct host h[2];
  hosts_up(h, 2);
  struct host *p = &h[0], *c = &h[1];
  connect_to(c, p);
  uint16_t hc = c->connect[UVBLE_IRQ_PERIPHERAL_CONNECT].conn_handle;
  struct ble_conn *conn = conn_find(c->ble, hc);
  REQUIRE(conn);
  uint8_t junk[40] = {0};
  uvble_iov_t iov = {junk, sizeof junk};
  CHECK_EQ(l2cap_send_pdu(c->ble, conn, 0x003f, &iov, 1), 0);
  CHECK_EQ(uvble_gap_disconnect(c->ble, hc), 1);
  close_both(h);
}

TEST(two_hundred_start_stop_cycles_leave_btvirt_alive) {
  uv_loop_init(&loop);
  uint64_t t0 = uv_now(&loop);
  for (int i = 0; i < CYCLES; i++) {
    if (i % 10 == 9)
      cycle_connected();
    else if (i % 2)
      cycle_adv_scan();
    else
      cycle_during_init();
  }
  fprintf(stderr, "  %d cycles in %.1f s\n", CYCLES,
          (double)(uv_now(&loop) - t0) / 1000.0);
  /* btvirt is still there: a new pair comes up and connects. */
  struct host h[2];
  hosts_up(h, 2);
  connect_to(&h[1], &h[0]);
  hosts_down(h, 2);
  loop_teardown(&loop);
}

TEST_MAIN()
