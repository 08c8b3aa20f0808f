/* SPDX-License-Identifier: Apache-2.0 */
/* GATT benchmark: read round trip, notification ping-pong, notification and
 * write-without-response throughput at ATT_MTU 23 and 517.
 *
 *   gatt --link mem [options]                   both hosts in this process,
 *                                               joined by the in-memory
 *                                               controller pair (memctl)
 *   gatt --role server --transport SPEC --ready FILE [options]
 *   gatt --role client --transport SPEC --peer ADDR [options]
 *                                               one host per process, e.g. on
 *                                               btvirt (bench/run starts both)
 *
 * Options: --phases LIST (comma-separated, default
 * read,ping,notify23,wwr23,notify517,wwr517), --reads N, --pings N,
 * --stream23 N, --stream517 N (notifications / write commands per stream),
 * --link-name NAME (label in the JSON for process mode). On a real link
 * layer (bench/run gatt ll): --phy, --data-length, --conn (air.h; any of
 * them, or --air, makes the stream lines give goodput in kbit/s and the
 * air-time limit), --value-len N (cap on the streams' value length: 244
 * fills one 251-octet PDU), --hci-baud N (the controller UART's limit).
 *
 * The server (peripheral) and the client (central) register the same
 * service, so a value handle is the same on both (as in MicroPython's
 * perf_gatt_notify): DATA (read, write without response, notify; 512-byte
 * buffer) and CTL (read, write). The client drives every phase by writing
 * commands to CTL (Write Request) and reads the server's counters back
 * from it: the server's CPU time (getrusage) and what it sent or received.
 * Timestamps are CLOCK_MONOTONIC, which both processes share.
 *
 * Streams carry an 8-byte sequence number and a pattern; the receiver
 * checks each packet's length and sequence, and both ends sum what they
 * sent and received, so "lossless" means nothing was lost, duplicated,
 * reordered or altered. A stream ends when everything arrived or after a
 * second with nothing new. Output: one JSON line per figure (a phase that
 * fails prints {"phase":...,"error":...} and ends the run). With both
 * hosts in one process (mem) the CPU time cannot be split between them:
 * the figures give the total. user_us_*: the user-space part of the CPU
 * time (this stack, libuv, libc); the rest is the kernel's.
 *
 * btvirt has no flow control towards a host: it returns every ACL buffer
 * at once and drops what the receiving host's socket cannot take, so a
 * stream is lossless only while the receiver keeps up. On a loaded
 * machine it may not (it is not scheduled for a few milliseconds), and the
 * line then says "lossless":false; bench/run's UVBLE_BENCH_RT runs the
 * processes SCHED_FIFO. On the in-memory pair both hosts run in one loop
 * and each drains what it was sent every iteration: its streams are
 * expected lossless (and checked like the others).
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "air.h"
#include "memctl.h"
#include "uvble/gap.h"
#include "uvble/gattc.h"
#include "uvble/gatts.h"
#include "uvble/uvble.h"

#define VALUE_LEN 20 /* the latency phases' value: MicroPython's default */
#define SILENCE_S 1.0
#define CMD_TIMEOUT_S 60.0

struct opts {
  const char *link, *role, *transport, *peer, *ready, *phases;
  unsigned reads, pings, stream23, stream517;
  /* On a real link layer (--air or any option of air.h): the link asked
   * for; value_len caps the streams' value (0: MTU - 3); hci_baud: the
   * controller UART's rate, for its limit in the JSON (0: none). */
  bool air;
  air_want_t want;
  unsigned value_len, hci_baud;
};

/* ---- clocks ------------------------------------------------------------------ */
/* CPU seconds of this process, user + system; *user gets the user part
 * (the stack's own code, libuv and libc: the rest is the kernel's). */
static double cpu_split(double *user) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double u = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
  if (user) *user = u;
  return u + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double cpu_now(void) { return cpu_split(NULL); }

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double loadavg(void) {
  double l = -1;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf", &l) != 1) l = -1;
    fclose(f);
  }
  return l;
}

static const char *sched_name(void) {
  switch (sched_getscheduler(0)) {
    case SCHED_FIFO: return "fifo";
    case SCHED_RR: return "rr";
    default: return "other";
  }
}

/* ---- stream packets ------------------------------------------------------------ */
/* A packet: its sequence number, then a fixed pattern (written once into
 * the host's buffer by pattern(); refilling it per packet would be a good
 * part of the sender's CPU time at 514 bytes). */
static void pattern(uint8_t *p, size_t len) {
  for (size_t i = 0; i < len; i++) p[i] = (uint8_t)(i * 131 + 7);
}

static void fill(uint8_t *p, size_t len, uint64_t seq) {
  memcpy(p, &seq, len < 8 ? len : 8);
}

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

/* What a receiver keeps of a stream. */
struct rx {
  uint64_t n, next_seq, bad, sum, expect;
  size_t len;
  double t_last;
};

