/* SPDX-License-Identifier: Apache-2.0 */
/* GATT server: notifications and indications (explicit and through the
 * CCCD with gatts_write(send_update)), INDICATE_DONE with confirmation,
 * timeout and disconnect, Service Changed after re-registration. Handles as
 * in test_gatts.c. */
#include "test_att_harness.h"

static void subscribe(uint16_t cccd, uint16_t bits) {
  uint8_t q[5] = {ATT_WRITE_REQ, 0, 0, 0, 0}, rsp[600];
  put_le16(q + 1, cccd);
  put_le16(q + 3, bits);
  REQUIRE_EQ(transact(q, 5, rsp), 1);
  REQUIRE_EQ(rsp[0], ATT_WRITE_RSP);
}

/* The next PDU from the host must be op about handle with value v. */
static void expect_value(uint8_t op, uint16_t handle, const char *v) {
  uint8_t p[600];
  int n = host_pdu(p, sizeof p);
  REQUIRE_EQ(n, 3 + (int)strlen(v));
  CHECK_EQ(p[0], op);
  CHECK_EQ(get_le16(p + 1), handle);
  CHECK_MEM(p + 3, v, strlen(v));
}

static void confirm(void) { PEER(ATT_HANDLE_VALUE_CFM); }

TEST(explicit_notify_and_indicate_ignore_the_cccd) {
  /* MicroPython's ble_characteristic: no subscription needed. */
  up_db();
  REQUIRE_EQ(uvble_gatts_write(ble, H_C1, "periph1", 7, false), 0);
  REQUIRE_EQ(uvble_gatts_notify(ble, CONN, H_C1, NULL, 0), 0);
  expect_value(ATT_HANDLE_VALUE_NTF, H_C1, "periph1");
  /* An explicit payload does not change the stored value. */
  REQUIRE_EQ(uvble_gatts_notify(ble, CONN, H_C1, "other", 5), 0);
  expect_value(ATT_HANDLE_VALUE_NTF, H_C1, "other");
  uint8_t v[32];
  size_t len;
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, v, sizeof v, &len), 0);
  CHECK_EQ(len, 7);
  REQUIRE_EQ(uvble_gatts_indicate(ble, CONN, H_C1, "periph3", 7), 0);
  expect_value(ATT_HANDLE_VALUE_IND, H_C1, "periph3");
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE), 0);
  confirm();
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE), 1);
  const struct ev *e = last_ev(UVBLE_IRQ_GATTS_INDICATE_DONE);
  CHECK_EQ(e->d.gatt_status.conn_handle, CONN);
  CHECK_EQ(e->d.gatt_status.value_handle, H_C1);
  CHECK_EQ(e->d.gatt_status.status, 0);
  /* Errors. */
  CHECK_EQ(uvble_gatts_notify(ble, 0x99, H_C1, NULL, 0), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_gatts_notify(ble, CONN, H_C1_DECL, NULL, 0), UVBLE_EINVAL);
  CHECK_EQ(uvble_gatts_indicate(ble, CONN, 0, NULL, 0), UVBLE_EINVAL);
  CHECK_EQ(uvble_gatts_write(ble, H_C1_CCCD, "x", 1, false), UVBLE_EINVAL);
  down();
}

TEST(payloads_are_truncated_to_mtu_minus_3) {
  up_db();
  uint8_t big[64];
  memset(big, 'm', sizeof big);
  REQUIRE_EQ(uvble_gatts_notify(ble, CONN, H_C1, big, sizeof big), 0);
  uint8_t p[600];
  CHECK_EQ(host_pdu(p, sizeof p), 23);
  REQUIRE_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_MTU, 50), 0);
  REQUIRE_EQ(TRANSACT(p, ATT_EXCHANGE_MTU_REQ, 0, 1), 3);
  REQUIRE_EQ(uvble_gatts_notify(ble, CONN, H_C1, big, sizeof big), 0);
  CHECK_EQ(host_pdu(p, sizeof p), 50); /* 47 bytes of value (ble_mtu) */
  REQUIRE_EQ(uvble_gatts_indicate(ble, CONN, H_C1, big, sizeof big), 0);
  CHECK_EQ(host_pdu(p, sizeof p), 50);
  down();
}

