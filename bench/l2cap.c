/* SPDX-License-Identifier: Apache-2.0 */
/* L2CAP LE credit-based channel throughput.
 *
 *   l2cap --link mem [options]                 both hosts in this process,
 *                                              joined by the in-memory
 *                                              controller pair (memctl)
 *   l2cap --role recv --transport SPEC --ready FILE --report FILE [options]
 *   l2cap --role send --transport SPEC --peer ADDR --report FILE [options]
 *                                              one host per process, e.g. on
 *                                              btvirt (bench/run starts both)
 *   l2cap --link mem --sweep DIR               SDU sizes x credit windows:
 *                                              DIR/l2cap-sweep.csv (+ .png
 *                                              when gnuplot is installed)
 *
 * Options: --bytes N (SDU payload to move), --sdu N (fixed size) or
 * --sdu-min N --sdu-max N (random sizes from a seeded generator), --mtu N
 * (both ends; default the largest SDU), --credits N (the receiver's credit
 * window), --acl-mtu N --acl-pkts N --completed-batch N (memctl only;
 * completions default to one event per --acl-pkts packets or loop turn),
 * --link-name NAME (label in the JSON for process mode).
 * On a real link layer (bench/run l2cap ll): --air, --phy 1m|2m (default
 * 2m), --data-length N (default 251; 27 keeps the default), --conn
 * throughput|default (connection parameter preset, default throughput),
 * --hci-baud N (the controller UART's rate: its limit goes in the JSON).
 * Any of them sets --air: the JSON then gives kbit/s and the air-time
 * limit (bench/air.h, bench/README.md).
 *
 * Each SDU starts with its 8-byte sequence number; the receiver checks the
 * sequence, every SDU's length and a 64-bit checksum of all payload bytes,
 * so "lossless" in the output means nothing was lost, duplicated, reordered
 * or altered. Output: one JSON line per run. MB = 10^6 bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>

#include "air.h"
#include "memctl.h"
#include "uvble/gap.h"
#include "uvble/l2cap.h"
#include "uvble/uvble.h"

#define PSM 0x0080
#define SEED 0x2545F4914F6CDD1Dull

struct opts {
  const char *link; /* "mem", or a label for process mode */
  const char *role; /* "both", "send", "recv" */
  const char *transport, *peer, *ready, *report, *sweep;
  uint64_t bytes;
  size_t sdu_min, sdu_max;
  unsigned mtu, credits;
  unsigned acl_mtu, acl_pkts, completed_batch;
  /* Process mode on a real link layer (--air): PHY, data length, preset;
   * hci_baud for the UART's own limit in the JSON (0: not printed). */
  bool air;
  air_want_t want;
  unsigned hci_baud;
};

/* ---- SDU sizes and contents ------------------------------------------------
 */
struct gen {
  uint64_t state;
  size_t min, max;
};

static size_t gen_next(struct gen *g) {
  if (g->min == g->max) return g->min;
  uint64_t x = g->state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  g->state = x;
  return g->min + (size_t)(x % (g->max - g->min + 1));
}

/* A word-wise sum: cheap enough not to be what is measured. */
static uint64_t checksum(const uint8_t *p, size_t n) {
  uint64_t s = 0, w;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    memcpy(&w, p + i, 8);
    s += w;
  }
  for (; i < n; i++) s += (uint64_t)p[i] << (8 * (i & 7));
  return s;
}

