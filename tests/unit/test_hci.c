/* SPDX-License-Identifier: Apache-2.0 */
/* HCI core against a scripted controller: init sequence, command flow
 * control and timeouts, stray and malformed events, failure and close. */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "sc.h"
#include "test.h"

static uv_loop_t loop;

static void setup(void) { uv_loop_init(&loop); }
static void teardown(sc_t *sc, uvble_t *ble) {
  sc_tear_down(&loop, sc, ble);
  loop_teardown(&loop);
}

struct result {
  bool done;
  int status;
  int calls;
};

static void on_status(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  struct result *r = uvble_get_data(ble);
  r->done = true;
  r->status = status;
  r->calls++;
}

static bool result_done(void *arg) { return ((struct result *)arg)->done; }

TEST(init_sequence_order_and_info) {
  setup();
  sc_t *sc;
  uvble_t *ble;
  REQUIRE_EQ(sc_bring_up(&loop, &sc, &ble), 0);
  static const uint16_t expected[] = {0x0C03, 0x1001, 0x1002, 0x1003, 0x2003,
                                      0x2002, 0x0C01, 0x2001, 0x1009};
  REQUIRE_EQ(sc_cmd_count(sc), sizeof expected / sizeof expected[0]);
  for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
    CHECK_EQ(sc_cmd(sc, i)->opcode, expected[i]);
  /* The event masks enable disconnection, encryption change and LE meta. */
  const struct sc_cmd_rec *m = sc_cmd(sc, 6);
  CHECK_EQ(m->len, 8);
  CHECK(m->params[0] & 0x10);
  CHECK(m->params[0] & 0x80);
  CHECK(m->params[7] & 0x20);
  CHECK(uvble_is_active(ble));
  uvble_controller_info_t info;
  REQUIRE_EQ(uvble_controller_info(ble, &info), 0);
  CHECK_EQ(info.hci_version, 9);
  CHECK_EQ(info.manufacturer, 0x05F1);
  CHECK_EQ(info.acl_mtu, 27);
  CHECK_EQ(info.acl_max_pkts, 4);
  CHECK_STR(uvble_hci_version_name(info.hci_version), "5.0");
  CHECK_STR(uvble_manufacturer_name(info.manufacturer), "The Linux Foundation");
  uvble_addr_t mac;
  REQUIRE_EQ(uvble_config_get_mac(ble, &mac), 0);
  char s[UVBLE_ADDR_STR_LEN];
  CHECK_STR(uvble_addr_to_str(&mac, s), "00:aa:01:00:00:42");
  CHECK_EQ(mac.type, UVBLE_ADDR_PUBLIC);
  teardown(sc, ble);
}

static bool set_v2_support(sc_t *sc, const struct sc_cmd_rec *c, void *arg) {
  (void)c;
  (void)arg;
  sc_config(sc)->commands[41] |= 1 << 5;
  sc_config(sc)->commands[24] |= 1 << 6; /* Write LE Host Supported */
  sc_config(sc)->features[4] = 0x40;     /* dual mode */
  return false; /* the default answer follows */
}

static int start(uvble_t *ble, struct result *r) {
  uvble_set_data(ble, r);
  int rc = uvble_active(ble, true, on_status, NULL);
  if (rc < 0) return rc;
  run_until_pred(&loop, result_done, r, 10000);
  return r->done ? r->status : UVBLE_ETIMEDOUT;
}

TEST(init_adapts_to_listed_commands_and_dual_mode) {
  setup();
  uvble_transport_t *host;
  sc_t *sc = sc_new(&loop, &host);
  sc_on_cmd(sc, 0x0C03, set_v2_support, NULL);
  sc_config(sc)->acl_mtu = 251;
  sc_config(sc)->acl_pkts = 8;
  /* This controller rejects the optional command: that is tolerated. */
  sc_fail_with(sc, 0x0C6D, 0x01);
  uvble_t *ble;
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  struct result r = {0};
  CHECK_EQ(start(ble, &r), 0);
  CHECK(sc_find_cmd(sc, 0x2060, 0) >= 0);
  CHECK(sc_find_cmd(sc, 0x2002, 0) < 0);
  CHECK(sc_find_cmd(sc, 0x0C6D, 0) >= 0);
  uvble_controller_info_t info;
  REQUIRE_EQ(uvble_controller_info(ble, &info), 0);
  CHECK_EQ(info.acl_mtu, 251);
  CHECK_EQ(info.acl_max_pkts, 8);
  teardown(sc, ble);
}

