/* SPDX-License-Identifier: Apache-2.0 */
/* GAP's link requests (uvble/req.h) against a scripted controller:
 * uvble_gap_disconnect_req, uvble_gap_update_conn_params_req and
 * uvble_gap_set_phy_req. Each completes once, never inside the
 * req_probe_starting call, with the outcome the plain call reports as an event
 * (and that event not raised); a cancel completes it with UVBLE_ECANCELED and
 * swallows the late outcome; a link drop gives UVBLE_EDISCONNECTED,
 * uvble_close UVBLE_ECANCELED, a silent controller UVBLE_ETIMEDOUT; bad
 * arguments fail with a clear code and start nothing. */
#include "l2cap.h"
#include "req_probe.h"
#include "test_gap_common.h"

static const uint8_t PEER[6] = {1, 2, 3, 4, 5, 6};
#define H 0x0042

#define q_init req_probe_init
/* Each completion is awaited (its bound fails the case). */
static void wait_q(struct req_probe *q) {
  REQUIRE(req_probe_wait(&loop, q, 2000));
}

/* A link on a controller with LE Set PHY and LE 2M; role 1: we are the
 * peripheral (no automatic PHY request). */
static void linked(sc_t **sc, uvble_t **ble, uint8_t role) {
  uv_loop_init(&loop);
  uvble_transport_t *host;
  *sc = sc_new(&loop, &host);
  struct sc_config *c = sc_config(*sc);
  c->le_features[1] |= 0x01; /* LE 2M PHY */
  c->commands[35] |= 0x40;   /* LE Set PHY */
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, ble), 0);
  REQUIRE_EQ(uvble_active(*ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(*ble));
  memset(&rec, 0, sizeof rec);
  uvble_irq(*ble, rec_irq, NULL);
  sc_connect(*sc, H, role, PEER);
  run_until_idle(&loop, 5000);
  REQUIRE(conn_find(*ble, H) != NULL);
  sc_clear(*sc);
  memset(&rec, 0, sizeof rec); /* from here on */
}

static void update_complete(sc_t *sc, uint8_t status, uint16_t interval) {
  uint8_t p[9] = {status, (uint8_t)H, (uint8_t)(H >> 8), (uint8_t)interval,
                  (uint8_t)(interval >> 8), 0, 0, 200, 0};
  send_meta(sc, HCI_LE_CONNECTION_UPDATE_COMPLETE, p, sizeof p);
}

static void phy_update(sc_t *sc, uint8_t status, uint8_t tx, uint8_t rx) {
  uint8_t p[5] = {status, (uint8_t)H, (uint8_t)(H >> 8), tx, rx};
  send_meta(sc, HCI_LE_PHY_UPDATE_COMPLETE, p, sizeof p);
}

static uint64_t late(uvble_t *ble) {
  uvble_stats_t s;
  uvble_get_stats(ble, &s);
  return s.req_late_responses;
}

static const uvble_gap_conn_params_t P = {.min_interval_us = 15000,
                                          .max_interval_us = 30000,
                                          .latency = 0,
                                          .timeout_ms = 4000};

static int start_disc(struct req_probe *q, uvble_t *ble) {
  req_probe_starting = true;
  int r = uvble_gap_disconnect_req(&q->req, ble, H);
  req_probe_starting = false;
  return r;
}
static int start_params(struct req_probe *q, uvble_t *ble) {
  req_probe_starting = true;
  int r = uvble_gap_update_conn_params_req(&q->req, ble, H, &P);
  req_probe_starting = false;
  return r;
}
static int start_phy(struct req_probe *q, uvble_t *ble) {
  req_probe_starting = true;
  int r = uvble_gap_set_phy_req(&q->req, ble, H, UVBLE_PHY_PREF_2M);
  req_probe_starting = false;
  return r;
}

