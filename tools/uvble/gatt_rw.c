/* SPDX-License-Identifier: Apache-2.0 */
/* uvble read / write / subscribe: one characteristic of a device, found by
 * UUID (the first one with it) or by value handle, as bluetoothctl's
 * `menu gatt` and Bumble's apps do. The link is encrypted first with
 * --bond-store (and paired first with --pair). */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatt_fmt.h"
#include "tool.h"
#include "uvble/gatt.h"

enum { OP_READ, OP_WRITE, OP_SUBSCRIBE };

static struct {
  int op;
  const char *cmd, *what;
  uvble_uuid_t uuid;
  int handle; /* >= 0: find by value handle */
  bool json, indicate;
  int response; /* UVBLE_WRITE_AUTO or 0 */
  uint8_t value[UVBLE_GATT_MAX_ATTR_LEN];
  size_t value_len;
  uint64_t count, got;
  unsigned duration_s;
  uint64_t deadline;
  uvble_task_t task, disc_task;
  uvble_future_t f, df; /* df: the discovery's own (f awaits its join) */
  uvble_client_service_t **svcs;
  uvble_client_characteristic_t *chrs[64];
  size_t nsvc, svc_cap, i;
  uvble_client_characteristic_t *chr;
  uint8_t buf[UVBLE_GATT_MAX_ATTR_LEN];
} R;

/* ---- finding the characteristic --------------------------------------------- */
static int discover_fn(uvble_task_t *t) {
  UVBLE_CO_BEGIN(t);
  for (;;) {
    UVBLE_AWAIT(t, (uvble_connection_services(&R.df, TOOL.conn, NULL, R.svcs, R.svc_cap,
                                              TOOL_TIMEOUT_MS),
                    &R.df));
    if (R.df.status) UVBLE_CO_RETURN(t, tool_ffail("discovering services", &R.df));
    if (R.df.len <= R.svc_cap) break;
    {
      void *v = realloc(R.svcs, R.df.len * sizeof *R.svcs);
      if (!v) UVBLE_CO_RETURN(t, tool_fail("discovering services", UVBLE_ENOMEM));
      R.svcs = v;
      R.svc_cap = R.df.len;
    }
  }
  R.nsvc = R.df.len;
  for (R.i = 0; R.i < R.nsvc && !R.chr; R.i++) {
    if (R.handle >= 0 && (R.handle < R.svcs[R.i]->start_handle ||
                          R.handle > R.svcs[R.i]->end_handle))
      continue;
    UVBLE_AWAIT(t, (uvble_client_service_characteristics(&R.df, R.svcs[R.i],
                                                         R.handle >= 0 ? NULL : &R.uuid,
                                                         R.chrs, 64, TOOL_TIMEOUT_MS),
                    &R.df));
    if (R.df.status == UVBLE_ENOENT) continue;
    if (R.df.status) UVBLE_CO_RETURN(t, tool_ffail("discovering characteristics", &R.df));
    for (size_t k = 0; k < R.df.len && k < 64 && !R.chr; k++)
      if (R.handle < 0 || R.chrs[k]->value_handle == R.handle) R.chr = R.chrs[k];
  }
  if (!R.chr) {
    fprintf(stderr, "uvble %s: the device has no characteristic %s\n", R.cmd, R.what);
    tool_quit(1);
    UVBLE_CO_RETURN(t, 1);
  }
  UVBLE_CO_RETURN(t, 0);
  UVBLE_CO_END(t);
}

/* ---- output ----------------------------------------------------------------- */
static void print_value(const char *event, const uint8_t *v, size_t n) {
  char s[UVBLE_UUID_STR_LEN], addr[UVBLE_ADDR_STR_LEN], ts[40];
  uvble_uuid_to_str(&R.chr->uuid, s, sizeof s);
  if (R.json) {
    cJSON *o = cJSON_CreateObject();
    if (R.op == OP_SUBSCRIBE) cJSON_AddStringToObject(o, "time", cli_timestamp(ts, sizeof ts));
    cJSON_AddStringToObject(o, "address", uvble_device_addr_hex(&TOOL.dev, addr));
    cJSON_AddStringToObject(o, "event", event);
    cJSON_AddStringToObject(o, "uuid", s);
    cJSON_AddNumberToObject(o, "handle", R.chr->value_handle);
    gatt_json_value(o, &R.chr->uuid, NULL, v, n);
    cli_json_line(o);
    return;
  }
  const char *name = gatt_uuid_name(&R.chr->uuid);
  printf("%s%s%s (handle 0x%04x)", s, name ? " " : "", name ? name : "", R.chr->value_handle);
  if (R.op == OP_SUBSCRIBE) printf(" %s", event);
  gatt_print_value(&R.chr->uuid, NULL, v, n);
  printf("\n");
  fflush(stdout);
}

