/* SPDX-License-Identifier: Apache-2.0 */
/* Scanning, connecting and advertising through the async layer against a
 * scripted controller: results merged per device and handed out once per
 * change, the device bound, one scan at a time, connects queued behind
 * the controller's single attempt, a timed-out connect cancelled in the
 * controller (aioble leaves it running: micropython-lib#950) and a link
 * that comes up anyway disconnected, advertise stopped by its timeout, the
 * irq chain, and the stack failing under pending operations. */
#include "test_gap_common.h"
#include "uvble/async.h"
#include "uvble/co.h"

static sc_t *sc;
static uvble_t *ble;
static uvble_async_t *A;
static bool closed;

static bool done(void *f) { return uvble_future_done(f); }

static void on_closed(uvble_async_t *a, void *arg) {
  (void)a;
  (void)arg;
  closed = true;
}
static bool closed_pred(void *arg) {
  (void)arg;
  return closed;
}

static void a_up(const uvble_async_config_t *cfg) {
  up(&sc, &ble, false);
  REQUIRE_EQ(uvble_async_new(ble, NULL, cfg, &A), 0);
  uvble_async_irq_chain(A, rec_irq, NULL);
}

static void a_down(void) {
  closed = false;
  uvble_async_close(A, on_closed, NULL);
  REQUIRE(run_until_pred(&loop, closed_pred, NULL, 2000));
  sc_free(sc);
  run_until_idle(&loop, 5000);
  loop_teardown(&loop);
}

struct cmd_wait {
  uint16_t op;
  int n;
};
static bool cmd_seen(void *arg) {
  struct cmd_wait *w = arg;
  return cmd_count(sc, w->op) >= w->n;
}
/* Runs the loop until the host sent opcode n times (under load a fixed
 * run_for may be too short); returns the count. */
static int wait_cmds(uint16_t op, int n) {
  struct cmd_wait w = {op, n};
  run_until_pred(&loop, cmd_seen, &w, 1000);
  return cmd_count(sc, op);
}

/* ---- scanning --------------------------------------------------------------------- */
/* One legacy LE Advertising Report. addr in display order. */
static void report(uint8_t type, const uint8_t addr[6], const void *data,
                   size_t len, int8_t rssi) {
  uint8_t p[64];
  size_t n = 0;
  p[n++] = 1; /* one report */
  p[n++] = type;
  p[n++] = 0; /* public */
  for (int i = 0; i < 6; i++) p[n++] = addr[5 - i];
  p[n++] = (uint8_t)len;
  memcpy(p + n, data, len);
  n += len;
  p[n++] = (uint8_t)rssi;
  send_meta(sc, HCI_LE_ADVERTISING_REPORT, p, n);
  run_until_idle(&loop, 5000);
}

static const uint8_t D1[6] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x01};
static const uint8_t D2[6] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x02};
static const uint8_t AD_NAME[] = {0x04, 0x09, 'a', 'b', 'c'};
static const uint8_t AD_OTHER[] = {0x02, 0x01, 0x06};
static const uint8_t RSP_SVC[] = {0x03, 0x03, 0x0d, 0x18};

/* Takes the next result at once (it must be queued). */
static uvble_scan_result_t *next_now(uvble_scan_t *s, int expect_status) {
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_scan_next(&f, s, 20), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 500));
  CHECK_EQ(f.status, expect_status);
  return f.status ? NULL : f.result.scan;
}

