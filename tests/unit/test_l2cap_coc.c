/* LE credit-based channels end to end: two stacks on the in-memory
 * controller pair (memctl), the application's view through the core API. */
#include <stdlib.h>
#include <string.h>

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

/* A deterministic stream of SDUs: sizes and bytes from one seed, so the
 * receiver regenerates what it must get and compares. */
struct stream {
  uint64_t seed;
  size_t min, max; /* SDU sizes */
  size_t sdus_done;
  size_t bytes_done;
};

static uint64_t xs(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* The next SDU of the stream into buf; returns its length. */
static size_t stream_next(struct stream *st, uint8_t *buf) {
  uint64_t s = st->seed;
  size_t len = st->min + (size_t)(xs(&s) % (st->max - st->min + 1));
  for (size_t i = 0; i < len; i += 8) {
    uint64_t v = xs(&s);
    size_t n = len - i < 8 ? len - i : 8;
    memcpy(buf + i, &v, n);
  }
  return len;
}

static void stream_advance(struct stream *st, size_t len) {
  xs(&st->seed);
  st->sdus_done++;
  st->bytes_done += len;
}

struct side {
  uvble_t *ble;
  struct ev ev[MAX_EV];
  int nev;
  int accept_ret;
  bool auto_read;   /* read each SDU on RECV and check it */
  struct stream rx; /* what this side expects */
  size_t rx_target; /* bytes after which it stops checking */
  int rx_errors;
  /* sending */
  struct stream tx;
  size_t tx_target;
  uint16_t tx_conn, tx_cid;
  bool tx_active;
  int send_ready;
  int sends_stalled;
  uint8_t *buf;
};

static struct side sa, sb;
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

static void pump_tx(struct side *s) {
  while (s->tx_active && s->tx.bytes_done < s->tx_target) {
    size_t len = stream_next(&s->tx, s->buf);
    int r = uvble_l2cap_send(s->ble, s->tx_conn, s->tx_cid, s->buf, len);
    if (r == UVBLE_EAGAIN) {
      s->sends_stalled++;
      return;
    }
    if (r < 0) {
      s->tx_active = false;
      return;
    }
    stream_advance(&s->tx, len);
    if (r == 0) {
      s->sends_stalled++;
      return;
    }
  }
}

static void read_all(struct side *s, uint16_t conn, uint16_t cid) {
  static uint8_t got[70000], want[70000];
  for (;;) {
    int n = uvble_l2cap_recvinto(s->ble, conn, cid, NULL, 0);
    if (n <= 0) return;
    int r = uvble_l2cap_recvinto(s->ble, conn, cid, got, sizeof got);
    if (r != n) s->rx_errors++;
    size_t wl = stream_next(&s->rx, want);
    if (wl != (size_t)r || memcmp(got, want, wl) != 0) s->rx_errors++;
    stream_advance(&s->rx, wl);
  }
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
      if (e.cid == s->tx_cid) s->tx_active = false;
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
  /* Data events are many: keep only the first ones. */
  if (s->nev < MAX_EV) s->ev[s->nev++] = e;
  if (type == UVBLE_IRQ_L2CAP_ACCEPT) return s->accept_ret;
  if (type == UVBLE_IRQ_L2CAP_RECV && s->auto_read) read_all(s, e.conn, e.cid);
  if (type == UVBLE_IRQ_L2CAP_SEND_READY) {
    s->send_ready++;
    pump_tx(s);
  }
  return 0;
}

static void setup(const struct memctl_config *cfg) {
  uv_loop_init(&loop);
  memset(&sa, 0, sizeof sa);
  memset(&sb, 0, sizeof sb);
  sa.buf = malloc(70000);
  sb.buf = malloc(70000);
  REQUIRE_EQ(memctl_bring_up(&loop, cfg, &mc, &sa.ble, &sb.ble), 0);
  uvble_irq(sa.ble, on_irq, &sa);
  uvble_irq(sb.ble, on_irq, &sb);
}

static void teardown(void) {
  if (sa.ble) uvble_close(sa.ble, NULL);
  if (sb.ble) uvble_close(sb.ble, NULL);
  memctl_free(mc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
  free(sa.buf);
  free(sb.buf);
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

/* Runs A -> B over one channel until target bytes arrived (or timeout). */
static bool rx_done(void *arg) {
  (void)arg;
  return sb.rx.bytes_done >= sb.rx_target || !sa.tx_active;
}

static void start_stream(uint16_t h, uint16_t acid, size_t target,
                         size_t min, size_t max, uint64_t seed) {
  sa.tx = (struct stream){seed, min, max, 0, 0};
  sb.rx = sa.tx;
  sa.tx_target = sb.rx_target = target;
  sa.tx_conn = h;
  sa.tx_cid = acid;
  sa.tx_active = true;
  sb.auto_read = true;
  pump_tx(&sa);
}

TEST(ten_megabytes_in_random_sdu_sizes_arrive_intact) {
  setup(NULL);
  REQUIRE_EQ(uvble_l2cap_listen(sb.ble, PSM, 2000), 0);
  uint16_t h = link_up();
  uint16_t acid = chan_up(h, PSM, 2000, NULL);
  start_stream(h, acid, 10 * 1000 * 1000, 1, 2000, 0x9E3779B97F4A7C15ull);
  REQUIRE(run_until_pred(&loop, rx_done, NULL, 60000));
  CHECK_EQ(sb.rx_errors, 0);
  CHECK_EQ(sb.rx.bytes_done, sa.tx.bytes_done);
  CHECK_EQ(sb.rx.sdus_done, sa.tx.sdus_done);
  CHECK(sa.send_ready > 0); /* the sender did stall and resume */
  uvble_l2cap_stats_t st;
  uvble_l2cap_get_stats(sb.ble, &st);
  CHECK_EQ(st.rx_sdus, sb.rx.sdus_done);
  CHECK_EQ(st.rx_bytes, sb.rx.bytes_done);
  CHECK_EQ(st.viol_no_credits + st.viol_kframe_over_mps + st.viol_sdu_over_mtu +
               st.viol_sdu_overrun + st.viol_bad_kframe + st.viol_credit_overflow,
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
  start_stream(h, acid, 400000, 100, 1000, 42);
  sb.auto_read = false; /* B does not read */
  run_for(&loop, 300);
  /* The sender filled its buffer and stalled; B holds no more than the
   * buffer its credits allow, and no SEND_READY came. */
  CHECK(sa.tx.bytes_done < 400000);
  CHECK(sa.sends_stalled > 0);
  CHECK_EQ(sa.send_ready, 0);
  uvble_l2cap_chan_info_t bi, ai;
  REQUIRE_EQ(uvble_l2cap_chan_info(sb.ble, h, bcid, &bi), 0);
  REQUIRE_EQ(uvble_l2cap_chan_info(sa.ble, h, acid, &ai), 0);
  CHECK(bi.rx_unread > 0);
  CHECK(bi.rx_unread <= bi.rx_buffer);
  CHECK(bi.rx_buffer <= 8 * 247 + 1002 + 247);
  CHECK_EQ(bi.rx_credits, 0);
  CHECK_EQ(ai.tx_credits, 0);
  CHECK(ai.tx_queued > 0);
  size_t sent_while_stalled = sa.tx.bytes_done;
  run_for(&loop, 200);
  CHECK_EQ(sa.tx.bytes_done, sent_while_stalled);
  /* Reading resumes the flow; everything arrives in order. */
  sb.auto_read = true;
  read_all(&sb, h, bcid);
  REQUIRE(run_until_pred(&loop, rx_done, NULL, 20000));
  CHECK_EQ(sb.rx_errors, 0);
  CHECK_EQ(sb.rx.bytes_done, sa.tx.bytes_done);
  CHECK(sa.send_ready > 0);
  teardown();
}

TEST_MAIN()
