/* SPDX-License-Identifier: Apache-2.0 */
/* GATT server against a scripted client: registration layout, discovery
 * PDUs, reads, writes, permissions, and malformed requests.
 *
 * The test database (test_att_harness.h), handle by handle:
 *   1-5 GAP service (Device Name 3, Appearance 5), 6-9 GATT service
 *   (Service Changed 8, its CCCD 9),
 *   10 service 0xAAAA
 *   11/12 C1 0xA001 read|write|notify|indicate, 13 CCCD, 14 D1 0xA101 r|w
 *   15/16 C2 0xA002 read        17/18 C3 0xA003 write
 *   19/20 C4 0xA004 encrypted r|w|notify, 21 CCCD
 *   22/23 C5 0xA005 authenticated r|w   24/25 C6 0xA006 authorized r|w
 *   26/27 C7 0xA007 r|w max_length 8     28/29 C8 0xA008 r|w fixed 4
 *   30 service NUS (128-bit)
 *   31/32 C9 6e400002 write|write_no_response|aux_write, 33 CEP
 *   34/35 C10 6e400003 notify, 36 CCCD */
#include "test_att_harness.h"

static int read_req_at(uint16_t handle, uint8_t *rsp) {
  uint8_t q[3] = {ATT_READ_REQ, 0, 0};
  put_le16(q + 1, handle);
  return transact(q, 3, rsp);
}

static int write_req_at(uint16_t handle, const void *v, size_t n,
                        uint8_t *rsp) {
  uint8_t q[600] = {ATT_WRITE_REQ};
  put_le16(q + 1, handle);
  memcpy(q + 3, v, n);
  return transact(q, 3 + n, rsp);
}

/* ---- registration ------------------------------------------------------------ */
TEST(register_returns_value_handles_in_micropython_order) {
  up();
  uint16_t h[16];
  REQUIRE_EQ(register_test_db(h, 16), 11);
  static const uint16_t want[] = {H_C1, H_D1, H_C2, H_C3, H_C4, H_C5,
                                  H_C6, H_C7, H_C8, H_C9, H_C10};
  for (int i = 0; i < 11; i++) CHECK_EQ(h[i], want[i]);
  /* Too small an array: nothing changes. */
  CHECK_EQ(register_test_db(h, 10), UVBLE_ENOSPC);
  uint8_t rsp[600];
  int n = read_req_at(H_C2, rsp);
  CHECK_EQ(n, 1);
  /* Not additive: an empty registration leaves only GAP and GATT. */
  CHECK_EQ(uvble_gatts_register_services(ble, NULL, 0, NULL, 0), 0);
  n = read_req_at(H_C2, rsp);
  CHECK_ERR(rsp, n, ATT_READ_REQ, H_C2, UVBLE_ATT_ERR_INVALID_HANDLE);
  down();
}

TEST(register_rejects_bad_definitions) {
  up();
  uvble_gatts_characteristic_t ch = {.uuid = uvble_uuid16(0x1234),
                                     .flags = UVBLE_FLAG_READ};
  uvble_gatts_service_t s = {.uuid = uvble_uuid16(0x1111),
                             .characteristics = &ch,
                             .num_characteristics = 1};
  uint16_t h[4];
  ch.max_length = 513;
  CHECK_EQ(uvble_gatts_register_services(ble, &s, 1, h, 4), UVBLE_EINVAL);
  ch.max_length = 0;
  ch.fixed_length = true;
  CHECK_EQ(uvble_gatts_register_services(ble, &s, 1, h, 4), UVBLE_EINVAL);
  ch.fixed_length = false;
  ch.uuid.type = 24;
  CHECK_EQ(uvble_gatts_register_services(ble, &s, 1, h, 4), UVBLE_EINVAL);
  ch.uuid = uvble_uuid16(0x1234);
  s.characteristics = NULL;
  CHECK_EQ(uvble_gatts_register_services(ble, &s, 1, h, 4), UVBLE_EINVAL);
  s.characteristics = &ch;
  CHECK_EQ(uvble_gatts_register_services(ble, &s, 1, h, 4), 1);
  CHECK_EQ(h[0], 12);
  down();
}

