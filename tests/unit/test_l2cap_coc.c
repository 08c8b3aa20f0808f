/* SPDX-License-Identifier: Apache-2.0 */
/* LE credit-based channels end to end: two stacks on the in-memory
 * controller pair (memctl), the application's view through the core API. */
#include <stdlib.h>
#include <string.h>

#include "l2cap_flow.h"
#include "memctl.h"
#include "test.h"
#include "uvble/l2cap.h"

static uv_loop_t loop;

#define MAX_EV 512
#define PSM 0x0080

struct ev {
  int type;
  uint16_t conn, cid, psm, our_mtu, peer_mtu;
  int status;
};

struct side {
  uvble_t *ble;
  struct ev ev[MAX_EV];
  int nev;
  int accept_ret;
};

static struct side sa, sb;
static struct l2f_flow flows[8];
static int nflows;
static memctl_t *mc;

static int count_ev(const struct side *s, int type) {
  int n = 0;
  for (int i = 0; i < s->nev; i++) n += s->ev[i].type == type;
  return n;
}

static const struct ev *find_ev(const struct side *s, int type, int nth) {
  for (int i = 0; i < s->nev; i++)
    if (s->ev[i].type == type && nth-- == 0) return &s->ev[i];
  return NULL;
}

static int on_irq(uvble_t *ble, int type, const uvble_irq_data_t *d,
                  void *arg) {
  struct side *s = arg;
  (void)ble;
  struct ev e = {type, 0, 0, 0, 0, 0, 0};
  switch (type) {
    case UVBLE_IRQ_L2CAP_ACCEPT:
    case UVBLE_IRQ_L2CAP_CONNECT:
      e.conn = d->l2cap_connect.conn_handle;
      e.cid = d->l2cap_connect.cid;
      e.psm = d->l2cap_connect.psm;
      e.our_mtu = d->l2cap_connect.our_mtu;
      e.peer_mtu = d->l2cap_connect.peer_mtu;
      break;
    case UVBLE_IRQ_L2CAP_DISCONNECT:
      e.conn = d->l2cap_disconnect.conn_handle;
      e.cid = d->l2cap_disconnect.cid;
      e.psm = d->l2cap_disconnect.psm;
      e.status = d->l2cap_disconnect.status;
      break;
    case UVBLE_IRQ_L2CAP_RECV:
    case UVBLE_IRQ_L2CAP_SEND_READY:
      e.conn = d->l2cap_io.conn_handle;
      e.cid = d->l2cap_io.cid;
      e.status = d->l2cap_io.status;
      break;
    default:
      e.conn = d->connect.conn_handle;
      break;
  }
  /* Data events are many: only the first ones are kept. */
  if (s->nev < MAX_EV) s->ev[s->nev++] = e;
  if (type == UVBLE_IRQ_L2CAP_ACCEPT) return s->accept_ret;
  l2f_on_irq(flows, nflows, s->ble, type, d);
  return 0;
}

static void setup(const struct memctl_config *cfg) {
  uv_loop_init(&loop);
  memset(&sa, 0, sizeof sa);
  memset(&sb, 0, sizeof sb);
  memset(flows, 0, sizeof flows);
  nflows = 0;
  REQUIRE_EQ(memctl_bring_up(&loop, cfg, &mc, &sa.ble, &sb.ble), 0);
  uvble_irq(sa.ble, on_irq, &sa);
  uvble_irq(sb.ble, on_irq, &sb);
}

static void teardown(void) {
  if (sa.ble) uvble_close(sa.ble, NULL, NULL);
  if (sb.ble) uvble_close(sb.ble, NULL, NULL);
  memctl_free(mc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

struct wait_ev {
  struct side *s;
  int type;
  int count;
};

static bool ev_pred(void *arg) {
  struct wait_ev *w = arg;
  return count_ev(w->s, w->type) >= w->count;
}

static bool wait_ev(struct side *s, int type, int count, unsigned ms) {
  struct wait_ev w = {s, type, count};
  return run_until_pred(&loop, ev_pred, &w, ms);
}

/* Connects the two hosts; returns the handle. */
static uint16_t link_up(void) {
  int before = count_ev(&sa, UVBLE_IRQ_PERIPHERAL_CONNECT);
  int h = memctl_connect(mc);
  REQUIRE(h >= 0);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_PERIPHERAL_CONNECT, before + 1, 1000));
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_CENTRAL_CONNECT, before + 1, 1000));
  return (uint16_t)h;
}

/* Opens a channel A -> B on psm; returns A's CID, B's CID in *bcid. */
static uint16_t chan_up(uint16_t h, uint16_t psm, uint16_t mtu_a,
                        uint16_t *bcid) {
  int na = count_ev(&sa, UVBLE_IRQ_L2CAP_CONNECT);
  int nb = count_ev(&sb, UVBLE_IRQ_L2CAP_CONNECT);
  int cid = uvble_l2cap_connect(sa.ble, h, psm, mtu_a);
  REQUIRE(cid >= 0x40);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_CONNECT, na + 1, 1000));
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_L2CAP_CONNECT, nb + 1, 1000));
  const struct ev *e = find_ev(&sb, UVBLE_IRQ_L2CAP_CONNECT, nb);
  if (bcid) *bcid = e->cid;
  return (uint16_t)cid;
}

