/* SPDX-License-Identifier: Apache-2.0 */
/* GATT server: queued writes (Prepare Write / Execute Write, Vol 3, Part F,
 * 3.4.6) against a scripted client. Handles as in test_gatts.c. */
#include "test_att_harness.h"

static int prepare(uint16_t handle, uint16_t offset, const void *v, size_t n,
                   uint8_t *rsp) {
  uint8_t q[600] = {ATT_PREPARE_WRITE_REQ};
  put_le16(q + 1, handle);
  put_le16(q + 3, offset);
  memcpy(q + 5, v, n);
  int r = transact(q, 5 + n, rsp);
  /* A successful response echoes the request. */
  if (r == (int)(5 + n) && rsp[0] == ATT_PREPARE_WRITE_RSP)
    CHECK_MEM(rsp + 1, q + 1, 4 + n);
  return r;
}

static int execute(uint8_t flags, uint8_t *rsp) {
  uint8_t q[2] = {ATT_EXECUTE_WRITE_REQ, flags};
  return transact(q, 2, rsp);
}

TEST(long_write_is_assembled_and_applied_on_execute) {
  up_db();
  REQUIRE_EQ(uvble_gatts_set_buffer(ble, H_C1, 100, false), 0);
  uint8_t v[50], rsp[600];
  for (int i = 0; i < 50; i++) v[i] = (uint8_t)('A' + i % 26);
  REQUIRE_EQ(prepare(H_C1, 0, v, 18, rsp), 23);
  REQUIRE_EQ(prepare(H_C1, 18, v + 18, 18, rsp), 23);
  REQUIRE_EQ(prepare(H_C1, 36, v + 36, 14, rsp), 19);
  /* Nothing is written before the execute. */
  uint8_t got[128];
  size_t len;
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, got, sizeof got, &len), 0);
  CHECK_EQ(len, 0);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 0);
  int n = execute(0x01, rsp);
  REQUIRE_EQ(n, 1);
  CHECK_EQ(rsp[0], ATT_EXECUTE_WRITE_RSP);
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, got, sizeof got, &len), 0);
  CHECK_EQ(len, 50);
  CHECK_MEM(got, v, 50);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 1);
  /* The queue is gone: another execute writes nothing. */
  n = execute(0x01, rsp);
  CHECK_EQ(rsp[0], ATT_EXECUTE_WRITE_RSP);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 1);
  down();
}

TEST(execute_cancel_drops_the_queue) {
  up_db();
  uint8_t rsp[600];
  REQUIRE_EQ(prepare(H_C1, 0, "abc", 3, rsp), 8);
  REQUIRE_EQ(execute(0x00, rsp), 1);
  CHECK_EQ(rsp[0], ATT_EXECUTE_WRITE_RSP);
  REQUIRE_EQ(execute(0x01, rsp), 1);
  size_t len;
  uint8_t got[32];
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, got, sizeof got, &len), 0);
  CHECK_EQ(len, 0);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 0);
  int n = execute(0x02, rsp);
  CHECK_ERR(rsp, n, ATT_EXECUTE_WRITE_REQ, 0, UVBLE_ATT_ERR_INVALID_PDU);
  n = TRANSACT(rsp, ATT_EXECUTE_WRITE_REQ);
  CHECK_ERR(rsp, n, ATT_EXECUTE_WRITE_REQ, 0, UVBLE_ATT_ERR_INVALID_PDU);
  down();
}

TEST(prepare_checks_handle_and_permissions_up_front) {
  up_db();
  uint8_t rsp[600];
  int n = prepare(0, 0, "x", 1, rsp);
  CHECK_ERR(rsp, n, ATT_PREPARE_WRITE_REQ, 0, UVBLE_ATT_ERR_INVALID_HANDLE);
  n = prepare(H_LAST + 5, 0, "x", 1, rsp);
  CHECK_ERR(rsp, n, ATT_PREPARE_WRITE_REQ, H_LAST + 5,
            UVBLE_ATT_ERR_INVALID_HANDLE);
  n = prepare(H_C2, 0, "x", 1, rsp);
  CHECK_ERR(rsp, n, ATT_PREPARE_WRITE_REQ, H_C2,
            UVBLE_ATT_ERR_WRITE_NOT_PERMITTED);
  n = prepare(H_C4, 0, "x", 1, rsp);
  CHECK_ERR(rsp, n, ATT_PREPARE_WRITE_REQ, H_C4,
            UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION);
  n = TRANSACT(rsp, ATT_PREPARE_WRITE_REQ, H_C1, 0, 0);
  CHECK_ERR(rsp, n, ATT_PREPARE_WRITE_REQ, 0, UVBLE_ATT_ERR_INVALID_PDU);
  down();
}