/* ---- disconnect -------------------------------------------------------- */
TEST(disconnect_req_completes_with_the_disconnects_data) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 0);
  struct req_probe q;
  q_init(&q);
  REQUIRE_EQ(start_disc(&q, ble), 0);
  CHECK_EQ(q.req.type, UVBLE_REQ_DISCONNECT);
  CHECK(uvble_req_active(&q.req));
  CHECK_EQ(q.calls, 0);
  wait_q(&q);
  CHECK_EQ(q.calls, 1);
  CHECK_EQ(q.in_start, 0);
  CHECK_EQ(q.status, 0);
  REQUIRE(q.had_result);
  CHECK_EQ(q.result.connect.conn_handle, H);
  CHECK_EQ(q.result.connect.reason, 0x16);
  CHECK_EQ(q.result.connect.addr.val[0], 6); /* display order */
  /* HCI Disconnect went out with reason 0x13, and the event still comes. */
  const struct sc_cmd_rec *d = cmd_n(sc, 0x0406, 0);
  CHECK_EQ(d->params[2], 0x13);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  CHECK_EQ(uvble_cancel(&q.req), UVBLE_EALREADY);
  down(sc, ble);
}

TEST(disconnect_req_waits_for_a_link_already_ending) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 0);
  sc_silence(sc, 0x0406);
  REQUIRE_EQ(uvble_gap_disconnect(ble, H), 1);
  run_until_idle(&loop, 5000);
  struct req_probe q, q2;
  q_init(&q);
  q_init(&q2);
  REQUIRE_EQ(start_disc(&q, ble), 0);
  /* One disconnect request per link. */
  CHECK_EQ(uvble_gap_disconnect_req(&q2.req, ble, H), UVBLE_EBUSY);
  run_until_idle(&loop, 5000);
  CHECK_EQ(q.calls, 0);
  CHECK_EQ(cmd_count(sc, 0x0406), 1); /* not sent again */
  sc_disconnect(sc, H, 0x08);         /* ends otherwise first */
  wait_q(&q);
  CHECK_EQ(q.status, 0);
  CHECK_EQ(q.result.connect.reason, 0x08);
  CHECK_EQ(q2.calls, 0);
  down(sc, ble);
}

TEST(disconnect_req_cancel_and_timeout) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 0);
  sc_silence(sc, 0x0406);
  gap_set_lreq_timeout_ms(ble, 60);
  REQUIRE_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_DRAIN_MS, 0), 0);
  struct req_probe q;
  q_init(&q);
  REQUIRE_EQ(start_disc(&q, ble), 0);
  wait_q(&q);
  CHECK_EQ(q.calls, 1);
  CHECK_EQ(q.status, UVBLE_ETIMEDOUT);
  CHECK(!q.had_result);
  /* A new request on the same (still ending) link, cancelled. */
  q_init(&q);
  REQUIRE_EQ(start_disc(&q, ble), 0);
  req_probe_starting = true;
  CHECK_EQ(uvble_cancel(&q.req), 0);
  req_probe_starting = false;
  CHECK_EQ(q.calls, 0); /* never inside uvble_cancel */
  CHECK_EQ(uvble_cancel(&q.req), UVBLE_EALREADY);
  wait_q(&q);
  CHECK_EQ(q.status, UVBLE_ECANCELED);
  CHECK_EQ(q.in_start, 0);
  /* The link still ends, and only the irq handler hears it. */
  sc_disconnect(sc, H, 0x16);
  run_until_idle(&loop, 5000);
  CHECK_EQ(q.calls, 1);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  down(sc, ble);
}

