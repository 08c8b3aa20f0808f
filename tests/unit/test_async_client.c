/* SPDX-License-Identifier: Apache-2.0 */
/* The async GATT client against a scripted peer (the test plays the remote
 * ATT server, tests/unit/test_gattc_peer.h): timeouts and cancels whose
 * late answers are swallowed without confusing the next operation, ATT
 * errors as UVBLE_EATT, queued discoveries, the notification queue and its
 * bound, the link dropping under every kind of pending operation, and
 * closing the stack with a hundred operations pending. */
#include "test_gattc_peer.h"
#include "uvble/async.h"
#include "uvble/co.h"

static uvble_async_t *A;
static uvble_connection_t *C;
static bool closed;

static void on_closed(uvble_async_t *a, void *arg) {
  (void)a;
  (void)arg;
  closed = true;
}

static bool done(void *f) { return uvble_future_done(f); }
static bool closed_pred(void *arg) {
  (void)arg;
  return closed;
}

static bool conn_seen(void *arg) {
  (void)arg;
  return uvble_async_connection(A, CONN) != NULL;
}

static void up_with(const uvble_async_config_t *cfg) {
  uv_loop_init(&loop);
  uvble_transport_t *host;
  sc = sc_new(&loop, &host);
  sc_config(sc)->acl_mtu = 600;
  sc_config(sc)->acl_pkts = 8;
  sc_config(sc)->auto_complete_acl = true;
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  REQUIRE_EQ(uvble_async_new(ble, NULL, cfg, &A), 0);
  uvble_async_irq_chain(A, on_irq, NULL); /* the peer's recorder */
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_async_start(&f, A, 2000), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 3000));
  REQUIRE_EQ(f.status, 0);
  nev = 0;
  irq_hook = NULL;
  sc_connect(sc, CONN, 0, PEER_ADDR);
  REQUIRE(run_until_pred(&loop, conn_seen, NULL, 1000));
  C = uvble_connection_ref(uvble_async_connection(A, CONN));
  run_until_idle(&loop, 5000);
  acl_seen = sc_acl_count(sc);
}

static void up(void) { up_with(NULL); }

static void down(void) {
  uvble_connection_release(C);
  closed = false;
  uvble_async_close(A, on_closed, NULL);
  REQUIRE(run_until_pred(&loop, closed_pred, NULL, 2000));
  sc_free(sc);
  run_until_idle(&loop, 5000);
  loop_teardown(&loop);
}

/* ---- the scripted server: one service 0x180D at 0x0010-0x0020 with one
 * characteristic 0x2A37 (read, write, notify, indicate) at value handle
 * 0x0012 and its CCCD at 0x0013. */
#define SVC_START 0x0010
#define SVC_END 0x0020
#define VALUE 0x0012
#define CCCD 0x0013

/* Answers one discovery request; returns false if the next PDU was not
 * one. */
