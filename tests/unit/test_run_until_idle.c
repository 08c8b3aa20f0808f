/* SPDX-License-Identifier: Apache-2.0 */
/* run_until_idle() (tests/support/idle.c), the helper the other tests wait
 * with: it returns once the stacks' own work is done (an HCI exchange, ACL
 * data forwarded and completed, on a slow radio too), and fails, saying
 * what was still busy, when the stack never settles (a controller that
 * never answers a command). */
#include <stdlib.h>
#include <string.h>

#include "memctl.h"
#include "sc.h"
#include "test.h"
#include "uvble/gap.h"
#include "uvble/gattc.h"

static uv_loop_t loop;

/* LE Set Scan Parameters (Vol 4, Part E, 7.8.10), the first command of a
 * scan start. */
#define OP_LE_SET_SCAN_PARAMS 0x200B
#define OP_LE_SET_SCAN_ENABLE 0x200C

TEST(returns_once_the_init_sequence_is_done) {
  uv_loop_init(&loop);
  uvble_transport_t *host;
  sc_t *sc = sc_new(&loop, &host);
  uvble_t *ble;
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  CHECK(test_idle_busy(&loop, NULL, 0) != 0); /* Reset is on its way */
  CHECK(run_until_idle(&loop, 5000));
  CHECK(uvble_is_active(ble));
  CHECK_EQ(test_idle_busy(&loop, NULL, 0), 0);
  sc_tear_down(&loop, sc, ble);
  loop_teardown(&loop);
}

TEST(waits_for_each_command_of_a_procedure) {
  uv_loop_init(&loop);
  sc_t *sc;
  uvble_t *ble;
  REQUIRE_EQ(sc_bring_up(&loop, &sc, &ble), 0);
  sc_clear(sc);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 1280000, 11250, false), 0);
  char why[512];
  CHECK(test_idle_busy(&loop, why, sizeof why) != 0);
  CHECK(strstr(why, "HCI command") != NULL);
  CHECK(run_until_idle(&loop, 5000));
  /* Parameters, then enable: the second is sent only once the first was
   * answered, so both are there only if the wait covered the chain. */
  CHECK(sc_find_cmd(sc, OP_LE_SET_SCAN_PARAMS, 0) >= 0);
  CHECK(sc_find_cmd(sc, OP_LE_SET_SCAN_ENABLE, 0) >= 0);
  sc_tear_down(&loop, sc, ble);
  loop_teardown(&loop);
}

/* A controller that takes the command and never answers (not sc_silence,
 * which tells the helper the test will answer it itself). */
static bool never_answer(sc_t *sc, const struct sc_cmd_rec *cmd, void *arg) {
  (void)sc;
  (void)cmd;
  (void)arg;
  return true;
}

TEST(fails_with_the_busy_reason_when_a_command_is_never_answered) {
  uv_loop_init(&loop);
  sc_t *sc;
  uvble_t *ble;
  REQUIRE_EQ(sc_bring_up(&loop, &sc, &ble), 0);
  sc_on_cmd(sc, OP_LE_SET_SCAN_PARAMS, never_answer, NULL);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 1280000, 11250, false), 0);
  char why[512];
  uint64_t t0 = uv_hrtime();
  CHECK(!test_idle_wait(&loop, 100, why, sizeof why));
  /* The bound was waited (no early give-up), and the reason names it. */
  CHECK((uv_hrtime() - t0) / 1000000 >= 90);
  CHECK(strstr(why, "awaits its answer") != NULL);
  printf("  (busy: %s)\n", why);
  sc_tear_down(&loop, sc, ble);
  loop_teardown(&loop);
}

/* ---- ACL over the in-memory controller pair ------------------------------ */

static uvble_t *ha, *hb;
static memctl_t *mc;
static int mtu_events;
static uint16_t conn_h;