TEST(link_req_bad_arguments) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 1);
  struct req_probe q;
  q_init(&q);
  uvble_req_t bare;
  uvble_req_init(&bare, NULL, NULL);
  CHECK_EQ(uvble_cancel(&q.req), UVBLE_EINVAL); /* never started */
  CHECK_EQ(uvble_gap_disconnect_req(NULL, ble, H), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_disconnect_req(&q.req, NULL, H), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_disconnect_req(&bare, ble, H), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_disconnect_req(&q.req, ble, 0x99), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_gap_update_conn_params_req(NULL, ble, H, &P), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_update_conn_params_req(&bare, ble, H, &P),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_update_conn_params_req(&q.req, ble, 0x99, &P),
           UVBLE_ENOTCONN);
  CHECK_EQ(uvble_gap_update_conn_params_req(&q.req, ble, H, NULL),
           UVBLE_EINVAL);
  uvble_gap_conn_params_t bad = P;
  bad.timeout_ms = 50; /* below 100 ms */
  CHECK_EQ(uvble_gap_update_conn_params_req(&q.req, ble, H, &bad),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_set_phy_req(NULL, ble, H, UVBLE_PHY_PREF_2M),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_set_phy_req(&bare, ble, H, UVBLE_PHY_PREF_2M),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_set_phy_req(&q.req, ble, 0x99, UVBLE_PHY_PREF_2M),
           UVBLE_ENOTCONN);
  CHECK_EQ(uvble_gap_set_phy_req(&q.req, ble, H, 42), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_set_phy_req(&q.req, ble, H, UVBLE_PHY_PREF_CODED),
           UVBLE_ENOTSUP); /* no LE Coded on this controller */
  CHECK(!uvble_req_active(&q.req));
  /* An active request cannot start again. */
  REQUIRE_EQ(start_phy(&q, ble), 0);
  CHECK_EQ(uvble_gap_set_phy_req(&q.req, ble, H, UVBLE_PHY_PREF_2M),
           UVBLE_EBUSY);
  CHECK_EQ(uvble_gap_disconnect_req(&q.req, ble, H), UVBLE_EBUSY);
  run_until_idle(&loop, 5000);
  CHECK_EQ(q.calls, 0);
  CHECK_EQ(rec.n, 0); /* nothing reached the irq handler */
  down(sc, ble);
  CHECK_EQ(q.calls, 1);
  CHECK_EQ(q.status, UVBLE_ECANCELED);
}

/* ---- connection parameters --------------------------------------------- */
TEST(params_req_as_central_completes_on_the_update) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 0);
  struct req_probe q, other;
  q_init(&q);
  q_init(&other);
  REQUIRE_EQ(start_params(&q, ble), 0);
  CHECK_EQ(q.req.type, UVBLE_REQ_CONN_PARAMS);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_CONN_UPDATE), 1);
  /* One request per link, and the plain calls wait for it too. */
  CHECK_EQ(uvble_gap_update_conn_params_req(&other.req, ble, H, &P),
           UVBLE_EBUSY);
  CHECK_EQ(uvble_gap_update_conn_params(ble, H, &P), UVBLE_EBUSY);
  CHECK_EQ(q.calls, 0);
  update_complete(sc, 0, 20);
  wait_q(&q);
  CHECK_EQ(q.status, 0);
  REQUIRE(q.had_result);
  CHECK_EQ(q.result.conn_update.conn_handle, H);
  CHECK_EQ(q.result.conn_update.conn_interval, 20);
  CHECK_EQ(q.result.conn_update.supervision_timeout, 200);
  CHECK_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 0);
  /* Refused by the controller: its HCI status, as sent. */
  sc_fail_with(sc, HCI_OP_LE_CONN_UPDATE, 0x0C);
  q_init(&q);
  REQUIRE_EQ(start_params(&q, ble), 0);
  wait_q(&q);
  CHECK_EQ(q.status, 0x0C);
  CHECK_EQ(q.result.conn_update.conn_interval, 20); /* still in force */
  /* A failed procedure. */
  sc_fail_with(sc, HCI_OP_LE_CONN_UPDATE, 0);
  q_init(&q);
  REQUIRE_EQ(start_params(&q, ble), 0);
  run_until_idle(&loop, 5000);
  update_complete(sc, 0x3B, 0);
  wait_q(&q);
  CHECK_EQ(q.status, 0x3B);
  CHECK_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 0);
  /* Without a request: the event, as before. */
  update_complete(sc, 0, 24);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 1);
  CHECK_EQ(q.calls, 1);
  down(sc, ble);
}

/* The central's L2CAP Connection Parameter Update Response. */
static void param_response(sc_t *sc, uint16_t result) {
  REQUIRE(sc_acl_count(sc) >= 1);
  const struct sc_acl_rec *a = sc_acl(sc, sc_acl_count(sc) - 1);
  REQUIRE_EQ(a->data[4], 0x12); /* the request we answer */
  uint8_t pdu[10] = {6, 0, 0x05, 0x00, 0x13, a->data[5], 2, 0};
  pdu[8] = (uint8_t)result;
  pdu[9] = (uint8_t)(result >> 8);
  sc_send_acl(sc, H, 2, pdu, sizeof pdu);
}

