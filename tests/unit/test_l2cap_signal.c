/* SPDX-License-Identifier: Apache-2.0 */
/* L2CAP LE signalling and credit-based channel framing against a scripted
 * controller: the test plays the peer, byte by byte, and checks each
 * malformed input gets the Core Specification's response (Vol 3, Part A). */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "l2cap.h"
#include "l2cap_internal.h"
#include "sc.h"
#include "test.h"
#include "uvble/l2cap.h"

static uv_loop_t loop;
static sc_t *sc;
static uvble_t *ble;
static const uint8_t PEER[6] = {1, 2, 3, 4, 5, 6};
#define H 0x0040
#define PSM 0x0080

/* ---- what the host sent, reassembled into L2CAP PDUs ---- */
struct pdu {
  uint16_t cid;
  uint16_t len;
  uint8_t d[1024];
};
static struct pdu pdus[512];
static int npdus;
static size_t acl_seen;

static void collect(void) {
  static struct pdu cur;
  static size_t have, want;
  for (; acl_seen < sc_acl_count(sc); acl_seen++) {
    const struct sc_acl_rec *a = sc_acl(sc, acl_seen);
    if (a->pb != 1) { /* a start */
      have = 0;
      want = 0;
    }
    if (have + a->len > sizeof cur.d + 4) continue;
    memcpy((uint8_t *)&cur.d + have, a->data, a->len); /* header incl. */
    have += a->len;
    if (want == 0 && have >= 4) want = 4 + (size_t)(cur.d[0] | cur.d[1] << 8);
    if (want && have == want && npdus < 512) {
      struct pdu *p = &pdus[npdus++];
      p->cid = (uint16_t)(cur.d[2] | cur.d[3] << 8);
      p->len = (uint16_t)(want - 4);
      memcpy(p->d, cur.d + 4, want - 4);
      have = want = 0;
    }
  }
}

/* The n-th PDU (from `from` on) on cid, or NULL. */
static const struct pdu *sent_on(uint16_t cid, int from, int n) {
  collect();
  for (int i = from; i < npdus; i++)
    if (pdus[i].cid == cid && n-- == 0) return &pdus[i];
  return NULL;
}

static int count_on(uint16_t cid, int from) {
  collect();
  int n = 0;
  for (int i = from; i < npdus; i++) n += pdus[i].cid == cid;
  return n;
}

static int mark(void) {
  collect();
  return npdus;
}

/* ---- injecting ---- */
static void inject(uint16_t cid, const uint8_t *d, size_t len) {
  uint8_t buf[2048];
  buf[0] = (uint8_t)len;
  buf[1] = (uint8_t)(len >> 8);
  buf[2] = (uint8_t)cid;
  buf[3] = (uint8_t)(cid >> 8);
  if (len) memcpy(buf + 4, d, len);
  sc_send_acl(sc, H, 2, buf, len + 4);
  run_for(&loop, 5);
}

