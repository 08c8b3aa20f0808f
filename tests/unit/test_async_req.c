/* SPDX-License-Identifier: Apache-2.0 */
/* The async layer's futures on core requests (uvble/req.h), end to end on
 * the in-memory controller pair (memctl; A central, B peripheral): futures
 * waiting at once for an MTU exchange or a pairing share one request and
 * all get its outcome; the last one to leave early cancels it (the core
 * then swallows and counts the late answer); a cancelled indicate or L2CAP
 * connect cancels its request; disconnect() completes after the link's
 * disconnected() futures; the chained irq handler hears each request's
 * outcome once, as the irq API raises it, and nothing of a cancelled one. */
#include <string.h>

#include "memctl.h"
#include "test.h"
#include "uvble/async.h"
#include "uvble/l2cap.h"

static uv_loop_t loop;
static memctl_t *mc;
static uvble_t *ble_a, *ble_b;
static uvble_async_t *A, *B;
static uvble_connection_t *CA, *CB;
static uint16_t H;
static uvble_characteristic_t *chr;
static int chained[2][UVBLE_IRQ_MAX + 1]; /* events the chained handlers saw */

#define PSM 0x0041

static bool done(void *f) { return uvble_future_done(f); }

static int chain(uvble_t *b, int ev, const uvble_irq_data_t *d, void *arg) {
  (void)b;
  (void)d;
  int *count = arg;
  if (ev >= 1 && ev <= UVBLE_IRQ_MAX) count[ev]++;
  return 0;
}

static bool both_connected(void *arg) {
  (void)arg;
  return uvble_async_connection(A, H) && uvble_async_connection(B, H);
}

static void up(void) {
  uv_loop_init(&loop);
  memset(chained, 0, sizeof chained);
  REQUIRE_EQ(memctl_bring_up(&loop, NULL, &mc, &ble_a, &ble_b), 0);
  REQUIRE_EQ(uvble_async_new(ble_a, NULL, NULL, &A), 0);
  REQUIRE_EQ(uvble_async_new(ble_b, NULL, NULL, &B), 0);
  uvble_async_irq_chain(A, chain, chained[0]);
  uvble_async_irq_chain(B, chain, chained[1]);
  uvble_service_t *svc;
  uvble_uuid_t su = uvble_uuid16(0xABCD), u1 = uvble_uuid16(0xAB01);
  REQUIRE_EQ(uvble_service_new(B, &su, &svc), 0);
  uvble_characteristic_opts_t o = {
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_INDICATE, .initial = "v", .initial_len = 1};
  REQUIRE_EQ(uvble_characteristic_new(svc, &u1, &o, &chr), 0);
  REQUIRE_EQ(uvble_register_services(B, &svc, 1), 0);
  int h = memctl_connect(mc);
  REQUIRE(h >= 0);
  H = (uint16_t)h;
  REQUIRE(run_until_pred(&loop, both_connected, NULL, 1000));
  CA = uvble_connection_ref(uvble_async_connection(A, H));
  CB = uvble_connection_ref(uvble_async_connection(B, H));
}

static int nclosed;
static void on_closed(uvble_async_t *a, void *arg) {
  (void)a;
  (void)arg;
  nclosed++;
}
static bool two_closed(void *arg) {
  (void)arg;
  return nclosed == 2;
}

static void down(void) {
  uvble_connection_release(CA);
  uvble_connection_release(CB);
  nclosed = 0;
  uvble_async_close(A, on_closed, NULL);
  uvble_async_close(B, on_closed, NULL);
  REQUIRE(run_until_pred(&loop, two_closed, NULL, 2000));
  memctl_free(mc);
  run_until_idle(&loop, 5000);
  loop_teardown(&loop);
}

static uint64_t late(uvble_t *ble) {
  uvble_stats_t s;
  uvble_get_stats(ble, &s);
  return s.req_late_responses;
}

static bool late_above(void *arg) {
  uint64_t *want = arg;
  return late(ble_a) + late(ble_b) >= *want;
}

