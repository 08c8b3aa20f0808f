/* SPDX-License-Identifier: Apache-2.0 */
/* Controller ACL buffers kept busy (issue 15): with the buffer shapes of
 * Zephyr's controller (7 x 27 bytes stock, 10 x 251 with Data Length
 * Extension) the host keeps every buffer in use while it has data, shares
 * them fairly between links, and accounts Number Of Completed Packets per
 * connection handle (Vol 4, Part E, 4.1.1 and 7.7.19). */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "sc.h"
#include "test.h"

static uv_loop_t loop;
static const uint8_t PEER[6] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06};

static void bring(sc_t **sc, uvble_t **ble, uint16_t mtu, uint8_t pkts) {
  uv_loop_init(&loop);
  REQUIRE_EQ(sc_bring_up_acl(&loop, mtu, pkts, sc, ble), 0);
  REQUIRE(uvble_is_active(*ble));
  REQUIRE_EQ((*ble)->hci.acl_total, pkts);
  REQUIRE_EQ((*ble)->hci.acl_mtu, mtu);
}

static void down(sc_t *sc, uvble_t *ble) {
  sc_tear_down(&loop, sc, ble);
  loop_teardown(&loop);
}

static struct ble_conn *link_up(sc_t *sc, uvble_t *ble, uint16_t handle) {
  sc_connect(sc, handle, 0, PEER);
  run_until_idle(&loop, 5000);
  struct ble_conn *c = conn_find(ble, handle);
  REQUIRE(c != NULL);
  return c;
}

/* Queues a PDU of payload bytes (each byte tagged) on c's ATT channel. */
static void queue(uvble_t *ble, struct ble_conn *c, size_t payload,
                  uint8_t tag) {
  static uint8_t buf[2048];
  memset(buf, tag, payload);
  uvble_iov_t iov = {buf, payload};
  REQUIRE_EQ(l2cap_send_pdu(ble, c, L2CAP_CID_ATT, &iov, 1), 0);
}

/* Packets the controller has seen for handle. */
static unsigned seen(const sc_t *sc, uint16_t handle) {
  unsigned n = 0;
  for (size_t i = 0; i < sc_acl_count(sc); i++)
    if (sc_acl(sc, i)->handle == handle) n++;
  return n;
}

/* Number Of Completed Packets for several handles in one event. */
static void completed2(sc_t *sc, uint16_t h1, uint16_t n1, uint16_t h2,
                       uint16_t n2) {
  uint8_t p[9] = {2,
                  (uint8_t)h1,
                  (uint8_t)(h1 >> 8),
                  (uint8_t)n1,
                  (uint8_t)(n1 >> 8),
                  (uint8_t)h2,
                  (uint8_t)(h2 >> 8),
                  (uint8_t)n2,
                  (uint8_t)(n2 >> 8)};
  sc_send_event(sc, 0x13, p, sizeof p);
  run_until_idle(&loop, 5000);
}

TEST(stock_7x27_every_buffer_busy_and_fair_across_two_links) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 7);
  struct ble_conn *a = link_up(sc, ble, 0x40);
  struct ble_conn *b = link_up(sc, ble, 0x41);
  /* One link alone gets every buffer: seven 27-byte packets at once. */
  for (int i = 0; i < 7; i++) queue(ble, a, 23, 0xA0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(sc_acl_count(sc), 7);
  CHECK_EQ(ble->hci.acl_free, 0);
  CHECK_EQ(a->acl_in_flight, 7);
  /* Both links have more than the controller holds. */
  for (int i = 0; i < 20; i++) {
    queue(ble, a, 23, 0xA1);
    queue(ble, b, 23, 0xB1);
  }
  run_until_idle(&loop, 5000);
  CHECK_EQ(sc_acl_count(sc), 7); /* no buffer, nothing sent */
  /* The first 7 complete: the next 7 are shared, 4 and 3. */
  sc_send_completed(sc, 0x40, 7);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(sc_acl_count(sc), 14);
  CHECK_EQ(ble->hci.acl_free, 0);
  unsigned na = seen(sc, 0x40) - 7, nb = seen(sc, 0x41);
  CHECK_EQ(na + nb, 7);
  CHECK(na >= 3 && na <= 4 && nb >= 3 && nb <= 4);
  CHECK_EQ(a->acl_in_flight, na);
  CHECK_EQ(b->acl_in_flight, nb);
  /* Consecutive packets alternate between the links. */
  for (size_t i = 8; i < 14; i++)
    CHECK(sc_acl(sc, i)->handle != sc_acl(sc, i - 1)->handle);
  /* Completions per handle: every freed buffer is refilled at once. */
  for (int round = 0; round < 4; round++) {
    size_t before = sc_acl_count(sc);
    uint16_t ca = a->acl_in_flight, cb = b->acl_in_flight;
    completed2(sc, 0x40, ca, 0x41, cb);
    CHECK_EQ(sc_acl_count(sc), before + ca + cb);
    CHECK_EQ(ble->hci.acl_free, 0);
    CHECK_EQ(a->acl_in_flight + b->acl_in_flight, 7);
    unsigned sa = seen(sc, 0x40), sb = seen(sc, 0x41);
    /* Fair: after the first 7 that link A had alone, within one. */
    CHECK(sa - 7 <= sb + 1 && sb <= sa - 7 + 1);
  }
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.acl_credits_bogus, 0);
  down(sc, ble);
}