TEST(register_while_advertising_is_busy) {
  up();
  static const uint8_t adv[] = {2, 0x01, 0x06};
  REQUIRE_EQ(uvble_gap_advertise(ble, 100000, adv, sizeof adv, NULL, 0, true),
             0);
  uint16_t h[16];
  CHECK_EQ(register_test_db(h, 16), UVBLE_EBUSY);
  REQUIRE_EQ(uvble_gap_advertise(ble, -1, NULL, 0, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(register_test_db(h, 16), 11);
  down();
}

/* ---- discovery ------------------------------------------------------------------ */
TEST(read_by_group_type_lists_primary_services) {
  up_db();
  uint8_t rsp[600];
  int n = TRANSACT(rsp, ATT_READ_BY_GROUP_TYPE_REQ, 1, 0, 0xff, 0xff, 0x00,
                   0x28);
  /* 16-bit services first; the 128-bit one has another length. */
  REQUIRE_EQ(n, 2 + 3 * 6);
  CHECK_EQ(rsp[0], ATT_READ_BY_GROUP_TYPE_RSP);
  CHECK_EQ(rsp[1], 6);
  static const uint8_t want[] = {1, 0, 5, 0, 0x00, 0x18, 6, 0, 9, 0, 0x01,
                                 0x18, 10, 0, 29, 0, 0xAA, 0xAA};
  CHECK_MEM(rsp + 2, want, sizeof want);
  n = TRANSACT(rsp, ATT_READ_BY_GROUP_TYPE_REQ, 30, 0, 0xff, 0xff, 0x00, 0x28);
  REQUIRE_EQ(n, 2 + 20);
  CHECK_EQ(rsp[1], 20);
  CHECK_EQ(get_le16(rsp + 2), H_SVC_B);
  CHECK_EQ(get_le16(rsp + 4), H_LAST);
  uvble_uuid_t u = nus(1);
  CHECK_MEM(rsp + 6, u.data, 16);
  n = TRANSACT(rsp, ATT_READ_BY_GROUP_TYPE_REQ, 37, 0, 0xff, 0xff, 0x00, 0x28);
  CHECK_ERR(rsp, n, ATT_READ_BY_GROUP_TYPE_REQ, 37,
            UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  /* Only service declarations group. */
  n = TRANSACT(rsp, ATT_READ_BY_GROUP_TYPE_REQ, 1, 0, 0xff, 0xff, 0x03, 0x28);
  CHECK_ERR(rsp, n, ATT_READ_BY_GROUP_TYPE_REQ, 1,
            UVBLE_ATT_ERR_UNSUPPORTED_GROUP_TYPE);
  n = TRANSACT(rsp, ATT_READ_BY_GROUP_TYPE_REQ, 1, 0, 0xff, 0xff, 0x01, 0x28);
  CHECK_ERR(rsp, n, ATT_READ_BY_GROUP_TYPE_REQ, 1,
            UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND); /* no secondary services */
  down();
}

TEST(range_requests_check_handles_and_lengths) {
  up_db();
  uint8_t rsp[600];
  static const uint8_t ops[] = {ATT_FIND_INFO_REQ, ATT_READ_BY_TYPE_REQ,
                                ATT_READ_BY_GROUP_TYPE_REQ,
                                ATT_FIND_BY_TYPE_VALUE_REQ};
  for (size_t i = 0; i < sizeof ops; i++) {
    uint8_t q[9] = {ops[i], 0, 0, 0xff, 0xff, 0x00, 0x28, 0xAA, 0xAA};
    size_t qlen = ops[i] == ATT_FIND_INFO_REQ ? 5 : ops[i] ==
                  ATT_FIND_BY_TYPE_VALUE_REQ ? 9 : 7;
    int n = transact(q, qlen, rsp); /* start handle 0 */
    CHECK_ERR(rsp, n, ops[i], 0x0000, UVBLE_ATT_ERR_INVALID_HANDLE);
    put_le16(q + 1, 20);
    put_le16(q + 3, 10); /* start > end */
    n = transact(q, qlen, rsp);
    CHECK_ERR(rsp, n, ops[i], 20, UVBLE_ATT_ERR_INVALID_HANDLE);
    n = transact(q, 4, rsp); /* short */
    CHECK_ERR(rsp, n, ops[i], 0, UVBLE_ATT_ERR_INVALID_PDU);
  }
  /* Read By Type with a 4-byte UUID is malformed. */
  int n = TRANSACT(rsp, ATT_READ_BY_TYPE_REQ, 1, 0, 0xff, 0xff, 1, 2, 3, 4);
  CHECK_ERR(rsp, n, ATT_READ_BY_TYPE_REQ, 0, UVBLE_ATT_ERR_INVALID_PDU);
  down();
}

TEST(characteristic_discovery_with_read_by_type) {
  up_db();
  uint8_t rsp[600];
  int n = TRANSACT(rsp, ATT_READ_BY_TYPE_REQ, 10, 0, 29, 0, 0x03, 0x28);
  /* 7-byte entries (handle + properties + value handle + 16-bit UUID), as
   * many as fit in MTU 23: 3. */
  REQUIRE_EQ(n, 2 + 3 * 7);
  CHECK_EQ(rsp[1], 7);
  static const uint8_t c1[] = {H_C1_DECL, 0, 0x3A, H_C1, 0, 0x01, 0xA0};
  CHECK_MEM(rsp + 2, c1, 7);
  static const uint8_t c2[] = {H_C2_DECL, 0, 0x02, H_C2, 0, 0x02, 0xA0};
  CHECK_MEM(rsp + 9, c2, 7);
  /* The 128-bit characteristics come in their own response; extended
   * properties show as 0x80. */
  n = TRANSACT(rsp, ATT_READ_BY_TYPE_REQ, 30, 0, 0xff, 0xff, 0x03, 0x28);
  REQUIRE_EQ(n, 2 + 21);
  CHECK_EQ(rsp[1], 21);
  CHECK_EQ(get_le16(rsp + 2), H_C9_DECL);
  CHECK_EQ(rsp[4], 0x80 | 0x08 | 0x04);
  CHECK_EQ(get_le16(rsp + 5), H_C9);
  uvble_uuid_t u = nus(2);
  CHECK_MEM(rsp + 7, u.data, 16);
  n = TRANSACT(rsp, ATT_READ_BY_TYPE_REQ, H_C10, 0, 0xff, 0xff, 0x03, 0x28);
  CHECK_ERR(rsp, n, ATT_READ_BY_TYPE_REQ, H_C10,
            UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  down();
}

TEST(read_by_type_reads_values_by_uuid_with_permissions) {
  up_db();
  uvble_gatts_write(ble, H_C2, "v2", 2, false);
  uint8_t rsp[600];
  int n = TRANSACT(rsp, ATT_READ_BY_TYPE_REQ, 1, 0, 0xff, 0xff, 0x02, 0xA0);
  REQUIRE_EQ(n, 2 + 4);
  CHECK_EQ(rsp[1], 4);
  CHECK_EQ(get_le16(rsp + 2), H_C2);
  CHECK_MEM(rsp + 4, "v2", 2);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_READ_REQUEST), 1);
  /* The first match not readable: an error naming it. */
  n = TRANSACT(rsp, ATT_READ_BY_TYPE_REQ, 1, 0, 0xff, 0xff, 0x04, 0xA0);
  CHECK_ERR(rsp, n, ATT_READ_BY_TYPE_REQ, H_C4,
            UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION);
  n = TRANSACT(rsp, ATT_READ_BY_TYPE_REQ, 1, 0, 0xff, 0xff, 0x03, 0xA0);
  CHECK_ERR(rsp, n, ATT_READ_BY_TYPE_REQ, H_C3,
            UVBLE_ATT_ERR_READ_NOT_PERMITTED);
  /* By 128-bit UUID; the Device Name by its 16-bit UUID. */
  n = TRANSACT(rsp, ATT_READ_BY_TYPE_REQ, 1, 0, 0xff, 0xff, 0x00, 0x2A);
  REQUIRE_EQ(n, 2 + 2 + 5);
  CHECK_MEM(rsp + 4, "uvble", 5);
  down();
}

TEST(find_information_and_find_by_type_value) {
  up_db();
  uint8_t rsp[600];
  int n = TRANSACT(rsp, ATT_FIND_INFO_REQ, H_C1, 0, H_D1, 0);
  REQUIRE_EQ(n, 2 + 3 * 4);
  CHECK_EQ(rsp[1], 1);
  static const uint8_t want[] = {H_C1, 0, 0x01, 0xA0, H_C1_CCCD, 0, 0x02,
                                 0x29, H_D1, 0, 0x01, 0xA1};
  CHECK_MEM(rsp + 2, want, sizeof want);
  /* 128-bit types use format 2, one per response at MTU 23. */
  n = TRANSACT(rsp, ATT_FIND_INFO_REQ, H_C9, 0, H_C9_CEP, 0);
  REQUIRE_EQ(n, 2 + 18);
  CHECK_EQ(rsp[1], 2);
  n = TRANSACT(rsp, ATT_FIND_INFO_REQ, 0x40, 0, 0x50, 0);
  CHECK_ERR(rsp, n, ATT_FIND_INFO_REQ, 0x40, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  /* Primary service by UUID, 16-bit and 128-bit. */
  n = TRANSACT(rsp, ATT_FIND_BY_TYPE_VALUE_REQ, 1, 0, 0xff, 0xff, 0x00, 0x28,
               0xAA, 0xAA);
  REQUIRE_EQ(n, 5);
  CHECK_EQ(get_le16(rsp + 1), H_SVC_A);
  CHECK_EQ(get_le16(rsp + 3), H_C8);
  uint8_t q[7 + 16] = {ATT_FIND_BY_TYPE_VALUE_REQ, 1, 0, 0xff, 0xff, 0, 0x28};
  uvble_uuid_t u = nus(1);
  memcpy(q + 7, u.data, 16);
  n = transact(q, sizeof q, rsp);
  REQUIRE_EQ(n, 5);
  CHECK_EQ(get_le16(rsp + 1), H_SVC_B);
  CHECK_EQ(get_le16(rsp + 3), H_LAST);
  n = TRANSACT(rsp, ATT_FIND_BY_TYPE_VALUE_REQ, 1, 0, 0xff, 0xff, 0x00, 0x28,
               0xBB, 0xBB);
  CHECK_ERR(rsp, n, ATT_FIND_BY_TYPE_VALUE_REQ, 1,
            UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  down();
}

/* ---- reads ----------------------------------------------------------------------- */
TEST(read_and_read_blob_of_a_long_value) {
  up_db();
  uint8_t v[100];
  for (int i = 0; i < 100; i++) v[i] = (uint8_t)i;
  REQUIRE_EQ(uvble_gatts_write(ble, H_C2, v, sizeof v, false), 0);
  uint8_t rsp[600];
  int n = read_req_at(H_C2, rsp);
  REQUIRE_EQ(n, 23); /* MTU-1 bytes */
  CHECK_EQ(rsp[0], ATT_READ_RSP);
  CHECK_MEM(rsp + 1, v, 22);
  n = TRANSACT(rsp, ATT_READ_BLOB_REQ, H_C2, 0, 88, 0);
  REQUIRE_EQ(n, 1 + 12);
  CHECK_EQ(rsp[0], ATT_READ_BLOB_RSP);
  CHECK_MEM(rsp + 1, v + 88, 12);
  n = TRANSACT(rsp, ATT_READ_BLOB_REQ, H_C2, 0, 100, 0);
  CHECK_EQ(n, 1); /* at the end: empty */
  n = TRANSACT(rsp, ATT_READ_BLOB_REQ, H_C2, 0, 101, 0);
  CHECK_ERR(rsp, n, ATT_READ_BLOB_REQ, H_C2, UVBLE_ATT_ERR_INVALID_OFFSET);
  n = TRANSACT(rsp, ATT_READ_BLOB_REQ, H_C2, 0, 1);
  CHECK_ERR(rsp, n, ATT_READ_BLOB_REQ, 0, UVBLE_ATT_ERR_INVALID_PDU);
  n = TRANSACT(rsp, ATT_READ_REQ, H_C2, 0, 0);
  CHECK_ERR(rsp, n, ATT_READ_REQ, 0, UVBLE_ATT_ERR_INVALID_PDU);
  /* The permission check comes before the offset check. */
  n = TRANSACT(rsp, ATT_READ_BLOB_REQ, H_C3, 0, 200, 0);
  CHECK_ERR(rsp, n, ATT_READ_BLOB_REQ, H_C3, UVBLE_ATT_ERR_READ_NOT_PERMITTED);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_READ_REQUEST), 4);
  down();
}

TEST(read_invalid_handles) {
  up_db();
  uint8_t rsp[600];
  int n = read_req_at(0, rsp);
  CHECK_ERR(rsp, n, ATT_READ_REQ, 0, UVBLE_ATT_ERR_INVALID_HANDLE);
  n = read_req_at(H_LAST + 1, rsp);
  CHECK_ERR(rsp, n, ATT_READ_REQ, H_LAST + 1, UVBLE_ATT_ERR_INVALID_HANDLE);
  /* Service Changed has INDICATE only. */
  n = read_req_at(8, rsp);
  CHECK_ERR(rsp, n, ATT_READ_REQ, 8, UVBLE_ATT_ERR_READ_NOT_PERMITTED);
  /* Declarations and CCCDs read without asking the app. */
  n = read_req_at(H_C1_DECL, rsp);
  REQUIRE_EQ(n, 6);
  n = read_req_at(H_C1_CCCD, rsp);
  REQUIRE_EQ(n, 3);
  CHECK_EQ(get_le16(rsp + 1), 0);
  n = read_req_at(H_C9_CEP, rsp);
  REQUIRE_EQ(n, 3);
  CHECK_EQ(get_le16(rsp + 1), 0x0002);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_READ_REQUEST), 0);
  down();
}