TEST(send_update_follows_each_subscription) {
  /* MicroPython's ble_subscribe. */
  up_db();
  REQUIRE_EQ(uvble_gatts_write(ble, H_C1, "periph1", 7, true), 0);
  CHECK(host_silent(20)); /* not subscribed */
  subscribe(H_C1_CCCD, UVBLE_CCCD_NOTIFY);
  REQUIRE_EQ(uvble_gatts_write(ble, H_C1, "periph5", 7, true), 0);
  expect_value(ATT_HANDLE_VALUE_NTF, H_C1, "periph5");
  REQUIRE_EQ(uvble_gatts_write(ble, H_C1, "periph6", 7, false), 0);
  CHECK(host_silent(20));
  subscribe(H_C1_CCCD, UVBLE_CCCD_INDICATE);
  REQUIRE_EQ(uvble_gatts_write(ble, H_C1, "periph7", 7, true), 0);
  expect_value(ATT_HANDLE_VALUE_IND, H_C1, "periph7");
  confirm();
  run_until_idle(&loop, 5000);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE), 1);
  /* Both bits: notify wins. */
  subscribe(H_C1_CCCD, UVBLE_CCCD_NOTIFY | UVBLE_CCCD_INDICATE);
  REQUIRE_EQ(uvble_gatts_write(ble, H_C1, "periph8", 7, true), 0);
  expect_value(ATT_HANDLE_VALUE_NTF, H_C1, "periph8");
  subscribe(H_C1_CCCD, 0);
  REQUIRE_EQ(uvble_gatts_write(ble, H_C1, "periph9", 7, true), 0);
  CHECK(host_silent(20));
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 0); /* CCCD writes are silent */
  down();
}

TEST(indication_update_waits_for_the_outstanding_one) {
  up_db();
  subscribe(H_C1_CCCD, UVBLE_CCCD_INDICATE);
  REQUIRE_EQ(uvble_gatts_write(ble, H_C1, "v1", 2, true), 0);
  expect_value(ATT_HANDLE_VALUE_IND, H_C1, "v1");
  /* Two more updates while v1 is unconfirmed: one deferred indication,
   * carrying the value current when it goes. */
  REQUIRE_EQ(uvble_gatts_write(ble, H_C1, "v2", 2, true), 0);
  REQUIRE_EQ(uvble_gatts_write(ble, H_C1, "v3", 2, true), 0);
  CHECK(host_silent(20));
  confirm();
  expect_value(ATT_HANDLE_VALUE_IND, H_C1, "v3");
  confirm();
  CHECK(host_silent(20));
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE), 2);
  down();
}

TEST(explicit_indications_queue_behind_the_outstanding_one) {
  up_db();
  REQUIRE_EQ(uvble_gatts_indicate(ble, CONN, H_C1, "a", 1), 0);
  REQUIRE_EQ(uvble_gatts_indicate(ble, CONN, H_D1, "b", 1), 0);
  expect_value(ATT_HANDLE_VALUE_IND, H_C1, "a");
  CHECK(host_silent(20));
  confirm();
  expect_value(ATT_HANDLE_VALUE_IND, H_D1, "b");
  confirm();
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE), 2);
  int k = 0;
  for (int i = 0; i < nev; i++)
    if (evs[i].type == UVBLE_IRQ_GATTS_INDICATE_DONE)
      CHECK_EQ(evs[i].d.gatt_status.value_handle, k++ ? H_D1 : H_C1);
  /* 1 outstanding + 16 queued, then ENOBUFS. */
  int r = 0, ok = 0;
  for (int i = 0; i < 30 && r == 0; i++) {
    r = uvble_gatts_indicate(ble, CONN, H_C1, "x", 1);
    ok += r == 0;
  }
  CHECK_EQ(r, UVBLE_ENOBUFS);
  CHECK_EQ(ok, 17);
  down();
}

