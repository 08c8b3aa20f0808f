/* SPDX-License-Identifier: Apache-2.0 */
/* The send path without per-PDU allocation (issue 16, item 6): PDUs are
 * cut into ACL packets from the stack's pool when queued, the pool is
 * bounded (a full pool refuses with a counter, never crashes), blocks come
 * back on completion, and reassembly reuses one buffer. First against a
 * scripted controller, then end to end on the in-memory controller pair
 * with credit-based channels: SDUs larger than the MPS, an MPS larger than
 * the ACL buffer, credits running out inside an SDU, a channel closed with
 * its frames queued, and a pool too small for the stream. */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "l2cap_flow.h"
#include "memctl.h"
#include "sc.h"
#include "test.h"
#include "uvble/l2cap.h"

static uv_loop_t loop;
static const uint8_t PEER[6] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06};

static void bring(sc_t **sc, uvble_t **ble, uint16_t mtu, uint8_t pkts) {
  uv_loop_init(&loop);
  REQUIRE_EQ(sc_bring_up_acl(&loop, mtu, pkts, sc, ble), 0);
  REQUIRE(uvble_is_active(*ble));
  sc_clear(*sc);
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

/* The HCI ACL Data packet (Vol 4, Part E, 5.4.2): Handle (12 bits),
 * PB_Flag (2 bits: 00 first non-automatically-flushable, 01
 * continuation), BC_Flag (2 bits, 00), Data_Total_Length (2 octets); the
 * first carries the L2CAP basic header (Vol 3, Part A, 3.1): Length (2
 * octets, the information payload), Channel ID (2 octets). The payload
 * comes from three iovs, cut across their edges. */
TEST(pdu_from_three_pieces_is_cut_at_the_acl_mtu) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 8);
  struct ble_conn *c = link_up(sc, ble, 0x0042);
  uint8_t a[10], b[30], d[20];
  for (int i = 0; i < 10; i++) a[i] = (uint8_t)i;
  for (int i = 0; i < 30; i++) b[i] = (uint8_t)(10 + i);
  for (int i = 0; i < 20; i++) d[i] = (uint8_t)(40 + i);
  uvble_iov_t iov[3] = {{a, 10}, {b, 30}, {d, 20}};
  REQUIRE_EQ(l2cap_send_pdu(ble, c, 0x0004, iov, 3), 0);
  run_until_idle(&loop, 5000);
  /* 4 + 60 = 64 bytes: 27 + 27 + 10. */
  REQUIRE_EQ(sc_acl_count(sc), 3);
  const uint16_t lens[3] = {27, 27, 10};
  for (size_t i = 0; i < 3; i++) {
    CHECK_EQ(sc_acl(sc, i)->handle, 0x0042);
    CHECK_EQ(sc_acl(sc, i)->pb, i ? 1 : 0);
    CHECK_EQ(sc_acl(sc, i)->len, lens[i]);
  }
  const uint8_t *p = sc_acl(sc, 0)->data;
  CHECK_EQ(p[0], 60); /* Length, LSB first */
  CHECK_EQ(p[1], 0);
  CHECK_EQ(p[2], 0x04); /* Channel ID: ATT */
  CHECK_EQ(p[3], 0x00);
  uint8_t all[64];
  memcpy(all, sc_acl(sc, 0)->data, 27);
  memcpy(all + 27, sc_acl(sc, 1)->data, 27);
  memcpy(all + 54, sc_acl(sc, 2)->data, 10);
  for (int i = 0; i < 60; i++) CHECK_EQ(all[4 + i], i);
  /* The blocks wait for their completion, then go back to be reused. */
  CHECK_EQ(ble->hci.acl_pool.in_use, 3);
  sc_send_completed(sc, 0x0042, 3);
  run_until_idle(&loop, 5000);
  CHECK_EQ(ble->hci.acl_pool.in_use, 0);
  CHECK_EQ(ble->hci.acl_pool.free.len, 3);
  REQUIRE_EQ(l2cap_send_pdu(ble, c, 0x0004, iov, 1), 0);
  CHECK_EQ(ble->hci.acl_pool.free.len, 2); /* one taken again */
  down(sc, ble);
}