TEST(read_request_irq_can_deny_and_update) {
  up_db();
  uint8_t rsp[600];
  read_request_answer = 0x80;
  int n = read_req_at(H_C2, rsp);
  CHECK_ERR(rsp, n, ATT_READ_REQ, H_C2, 0x80);
  read_request_answer = -5; /* not an ATT code: Unlikely Error */
  n = read_req_at(H_D1, rsp);
  CHECK_ERR(rsp, n, ATT_READ_REQ, H_D1, UVBLE_ATT_ERR_UNLIKELY);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_READ_REQUEST), 2);
  CHECK_EQ(last_ev(UVBLE_IRQ_GATTS_READ_REQUEST)->d.gatts.attr_handle, H_D1);
  CHECK_EQ(last_ev(UVBLE_IRQ_GATTS_READ_REQUEST)->d.gatts.conn_handle, CONN);
  down();
}

static int update_in_irq(int ev, const uvble_irq_data_t *d) {
  if (ev == UVBLE_IRQ_GATTS_READ_REQUEST)
    uvble_gatts_write(ble, d->gatts.attr_handle, "fresh", 5, false);
  return 0;
}

TEST(read_request_handler_may_set_the_value_served) {
  up_db();
  irq_hook = update_in_irq;
  uint8_t rsp[600];
  int n = read_req_at(H_C2, rsp);
  REQUIRE_EQ(n, 6);
  CHECK_MEM(rsp + 1, "fresh", 5);
  down();
}

