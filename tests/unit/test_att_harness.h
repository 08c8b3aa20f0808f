/* SPDX-License-Identifier: Apache-2.0 */
/* The scripted client for the ATT bearer's and GATT server's unit tests: a
 * stack connected to a scripted controller where the test plays the remote
 * ATT client (or server). peer_send() injects an ATT PDU on CID 4;
 * host_pdu() returns the next ATT PDU the stack sent. Every irq event is
 * recorded. Included by tests/unit/test_att*.c and test_gatts*.c. */
#ifndef UVBLE_TEST_ATT_HARNESS_H
#define UVBLE_TEST_ATT_HARNESS_H

#include <stdlib.h>
#include <string.h>

#include "att.h"
#include "conn.h"
#include "gatts_internal.h"
#include "sc.h"
#include "test.h"
#include "uvble/gap.h"
#include "uvble/gatt.h"
#include "uvble/gatts.h"

#define CONN 0x0040
static const uint8_t PEER_ADDR[6] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06};

static uv_loop_t loop;
static sc_t *sc;
static uvble_t *ble;

struct ev {
  int type;
  uvble_irq_data_t d;
  uint8_t data[600];
  size_t len;
};
#define MAX_EVS 256
static struct ev evs[MAX_EVS];
static int nev;
static size_t acl_seen; /* sc ACL records already returned by host_pdu */

/* What a READ_REQUEST handler answers, and an optional hook run after each
 * event is recorded (to call the API from inside the irq). */
static int read_request_answer;
static int (*irq_hook)(int ev, const uvble_irq_data_t *d);

static inline int on_irq(uvble_t *b, int ev, const uvble_irq_data_t *d, void *arg) {
  (void)b;
  (void)arg;
  if (nev < MAX_EVS) {
    struct ev *e = &evs[nev++];
    e->type = ev;
    e->d = *d;
    e->len = 0;
    if (ev == UVBLE_IRQ_GATTC_NOTIFY || ev == UVBLE_IRQ_GATTC_INDICATE ||
        ev == UVBLE_IRQ_GATTC_READ_RESULT) {
      e->len = d->gattc_data.data_len < 600 ? d->gattc_data.data_len : 600;
      if (e->len) memcpy(e->data, d->gattc_data.data, e->len);
      e->d.gattc_data.data = NULL;
    }
  }
  int r = irq_hook ? irq_hook(ev, d) : 0;
  if (ev == UVBLE_IRQ_GATTS_READ_REQUEST && !r) r = read_request_answer;
  return r;
}

static inline int count_ev(int type) {
  int n = 0;
  for (int i = 0; i < nev; i++) n += evs[i].type == type;
  return n;
}

static inline const struct ev *last_ev(int type) {
  for (int i = nev - 1; i >= 0; i--)
    if (evs[i].type == type) return &evs[i];
  return NULL;
}

/* Brings a stack up and connects CONN (role 1: we are the peripheral, the
 * test plays the central's GATT client). */
static inline void up_with(unsigned att_timeout_ms, uint8_t role) {
  uv_loop_init(&loop);
  uvble_transport_t *host;
  sc = sc_new(&loop, &host);
  sc_config(sc)->acl_mtu = 600; /* every ATT PDU in one ACL packet */
  sc_config(sc)->acl_pkts = 8;
  sc_config(sc)->auto_complete_acl = true;
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(ble));
  if (att_timeout_ms) att_set_timeout_ms(ble, att_timeout_ms);
  nev = 0;
  irq_hook = NULL;
  read_request_answer = 0;
  uvble_irq(ble, on_irq, NULL);
  sc_connect(sc, CONN, role, PEER_ADDR);
  run_until_idle(&loop, 5000);
  REQUIRE(conn_find(ble, CONN) != NULL);
  run_until_idle(&loop, 5000);
  sc_clear(sc);
  acl_seen = 0;
  nev = 0;
}

static inline void up(void) { up_with(0, 1); }

static inline void down(void) {
  irq_hook = NULL;
  sc_tear_down(&loop, sc, ble);
  loop_teardown(&loop);
}

static inline struct ble_conn *the_conn(void) { return conn_find(ble, CONN); }

/* The peer sends one ATT PDU on CID 4 of connection h. */
static inline void peer_send_on(uint16_t h, const void *pdu, size_t len) {
  uint8_t buf[4 + 1024];
  REQUIRE(len <= 1024);
  put_le16(buf, (uint16_t)len);
  put_le16(buf + 2, L2CAP_CID_ATT);
  memcpy(buf + 4, pdu, len);
  sc_send_acl(sc, h, 2, buf, 4 + len);
}
static inline void peer_send(const void *pdu, size_t len) {
  peer_send_on(CONN, pdu, len);
}
#define PEER(...)                                          \
  do {                                                     \
    static const uint8_t _p[] = {__VA_ARGS__};             \
    peer_send(_p, sizeof _p);                              \
  } while (0)

static inline bool have_acl(void *arg) {
  (void)arg;
  return sc_acl_count(sc) > acl_seen;
}

/* The next ATT PDU the host sent (CID 4), waiting up to ms; its length, or
 * -1 when none came. Each ACL record holds one whole PDU (acl_mtu 600). */
static inline int host_pdu_wait(uint8_t *out, size_t cap, unsigned ms) {
  for (;;) {
    if (!have_acl(NULL) && !run_until_pred(&loop, have_acl, NULL, ms))
      return -1;
    const struct sc_acl_rec *r = sc_acl(sc, acl_seen++);
    if (r->len < 4 || get_le16(r->data + 2) != L2CAP_CID_ATT) continue;
    size_t n = r->len - 4;
    REQUIRE(get_le16(r->data) == n && n <= cap);
    memcpy(out, r->data + 4, n);
    return (int)n;
  }
}
static inline int host_pdu(uint8_t *out, size_t cap) {
  return host_pdu_wait(out, cap, 200);
}

