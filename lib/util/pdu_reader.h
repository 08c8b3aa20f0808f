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
 */
#ifndef UVBLE_UTIL_PDU_READER_H
#define UVBLE_UTIL_PDU_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* n bytes in place (borrowed from the packet); NULL on underrun. */
static inline const uint8_t *pdu_get_bytes(struct pdu_reader *r, size_t n) {
  if (!pdu_need(r, n)) return NULL;
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

/* No read has failed. */
static inline bool pdu_ok(const struct pdu_reader *r) { return !r->err; }

/* No read has failed and every byte was read: the exact-length check. */
static inline bool pdu_done(const struct pdu_reader *r) {
  return !r->err && r->off == r->len;
}

#endif