TEST(open_exchange_close) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 512), 0);
  uint16_t h = link_up();
  int cid = uvble_l2cap_connect(sa.ble, h, PSM, 300);
  REQUIRE(cid >= 0x40);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_CONNECT, 1, 1000));
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_L2CAP_CONNECT, 1, 1000));
  /* B heard ACCEPT first, then CONNECT, with both MTUs. */
  const struct ev *acc = find_ev(&sb, UVBLE_IRQ_L2CAP_ACCEPT, 0);
  const struct ev *bc = find_ev(&sb, UVBLE_IRQ_L2CAP_CONNECT, 0);
  REQUIRE(acc && bc && acc < bc);
  CHECK_EQ(acc->psm, PSM);
  CHECK_EQ(acc->our_mtu, 512);
  CHECK_EQ(acc->peer_mtu, 300);
  CHECK_EQ(bc->cid, acc->cid);
  const struct ev *ac = find_ev(&sa, UVBLE_IRQ_L2CAP_CONNECT, 0);
  CHECK_EQ(ac->cid, cid);
  CHECK_EQ(ac->psm, PSM);
  CHECK_EQ(ac->our_mtu, 300);
  CHECK_EQ(ac->peer_mtu, 512);
  /* The MPS fits a K-frame in one 251-byte ACL packet. */
  uvble_l2cap_chan_info_t info;
  REQUIRE_EQ(uvble_l2cap_chan_info(sa.ble, h, (uint16_t)cid, &info), 0);
  CHECK_EQ(info.our_mps, 247);
  CHECK_EQ(info.peer_mps, 247);
  CHECK(info.open);
  CHECK_EQ(info.tx_credits, 32);

  CHECK_EQ(uvble_l2cap_send(sa.ble, h, (uint16_t)cid, "hello", 5), 1);
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_L2CAP_RECV, 1, 1000));
  char buf[16];
  CHECK_EQ(uvble_l2cap_recvinto(sb.ble, h, bc->cid, NULL, 0), 5);
  CHECK_EQ(uvble_l2cap_recvinto(sb.ble, h, bc->cid, buf, 3), 3);
  CHECK_EQ(uvble_l2cap_recvinto(sb.ble, h, bc->cid, NULL, 0), 2);
  CHECK_EQ(uvble_l2cap_recvinto(sb.ble, h, bc->cid, buf + 3, sizeof buf), 2);
  CHECK_MEM(buf, "hello", 5);
  CHECK_EQ(uvble_l2cap_recvinto(sb.ble, h, bc->cid, buf, sizeof buf), 0);

  CHECK_EQ(uvble_l2cap_send(sb.ble, h, bc->cid, "world!", 6), 1);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_RECV, 1, 1000));
  CHECK_EQ(uvble_l2cap_recvinto(sa.ble, h, (uint16_t)cid, buf, sizeof buf), 6);
  CHECK_MEM(buf, "world!", 6);

  CHECK_EQ(uvble_l2cap_disconnect(sa.ble, h, (uint16_t)cid), 0);
  CHECK_EQ(uvble_l2cap_disconnect(sa.ble, h, (uint16_t)cid), UVBLE_EALREADY);
  CHECK_EQ(uvble_l2cap_send(sa.ble, h, (uint16_t)cid, "x", 1), UVBLE_ENOTCONN);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 1000));
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 1000));
  const struct ev *ad = find_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 0);
  const struct ev *bd = find_ev(&sb, UVBLE_IRQ_L2CAP_DISCONNECT, 0);
  CHECK_EQ(ad->cid, cid);
  CHECK_EQ(ad->psm, PSM);
  CHECK_EQ(ad->status, 0);
  CHECK_EQ(bd->cid, bc->cid);
  CHECK_EQ(bd->status, 0);
  CHECK_EQ(uvble_l2cap_chan_info(sa.ble, h, (uint16_t)cid, &info),
           UVBLE_ENOTCONN);
  teardown();
}

TEST(connect_to_unknown_psm_fails_with_result_2) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 512), 0);
  uint16_t h = link_up();
  int cid = uvble_l2cap_connect(sa.ble, h, PSM + 1, 256);
  REQUIRE(cid >= 0x40);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 1000));
  const struct ev *e = find_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 0);
  CHECK_EQ(e->cid, cid);
  CHECK_EQ(e->psm, PSM + 1);
  CHECK_EQ(e->status, UVBLE_L2CAP_RESULT_SPSM_NOT_SUPPORTED);
  CHECK_EQ(count_ev(&sa, UVBLE_IRQ_L2CAP_CONNECT), 0);
  CHECK_EQ(count_ev(&sb, UVBLE_IRQ_L2CAP_ACCEPT), 0);
  /* A stopped listener refuses the same way. */
  CHECK_EQ(uvble_l2cap_listen_stop(sb.ble, PSM), 0);
  CHECK_EQ(uvble_l2cap_listen_stop(sb.ble, PSM), UVBLE_ENOENT);
  REQUIRE(uvble_l2cap_connect(sa.ble, h, PSM, 256) >= 0x40);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 2, 1000));
  CHECK_EQ(find_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 1)->status, 2);
  teardown();
}

