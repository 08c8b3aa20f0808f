/* SPDX-License-Identifier: Apache-2.0 */
/* ACL data path against a scripted controller: fragmentation, buffer
 * credits, round-robin, reassembly, and malformed input. */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "uvble/gap.h"
#include "sc.h"
#include "test.h"

static uv_loop_t loop;
static const uint8_t PEER[6] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06};

struct rx_log {
  int count;
  size_t len[16];
  uint8_t data[16][600];
};
static struct rx_log rxlog;

static void on_att(uvble_t *ble, struct ble_conn *conn, const uint8_t *d,
                   size_t n) {
  (void)ble;
  (void)conn;
  if (rxlog.count < 16) {
    rxlog.len[rxlog.count] = n;
    memcpy(rxlog.data[rxlog.count], d, n < 600 ? n : 600);
  }
  rxlog.count++;
}

static int irq_events[64], nirq;
static uvble_irq_data_t last_irq;
static int on_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d, void *arg) {
  (void)ble;
  (void)arg;
  /* Only link events matter here (SMP may ask for secrets on a link). */
  if (ev == UVBLE_IRQ_GET_SECRET || ev == UVBLE_IRQ_SET_SECRET) return 0;
  if (nirq < 64) irq_events[nirq++] = ev;
  last_irq = *d;
  return 0;
}

static void bring(sc_t **sc, uvble_t **ble, uint16_t mtu, uint8_t pkts) {
  uv_loop_init(&loop);
  REQUIRE_EQ(sc_bring_up_acl(&loop, mtu, pkts, sc, ble), 0);
  REQUIRE(uvble_is_active(*ble));
  memset(&rxlog, 0, sizeof rxlog);
  nirq = 0;
  uvble_irq(*ble, on_irq, NULL);
  l2cap_register_fixed(*ble, L2CAP_CID_ATT, on_att);
  sc_clear(*sc);
}

static void down(sc_t *sc, uvble_t *ble) {
  sc_tear_down(&loop, sc, ble);
  loop_teardown(&loop);
}

static struct ble_conn *connect_as(sc_t *sc, uvble_t *ble, uint16_t handle,
                                   uint8_t role) {
  sc_connect(sc, handle, role, PEER);
  run_until_idle(&loop, 5000);
  return conn_find(ble, handle);
}

TEST(connection_events_carry_role_and_display_order_address) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 4);
  REQUIRE(connect_as(sc, ble, 0x40, 1) != NULL);
  REQUIRE_EQ(nirq, 1);
  CHECK_EQ(irq_events[0], UVBLE_IRQ_CENTRAL_CONNECT); /* we are peripheral */
  CHECK_EQ(last_irq.connect.conn_handle, 0x40);
  char s[UVBLE_ADDR_STR_LEN];
  CHECK_STR(uvble_addr_to_str(&last_irq.connect.addr, s), "06:05:04:03:02:01");
  REQUIRE(connect_as(sc, ble, 0x41, 0) != NULL);
  CHECK_EQ(irq_events[1], UVBLE_IRQ_PERIPHERAL_CONNECT);
  /* A duplicate handle is ignored and counted. */
  sc_connect(sc, 0x41, 0, PEER);
  run_until_idle(&loop, 5000);
  CHECK_EQ(nirq, 2);
  CHECK_EQ(uvble_gap_disconnect(ble, 0x41), 1);
  run_until_idle(&loop, 5000);
  CHECK_EQ(irq_events[2], UVBLE_IRQ_PERIPHERAL_DISCONNECT);
  CHECK_EQ(uvble_gap_disconnect(ble, 0x41), 0); /* no longer connected */
  sc_disconnect(sc, 0x40, 0x13);
  run_until_idle(&loop, 5000);
  CHECK_EQ(irq_events[3], UVBLE_IRQ_CENTRAL_DISCONNECT);
  CHECK_EQ(last_irq.connect.conn_handle, 0x40);
  down(sc, ble);
}

TEST(fragments_to_controller_mtu_and_waits_for_credits) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 2);
  struct ble_conn *c = connect_as(sc, ble, 0x40, 0);
  REQUIRE(c);
  uint8_t payload[100];
  for (int i = 0; i < 100; i++) payload[i] = (uint8_t)i;
  uvble_iov_t iov = {payload, sizeof payload};
  REQUIRE_EQ(l2cap_send_pdu(ble, c, 0x0004, &iov, 1), 0);
  run_until_idle(&loop, 5000);
  /* 104 bytes in 27-byte fragments, but only 2 buffers. */
  REQUIRE_EQ(sc_acl_count(sc), 2);
  CHECK_EQ(sc_acl(sc, 0)->pb, 0);
  CHECK_EQ(sc_acl(sc, 0)->len, 27);
  CHECK_EQ(sc_acl(sc, 0)->data[0], 100); /* L2CAP length LSB */
  CHECK_EQ(sc_acl(sc, 0)->data[2], 0x04); /* CID */
  CHECK_EQ(sc_acl(sc, 1)->pb, 1);
  CHECK_EQ(ble->hci.acl_free, 0);
  sc_send_completed(sc, 0x40, 2);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(sc_acl_count(sc), 4);
  CHECK_EQ(sc_acl(sc, 3)->len, 104 - 81);
  /* Reassemble what went out and compare. */
  uint8_t all[104];
  size_t off = 0;
  for (size_t i = 0; i < 4; i++) {
    memcpy(all + off, sc_acl(sc, i)->data, sc_acl(sc, i)->len);
    off += sc_acl(sc, i)->len;
  }
  CHECK_EQ(off, 104);
  CHECK_MEM(all + 4, payload, 100);
  /* Disconnecting returns the two buffers still held. */
  CHECK_EQ(ble->hci.acl_free, 0);
  sc_disconnect(sc, 0x40, 0x13);
  run_until_idle(&loop, 5000);
  CHECK_EQ(ble->hci.acl_free, 2);
  down(sc, ble);
}

