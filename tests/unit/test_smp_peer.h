/* SPDX-License-Identifier: Apache-2.0 */
/* A scripted SMP peer for unit tests: one uvble host on the scripted
 * controller (sc), the test playing the other side's Security Manager PDU
 * by PDU with the crypto toolbox (computing what the Core Specification
 * says the values are), and injecting the controller's encryption events. */
#ifndef UVBLE_TEST_SMP_PEER_H
#define UVBLE_TEST_SMP_PEER_H

#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "crypto.h"
#include "sc.h"
#include "smp_internal.h"
#include "test.h"
#include "uvble/gap.h"
#include "uvble/security.h"

/* Helpers a test file may leave unused. */
#define PEER_FN static __attribute__((unused))

static uv_loop_t loop;
static sc_t *sc;
static uvble_t *ble;

#define H 0x0040
#define NO_LINK 0xff /* bring(NO_LINK): no connection */
/* The peer's address (public), HCI order; ours is sc's 00:AA:01:00:00:42. */
static const uint8_t PEER[6] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66};
static const uint8_t OWN[6] = {0x42, 0x00, 0x00, 0x01, 0xaa, 0x00};

/* ---- what the app saw ---- */
static int enc_events, passkey_events, gets, sets;
static uvble_evt_encryption_t enc;
static uvble_evt_passkey_t pk_ev;
static bool app_secrets = true;
static int answer_input = -1; /* >= 0: typed from the irq handler */

#define NSEC 16
static struct {
  bool used;
  uint8_t type, key[16], val[128];
  size_t klen, vlen;
} secs[NSEC];

PEER_FN int nsecs(uint8_t type) {
  int n = 0;
  for (int i = 0; i < NSEC; i++) n += secs[i].used && secs[i].type == type;
  return n;
}

PEER_FN int find_sec(uint8_t type, const uint8_t *k, size_t n) {
  for (int i = 0; i < NSEC; i++)
    if (secs[i].used && secs[i].type == type && secs[i].klen == n &&
        !memcmp(secs[i].key, k, n))
      return i;
  return -1;
}

PEER_FN int peer_irq(uvble_t *b, int ev, const uvble_irq_data_t *d, void *arg) {
  (void)arg;
  switch (ev) {
    case UVBLE_IRQ_ENCRYPTION_UPDATE:
      enc_events++;
      enc = d->encryption;
      return 0;
    case UVBLE_IRQ_PASSKEY_ACTION:
      passkey_events++;
      pk_ev = d->passkey;
      if (d->passkey.action == UVBLE_PASSKEY_ACTION_INPUT && answer_input >= 0)
        uvble_gap_passkey(b, d->passkey.conn_handle, 2, (uint32_t)answer_input);
      return 0;
    case UVBLE_IRQ_GET_SECRET: {
      gets++;
      const uvble_evt_get_secret_t *g = &d->get_secret;
      if (!app_secrets) return 0;
      int i = -1;
      if (g->key) {
        i = find_sec(g->sec_type, g->key, g->key_len);
      } else { /* the index-th value of the type */
        for (int j = 0, n = 0; j < NSEC && i < 0; j++)
          if (secs[j].used && secs[j].type == g->sec_type && n++ == g->index)
            i = j;
      }
      if (i < 0 || secs[i].vlen > g->value_cap) return 0;
      memcpy(g->value, secs[i].val, secs[i].vlen);
      *g->value_len = secs[i].vlen;
      return 1;
    }
    case UVBLE_IRQ_SET_SECRET: {
      sets++;
      const uvble_evt_set_secret_t *e = &d->set_secret;
      if (!app_secrets || e->key_len > 16 || e->value_len > 128) return 0;
      int i = find_sec(e->sec_type, e->key, e->key_len);
      if (!e->value) {
        if (i >= 0) secs[i].used = false;
        return 1;
      }
      for (int j = 0; i < 0 && j < NSEC; j++)
        if (!secs[j].used) i = j;
      if (i < 0) return 0;
      secs[i].used = true;
      secs[i].type = e->sec_type;
      memcpy(secs[i].key, e->key, e->key_len);
      secs[i].klen = e->key_len;
      memcpy(secs[i].val, e->value, e->value_len);
      secs[i].vlen = e->value_len;
      return 1;
    }
    default:
      return 0;
  }
}