TEST(read_multiple_and_variable) {
  up_db();
  uvble_gatts_write(ble, H_C2, "ab", 2, false);
  uvble_gatts_write(ble, H_D1, "cde", 3, false);
  uint8_t rsp[600];
  int n = TRANSACT(rsp, ATT_READ_MULTIPLE_REQ, H_C2, 0, H_D1, 0);
  REQUIRE_EQ(n, 6);
  CHECK_EQ(rsp[0], ATT_READ_MULTIPLE_RSP);
  CHECK_MEM(rsp + 1, "abcde", 5);
  n = TRANSACT(rsp, ATT_READ_MULTIPLE_VARIABLE_REQ, H_C2, 0, H_D1, 0);
  REQUIRE_EQ(n, 1 + 2 + 2 + 2 + 3);
  CHECK_EQ(rsp[0], ATT_READ_MULTIPLE_VARIABLE_RSP);
  static const uint8_t want[] = {2, 0, 'a', 'b', 3, 0, 'c', 'd', 'e'};
  CHECK_MEM(rsp + 1, want, sizeof want);
  /* Any unreadable handle fails the whole request, naming it. */
  n = TRANSACT(rsp, ATT_READ_MULTIPLE_REQ, H_C2, 0, H_C3, 0);
  CHECK_ERR(rsp, n, ATT_READ_MULTIPLE_REQ, H_C3,
            UVBLE_ATT_ERR_READ_NOT_PERMITTED);
  n = TRANSACT(rsp, ATT_READ_MULTIPLE_REQ, H_C2, 0, 0x99, 0);
  CHECK_ERR(rsp, n, ATT_READ_MULTIPLE_REQ, 0x99, UVBLE_ATT_ERR_INVALID_HANDLE);
  n = TRANSACT(rsp, ATT_READ_MULTIPLE_REQ, H_C2, 0);
  CHECK_ERR(rsp, n, ATT_READ_MULTIPLE_REQ, 0, UVBLE_ATT_ERR_INVALID_PDU);
  n = TRANSACT(rsp, ATT_READ_MULTIPLE_REQ, H_C2, 0, H_D1);
  CHECK_ERR(rsp, n, ATT_READ_MULTIPLE_REQ, 0, UVBLE_ATT_ERR_INVALID_PDU);
  /* Cut at MTU-1: the variable form keeps the full length in the tuple. */
  uint8_t v[30];
  memset(v, 'x', sizeof v);
  uvble_gatts_write(ble, H_D1, v, sizeof v, false);
  n = TRANSACT(rsp, ATT_READ_MULTIPLE_VARIABLE_REQ, H_C2, 0, H_D1, 0);
  REQUIRE_EQ(n, 23);
  CHECK_EQ(get_le16(rsp + 5), 30);
  down();
}

