/* SPDX-License-Identifier: Apache-2.0 */
/* Shared command-line plumbing of the uvble programs; see cli.h. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "uvble/adv.h"
#include "uvble/status.h"

static const char *PROG = "uvble";

void cli_set_prog(const char *prog) { PROG = prog; }
const char *cli_prog(void) { return PROG; }

int cli_version(void) {
  printf("%s (uvble) %s\n", PROG, uvble_version_string());
  return 0;
}

int cli_bad(const char *opt, const char *text, const char *why) {
  fprintf(stderr, "%s: %s: '%s' %s\n", PROG, opt, text, why);
  return -1;
}

/* Digits only (after an optional sign), no spaces, no octal: strtoull with
 * base 10 would take " 5", "+5" and "5abc" apart differently per caller. */
static int parse_u64(const char *s, int flags, uint64_t *out) {
  int base = 10;
  if ((flags & CLI_HEX) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
  }
  if (!*s) return -1;
  for (const char *p = s; *p; p++)
    if (base == 10 ? !isdigit((unsigned char)*p) : !isxdigit((unsigned char)*p))
      return -1;
  errno = 0;
  unsigned long long v = strtoull(s, NULL, base);
  if (errno) return -1;
  *out = v;
  return 0;
}

int cli_uint(const char *opt, const char *text, uint64_t min, uint64_t max,
             int flags, uint64_t *out) {
  uint64_t v;
  if (parse_u64(text, flags, &v) == 0 && v >= min && v <= max) {
    *out = v;
    return 0;
  }
  char why[96];
  snprintf(why, sizeof why, "is not a whole number from %" PRIu64 " to %" PRIu64 "%s",
           min, max, flags & CLI_HEX ? " (decimal, or hex with 0x)" : "");
  return cli_bad(opt, text, why);
}

int cli_int(const char *opt, const char *text, int64_t min, int64_t max,
            int64_t *out) {
  uint64_t m;
  bool neg = text[0] == '-';
  if (parse_u64(text + neg, CLI_DEC, &m) == 0 && m <= (uint64_t)INT64_MAX) {
    int64_t v = neg ? -(int64_t)m : (int64_t)m;
    if (v >= min && v <= max) {
      *out = v;
      return 0;
    }
  }
  char why[96];
  snprintf(why, sizeof why, "is not a whole number from %" PRId64 " to %" PRId64, min,
           max);
  return cli_bad(opt, text, why);
}

int cli_addr(const char *opt, const char *text, uvble_addr_t *out) {
  if (uvble_addr_parse(out, text) == 0) return 0;
  return cli_bad(opt, text, "is not a Bluetooth address (like 00:aa:01:00:00:42)");
}

int cli_uuid(const char *opt, const char *text, uvble_uuid_t *out) {
  if (uvble_uuid_parse(out, text) == 0) return 0;
  return cli_bad(opt, text,
                 "is not a UUID (16-bit like 2a19 or 0x2a19, or 128-bit with dashes)");
}

int cli_choice(const char *opt, const char *text, const char *const *names,
               size_t n, int *out) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(text, names[i])) {
      *out = (int)i;
      return 0;
    }
  char why[256] = "is not one of:";
  size_t o = strlen(why);
  for (size_t i = 0; i < n && o < sizeof why; i++)
    o += (size_t)snprintf(why + o, sizeof why - o, " %s", names[i]);
  return cli_bad(opt, text, why);
}

/* ---- statuses ------------------------------------------------------------------ */
/* The name of a protocol code, or NULL. The library's tables (HCI, ATT, SMP,
 * L2CAP; uvble/status.h) are the one source; this is the one place that
 * asks them. */
static const char *proto_name(int status, int code) {
  switch (status) {
    case UVBLE_EATT: return uvble_att_error_str((uint8_t)code);
    case UVBLE_ESMP: return uvble_smp_reason_str((uint8_t)code);
    case UVBLE_EHCI: return uvble_hci_status_str((uint8_t)code);
    case UVBLE_EL2CAP: return uvble_l2cap_result_str((uint16_t)code);
    default: return NULL;
  }
}

const char *cli_status(int status, int proto_status, char *buf, size_t cap) {
  const char *kind = NULL;
  switch (status) {
    case UVBLE_EATT: kind = "the peer answered with ATT error"; break;
    case UVBLE_ESMP: kind = "pairing failed: SMP reason"; break;
    case UVBLE_EHCI: kind = "the controller answered with HCI status"; break;
    case UVBLE_EL2CAP: kind = "the peer refused the channel: L2CAP result"; break;
    default: break;
  }
  if (!kind || proto_status < 0) {
    snprintf(buf, cap, "%s", uvble_strerror(status));
    return buf;
  }
  const char *name = proto_name(status, proto_status);
  int w = status == UVBLE_EL2CAP ? 4 : 2;
  if (name)
    snprintf(buf, cap, "%s 0x%0*x (%s)", kind, w, proto_status, name);
  else
    snprintf(buf, cap, "%s 0x%0*x", kind, w, proto_status);
  return buf;
}