static double cpu_now(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the two ends
 * -------------------------------------------------------------- */
struct end {
  const struct opts *o;
  uvble_t *ble;
  uint16_t conn, cid;
  bool open, closed;
  struct gen gen;
  uint64_t seq, bytes, sum;
  uint8_t *buf;
  /* sender */
  int send_errors;
  /* receiver */
  bool done;
  int bad_len, bad_seq;
  /* timing */
  double t0, t1, c0, c1;
  uvble_addr_t peer_addr;
  bool link_up;
  int disconnect_status;
};

static void tx_pump(struct end *e) {
  while (e->open && e->bytes < e->o->bytes) {
    struct gen g = e->gen;
    size_t len = gen_next(&g);
    uint64_t seq = e->seq;
    if (len >= 8) memcpy(e->buf, &seq, 8);
    int r = uvble_l2cap_send(e->ble, e->conn, e->cid, e->buf, len);
    if (r == UVBLE_EAGAIN) return;
    if (r < 0) {
      e->send_errors++;
      e->open = false;
      return;
    }
    e->gen = g;
    e->seq++;
    e->bytes += len;
    e->sum += checksum(e->buf, len);
    if (r == 0) return;
  }
}

static void rx_finish(struct end *e);

static void rx_drain(struct end *e) {
  for (;;) {
    int n = uvble_l2cap_recvinto(e->ble, e->conn, e->cid, e->buf, 65536);
    if (n <= 0) return;
    size_t want = gen_next(&e->gen);
    if ((size_t)n != want) e->bad_len++;
    if (n >= 8) {
      uint64_t seq;
      memcpy(&seq, e->buf, 8);
      if (seq != e->seq) e->bad_seq++;
    }
    e->seq++;
    e->bytes += (size_t)n;
    e->sum += checksum(e->buf, (size_t)n);
    if (e->bytes >= e->o->bytes && !e->done) {
      rx_finish(e);
      return;
    }
  }
}

static void rx_finish(struct end *e) {
  e->done = true;
  e->t1 = wall_now();
  e->c1 = cpu_now();
}

static int on_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d, void *arg) {
  struct end *e = arg;
  switch (ev) {
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
    case UVBLE_IRQ_CENTRAL_CONNECT:
      e->conn = d->connect.conn_handle;
      e->link_up = d->connect.addr.type != UVBLE_ADDR_NONE;
      /* On the air the sender opens the channel once the link has its
       * PHY and data length (run_send). */
      if (ev == UVBLE_IRQ_PERIPHERAL_CONNECT && e->link_up && !e->o->air)
        uvble_l2cap_connect(ble, e->conn, PSM, (uint16_t)e->o->mtu);
      break;
    case UVBLE_IRQ_L2CAP_CONNECT:
      e->conn = d->l2cap_connect.conn_handle;
      e->cid = d->l2cap_connect.cid;
      e->open = true;
      e->t0 = wall_now();
      e->c0 = cpu_now();
      break;
    case UVBLE_IRQ_L2CAP_DISCONNECT:
      e->open = false;
      e->closed = true;
      e->disconnect_status = d->l2cap_disconnect.status;
      break;
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
    case UVBLE_IRQ_CENTRAL_DISCONNECT:
      e->open = false;
      e->closed = true;
      break;
    case UVBLE_IRQ_L2CAP_RECV:
      if (!e->done) rx_drain(e);
      break;
    case UVBLE_IRQ_L2CAP_SEND_READY:
      tx_pump(e);
      break;
    default:
      break;
  }
  return 0;
}

static void end_init(struct end *e, const struct opts *o) {
  memset(e, 0, sizeof *e);
  e->o = o;
  e->gen.state = SEED;
  e->gen.min = o->sdu_min;
  e->gen.max = o->sdu_max;
  e->buf = malloc(65536);
  if (!e->buf) abort();
  for (size_t i = 0; i < 65536; i++) e->buf[i] = (uint8_t)(i * 131 + 7);
}

/* ---- results
 * ---------------------------------------------------------------------- */
struct result {
  double mbps, seconds, cpu_total, cpu_send, cpu_recv;
  uint64_t bytes, sdus;
  bool lossless;
  unsigned mps_send, mps_recv, credits, mtu;
  double idle_frac;
  uint64_t idle_samples;
  uint64_t loop_turns; /* mem: uv_run(ONCE) calls while data moved */
};

/* The machine's 1-minute load average: the figures are wall-clock, and the
 * machine may be shared. */
static double loadavg(void) {
  double l = -1;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf", &l) != 1) l = -1;
    fclose(f);
  }
  return l;
}

/* The scheduling class this process runs in (bench/run can start the
 * btvirt runs real-time, which shields their latency from other load). */
static const char *sched_name(void) {
  switch (sched_getscheduler(0)) {
    case SCHED_FIFO:
      return "fifo";
    case SCHED_RR:
      return "rr";
    default:
      return "other";
  }
}