/* ---- permissions and security ------------------------------------------------------ */
TEST(encryption_and_authentication_flags) {
  up_db();
  struct ble_conn *c = the_conn();
  uint8_t rsp[600];
  int n = read_req_at(H_C4, rsp);
  CHECK_ERR(rsp, n, ATT_READ_REQ, H_C4, UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION);
  n = write_req_at(H_C4, "x", 1, rsp);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, H_C4, UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION);
  n = read_req_at(H_C5, rsp);
  CHECK_ERR(rsp, n, ATT_READ_REQ, H_C5,
            UVBLE_ATT_ERR_INSUFFICIENT_AUTHENTICATION);
  /* Subscribing to an encrypted characteristic needs encryption too. */
  n = TRANSACT(rsp, ATT_WRITE_REQ, H_C4_CCCD, 0, 1, 0);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, H_C4_CCCD,
            UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION);
  c->encrypted = true;
  c->key_size = 5;
  n = read_req_at(H_C4, rsp);
  CHECK_ERR(rsp, n, ATT_READ_REQ, H_C4,
            UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION_KEY_SIZE);
  c->key_size = 16;
  n = read_req_at(H_C4, rsp);
  CHECK_EQ(n, 1);
  CHECK_EQ(rsp[0], ATT_READ_RSP);
  n = write_req_at(H_C4, "x", 1, rsp);
  CHECK_EQ(rsp[0], ATT_WRITE_RSP);
  n = TRANSACT(rsp, ATT_WRITE_REQ, H_C4_CCCD, 0, 1, 0);
  CHECK_EQ(rsp[0], ATT_WRITE_RSP);
  /* Encrypted but unauthenticated: still not enough for C5. */
  n = read_req_at(H_C5, rsp);
  CHECK_ERR(rsp, n, ATT_READ_REQ, H_C5,
            UVBLE_ATT_ERR_INSUFFICIENT_AUTHENTICATION);
  c->authenticated = true;
  n = write_req_at(H_C5, "y", 1, rsp);
  CHECK_EQ(rsp[0], ATT_WRITE_RSP);
  n = read_req_at(H_C5, rsp);
  REQUIRE_EQ(n, 2);
  CHECK_EQ(rsp[1], 'y');
  down();
}

