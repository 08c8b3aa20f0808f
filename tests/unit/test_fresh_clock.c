/* SPDX-License-Identifier: Apache-2.0 */
/* Deadlines are armed from the current time, not the loop's cached one.
 * Two hosts on the in-memory controller pair; the process sleeps 3 s
 * between uvble_new()/uvble_active() and uv_run(), and again before
 * starting an ATT exchange, an L2CAP connection and a pairing, each with
 * a timeout (HCI 2 s; ATT, SMP, L2CAP and the async futures 1 s) shorter
 * than the sleep. With deadlines taken from the stale loop time every one
 * of them would expire on the first loop turn, before its answer is read;
 * all must succeed. */
#include <string.h>
#include <unistd.h>

#include "att.h"
#include "conn.h"
#include "l2cap_internal.h"
#include "memctl.h"
#include "smp_internal.h"
#include "test.h"
#include "uvble/async.h"

static uv_loop_t loop;

static void on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  int *st = uvble_get_data(ble);
  *st = status == 0 ? 1 : status;
}

static bool both_active(void *arg) {
  int *st = arg;
  return st[0] != 0 && st[1] != 0;
}

static bool done(void *f) { return uvble_future_done(f); }

static void sleep_outside_the_loop(void) {
  /* Not uv_sleep: the point is a process held up (key derivation for a
   * bond store, setup) while the loop's cached time stands still. */
  sleep(3);
}

TEST(timeouts_survive_a_held_up_process) {
  uv_loop_init(&loop);
  uvble_transport_t *ta, *tb;
  memctl_t *mc = memctl_new(&loop, NULL, &ta, &tb);
  REQUIRE(mc);
  uvble_t *a, *b;
  REQUIRE_EQ(uvble_new_with_transport(&loop, ta, &a), 0);
  REQUIRE_EQ(uvble_new_with_transport(&loop, tb, &b), 0);
  uvble_t *both[2] = {a, b};
  for (int i = 0; i < 2; i++) {
    att_set_timeout_ms(both[i], 1000);
    smp_set_timeout_ms(both[i], 1000);
    both[i]->l2cap->rtx_ms = 1000;
  }
  int st[2] = {0, 0};
  uvble_set_data(a, &st[0]);
  uvble_set_data(b, &st[1]);
  REQUIRE_EQ(uvble_active(a, true, on_active, NULL), 0);
  REQUIRE_EQ(uvble_active(b, true, on_active, NULL), 0);
  sleep_outside_the_loop();
  /* The stack armed its timers before the sleep; this only keeps the
   * test's own wait (a uv timer) from starting out expired. */
  uv_update_time(&loop);
  REQUIRE(run_until_pred(&loop, both_active, st, 5000));
  CHECK_EQ(st[0], 1); /* HCI Reset did not "time out" */
  CHECK_EQ(st[1], 1);
  uvble_stats_t s;
  uvble_get_stats(a, &s);
  CHECK_EQ(s.hci_cmd_timeouts, 0);

  uvble_async_t *A, *B;
  REQUIRE_EQ(uvble_async_new(a, NULL, NULL, &A), 0);
  REQUIRE_EQ(uvble_async_new(b, NULL, NULL, &B), 0);
  int h = memctl_connect(mc);
  REQUIRE(h >= 0);
  run_until_idle(&loop, 5000);
  uvble_connection_t *CA = uvble_async_connection(A, (uint16_t)h);
  uvble_connection_t *CB = uvble_async_connection(B, (uint16_t)h);
  REQUIRE(CA && CB);

  sleep_outside_the_loop();
  uvble_future_t mtu = {0}, acc = {0}, con = {0}, pair = {0};
  REQUIRE_EQ(uvble_connection_exchange_mtu(&mtu, CA, 100, 1000), 0);
  REQUIRE_EQ(uvble_connection_l2cap_accept(&acc, CB, 0x0080, 100, 1000), 0);
  REQUIRE_EQ(uvble_connection_l2cap_connect(&con, CA, 0x0080, 100, 1000), 0);
  REQUIRE_EQ(uvble_connection_pair(&pair, CA, NULL, 1000), 0);
  uv_update_time(&loop); /* for the test's own waits, as above */
  REQUIRE(run_until_pred(&loop, done, &mtu, 3000));
  REQUIRE(run_until_pred(&loop, done, &con, 3000));
  REQUIRE(run_until_pred(&loop, done, &acc, 3000));
  REQUIRE(run_until_pred(&loop, done, &pair, 3000));
  CHECK_EQ(mtu.status, 0);
  CHECK_EQ(con.status, 0);
  CHECK_EQ(acc.status, 0);
  CHECK_EQ(pair.status, 0);
  if (con.status == 0) uvble_l2cap_channel_free(con.result.channel);
  if (acc.status == 0) uvble_l2cap_channel_free(acc.result.channel);

  uvble_async_close(A, NULL, NULL);
  uvble_async_close(B, NULL, NULL);
  run_until_idle(&loop, 5000);
  memctl_free(mc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

/* Held up just past the HCI deadline (2 s + 20 ms: 201 hosts set up
 * before uv_run under load, test_scale_scan): HCI Reset's answer is
 * waiting, unread; no lateness threshold can tell that from a silent
 * controller, only whether the loop has read its I/O since. */
TEST(a_deadline_passed_before_the_first_loop_turn_is_no_timeout) {
  uv_loop_init(&loop);
  uvble_transport_t *ta, *tb;
  memctl_t *mc = memctl_new(&loop, NULL, &ta, &tb);
  REQUIRE(mc);
  uvble_t *ab[2];
  int st[2] = {0, 0};
  for (int i = 0; i < 2; i++) {
    REQUIRE_EQ(uvble_new_with_transport(&loop, i ? tb : ta, &ab[i]), 0);
    uvble_set_data(ab[i], &st[i]);
    REQUIRE_EQ(uvble_active(ab[i], true, on_active, NULL), 0);
  }
  usleep(2020 * 1000);
  uv_update_time(&loop); /* for the test's own wait */
  REQUIRE(run_until_pred(&loop, both_active, st, 5000));
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(st[i], 1);
    uvble_stats_t s;
    uvble_get_stats(ab[i], &s);
    CHECK_EQ(s.hci_cmd_timeouts, 0);
    uvble_close(ab[i], NULL, NULL);
  }
  run_until_idle(&loop, 5000);
  memctl_free(mc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

TEST_MAIN()
