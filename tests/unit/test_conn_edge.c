/* SPDX-License-Identifier: Apache-2.0 */
/* The edges of a link and of the stack against a scripted controller that
 * completes packets only when told: a disconnect drains the link's queue
 * first (bounded, drops counted), control PDUs go ahead of queued data,
 * completion marks, and uvble_close() waiting for command replies and
 * queued data. */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "sc.h"
#include "test.h"
#include "uvble/gap.h"

static uv_loop_t loop;
static const uint8_t PEER[6] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06};

static int ndisc;
static int on_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d, void *arg) {
  (void)ble;
  (void)d;
  (void)arg;
  if (ev == UVBLE_IRQ_PERIPHERAL_DISCONNECT) ndisc++;
  return 0;
}

static void bring(sc_t **sc, uvble_t **ble, uint16_t mtu, uint8_t pkts) {
  uv_loop_init(&loop);
  REQUIRE_EQ(sc_bring_up_acl(&loop, mtu, pkts, sc, ble), 0);
  REQUIRE(uvble_is_active(*ble));
  ndisc = 0;
  uvble_irq(*ble, on_irq, NULL);
  sc_clear(*sc);
}

static struct ble_conn *link(sc_t *sc, uvble_t *ble, uint16_t handle) {
  sc_connect(sc, handle, 0, PEER);
  run_until_idle(&loop, 5000);
  return conn_find(ble, handle);
}

static void down(sc_t *sc, uvble_t *ble) {
  sc_tear_down(&loop, sc, ble);
  loop_teardown(&loop);
}

static int send_on(uvble_t *ble, struct ble_conn *c, uint16_t cid,
                   uint8_t tag, size_t len) {
  uint8_t p[600];
  memset(p, tag, sizeof p);
  uvble_iov_t iov = {p, len};
  return l2cap_send_pdu(ble, c, cid, &iov, 1);
}

TEST(disconnect_waits_for_queued_pdus_to_be_completed) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 1);
  struct ble_conn *c = link(sc, ble, 0x40);
  REQUIRE(c);
  for (uint8_t i = 0; i < 3; i++) REQUIRE_EQ(send_on(ble, c, 4, i, 10), 0);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(sc_acl_count(sc), 1); /* one buffer */
  CHECK_EQ(uvble_gap_disconnect(ble, 0x40), 1);
  CHECK_EQ(uvble_gap_disconnect(ble, 0x40), 0); /* already ending */
  /* Draining: nothing new is accepted, HCI Disconnect waits. */
  CHECK_EQ(send_on(ble, c, 4, 9, 10), UVBLE_ENOTCONN);
  run_until_idle(&loop, 5000);
  CHECK_EQ(sc_find_cmd(sc, HCI_OP_DISCONNECT, 0), -1);
  for (int k = 0; k < 2; k++) {
    sc_send_completed(sc, 0x40, 1);
    run_until_idle(&loop, 5000);
    CHECK_EQ(sc_find_cmd(sc, HCI_OP_DISCONNECT, 0), -1);
  }
  REQUIRE_EQ(sc_acl_count(sc), 3);
  for (size_t i = 0; i < 3; i++) CHECK_EQ(sc_acl(sc, i)->data[4], i);
  /* The last one completed: now the link ends. */
  sc_send_completed(sc, 0x40, 1);
  run_until_idle(&loop, 5000);
  int at = sc_find_cmd(sc, HCI_OP_DISCONNECT, 0);
  REQUIRE(at >= 0);
  CHECK_EQ(sc_cmd(sc, (size_t)at)->params[2], 0x13);
  run_until_idle(&loop, 5000);
  CHECK_EQ(ndisc, 1);
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.acl_tx_dropped, 0);
  down(sc, ble);
}

TEST(an_idle_link_is_disconnected_at_once) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 1);
  REQUIRE(link(sc, ble, 0x40));
  CHECK_EQ(uvble_gap_disconnect(ble, 0x40), 1);
  run_until_idle(&loop, 5000);
  CHECK(sc_find_cmd(sc, HCI_OP_DISCONNECT, 0) >= 0);
  down(sc, ble);
}

