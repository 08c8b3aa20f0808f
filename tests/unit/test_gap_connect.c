/* SPDX-License-Identifier: Apache-2.0 */
/* Central against a scripted controller: LE (Extended) Create Connection
 * parameters, the connect timeout that cancels, cancel by the app, the
 * MicroPython failure event (PERIPHERAL_DISCONNECT, 0xff, zero address),
 * one attempt at a time, controllers that refuse or cannot cancel, and the
 * stack stopping while a connect is pending. */
#include "test_gap_common.h"

static const uvble_addr_t PEER = {UVBLE_ADDR_RANDOM,
                                  {0xc6, 0x05, 0x04, 0x03, 0x02, 0x01}};
static const uint8_t PEER_HCI[6] = {0x01, 0x02, 0x03, 0x04, 0x05, 0xc6};

/* LE Connection Complete with any status. */
static void conn_complete(sc_t *sc, uint8_t status, uint16_t handle,
                          uint8_t role) {
  uint8_t p[18];
  memset(p, 0, sizeof p);
  p[0] = status;
  p[1] = (uint8_t)handle;
  p[2] = (uint8_t)(handle >> 8);
  p[3] = role;
  p[4] = status ? 0 : 1;
  if (!status) memcpy(p + 5, PEER_HCI, 6);
  p[11] = 24;
  p[15] = 72;
  send_meta(sc, HCI_LE_CONNECTION_COMPLETE, p, sizeof p);
}

/* A controller that cancels properly: Command Complete, then Connection
 * Complete with Unknown Connection Identifier (Vol 4, Part E, 7.8.13). */
static int cancels;
static bool cancel_ok(sc_t *sc, const struct sc_cmd_rec *c, void *arg) {
  (void)arg;
  cancels++;
  uint8_t st = 0;
  sc_send_cc(sc, c->opcode, &st, 1);
  conn_complete(sc, 0x02, 0, 0);
  return true;
}

/* Real controllers answer Create Connection with Command Status. */
static bool create_status(sc_t *sc, const struct sc_cmd_rec *c, void *arg) {
  (void)arg;
  sc_send_cs(sc, c->opcode, 0);
  return true;
}

static void central_up(sc_t **sc, uvble_t **ble, bool ext) {
  up(sc, ble, ext);
  cancels = 0;
  sc_on_cmd(*sc, HCI_OP_LE_CREATE_CONN, create_status, NULL);
  sc_on_cmd(*sc, HCI_OP_LE_EXT_CREATE_CONN, create_status, NULL);
  sc_on_cmd(*sc, HCI_OP_LE_CREATE_CONN_CANCEL, cancel_ok, NULL);
}

static uint8_t failed_reason(void) {
  return rec.last[UVBLE_IRQ_PERIPHERAL_DISCONNECT].connect.reason;
}

static bool failed_event_is_micropythons(void) {
  const uvble_evt_connect_t *e =
      &rec.last[UVBLE_IRQ_PERIPHERAL_DISCONNECT].connect;
  static const uint8_t zero[6];
  return e->addr.type == UVBLE_ADDR_NONE && memcmp(e->addr.val, zero, 6) == 0 &&
         e->conn_handle == 0xffff;
}