TEST(params_req_as_peripheral_goes_through_l2cap) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 1);
  sc_config(sc)->auto_complete_acl = true;
  struct req_probe q;
  q_init(&q);
  REQUIRE_EQ(start_params(&q, ble), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_CONN_UPDATE), 0);
  param_response(sc, 0); /* accepted: the central's update completes it */
  run_until_idle(&loop, 5000);
  CHECK_EQ(q.calls, 0);
  update_complete(sc, 0, 16);
  wait_q(&q);
  CHECK_EQ(q.status, 0);
  CHECK_EQ(q.result.conn_update.conn_interval, 16);
  /* Rejected: status 1, the old parameters. */
  q_init(&q);
  REQUIRE_EQ(start_params(&q, ble), 0);
  run_until_idle(&loop, 5000);
  param_response(sc, 1);
  wait_q(&q);
  CHECK_EQ(q.status, 1);
  CHECK_EQ(q.result.conn_update.conn_interval, 16);
  CHECK_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 0);
  down(sc, ble);
}

TEST(params_req_cancel_swallows_the_outcome) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 0);
  uint64_t l0 = late(ble);
  struct req_probe q;
  q_init(&q);
  REQUIRE_EQ(start_params(&q, ble), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(uvble_cancel(&q.req), 0);
  CHECK_EQ(q.calls, 0);
  wait_q(&q);
  CHECK_EQ(q.status, UVBLE_ECANCELED);
  CHECK(!q.had_result);
  update_complete(sc, 0, 20);
  run_until_idle(&loop, 5000);
  CHECK_EQ(q.calls, 1);
  CHECK_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 0);
  CHECK_EQ(late(ble), l0 + 1);
  CHECK_EQ(conn_find(ble, H)->interval, 20); /* the link follows anyway */
  /* The next outcome is the app's again. */
  update_complete(sc, 0, 24);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 1);
  down(sc, ble);
}

TEST(params_req_times_out) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 0);
  gap_set_lreq_timeout_ms(ble, 50);
  struct req_probe q;
  q_init(&q);
  REQUIRE_EQ(start_params(&q, ble), 0);
  wait_q(&q);
  CHECK_EQ(q.status, UVBLE_ETIMEDOUT);
  /* Once timed out, the plain call works again and gets the event. */
  REQUIRE_EQ(uvble_gap_update_conn_params(ble, H, &P), 0);
  update_complete(sc, 0, 20);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 1);
  CHECK_EQ(q.calls, 1);
  down(sc, ble);
}

/* ---- PHY ----------------------------------------------------------------- */
TEST(phy_req_completes_on_phy_update_complete) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 1);
  struct req_probe q, other;
  q_init(&q);
  q_init(&other);
  REQUIRE_EQ(start_phy(&q, ble), 0);
  CHECK_EQ(q.req.type, UVBLE_REQ_SET_PHY);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_count(sc, 0x2032), 1);
  CHECK_EQ(uvble_gap_set_phy_req(&other.req, ble, H, UVBLE_PHY_PREF_2M),
           UVBLE_EBUSY);
  CHECK_EQ(uvble_gap_set_phy(ble, H, UVBLE_PHY_PREF_2M), UVBLE_EBUSY);
  CHECK_EQ(q.calls, 0);
  phy_update(sc, 0, UVBLE_PHY_2M, UVBLE_PHY_2M);
  wait_q(&q);
  CHECK_EQ(q.status, 0);
  CHECK(!q.had_result);
  uvble_conn_info_t i;
  REQUIRE_EQ(uvble_gap_conn_info(ble, H, &i), 0);
  CHECK_EQ(i.tx_phy, UVBLE_PHY_2M);
  /* The procedure failed: its HCI status (0x1A Unsupported Remote
   * Feature), as sent. */
  q_init(&q);
  REQUIRE_EQ(start_phy(&q, ble), 0);
  run_until_idle(&loop, 5000);
  phy_update(sc, 0x1A, 0, 0);
  wait_q(&q);
  CHECK_EQ(q.status, 0x1A);
  /* The controller refused LE Set PHY. */
  sc_fail_with(sc, 0x2032, 0x0C);
  q_init(&q);
  REQUIRE_EQ(start_phy(&q, ble), 0);
  wait_q(&q);
  CHECK_EQ(q.status, 0x0C);
  down(sc, ble);
}