TEST(round_robin_between_connections) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 1);
  struct ble_conn *a = connect_as(sc, ble, 0x40, 0);
  struct ble_conn *b = connect_as(sc, ble, 0x41, 0);
  REQUIRE(a && b);
  uint8_t p[10] = {0};
  uvble_iov_t iov = {p, sizeof p};
  for (int i = 0; i < 3; i++) {
    REQUIRE_EQ(l2cap_send_pdu(ble, a, 4, &iov, 1), 0);
    REQUIRE_EQ(l2cap_send_pdu(ble, b, 4, &iov, 1), 0);
  }
  sc_config(sc)->auto_complete_acl = true;
  sc_send_completed(sc, 0x40, 0); /* nothing, just a kick */
  RUN_UNTIL(&loop, sc_acl_count(sc) >= 6, 5000);
  REQUIRE_EQ(sc_acl_count(sc), 6);
  for (size_t i = 0; i < 6; i++)
    CHECK_EQ(sc_acl(sc, i)->handle, i % 2 ? 0x41 : 0x40);
  down(sc, ble);
}

TEST(transmit_queue_is_bounded) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 1);
  struct ble_conn *c = connect_as(sc, ble, 0x40, 0);
  REQUIRE(c);
  ble->hci.conn_txq_max = 1000;
  uint8_t p[300] = {0};
  uvble_iov_t iov = {p, sizeof p};
  CHECK_EQ(l2cap_send_pdu(ble, c, 4, &iov, 1), 0);
  CHECK_EQ(l2cap_send_pdu(ble, c, 4, &iov, 1), 0);
  CHECK_EQ(l2cap_send_pdu(ble, c, 4, &iov, 1), 0);
  CHECK_EQ(l2cap_send_pdu(ble, c, 4, &iov, 1), UVBLE_ENOBUFS);
  down(sc, ble);
}

/* A disconnected channel's queued PDUs leave the link's queue, except the
 * one already fragmenting; other channels' stay, in order. */
TEST(a_channels_unsent_pdus_are_discarded) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 1);
  struct ble_conn *c = connect_as(sc, ble, 0x40, 0);
  REQUIRE(c);
  uint8_t p[40] = {0};
  uvble_iov_t iov = {p, sizeof p};
  const uint16_t cids[5] = {0x40, 0x41, 0x40, 0x41, 0x40};
  for (int i = 0; i < 5; i++) {
    p[0] = (uint8_t)i;
    REQUIRE_EQ(l2cap_send_pdu(ble, c, cids[i], &iov, 1), 0);
  }
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(sc_acl_count(sc), 1); /* the first fragment of PDU 0 */
  size_t before = c->txq_bytes;
  CHECK_EQ(acl_tx_discard_cid(c, 0x40), 2);
  CHECK_EQ(c->txq_bytes, before - 2 * 44);
  CHECK_EQ(acl_tx_discard_cid(c, 0x40), 0);
  sc_config(sc)->auto_complete_acl = true;
  sc_send_completed(sc, 0x40, 1);
  RUN_UNTIL(&loop, acl_tx_idle(c), 5000);
  CHECK(acl_tx_idle(c));
  /* PDU 0 (44 bytes: 2 fragments), then PDUs 1 and 3 of CID 0x41. */
  REQUIRE_EQ(sc_acl_count(sc), 6);
  const uint8_t first[3] = {0, 1, 3};
  for (size_t i = 0; i < 3; i++) {
    CHECK_EQ(sc_acl(sc, 2 * i)->data[2], i ? 0x41 : 0x40);
    CHECK_EQ(sc_acl(sc, 2 * i)->data[4], first[i]);
  }
  down(sc, ble);
}

static void send_start(sc_t *sc, uint16_t h, const uint8_t *d, size_t n) {
  sc_send_acl(sc, h, 2, d, n);
}