TEST(prepare_queue_is_bounded) {
  up_db();
  uint8_t rsp[600];
  /* 64 entries. */
  for (int i = 0; i < UVBLE_GATTS_PREPARE_MAX_ENTRIES; i++)
    REQUIRE_EQ(prepare(H_C1, (uint16_t)i, "x", 1, rsp), 6);
  int n = prepare(H_C1, 64, "x", 1, rsp);
  CHECK_ERR(rsp, n, ATT_PREPARE_WRITE_REQ, H_C1,
            UVBLE_ATT_ERR_PREPARE_QUEUE_FULL);
  /* The bearer stays usable, the queue still executes. */
  REQUIRE_EQ(execute(0x01, rsp), 1);
  CHECK_EQ(rsp[0], ATT_EXECUTE_WRITE_RSP);
  size_t len;
  uint8_t got[128];
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, got, sizeof got, &len), 0);
  CHECK_EQ(len, 20); /* 64 bytes into the 20-byte buffer */
  down();
  /* 4 KiB of data. */
  up_db();
  REQUIRE_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_MTU, 517), 0);
  n = TRANSACT(rsp, ATT_EXCHANGE_MTU_REQ, 0x05, 0x02);
  REQUIRE_EQ(att_mtu(the_conn()), 517);
  uint8_t big[500];
  memset(big, 'q', sizeof big);
  for (int i = 0; i < 8; i++)
    REQUIRE_EQ(prepare(H_C1, (uint16_t)(i * 500), big, 500, rsp), 505);
  n = prepare(H_C1, 4000, big, 100, rsp);
  CHECK_ERR(rsp, n, ATT_PREPARE_WRITE_REQ, H_C1,
            UVBLE_ATT_ERR_PREPARE_QUEUE_FULL);
  /* Executing it: longer than 512 bytes. */
  n = execute(0x01, rsp);
  CHECK_ERR(rsp, n, ATT_EXECUTE_WRITE_REQ, H_C1,
            UVBLE_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH);
  down();
}

TEST(execute_validates_offsets_and_lengths_before_writing_anything) {
  up_db();
  uint8_t rsp[600];
  REQUIRE_EQ(uvble_gatts_write(ble, H_D1, "desc", 4, false), 0);
  /* A gap between parts. */
  REQUIRE_EQ(prepare(H_C1, 0, "abc", 3, rsp), 8);
  REQUIRE_EQ(prepare(H_C1, 5, "def", 3, rsp), 8);
  int n = execute(0x01, rsp);
  CHECK_ERR(rsp, n, ATT_EXECUTE_WRITE_REQ, H_C1, UVBLE_ATT_ERR_INVALID_OFFSET);
  /* A first offset past the current value. */
  REQUIRE_EQ(prepare(H_D1, 5, "x", 1, rsp), 6);
  n = execute(0x01, rsp);
  CHECK_ERR(rsp, n, ATT_EXECUTE_WRITE_REQ, H_D1, UVBLE_ATT_ERR_INVALID_OFFSET);
  /* One good, one bad (CircuitPython max_length 8): neither is written. */
  REQUIRE_EQ(prepare(H_C1, 0, "good", 4, rsp), 9);
  REQUIRE_EQ(prepare(H_C7, 0, "123456", 6, rsp), 11);
  REQUIRE_EQ(prepare(H_C7, 6, "789", 3, rsp), 8);
  n = execute(0x01, rsp);
  CHECK_ERR(rsp, n, ATT_EXECUTE_WRITE_REQ, H_C7,
            UVBLE_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH);
  uint8_t got[32];
  size_t len;
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, got, sizeof got, &len), 0);
  CHECK_EQ(len, 0);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 0);
  /* An offset inside the current value keeps its start. */
  REQUIRE_EQ(prepare(H_D1, 2, "SK", 2, rsp), 7);
  REQUIRE_EQ(execute(0x01, rsp), 1);
  REQUIRE_EQ(uvble_gatts_read(ble, H_D1, got, sizeof got, &len), 0);
  CHECK_EQ(len, 4);
  CHECK_MEM(got, "deSK", 4);
  /* Two handles in one execute: one event each. */
  REQUIRE_EQ(prepare(H_C1, 0, "one", 3, rsp), 8);
  REQUIRE_EQ(prepare(H_D1, 0, "two", 3, rsp), 8);
  REQUIRE_EQ(prepare(H_C1, 3, "+", 1, rsp), 6);
  REQUIRE_EQ(execute(0x01, rsp), 1);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 3);
  REQUIRE_EQ(uvble_gatts_read(ble, H_C1, got, sizeof got, &len), 0);
  CHECK_EQ(len, 4);
  CHECK_MEM(got, "one+", 4);
  down();
}

TEST(prepared_write_needs_the_authorizer_at_execute) {
  up_db();
  uint8_t rsp[600];
  REQUIRE_EQ(prepare(H_C6, 0, "abc", 3, rsp), 8);
  int n = execute(0x01, rsp);
  CHECK_ERR(rsp, n, ATT_EXECUTE_WRITE_REQ, H_C6,
            UVBLE_ATT_ERR_INSUFFICIENT_AUTHORIZATION);
  down();
}

TEST(prepared_cccd_write) {
  up_db();
  uint8_t rsp[600];
  REQUIRE_EQ(prepare(H_C1_CCCD, 0, "\x01", 1, rsp), 6);
  REQUIRE_EQ(prepare(H_C1_CCCD, 1, "\x00", 1, rsp), 6);
  REQUIRE_EQ(execute(0x01, rsp), 1);
  CHECK_EQ(rsp[0], ATT_EXECUTE_WRITE_RSP);
  int n = TRANSACT(rsp, ATT_READ_REQ, H_C1_CCCD, 0);
  REQUIRE_EQ(n, 3);
  CHECK_EQ(get_le16(rsp + 1), 1);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 0);
  down();
}

TEST(disconnect_drops_the_prepare_queue) {
  up_db();
  uint8_t rsp[600];
  REQUIRE_EQ(prepare(H_C1, 0, "abc", 3, rsp), 8);
  sc_disconnect(sc, CONN, 0x13);
  run_until_idle(&loop, 5000);
  CHECK(the_conn() == NULL);
  down(); /* ASan: nothing leaks */
}

TEST_MAIN()
