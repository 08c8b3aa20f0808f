/* SPDX-License-Identifier: Apache-2.0 */
/* Hostile-input regressions, ATT (SweynTooth's "Sequential ATT Deadlock"
 * and relatives): requests sent without waiting for the responses, an
 * Exchange MTU below the minimum of 23, PDUs that are empty, truncated,
 * longer than the MTU or name no valid handle range, unknown opcodes,
 * responses and confirmations nobody asked for, and a Prepare Write flood.
 * Each asserts the Error Response (Vol 3, Part F, 3.4.1.1) or the silent
 * drop the spec asks for, the counter, and a served Read afterwards. */
#include "hostile_common.h"

#define VALUE_LEN 40

static uint16_t value_handle;

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* A server with one readable/writable/notifiable 40-byte value. */
static void bring_server(void) {
  bring(1);
  uvble_gatts_characteristic_t chr = {
      .uuid = uvble_uuid16(0xFEED),
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE |
               UVBLE_FLAG_WRITE_NO_RESPONSE | UVBLE_FLAG_NOTIFY};
  uvble_gatts_service_t svc = {
      .uuid = uvble_uuid16(0xFEEC), .characteristics = &chr, .num_characteristics = 1};
  REQUIRE_EQ(uvble_gatts_register_services(ble, &svc, 1, &value_handle, 1), 1);
  uint8_t v[VALUE_LEN];
  for (int k = 0; k < VALUE_LEN; k++) v[k] = (uint8_t)('a' + k % 26);
  REQUIRE_EQ(uvble_gatts_write(ble, value_handle, v, sizeof v, false), 0);
}

/* Expects an Error Response for (opcode, handle) with code as the n-th ATT
 * PDU after from. */
static void expect_error(int from, int n, uint8_t op, uint16_t handle,
                         uint8_t code) {
  const struct pdu *p = sent_on(L2CAP_CID_ATT, from, n);
  REQUIRE(p != NULL);
  REQUIRE_EQ(p->len, 5);
  CHECK_EQ(p->d[0], 0x01);
  CHECK_EQ(p->d[1], op);
  CHECK_EQ(le16(p->d + 2), handle);
  CHECK_EQ(p->d[4], code);
}

TEST(requests_sent_without_waiting_are_all_answered_in_order) {
  bring_server();
  int m = mark();
  /* Eight requests in one burst (no run of the loop between them), as the
   * "Sequential ATT Deadlock" attack sends them. */
  for (int k = 0; k < 8; k++) {
    uint8_t req[5] = {0x0C, (uint8_t)value_handle, (uint8_t)(value_handle >> 8),
                      (uint8_t)k, 0}; /* Read Blob at offset k */
    uint8_t buf[9] = {5, 0, 4, 0};
    memcpy(buf + 4, req, 5);
    sc_send_acl(sc, H, 2, buf, 9);
  }
  run_until_idle(&loop, 5000);
  for (int k = 0; k < 8; k++) {
    const struct pdu *p = sent_on(L2CAP_CID_ATT, m, k);
    REQUIRE(p != NULL);
    CHECK_EQ(p->d[0], 0x0D); /* Read Blob Response */
    CHECK_EQ(p->len, 1 + 22);
    CHECK_EQ(p->d[1], (uint8_t)('a' + k)); /* in order: the k-th offset */
  }
  CHECK_EQ(count_on(L2CAP_CID_ATT, m), 8);
  alive();
  finish();
}

