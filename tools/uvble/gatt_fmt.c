/* SPDX-License-Identifier: Apache-2.0 */
/* GATT names and value formats; see gatt_fmt.h. */
#include "gatt_fmt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
  const char *uuid, *name;
} NAMES[] = {
    {"1800", "Generic Access"}, {"1801", "Generic Attribute"},
    {"180a", "Device Information"}, {"180f", "Battery"},
    {"181a", "Environmental Sensing"}, {"2a00", "Device Name"},
    {"2a01", "Appearance"}, {"2a04", "Peripheral Preferred Connection Parameters"},
    {"2a05", "Service Changed"}, {"2a19", "Battery Level"},
    {"2a21", "Measurement Interval"}, {"2a23", "System ID"},
    {"2a24", "Model Number String"}, {"2a25", "Serial Number String"},
    {"2a26", "Firmware Revision String"}, {"2a27", "Hardware Revision String"},
    {"2a28", "Software Revision String"}, {"2a29", "Manufacturer Name String"},
    {"2a6d", "Pressure"}, {"2a6e", "Temperature"}, {"2a6f", "Humidity"},
    {"2b29", "Client Supported Features"}, {"2b2a", "Database Hash"},
    {"2900", "Characteristic Extended Properties"},
    {"2901", "Characteristic User Description"},
    {"2902", "Client Characteristic Configuration"},
    {"2904", "Characteristic Presentation Format"},
    {"6e400001-b5a3-f393-e0a9-e50e24dcca9e", "Nordic UART Service"},
    {"6e400002-b5a3-f393-e0a9-e50e24dcca9e", "NUS RX"},
    {"6e400003-b5a3-f393-e0a9-e50e24dcca9e", "NUS TX"},
};

const char *gatt_uuid_name(const uvble_uuid_t *u) {
  char s[UVBLE_UUID_STR_LEN];
  uvble_uuid_to_str(u, s, sizeof s);
  for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
    if (!strcmp(NAMES[i].uuid, s)) return NAMES[i].name;
  return NULL;
}

int gatt_pf_parse(gatt_pf_t *pf, const uint8_t *v, size_t n) {
  if (n != 7) return -1;
  pf->format = v[0];
  pf->exponent = (int8_t)v[1];
  pf->unit = (uint16_t)(v[2] | v[3] << 8);
  return 0;
}

/* GATT formats (Assigned Numbers 2.4.1). */
enum {
  F_BOOL = 0x01, F_U8 = 0x04, F_U16 = 0x06, F_U24 = 0x07, F_U32 = 0x08,
  F_S8 = 0x0c, F_S16 = 0x0e, F_S24 = 0x0f, F_S32 = 0x10, F_F32 = 0x14,
  F_UTF8 = 0x19,
};

/* Known characteristics' formats and units (GATT Specification Supplement). */
static const struct {
  uint16_t uuid;
  uint8_t format;
  int8_t exponent;
  const char *unit;
} KNOWN[] = {
    {0x2a00, F_UTF8, 0, ""},   {0x2a01, F_U16, 0, ""},     {0x2a19, F_U8, 0, "%"},     {0x2a21, F_U16, 0, "s"},
    {0x2a24, F_UTF8, 0, ""},   {0x2a25, F_UTF8, 0, ""},    {0x2a26, F_UTF8, 0, ""},
    {0x2a27, F_UTF8, 0, ""},   {0x2a28, F_UTF8, 0, ""},    {0x2a29, F_UTF8, 0, ""},
    {0x2a6d, F_U32, -1, "Pa"}, {0x2a6e, F_S16, -2, "degC"}, {0x2a6f, F_U16, -2, "%"},
    {0x2901, F_UTF8, 0, ""},
};

static const char *unit_name(uint16_t unit) {
  switch (unit) {
    case 0x2700: return "";
    case 0x2703: return "s";
    case 0x2724: return "Pa";
    case 0x272f: return "degC";
    case 0x27ad: return "%";
    case 0x2728: return "V";
    case 0x2726: return "A";
    case 0x2763: return "lx";
    default: return "";
  }
}