static size_t acl_cursor; /* host PDUs already read */

/* ---- the controller ---- */
PEER_FN bool answer_enable_encryption(sc_t *s, const struct sc_cmd_rec *c,
                                     void *arg) {
  (void)c;
  sc_send_cs(s, 0x2019, (uint8_t)(uintptr_t)arg);
  return true;
}

PEER_FN void bring(uint8_t role) {
  uv_loop_init(&loop);
  uvble_transport_t *host;
  sc = sc_new(&loop, &host);
  sc_config(sc)->acl_mtu = 251; /* one SMP PDU per ACL packet */
  sc_config(sc)->acl_pkts = 8;
  sc_config(sc)->auto_complete_acl = true;
  sc_on_cmd(sc, 0x2019, answer_enable_encryption, (void *)0);
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(ble));
  enc_events = passkey_events = gets = sets = 0;
  memset(&enc, 0, sizeof enc);
  memset(secs, 0, sizeof secs);
  app_secrets = true;
  answer_input = -1;
  uvble_irq(ble, peer_irq, NULL);
  if (role != NO_LINK) {
    sc_connect(sc, H, role, PEER);
    run_until_idle(&loop, 5000);
    REQUIRE(conn_find(ble, H) != NULL);
  }
  sc_clear(sc);
  acl_cursor = 0;
}

PEER_FN void finish(void) {
  sc_tear_down(&loop, sc, ble);
  loop_teardown(&loop);
}

/* ---- SMP PDUs ---- */

/* The next SMP PDU the host sent (code first); its length, 0 when none. */
PEER_FN size_t smp_out(uint8_t *pdu, size_t cap) {
  /* What the host sent last reaches the controller on a later iteration. */
  if (acl_cursor >= sc_acl_count(sc)) run_until_idle(&loop, 5000);
  while (acl_cursor < sc_acl_count(sc)) {
    const struct sc_acl_rec *a = sc_acl(sc, acl_cursor++);
    if (a->len < 4 || a->data[2] != 0x06 || a->data[3] != 0) continue;
    size_t n = a->len - 4u;
    memcpy(pdu, a->data + 4, n < cap ? n : cap);
    return n;
  }
  return 0;
}

PEER_FN void smp_in(const void *pdu, size_t len) {
  uint8_t buf[4 + 128];
  buf[0] = (uint8_t)len;
  buf[1] = 0;
  buf[2] = 0x06;
  buf[3] = 0;
  memcpy(buf + 4, pdu, len);
  sc_send_acl(sc, H, 2, buf, 4 + len);
  run_until_idle(&loop, 5000);
}

PEER_FN void smp_in2(uint8_t code, const void *data, size_t len) {
  uint8_t buf[128];
  buf[0] = code;
  memcpy(buf + 1, data, len);
  smp_in(buf, len + 1);
}

PEER_FN void copy_out(void *out, const void *src, size_t n) {
  if (out) memcpy(out, src, n);
}

/* Expects the next PDU to be code with len bytes after it; copies them. */
#define EXPECT_PDU(code, len, out)                                      \
  do {                                                                  \
    uint8_t _p[128];                                                    \
    size_t _n = smp_out(_p, sizeof _p);                                 \
    REQUIRE_EQ(_n, (size_t)(len) + 1);                                  \
    REQUIRE_EQ(_p[0], (code));                                          \
    copy_out((out), _p + 1, (len));                                     \
  } while (0)

#define EXPECT_FAILED(reason)                         \
  do {                                                \
    uint8_t _r;                                       \
    EXPECT_PDU(SMP_PAIRING_FAILED, 1, &_r);           \
    CHECK_EQ(_r, (reason));                           \
  } while (0)