/* Nothing more comes from the host within ms. */
static inline bool host_silent(unsigned ms) {
  uint8_t tmp[600];
  return host_pdu_wait(tmp, sizeof tmp, ms) < 0;
}

/* Sends a request and returns the response in rsp (length). */
static inline int transact(const uint8_t *req, size_t len, uint8_t *rsp) {
  peer_send(req, len);
  return host_pdu(rsp, 600);
}
#define TRANSACT(rsp, ...)                                 \
  ({                                                       \
    static const uint8_t _q[] = {__VA_ARGS__};             \
    transact(_q, sizeof _q, rsp);                          \
  })

/* Asserts rsp is an Error Response to op about handle with code. */
#define CHECK_ERR(rsp, n, op, handle, code)                \
  do {                                                     \
    CHECK_EQ((n), 5);                                      \
    CHECK_EQ((rsp)[0], ATT_ERROR_RSP);                     \
    CHECK_EQ((rsp)[1], (op));                              \
    CHECK_EQ(get_le16((rsp) + 2), (handle));               \
    CHECK_EQ((rsp)[4], (code));                            \
  } while (0)

/* ---- the test database (see test_gatts.c for the handle map) ---- */
enum {
  H_SVC_A = 10, H_C1_DECL, H_C1, H_C1_CCCD, H_D1, H_C2_DECL, H_C2, H_C3_DECL,
  H_C3, H_C4_DECL, H_C4, H_C4_CCCD, H_C5_DECL, H_C5, H_C6_DECL, H_C6,
  H_C7_DECL, H_C7, H_C8_DECL, H_C8, H_SVC_B, H_C9_DECL, H_C9, H_C9_CEP,
  H_C10_DECL, H_C10, H_C10_CCCD, H_LAST = H_C10_CCCD
};

static inline uvble_uuid_t nus(uint8_t which) {
  uvble_uuid_t u;
  uvble_uuid_parse(&u, "6e400001-b5a3-f393-e0a9-e50e24dcca9e");
  u.data[12] = which; /* 6e4000xx: byte 12 of the little-endian form */
  return u;
}

/* Registers the test database; returns the number of handles. */
static inline int register_test_db(uint16_t *h, size_t cap) {
  static uvble_gatts_descriptor_t d1[1];
  static uvble_gatts_characteristic_t a[8], b[2];
  static uvble_gatts_service_t s[2];
  d1[0] = (uvble_gatts_descriptor_t){
      .uuid = uvble_uuid16(0xA101),
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE};
  const uint16_t R = UVBLE_FLAG_READ, W = UVBLE_FLAG_WRITE;
  a[0] = (uvble_gatts_characteristic_t){
      .uuid = uvble_uuid16(0xA001),
      .flags = R | W | UVBLE_FLAG_NOTIFY | UVBLE_FLAG_INDICATE,
      .descriptors = d1, .num_descriptors = 1};
  a[1] = (uvble_gatts_characteristic_t){.uuid = uvble_uuid16(0xA002), .flags = R};
  a[2] = (uvble_gatts_characteristic_t){.uuid = uvble_uuid16(0xA003), .flags = W};
  a[3] = (uvble_gatts_characteristic_t){
      .uuid = uvble_uuid16(0xA004),
      .flags = R | W | UVBLE_FLAG_READ_ENCRYPTED | UVBLE_FLAG_WRITE_ENCRYPTED |
               UVBLE_FLAG_NOTIFY};
  a[4] = (uvble_gatts_characteristic_t){
      .uuid = uvble_uuid16(0xA005),
      .flags = R | W | UVBLE_FLAG_READ_AUTHENTICATED |
               UVBLE_FLAG_WRITE_AUTHENTICATED};
  a[5] = (uvble_gatts_characteristic_t){
      .uuid = uvble_uuid16(0xA006),
      .flags = R | W | UVBLE_FLAG_READ_AUTHORIZED | UVBLE_FLAG_WRITE_AUTHORIZED};
  a[6] = (uvble_gatts_characteristic_t){
      .uuid = uvble_uuid16(0xA007), .flags = R | W, .max_length = 8};
  a[7] = (uvble_gatts_characteristic_t){.uuid = uvble_uuid16(0xA008),
                                        .flags = R | W,
                                        .max_length = 4,
                                        .fixed_length = true};
  b[0] = (uvble_gatts_characteristic_t){
      .uuid = nus(2),
      .flags = W | UVBLE_FLAG_WRITE_NO_RESPONSE | UVBLE_FLAG_AUX_WRITE};
  b[1] = (uvble_gatts_characteristic_t){.uuid = nus(3),
                                        .flags = UVBLE_FLAG_NOTIFY};
  s[0] = (uvble_gatts_service_t){.uuid = uvble_uuid16(0xAAAA),
                                 .characteristics = a,
                                 .num_characteristics = 8};
  s[1] = (uvble_gatts_service_t){
      .uuid = nus(1), .characteristics = b, .num_characteristics = 2};
  return uvble_gatts_register_services(ble, s, 2, h, cap);
}

/* up() with the test database registered. */
static inline void up_db(void) {
  up();
  uint16_t h[16];
  REQUIRE_EQ(register_test_db(h, 16), 11);
}

#endif