static void sig(uint8_t code, uint8_t ident, const uint8_t *d, size_t len) {
  uint8_t b[512];
  b[0] = code;
  b[1] = ident;
  b[2] = (uint8_t)len;
  b[3] = (uint8_t)(len >> 8);
  if (len) memcpy(b + 4, d, len);
  inject(5, b, 4 + len);
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* The signalling command the host sent after `from` (n-th), or NULL. */
static const uint8_t *sent_sig(int from, int n, uint16_t *len) {
  const struct pdu *p = sent_on(5, from, n);
  if (!p) return NULL;
  if (len) *len = p->len;
  return p->d;
}

/* ---- events ---- */
struct ev {
  int type;
  uint16_t cid, psm, our_mtu, peer_mtu;
  int status;
};
static struct ev evs[256];
static int nev;
static int accept_ret;

static int on_irq(uvble_t *b, int type, const uvble_irq_data_t *d, void *arg) {
  (void)b;
  (void)arg;
  struct ev e = {type, 0, 0, 0, 0, 0};
  if (type == UVBLE_IRQ_L2CAP_ACCEPT || type == UVBLE_IRQ_L2CAP_CONNECT) {
    e.cid = d->l2cap_connect.cid;
    e.psm = d->l2cap_connect.psm;
    e.our_mtu = d->l2cap_connect.our_mtu;
    e.peer_mtu = d->l2cap_connect.peer_mtu;
  } else if (type == UVBLE_IRQ_L2CAP_DISCONNECT) {
    e.cid = d->l2cap_disconnect.cid;
    e.psm = d->l2cap_disconnect.psm;
    e.status = d->l2cap_disconnect.status;
  } else if (type == UVBLE_IRQ_L2CAP_RECV ||
             type == UVBLE_IRQ_L2CAP_SEND_READY) {
    e.cid = d->l2cap_io.cid;
  }
  if (nev < 256) evs[nev++] = e;
  return type == UVBLE_IRQ_L2CAP_ACCEPT ? accept_ret : 0;
}

static const struct ev *last_ev(int type) {
  for (int i = nev - 1; i >= 0; i--)
    if (evs[i].type == type) return &evs[i];
  return NULL;
}

static int count_ev(int type) {
  int n = 0;
  for (int i = 0; i < nev; i++) n += evs[i].type == type;
  return n;
}

static struct ble_conn *conn;

/* A stack with one connection; role 0: we are central. */
static void setup(uint16_t acl_mtu, uint8_t role) {
  uv_loop_init(&loop);
  uvble_transport_t *host;
  sc = sc_new(&loop, &host);
  sc_config(sc)->acl_mtu = acl_mtu;
  sc_config(sc)->acl_pkts = 8;
  sc_config(sc)->auto_complete_acl = true;
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  for (int i = 0; i < 200 && !uvble_is_active(ble); i++) run_for(&loop, 5);
  REQUIRE(uvble_is_active(ble));
  uvble_irq(ble, on_irq, NULL);
  nev = 0;
  npdus = 0;
  acl_seen = 0;
  accept_ret = 0;
  sc_clear(sc);
  sc_connect(sc, H, role, PEER);
  run_for(&loop, 10);
  conn = conn_find(ble, H);
  REQUIRE(conn != NULL);
}

static void teardown(void) {
  sc_tear_down(&loop, sc, ble);
  loop_teardown(&loop);
}

static uvble_l2cap_stats_t stats(void) {
  uvble_l2cap_stats_t s;
  uvble_l2cap_get_stats(ble, &s);
  return s;
}

/* Expects exactly one Command Reject after `from`, with ident and reason;
 * returns its data (after the reason) length in *dlen. */
static const uint8_t *expect_reject(int from, uint8_t ident, uint16_t reason,
                                    uint16_t *dlen) {
  uint16_t len;
  const uint8_t *r = sent_sig(from, 0, &len);
  if (!r) {
    test_fail(__FILE__, __LINE__, "no Command Reject");
    return NULL;
  }
  CHECK_EQ(r[0], 0x01);
  CHECK_EQ(r[1], ident);
  CHECK_EQ(le16(r + 2), len - 4);
  CHECK_EQ(le16(r + 4), reason);
  CHECK_EQ(count_on(5, from), 1);
  if (dlen) *dlen = (uint16_t)(len - 6);
  return r + 6;
}

/* ---- malformed signalling
 * ---------------------------------------------------- */
TEST(unknown_command_gets_command_not_understood) {
  setup(251, 0);
  int m = mark();
  uint8_t echo[3] = {1, 2, 3};
  sig(0x08, 0x21, echo, sizeof echo); /* Echo Request: BR/EDR only */
  uint16_t dl;
  expect_reject(m, 0x21, 0x0000, &dl);
  CHECK_EQ(dl, 0);
  m = mark();
  sig(0x17, 0x22, echo, sizeof echo); /* a code we do not implement */
  expect_reject(m, 0x22, 0x0000, NULL);
  m = mark();
  sig(0xff, 0x23, NULL, 0);
  expect_reject(m, 0x23, 0x0000, NULL);
  teardown();
}

TEST(frames_without_a_usable_header_are_dropped_silently) {
  setup(251, 0);
  int m = mark();
  uint8_t three[3] = {0x08, 0x01, 0x00};
  inject(5, three, 3);
  inject(5, NULL, 0);
  uint8_t zero_ident[8] = {0x06, 0x00, 4, 0, 0x40, 0, 0x40, 0};
  inject(5, zero_ident, sizeof zero_ident);
  run_for(&loop, 10);
  CHECK_EQ(count_on(5, m), 0);
  CHECK_EQ(stats().sig_malformed, 3);
  teardown();
}

TEST(wrong_lengths_get_command_not_understood) {
  setup(251, 0);
  /* The header's length disagrees with the frame. */
  int m = mark();
  uint8_t b[16] = {0x06, 0x31, 10, 0, 0x40, 0, 0x40, 0};
  inject(5, b, 8);
  expect_reject(m, 0x31, 0x0000, NULL);
  /* Consistent header, but not the command's size. */
  m = mark();
  uint8_t short_disc[3] = {0x40, 0x00, 0x40};
  sig(0x06, 0x32, short_disc, 3);
  expect_reject(m, 0x32, 0x0000, NULL);
  m = mark();
  uint8_t long_req[11] = {0x80, 0, 0x40, 0, 100, 0, 100, 0, 1, 0, 0};
  sig(0x14, 0x33, long_req, 11);
  expect_reject(m, 0x33, 0x0000, NULL);
  m = mark();
  uint8_t short_credit[2] = {0x40, 0};
  sig(0x16, 0x34, short_credit, 2);
  expect_reject(m, 0x34, 0x0000, NULL);
  m = mark();
  sig(0x12, 0x35, short_credit, 2); /* param update, as central */
  expect_reject(m, 0x35, 0x0000, NULL);
  /* A response of the wrong size is rejected too (nothing awaited it). */
  m = mark();
  sig(0x15, 0x36, short_credit, 2);
  expect_reject(m, 0x36, 0x0000, NULL);
  CHECK_EQ(stats().sig_malformed, 6);
  CHECK_EQ(stats().sig_rejects_sent, 6);
  teardown();
}

TEST(frame_above_signalling_mtu_gets_mtu_exceeded) {
  setup(251, 0);
  int m = mark();
  uint8_t big[40];
  memset(big, 0, sizeof big);
  sig(0x14, 0x41, big, 20); /* 24 bytes: one over our MTUsig of 23 */
  uint16_t dl;
  const uint8_t *d = expect_reject(m, 0x41, 0x0001, &dl);
  REQUIRE_EQ(dl, 2);
  CHECK_EQ(le16(d), 23);
  teardown();
}

TEST(rejects_and_stray_responses_are_never_answered) {
  setup(251, 0);
  int m = mark();
  uint8_t rej[2] = {0, 0};
  sig(0x01, 0x51, rej, 2); /* a Command Reject for nothing */
  sig(0x01, 0x52, rej, 1); /* a malformed one */
  uint8_t disc_rsp[4] = {0x40, 0, 0x40, 0};
  sig(0x07, 0x53, disc_rsp, 4); /* responses we never asked for */
  uint8_t conn_rsp[10] = {0x40, 0, 100, 0, 100, 0, 1, 0, 0, 0};
  sig(0x15, 0x54, conn_rsp, 10);
  uint8_t param_rsp[2] = {0, 0};
  sig(0x13, 0x55, param_rsp, 2);
  run_for(&loop, 10);
  CHECK_EQ(count_on(5, m), 0);
  CHECK_EQ(stats().sig_unmatched_rsp, 4);
  CHECK_EQ(stats().sig_rejects_received, 1);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_CONNECT), 0);
  teardown();
}

TEST(disconnection_request_for_unknown_channel_gets_invalid_cid) {
  setup(251, 0);
  int m = mark();
  uint8_t req[4] = {0x45, 0x00, 0x77, 0x00}; /* DCID 0x45, SCID 0x77 */
  sig(0x06, 0x61, req, 4);
  uint16_t dl;
  const uint8_t *d = expect_reject(m, 0x61, 0x0002, &dl);
  REQUIRE_EQ(dl, 4);
  CHECK_EQ(le16(d), 0x45);     /* local endpoint: the request's DCID */
  CHECK_EQ(le16(d + 2), 0x77); /* remote endpoint: its SCID */
  teardown();
}

TEST(k_frames_for_unknown_cids_are_dropped_and_counted) {
  setup(251, 0);
  int m = mark();
  uint8_t k[6] = {4, 0, 1, 2, 3, 4};
  inject(0x0040, k, sizeof k);
  inject(0x0100, k, sizeof k);
  uvble_stats_t s;
  uvble_get_stats(ble, &s);
  CHECK_EQ(s.l2cap_rx_unknown_cid, 2);
  CHECK_EQ(mark(), m);
  teardown();
}

/* ---- Connection Parameter Update
 * --------------------------------------------- */
static int param_result = 1000, param_calls;
static void on_param(uvble_t *b, struct ble_conn *c, int result, void *arg) {
  (void)b;
  (void)c;
  (void)arg;
  param_result = result;
  param_calls++;
}