TEST(create_connection_parameters_are_exact) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER, 0, 0, 0), 0);
  run_until_idle(&loop, 5000);
  const struct sc_cmd_rec *c = cmd_n(sc, HCI_OP_LE_CREATE_CONN, 0);
  REQUIRE_EQ(c->len, 25);
  CHECK_EQ(le16(c->params), 0x0010);     /* scan interval 10 ms */
  CHECK_EQ(le16(c->params + 2), 0x0010); /* scan window 10 ms */
  CHECK_EQ(c->params[4], 0x00);          /* this peer, no accept list */
  CHECK_EQ(c->params[5], UVBLE_ADDR_RANDOM);
  CHECK_MEM(c->params + 6, PEER_HCI, 6);
  CHECK_EQ(c->params[12], 0x00);      /* own address public */
  CHECK_EQ(le16(c->params + 13), 24); /* 30 ms */
  CHECK_EQ(le16(c->params + 15), 40); /* 50 ms */
  CHECK_EQ(le16(c->params + 17), 0);
  CHECK_EQ(le16(c->params + 19), 0x0100); /* 2.56 s */
  CHECK_EQ(le16(c->params + 21), 0);
  CHECK_EQ(le16(c->params + 23), 0);
  /* The link comes up: PERIPHERAL_CONNECT and no timeout later. */
  conn_complete(sc, 0, 0x40, 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_CONNECT], 1);
  CHECK_EQ(rec.last[UVBLE_IRQ_PERIPHERAL_CONNECT].connect.conn_handle, 0x40);
  CHECK_MEM(rec.last[UVBLE_IRQ_PERIPHERAL_CONNECT].connect.addr.val, PEER.val,
            6);
  uvble_addr_t own;
  REQUIRE_EQ(gap_conn_own_addr(ble, conn_find(ble, 0x40), &own), 0);
  CHECK_EQ(own.type, UVBLE_ADDR_PUBLIC);
  static const uint8_t PUB[6] = {0x00, 0xaa, 0x01, 0x00, 0x00, 0x42};
  CHECK_MEM(own.val, PUB, 6);
  /* time must pass: past the 2 s connect timeout, nothing may follow */
  run_for(&loop, 2200);
  CHECK_EQ(cancels, 0);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 0);
  down(sc, ble);
}

static const struct sc_cmd_rec *connect_with(int32_t min_us, int32_t max_us,
                                             sc_t **scp, uvble_t **blep) {
  central_up(scp, blep, false);
  REQUIRE_EQ(uvble_gap_connect(*blep, &PEER, 0, min_us, max_us), 0);
  run_until_idle(&loop, 5000);
  return cmd_n(*scp, HCI_OP_LE_CREATE_CONN, 0);
}

TEST(connection_intervals_from_microseconds) {
  static const struct {
    int32_t min, max;
    uint16_t umin, umax, timeout;
  } T[] = {
      {12500, 12500, 10, 10, 0x100},       /* perf_gatt_notify's 12.5 ms */
      {7500, 0, 6, 40, 0x100},             /* max defaults to 50 ms */
      {0, 15000, 12, 12, 0x100},           /* min follows a lower max */
      {100000, 0, 80, 80, 0x100},          /* max at least min */
      {8749, 8749, 6, 6, 0x100},           /* rounded down to 1.25 ms */
      {4000000, 4000000, 3200, 3200, 801}, /* timeout > 2 x interval */
  };
  for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
    sc_t *sc;
    uvble_t *ble;
    const struct sc_cmd_rec *c = connect_with(T[i].min, T[i].max, &sc, &ble);
    CHECK_EQ(le16(c->params + 13), T[i].umin);
    CHECK_EQ(le16(c->params + 15), T[i].umax);
    CHECK_EQ(le16(c->params + 19), T[i].timeout);
    down(sc, ble);
  }
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  CHECK_EQ(uvble_gap_connect(ble, &PEER, 0, 5000, 0), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_connect(ble, &PEER, 0, 0, 4000001), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_connect(ble, &PEER, 0, 50000, 30000), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_connect(ble, &PEER, 0, -1, 0), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_connect(ble, &PEER, -1, 0, 0), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_connect(ble, NULL, 0, 0, 0), UVBLE_EINVAL);
  uvble_addr_t bad = PEER;
  bad.type = 4;
  CHECK_EQ(uvble_gap_connect(ble, &bad, 0, 0, 0), UVBLE_EINVAL);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_CREATE_CONN), 0);
  down(sc, ble);
}