TEST(indication_timeout_reports_and_kills_the_bearer) {
  up_with(60, 1);
  uint16_t h[16];
  REQUIRE_EQ(register_test_db(h, 16), 11);
  REQUIRE_EQ(uvble_gatts_indicate(ble, CONN, H_C1, "a", 1), 0);
  REQUIRE_EQ(uvble_gatts_indicate(ble, CONN, H_C1, "b", 1), 0);
  /* The 60 ms ATT timeout ends both. */
  RUN_UNTIL(&loop, count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE) >= 2, 5000);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE), 2);
  CHECK_EQ(evs[0].type, UVBLE_IRQ_GATTS_INDICATE_DONE);
  CHECK_EQ(evs[0].d.gatt_status.status, UVBLE_ETIMEDOUT);
  CHECK_EQ(evs[1].d.gatt_status.status, UVBLE_EIO); /* never sent */
  CHECK_EQ(uvble_gatts_indicate(ble, CONN, H_C1, "c", 1), UVBLE_EIO);
  CHECK_EQ(uvble_gatts_notify(ble, CONN, H_C1, "c", 1), UVBLE_EIO);
  down();
}

TEST(disconnect_completes_indications) {
  up_db();
  REQUIRE_EQ(uvble_gatts_indicate(ble, CONN, H_C1, "a", 1), 0);
  REQUIRE_EQ(uvble_gatts_indicate(ble, CONN, H_D1, "b", 1), 0);
  sc_disconnect(sc, CONN, 0x13);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE), 2);
  CHECK_EQ(evs[0].d.gatt_status.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(evs[0].d.gatt_status.value_handle, H_C1);
  CHECK_EQ(evs[1].d.gatt_status.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(evs[1].d.gatt_status.value_handle, H_D1);
  /* Both before the disconnect event. */
  CHECK_EQ(evs[2].type, UVBLE_IRQ_CENTRAL_DISCONNECT);
  down();
}

TEST(cccd_state_is_per_connection) {
  up_db();
  static const uint8_t peer2[6] = {9, 9, 9, 9, 9, 9};
  sc_connect(sc, 0x41, 1, peer2);
  run_until_idle(&loop, 5000);
  REQUIRE(conn_find(ble, 0x41));
  subscribe(H_C1_CCCD, UVBLE_CCCD_NOTIFY);
  uint8_t q[3] = {ATT_READ_REQ, H_C1_CCCD, 0}, p[600];
  peer_send_on(0x41, q, 3);
  REQUIRE_EQ(host_pdu(p, sizeof p), 3);
  CHECK_EQ(get_le16(p + 1), 0); /* the other client did not subscribe */
  REQUIRE_EQ(uvble_gatts_write(ble, H_C1, "fan", 3, true), 0);
  run_until_idle(&loop, 5000);
  int to40 = 0, to41 = 0;
  for (size_t i = acl_seen; i < sc_acl_count(sc); i++) {
    to40 += sc_acl(sc, i)->handle == 0x40;
    to41 += sc_acl(sc, i)->handle == 0x41;
  }
  CHECK_EQ(to40, 1);
  CHECK_EQ(to41, 0);
  down();
}

TEST(reregistration_indicates_service_changed_to_subscribers) {
  up_db();
  subscribe(9, UVBLE_CCCD_INDICATE); /* Service Changed's CCCD */
  subscribe(H_C1_CCCD, UVBLE_CCCD_NOTIFY);
  uint16_t h[16];
  REQUIRE_EQ(register_test_db(h, 16), 11);
  uint8_t p[600];
  REQUIRE_EQ(host_pdu(p, sizeof p), 7);
  CHECK_EQ(p[0], ATT_HANDLE_VALUE_IND);
  CHECK_EQ(get_le16(p + 1), UVBLE_GATTS_SERVICE_CHANGED_HANDLE);
  CHECK_EQ(get_le16(p + 3), UVBLE_GATTS_FIRST_USER_HANDLE);
  CHECK_EQ(get_le16(p + 5), 0xffff);
  confirm();
  run_until_idle(&loop, 5000);
  /* The stack's own indication raises no INDICATE_DONE. */
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE), 0);
  /* The Service Changed subscription survives, the others are reset. */
  uint8_t q[3] = {ATT_READ_REQ, 9, 0};
  REQUIRE_EQ(transact(q, 3, p), 3);
  CHECK_EQ(get_le16(p + 1), UVBLE_CCCD_INDICATE);
  q[1] = H_C1_CCCD;
  REQUIRE_EQ(transact(q, 3, p), 3);
  CHECK_EQ(get_le16(p + 1), 0);
  down();
}