/* The arrival time is taken for the packet expected last, and every 64th
 * (a stream that lost its end is timed to within 64 packets): reading the
 * clock for each one would be a good part of what is measured. */
static void rx_take(struct rx *r, const uint8_t *p, size_t len) {
  uint64_t seq = UINT64_MAX;
  if (len >= 8) memcpy(&seq, p, 8);
  if (len != r->len || seq != r->next_seq) r->bad++;
  r->next_seq = seq + 1;
  r->n++;
  r->sum += checksum(p, len);
  if (r->n == r->expect || (r->n & 63) == 0) r->t_last = wall_now();
}

/* ---- control protocol (client -> server, over CTL) ------------------------------ */
enum { CMD_RESET = 1, CMD_NOTIFY = 2, CMD_STATS = 3 };

struct cmd {
  uint8_t op, pad;
  uint16_t len;
  uint32_t count;
};

struct stats { /* the server's answer to CMD_STATS, read from CTL */
  double cpu_s;      /* since CMD_RESET */
  double user_s;     /* the user-space part of it */
  double t_tx_start; /* the stream's first notification */
  double t_rx_last;  /* the last write command received */
  uint64_t rx, rx_bad, rx_sum;
  uint64_t tx, tx_sum;
};

/* ---- a host ---------------------------------------------------------------------- */
enum phase { PH_IDLE, PH_READ, PH_PING, PH_STREAM };

struct host {
  uv_loop_t *loop;
  const struct opts *o;
  uvble_t *ble;
  bool server;
  uint16_t conn, h_data, h_ctl, mtu;
  bool up, down, mtu_done;
  uv_check_t pump;
  uint8_t buf[600];     /* what this host sends: pattern() then seq */
  uint8_t scratch[600]; /* what the server reads back from its values */
  /* server */
  double cpu0, user0;
  struct rx wrx; /* write commands received */
  uint64_t tx, tx_count, tx_sum;
  size_t tx_len;
  double t_tx_start;
  int tx_err;
  /* client */
  enum phase phase;
  bool wdone, rdone;
  int wstatus, rstatus;
  uint8_t rbuf[128];
  size_t rlen;
  double *rtt; /* latency samples, µs */
  unsigned n_rtt, want_rtt;
  double t_op;
  struct rx nrx; /* notifications received */
};

static void server_pump(struct host *h);

static void on_pump(uv_check_t *c) { server_pump(c->data); }

/* Notifications as fast as the link queue takes them; refused ones are
 * tried again after the loop's next wake-up (buffers returned). */
static void server_pump(struct host *h) {
  while (h->tx < h->tx_count) {
    fill(h->buf, h->tx_len, h->tx);
    int r = uvble_gatts_notify(h->ble, h->conn, h->h_data, h->buf, h->tx_len);
    if (r == UVBLE_ENOBUFS) break;
    if (r < 0) {
      h->tx_err = r;
      h->tx_count = h->tx;
      break;
    }
    h->tx_sum += checksum(h->buf, h->tx_len);
    h->tx++;
  }
  if (h->tx < h->tx_count)
    uv_check_start(&h->pump, on_pump);
  else
    uv_check_stop(&h->pump);
}

static void server_ctl(struct host *h) {
  struct cmd c;
  size_t len = 0;
  if (uvble_gatts_read(h->ble, h->h_ctl, h->scratch, sizeof h->scratch, &len) <
          0 ||
      len != sizeof c)
    return;
  memcpy(&c, h->scratch, sizeof c);
  switch (c.op) {
    case CMD_RESET:
      memset(&h->wrx, 0, sizeof h->wrx);
      h->wrx.len = c.len;
      h->wrx.expect = c.count;
      h->tx = h->tx_count = h->tx_sum = 0;
      h->tx_err = 0;
      h->cpu0 = cpu_split(&h->user0);
      break;
    case CMD_NOTIFY:
      h->tx_len = c.len;
      h->tx_count = c.count;
      h->t_tx_start = wall_now();
      server_pump(h);
      break;
    case CMD_STATS: {
      double user, cpu = cpu_split(&user);
      struct stats st = {cpu - h->cpu0,    user - h->user0, h->t_tx_start,
                         h->wrx.t_last,    h->wrx.n,        h->wrx.bad,
                         h->wrx.sum,       h->tx,           h->tx_sum};
      uvble_gatts_write(h->ble, h->h_ctl, &st, sizeof st, false);
      break;
    }
    default:
      break;
  }
}

static void client_next_read(struct host *h) {
  h->t_op = wall_now();
  if (uvble_gattc_read(h->ble, h->conn, h->h_data) < 0) h->want_rtt = h->n_rtt;
}

static void client_next_ping(struct host *h) {
  fill(h->buf, VALUE_LEN, h->n_rtt);
  h->t_op = wall_now();
  if (uvble_gatts_notify(h->ble, h->conn, h->h_data, h->buf, VALUE_LEN) < 0)
    h->want_rtt = h->n_rtt;
}