static bool zero_le_buffers(sc_t *sc, const struct sc_cmd_rec *c, void *arg) {
  (void)arg;
  uint8_t ret[4] = {0, 0, 0, 0}; /* status 0, length 0, count 0 */
  sc_send_cc(sc, c->opcode, ret, sizeof ret);
  return true;
}

TEST(init_falls_back_to_shared_buffers) {
  setup();
  uvble_transport_t *host;
  sc_t *sc = sc_new(&loop, &host);
  sc_on_cmd(sc, 0x2002, zero_le_buffers, NULL);
  uvble_t *ble;
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  struct result r = {0};
  CHECK_EQ(start(ble, &r), 0);
  CHECK(sc_find_cmd(sc, 0x1005, 0) >= 0);
  uvble_controller_info_t info;
  REQUIRE_EQ(uvble_controller_info(ble, &info), 0);
  CHECK_EQ(info.acl_mtu, 1021);
  CHECK_EQ(info.acl_max_pkts, 8);
  teardown(sc, ble);
}

TEST(silent_controller_times_out_and_stack_closes_cleanly) {
  setup();
  uvble_transport_t *host;
  sc_t *sc = sc_new(&loop, &host);
  sc_silence(sc, 0x1009);
  uvble_t *ble;
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  ble->hci.cmd_timeout_ms = 200;
  struct result r = {0};
  CHECK_EQ(start(ble, &r), UVBLE_ETIMEDOUT);
  CHECK_EQ(r.calls, 1);
  CHECK(!uvble_is_active(ble));
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.hci_cmd_timeouts, 1);
  /* A failed stack refuses work with its failure status. */
  CHECK_EQ(uvble_active(ble, true, on_status, NULL), UVBLE_ETIMEDOUT);
  teardown(sc, ble);
}

TEST(required_command_rejected_fails_init) {
  setup();
  uvble_transport_t *host;
  sc_t *sc = sc_new(&loop, &host);
  sc_fail_with(sc, 0x2001, 0x12);
  uvble_t *ble;
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  struct result r = {0};
  CHECK_EQ(start(ble, &r), UVBLE_EHCI);
  CHECK(!uvble_is_active(ble));
  teardown(sc, ble);
}

struct cmd_result {
  int calls;
  int err;
  uint8_t status;
  uint8_t ret[8];
  size_t ret_len;
};

static void on_cmd(uvble_t *ble, int err, uint8_t st, const uint8_t *ret,
                   size_t n, void *arg) {
  (void)ble;
  struct cmd_result *c = arg;
  c->calls++;
  c->err = err;
  c->status = st;
  c->ret_len = n;
  if (n) memcpy(c->ret, ret, n < 8 ? n : 8);
}

static bool cmd_done(void *arg) { return ((struct cmd_result *)arg)->calls > 0; }

static bool hold(sc_t *sc, const struct sc_cmd_rec *c, void *arg) {
  (void)sc;
  (void)c;
  (void)arg;
  return true; /* answered later by the test */
}

