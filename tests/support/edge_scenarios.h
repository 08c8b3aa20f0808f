/* SPDX-License-Identifier: Apache-2.0 */
/* Act, then at once disconnect: the scenarios shared by the in-memory
 * (tests/unit/test_edge_e2e.c, a slow radio) and btvirt
 * (tests/integration/test_edge_btvirt.c) tests. Every act must have
 * arrived at the peer: a write with response, a write command, a
 * notification, an indication, an L2CAP SDU, and a pairing with bonding
 * ended by either side (both sides bonded; the next connection
 * re-encrypts without SMP). Host A is the central and GATT client, B the
 * peripheral and GATT server; the async layer drives both.
 *
 * The includer defines edge_bring_up() (loop initialised; sets ble_a and
 * ble_b, both active), edge_connect() (a new link; sets H and HB, its
 * handle at A and at B) and edge_free_controller(). */
#ifndef UVBLE_TEST_EDGE_SCENARIOS_H
#define UVBLE_TEST_EDGE_SCENARIOS_H

#include <stdio.h>
#include <unistd.h>

#include "conn.h"
#include "keys.h"
#include "smp_internal.h"
#include "test.h"
#include "uvble/async.h"
#include "uvble/gap.h"
#include "uvble/l2cap.h"
#include "uvble/security.h"

static uv_loop_t loop;
static uvble_t *ble_a, *ble_b;
static uvble_async_t *A, *B;
static uvble_connection_t *CA, *CB;
static uint16_t H, HB; /* the link's handle at A and at B */
static uvble_service_t *svc;
static uvble_characteristic_t *chr;
static uvble_client_characteristic_t *cchr;

#define PSM 0x0041
static uvble_addr_t peer_of[2]; /* what A and B know the other as */

static bool done(void *f) { return uvble_future_done(f); }

static bool both_connected(void *arg) {
  (void)arg;
  return uvble_async_connection(A, H) && uvble_async_connection(B, HB);
}

/* Brings the link up (the includer's edge_connect() sets H and HB), then
 * takes both sides' connection objects. */
static void edge_connect(void);
static void link_up(void) {
  edge_connect();
  REQUIRE(run_until_pred(&loop, both_connected, NULL, 5000));
  CA = uvble_connection_ref(uvble_async_connection(A, H));
  CB = uvble_connection_ref(uvble_async_connection(B, HB));
  peer_of[0] = conn_find(ble_a, H)->peer;
  peer_of[1] = conn_find(ble_b, HB)->peer;
  peer_of[0].type &= 1;
  peer_of[1].type &= 1;
}

static bool both_down(void *arg) {
  (void)arg;
  return !uvble_connection_is_connected(CA) && !uvble_connection_is_connected(CB);
}

static void wait_down(void) {
  REQUIRE(run_until_pred(&loop, both_down, NULL, 3000));
  uvble_connection_release(CA);
  uvble_connection_release(CB);
  CA = CB = NULL;
}

/* Each host keeps its bonds in the built-in store, in a fresh directory. */
static char dir[64];
static void store_path(char *out, size_t n, const char *what, int side) {
  snprintf(out, n, "%s/%s-%d", dir, what, side);
}

static void open_stores(void) {
  snprintf(dir, sizeof dir, "/tmp/uvble-edge-XXXXXX");
  REQUIRE(mkdtemp(dir) != NULL);
  for (int i = 0; i < 2; i++) {
    char s[128], k[128], err[256];
    store_path(s, sizeof s, "bonds", i);
    store_path(k, sizeof k, "key", i);
    int r = uvble_bond_store_open(i ? ble_b : ble_a, s, k, NULL, err,
                                  sizeof err);
    if (r) fprintf(stderr, "  %s\n", err);
    REQUIRE_EQ(r, 0);
  }
}

static void remove_stores(void) {
  for (int i = 0; i < 2; i++) {
    char p[128];
    store_path(p, sizeof p, "bonds", i);
    unlink(p);
    store_path(p, sizeof p, "key", i);
    unlink(p);
  }
  rmdir(dir);
}

/* Whether ble keeps both halves of a bond with its peer (whose identity is
 * its public address here). */
static bool has_bond(uvble_t *ble) {
  const uvble_addr_t *id = &peer_of[ble == ble_b];
  struct keys_bond k;
  bool r = keys_bond_load(ble, UVBLE_SECRET_PEER_SEC, id, &k) == 0 &&
           keys_bond_load(ble, UVBLE_SECRET_OUR_SEC, id, &k) == 0;
  memset(&k, 0, sizeof k);
  return r;
}

static void edge_bring_up(void);
static void edge_free_controller(void);