TEST(accept_handler_rejects_with_its_result) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 512), 0);
  sb.accept_ret = UVBLE_L2CAP_RESULT_INSUFFICIENT_AUTHORIZATION;
  uint16_t h = link_up();
  int cid = uvble_l2cap_connect(sa.ble, h, PSM, 256);
  REQUIRE(cid >= 0x40);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 1000));
  CHECK_EQ(find_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 0)->status, 0x0006);
  CHECK_EQ(count_ev(&sb, UVBLE_IRQ_L2CAP_ACCEPT), 1);
  CHECK_EQ(count_ev(&sb, UVBLE_IRQ_L2CAP_CONNECT), 0);
  CHECK_EQ(count_ev(&sb, UVBLE_IRQ_L2CAP_DISCONNECT), 0);
  /* The next one is accepted, on a fresh CID pair. */
  sb.accept_ret = 0;
  chan_up(h, PSM, 256, NULL);
  teardown();
}

/* Starts a flow from side txs to side rxs over the given channel ends. */
static struct l2f_flow *start_flow(struct side *txs, uint16_t tconn,
                                   uint16_t tcid, struct side *rxs,
                                   uint16_t rconn, uint16_t rcid, size_t target,
                                   size_t min, size_t max, uint64_t seed) {
  struct l2f_flow *f = &flows[nflows++];
  l2f_start(f, txs->ble, tconn, tcid, rxs->ble, rconn, rcid, target, min, max,
            seed);
  return f;
}

static bool flows_done(void *arg) {
  (void)arg;
  return l2f_all_done(flows, nflows);
}

TEST(ten_megabytes_in_random_sdu_sizes_arrive_intact) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 2000), 0);
  uint16_t h = link_up();
  uint16_t bcid;
  uint16_t acid = chan_up(h, PSM, 2000, &bcid);
  struct l2f_flow *f = start_flow(&sa, h, acid, &sb, h, bcid, 10 * 1000 * 1000,
                                  1, 2000, 0x9E3779B97F4A7C15ull);
  REQUIRE(run_until_pred(&loop, flows_done, NULL, 60000));
  CHECK(l2f_ok(f));
  CHECK(f->send_ready > 0); /* the sender did stall and resume */
  uvble_l2cap_stats_t st;
  uvble_l2cap_get_stats(sb.ble, &st);
  CHECK_EQ(st.rx_sdus, f->rx.sdus_done);
  CHECK_EQ(st.rx_bytes, f->rx.bytes_done);
  CHECK_EQ(st.viol_no_credits + st.viol_kframe_over_mps + st.viol_sdu_over_mtu +
               st.viol_sdu_overrun + st.viol_bad_kframe +
               st.viol_credit_overflow,
           0);
  struct memctl_stats ms;
  memctl_get_stats(mc, &ms);
  CHECK_EQ(ms.acl_over_buffers, 0);
  CHECK_EQ(ms.acl_over_mtu, 0);
  teardown();
}

TEST(slow_reader_stalls_the_sender_without_loss) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_set_opt(sb.ble, UVBLE_L2CAP_OPT_CREDITS, 8), 0);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 1000), 0);
  uint16_t h = link_up();
  uint16_t bcid;
  uint16_t acid = chan_up(h, PSM, 1000, &bcid);
  struct l2f_flow *f =
      start_flow(&sa, h, acid, &sb, h, bcid, 400000, 100, 1000, 42);
  f->rx_auto = false; /* B does not read */
  run_until_idle(&loop, 5000);
  /* The sender filled its buffer and stalled; B holds no more than the
   * buffer its credits allow, and no SEND_READY came. */
  CHECK(f->tx.bytes_done < 400000);
  CHECK(f->stalls > 0);
  CHECK_EQ(f->send_ready, 0);
  uvble_l2cap_chan_info_t bi, ai;
  REQUIRE_EQ(uvble_l2cap_chan_info(sb.ble, h, bcid, &bi), 0);
  REQUIRE_EQ(uvble_l2cap_chan_info(sa.ble, h, acid, &ai), 0);
  CHECK(bi.rx_unread > 0);
  CHECK(bi.rx_unread <= bi.rx_buffer);
  CHECK(bi.rx_buffer <= 8 * 247 + 1002 + 247);
  CHECK_EQ(bi.rx_credits, 0);
  CHECK_EQ(ai.tx_credits, 0);
  CHECK(ai.tx_queued > 0);
  size_t sent_while_stalled = f->tx.bytes_done;
  /* time must pass: a stalled flow stays stalled */
  run_for(&loop, 200);
  CHECK_EQ(f->tx.bytes_done, sent_while_stalled);
  CHECK_EQ(f->rx.bytes_done, 0);
  /* Reading resumes the flow; everything arrives, in order. */
  f->rx_auto = true;
  l2f_read_all(f);
  REQUIRE(run_until_pred(&loop, flows_done, NULL, 20000));
  CHECK(l2f_ok(f));
  CHECK(f->send_ready > 0);
  teardown();
}