TEST(command_credits_gate_the_queue) {
  setup();
  sc_t *sc;
  uvble_t *ble;
  REQUIRE_EQ(sc_bring_up(&loop, &sc, &ble), 0);
  sc_clear(sc);
  /* The controller grants no further commands after this one. */
  sc_on_cmd(sc, 0xFC01, hold, NULL);
  struct cmd_result a = {0}, b = {0};
  REQUIRE_EQ(hci_send_cmd(ble, 0xFC01, "x", 1, on_cmd, &a), 0);
  REQUIRE_EQ(hci_send_cmd(ble, 0xFC02, NULL, 0, on_cmd, &b), 0);
  /* time must pass: the second command must not follow (the first is
   * held by the test, so the stack never idles) */
  run_for(&loop, 30);
  CHECK_EQ(sc_cmd_count(sc), 1); /* one credit: the second waits */
  uint8_t zero_credit_ret[2] = {0x00, 0xAB};
  sc_config(sc)->ncmd = 0;
  sc_send_cc(sc, 0xFC01, zero_credit_ret, 2);
  run_until_pred(&loop, cmd_done, &a, 1000);
  CHECK_EQ(a.err, 0);
  CHECK_EQ(a.ret_len, 1);
  CHECK_EQ(a.ret[0], 0xAB);
  run_until_idle(&loop, 5000); /* no credit: the second stays queued */
  CHECK_EQ(sc_cmd_count(sc), 1); /* Num_HCI_Command_Packets was 0 */
  /* A NOP Command Complete (opcode 0) grants a credit. */
  sc_config(sc)->ncmd = 1;
  uint8_t nop[3] = {1, 0, 0};
  sc_send_event(sc, 0x0E, nop, 3);
  run_until_pred(&loop, cmd_done, &b, 1000);
  CHECK_EQ(sc_cmd_count(sc), 2);
  CHECK_EQ(b.err, 0);
  teardown(sc, ble);
}

static bool all_credits(void *arg) {
  return ((uvble_t *)arg)->hci.cmd_credits == 255;
}

static bool queue_at_9(void *arg) {
  return ((uvble_t *)arg)->hci.queue.len == 9;
}

/* A controller that keeps granting credits (Command Complete, opcode 0)
 * without answering: at most 255 commands are in flight (what one
 * Num_HCI_Command_Packets can grant), the rest wait queued until one is
 * answered. */
TEST(commands_in_flight_are_bounded) {
  setup();
  sc_t *sc;
  uvble_t *ble;
  REQUIRE_EQ(sc_bring_up(&loop, &sc, &ble), 0);
  sc_clear(sc);
  sc_on_cmd(sc, 0xFC01, hold, NULL);
  uint8_t nop[3] = {255, 0, 0};
  sc_send_event(sc, 0x0E, nop, 3);
  REQUIRE(run_until_pred(&loop, all_credits, ble, 1000));
  for (int i = 0; i < 255; i++)
    REQUIRE_EQ(hci_send_cmd(ble, 0xFC01, NULL, 0, NULL, NULL), 0);
  CHECK_EQ(ble->hci.inflight.len, 255);
  CHECK_EQ(ble->hci.cmd_credits, 0);
  sc_send_event(sc, 0x0E, nop, 3);
  REQUIRE(run_until_pred(&loop, all_credits, ble, 1000));
  for (int i = 0; i < 10; i++)
    REQUIRE_EQ(hci_send_cmd(ble, 0xFC01, NULL, 0, NULL, NULL), 0);
  CHECK_EQ(ble->hci.inflight.len, 255);
  CHECK_EQ(ble->hci.queue.len, 10);
  /* An answer makes room for one. */
  uint8_t ok = 0;
  sc_send_cc(sc, 0xFC01, &ok, 1);
  CHECK(run_until_pred(&loop, queue_at_9, ble, 1000));
  CHECK_EQ(ble->hci.inflight.len, 255);
  teardown(sc, ble);
}

TEST(command_status_and_error_status_reach_the_caller) {
  setup();
  sc_t *sc;
  uvble_t *ble;
  REQUIRE_EQ(sc_bring_up(&loop, &sc, &ble), 0);
  sc_fail_with(sc, 0xFC03, 0x0C);
  struct cmd_result a = {0};
  REQUIRE_EQ(hci_send_cmd(ble, 0xFC03, NULL, 0, on_cmd, &a), 0);
  run_until_pred(&loop, cmd_done, &a, 1000);
  CHECK_EQ(a.err, UVBLE_EHCI);
  CHECK_EQ(a.status, 0x0C);
  teardown(sc, ble);
}

