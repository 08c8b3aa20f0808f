/* SPDX-License-Identifier: Apache-2.0 */
/* Values of characteristics: how the gateway shows them (decoders, in the
 * JSON it prints and publishes) and how it turns what arrives on a /set
 * topic into bytes to write (numbers and JSON for known formats, hex for
 * anything). */
#ifndef GATEWAY_FORMAT_H
#define GATEWAY_FORMAT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "uvble/uuid.h"

enum fmt_kind { FMT_RAW, FMT_UINT, FMT_SINT, FMT_UTF8 };

/* A GATT-style format: an integer of width bytes, little-endian, scaled
 * by 10^exponent (the Presentation Format descriptor's rule: 0x2A6E is
 * sint16 with exponent -2), or UTF-8 text, or raw bytes (hex only). */
struct fmt {
  enum fmt_kind kind;
  int width;    /* 1-4 for integers */
  int exponent; /* -9..9 */
};

/* "uint8" .. "uint32", "sint8" .. "sint32", "utf8", "hex". Returns 0 or
 * -1. */
int fmt_parse(const char *name, struct fmt *out);
const char *fmt_name(const struct fmt *f, char *buf, size_t cap);

/* Adds "value" (a number) or "text" to obj when v fits f; for FMT_RAW,
 * "text" when every byte is printable. */
void fmt_decode(const struct fmt *f, const uint8_t *v, size_t n, cJSON *obj);

/* The bytes to write for a /set payload:
 *   "hex:0a0b" or {"hex":"0a0b"}    those bytes, for any characteristic
 *   21.5, {"value":21.5}            a number, for an integer format
 *   anything else, for utf8         the payload itself, as text
 *   0a0b, "0a 0b", "0a:0b"          hex, for any other format (and "0500",
 *                                   not a JSON number, for any format)
 * Returns the length, or -1 with a sentence in err. */
int fmt_encode(const struct fmt *f, const char *payload, size_t len, uint8_t *out,
               size_t cap, char *err, size_t errlen);

/* The UUID as topics show it: SIG UUIDs (on the Bluetooth base UUID) in
 * their short form ("2a6e") even when the peer declared the 128-bit one;
 * others dashed. */
void uuid_key(const uvble_uuid_t *u, char out[UVBLE_UUID_STR_LEN]);

/* Hex digits (spaces and colons between bytes allowed). Returns the
 * length or -1. */
int parse_hex(const char *s, size_t n, uint8_t *out, size_t cap);

#endif