const char *cli_fstatus(const uvble_future_t *f, char *buf, size_t cap) {
  return cli_status(f->status, f->proto_status, buf, cap);
}

/* ---- JSON ---------------------------------------------------------------------- */
void cli_json_line(cJSON *o) {
  char *s = cJSON_PrintUnformatted(o);
  if (s) {
    fputs(s, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    cJSON_free(s);
  }
  cJSON_Delete(o);
}

cJSON *cli_json_hex(cJSON *o, const char *key, const uint8_t *data, size_t len) {
  char *hex = malloc(2 * len + 1);
  if (!hex) return NULL;
  for (size_t i = 0; i < len; i++) snprintf(hex + 2 * i, 3, "%02x", data[i]);
  hex[2 * len] = 0;
  cJSON *r = cJSON_AddStringToObject(o, key, hex);
  free(hex);
  return r;
}

const char *cli_timestamp(char *buf, size_t cap) {
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, cap - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
  return buf;
}

const char *cli_addr_type(uint8_t t) {
  switch (t) {
    case UVBLE_ADDR_PUBLIC: return "public";
    case UVBLE_ADDR_RANDOM: return "random";
    case UVBLE_ADDR_PUBLIC_ID: return "public-id";
    case UVBLE_ADDR_RANDOM_ID: return "random-id";
    default: return "?";
  }
}

static void add_ad(cJSON *o, const uvble_scan_result_t *r) {
  cJSON *arr = cJSON_AddArrayToObject(o, "ad");
  const uint8_t *p[2] = {r->adv_data, r->resp_data};
  size_t n[2] = {r->adv_len, r->resp_len};
  for (int k = 0; k < 2; k++) {
    uvble_adv_iter_t it;
    uint8_t type;
    const uint8_t *data;
    size_t len;
    uvble_adv_iter_init(&it, p[k], p[k] ? n[k] : 0, NULL, 0);
    while (uvble_adv_iter_next(&it, &type, &data, &len) == 1) {
      cJSON *e = cJSON_CreateObject();
      cJSON_AddNumberToObject(e, "type", type);
      cli_json_hex(e, "data", data, len);
      if (k) cJSON_AddTrueToObject(e, "scan_response");
      cJSON_AddItemToArray(arr, e);
    }
  }
}

cJSON *cli_scan_json(const uvble_scan_result_t *r, const uvble_addr_t *identity,
                     bool raw) {
  char addr[UVBLE_ADDR_STR_LEN], name[64], ts[40];
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "time", cli_timestamp(ts, sizeof ts));
  cJSON_AddStringToObject(o, "address", uvble_device_addr_hex(&r->device, addr));
  cJSON_AddStringToObject(o, "type", cli_addr_type(r->device.addr.type));
  if (r->rssi == 127)
    cJSON_AddNullToObject(o, "rssi");
  else
    cJSON_AddNumberToObject(o, "rssi", r->rssi);
  cJSON_AddBoolToObject(o, "connectable", r->connectable);
  cJSON_AddNumberToObject(o, "adv_type", r->adv_type);
  if (uvble_scan_result_name(r, name, sizeof name) >= 0)
    cJSON_AddStringToObject(o, "name", name);
  uvble_uuid_t svc[16];
  int ns = uvble_scan_result_services(r, svc, 16);
  if (ns > 0) {
    cJSON *a = cJSON_AddArrayToObject(o, "services");
    for (int i = 0; i < ns && i < 16; i++) {
      char u[UVBLE_UUID_STR_LEN];
      uvble_uuid_to_str(&svc[i], u, sizeof u);
      cJSON_AddItemToArray(a, cJSON_CreateString(u));
    }
  }
  uvble_adv_iter_t it;
  uint16_t id;
  const uint8_t *data;
  size_t len;
  cJSON *m = NULL;
  uvble_scan_result_iter(r, &it);
  while (uvble_adv_iter_manufacturer(&it, UVBLE_ADV_ANY_COMPANY, &id, &data, &len) == 1) {
    if (!m) m = cJSON_AddArrayToObject(o, "manufacturer");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "id", id);
    cli_json_hex(e, "data", data, len);
    cJSON_AddItemToArray(m, e);
  }
  int8_t tx;
  if (uvble_adv_tx_power(r->adv_data, r->adv_len, r->resp_data, r->resp_len, &tx) == 0)
    cJSON_AddNumberToObject(o, "tx_power", tx);
  uint16_t app;
  if (uvble_adv_appearance(r->adv_data, r->adv_len, r->resp_data, r->resp_len, &app) == 0)
    cJSON_AddNumberToObject(o, "appearance", app);
  if (identity) {
    cJSON *id_o = cJSON_AddObjectToObject(o, "identity");
    cJSON_AddStringToObject(id_o, "address", uvble_addr_to_str(identity, addr));
    cJSON_AddStringToObject(id_o, "type", identity->type & 1 ? "random" : "public");
  }
  if (raw) add_ad(o, r);
  cJSON_AddNumberToObject(o, "reports", (double)r->reports);
  return o;
}
