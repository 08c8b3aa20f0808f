/* SPDX-License-Identifier: Apache-2.0 */
/* Connection parameters against a scripted controller: LE Connection
 * Update Complete and the CONNECTION_UPDATE event, updates we ask for (as
 * central: LE Connection Update; as peripheral: L2CAP), peers' requests
 * (L2CAP, and the controller's LE Remote Connection Parameter Request)
 * answered within configurable bounds, malformed events, and links that
 * drop while an update is pending. */
#include "l2cap.h"
#include "test_gap_common.h"

static const uint8_t PEER[6] = {1, 2, 3, 4, 5, 6};

static void update_complete(sc_t *sc, uint8_t status, uint16_t handle,
                            uint16_t interval, uint16_t latency,
                            uint16_t timeout) {
  uint8_t p[9] = {status};
  p[1] = (uint8_t)handle;
  p[2] = (uint8_t)(handle >> 8);
  p[3] = (uint8_t)interval;
  p[4] = (uint8_t)(interval >> 8);
  p[5] = (uint8_t)latency;
  p[6] = (uint8_t)(latency >> 8);
  p[7] = (uint8_t)timeout;
  p[8] = (uint8_t)(timeout >> 8);
  send_meta(sc, HCI_LE_CONNECTION_UPDATE_COMPLETE, p, sizeof p);
}

static void linked_up(sc_t **sc, uvble_t **ble, uint16_t handle, uint8_t role) {
  up(sc, ble, false);
  sc_connect(*sc, handle, role, PEER);
  run_until_idle(&loop, 5000);
  REQUIRE(conn_find(*ble, handle) != NULL);
  sc_clear(*sc);
}

TEST(connection_update_complete_raises_connection_update) {
  sc_t *sc;
  uvble_t *ble;
  linked_up(&sc, &ble, 0x40, 1);
  update_complete(sc, 0, 0x40, 12, 2, 200);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 1);
  const uvble_evt_conn_update_t *u =
      &rec.last[UVBLE_IRQ_CONNECTION_UPDATE].conn_update;
  CHECK_EQ(u->conn_handle, 0x40);
  CHECK_EQ(u->conn_interval, 12);
  CHECK_EQ(u->conn_latency, 2);
  CHECK_EQ(u->supervision_timeout, 200);
  CHECK_EQ(u->status, 0);
  struct ble_conn *c = conn_find(ble, 0x40);
  CHECK_EQ(c->interval, 12);
  CHECK_EQ(c->latency, 2);
  CHECK_EQ(c->supervision_timeout, 200);
  /* A failure reports the parameters still in force. */
  update_complete(sc, 0x3B, 0x40, 0, 0, 0);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 2);
  CHECK_EQ(u->status, 0x3B);
  CHECK_EQ(u->conn_interval, 12);
  CHECK_EQ(c->interval, 12);
  /* Malformed and unknown-handle events: counted, nothing raised. */
  uvble_stats_t st0, st;
  uvble_get_stats(ble, &st0);
  uint8_t shortp[8] = {0, 0x40, 0};
  send_meta(sc, HCI_LE_CONNECTION_UPDATE_COMPLETE, shortp, sizeof shortp);
  update_complete(sc, 0, 0x77, 12, 0, 200);
  run_until_idle(&loop, 5000);
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.hci_events_malformed, st0.hci_events_malformed + 1);
  CHECK_EQ(st.hci_events_unexpected, st0.hci_events_unexpected + 1);
  CHECK_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 2);
  down(sc, ble);
}