TEST(scan_results_merge_per_device_and_come_once_per_change) {
  a_up(NULL);
  uvble_scan_t *s;
  uvble_scan_params_t sp = {.active = true};
  REQUIRE_EQ(uvble_scan_start(A, &sp, &s), 0);
  REQUIRE_EQ(wait_cmds(HCI_OP_LE_SET_SCAN_ENABLE, 1), 1);
  CHECK_EQ(cmd_n(sc, HCI_OP_LE_SET_SCAN_ENABLE, 0)->params[0], 1);
  report(0, D1, AD_NAME, sizeof AD_NAME, -40); /* ADV_IND */
  report(4, D1, RSP_SVC, sizeof RSP_SVC, -40); /* its scan response */
  report(3, D2, AD_OTHER, sizeof AD_OTHER, -70); /* ADV_NONCONN_IND */
  report(0, D1, AD_NAME, sizeof AD_NAME, -40);   /* nothing new */
  /* D1 changed twice before anyone looked: handed out once, merged. */
  uvble_scan_result_t *r = next_now(s, 0);
  REQUIRE(r != NULL);
  CHECK_MEM(r->device.addr.val, D1, 6);
  CHECK(r->connectable);
  CHECK_EQ(r->rssi, -40);
  CHECK_EQ(r->reports, 3);
  char name[8];
  CHECK_EQ(uvble_scan_result_name(r, name, sizeof name), 3);
  CHECK_STR(name, "abc");
  uvble_uuid_t u[2];
  CHECK_EQ(uvble_scan_result_services(r, u, 2), 1);
  uvble_uuid_t hr = uvble_uuid16(0x180D);
  CHECK(uvble_uuid_equal(&u[0], &hr));
  uvble_scan_result_t *r2 = next_now(s, 0);
  REQUIRE(r2 != NULL);
  CHECK_MEM(r2->device.addr.val, D2, 6);
  CHECK(!r2->connectable);
  next_now(s, UVBLE_ETIMEDOUT); /* nothing changed since */
  /* An RSSI change counts (aioble), and gives the same object. */
  report(0, D1, AD_NAME, sizeof AD_NAME, -41);
  CHECK(next_now(s, 0) == r);
  uvble_scan_stats_t st;
  uvble_scan_get_stats(s, &st);
  CHECK_EQ(st.reports, 5);
  CHECK_EQ(st.devices, 2);
  CHECK_EQ(st.yielded, 3);
  /* Stopping ends the iteration with EOF once the controller stopped. */
  REQUIRE_EQ(uvble_scan_stop(s), 0);
  run_until_idle(&loop, 5000);
  next_now(s, UVBLE_EOF);
  uvble_scan_free(s);
  a_down();
}

TEST(ignore_rssi_and_the_device_bound) {
  uvble_async_config_t cfg;
  uvble_async_config_default(&cfg);
  cfg.scan_max_devices = 1;
  a_up(&cfg);
  uvble_scan_t *s;
  uvble_scan_params_t sp = {.ignore_rssi = true};
  REQUIRE_EQ(uvble_scan_start(A, &sp, &s), 0);
  report(0, D1, AD_NAME, sizeof AD_NAME, -40);
  report(0, D2, AD_NAME, sizeof AD_NAME, -40); /* beyond the bound */
  CHECK(next_now(s, 0) != NULL);
  report(0, D1, AD_NAME, sizeof AD_NAME, -60); /* RSSI only: ignored */
  next_now(s, UVBLE_ETIMEDOUT);
  uvble_scan_stats_t st;
  uvble_scan_get_stats(s, &st);
  CHECK_EQ(st.devices_dropped, 1);
  uvble_scan_free(s);
  a_down();
}

TEST(a_new_scan_ends_the_running_one) {
  a_up(NULL);
  uvble_scan_t *s1, *s2;
  REQUIRE_EQ(uvble_scan_start(A, NULL, &s1), 0);
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_scan_next(&f, s1, 1000), 0);
  REQUIRE_EQ(uvble_scan_start(A, NULL, &s2), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 500));
  CHECK_EQ(f.status, UVBLE_EOF);
  CHECK(!uvble_scan_running(s1));
  /* The controller scans for s2: two enables, one disable between. */
  CHECK_EQ(wait_cmds(HCI_OP_LE_SET_SCAN_ENABLE, 3), 3);
  CHECK(uvble_scan_running(s2));
  CHECK_EQ(cmd_n(sc, HCI_OP_LE_SET_SCAN_ENABLE, 2)->params[0], 1);
  report(0, D1, AD_NAME, sizeof AD_NAME, -40);
  CHECK(next_now(s2, 0) != NULL);
  uvble_scan_free(s1);
  /* Freeing with a next() pending: ECANCELED. */
  REQUIRE_EQ(uvble_scan_next(&f, s2, 1000), 0);
  uvble_scan_free(s2);
  REQUIRE(run_until_pred(&loop, done, &f, 500));
  CHECK_EQ(f.status, UVBLE_ECANCELED);
  a_down();
}

/* ---- connecting ------------------------------------------------------------------- */
static const uint8_t PEER1[6] = {0xc6, 0x05, 0x04, 0x03, 0x02, 0x01};
static const uint8_t PEER2[6] = {0xc6, 0x05, 0x04, 0x03, 0x02, 0x02};

