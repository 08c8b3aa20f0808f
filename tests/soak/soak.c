/* SPDX-License-Identifier: Apache-2.0 */
/* Soak: connect / discover / read / disconnect cycles between two hosts on
 * btvirt, with the process's memory sampled every 100 cycles:
 *   live     allocations made and not yet freed, and their bytes (malloc,
 *            calloc, realloc, free and friends interposed below, so every
 *            library in the process counts: uvble, libuv, libsodium,
 *            OpenSSL, libc)
 *   heap     bytes in use by the allocator (mallinfo2 uordblks)
 *   rss      resident set (/proc/self/statm)
 * The verdict: from cycle 100 (everything warmed up) to the last, the
 * live allocations and their bytes do not grow at all, the allocator's
 * heap figure by less than 16 KiB and RSS by less than 256 KiB. Samples are taken at the same point of a cycle: both hosts idle,
 * the link down, the peripheral advertising again.
 *
 *   soak [CYCLES]        (default 1000; run through tests/soak/run, which
 *                         builds it without sanitizers and starts btvirt)
 *
 * Output: a line per sample, then one JSON line with the verdict. Exit 0
 * when flat, 1 when not, 2 when a cycle failed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uvble/gap.h"
#include "uvble/gattc.h"
#include "uvble/uvble.h"

/* ---- allocation counting ------------------------------------------------- */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

/* live: allocations not freed; live_bytes: their usable sizes. */
static atomic_long live, total, live_bytes;

static void *counted(void *p) {
  if (p) {
    live++;
    total++;
    live_bytes += (long)malloc_usable_size(p);
  }
  return p;
}

void *malloc(size_t n) { return counted(__libc_malloc(n)); }
void *calloc(size_t a, size_t b) { return counted(__libc_calloc(a, b)); }
void *realloc(void *old, size_t n) {
  long before = old ? (long)malloc_usable_size(old) : 0;
  void *p = __libc_realloc(old, n);
  if (!old) return counted(p);
  if (p) {
    live_bytes += (long)malloc_usable_size(p) - before;
  } else if (n == 0) {
    live--;
    live_bytes -= before;
  }
  return p;
}
void free(void *p) {
  if (p) {
    live--;
    live_bytes -= (long)malloc_usable_size(p);
  }
  __libc_free(p);
}
int posix_memalign(void **out, size_t align, size_t n) {
  void *p = __libc_memalign(align, n);
  if (!p) return 12; /* ENOMEM */
  *out = counted(p);
  return 0;
}
void *aligned_alloc(size_t align, size_t n) { return counted(__libc_memalign(align, n)); }

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, res = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
    fclose(f);
  }
  return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- the two hosts --------------------------------------------------------- */
static uv_loop_t loop;

struct host {
  uvble_t *ble;
  bool up;
  int status;
  uvble_addr_t addr;
  int connects, disconnects, svc_done, read_done, read_ok;
  int connect_failed; /* PERIPHERAL_DISCONNECT for an attempt, 0xffff */
  uint16_t conn;
};
static struct host C, P;

static int on_irq(uvble_t *b, int type, const uvble_irq_data_t *d, void *arg) {
  (void)b;
  struct host *h = arg;
  if (getenv("SOAK_DEBUG"))
    fprintf(stderr, "%s: %s\n", h == &C ? "C" : "P", uvble_irq_name(type));
  switch (type) {
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
    case UVBLE_IRQ_CENTRAL_CONNECT:
      h->connects++;
      h->conn = d->connect.conn_handle;
      break;
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
    case UVBLE_IRQ_CENTRAL_DISCONNECT:
      if (d->connect.conn_handle == 0xffff)
        h->connect_failed++;
      else
        h->disconnects++;
      break;
    case UVBLE_IRQ_GATTC_SERVICE_DONE:
      h->svc_done++;
      break;
    case UVBLE_IRQ_GATTC_READ_RESULT:
      if (d->gattc_data.data_len == 4 && !memcmp(d->gattc_data.data, "soak", 4))
        h->read_ok++;
      break;
    case UVBLE_IRQ_GATTC_READ_DONE:
      h->read_done++;
      break;
    default:
      break;
  }
  return 0;
}

