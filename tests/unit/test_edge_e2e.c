/* SPDX-License-Identifier: Apache-2.0 */
/* Act, then at once disconnect (tests/support/edge_scenarios.h) on the
 * in-memory controller pair with a slow radio: two ACL buffers, each
 * packet in the air for 3 ms, so what an app queues just before ending the
 * link is still in its host when the disconnect is asked for. Also: a
 * pairing whose link drops before its keys are out stores nothing. */
#include <stdlib.h>
#include <string.h>

#include "memctl.h"

static memctl_t *mc;

#include "edge_scenarios.h"

static void edge_bring_up(void) {
  struct memctl_config cfg = {.acl_pkts = 2, .completion_delay_ms = 3};
  REQUIRE_EQ(memctl_bring_up(&loop, &cfg, &mc, &ble_a, &ble_b), 0);
}

static void edge_connect(void) {
  int h = memctl_connect(mc);
  REQUIRE(h >= 0);
  H = HB = (uint16_t)h;
}

static void edge_free_controller(void) { memctl_free(mc); }

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

TEST(a_pairing_whose_link_drops_before_its_keys_are_out_stores_nothing) {
  up();
  uvble_future_t p = {0};
  REQUIRE_EQ(uvble_connection_pair(&p, CA, NULL, 5000), 0);
  /* Step until the central has B's keys and has queued its own: then the
   * radio stops, so the central's keys never complete. */
  struct ble_conn *ca = conn_find(ble_a, H);
  REQUIRE(ca);
  for (int i = 0; i < 100000 && !uvble_future_done(&p); i++) {
    if (ca->smp && ca->smp->p && ca->smp->p->keys_queued) break;
    uv_run(&loop, UV_RUN_ONCE);
  }
  REQUIRE(ca->smp && ca->smp->p && ca->smp->p->keys_queued);
  memctl_hold_completions(mc, true);
  run_until_idle(&loop, 5000);
  CHECK(!uvble_future_done(&p));
  CHECK(!uvble_connection_bonded(CA));
  CHECK(!uvble_connection_bonded(CB));
  memctl_disconnect(mc, H, 0x08);
  REQUIRE(run_until_pred(&loop, done, &p, 3000));
  CHECK_EQ(p.status, UVBLE_EDISCONNECTED);
  wait_down();
  memctl_hold_completions(mc, false);
  /* Nothing was stored on either side. */
  CHECK(!has_bond(ble_a));
  CHECK(!has_bond(ble_b));
  down();
}

TEST_MAIN()
