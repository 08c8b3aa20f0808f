/* SPDX-License-Identifier: Apache-2.0 */
/* ATT bearer against a scripted controller: MTU exchange both ways,
 * sequencing of requests and indications, the transaction timeout, routing
 * of notifications and indications, malformed and unexpected PDUs, and the
 * link dropping with operations pending. */
#include "test_att_harness.h"

/* ---- a recorder for att_send_request / att_send_indication callbacks ---- */
struct done {
  int calls;
  int err;
  uint8_t pdu[600];
  size_t len;
  uint16_t conn_handle;
  bool in_call; /* set around the API call: callbacks must not run inside */
  bool ran_inside;
};
static struct done dn[8];

static void on_done(uvble_t *b, struct ble_conn *c, int err, const uint8_t *pdu,
                    size_t len, void *arg) {
  (void)b;
  struct done *d = arg;
  d->calls++;
  d->err = err;
  d->len = len;
  d->conn_handle = c->handle;
  if (d->in_call) d->ran_inside = true;
  if (pdu && len <= sizeof d->pdu) memcpy(d->pdu, pdu, len);
}

static int request(int i, const uint8_t *pdu, size_t len) {
  dn[i].in_call = true;
  int r = att_send_request(ble, the_conn(), pdu, len, on_done, &dn[i]);
  dn[i].in_call = false;
  return r;
}

static const uint8_t READ_3[] = {ATT_READ_REQ, 0x03, 0x00};

static void reset_done(void) { memset(dn, 0, sizeof dn); }

/* ---- MTU exchange ------------------------------------------------------------ */
TEST(server_answers_mtu_request_with_config_mtu) {
  up();
  REQUIRE_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_MTU, 256), 0);
  uint8_t rsp[600];
  int n = TRANSACT(rsp, ATT_EXCHANGE_MTU_REQ, 0x00, 0x02); /* client: 512 */
  REQUIRE_EQ(n, 3);
  CHECK_EQ(rsp[0], ATT_EXCHANGE_MTU_RSP);
  CHECK_EQ(get_le16(rsp + 1), 256);
  CHECK_EQ(att_mtu(the_conn()), 256);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_MTU_EXCHANGED), 1);
  CHECK_EQ(last_ev(UVBLE_IRQ_MTU_EXCHANGED)->d.mtu.mtu, 256);
  CHECK_EQ(last_ev(UVBLE_IRQ_MTU_EXCHANGED)->d.mtu.conn_handle, CONN);
  /* A smaller client MTU wins. */
  n = TRANSACT(rsp, ATT_EXCHANGE_MTU_REQ, 100, 0x00);
  REQUIRE_EQ(n, 3);
  CHECK_EQ(get_le16(rsp + 1), 256);
  CHECK_EQ(att_mtu(the_conn()), 100);
  CHECK_EQ(last_ev(UVBLE_IRQ_MTU_EXCHANGED)->d.mtu.mtu, 100);
  /* The MTU is settled: our own exchange is refused (as NimBLE does). */
  CHECK_EQ(att_exchange_mtu(ble, the_conn()), UVBLE_EALREADY);
  down();
}

TEST(mtu_request_below_23_counts_as_23) {
  up();
  uint8_t rsp[600];
  int n = TRANSACT(rsp, ATT_EXCHANGE_MTU_REQ, 5, 0);
  REQUIRE_EQ(n, 3);
  CHECK_EQ(att_mtu(the_conn()), 23);
  CHECK_EQ(last_ev(UVBLE_IRQ_MTU_EXCHANGED)->d.mtu.mtu, 23);
  down();
}

TEST(malformed_mtu_request_gets_invalid_pdu) {
  up();
  uint8_t rsp[600];
  int n = TRANSACT(rsp, ATT_EXCHANGE_MTU_REQ, 0x00);
  CHECK_ERR(rsp, n, ATT_EXCHANGE_MTU_REQ, 0, UVBLE_ATT_ERR_INVALID_PDU);
  n = TRANSACT(rsp, ATT_EXCHANGE_MTU_REQ, 0x00, 0x01, 0x00);
  CHECK_ERR(rsp, n, ATT_EXCHANGE_MTU_REQ, 0, UVBLE_ATT_ERR_INVALID_PDU);
  CHECK_EQ(att_mtu(the_conn()), 23);
  CHECK_EQ(count_ev(UVBLE_IRQ_MTU_EXCHANGED), 0);
  down();
}

