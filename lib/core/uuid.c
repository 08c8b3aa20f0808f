/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — Bluetooth UUIDs (see include/uvble/uuid.h).
 *
 * Bytes are little-endian as on the air; text is big-endian. The rules
 * follow MicroPython's bluetooth.UUID: a 2/4/16-byte buffer is raw bytes,
 * text is hex with dashes ignored wherever they stand.
 */
#include "uvble/uuid.h"

#include <string.h>

#include "uvble/error.h"

/* 00000000-0000-1000-8000-00805f9b34fb, little-endian. Bytes 12..15 carry
 * the 16- or 32-bit value. */
static const uint8_t base_uuid[16] = {0xfb, 0x34, 0x9b, 0x5f, 0x80, 0x00,
                                      0x00, 0x80, 0x00, 0x10, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00};

static bool type_valid(uint8_t type) {
  return type == 16 || type == 32 || type == 128;
}

uvble_uuid_t uvble_uuid16(uint16_t v) {
  uvble_uuid_t u;
  memset(&u, 0, sizeof u);
  u.type = 16;
  u.data[0] = (uint8_t)v;
  u.data[1] = (uint8_t)(v >> 8);
  return u;
}

uvble_uuid_t uvble_uuid32(uint32_t v) {
  uvble_uuid_t u;
  memset(&u, 0, sizeof u);
  u.type = 32;
  for (int i = 0; i < 4; i++) u.data[i] = (uint8_t)(v >> (8 * i));
  return u;
}

int uvble_uuid_from_bytes(uvble_uuid_t *out, const uint8_t *buf, size_t len) {
  if (out == NULL || buf == NULL) return UVBLE_EINVAL;
  if (len != 2 && len != 4 && len != 16) return UVBLE_EINVAL;
  memset(out, 0, sizeof *out);
  out->type = (uint8_t)(len * 8);
  memcpy(out->data, buf, len);
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Collects up to 32 hex digits (big-endian order) into digits[]; returns
 * the count, or -1 on a bad character or too many digits. */
static int collect_digits(const char *s, bool allow_dash, uint8_t digits[32]) {
  int n = 0;
  for (; *s; s++) {
    if (*s == '-' && allow_dash) continue;
    int v = hexval(*s);
    if (v < 0 || n == 32) return -1;
    digits[n++] = (uint8_t)v;
  }
  return n;
}

int uvble_uuid_parse(uvble_uuid_t *out, const char *text) {
  if (out == NULL || text == NULL) return UVBLE_EINVAL;
  uint8_t digits[32];
  int n;
  uvble_uuid_t u;
  memset(&u, 0, sizeof u);

  if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    /* An integer literal: 1-4 digits are a 16-bit UUID, 5-8 a 32-bit one. */
    n = collect_digits(text + 2, false, digits);
    if (n < 1 || n > 8) return UVBLE_EINVAL;
    u.type = n <= 4 ? 16 : 32;
  } else {
    /* Dashes are ignored wherever they stand, as MicroPython does. */
    n = collect_digits(text, true, digits);
    if (n == 4) u.type = 16;
    else if (n == 8) u.type = 32;
    else if (n == 32) u.type = 128;
    else return UVBLE_EINVAL;
  }

  /* digits[n-1] is the least significant nibble: little-endian byte i
   * holds digits[n-1-2i] (low) and digits[n-2-2i] (high). */
  for (int i = 0; i < n; i++) {
    int nib = n - 1 - i; /* nibble index from the least significant end */
    u.data[i / 2] |= (uint8_t)(digits[nib] << ((i % 2) * 4));
  }
  *out = u;
  return 0;
}

int uvble_uuid_to_str(const uvble_uuid_t *u, char *buf, size_t len) {
  static const char hex[] = "0123456789abcdef";
  if (u == NULL || buf == NULL || !type_valid(u->type)) return UVBLE_EINVAL;
  size_t nbytes = u->type / 8u;
  size_t need = nbytes * 2 + (u->type == 128 ? 4 : 0);
  if (len < need + 1) return UVBLE_ENOSPC;
  size_t o = 0;
  for (size_t i = 0; i < nbytes; i++) {
    /* Big-endian text: most significant byte first. Dashes after text
     * bytes 4, 6, 8 and 10 (8-4-4-4-12). */
    if (u->type == 128 && (i == 4 || i == 6 || i == 8 || i == 10))
      buf[o++] = '-';
    uint8_t b = u->data[nbytes - 1 - i];
    buf[o++] = hex[b >> 4];
    buf[o++] = hex[b & 0x0f];
  }
  buf[o] = '\0';
  return (int)o;
}

uvble_uuid_t uvble_uuid_to128(const uvble_uuid_t *u) {
  uvble_uuid_t r;
  memset(&r, 0, sizeof r);
  if (u == NULL || !type_valid(u->type)) return r; /* type 0: invalid */
  if (u->type == 128) {
    r = *u;
    return r;
  }
  r.type = 128;
  memcpy(r.data, base_uuid, sizeof base_uuid);
  memcpy(r.data + 12, u->data, u->type / 8u);
  return r;
}

bool uvble_uuid_equal(const uvble_uuid_t *a, const uvble_uuid_t *b) {
  uvble_uuid_t x = uvble_uuid_to128(a), y = uvble_uuid_to128(b);
  if (x.type != 128 || y.type != 128) return false;
  return memcmp(x.data, y.data, 16) == 0;
}

uvble_uuid_t uvble_uuid_shrink(const uvble_uuid_t *u) {
  uvble_uuid_t r;
  memset(&r, 0, sizeof r);
  if (u == NULL) return r;
  if (!type_valid(u->type)) return *u;
  uvble_uuid_t full = uvble_uuid_to128(u);
  if (memcmp(full.data, base_uuid, 12) != 0) return full;
  if (full.data[14] == 0 && full.data[15] == 0)
    return uvble_uuid16((uint16_t)(full.data[12] | full.data[13] << 8));
  return uvble_uuid32((uint32_t)full.data[12] | (uint32_t)full.data[13] << 8 |
                      (uint32_t)full.data[14] << 16 |
                      (uint32_t)full.data[15] << 24);
}