static uint8_t param_request(void) {
  struct l2cap_conn_params p = {24, 40, 0, 400};
  int m = mark();
  REQUIRE_EQ(l2cap_conn_param_update_request(ble, conn, &p, on_param, NULL), 0);
  run_for(&loop, 5);
  uint16_t len;
  const uint8_t *r = sent_sig(m, 0, &len);
  REQUIRE(r != NULL);
  CHECK_EQ(r[0], 0x12);
  CHECK(r[1] != 0);
  REQUIRE_EQ(len, 12);
  CHECK_EQ(le16(r + 4), 24);
  CHECK_EQ(le16(r + 6), 40);
  CHECK_EQ(le16(r + 8), 0);
  CHECK_EQ(le16(r + 10), 400);
  return r[1];
}

TEST(conn_param_update_request_matches_identifiers) {
  setup(251, 1); /* peripheral */
  param_calls = 0;
  uint8_t id = param_request();
  uint8_t rsp[2] = {0, 0};
  sig(0x13, (uint8_t)(id + 1), rsp, 2); /* not ours */
  CHECK_EQ(param_calls, 0);
  sig(0x13, id, rsp, 2);
  CHECK_EQ(param_calls, 1);
  CHECK_EQ(param_result, 0);
  sig(0x13, id, rsp, 2); /* a duplicate finds nothing */
  CHECK_EQ(param_calls, 1);
  /* Rejected by the central. */
  id = param_request();
  rsp[0] = 1;
  sig(0x13, id, rsp, 2);
  CHECK_EQ(param_result, 1);
  /* A Command Reject ends it too. */
  id = param_request();
  uint8_t rej[2] = {0, 0};
  sig(0x01, id, rej, 2);
  CHECK_EQ(param_calls, 3);
  CHECK_EQ(param_result, UVBLE_ENOTSUP);
  teardown();
}

TEST(conn_param_update_request_times_out_and_ends_with_the_link) {
  setup(251, 1);
  REQUIRE_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_TIMEOUT_MS, 1000), 0);
  param_calls = 0;
  param_request();
  run_for(&loop, 900);
  CHECK_EQ(param_calls, 0);
  run_for(&loop, 200);
  CHECK_EQ(param_calls, 1);
  CHECK_EQ(param_result, UVBLE_ETIMEDOUT);
  CHECK_EQ(stats().sig_timeouts, 1);
  param_request();
  sc_disconnect(sc, H, 0x13);
  run_for(&loop, 10);
  CHECK_EQ(param_calls, 2);
  CHECK_EQ(param_result, UVBLE_EDISCONNECTED);
  teardown();
}

TEST(conn_param_update_request_needs_the_peripheral_role) {
  setup(251, 0);
  struct l2cap_conn_params p = {24, 40, 0, 400};
  CHECK_EQ(l2cap_conn_param_update_request(ble, conn, &p, on_param, NULL),
           UVBLE_EINVAL);
  teardown();
}

/* Each request awaiting its response holds an identifier (1..255, Vol 3,
 * Part A, 4): past L2SIG_MAX_PENDING a request is refused, with one
 * identifier still free, and a response makes room again. */
TEST(pending_requests_are_bounded) {
  setup(251, 1);
  struct l2cap_conn_params p = {24, 40, 0, 400};
  param_calls = 0;
  int m = mark();
  for (int i = 0; i < L2SIG_MAX_PENDING; i++)
    REQUIRE_EQ(l2cap_conn_param_update_request(ble, conn, &p, on_param, NULL),
               0);
  CHECK_EQ(conn->l2cap->reqs.len, L2SIG_MAX_PENDING);
  CHECK_EQ(l2cap_conn_param_update_request(ble, conn, &p, on_param, NULL),
           UVBLE_ENOBUFS);
  CHECK_EQ(conn->l2cap->reqs.len, L2SIG_MAX_PENDING);
  /* The controller takes 8 packets at a time: await all of them. */
  for (int i = 0; i < 2000 && count_on(5, m) < L2SIG_MAX_PENDING; i++)
    run_for(&loop, 5);
  REQUIRE_EQ(count_on(5, m), L2SIG_MAX_PENDING);
  /* Identifiers were handed out from 1 on: answer the first. */
  uint8_t rsp[2] = {0, 0};
  sig(0x13, 1, rsp, 2);
  for (int i = 0; i < 2000 && param_calls < 1; i++) run_for(&loop, 5);
  CHECK_EQ(param_calls, 1);
  CHECK_EQ(param_result, 0);
  CHECK_EQ(conn->l2cap->reqs.len, L2SIG_MAX_PENDING - 1);
  REQUIRE_EQ(l2cap_conn_param_update_request(ble, conn, &p, on_param, NULL), 0);
  for (int i = 0; i < 2000 && count_on(5, m) < L2SIG_MAX_PENDING + 1; i++)
    run_for(&loop, 5);
  uint16_t len;
  const uint8_t *r = sent_sig(m, L2SIG_MAX_PENDING, &len);
  REQUIRE(r != NULL);
  CHECK_EQ(r[1], 255); /* the next free identifier */
  /* The link going ends every one of them. */
  sc_disconnect(sc, H, 0x13);
  for (int i = 0; i < 2000 && param_calls < 1 + L2SIG_MAX_PENDING; i++)
    run_for(&loop, 5);
  CHECK_EQ(param_calls, 1 + L2SIG_MAX_PENDING);
  CHECK_EQ(param_result, UVBLE_EDISCONNECTED);
  teardown();
}

TEST(conn_param_update_from_central_is_command_not_understood) {
  setup(251, 1); /* we are peripheral: only a central may be asked */
  int m = mark();
  uint8_t p[8] = {24, 0, 40, 0, 0, 0, 0x90, 0x01};
  sig(0x12, 0x71, p, 8);
  expect_reject(m, 0x71, 0x0000, NULL);
  teardown();
}

TEST(conn_param_update_with_invalid_values_is_refused) {
  setup(251, 0);
  /* {min, max, latency, timeout}: each breaks one rule of Vol 4, Part E,
   * 7.8.18. */
  static const uint16_t bad[][4] = {
      {5, 40, 0, 400},     /* interval below 7.5 ms */
      {40, 24, 0, 400},    /* min above max */
      {24, 3201, 0, 400},  /* above 4 s */
      {24, 40, 500, 3200}, /* latency */
      {24, 40, 0, 9},      /* timeout below 100 ms */
      {24, 40, 0, 3201},   /* above 32 s */
      {24, 400, 4, 400},   /* timeout not above (1+lat)*max*2 */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int m = mark();
    uint8_t p[8];
    for (int k = 0; k < 4; k++) {
      p[2 * k] = (uint8_t)bad[i][k];
      p[2 * k + 1] = (uint8_t)(bad[i][k] >> 8);
    }
    sig(0x12, (uint8_t)(0x80 + i), p, 8);
    uint16_t len;
    const uint8_t *r = sent_sig(m, 0, &len);
    REQUIRE(r != NULL);
    CHECK_EQ(r[0], 0x13);
    CHECK_EQ(r[1], 0x80 + i);
    REQUIRE_EQ(len, 6);
    CHECK_EQ(le16(r + 4), 0x0001);
  }
  teardown();
}