TEST(client_mtu_exchange_takes_the_minimum_once) {
  up();
  REQUIRE_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_MTU, 300), 0);
  REQUIRE_EQ(att_exchange_mtu(ble, the_conn()), 0);
  CHECK_EQ(att_exchange_mtu(ble, the_conn()), UVBLE_EALREADY);
  uint8_t req[600];
  REQUIRE_EQ(host_pdu(req, sizeof req), 3);
  CHECK_EQ(req[0], ATT_EXCHANGE_MTU_REQ);
  CHECK_EQ(get_le16(req + 1), 300);
  CHECK_EQ(count_ev(UVBLE_IRQ_MTU_EXCHANGED), 0);
  PEER(ATT_EXCHANGE_MTU_RSP, 200, 0);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_MTU_EXCHANGED), 1);
  CHECK_EQ(last_ev(UVBLE_IRQ_MTU_EXCHANGED)->d.mtu.mtu, 200);
  CHECK_EQ(att_mtu(the_conn()), 200);
  CHECK_EQ(att_exchange_mtu(ble, the_conn()), UVBLE_EALREADY);
  down();
}

TEST(client_mtu_exchange_server_below_23_and_refusal) {
  up();
  REQUIRE_EQ(att_exchange_mtu(ble, the_conn()), 0);
  uint8_t req[600];
  REQUIRE_EQ(host_pdu(req, sizeof req), 3);
  PEER(ATT_EXCHANGE_MTU_RSP, 10, 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(att_mtu(the_conn()), 23);
  CHECK_EQ(last_ev(UVBLE_IRQ_MTU_EXCHANGED)->d.mtu.mtu, 23);
  down();
  /* A server that refuses: the event still comes, with MTU 23. */
  up();
  REQUIRE_EQ(att_exchange_mtu(ble, the_conn()), 0);
  REQUIRE_EQ(host_pdu(req, sizeof req), 3);
  PEER(ATT_ERROR_RSP, ATT_EXCHANGE_MTU_REQ, 0, 0,
       UVBLE_ATT_ERR_REQUEST_NOT_SUPPORTED);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_MTU_EXCHANGED), 1);
  CHECK_EQ(last_ev(UVBLE_IRQ_MTU_EXCHANGED)->d.mtu.mtu, 23);
  down();
}

/* ---- unknown, malformed and unexpected PDUs ---------------------------------- */
TEST(unknown_request_is_not_supported_unknown_command_ignored) {
  up();
  uint8_t rsp[600];
  int n = TRANSACT(rsp, 0x30, 0x01, 0x02);
  CHECK_ERR(rsp, n, 0x30, 0x0000, UVBLE_ATT_ERR_REQUEST_NOT_SUPPORTED);
  PEER(0x7F, 0x01); /* command bit set: silently ignored */
  CHECK(host_silent(30));
  /* The bearer is still usable. */
  n = transact(READ_3, sizeof READ_3, rsp);
  CHECK_EQ(rsp[0], ATT_READ_RSP);
  down();
}

TEST(empty_and_oversized_pdus) {
  up();
  uvble_stats_t st0, st1;
  uvble_get_stats(ble, &st0);
  peer_send("", 0);
  CHECK(host_silent(30));
  /* A request longer than the ATT_MTU (23): Invalid PDU. */
  uint8_t big[40] = {ATT_WRITE_REQ, 0x03, 0x00};
  uint8_t rsp[600];
  int n = transact(big, sizeof big, rsp);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, 0, UVBLE_ATT_ERR_INVALID_PDU);
  /* An oversized command or notification is dropped. */
  big[0] = ATT_WRITE_CMD;
  peer_send(big, sizeof big);
  big[0] = ATT_HANDLE_VALUE_NTF;
  peer_send(big, sizeof big);
  CHECK(host_silent(30));
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 0);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_NOTIFY), 0);
  uvble_get_stats(ble, &st1);
  CHECK_EQ(st1.att_rx_malformed - st0.att_rx_malformed, 4);
  down();
}