TEST(a_drain_that_times_out_disconnects_and_counts_drops) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 1);
  REQUIRE_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_DRAIN_MS, 100), 0);
  int v = 0;
  REQUIRE_EQ(uvble_config_get_int(ble, UVBLE_CONFIG_DRAIN_MS, &v), 0);
  CHECK_EQ(v, 100);
  CHECK_EQ(uvble_config_key("drain_ms"), UVBLE_CONFIG_DRAIN_MS);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_DRAIN_MS, -1), UVBLE_EINVAL);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_DRAIN_MS, 60001),
           UVBLE_EINVAL);
  struct ble_conn *c = link(sc, ble, 0x40);
  REQUIRE(c);
  /* One in the controller, never completed; two queued behind it. */
  for (uint8_t i = 0; i < 3; i++) REQUIRE_EQ(send_on(ble, c, 4, i, 10), 0);
  uint64_t t0 = uv_now(&loop);
  CHECK_EQ(uvble_gap_disconnect(ble, 0x40), 1);
  /* The drain's bound (100 ms) sends it. */
  RUN_UNTIL(&loop, sc_find_cmd(sc, HCI_OP_DISCONNECT, 0) >= 0, 5000);
  REQUIRE(sc_find_cmd(sc, HCI_OP_DISCONNECT, 0) >= 0);
  uint64_t waited = uv_now(&loop) - t0;
  CHECK(waited >= 95 && waited < 400);
  CHECK_EQ(sc_acl_count(sc), 1);
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.acl_tx_dropped, 2);
  run_until_idle(&loop, 5000);
  CHECK_EQ(ndisc, 1);
  down(sc, ble);
}

TEST(a_peer_disconnect_while_draining_completes_at_once) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 1);
  struct ble_conn *c = link(sc, ble, 0x40);
  REQUIRE(c);
  for (uint8_t i = 0; i < 3; i++) REQUIRE_EQ(send_on(ble, c, 4, i, 10), 0);
  CHECK_EQ(uvble_gap_disconnect(ble, 0x40), 1);
  sc_disconnect(sc, 0x40, 0x08);
  run_until_idle(&loop, 5000);
  CHECK_EQ(ndisc, 1);
  CHECK(conn_find(ble, 0x40) == NULL);
  CHECK_EQ(ble->hci.acl_free, 1); /* the buffer held came back */
  run_until_idle(&loop, 5000);
  CHECK_EQ(sc_find_cmd(sc, HCI_OP_DISCONNECT, 0), -1);
  down(sc, ble);
}

TEST(signalling_and_smp_go_ahead_of_queued_data) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 1);
  struct ble_conn *c = link(sc, ble, 0x40);
  REQUIRE(c);
  /* A data PDU of three fragments starts; two more data PDUs wait. */
  REQUIRE_EQ(send_on(ble, c, 0x0040, 0xd0, 60), 0);
  REQUIRE_EQ(send_on(ble, c, 0x0040, 0xd1, 10), 0);
  REQUIRE_EQ(send_on(ble, c, 4, 0xd2, 10), 0);
  /* Then a signalling response and an SMP PDU. */
  REQUIRE_EQ(send_on(ble, c, 5, 0xc5, 10), 0);
  REQUIRE_EQ(send_on(ble, c, 6, 0xc6, 10), 0);
  sc_config(sc)->auto_complete_acl = true;
  sc_send_completed(sc, 0x40, 1);
  RUN_UNTIL(&loop, sc_acl_count(sc) >= 7, 5000);
  REQUIRE_EQ(sc_acl_count(sc), 7);
  /* The started PDU is never split: its continuations come first. */
  CHECK_EQ(sc_acl(sc, 0)->pb, 0);
  CHECK_EQ(sc_acl(sc, 1)->pb, 1);
  CHECK_EQ(sc_acl(sc, 2)->pb, 1);
  /* Then control, in its own order, then data, in its own. */
  uint16_t cids[4];
  for (int i = 0; i < 4; i++) {
    const struct sc_acl_rec *r = sc_acl(sc, (size_t)(3 + i));
    CHECK_EQ(r->pb, 0);
    cids[i] = (uint16_t)(r->data[2] | r->data[3] << 8);
  }
  CHECK_EQ(cids[0], 5);
  CHECK_EQ(cids[1], 6);
  CHECK_EQ(cids[2], 0x0040);
  CHECK_EQ(sc_acl(sc, 5)->data[4], 0xd1);
  CHECK_EQ(cids[3], 4);
  down(sc, ble);
}