TEST(central_update_sends_le_connection_update) {
  sc_t *sc;
  uvble_t *ble;
  linked_up(&sc, &ble, 0x40, 0);
  REQUIRE_EQ(uvble_gap_update_params(ble, 0x40, 15000, 30000, 3, 4000), 0);
  run_until_idle(&loop, 5000);
  const struct sc_cmd_rec *u = cmd_n(sc, HCI_OP_LE_CONN_UPDATE, 0);
  REQUIRE_EQ(u->len, 14);
  CHECK_EQ(le16(u->params), 0x40);
  CHECK_EQ(le16(u->params + 2), 12);
  CHECK_EQ(le16(u->params + 4), 24);
  CHECK_EQ(le16(u->params + 6), 3);
  CHECK_EQ(le16(u->params + 8), 400);
  CHECK_EQ(le16(u->params + 10), 0);
  CHECK_EQ(le16(u->params + 12), 0);
  /* Out of range. */
  CHECK_EQ(uvble_gap_update_params(ble, 0x40, 7000, 30000, 0, 4000),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_update_params(ble, 0x40, 30000, 4000001, 0, 32000),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_update_params(ble, 0x40, 30000, 15000, 0, 4000),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_update_params(ble, 0x40, 15000, 30000, 500, 32000),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_update_params(ble, 0x40, 15000, 30000, 0, 99),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_update_params(ble, 0x40, 15000, 30000, 0, 32001),
           UVBLE_EINVAL);
  /* Timeout must exceed (1 + latency) * interval * 2: 4 * 50 * 2 = 400. */
  CHECK_EQ(uvble_gap_update_params(ble, 0x40, 50000, 50000, 3, 400),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_update_params(ble, 0x40, 50000, 50000, 3, 410), 0);
  CHECK_EQ(uvble_gap_update_params(ble, 0x99, 15000, 30000, 0, 4000),
           UVBLE_ENOTCONN);
  down(sc, ble);
}

TEST(refused_update_is_reported_and_a_dropped_link_reports_nothing) {
  sc_t *sc;
  uvble_t *ble;
  linked_up(&sc, &ble, 0x40, 0);
  sc_fail_with(sc, HCI_OP_LE_CONN_UPDATE, 0x0C);
  REQUIRE_EQ(uvble_gap_update_params(ble, 0x40, 15000, 30000, 0, 4000), 0);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 1);
  CHECK_EQ(rec.last[UVBLE_IRQ_CONNECTION_UPDATE].conn_update.status, 0x0C);
  CHECK_EQ(rec.last[UVBLE_IRQ_CONNECTION_UPDATE].conn_update.conn_interval, 24);
  /* Pending when the link drops: the DISCONNECT comes, no update. */
  sc_fail_with(sc, HCI_OP_LE_CONN_UPDATE, 0);
  REQUIRE_EQ(uvble_gap_update_params(ble, 0x40, 15000, 30000, 0, 4000), 0);
  run_until_idle(&loop, 5000);
  sc_disconnect(sc, 0x40, 0x08);
  update_complete(sc, 0, 0x40, 12, 0, 400);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_PERIPHERAL_DISCONNECT], 1);
  /* The HCI reason comes with the event. */
  CHECK_EQ(rec.last[UVBLE_IRQ_PERIPHERAL_DISCONNECT].connect.reason, 0x08);
  CHECK_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 1);
  CHECK_EQ(uvble_gap_update_params(ble, 0x40, 15000, 30000, 0, 4000),
           UVBLE_ENOTCONN);
  down(sc, ble);
}

/* The central's L2CAP Connection Parameter Update Response. */
static void param_response(sc_t *sc, uint16_t handle, uint8_t ident,
                           uint16_t result) {
  uint8_t pdu[10] = {6, 0, 0x05, 0x00, 0x13, ident, 2, 0};
  pdu[8] = (uint8_t)result;
  pdu[9] = (uint8_t)(result >> 8);
  sc_send_acl(sc, handle, 2, pdu, sizeof pdu);
}

/* The request the host sent last on CID 5; returns its identifier. */
static uint8_t last_param_request(sc_t *sc) {
  REQUIRE(sc_acl_count(sc) >= 1);
  const struct sc_acl_rec *a = sc_acl(sc, sc_acl_count(sc) - 1);
  REQUIRE_EQ(a->len, 16);
  CHECK_EQ(le16(a->data), 12);
  CHECK_EQ(le16(a->data + 2), 0x0005);
  CHECK_EQ(a->data[4], 0x12); /* Connection Parameter Update Request */
  CHECK_EQ(le16(a->data + 6), 8);
  return a->data[5];
}