/* ---- the operations ---------------------------------------------------------- */
static int rw_fn(uvble_task_t *t) {
  UVBLE_CO_BEGIN(t);
  uvble_task_spawn(TOOL.sched, &TOOL.conn_task, tool_connect_fn, NULL);
  UVBLE_AWAIT(t, (uvble_task_join(&R.f, &TOOL.conn_task, 0), &R.f));
  if (R.f.status || !TOOL.conn) UVBLE_CO_RETURN(t, 1); /* said why */
  uvble_task_spawn(TOOL.sched, &R.disc_task, discover_fn, NULL);
  UVBLE_AWAIT(t, (uvble_task_join(&R.f, &R.disc_task, 0), &R.f));
  if (R.f.status || !R.chr) UVBLE_CO_RETURN(t, 1);
  if (R.op == OP_READ) {
    UVBLE_AWAIT(t, (uvble_client_characteristic_read(&R.f, R.chr, R.buf, sizeof R.buf,
                                                     TOOL_TIMEOUT_MS),
                    &R.f));
    if (R.f.status == UVBLE_EINVAL) R.f.status = UVBLE_ENOTSUP;
    if (R.f.status) UVBLE_CO_RETURN(t, tool_ffail("reading", &R.f));
    print_value("read", R.buf, R.f.len < sizeof R.buf ? R.f.len : sizeof R.buf);
  } else if (R.op == OP_WRITE) {
    if (!(R.chr->properties & (UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_NO_RESPONSE)) ||
        (R.response == 0 && !(R.chr->properties & UVBLE_FLAG_WRITE_NO_RESPONSE))) {
      fprintf(stderr, "uvble write: %s (handle 0x%04x) does not allow %s\n", R.what,
              R.chr->value_handle, R.response == 0 ? "Write Commands (--no-response)" : "writing");
      tool_quit(1);
      UVBLE_CO_RETURN(t, 1);
    }
    if (R.response == UVBLE_WRITE_AUTO)
      R.response = R.chr->properties & UVBLE_FLAG_WRITE ? 1 : 0;
    UVBLE_AWAIT(t, (uvble_client_characteristic_write(&R.f, R.chr, R.value, R.value_len,
                                                      R.response, TOOL_TIMEOUT_MS),
                    &R.f));
    if (R.f.status) UVBLE_CO_RETURN(t, tool_ffail("writing", &R.f));
    if (R.json) {
      print_value("write", R.value, R.value_len);
    } else {
      printf("wrote %zu byte%s with %s\n", R.value_len, R.value_len == 1 ? "" : "s",
             R.response ? "a Write Request (acknowledged)" : "a Write Command");
      fflush(stdout);
    }
  } else {
    UVBLE_AWAIT(t, (uvble_client_characteristic_subscribe(&R.f, R.chr, !R.indicate,
                                                           R.indicate, TOOL_TIMEOUT_MS),
                    &R.f));
    if (R.f.status == UVBLE_ENOENT) {
      fprintf(stderr, "uvble subscribe: %s has no Client Characteristic Configuration "
                      "descriptor: it cannot notify or indicate\n", R.what);
      tool_quit(1);
      UVBLE_CO_RETURN(t, 1);
    }
    if (R.f.status) UVBLE_CO_RETURN(t, tool_ffail("subscribing", &R.f));
    if (!R.json) {
      printf("subscribed to %s; %s\n", R.what, R.indicate ? "indications" : "notifications");
      fflush(stdout);
    }
    R.deadline = R.duration_s ? uv_now(TOOL.loop) + R.duration_s * 1000ull : 0;
    while (!R.count || R.got < R.count) {
      {
        uint32_t left = 0;
        if (R.deadline) {
          uint64_t now = (uv_update_time(TOOL.loop), uv_now(TOOL.loop));
          if (now >= R.deadline) break;
          left = (uint32_t)(R.deadline - now);
        }
        if (R.indicate)
          uvble_client_characteristic_indicated(&R.f, R.chr, R.buf, sizeof R.buf, left);
        else
          uvble_client_characteristic_notified(&R.f, R.chr, R.buf, sizeof R.buf, left);
      }
      UVBLE_AWAIT(t, &R.f);
      if (R.f.status == UVBLE_ETIMEDOUT) break;
      if (R.f.status) UVBLE_CO_RETURN(t, tool_ffail("waiting for values", &R.f));
      R.got++;
      print_value(R.indicate ? "indicate" : "notify", R.buf,
                  R.f.len < sizeof R.buf ? R.f.len : sizeof R.buf);
    }
    /* Leave the peer as we found it. */
    UVBLE_AWAIT(t, (uvble_client_characteristic_subscribe(&R.f, R.chr, false, false,
                                                           TOOL_TIMEOUT_MS),
                    &R.f));
  }
  UVBLE_AWAIT(t, (uvble_connection_disconnect(&R.f, TOOL.conn, TOOL_TIMEOUT_MS), &R.f));
  tool_quit(0);
  UVBLE_CO_END(t);
}