TEST(timeout_cancels_and_reports_peripheral_disconnect_with_0xff) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER, 300, 0, 0), 0);
  /* time must pass: well inside the 300 ms, the attempt still runs */
  run_for(&loop, 150);
  CHECK_EQ(cancels, 0);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 0);
  run_until_count(UVBLE_IRQ_PERIPHERAL_DISCONNECT, 1, 5000);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cancels, 1);
  REQUIRE_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  CHECK(failed_event_is_micropythons());
  CHECK_EQ(failed_reason(), 0x02); /* cancelled: Unknown Connection Id */
  CHECK_EQ(sc_find_cmd(sc, HCI_OP_LE_CREATE_CONN_CANCEL, 0) >
               sc_find_cmd(sc, HCI_OP_LE_CREATE_CONN, 0),
           1);
  CHECK_EQ(cmd_n(sc, HCI_OP_LE_CREATE_CONN_CANCEL, 0)->len, 0);
  /* A new attempt may start; the default duration is 2 s. */
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER, 0, 0, 0), 0);
  /* time must pass: inside the default 2 s the attempt still runs */
  run_for(&loop, 1500);
  CHECK_EQ(cancels, 1);
  run_until_count(UVBLE_IRQ_PERIPHERAL_DISCONNECT, 2, 5000);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cancels, 2);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 2);
  down(sc, ble);
}

TEST(app_cancel_and_one_attempt_at_a_time) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  CHECK_EQ(uvble_gap_connect_cancel(ble), UVBLE_EALREADY);
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER, 5000, 0, 0), 0);
  CHECK_EQ(uvble_gap_connect(ble, &PEER, 5000, 0, 0), UVBLE_EALREADY);
  CHECK_EQ(uvble_gap_scan(ble, 0, 0, 0, false), UVBLE_EBUSY);
  run_until_idle(&loop, 5000);
  sc_silence(sc, HCI_OP_LE_CREATE_CONN_CANCEL);
  REQUIRE_EQ(uvble_gap_connect_cancel(ble), 0);
  CHECK_EQ(uvble_gap_connect_cancel(ble), UVBLE_EALREADY);
  CHECK_EQ(uvble_gap_connect(ble, &PEER, 5000, 0, 0), UVBLE_EBUSY);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 0);
  /* The controller ends the attempt. */
  uint8_t st = 0;
  sc_send_cc(sc, HCI_OP_LE_CREATE_CONN_CANCEL, &st, 1);
  conn_complete(sc, 0x02, 0, 0);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  CHECK(failed_event_is_micropythons());
  CHECK_EQ(uvble_gap_connect(ble, &PEER, 5000, 0, 0), 0);
  down(sc, ble);
}

TEST(refused_create_connection_reports_failure) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  sc_on_cmd(sc, HCI_OP_LE_CREATE_CONN, NULL, NULL);
  sc_fail_with(sc, HCI_OP_LE_CREATE_CONN, 0x12); /* invalid parameters */
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER, 5000, 0, 0), 0);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  CHECK(failed_event_is_micropythons());
  CHECK_EQ(failed_reason(), 0x12); /* the controller's refusal */
  CHECK_EQ(uvble_gap_connect_cancel(ble), UVBLE_EALREADY);
  /* time must pass: no cancel may follow a refused attempt */
  run_for(&loop, 100);
  CHECK_EQ(cancels, 0);
  down(sc, ble);
}

TEST(connection_failure_from_the_controller_ends_the_attempt) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER, 5000, 0, 0), 0);
  run_until_idle(&loop, 5000);
  conn_complete(sc, 0x3E, 0, 0); /* Connection Failed to be Established */
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  CHECK(failed_event_is_micropythons());
  CHECK_EQ(failed_reason(), 0x3E);
  /* A stray failure with nothing pending is counted, not reported. */
  uvble_stats_t st0, st;
  uvble_get_stats(ble, &st0);
  conn_complete(sc, 0x3E, 0, 0);
  run_until_idle(&loop, 5000);
  uvble_get_stats(ble, &st);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  CHECK_EQ(st.hci_events_unexpected, st0.hci_events_unexpected + 1);
  /* An incoming connection failing (role peripheral): CENTRAL_DISCONNECT
   * with no address, as MicroPython. */
  conn_complete(sc, 0x3C, 0, 1);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.count[UVBLE_IRQ_CENTRAL_DISCONNECT], 1);
  CHECK_EQ(rec.last[UVBLE_IRQ_CENTRAL_DISCONNECT].connect.addr.type,
           UVBLE_ADDR_NONE);
  CHECK_EQ(rec.last[UVBLE_IRQ_CENTRAL_DISCONNECT].connect.reason, 0x3C);
  down(sc, ble);
}