/* ---- shared requests ------------------------------------------------------- */
TEST(futures_waiting_at_once_share_one_mtu_exchange) {
  up();
  uvble_future_t f = {0}, g = {0}, h = {0};
  REQUIRE_EQ(uvble_connection_exchange_mtu(&f, CA, 100, 2000), 0);
  REQUIRE_EQ(uvble_connection_exchange_mtu(&g, CA, 0, 2000), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 2000));
  REQUIRE(run_until_pred(&loop, done, &g, 2000));
  CHECK_EQ(f.status, 0);
  CHECK_EQ(g.status, 0);
  CHECK_EQ(f.result.mtu, g.result.mtu);
  CHECK(f.result.mtu > 23);
  CHECK_EQ(uvble_connection_mtu(CA), f.result.mtu);
  /* One exchange: the chained handler heard it once, as the irq API. */
  CHECK_EQ(chained[0][UVBLE_IRQ_MTU_EXCHANGED], 1);
  /* Later: at once, with the settled MTU. */
  REQUIRE_EQ(uvble_connection_exchange_mtu(&h, CA, 0, 2000), 0);
  REQUIRE(run_until_pred(&loop, done, &h, 100));
  CHECK_EQ(h.status, 0);
  CHECK_EQ(h.result.mtu, f.result.mtu);
  /* B saw the peer's exchange as an event. */
  run_until_idle(&loop, 5000);
  CHECK_EQ(uvble_connection_mtu(CB), f.result.mtu);
  down();
}

TEST(the_last_future_to_leave_cancels_the_shared_request) {
  up();
  uvble_future_t f = {0}, g = {0};
  REQUIRE_EQ(uvble_connection_exchange_mtu(&f, CA, 100, 2000), 0);
  REQUIRE_EQ(uvble_connection_exchange_mtu(&g, CA, 0, 2000), 0);
  uint64_t want = late(ble_a) + 1;
  CHECK_EQ(uvble_future_cancel(&f), 0);
  /* g still waits for the request. */
  REQUIRE(run_until_pred(&loop, done, &g, 2000));
  CHECK_EQ(f.status, UVBLE_ECANCELED);
  CHECK_EQ(g.status, 0);
  CHECK_EQ(late(ble_a), want - 1);
  down();

  up();
  memset(&f, 0, sizeof f);
  memset(&g, 0, sizeof g);
  REQUIRE_EQ(uvble_connection_pair(&f, CA, NULL, 5000), 0);
  REQUIRE_EQ(uvble_connection_pair(&g, CA, NULL, 5000), 0);
  CHECK_EQ(uvble_future_cancel(&f), 0);
  CHECK_EQ(uvble_future_cancel(&g), 0);
  run_until_idle(&loop, 5000);
  CHECK(uvble_future_done(&f) && uvble_future_done(&g));
  CHECK_EQ(g.status, UVBLE_ECANCELED);
  /* The core failed the pairing (0x08) for us: nothing reached A's
   * chained handler, and a new pair may start. */
  run_until_idle(&loop, 5000);
  CHECK_EQ(chained[0][UVBLE_IRQ_ENCRYPTION_UPDATE], 0);
  uvble_future_t p = {0};
  REQUIRE_EQ(uvble_connection_pair(&p, CA, NULL, 5000), 0);
  REQUIRE(run_until_pred(&loop, done, &p, 5000));
  CHECK_EQ(p.status, 0);
  CHECK(uvble_connection_encrypted(CA));
  CHECK_EQ(chained[0][UVBLE_IRQ_ENCRYPTION_UPDATE], 1);
  down();
}

TEST(futures_waiting_at_once_share_one_pairing) {
  up();
  uvble_future_t f = {0}, g = {0};
  REQUIRE_EQ(uvble_connection_pair(&f, CA, NULL, 5000), 0);
  REQUIRE_EQ(uvble_connection_pair(&g, CA, NULL, 5000), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 5000));
  REQUIRE(run_until_pred(&loop, done, &g, 5000));
  CHECK_EQ(f.status, 0);
  CHECK_EQ(g.status, 0);
  CHECK(uvble_connection_encrypted(CA));
  CHECK_EQ(chained[0][UVBLE_IRQ_ENCRYPTION_UPDATE], 1);
  /* The peripheral's side came as the peer's pairing: an event. */
  run_until_idle(&loop, 5000);
  CHECK(uvble_connection_encrypted(CB));
  down();
}