TEST(read_and_write_permissions) {
  up_db();
  uint8_t rsp[600];
  int n = read_req_at(H_C3, rsp);
  CHECK_ERR(rsp, n, ATT_READ_REQ, H_C3, UVBLE_ATT_ERR_READ_NOT_PERMITTED);
  n = write_req_at(H_C2, "x", 1, rsp);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, H_C2, UVBLE_ATT_ERR_WRITE_NOT_PERMITTED);
  n = write_req_at(H_C1_DECL, "x", 1, rsp);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, H_C1_DECL,
            UVBLE_ATT_ERR_WRITE_NOT_PERMITTED);
  n = write_req_at(H_SVC_A, "x", 1, rsp);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, H_SVC_A, UVBLE_ATT_ERR_WRITE_NOT_PERMITTED);
  n = write_req_at(0, "x", 1, rsp);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, 0, UVBLE_ATT_ERR_INVALID_HANDLE);
  n = TRANSACT(rsp, ATT_WRITE_REQ, H_C1);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, 0, UVBLE_ATT_ERR_INVALID_PDU);
  /* The Device Name is read-only by default. */
  n = write_req_at(3, "nm", 2, rsp);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, 3, UVBLE_ATT_ERR_WRITE_NOT_PERMITTED);
  /* Write Command to a read-only value: silently ignored. */
  PEER(ATT_WRITE_CMD, H_C2, 0, 'z');
  CHECK(host_silent(30));
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 0);
  down();
}

TEST(authorized_read_without_handler_and_write_without_authorizer) {
  up_db();
  uint8_t rsp[600];
  int n = read_req_at(H_C6, rsp); /* a handler that answers 0 authorizes */
  CHECK_EQ(n, 1);
  n = write_req_at(H_C6, "w", 1, rsp);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, H_C6,
            UVBLE_ATT_ERR_INSUFFICIENT_AUTHORIZATION);
  uvble_irq(ble, NULL, NULL);
  n = read_req_at(H_C6, rsp);
  CHECK_ERR(rsp, n, ATT_READ_REQ, H_C6,
            UVBLE_ATT_ERR_INSUFFICIENT_AUTHORIZATION);
  n = read_req_at(H_C2, rsp); /* unauthorized reads need no handler */
  CHECK_EQ(n, 1);
  down();
}