static void print_json(const struct opts *o, const char *link,
                       const struct result *r, const char *extra) {
  double mb = (double)r->bytes / 1e6;
  /* On the air (kB/s-scale links) the figure is kbit/s of SDU payload. */
  if (o->air)
    printf(
        "{\"bench\":\"l2cap\",\"link\":\"%s\",\"metric\":\"throughput\","
        "\"value\":%.1f,\"unit\":\"kbit/s\",",
        link, r->mbps * 8e3);
  else
    printf(
        "{\"bench\":\"l2cap\",\"link\":\"%s\",\"metric\":\"throughput\","
        "\"value\":%.2f,\"unit\":\"MB/s\",",
        link, r->mbps);
  if (r->cpu_total >= 0)
    printf("\"cpu_s_per_mb\":%.5f,\"mb_per_cpu_s\":%.1f,", r->cpu_total / mb,
           mb / r->cpu_total);
  if (r->cpu_send >= 0)
    printf("\"cpu_s_per_mb_send\":%.5f,\"cpu_s_per_mb_recv\":%.5f,",
           r->cpu_send / mb, r->cpu_recv / mb);
  printf("\"lossless\":%s,\"bytes\":%" PRIu64 ",\"sdus\":%" PRIu64
         ",\"seconds\":%.3f,\"sdu_min\":%zu,\"sdu_max\":%zu,\"mtu\":%u,"
         "\"mps_send\":%u,\"mps_recv\":%u,\"credits\":%u,"
         "\"acl_idle_with_data\":%.4f,\"acl_idle_samples\":%" PRIu64
         ",\"loadavg\":%.2f,\"sched\":\"%s\"%s}\n",
         r->lossless ? "true" : "false", r->bytes, r->sdus, r->seconds,
         o->sdu_min, o->sdu_max, r->mtu, r->mps_send, r->mps_recv, r->credits,
         r->idle_frac, r->idle_samples, loadavg(), sched_name(),
         extra ? extra : "");
  fflush(stdout);
}

static void idle_stats(uvble_t *sender, struct result *r) {
  uvble_l2cap_stats_t st;
  uvble_l2cap_get_stats(sender, &st);
  r->idle_samples = st.acl_samples;
  r->idle_frac =
      st.acl_samples ? (double)st.acl_idle_with_data / st.acl_samples : 0;
}

/* ---- in-memory pair
 * ------------------------------------------------------------------ */
static bool all_done(const struct end *tx, const struct end *rx) {
  return rx->done || rx->closed || tx->closed || tx->send_errors;
}

static int run_mem(const struct opts *o, struct result *r) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct memctl_config cfg = {.acl_mtu = (uint16_t)o->acl_mtu,
                              .acl_pkts = (uint8_t)o->acl_pkts,
                              .completed_batch = o->completed_batch};
  memctl_t *mc;
  struct end tx, rx;
  end_init(&tx, o);
  end_init(&rx, o);
  int err = memctl_bring_up(&loop, &cfg, &mc, &tx.ble, &rx.ble);
  if (err == 0) {
    uvble_irq(tx.ble, on_irq, &tx);
    uvble_irq(rx.ble, on_irq, &rx);
    uvble_l2cap_set_opt(rx.ble, UVBLE_L2CAP_OPT_CREDITS, (int)o->credits);
    uvble_l2cap_listen(rx.ble, PSM, (uint16_t)o->mtu);
    memctl_connect(mc); /* tx is central: it opens the channel */
    while (!tx.open && !tx.closed && uv_run(&loop, UV_RUN_ONCE)) {
    }
    if (!tx.open) err = UVBLE_ECONNREFUSED;
  }
  if (err == 0) {
    double c0 = cpu_now(), t0 = wall_now();
    tx_pump(&tx);
    while (!all_done(&tx, &rx) && uv_run(&loop, UV_RUN_ONCE)) r->loop_turns++;
    double t1 = rx.done ? rx.t1 : wall_now(), c1 = cpu_now();
    uvble_l2cap_chan_info_t ti, ri;
    uvble_l2cap_chan_info(tx.ble, tx.conn, tx.cid, &ti);
    uvble_l2cap_chan_info(rx.ble, rx.conn, rx.cid, &ri);
    r->seconds = t1 - t0;
    r->bytes = rx.bytes;
    r->sdus = rx.seq;
    r->mbps = (double)rx.bytes / 1e6 / r->seconds;
    r->cpu_total = c1 - c0;
    r->cpu_send = r->cpu_recv = -1;
    r->lossless = rx.done && !rx.bad_len && !rx.bad_seq && rx.sum == tx.sum &&
                  rx.bytes == tx.bytes;
    r->mps_send = ti.peer_mps;
    r->mps_recv = ri.our_mps;
    r->credits = o->credits;
    r->mtu = o->mtu;
    idle_stats(tx.ble, r);
  }
  uvble_close(tx.ble, NULL, NULL);
  uvble_close(rx.ble, NULL, NULL);
  memctl_free(mc);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free(tx.buf);
  free(rx.buf);
  return err;
}