TEST(several_channels_interleave_on_one_and_two_connections) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 1500), 0);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM + 1, 600), 0);
  REQUIRE_EQ(uvble_l2cap_listen(sa.ble, PSM + 2, 800), 0);
  uint16_t h1 = link_up(), h2 = link_up();
  REQUIRE(h1 != h2);
  uint16_t b1, b2, b3;
  uint16_t a1 = chan_up(h1, PSM, 1500, &b1);
  uint16_t a2 = chan_up(h1, PSM + 1, 600, &b2);
  uint16_t a3 = chan_up(h2, PSM, 700, &b3);
  /* and one opened by B towards A */
  int nconn = count_ev(&sa, UVBLE_IRQ_L2CAP_CONNECT);
  int nbconn = count_ev(&sb, UVBLE_IRQ_L2CAP_CONNECT);
  int bx = uvble_l2cap_connect(sb.ble, h1, PSM + 2, 900);
  REQUIRE(bx >= 0x40);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_CONNECT, nconn + 1, 1000));
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_L2CAP_CONNECT, nbconn + 1, 1000));
  uint16_t ax = find_ev(&sa, UVBLE_IRQ_L2CAP_CONNECT, nconn)->cid;
  CHECK_EQ(find_ev(&sa, UVBLE_IRQ_L2CAP_CONNECT, nconn)->psm, PSM + 2);
  CHECK(a1 != a2);
  struct l2f_flow *f[6];
  f[0] = start_flow(&sa, h1, a1, &sb, h1, b1, 600000, 1, 1500, 1);
  f[1] = start_flow(&sa, h1, a2, &sb, h1, b2, 300000, 1, 600, 2);
  f[2] = start_flow(&sa, h2, a3, &sb, h2, b3, 400000, 200, 700, 3);
  f[3] = start_flow(&sb, h1, b1, &sa, h1, a1, 300000, 1, 1500, 4); /* duplex */
  f[4] = start_flow(&sb, h1, (uint16_t)bx, &sa, h1, ax, 300000, 1, 800, 5);
  f[5] = start_flow(&sa, h1, ax, &sb, h1, (uint16_t)bx, 300000, 1, 900, 6);
  REQUIRE(run_until_pred(&loop, flows_done, NULL, 60000));
  for (int i = 0; i < 6; i++) {
    if (!l2f_ok(f[i]))
      test_fail(__FILE__, __LINE__,
                "flow %d: rx_errors %d send_errors %d rx %zu/%zu tx %zu/%zu", i,
                f[i]->rx_errors, f[i]->send_errors, f[i]->rx.bytes_done,
                f[i]->rx.sdus_done, f[i]->tx.bytes_done, f[i]->tx.sdus_done);
  }
  /* They really shared the link: the small flows did not wait for the
   * big one to finish (each SEND_READY-ed while others were running). */
  CHECK(f[1]->send_ready > 0 && f[0]->send_ready > 0);
  teardown();
}

static bool some_rx(void *arg) {
  const struct l2f_flow *f = arg;
  return f->rx.bytes_done >= 100000;
}

/* Disconnects mid-transfer from the sender (who = 0) or the receiver. */
static void disconnect_mid_transfer(int who) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 1000), 0);
  uint16_t h = link_up();
  uint16_t bcid;
  uint16_t acid = chan_up(h, PSM, 1000, &bcid);
  struct l2f_flow *f =
      start_flow(&sa, h, acid, &sb, h, bcid, 50 * 1000 * 1000, 1, 1000, 7);
  REQUIRE(run_until_pred(&loop, some_rx, f, 10000));
  if (who == 0)
    CHECK_EQ(uvble_l2cap_disconnect(sa.ble, h, acid), 0);
  else
    CHECK_EQ(uvble_l2cap_disconnect(sb.ble, h, bcid), 0);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 2000));
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 2000));
  CHECK_EQ(find_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 0)->status, 0);
  CHECK_EQ(find_ev(&sb, UVBLE_IRQ_L2CAP_DISCONNECT, 0)->status, 0);
  CHECK_EQ(find_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 0)->cid, acid);
  CHECK_EQ(find_ev(&sb, UVBLE_IRQ_L2CAP_DISCONNECT, 0)->cid, bcid);
  /* What arrived is an intact prefix of what was sent. */
  CHECK_EQ(f->rx_errors, 0);
  CHECK(f->rx.bytes_done <= f->tx.bytes_done);
  CHECK(f->rx.bytes_done < 50 * 1000 * 1000);
  CHECK_EQ(uvble_l2cap_send(sa.ble, h, acid, "x", 1), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_l2cap_recvinto(sb.ble, h, bcid, NULL, 0), UVBLE_ENOTCONN);
  uvble_l2cap_stats_t st;
  uvble_l2cap_get_stats(sa.ble, &st);
  CHECK_EQ(st.sig_timeouts, 0);
  /* The link is still fine: a new channel works. */
  uint16_t b2;
  uint16_t a2 = chan_up(h, PSM, 1000, &b2);
  struct l2f_flow *g = start_flow(&sa, h, a2, &sb, h, b2, 20000, 1, 1000, 8);
  REQUIRE(run_until_pred(&loop, flows_done, NULL, 10000));
  CHECK(l2f_ok(g));
  teardown();
}

