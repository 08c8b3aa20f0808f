/* SPDX-License-Identifier: Apache-2.0 */
/* GATT client operations with requests (uvble/req.h) against a scripted
 * server: each kind completes with its result and no irq event; a cancel
 * before the server answers completes it once with UVBLE_ECANCELED and
 * swallows (and counts) the late response; a link drop completes it with
 * UVBLE_EDISCONNECTED, closing the stack with UVBLE_ECANCELED; a completed
 * request can no longer be cancelled. */
#include "test_gattc_peer.h"

#define MAX_RES 32
struct rec {
  uvble_req_t req;
  int calls;       /* completions */
  int status;
  int in_start;    /* completions that ran inside the starting call */
  uvble_irq_data_t result;
  bool had_result;
  int nres;        /* intermediate results */
  int res_event[MAX_RES];
  uvble_irq_data_t res[MAX_RES];
  uint8_t value[600];
  size_t value_len;
  bool cancel_in_result; /* cancels itself from its first result */
};

static bool starting;

static void on_done(uvble_req_t *req, int status,
                    const uvble_irq_data_t *result, void *arg) {
  struct rec *r = arg;
  CHECK(req == &r->req);
  CHECK(!uvble_req_active(req));
  r->calls++;
  r->status = status;
  r->in_start += starting;
  r->had_result = result != NULL;
  if (result) r->result = *result;
}

static void on_result(uvble_req_t *req, int event,
                      const uvble_irq_data_t *d, void *arg) {
  struct rec *r = arg;
  if (r->nres < MAX_RES) {
    r->res_event[r->nres] = event;
    r->res[r->nres] = *d;
  }
  r->nres++;
  if (event == UVBLE_IRQ_GATTC_READ_RESULT) {
    r->value_len = d->gattc_data.data_len;
    memcpy(r->value, d->gattc_data.data, r->value_len);
  }
  if (r->cancel_in_result) {
    r->cancel_in_result = false;
    CHECK_EQ(uvble_cancel(req), 0);
  }
}

static void rec_init(struct rec *r) {
  memset(r, 0, sizeof *r);
  uvble_req_init(&r->req, on_done, r);
  uvble_req_on_result(&r->req, on_result);
}

static bool rec_done(void *arg) { return ((struct rec *)arg)->calls > 0; }

static void wait_done(struct rec *r) {
  run_until_pred(&loop, rec_done, r, 2000);
}

static uint64_t late_count(void) {
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  return st.req_late_responses;
}

static bool late_reached(void *arg) {
  return late_count() >= *(const uint64_t *)arg;
}

/* Runs the loop until n late responses were counted in all. */
static void wait_late(uint64_t n) {
  run_until_pred(&loop, late_reached, &n, 2000);
}

/* Starts a read of handle with r; never completes inside the call. */
static int start_read(struct rec *r, uint16_t handle) {
  starting = true;
  int ret = uvble_gattc_read_req(&r->req, ble, CONN, handle);
  starting = false;
  return ret;
}

/* ---- each kind completes with its result ------------------------------------ */
TEST(read_req_completes_with_value_and_no_irq) {
  peer_up();
  struct rec r;
  rec_init(&r);
  REQUIRE_EQ(start_read(&r, 0x0022), 0);
  CHECK(uvble_req_active(&r.req));
  CHECK_EQ(r.req.type, UVBLE_REQ_READ);
  EXPECT_REQ(0x0a, 0x22, 0x00);
  PEER_SEND(0x0b, 'v', 'a', 'l');
  wait_done(&r);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.in_start, 0);
  CHECK_EQ(r.status, 0);
  REQUIRE(r.had_result);
  CHECK_EQ(r.result.gatt_status.conn_handle, CONN);
  CHECK_EQ(r.result.gatt_status.value_handle, 0x22);
  REQUIRE_EQ(r.nres, 1);
  CHECK_EQ(r.res_event[0], UVBLE_IRQ_GATTC_READ_RESULT);
  REQUIRE_EQ(r.value_len, 3);
  CHECK_MEM(r.value, "val", 3);
  CHECK_EQ(nev, 0); /* nothing reached the irq handler */
  /* An ATT error is the status, as sent. */
  REQUIRE_EQ(start_read(&r, 0x0023), 0);
  EXPECT_REQ(0x0a, 0x23, 0x00);
  peer_error(0x0a, 0x0023, UVBLE_ATT_ERR_READ_NOT_PERMITTED);
  RUN_UNTIL(&loop, r.calls >= 2, 5000);
  CHECK_EQ(r.calls, 2);
  CHECK_EQ(r.status, UVBLE_ATT_ERR_READ_NOT_PERMITTED);
  CHECK_EQ(nev, 0);
  peer_down();
}