static bool serve_one(void) {
  uint8_t q[600];
  size_t n = peer_recv(q);
  if (n < 5) return false;
  uint16_t start = (uint16_t)(q[1] | (q[2] << 8));
  switch (q[0]) {
    case ATT_FIND_BY_TYPE_VALUE_REQ:
      if (start <= SVC_START)
        PEER_SEND(ATT_FIND_BY_TYPE_VALUE_RSP, 0x10, 0x00, 0x20, 0x00);
      else
        peer_error(q[0], start, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
      return true;
    case ATT_READ_BY_TYPE_REQ:
      if (start <= VALUE - 1)
        PEER_SEND(ATT_READ_BY_TYPE_RSP, 7, 0x11, 0x00, 0x3A, 0x12, 0x00, 0x37,
                  0x2A);
      else
        peer_error(q[0], start, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
      return true;
    case ATT_FIND_INFO_REQ:
      if (start <= CCCD)
        PEER_SEND(ATT_FIND_INFO_RSP, 0x01, 0x13, 0x00, 0x02, 0x29);
      else
        peer_error(q[0], start, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
      return true;
    default:
      return false;
  }
}

/* Serves discovery until f is done. */
static void serve_until(uvble_future_t *f) {
  for (int i = 0; i < 20 && !uvble_future_done(f); i++) {
    if (!serve_one()) run_until_idle(&loop, 5000);
  }
  REQUIRE(run_until_pred(&loop, done, f, 500));
}

static uvble_client_characteristic_t *discover(void) {
  uvble_future_t f = {0};
  uvble_uuid_t su = uvble_uuid16(0x180D), cu = uvble_uuid16(0x2A37);
  REQUIRE_EQ(uvble_connection_service(&f, C, &su, 1000), 0);
  serve_until(&f);
  REQUIRE_EQ(f.status, 0);
  uvble_client_service_t *s = f.result.service;
  CHECK_EQ(s->start_handle, SVC_START);
  CHECK_EQ(s->end_handle, SVC_END);
  REQUIRE_EQ(uvble_client_service_characteristic(&f, s, &cu, 1000), 0);
  serve_until(&f);
  REQUIRE_EQ(f.status, 0);
  uvble_client_characteristic_t *ch = f.result.characteristic;
  CHECK_EQ(ch->value_handle, VALUE);
  CHECK_EQ(ch->properties, 0x3A);
  return ch;
}

/* ---- timeouts and cancels leave late answers harmless ------------------------ */
TEST(a_timed_out_read_swallows_its_late_answer) {
  up();
  uvble_client_characteristic_t *ch = discover();
  uint8_t b1[16], b2[16];
  uvble_future_t r1 = {0}, r2 = {0};
  REQUIRE_EQ(uvble_client_characteristic_read(&r1, ch, b1, sizeof b1, 50), 0);
  EXPECT_REQ(ATT_READ_REQ, 0x12, 0x00);
  REQUIRE(run_until_pred(&loop, done, &r1, 500));
  CHECK_EQ(r1.status, UVBLE_ETIMEDOUT);
  /* The second read waits behind the first in the bearer. */
  REQUIRE_EQ(uvble_client_characteristic_read(&r2, ch, b2, sizeof b2, 1000), 0);
  CHECK(peer_quiet(20));
  PEER_SEND(ATT_READ_RSP, 'o', 'l', 'd');
  EXPECT_REQ(ATT_READ_REQ, 0x12, 0x00);
  PEER_SEND(ATT_READ_RSP, 'n', 'e', 'w');
  REQUIRE(run_until_pred(&loop, done, &r2, 500));
  CHECK_EQ(r2.status, 0);
  CHECK_EQ(r2.len, 3);
  CHECK_MEM(b2, "new", 3);
  CHECK_EQ(r1.len, 0); /* nothing landed in the abandoned buffer */
  uvble_async_stats_t st;
  uvble_async_get_stats(A, &st);
  CHECK_EQ(st.gattc_unmatched, 0);
  uvble_sched_stats_t ss;
  uvble_sched_get_stats(uvble_async_sched(A), &ss);
  CHECK_EQ(ss.pending, 0);
  down();
}

TEST(a_cancelled_write_does_not_complete_the_next_one) {
  up();
  uvble_client_characteristic_t *ch = discover();
  uvble_future_t w1 = {0}, w2 = {0};
  REQUIRE_EQ(uvble_client_characteristic_write(&w1, ch, "a", 1, 1, 0), 0);
  EXPECT_REQ(ATT_WRITE_REQ, 0x12, 0x00, 'a');
  REQUIRE_EQ(uvble_future_cancel(&w1), 0);
  REQUIRE_EQ(uvble_client_characteristic_write(&w2, ch, "b", 1, 1, 1000), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(w1.status, UVBLE_ECANCELED);
  PEER_SEND(ATT_WRITE_RSP); /* for "a" */
  CHECK(uvble_future_pending(&w2));
  EXPECT_REQ(ATT_WRITE_REQ, 0x12, 0x00, 'b');
  peer_error(ATT_WRITE_REQ, VALUE, UVBLE_ATT_ERR_WRITE_NOT_PERMITTED);
  REQUIRE(run_until_pred(&loop, done, &w2, 500));
  /* The error is the second write's, with the code as sent. */
  CHECK_EQ(w2.status, UVBLE_EATT);
  CHECK_EQ(w2.proto_status, UVBLE_ATT_ERR_WRITE_NOT_PERMITTED);
  down();
}

TEST(response_auto_follows_the_properties) {
  up();
  uvble_client_characteristic_t *ch = discover();
  uvble_future_t w = {0};
  /* 0x3A has WRITE and not WRITE_NO_RESPONSE: a Write Request. */
  REQUIRE_EQ(uvble_client_characteristic_write(&w, ch, "x", 1, UVBLE_WRITE_AUTO,
                                               1000),
             0);
  EXPECT_REQ(ATT_WRITE_REQ, 0x12, 0x00, 'x');
  PEER_SEND(ATT_WRITE_RSP);
  REQUIRE(run_until_pred(&loop, done, &w, 500));
  CHECK_EQ(w.status, 0);
  /* With WRITE_NO_RESPONSE too: a Write Command, done once handed over. */
  ch->properties |= UVBLE_FLAG_WRITE_NO_RESPONSE;
  REQUIRE_EQ(uvble_client_characteristic_write(&w, ch, "y", 1, UVBLE_WRITE_AUTO,
                                               1000),
             0);
  EXPECT_REQ(ATT_WRITE_CMD, 0x12, 0x00, 'y');
  REQUIRE(run_until_pred(&loop, done, &w, 500));
  CHECK_EQ(w.status, 0);
  /* Without any write property: refused at once. */
  ch->properties = UVBLE_FLAG_READ;
  CHECK_EQ(uvble_client_characteristic_write(&w, ch, "z", 1, 1, 1000),
           UVBLE_EINVAL);
  CHECK_EQ(w.status, UVBLE_EINVAL);
  down();
}

/* The timed-out discovery's request is cancelled: the server's answer to
 * what was already sent is swallowed (counted), the discovery goes no
 * further, and the next one runs. */
TEST(a_timed_out_discovery_is_cancelled_and_the_next_one_runs) {
  up();
  uvble_future_t d1 = {0}, d2 = {0};
  uvble_client_service_t *out[4];
  REQUIRE_EQ(uvble_connection_services(&d1, C, NULL, out, 4, 30), 0);
  uint8_t q[64];
  REQUIRE(peer_recv(q) > 0);
  CHECK_EQ(q[0], ATT_READ_BY_GROUP_TYPE_REQ);
  REQUIRE(run_until_pred(&loop, done, &d1, 500));
  CHECK_EQ(d1.status, UVBLE_ETIMEDOUT);
  /* Queued: the bearer waits for the answer to the first's request. */
  uvble_uuid_t su = uvble_uuid16(0x180D);
  REQUIRE_EQ(uvble_connection_service(&d2, C, &su, 1000), 0);
  CHECK(peer_quiet(20));
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  uint64_t late = st.req_late_responses;
  /* The first discovery's answer: swallowed, and it asks nothing more. */
  PEER_SEND(ATT_READ_BY_GROUP_TYPE_RSP, 6, 0x01, 0x00, 0x05, 0x00, 0x00, 0x18);
  serve_until(&d2);
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.req_late_responses, late + 1);
  CHECK_EQ(d2.status, 0);
  REQUIRE(d2.result.service != NULL);
  CHECK_EQ(d2.result.service->start_handle, SVC_START);
  CHECK_EQ(d1.len, 0);
  down();
}

TEST(a_service_that_is_not_there_is_enoent) {
  up();
  uvble_future_t f = {0};
  uvble_uuid_t u = uvble_uuid16(0x1234);
  REQUIRE_EQ(uvble_connection_service(&f, C, &u, 1000), 0);
  uint8_t q[64];
  REQUIRE(peer_recv(q) > 0);
  peer_error(q[0], 1, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  REQUIRE(run_until_pred(&loop, done, &f, 500));
  CHECK_EQ(f.status, UVBLE_ENOENT);
  CHECK(f.result.service == NULL);
  down();
}

TEST(discovering_twice_gives_the_same_objects) {
  up();
  uvble_client_characteristic_t *a = discover();
  uvble_client_characteristic_t *b = discover();
  CHECK(a == b);
  down();
}

/* ---- subscribe ------------------------------------------------------------------ */
TEST(subscribe_finds_the_cccd_then_writes_it) {
  up();
  uvble_client_characteristic_t *ch = discover();
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_client_characteristic_subscribe(&f, ch, true, true, 1000), 0);
  uint8_t q[64];
  size_t n = peer_recv(q);
  REQUIRE(n >= 5);
  CHECK_EQ(q[0], ATT_FIND_INFO_REQ);
  CHECK_EQ(q[1] | (q[2] << 8), VALUE + 1);
  PEER_SEND(ATT_FIND_INFO_RSP, 0x01, 0x13, 0x00, 0x02, 0x29);
  /* The last descriptor reached the end handle: no further request. */
  serve_one();
  EXPECT_REQ(ATT_WRITE_REQ, 0x13, 0x00, 0x03, 0x00);
  PEER_SEND(ATT_WRITE_RSP);
  REQUIRE(run_until_pred(&loop, done, &f, 500));
  CHECK_EQ(f.status, 0);
  /* Known now: straight to the write. */
  REQUIRE_EQ(uvble_client_characteristic_subscribe(&f, ch, false, false, 1000),
             0);
  EXPECT_REQ(ATT_WRITE_REQ, 0x13, 0x00, 0x00, 0x00);
  PEER_SEND(ATT_WRITE_RSP);
  REQUIRE(run_until_pred(&loop, done, &f, 500));
  CHECK_EQ(f.status, 0);
  down();
}

/* ---- notifications ------------------------------------------------------------------ */
static void notify(uint8_t v) { PEER_SEND(ATT_HANDLE_VALUE_NTF, 0x12, 0x00, v); }

TEST(notifications_queue_up_to_the_depth_dropping_the_oldest) {
  up();
  uvble_client_characteristic_t *ch = discover();
  uint8_t buf[8];
  uvble_future_t f = {0};
  /* Before anyone asked, values are not kept (as aioble). */
  notify(0);
  REQUIRE_EQ(uvble_client_characteristic_set_queue(ch, 3), 0);
  REQUIRE_EQ(uvble_client_characteristic_notified(&f, ch, buf, sizeof buf, 30),
             0);
  REQUIRE(run_until_pred(&loop, done, &f, 500));
  CHECK_EQ(f.status, UVBLE_ETIMEDOUT);
  for (uint8_t v = 1; v <= 5; v++) notify(v);
  uvble_async_stats_t st;
  uvble_async_get_stats(A, &st);
  CHECK_EQ(st.notify_dropped, 2);
  for (uint8_t v = 3; v <= 5; v++) {
    REQUIRE_EQ(uvble_client_characteristic_notified(&f, ch, buf, sizeof buf, 100),
               0);
    REQUIRE(run_until_pred(&loop, done, &f, 500));
    CHECK_EQ(f.status, 0);
    CHECK_EQ(f.len, 1);
    CHECK_EQ(buf[0], v);
  }
  /* A value longer than the buffer: cut, with its full length. */
  PEER_SEND(ATT_HANDLE_VALUE_NTF, 0x12, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
  REQUIRE_EQ(uvble_client_characteristic_notified(&f, ch, buf, 4, 100), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 500));
  CHECK_EQ(f.len, 10);
  CHECK(f.truncated);
  CHECK_EQ(buf[3], 4);
  /* Indications go to their own queue, and the stack confirms them. */
  REQUIRE_EQ(uvble_client_characteristic_indicated(&f, ch, buf, sizeof buf, 500),
             0);
  PEER_SEND(ATT_HANDLE_VALUE_IND, 0x12, 0x00, 0x77);
  REQUIRE(run_until_pred(&loop, done, &f, 500));
  CHECK_EQ(f.status, 0);
  CHECK_EQ(buf[0], 0x77);
  EXPECT_REQ(ATT_HANDLE_VALUE_CFM);
  down();
}

/* ---- the link drops --------------------------------------------------------------- */
TEST(the_link_dropping_completes_every_pending_client_operation) {
  up();
  uvble_client_characteristic_t *ch = discover();
  uint8_t b[16];
  uvble_future_t rd = {0}, nt = {0}, in = {0}, sub = {0}, disc = {0},
                 down_f = {0}, mtu = {0}, wr = {0};
  REQUIRE_EQ(uvble_client_characteristic_read(&rd, ch, b, sizeof b, 5000), 0);
  REQUIRE_EQ(uvble_client_characteristic_write(&wr, ch, "w", 1, 1, 5000), 0);
  REQUIRE_EQ(uvble_client_characteristic_notified(&nt, ch, b, sizeof b, 5000), 0);
  REQUIRE_EQ(uvble_client_characteristic_indicated(&in, ch, b, sizeof b, 5000),
             0);
  REQUIRE_EQ(uvble_client_characteristic_descriptors(&disc, ch, NULL, 0, 5000),
             0);
  REQUIRE_EQ(uvble_client_characteristic_subscribe(&sub, ch, true, false, 5000),
             0);
  REQUIRE_EQ(uvble_connection_exchange_mtu(&mtu, C, 0, 5000), 0);
  REQUIRE_EQ(uvble_connection_disconnected(&down_f, C, 5000), 0);
  run_until_idle(&loop, 5000);
  sc_disconnect(sc, CONN, 0x08); /* supervision timeout */
  uvble_future_t *all[] = {&rd, &wr, &nt, &in, &disc, &sub, &mtu};
  for (size_t i = 0; i < 7; i++) {
    REQUIRE(run_until_pred(&loop, done, all[i], 500));
    CHECK_EQ(all[i]->status, UVBLE_EDISCONNECTED);
  }
  REQUIRE(run_until_pred(&loop, done, &down_f, 500));
  CHECK_EQ(down_f.status, 0);
  CHECK(!uvble_connection_is_connected(C));
  /* Afterwards the connection refuses work at once. */
  CHECK_EQ(uvble_client_characteristic_read(&rd, ch, b, sizeof b, 100),
           UVBLE_ENOTCONN);
  REQUIRE_EQ(uvble_connection_disconnected(&down_f, C, 100), 0);
  REQUIRE(run_until_pred(&loop, done, &down_f, 500));
  CHECK_EQ(down_f.status, 0);
  uvble_sched_stats_t ss;
  uvble_sched_get_stats(uvble_async_sched(A), &ss);
  CHECK_EQ(ss.pending, 0);
  down();
}

/* ---- closing with a hundred operations pending --------------------------------------- */
static int cancelled, other, calls_before_close_cb;
static void count_cb(uvble_future_t *f) {
  if (f->status == UVBLE_ECANCELED)
    cancelled++;
  else
    other++;
}
static void on_closed_count(uvble_async_t *a, void *arg) {
  (void)a;
  calls_before_close_cb = cancelled + other;
  *(bool *)arg = true;
}
static bool flag_set(void *arg) { return *(bool *)arg; }

TEST(closing_completes_a_hundred_pending_operations_first) {
  up();
  uvble_client_characteristic_t *ch = discover();
  enum { N = 100 };
  uvble_future_t *f = calloc(N, sizeof *f);
  static uint8_t bufs[N][8];
  int k = 0;
  cancelled = other = 0;
  for (int i = 0; i < N; i++) f[i].cb = count_cb;
  for (int i = 0; i < 10; i++, k++)
    REQUIRE_EQ(uvble_client_characteristic_read(&f[k], ch, bufs[k], 8, 0), 0);
  for (int i = 0; i < 30; i++, k++)
    REQUIRE_EQ(uvble_client_characteristic_notified(&f[k], ch, bufs[k], 8, 0), 0);
  for (int i = 0; i < 20; i++, k++)
    REQUIRE_EQ(uvble_connection_disconnected(&f[k], C, 0), 0);
  for (int i = 0; i < 20; i++, k++) {
    uvble_device_t d;
    uint8_t addr[6] = {0xc0, 0, 0, 0, 0, (uint8_t)i};
    uvble_device_init(&d, UVBLE_ADDR_RANDOM, addr);
    REQUIRE_EQ(uvble_device_connect(&f[k], A, &d, NULL, 0), 0);
  }
  for (int i = 0; i < 10; i++, k++)
    REQUIRE_EQ(uvble_client_characteristic_indicated(&f[k], ch, bufs[k], 8, 0),
               0);
  for (int i = 0; i < 10; i++, k++)
    REQUIRE_EQ(uvble_sleep(&f[k], uvble_async_sched(A), 100000), 0);
  REQUIRE_EQ(k, N);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cancelled + other, 0);
  uvble_connection_release(C);
  C = NULL;
  bool is_closed = false;
  uvble_async_close(A, on_closed_count, &is_closed);
  /* Every callback ran inside the call, before anything was freed. */
  CHECK_EQ(cancelled, N);
  CHECK_EQ(other, 0);
  REQUIRE(run_until_pred(&loop, flag_set, &is_closed, 2000));
  CHECK_EQ(calls_before_close_cb, N);
  for (int i = 0; i < N; i++) CHECK(uvble_future_done(&f[i]));
  free(f);
  sc_free(sc);
  run_until_idle(&loop, 5000);
  loop_teardown(&loop);
}

TEST_MAIN()