static bool cancel_unknown(sc_t *sc, const struct sc_cmd_rec *c, void *arg) {
  (void)arg;
  sc_send_cs(sc, c->opcode, 0x01); /* Unknown HCI Command */
  return true;
}

TEST(a_controller_that_cannot_cancel_is_handled) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  sc_on_cmd(sc, HCI_OP_LE_CREATE_CONN_CANCEL, cancel_unknown, NULL);
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER, 100, 0, 0), 0);
  /* The 100 ms timeout sends the cancel, which the controller refuses. */
  run_until_count(UVBLE_IRQ_PERIPHERAL_DISCONNECT, 1, 5000);
  run_until_idle(&loop, 5000);
  /* Reported failed at once ... */
  REQUIRE_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  CHECK(failed_event_is_micropythons());
  /* ... the controller still initiates, so no second attempt ... */
  CHECK_EQ(uvble_gap_connect(ble, &PEER, 100, 0, 0), UVBLE_EBUSY);
  /* ... and when it connects after all, the link is ended unseen. */
  sc_clear(sc);
  conn_complete(sc, 0, 0x41, 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_CONNECT], 0);
  const struct sc_cmd_rec *d = cmd_n(sc, HCI_OP_DISCONNECT, 0);
  CHECK_EQ(le16(d->params), 0x41);
  CHECK_EQ(d->params[2], 0x13);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  CHECK_EQ(uvble_gap_connect(ble, &PEER, 100, 0, 0), 0);
  down(sc, ble);
}

TEST(cancel_disallowed_or_unanswered_still_ends_the_attempt) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  sc_on_cmd(sc, HCI_OP_LE_CREATE_CONN_CANCEL, NULL, NULL);
  sc_fail_with(sc, HCI_OP_LE_CREATE_CONN_CANCEL, 0x0C);
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER, 5000, 0, 0), 0);
  REQUIRE_EQ(uvble_gap_connect_cancel(ble), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  /* Cancel accepted but no Connection Complete ever comes: the guard
   * timer ends the attempt. */
  sc_fail_with(sc, HCI_OP_LE_CREATE_CONN_CANCEL, 0);
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER, 5000, 0, 0), 0);
  REQUIRE_EQ(uvble_gap_connect_cancel(ble), 0);
  /* time must pass: the guard timer (2 s) has not ended it yet */
  run_for(&loop, 1500);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  run_until_count(UVBLE_IRQ_PERIPHERAL_DISCONNECT, 2, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 2);
  down(sc, ble);
}

TEST(connect_stops_a_scan_first) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 0, 0, true), 0);
  run_until_idle(&loop, 5000);
  sc_clear(sc);
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER, 0, 0, 0), 0);
  run_until_idle(&loop, 5000);
  int off = sc_find_cmd(sc, HCI_OP_LE_SET_SCAN_ENABLE, 0);
  REQUIRE(off >= 0);
  CHECK_EQ(sc_cmd(sc, (size_t)off)->params[0], 0x00);
  CHECK(off < sc_find_cmd(sc, HCI_OP_LE_CREATE_CONN, 0));
  CHECK_EQ(rec.count[UVBLE_IRQ_SCAN_DONE], 1);
  down(sc, ble);
}