static void sample(struct host *h) {
  h->rtt[h->n_rtt++] = (wall_now() - h->t_op) * 1e6;
}

static void on_notify(struct host *h, const uvble_irq_data_t *d) {
  const uint8_t *p = d->gattc_data.data;
  size_t n = d->gattc_data.data_len;
  if (h->server) { /* ping-pong: straight back */
    uvble_gatts_notify(h->ble, h->conn, h->h_data, p, n);
    return;
  }
  if (h->phase == PH_PING && h->n_rtt < h->want_rtt) {
    sample(h);
    if (n != VALUE_LEN) h->nrx.bad++;
    if (h->n_rtt < h->want_rtt) client_next_ping(h);
  } else if (h->phase == PH_STREAM) {
    rx_take(&h->nrx, p, n);
  }
}

static void on_read_done(struct host *h, int status) {
  if (h->phase == PH_READ && h->n_rtt < h->want_rtt) {
    sample(h);
    if (status != 0) h->nrx.bad++;
    if (h->n_rtt < h->want_rtt) client_next_read(h);
    return;
  }
  h->rstatus = status;
  h->rdone = true;
}

static int on_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d, void *arg) {
  (void)ble;
  struct host *h = arg;
  switch (ev) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
      h->conn = d->connect.conn_handle;
      h->up = d->connect.addr.type != UVBLE_ADDR_NONE;
      h->down = !h->up;
      break;
    case UVBLE_IRQ_CENTRAL_DISCONNECT:
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
      h->up = false;
      h->down = true;
      break;
    case UVBLE_IRQ_MTU_EXCHANGED:
      h->mtu = d->mtu.mtu;
      h->mtu_done = true;
      break;
    case UVBLE_IRQ_GATTS_WRITE:
      if (d->gatts.attr_handle == h->h_ctl) {
        server_ctl(h);
      } else if (d->gatts.attr_handle == h->h_data) {
        size_t len = 0;
        uvble_gatts_read(h->ble, h->h_data, h->scratch, sizeof h->scratch, &len);
        rx_take(&h->wrx, h->scratch, len);
      }
      break;
    case UVBLE_IRQ_GATTC_WRITE_DONE:
      h->wstatus = d->gatt_status.status;
      h->wdone = true;
      break;
    case UVBLE_IRQ_GATTC_READ_RESULT:
      if (h->phase == PH_READ) {
        if (d->gattc_data.data_len != VALUE_LEN) h->nrx.bad++;
      } else {
        h->rlen = d->gattc_data.data_len < sizeof h->rbuf ? d->gattc_data.data_len
                                                          : sizeof h->rbuf;
        memcpy(h->rbuf, d->gattc_data.data, h->rlen);
      }
      break;
    case UVBLE_IRQ_GATTC_READ_DONE:
      on_read_done(h, d->gatt_status.status);
      break;
    case UVBLE_IRQ_GATTC_NOTIFY:
      on_notify(h, d);
      break;
    default:
      break;
  }
  return 0;
}

static int host_setup(struct host *h) {
  uvble_gatts_characteristic_t chr[2] = {
      {.uuid = {0},
       .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE_NO_RESPONSE | UVBLE_FLAG_NOTIFY,
       .max_length = 0},
      {.uuid = {0}, .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE, .max_length = 0},
  };
  uvble_uuid_parse(&chr[0].uuid, "6e400002-b5a3-f393-e0a9-e50e24dc0001");
  uvble_uuid_parse(&chr[1].uuid, "6e400002-b5a3-f393-e0a9-e50e24dc0002");
  uvble_gatts_service_t svc = {.characteristics = chr, .num_characteristics = 2};
  uvble_uuid_parse(&svc.uuid, "6e400002-b5a3-f393-e0a9-e50e24dc0000");
  uint16_t handles[2];
  int r = uvble_gatts_register_services(h->ble, &svc, 1, handles, 2);
  if (r < 0) return r;
  h->h_data = handles[0];
  h->h_ctl = handles[1];
  /* Room for the largest write command (512 bytes: an attribute's most)
   * and the server's stats; the read phase's value is VALUE_LEN bytes. */
  if ((r = uvble_gatts_set_buffer(h->ble, h->h_data, 512, false)) < 0 ||
      (r = uvble_gatts_set_buffer(h->ble, h->h_ctl, 128, false)) < 0)
    return r;
  pattern(h->buf, sizeof h->buf);
  fill(h->buf, VALUE_LEN, 0);
  if ((r = uvble_gatts_write(h->ble, h->h_data, h->buf, VALUE_LEN, false)) < 0)
    return r;
  h->mtu = 23;
  uvble_irq(h->ble, on_irq, h);
  uv_check_init(h->loop, &h->pump);
  h->pump.data = h;
  return uvble_config_set_int(h->ble, UVBLE_CONFIG_MTU, 517);
}