static void conn_complete(uint8_t status, uint16_t handle, const uint8_t *peer) {
  uint8_t p[18];
  memset(p, 0, sizeof p);
  p[0] = status;
  p[1] = (uint8_t)handle;
  p[2] = (uint8_t)(handle >> 8);
  p[3] = 0; /* central */
  p[4] = 1;
  if (peer)
    for (int i = 0; i < 6; i++) p[5 + i] = peer[5 - i];
  p[11] = 24;
  p[15] = 72;
  send_meta(sc, HCI_LE_CONNECTION_COMPLETE, p, sizeof p);
  run_until_idle(&loop, 5000);
}

static bool create_status(sc_t *s, const struct sc_cmd_rec *c, void *arg) {
  (void)arg;
  sc_send_cs(s, c->opcode, 0);
  return true;
}

/* Cancel: Command Complete, then Connection Complete with Unknown
 * Connection Identifier (Vol 4, Part E, 7.8.13). */
static bool cancel_ok(sc_t *s, const struct sc_cmd_rec *c, void *arg) {
  (void)arg;
  uint8_t st = 0;
  sc_send_cc(s, c->opcode, &st, 1);
  uint8_t p[18] = {0x02};
  p[11] = 24;
  p[15] = 72;
  send_meta(s, HCI_LE_CONNECTION_COMPLETE, p, sizeof p);
  return true;
}

static void central_setup(void) {
  a_up(NULL);
  sc_on_cmd(sc, HCI_OP_LE_CREATE_CONN, create_status, NULL);
  sc_on_cmd(sc, HCI_OP_LE_CREATE_CONN_CANCEL, cancel_ok, NULL);
}

static void device(uvble_device_t *d, const uint8_t *a) {
  uvble_device_init(d, UVBLE_ADDR_RANDOM, a);
}

TEST(connects_queue_behind_the_controllers_one_attempt) {
  central_setup();
  uvble_device_t d1, d2;
  device(&d1, PEER1);
  device(&d2, PEER2);
  uvble_future_t f1 = {0}, f2 = {0};
  REQUIRE_EQ(uvble_device_connect(&f1, A, &d1, NULL, 2000), 0);
  REQUIRE_EQ(uvble_device_connect(&f2, A, &d2, NULL, 2000), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_CREATE_CONN), 1);
  conn_complete(0, 0x40, PEER1);
  REQUIRE(run_until_pred(&loop, done, &f1, 500));
  CHECK_EQ(f1.status, 0);
  REQUIRE(f1.result.conn != NULL);
  CHECK_EQ(uvble_connection_handle(f1.result.conn), 0x40);
  CHECK_MEM(uvble_connection_device(f1.result.conn)->addr.val, PEER1, 6);
  /* Now the second attempt goes out. */
  CHECK_EQ(wait_cmds(HCI_OP_LE_CREATE_CONN, 2), 2);
  const struct sc_cmd_rec *c = cmd_n(sc, HCI_OP_LE_CREATE_CONN, 1);
  CHECK_EQ(c->params[6], PEER2[5]); /* peer address, HCI order */
  conn_complete(0, 0x41, PEER2);
  REQUIRE(run_until_pred(&loop, done, &f2, 500));
  CHECK_EQ(f2.status, 0);
  /* Connecting to a device already connected: its connection, at once. */
  uvble_future_t f3 = {0};
  REQUIRE_EQ(uvble_device_connect(&f3, A, &d1, NULL, 2000), 0);
  REQUIRE(run_until_pred(&loop, done, &f3, 500));
  CHECK(f3.result.conn == f1.result.conn);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_CREATE_CONN), 2);
  uvble_connection_release(f1.result.conn);
  uvble_connection_release(f2.result.conn);
  uvble_connection_release(f3.result.conn);
  a_down();
}

