/* SPDX-License-Identifier: Apache-2.0 */
/* uvble_gatts_indicate_req (uvble/req.h) against a scripted client: the
 * request completes on the Handle Value Confirmation with INDICATE_DONE's
 * status and payload, and that event is not raised; never inside the
 * starting call; a cancel completes it with UVBLE_ECANCELED and swallows
 * (counts) the confirmation; the ATT timeout gives UVBLE_ETIMEDOUT, a link
 * drop UVBLE_EDISCONNECTED, uvble_close UVBLE_ECANCELED; bad arguments
 * start nothing. Handles as in test_gatts.c. */
#include "req_probe.h"
#include "test_att_harness.h"

#define q_init req_probe_init
/* Each completion is awaited (its bound fails the case). */
static void wait_q(struct req_probe *q) {
  REQUIRE(req_probe_wait(&loop, q, 2000));
}

static int start(struct req_probe *q, uint16_t handle, const char *v) {
  req_probe_starting = true;
  int r = uvble_gatts_indicate_req(&q->req, ble, CONN, handle, v,
                                   v ? strlen(v) : 0);
  req_probe_starting = false;
  return r;
}

static uint64_t late(void) {
  uvble_stats_t s;
  uvble_get_stats(ble, &s);
  return s.req_late_responses;
}

static void expect_ind(uint16_t handle, const char *v) {
  uint8_t p[600];
  int n = host_pdu(p, sizeof p);
  REQUIRE_EQ(n, 3 + (int)strlen(v));
  CHECK_EQ(p[0], ATT_HANDLE_VALUE_IND);
  CHECK_EQ(get_le16(p + 1), handle);
  CHECK_MEM(p + 3, v, strlen(v));
}

TEST(indicate_req_completes_on_the_confirmation) {
  up_db();
  struct req_probe a, b;
  q_init(&a);
  q_init(&b);
  REQUIRE_EQ(start(&a, H_C1, "one"), 0);
  CHECK_EQ(a.req.type, UVBLE_REQ_INDICATE);
  REQUIRE_EQ(start(&b, H_D1, "two"), 0); /* queues behind the first */
  expect_ind(H_C1, "one");
  CHECK(host_silent(20));
  CHECK_EQ(a.calls, 0);
  PEER(ATT_HANDLE_VALUE_CFM);
  wait_q(&a);
  CHECK_EQ(a.status, 0);
  CHECK_EQ(a.in_start, 0);
  REQUIRE(a.had_result);
  CHECK_EQ(a.result.gatt_status.conn_handle, CONN);
  CHECK_EQ(a.result.gatt_status.value_handle, H_C1);
  CHECK_EQ(a.result.gatt_status.status, 0);
  expect_ind(H_D1, "two");
  PEER(ATT_HANDLE_VALUE_CFM);
  wait_q(&b);
  CHECK_EQ(b.status, 0);
  CHECK_EQ(b.result.gatt_status.value_handle, H_D1);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE), 0);
  CHECK_EQ(uvble_cancel(&a.req), UVBLE_EALREADY);
  /* data NULL: the stored value, as the plain call. */
  REQUIRE_EQ(uvble_gatts_write(ble, H_C1, "stored", 6, false), 0);
  q_init(&a);
  REQUIRE_EQ(start(&a, H_C1, NULL), 0);
  expect_ind(H_C1, "stored");
  PEER(ATT_HANDLE_VALUE_CFM);
  wait_q(&a);
  CHECK_EQ(a.status, 0);
  down();
}