/* ---- the client's side of a phase ------------------------------------------------ */
struct ctx {
  const struct opts *o;
  uv_loop_t *loop;
  struct host *cli, *srv; /* srv: NULL in process mode */
  const char *link;
  bool mem; /* one process: CPU per side unknown */
  uv_timer_t tick;
  char extra[256];
  air_link_t air_tx, air_rx; /* the link each way, for air runs */
  const char *air_note;
  unsigned acl_mtu;
};

static void on_tick(uv_timer_t *t) { (void)t; }

/* The loop's time in ms (libuv's, updated once per iteration: no clock
 * read of our own in the loops below). */
static uint64_t loop_ms(struct ctx *x) { return uv_now(x->loop); }

/* Runs the loop until *flag or the link drops or timeout_s pass. */
static bool run_until(struct ctx *x, const bool *flag, double timeout_s) {
  uint64_t end = loop_ms(x) + (uint64_t)(timeout_s * 1000);
  uv_timer_start(&x->tick, on_tick, 50, 50);
  while (!*flag && !x->cli->down && loop_ms(x) < end)
    uv_run(x->loop, UV_RUN_ONCE);
  uv_timer_stop(&x->tick);
  return *flag;
}

static int ctl(struct ctx *x, uint8_t op, uint16_t len, uint32_t count) {
  struct cmd c = {op, 0, len, count};
  struct host *h = x->cli;
  h->wdone = false;
  int r = uvble_gattc_write(h->ble, h->conn, h->h_ctl, &c, sizeof c,
                            UVBLE_GATTC_WRITE_WITH_RESPONSE);
  if (r < 0) return r;
  if (!run_until(x, &h->wdone, air_ms(&x->o->want, CMD_TIMEOUT_S))) return UVBLE_ETIMEDOUT;
  return h->wstatus;
}