TEST(stray_and_malformed_events_are_counted_and_ignored) {
  setup();
  sc_t *sc;
  uvble_t *ble;
  REQUIRE_EQ(sc_bring_up(&loop, &sc, &ble), 0);
  /* Command Complete for a command never sent. */
  uint8_t st = 0;
  sc_send_cc(sc, 0x1009, &st, 1);
  /* Length byte disagreeing with the packet (0x0E claims 10 bytes): H4
   * framing cannot produce this, a user-channel read can. */
  uint8_t bad[] = {0x0E, 10, 1, 0x03, 0x0C};
  hci_on_event(ble, bad, sizeof bad);
  /* Command Complete too short to hold an opcode. */
  uint8_t shortcc[] = {0x0E, 1, 1};
  sc_send_raw(sc, UVBLE_HCI_EVENT, shortcc, sizeof shortcc);
  /* Command Status with the wrong length. */
  uint8_t badcs[] = {0x0F, 3, 0, 1, 0};
  sc_send_raw(sc, UVBLE_HCI_EVENT, badcs, sizeof badcs);
  /* An event nobody asked for. */
  uint8_t unknown[] = {0x57, 1, 0};
  sc_send_raw(sc, UVBLE_HCI_EVENT, unknown, sizeof unknown);
  /* Empty LE meta. */
  uint8_t meta[] = {0x3E, 0};
  sc_send_raw(sc, UVBLE_HCI_EVENT, meta, sizeof meta);
  /* Truncated LE Connection Complete. */
  uint8_t conn[] = {0x3E, 3, 0x01, 0x00, 0x40};
  sc_send_raw(sc, UVBLE_HCI_EVENT, conn, sizeof conn);
  run_until_idle(&loop, 5000);
  uvble_stats_t s;
  uvble_get_stats(ble, &s);
  CHECK_EQ(s.hci_events_unexpected, 1);
  CHECK_EQ(s.hci_events_malformed, 5);
  CHECK(s.hci_events_unhandled >= 1);
  CHECK(uvble_is_active(ble));
  /* The stack still works. */
  struct cmd_result a = {0};
  REQUIRE_EQ(hci_send_cmd(ble, 0x1009, NULL, 0, on_cmd, &a), 0);
  run_until_pred(&loop, cmd_done, &a, 1000);
  CHECK_EQ(a.err, 0);
  teardown(sc, ble);
}

static int fatal_calls, fatal_status;
static void on_fatal(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  fatal_calls++;
  fatal_status = status;
}

