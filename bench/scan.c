/* SPDX-License-Identifier: Apache-2.0 */
/* Advertising report ingest: how many reports per second one host takes in
 * through the scanner's default path.
 *
 *   scan [--seconds S] [--devices N] [--per-event K] [--ext-percent P]
 *        [--handler count|combine|both] [--no-probe]
 *
 * One uvble host scans on a controller of the in-memory radio
 * (tests/support/radio.h); the benchmark then plays that controller and
 * keeps the host's inbound queue full of LE Advertising Report and LE
 * Extended Advertising Report events from a pool built beforehand: N
 * devices (default 3000), K reports per event (default 4, as USB
 * controllers batch them), P percent of the events extended (default 30),
 * a realistic mix of payloads (iBeacon-style manufacturer data, Eddystone
 * service data, names with service lists, sensors whose readings change
 * with every report; about 40% of the devices change their payload from
 * one report to the next, the rest repeat it). Reports flow through the
 * transport, HCI event parsing, report parsing and filtering, and irq
 * delivery to a handler that either only counts (handler "count") or also
 * combines per device (handler "combine": looks the device up by address in
 * a hash table and walks its AD structures with uvble/adv.h, keeping name,
 * manufacturer data, service data, flags, RSSI and a count).
 *
 * Meanwhile, unless --no-probe, a command probe issues a host command every
 * 50 ms (advertising restarted: 3-4 HCI commands) and measures how long
 * the host takes to get all of them completed under the flood: dense
 * advertising must not starve command completions.
 *
 * Output: one JSON line per handler: reports/s (wall clock), CPU ns per
 * report (process CPU, which includes the in-memory controller's copy of
 * each event into the queue), events/s, and the probe's latencies. Build
 * optimised and without sanitizers (bench/run; or cmake
 * -DCMAKE_BUILD_TYPE=Release -DUVBLE_SANITIZE=OFF). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "conn.h"
#include "radio.h"
#include "uvble/adv.h"
#include "uvble/gap.h"
#include "uvble/uvble.h"

struct opts {
  double seconds;
  int devices, per_event, ext_percent;
  const char *handler;
  bool probe;
};

/* ---- the event pool ---------------------------------------------------------- */
struct ev {
  uint16_t len;
  uint16_t reports;
  uint8_t pkt[2 + 255];
};

#define POOL 16384

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 32);
}

/* Device d's payload for its seq-th report. */
static size_t payload(int d, uint32_t seq, uint8_t *out, size_t cap) {
  size_t n = 0;
  uint8_t flags = 0x06;
  uvble_adv_append(out, cap, &n, UVBLE_AD_FLAGS, &flags, 1);
  bool changing = d % 5 < 2; /* 40% of the devices */
  uint8_t v[24];
  switch (d % 4) {
    case 0: /* iBeacon-style: Apple company id, UUID, major/minor, power */
      v[0] = 0x02;
      v[1] = 0x15;
      for (int i = 0; i < 16; i++) v[2 + i] = (uint8_t)(d * 7 + i);
      v[18] = (uint8_t)(d >> 8);
      v[19] = (uint8_t)d;
      v[20] = changing ? (uint8_t)seq : 0;
      v[21] = 0xC5;
      {
        uint8_t m[24] = {0x4C, 0x00};
        memcpy(m + 2, v, 22);
        uvble_adv_append(out, cap, &n, UVBLE_AD_MANUFACTURER, m, 24);
      }
      break;
    case 1: /* Eddystone-TLM-like service data, counters changing */
      v[0] = 0xAA;
      v[1] = 0xFE;
      v[2] = 0x20;
      v[3] = 0;
      for (int i = 4; i < 14; i++) v[i] = changing ? (uint8_t)(seq >> (i % 4)) : (uint8_t)i;
      uvble_adv_append(out, cap, &n, UVBLE_AD_SERVICE_DATA16, v, 14);
      break;
    case 2: { /* a named sensor with a service list and a reading */
      char name[12];
      int len = snprintf(name, sizeof name, "sens%04d", d);
      uvble_adv_append(out, cap, &n, UVBLE_AD_NAME_COMPLETE, name, (size_t)len);
      uint8_t svc[4] = {0x1A, 0x18, 0x0F, 0x18};
      uvble_adv_append(out, cap, &n, UVBLE_AD_UUID16_COMPLETE, svc, 4);
      uint8_t sd[4] = {0x1A, 0x18, (uint8_t)(changing ? seq : 21), 0};
      uvble_adv_append(out, cap, &n, UVBLE_AD_SERVICE_DATA16, sd, 4);
      break;
    }
    default: { /* vendor data with a rolling counter */
      uint8_t m[12] = {0x59, 0x00, (uint8_t)d, (uint8_t)(d >> 8)};
      for (int i = 4; i < 12; i++) m[i] = changing ? (uint8_t)(seq * i) : (uint8_t)i;
      uvble_adv_append(out, cap, &n, UVBLE_AD_MANUFACTURER, m, 12);
      uint8_t tx = 0xF4;
      uvble_adv_append(out, cap, &n, UVBLE_AD_TX_POWER, &tx, 1);
      break;
    }
  }
  return n;
}

