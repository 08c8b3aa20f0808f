/* SPDX-License-Identifier: Apache-2.0 */
/* uvble scan: one line per device update (address, type, RSSI, name,
 * services), or JSON lines (--json) in the schema uvble-scanner prints too (tools/common/cli.h). --raw adds the
 * AD structures; --bond-store resolves the private addresses of bonded
 * devices to their identity. For filters and the live table see
 * examples/scanner. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"
#include "uvble/adv.h"
#include "uvble/security.h"

static struct {
  unsigned duration_s;
  bool passive, json, raw;
  uvble_task_t task;
  uvble_future_t f;
  uvble_scan_t *scan;
} SC;

static void print_raw(const uint8_t *p, size_t n, bool resp) {
  uvble_adv_iter_t it;
  uint8_t type;
  const uint8_t *data;
  size_t len;
  uvble_adv_iter_init(&it, p, p ? n : 0, NULL, 0);
  while (uvble_adv_iter_next(&it, &type, &data, &len) == 1) {
    printf("    %s 0x%02x:", resp ? "rsp" : "adv", type);
    for (size_t i = 0; i < len; i++) printf(" %02x", data[i]);
    printf("\n");
  }
}

static void print(const uvble_scan_result_t *r) {
  uvble_addr_t id;
  bool resolved = TOOL.store && uvble_resolve_peer(TOOL.ble, &r->device.addr, &id);
  if (SC.json) {
    cli_json_line(cli_scan_json(r, resolved ? &id : NULL, SC.raw));
    return;
  }
  char addr[UVBLE_ADDR_STR_LEN], name[64] = "";
  if (uvble_scan_result_name(r, name, sizeof name) < 0) name[0] = 0;
  for (char *p = name; *p; p++)
    if ((unsigned char)*p < 0x20) *p = '?';
  uvble_uuid_t u[16];
  int n = uvble_scan_result_services(r, u, 16);
  printf("%s %-6s ", uvble_device_addr_hex(&r->device, addr),
         cli_addr_type(r->device.addr.type));
  if (r->rssi == 127) printf(" n/a"); else printf("%4d", r->rssi);
  printf(" %-20s", name[0] ? name : "-");
  for (int i = 0; i < n && i < 16; i++) {
    char s[UVBLE_UUID_STR_LEN];
    uvble_uuid_to_str(&u[i], s, sizeof s);
    printf(" %s", s);
  }
  if (resolved) printf(" (identity %s)", uvble_addr_to_str(&id, addr));
  printf("\n");
  if (SC.raw) {
    print_raw(r->adv_data, r->adv_len, false);
    print_raw(r->resp_data, r->resp_len, true);
  }
  fflush(stdout);
}

static int scan_fn(uvble_task_t *t) {
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&SC.f, TOOL.a, TOOL_TIMEOUT_MS), &SC.f));
  if (SC.f.status) UVBLE_CO_RETURN(t, tool_ffail("starting", &SC.f));
  {
    uvble_scan_params_t p = {.duration_ms = (int32_t)SC.duration_s * 1000,
                             .interval_us = 100000, .window_us = 100000,
                             .active = !SC.passive, .ignore_rssi = true};
    int r = uvble_scan_start(TOOL.a, &p, &SC.scan);
    if (r < 0) UVBLE_CO_RETURN(t, tool_fail("scanning", r));
  }
  for (;;) {
    UVBLE_AWAIT(t, (uvble_scan_next(&SC.f, SC.scan, 0), &SC.f));
    if (SC.f.status) break;
    print(SC.f.result.scan);
  }
  tool_quit(SC.f.status == UVBLE_EOF ? 0 : TOOL.exit_code);
  UVBLE_CO_END(t);
}

static const char USAGE[] =
    "usage: uvble scan [-t T] [--duration SEC] [--passive] [--json] [--raw]\n"
    "                  [--bond-store FILE]\n"
    "  --duration SEC     0..86400 (default 10; 0: until Ctrl-C)\n"
    "  --json             JSON lines (the schema uvble-scanner prints)\n"
    "  --raw              the AD structures of each advertisement and scan response\n"
    "  --bond-store FILE  resolve bonded devices' private addresses to their identity\n";

int cmd_scan(int argc, char **argv) {
  static const struct option opts[] = {
      {"transport", required_argument, NULL, 't'},
      {"duration", required_argument, NULL, 'd'},
      {"passive", no_argument, NULL, 'p'},
      {"json", no_argument, NULL, 'j'},
      {"raw", no_argument, NULL, 'r'},
      {"bond-store", required_argument, NULL, 'S'},
      {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  tool_begin("scan");
  SC.duration_s = 10;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "t:d:pjrS:Vh", opts, NULL)) != -1) {
    int r = tool_common_opt(c, optarg, USAGE);
    if (r == TOOL_OPT_EXIT) return 0;
    if (r == TOOL_OPT_BAD) return 2;
    if (r) continue;
    uint64_t v;
    switch (c) {
      case 'd':
        if (cli_uint("--duration", optarg, 0, 86400, CLI_DEC, &v) < 0) return 2;
        SC.duration_s = (unsigned)v;
        break;
      case 'p': SC.passive = true; break;
      case 'j': SC.json = true; break;
      case 'r': SC.raw = true; break;
      default: return 2;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "uvble scan: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (tool_open("scan")) return 1;
  if (tool_open_store()) {
    tool_quit(1);
    return tool_run();
  }
  uvble_task_spawn(TOOL.sched, &SC.task, scan_fn, NULL);
  return tool_run();
}