TEST(hardware_error_and_lost_transport_are_fatal) {
  setup();
  sc_t *sc;
  uvble_t *ble;
  REQUIRE_EQ(sc_bring_up(&loop, &sc, &ble), 0);
  fatal_calls = 0;
  uvble_on_fatal(ble, on_fatal, NULL);
  uint8_t hw = 0x01;
  sc_send_event(sc, 0x10, &hw, 1);
  run_until_idle(&loop, 5000);
  CHECK_EQ(fatal_calls, 1);
  CHECK_EQ(fatal_status, UVBLE_EIO);
  CHECK(!uvble_is_active(ble));
  teardown(sc, ble);

  setup();
  REQUIRE_EQ(sc_bring_up(&loop, &sc, &ble), 0);
  fatal_calls = 0;
  uvble_on_fatal(ble, on_fatal, NULL);
  struct cmd_result a = {0};
  sc_silence(sc, 0xFC09);
  REQUIRE_EQ(hci_send_cmd(ble, 0xFC09, NULL, 0, on_cmd, &a), 0);
  run_until_idle(&loop, 5000);
  sc_free(sc); /* the controller goes away */
  run_until_idle(&loop, 5000);
  CHECK_EQ(fatal_calls, 1);
  CHECK_EQ(fatal_status, UVBLE_ETRANSPORT);
  CHECK_EQ(a.calls, 1);
  CHECK_EQ(a.err, UVBLE_ETRANSPORT);
  uvble_close(ble, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

static int closed_calls;
static void on_closed(uvble_t *ble, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  closed_calls++;
}

TEST(close_completes_pending_commands_first) {
  setup();
  sc_t *sc;
  uvble_t *ble;
  REQUIRE_EQ(sc_bring_up(&loop, &sc, &ble), 0);
  sc_silence(sc, 0xFC0A);
  struct cmd_result c[5];
  memset(c, 0, sizeof c);
  for (int i = 0; i < 5; i++)
    REQUIRE_EQ(hci_send_cmd(ble, 0xFC0A, NULL, 0, on_cmd, &c[i]), 0);
  run_until_idle(&loop, 5000);
  closed_calls = 0;
  uvble_close(ble, on_closed, NULL);
  for (int i = 0; i < 5; i++) {
    CHECK_EQ(c[i].calls, 1);
    CHECK_EQ(c[i].err, UVBLE_ECANCELED);
  }
  CHECK_EQ(closed_calls, 0); /* never synchronously */
  sc_free(sc);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(closed_calls, 1);
  loop_teardown(&loop);
}

TEST(close_during_init_cancels_active) {
  setup();
  uvble_transport_t *host;
  sc_t *sc = sc_new(&loop, &host);
  uvble_t *ble;
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  struct result r = {0};
  uvble_set_data(ble, &r);
  REQUIRE_EQ(uvble_active(ble, true, on_status, NULL), 0);
  CHECK_EQ(uvble_active(ble, true, on_status, NULL), UVBLE_EALREADY);
  uvble_close(ble, NULL, NULL);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.status, UVBLE_ECANCELED);
  sc_free(sc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

TEST(power_down_resets_and_power_up_again) {
  setup();
  sc_t *sc;
  uvble_t *ble;
  REQUIRE_EQ(sc_bring_up(&loop, &sc, &ble), 0);
  sc_clear(sc);
  struct result r = {0};
  uvble_set_data(ble, &r);
  REQUIRE_EQ(uvble_active(ble, false, on_status, NULL), 0);
  run_until_pred(&loop, result_done, &r, 1000);
  CHECK_EQ(r.status, 0);
  CHECK(!uvble_is_active(ble));
  CHECK_EQ(sc_cmd(sc, 0)->opcode, 0x0C03);
  uvble_controller_info_t info;
  CHECK_EQ(uvble_controller_info(ble, &info), UVBLE_ENOTACTIVE);
  memset(&r, 0, sizeof r);
  CHECK_EQ(start(ble, &r), 0);
  CHECK(uvble_is_active(ble));
  /* active(true) on an active stack completes later, with 0. */
  memset(&r, 0, sizeof r);
  REQUIRE_EQ(uvble_active(ble, true, on_status, NULL), 0);
  CHECK_EQ(r.calls, 0);
  run_until_pred(&loop, result_done, &r, 1000);
  CHECK_EQ(r.status, 0);
  teardown(sc, ble);
}

TEST(config_values_are_validated_and_read_back) {
  setup();
  sc_t *sc;
  uvble_t *ble;
  REQUIRE_EQ(sc_bring_up(&loop, &sc, &ble), 0);
  CHECK_EQ(uvble_config_key("mtu"), UVBLE_CONFIG_MTU);
  CHECK_EQ(uvble_config_key("le_secure"), UVBLE_CONFIG_LE_SECURE);
  CHECK_EQ(uvble_config_key("nope"), UVBLE_EUNKNOWNKEY);
  int v;
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_MTU, 22), UVBLE_EINVAL);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_MTU, 518), UVBLE_EINVAL);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_MTU, 300), 0);
  CHECK_EQ(uvble_config_get_int(ble, UVBLE_CONFIG_MTU, &v), 0);
  CHECK_EQ(v, 300);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_RXBUF, 15), UVBLE_EINVAL);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_RXBUF, 2000), 0);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_IO, 5), UVBLE_EINVAL);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_IO, UVBLE_IO_DISPLAY_YESNO), 0);
  CHECK_EQ(uvble_config_get_int(ble, UVBLE_CONFIG_IO, &v), 0);
  CHECK_EQ(v, UVBLE_IO_DISPLAY_YESNO);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_BOND, 2), UVBLE_EINVAL);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_MITM, 1), 0);
  CHECK_EQ(uvble_config_get_int(ble, UVBLE_CONFIG_MITM, &v), 0);
  CHECK_EQ(v, 1);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_ADDR_MODE, 4), UVBLE_EINVAL);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_GAP_NAME, 1), UVBLE_EINVAL);
  CHECK_EQ(uvble_config_set_int(ble, 999, 1), UVBLE_EUNKNOWNKEY);
  char name[300];
  memset(name, 'a', sizeof name);
  CHECK_EQ(uvble_config_set_name(ble, name, 249), UVBLE_EMSGSIZE);
  CHECK_EQ(uvble_config_set_name(ble, "GAP_NAME", 8), 0);
  char out[16] = {0};
  CHECK_EQ(uvble_config_get_name(ble, out, sizeof out), 8);
  CHECK_STR(out, "GAP_NAME");
  /* RANDOM mode: a static random address, stable, replaceable. */
  uvble_addr_t a, b;
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_ADDR_MODE, UVBLE_ADDR_MODE_RANDOM), 0);
  CHECK_EQ(uvble_config_get_mac(ble, &a), 0);
  CHECK_EQ(a.type, UVBLE_ADDR_RANDOM);
  CHECK_EQ(a.val[0] & 0xc0, 0xc0);
  CHECK_EQ(uvble_config_get_mac(ble, &b), 0);
  CHECK_MEM(a.val, b.val, 6);
  uvble_addr_t bad = {UVBLE_ADDR_RANDOM, {0x00, 1, 2, 3, 4, 5}};
  CHECK_EQ(uvble_config_set_mac(ble, &bad), UVBLE_EINVAL);
  uvble_addr_t ones = {UVBLE_ADDR_RANDOM, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  CHECK_EQ(uvble_config_set_mac(ble, &ones), UVBLE_EINVAL);
  /* RPA mode: mac is the private address in use (top bits 01), stable
   * until rotation. */
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_ADDR_MODE, UVBLE_ADDR_MODE_RPA), 0);
  uvble_addr_t r1, r2;
  CHECK_EQ(uvble_config_get_mac(ble, &r1), 0);
  CHECK_EQ(r1.type, UVBLE_ADDR_RANDOM);
  CHECK_EQ(r1.val[0] & 0xc0, 0x40);
  CHECK_EQ(uvble_config_get_mac(ble, &r2), 0);
  CHECK_MEM(r1.val, r2.val, 6);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_ADDR_MODE, UVBLE_ADDR_MODE_NRPA), 0);
  CHECK_EQ(uvble_config_get_mac(ble, &r1), 0);
  CHECK_EQ(r1.val[0] & 0xc0, 0x00);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_ADDR_MODE, UVBLE_ADDR_MODE_RANDOM), 0);
  uvble_addr_t good = {UVBLE_ADDR_RANDOM, {0xc1, 2, 3, 4, 5, 6}};
  CHECK_EQ(uvble_config_set_mac(ble, &good), 0);
  CHECK_EQ(uvble_config_get_mac(ble, &a), 0);
  CHECK_MEM(a.val, good.val, 6);
  teardown(sc, ble);
}