TEST(indicate_req_bad_arguments) {
  up_db();
  struct req_probe q;
  q_init(&q);
  uvble_req_t bare;
  uvble_req_init(&bare, NULL, NULL);
  CHECK_EQ(uvble_cancel(&q.req), UVBLE_EINVAL); /* never started */
  CHECK_EQ(uvble_gatts_indicate_req(&q.req, NULL, CONN, H_C1, "x", 1),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gatts_indicate_req(&bare, ble, CONN, H_C1, "x", 1),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gatts_indicate_req(&q.req, ble, 0x99, H_C1, "x", 1),
           UVBLE_ENOTCONN);
  CHECK_EQ(uvble_gatts_indicate_req(&q.req, ble, CONN, H_C1_DECL, "x", 1),
           UVBLE_EINVAL); /* not a value handle */
  CHECK(!uvble_req_active(&q.req));
  REQUIRE_EQ(start(&q, H_C1, "x"), 0);
  CHECK_EQ(uvble_gatts_indicate_req(&q.req, ble, CONN, H_C1, "y", 1),
           UVBLE_EBUSY);
  /* NULL request: the plain call, with its event. */
  REQUIRE_EQ(uvble_gatts_indicate_req(NULL, ble, CONN, H_D1, "p", 1), 0);
  expect_ind(H_C1, "x");
  PEER(ATT_HANDLE_VALUE_CFM);
  wait_q(&q);
  expect_ind(H_D1, "p");
  PEER(ATT_HANDLE_VALUE_CFM);
  run_until_idle(&loop, 5000);
  CHECK_EQ(q.calls, 1);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE), 1);
  CHECK_EQ(last_ev(UVBLE_IRQ_GATTS_INDICATE_DONE)->d.gatt_status.value_handle,
           H_D1);
  down();
}

TEST(indicate_req_cancel_swallows_the_confirmation) {
  up_db();
  uint64_t l0 = late();
  struct req_probe q;
  q_init(&q);
  REQUIRE_EQ(start(&q, H_C1, "a"), 0);
  expect_ind(H_C1, "a");
  req_probe_starting = true;
  CHECK_EQ(uvble_cancel(&q.req), 0);
  req_probe_starting = false;
  CHECK_EQ(uvble_cancel(&q.req), UVBLE_EALREADY);
  wait_q(&q);
  CHECK_EQ(q.status, UVBLE_ECANCELED);
  CHECK_EQ(q.in_start, 0);
  CHECK(!q.had_result);
  PEER(ATT_HANDLE_VALUE_CFM);
  run_until_idle(&loop, 5000);
  CHECK_EQ(q.calls, 1);
  CHECK_EQ(late(), l0 + 1);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE), 0);
  /* The bearer goes on: the next indication goes out. */
  REQUIRE_EQ(uvble_gatts_indicate(ble, CONN, H_C1, "b", 1), 0);
  expect_ind(H_C1, "b");
  down();
}

TEST(indicate_req_times_out) {
  up_with(60, 1);
  uint16_t h[16];
  REQUIRE_EQ(register_test_db(h, 16), 11);
  struct req_probe q;
  q_init(&q);
  REQUIRE_EQ(start(&q, H_C1, "a"), 0);
  wait_q(&q);
  CHECK_EQ(q.status, UVBLE_ETIMEDOUT);
  CHECK_EQ(q.result.gatt_status.status, UVBLE_ETIMEDOUT);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE), 0);
  q_init(&q);
  CHECK_EQ(start(&q, H_C1, "b"), UVBLE_EIO); /* the bearer is dead */
  CHECK(!uvble_req_active(&q.req));
  down();
}

TEST(indicate_req_link_drop_and_close) {
  up_db();
  struct req_probe a, b;
  q_init(&a);
  q_init(&b);
  REQUIRE_EQ(start(&a, H_C1, "a"), 0);
  REQUIRE_EQ(start(&b, H_D1, "b"), 0);
  sc_disconnect(sc, CONN, 0x13);
  wait_q(&a);
  wait_q(&b);
  CHECK_EQ(a.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(b.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_INDICATE_DONE), 0);
  CHECK_EQ(count_ev(UVBLE_IRQ_CENTRAL_DISCONNECT), 1);
  down();

  up_db();
  q_init(&a);
  REQUIRE_EQ(start(&a, H_C1, "a"), 0);
  uvble_close(ble, NULL, NULL);
  CHECK_EQ(a.calls, 1); /* before the close callback */
  CHECK_EQ(a.status, UVBLE_ECANCELED);
  ble = NULL;
  sc_free(sc);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(a.calls, 1);
  loop_teardown(&loop);
}

TEST_MAIN()