/* A full pool refuses the whole PDU (nothing half-queued), counts it, and
 * accepts again once completions return blocks. */
TEST(pool_exhaustion_refuses_with_a_counter) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 2);
  struct ble_conn *a = link_up(sc, ble, 0x0040);
  struct ble_conn *b = link_up(sc, ble, 0x0041);
  ble->hci.acl_pool.max = 6;
  uint8_t p[46] = {0}; /* 50 bytes: 2 packets */
  uvble_iov_t iov = {p, sizeof p};
  REQUIRE_EQ(l2cap_send_pdu(ble, a, 4, &iov, 1), 0);
  REQUIRE_EQ(l2cap_send_pdu(ble, b, 4, &iov, 1), 0);
  REQUIRE_EQ(l2cap_send_pdu(ble, a, 4, &iov, 1), 0);
  size_t queued = a->txq_bytes;
  CHECK_EQ(l2cap_send_pdu(ble, b, 4, &iov, 1), UVBLE_ENOBUFS);
  CHECK_EQ(ble->stats.acl_tx_pool_full, 1);
  CHECK_EQ(ble->hci.acl_pool.in_use, 6);
  CHECK_EQ(a->txq_bytes, queued);
  /* A control PDU is refused the same way: the bound holds for all. */
  uvble_iov_t one = {p, 1};
  CHECK_EQ(l2cap_send_pdu(ble, b, L2CAP_CID_LE_SIGNALING, &one, 1),
           UVBLE_ENOBUFS);
  CHECK_EQ(ble->stats.acl_tx_pool_full, 2);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(sc_acl_count(sc), 2);
  sc_send_completed(sc, sc_acl(sc, 0)->handle, 1);
  sc_send_completed(sc, sc_acl(sc, 1)->handle, 1);
  run_until_idle(&loop, 5000);
  CHECK_EQ(l2cap_send_pdu(ble, b, 4, &iov, 1), 0);
  /* From here the controller completes each packet; the two it holds
   * now are completed by hand. */
  sc_config(sc)->auto_complete_acl = true;
  REQUIRE_EQ(sc_acl_count(sc), 4);
  sc_send_completed(sc, sc_acl(sc, 2)->handle, 1);
  sc_send_completed(sc, sc_acl(sc, 3)->handle, 1);
  run_until_idle(&loop, 5000);
  CHECK(acl_tx_idle(a) && acl_tx_idle(b));
  CHECK_EQ(ble->hci.acl_pool.in_use, 0);
  CHECK_EQ(sc_acl_count(sc), 8);
  down(sc, ble);
}

/* A link that goes with packets queued and in flight gives every block
 * back; the queued PDUs are the drop count. */
TEST(link_loss_returns_every_block) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 1);
  struct ble_conn *c = link_up(sc, ble, 0x0040);
  uint8_t p[100] = {0};
  uvble_iov_t iov = {p, sizeof p};
  for (int i = 0; i < 3; i++)
    REQUIRE_EQ(l2cap_send_pdu(ble, c, 4, &iov, 1), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(sc_acl_count(sc), 1);
  CHECK_EQ(ble->hci.acl_pool.in_use, 12); /* 3 x ceil(104 / 27) */
  sc_disconnect(sc, 0x0040, 0x13);
  run_until_idle(&loop, 5000);
  CHECK(conn_find(ble, 0x0040) == NULL);
  CHECK_EQ(ble->hci.acl_pool.in_use, 0);
  CHECK_EQ(ble->hci.acl_free, 1);
  down(sc, ble);
}

/* PDUs reassembled from several fragments reuse the stack's spare buffer:
 * after the first, no buffer is allocated per PDU. */