static void addr_of(int d, uint8_t a[6]) {
  a[0] = (uint8_t)d;
  a[1] = (uint8_t)(d >> 8);
  a[2] = 0x5A;
  a[3] = 0x11;
  a[4] = 0x22;
  a[5] = (uint8_t)(d % 3 ? 0xC0 | (d & 0x3f) : 0x00); /* some static random */
}

/* One event of k reports from random devices; legacy or extended. */
static void build_event(struct ev *e, const struct opts *o, uint32_t *seq) {
  bool ext = (int)(rnd() % 100) < o->ext_percent;
  uint8_t *p = e->pkt;
  size_t n = 2;
  p[0] = 0x3E;
  p[n++] = ext ? 0x0D : 0x02;
  size_t count_at = n++;
  int k = 0;
  for (; k < o->per_event; k++) {
    int d = (int)(rnd() % (uint32_t)o->devices);
    uint8_t data[64];
    size_t dl = payload(d, seq[d]++, data, sizeof data);
    size_t need = ext ? 24 + dl : 10 + dl;
    if (n + need > 2 + 255) break;
    uint8_t a[6];
    addr_of(d, a);
    uint8_t atype = a[5] & 0xC0 ? 1 : 0;
    if (!ext) {
      p[n++] = (uint8_t)(d % 7 == 0 ? 3 : 0); /* ADV_NONCONN_IND or ADV_IND */
      p[n++] = atype;
      memcpy(p + n, a, 6);
      n += 6;
      p[n++] = (uint8_t)dl;
      memcpy(p + n, data, dl);
      n += dl;
      p[n++] = (uint8_t)(-50 - (int)(rnd() % 40));
    } else {
      /* Event_Type: legacy ADV_IND PDUs (0x13) or extended connectable. */
      uint16_t et = d % 2 ? 0x0013 : 0x0001;
      p[n++] = (uint8_t)et;
      p[n++] = (uint8_t)(et >> 8);
      p[n++] = atype;
      memcpy(p + n, a, 6);
      n += 6;
      p[n++] = 0x01;              /* primary PHY 1M */
      p[n++] = et & 0x10 ? 0 : 1; /* secondary PHY */
      p[n++] = 0xFF;              /* SID none */
      p[n++] = 0x7F;              /* TX power n/a */
      p[n++] = (uint8_t)(-50 - (int)(rnd() % 40));
      p[n++] = 0;
      p[n++] = 0; /* periodic interval */
      p[n++] = 0; /* direct address type */
      memset(p + n, 0, 6);
      n += 6;
      p[n++] = (uint8_t)dl;
      memcpy(p + n, data, dl);
      n += dl;
    }
  }
  p[count_at] = (uint8_t)k;
  p[1] = (uint8_t)(n - 2);
  e->len = (uint16_t)n;
  e->reports = (uint16_t)k;
}

/* ---- the host's handler ------------------------------------------------------ */
struct device {
  bool used;
  uvble_addr_t addr;
  uint32_t count;
  int8_t rssi;
  uint8_t flags;
  uint16_t company;
  uint8_t mfr[32], mfr_len;
  uint8_t svc_data[32], svc_data_len;
  char name[32];
};

#define TABLE 8192 /* > devices: open addressing stays short */
static struct device table[TABLE];
static uint64_t delivered;
static bool combine;
static int devices_seen;

static uint32_t addr_hash(const uvble_addr_t *a) {
  uint32_t h = 2166136261u ^ a->type;
  for (int i = 0; i < 6; i++) h = (h ^ a->val[i]) * 16777619u;
  return h;
}

