/* SPDX-License-Identifier: Apache-2.0 */
/* scanner: what is advertising around, with filters.
 *
 *   uvble-scanner [-t TRANSPORT] [--passive] [--name TEXT] [--service UUID]...
 *                 [--manufacturer ID]... [--min-rssi DBM] [--duration SEC]
 *                 [--json | --table]
 *
 * On a terminal: a table redrawn in place twice a second (address, type,
 * RSSI, name, services, manufacturer, last seen), like top. Piped (or with
 * --json): one JSON object per device update — a device is printed again
 * whenever its advertisement, scan response or RSSI changes (the async
 * layer's scan merges reports per device, as aioble does). Ctrl-C stops
 * cleanly; --duration stops after SEC seconds.
 *
 * Filters (all given must hold): the name contains TEXT (case-insensitive),
 * one of the services is advertised, one of the manufacturer ids is there,
 * the RSSI is at least DBM (127, "not available", passes). */
#include <ctype.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "uvble/adv.h"
#include "uvble/async.h"
#include "uvble/co.h"
#include "uvble/uvble.h"

#define MAX_FILTER 16
#define MAX_SHOWN 4096

struct seen {
  const uvble_scan_result_t *r; /* owned by the scan */
  uint64_t last_ms;
  uint64_t updates;
};

static struct scanner {
  uv_loop_t *loop;
  uvble_t *ble;
  uvble_async_t *a;
  uvble_sched_t *sched;
  uv_signal_t sigint, sigterm;
  uv_timer_t quit_timer, redraw;
  bool quitting, table, active;
  int exit_code;
  /* filters */
  const char *name;
  uvble_uuid_t services[MAX_FILTER];
  size_t nservices;
  int companies[MAX_FILTER];
  size_t ncompanies;
  int min_rssi;
  unsigned duration_s;
  /* state */
  uvble_task_t task;
  uvble_future_t f;
  uvble_scan_t *scan;
  struct seen seen[MAX_SHOWN];
  size_t nseen;
  uint64_t start_ms;
} S;

/* ---- lifecycle ------------------------------------------------------------------- */

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void draw(void);

static void on_quit_timer(uv_timer_t *t) {
  if (S.table) draw(); /* the last state stays on the screen */
  uvble_async_close(S.a, NULL, NULL);
  close_handle((uv_handle_t *)t);
}

static void quit(int code) {
  if (S.quitting) return;
  S.quitting = true;
  S.exit_code = code;
  close_handle((uv_handle_t *)&S.sigint);
  close_handle((uv_handle_t *)&S.sigterm);
  /* Closing the handles restores the default action: a second Ctrl-C
   * (timeout(1) sends one to the process and one to its group) must
   * not kill the clean shutdown that is under way. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  close_handle((uv_handle_t *)&S.redraw);
  uv_timer_start(&S.quit_timer, on_quit_timer, 0, 0);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  quit(0);
}

static void on_fatal(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  fprintf(stderr, "scanner: the controller failed: %s\n", uvble_strerror(status));
  quit(1);
}

/* ---- filters ------------------------------------------------------------------- */

static bool contains_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0) return true;
  return n == 0;
}

static bool matches(const uvble_scan_result_t *r) {
  if (S.min_rssi > -128 && r->rssi != 127 && r->rssi < S.min_rssi) return false;
  if (S.name) {
    char name[64];
    if (uvble_scan_result_name(r, name, sizeof name) < 0) return false;
    if (!contains_ci(name, S.name)) return false;
  }
  if (S.nservices) {
    bool any = false;
    for (size_t i = 0; i < S.nservices && !any; i++)
      any = uvble_adv_has_service(r->adv_data, r->adv_len, r->resp_data,
                                  r->resp_len, &S.services[i]);
    if (!any) return false;
  }
  if (S.ncompanies) {
    bool any = false;
    for (size_t i = 0; i < S.ncompanies && !any; i++)
      any = uvble_adv_manufacturer(r->adv_data, r->adv_len, r->resp_data,
                                   r->resp_len, S.companies[i], NULL, NULL,
                                   NULL) == 0;
    if (!any) return false;
  }
  return true;
}

/* ---- output ------------------------------------------------------------------- */

/* The schema `uvble scan --json` prints too (tools/common/cli.h). */
static void print_json(const uvble_scan_result_t *r) {
  cli_json_line(cli_scan_json(r, NULL, false));
}

static int by_rssi(const void *x, const void *y) {
  const struct seen *a = x, *b = y;
  int ra = a->r->rssi == 127 ? -127 : a->r->rssi;
  int rb = b->r->rssi == 127 ? -127 : b->r->rssi;
  if (ra != rb) return rb - ra;
  return memcmp(a->r->device.addr.val, b->r->device.addr.val, 6);
}