static int get_stats(struct ctx *x, struct stats *st) {
  int r = ctl(x, CMD_STATS, 0, 0);
  if (r) return r;
  struct host *h = x->cli;
  h->rdone = false;
  h->rlen = 0;
  if ((r = uvble_gattc_read(h->ble, h->conn, h->h_ctl)) < 0) return r;
  if (!run_until(x, &h->rdone, air_ms(&x->o->want, CMD_TIMEOUT_S))) return UVBLE_ETIMEDOUT;
  if (h->rstatus) return h->rstatus;
  if (h->rlen != sizeof *st) return UVBLE_EPROTO;
  memcpy(st, h->rbuf, sizeof *st);
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void json_tail(struct ctx *x) {
  printf(",\"loadavg\":%.2f,\"sched\":\"%s\"%s}\n", loadavg(), sched_name(),
         x->extra);
  fflush(stdout);
}

/* CPU per operation; user: the user-space part (cli_user, srv_user). */
static void print_cpu(struct ctx *x, const char *what, double cli,
                      double cli_user, double srv, double srv_user, double n) {
  if (x->mem) {
    printf(",\"cpu_us_per_%s_total\":%.2f", what, cli / n * 1e6);
    return;
  }
  printf(",\"cpu_us_per_%s_client\":%.2f,\"cpu_us_per_%s_server\":%.2f,"
         "\"user_us_per_%s_client\":%.2f,\"user_us_per_%s_server\":%.2f",
         what, cli / n * 1e6, what, srv / n * 1e6, what, cli_user / n * 1e6,
         what, srv_user / n * 1e6);
}

/* Read round trips or notification ping-pongs, one at a time. */
static int latency_phase(struct ctx *x, bool ping, unsigned n) {
  struct host *h = x->cli;
  int r = ctl(x, CMD_RESET, 0, 0);
  if (r) return r;
  h->rtt = calloc(n, sizeof *h->rtt);
  if (!h->rtt) return UVBLE_ENOMEM;
  memset(&h->nrx, 0, sizeof h->nrx);
  h->n_rtt = 0;
  h->want_rtt = n;
  h->phase = ping ? PH_PING : PH_READ;
  double u0, u1, c0 = cpu_split(&u0), t0 = wall_now();
  if (ping)
    client_next_ping(h);
  else
    client_next_read(h);
  uint64_t end = loop_ms(x) + 120000;
  uv_timer_start(&x->tick, on_tick, 50, 50);
  while (h->n_rtt < h->want_rtt && !h->down && loop_ms(x) < end)
    uv_run(x->loop, UV_RUN_ONCE);
  uv_timer_stop(&x->tick);
  double c1 = cpu_split(&u1), t1 = wall_now();
  bool done = h->n_rtt == n;
  h->phase = PH_IDLE;
  struct stats st;
  if (!done) r = UVBLE_ETIMEDOUT;
  else r = get_stats(x, &st);
  if (r == 0) {
    qsort(h->rtt, n, sizeof *h->rtt, cmp_double);
    double sum = 0;
    for (unsigned i = 0; i < n; i++) sum += h->rtt[i];
    printf("{\"bench\":\"gatt\",\"link\":\"%s\",\"metric\":\"%s\",\"value\":%.1f,"
           "\"unit\":\"us\",\"p99_us\":%.1f,\"mean_us\":%.1f,\"min_us\":%.1f,"
           "\"max_us\":%.1f",
           x->link, ping ? "notify_pingpong_rtt" : "read_rtt", h->rtt[n / 2],
           h->rtt[(size_t)(n * 0.99)], sum / n, h->rtt[0], h->rtt[n - 1]);
    print_cpu(x, ping ? "pingpong" : "read", c1 - c0, u1 - u0, st.cpu_s,
              st.user_s, n);
    printf(",\"%s\":%u,\"errors\":%" PRIu64 ",\"value_len\":%u,\"mtu\":%u,"
           "\"seconds\":%.3f",
           ping ? "pingpongs" : "reads", n, h->nrx.bad, VALUE_LEN, h->mtu,
           t1 - t0);
    json_tail(x);
  }
  free(h->rtt);
  h->rtt = NULL;
  return r;
}

static void wwr_pump(struct host *h);
static void on_wwr_pump(uv_check_t *c) { wwr_pump(c->data); }

/* The client's write commands, pumped like the server's notifications. */
static void wwr_pump(struct host *h) {
  while (h->tx < h->tx_count) {
    fill(h->buf, h->tx_len, h->tx);
    int r = uvble_gattc_write(h->ble, h->conn, h->h_data, h->buf, h->tx_len,
                              UVBLE_GATTC_WRITE_NO_RESPONSE);
    if (r == UVBLE_ENOBUFS) break;
    if (r < 0) {
      h->tx_err = r;
      h->tx_count = h->tx;
      break;
    }
    h->tx_sum += checksum(h->buf, h->tx_len);
    h->tx++;
  }
  if (h->tx < h->tx_count)
    uv_check_start(&h->pump, on_wwr_pump);
  else
    uv_check_stop(&h->pump);
}

static void print_stream(struct ctx *x, bool notify, unsigned n, size_t len,
                         uint64_t got, uint64_t bad, bool sums_ok, double secs,
                         double cpu_send, double cpu_recv) {
  struct host *h = x->cli;
  bool lossless = got == n && bad == 0 && sums_ok;
  double kbps = (double)got * len * 8 / 1e3 / secs;
  if (x->o->air) /* the figure is goodput in kbit/s; packets/s beside it */
    printf("{\"bench\":\"gatt\",\"link\":\"%s\",\"metric\":\"%s\","
           "\"value\":%.1f,\"unit\":\"kbit/s\",\"packets_per_s\":%.0f",
           x->link, notify ? "notify_throughput" : "write_cmd_throughput", kbps,
           (double)got / secs);
  else
    printf("{\"bench\":\"gatt\",\"link\":\"%s\",\"metric\":\"%s\","
           "\"value\":%.0f,\"unit\":\"packets/s\"",
           x->link, notify ? "notify_throughput" : "write_cmd_throughput",
           (double)got / secs);
  printf(",\"kb_per_s\":%.1f,\"lossless\":%s,"
         "\"sent\":%u,\"received\":%" PRIu64 ",\"bad\":%" PRIu64 ","
         "\"payload\":%zu,\"mtu\":%u,\"seconds\":%.3f",
         (double)got * len / 1e3 / secs,
         lossless ? "true" : "false", n, got, bad, len, h->mtu, secs);
  if (x->mem)
    printf(",\"cpu_us_per_packet_total\":%.2f", cpu_send / (double)(got ? got : 1) * 1e6);
  else
    printf(",\"cpu_us_per_packet_send\":%.2f,\"cpu_us_per_packet_recv\":%.2f",
           cpu_send / (double)(n ? n : 1) * 1e6,
           cpu_recv / (double)(got ? got : 1) * 1e6);
  if (x->o->air) {
    const air_link_t *l = notify ? &x->air_rx : &x->air_tx;
    double hci = x->o->hci_baud
                     ? air_hci_att_kbps(x->o->hci_baud, (unsigned)len,
                                        x->acl_mtu, l->octets)
                     : 0;
    double mb = (double)got * len / 1e6;
    printf(",\"cpu_s_per_mb_send\":%.4f,\"cpu_s_per_mb_recv\":%.4f",
           mb > 0 ? cpu_send / mb : 0, mb > 0 ? cpu_recv / mb : 0);
    air_unit_t unit = air_att_unit(l, (unsigned)len);
    air_json(stdout, l, kbps, &unit,
             hci, x->air_note);
  }
  json_tail(x);
}

/* Notifications from the server, as fast as it can queue them. */
static int notify_phase(struct ctx *x, unsigned n) {
  struct host *h = x->cli;
  size_t len = (size_t)h->mtu - 3;
  if (x->o->value_len && len > x->o->value_len) len = x->o->value_len;
  int r = ctl(x, CMD_RESET, 0, 0);
  if (r) return r;
  memset(&h->nrx, 0, sizeof h->nrx);
  h->nrx.len = len;
  h->nrx.expect = n;
  h->phase = PH_STREAM;
  double c0 = cpu_now();
  if ((r = ctl(x, CMD_NOTIFY, (uint16_t)len, n))) return r;
  /* Until all arrived, or a second passed with nothing new. */
  uv_timer_start(&x->tick, on_tick, 50, 50);
  uint64_t last = loop_ms(x), seen = 0;
  while (h->nrx.n < n && !h->down) {
    uv_run(x->loop, UV_RUN_ONCE);
    if (h->nrx.n != seen) {
      seen = h->nrx.n;
      last = loop_ms(x);
    } else if (loop_ms(x) - last > air_ms(&x->o->want, SILENCE_S * 1000)) {
      break;
    }
  }
  uv_timer_stop(&x->tick);
  double c1 = cpu_now();
  h->phase = PH_IDLE;
  struct stats st;
  if ((r = get_stats(x, &st))) return r;
  double secs = h->nrx.t_last - st.t_tx_start;
  print_stream(x, true, n, len, h->nrx.n, h->nrx.bad, h->nrx.sum == st.tx_sum,
               secs, x->mem ? c1 - c0 : st.cpu_s, c1 - c0);
  return 0;
}

/* Write commands from the client. */
static int wwr_phase(struct ctx *x, unsigned n) {
  struct host *h = x->cli;
  size_t len = (size_t)h->mtu - 3;
  if (len > 512) len = 512; /* an attribute value's longest */
  if (x->o->value_len && len > x->o->value_len) len = x->o->value_len;
  int r = ctl(x, CMD_RESET, (uint16_t)len, n);
  if (r) return r;
  h->tx = h->tx_sum = 0;
  h->tx_count = n;
  h->tx_len = len;
  h->tx_err = 0;
  double c0 = cpu_now(), t0 = wall_now();
  wwr_pump(h);
  uv_timer_start(&x->tick, on_tick, 50, 50);
  while (h->tx < h->tx_count && !h->down) uv_run(x->loop, UV_RUN_ONCE);
  /* Until our queue has drained to the controller (nothing sent for
   * 100 ms, stretched on a slowed-down simulation: the stats request
   * must not wait behind a long queue, ATT's 30 s timeout runs on the
   * wall clock), and the server has had the time to read what it got: a
   * controller without flow control towards its host (btvirt) drops what
   * a host that fell behind cannot take, the stats request included, and
   * a lost request ends the bearer (ATT's 30 s timeout). */
  uvble_stats_t us;
  uvble_get_stats(h->ble, &us);
  uint64_t sent = us.acl_tx_packets, quiet = loop_ms(x);
  while (!h->down && loop_ms(x) - quiet < air_ms(&x->o->want, 100)) {
    uv_run(x->loop, UV_RUN_ONCE);
    uvble_get_stats(h->ble, &us);
    if (us.acl_tx_packets != sent) {
      sent = us.acl_tx_packets;
      quiet = loop_ms(x);
    }
  }
  uv_timer_stop(&x->tick);
  /* The stats request queues behind the last command: the server has
   * seen them all when it answers. */
  struct stats st;
  if ((r = get_stats(x, &st))) return r;
  double c1 = cpu_now();
  if (h->tx_err) fprintf(stderr, "gatt: write command: %s\n", uvble_strerror(h->tx_err));
  print_stream(x, false, n, len, st.rx, st.rx_bad, st.rx_sum == h->tx_sum,
               st.t_rx_last - t0, c1 - c0, st.cpu_s);
  return 0;
}

static int exchange_mtu(struct ctx *x) {
  struct host *h = x->cli;
  if (h->mtu_done) return 0;
  int r = uvble_gattc_exchange_mtu(h->ble, h->conn);
  if (r < 0) return r;
  if (!run_until(x, &h->mtu_done, air_ms(&x->o->want, CMD_TIMEOUT_S))) return UVBLE_ETIMEDOUT;
  return h->mtu == 517 ? 0 : UVBLE_EPROTO;
}

static bool want(const struct opts *o, const char *phase) {
  size_t n = strlen(phase);
  for (const char *p = o->phases; p && *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == n && strncmp(p, phase, n) == 0) return true;
    p = e ? e + 1 : NULL;
  }
  return false;
}

