/* SPDX-License-Identifier: Apache-2.0 */
/* Act, then at once disconnect (tests/support/edge_scenarios.h) on btvirt:
 * two uvble hosts in one process on two of its controllers. btvirt's
 * controllers forward ACL between them over its simulated radio and
 * return completions on their own schedule, independently of our
 * in-memory pair. */
#include <stdlib.h>
#include <string.h>

#include "edge_scenarios.h"

static const char *transport(void) {
  const char *t = getenv("UVBLE_TRANSPORT");
  return t ? t : "unix:/tmp/bt-server-le";
}

static int nup, up_status;
static void on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  nup++;
  if (status) up_status = status;
}
static bool both_up(void *arg) {
  (void)arg;
  return nup == 2;
}

static void edge_bring_up(void) {
  char err[256] = "";
  uvble_t **b[2] = {&ble_a, &ble_b};
  nup = up_status = 0;
  for (int i = 0; i < 2; i++) {
    int r = uvble_new(&loop, transport(), b[i], err, sizeof err);
    if (r < 0) fprintf(stderr, "  uvble_new: %s\n", err);
    REQUIRE_EQ(r, 0);
    REQUIRE_EQ(uvble_active(*b[i], true, on_active, NULL), 0);
  }
  REQUIRE(run_until_pred(&loop, both_up, NULL, 10000));
  REQUIRE_EQ(up_status, 0);
}

/* B advertises, A connects (retrying while B's advertising is not on yet:
 * btvirt fails a connect to a silent address at once). */
static void edge_connect(void) {
  uvble_controller_info_t info;
  REQUIRE_EQ(uvble_controller_info(ble_b, &info), 0);
  uvble_advertise_params_t ap;
  uvble_advertise_params_init(&ap);
  ap.interval_us = 20000;
  static const uint8_t adv[] = {0x02, 0x01, 0x06};
  ap.adv_data = adv;
  ap.adv_len = sizeof adv;
  uvble_future_t fa = {0}, fc = {0};
  REQUIRE_EQ(uvble_advertise(&fa, B, &ap, 10000), 0);
  uvble_device_t dev;
  REQUIRE_EQ(uvble_device_init(&dev, info.public_addr.type,
                               info.public_addr.val),
             0);
  for (int tries = 0; tries < 30; tries++) {
    run_until_idle(&loop, 5000); /* advertising is on at the controller */
    REQUIRE_EQ(uvble_device_connect(&fc, A, &dev, NULL, 5000), 0);
    REQUIRE(run_until_pred(&loop, done, &fc, 6000));
    if (!uvble_connect_retryable(&fc)) break;
  }
  REQUIRE_EQ(fc.status, 0);
  REQUIRE(run_until_pred(&loop, done, &fa, 6000));
  REQUIRE_EQ(fa.status, 0);
  H = uvble_connection_handle(fc.result.conn);
  HB = uvble_connection_handle(fa.result.conn);
  uvble_connection_release(fc.result.conn);
  uvble_connection_release(fa.result.conn);
}

static void edge_free_controller(void) {}

TEST(a_write_with_response_then_disconnect_arrives) { write_then_disconnect(1); }

TEST(a_write_command_then_disconnect_arrives) { write_then_disconnect(0); }

TEST(a_notification_then_disconnect_arrives) {
  server_push_then_disconnect(false);
}

TEST(an_indication_then_disconnect_arrives) {
  server_push_then_disconnect(true);
}

TEST(an_l2cap_sdu_then_disconnect_arrives) { l2cap_sdu_then_disconnect(); }

TEST(pairing_with_bonding_ended_at_once_by_the_central_leaves_both_bonded) {
  pair_then_disconnect(true);
}

TEST(pairing_with_bonding_ended_at_once_by_the_peripheral_leaves_both_bonded) {
  pair_then_disconnect(false);
}

TEST_MAIN()