TEST(sender_disconnects_mid_transfer) { disconnect_mid_transfer(0); }
TEST(receiver_disconnects_mid_transfer) { disconnect_mid_transfer(1); }

TEST(link_loss_ends_every_channel_and_pending_connect) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 1000), 0);
  uint16_t h = link_up();
  uint16_t bcid;
  uint16_t acid = chan_up(h, PSM, 1000, &bcid);
  struct l2f_flow *f =
      start_flow(&sa, h, acid, &sb, h, bcid, 50 * 1000 * 1000, 1, 1000, 9);
  REQUIRE(run_until_pred(&loop, some_rx, f, 10000));
  /* A request still in flight when the link goes. */
  int pending = uvble_l2cap_connect(sa.ble, h, PSM, 500);
  REQUIRE(pending >= 0x40);
  memctl_disconnect(mc, h, 0x08);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 2, 2000));
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 2000));
  int seen_open = 0, seen_pending = 0;
  for (int i = 0; i < 2; i++) {
    const struct ev *e = find_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, i);
    if (e->cid == acid && e->status == 0) seen_open++;
    if (e->cid == pending && e->status == UVBLE_EDISCONNECTED) seen_pending++;
  }
  CHECK_EQ(seen_open, 1);
  CHECK_EQ(seen_pending, 1);
  CHECK_EQ(find_ev(&sb, UVBLE_IRQ_L2CAP_DISCONNECT, 0)->cid, bcid);
  /* The channel events came before the link's own. */
  int ia = -1, il = -1;
  for (int i = 0; i < sa.nev; i++) {
    if (sa.ev[i].type == UVBLE_IRQ_L2CAP_DISCONNECT) ia = i;
    if (sa.ev[i].type == UVBLE_IRQ_PERIPHERAL_DISCONNECT && il < 0) il = i;
  }
  CHECK(ia >= 0 && il > ia);
  CHECK_EQ(f->rx_errors, 0);
  CHECK_EQ(uvble_l2cap_connect(sa.ble, h, PSM, 500), UVBLE_ENOTCONN);
  teardown();
}

TEST(send_size_rules_and_bad_handles) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 512), 0);
  uint16_t h = link_up();
  uint16_t bcid;
  uint16_t acid = chan_up(h, PSM, 100, &bcid); /* ours 100, peer's 512 */
  uint8_t big[600];
  memset(big, 0x5a, sizeof big);
  /* MicroPython's rules: not above the peer's MTU, not above twice ours. */
  CHECK_EQ(uvble_l2cap_send(sa.ble, h, acid, big, 201), UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_send(sa.ble, h, acid, big, 200), 1);
  CHECK_EQ(uvble_l2cap_send(sb.ble, h, bcid, big, 101), UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_send(sb.ble, h, bcid, big, 100), 1);
  CHECK_EQ(uvble_l2cap_send(sa.ble, h, acid, big, 0), UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_send(sa.ble, h, acid, NULL, 5), UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_send(sa.ble, h, 0x7f, big, 5), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_l2cap_send(sa.ble, h, 0x04, big, 5), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_l2cap_send(sa.ble, h + 1, acid, big, 5), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_l2cap_recvinto(sa.ble, h, 0x7f, big, 5), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_l2cap_disconnect(sa.ble, h, 0x7f), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_l2cap_connect(sa.ble, h, 0, 100), UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_connect(sa.ble, h, 0x100, 100), UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_connect(sa.ble, h, PSM, 22), UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_connect(sa.ble, h + 1, PSM, 100), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_l2cap_listen(sb.ble, PSM, 512), UVBLE_EALREADY);
  CHECK_EQ(uvble_l2cap_listen(sb.ble, 0, 512), UVBLE_EINVAL);
  CHECK_EQ(uvble_l2cap_listen(sb.ble, 0x81, 22), UVBLE_EINVAL);
  /* The 200-byte SDU arrives whole at B, the 100-byte one at A. */
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_L2CAP_RECV, 1, 1000));
  CHECK_EQ(uvble_l2cap_recvinto(sb.ble, h, bcid, big, sizeof big), 200);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_RECV, 1, 1000));
  CHECK_EQ(uvble_l2cap_recvinto(sa.ble, h, acid, big, sizeof big), 100);
  teardown();
}