/* A phase that failed (e.g. its control request was lost) gets a line
 * of its own; the link is of no further use (a timed-out ATT bearer is
 * dead), so the phases after it are not run. */
static int phase_done(struct ctx *x, const char *phase, int r) {
  if (r)
    printf("{\"bench\":\"gatt\",\"link\":\"%s\",\"phase\":\"%s\","
           "\"error\":\"%s\",\"loadavg\":%.2f,\"sched\":\"%s\"}\n",
           x->link, phase, uvble_err_name(r), loadavg(), sched_name());
  fflush(stdout);
  return r;
}

static int run_phases(struct ctx *x) {
  const struct opts *o = x->o;
  int r = 0;
  if (!r && want(o, "read"))
    r = phase_done(x, "read", latency_phase(x, false, o->reads));
  if (!r && want(o, "ping"))
    r = phase_done(x, "ping", latency_phase(x, true, o->pings));
  if (!r && want(o, "notify23"))
    r = phase_done(x, "notify23", notify_phase(x, o->stream23));
  if (!r && want(o, "wwr23"))
    r = phase_done(x, "wwr23", wwr_phase(x, o->stream23));
  if (!r && (want(o, "notify517") || want(o, "wwr517")))
    r = phase_done(x, "mtu", exchange_mtu(x));
  if (!r && want(o, "notify517"))
    r = phase_done(x, "notify517", notify_phase(x, o->stream517));
  if (!r && want(o, "wwr517"))
    r = phase_done(x, "wwr517", wwr_phase(x, o->stream517));
  return r;
}