static int on_irq(uvble_t *ble, int type, const uvble_irq_data_t *d,
                  void *arg) {
  (void)ble;
  (void)arg;
  if (type == UVBLE_IRQ_CENTRAL_CONNECT) conn_h = d->connect.conn_handle;
  if (type == UVBLE_IRQ_MTU_EXCHANGED) mtu_events++;
  return 0;
}

static void pair_up(const struct memctl_config *cfg) {
  uv_loop_init(&loop);
  mtu_events = 0;
  conn_h = 0;
  REQUIRE_EQ(memctl_bring_up(&loop, cfg, &mc, &ha, &hb), 0);
  uvble_irq(ha, on_irq, NULL);
  uvble_irq(hb, on_irq, NULL);
  REQUIRE(memctl_connect(mc) >= 0);
  /* The connection events are in memctl's queues: delivered before idle. */
  REQUIRE(run_until_idle(&loop, 5000));
  REQUIRE(conn_h != 0);
}

static void pair_down(void) {
  uvble_close(ha, NULL, NULL);
  uvble_close(hb, NULL, NULL);
  memctl_free(mc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

TEST(waits_for_an_att_exchange_between_two_stacks) {
  pair_up(NULL);
  REQUIRE_EQ(uvble_gattc_exchange_mtu(ha, conn_h), 0);
  CHECK(run_until_idle(&loop, 5000));
  /* Request to B, response back to A: both stacks report it. */
  CHECK_EQ(mtu_events, 2);
  struct memctl_stats st;
  memctl_get_stats(mc, &st);
  CHECK_EQ(st.acl_packets[0], 1);
  CHECK_EQ(st.acl_packets[1], 1);
  pair_down();
}

TEST(waits_for_a_slow_radio_to_complete_packets) {
  struct memctl_config cfg = {.completion_delay_ms = 60};
  pair_up(&cfg);
  uint64_t t0 = uv_hrtime();
  REQUIRE_EQ(uvble_gattc_exchange_mtu(ha, conn_h), 0);
  CHECK(run_until_idle(&loop, 5000));
  /* Two packets, each held 60 ms in the air. */
  CHECK((uv_hrtime() - t0) / 1000000 >= 100);
  CHECK_EQ(mtu_events, 2);
  char why[256];
  CHECK_EQ(memctl_pending(mc, why, sizeof why), 0);
  pair_down();
}

TEST(a_command_the_test_answers_itself_is_not_waited_for) {
  uv_loop_init(&loop);
  sc_t *sc;
  uvble_t *ble;
  REQUIRE_EQ(sc_bring_up(&loop, &sc, &ble), 0);
  sc_silence(sc, OP_LE_SET_SCAN_PARAMS);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 1280000, 11250, false), 0);
  CHECK(run_until_idle(&loop, 5000));
  CHECK(sc_find_cmd(sc, OP_LE_SET_SCAN_PARAMS, 0) >= 0);
  /* Answered: the stack goes on to enable, and the wait covers it. */
  uint8_t st = 0;
  sc_send_cc(sc, OP_LE_SET_SCAN_PARAMS, &st, 1);
  CHECK(run_until_idle(&loop, 5000));
  CHECK(sc_find_cmd(sc, OP_LE_SET_SCAN_ENABLE, 0) >= 0);
  sc_tear_down(&loop, sc, ble);
  loop_teardown(&loop);
}

TEST(completions_the_test_holds_are_not_waited_for) {
  pair_up(NULL);
  memctl_hold_completions(mc, true);
  REQUIRE_EQ(uvble_gattc_exchange_mtu(ha, conn_h), 0);
  /* The request is held in the air until the test lets it go: idle now. */
  CHECK(run_until_idle(&loop, 5000));
  CHECK_EQ(mtu_events, 0);
  memctl_hold_completions(mc, false);
  CHECK(run_until_idle(&loop, 5000));
  CHECK_EQ(mtu_events, 2);
  pair_down();
}

TEST_MAIN()