TEST(addresses_and_names) {
  uvble_addr_t a = {0, {0}};
  CHECK_EQ(uvble_addr_parse(&a, "00:AA:01:00:00:42"), 0);
  CHECK_EQ(a.val[1], 0xAA);
  CHECK_EQ(a.val[5], 0x42);
  CHECK_EQ(uvble_addr_parse(&a, "00aa01000042"), 0);
  CHECK_EQ(uvble_addr_parse(&a, "00:AA:01:00:00"), UVBLE_EINVAL);
  CHECK_EQ(uvble_addr_parse(&a, "00:AA:01:00:00:4g"), UVBLE_EINVAL);
  CHECK_EQ(uvble_addr_parse(&a, "00-AA-01-00-00-42"), UVBLE_EINVAL);
  CHECK_STR(uvble_irq_name(UVBLE_IRQ_CENTRAL_CONNECT), "CENTRAL_CONNECT");
  CHECK_STR(uvble_irq_name(UVBLE_IRQ_PASSKEY_ACTION), "PASSKEY_ACTION");
  CHECK_STR(uvble_irq_name(0), "UNKNOWN");
  CHECK_STR(uvble_irq_name(32), "UNKNOWN");
  CHECK_STR(uvble_err_name(UVBLE_EDISCONNECTED), "EDISCONNECTED");
  CHECK_STR(uvble_strerror(UVBLE_ETIMEDOUT), "timed out");
  CHECK_STR(uvble_err_name(-99999), "UNKNOWN");
}

TEST_MAIN()