TEST(reassembly_reuses_one_buffer) {
  sc_t *sc;
  uvble_t *ble;
  bring(&sc, &ble, 27, 4);
  (void)link_up(sc, ble, 0x0040);
  uint8_t pdu[4 + 60];
  pdu[0] = 60;
  pdu[1] = 0;
  pdu[2] = 0x04;
  pdu[3] = 0;
  memset(pdu + 4, 0x0a, 60); /* ATT opcode 0x0a: Read Request, bad length */
  const uint8_t *spare = NULL;
  for (int round = 0; round < 3; round++) {
    sc_send_acl(sc, 0x0040, 2, pdu, 30);
    sc_send_acl(sc, 0x0040, 1, pdu + 30, sizeof pdu - 30);
    run_until_idle(&loop, 5000);
    REQUIRE(ble->hci.rx_spare != NULL);
    if (round == 0) spare = ble->hci.rx_spare;
    CHECK(ble->hci.rx_spare == spare);
  }
  CHECK_EQ(ble->stats.l2cap_rx_pdus, 3);
  down(sc, ble);
}

/* ---- credit-based channels on the in-memory pair ------------------------ */
#define PSM 0x0081

static uvble_t *ha, *hb;
static memctl_t *mc;
static struct l2f_flow flow;
static uint16_t conn_h, cid_a, cid_b;
static int disconnects;

static int on_irq(uvble_t *ble, int type, const uvble_irq_data_t *d,
                  void *arg) {
  (void)arg;
  if (type == UVBLE_IRQ_PERIPHERAL_CONNECT && ble == ha)
    conn_h = d->connect.conn_handle;
  if (type == UVBLE_IRQ_L2CAP_CONNECT)
    *(ble == ha ? &cid_a : &cid_b) = d->l2cap_connect.cid;
  if (type == UVBLE_IRQ_L2CAP_DISCONNECT) disconnects++;
  l2f_on_irq(&flow, 1, ble, type, d);
  return 0;
}

static bool chan_open(void *arg) {
  (void)arg;
  return cid_a && cid_b;
}

static bool flow_done(void *arg) {
  (void)arg;
  return l2f_all_done(&flow, 1);
}

/* A channel A -> B with the receiver's MTU, MPS and credit window. */
static void pair_up(uint16_t acl_mtu, uint8_t acl_pkts, uint16_t mtu,
                    int mps, int credits) {
  uv_loop_init(&loop);
  memset(&flow, 0, sizeof flow);
  conn_h = cid_a = cid_b = 0;
  disconnects = 0;
  struct memctl_config cfg = {.acl_mtu = acl_mtu, .acl_pkts = acl_pkts};
  REQUIRE_EQ(memctl_bring_up(&loop, &cfg, &mc, &ha, &hb), 0);
  uvble_irq(ha, on_irq, NULL);
  uvble_irq(hb, on_irq, NULL);
  REQUIRE_EQ(uvble_l2cap_set_opt(hb, UVBLE_L2CAP_OPT_MPS, mps), 0);
  REQUIRE_EQ(uvble_l2cap_set_opt(hb, UVBLE_L2CAP_OPT_CREDITS, credits), 0);
  REQUIRE_EQ(uvble_l2cap_listen(hb, PSM, mtu), 0);
  REQUIRE(memctl_connect(mc) >= 0);
  RUN_UNTIL(&loop, conn_h, 5000);
  REQUIRE(conn_h != 0);
  REQUIRE(uvble_l2cap_connect(ha, conn_h, PSM, mtu) >= 0x40);
  REQUIRE(run_until_pred(&loop, chan_open, NULL, 2000));
}