/* ---- command lines ------------------------------------------------------------ */
static int parse_target(const char *text) {
  R.what = text;
  if (!strncmp(text, "handle:", 7)) {
    uint64_t h;
    if (cli_uint("HANDLE", text + 7, 1, 0xffff, CLI_HEX, &h) < 0) return -1;
    R.handle = (int)h;
    return 0;
  }
  R.handle = -1;
  return cli_uuid("UUID", text, &R.uuid);
}

static int parse_hex(const char *s) {
  R.value_len = 0;
  for (const char *p = s; *p;) {
    if (*p == ':' || *p == ' ' || *p == '-') {
      p++;
      continue;
    }
    unsigned v;
    if (!p[1] || sscanf(p, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", p[0]) ||
        !strchr("0123456789abcdefABCDEF", p[1]) || R.value_len == sizeof R.value)
      return cli_bad("VALUE", s, "is not hex bytes (like 0102ff or 01:02:ff; --text for a string)");
    R.value[R.value_len++] = (uint8_t)v;
    p += 2;
  }
  return 0;
}

/* --int / --uint WIDTH: the value in WIDTH bytes, little-endian (GATT's
 * order). */
static int parse_int(const char *s, int width, bool sign) {
  uint64_t u;
  if (sign) {
    int64_t v, lim = width == 8 ? INT64_MAX : (int64_t)((1ull << (8 * width - 1)) - 1);
    if (cli_int("VALUE", s, -lim - 1, lim, &v) < 0) return -1;
    u = (uint64_t)v;
  } else {
    uint64_t lim = width == 8 ? UINT64_MAX : (1ull << (8 * width)) - 1;
    if (cli_uint("VALUE", s, 0, lim, CLI_DEC, &u) < 0) return -1;
  }
  for (int i = 0; i < width; i++) R.value[i] = (uint8_t)(u >> (8 * i));
  R.value_len = (size_t)width;
  return 0;
}

static const char USAGE_READ[] =
    "usage: uvble read [-t T] DEVICE UUID|handle:N [--json] [--bond-store F [--pair]]\n"
    "  DEVICE: ADDR, --address ADDR or --name NAME\n"
    "  UUID: 2a19, 0x2a19 or 128-bit; handle:N the value handle (decimal or 0x hex)\n";
static const char USAGE_WRITE[] =
    "usage: uvble write [-t T] DEVICE UUID|handle:N VALUE [--text | --int W | --uint W]\n"
    "                   [--no-response] [--json] [--bond-store F [--pair]]\n"
    "  VALUE: hex bytes (0102ff, 01:02:ff); --text: the string's bytes;\n"
    "         --int W / --uint W: a decimal integer in W bytes (1, 2, 3, 4 or 8), little-endian\n"
    "  --no-response  a Write Command (default: a Write Request when the\n"
    "                 characteristic allows one, so the write is acknowledged)\n";
static const char USAGE_SUB[] =
    "usage: uvble subscribe [-t T] DEVICE UUID|handle:N [--indicate] [--count N]\n"
    "                       [--duration SEC] [--json] [--bond-store F [--pair]]\n"
    "  one line per value; JSON lines when stdout is not a terminal (or --json)\n"
    "  --count N       stop after N values (default: until Ctrl-C or --duration)\n"
    "  --duration SEC  stop after SEC seconds (1..86400)\n";

static int run(int op, const char *cmd, const char *usage, int argc, char **argv) {
  static const struct option opts[] = {
      TOOL_COMMON_LONG,
      {"json", no_argument, NULL, 'j'},
      {"text", no_argument, NULL, 'x'},
      {"int", required_argument, NULL, 'i'},
      {"uint", required_argument, NULL, 'u'},
      {"no-response", no_argument, NULL, 'R'},
      {"indicate", no_argument, NULL, 'I'},
      {"count", required_argument, NULL, 'c'},
      {"duration", required_argument, NULL, 'd'},
      {NULL, 0, NULL, 0}};
  tool_begin(cmd);
  R.op = op;
  R.cmd = cmd;
  R.response = UVBLE_WRITE_AUTO;
  R.json = op == OP_SUBSCRIBE && !isatty(STDOUT_FILENO);
  int c, width = 0;
  char kind = 'h'; /* hex, x text, i int, u uint */
  optind = 1;
  while ((c = getopt_long(argc, argv, TOOL_COMMON_SHORT "jxi:u:RIc:d:", opts, NULL)) != -1) {
    int r = tool_common_opt(c, optarg, usage);
    if (r == TOOL_OPT_EXIT) return 0;
    if (r == TOOL_OPT_BAD) return 2;
    if (r) continue;
    uint64_t v;
    const char *only = NULL;
    switch (c) {
      case 'j': R.json = true; break;
      case 'x': kind = 'x'; only = op == OP_WRITE ? NULL : "--text"; break;
      case 'i':
      case 'u':
        if (op != OP_WRITE) { only = c == 'i' ? "--int" : "--uint"; break; }
        if (cli_uint(c == 'i' ? "--int" : "--uint", optarg, 1, 8, CLI_DEC, &v) < 0 ||
            v == 5 || v == 6 || v == 7) {
          if (v >= 5 && v <= 7) cli_bad(c == 'i' ? "--int" : "--uint", optarg, "is not a width of 1, 2, 3, 4 or 8 bytes");
          return 2;
        }
        kind = (char)c;
        width = (int)v;
        break;
      case 'R': R.response = 0; only = op == OP_WRITE ? NULL : "--no-response"; break;
      case 'I': R.indicate = true; only = op == OP_SUBSCRIBE ? NULL : "--indicate"; break;
      case 'c':
        if (op != OP_SUBSCRIBE) { only = "--count"; break; }
        if (cli_uint("--count", optarg, 1, UINT32_MAX, CLI_DEC, &R.count) < 0) return 2;
        break;
      case 'd':
        if (op != OP_SUBSCRIBE) { only = "--duration"; break; }
        if (cli_uint("--duration", optarg, 1, 86400, CLI_DEC, &v) < 0) return 2;
        R.duration_s = (unsigned)v;
        break;
      default: return 2;
    }
    if (only) {
      fprintf(stderr, "uvble %s: %s: not an option of %s\n", cmd, only, cmd);
      return 2;
    }
  }
  /* DEVICE [UUID|handle:N [VALUE]]: the device may also be --name/--address. */
  int need = op == OP_WRITE ? 2 : 1;
  if (!TOOL.name && !TOOL.address && argc - optind > need) {
    if (cli_addr("ADDR", argv[optind], &TOOL.want) < 0) return 2;
    TOOL.address = argv[optind++];
  }
  int r = tool_target(argc, argv, usage);
  if (r) return r;
  if (argc - optind != need) {
    fprintf(stderr, "uvble %s: give %s\n%s", cmd,
            op == OP_WRITE ? "the characteristic (UUID or handle:N) and the VALUE"
                           : "the characteristic (UUID or handle:N)", usage);
    return 2;
  }
  if (parse_target(argv[optind++]) < 0) return 2;
  if (op == OP_WRITE) {
    const char *v = argv[optind++];
    if (kind == 'x') {
      R.value_len = strlen(v);
      if (R.value_len > sizeof R.value)
        {
          cli_bad("VALUE", v, "is longer than an attribute value (512 bytes)");
          return 2;
        }
      memcpy(R.value, v, R.value_len);
    } else if (kind == 'i' || kind == 'u') {
      if (parse_int(v, width, kind == 'i') < 0) return 2;
    } else if (parse_hex(v) < 0) {
      return 2;
    }
  }
  if (tool_open(cmd)) return 1;
  if (tool_open_store()) {
    tool_quit(1);
    return tool_run();
  }
  R.svc_cap = 64;
  R.svcs = malloc(R.svc_cap * sizeof *R.svcs);
  if (!R.svcs) return 1;
  uvble_task_spawn(TOOL.sched, &R.task, rw_fn, NULL);
  r = tool_run();
  free(R.svcs);
  return r;
}

int cmd_read(int argc, char **argv) { return run(OP_READ, "read", USAGE_READ, argc, argv); }
int cmd_write(int argc, char **argv) { return run(OP_WRITE, "write", USAGE_WRITE, argc, argv); }
int cmd_subscribe(int argc, char **argv) {
  return run(OP_SUBSCRIBE, "subscribe", USAGE_SUB, argc, argv);
}