TEST(write_req_completes_and_write_command_takes_no_request) {
  peer_up();
  struct rec r;
  rec_init(&r);
  starting = true;
  REQUIRE_EQ(uvble_gattc_write_req(&r.req, ble, CONN, 0x25, "ab", 2, 1), 0);
  starting = false;
  EXPECT_REQ(0x12, 0x25, 0x00, 'a', 'b');
  PEER_SEND(0x13);
  wait_done(&r);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.in_start, 0);
  CHECK_EQ(r.status, 0);
  CHECK_EQ(r.result.gatt_status.value_handle, 0x25);
  CHECK_EQ(r.req.type, UVBLE_REQ_WRITE);
  CHECK_EQ(uvble_gattc_write_req(&r.req, ble, CONN, 0x25, "ab", 2, 0),
           UVBLE_EINVAL);
  CHECK(!uvble_req_active(&r.req));
  CHECK_EQ(nev, 0);
  peer_down();
}

TEST(discovery_reqs_deliver_results_and_queue_without_ebusy) {
  peer_up();
  struct rec s, ch, d;
  rec_init(&s);
  rec_init(&ch);
  rec_init(&d);
  REQUIRE_EQ(uvble_gattc_discover_services_req(&s.req, ble, CONN, NULL), 0);
  /* The irq API allows one discovery at a time; requests queue. */
  REQUIRE_EQ(uvble_gattc_discover_characteristics_req(&ch.req, ble, CONN, 1, 5,
                                                      NULL),
             0);
  REQUIRE_EQ(uvble_gattc_discover_descriptors_req(&d.req, ble, CONN, 3, 5), 0);
  /* And an irq-mode one still may start beside them. */
  REQUIRE_EQ(uvble_gattc_discover_services(ble, CONN, NULL), 0);
  EXPECT_REQ(0x10, 0x01, 0x00, 0xff, 0xff, 0x00, 0x28);
  PEER_SEND(0x11, 6, 1, 0, 5, 0, 0x0d, 0x18);
  EXPECT_REQ(0x10, 0x06, 0x00, 0xff, 0xff, 0x00, 0x28);
  peer_error(0x10, 0x0006, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  wait_done(&s);
  CHECK_EQ(s.calls, 1);
  CHECK_EQ(s.status, 0);
  CHECK_EQ(s.req.type, UVBLE_REQ_DISCOVER_SERVICES);
  REQUIRE_EQ(s.nres, 1);
  CHECK_EQ(s.res_event[0], UVBLE_IRQ_GATTC_SERVICE_RESULT);
  CHECK_EQ(s.res[0].service.start_handle, 1);
  CHECK_EQ(s.res[0].service.end_handle, 5);
  CHECK_EQ(s.result.done.conn_handle, CONN);
  /* Characteristics: one declaration at 2 (value 3). */
  EXPECT_REQ(0x08, 0x01, 0x00, 0x05, 0x00, 0x03, 0x28);
  PEER_SEND(0x09, 7, 2, 0, 0x02, 3, 0, 0x00, 0x2a);
  EXPECT_REQ(0x08, 0x03, 0x00, 0x05, 0x00, 0x03, 0x28);
  peer_error(0x08, 0x0003, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  wait_done(&ch);
  CHECK_EQ(ch.status, 0);
  REQUIRE_EQ(ch.nres, 1);
  CHECK_EQ(ch.res_event[0], UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT);
  CHECK_EQ(ch.res[0].characteristic.value_handle, 3);
  CHECK_EQ(ch.res[0].characteristic.end_handle, 5);
  /* Descriptors in (3, 5]. */
  EXPECT_REQ(0x04, 0x04, 0x00, 0x05, 0x00);
  PEER_SEND(0x05, 1, 4, 0, 0x02, 0x29, 5, 0, 0x01, 0x29);
  wait_done(&d);
  CHECK_EQ(d.status, 0);
  REQUIRE_EQ(d.nres, 2);
  CHECK_EQ(d.res_event[1], UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT);
  CHECK_EQ(d.res[1].descriptor.dsc_handle, 5);
  CHECK_EQ(nev, 0);
  /* Only the irq-mode discovery reaches the irq handler. */
  EXPECT_REQ(0x10, 0x01, 0x00, 0xff, 0xff, 0x00, 0x28);
  peer_error(0x10, 0x0001, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  REQUIRE(wait_ev(UVBLE_IRQ_GATTC_SERVICE_DONE, 0, 200) >= 0);
  CHECK_EQ(nev, 1);
  peer_down();
}

TEST(exchange_mtu_req_completes_with_the_mtu) {
  peer_up();
  struct rec r;
  rec_init(&r);
  REQUIRE_EQ(uvble_gattc_exchange_mtu_req(&r.req, ble, CONN), 0);
  EXPECT_REQ(0x02, 0x00, 0x01);
  PEER_SEND(0x03, 100, 0x00);
  wait_done(&r);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.status, 0);
  CHECK_EQ(r.req.type, UVBLE_REQ_EXCHANGE_MTU);
  CHECK_EQ(r.result.mtu.conn_handle, CONN);
  CHECK_EQ(r.result.mtu.mtu, 100);
  CHECK_EQ(nev, 0);
  CHECK_EQ(uvble_gattc_exchange_mtu_req(&r.req, ble, CONN), UVBLE_EALREADY);
  peer_down();
}

/* ---- cancel --------------------------------------------------------------- */
TEST(cancel_before_the_answer_completes_once_and_swallows_the_answer) {
  peer_up();
  struct rec r, next;
  rec_init(&r);
  rec_init(&next);
  REQUIRE_EQ(start_read(&r, 0x0022), 0);
  REQUIRE_EQ(uvble_gattc_read_req(&next.req, ble, CONN, 0x0024), 0);
  EXPECT_REQ(0x0a, 0x22, 0x00);
  uint64_t late = late_count();
  CHECK_EQ(uvble_cancel(&r.req), 0);
  CHECK_EQ(r.calls, 0); /* never inside uvble_cancel */
  CHECK_EQ(uvble_cancel(&r.req), UVBLE_EALREADY);
  wait_done(&r);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.status, UVBLE_ECANCELED);
  CHECK(!r.had_result);
  /* The server's late answer: swallowed, counted; the next op goes out. */
  PEER_SEND(0x0b, 'l', 'a', 't', 'e');
  wait_late(late + 1);
  CHECK_EQ(late_count(), late + 1);
  EXPECT_REQ(0x0a, 0x24, 0x00);
  PEER_SEND(0x0b, 'o', 'k');
  wait_done(&next);
  CHECK_EQ(next.status, 0);
  CHECK_EQ(next.value_len, 2);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.nres, 0);
  CHECK_EQ(nev, 0);
  CHECK_EQ(uvble_cancel(&next.req), UVBLE_EALREADY); /* completed */
  peer_down();
}