/* ---- in-memory pair --------------------------------------------------------------- */
static int run_mem(const struct opts *o) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct host cli, srv;
  memset(&cli, 0, sizeof cli);
  memset(&srv, 0, sizeof srv);
  cli.loop = srv.loop = &loop;
  cli.o = srv.o = o;
  srv.server = true;
  memctl_t *mc = NULL;
  struct memctl_config cfg = {.acl_mtu = 251, .acl_pkts = 8};
  int r = memctl_bring_up(&loop, &cfg, &mc, &cli.ble, &srv.ble);
  if (r == 0) r = host_setup(&cli);
  if (r == 0) r = host_setup(&srv);
  if (r == 0) {
    memctl_connect(mc); /* cli is central */
    while ((!cli.up || !srv.up) && !cli.down && uv_run(&loop, UV_RUN_ONCE)) {
    }
    if (!cli.up) r = UVBLE_ECONNREFUSED;
  }
  if (r == 0) {
    struct ctx x = {.o = o, .loop = &loop, .cli = &cli, .srv = &srv, .link = "mem", .mem = true};
    snprintf(x.extra, sizeof x.extra,
             ",\"acl_mtu\":%u,\"acl_bufs\":%u,\"cpu_note\":\"both hosts and "
             "the controller in one process\"",
             cfg.acl_mtu, cfg.acl_pkts);
    uv_timer_init(&loop, &x.tick);
    r = run_phases(&x);
    uv_close((uv_handle_t *)&x.tick, NULL);
  }
  if (r) fprintf(stderr, "gatt: %s\n", uvble_strerror(r));
  struct host *hs[2] = {&cli, &srv};
  for (int i = 0; i < 2; i++) {
    if (hs[i]->pump.data) uv_close((uv_handle_t *)&hs[i]->pump, NULL);
    if (hs[i]->ble) uvble_close(hs[i]->ble, NULL, NULL);
  }
  memctl_free(mc);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return r ? 1 : 0;
}

/* ---- one host per process ----------------------------------------------------------- */
static void on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  int *st = uvble_get_data(ble);
  *st = status;
}

static int proc_up(struct host *h) {
  char err[256] = "";
  int r = uvble_new(h->loop, h->o->transport, &h->ble, err, sizeof err);
  if (r < 0) {
    fprintf(stderr, "gatt: %s\n", err[0] ? err : uvble_strerror(r));
    return r;
  }
  int st = 1;
  uvble_set_data(h->ble, &st);
  if (h->o->air) air_configure(h->ble, &h->o->want);
  if ((r = uvble_active(h->ble, true, on_active, NULL)) < 0) return r;
  while (st == 1 && uv_run(h->loop, UV_RUN_ONCE)) {
  }
  uvble_set_data(h->ble, NULL);
  if (st) {
    fprintf(stderr, "gatt: power-up: %s\n", uvble_strerror(st));
    return st;
  }
  return host_setup(h);
}

static int run_server(struct host *h) {
  int r = proc_up(h);
  if (r) return r;
  static const uint8_t adv[] = {2, 0x01, 0x06, 5, 0x09, 'g', 'a', 't', 't'};
  if ((r = uvble_gap_advertise(h->ble, 20000, adv, sizeof adv, NULL, 0, true)) < 0)
    return r;
  uvble_controller_info_t info;
  uvble_controller_info(h->ble, &info);
  char a[UVBLE_ADDR_STR_LEN];
  FILE *f = fopen(h->o->ready, "w");
  if (!f) return -errno;
  fprintf(f, "%s\n", uvble_addr_to_str(&info.public_addr, a));
  fclose(f);
  /* Served until the client disconnects. */
  while (!h->down && uv_run(h->loop, UV_RUN_ONCE)) {
  }
  return 0;
}