/* The table, top-like: home, clear, one row per device. */
static void draw(void) {
  if (!S.scan) return;
  uint64_t now = uv_now(S.loop);
  uvble_scan_stats_t st;
  uvble_scan_get_stats(S.scan, &st);
  qsort(S.seen, S.nseen, sizeof S.seen[0], by_rssi);
  printf("\033[H\033[2J");
  printf("uvble-scanner: %zu devices shown, %llu seen, %llu reports, %s scan, %.0f s%s\n\n",
         S.nseen, (unsigned long long)st.devices, (unsigned long long)st.reports,
         S.active ? "active" : "passive", (now - S.start_ms) / 1000.0,
         S.quitting ? " (stopped)" : "   Ctrl-C to stop");
  printf("%-17s %-6s %4s  %-20s %-24s %-14s %s\n", "ADDRESS", "TYPE", "RSSI",
         "NAME", "SERVICES", "MANUFACTURER", "SEEN");
  for (size_t i = 0; i < S.nseen; i++) {
    const uvble_scan_result_t *r = S.seen[i].r;
    char addr[UVBLE_ADDR_STR_LEN], name[64] = "", svcs[25] = "", mfr[15] = "",
         rssi[8] = "n/a";
    if (uvble_scan_result_name(r, name, sizeof name) < 0) name[0] = 0;
    for (char *p = name; *p; p++)
      if (!isprint((unsigned char)*p)) *p = '?';
    name[20] = 0;
    uvble_uuid_t u[8];
    int ns = uvble_scan_result_services(r, u, 8);
    size_t o = 0;
    for (int k = 0; k < ns && k < 8 && o < sizeof svcs - 1; k++) {
      char t[UVBLE_UUID_STR_LEN];
      uvble_uuid_to_str(&u[k], t, sizeof t);
      if (u[k].type == 128) t[8] = 0; /* the first group is enough here */
      o += (size_t)snprintf(svcs + o, sizeof svcs - o, "%s%s", k ? "," : "", t);
    }
    uint16_t id;
    const uint8_t *data;
    size_t len;
    if (uvble_adv_manufacturer(r->adv_data, r->adv_len, r->resp_data, r->resp_len,
                               UVBLE_ADV_ANY_COMPANY, &id, &data, &len) == 0)
      snprintf(mfr, sizeof mfr, "0x%04x+%zuB", id, len);
    if (r->rssi != 127) snprintf(rssi, sizeof rssi, "%d", r->rssi);
    printf("%-17s %-6s %4s  %-20s %-24s %-14s %.1fs ago\n",
           uvble_device_addr_hex(&r->device, addr), cli_addr_type(r->device.addr.type),
           rssi, name, svcs, mfr, (now - S.seen[i].last_ms) / 1000.0);
  }
  fflush(stdout);
}

static void on_redraw(uv_timer_t *t) {
  (void)t;
  draw();
}

static void remember(const uvble_scan_result_t *r) {
  for (size_t i = 0; i < S.nseen; i++)
    if (S.seen[i].r == r) {
      S.seen[i].last_ms = uv_now(S.loop);
      S.seen[i].updates++;
      return;
    }
  if (S.nseen == MAX_SHOWN) return;
  S.seen[S.nseen++] = (struct seen){r, uv_now(S.loop), 1};
}

/* ---- the scan ------------------------------------------------------------------- */

static int scan_fn(uvble_task_t *t) {
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&S.f, S.a, 10000), &S.f));
  if (S.f.status) {
    char why[160];
    fprintf(stderr, "scanner: cannot start the controller: %s\n",
            cli_fstatus(&S.f, why, sizeof why));
    quit(1);
    UVBLE_CO_RETURN(t, S.f.status);
  }
  {
    /* Window = interval: listen all the time. */
    uvble_scan_params_t p = {.duration_ms = (int32_t)(S.duration_s * 1000),
                             .interval_us = 100000, .window_us = 100000,
                             .active = S.active};
    int r = uvble_scan_start(S.a, &p, &S.scan);
    if (r < 0) {
      fprintf(stderr, "scanner: cannot scan: %s\n", uvble_strerror(r));
      quit(1);
      UVBLE_CO_RETURN(t, r);
    }
  }
  S.start_ms = uv_now(S.loop);
  if (S.table) uv_timer_start(&S.redraw, on_redraw, 0, 500);
  for (;;) {
    UVBLE_AWAIT(t, (uvble_scan_next(&S.f, S.scan, 0), &S.f));
    if (S.f.status) break; /* UVBLE_EOF: the duration is over */
    if (!matches(S.f.result.scan)) continue;
    if (S.table)
      remember(S.f.result.scan);
    else
      print_json(S.f.result.scan);
  }
  if (S.f.status == UVBLE_EOF) quit(0);
  UVBLE_CO_END(t);
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: uvble-scanner [-t TRANSPORT] [--passive] [--name TEXT] [--service UUID]...\n"
          "                     [--manufacturer ID]... [--min-rssi DBM] [--duration SEC]\n"
          "                     [--json | --table]\n"
          "  -t, --transport     controller (default: $UVBLE_TRANSPORT, else hci0)\n"
          "  -p, --passive       no scan requests (no scan responses)\n"
          "  -n, --name          the name contains TEXT (case-insensitive)\n"
          "  -s, --service       advertises this service (repeatable: any of them)\n"
          "  -m, --manufacturer  has manufacturer data of this company id (repeatable)\n"
          "  -r, --min-rssi      RSSI at least DBM\n"
          "  -d, --duration      stop after SEC seconds (default: until Ctrl-C)\n"
          "  -j, --json          one JSON object per update (default when piped)\n"
          "  -T, --table         the live table (default on a terminal)\n"
          "  -V, --version       the version\n");
}