static void on_up(uvble_t *b, int status, void *cb_arg) {
  (void)cb_arg;
  struct host *h = uvble_get_data(b);
  h->up = true;
  h->status = status;
}

struct until {
  int *v;
  int want;
};
static bool until_pred(void *arg) {
  struct until *u = arg;
  return *u->v >= u->want;
}

static void on_timeout(uv_timer_t *t) { *(bool *)t->data = true; }

static bool run_until(bool (*pred)(void *), void *arg, unsigned ms);

/* Runs the loop until *v >= want or ms pass. */
static bool wait_for(int *v, int want, unsigned ms) {
  struct until u = {v, want};
  return run_until(until_pred, &u, ms);
}

static int host_up(struct host *h) {
  memset(h, 0, sizeof *h);
  char err[256] = "";
  const char *spec = getenv("UVBLE_TRANSPORT");
  if (!spec || uvble_new(&loop, spec, &h->ble, err, sizeof err) != 0) {
    fprintf(stderr, "soak: uvble_new: %s\n", spec ? err : "UVBLE_TRANSPORT unset");
    return -1;
  }
  uvble_set_data(h->ble, h);
  uvble_irq(h->ble, on_irq, h);
  uvble_active(h->ble, true, on_up, NULL);
  for (int i = 0; i < 1000 && !h->up; i++) uv_run(&loop, UV_RUN_ONCE);
  if (!h->up || h->status != 0) return -1;
  uvble_config_get_mac(h->ble, &h->addr);
  return 0;
}

static const uint8_t ADV[] = {0x02, 0x01, 0x06};

static int retries;

struct attempt {
  int cc, failed;
};
static bool attempt_over(void *arg) {
  const struct attempt *a = arg;
  return C.connects >= a->cc || C.connect_failed >= a->failed;
}

/* Runs the loop until pred(arg) or ms pass. */
static bool run_until(bool (*pred)(void *), void *arg, unsigned ms) {
  bool expired = false;
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  t.data = &expired;
  uv_timer_start(&t, on_timeout, ms, 0);
  while (!pred(arg) && !expired) uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  return pred(arg);
}

/* The peripheral advertises; the central connects once it does. btvirt
 * fails a connect at once when the peer is not advertising yet (the
 * advertising commands still on their way): then the attempt is made
 * again, and counted. */
static int connect_once_advertising(void) {
  struct attempt a = {C.connects + 1, 0};
  for (int n = 0; n < 20; n++) {
    a.failed = C.connect_failed + 1;
    if (n > 0) retries++;
    int r = uvble_gap_advertise(P.ble, 20000, ADV, sizeof ADV, NULL, 0, true);
    if (r != 0) {
      fprintf(stderr, "soak: advertise: %s\n", uvble_err_name(r));
      return -1;
    }
    for (int i = 0; i < 10; i++) uv_run(&loop, UV_RUN_NOWAIT);
    r = uvble_gap_connect(C.ble, &P.addr, 0, 0, 0);
    if (r != 0) {
      fprintf(stderr, "soak: connect: %s\n", uvble_err_name(r));
      return -1;
    }
    if (!run_until(attempt_over, &a, 5000)) return -1;
    if (C.connects >= a.cc) return 0;
  }
  return -1;
}

/* One cycle; returns 0 or the step that failed. */
static int cycle(int n) {
  (void)n;
  /* Targets counted before each step: both hosts' events may arrive in
   * the same loop iteration. */
  int cc = C.connects + 1, pc = P.connects + 1, cd = C.disconnects + 1,
      pd = P.disconnects + 1, sd = C.svc_done + 1, rd = C.read_done + 1,
      ok = C.read_ok + 1;
  if (connect_once_advertising() != 0) return 2;
  if (!wait_for(&C.connects, cc, 3000)) return 3;
  if (!wait_for(&P.connects, pc, 3000)) return 4;
  if (uvble_gattc_discover_services(C.ble, C.conn, NULL) != 0) return 5;
  if (!wait_for(&C.svc_done, sd, 3000)) return 6;
  if (uvble_gattc_read(C.ble, C.conn, 3) != 0) return 7; /* Device Name */
  if (!wait_for(&C.read_done, rd, 3000)) return 8;
  if (C.read_ok != ok) return 9;
  if (uvble_gap_disconnect(C.ble, C.conn) != 1) return 10;
  if (!wait_for(&C.disconnects, cd, 3000)) return 11;
  if (!wait_for(&P.disconnects, pd, 3000)) return 12;
  return 0;
}