TEST(phy_req_cancel_timeout_and_link_drop) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 1);
  gap_set_lreq_timeout_ms(ble, 50);
  uint64_t l0 = late(ble);
  struct req_probe q;
  q_init(&q);
  REQUIRE_EQ(start_phy(&q, ble), 0);
  CHECK_EQ(uvble_cancel(&q.req), 0);
  wait_q(&q);
  CHECK_EQ(q.status, UVBLE_ECANCELED);
  phy_update(sc, 0, UVBLE_PHY_2M, UVBLE_PHY_2M);
  run_until_idle(&loop, 5000);
  CHECK_EQ(q.calls, 1);
  CHECK_EQ(late(ble), l0 + 1);
  /* Timeout. */
  q_init(&q);
  REQUIRE_EQ(start_phy(&q, ble), 0);
  wait_q(&q);
  CHECK_EQ(q.status, UVBLE_ETIMEDOUT);
  /* Link drop: every kind ends with UVBLE_EDISCONNECTED, before the
   * DISCONNECT event. */
  gap_set_lreq_timeout_ms(ble, 5000);
  struct req_probe p;
  q_init(&q);
  q_init(&p);
  REQUIRE_EQ(start_phy(&q, ble), 0);
  REQUIRE_EQ(start_params(&p, ble), 0);
  run_until_idle(&loop, 5000);
  rec.n = 0;
  sc_disconnect(sc, H, 0x08);
  wait_q(&q);
  wait_q(&p);
  CHECK_EQ(q.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(p.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(rec.count[UVBLE_IRQ_CENTRAL_DISCONNECT], 1);
  CHECK_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 0);
  down(sc, ble);
}

TEST(closing_the_stack_completes_link_reqs_with_ecanceled) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 0);
  sc_silence(sc, 0x0406);
  struct req_probe d, p, y;
  q_init(&d);
  q_init(&p);
  q_init(&y);
  REQUIRE_EQ(start_params(&p, ble), 0);
  REQUIRE_EQ(start_phy(&y, ble), 0);
  REQUIRE_EQ(start_disc(&d, ble), 0);
  run_until_idle(&loop, 5000);
  uvble_close(ble, NULL, NULL);
  /* Inside uvble_close, before its callback: everything completed. */
  CHECK_EQ(d.calls, 1);
  CHECK_EQ(d.status, UVBLE_ECANCELED);
  CHECK_EQ(p.calls, 1);
  CHECK_EQ(p.status, UVBLE_ECANCELED);
  CHECK_EQ(y.calls, 1);
  CHECK_EQ(y.status, UVBLE_ECANCELED);
  sc_free(sc);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(d.calls, 1);
  loop_teardown(&loop);
}

TEST(closing_from_a_link_req_callback) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 1);
  struct req_probe a, b;
  q_init(&a);
  q_init(&b);
  a.close_in_cb = true;
  REQUIRE_EQ(start_phy(&a, ble), 0);
  REQUIRE_EQ(start_params(&b, ble), 0);
  run_until_idle(&loop, 5000);
  phy_update(sc, 0, UVBLE_PHY_2M, UVBLE_PHY_2M);
  wait_q(&a);
  CHECK_EQ(a.status, 0);
  /* The close completes the other one, once. */
  CHECK_EQ(b.calls, 1);
  CHECK_EQ(b.status, UVBLE_ECANCELED);
  sc_free(sc);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ(a.calls, 1);
  CHECK_EQ(b.calls, 1);
  loop_teardown(&loop);
}

TEST_MAIN()
