/* SPDX-License-Identifier: Apache-2.0 */
/* Names of well-known GATT UUIDs and values printed by their GATT format:
 * the characteristic's Presentation Format descriptor (0x2904) when it has
 * one, else the format of a known characteristic (Battery Level 0x2A19 as
 * an integer percent, Temperature 0x2A6E in degrees Celsius, ...), else
 * hex. Shared by gatt-dump, read and subscribe. */
#ifndef UVBLE_TOOL_GATT_FMT_H
#define UVBLE_TOOL_GATT_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "uvble/uuid.h"

/* A Characteristic Presentation Format (Vol 3, Part G, 3.3.3.5). */
typedef struct {
  uint8_t format;   /* 0x01 boolean ... 0x19 utf8s (Assigned Numbers 2.4.1) */
  int8_t exponent;  /* value = raw * 10^exponent */
  uint16_t unit;    /* 0x27xx */
} gatt_pf_t;

/* Parses a 7-byte 0x2904 value. 0 or -1. */
int gatt_pf_parse(gatt_pf_t *pf, const uint8_t *v, size_t n);

/* The well-known name of a UUID, or NULL. */
const char *gatt_uuid_name(const uvble_uuid_t *u);

/* A decoded value: text (a string), or a number with its unit. */
typedef struct {
  enum { GV_HEX, GV_TEXT, GV_NUMBER } kind;
  double number;
  int decimals;     /* digits after the point to print */
  const char *unit; /* "%", "degC", ... or "" */
} gatt_value_t;

/* Decodes v by pf (may be NULL) or the characteristic's known format. */
gatt_value_t gatt_decode(const uvble_uuid_t *u, const gatt_pf_t *pf,
                         const uint8_t *v, size_t n);
/* " = 100 % [64]", " = \"name\"", " = 01 02" (hex cut at 64 bytes), " = (empty)". */
void gatt_print_value(const uvble_uuid_t *u, const gatt_pf_t *pf,
                      const uint8_t *v, size_t n);
/* Adds "hex" and, when decoded, "value" (number or string) and "unit". */
void gatt_json_value(cJSON *o, const uvble_uuid_t *u, const gatt_pf_t *pf,
                     const uint8_t *v, size_t n);

#endif