int main(int argc, char **argv) {
  const char *transport = getenv("UVBLE_TRANSPORT");
  static const struct option opts[] = {
      {"transport", required_argument, NULL, 't'},
      {"passive", no_argument, NULL, 'p'},
      {"name", required_argument, NULL, 'n'},
      {"service", required_argument, NULL, 's'},
      {"manufacturer", required_argument, NULL, 'm'},
      {"min-rssi", required_argument, NULL, 'r'},
      {"duration", required_argument, NULL, 'd'},
      {"json", no_argument, NULL, 'j'},
      {"table", no_argument, NULL, 'T'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  cli_set_prog("uvble-scanner");
  int mode = isatty(STDOUT_FILENO) ? 'T' : 'j';
  S.active = true;
  S.min_rssi = -128;
  int c;
  uint64_t v;
  int64_t sv;
  while ((c = getopt_long(argc, argv, "t:pn:s:m:r:d:jThV", opts, NULL)) != -1) {
    switch (c) {
      case 't': transport = optarg; break;
      case 'p': S.active = false; break;
      case 'n': S.name = optarg; break;
      case 's':
        if (S.nservices == MAX_FILTER)
          {
          cli_bad("--service", optarg, "is one too many (at most 16)");
          return 2;
        }
        if (cli_uuid("--service", optarg, &S.services[S.nservices++]) < 0) return 2;
        break;
      case 'm':
        if (S.ncompanies == MAX_FILTER)
          {
          cli_bad("--manufacturer", optarg, "is one too many (at most 16)");
          return 2;
        }
        if (cli_uint("--manufacturer", optarg, 0, 0xffff, CLI_HEX, &v) < 0) return 2;
        S.companies[S.ncompanies++] = (int)v;
        break;
      case 'r':
        if (cli_int("--min-rssi", optarg, -127, 20, &sv) < 0) return 2;
        S.min_rssi = (int)sv;
        break;
      case 'd':
        if (cli_uint("--duration", optarg, 1, 86400, CLI_DEC, &v) < 0) return 2;
        S.duration_s = (unsigned)v;
        break;
      case 'j': case 'T': mode = c; break;
      case 'h': usage(stdout); return 0;
      case 'V': return cli_version();
      default: return 2; /* getopt named the option */
    }
  }
  if (optind != argc) {
    fprintf(stderr, "uvble-scanner: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  S.table = mode == 'T';
  if (!transport || !*transport) transport = "hci0";
  S.loop = uv_default_loop();
  char err[256] = "";
  int r = uvble_new(S.loop, transport, &S.ble, err, sizeof err);
  if (r < 0) {
    fprintf(stderr, "scanner: %s: %s\n", transport, err[0] ? err : uvble_strerror(r));
    return 1;
  }
  r = uvble_async_new(S.ble, NULL, NULL, &S.a);
  if (r < 0) {
    fprintf(stderr, "scanner: %s\n", uvble_strerror(r));
    uvble_close(S.ble, NULL, NULL);
    uv_run(S.loop, UV_RUN_DEFAULT);
    return 1;
  }
  S.sched = uvble_async_sched(S.a);
  uvble_async_on_fatal(S.a, on_fatal, NULL);
  uv_timer_init(S.loop, &S.quit_timer);
  uv_timer_init(S.loop, &S.redraw);
  uv_signal_init(S.loop, &S.sigint);
  uv_signal_init(S.loop, &S.sigterm);
  uv_signal_start(&S.sigint, on_signal, SIGINT);
  uv_signal_start(&S.sigterm, on_signal, SIGTERM);
  uvble_task_spawn(S.sched, &S.task, scan_fn, NULL);
  uv_run(S.loop, UV_RUN_DEFAULT);
  uv_loop_close(S.loop);
  return S.exit_code;
}