TEST(response_and_confirmation_nobody_awaits_are_dropped) {
  up();
  uvble_stats_t st0, st1;
  uvble_get_stats(ble, &st0);
  PEER(ATT_READ_RSP, 1, 2, 3);
  PEER(ATT_ERROR_RSP, ATT_READ_REQ, 3, 0, 1);
  PEER(ATT_HANDLE_VALUE_CFM);
  CHECK(host_silent(30));
  uvble_get_stats(ble, &st1);
  CHECK_EQ(st1.att_rx_unexpected - st0.att_rx_unexpected, 3);
  /* A confirmation with a payload is malformed. */
  PEER(ATT_HANDLE_VALUE_CFM, 0);
  run_until_idle(&loop, 5000);
  uvble_get_stats(ble, &st0);
  CHECK_EQ(st0.att_rx_malformed - st1.att_rx_malformed, 1);
  down();
}

TEST(second_request_before_response_is_answered_in_order) {
  /* Vol 3, Part F, 3.3.2 forbids it; the server answers each request
   * before reading the next, so both get their response. */
  up();
  PEER(ATT_READ_REQ, 0x03, 0x00);
  PEER(ATT_READ_REQ, 0x05, 0x00);
  uint8_t a[600], b[600];
  int na = host_pdu(a, sizeof a), nb = host_pdu(b, sizeof b);
  REQUIRE(na > 0 && nb > 0);
  CHECK_EQ(a[0], ATT_READ_RSP);
  CHECK_EQ(na, 1 + 5); /* "uvble" */
  CHECK_EQ(b[0], ATT_READ_RSP);
  CHECK_EQ(nb, 1 + 2); /* appearance */
  down();
}

/* ---- notifications and indications from the peer's server --------------- */
TEST(notification_and_indication_reach_the_client_indication_confirmed) {
  up_with(0, 0);
  PEER(ATT_HANDLE_VALUE_NTF, 0x20, 0x00, 'h', 'i');
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_GATTC_NOTIFY), 1);
  const struct ev *e = last_ev(UVBLE_IRQ_GATTC_NOTIFY);
  CHECK_EQ(e->d.gattc_data.value_handle, 0x20);
  CHECK_EQ(e->len, 2);
  CHECK_MEM(e->data, "hi", 2);
  CHECK(host_silent(20)); /* no confirmation for a notification */
  PEER(ATT_HANDLE_VALUE_IND, 0x21, 0x00, 'x');
  uint8_t rsp[600];
  REQUIRE_EQ(host_pdu(rsp, sizeof rsp), 1);
  CHECK_EQ(rsp[0], ATT_HANDLE_VALUE_CFM);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_GATTC_INDICATE), 1);
  CHECK_EQ(last_ev(UVBLE_IRQ_GATTC_INDICATE)->d.gattc_data.value_handle, 0x21);
  /* An empty value is valid. */
  PEER(ATT_HANDLE_VALUE_NTF, 0x20, 0x00);
  run_until_idle(&loop, 5000);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_NOTIFY), 2);
  down();
}

TEST(malformed_values_are_dropped_without_confirmation) {
  up_with(0, 0);
  PEER(ATT_HANDLE_VALUE_IND, 0x21);       /* no handle */
  PEER(ATT_HANDLE_VALUE_IND, 0x00, 0x00); /* handle 0 */
  PEER(ATT_HANDLE_VALUE_NTF, 0x21);
  CHECK(host_silent(30));
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_INDICATE), 0);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_NOTIFY), 0);
  down();
}