TEST(exchange_mtu_below_23_keeps_the_default_mtu) {
  bring_server();
  for (int round = 0; round < 2; round++) {
    uint16_t asked = round ? 0 : 5; /* 5, then 0 on a fresh link */
    if (round) {
      finish();
      bring_server();
    }
    int m = mark();
    att_in((uint8_t[]){0x02, (uint8_t)asked, 0}, 3);
    const struct pdu *p = sent_on(L2CAP_CID_ATT, m, 0);
    REQUIRE(p != NULL);
    CHECK_EQ(p->d[0], 0x03);
    CHECK_EQ(le16(p->d + 1), 256); /* our Server Rx MTU, as configured */
    /* The MTU stays 23 (Vol 3, Part F, 3.4.2.2): the event says so... */
    const uvble_irq_data_t *e = last_ev(UVBLE_IRQ_MTU_EXCHANGED);
    REQUIRE(e != NULL);
    CHECK_EQ(e->mtu.mtu, 23);
    /* ...a Read returns MTU - 1 bytes... */
    m = mark();
    att_in((uint8_t[]){0x0A, (uint8_t)value_handle, (uint8_t)(value_handle >> 8)}, 3);
    p = sent_on(L2CAP_CID_ATT, m, 0);
    REQUIRE(p != NULL);
    CHECK_EQ(p->len, 1 + 22);
    /* ...a notification carries MTU - 3... */
    m = mark();
    REQUIRE_EQ(uvble_gatts_notify(ble, H, value_handle, NULL, 0), 0);
    p = sent_on(L2CAP_CID_ATT, m, 0);
    REQUIRE(p != NULL);
    CHECK_EQ(p->d[0], 0x1B);
    CHECK_EQ(p->len, 3 + 20);
    /* ...and a request longer than 23 bytes is refused as Invalid PDU. */
    uvble_stats_t s0 = stats();
    m = mark();
    uint8_t big[24] = {0x12, (uint8_t)value_handle, (uint8_t)(value_handle >> 8)};
    att_in(big, sizeof big);
    expect_error(m, 0, 0x12, 0, UVBLE_ATT_ERR_INVALID_PDU);
    CHECK_EQ(stats().att_rx_malformed, s0.att_rx_malformed + 1);
    /* A Write Command that long is dropped without an answer. */
    m = mark();
    big[0] = 0x52;
    att_in(big, sizeof big);
    CHECK_EQ(count_on(L2CAP_CID_ATT, m), 0);
    CHECK_EQ(stats().att_rx_malformed, s0.att_rx_malformed + 2);
    alive();
  }
  finish();
}

TEST(truncated_and_out_of_range_requests_get_their_error) {
  bring_server();
  uint8_t vl = (uint8_t)value_handle, vh = (uint8_t)(value_handle >> 8);
  struct {
    uint8_t pdu[24];
    size_t len;
    uint16_t handle;
    uint8_t code;
  } cases[] = {
      {{0x0A, 3}, 2, 0, UVBLE_ATT_ERR_INVALID_PDU},            /* Read, 1-byte handle */
      {{0x0A, 0, 0}, 3, 0, UVBLE_ATT_ERR_INVALID_HANDLE},       /* Read handle 0 */
      {{0x0C, vl, vh, 1}, 4, 0, UVBLE_ATT_ERR_INVALID_PDU},     /* Read Blob, 1-byte offset */
      {{0x0C, vl, vh, 41, 0}, 5, value_handle, UVBLE_ATT_ERR_INVALID_OFFSET},
      {{0x12}, 1, 0, UVBLE_ATT_ERR_INVALID_PDU},                /* Write, no handle */
      {{0x04, 0, 0, 0xff, 0xff}, 5, 0, UVBLE_ATT_ERR_INVALID_HANDLE}, /* Find Info from 0 */
      {{0x04, 9, 0, 5, 0}, 5, 9, UVBLE_ATT_ERR_INVALID_HANDLE},  /* start > end */
      {{0x04, 1, 0}, 3, 0, UVBLE_ATT_ERR_INVALID_PDU},           /* Find Info truncated */
      {{0x08, 1, 0, 0xff, 0xff, 3, 0x28, 0}, 8, 0, UVBLE_ATT_ERR_INVALID_PDU}, /* 3-byte UUID */
      {{0x10, 1, 0, 0xff, 0xff, 0x03, 0x28}, 7, 1, UVBLE_ATT_ERR_UNSUPPORTED_GROUP_TYPE},
      {{0x0E, vl, vh}, 3, 0, UVBLE_ATT_ERR_INVALID_PDU},         /* Read Multiple, one handle */
      {{0x16, vl, vh, 0}, 4, 0, UVBLE_ATT_ERR_INVALID_PDU},      /* Prepare Write, no offset */
      {{0x18, 0x07}, 2, 0, UVBLE_ATT_ERR_INVALID_PDU},           /* Execute, bad flags */
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    int m = mark();
    att_in(cases[k].pdu, cases[k].len);
    expect_error(m, 0, cases[k].pdu[0], cases[k].handle, cases[k].code);
    CHECK_EQ(count_on(L2CAP_CID_ATT, m), 1);
  }
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 0);
  alive();
  finish();
}