static void up(void) {
  uv_loop_init(&loop);
  edge_bring_up(); /* the includer's: ble_a and ble_b, active */
  open_stores();
  REQUIRE_EQ(uvble_async_new(ble_a, NULL, NULL, &A), 0);
  REQUIRE_EQ(uvble_async_new(ble_b, NULL, NULL, &B), 0);
  uvble_uuid_t su = uvble_uuid16(0xED6E), u1 = uvble_uuid16(0xED01);
  REQUIRE_EQ(uvble_service_new(B, &su, &svc), 0);
  uvble_characteristic_opts_t o = {
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE |
               UVBLE_FLAG_WRITE_NO_RESPONSE | UVBLE_FLAG_NOTIFY |
               UVBLE_FLAG_INDICATE,
      .capture = true};
  REQUIRE_EQ(uvble_characteristic_new(svc, &u1, &o, &chr), 0);
  REQUIRE_EQ(uvble_register_services(B, &svc, 1), 0);
  link_up();
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_connection_service(&f, CA, &su, 2000), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 2000));
  REQUIRE_EQ(f.status, 0);
  REQUIRE_EQ(uvble_client_service_characteristic(&f, f.result.service, &u1,
                                                 2000),
             0);
  REQUIRE(run_until_pred(&loop, done, &f, 2000));
  REQUIRE_EQ(f.status, 0);
  cchr = f.result.characteristic;
}

static int nclosed;
static void on_closed(uvble_async_t *a, void *arg) {
  (void)a;
  (void)arg;
  nclosed++;
}
static bool two_closed(void *arg) {
  (void)arg;
  return nclosed == 2;
}

static void down(void) {
  if (CA) uvble_connection_release(CA);
  if (CB) uvble_connection_release(CB);
  CA = CB = NULL;
  nclosed = 0;
  uvble_async_close(A, on_closed, NULL);
  uvble_async_close(B, on_closed, NULL);
  REQUIRE(run_until_pred(&loop, two_closed, NULL, 3000));
  edge_free_controller();
  run_until_idle(&loop, 5000); /* the handles finish closing */
  loop_teardown(&loop);
  remove_stores();
}

static void dropped_nothing(void) {
  uvble_stats_t st;
  uvble_get_stats(ble_a, &st);
  CHECK_EQ(st.acl_tx_dropped, 0);
  uvble_get_stats(ble_b, &st);
  CHECK_EQ(st.acl_tx_dropped, 0);
}

/* A writes and, in the same turn, disconnects; B must have the value. */
static void write_then_disconnect(int response) {
  up();
  uvble_future_t w = {0}, got = {0}, d = {0};
  uint8_t buf[32];
  REQUIRE_EQ(uvble_characteristic_written(&got, chr, buf, sizeof buf, 3000),
             0);
  /* Fill the link first so the write queues behind other PDUs. */
  for (int i = 0; i < 3; i++)
    CHECK_EQ(uvble_characteristic_notify(chr, CB, "fill", 4), 0);
  REQUIRE_EQ(uvble_client_characteristic_write(&w, cchr, "last words", 10,
                                               response, 3000),
             0);
  REQUIRE_EQ(uvble_connection_disconnect(&d, CA, 3000), 0);
  REQUIRE(run_until_pred(&loop, done, &got, 3000));
  CHECK_EQ(got.status, 0);
  CHECK_EQ(got.len, 10);
  CHECK_MEM(buf, "last words", 10);
  REQUIRE(run_until_pred(&loop, done, &d, 3000));
  CHECK_EQ(d.status, 0);
  REQUIRE(run_until_pred(&loop, done, &w, 3000));
  wait_down();
  dropped_nothing();
  down();
}

/* B notifies or indicates and at once disconnects; A must receive it. */
static void server_push_then_disconnect(bool indicate) {
  up();
  uvble_future_t n = {0}, ind = {0}, d = {0};
  uint8_t buf[32];
  if (indicate)
    REQUIRE_EQ(uvble_client_characteristic_indicated(&n, cchr, buf,
                                                     sizeof buf, 3000),
               0);
  else
    REQUIRE_EQ(uvble_client_characteristic_notified(&n, cchr, buf, sizeof buf,
                                                    3000),
               0);
  run_until_idle(&loop, 5000);
  /* Queue behind a write from A so B's link is busy too. */
  uvble_future_t w = {0};
  REQUIRE_EQ(uvble_client_characteristic_write(&w, cchr, "x", 1, 0, 3000), 0);
  if (indicate)
    REQUIRE_EQ(uvble_characteristic_indicate(&ind, chr, CB, "bye", 3, 3000), 0);
  else
    REQUIRE_EQ(uvble_characteristic_notify(chr, CB, "bye", 3), 0);
  REQUIRE_EQ(uvble_connection_disconnect(&d, CB, 3000), 0);
  REQUIRE(run_until_pred(&loop, done, &n, 3000));
  CHECK_EQ(n.status, 0);
  CHECK_EQ(n.len, 3);
  CHECK_MEM(buf, "bye", 3);
  REQUIRE(run_until_pred(&loop, done, &d, 3000));
  if (indicate) REQUIRE(run_until_pred(&loop, done, &ind, 3000));
  REQUIRE(run_until_pred(&loop, done, &w, 3000));
  wait_down();
  dropped_nothing();
  down();
}

