/* SPDX-License-Identifier: Apache-2.0 */
/* LE credit-based channels between two uvble hosts on btvirt: bulk data in
 * random SDU sizes with every byte checked, a late reader stalling the
 * sender, several channels at once both ways, disconnects from either side
 * and of the link mid-transfer, ACCEPT refusing, an unknown PSM.
 *
 * btvirt's controllers hold one 192-byte ACL buffer each (so our MPS is
 * 188) and drop ACL data a host does not read promptly: both hosts run on
 * this process's one loop, which always reads. */
#include "l2cap_flow.h"
#include "test_gap_common.h"
#include "uvble/l2cap.h"

#define PSM 0x0080
#define MAX_LEV 512

struct lev {
  int type;
  uint16_t conn, cid, psm, our_mtu, peer_mtu;
  int status;
};

static struct host hs[2];
static struct lev levs[2][MAX_LEV];
static int nlev[2];
static int accept_ret[2];
static struct l2f_flow flows[8];
static int nflows;

static int side_of(uvble_t *ble) { return ble == hs[1].ble; }

static int l2_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d, void *arg) {
  host_irq(ble, ev, d, arg);
  int s = side_of(ble);
  struct lev e = {ev, 0, 0, 0, 0, 0, 0};
  if (ev == UVBLE_IRQ_L2CAP_ACCEPT || ev == UVBLE_IRQ_L2CAP_CONNECT) {
    e.conn = d->l2cap_connect.conn_handle;
    e.cid = d->l2cap_connect.cid;
    e.psm = d->l2cap_connect.psm;
    e.our_mtu = d->l2cap_connect.our_mtu;
    e.peer_mtu = d->l2cap_connect.peer_mtu;
  } else if (ev == UVBLE_IRQ_L2CAP_DISCONNECT) {
    e.conn = d->l2cap_disconnect.conn_handle;
    e.cid = d->l2cap_disconnect.cid;
    e.psm = d->l2cap_disconnect.psm;
    e.status = d->l2cap_disconnect.status;
  } else if (ev != UVBLE_IRQ_L2CAP_RECV && ev != UVBLE_IRQ_L2CAP_SEND_READY) {
    return 0;
  }
  /* RECV and SEND_READY are many: they count in hs[].count only. */
  if (ev != UVBLE_IRQ_L2CAP_RECV && ev != UVBLE_IRQ_L2CAP_SEND_READY &&
      nlev[s] < MAX_LEV)
    levs[s][nlev[s]++] = e;
  l2f_on_irq(flows, nflows, ble, ev, d);
  return ev == UVBLE_IRQ_L2CAP_ACCEPT ? accept_ret[s] : 0;
}

static const struct lev *find_lev(int s, int type, int nth) {
  for (int i = 0; i < nlev[s]; i++)
    if (levs[s][i].type == type && nth-- == 0) return &levs[s][i];
  return NULL;
}

static uint16_t hc,
    hp; /* the link's handle at the central (1), peripheral (0) */

/* Two hosts on btvirt, linked: hs[1] central, hs[0] peripheral. */
static void setup(void) {
  uv_loop_init(&loop);
  memset(levs, 0, sizeof levs);
  memset(nlev, 0, sizeof nlev);
  memset(accept_ret, 0, sizeof accept_ret);
  memset(flows, 0, sizeof flows);
  nflows = 0;
  hosts_up(hs, 2);
  uvble_irq(hs[0].ble, l2_irq, &hs[0]);
  uvble_irq(hs[1].ble, l2_irq, &hs[1]);
  static const uint8_t adv[] = {0x02, 0x01, 0x06};
  REQUIRE_EQ(
      uvble_gap_advertise(hs[0].ble, 20000, adv, sizeof adv, NULL, 0, true), 0);
  run_until_idle(&loop, 5000); /* advertising is on at the controller */
  REQUIRE_EQ(uvble_gap_connect(hs[1].ble, &hs[0].addr, 0, 0, 0), 0);
  REQUIRE(wait_event(&hs[1], UVBLE_IRQ_PERIPHERAL_CONNECT, 1, 3000));
  REQUIRE(wait_event(&hs[0], UVBLE_IRQ_CENTRAL_CONNECT, 1, 3000));
  hc = hs[1].connect[UVBLE_IRQ_PERIPHERAL_CONNECT].conn_handle;
  hp = hs[0].connect[UVBLE_IRQ_CENTRAL_CONNECT].conn_handle;
}