/* ---- one host per process (btvirt, or any controller pair)
 * ------------------- */
struct report { /* what the receiver hands the sender, as text */
  double seconds, cpu;
  uint64_t bytes, sdus, sum;
  int bad_len, bad_seq;
  unsigned mps;
};

static int write_report(const char *path, const struct end *e, unsigned mps) {
  FILE *f = fopen(path, "w");
  if (!f) return -errno;
  fprintf(f, "%.6f %.6f %" PRIu64 " %" PRIu64 " %" PRIu64 " %d %d %u\n",
          e->t1 - e->t0, e->c1 - e->c0, e->bytes, e->seq, e->sum, e->bad_len,
          e->bad_seq, mps);
  return fclose(f) == 0 ? 0 : -errno;
}

static int read_report(const char *path, struct report *r) {
  FILE *f = fopen(path, "r");
  if (!f) return -errno;
  int n = fscanf(f, "%lf %lf %" SCNu64 " %" SCNu64 " %" SCNu64 " %d %d %u",
                 &r->seconds, &r->cpu, &r->bytes, &r->sdus, &r->sum,
                 &r->bad_len, &r->bad_seq, &r->mps);
  fclose(f);
  return n == 8 ? 0 : UVBLE_EPROTO;
}

static void on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  int *st = uvble_get_data(ble);
  *st = status;
}

static int proc_up(uv_loop_t *loop, const struct opts *o, struct end *e) {
  char err[256] = "";
  int r = uvble_new(loop, o->transport, &e->ble, err, sizeof err);
  if (r < 0) {
    fprintf(stderr, "l2cap: %s\n", err[0] ? err : uvble_strerror(r));
    return r;
  }
  int st = 1;
  uvble_set_data(e->ble, &st);
  uvble_irq(e->ble, on_irq, e);
  if (o->air) air_configure(e->ble, &o->want);
  if ((r = uvble_active(e->ble, true, on_active, NULL)) < 0) return r;
  while (st == 1 && uv_run(loop, UV_RUN_ONCE)) {
  }
  uvble_set_data(e->ble, NULL);
  if (st) fprintf(stderr, "l2cap: power-up: %s\n", uvble_strerror(st));
  return st;
}

static int run_recv(uv_loop_t *loop, const struct opts *o, struct end *e) {
  int r = proc_up(loop, o, e);
  if (r) return r;
  uvble_l2cap_set_opt(e->ble, UVBLE_L2CAP_OPT_CREDITS, (int)o->credits);
  uvble_l2cap_listen(e->ble, PSM, (uint16_t)o->mtu);
  static const uint8_t adv[] = {2,   0x01, 0x06, 6,   0x09,
                                'b', 'e',  'n',  'c', 'h'};
  r = uvble_gap_advertise(e->ble, 20000, adv, sizeof adv, NULL, 0, true);
  if (r < 0) return r;
  uvble_controller_info_t info;
  uvble_controller_info(e->ble, &info);
  char a[UVBLE_ADDR_STR_LEN];
  FILE *f = fopen(o->ready, "w");
  if (!f) return -errno;
  fprintf(f, "%s\n", uvble_addr_to_str(&info.public_addr, a));
  fclose(f);
  while (!e->done && !e->closed && uv_run(loop, UV_RUN_ONCE)) {
  }
  if (!e->done) return UVBLE_ECONNRESET;
  uvble_l2cap_chan_info_t ci;
  uvble_l2cap_chan_info(e->ble, e->conn, e->cid, &ci);
  if ((r = write_report(o->report, e, ci.our_mps)) < 0) return r;
  /* Closing the channel tells the sender the report is there. */
  uvble_l2cap_disconnect(e->ble, e->conn, e->cid);
  while (!e->closed && uv_run(loop, UV_RUN_ONCE)) {
  }
  return 0;
}