TEST(reassembles_fragmented_pdus) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 4);
  REQUIRE(connect_as(sc, ble, 0x40, 0));
  uint8_t pdu[4 + 50];
  pdu[0] = 50;
  pdu[1] = 0;
  pdu[2] = 4;
  pdu[3] = 0;
  for (int i = 0; i < 50; i++) pdu[4 + i] = (uint8_t)(i * 3);
  /* Whole PDU in one packet. */
  send_start(sc, 0x40, pdu, sizeof pdu);
  /* Then split: 2 bytes (header incomplete), 20, rest. */
  send_start(sc, 0x40, pdu, 2);
  sc_send_acl(sc, 0x40, 1, pdu + 2, 20);
  sc_send_acl(sc, 0x40, 1, pdu + 22, sizeof pdu - 22);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(rxlog.count, 2);
  CHECK_EQ(rxlog.len[0], 50);
  CHECK_EQ(rxlog.len[1], 50);
  CHECK_MEM(rxlog.data[0], pdu + 4, 50);
  CHECK_MEM(rxlog.data[1], pdu + 4, 50);
  /* Empty L2CAP payload is a valid PDU. */
  uint8_t empty[4] = {0, 0, 4, 0};
  send_start(sc, 0x40, empty, 4);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rxlog.count, 3);
  CHECK_EQ(rxlog.len[2], 0);
  down(sc, ble);
}

TEST(malformed_acl_is_dropped_and_counted) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 4);
  REQUIRE(connect_as(sc, ble, 0x40, 0));
  uint8_t pdu[4 + 8] = {8, 0, 4, 0, 1, 2, 3, 4, 5, 6, 7, 8};
  /* Continuation without a start. */
  sc_send_acl(sc, 0x40, 1, pdu, 6);
  /* Unknown connection handle. */
  send_start(sc, 0x99, pdu, sizeof pdu);
  /* ACL header length disagreeing with the packet. */
  uint8_t raw[] = {0x40, 0x20, 9, 0, 1, 2, 3};
  acl_on_packet(ble, raw, sizeof raw); /* H4 framing cannot produce it */
  /* L2CAP length larger than the data, then a new start: the partial PDU
   * is abandoned, the new one delivered. */
  uint8_t longer[] = {20, 0, 4, 0, 1, 2};
  send_start(sc, 0x40, longer, sizeof longer);
  send_start(sc, 0x40, pdu, sizeof pdu);
  /* Data beyond the announced length (one packet). */
  uint8_t over[] = {2, 0, 4, 0, 1, 2, 3, 4};
  send_start(sc, 0x40, over, sizeof over);
  /* Data beyond the announced length (across fragments). */
  uint8_t tail[8] = {0};
  send_start(sc, 0x40, pdu, 6);
  sc_send_acl(sc, 0x40, 1, tail, sizeof tail); /* 14 > 12 announced */
  sc_send_acl(sc, 0x40, 1, tail, 2);           /* rest of the dropped PDU */
  /* A PDU larger than the configured maximum: dropped with its fragments. */
  ble->hci.l2cap_rx_max_pdu = 64;
  uint8_t huge[4] = {0xff, 0x00, 4, 0};
  send_start(sc, 0x40, huge, 4);
  sc_send_acl(sc, 0x40, 1, pdu, 12);
  /* A start fragment with no data. */
  send_start(sc, 0x40, pdu, 0);
  run_until_idle(&loop, 5000);
  uvble_stats_t s;
  uvble_get_stats(ble, &s);
  CHECK_EQ(rxlog.count, 1);
  CHECK_EQ(rxlog.len[0], 8);
  CHECK_EQ(s.acl_rx_no_start, 1);
  CHECK_EQ(s.acl_rx_overflow, 3);
  CHECK_EQ(s.acl_rx_dropped, 4);
  /* Still working afterwards. */
  send_start(sc, 0x40, pdu, sizeof pdu);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rxlog.count, 2);
  down(sc, ble);
}

TEST(completed_packets_bogus_counts_are_clamped) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 4);
  struct ble_conn *c = connect_as(sc, ble, 0x40, 0);
  REQUIRE(c);
  uint8_t p[10] = {0};
  uvble_iov_t iov = {p, sizeof p};
  REQUIRE_EQ(l2cap_send_pdu(ble, c, 4, &iov, 1), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(ble->hci.acl_free, 3);
  sc_send_completed(sc, 0x40, 5);  /* more than in flight */
  sc_send_completed(sc, 0x77, 1);  /* unknown handle */
  uint8_t bad[] = {0x13, 3, 2, 0x40, 0x00}; /* claims 2 handles */
  sc_send_raw(sc, UVBLE_HCI_EVENT, bad, sizeof bad);
  run_until_idle(&loop, 5000);
  CHECK_EQ(ble->hci.acl_free, 4);
  uvble_stats_t s;
  uvble_get_stats(ble, &s);
  CHECK_EQ(s.acl_credits_bogus, 2);
  CHECK_EQ(s.hci_events_malformed, 1);
  down(sc, ble);
}

TEST(unknown_fixed_channel_is_counted) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 4);
  REQUIRE(connect_as(sc, ble, 0x40, 0));
  uint8_t pdu[] = {1, 0, 0x3f, 0, 9};
  send_start(sc, 0x40, pdu, sizeof pdu);
  run_until_idle(&loop, 5000);
  uvble_stats_t s;
  uvble_get_stats(ble, &s);
  CHECK_EQ(s.l2cap_rx_unknown_cid, 1);
  CHECK_EQ(rxlog.count, 0);
  down(sc, ble);
}

TEST_MAIN()