static void teardown(void) {
  hosts_down(hs, 2);
  loop_teardown(&loop);
}

/* Opens a channel from side `from` to the other, which listens; returns
 * the opener's CID and the acceptor's in *other. */
static uint16_t chan_up(int from, uint16_t psm, uint16_t mtu, uint16_t *other) {
  int to = !from;
  uint16_t h = from ? hc : hp;
  int nf = hs[from].count[UVBLE_IRQ_L2CAP_CONNECT];
  int nt = hs[to].count[UVBLE_IRQ_L2CAP_CONNECT];
  int cid = uvble_l2cap_connect(hs[from].ble, h, psm, mtu);
  REQUIRE(cid >= 0x40);
  REQUIRE(wait_event(&hs[from], UVBLE_IRQ_L2CAP_CONNECT, nf + 1, 5000));
  REQUIRE(wait_event(&hs[to], UVBLE_IRQ_L2CAP_CONNECT, nt + 1, 5000));
  const struct lev *e = find_lev(to, UVBLE_IRQ_L2CAP_CONNECT, nt);
  REQUIRE(e != NULL);
  *other = e->cid;
  return (uint16_t)cid;
}

static bool flows_done(void *arg) {
  (void)arg;
  return l2f_all_done(flows, nflows);
}

TEST(ten_megabytes_in_random_sdu_sizes) {
  setup();
  REQUIRE_EQ(uvble_l2cap_listen(hs[0].ble, PSM, 2000), 0);
  uint16_t pcid;
  uint16_t ccid = chan_up(1, PSM, 2000, &pcid);
  uvble_l2cap_chan_info_t ci;
  REQUIRE_EQ(uvble_l2cap_chan_info(hs[1].ble, hc, ccid, &ci), 0);
  CHECK_EQ(ci.our_mps, 188); /* a K-frame fills one 192-byte ACL buffer */
  CHECK_EQ(ci.peer_mps, 188);
  CHECK_EQ(ci.peer_mtu, 2000);
  struct l2f_flow *f = &flows[nflows++];
  l2f_start(f, hs[1].ble, hc, ccid, hs[0].ble, hp, pcid, 10 * 1000 * 1000, 1,
            2000, 0x5DEECE66Dull);
  REQUIRE(run_until_pred(&loop, flows_done, NULL, 200000));
  CHECK(l2f_ok(f));
  CHECK(f->send_ready > 0);
  uvble_l2cap_stats_t st;
  uvble_l2cap_get_stats(hs[0].ble, &st);
  CHECK_EQ(st.rx_bytes, f->rx.bytes_done);
  CHECK_EQ(st.viol_no_credits + st.viol_kframe_over_mps + st.viol_sdu_over_mtu +
               st.viol_sdu_overrun + st.viol_bad_kframe,
           0);
  uvble_stats_t cs;
  uvble_get_stats(hs[0].ble, &cs);
  CHECK_EQ(cs.acl_rx_dropped + cs.acl_rx_overflow + cs.acl_rx_no_start, 0);
  teardown();
}

TEST(late_reader_stalls_the_sender_without_loss) {
  setup();
  REQUIRE_EQ(uvble_l2cap_set_opt(hs[0].ble, UVBLE_L2CAP_OPT_CREDITS, 4), 0);
  REQUIRE_EQ(uvble_l2cap_listen(hs[0].ble, PSM, 1000), 0);
  uint16_t pcid;
  uint16_t ccid = chan_up(1, PSM, 1000, &pcid);
  struct l2f_flow *f = &flows[nflows++];
  l2f_start(f, hs[1].ble, hc, ccid, hs[0].ble, hp, pcid, 300000, 100, 1000, 3);
  f->rx_auto = false;
  uvble_l2cap_chan_info_t pi, ci;
  /* The sender runs out of credits; then what is in flight settles. */
  RUN_UNTIL(&loop, uvble_l2cap_chan_info(hs[1].ble, hc, ccid, &ci) == 0 &&
                       ci.tx_credits == 0 && ci.tx_queued > 0, 10000);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(uvble_l2cap_chan_info(hs[0].ble, hp, pcid, &pi), 0);
  REQUIRE_EQ(uvble_l2cap_chan_info(hs[1].ble, hc, ccid, &ci), 0);
  CHECK(f->tx.bytes_done < 300000);
  CHECK_EQ(f->send_ready, 0);
  CHECK_EQ(pi.rx_credits, 0);
  CHECK_EQ(ci.tx_credits, 0);
  CHECK(pi.rx_unread > 0 && pi.rx_unread <= pi.rx_buffer);
  CHECK(ci.tx_queued > 0);
  f->rx_auto = true;
  l2f_read_all(f);
  REQUIRE(run_until_pred(&loop, flows_done, NULL, 60000));
  CHECK(l2f_ok(f));
  CHECK(f->send_ready > 0);
  teardown();
}