static int run_client(struct host *h) {
  int r = proc_up(h);
  if (r) return r;
  uvble_addr_t peer = {UVBLE_ADDR_PUBLIC, {0}};
  if (uvble_addr_parse(&peer, h->o->peer) < 0) return UVBLE_EINVAL;
  if ((r = h->o->air ? air_connect(h->ble, &peer, &h->o->want)
                     : uvble_gap_connect(h->ble, &peer, 5000, 0, 0)) < 0)
    return r;
  while (!h->up && !h->down && uv_run(h->loop, UV_RUN_ONCE)) {
  }
  if (!h->up) return UVBLE_ECONNREFUSED;
  uvble_controller_info_t info;
  uvble_controller_info(h->ble, &info);
  struct ctx x = {.o = h->o, .loop = h->loop, .cli = h, .link = h->o->link};
  x.acl_mtu = info.acl_mtu;
  if (h->o->air)
    x.air_note = air_settle(h->loop, h->ble, h->conn, &h->o->want, true,
                            &x.air_tx, &x.air_rx);
  snprintf(x.extra, sizeof x.extra, ",\"acl_mtu\":%u,\"acl_bufs\":%u",
           info.acl_mtu, info.acl_max_pkts);
  uv_timer_init(h->loop, &x.tick);
  r = run_phases(&x);
  uvble_gap_disconnect(h->ble, h->conn);
  double end = wall_now() + 5;
  uv_timer_start(&x.tick, on_tick, 50, 50);
  while (!h->down && wall_now() < end) uv_run(h->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&x.tick, NULL);
  return r;
}

static int run_proc(const struct opts *o) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct host h;
  memset(&h, 0, sizeof h);
  h.loop = &loop;
  h.o = o;
  h.server = strcmp(o->role, "server") == 0;
  int r = h.server ? run_server(&h) : run_client(&h);
  if (r) fprintf(stderr, "gatt %s: %s\n", o->role, uvble_strerror(r));
  if (h.ble) {
    if (h.pump.data) uv_close((uv_handle_t *)&h.pump, NULL);
    uvble_close(h.ble, NULL, NULL);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return r ? 1 : 0;
}

/* ---- main ----------------------------------------------------------------------------- */
static int usage(void) {
  fprintf(stderr,
          "usage: gatt [--link mem] [--phases LIST] [--reads N] [--pings N]\n"
          "            [--stream23 N] [--stream517 N]\n"
          "       gatt --role server --transport SPEC --ready FILE [options]\n"
          "       gatt --role client --transport SPEC --peer ADDR "
          "[--link-name NAME] [options]\n"
          "phases: read,ping,notify23,wwr23,notify517,wwr517\n"
          "on a real link layer: [--air] [--phy 1m|2m] [--data-length N]\n"
          "            [--conn throughput|default] [--value-len N] "
          "[--hci-baud N]\n");
  return 2;
}

int main(int argc, char **argv) {
  struct opts o = {"mem", "both", NULL, NULL, NULL,
                   "read,ping,notify23,wwr23,notify517,wwr517",
                   20000, 20000, 50000, 10000,
                   false, {AIR_PHY_2M, 251, true, 1}, 0, 0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int air_opt;
#define OPT(name) (strcmp(a, name) == 0 && v && ++i)
    if (OPT("--link")) o.link = v;
    else if (OPT("--link-name")) o.link = v;
    else if (OPT("--role")) o.role = v;
    else if (OPT("--transport")) o.transport = v;
    else if (OPT("--peer")) o.peer = v;
    else if (OPT("--ready")) o.ready = v;
    else if (OPT("--phases")) o.phases = v;
    else if (OPT("--reads")) o.reads = (unsigned)strtoul(v, NULL, 0);
    else if (OPT("--pings")) o.pings = (unsigned)strtoul(v, NULL, 0);
    else if (OPT("--stream23")) o.stream23 = (unsigned)strtoul(v, NULL, 0);
    else if (OPT("--stream517")) o.stream517 = (unsigned)strtoul(v, NULL, 0);
    else if (OPT("--value-len")) o.value_len = (unsigned)strtoul(v, NULL, 0);
    else if (OPT("--hci-baud")) o.hci_baud = (unsigned)strtoul(v, NULL, 0);
    else if (strcmp(a, "--air") == 0) o.air = true;
    else if (v && (air_opt = air_parse_opt(&o.want, a, v)) != 0) {
      if (air_opt < 0) return usage();
      i++;
      o.air = true;
    } else return usage();
#undef OPT
  }
  if (!o.reads || !o.pings || !o.stream23 || !o.stream517) return usage();
  if (strcmp(o.role, "both") == 0) return run_mem(&o);
  bool server = strcmp(o.role, "server") == 0;
  if (!server && strcmp(o.role, "client") != 0) return usage();
  if (!o.transport || (server ? !o.ready : !o.peer)) return usage();
  return run_proc(&o);
}
