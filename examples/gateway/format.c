/* SPDX-License-Identifier: Apache-2.0 */
/* Values of characteristics (see format.h). */
#include "format.h"

#include <ctype.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double POW10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

int fmt_parse(const char *name, struct fmt *out) {
  static const struct {
    const char *name;
    enum fmt_kind kind;
    int width;
  } names[] = {{"uint8", FMT_UINT, 1},  {"uint16", FMT_UINT, 2}, {"uint24", FMT_UINT, 3},
               {"uint32", FMT_UINT, 4}, {"sint8", FMT_SINT, 1},  {"sint16", FMT_SINT, 2},
               {"sint24", FMT_SINT, 3}, {"sint32", FMT_SINT, 4}, {"utf8", FMT_UTF8, 0},
               {"hex", FMT_RAW, 0}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(name, names[i].name) == 0) {
      out->kind = names[i].kind;
      out->width = names[i].width;
      return 0;
    }
  return -1;
}

const char *fmt_name(const struct fmt *f, char *buf, size_t cap) {
  if (f->kind == FMT_UTF8) snprintf(buf, cap, "utf8");
  else if (f->kind == FMT_RAW) snprintf(buf, cap, "hex");
  else snprintf(buf, cap, "%cint%d", f->kind == FMT_UINT ? 'u' : 's', f->width * 8);
  return buf;
}

static double scaled(long long raw, int exponent) {
  /* Dividing by an exact power of ten gives the double nearest to the
   * decimal (2498 / 100 prints as 24.98; 2498 * 0.01 would not). */
  if (exponent < 0) return (double)raw / POW10[-exponent];
  return (double)raw * POW10[exponent];
}

static void add_text(cJSON *obj, const uint8_t *v, size_t n, bool any) {
  char *text = malloc(n + 1);
  if (!text) return;
  for (size_t i = 0; i < n; i++) {
    if (!any && !isprint(v[i]) && v[i] != '\n' && v[i] != '\r' && v[i] != '\t') {
      free(text);
      return;
    }
    text[i] = v[i] ? (char)v[i] : ' ';
  }
  text[n] = 0;
  cJSON_AddStringToObject(obj, "text", text);
  free(text);
}

void fmt_decode(const struct fmt *f, const uint8_t *v, size_t n, cJSON *obj) {
  if (f->kind == FMT_UINT || f->kind == FMT_SINT) {
    if (n != (size_t)f->width) return;
    unsigned long long u = 0;
    for (int i = f->width - 1; i >= 0; i--) u = u << 8 | v[i];
    long long raw = (long long)u;
    if (f->kind == FMT_SINT && (u >> (f->width * 8 - 1)) & 1)
      raw = (long long)u - (1LL << (f->width * 8));
    cJSON_AddNumberToObject(obj, "value", scaled(raw, f->exponent));
  } else if (n > 0) {
    add_text(obj, v, n, f->kind == FMT_UTF8);
  }
}

int parse_hex(const char *s, size_t n, uint8_t *out, size_t cap) {
  size_t len = 0;
  int nib = -1;
  for (size_t i = 0; i < n; i++) {
    int v;
    if (isspace((unsigned char)s[i]) || s[i] == ':') {
      if (nib >= 0) return -1; /* a separator inside a byte */
      continue;
    }
    if (s[i] >= '0' && s[i] <= '9') v = s[i] - '0';
    else if (s[i] >= 'a' && s[i] <= 'f') v = s[i] - 'a' + 10;
    else if (s[i] >= 'A' && s[i] <= 'F') v = s[i] - 'A' + 10;
    else return -1;
    if (nib < 0) {
      nib = v;
    } else {
      if (len == cap) return -1;
      out[len++] = (uint8_t)(nib << 4 | v);
      nib = -1;
    }
  }
  return nib < 0 && len > 0 ? (int)len : -1;
}

/* JSON's number grammar, strictly: "0500" is not a number (it is hex). */
static bool strict_number(const char *s, size_t n) {
  size_t i = 0;
  if (i < n && s[i] == '-') i++;
  if (i < n && s[i] == '0') i++;
  else if (i < n && s[i] >= '1' && s[i] <= '9')
    while (i < n && isdigit((unsigned char)s[i])) i++;
  else return false;
  if (i < n && s[i] == '.') {
    size_t d = ++i;
    while (i < n && isdigit((unsigned char)s[i])) i++;
    if (i == d) return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    size_t d = i;
    while (i < n && isdigit((unsigned char)s[i])) i++;
    if (i == d) return false;
  }
  return i == n;
}