static int run_send(uv_loop_t *loop, const struct opts *o, struct end *e,
                    struct result *res, air_link_t *air, const char **note) {
  int r = proc_up(loop, o, e);
  if (r) return r;
  uvble_addr_t peer = {UVBLE_ADDR_PUBLIC, {0}};
  if (uvble_addr_parse(&peer, o->peer) < 0) return UVBLE_EINVAL;
  if ((r = o->air ? air_connect(e->ble, &peer, &o->want)
                  : uvble_gap_connect(e->ble, &peer, 5000, 0, 0)) < 0)
    return r;
  if (o->air) {
    while (!e->link_up && !e->closed && uv_run(loop, UV_RUN_ONCE)) {
    }
    air_link_t rx;
    if (e->link_up) *note = air_settle(loop, e->ble, e->conn, &o->want, true, air, &rx);
    /* The receiver listens; the sender (central) opens the channel once
     * the link has its PHY and data length, so the clock starts then. */
    if (e->link_up) uvble_l2cap_connect(e->ble, e->conn, PSM, (uint16_t)o->mtu);
  }
  while (!e->open && !e->closed && uv_run(loop, UV_RUN_ONCE)) {
  }
  if (!e->open) return UVBLE_ECONNREFUSED;
  uvble_l2cap_chan_info_t ci;
  uvble_l2cap_chan_info(e->ble, e->conn, e->cid, &ci);
  tx_pump(e);
  while (!e->closed && uv_run(loop, UV_RUN_ONCE)) {
  }
  e->c1 = cpu_now();
  struct report rep;
  if ((r = read_report(o->report, &rep)) < 0) return r;
  res->seconds = rep.seconds;
  res->bytes = rep.bytes;
  res->sdus = rep.sdus;
  res->mbps = (double)rep.bytes / 1e6 / rep.seconds;
  res->cpu_recv = rep.cpu;
  /* The sender's CPU while data moved (it idles after its last send). */
  res->cpu_send = e->c1 - e->c0;
  /* Both hosts: the stack's cost per MB on this path (the controller's
   * processes, btvirt and socat, are not counted). */
  res->cpu_total = res->cpu_send + res->cpu_recv;
  res->lossless = !rep.bad_len && !rep.bad_seq && rep.sum == e->sum &&
                  rep.bytes == e->bytes;
  res->mps_send = ci.peer_mps;
  res->mps_recv = rep.mps;
  res->credits = o->credits;
  res->mtu = o->mtu;
  idle_stats(e->ble, res);
  return 0;
}

/* The air-time members of the JSON (air.h): goodput in kbit/s against the
 * limit for the SDU size and MPS in use; and the UART's when hci_baud. */
static void air_extra(const struct opts *o, const struct result *res,
                      const air_link_t *l, unsigned acl_mtu, const char *note,
                      char *out, size_t cap) {
  double kbps = res->mbps * 8e3;
  air_unit_t unit = air_l2cap_unit(l, (unsigned)o->sdu_max, res->mps_send);
  /* The sending host cuts K-frames into ACL packets of acl_mtu; the
   * receiving controller hands up one per LL PDU. */
  double hci = o->hci_baud ? air_hci_l2cap_kbps(o->hci_baud,
                                                (unsigned)o->sdu_max,
                                                res->mps_send, acl_mtu,
                                                l->octets)
                           : 0;
  FILE *f = fmemopen(out, cap, "w");
  if (!f) return;
  fprintf(f, ",\"goodput_kbps\":%.1f", kbps);
  air_json(f, l, kbps, &unit, hci, note);
  fclose(f);
}

static int run_proc(const struct opts *o) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct end e;
  end_init(&e, o);
  struct result res;
  memset(&res, 0, sizeof res);
  bool send = strcmp(o->role, "send") == 0;
  air_link_t air = {0};
  const char *note = "";
  int r = send ? run_send(&loop, o, &e, &res, &air, &note)
               : run_recv(&loop, o, &e);
  if (r == 0 && send) {
    uvble_controller_info_t info;
    uvble_controller_info(e.ble, &info);
    char extra[1024];
    int n = snprintf(extra, sizeof extra,
                     ",\"acl_mtu\":%u,\"acl_bufs\":%u,\"cpu_note\":\"cpu_s_per_mb: "
                     "both hosts' processes, the controller's not counted\"",
                     info.acl_mtu, info.acl_max_pkts);
    if (o->air) air_extra(o, &res, &air, info.acl_mtu, note, extra + n,
                          sizeof extra - (size_t)n);
    print_json(o, o->link, &res, extra);
  }
  if (r) fprintf(stderr, "l2cap %s: %s\n", o->role, uvble_strerror(r));
  if (e.ble) uvble_close(e.ble, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free(e.buf);
  return r ? 1 : 0;
}