struct sample {
  int cycle;
  long live, bytes, rss;
  size_t heap;
};

static bool never(void *arg) {
  (void)arg;
  return false;
}

/* Sampled after 50 ms of quiet: whatever a retried connect left in flight
 * (commands, completions) has settled. */
static struct sample take(int n) {
  run_until(never, NULL, 50);
  struct mallinfo2 mi = mallinfo2();
  struct sample s = {n, live, live_bytes, rss_kib(), mi.uordblks};
  return s;
}

static int closed;
static void on_closed(uvble_t *b, void *cb_arg) {
  (void)cb_arg;
  (void)b;
  closed++;
}

int main(int argc, char **argv) {
  int cycles = argc > 1 ? atoi(argv[1]) : 1000;
  if (cycles < 200) {
    fprintf(stderr, "usage: soak [CYCLES >= 200]\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  uv_loop_init(&loop);
  if (host_up(&P) || host_up(&C)) return 2;
  if (uvble_config_set_name(P.ble, "soak", 4) != 0) return 2;

  static struct sample samples[1000];
  int ns = 0;
  uint64_t t0 = uv_hrtime();
  printf("%8s %10s %12s %12s %10s %14s\n", "cycle", "live", "live_bytes", "heap_bytes",
         "rss_kib", "allocs_total");
  for (int n = 1; n <= cycles; n++) {
    int r = cycle(n);
    if (r) {
      fprintf(stderr, "soak: cycle %d failed at step %d\n", n, r);
      return 2;
    }
    if (n == 1 || n == 10 || n % 100 == 0) {
      struct sample s = take(n);
      if (ns < 1000) samples[ns++] = s;
      printf("%8d %10ld %12ld %12zu %10ld %14ld\n", s.cycle, s.live, s.bytes, s.heap, s.rss,
             (long)total);
    }
  }
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  /* From cycle 100 on. */
  const struct sample *from = NULL, *to = &samples[ns - 1];
  long max_live = 0;
  for (int i = 0; i < ns; i++) {
    if (samples[i].cycle == 100) from = &samples[i];
    if (from && samples[i].live > max_live) max_live = samples[i].live;
  }
  if (!from) return 2;
  long d_live = to->live - from->live, d_rss = to->rss - from->rss;
  long d_bytes = to->bytes - from->bytes;
  long d_heap = (long)to->heap - (long)from->heap;
  /* What the program holds must not change at all; the allocator's own
   * accounting (uordblks counts chunk overheads and moves with
   * fragmentation) and RSS may move by a little, once. */
  bool flat = d_live <= 0 && d_bytes <= 0 && d_heap < 16384 && d_rss < 256;
  printf("{\"soak\":\"connect-discover-read-disconnect\",\"cycles\":%d,\"seconds\":%.1f,"
         "\"live_at_100\":%ld,\"live_at_end\":%ld,\"live_max_after_100\":%ld,"
         "\"live_bytes_at_100\":%ld,\"live_bytes_at_end\":%ld,"
         "\"heap_at_100\":%zu,\"heap_at_end\":%zu,\"rss_kib_at_100\":%ld,"
         "\"rss_kib_at_end\":%ld,\"allocations_total\":%ld,\"connect_retries\":%d,"
         "\"flat\":%s}\n",
         cycles, secs, from->live, to->live, max_live, from->bytes, to->bytes, from->heap,
         to->heap, from->rss,
         to->rss, (long)total, retries, flat ? "true" : "false");
  uvble_close(C.ble, on_closed, NULL);
  uvble_close(P.ble, on_closed, NULL);
  while (closed < 2) uv_run(&loop, UV_RUN_ONCE);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return flat ? 0 : 1;
}