/* ---- one request per future ---------------------------------------------- */
TEST(a_cancelled_indicate_goes_out_and_its_confirmation_is_swallowed) {
  up();
  uvble_future_t f = {0}, g = {0};
  REQUIRE_EQ(uvble_characteristic_indicate(&f, chr, CB, "a", 1, 2000), 0);
  CHECK_EQ(uvble_characteristic_indicate(&g, chr, CB, "b", 1, 2000),
           UVBLE_EBUSY);
  uint64_t want = late(ble_a) + late(ble_b) + 1;
  CHECK_EQ(uvble_future_cancel(&f), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(f.status, UVBLE_ECANCELED);
  /* The characteristic is free again at once. */
  memset(&g, 0, sizeof g);
  REQUIRE_EQ(uvble_characteristic_indicate(&g, chr, CB, "b", 1, 2000), 0);
  REQUIRE(run_until_pred(&loop, done, &g, 2000));
  CHECK_EQ(g.status, 0);
  REQUIRE(run_until_pred(&loop, late_above, &want, 2000));
  CHECK_EQ(late(ble_b), 1);
  /* Only the confirmed one reached B's chained handler. */
  CHECK_EQ(chained[1][UVBLE_IRQ_GATTS_INDICATE_DONE], 1);
  down();
}

TEST(a_cancelled_l2cap_connect_leaves_no_channel) {
  up();
  REQUIRE_EQ(uvble_async_l2cap_listen(B, PSM, 512), 0);
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_connection_l2cap_connect(&f, CA, PSM, 512, 2000), 0);
  uint64_t want = late(ble_a) + 1;
  CHECK_EQ(uvble_future_cancel(&f), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(f.status, UVBLE_ECANCELED);
  /* The peer accepts; the core closes the channel without an event. */
  REQUIRE(run_until_pred(&loop, late_above, &want, 2000));
  run_until_idle(&loop, 5000);
  CHECK_EQ(chained[0][UVBLE_IRQ_L2CAP_CONNECT], 0);
  CHECK_EQ(chained[1][UVBLE_IRQ_L2CAP_DISCONNECT], 1);
  /* A new connect works and is heard once. */
  uvble_future_t g = {0};
  REQUIRE_EQ(uvble_connection_l2cap_connect(&g, CA, PSM, 512, 2000), 0);
  REQUIRE(run_until_pred(&loop, done, &g, 2000));
  CHECK_EQ(g.status, 0);
  CHECK(uvble_l2cap_channel_is_open(g.result.channel));
  CHECK_EQ(chained[0][UVBLE_IRQ_L2CAP_CONNECT], 1);
  /* The peer refuses an SPSM nobody listens on: its result code. */
  uvble_future_t r = {0};
  REQUIRE_EQ(uvble_connection_l2cap_connect(&r, CA, 0x0077, 512, 2000), 0);
  REQUIRE(run_until_pred(&loop, done, &r, 2000));
  CHECK_EQ(r.status, UVBLE_EL2CAP);
  CHECK_EQ(r.proto_status, 0x0002);
  uvble_l2cap_channel_free(g.result.channel);
  down();
}

static int order[4], norder;
static void note(uvble_future_t *f) { order[norder++] = (int)(intptr_t)f->data; }

TEST(disconnect_completes_after_the_links_disconnected_futures) {
  up();
  norder = 0;
  uvble_future_t w = {.cb = note, .data = (void *)1};
  uvble_future_t d = {.cb = note, .data = (void *)2};
  uvble_future_t d2 = {.cb = note, .data = (void *)3};
  REQUIRE_EQ(uvble_connection_disconnected(&w, CA, 2000), 0);
  REQUIRE_EQ(uvble_connection_disconnect(&d, CA, 2000), 0);
  /* A second disconnect() waits for the same end. */
  REQUIRE_EQ(uvble_connection_disconnect(&d2, CA, 2000), 0);
  REQUIRE(run_until_pred(&loop, done, &d2, 2000));
  REQUIRE(run_until_pred(&loop, done, &d, 2000));
  CHECK_EQ(w.status, 0);
  CHECK_EQ(d.status, 0);
  CHECK_EQ(d2.status, 0);
  REQUIRE_EQ(norder, 3);
  CHECK_EQ(order[0], 1);
  CHECK_EQ(order[1], 3); /* it waited in the link's list */
  CHECK_EQ(order[2], 2);
  CHECK(!uvble_connection_is_connected(CA));
  /* The chained handler heard the end once. */
  CHECK_EQ(chained[0][UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  down();
}

TEST(a_disconnect_future_that_ends_early_still_ends_the_link) {
  up();
  uvble_future_t d = {0}, w = {0};
  REQUIRE_EQ(uvble_connection_disconnect(&d, CA, 2000), 0);
  CHECK_EQ(uvble_future_cancel(&d), 0);
  REQUIRE_EQ(uvble_connection_disconnected(&w, CB, 2000), 0);
  REQUIRE(run_until_pred(&loop, done, &w, 2000));
  CHECK_EQ(d.status, UVBLE_ECANCELED);
  CHECK_EQ(w.status, 0);
  run_until_idle(&loop, 5000);
  CHECK(!uvble_connection_is_connected(CA));
  down();
}

TEST_MAIN()