static int auth_calls;
static int authorize(uvble_t *b, uint16_t conn, uint16_t h, const uint8_t *d,
                     size_t n, void *arg) {
  (void)b;
  (void)conn;
  (void)h;
  (void)arg;
  auth_calls++;
  return n && d[0] == 'y' ? 0 : 0x81;
}

TEST(write_authorizer_decides) {
  up_db();
  uvble_gatts_set_write_authorizer(ble, authorize, NULL);
  uint8_t rsp[600];
  int n = write_req_at(H_C6, "no", 2, rsp);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, H_C6, 0x81);
  n = write_req_at(H_C6, "yes", 3, rsp);
  CHECK_EQ(rsp[0], ATT_WRITE_RSP);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 1);
  n = write_req_at(H_C1, "any", 3, rsp); /* not authorized: not asked */
  CHECK_EQ(auth_calls, 2);
  down();
}

/* ---- writes and value buffers ------------------------------------------------------- */
TEST(writes_raise_gatts_write_and_truncate_to_the_buffer) {
  up_db();
  uint8_t rsp[600];
  int n = write_req_at(H_C1, "central0", 8, rsp);
  REQUIRE_EQ(n, 1);
  CHECK_EQ(rsp[0], ATT_WRITE_RSP);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 1);
  CHECK_EQ(last_ev(UVBLE_IRQ_GATTS_WRITE)->d.gatts.attr_handle, H_C1);
  CHECK_EQ(last_ev(UVBLE_IRQ_GATTS_WRITE)->d.gatts.conn_handle, CONN);
  uint8_t v[64];
  size_t len;
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, v, sizeof v, &len), 0);
  CHECK_EQ(len, 8);
  CHECK_MEM(v, "central0", 8);
  /* Write Command with the same effect, no response. */
  PEER(ATT_WRITE_CMD, H_C1, 0, 'c', 'm', 'd');
  CHECK(host_silent(30));
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 2);
  /* A remote write longer than the 20-byte buffer is cut (MicroPython). */
  REQUIRE_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_MTU, 100), 0);
  n = TRANSACT(rsp, ATT_EXCHANGE_MTU_REQ, 100, 0);
  uint8_t big[40];
  memset(big, 'b', sizeof big);
  n = write_req_at(H_C1, big, sizeof big, rsp);
  CHECK_EQ(rsp[0], ATT_WRITE_RSP);
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, v, sizeof v, &len), 0);
  CHECK_EQ(len, 20);
  /* A local write grows it. */
  REQUIRE_EQ(uvble_gatts_write(ble, H_C1, big, sizeof big, false), 0);
  n = write_req_at(H_C1, big, 30, rsp);
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, v, sizeof v, &len), 0);
  CHECK_EQ(len, 30);
  CHECK_EQ(uvble_gatts_read(ble, H_C1, v, 10, &len), UVBLE_ENOSPC);
  CHECK_EQ(len, 30);
  down();
}

TEST(circuitpython_max_and_fixed_length) {
  up_db();
  uint8_t rsp[600];
  int n = write_req_at(H_C7, "123456789", 9, rsp);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, H_C7,
            UVBLE_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH);
  n = write_req_at(H_C7, "12345678", 8, rsp);
  CHECK_EQ(rsp[0], ATT_WRITE_RSP);
  CHECK_EQ(uvble_gatts_write(ble, H_C7, "123456789", 9, false), UVBLE_EINVAL);
  /* Fixed: starts as zeros, every write exactly 4 bytes. */
  n = read_req_at(H_C8, rsp);
  REQUIRE_EQ(n, 5);
  CHECK_MEM(rsp + 1, "\0\0\0\0", 4);
  n = write_req_at(H_C8, "abc", 3, rsp);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, H_C8,
            UVBLE_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH);
  n = write_req_at(H_C8, "abcd", 4, rsp);
  CHECK_EQ(rsp[0], ATT_WRITE_RSP);
  CHECK_EQ(uvble_gatts_write(ble, H_C8, "ab", 2, false), UVBLE_EINVAL);
  CHECK_EQ(uvble_gatts_write(ble, H_C8, "wxyz", 4, false), 0);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 2);
  down();
}