TEST(a_timed_out_connect_is_cancelled_in_the_controller) {
  central_setup();
  uvble_device_t d1, d2;
  device(&d1, PEER1);
  device(&d2, PEER2);
  uvble_future_t f1 = {0}, f2 = {0};
  REQUIRE_EQ(uvble_device_connect(&f1, A, &d1, NULL, 50), 0);
  REQUIRE_EQ(uvble_device_connect(&f2, A, &d2, NULL, 2000), 0);
  REQUIRE(run_until_pred(&loop, done, &f1, 500));
  CHECK_EQ(f1.status, UVBLE_ETIMEDOUT);
  CHECK_EQ(wait_cmds(HCI_OP_LE_CREATE_CONN_CANCEL, 1), 1);
  /* The next attempt started once the controller confirmed. */
  CHECK_EQ(wait_cmds(HCI_OP_LE_CREATE_CONN, 2), 2);
  conn_complete(0, 0x41, PEER2);
  REQUIRE(run_until_pred(&loop, done, &f2, 500));
  CHECK_EQ(f2.status, 0);
  uvble_connection_release(f2.result.conn);
  a_down();
}

TEST(a_link_that_comes_up_after_its_connect_ended_is_disconnected) {
  a_up(NULL);
  sc_on_cmd(sc, HCI_OP_LE_CREATE_CONN, create_status, NULL);
  sc_silence(sc, HCI_OP_LE_CREATE_CONN_CANCEL); /* too late to cancel */
  uvble_device_t d1;
  device(&d1, PEER1);
  uvble_future_t f1 = {0};
  REQUIRE_EQ(uvble_device_connect(&f1, A, &d1, NULL, 30), 0);
  REQUIRE(run_until_pred(&loop, done, &f1, 500));
  CHECK_EQ(f1.status, UVBLE_ETIMEDOUT);
  uint8_t st = 0;
  sc_send_cc(sc, HCI_OP_LE_CREATE_CONN_CANCEL, &st, 1);
  conn_complete(0, 0x40, PEER1); /* it connected anyway */
  CHECK_EQ(wait_cmds(HCI_OP_DISCONNECT, 1), 1);
  CHECK_EQ(cmd_n(sc, HCI_OP_DISCONNECT, 0)->params[0], 0x40);
  /* The core ended it: the attempt's request had been cancelled. */
  uvble_stats_t cs;
  uvble_get_stats(uvble_async_ble(A), &cs);
  CHECK_EQ(cs.req_late_responses, 1);
  a_down();
}

static uvble_future_t to_abandon;
static bool was_ready;
/* Runs in the irq chain, after the async layer completed the connect (its
 * completion is queued, not yet delivered). */
static void abandon_on_connect(uvble_t *b, int ev, const uvble_irq_data_t *d) {
  (void)b;
  (void)d;
  if (ev != UVBLE_IRQ_PERIPHERAL_CONNECT) return;
  was_ready = uvble_future_pending(&to_abandon) && to_abandon.status == 0;
  uvble_future_abandon(&to_abandon);
}

TEST(abandoning_a_completed_connect_gives_its_reference_back) {
  central_setup();
  uvble_device_t d1;
  device(&d1, PEER1);
  memset(&to_abandon, 0, sizeof to_abandon);
  was_ready = false;
  REQUIRE_EQ(uvble_device_connect(&to_abandon, A, &d1, NULL, 2000), 0);
  run_until_idle(&loop, 5000);
  rec.hook = abandon_on_connect;
  conn_complete(0, 0x40, PEER1);
  rec.hook = NULL;
  CHECK(was_ready);
  CHECK(uvble_future_done(&to_abandon));
  uvble_async_stats_t st;
  uvble_async_get_stats(A, &st);
  CHECK_EQ(st.live_connections, 1);
  sc_disconnect(sc, 0x40, 0x13);
  run_until_idle(&loop, 5000);
  uvble_async_get_stats(A, &st);
  CHECK_EQ(st.live_connections, 0); /* nobody held it any more */
  a_down();
}

TEST(a_failed_attempt_ends_the_connect) {
  central_setup();
  uvble_device_t d1;
  device(&d1, PEER1);
  uvble_future_t f1 = {0};
  uvble_connect_params_t cp = {.scan_duration_ms = 40};
  REQUIRE_EQ(uvble_device_connect(&f1, A, &d1, &cp, 2000), 0);
  /* The core gives up after the scan duration (PERIPHERAL_DISCONNECT with
   * the 0xff address). */
  REQUIRE(run_until_pred(&loop, done, &f1, 1000));
  CHECK_EQ(f1.status, UVBLE_ETIMEDOUT);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  a_down();
}