TEST(multiple_handle_value_notification) {
  up_with(0, 0);
  PEER(ATT_MULTIPLE_HANDLE_VALUE_NTF, 0x20, 0, 2, 0, 'a', 'b', 0x22, 0, 1, 0,
       'c');
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_GATTC_NOTIFY), 2);
  CHECK_EQ(evs[0].d.gattc_data.value_handle, 0x20);
  CHECK_MEM(evs[0].data, "ab", 2);
  CHECK_EQ(evs[1].d.gattc_data.value_handle, 0x22);
  CHECK_EQ(evs[1].len, 1);
  /* A tuple running past the end: nothing at all is delivered. */
  PEER(ATT_MULTIPLE_HANDLE_VALUE_NTF, 0x20, 0, 1, 0, 'a', 0x22, 0, 5, 0, 'c');
  run_until_idle(&loop, 5000);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_NOTIFY), 2);
  down();
}

/* ---- our requests ------------------------------------------------------------- */
TEST(requests_go_one_at_a_time_and_complete_in_order) {
  up_with(0, 0);
  reset_done();
  REQUIRE_EQ(request(0, READ_3, 3), 0);
  static const uint8_t r2[] = {ATT_READ_REQ, 0x05, 0x00};
  REQUIRE_EQ(request(1, r2, 3), 0);
  uint8_t req[600];
  REQUIRE_EQ(host_pdu(req, sizeof req), 3);
  CHECK_EQ(req[1], 0x03);
  CHECK(host_silent(20)); /* the second waits */
  PEER(ATT_READ_RSP, 'A');
  REQUIRE_EQ(host_pdu(req, sizeof req), 3);
  CHECK_EQ(req[1], 0x05);
  CHECK_EQ(dn[0].calls, 1);
  CHECK_EQ(dn[0].err, 0);
  CHECK_EQ(dn[0].len, 2);
  CHECK_EQ(dn[0].pdu[1], 'A');
  CHECK_EQ(dn[1].calls, 0);
  /* An Error Response completes the request too; the caller decodes it. */
  PEER(ATT_ERROR_RSP, ATT_READ_REQ, 0x05, 0x00, 0x02);
  run_until_idle(&loop, 5000);
  CHECK_EQ(dn[1].calls, 1);
  CHECK_EQ(dn[1].err, 0);
  CHECK_EQ(dn[1].pdu[0], ATT_ERROR_RSP);
  CHECK(!dn[0].ran_inside && !dn[1].ran_inside);
  /* Argument checks. */
  uint8_t big[24] = {ATT_WRITE_REQ};
  CHECK_EQ(att_send_request(ble, the_conn(), big, sizeof big, on_done, &dn[2]),
           UVBLE_EMSGSIZE);
  CHECK_EQ(att_send_pdu(ble, the_conn(), big, sizeof big), UVBLE_EMSGSIZE);
  down();
}

TEST(request_queue_is_bounded) {
  up_with(0, 0);
  reset_done();
  int ok = 0, r = 0;
  for (int i = 0; i < 40 && r == 0; i++) {
    r = att_send_request(ble, the_conn(), READ_3, 3, on_done, &dn[0]);
    ok += r == 0;
  }
  CHECK_EQ(r, UVBLE_ENOBUFS);
  CHECK_EQ(ok, 1 + 32); /* one in flight, 32 queued */
  down();
  CHECK_EQ(dn[0].calls, ok);
  CHECK_EQ(dn[0].err, UVBLE_ECANCELED); /* closing completes them */
}