TEST(extended_create_connection_parameters_are_exact) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, true);
  uvble_addr_t a = {UVBLE_ADDR_RANDOM, {0xc1, 0x02, 0x03, 0x04, 0x05, 0x06}};
  REQUIRE_EQ(uvble_config_set_mac(ble, &a), 0);
  REQUIRE_EQ(
      uvble_config_set_int(ble, UVBLE_CONFIG_ADDR_MODE, UVBLE_ADDR_MODE_RANDOM),
      0);
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER, 300, 30000, 30000), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_CREATE_CONN), 0);
  /* Initiating with a random own address: LE Set Random Address first. */
  int ia = sc_find_cmd(sc, HCI_OP_LE_SET_RANDOM_ADDRESS, 0);
  int ic = sc_find_cmd(sc, HCI_OP_LE_EXT_CREATE_CONN, 0);
  REQUIRE(ia >= 0 && ia < ic);
  const struct sc_cmd_rec *c = sc_cmd(sc, (size_t)ic);
  REQUIRE_EQ(c->len, 26);
  CHECK_EQ(c->params[0], 0x00);
  CHECK_EQ(c->params[1], 0x01); /* own random */
  CHECK_EQ(c->params[2], UVBLE_ADDR_RANDOM);
  CHECK_MEM(c->params + 3, PEER_HCI, 6);
  CHECK_EQ(c->params[9], 0x01); /* LE 1M */
  CHECK_EQ(le16(c->params + 10), 0x10);
  CHECK_EQ(le16(c->params + 12), 0x10);
  CHECK_EQ(le16(c->params + 14), 24);
  CHECK_EQ(le16(c->params + 16), 24);
  CHECK_EQ(le16(c->params + 18), 0);
  CHECK_EQ(le16(c->params + 20), 0x100);
  /* The extended path times out and cancels the same way. */
  run_until_count(UVBLE_IRQ_PERIPHERAL_DISCONNECT, 1, 5000);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cancels, 1);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  /* Enhanced Connection Complete brings links up. */
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER, 0, 0, 0), 0);
  uint8_t p[30];
  memset(p, 0, sizeof p);
  p[1] = 0x42;
  p[4] = 0x01;
  memcpy(p + 5, PEER_HCI, 6);
  p[23] = 24;
  p[27] = 72;
  send_meta(sc, HCI_LE_ENHANCED_CONNECTION_COMPLETE, p, sizeof p);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_CONNECT], 1);
  CHECK_EQ(rec.last[UVBLE_IRQ_PERIPHERAL_CONNECT].connect.conn_handle, 0x42);
  CHECK_EQ(conn_find(ble, 0x42)->interval, 24);
  /* SMP learns which address we made the link with. */
  uvble_addr_t own;
  REQUIRE_EQ(gap_conn_own_addr(ble, conn_find(ble, 0x42), &own), 0);
  CHECK_EQ(own.type, UVBLE_ADDR_RANDOM);
  CHECK_MEM(own.val, a.val, 6);
  down(sc, ble);
}

TEST(stopping_the_stack_fails_a_pending_connect) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER, 5000, 0, 0), 0);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(uvble_active(ble, false, NULL, NULL), 0);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  CHECK(failed_event_is_micropythons());
  /* time must pass: no second report follows */
  run_for(&loop, 50);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  CHECK_EQ(uvble_gap_connect(ble, &PEER, 0, 0, 0), UVBLE_ENOTACTIVE);
  /* Closing with an attempt pending completes without the event (the
   * stack is closing) and leaks nothing. */
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(ble));
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER, 5000, 0, 0), 0);
  run_until_idle(&loop, 5000);
  down(sc, ble);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
}

/* ---- with a request (uvble/req.h) ----------------------------------------- */
struct creq {
  uvble_req_t req;
  int calls;
  int status;
  bool had_result;
  uvble_evt_connect_t result;
};

static void on_creq(uvble_req_t *req, int status, const uvble_irq_data_t *d,
                    void *arg) {
  struct creq *q = arg;
  CHECK(req == &q->req);
  q->calls++;
  q->status = status;
  q->had_result = d != NULL;
  if (d) q->result = d->connect;
}

static void creq_init(struct creq *q) {
  memset(q, 0, sizeof *q);
  uvble_req_init(&q->req, on_creq, q);
}