static bool fixed(uint8_t format, const uint8_t *v, size_t n, double *out) {
  static const struct {
    uint8_t f, len;
    bool sign;
  } T[] = {{F_BOOL, 1, false}, {F_U8, 1, false},  {F_U16, 2, false}, {F_U24, 3, false},
           {F_U32, 4, false},  {F_S8, 1, true},   {F_S16, 2, true},  {F_S24, 3, true},
           {F_S32, 4, true}};
  for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
    if (T[i].f != format) continue;
    if (n != T[i].len) return false;
    uint32_t raw = 0;
    for (size_t k = 0; k < n; k++) raw |= (uint32_t)v[k] << (8 * k);
    if (T[i].sign && (raw >> (8 * n - 1)) & 1) {
      *out = (double)raw - (double)(1ull << (8 * n));
    } else {
      *out = raw;
    }
    return true;
  }
  if (format == F_F32 && n == 4) {
    float f;
    uint32_t raw = (uint32_t)v[0] | v[1] << 8 | v[2] << 16 | (uint32_t)v[3] << 24;
    memcpy(&f, &raw, 4);
    *out = f;
    return true;
  }
  return false;
}

static bool printable(const uint8_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (v[i] < 0x20 || v[i] == 0x7f) return false;
  return true;
}

gatt_value_t gatt_decode(const uvble_uuid_t *u, const gatt_pf_t *pf,
                         const uint8_t *v, size_t n) {
  gatt_value_t r = {.kind = GV_HEX, .unit = ""};
  uint8_t format = 0;
  int exponent = 0;
  if (pf) {
    format = pf->format;
    exponent = pf->exponent;
    r.unit = unit_name(pf->unit);
  } else if (u->type == 16) {
    uint16_t id = (uint16_t)(u->data[0] | u->data[1] << 8);
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
      if (KNOWN[i].uuid == id) {
        format = KNOWN[i].format;
        exponent = KNOWN[i].exponent;
        r.unit = KNOWN[i].unit;
      }
  }
  if (format == F_UTF8 && printable(v, n)) {
    r.kind = GV_TEXT;
  } else if (format && fixed(format, v, n, &r.number)) {
    r.kind = GV_NUMBER;
    r.number *= pow(10, exponent);
    r.decimals = exponent < 0 ? -exponent : 0;
    if (format == F_F32) r.decimals = 3;
  }
  return r;
}

void gatt_print_value(const uvble_uuid_t *u, const gatt_pf_t *pf,
                      const uint8_t *v, size_t n) {
  gatt_value_t d = gatt_decode(u, pf, v, n);
  printf(" =");
  if (d.kind == GV_TEXT) {
    printf(" \"%.*s\"", (int)n, (const char *)v);
    return;
  }
  if (d.kind == GV_NUMBER) printf(" %.*f%s%s [", d.decimals, d.number, *d.unit ? " " : "", d.unit);
  for (size_t i = 0; i < n && i < 64; i++)
    printf(d.kind == GV_NUMBER && i == 0 ? "%02x" : " %02x", v[i]);
  if (n > 64) printf(" ... (%zu bytes)", n);
  if (!n) printf(" (empty)");
  if (d.kind == GV_NUMBER) printf("]");
}

void gatt_json_value(cJSON *o, const uvble_uuid_t *u, const gatt_pf_t *pf,
                     const uint8_t *v, size_t n) {
  gatt_value_t d = gatt_decode(u, pf, v, n);
  cli_json_hex(o, "hex", v, n);
  if (d.kind == GV_TEXT) {
    char *s = cJSON_malloc(n + 1);
    if (!s) return;
    memcpy(s, v, n);
    s[n] = 0;
    cJSON_AddStringToObject(o, "value", s);
    cJSON_free(s);
  } else if (d.kind == GV_NUMBER) {
    /* Rounded to the format's precision: 24.98, not 24.980000000000004. */
    double scale = pow(10, d.decimals);
    cJSON_AddNumberToObject(o, "value", round(d.number * scale) / scale);
    if (*d.unit) cJSON_AddStringToObject(o, "unit", d.unit);
  }
}