TEST(peripheral_update_goes_through_l2cap) {
  sc_t *sc;
  uvble_t *ble;
  linked_up(&sc, &ble, 0x40, 1);
  sc_config(sc)->auto_complete_acl = true;
  REQUIRE_EQ(uvble_gap_update_params(ble, 0x40, 15000, 30000, 2, 4000), 0);
  run_until_idle(&loop, 5000);
  /* No HCI command: a peripheral asks its central (Vol 3, Part A, 4.20). */
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_CONN_UPDATE), 0);
  uint8_t ident = last_param_request(sc);
  const struct sc_acl_rec *a = sc_acl(sc, sc_acl_count(sc) - 1);
  CHECK_EQ(le16(a->data + 8), 12);
  CHECK_EQ(le16(a->data + 10), 24);
  CHECK_EQ(le16(a->data + 12), 2);
  CHECK_EQ(le16(a->data + 14), 400);
  /* Accepted: nothing yet; the central's update brings the event. */
  param_response(sc, 0x40, ident, 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 0);
  update_complete(sc, 0, 0x40, 20, 2, 400);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 1);
  CHECK_EQ(rec.last[UVBLE_IRQ_CONNECTION_UPDATE].conn_update.status, 0);
  CHECK_EQ(rec.last[UVBLE_IRQ_CONNECTION_UPDATE].conn_update.conn_interval, 20);
  /* Rejected: CONNECTION_UPDATE with status 1 and the old parameters. */
  REQUIRE_EQ(uvble_gap_update_params(ble, 0x40, 15000, 30000, 2, 4000), 0);
  run_until_idle(&loop, 5000);
  ident = last_param_request(sc);
  param_response(sc, 0x40, ident, 1);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 2);
  CHECK_EQ(rec.last[UVBLE_IRQ_CONNECTION_UPDATE].conn_update.status, 1);
  CHECK_EQ(rec.last[UVBLE_IRQ_CONNECTION_UPDATE].conn_update.conn_interval, 20);
  /* Pending when the link drops: no CONNECTION_UPDATE. */
  REQUIRE_EQ(uvble_gap_update_params(ble, 0x40, 15000, 30000, 2, 4000), 0);
  run_until_idle(&loop, 5000);
  sc_disconnect(sc, 0x40, 0x08);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_CENTRAL_DISCONNECT], 1);
  CHECK_EQ(rec.count[UVBLE_IRQ_CONNECTION_UPDATE], 2);
  down(sc, ble);
}

TEST(peer_requests_are_accepted_within_bounds) {
  sc_t *sc;
  uvble_t *ble;
  linked_up(&sc, &ble, 0x40, 0);
  struct ble_conn *c = conn_find(ble, 0x40);
  /* Default bounds: anything the spec allows. */
  struct l2cap_conn_params p = {6, 3200, 0, 3200};
  CHECK(gap_on_conn_param_request(ble, c, &p));
  run_until_idle(&loop, 5000);
  const struct sc_cmd_rec *u = cmd_n(sc, HCI_OP_LE_CONN_UPDATE, 0);
  CHECK_EQ(le16(u->params + 2), 6);
  CHECK_EQ(le16(u->params + 4), 3200);
  CHECK_EQ(le16(u->params + 8), 3200);
  /* Tighter bounds: 20..100 ms, latency <= 4, timeout 1..6 s. */
  uvble_gap_param_bounds_t b = {20000, 100000, 4, 1000, 6000};
  REQUIRE_EQ(uvble_gap_set_param_bounds(ble, &b), 0);
  struct l2cap_conn_params in = {8, 40, 4, 400}; /* 10..50 ms */
  CHECK(gap_on_conn_param_request(ble, c, &in));
  run_until_idle(&loop, 5000);
  u = cmd_n(sc, HCI_OP_LE_CONN_UPDATE, 1);
  CHECK_EQ(le16(u->params + 2), 16); /* the overlap: 20 .. 50 ms */
  CHECK_EQ(le16(u->params + 4), 40);
  CHECK_EQ(le16(u->params + 6), 4);
  CHECK_EQ(le16(u->params + 8), 400);
  static const struct l2cap_conn_params BAD[] = {
      {120, 200, 0, 400}, /* interval above the bounds */
      {8, 12, 0, 400},    /* below */
      {16, 40, 5, 400},   /* latency */
      {16, 40, 0, 90},    /* timeout below 1 s */
      {16, 40, 0, 700},   /* above 6 s */
      {16, 80, 4, 100},   /* timeout not > (1 + 4) * 100 ms * 2 */
      {40, 16, 0, 400},   /* min > max */
      {5, 40, 0, 400},    /* below the spec's 7.5 ms */
      {16, 40, 0, 3201},  /* above the spec's 32 s */
  };
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
    CHECK(!gap_on_conn_param_request(ble, c, &BAD[i]));
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_CONN_UPDATE), 2);
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(ble, &gs);
  CHECK_EQ(gs.conn_param_accepted, 2);
  CHECK_EQ(gs.conn_param_rejected, sizeof BAD / sizeof BAD[0]);
  /* A peripheral does not get to grant requests. */
  sc_connect(sc, 0x41, 1, PEER);
  run_until_idle(&loop, 5000);
  CHECK(!gap_on_conn_param_request(ble, conn_find(ble, 0x41), &in));
  /* Bounds validation and defaults. */
  uvble_gap_param_bounds_t bad = {7000, 100000, 4, 1000, 6000};
  CHECK_EQ(uvble_gap_set_param_bounds(ble, &bad), UVBLE_EINVAL);
  bad = (uvble_gap_param_bounds_t){20000, 10000, 4, 1000, 6000};
  CHECK_EQ(uvble_gap_set_param_bounds(ble, &bad), UVBLE_EINVAL);
  bad = (uvble_gap_param_bounds_t){20000, 100000, 500, 1000, 6000};
  CHECK_EQ(uvble_gap_set_param_bounds(ble, &bad), UVBLE_EINVAL);
  bad = (uvble_gap_param_bounds_t){20000, 100000, 4, 7000, 6000};
  CHECK_EQ(uvble_gap_set_param_bounds(ble, &bad), UVBLE_EINVAL);
  REQUIRE_EQ(uvble_gap_set_param_bounds(ble, NULL), 0);
  uvble_gap_get_param_bounds(ble, &b);
  CHECK_EQ(b.min_interval_us, 7500);
  CHECK_EQ(b.max_interval_us, 4000000);
  CHECK_EQ(b.max_latency, 499);
  CHECK_EQ(b.min_timeout_ms, 100);
  CHECK_EQ(b.max_timeout_ms, 32000);
  down(sc, ble);
}