TEST(cancel_of_a_queued_request_never_sends_it) {
  peer_up();
  struct rec a, b, c;
  rec_init(&a);
  rec_init(&b);
  rec_init(&c);
  REQUIRE_EQ(start_read(&a, 0x0022), 0);
  REQUIRE_EQ(uvble_gattc_write_req(&b.req, ble, CONN, 0x30, "x", 1, 1), 0);
  REQUIRE_EQ(uvble_gattc_read_req(&c.req, ble, CONN, 0x0026), 0);
  EXPECT_REQ(0x0a, 0x22, 0x00);
  CHECK_EQ(uvble_cancel(&b.req), 0);
  wait_done(&b);
  CHECK_EQ(b.status, UVBLE_ECANCELED);
  uint64_t late = late_count();
  PEER_SEND(0x0b, 1);
  wait_done(&a);
  CHECK_EQ(a.status, 0);
  EXPECT_REQ(0x0a, 0x26, 0x00); /* the write never went out */
  PEER_SEND(0x0b, 2);
  wait_done(&c);
  CHECK_EQ(c.status, 0);
  CHECK_EQ(late_count(), late);
  CHECK_EQ(b.calls, 1);
  peer_down();
}

TEST(cancel_from_a_result_stops_the_results) {
  peer_up();
  struct rec s;
  rec_init(&s);
  s.cancel_in_result = true;
  REQUIRE_EQ(uvble_gattc_discover_services_req(&s.req, ble, CONN, NULL), 0);
  EXPECT_REQ(0x10, 0x01, 0x00, 0xff, 0xff, 0x00, 0x28);
  PEER_SEND(0x11, 6, 1, 0, 4, 0, 0x00, 0x18, 5, 0, 8, 0, 0x01, 0x18);
  wait_done(&s);
  CHECK_EQ(s.calls, 1);
  CHECK_EQ(s.status, UVBLE_ECANCELED);
  CHECK_EQ(s.nres, 1); /* the second service of that response: dropped */
  CHECK(peer_quiet(20)); /* the discovery goes no further */
  CHECK_EQ(nev, 0);
  /* The connection's queue moves on. */
  struct rec r;
  rec_init(&r);
  REQUIRE_EQ(start_read(&r, 0x0003), 0);
  EXPECT_REQ(0x0a, 0x03, 0x00);
  PEER_SEND(0x0b);
  wait_done(&r);
  CHECK_EQ(r.status, 0);
  peer_down();
}