TEST(ignoring_the_stall_gets_eagain_then_send_ready) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_set_opt(sa.ble, UVBLE_L2CAP_OPT_TX_BUFFER, 4096), 0);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 1000), 0);
  uint16_t h = link_up();
  uint16_t bcid;
  uint16_t acid = chan_up(h, PSM, 1000, &bcid);
  uvble_l2cap_chan_info_t ai;
  REQUIRE_EQ(uvble_l2cap_chan_info(sa.ble, h, acid, &ai), 0);
  CHECK_EQ(ai.tx_buffer, 4096);
  uint8_t sdu[1000];
  memset(sdu, 1, sizeof sdu);
  int r, n = 0, zeros = 0;
  /* 32 credits of 247 bytes go straight to the link; then the buffer. */
  while ((r = uvble_l2cap_send(sa.ble, h, acid, sdu, sizeof sdu)) >= 0 &&
         n < 100) {
    n++;
    zeros += r == 0;
  }
  CHECK_EQ(r, UVBLE_EAGAIN);
  CHECK(zeros >= 1);
  CHECK(n > 4 && n < 100);
  struct l2f_flow *f = &flows[nflows++]; /* B reads whatever comes */
  f->rxb = sb.ble;
  f->rx_conn = h;
  f->rx_cid = bcid;
  f->rx_auto = f->discard = true;
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_SEND_READY, 1, 2000));
  const struct ev *e = find_ev(&sa, UVBLE_IRQ_L2CAP_SEND_READY, 0);
  CHECK_EQ(e->cid, acid);
  CHECK_EQ(e->status, 0);
  teardown();
}

TEST(sixty_four_channels_on_one_link) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 100), 0);
  uint16_t h = link_up();
  int cids[64];
  for (int i = 0; i < 64; i++) {
    cids[i] = uvble_l2cap_connect(sa.ble, h, PSM, 100);
    REQUIRE(cids[i] >= 0x40 && cids[i] <= 0x7f);
  }
  CHECK_EQ(uvble_l2cap_connect(sa.ble, h, PSM, 100), UVBLE_ENOSPC);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_CONNECT, 64, 5000));
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_L2CAP_CONNECT, 64, 5000));
  /* Each carries its own data. */
  for (int i = 0; i < 64; i++) {
    uint8_t v = (uint8_t)i;
    CHECK_EQ(uvble_l2cap_send(sa.ble, h, (uint16_t)cids[i], &v, 1), 1);
  }
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_L2CAP_RECV, 64, 5000));
  int ok = 0;
  for (int i = 0; i < 64; i++) {
    const struct ev *c = find_ev(&sb, UVBLE_IRQ_L2CAP_CONNECT, i);
    uint8_t v = 0xff;
    /* B's i-th channel is A's i-th (requests answered in order). */
    if (uvble_l2cap_recvinto(sb.ble, h, c->cid, &v, 1) == 1 && v == i) ok++;
  }
  CHECK_EQ(ok, 64);
  /* Freed CIDs are reused. */
  CHECK_EQ(uvble_l2cap_disconnect(sa.ble, h, (uint16_t)cids[5]), 0);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 1000));
  CHECK_EQ(uvble_l2cap_connect(sa.ble, h, PSM, 100), cids[5]);
  teardown();
}

TEST(disconnect_while_connecting_closes_once_answered) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 100), 0);
  uint16_t h = link_up();
  int cid = uvble_l2cap_connect(sa.ble, h, PSM, 100);
  REQUIRE(cid >= 0x40);
  CHECK_EQ(uvble_l2cap_disconnect(sa.ble, h, (uint16_t)cid), 0);
  CHECK_EQ(uvble_l2cap_disconnect(sa.ble, h, (uint16_t)cid), UVBLE_EALREADY);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 1000));
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 1000));
  CHECK_EQ(count_ev(&sa, UVBLE_IRQ_L2CAP_CONNECT), 0);
  CHECK_EQ(find_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 0)->status, 0);
  CHECK_EQ(count_ev(&sb, UVBLE_IRQ_L2CAP_CONNECT), 1);
  teardown();
}

TEST(one_credit_window_and_maximum_sdus) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_set_opt(sb.ble, UVBLE_L2CAP_OPT_CREDITS, 1), 0);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 65535), 0);
  uint16_t h = link_up();
  uint16_t bcid;
  uint16_t acid = chan_up(h, PSM, 65535, &bcid);
  uvble_l2cap_chan_info_t bi;
  REQUIRE_EQ(uvble_l2cap_chan_info(sb.ble, h, bcid, &bi), 0);
  CHECK_EQ(bi.rx_credits, 1);
  CHECK_EQ(bi.rx_buffer, 65535 + 2 + 247); /* one SDU and a K-frame */
  struct l2f_flow *f =
      start_flow(&sa, h, acid, &sb, h, bcid, 1000000, 60000, 65535, 10);
  REQUIRE(run_until_pred(&loop, flows_done, NULL, 30000));
  CHECK(l2f_ok(f));
  teardown();
}