struct calls_at_least {
  const struct creq *q;
  int n;
};
static bool calls_reached(void *arg) {
  const struct calls_at_least *w = arg;
  return w->q->calls >= w->n;
}
/* Runs the loop until q completed n times in all (the machine may be slow:
 * never a fixed wait for the stack's own work). */
static void wait_calls(const struct creq *q, int n) {
  struct calls_at_least w = {q, n};
  run_until_pred(&loop, calls_reached, &w, 3000);
}

static uint64_t late_responses(uvble_t *ble) {
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  return st.req_late_responses;
}

struct late_at_least {
  uvble_t *ble;
  uint64_t n;
};
static bool late_reached(void *arg) {
  const struct late_at_least *w = arg;
  return late_responses(w->ble) >= w->n;
}

static bool disconnect_sent(void *arg) {
  return sc_find_cmd(arg, HCI_OP_DISCONNECT, 0) >= 0;
}

static bool is_active(void *arg) { return uvble_is_active(arg); }

static void on_powered(uvble_t *ble, int status, void *arg) {
  (void)ble;
  CHECK_EQ(status, 0);
  *(bool *)arg = true;
}

static bool flag_set(void *arg) { return *(bool *)arg; }

static int connect_events(void) {
  return rec.count[UVBLE_IRQ_PERIPHERAL_CONNECT] +
         rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT];
}

TEST(connect_req_completes_with_the_link_and_no_irq) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  struct creq q;
  creq_init(&q);
  REQUIRE_EQ(uvble_gap_connect_req(&q.req, ble, &PEER, 5000, NULL), 0);
  CHECK_EQ(q.req.type, UVBLE_REQ_CONNECT);
  CHECK_EQ(uvble_gap_connect_req(&q.req, ble, &PEER, 5000, NULL), UVBLE_EBUSY);
  run_until_idle(&loop, 5000);
  CHECK_EQ(q.calls, 0);
  conn_complete(sc, 0, 0x0041, 0);
  wait_calls(&q, 1);
  REQUIRE_EQ(q.calls, 1);
  CHECK_EQ(q.status, 0);
  CHECK_EQ(q.result.conn_handle, 0x0041);
  CHECK_EQ(q.result.addr.type, UVBLE_ADDR_RANDOM);
  CHECK_MEM(q.result.addr.val, PEER.val, 6);
  CHECK_EQ(connect_events(), 0);
  CHECK_EQ(uvble_cancel(&q.req), UVBLE_EALREADY); /* completed */
  /* The link's end still reaches the irq handler. */
  uint8_t dc[4] = {0, 0x41, 0, 0x13};
  sc_send_event(sc, 0x05, dc, sizeof dc);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  down(sc, ble);
}

TEST(connect_req_times_out_and_failures_carry_the_hci_status) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  struct creq q;
  creq_init(&q);
  REQUIRE_EQ(uvble_gap_connect_req(&q.req, ble, &PEER, 100, NULL), 0);
  wait_calls(&q, 1);
  CHECK_EQ(cancels, 1);
  REQUIRE_EQ(q.calls, 1);
  CHECK_EQ(q.status, UVBLE_ETIMEDOUT);
  CHECK_EQ(q.result.reason, 0x02);
  CHECK_EQ(q.result.conn_handle, 0xffff);
  /* The controller ends an attempt: its status, as sent. */
  REQUIRE_EQ(uvble_gap_connect_req(&q.req, ble, &PEER, 5000, NULL), 0);
  run_until_idle(&loop, 5000);
  conn_complete(sc, 0x3e, 0, 0);
  wait_calls(&q, 2);
  REQUIRE_EQ(q.calls, 2);
  CHECK_EQ(q.status, 0x3e);
  CHECK_EQ(connect_events(), 0);
  down(sc, ble);
}