TEST(set_buffer_append_reads_back_concatenated_then_clears) {
  /* MicroPython's ble_gatt_data_transfer. */
  up_db();
  REQUIRE_EQ(uvble_gatts_set_buffer(ble, H_C1, 100, true), 0);
  uint8_t rsp[600];
  const char *w[] = {"central0", "central1", "central2", "central3"};
  for (int i = 0; i < 4; i++) {
    int n = write_req_at(H_C1, w[i], 8, rsp);
    CHECK_EQ(n, 1);
  }
  uint8_t v[128];
  size_t len;
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, v, sizeof v, &len), 0);
  CHECK_EQ(len, 32);
  CHECK_MEM(v, "central0central1central2central3", 32);
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, v, sizeof v, &len), 0);
  CHECK_EQ(len, 0);
  /* Overflow beyond the buffer is dropped. */
  REQUIRE_EQ(uvble_gatts_set_buffer(ble, H_C1, 10, true), 0);
  write_req_at(H_C1, "12345678", 8, rsp);
  write_req_at(H_C1, "abcdefgh", 8, rsp);
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, v, sizeof v, &len), 0);
  CHECK_EQ(len, 10);
  CHECK_MEM(v, "12345678ab", 10);
  /* Not in append mode: each write replaces. */
  REQUIRE_EQ(uvble_gatts_set_buffer(ble, H_C1, 50, false), 0);
  write_req_at(H_C1, "12345678", 8, rsp);
  write_req_at(H_C1, "ab", 2, rsp);
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, v, sizeof v, &len), 0);
  CHECK_EQ(len, 2);
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, v, sizeof v, &len), 0);
  CHECK_EQ(len, 2);
  CHECK_EQ(uvble_gatts_set_buffer(ble, H_C1, 513, false), UVBLE_EINVAL);
  CHECK_EQ(uvble_gatts_set_buffer(ble, H_C1_CCCD, 10, false), UVBLE_EINVAL);
  down();
}

TEST(cccd_writes_raise_no_event_and_are_checked) {
  up_db();
  uint8_t rsp[600];
  int n = TRANSACT(rsp, ATT_WRITE_REQ, H_C1_CCCD, 0, 0x03, 0x00);
  CHECK_EQ(rsp[0], ATT_WRITE_RSP);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 0);
  n = read_req_at(H_C1_CCCD, rsp);
  REQUIRE_EQ(n, 3);
  CHECK_EQ(get_le16(rsp + 1), 3);
  n = TRANSACT(rsp, ATT_WRITE_REQ, H_C1_CCCD, 0, 0x01);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, H_C1_CCCD,
            UVBLE_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH);
  /* C10 notifies only: the indicate bit is refused. */
  n = TRANSACT(rsp, ATT_WRITE_REQ, H_C10_CCCD, 0, 0x02, 0x00);
  CHECK_ERR(rsp, n, ATT_WRITE_REQ, H_C10_CCCD,
            UVBLE_ATT_ERR_CCCD_IMPROPERLY_CONFIGURED);
  down();
}

TEST(writable_device_name_and_appearance) {
  up();
  REQUIRE_EQ(uvble_gatts_set_appearance(ble, 0x0340), 0);
  REQUIRE_EQ(uvble_gatts_set_name_writable(ble, true), 0);
  REQUIRE_EQ(uvble_gatts_register_services(ble, NULL, 0, NULL, 0), 0);
  uint8_t rsp[600];
  int n = read_req_at(UVBLE_GATTS_APPEARANCE_HANDLE, rsp);
  REQUIRE_EQ(n, 3);
  CHECK_EQ(get_le16(rsp + 1), 0x0340);
  n = write_req_at(UVBLE_GATTS_DEVICE_NAME_HANDLE, "renamed", 7, rsp);
  CHECK_EQ(rsp[0], ATT_WRITE_RSP);
  char name[32];
  CHECK_EQ(uvble_config_get_name(ble, name, sizeof name), 7);
  CHECK_MEM(name, "renamed", 7);
  n = read_req_at(UVBLE_GATTS_DEVICE_NAME_HANDLE, rsp);
  CHECK_EQ(n, 8);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 0);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_READ_REQUEST), 0);
  down();
}

TEST(signed_write_is_ignored) {
  up_db();
  uint8_t q[3 + 1 + 12] = {ATT_SIGNED_WRITE_CMD, H_C1, 0, 'x'};
  peer_send(q, sizeof q);
  CHECK(host_silent(30));
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 0);
  down();
}

TEST_MAIN()