TEST(several_channels_both_ways_at_once) {
  setup();
  REQUIRE_EQ(uvble_l2cap_listen(hs[0].ble, PSM, 1500), 0);
  REQUIRE_EQ(uvble_l2cap_listen(hs[0].ble, PSM + 1, 300), 0);
  REQUIRE_EQ(uvble_l2cap_listen(hs[1].ble, PSM + 2, 700), 0);
  uint16_t p1, p2, c3;
  uint16_t c1 = chan_up(1, PSM, 1500, &p1);
  uint16_t c2 = chan_up(1, PSM + 1, 300, &p2);
  uint16_t p3 = chan_up(0, PSM + 2, 700, &c3);
  struct l2f_flow *f = flows;
  l2f_start(&f[0], hs[1].ble, hc, c1, hs[0].ble, hp, p1, 300000, 1, 1500, 11);
  l2f_start(&f[1], hs[1].ble, hc, c2, hs[0].ble, hp, p2, 100000, 1, 300, 12);
  l2f_start(&f[2], hs[0].ble, hp, p3, hs[1].ble, hc, c3, 200000, 1, 700, 13);
  l2f_start(&f[3], hs[0].ble, hp, p1, hs[1].ble, hc, c1, 150000, 1, 1500, 14);
  nflows = 4;
  REQUIRE(run_until_pred(&loop, flows_done, NULL, 120000));
  for (int i = 0; i < 4; i++)
    if (!l2f_ok(&f[i]))
      test_fail(__FILE__, __LINE__, "flow %d: errors %d/%d, %zu of %zu bytes",
                i, f[i].rx_errors, f[i].send_errors, f[i].rx.bytes_done,
                f[i].tx.bytes_done);
  teardown();
}

static bool got_some(void *arg) {
  return ((struct l2f_flow *)arg)->rx.bytes_done >= 20000;
}

static void disconnect_mid_transfer(int who) {
  setup();
  REQUIRE_EQ(uvble_l2cap_listen(hs[0].ble, PSM, 1000), 0);
  uint16_t pcid;
  uint16_t ccid = chan_up(1, PSM, 1000, &pcid);
  struct l2f_flow *f = &flows[nflows++];
  l2f_start(f, hs[1].ble, hc, ccid, hs[0].ble, hp, pcid, 100000000, 1, 1000, 5);
  REQUIRE(run_until_pred(&loop, got_some, f, 30000));
  if (who == 1)
    CHECK_EQ(uvble_l2cap_disconnect(hs[1].ble, hc, ccid), 0);
  else
    CHECK_EQ(uvble_l2cap_disconnect(hs[0].ble, hp, pcid), 0);
  REQUIRE(wait_event(&hs[0], UVBLE_IRQ_L2CAP_DISCONNECT, 1, 5000));
  REQUIRE(wait_event(&hs[1], UVBLE_IRQ_L2CAP_DISCONNECT, 1, 5000));
  CHECK_EQ(find_lev(0, UVBLE_IRQ_L2CAP_DISCONNECT, 0)->status, 0);
  CHECK_EQ(find_lev(1, UVBLE_IRQ_L2CAP_DISCONNECT, 0)->status, 0);
  CHECK_EQ(find_lev(1, UVBLE_IRQ_L2CAP_DISCONNECT, 0)->cid, ccid);
  CHECK_EQ(f->rx_errors, 0);
  CHECK(f->rx.bytes_done <= f->tx.bytes_done);
  /* The link carries a new channel afterwards. */
  uint16_t p2;
  uint16_t c2 = chan_up(1, PSM, 1000, &p2);
  struct l2f_flow *g = &flows[nflows++];
  l2f_start(g, hs[1].ble, hc, c2, hs[0].ble, hp, p2, 50000, 1, 1000, 6);
  REQUIRE(run_until_pred(&loop, flows_done, NULL, 60000));
  CHECK(l2f_ok(g));
  teardown();
}