static void combine_report(const uvble_evt_scan_result_t *r) {
  uint32_t i = addr_hash(&r->addr) & (TABLE - 1);
  while (table[i].used && (table[i].addr.type != r->addr.type ||
                           memcmp(table[i].addr.val, r->addr.val, 6) != 0))
    i = (i + 1) & (TABLE - 1);
  struct device *d = &table[i];
  if (!d->used) {
    d->used = true;
    d->addr = r->addr;
    devices_seen++;
  }
  d->count++;
  d->rssi = r->rssi;
  uvble_adv_iter_t it;
  uvble_adv_iter_init(&it, r->adv_data, r->adv_data_len, NULL, 0);
  uint8_t type;
  const uint8_t *v;
  size_t n;
  while (uvble_adv_iter_next(&it, &type, &v, &n) == 1) {
    switch (type) {
      case UVBLE_AD_FLAGS:
        if (n >= 1) d->flags = v[0];
        break;
      case UVBLE_AD_NAME_COMPLETE:
      case UVBLE_AD_NAME_SHORT:
        if (n >= sizeof d->name) n = sizeof d->name - 1;
        memcpy(d->name, v, n);
        d->name[n] = 0;
        break;
      case UVBLE_AD_MANUFACTURER:
        if (n >= 2) {
          d->company = (uint16_t)(v[0] | v[1] << 8);
          d->mfr_len = (uint8_t)(n - 2 < sizeof d->mfr ? n - 2 : sizeof d->mfr);
          memcpy(d->mfr, v + 2, d->mfr_len);
        }
        break;
      case UVBLE_AD_SERVICE_DATA16:
        d->svc_data_len = (uint8_t)(n < sizeof d->svc_data ? n : sizeof d->svc_data);
        memcpy(d->svc_data, v, d->svc_data_len);
        break;
      default:
        break;
    }
  }
}

static int on_irq(uvble_t *ble, int type, const uvble_irq_data_t *d, void *arg) {
  (void)ble;
  (void)arg;
  if (type != UVBLE_IRQ_SCAN_RESULT) return 0;
  delivered++;
  if (combine) combine_report(&d->scan_result);
  return 0;
}

/* ---- the flood and the probe ---------------------------------------------------- */
static radio_t *radio;
static uvble_t *host;
static struct ev *pool;
static size_t pool_next;
static uint64_t events_sent, reports_sent;
static bool flooding;

static void on_refill(uv_idle_t *h) {
  (void)h;
  if (!flooding) return;
  for (;;) {
    const struct ev *e = &pool[pool_next];
    if (radio_send_raw(radio, 0, UVBLE_HCI_EVENT, e->pkt, e->len) != 0) return;
    pool_next = (pool_next + 1) % POOL;
    events_sent++;
    reports_sent += e->reports;
  }
}

struct probe {
  uv_timer_t timer;
  uv_check_t check;
  uint64_t started; /* 0: none running */
  uint64_t max_ns, sum_ns;
  unsigned done;
};
static struct probe probe;

static bool host_idle(void) {
  return host->hci.queue.head == NULL && host->hci.inflight.head == NULL;
}

static void on_probe_check(uv_check_t *c) {
  (void)c;
  if (!probe.started || !host_idle()) return;
  uint64_t ns = uv_hrtime() - probe.started;
  probe.started = 0;
  probe.done++;
  probe.sum_ns += ns;
  if (ns > probe.max_ns) probe.max_ns = ns;
}

static void on_probe_timer(uv_timer_t *t) {
  (void)t;
  if (probe.started || !flooding) return;
  static const uint8_t adv[] = {0x02, 0x01, 0x06};
  probe.started = uv_hrtime();
  if (uvble_gap_advertise(host, 100000, adv, sizeof adv, NULL, 0, false) != 0)
    probe.started = 0;
}