/* The controller ends the attempt with an error of its own: the future
 * carries it (UVBLE_EHCI + the status), and the core's disconnect event
 * says it too; the next queued attempt goes ahead. */
TEST(a_connect_the_controller_fails_completes_with_its_hci_status) {
  central_setup();
  uvble_device_t d1, d2;
  device(&d1, PEER1);
  device(&d2, PEER2);
  uvble_future_t f1 = {0}, f2 = {0};
  REQUIRE_EQ(uvble_device_connect(&f1, A, &d1, NULL, 5000), 0);
  REQUIRE_EQ(uvble_device_connect(&f2, A, &d2, NULL, 5000), 0);
  REQUIRE_EQ(wait_cmds(HCI_OP_LE_CREATE_CONN, 1), 1);
  conn_complete(0x3E, 0, NULL); /* Connection Failed to be Established */
  REQUIRE(run_until_pred(&loop, done, &f1, 1000));
  CHECK_EQ(f1.status, UVBLE_EHCI);
  CHECK_EQ(f1.proto_status, 0x3E);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  CHECK_EQ(rec.last[UVBLE_IRQ_PERIPHERAL_DISCONNECT].connect.reason, 0x3E);
  /* The second attempt runs and succeeds. */
  REQUIRE_EQ(wait_cmds(HCI_OP_LE_CREATE_CONN, 2), 2);
  conn_complete(0, 0x41, PEER2);
  REQUIRE(run_until_pred(&loop, done, &f2, 1000));
  CHECK_EQ(f2.status, 0);
  uvble_connection_release(f2.result.conn);
  a_down();
}

/* ---- advertising -------------------------------------------------------------------- */
TEST(advertise_stops_advertising_on_timeout_and_returns_the_connection) {
  a_up(NULL);
  uvble_advertise_params_t ap;
  uvble_advertise_params_init(&ap);
  ap.fields.name = "uvble";
  uvble_future_t f = {0}, g = {0};
  REQUIRE_EQ(uvble_advertise(&f, A, &ap, 200), 0);
  CHECK_EQ(uvble_advertise(&g, A, &ap, 40), UVBLE_EBUSY); /* one at a time */
  REQUIRE_EQ(wait_cmds(HCI_OP_LE_SET_ADV_ENABLE, 1), 1);
  CHECK_EQ(cmd_n(sc, HCI_OP_LE_SET_ADV_ENABLE, 0)->params[0], 1);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  CHECK_EQ(f.status, UVBLE_ETIMEDOUT);
  REQUIRE_EQ(wait_cmds(HCI_OP_LE_SET_ADV_ENABLE, 2), 2);
  CHECK_EQ(cmd_n(sc, HCI_OP_LE_SET_ADV_ENABLE, 1)->params[0], 0);
  /* Again; a central connects. */
  REQUIRE_EQ(uvble_advertise(&f, A, &ap, 1000), 0);
  run_until_idle(&loop, 5000);
  sc_connect(sc, 0x40, 1, PEER1);
  REQUIRE(run_until_pred(&loop, done, &f, 500));
  CHECK_EQ(f.status, 0);
  REQUIRE(f.result.conn != NULL);
  CHECK(uvble_connection_is_connected(f.result.conn));
  CHECK_EQ(rec.count[UVBLE_IRQ_CENTRAL_CONNECT], 1); /* the chain saw it */
  /* Fields that fit nowhere: EMSGSIZE at once. */
  ap.fields.name = "a name far too long to fit into two legacy payloads, "
                   "really far too long";
  CHECK_EQ(uvble_advertise(&g, A, &ap, 40), UVBLE_EMSGSIZE);
  uvble_connection_release(f.result.conn);
  a_down();
}

/* ---- the stack fails ------------------------------------------------------------------ */
static int fatal_status;
static void on_fatal(uvble_t *b, int status, void *cb_arg) {
  (void)cb_arg;
  (void)b;
  fatal_status = status;
}

/* Pending at once: a scan's next result (nx), a link's disconnected() (dn)
 * and a connect (cn, which takes the controller from the scan). */
