/* SPDX-License-Identifier: Apache-2.0 */
/* The GATT client holds a server to Vol 3, Part G, 3.3.1 and 3.3.2: a
 * characteristic's value follows its declaration at once, inside its
 * service. A misbehaving scripted server breaks that in every way; the
 * client skips what is broken (counted), reports what is sound, ends the
 * discovery with UVBLE_EPROTO, and every request it sends — asserted byte
 * for byte — stays in the range the server declared. */
#include "test_gattc_peer.h"

static uint64_t rejected(void) {
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  return st.gattc_decl_rejected;
}

/* Read By Type on 0x2803 (Vol 3, Part F, 3.4.4.1): opcode 0x08, starting
 * handle, ending handle, attribute type, all little-endian. */
#define EXPECT_CHR_REQ(start, end)                                        \
  EXPECT_REQ(0x08, (start) & 0xff, (start) >> 8, (end) & 0xff, (end) >> 8, \
             0x03, 0x28)

static const uvble_evt_characteristic_result_t *chr_ev(int n) {
  int seen = 0;
  for (int i = 0; i < nev; i++)
    if (evs[i].type == UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT && seen++ == n)
      return &evs[i].d.characteristic;
  return NULL;
}

static int done_status(void) {
  int done = wait_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, 0, 300);
  REQUIRE(done >= 0);
  return evs[done].d.done.status;
}

TEST(value_handle_not_right_after_its_declaration_is_skipped) {
  peer_up();
  uint64_t r0 = rejected(), m0 = malformed_count();
  REQUIRE_EQ(uvble_gattc_discover_characteristics(ble, CONN, 0x20, 0x30, NULL),
             0);
  EXPECT_CHR_REQ(0x20, 0x30);
  PEER_SEND(0x09, 7,
            0x21, 0x00, 0x02, 0x22, 0x00, 0x00, 0x2a,  /* sound */
            0x24, 0x00, 0x02, 0x26, 0x00, 0x01, 0x2a,  /* value 2 after */
            0x27, 0x00, 0x02, 0x28, 0x00, 0x02, 0x2a); /* sound */
  EXPECT_CHR_REQ(0x28, 0x30);
  /* A value before its declaration, on the next page. */
  PEER_SEND(0x09, 7, 0x2a, 0x00, 0x02, 0x29, 0x00, 0x03, 0x2a);
  EXPECT_CHR_REQ(0x2b, 0x30);
  peer_error(0x08, 0x002b, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  CHECK_EQ(done_status(), UVBLE_EPROTO);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT), 2);
  const uvble_evt_characteristic_result_t *c = chr_ev(0);
  REQUIRE(c != NULL);
  CHECK_EQ(c->value_handle, 0x22);
  CHECK_EQ(c->end_handle, 0x23); /* a skipped declaration still ends it */
  c = chr_ev(1);
  REQUIRE(c != NULL);
  CHECK_EQ(c->value_handle, 0x28);
  CHECK_EQ(c->end_handle, 0x29);
  CHECK_EQ(rejected(), r0 + 2);
  CHECK_EQ(malformed_count(), m0); /* the pages themselves were sound */
  CHECK(peer_quiet(20));
  peer_down();
}