TEST(closing_the_stacks_mid_transfer_frees_everything) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 1000), 0);
  uint16_t h = link_up();
  uint16_t bcid;
  uint16_t acid = chan_up(h, PSM, 1000, &bcid);
  struct l2f_flow *f =
      start_flow(&sa, h, acid, &sb, h, bcid, 50 * 1000 * 1000, 1, 1000, 11);
  f->rx_auto = false;
  REQUIRE(uvble_l2cap_connect(sa.ble, h, PSM, 1000) >= 0x40);
  run_until_idle(&loop, 5000);
  int before = sa.nev;
  teardown();               /* ASan's leak check is the assertion */
  CHECK_EQ(sa.nev, before); /* no events after uvble_close */
}

static int powered;
static void on_power(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  powered = status == 0 ? 1 : -1;
}

static bool powered_pred(void *arg) {
  (void)arg;
  return powered != 0;
}

TEST(power_cycle_ends_channels_and_keeps_listeners) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 300), 0);
  uint16_t h = link_up();
  uint16_t bcid;
  uint16_t acid = chan_up(h, PSM, 300, &bcid);
  powered = 0;
  REQUIRE_EQ(uvble_active(sb.ble, false, on_power, NULL), 0);
  /* The channel ended with the link, synchronously, before power-off. */
  REQUIRE_EQ(count_ev(&sb, UVBLE_IRQ_L2CAP_DISCONNECT), 1);
  CHECK_EQ(find_ev(&sb, UVBLE_IRQ_L2CAP_DISCONNECT, 0)->cid, bcid);
  REQUIRE(run_until_pred(&loop, powered_pred, NULL, 2000));
  CHECK_EQ(powered, 1);
  /* A's side learns when the controller reports the link gone. */
  memctl_disconnect(mc, h, 0x13);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 1000));
  CHECK_EQ(find_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 0)->cid, acid);
  powered = 0;
  REQUIRE_EQ(uvble_active(sb.ble, true, on_power, NULL), 0);
  REQUIRE(run_until_pred(&loop, powered_pred, NULL, 2000));
  CHECK_EQ(powered, 1);
  /* Still listening after the power cycle. */
  uint16_t h2 = link_up();
  chan_up(h2, PSM, 300, NULL);
  teardown();
}

/* The controller vanishes: the first write fails inside our call. Nothing
 * fails or is freed inside the call (the caller may be a layer in the
 * middle of a PDU, or an app holding a channel): the stack fails on a
 * later loop turn, and every link and channel ends then. */
TEST(transport_failure_inside_send_and_recvinto) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_set_opt(sb.ble, UVBLE_L2CAP_OPT_CREDITS, 2), 0);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 1000), 0);
  uint16_t h = link_up();
  uint16_t b1, b2;
  uint16_t a1 = chan_up(h, PSM, 1000, &b1);
  REQUIRE_EQ(uvble_l2cap_set_opt(sb.ble, UVBLE_L2CAP_OPT_CREDITS, 32), 0);
  uint16_t a2 = chan_up(h, PSM, 1000, &b2);
  /* B holds an SDU whose reading will return a credit (its small window
   * was limited by buffer space). */
  uint8_t b[1000];
  memset(b, 3, sizeof b);
  CHECK(uvble_l2cap_send(sa.ble, h, a1, b, sizeof b) >= 0);
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_L2CAP_RECV, 1, 1000));
  uvble_l2cap_chan_info_t bi;
  REQUIRE_EQ(uvble_l2cap_chan_info(sb.ble, h, b1, &bi), 0);
  CHECK_EQ(bi.rx_credits, 1);
  memctl_free(mc);
  mc = NULL;
  /* A has credits on a2: its K-frame write fails inside send(). */
  CHECK(uvble_l2cap_send(sa.ble, h, a2, b, sizeof b) >= 0);
  CHECK_EQ(count_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT), 0);
  CHECK(uvble_is_active(sa.ble));
  /* B's credit indication fails inside recvinto(). */
  CHECK_EQ(uvble_l2cap_recvinto(sb.ble, h, b1, b, sizeof b), 1000);
  CHECK_EQ(count_ev(&sb, UVBLE_IRQ_L2CAP_DISCONNECT), 0);
  /* Both fail on a later turn: every channel ends with its link. */
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 2, 1000));
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_L2CAP_DISCONNECT, 2, 1000));
  CHECK(!uvble_is_active(sa.ble));
  CHECK(!uvble_is_active(sb.ble));
  CHECK_EQ(uvble_l2cap_recvinto(sb.ble, h, b1, b, sizeof b), UVBLE_ENOTCONN);
  teardown();
}