/* ---- LE Credit Based Connection Request from the peer
 * ---------------------------- */
static void conn_req(uint8_t ident, uint16_t psm, uint16_t scid, uint16_t mtu,
                     uint16_t mps, uint16_t credits) {
  uint8_t d[10];
  uint16_t v[5] = {psm, scid, mtu, mps, credits};
  for (int k = 0; k < 5; k++) {
    d[2 * k] = (uint8_t)v[k];
    d[2 * k + 1] = (uint8_t)(v[k] >> 8);
  }
  sig(0x14, ident, d, 10);
}

/* The response to our peer's request: returns a pointer at its 10 bytes. */
static const uint8_t *expect_conn_rsp(int from, uint8_t ident,
                                      uint16_t result) {
  uint16_t len;
  const uint8_t *r = sent_sig(from, 0, &len);
  if (!r) {
    test_fail(__FILE__, __LINE__, "no response");
    return NULL;
  }
  CHECK_EQ(r[0], 0x15);
  CHECK_EQ(r[1], ident);
  CHECK_EQ(len, 14);
  CHECK_EQ(le16(r + 12), result);
  if (result) { /* the other fields are 0 on refusal */
    CHECK_EQ(le16(r + 4) | le16(r + 6) | le16(r + 8) | le16(r + 10), 0);
  }
  return r + 4;
}

TEST(connection_request_validation_results) {
  setup(27, 0);
  REQUIRE_EQ(uvble_l2cap_listen(ble, PSM, 100), 0);
  int m = mark();
  conn_req(1, PSM + 1, 0x40, 100, 50, 5);
  expect_conn_rsp(m, 1, 0x0002); /* nobody listens */
  m = mark();
  conn_req(2, 0x0100, 0x40, 100, 50, 5);
  expect_conn_rsp(m, 2, 0x0002); /* not an SPSM */
  m = mark();
  conn_req(3, PSM, 0x0020, 100, 50, 5);
  expect_conn_rsp(m, 3, 0x0009); /* SCID outside the dynamic range */
  m = mark();
  conn_req(4, PSM, 0x0080, 100, 50, 5);
  expect_conn_rsp(m, 4, 0x0009);
  m = mark();
  conn_req(5, PSM, 0x40, 22, 50, 5);
  expect_conn_rsp(m, 5, 0x000B); /* MTU below 23 */
  m = mark();
  conn_req(6, PSM, 0x40, 100, 22, 5);
  expect_conn_rsp(m, 6, 0x000B); /* MPS below 23 */
  m = mark();
  conn_req(7, PSM, 0x40, 100, 65534, 5);
  expect_conn_rsp(m, 7, 0x000B); /* MPS above 65533 */
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_ACCEPT), 0);
  /* A good one. */
  m = mark();
  conn_req(8, PSM, 0x40, 120, 50, 5);
  const uint8_t *r = expect_conn_rsp(m, 8, 0x0000);
  REQUIRE(r != NULL);
  uint16_t our = le16(r);
  CHECK(our >= 0x40 && our <= 0x7f);
  CHECK_EQ(le16(r + 2), 100); /* the listener's MTU */
  CHECK_EQ(le16(r + 4), 23);  /* MPS: 27-byte ACL minus the header */
  CHECK_EQ(le16(r + 6), 32);  /* initial credits */
  REQUIRE_EQ(count_ev(UVBLE_IRQ_L2CAP_ACCEPT), 1);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_L2CAP_CONNECT), 1);
  const struct ev *e = last_ev(UVBLE_IRQ_L2CAP_CONNECT);
  CHECK_EQ(e->cid, our);
  CHECK_EQ(e->peer_mtu, 120);
  CHECK_EQ(e->our_mtu, 100);
  /* The same SCID again: already allocated. */
  m = mark();
  conn_req(9, PSM, 0x40, 120, 50, 5);
  expect_conn_rsp(m, 9, 0x000A);
  /* The application refuses (out-of-range value: no resources). */
  accept_ret = -1;
  m = mark();
  conn_req(10, PSM, 0x41, 120, 50, 5);
  expect_conn_rsp(m, 10, 0x0004);
  CHECK_EQ(stats().chan_refused, 9);
  teardown();
}

TEST(listener_security_requirements) {
  setup(27, 0);
  REQUIRE_EQ(
      uvble_l2cap_listen_secure(ble, PSM, 100, UVBLE_L2CAP_SEC_ENCRYPTED), 0);
  REQUIRE_EQ(uvble_l2cap_listen_secure(ble, PSM + 1, 100,
                                       UVBLE_L2CAP_SEC_AUTHENTICATED),
             0);
  CHECK_EQ(uvble_l2cap_listen_secure(ble, PSM + 2, 100, 3), UVBLE_EINVAL);
  /* Not encrypted, not bonded: pair first. */
  int m = mark();
  conn_req(1, PSM, 0x40, 100, 50, 5);
  expect_conn_rsp(m, 1, 0x0005);
  /* Bonded but not encrypted yet: encrypt. */
  conn->bonded = true;
  m = mark();
  conn_req(2, PSM, 0x40, 100, 50, 5);
  expect_conn_rsp(m, 2, 0x0008);
  /* Encrypted without MITM: enough for one, not for the other. */
  conn->encrypted = true;
  m = mark();
  conn_req(3, PSM + 1, 0x40, 100, 50, 5);
  expect_conn_rsp(m, 3, 0x0005);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_ACCEPT), 0);
  m = mark();
  conn_req(4, PSM, 0x40, 100, 50, 5);
  expect_conn_rsp(m, 4, 0x0000);
  conn->authenticated = true;
  m = mark();
  conn_req(5, PSM + 1, 0x41, 100, 50, 5);
  expect_conn_rsp(m, 5, 0x0000);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_CONNECT), 2);
  teardown();
}

/* ---- our outgoing channel
 * ---------------------------------------------------------- */
/* Opens a channel we initiate; the peer answers with dcid/mtu/mps/credits.
 * Returns our CID. */