static int encode_number(const struct fmt *f, double v, uint8_t *out, size_t cap,
                         char *err, size_t errlen) {
  char name[16];
  if (f->kind != FMT_UINT && f->kind != FMT_SINT) {
    snprintf(err, errlen, "a number, but this characteristic's format is %s: send hex "
             "(\"hex:0a0b\")", fmt_name(f, name, sizeof name));
    return -1;
  }
  double raw = f->exponent < 0 ? v * POW10[-f->exponent] : v / POW10[f->exponent];
  raw = round(raw);
  double lo = f->kind == FMT_UINT ? 0 : -ldexp(1, f->width * 8 - 1);
  double hi = f->kind == FMT_UINT ? ldexp(1, f->width * 8) - 1 : ldexp(1, f->width * 8 - 1) - 1;
  if (!(raw >= lo && raw <= hi) || (size_t)f->width > cap) {
    snprintf(err, errlen, "%g is out of range for %s (%g to %g)", v,
             fmt_name(f, name, sizeof name), scaled((long long)lo, f->exponent),
             scaled((long long)hi, f->exponent));
    return -1;
  }
  unsigned long long u = (unsigned long long)(long long)raw;
  for (int i = 0; i < f->width; i++) out[i] = (uint8_t)(u >> (8 * i));
  return f->width;
}

static int encode_hex(const char *s, size_t n, uint8_t *out, size_t cap, char *err,
                      size_t errlen) {
  int r = parse_hex(s, n, out, cap);
  if (r < 0)
    snprintf(err, errlen, "not hex bytes (\"0a0b\", \"0a 0b\"; at most %zu bytes)", cap);
  return r;
}

static int encode_json(const struct fmt *f, const cJSON *j, uint8_t *out, size_t cap,
                       char *err, size_t errlen) {
  const cJSON *hex = cJSON_GetObjectItemCaseSensitive(j, "hex");
  const cJSON *val = cJSON_GetObjectItemCaseSensitive(j, "value");
  const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
  if (cJSON_IsString(hex)) return encode_hex(hex->valuestring, strlen(hex->valuestring),
                                              out, cap, err, errlen);
  if (cJSON_IsNumber(val)) return encode_number(f, val->valuedouble, out, cap, err, errlen);
  if (cJSON_IsString(text) && f->kind == FMT_UTF8) {
    size_t n = strlen(text->valuestring);
    if (n > cap) goto too_long;
    memcpy(out, text->valuestring, n);
    return (int)n;
  }
  snprintf(err, errlen, "a JSON object needs \"hex\", \"value\" (a number)%s",
           f->kind == FMT_UTF8 ? " or \"text\"" : "");
  return -1;
too_long:
  snprintf(err, errlen, "longer than %zu bytes", cap);
  return -1;
}

int fmt_encode(const struct fmt *f, const char *p, size_t n, uint8_t *out, size_t cap,
               char *err, size_t errlen) {
  if (n >= 4 && strncmp(p, "hex:", 4) == 0) return encode_hex(p + 4, n - 4, out, cap, err, errlen);
  if (n > 0 && p[0] == '{') {
    cJSON *j = cJSON_ParseWithLength(p, n);
    if (!j || !cJSON_IsObject(j)) {
      cJSON_Delete(j);
      snprintf(err, errlen, "not valid JSON");
      return -1;
    }
    int r = encode_json(f, j, out, cap, err, errlen);
    cJSON_Delete(j);
    return r;
  }
  if (f->kind == FMT_UTF8) {
    if (n > cap) {
      snprintf(err, errlen, "longer than %zu bytes", cap);
      return -1;
    }
    memcpy(out, p, n);
    return (int)n;
  }
  size_t b = 0, e = n;
  while (b < e && isspace((unsigned char)p[b])) b++;
  while (e > b && isspace((unsigned char)p[e - 1])) e--;
  bool number = strict_number(p + b, e - b);
  /* Without a numeric format, "21" is the byte 0x21. */
  if (number && (f->kind == FMT_UINT || f->kind == FMT_SINT || parse_hex(p, n, out, cap) < 0)) {
    char num[64];
    snprintf(num, sizeof num, "%.*s", (int)(e - b), p + b);
    return encode_number(f, strtod(num, NULL), out, cap, err, errlen);
  }
  return encode_hex(p, n, out, cap, err, errlen);
}

void uuid_key(const uvble_uuid_t *u, char out[UVBLE_UUID_STR_LEN]) {
  /* 0000xxxx-0000-1000-8000-00805f9b34fb, little-endian. */
  static const uint8_t base[12] = {0xfb, 0x34, 0x9b, 0x5f, 0x80, 0x00,
                                   0x00, 0x80, 0x00, 0x10, 0x00, 0x00};
  if (u->type == 128 && memcmp(u->data, base, sizeof base) == 0) {
    uvble_uuid_t s;
    if (u->data[14] == 0 && u->data[15] == 0)
      s = uvble_uuid16((uint16_t)(u->data[12] | u->data[13] << 8));
    else
      s = uvble_uuid32((uint32_t)u->data[12] | (uint32_t)u->data[13] << 8 |
                       (uint32_t)u->data[14] << 16 | (uint32_t)u->data[15] << 24);
    uvble_uuid_to_str(&s, out, UVBLE_UUID_STR_LEN);
    return;
  }
  uvble_uuid_to_str(u, out, UVBLE_UUID_STR_LEN);
}