/* ---- uvble_l2cap_connect_req (uvble/req.h) ------------------------------- */
struct lreq {
  uvble_req_t req;
  int calls;
  int status;
  bool had_result;
  uvble_irq_data_t result;
};

static void on_lreq(uvble_req_t *req, int status, const uvble_irq_data_t *d,
                    void *arg) {
  struct lreq *q = arg;
  CHECK(req == &q->req);
  q->calls++;
  q->status = status;
  q->had_result = d != NULL;
  if (d) q->result = *d;
}

static void lreq_init(struct lreq *q) {
  memset(q, 0, sizeof *q);
  uvble_req_init(&q->req, on_lreq, q);
}

static bool lreq_done(void *arg) { return ((struct lreq *)arg)->calls > 0; }

static uint64_t late_responses(uvble_t *ble) {
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  return st.req_late_responses;
}

TEST(connect_req_opens_or_fails_without_irq_events) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 512), 0);
  uint16_t h = link_up();
  struct lreq q;
  lreq_init(&q);
  int cid = uvble_l2cap_connect_req(&q.req, sa.ble, h, PSM, 256);
  REQUIRE(cid >= 0x40);
  CHECK_EQ(q.req.type, UVBLE_REQ_L2CAP_CONNECT);
  CHECK_EQ(q.calls, 0);
  REQUIRE(run_until_pred(&loop, lreq_done, &q, 1000));
  CHECK_EQ(q.status, 0);
  CHECK_EQ(q.result.l2cap_connect.cid, cid);
  CHECK_EQ(q.result.l2cap_connect.psm, PSM);
  CHECK_EQ(q.result.l2cap_connect.peer_mtu, 512);
  CHECK_EQ(count_ev(&sa, UVBLE_IRQ_L2CAP_CONNECT), 0);
  CHECK_EQ(uvble_cancel(&q.req), UVBLE_EALREADY);
  /* The open channel's end goes to the irq handler. */
  REQUIRE_EQ(uvble_l2cap_disconnect(sa.ble, h, (uint16_t)cid), 0);
  REQUIRE(wait_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 1000));
  CHECK_EQ(q.calls, 1);
  /* A refusal: the peer's result code, as sent. */
  REQUIRE(uvble_l2cap_connect_req(&q.req, sa.ble, h, PSM + 1, 256) >= 0x40);
  q.calls = 0;
  REQUIRE(run_until_pred(&loop, lreq_done, &q, 1000));
  CHECK_EQ(q.status, UVBLE_L2CAP_RESULT_SPSM_NOT_SUPPORTED);
  CHECK_EQ(q.result.l2cap_disconnect.psm, PSM + 1);
  CHECK_EQ(count_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT), 1);
  teardown();
}

TEST(connect_req_cancel_closes_what_the_peer_opens) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 512), 0);
  uint16_t h = link_up();
  struct lreq q;
  lreq_init(&q);
  REQUIRE(uvble_l2cap_connect_req(&q.req, sa.ble, h, PSM, 256) >= 0x40);
  uint64_t late = late_responses(sa.ble);
  REQUIRE_EQ(uvble_cancel(&q.req), 0);
  CHECK_EQ(q.calls, 0);
  CHECK_EQ(uvble_cancel(&q.req), UVBLE_EALREADY);
  REQUIRE(run_until_pred(&loop, lreq_done, &q, 1000));
  CHECK_EQ(q.status, UVBLE_ECANCELED);
  CHECK(!q.had_result);
  /* The peer opened it, then saw it closed; we said nothing. */
  REQUIRE(wait_ev(&sb, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 1000));
  CHECK_EQ(count_ev(&sb, UVBLE_IRQ_L2CAP_CONNECT), 1);
  CHECK_EQ(late_responses(sa.ble), late + 1);
  run_until_idle(&loop, 5000);
  CHECK_EQ(q.calls, 1);
  CHECK_EQ(count_ev(&sa, UVBLE_IRQ_L2CAP_CONNECT), 0);
  CHECK_EQ(count_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT), 0);
  teardown();
}

TEST(connect_req_ends_with_the_link_or_the_stack) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 512), 0);
  uint16_t h = link_up();
  struct lreq q;
  lreq_init(&q);
  REQUIRE(uvble_l2cap_connect_req(&q.req, sa.ble, h, PSM, 256) >= 0x40);
  memctl_disconnect(mc, h, 0x08);
  REQUIRE(run_until_pred(&loop, lreq_done, &q, 1000));
  CHECK_EQ(q.calls, 1);
  CHECK_EQ(q.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(count_ev(&sa, UVBLE_IRQ_L2CAP_DISCONNECT), 0);
  h = link_up();
  REQUIRE(uvble_l2cap_connect_req(&q.req, sa.ble, h, PSM, 256) >= 0x40);
  uvble_close(sa.ble, NULL, NULL);
  sa.ble = NULL;
  CHECK_EQ(q.calls, 2); /* inside uvble_close */
  CHECK_EQ(q.status, UVBLE_ECANCELED);
  teardown();
}

TEST_MAIN()