TEST(cancel_of_a_long_write_discards_what_the_server_queued) {
  peer_up();
  struct rec r;
  rec_init(&r);
  uint8_t v[40];
  for (size_t i = 0; i < sizeof v; i++) v[i] = (uint8_t)i;
  REQUIRE_EQ(uvble_gattc_write_req(&r.req, ble, CONN, 0x31, v, sizeof v, 1),
             0);
  uint8_t got[600];
  size_t n = peer_recv(got);
  REQUIRE_EQ(n, 5 + 18);
  CHECK_EQ(got[0], 0x16);
  CHECK_EQ(uvble_cancel(&r.req), 0);
  got[0] = 0x17; /* the echo of the first part */
  peer_send(got, n);
  EXPECT_REQ(0x18, 0x00); /* Execute Write, flags 0: cancel all */
  PEER_SEND(0x19);
  wait_done(&r);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.status, UVBLE_ECANCELED);
  CHECK(peer_quiet(20));
  CHECK_EQ(nev, 0);
  peer_down();
}

TEST(cancel_of_an_mtu_exchange_keeps_the_mtu_and_swallows_the_answer) {
  peer_up();
  struct rec r;
  rec_init(&r);
  REQUIRE_EQ(uvble_gattc_exchange_mtu_req(&r.req, ble, CONN), 0);
  EXPECT_REQ(0x02, 0x00, 0x01);
  CHECK_EQ(uvble_cancel(&r.req), 0);
  wait_done(&r);
  CHECK_EQ(r.status, UVBLE_ECANCELED);
  uint64_t late = late_count();
  PEER_SEND(0x03, 100, 0x00);
  wait_late(late + 1);
  CHECK_EQ(late_count(), late + 1);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(nev, 0);
  CHECK_EQ(att_mtu(conn_find(ble, CONN)), 100);
  peer_down();
}