static uint16_t open_out(uint16_t mtu, uint16_t dcid, uint16_t pmtu,
                         uint16_t pmps, uint16_t credits) {
  int m = mark();
  int cid = uvble_l2cap_connect(ble, H, PSM, mtu);
  REQUIRE(cid >= 0x40);
  run_for(&loop, 5);
  uint16_t len;
  const uint8_t *r = sent_sig(m, 0, &len);
  REQUIRE(r != NULL);
  CHECK_EQ(r[0], 0x14);
  REQUIRE_EQ(len, 14);
  CHECK_EQ(le16(r + 4), PSM);
  CHECK_EQ(le16(r + 6), cid);
  CHECK_EQ(le16(r + 8), mtu);
  uint8_t d[10];
  uint16_t v[5] = {dcid, pmtu, pmps, credits, 0};
  for (int k = 0; k < 5; k++) {
    d[2 * k] = (uint8_t)v[k];
    d[2 * k + 1] = (uint8_t)(v[k] >> 8);
  }
  int before = count_ev(UVBLE_IRQ_L2CAP_CONNECT);
  sig(0x15, r[1], d, 10);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_L2CAP_CONNECT), before + 1);
  return (uint16_t)cid;
}

/* The K-frames of a 100-byte SDU at the peer's MPS 30 on CID 0x55, from
 * PDU m on: 2 + 28, 30, 30, 12 (Vol 3, Part A, 3.4.3). */
static void check_sdu100_on_0x55(int m, const uint8_t *want) {
  static const size_t len[4] = {30, 30, 30, 12}, at[4] = {0, 28, 58, 88};
  REQUIRE_EQ(count_on(0x55, m), 4);
  const struct pdu *k0 = sent_on(0x55, m, 0);
  CHECK_EQ(le16(k0->d), 100);
  for (int i = 0; i < 4; i++) {
    const struct pdu *k = sent_on(0x55, m, i);
    size_t hdr = i == 0 ? 2 : 0;
    CHECK_EQ(k->len, len[i]);
    CHECK_MEM(k->d + hdr, want + at[i], len[i] - hdr);
  }
}

/* With credits and room on the link for the whole SDU, send() cuts its
 * K-frames from the caller's bytes before it returns: nothing stays in the
 * channel's buffer, and what the caller does with its buffer afterwards
 * changes nothing on the wire. */
TEST(sdu_within_credits_is_cut_from_the_callers_bytes) {
  setup(251, 0);
  uint16_t cid = open_out(200, 0x55, 300, 30, 10);
  uint8_t sdu[100], want[100];
  for (int i = 0; i < 100; i++) want[i] = sdu[i] = (uint8_t)(i * 7 + 1);
  /* The channel's buffer, poisoned: the SDU must not pass through it. */
  struct l2cap_chan *ch = chan_by_lcid(conn->l2cap, cid);
  REQUIRE(ch != NULL);
  memset(ch->tx.buf, 0xA5, ch->tx.cap);
  int m = mark();
  CHECK_EQ(uvble_l2cap_send(ble, H, cid, sdu, sizeof sdu), 1);
  for (size_t i = 0; i < 102; i++)
    if (ch->tx.buf[i] != 0xA5) {
      test_fail(__FILE__, __LINE__, "the SDU went through the buffer");
      break;
    }
  uvble_l2cap_chan_info_t ci;
  REQUIRE_EQ(uvble_l2cap_chan_info(ble, H, cid, &ci), 0);
  CHECK_EQ(ci.tx_queued, 0);
  CHECK_EQ(ci.tx_credits, 6); /* 2 + 28, 30, 30, 12 */
  memset(sdu, 0xEE, sizeof sdu);
  run_for(&loop, 10);
  check_sdu100_on_0x55(m, want);
  teardown();
}

/* The link refuses a K-frame half-way through such an SDU (its ACL pool is
 * spent): the rest waits in the channel's buffer as the SDU's continuation
 * and follows once ACL blocks come back. */
TEST(sdu_cut_from_the_callers_bytes_continues_from_the_buffer) {
  setup(251, 0);
  uint16_t cid = open_out(200, 0x55, 300, 30, 10);
  uint8_t sdu[100];
  for (int i = 0; i < 100; i++) sdu[i] = (uint8_t)(i * 5 + 3);
  struct l2cap_chan *ch = chan_by_lcid(conn->l2cap, cid);
  REQUIRE(ch != NULL);
  memset(ch->tx.buf, 0xA5, ch->tx.cap);
  int m = mark();
  ble->hci.acl_pool.max = ble->hci.acl_pool.in_use + 2;
  CHECK_EQ(uvble_l2cap_send(ble, H, cid, sdu, sizeof sdu), 1);
  uvble_l2cap_chan_info_t ci;
  REQUIRE_EQ(uvble_l2cap_chan_info(ble, H, cid, &ci), 0);
  CHECK_EQ(ci.tx_credits, 8);
  CHECK_EQ(ci.tx_queued, 42);
  /* Only the rest went into the buffer: the byte before it is untouched. */
  REQUIRE_EQ(ch->tx.used, 42);
  CHECK_MEM(ch->tx.buf + ch->tx.rd, sdu + 58, 42);
  CHECK_EQ(ch->tx.buf[(ch->tx.rd + ch->tx.cap - 1) % ch->tx.cap], 0xA5);
  CHECK(stats().tx_kframes >= 2);
  ble->hci.acl_pool.max = 0;
  run_for(&loop, 10);
  check_sdu100_on_0x55(m, sdu);
  REQUIRE_EQ(uvble_l2cap_chan_info(ble, H, cid, &ci), 0);
  CHECK_EQ(ci.tx_queued, 0);
  CHECK_EQ(ci.tx_credits, 6);
  teardown();
}

TEST(sdu_segmentation_follows_peer_mps_and_credits) {
  setup(251, 0);
  uint16_t cid = open_out(200, 0x55, 300, 30, 2);
  uint8_t sdu[100];
  for (int i = 0; i < 100; i++) sdu[i] = (uint8_t)i;
  int m = mark();
  CHECK_EQ(uvble_l2cap_send(ble, H, cid, sdu, sizeof sdu), 1);
  run_for(&loop, 10);
  /* Two credits: two K-frames, the first with the SDU length. */
  REQUIRE_EQ(count_on(0x55, m), 2);
  const struct pdu *k0 = sent_on(0x55, m, 0), *k1 = sent_on(0x55, m, 1);
  CHECK_EQ(k0->len, 30);
  CHECK_EQ(le16(k0->d), 100);
  CHECK_MEM(k0->d + 2, sdu, 28);
  CHECK_EQ(k1->len, 30);
  CHECK_MEM(k1->d, sdu + 28, 30);
  uvble_l2cap_chan_info_t ci;
  REQUIRE_EQ(uvble_l2cap_chan_info(ble, H, cid, &ci), 0);
  CHECK_EQ(ci.tx_credits, 0);
  CHECK_EQ(ci.tx_queued, 42);
  /* More credits release the rest. */
  uint8_t cr[4] = {0x55, 0, 10, 0};
  sig(0x16, 9, cr, 4);
  run_for(&loop, 10);
  REQUIRE_EQ(count_on(0x55, m), 4);
  CHECK_EQ(sent_on(0x55, m, 2)->len, 30);
  CHECK_MEM(sent_on(0x55, m, 2)->d, sdu + 58, 30);
  CHECK_EQ(sent_on(0x55, m, 3)->len, 12);
  CHECK_MEM(sent_on(0x55, m, 3)->d, sdu + 88, 12);
  REQUIRE_EQ(uvble_l2cap_chan_info(ble, H, cid, &ci), 0);
  CHECK_EQ(ci.tx_credits, 8);
  /* Credits for an unknown CID, or zero credits, are ignored. */
  uint8_t c2[4] = {0x66, 0, 10, 0}, c3[4] = {0x55, 0, 0, 0};
  sig(0x16, 10, c2, 4);
  sig(0x16, 11, c3, 4);
  CHECK_EQ(stats().credits_ignored, 2);
  REQUIRE_EQ(uvble_l2cap_chan_info(ble, H, cid, &ci), 0);
  CHECK_EQ(ci.tx_credits, 8);
  teardown();
}

