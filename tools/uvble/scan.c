/* uvble scan: one line per device update (address, type, RSSI, name,
 * services), or JSON with --json; for filters and the live table see
 * examples/scanner. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"
#include "uvble/adv.h"

static struct {
  unsigned duration_s;
  bool passive, json;
  uvble_task_t task;
  uvble_future_t f;
  uvble_scan_t *scan;
} SC;

static void print(const uvble_scan_result_t *r) {
  char addr[UVBLE_ADDR_STR_LEN], name[64] = "";
  if (uvble_scan_result_name(r, name, sizeof name) < 0) name[0] = 0;
  for (char *p = name; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\') *p = '?';
  uvble_uuid_t u[16];
  int n = uvble_scan_result_services(r, u, 16);
  uvble_device_addr_hex(&r->device, addr);
  const char *type = r->device.addr.type == UVBLE_ADDR_PUBLIC ? "public" : "random";
  if (SC.json) {
    printf("{\"address\":\"%s\",\"type\":\"%s\",\"rssi\":", addr, type);
    if (r->rssi == 127) printf("null"); else printf("%d", r->rssi);
    printf(",\"connectable\":%s,\"name\":\"%s\",\"services\":[",
           r->connectable ? "true" : "false", name);
  } else {
    printf("%s %-6s ", addr, type);
    if (r->rssi == 127) printf(" n/a"); else printf("%4d", r->rssi);
    printf(" %-20s", name[0] ? name : "-");
  }
  for (int i = 0; i < n && i < 16; i++) {
    char s[UVBLE_UUID_STR_LEN];
    uvble_uuid_to_str(&u[i], s, sizeof s);
    printf(SC.json ? "%s\"%s\"" : "%s%s", SC.json ? (i ? "," : "") : " ", s);
  }
  printf(SC.json ? "]}\n" : "\n");
  fflush(stdout);
}

static int scan_fn(uvble_task_t *t) {
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&SC.f, TOOL.a, TOOL_TIMEOUT_MS), &SC.f));
  if (SC.f.status) UVBLE_CO_RETURN(t, tool_fail("scan", "starting", SC.f.status));
  {
    uvble_scan_params_t p = {.duration_ms = (int32_t)SC.duration_s * 1000,
                             .interval_us = 100000, .window_us = 100000,
                             .active = !SC.passive, .ignore_rssi = true};
    int r = uvble_scan_start(TOOL.a, &p, &SC.scan);
    if (r < 0) UVBLE_CO_RETURN(t, tool_fail("scan", "scanning", r));
  }
  for (;;) {
    UVBLE_AWAIT(t, (uvble_scan_next(&SC.f, SC.scan, 0), &SC.f));
    if (SC.f.status) break;
    print(SC.f.result.scan);
  }
  tool_quit(SC.f.status == UVBLE_EOF ? 0 : TOOL.exit_code);
  UVBLE_CO_END(t);
}

int cmd_scan(int argc, char **argv) {
  static const struct option opts[] = {
      {"transport", required_argument, NULL, 't'},
      {"duration", required_argument, NULL, 'd'},
      {"passive", no_argument, NULL, 'p'},
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  SC.duration_s = 10;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "t:d:pjh", opts, NULL)) != -1) {
    if (tool_common_opt(c, optarg)) continue;
    switch (c) {
      case 'd': SC.duration_s = (unsigned)strtoul(optarg, NULL, 0); break;
      case 'p': SC.passive = true; break;
      case 'j': SC.json = true; break;
      case 'h':
        printf("usage: uvble scan [-t T] [--duration SEC (default 10, 0: until Ctrl-C)]\n"
               "                  [--passive] [--json]\n");
        return 0;
      default: return 2;
    }
  }
  if (tool_open("scan")) return 1;
  uvble_task_spawn(TOOL.sched, &SC.task, scan_fn, NULL);
  return tool_run();
}