/* ---- sweep
 * ----------------------------------------------------------------------------
 */
static int run_sweep(const struct opts *base) {
  static const unsigned sdus[] = {23,   50,   100,  247,   500,   1000,
                                  2000, 4000, 8000, 16000, 32000, 65535};
  static const unsigned credits[] = {1, 2, 4, 8, 16, 32, 64};
  char csv[4096], png[4096], gp[4096];
  snprintf(csv, sizeof csv, "%s/l2cap-sweep.csv", base->sweep);
  snprintf(png, sizeof png, "%s/l2cap-sweep.png", base->sweep);
  snprintf(gp, sizeof gp, "%s/l2cap-sweep.gp", base->sweep);
  FILE *f = fopen(csv, "w");
  if (!f) {
    fprintf(stderr, "l2cap: %s: %s\n", csv, strerror(errno));
    return 1;
  }
  fprintf(f,
          "sdu,credits,mb_per_s,mb_per_cpu_s,cpu_s_per_mb,bytes,seconds,"
          "lossless,loadavg\n");
  int bad = 0;
  for (size_t c = 0; c < sizeof credits / sizeof credits[0]; c++) {
    for (size_t s = 0; s < sizeof sdus / sizeof sdus[0]; s++) {
      struct opts o = *base;
      o.sdu_min = o.sdu_max = sdus[s];
      o.mtu = sdus[s];
      o.credits = credits[c];
      /* A fraction of a second each at the rate such SDUs reach. */
      o.bytes = sdus[s] < 500 ? 4000000 : sdus[s] < 4000 ? 24000000 : 64000000;
      struct result r;
      memset(&r, 0, sizeof r);
      if (run_mem(&o, &r) != 0 || !r.lossless) bad++;
      print_json(&o, "mem", &r, ",\"sweep\":true");
      double mb = (double)r.bytes / 1e6;
      fprintf(f, "%u,%u,%.3f,%.1f,%.6f,%" PRIu64 ",%.4f,%d,%.2f\n", sdus[s],
              credits[c], r.mbps, mb / r.cpu_total, r.cpu_total / mb, r.bytes,
              r.seconds, r.lossless, loadavg());
    }
  }
  fclose(f);
  /* Two panels: wall-clock throughput (what a user sees, on this machine
   * at this load) and payload per CPU second (the stack's own cost, which
   * the load disturbs much less). */
  FILE *g = fopen(gp, "w");
  if (!g) return 1;
  fprintf(g,
          "set terminal pngcairo size 1400,600\n"
          "set output '%s'\n"
          "set datafile separator ','\n"
          "set multiplot layout 1,2 title 'uvble L2CAP credit-based channel, "
          "in-memory controller pair (ACL %u bytes x %u buffers)'\n"
          "set xlabel 'SDU size (bytes)'\nset logscale x\nset grid\n"
          "set key left top title 'credits'\n"
          "C = '1 2 4 8 16 32 64'\n"
          "set ylabel 'MB/s of SDU payload (wall clock)'\n"
          "plot for [c in C] '%s' skip 1 using 1:($2==c+0 ? $3 : 1/0) "
          "with linespoints title c\n"
          "set ylabel 'MB of SDU payload per CPU second'\n"
          "plot for [c in C] '%s' skip 1 using 1:($2==c+0 ? $4 : 1/0) "
          "with linespoints title c\n"
          "unset multiplot\n",
          png, base->acl_mtu, base->acl_pkts, csv, csv);
  fclose(g);
  char cmd[8300];
  snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>&1", gp);
  if (system(cmd) != 0)
    fprintf(stderr, "l2cap: gnuplot failed; CSV in %s\n", csv);
  return bad ? 1 : 0;
}

/* ---- main
 * -------------------------------------------------------------------------------
 */