TEST(remote_connection_parameter_request_is_replied_or_rejected) {
  sc_t *sc;
  uvble_t *ble;
  linked_up(&sc, &ble, 0x40, 1);
  uvble_gap_param_bounds_t b = {20000, 100000, 4, 1000, 6000};
  REQUIRE_EQ(uvble_gap_set_param_bounds(ble, &b), 0);
  /* handle, min 10 ms, max 50 ms, latency 2, timeout 4 s */
  uint8_t req[10] = {0x40, 0x00, 8, 0, 40, 0, 2, 0, 0x90, 0x01};
  send_meta(sc, HCI_LE_REMOTE_CONN_PARAM_REQUEST, req, sizeof req);
  run_until_idle(&loop, 5000);
  const struct sc_cmd_rec *r = cmd_n(sc, HCI_OP_LE_CONN_PARAM_REPLY, 0);
  REQUIRE_EQ(r->len, 14);
  CHECK_EQ(le16(r->params), 0x40);
  CHECK_EQ(le16(r->params + 2), 16);
  CHECK_EQ(le16(r->params + 4), 40);
  CHECK_EQ(le16(r->params + 6), 2);
  CHECK_EQ(le16(r->params + 8), 400);
  CHECK_EQ(le16(r->params + 10), 0);
  CHECK_EQ(le16(r->params + 12), 0);
  /* Latency 9: rejected with Unacceptable Connection Parameters. */
  req[6] = 9;
  send_meta(sc, HCI_LE_REMOTE_CONN_PARAM_REQUEST, req, sizeof req);
  run_until_idle(&loop, 5000);
  const struct sc_cmd_rec *n = cmd_n(sc, HCI_OP_LE_CONN_PARAM_NEG_REPLY, 0);
  REQUIRE_EQ(n->len, 3);
  CHECK_EQ(le16(n->params), 0x40);
  CHECK_EQ(n->params[2], 0x3B);
  /* Malformed: counted, not answered. */
  uvble_stats_t st0, st;
  uvble_get_stats(ble, &st0);
  send_meta(sc, HCI_LE_REMOTE_CONN_PARAM_REQUEST, req, 9);
  run_until_idle(&loop, 5000);
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.hci_events_malformed, st0.hci_events_malformed + 1);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_CONN_PARAM_REPLY) +
               cmd_count(sc, HCI_OP_LE_CONN_PARAM_NEG_REPLY),
           2);
  down(sc, ble);
}

TEST_MAIN()