static void kframe(uint16_t cid, const uint8_t *d, size_t len) {
  inject(cid, d, len);
}

/* Credits the host granted on our behalf, from its indications after from. */
static unsigned credits_granted(int from, uint16_t our_cid) {
  unsigned n = 0;
  collect();
  for (int i = from; i < npdus; i++) {
    if (pdus[i].cid != 5 || pdus[i].d[0] != 0x16) continue;
    CHECK(pdus[i].d[1] != 0);
    if (le16(pdus[i].d + 4) == our_cid) n += le16(pdus[i].d + 6);
  }
  return n;
}

TEST(reassembly_and_credits_returned_as_the_reader_reads) {
  REQUIRE(1);
  setup(27, 0); /* our MPS 23 */
  REQUIRE_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_CREDITS, 4), 0);
  int m = mark();
  uint16_t cid = open_out(200, 0x55, 300, 100, 10);
  uvble_l2cap_chan_info_t ci;
  REQUIRE_EQ(uvble_l2cap_chan_info(ble, H, cid, &ci), 0);
  CHECK_EQ(ci.our_mps, 23);
  CHECK_EQ(ci.rx_credits, 4);
  CHECK_EQ(ci.rx_buffer, 200 + 2 + 23);
  /* A 60-byte SDU in three K-frames. */
  uint8_t sdu[60], k[23];
  for (int i = 0; i < 60; i++) sdu[i] = (uint8_t)(0xA0 + i);
  k[0] = 60;
  k[1] = 0;
  memcpy(k + 2, sdu, 21);
  kframe(cid, k, 23);
  kframe(cid, sdu + 21, 23);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_RECV), 0);
  CHECK_EQ(uvble_l2cap_recvinto(ble, H, cid, NULL, 0), 0); /* not whole yet */
  kframe(cid, sdu + 44, 16);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_RECV), 1);
  uint8_t got[100];
  CHECK_EQ(uvble_l2cap_recvinto(ble, H, cid, NULL, 0), 60);
  CHECK_EQ(uvble_l2cap_recvinto(ble, H, cid, got, sizeof got), 60);
  CHECK_MEM(got, sdu, 60);
  /* Credits: 4 at the start, topped up to the window as they were used
   * (space allowed), never more than the window outstanding. */
  REQUIRE_EQ(uvble_l2cap_chan_info(ble, H, cid, &ci), 0);
  CHECK_EQ(4 + credits_granted(m, cid) - 3, ci.rx_credits);
  CHECK(ci.rx_credits <= 4);
  CHECK(ci.rx_credits >= 2);
  teardown();
}

TEST(slow_reader_gets_no_credits_beyond_its_buffer) {
  setup(27, 0);
  REQUIRE_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_CREDITS, 8), 0);
  int m = mark();
  uint16_t cid = open_out(40, 0x55, 300, 100, 10);
  uvble_l2cap_chan_info_t ci;
  REQUIRE_EQ(uvble_l2cap_chan_info(ble, H, cid, &ci), 0);
  size_t cap = ci.rx_buffer;
  CHECK_EQ(cap, 8 * 23); /* the window's worth (above 40 + 2 + 23) */
  /* The peer sends one-K-frame SDUs as long as it has credits; nobody
   * reads. */
  unsigned have = 8, sent = 0;
  uint8_t k[23];
  memset(k, 0x11, sizeof k);
  k[0] = 21;
  k[1] = 0;
  for (int round = 0; round < 50 && have > 0; round++) {
    kframe(cid, k, 23);
    sent++;
    have = 8 + credits_granted(m, cid) - sent;
  }
  CHECK_EQ(have, 0);
  REQUIRE_EQ(uvble_l2cap_chan_info(ble, H, cid, &ci), 0);
  CHECK_EQ(ci.rx_credits, 0);
  CHECK_EQ(ci.rx_unread, 21 * sent);
  CHECK(23 * sent <= cap);
  CHECK(sent >= 7);
  /* Reading two SDUs frees room for two K-frames: credits come back. */
  uint8_t got[64];
  CHECK_EQ(uvble_l2cap_recvinto(ble, H, cid, got, sizeof got), 21);
  CHECK_EQ(uvble_l2cap_recvinto(ble, H, cid, got, sizeof got), 21);
  run_for(&loop, 5);
  have = 8 + credits_granted(m, cid) - sent;
  REQUIRE_EQ(uvble_l2cap_chan_info(ble, H, cid, &ci), 0);
  CHECK_EQ(have, 2);
  CHECK_EQ(ci.rx_credits, 2);
  teardown();
}

/* ---- violations: each closes the channel with a Disconnection Request ---- */
static void expect_close_for_violation(int from, uint16_t cid, uint16_t dcid) {
  uint16_t len;
  const uint8_t *r = NULL;
  for (int n = 0; (r = sent_sig(from, n, &len)) != NULL; n++)
    if (r[0] == 0x06) break;
  REQUIRE(r != NULL);
  REQUIRE_EQ(len, 8);
  CHECK_EQ(le16(r + 4), dcid); /* the peer's end */
  CHECK_EQ(le16(r + 6), cid);  /* ours */
  CHECK_EQ(uvble_l2cap_send(ble, H, cid, "x", 1), UVBLE_ENOTCONN);
  /* The peer answers; the application hears EPROTO. */
  uint8_t rsp[4] = {(uint8_t)dcid, 0, (uint8_t)cid, 0};
  sig(0x07, r[1], rsp, 4);
  const struct ev *e = last_ev(UVBLE_IRQ_L2CAP_DISCONNECT);
  REQUIRE(e != NULL);
  CHECK_EQ(e->cid, cid);
  CHECK_EQ(e->status, UVBLE_EPROTO);
}