#define EXPECT_NOTHING() CHECK_EQ(smp_out((uint8_t[128]){0}, 128), 0)

/* ---- controller events ---- */
PEER_FN void inject_ltk_request(uint16_t ediv, const uint8_t rand[8]) {
  uint8_t e[13] = {0x05};
  put_le16(e + 1, H);
  memcpy(e + 3, rand, 8);
  put_le16(e + 11, ediv);
  sc_send_event(sc, 0x3E, e, sizeof e);
  run_until_idle(&loop, 5000);
}

PEER_FN void inject_enc_change(uint8_t status, uint8_t on) {
  uint8_t e[4] = {status, 0, 0, on};
  put_le16(e + 1, H);
  sc_send_event(sc, 0x08, e, 4);
  run_until_idle(&loop, 5000);
}

/* The key the host handed to LTK Request Reply (n-th), or false. */
PEER_FN bool ltk_replied(int n, uint8_t ltk[16]) {
  int i = sc_find_cmd(sc, 0x201A, n);
  if (i < 0) return false;
  const struct sc_cmd_rec *c = sc_cmd(sc, (size_t)i);
  if (c->len != 18 || get_le16(c->params) != H) return false;
  memcpy(ltk, c->params + 2, 16);
  return true;
}

/* The n-th LE Enable Encryption: key, EDIV, Rand. */
PEER_FN bool enc_started(int n, uint8_t ltk[16], uint16_t *ediv,
                        uint8_t rand[8]) {
  run_until_idle(&loop, 5000);
  int i = sc_find_cmd(sc, 0x2019, n);
  if (i < 0) return false;
  const struct sc_cmd_rec *c = sc_cmd(sc, (size_t)i);
  if (c->len != 28 || get_le16(c->params) != H) return false;
  memcpy(rand, c->params + 2, 8);
  *ediv = get_le16(c->params + 10);
  memcpy(ltk, c->params + 12, 16);
  return true;
}

/* ---- the peer's side of the pairing functions ---- */
struct peer {
  bool central;        /* the script plays the central */
  uint8_t preq[7], pres[7];
  uint8_t priv[32], pub[64], host_pub[64];
  uint8_t n_own[16], n_host[16], c_host[16];
  uint8_t dhkey[32], mackey[16], ltk[16];
  uint8_t tk[16];
};

/* Initiator / responder addresses: the central is whoever the script is
 * not. */
PEER_FN void addrs(const struct peer *p, const uint8_t **ia, const uint8_t **ra) {
  *ia = p->central ? PEER : OWN;
  *ra = p->central ? OWN : PEER;
}

PEER_FN void legacy_confirm(const struct peer *p, const uint8_t r[16],
                           uint8_t out[16]) {
  const uint8_t *ia, *ra;
  addrs(p, &ia, &ra);
  REQUIRE_EQ(uvble_sm_c1(p->tk, r, p->preq, p->pres, 0, ia, 0, ra, out), 0);
}

/* Stage 2 of Secure Connections: MacKey and LTK from the DHKey, Ea, Eb. */
PEER_FN void sc_checks(struct peer *p, const uint8_t r[16], uint8_t ea[16],
                      uint8_t eb[16]) {
  const uint8_t *a, *b;
  addrs(p, &a, &b);
  const uint8_t *na = p->central ? p->n_own : p->n_host;
  const uint8_t *nb = p->central ? p->n_host : p->n_own;
  REQUIRE_EQ(uvble_sm_f5(p->dhkey, na, nb, 0, a, 0, b, p->mackey, p->ltk), 0);
  REQUIRE_EQ(uvble_sm_f6(p->mackey, na, nb, r, p->preq + 1, 0, a, 0, b, ea), 0);
  REQUIRE_EQ(uvble_sm_f6(p->mackey, nb, na, r, p->pres + 1, 0, b, 0, a, eb), 0);
}

#endif
