/* SPDX-License-Identifier: Apache-2.0 */
/* The scripted peer for the GATT client's unit tests: a stack connected (as
 * central) to a scripted controller, where the test plays the remote ATT
 * server. peer_recv() returns the next ATT PDU the client sent (CID 4);
 * peer_send() answers with a PDU from the server. Every irq event is
 * recorded with a copy of its data. Included by tests/unit/test_gattc*.c. */
#ifndef UVBLE_TEST_GATTC_PEER_H
#define UVBLE_TEST_GATTC_PEER_H

#include <stdlib.h>
#include <string.h>

#include "att.h"
#include "conn.h"
#include "sc.h"
#include "test.h"
#include "uvble/gap.h"
#include "uvble/gatt.h"
#include "uvble/gattc.h"

#define CONN 0x0040
static const uint8_t PEER_ADDR[6] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06};

static uv_loop_t loop;
static sc_t *sc;
static uvble_t *ble;

struct ev {
  int type;
  uvble_irq_data_t d;
  uint8_t data[600]; /* copy of d.gattc_data.data */
  size_t len;
};
#define MAX_EVS 512
static struct ev evs[MAX_EVS];
static int nev;
static size_t acl_seen;
static uint8_t peer_role; /* our role on the link: 0 central, 1 peripheral */

/* Optional: runs after an event is recorded (to call the API from inside
 * the irq, as MicroPython apps do). */
static int (*irq_hook)(int ev, const uvble_irq_data_t *d);

static int on_irq(uvble_t *b, int ev, const uvble_irq_data_t *d,
                  void *arg) {
  (void)b;
  (void)arg;
  if (nev < MAX_EVS) {
    struct ev *e = &evs[nev];
    e->type = ev;
    e->d = *d;
    e->len = 0;
    if (ev == UVBLE_IRQ_GATTC_READ_RESULT || ev == UVBLE_IRQ_GATTC_NOTIFY ||
        ev == UVBLE_IRQ_GATTC_INDICATE) {
      e->len = d->gattc_data.data_len;
      if (e->len > sizeof e->data) e->len = sizeof e->data;
      if (e->len) memcpy(e->data, d->gattc_data.data, e->len);
      e->d.gattc_data.data = NULL; /* borrowed: never read after the call */
    }
    nev++;
  }
  return irq_hook ? irq_hook(ev, d) : 0;
}

static inline void peer_up_timeout(unsigned att_timeout_ms) {
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
  uvble_irq(ble, on_irq, NULL);
  sc_connect(sc, CONN, peer_role, PEER_ADDR);
  run_until_idle(&loop, 5000);
  REQUIRE(conn_find(ble, CONN) != NULL);
  run_until_idle(&loop, 5000);
  nev = 0;
  acl_seen = sc_acl_count(sc);
}

static inline void peer_up(void) { peer_up_timeout(0); }

static inline void peer_down(void) {
  irq_hook = NULL;
  sc_tear_down(&loop, sc, ble);
  loop_teardown(&loop);
}

static inline bool acl_pending(void *arg) {
  (void)arg;
  return sc_acl_count(sc) > acl_seen;
}

/* The next ATT PDU from the client (waits up to ms); its length, or 0. */
static inline size_t peer_recv_wait(uint8_t *out, unsigned ms) {
  for (;;) {
    if (!run_until_pred(&loop, acl_pending, NULL, ms)) return 0;
    const struct sc_acl_rec *a = sc_acl(sc, acl_seen++);
    if (a->handle != CONN || a->pb != 0 || a->len < 4) continue;
    size_t l = (size_t)(a->data[0] | (a->data[1] << 8));
    uint16_t cid = (uint16_t)(a->data[2] | (a->data[3] << 8));
    if (cid != L2CAP_CID_ATT) continue;
    if (l > (size_t)a->len - 4) l = (size_t)a->len - 4;
    memcpy(out, a->data + 4, l);
    return l;
  }
}

static inline size_t peer_recv(uint8_t *out) { return peer_recv_wait(out, 200); }

/* Nothing more from the client within ms. */
static inline bool peer_quiet(unsigned ms) {
  /* time must pass: absence is asserted over the caller's window */
  run_for(&loop, ms);
  return sc_acl_count(sc) == acl_seen;
}

static inline void peer_send(const void *pdu, size_t len) {
  uint8_t buf[4 + 600];
  buf[0] = (uint8_t)len;
  buf[1] = (uint8_t)(len >> 8);
  buf[2] = L2CAP_CID_ATT;
  buf[3] = 0;
  memcpy(buf + 4, pdu, len);
  sc_send_acl(sc, CONN, 2, buf, len + 4);
  run_until_idle(&loop, 5000);
}

#define PEER_SEND(...)                                  \
  do {                                                  \
    const uint8_t _p[] = {__VA_ARGS__};                 \
    peer_send(_p, sizeof _p);                           \
  } while (0)

/* Checks that the client's next PDU is exactly the bytes given. */
#define EXPECT_REQ(...)                                               \
  do {                                                                \
    const uint8_t _w[] = {__VA_ARGS__};                               \
    uint8_t _g[600];                                                  \
    size_t _n = peer_recv(_g);                                        \
    CHECK_EQ(_n, sizeof _w);                                          \
    if (_n == sizeof _w) CHECK_MEM(_g, _w, sizeof _w);                \
  } while (0)

struct ev_wait {
  int type;
  int from;
};
static inline bool ev_seen(void *arg) {
  struct ev_wait *w = arg;
  for (int i = w->from; i < nev; i++)
    if (evs[i].type == w->type) return true;
  return false;
}

/* Index of the first event of type at or after from (waiting up to ms). */
static inline int wait_ev(int type, int from, unsigned ms) {
  struct ev_wait w = {type, from};
  run_until_pred(&loop, ev_seen, &w, ms);
  for (int i = from; i < nev; i++)
    if (evs[i].type == type) return i;
  return -1;
}

static inline int count_ev(int type) {
  int n = 0;
  for (int i = 0; i < nev; i++) n += evs[i].type == type;
  return n;
}

static inline uint64_t malformed_count(void) {
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  return st.gattc_rsp_malformed;
}

static inline void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

/* An Error Response from the server. */
static inline void peer_error(uint8_t req, uint16_t handle, uint8_t code) {
  uint8_t p[5] = {ATT_ERROR_RSP, req, 0, 0, code};
  put16(p + 2, handle);
  peer_send(p, sizeof p);
}

#endif