TEST(cancel_errors) {
  peer_up();
  struct rec r;
  rec_init(&r);
  CHECK_EQ(uvble_cancel(NULL), UVBLE_EINVAL);
  CHECK_EQ(uvble_cancel(&r.req), UVBLE_EINVAL); /* never started */
  uvble_req_t bare;
  uvble_req_init(&bare, NULL, NULL);
  CHECK_EQ(uvble_gattc_read_req(&bare, ble, CONN, 3), UVBLE_EINVAL);
  CHECK_EQ(uvble_gattc_read_req(&r.req, ble, CONN, 0), UVBLE_EINVAL);
  CHECK(!uvble_req_active(&r.req));
  REQUIRE_EQ(start_read(&r, 0x0003), 0);
  CHECK_EQ(uvble_gattc_read_req(&r.req, ble, CONN, 3), UVBLE_EBUSY);
  EXPECT_REQ(0x0a, 0x03, 0x00);
  PEER_SEND(0x0b);
  wait_done(&r);
  CHECK_EQ(r.status, 0);
  CHECK_EQ(uvble_cancel(&r.req), UVBLE_EALREADY);
  CHECK_EQ(r.calls, 1);
  peer_down();
}

/* ---- the link drops, the stack closes ------------------------------------------ */
TEST(link_drop_completes_requests_with_edisconnected) {
  peer_up();
  struct rec a, b, m;
  rec_init(&a);
  rec_init(&b);
  rec_init(&m);
  REQUIRE_EQ(start_read(&a, 0x0022), 0);
  REQUIRE_EQ(uvble_gattc_discover_services_req(&b.req, ble, CONN, NULL), 0);
  REQUIRE_EQ(uvble_gattc_exchange_mtu_req(&m.req, ble, CONN), 0);
  EXPECT_REQ(0x0a, 0x22, 0x00);
  sc_disconnect(sc, CONN, 0x08);
  wait_done(&a);
  wait_done(&b);
  wait_done(&m);
  CHECK_EQ(a.calls, 1);
  CHECK_EQ(a.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(b.calls, 1);
  CHECK_EQ(b.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(m.calls, 1);
  CHECK_EQ(m.status, UVBLE_EDISCONNECTED);
  /* Only the disconnect itself reaches the irq handler. */
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_READ_DONE), 0);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_SERVICE_DONE), 0);
  CHECK_EQ(count_ev(UVBLE_IRQ_PERIPHERAL_DISCONNECT), 1);
  peer_down();
}

TEST(closing_the_stack_completes_requests_with_ecanceled) {
  peer_up();
  struct rec a, b, cancelled;
  rec_init(&a);
  rec_init(&b);
  rec_init(&cancelled);
  REQUIRE_EQ(start_read(&a, 0x0022), 0);
  REQUIRE_EQ(uvble_gattc_write_req(&b.req, ble, CONN, 0x30, "x", 1, 1), 0);
  REQUIRE_EQ(uvble_gattc_read_req(&cancelled.req, ble, CONN, 0x33), 0);
  EXPECT_REQ(0x0a, 0x22, 0x00);
  CHECK_EQ(uvble_cancel(&cancelled.req), 0);
  uvble_close(ble, NULL, NULL);
  /* Inside uvble_close, before its callback: everything completed. */
  CHECK_EQ(a.calls, 1);
  CHECK_EQ(a.status, UVBLE_ECANCELED);
  CHECK_EQ(b.calls, 1);
  CHECK_EQ(b.status, UVBLE_ECANCELED);
  CHECK_EQ(cancelled.calls, 1);
  CHECK_EQ(cancelled.status, UVBLE_ECANCELED);
  CHECK_EQ(uvble_cancel(&a.req), UVBLE_EALREADY);
  sc_free(sc);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(a.calls, 1);
  CHECK_EQ(cancelled.calls, 1);
  loop_teardown(&loop);
}

TEST_MAIN()