TEST(completion_marks_follow_number_of_completed_packets) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 2);
  struct ble_conn *c = link(sc, ble, 0x40);
  REQUIRE(c);
  CHECK(acl_tx_done(c, acl_tx_mark(c, 6))); /* nothing queued yet */
  REQUIRE_EQ(send_on(ble, c, 4, 1, 60), 0); /* 3 fragments */
  REQUIRE_EQ(send_on(ble, c, 6, 2, 10), 0);
  uint64_t smp = acl_tx_mark(c, 6);
  uint64_t data = acl_tx_mark(c, 4);
  CHECK(smp != 0 && data != 0 && smp != data);
  run_until_idle(&loop, 5000);
  CHECK(!acl_tx_done(c, smp));
  sc_send_completed(sc, 0x40, 2); /* the data PDU's first two fragments */
  run_until_idle(&loop, 5000);
  CHECK(!acl_tx_done(c, data));
  CHECK(!acl_tx_done(c, smp));
  sc_send_completed(sc, 0x40, 1); /* its last */
  run_until_idle(&loop, 5000);
  CHECK(acl_tx_done(c, data));
  CHECK(!acl_tx_done(c, smp));
  sc_send_completed(sc, 0x40, 1);
  run_until_idle(&loop, 5000);
  CHECK(acl_tx_done(c, smp));
  CHECK(acl_tx_idle(c));
  down(sc, ble);
}

static int off_status = 1;
static void on_off(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  off_status = status;
}

TEST(power_down_lets_queued_pdus_out_first) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 1);
  struct ble_conn *c = link(sc, ble, 0x40);
  REQUIRE(c);
  for (uint8_t i = 0; i < 3; i++) REQUIRE_EQ(send_on(ble, c, 4, i, 10), 0);
  off_status = 1;
  REQUIRE_EQ(uvble_active(ble, false, on_off, NULL), 0);
  CHECK_EQ(send_on(ble, c, 4, 9, 10), UVBLE_ENOTCONN);
  run_until_idle(&loop, 5000);
  CHECK_EQ(sc_find_cmd(sc, HCI_OP_RESET, 0), -1);
  CHECK_EQ(ndisc, 0);
  for (int k = 0; k < 3; k++) {
    sc_send_completed(sc, 0x40, 1);
    run_until_idle(&loop, 5000);
  }
  CHECK_EQ(sc_acl_count(sc), 3);
  CHECK(sc_find_cmd(sc, HCI_OP_RESET, 0) >= 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(ndisc, 1);
  CHECK_EQ(off_status, 0);
  CHECK(!uvble_is_active(ble));
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.acl_tx_dropped, 0);
  down(sc, ble);
}

TEST(power_down_gives_up_on_a_stuck_link_at_the_bound) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 1);
  REQUIRE_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_DRAIN_MS, 100), 0);
  struct ble_conn *c = link(sc, ble, 0x40);
  REQUIRE(c);
  for (uint8_t i = 0; i < 3; i++) REQUIRE_EQ(send_on(ble, c, 4, i, 10), 0);
  off_status = 1;
  REQUIRE_EQ(uvble_active(ble, false, on_off, NULL), 0);
  RUN_UNTIL(&loop, off_status != 1, 5000);
  CHECK_EQ(off_status, 0);
  CHECK_EQ(ndisc, 1);
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.acl_tx_dropped, 2);
  down(sc, ble);
}

/* ---- uvble_close() ------------------------------------------------------ */
static bool closed;
static uint64_t closed_at;
static void on_closed(uvble_t *ble, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  closed = true;
  closed_at = uv_now(&loop);
}

static bool hold_cmd(sc_t *sc, const struct sc_cmd_rec *cmd, void *arg) {
  (void)sc;
  (void)cmd;
  (void)arg;
  return true; /* answered later, or never */
}

struct late {
  uv_timer_t t;
  sc_t *sc;
  uint64_t sent_at;
};
static void answer_late(uv_timer_t *t) {
  struct late *l = t->data;
  sc_send_cs(l->sc, HCI_OP_DISCONNECT, 0);
  l->sent_at = uv_now(&loop);
}

static int cmd_done_status = 1;
static void on_cmd_done(uvble_t *ble, int err, uint8_t st, const uint8_t *r,
                        size_t n, void *arg) {
  (void)ble;
  (void)st;
  (void)r;
  (void)n;
  (void)arg;
  cmd_done_status = err;
}