TEST(unknown_opcodes_and_unsolicited_responses) {
  bring_server();
  uvble_stats_t s0 = stats();
  int m = mark();
  /* An unknown request: Request Not Supported, handle 0. */
  att_in((uint8_t[]){0x3F, 1, 2, 3}, 4);
  expect_error(m, 0, 0x3F, 0, UVBLE_ATT_ERR_REQUEST_NOT_SUPPORTED);
  /* An unknown command and a Signed Write Command: never answered. */
  m = mark();
  att_in((uint8_t[]){0x7F, 1, 2, 3}, 4);
  uint8_t signed_write[15] = {0xD2, (uint8_t)value_handle, (uint8_t)(value_handle >> 8), 'x'};
  att_in(signed_write, sizeof signed_write);
  CHECK_EQ(count_on(L2CAP_CID_ATT, m), 0);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 0);
  /* The signed write is counted as unexpected (not supported, gatts.h). */
  CHECK_EQ(stats().att_rx_unexpected, s0.att_rx_unexpected + 1);
  s0 = stats();
  /* Responses and a confirmation nobody awaits: dropped and counted. */
  att_in((uint8_t[]){0x0B, 'h', 'i'}, 3);
  att_in((uint8_t[]){0x1E}, 1);
  att_in((uint8_t[]){0x03, 0x00, 0x01}, 3);
  CHECK_EQ(stats().att_rx_unexpected, s0.att_rx_unexpected + 3);
  CHECK_EQ(count_on(L2CAP_CID_ATT, m), 0);
  /* Malformed values from a "server": no event, no confirmation. */
  att_in((uint8_t[]){0x1B, 0}, 2);
  att_in((uint8_t[]){0x1D, 0, 0, 'x'}, 4);
  CHECK_EQ(stats().att_rx_malformed, s0.att_rx_malformed + 2);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_NOTIFY) + count_ev(UVBLE_IRQ_GATTC_INDICATE), 0);
  CHECK_EQ(count_on(L2CAP_CID_ATT, m), 0);
  alive();
  finish();
}

TEST(prepare_write_flood_is_bounded) {
  bring_server();
  uint8_t pw[4 + 18] = {0x16, (uint8_t)value_handle, (uint8_t)(value_handle >> 8)};
  int full_at = -1;
  for (int k = 0; k < UVBLE_GATTS_PREPARE_MAX_ENTRIES + 8 && full_at < 0; k++) {
    int m = mark();
    pw[3] = (uint8_t)(k * 18);
    pw[4] = (uint8_t)((k * 18) >> 8);
    att_in(pw, sizeof pw - 1);
    const struct pdu *p = sent_on(L2CAP_CID_ATT, m, 0);
    REQUIRE(p != NULL);
    if (p->d[0] == 0x01) {
      CHECK_EQ(p->d[4], UVBLE_ATT_ERR_PREPARE_QUEUE_FULL);
      full_at = k;
    } else {
      CHECK_EQ(p->d[0], 0x17); /* Prepare Write Response echoes */
    }
  }
  /* The queue filled at its limit, not before and not beyond. */
  CHECK_EQ(full_at, UVBLE_GATTS_PREPARE_MAX_ENTRIES);
  /* Executing what was queued would write past 512 bytes: refused. */
  int m = mark();
  att_in((uint8_t[]){0x18, 0x01}, 2);
  const struct pdu *p = sent_on(L2CAP_CID_ATT, m, 0);
  REQUIRE(p != NULL);
  CHECK_EQ(p->d[0], 0x01);
  CHECK_EQ(p->d[1], 0x18);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 0);
  /* The queue was emptied: a small prepared write now goes through. */
  m = mark();
  uint8_t small[7] = {0x16, (uint8_t)value_handle, (uint8_t)(value_handle >> 8), 0, 0, 'o', 'k'};
  att_in(small, sizeof small);
  att_in((uint8_t[]){0x18, 0x01}, 2);
  p = sent_on(L2CAP_CID_ATT, m, 1);
  REQUIRE(p != NULL);
  CHECK_EQ(p->d[0], 0x19);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTS_WRITE), 1);
  alive();
  finish();
}

TEST_MAIN()