/* The app closes the stack from INDICATE_DONE while another indication is
 * queued: the queued one still completes exactly once, nothing leaks. */
static int close_in_irq(int ev, const uvble_irq_data_t *d) {
  (void)d;
  if (ev == UVBLE_IRQ_GATTS_INDICATE_DONE && ble) uvble_close(ble, NULL, NULL);
  return 0;
}

TEST(closing_from_indicate_done) {
  up_db();
  REQUIRE_EQ(uvble_gatts_indicate(ble, CONN, H_C1, "a", 1), 0);
  REQUIRE_EQ(uvble_gatts_indicate(ble, CONN, H_D1, "b", 1), 0);
  irq_hook = close_in_irq;
  sc_disconnect(sc, CONN, 0x13);
  run_until_idle(&loop, 5000);
  /* Events stop once the stack is closing (ble_irq), so only the first. */
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE), 1);
  irq_hook = NULL;
  ble = NULL;
  sc_free(sc);
  run_until_idle(&loop, 5000);
  loop_teardown(&loop);
}

/* Flow control: a notification refused with ENOBUFS (the link's queue is
 * full) is followed by one tx_ready callback for that link once the
 * controller has taken enough of the queue; nothing without a refusal. */
static int tx_ready_calls;
static uint16_t tx_ready_handle;
static void on_tx_ready(uvble_t *b, uint16_t conn_handle, void *arg) {
  (void)b;
  CHECK(arg == &tx_ready_calls);
  tx_ready_calls++;
  tx_ready_handle = conn_handle;
}

TEST(a_refused_notification_is_followed_by_tx_ready) {
  up_db();
  tx_ready_calls = 0;
  uvble_gatts_on_tx_ready(ble, on_tx_ready, &tx_ready_calls);
  sc_config(sc)->auto_complete_acl = false;
  ble->hci.conn_txq_max = 200; /* a small queue, to reach its end */
  /* Completions with nothing refused: no callback. */
  REQUIRE_EQ(uvble_gatts_notify(ble, CONN, H_C1, "0123456789", 10), 0);
  run_until_idle(&loop, 5000);
  sc_send_completed(sc, CONN, 1);
  run_until_idle(&loop, 5000);
  CHECK_EQ(tx_ready_calls, 0);
  int r = 0, sent = 0;
  for (int i = 0; i < 100 && r == 0; i++) {
    r = uvble_gatts_notify(ble, CONN, H_C1, "0123456789", 10);
    sent += r == 0;
  }
  CHECK_EQ(r, UVBLE_ENOBUFS);
  CHECK(sent >= 8); /* the controller's 8 buffers, then the queue */
  run_until_idle(&loop, 5000);
  CHECK_EQ(tx_ready_calls, 0);
  /* The controller finishes its packets: the queue moves into it. */
  sc_send_completed(sc, CONN, 8);
  run_until_idle(&loop, 5000);
  CHECK_EQ(tx_ready_calls, 1);
  CHECK_EQ(tx_ready_handle, CONN);
  CHECK_EQ(uvble_gatts_notify(ble, CONN, H_C1, "again", 5), 0);
  /* Once per refusal. */
  sc_send_completed(sc, CONN, 8);
  run_until_idle(&loop, 5000);
  CHECK_EQ(tx_ready_calls, 1);
  uvble_gatts_on_tx_ready(ble, NULL, NULL);
  down();
}

TEST_MAIN()