static uint8_t sdu[3000];

static void l2cap_sdu_then_disconnect(void) {
  up();
  uvble_future_t fa = {0}, fb = {0};
  REQUIRE_EQ(uvble_connection_l2cap_accept(&fb, CB, PSM, 3000, 2000), 0);
  REQUIRE_EQ(uvble_connection_l2cap_connect(&fa, CA, PSM, 3000, 2000), 0);
  REQUIRE(run_until_pred(&loop, done, &fa, 2000));
  REQUIRE(run_until_pred(&loop, done, &fb, 2000));
  REQUIRE_EQ(fa.status, 0);
  REQUIRE_EQ(fb.status, 0);
  uvble_l2cap_channel_t *a = fa.result.channel, *b = fb.result.channel;
  for (size_t i = 0; i < sizeof sdu; i++) sdu[i] = (uint8_t)(i * 7);
  uvble_future_t s = {0}, r = {0}, d = {0};
  static uint8_t in[sizeof sdu];
  REQUIRE_EQ(uvble_l2cap_channel_recvinto(&r, b, in, sizeof in, 3000), 0);
  REQUIRE_EQ(uvble_l2cap_channel_send(&s, a, sdu, sizeof sdu, 0, 3000), 0);
  /* The send has handed everything to the link: end it at once. */
  REQUIRE(run_until_pred(&loop, done, &s, 3000));
  CHECK_EQ(s.status, 0);
  REQUIRE_EQ(uvble_connection_disconnect(&d, CA, 3000), 0);
  size_t total = 0;
  while (run_until_pred(&loop, done, &r, 3000) && r.status == 0 && r.len) {
    total += r.len;
    if (total >= sizeof sdu) break;
    REQUIRE_EQ(uvble_l2cap_channel_recvinto(&r, b, in + total,
                                            sizeof in - total, 3000),
               0);
  }
  CHECK_EQ(total, sizeof sdu);
  CHECK_MEM(in, sdu, sizeof sdu);
  REQUIRE(run_until_pred(&loop, done, &d, 3000));
  uvble_l2cap_channel_free(a);
  uvble_l2cap_channel_free(b);
  wait_down();
  dropped_nothing();
  down();
}

/* ---- pairing with bonding, ended at once by either side ------------------ */
static void pair_then_disconnect(bool central_ends) {
  up();
  uvble_future_t p = {0}, d = {0};
  REQUIRE_EQ(uvble_connection_pair(&p, CA, NULL, 5000), 0);
  if (central_ends) {
    REQUIRE(run_until_pred(&loop, done, &p, 5000));
    CHECK_EQ(p.status, 0);
    CHECK(uvble_connection_bonded(CA));
    REQUIRE_EQ(uvble_connection_disconnect(&d, CA, 3000), 0);
  } else {
    /* The peripheral ends the link as soon as it is bonded. */
    RUN_UNTIL(&loop, uvble_connection_bonded(CB) ||
                         !uvble_connection_is_connected(CB), 5000);
    CHECK(uvble_connection_bonded(CB));
    REQUIRE_EQ(uvble_connection_disconnect(&d, CB, 3000), 0);
    REQUIRE(run_until_pred(&loop, done, &p, 5000));
    CHECK_EQ(p.status, 0);
  }
  REQUIRE(run_until_pred(&loop, done, &d, 3000));
  wait_down();
  dropped_nothing();
  CHECK(has_bond(ble_a));
  CHECK(has_bond(ble_b));
  /* Both keep the bond: the next link re-encrypts with it, no SMP. */
  uvble_stats_t before_a, before_b;
  uvble_get_stats(ble_a, &before_a);
  uvble_get_stats(ble_b, &before_b);
  link_up();
  uvble_future_t q = {0};
  REQUIRE_EQ(uvble_connection_pair(&q, CA, NULL, 5000), 0);
  REQUIRE(run_until_pred(&loop, done, &q, 5000));
  CHECK_EQ(q.status, 0);
  CHECK(uvble_connection_encrypted(CA));
  CHECK(uvble_connection_bonded(CA));
  RUN_UNTIL(&loop, uvble_connection_bonded(CB), 5000); /* B's side of it */
  CHECK(uvble_connection_encrypted(CB));
  CHECK(uvble_connection_bonded(CB));
  /* Re-encryption: no SMP PDU crossed the link (only the LTK request). */
  uvble_stats_t after_a, after_b;
  uvble_get_stats(ble_a, &after_a);
  uvble_get_stats(ble_b, &after_b);
  CHECK_EQ(after_a.smp_ltk_refused, before_a.smp_ltk_refused);
  CHECK_EQ(after_b.smp_ltk_refused, before_b.smp_ltk_refused);
  CHECK(conn_first(ble_b) && conn_first(ble_b)->bonded);
  down();
}

#endif
