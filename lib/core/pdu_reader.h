/* SPDX-License-Identifier: Apache-2.0 */
/* One bounds-checked reader for the PDUs and HCI packets the core parses
 * (issue 16, item 5). Every read checks what is left; a read past the end
 * returns 0 (or NULL) and makes the reader fail for good, so a parser reads
 * all its fields and checks once (BlueZ's strict length checks, without a
 * check per field):
 *
 *   struct pdu_reader r;
 *   pdu_reader_init(&r, p, len);
 *   uint16_t handle = pdu_get_le16(&r);
 *   uint16_t count = pdu_get_le16(&r);
 *   if (!pdu_ok(&r)) { ...count a malformed packet...; return; }
 *
 * Fixed-width fields: pdu_get_u8/le16/le24/le32/le64; byte runs in place
 * (pdu_get_bytes, pdu_get_rest) or copied (pdu_get_mem, pdu_get_addr);
 * a length-prefixed element as its own reader (pdu_get_sub); a 2/4/16-byte
 * UUID (pdu_get_uuid). pdu_ok says no read ran past the end, pdu_done also
 * that every byte was read; pdu_fail fails the reader on a refused field.
 */
#ifndef UVBLE_CORE_PDU_READER_H
#define UVBLE_CORE_PDU_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "uvble/uuid.h"

struct pdu_reader {
  const uint8_t *p;
  size_t len;
  size_t off;
  bool err; /* a read ran past the end: sticky */
};

static inline void pdu_reader_init(struct pdu_reader *r, const void *p,
                                   size_t len) {
  r->p = p;
  r->len = p ? len : 0;
  r->off = 0;
  r->err = false;
}

static inline size_t pdu_left(const struct pdu_reader *r) {
  return r->err ? 0 : r->len - r->off;
}

/* No read has failed. */
static inline bool pdu_ok(const struct pdu_reader *r) { return !r->err; }

/* No read has failed and every byte was read: the exact-length check. */
static inline bool pdu_done(const struct pdu_reader *r) {
  return !r->err && r->off == r->len;
}

/* n more bytes are there; if not, the reader fails. */
static inline bool pdu_need(struct pdu_reader *r, size_t n) {
  if (r->err || r->len - r->off < n) {
    r->err = true;
    return false;
  }
  return true;
}

static inline uint8_t pdu_get_u8(struct pdu_reader *r) {
  if (!pdu_need(r, 1)) return 0;
  return r->p[r->off++];
}

static inline uint16_t pdu_get_le16(struct pdu_reader *r) {
  if (!pdu_need(r, 2)) return 0;
  const uint8_t *b = r->p + r->off;
  r->off += 2;
  return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t pdu_get_le32(struct pdu_reader *r) {
  if (!pdu_need(r, 4)) return 0;
  const uint8_t *b = r->p + r->off;
  r->off += 4;
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
         (uint32_t)b[3] << 24;
}

/* n bytes in place (borrowed from the packet); NULL on underrun (and for
 * zero bytes of a reader made over NULL, where pdu_ok tells). */
static inline const uint8_t *pdu_get_bytes(struct pdu_reader *r, size_t n) {
  if (!pdu_need(r, n) || !r->p) return NULL;
  const uint8_t *b = r->p + r->off;
  r->off += n;
  return b;
}

/* Everything left, in place (never fails; NULL-safe: n is 0 then). */
static inline const uint8_t *pdu_get_rest(struct pdu_reader *r, size_t *n) {
  *n = pdu_left(r);
  const uint8_t *b = r->p ? r->p + r->off : NULL;
  if (!r->err) r->off = r->len;
  return b;
}

static inline uint32_t pdu_get_le24(struct pdu_reader *r) {
  if (!pdu_need(r, 3)) return 0;
  const uint8_t *b = r->p + r->off;
  r->off += 3;
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16;
}

static inline uint64_t pdu_get_le64(struct pdu_reader *r) {
  if (!pdu_need(r, 8)) return 0;
  const uint8_t *b = r->p + r->off;
  r->off += 8;
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
  return v;
}

/* n bytes copied out (keys, addresses, random values); on underrun dst is
 * zeroed, so a caller that checks once at the end never sees stale bytes. */
static inline bool pdu_get_mem(struct pdu_reader *r, void *dst, size_t n) {
  const uint8_t *b = pdu_get_bytes(r, n);
  if (!pdu_ok(r)) {
    if (n) memset(dst, 0, n);
    return false;
  }
  if (n) memcpy(dst, b, n);
  return true;
}

/* A Bluetooth device address: 6 octets, least significant first, copied
 * as on the wire (the byte order uvble_addr_t keeps). */
static inline bool pdu_get_addr(struct pdu_reader *r, uint8_t out[6]) {
  return pdu_get_mem(r, out, 6);
}

/* Skip n bytes (reserved or ignored fields). */
static inline bool pdu_skip(struct pdu_reader *r, size_t n) {
  pdu_get_bytes(r, n);
  return pdu_ok(r);
}

/* A reader over the next n bytes: one length-prefixed element (an AD
 * structure, an advertising report's data, an ATT tuple). The outer
 * reader moves past them; on underrun both readers fail, and the
 * sub-reader reads nothing. */
static inline struct pdu_reader pdu_get_sub(struct pdu_reader *r, size_t n) {
  struct pdu_reader sub;
  const uint8_t *b = pdu_get_bytes(r, n);
  pdu_reader_init(&sub, b, pdu_ok(r) ? n : 0);
  sub.err = !pdu_ok(r);
  return sub;
}

/* A UUID in its n-byte little-endian form (2, 4 or 16 bytes); any other
 * n, or too few bytes, fails the reader and leaves *out zeroed. */
static inline bool pdu_get_uuid(struct pdu_reader *r, size_t n,
                                uvble_uuid_t *out) {
  const uint8_t *b = pdu_get_bytes(r, n);
  if (b && uvble_uuid_from_bytes(out, b, n) == 0) return true;
  memset(out, 0, sizeof *out);
  r->err = true;
  return false;
}

/* The parser found a field it cannot accept (a bad length byte, a value
 * out of range): the reader fails as if it had run out. */
static inline void pdu_fail(struct pdu_reader *r) { r->err = true; }

/* Where the next read starts (for a parser that hands the rest of a PDU
 * on, or echoes what it read). */
static inline size_t pdu_offset(const struct pdu_reader *r) { return r->off; }

#endif