TEST(sender_disconnects_mid_transfer) { disconnect_mid_transfer(1); }
TEST(receiver_disconnects_mid_transfer) { disconnect_mid_transfer(0); }

TEST(link_drop_mid_transfer_ends_the_channels) {
  setup();
  REQUIRE_EQ(uvble_l2cap_listen(hs[0].ble, PSM, 1000), 0);
  uint16_t pcid;
  uint16_t ccid = chan_up(1, PSM, 1000, &pcid);
  struct l2f_flow *f = &flows[nflows++];
  l2f_start(f, hs[1].ble, hc, ccid, hs[0].ble, hp, pcid, 100000000, 1, 1000, 7);
  REQUIRE(run_until_pred(&loop, got_some, f, 30000));
  CHECK_EQ(uvble_gap_disconnect(hs[0].ble, hp), 1);
  REQUIRE(wait_event(&hs[0], UVBLE_IRQ_L2CAP_DISCONNECT, 1, 5000));
  REQUIRE(wait_event(&hs[1], UVBLE_IRQ_L2CAP_DISCONNECT, 1, 5000));
  REQUIRE(wait_event(&hs[1], UVBLE_IRQ_PERIPHERAL_DISCONNECT, 1, 5000));
  CHECK_EQ(find_lev(1, UVBLE_IRQ_L2CAP_DISCONNECT, 0)->cid, ccid);
  CHECK_EQ(find_lev(0, UVBLE_IRQ_L2CAP_DISCONNECT, 0)->cid, pcid);
  CHECK_EQ(f->rx_errors, 0);
  CHECK_EQ(uvble_l2cap_send(hs[1].ble, hc, ccid, "x", 1), UVBLE_ENOTCONN);
  teardown();
}

TEST(accept_handler_refuses_with_its_result) {
  setup();
  REQUIRE_EQ(uvble_l2cap_listen(hs[0].ble, PSM, 500), 0);
  accept_ret[0] = UVBLE_L2CAP_RESULT_INSUFFICIENT_AUTHENTICATION;
  int cid = uvble_l2cap_connect(hs[1].ble, hc, PSM, 500);
  REQUIRE(cid >= 0x40);
  REQUIRE(wait_event(&hs[1], UVBLE_IRQ_L2CAP_DISCONNECT, 1, 5000));
  const struct lev *e = find_lev(1, UVBLE_IRQ_L2CAP_DISCONNECT, 0);
  CHECK_EQ(e->cid, cid);
  CHECK_EQ(e->psm, PSM);
  CHECK_EQ(e->status, 0x0005);
  CHECK_EQ(hs[0].count[UVBLE_IRQ_L2CAP_ACCEPT], 1);
  CHECK_EQ(hs[0].count[UVBLE_IRQ_L2CAP_CONNECT], 0);
  CHECK_EQ(hs[1].count[UVBLE_IRQ_L2CAP_CONNECT], 0);
  teardown();
}

TEST(connecting_to_a_psm_nobody_listens_on_fails) {
  setup();
  int cid = uvble_l2cap_connect(hs[1].ble, hc, PSM, 500);
  REQUIRE(cid >= 0x40);
  REQUIRE(wait_event(&hs[1], UVBLE_IRQ_L2CAP_DISCONNECT, 1, 5000));
  const struct lev *e = find_lev(1, UVBLE_IRQ_L2CAP_DISCONNECT, 0);
  CHECK_EQ(e->cid, cid);
  CHECK_EQ(e->status, UVBLE_L2CAP_RESULT_SPSM_NOT_SUPPORTED);
  CHECK_EQ(hs[0].count[UVBLE_IRQ_L2CAP_ACCEPT], 0);
  teardown();
}

TEST_MAIN()