TEST(close_waits_for_the_reply_to_a_command_already_sent) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 1);
  sc_on_cmd(sc, HCI_OP_DISCONNECT, hold_cmd, NULL);
  uint8_t cmd[3] = {0x40, 0x00, 0x13};
  REQUIRE_EQ(hci_send_cmd(ble, HCI_OP_DISCONNECT, cmd, 3, on_cmd_done, NULL),
             0);
  /* The controller holds it: the stack stays busy, await the command. */
  RUN_UNTIL(&loop, sc_find_cmd(sc, HCI_OP_DISCONNECT, 0) >= 0, 5000);
  REQUIRE(sc_find_cmd(sc, HCI_OP_DISCONNECT, 0) >= 0);
  struct late l = {.sc = sc};
  uv_timer_init(&loop, &l.t);
  l.t.data = &l;
  uv_timer_start(&l.t, answer_late, 150, 0);
  closed = false;
  uint64_t t0 = uv_now(&loop);
  uvble_close(ble, on_closed, NULL);
  /* The caller hears at once; the stack waits for the controller. */
  CHECK_EQ(cmd_done_status, UVBLE_ECANCELED);
  REQUIRE(run_until(&loop, &closed, 3000));
  CHECK(l.sent_at != 0);
  CHECK(closed_at >= l.sent_at);
  CHECK(closed_at - t0 < 900);
  uv_close((uv_handle_t *)&l.t, NULL);
  sc_free(sc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

/* A command the controller never answers: close waits for it until the
 * bound (drain_ms, at most 1 s), then closes anyway. */
static void close_with_a_silent_command(int drain_ms, uint64_t min_ms,
                                        uint64_t max_ms) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 1);
  REQUIRE_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_DRAIN_MS, drain_ms), 0);
  sc_silence(sc, HCI_OP_DISCONNECT);
  uint8_t cmd[3] = {0x40, 0x00, 0x13};
  REQUIRE_EQ(hci_send_cmd(ble, HCI_OP_DISCONNECT, cmd, 3, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  closed = false;
  uint64_t t0 = uv_now(&loop);
  uvble_close(ble, on_closed, NULL);
  REQUIRE(run_until(&loop, &closed, 3000));
  CHECK(closed_at - t0 >= min_ms);
  CHECK(closed_at - t0 < max_ms);
  sc_free(sc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

TEST(close_gives_up_on_a_command_never_answered_at_the_bound) {
  close_with_a_silent_command(200, 190, 600);
}

TEST(close_never_waits_more_than_a_second) {
  close_with_a_silent_command(60000, 990, 1500);
}

TEST(close_lets_queued_data_out_or_counts_it) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 1);
  REQUIRE_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_DRAIN_MS, 300), 0);
  struct ble_conn *c = link(sc, ble, 0x40);
  REQUIRE(c);
  for (uint8_t i = 0; i < 3; i++) REQUIRE_EQ(send_on(ble, c, 4, i, 10), 0);
  closed = false;
  uvble_close(ble, on_closed, NULL);
  /* The close lingers until the bound: await the packets, not idle. */
  RUN_UNTIL(&loop, sc_acl_count(sc) >= 1, 5000);
  CHECK(!closed);
  /* The controller completes one: the next goes out, after close. */
  sc_send_completed(sc, 0x40, 1);
  RUN_UNTIL(&loop, sc_acl_count(sc) >= 2, 5000);
  CHECK_EQ(sc_acl_count(sc), 2);
  CHECK(!closed);
  /* The rest never completes: the close ends at the bound. */
  REQUIRE(run_until(&loop, &closed, 2000));
  CHECK_EQ(sc_acl_count(sc), 2);
  sc_free(sc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

TEST(close_with_all_data_completed_ends_without_waiting) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 4);
  struct ble_conn *c = link(sc, ble, 0x40);
  REQUIRE(c);
  for (uint8_t i = 0; i < 2; i++) REQUIRE_EQ(send_on(ble, c, 4, i, 10), 0);
  run_until_idle(&loop, 5000);
  closed = false;
  uint64_t t0 = uv_now(&loop);
  uvble_close(ble, on_closed, NULL);
  sc_send_completed(sc, 0x40, 2);
  REQUIRE(run_until(&loop, &closed, 2000));
  CHECK(closed_at - t0 < 200);
  sc_free(sc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

TEST_MAIN()