TEST(value_outside_the_service_is_skipped_and_nothing_asked_beyond_it) {
  peer_up();
  uint64_t r0 = rejected();
  /* The service is 0x20..0x25: its last declaration points past it. */
  REQUIRE_EQ(uvble_gattc_discover_characteristics(ble, CONN, 0x20, 0x25, NULL),
             0);
  EXPECT_CHR_REQ(0x20, 0x25);
  PEER_SEND(0x09, 7,
            0x21, 0x00, 0x0a, 0x22, 0x00, 0x00, 0x2a,
            0x25, 0x00, 0x12, 0x26, 0x00, 0x01, 0x2a);
  /* The range is used up: no further Read By Type, nothing past 0x25. */
  CHECK_EQ(done_status(), UVBLE_EPROTO);
  CHECK(peer_quiet(20));
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT), 1);
  const uvble_evt_characteristic_result_t *c = chr_ev(0);
  REQUIRE(c != NULL);
  CHECK_EQ(c->value_handle, 0x22);
  CHECK_EQ(c->end_handle, 0x24);
  CHECK_EQ(rejected(), r0 + 1);
  /* What an application (uvble gatt-dump, aioble) does next stays in
   * range: descriptors of the reported one, (value, end]. Find
   * Information (3.4.3.1): opcode 0x04, starting handle, ending handle. */
  REQUIRE_EQ(uvble_gattc_discover_descriptors(ble, CONN, c->value_handle,
                                              c->end_handle),
             0);
  EXPECT_REQ(0x04, 0x23, 0x00, 0x24, 0x00);
  PEER_SEND(0x05, 1, 0x23, 0x00, 0x02, 0x29, 0x24, 0x00, 0x01, 0x29);
  int done = wait_ev(UVBLE_IRQ_GATTC_DESCRIPTOR_DONE, 0, 300);
  REQUIRE(done >= 0);
  CHECK_EQ(evs[done].d.done.status, 0);
  CHECK(peer_quiet(20)); /* 0x24 was the end: no request for 0x25.. */
  peer_down();
}

TEST(declaration_at_the_previous_value_handle_voids_the_previous) {
  peer_up();
  uint64_t r0 = rejected();
  REQUIRE_EQ(uvble_gattc_discover_characteristics(ble, CONN, 0x20, 0x30, NULL),
             0);
  EXPECT_CHR_REQ(0x20, 0x30);
  PEER_SEND(0x09, 7, 0x21, 0x00, 0x02, 0x22, 0x00, 0x00, 0x2a);
  EXPECT_CHR_REQ(0x22, 0x30);
  /* 0x22 was to be 0x21's value; it is a declaration: 0x21 has none. */
  PEER_SEND(0x09, 7, 0x22, 0x00, 0x02, 0x23, 0x00, 0x01, 0x2a);
  EXPECT_CHR_REQ(0x23, 0x30);
  peer_error(0x08, 0x0023, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  CHECK_EQ(done_status(), UVBLE_EPROTO);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT), 1);
  const uvble_evt_characteristic_result_t *c = chr_ev(0);
  REQUIRE(c != NULL);
  CHECK_EQ(c->value_handle, 0x23);
  CHECK_EQ(c->end_handle, 0x30);
  CHECK(uvble_uuid_equal(&c->uuid, &(uvble_uuid_t){16, {0x01, 0x2a}}));
  CHECK_EQ(rejected(), r0 + 1);
  peer_down();
}

TEST(rejections_do_not_hide_the_servers_own_error_or_a_filter) {
  peer_up();
  /* A UUID filter: the broken one is skipped whatever its UUID, the
   * discovery still says the database is broken. */
  uvble_uuid_t want = uvble_uuid16(0x2a00);
  REQUIRE_EQ(
      uvble_gattc_discover_characteristics(ble, CONN, 0x01, 0x0f, &want), 0);
  EXPECT_CHR_REQ(0x01, 0x0f);
  PEER_SEND(0x09, 7,
            0x02, 0x00, 0x02, 0x03, 0x00, 0x00, 0x2a,
            0x04, 0x00, 0x02, 0x04, 0x00, 0x00, 0x2a); /* value = declaration */
  EXPECT_CHR_REQ(0x05, 0x0f);
  /* The server ends with its own error: that is the status. */
  peer_error(0x08, 0x0005, UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION);
  CHECK_EQ(done_status(), UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT), 1);
  CHECK_EQ(chr_ev(0)->value_handle, 0x03);
  CHECK_EQ(chr_ev(0)->end_handle, 0x03);
  /* A sound database afterwards: status 0 (the count is per discovery). */
  nev = 0;
  REQUIRE_EQ(uvble_gattc_discover_characteristics(ble, CONN, 0x01, 0x0f, NULL),
             0);
  EXPECT_CHR_REQ(0x01, 0x0f);
  PEER_SEND(0x09, 7, 0x02, 0x00, 0x02, 0x03, 0x00, 0x00, 0x2a);
  EXPECT_CHR_REQ(0x03, 0x0f);
  peer_error(0x08, 0x0003, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  CHECK_EQ(done_status(), 0);
  peer_down();
}

TEST_MAIN()
