/* SPDX-License-Identifier: Apache-2.0 */
/* lib/core/pdu_reader.h: bounds-checked reads that fail for good on the
 * first underrun. */
#include <stdint.h>

#include "test.h"
#include "pdu_reader.h"

TEST(reads_little_endian_fields_in_order) {
  const uint8_t p[] = {0x01, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 0xaa, 0xbb};
  struct pdu_reader r;
  pdu_reader_init(&r, p, sizeof p);
  CHECK_EQ(pdu_get_u8(&r), 0x01);
  CHECK_EQ(pdu_get_le16(&r), 0x1234);
  CHECK_EQ(pdu_get_le32(&r), 0x12345678u);
  CHECK_EQ(pdu_left(&r), 2);
  const uint8_t *b = pdu_get_bytes(&r, 2);
  REQUIRE(b == p + 7);
  CHECK(pdu_done(&r));
  CHECK_EQ(pdu_left(&r), 0);
}

/* A read past the end returns 0, fails the reader, and every later read
 * fails too, even one that would fit what was left. */
TEST(underrun_is_sticky) {
  const uint8_t p[] = {0x01, 0x02, 0x03};
  struct pdu_reader r;
  pdu_reader_init(&r, p, sizeof p);
  CHECK_EQ(pdu_get_le16(&r), 0x0201);
  CHECK_EQ(pdu_get_le16(&r), 0); /* one byte left: underrun */
  CHECK(!pdu_ok(&r));
  CHECK_EQ(pdu_left(&r), 0);
  CHECK_EQ(pdu_get_u8(&r), 0); /* would fit, still refused */
  CHECK(pdu_get_bytes(&r, 0) == NULL);
  CHECK(!pdu_done(&r));
  size_t n = 99;
  pdu_get_rest(&r, &n);
  CHECK_EQ(n, 0);
}

TEST(exact_length_check) {
  const uint8_t p[] = {0x05, 0x00, 0x07};
  struct pdu_reader r;
  pdu_reader_init(&r, p, sizeof p);
  pdu_get_le16(&r);
  CHECK(pdu_ok(&r));
  CHECK(!pdu_done(&r)); /* a byte too many */
  size_t n;
  const uint8_t *rest = pdu_get_rest(&r, &n);
  CHECK_EQ(n, 1);
  CHECK(rest == p + 2);
  CHECK(pdu_done(&r));
}

TEST(empty_and_null_input) {
  struct pdu_reader r;
  pdu_reader_init(&r, NULL, 10); /* no buffer: no bytes, whatever len */
  CHECK_EQ(pdu_left(&r), 0);
  CHECK(pdu_done(&r));
  CHECK_EQ(pdu_get_u8(&r), 0);
  CHECK(!pdu_ok(&r));
  const uint8_t one = 0x42;
  pdu_reader_init(&r, &one, 1);
  CHECK(pdu_get_bytes(&r, 2) == NULL); /* more than there is */
  CHECK(!pdu_ok(&r));
  pdu_reader_init(&r, &one, 1);
  CHECK(pdu_get_bytes(&r, 0) == &one); /* zero bytes always fit */
  CHECK_EQ(pdu_get_u8(&r), 0x42);
  CHECK(pdu_done(&r));
}

/* Huge counts never wrap the bounds check. */
TEST(huge_lengths_do_not_wrap) {
  const uint8_t p[4] = {0};
  struct pdu_reader r;
  pdu_reader_init(&r, p, sizeof p);
  pdu_get_u8(&r);
  CHECK(pdu_get_bytes(&r, SIZE_MAX) == NULL);
  CHECK(!pdu_ok(&r));
}


TEST(wide_fields_and_copies) {
  const uint8_t p[] = {0x03, 0x02, 0x01, 0x08, 0x07, 0x06, 0x05,
                       0x04, 0x03, 0x02, 0x01, 0xa1, 0xa2, 0xa3,
                       0xa4, 0xa5, 0xa6, 0xee};
  struct pdu_reader r;
  pdu_reader_init(&r, p, sizeof p);
  CHECK_EQ(pdu_get_le24(&r), 0x010203u);
  CHECK(pdu_get_le64(&r) == 0x0102030405060708ull);
  uint8_t addr[6];
  CHECK(pdu_get_addr(&r, addr));
  CHECK_EQ(addr[0], 0xa1);
  CHECK_EQ(addr[5], 0xa6);
  CHECK(pdu_skip(&r, 1));
  CHECK(pdu_done(&r));
}