TEST(dle_10x251_fragments_fill_every_buffer) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 251, 10);
  struct ble_conn *a = link_up(sc, ble, 0x40);
  struct ble_conn *b = link_up(sc, ble, 0x41);
  queue(ble, a, 1000, 0xA0); /* 1004 bytes: 4 fragments of 251 */
  queue(ble, b, 247, 0xB0);  /* 251: one */
  queue(ble, a, 600, 0xA1);  /* 604: 251 + 251 + 102 */
  queue(ble, b, 247, 0xB1);
  queue(ble, b, 247, 0xB2);
  queue(ble, b, 247, 0xB3); /* the eleventh fragment waits */
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(sc_acl_count(sc), 10);
  CHECK_EQ(ble->hci.acl_free, 0);
  CHECK_EQ(a->acl_in_flight, 7);
  CHECK_EQ(b->acl_in_flight, 3);
  for (size_t i = 0; i < sc_acl_count(sc); i++)
    CHECK(sc_acl(sc, i)->len <= 251);
  /* A's packets in order rebuild its two PDUs. */
  static uint8_t got[1608];
  size_t off = 0;
  for (size_t i = 0; i < sc_acl_count(sc); i++) {
    const struct sc_acl_rec *r = sc_acl(sc, i);
    if (r->handle != 0x40) continue;
    REQUIRE(off + r->len <= sizeof got);
    memcpy(got + off, r->data, r->len);
    off += r->len;
  }
  REQUIRE_EQ(off, 1608);
  CHECK_EQ(got[0] | got[1] << 8, 1000);
  CHECK_EQ(got[4], 0xA0);
  CHECK_EQ(got[1003], 0xA0);
  CHECK_EQ(got[1004] | got[1005] << 8, 600);
  CHECK_EQ(got[1607], 0xA1);
  /* One buffer back from B: B's last PDU takes it. */
  sc_send_completed(sc, 0x41, 1);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(sc_acl_count(sc), 11);
  CHECK_EQ(sc_acl(sc, 10)->handle, 0x41);
  CHECK_EQ(ble->hci.acl_free, 0);
  down(sc, ble);
}

TEST(completed_packets_are_accounted_per_handle) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 7);
  struct ble_conn *a = link_up(sc, ble, 0x40);
  struct ble_conn *b = link_up(sc, ble, 0x41);
  for (int i = 0; i < 4; i++) queue(ble, a, 23, 0xA0);
  for (int i = 0; i < 3; i++) queue(ble, b, 23, 0xB0);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(ble->hci.acl_free, 0);
  /* More than B holds is clamped to B's three and counted; A's buffers
   * are not touched by it. */
  completed2(sc, 0x41, 5, 0x40, 1);
  CHECK_EQ(b->acl_in_flight, 0);
  CHECK_EQ(a->acl_in_flight, 3);
  CHECK_EQ(ble->hci.acl_free, 4);
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.acl_credits_bogus, 1);
  /* A handle that is not a link: counted, nothing freed. */
  sc_send_completed(sc, 0x55, 2);
  run_until_idle(&loop, 5000);
  CHECK_EQ(ble->hci.acl_free, 4);
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.acl_credits_bogus, 2);
  /* A disconnection returns the buffers its handle held, no others. */
  sc_disconnect(sc, 0x40, 0x13);
  run_until_idle(&loop, 5000);
  CHECK_EQ(ble->hci.acl_free, 7);
  CHECK_EQ(b->acl_in_flight, 0);
  down(sc, ble);
}

TEST_MAIN()