TEST(transaction_timeout_kills_the_bearer) {
  up_with(60, 0);
  reset_done();
  REQUIRE_EQ(request(0, READ_3, 3), 0);
  REQUIRE_EQ(request(1, READ_3, 3), 0);
  uint8_t req[600];
  REQUIRE_EQ(host_pdu(req, sizeof req), 3);
  RUN_UNTIL(&loop, dn[0].calls >= 1 && dn[1].calls >= 1, 5000); /* 60 ms */
  CHECK_EQ(dn[0].calls, 1);
  CHECK_EQ(dn[0].err, UVBLE_ETIMEDOUT);
  CHECK_EQ(dn[1].calls, 1);
  CHECK_EQ(dn[1].err, UVBLE_EIO);
  CHECK(att_bearer_dead(the_conn()));
  CHECK_EQ(request(2, READ_3, 3), UVBLE_EIO);
  CHECK_EQ(att_send_pdu(ble, the_conn(), READ_3, 3), UVBLE_EIO);
  CHECK_EQ(att_exchange_mtu(ble, the_conn()), UVBLE_EIO);
  /* Vol 3, Part F, 3.3.3: nothing more on this bearer, not even answers. */
  PEER(ATT_READ_RSP, 1);
  PEER(ATT_READ_REQ, 0x03, 0x00);
  PEER(ATT_HANDLE_VALUE_IND, 0x21, 0x00, 'x');
  CHECK(host_silent(30));
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_INDICATE), 0);
  CHECK_EQ(dn[2].calls, 0);
  down();
}

TEST(mtu_exchange_timeout_still_reports) {
  up_with(50, 0);
  REQUIRE_EQ(att_exchange_mtu(ble, the_conn()), 0);
  RUN_UNTIL(&loop, count_ev(UVBLE_IRQ_MTU_EXCHANGED) >= 1, 5000); /* 50 ms */
  REQUIRE_EQ(count_ev(UVBLE_IRQ_MTU_EXCHANGED), 1);
  CHECK_EQ(last_ev(UVBLE_IRQ_MTU_EXCHANGED)->d.mtu.mtu, 23);
  down();
}

TEST(disconnect_completes_pending_and_queued_requests) {
  up_with(0, 0);
  reset_done();
  REQUIRE_EQ(request(0, READ_3, 3), 0);
  REQUIRE_EQ(request(1, READ_3, 3), 0);
  sc_disconnect(sc, CONN, 0x13);
  run_until_idle(&loop, 5000);
  CHECK_EQ(dn[0].calls, 1);
  CHECK_EQ(dn[0].err, UVBLE_EDISCONNECTED);
  CHECK_EQ(dn[0].conn_handle, CONN);
  CHECK_EQ(dn[1].calls, 1);
  CHECK_EQ(dn[1].err, UVBLE_EDISCONNECTED);
  down();
}

/* A callback that closes the stack while others are still pending: the
 * rest complete once each, with a connection object they may read. */
static void close_on_done(uvble_t *b, struct ble_conn *c, int err,
                          const uint8_t *pdu, size_t len, void *arg) {
  on_done(b, c, err, pdu, len, arg);
  uvble_close(b, NULL, NULL);
}

TEST(callback_closing_the_stack_mid_completion) {
  up_with(0, 0);
  reset_done();
  REQUIRE_EQ(att_send_request(ble, the_conn(), READ_3, 3, close_on_done,
                              &dn[0]),
             0);
  REQUIRE_EQ(request(1, READ_3, 3), 0);
  REQUIRE_EQ(request(2, READ_3, 3), 0);
  sc_disconnect(sc, CONN, 0x13);
  run_until_idle(&loop, 5000);
  CHECK_EQ(dn[0].calls, 1);
  CHECK_EQ(dn[1].calls, 1);
  CHECK_EQ(dn[2].calls, 1);
  CHECK_EQ(dn[2].conn_handle, CONN);
  ble = NULL; /* closed by the callback */
  sc_free(sc);
  run_until_idle(&loop, 5000);
  loop_teardown(&loop);
}

TEST(link_queue_full_gives_enobufs) {
  up_with(0, 0);
  ble->hci.conn_txq_max = 40;
  static const uint8_t ntf[] = {ATT_HANDLE_VALUE_NTF, 0x20, 0, 1, 2, 3, 4, 5,
                                6, 7, 8, 9, 10};
  /* The first fits (and goes straight to the controller's buffers); fill
   * the queue until the link refuses. */
  int r = 0;
  for (int i = 0; i < 100 && r == 0; i++)
    r = att_send_pdu(ble, the_conn(), ntf, sizeof ntf);
  CHECK_EQ(r, UVBLE_ENOBUFS);
  down();
}

TEST_MAIN()
