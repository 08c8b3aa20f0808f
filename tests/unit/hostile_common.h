/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the hostile-input regression tests (test_hostile_*.c): one
 * uvble host on the scripted controller with a connection, the test playing
 * a hostile peer (or controller) byte by byte. Each test sends one class of
 * malformed input the SweynTooth family and its relatives exploit, asserts
 * the Core Specification's response and the counter that records it, and
 * then checks the stack still works: alive() has the peer read the Device
 * Name over ATT, which needs the HCI event path, ACL reassembly, L2CAP
 * routing and the ATT server all in order. */
#ifndef UVBLE_TEST_HOSTILE_COMMON_H
#define UVBLE_TEST_HOSTILE_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "sc.h"
#include "test.h"
#include "uvble/gap.h"
#include "uvble/gatt.h"
#include "uvble/gatts.h"
#include "uvble/l2cap.h"

#define HFN static __attribute__((unused))

static uv_loop_t loop;
static sc_t *sc;
static uvble_t *ble;
#define H 0x0040
static const uint8_t PEER[6] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66};
#define GAP_NAME "hostile-test"

/* ---- what the app saw ---- */
#define MAX_EV 256
struct hev {
  int type;
  uvble_irq_data_t d; /* pointers inside are not kept */
};
static struct hev evs[MAX_EV];
static int nev;
static int accept_ret;

static int hostile_irq(uvble_t *b, int type, const uvble_irq_data_t *d,
                       void *arg) {
  (void)b;
  (void)arg;
  if (nev < MAX_EV) {
    evs[nev].type = type;
    evs[nev].d = *d;
    nev++;
  }
  return type == UVBLE_IRQ_L2CAP_ACCEPT ? accept_ret : 0;
}

HFN int count_ev(int type) {
  int n = 0;
  for (int i = 0; i < nev; i++) n += evs[i].type == type;
  return n;
}

HFN const uvble_irq_data_t *last_ev(int type) {
  for (int i = nev - 1; i >= 0; i--)
    if (evs[i].type == type) return &evs[i].d;
  return NULL;
}

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
    if (a->pb != 1) have = want = 0;
    if (have + a->len > sizeof cur.d + 4) continue;
    memcpy((uint8_t *)&cur.d + have, a->data, a->len);
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

/* Index of the next PDU the host will send: pass it to sent_on. */
HFN int mark(void) {
  run_until_idle(&loop, 5000);
  collect();
  return npdus;
}

/* The n-th PDU on cid from `from` on, or NULL. */
HFN const struct pdu *sent_on(uint16_t cid, int from, int n) {
  run_until_idle(&loop, 5000);
  collect();
  for (int i = from; i < npdus; i++)
    if (pdus[i].cid == cid && n-- == 0) return &pdus[i];
  return NULL;
}

HFN int count_on(uint16_t cid, int from) {
  collect();
  int n = 0;
  for (int i = from; i < npdus; i++) n += pdus[i].cid == cid;
  return n;
}

/* ---- injecting ---- */
/* One raw ACL packet: pb 2 start, 1 continuation. */
HFN void acl_raw(uint8_t pb, const void *d, size_t len) {
  sc_send_acl(sc, H, pb, d, len);
  run_until_idle(&loop, 5000);
}

/* A whole L2CAP PDU (basic header made here) in one ACL start. */
HFN void l2cap_in(uint16_t cid, const void *d, size_t len) {
  uint8_t buf[4096];
  buf[0] = (uint8_t)len;
  buf[1] = (uint8_t)(len >> 8);
  buf[2] = (uint8_t)cid;
  buf[3] = (uint8_t)(cid >> 8);
  if (len) memcpy(buf + 4, d, len);
  acl_raw(2, buf, len + 4);
}

HFN void att_in(const void *d, size_t len) { l2cap_in(L2CAP_CID_ATT, d, len); }

HFN void sig_in(uint8_t code, uint8_t ident, const void *d, size_t len) {
  uint8_t b[512];
  b[0] = code;
  b[1] = ident;
  b[2] = (uint8_t)len;
  b[3] = (uint8_t)(len >> 8);
  if (len) memcpy(b + 4, d, len);
  l2cap_in(L2CAP_CID_LE_SIGNALING, b, 4 + len);
}

/* ---- the stack under test ---- */
/* A fresh stack with one connection; role 1: we are the peripheral. */
HFN void bring(uint8_t role) {
  uv_loop_init(&loop);
  uvble_transport_t *host;
  sc = sc_new(&loop, &host);
  sc_config(sc)->acl_mtu = 251; /* every PDU the host sends in one packet */
  sc_config(sc)->acl_pkts = 8;
  sc_config(sc)->auto_complete_acl = true;
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  REQUIRE_EQ(uvble_config_set_name(ble, GAP_NAME, strlen(GAP_NAME)), 0);
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(ble));
  nev = 0;
  npdus = 0;
  acl_seen = 0;
  accept_ret = 0;
  uvble_irq(ble, hostile_irq, NULL);
  sc_clear(sc);
  sc_connect(sc, H, role, PEER);
  run_until_idle(&loop, 5000);
  REQUIRE(conn_find(ble, H) != NULL);
}

HFN void finish(void) {
  sc_tear_down(&loop, sc, ble);
  loop_teardown(&loop);
}

HFN uvble_stats_t stats(void) {
  uvble_stats_t s;
  uvble_get_stats(ble, &s);
  return s;
}

HFN uvble_l2cap_stats_t l2stats(void) {
  uvble_l2cap_stats_t s;
  uvble_l2cap_get_stats(ble, &s);
  return s;
}

/* The peer reads the Device Name (handle 3) and gets it: the whole receive
 * and transmit path works. */
#define alive() alive_at(__FILE__, __LINE__)
HFN void alive_at(const char *file, int line) {
  REQUIRE(conn_find(ble, H) != NULL);
  int m = mark();
  uint8_t req[3] = {0x0A, UVBLE_GATTS_DEVICE_NAME_HANDLE, 0};
  att_in(req, 3);
  const struct pdu *p = sent_on(L2CAP_CID_ATT, m, 0);
  if (!p || p->len != 1 + strlen(GAP_NAME) || p->d[0] != 0x0B ||
      memcmp(p->d + 1, GAP_NAME, strlen(GAP_NAME)) != 0) {
    test_fail(file, line, "the stack no longer answers a Read Request");
    return;
  }
}

#endif