static void pend_scan_link_connect(uvble_scan_t **s, uvble_future_t *nx,
                                   uvble_future_t *dn, uvble_future_t *cn,
                                   uint32_t connect_timeout_ms) {
  REQUIRE_EQ(uvble_scan_start(A, NULL, s), 0);
  REQUIRE_EQ(uvble_scan_next(nx, *s, 0), 0);
  sc_connect(sc, 0x40, 1, PEER1);
  run_until_idle(&loop, 5000);
  uvble_connection_t *c = uvble_async_connection(A, 0x40);
  REQUIRE(c != NULL);
  REQUIRE_EQ(uvble_connection_disconnected(dn, c, 0), 0);
  uvble_device_t d;
  device(&d, PEER2);
  REQUIRE_EQ(uvble_device_connect(cn, A, &d, NULL, connect_timeout_ms), 0);
}

TEST(a_transport_failure_completes_everything_pending) {
  central_setup();
  uvble_async_on_fatal(A, on_fatal, NULL);
  fatal_status = 0;
  uvble_scan_t *s1, *s2;
  uvble_future_t nx1 = {0}, nx2 = {0}, cn = {0}, dn = {0};
  pend_scan_link_connect(&s1, &nx1, &dn, &cn, 0);
  REQUIRE(run_until_pred(&loop, done, &nx1, 500));
  CHECK_EQ(nx1.status, UVBLE_EOF);
  /* A second scan. */
  REQUIRE_EQ(uvble_scan_start(A, NULL, &s2), 0);
  REQUIRE_EQ(uvble_scan_next(&nx2, s2, 0), 0);
  run_until_idle(&loop, 5000);
  CHECK(uvble_future_pending(&cn));
  CHECK(uvble_future_pending(&nx2));
  sc_free(sc); /* the controller goes away */
  sc = NULL;
  REQUIRE(run_until_pred(&loop, done, &nx2, 1000));
  REQUIRE(run_until_pred(&loop, done, &cn, 1000));
  REQUIRE(run_until_pred(&loop, done, &dn, 1000));
  CHECK_EQ(fatal_status, UVBLE_ETRANSPORT);
  /* The scan and the connect ended with the stack, not normally. */
  CHECK_EQ(nx2.status, UVBLE_ENOTACTIVE);
  CHECK_EQ(cn.status, UVBLE_ENOTACTIVE);
  CHECK_EQ(dn.status, 0); /* the link went down */
  uvble_scan_free(s1);
  uvble_scan_free(s2);
  closed = false;
  uvble_async_close(A, on_closed, NULL);
  REQUIRE(run_until_pred(&loop, closed_pred, NULL, 2000));
  loop_teardown(&loop);
}

/* ---- closing the stack directly ----------------------------------------------------- */
static int ble_closed_count;
static bool ble_closed_saw_data;
static void on_ble_closed(uvble_t *b, void *cb_arg) {
  (void)cb_arg;
  ble_closed_count++;
  ble_closed_saw_data = uvble_get_data(b) == &ble_closed_count;
}
static bool ble_closed_pred(void *arg) {
  (void)arg;
  return ble_closed_count > 0;
}

/* uvble_close() on a stack with an async context does what
 * uvble_async_close() does: everything pending completes with ECANCELED,
 * the context is freed (ASan's leak check would see it otherwise), and the
 * application's close callback runs once with the stack still valid. */
TEST(uvble_close_on_the_stack_closes_the_context_too) {
  central_setup();
  uvble_scan_t *s1;
  uvble_future_t nx = {0}, dn = {0}, cn = {0};
  pend_scan_link_connect(&s1, &nx, &dn, &cn, 5000);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_future_pending(&dn));
  REQUIRE(uvble_future_pending(&cn));
  ble_closed_count = 0;
  uvble_set_data(ble, &ble_closed_count);
  uvble_close(ble, on_ble_closed, NULL);
  /* The callbacks of the pending operations ran inside the call. */
  CHECK(uvble_future_done(&dn));
  CHECK(uvble_future_done(&cn));
  CHECK_EQ(cn.status, UVBLE_ECANCELED);
  CHECK(nx.status == UVBLE_ECANCELED || nx.status == UVBLE_EOF);
  uvble_close(ble, on_ble_closed, NULL); /* ignored: already closing */
  REQUIRE(run_until_pred(&loop, ble_closed_pred, NULL, 2000));
  run_until_idle(&loop, 5000);
  CHECK_EQ(ble_closed_count, 1);
  CHECK(ble_closed_saw_data);
  sc_free(sc);
  sc = NULL;
  loop_teardown(&loop);
}

TEST_MAIN()