TEST(k_frame_larger_than_our_mps_closes_the_channel) {
  setup(27, 0);
  int m = mark();
  uint16_t cid = open_out(200, 0x55, 300, 100, 10);
  uint8_t k[24] = {10, 0};
  kframe(cid, k, 24);
  CHECK_EQ(stats().viol_kframe_over_mps, 1);
  expect_close_for_violation(m, cid, 0x55);
  teardown();
}

TEST(sdu_longer_than_our_mtu_closes_the_channel) {
  setup(27, 0);
  int m = mark();
  uint16_t cid = open_out(200, 0x55, 300, 100, 10);
  uint8_t k[23] = {201, 0};
  kframe(cid, k, 23);
  CHECK_EQ(stats().viol_sdu_over_mtu, 1);
  expect_close_for_violation(m, cid, 0x55);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_RECV), 0);
  teardown();
}

TEST(k_frames_carrying_more_than_the_sdu_close_the_channel) {
  setup(27, 0);
  int m = mark();
  uint16_t cid = open_out(200, 0x55, 300, 100, 10);
  uint8_t k[23] = {10, 0};
  kframe(cid, k, 13); /* says 10, carries 11 */
  CHECK_EQ(stats().viol_sdu_overrun, 1);
  expect_close_for_violation(m, cid, 0x55);
  /* and a continuation beyond the rest */
  m = mark();
  cid = open_out(200, 0x56, 300, 100, 10);
  k[0] = 30;
  kframe(cid, k, 23); /* 21 of 30 */
  kframe(cid, k, 10); /* 10 more: one too many */
  CHECK_EQ(stats().viol_sdu_overrun, 2);
  expect_close_for_violation(m, cid, 0x56);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_RECV), 0);
  teardown();
}

TEST(first_k_frame_without_sdu_length_closes_the_channel) {
  setup(27, 0);
  int m = mark();
  uint16_t cid = open_out(200, 0x55, 300, 100, 10);
  uint8_t k[1] = {5};
  kframe(cid, k, 1);
  CHECK_EQ(stats().viol_bad_kframe, 1);
  expect_close_for_violation(m, cid, 0x55);
  teardown();
}

TEST(data_beyond_granted_credits_closes_the_channel) {
  setup(27, 0);
  REQUIRE_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_CREDITS, 1), 0);
  int m = mark();
  uint16_t cid = open_out(23, 0x55, 300, 100, 10);
  uvble_l2cap_chan_info_t ci;
  REQUIRE_EQ(uvble_l2cap_chan_info(ble, H, cid, &ci), 0);
  CHECK_EQ(ci.rx_buffer, 23 + 2 + 23);
  uint8_t k[23] = {21, 0};
  kframe(cid, k, 23); /* uses the one credit; room for one more: granted */
  CHECK_EQ(credits_granted(m, cid), 1);
  kframe(cid, k, 23); /* no room left: no credit */
  CHECK_EQ(credits_granted(m, cid), 1);
  CHECK_EQ(stats().viol_no_credits, 0);
  kframe(cid, k, 23); /* beyond the credits */
  CHECK_EQ(stats().viol_no_credits, 1);
  expect_close_for_violation(m, cid, 0x55);
  /* What arrived within the credits stays readable until the close. */
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_RECV), 2);
  teardown();
}

TEST(credits_past_65535_close_the_channel) {
  setup(251, 0);
  int m = mark();
  uint16_t cid = open_out(200, 0x55, 300, 100, 10);
  uint8_t cr[4] = {0x55, 0, 0xf5, 0xff}; /* 65525 + 10 = 65535: fine */
  sig(0x16, 7, cr, 4);
  CHECK_EQ(stats().viol_credit_overflow, 0);
  cr[2] = 1;
  cr[3] = 0;
  sig(0x16, 8, cr, 4); /* one more */
  CHECK_EQ(stats().viol_credit_overflow, 1);
  expect_close_for_violation(m, cid, 0x55);
  teardown();
}

/* ---- our requests' outcomes
 * ------------------------------------------------------------ */
static int connect_only(void) {
  int cid = uvble_l2cap_connect(ble, H, PSM, 100);
  REQUIRE(cid >= 0x40);
  run_for(&loop, 5);
  return cid;
}

TEST(connect_without_response_times_out) {
  setup(251, 0);
  REQUIRE_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_TIMEOUT_MS, 1000), 0);
  int m = mark();
  int cid = connect_only();
  const uint8_t *r = sent_sig(m, 0, NULL);
  REQUIRE(r != NULL);
  uint8_t ident = r[1];
  run_for(&loop, 900);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_DISCONNECT), 0);
  run_for(&loop, 200);
  const struct ev *e = last_ev(UVBLE_IRQ_L2CAP_DISCONNECT);
  REQUIRE(e != NULL);
  CHECK_EQ(e->cid, cid);
  CHECK_EQ(e->psm, PSM);
  CHECK_EQ(e->status, UVBLE_ETIMEDOUT);
  /* A late response finds nothing. */
  uint8_t d[10] = {0x55, 0, 100, 0, 100, 0, 1, 0, 0, 0};
  sig(0x15, ident, d, 10);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_CONNECT), 0);
  CHECK_EQ(stats().sig_unmatched_rsp, 1);
  teardown();
}

TEST(connect_answered_with_command_reject_fails) {
  setup(251, 0);
  int m = mark();
  int cid = connect_only();
  const uint8_t *r = sent_sig(m, 0, NULL);
  REQUIRE(r != NULL);
  uint8_t rej[2] = {0, 0};
  sig(0x01, r[1], rej, 2);
  const struct ev *e = last_ev(UVBLE_IRQ_L2CAP_DISCONNECT);
  REQUIRE(e != NULL);
  CHECK_EQ(e->cid, cid);
  CHECK_EQ(e->status, UVBLE_ENOTSUP);
  teardown();
}

TEST(connect_pending_when_the_link_drops) {
  setup(251, 0);
  int cid = connect_only();
  uint16_t open = open_out(100, 0x60, 100, 100, 1);
  int m = mark();
  CHECK_EQ(uvble_l2cap_disconnect(ble, H, open), 0); /* request pending */
  run_for(&loop, 5);
  CHECK(sent_sig(m, 0, NULL) != NULL);
  sc_disconnect(sc, H, 0x08);
  run_for(&loop, 10);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_L2CAP_DISCONNECT), 2);
  int ok = 0;
  for (int i = 0; i < nev; i++) {
    if (evs[i].type != UVBLE_IRQ_L2CAP_DISCONNECT) continue;
    if (evs[i].cid == cid && evs[i].status == UVBLE_EDISCONNECTED) ok++;
    if (evs[i].cid == open && evs[i].status == 0) ok++;
  }
  CHECK_EQ(ok, 2);
  teardown();
}