static void on_stop(uv_timer_t *t) {
  (void)t;
  flooding = false;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static bool up_done;
static int up_status;
static void on_up(uvble_t *b, int status, void *cb_arg) {
  (void)cb_arg;
  (void)b;
  up_done = true;
  up_status = status;
}

static int run(uv_loop_t *loop, const struct opts *o, bool with_combine) {
  combine = with_combine;
  memset(table, 0, sizeof table);
  devices_seen = 0;
  delivered = events_sent = reports_sent = 0;
  memset(&probe, 0, sizeof probe);
  uvble_gap_stats_t g0, g1;
  uvble_gap_get_stats(host, &g0);
  uv_idle_t refill;
  uv_idle_init(loop, &refill);
  uv_idle_start(&refill, on_refill);
  uv_timer_t stop;
  uv_timer_init(loop, &stop);
  uv_timer_start(&stop, on_stop, (uint64_t)(o->seconds * 1000), 0);
  if (o->probe) {
    uv_timer_init(loop, &probe.timer);
    uv_timer_start(&probe.timer, on_probe_timer, 50, 50);
    uv_check_init(loop, &probe.check);
    uv_check_start(&probe.check, on_probe_check);
  }
  flooding = true;
  double c0 = cpu_seconds();
  uint64_t t0 = uv_hrtime();
  while (flooding) uv_run(loop, UV_RUN_ONCE);
  uint64_t t1 = uv_hrtime();
  double c1 = cpu_seconds();
  /* Let the queue drain (not timed). */
  for (int i = 0; i < 100; i++) uv_run(loop, UV_RUN_NOWAIT);
  uv_close((uv_handle_t *)&refill, NULL);
  uv_close((uv_handle_t *)&stop, NULL);
  if (o->probe) {
    uv_close((uv_handle_t *)&probe.timer, NULL);
    uv_close((uv_handle_t *)&probe.check, NULL);
  }
  uv_run(loop, UV_RUN_NOWAIT);
  uvble_gap_get_stats(host, &g1);
  double wall = (double)(t1 - t0) / 1e9, cpu = c1 - c0;
  uint64_t parsed = g1.adv_reports - g0.adv_reports;
  struct radio_stats rs;
  radio_get_stats(radio, &rs);
  printf("{\"bench\":\"scan\",\"link\":\"mem\",\"metric\":\"reports_per_s\","
         "\"value\":%.0f,\"unit\":\"reports/s\",\"handler\":\"%s\","
         "\"cpu_ns_per_report\":%.1f,\"events_per_s\":%.0f,\"reports\":%llu,"
         "\"parsed\":%llu,\"malformed\":%llu,\"seconds\":%.3f,\"cpu_s\":%.3f,"
         "\"devices\":%d,\"devices_combined\":%d,\"reports_per_event\":%d,"
         "\"ext_percent\":%d,\"probe_commands_completed\":%u,"
         "\"probe_mean_ms\":%.3f,\"probe_max_ms\":%.3f,\"cpu_includes\":\"controller copy\"}\n",
         (double)delivered / wall, with_combine ? "combine" : "count",
         delivered ? cpu * 1e9 / (double)delivered : 0.0, (double)events_sent / wall,
         (unsigned long long)delivered, (unsigned long long)parsed,
         (unsigned long long)(g1.adv_reports_malformed - g0.adv_reports_malformed), wall,
         cpu, o->devices, devices_seen, o->per_event, o->ext_percent, probe.done,
         probe.done ? (double)probe.sum_ns / probe.done / 1e6 : 0.0,
         (double)probe.max_ns / 1e6);
  fflush(stdout);
  return g1.adv_reports_malformed != g0.adv_reports_malformed;
}

static int usage(void) {
  fprintf(stderr,
          "usage: scan [--seconds S] [--devices N] [--per-event K] [--ext-percent P]\n"
          "            [--handler count|combine|both] [--no-probe]\n");
  return 2;
}

int main(int argc, char **argv) {
  struct opts o = {3.0, 3000, 4, 30, "both", true};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--seconds") && v) o.seconds = atof(argv[++i]);
    else if (!strcmp(a, "--devices") && v) o.devices = atoi(argv[++i]);
    else if (!strcmp(a, "--per-event") && v) o.per_event = atoi(argv[++i]);
    else if (!strcmp(a, "--ext-percent") && v) o.ext_percent = atoi(argv[++i]);
    else if (!strcmp(a, "--handler") && v) o.handler = argv[++i];
    else if (!strcmp(a, "--no-probe")) o.probe = false;
    else return usage();
  }
  if (o.seconds <= 0 || o.devices < 1 || o.devices > TABLE / 2 || o.per_event < 1 ||
      o.per_event > 25 || o.ext_percent < 0 || o.ext_percent > 100)
    return usage();

  pool = calloc(POOL, sizeof *pool);
  uint32_t *seq = calloc((size_t)o.devices, sizeof *seq);
  if (!pool || !seq) return 1;
  for (size_t i = 0; i < POOL; i++) build_event(&pool[i], &o, seq);
  free(seq);

  uv_loop_t loop;
  uv_loop_init(&loop);
  radio = radio_new(&loop);
  uvble_transport_t *t = radio_add(radio);
  if (!t || uvble_new_with_transport(&loop, t, &host) != 0) return 1;
  uvble_irq(host, on_irq, NULL);
  uvble_active(host, true, on_up, NULL);
  while (!up_done) uv_run(&loop, UV_RUN_ONCE);
  if (up_status != 0) {
    fprintf(stderr, "scan: host did not come up: %s\n", uvble_strerror(up_status));
    return 1;
  }
  uvble_gap_scan(host, 0, 0, 0, false);
  for (int i = 0; i < 20; i++) uv_run(&loop, UV_RUN_NOWAIT);
  if (!radio_scanning(radio, 0)) {
    fprintf(stderr, "scan: the host did not start scanning\n");
    return 1;
  }
  int bad = 0;
  if (!strcmp(o.handler, "count") || !strcmp(o.handler, "both")) bad |= run(&loop, &o, false);
  if (!strcmp(o.handler, "combine") || !strcmp(o.handler, "both")) bad |= run(&loop, &o, true);

  uvble_close(host, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  radio_free(radio);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free(pool);
  return bad;
}