static void pair_down(void) {
  uvble_close(ha, NULL, NULL);
  uvble_close(hb, NULL, NULL);
  memctl_free(mc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

static void check_clean_link(void) {
  struct memctl_stats ms;
  memctl_get_stats(mc, &ms);
  CHECK_EQ(ms.acl_over_mtu, 0);
  CHECK_EQ(ms.acl_over_buffers, 0);
  uvble_l2cap_stats_t st;
  uvble_l2cap_get_stats(hb, &st);
  CHECK_EQ(st.viol_no_credits + st.viol_kframe_over_mps +
               st.viol_sdu_over_mtu + st.viol_sdu_overrun + st.viol_bad_kframe,
           0);
}

/* SDUs up to 3000 bytes in K-frames of MPS 500, each K-frame cut into
 * 27-byte ACL packets: both cuts at once, checked byte for byte. */
TEST(sdu_over_mps_and_mps_over_acl_buffer) {
  pair_up(27, 3, 3000, 500, 8);
  l2f_start(&flow, ha, conn_h, cid_a, hb, conn_h, cid_b, 300000, 1, 3000, 7);
  REQUIRE(run_until_pred(&loop, flow_done, NULL, 30000));
  CHECK(l2f_ok(&flow));
  check_clean_link();
  uvble_l2cap_chan_info_t ai;
  REQUIRE_EQ(uvble_l2cap_chan_info(ha, conn_h, cid_a, &ai), 0);
  CHECK_EQ(ai.peer_mps, 500);
  /* Idle again: every block is back. */
  RUN_UNTIL(&loop, ha->hci.acl_pool.in_use == 0, 5000);
  CHECK_EQ(ha->hci.acl_pool.in_use, 0);
  CHECK(ha->hci.acl_pool.free.len <= ha->hci.acl_pool.keep);
  pair_down();
}

/* One credit at a time: every SDU of 2000 bytes goes in 21 K-frames of
 * at most 100 bytes, each waiting for the credit the last one used. */
TEST(credits_run_out_inside_an_sdu) {
  pair_up(251, 4, 2000, 100, 1);
  l2f_start(&flow, ha, conn_h, cid_a, hb, conn_h, cid_b, 100000, 2000, 2000,
            3);
  REQUIRE(run_until_pred(&loop, flow_done, NULL, 30000));
  CHECK(l2f_ok(&flow));
  check_clean_link();
  uvble_l2cap_stats_t st;
  uvble_l2cap_get_stats(ha, &st);
  CHECK_EQ(st.tx_sdus, 50);
  CHECK_EQ(st.tx_kframes, 50 * 21); /* 2002 bytes in 100-byte K-frames */
  pair_down();
}

/* The channel closes while its K-frames wait in the link's queue (the
 * controller holds its completions): they leave the queue, their blocks
 * go back, and the Disconnection Request is not stuck behind them. */
TEST(channel_closed_with_frames_queued) {
  pair_up(27, 2, 1000, 247, 32);
  memctl_hold_completions(mc, true);
  l2f_start(&flow, ha, conn_h, cid_a, hb, conn_h, cid_b, 100000, 1000, 1000,
            5);
  run_until_idle(&loop, 5000);
  struct ble_conn *c = conn_find(ha, conn_h);
  REQUIRE(c != NULL);
  REQUIRE(c->txq[ACL_CLASS_DATA].len > 4); /* frames are waiting */
  REQUIRE_EQ(uvble_l2cap_disconnect(ha, conn_h, cid_a), 0);
  /* Only the PDU already on its way may stay (a started one finishes). */
  size_t left = c->txq[ACL_CLASS_DATA].len;
  CHECK(left * 27 <= 4 + 247);
  CHECK(c->txq[ACL_CLASS_CTL].len > 0); /* the request, next after it */
  memctl_hold_completions(mc, false);
  RUN_UNTIL(&loop, disconnects >= 2, 5000);
  CHECK_EQ(disconnects, 2);
  RUN_UNTIL(&loop, ha->hci.acl_pool.in_use == 0, 5000);
  CHECK_EQ(ha->hci.acl_pool.in_use, 0);
  check_clean_link();
  pair_down();
}

/* A pool far smaller than the stream wants: the channel waits for blocks
 * as it waits for credits, the refusals are counted, nothing is lost. */
TEST(small_pool_back_pressure_is_lossless) {
  pair_up(27, 4, 2000, 247, 32);
  ha->hci.acl_pool.max = 12; /* a little more than one K-frame's packets */
  l2f_start(&flow, ha, conn_h, cid_a, hb, conn_h, cid_b, 200000, 1, 2000, 9);
  REQUIRE(run_until_pred(&loop, flow_done, NULL, 30000));
  CHECK(l2f_ok(&flow));
  check_clean_link();
  CHECK(ha->stats.acl_tx_pool_full > 0);
  CHECK(ha->hci.acl_pool.in_use <= 12);
  pair_down();
}

TEST_MAIN()