TEST(connect_req_cancel_sends_create_connection_cancel_and_swallows_its_end) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  struct creq q;
  creq_init(&q);
  REQUIRE_EQ(uvble_gap_connect_req(&q.req, ble, &PEER, 5000, NULL), 0);
  run_until_idle(&loop, 5000);
  uint64_t late = late_responses(ble);
  REQUIRE_EQ(uvble_cancel(&q.req), 0);
  CHECK_EQ(q.calls, 0);
  CHECK_EQ(uvble_cancel(&q.req), UVBLE_EALREADY);
  wait_calls(&q, 1);
  struct late_at_least w = {ble, late + 1};
  run_until_pred(&loop, late_reached, &w, 3000);
  CHECK_EQ(cancels, 1);
  REQUIRE_EQ(q.calls, 1);
  CHECK_EQ(q.status, UVBLE_ECANCELED);
  CHECK(!q.had_result);
  CHECK_EQ(late_responses(ble), late + 1); /* the 0x02 Connection Complete */
  CHECK_EQ(connect_events(), 0);
  /* The next attempt may start at once. */
  REQUIRE_EQ(uvble_gap_connect_req(&q.req, ble, &PEER, 5000, NULL), 0);
  down(sc, ble);
}

TEST(connect_req_cancel_racing_the_link_ends_the_link) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  sc_silence(sc, HCI_OP_LE_CREATE_CONN_CANCEL);
  struct creq q;
  creq_init(&q);
  REQUIRE_EQ(uvble_gap_connect_req(&q.req, ble, &PEER, 5000, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(uvble_cancel(&q.req), 0);
  /* The request completes once the attempt has really ended: the
   * controller's one initiator is free again by then. */
  run_until_idle(&loop, 5000);
  CHECK_EQ(q.calls, 0);
  CHECK(uvble_req_active(&q.req));
  CHECK_EQ(uvble_cancel(&q.req), UVBLE_EALREADY);
  /* The controller connected before it saw the cancel. */
  uint8_t st = 0x0c; /* Command Disallowed: too late to cancel */
  conn_complete(sc, 0, 0x0042, 0);
  sc_send_cc(sc, HCI_OP_LE_CREATE_CONN_CANCEL, &st, 1);
  run_until_pred(&loop, disconnect_sent, sc, 3000);
  wait_calls(&q, 1);
  REQUIRE_EQ(q.calls, 1);
  CHECK_EQ(q.status, UVBLE_ECANCELED);
  const struct sc_cmd_rec *d = cmd_n(sc, HCI_OP_DISCONNECT, 0);
  REQUIRE_EQ(d->len, 3);
  CHECK_EQ(le16(d->params), 0x0042);
  CHECK_EQ(d->params[2], 0x13);
  CHECK_EQ(q.calls, 1);
  CHECK_EQ(connect_events(), 0);
  down(sc, ble);
}

TEST(connect_req_ends_when_the_stack_stops_or_closes) {
  sc_t *sc;
  uvble_t *ble;
  central_up(&sc, &ble, false);
  struct creq q;
  creq_init(&q);
  REQUIRE_EQ(uvble_gap_connect_req(&q.req, ble, &PEER, 5000, NULL), 0);
  run_until_idle(&loop, 5000);
  bool off = false;
  REQUIRE_EQ(uvble_active(ble, false, on_powered, &off), 0);
  wait_calls(&q, 1);
  REQUIRE_EQ(q.calls, 1);
  CHECK_EQ(q.status, UVBLE_ENOTACTIVE);
  run_until_pred(&loop, flag_set, &off, 3000);
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  run_until_pred(&loop, is_active, ble, 3000);
  REQUIRE(uvble_is_active(ble));
  REQUIRE_EQ(uvble_gap_connect_req(&q.req, ble, &PEER, 5000, NULL), 0);
  run_until_idle(&loop, 5000);
  uvble_close(ble, NULL, NULL);
  REQUIRE_EQ(q.calls, 2); /* inside uvble_close */
  CHECK_EQ(q.status, UVBLE_ECANCELED);
  CHECK_EQ(connect_events(), 0);
  sc_free(sc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

TEST_MAIN()