/* A failed copy zeroes its destination; wide reads past the end give 0. */
TEST(wide_reads_past_the_end) {
  const uint8_t p[] = {0x11, 0x22, 0x33, 0x44, 0x55};
  struct pdu_reader r;
  pdu_reader_init(&r, p, sizeof p);
  uint8_t addr[6] = {1, 2, 3, 4, 5, 6};
  CHECK(!pdu_get_addr(&r, addr));
  for (int i = 0; i < 6; i++) CHECK_EQ(addr[i], 0);
  CHECK(!pdu_ok(&r));
  pdu_reader_init(&r, p, sizeof p);
  CHECK(pdu_get_le64(&r) == 0);
  CHECK(!pdu_ok(&r));
  pdu_reader_init(&r, p, 2);
  CHECK_EQ(pdu_get_le24(&r), 0);
  CHECK(!pdu_ok(&r));
  pdu_reader_init(&r, p, 1);
  CHECK(!pdu_skip(&r, 2));
  CHECK(!pdu_ok(&r));
}

/* A sub-reader covers one length-prefixed element: it cannot read past
 * the element even where the outer buffer goes on. */
TEST(sub_reader_is_bounded_by_its_element) {
  const uint8_t p[] = {0x02, 0xaa, 0xbb, 0x01, 0xcc};
  struct pdu_reader r;
  pdu_reader_init(&r, p, sizeof p);
  struct pdu_reader e = pdu_get_sub(&r, pdu_get_u8(&r));
  CHECK(pdu_ok(&e));
  CHECK_EQ(pdu_get_le16(&e), 0xbbaa);
  CHECK(pdu_done(&e));
  CHECK_EQ(pdu_get_u8(&e), 0); /* 0x01 follows, but not in e */
  CHECK(!pdu_ok(&e));
  CHECK(pdu_ok(&r)); /* the outer reader is unaffected */
  e = pdu_get_sub(&r, pdu_get_u8(&r));
  CHECK_EQ(pdu_get_u8(&e), 0xcc);
  CHECK(pdu_done(&r));
  /* An element longer than what is left fails both readers. */
  const uint8_t q[] = {0x05, 0xaa};
  pdu_reader_init(&r, q, sizeof q);
  e = pdu_get_sub(&r, pdu_get_u8(&r));
  CHECK(!pdu_ok(&r));
  CHECK(!pdu_ok(&e));
  CHECK_EQ(pdu_left(&e), 0);
  CHECK_EQ(pdu_get_u8(&e), 0);
}

/* A reader over NULL: zero-byte reads succeed without forming a pointer
 * from NULL (UBSan checks that), longer ones fail. */
TEST(null_buffer_zero_length_reads) {
  struct pdu_reader r;
  pdu_reader_init(&r, NULL, 0);
  CHECK(pdu_skip(&r, 0));
  struct pdu_reader e = pdu_get_sub(&r, 0);
  CHECK(pdu_ok(&e));
  CHECK(pdu_done(&e));
  uint8_t b[1] = {7};
  CHECK(pdu_get_mem(&r, b, 0));
  CHECK_EQ(b[0], 7);
  CHECK(pdu_done(&r));
  CHECK(!pdu_skip(&r, 1));
}

/* UUIDs in their 2- and 16-byte forms; any other size fails the reader
 * and leaves a zeroed UUID. pdu_fail fails a reader on a refused field. */
TEST(uuids_and_refused_fields) {
  const uint8_t p[] = {0x0d, 0x18, 0xfb, 0x34, 0x9b, 0x5f, 0x80, 0x00,
                       0x00, 0x80, 0x00, 0x10, 0x00, 0x00, 0x0d, 0x18,
                       0x00, 0x00, 0x01};
  struct pdu_reader r;
  pdu_reader_init(&r, p, sizeof p);
  uvble_uuid_t u;
  CHECK(pdu_get_uuid(&r, 2, &u));
  CHECK_EQ(u.type, 16);
  CHECK_EQ(u.data[0], 0x0d);
  CHECK(pdu_get_uuid(&r, 16, &u));
  CHECK_EQ(u.type, 128);
  CHECK_EQ(pdu_left(&r), 1);
  CHECK(!pdu_get_uuid(&r, 2, &u)); /* one byte left */
  CHECK_EQ(u.type, 0);
  CHECK(!pdu_ok(&r));
  pdu_reader_init(&r, p, sizeof p);
  CHECK(!pdu_get_uuid(&r, 3, &u)); /* no such form */
  CHECK(!pdu_ok(&r));
  pdu_reader_init(&r, p, sizeof p);
  CHECK_EQ(pdu_get_u8(&r), 0x0d);
  pdu_fail(&r);
  CHECK(!pdu_ok(&r));
  CHECK_EQ(pdu_get_u8(&r), 0);
  CHECK_EQ(pdu_offset(&r), 1);
}

TEST_MAIN()