TEST(success_response_with_unusable_parameters_fails_the_connect) {
  setup(251, 0);
  /* DCID outside the dynamic range: nothing to close on the peer. */
  int m = mark();
  int cid = connect_only();
  const uint8_t *r = sent_sig(m, 0, NULL);
  REQUIRE(r != NULL);
  uint8_t d[10] = {0x20, 0, 100, 0, 100, 0, 1, 0, 0, 0};
  m = mark();
  sig(0x15, r[1], d, 10);
  const struct ev *e = last_ev(UVBLE_IRQ_L2CAP_DISCONNECT);
  REQUIRE(e != NULL);
  CHECK_EQ(e->cid, cid);
  CHECK_EQ(e->status, UVBLE_EPROTO);
  CHECK_EQ(count_on(5, m), 0);
  /* A usable DCID but MPS 10: the channel the peer opened is closed. */
  m = mark();
  cid = connect_only();
  r = sent_sig(m, 0, NULL);
  REQUIRE(r != NULL);
  uint8_t d2[10] = {0x61, 0, 100, 0, 10, 0, 1, 0, 0, 0};
  m = mark();
  sig(0x15, r[1], d2, 10);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_CONNECT), 0);
  expect_close_for_violation(m, (uint16_t)cid, 0x61);
  teardown();
}

TEST(peer_disconnection_request_is_answered_and_reported) {
  setup(251, 0);
  uint16_t cid = open_out(100, 0x60, 100, 100, 1);
  int m = mark();
  uint8_t req[4] = {(uint8_t)cid, 0, 0x60, 0};
  sig(0x06, 0x44, req, 4);
  uint16_t len;
  const uint8_t *r = sent_sig(m, 0, &len);
  REQUIRE(r != NULL);
  CHECK_EQ(r[0], 0x07);
  CHECK_EQ(r[1], 0x44);
  REQUIRE_EQ(len, 8);
  CHECK_EQ(le16(r + 4), cid);
  CHECK_EQ(le16(r + 6), 0x60);
  const struct ev *e = last_ev(UVBLE_IRQ_L2CAP_DISCONNECT);
  REQUIRE(e != NULL);
  CHECK_EQ(e->cid, cid);
  CHECK_EQ(e->status, 0);
  /* A request naming our CID but another SCID is refused. */
  cid = open_out(100, 0x61, 100, 100, 1);
  m = mark();
  uint8_t bad[4] = {(uint8_t)cid, 0, 0x62, 0};
  sig(0x06, 0x45, bad, 4);
  expect_reject(m, 0x45, 0x0002, NULL);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_DISCONNECT), 1);
  teardown();
}

TEST(disconnection_response_must_name_the_channel) {
  setup(251, 0);
  uint16_t cid = open_out(100, 0x60, 100, 100, 1);
  int m = mark();
  CHECK_EQ(uvble_l2cap_disconnect(ble, H, cid), 0);
  run_for(&loop, 5);
  const uint8_t *r = sent_sig(m, 0, NULL);
  REQUIRE(r != NULL);
  CHECK_EQ(r[0], 0x06);
  uint8_t ident = r[1];
  uint8_t wrong[4] = {0x61, 0, (uint8_t)cid, 0};
  sig(0x07, ident, wrong, 4);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_DISCONNECT), 0);
  /* Data arriving meanwhile is dropped, not a violation. */
  uint8_t k[5] = {3, 0, 1, 2, 3};
  kframe(cid, k, 5);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_RECV), 0);
  uint8_t right[4] = {0x60, 0, (uint8_t)cid, 0};
  sig(0x07, ident, right, 4);
  const struct ev *e = last_ev(UVBLE_IRQ_L2CAP_DISCONNECT);
  REQUIRE(e != NULL);
  CHECK_EQ(e->status, 0);
  teardown();
}

TEST(crossing_disconnection_requests) {
  setup(251, 0);
  uint16_t cid = open_out(100, 0x60, 100, 100, 1);
  int m = mark();
  CHECK_EQ(uvble_l2cap_disconnect(ble, H, cid), 0);
  uint8_t req[4] = {(uint8_t)cid, 0, 0x60, 0};
  sig(0x06, 0x46, req, 4);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_DISCONNECT), 1);
  const uint8_t *r = sent_sig(m, 1, NULL);
  REQUIRE(r != NULL);
  CHECK_EQ(r[0], 0x07);
  teardown();
}

TEST(disconnect_request_times_out) {
  setup(251, 0);
  REQUIRE_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_TIMEOUT_MS, 1000), 0);
  uint16_t cid = open_out(100, 0x60, 100, 100, 1);
  CHECK_EQ(uvble_l2cap_disconnect(ble, H, cid), 0);
  run_for(&loop, 1200);
  const struct ev *e = last_ev(UVBLE_IRQ_L2CAP_DISCONNECT);
  REQUIRE(e != NULL);
  CHECK_EQ(e->status, UVBLE_ETIMEDOUT);
  teardown();
}

TEST(options_are_validated) {
  setup(251, 0);
  CHECK_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_CREDITS, 0), UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_CREDITS, 65536),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_MPS, 22), UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_MPS, 65534), UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_TIMEOUT_MS, 999),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_TIMEOUT_MS, 60001),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_TX_BUFFER, 100),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_set_opt(ble, 99, 1), UVBLE_EUNKNOWNKEY);
  int v;
  CHECK_EQ(uvble_l2cap_get_opt(ble, UVBLE_L2CAP_OPT_CREDITS, &v), 0);
  CHECK_EQ(v, 32);
  CHECK_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_MPS, 1000), 0);
  CHECK_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_CREDITS, 65535), 0);
  /* A larger MPS raises what the ACL layer reassembles. */
  uint16_t cid = open_out(2000, 0x60, 100, 100, 1);
  uvble_l2cap_chan_info_t ci;
  REQUIRE_EQ(uvble_l2cap_chan_info(ble, H, cid, &ci), 0);
  CHECK_EQ(ci.our_mps, 1000);
  /* 65535 credits of 1000 bytes would be 64 MB: the window is cut. */
  CHECK_EQ(ci.rx_credits, 16 * 1024 * 1024 / 1000);
  CHECK(ci.rx_buffer <= 16 * 1024 * 1024);
  CHECK(ble->hci.l2cap_rx_max_pdu >= 1004);
  uint8_t big[1000];
  memset(big, 7, sizeof big);
  big[0] = 0xd0; /* 2000 */
  big[1] = 0x07;
  kframe(cid, big, 1000);
  CHECK_EQ(stats().viol_kframe_over_mps, 0);
  teardown();
}

TEST_MAIN()