static int usage(void) {
  fprintf(stderr,
          "usage: l2cap [--link mem] [--sweep DIR] [--bytes N] [--sdu N | "
          "--sdu-min N "
          "--sdu-max N]\n"
          "             [--mtu N] [--credits N] [--acl-mtu N] [--acl-pkts N] "
          "[--completed-batch N]\n"
          "       l2cap --role recv|send --transport SPEC [--peer ADDR] "
          "--ready FILE "
          "--report FILE\n"
          "             [--link-name NAME] [options]\n"
          "             on a real link layer: [--air] [--phy 1m|2m] "
          "[--data-length 27..251]\n"
          "             [--conn throughput|default] [--hci-baud N]\n");
  return 2;
}

int main(int argc, char **argv) {
  struct opts o = {"mem", "both", NULL, NULL, NULL, NULL, NULL, 200000000,
                   1000,  1000,   0,    32,   251,  8,    0,
                   false, {AIR_PHY_2M, 251, true, 1}, 0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int air_opt;
#define OPT(name) (strcmp(a, name) == 0 && v && ++i)
    if (OPT("--link"))
      o.link = v;
    else if (OPT("--link-name"))
      o.link = v;
    else if (OPT("--role"))
      o.role = v;
    else if (OPT("--transport"))
      o.transport = v;
    else if (OPT("--peer"))
      o.peer = v;
    else if (OPT("--ready"))
      o.ready = v;
    else if (OPT("--report"))
      o.report = v;
    else if (OPT("--sweep"))
      o.sweep = v;
    else if (OPT("--bytes"))
      o.bytes = strtoull(v, NULL, 0);
    else if (OPT("--sdu"))
      o.sdu_min = o.sdu_max = strtoul(v, NULL, 0);
    else if (OPT("--sdu-min"))
      o.sdu_min = strtoul(v, NULL, 0);
    else if (OPT("--sdu-max"))
      o.sdu_max = strtoul(v, NULL, 0);
    else if (OPT("--mtu"))
      o.mtu = (unsigned)strtoul(v, NULL, 0);
    else if (OPT("--credits"))
      o.credits = (unsigned)strtoul(v, NULL, 0);
    else if (OPT("--acl-mtu"))
      o.acl_mtu = (unsigned)strtoul(v, NULL, 0);
    else if (OPT("--acl-pkts"))
      o.acl_pkts = (unsigned)strtoul(v, NULL, 0);
    else if (OPT("--completed-batch"))
      o.completed_batch = (unsigned)strtoul(v, NULL, 0);
    else if (OPT("--hci-baud"))
      o.hci_baud = (unsigned)strtoul(v, NULL, 0);
    else if (strcmp(a, "--air") == 0)
      o.air = true;
    else if (v && (air_opt = air_parse_opt(&o.want, a, v)) != 0) {
      if (air_opt < 0) return usage();
      i++;
      o.air = true;
    } else
      return usage();
#undef OPT
  }
  if (o.sdu_min < 1 || o.sdu_max < o.sdu_min || o.sdu_max > 65535)
    return usage();
  /* Completions like a controller's: one event for a buffers' worth, or
   * for what went out in a loop turn (memctl.h); --completed-batch 1 is
   * one event per packet. */
  if (o.completed_batch == 0) o.completed_batch = o.acl_pkts;
  if (o.mtu == 0) o.mtu = o.sdu_max < 23 ? 23 : (unsigned)o.sdu_max;
  if (o.mtu < o.sdu_max || o.mtu > 65535) return usage();
  if (strcmp(o.role, "both") != 0) {
    bool send = strcmp(o.role, "send") == 0;
    if (!o.transport || !o.report || (send ? !o.peer : !o.ready))
      return usage();
    return run_proc(&o);
  }
  if (o.sweep) return run_sweep(&o);
  struct result r;
  memset(&r, 0, sizeof r);
  int err = run_mem(&o, &r);
  if (err) {
    fprintf(stderr, "l2cap: %s\n", uvble_strerror(err));
    return 1;
  }
  char extra[256];
  snprintf(extra, sizeof extra,
           ",\"acl_mtu\":%u,\"acl_bufs\":%u,\"completed_batch\":%u,"
           "\"loop_turns_per_mb\":%.0f,"
           "\"cpu_note\":\"both hosts and the controller in one process\"",
           o.acl_mtu, o.acl_pkts, o.completed_batch,
           (double)r.loop_turns / ((double)r.bytes / 1e6));
  print_json(&o, "mem", &r, extra);
  return r.lossless ? 0 : 1;
}
