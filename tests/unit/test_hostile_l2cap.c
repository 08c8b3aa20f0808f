/* SPDX-License-Identifier: Apache-2.0 */
/* Hostile-input regressions, ACL and L2CAP (the SweynTooth family's
 * "Truncated L2CAP", "Silent Length Overflow", "Invalid L2CAP Fragment" and
 * relatives, seen from the host): zero-length and truncated frames, ACL
 * continuations without a start, L2CAP lengths that disagree with the data,
 * unknown fixed channels, signalling commands with bad lengths, and
 * credit-based channels fed K-frames over the MPS, SDUs over the MTU and
 * credit counts past 65535. Each case asserts the Core Specification's
 * response (nothing, Command Reject, a channel Disconnection Request), the
 * counter, and that the stack still works afterwards (hostile_common.h). */
#include "hostile_common.h"

#define PSM 0x0080
#define OUR_MTU 100
#define OUR_MPS 23

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

TEST(zero_length_and_truncated_frames_are_dropped) {
  bring(1);
  uvble_stats_t s0 = stats();
  int m = mark();
  /* An ACL start carrying nothing. */
  acl_raw(2, NULL, 0);
  CHECK_EQ(stats().acl_rx_dropped, s0.acl_rx_dropped + 1);
  /* An empty ATT PDU (L2CAP length 0): no opcode to answer. */
  att_in(NULL, 0);
  CHECK_EQ(stats().att_rx_malformed, s0.att_rx_malformed + 1);
  /* An empty signalling frame: no command to reject. */
  uvble_l2cap_stats_t l0 = l2stats();
  l2cap_in(L2CAP_CID_LE_SIGNALING, NULL, 0);
  CHECK_EQ(l2stats().sig_malformed, l0.sig_malformed + 1);
  CHECK_EQ(count_on(L2CAP_CID_ATT, m) + count_on(L2CAP_CID_LE_SIGNALING, m), 0);
  /* A basic header cut after 2 bytes, then a new start: the partial PDU is
   * abandoned (Vol 3, Part A, 7.2.2) and the new one is served. */
  s0 = stats();
  acl_raw(2, (uint8_t[]){0x03, 0x00}, 2);
  alive();
  CHECK_EQ(stats().acl_rx_dropped, s0.acl_rx_dropped + 1);
  /* A header cut short and then the link drops: nothing leaks (ASan). */
  acl_raw(2, (uint8_t[]){0x05, 0x00, 0x04}, 3);
  finish();
}

TEST(continuation_without_start_is_dropped) {
  bring(1);
  uvble_stats_t s0 = stats();
  int m = mark();
  /* A complete-looking Read Request, sent as a continuation. */
  uint8_t pdu[7] = {3, 0, 4, 0, 0x0A, UVBLE_GATTS_DEVICE_NAME_HANDLE, 0};
  acl_raw(1, pdu, sizeof pdu);
  acl_raw(1, pdu, sizeof pdu);
  CHECK_EQ(stats().acl_rx_no_start, s0.acl_rx_no_start + 2);
  CHECK_EQ(count_on(L2CAP_CID_ATT, m), 0);
  alive();
  finish();
}

TEST(l2cap_length_larger_than_the_data) {
  bring(1);
  uvble_stats_t s0 = stats();
  int m = mark();
  /* Says 100 bytes, carries 3; a new start follows. */
  uint8_t part[7] = {100, 0, 4, 0, 0x0A, UVBLE_GATTS_DEVICE_NAME_HANDLE, 0};
  acl_raw(2, part, sizeof part);
  CHECK_EQ(count_on(L2CAP_CID_ATT, m), 0); /* still waiting for 97 bytes */
  alive();
  CHECK_EQ(stats().acl_rx_dropped, s0.acl_rx_dropped + 1);
  /* Says 10 bytes, then continuations bring 11: the PDU is dropped as soon
   * as it overruns, and the rest of it is ignored. */
  s0 = stats();
  m = mark();
  acl_raw(2, (uint8_t[]){10, 0, 4, 0, 0x0A, 3}, 6);
  acl_raw(1, (uint8_t[]){0, 1, 2, 3, 4, 5, 6, 7, 8}, 9);
  acl_raw(1, (uint8_t[]){8, 9}, 2);
  CHECK_EQ(stats().acl_rx_overflow, s0.acl_rx_overflow + 1);
  CHECK_EQ(count_on(L2CAP_CID_ATT, m), 0);
  /* A length beyond what the host reassembles (65535): refused at the
   * header, continuations discarded without buffering. */
  s0 = stats();
  acl_raw(2, (uint8_t[]){0xff, 0xff, 4, 0, 0x0A}, 5);
  for (int k = 0; k < 4; k++) acl_raw(1, (uint8_t[200]){0}, 200);
  CHECK_EQ(stats().acl_rx_overflow, s0.acl_rx_overflow + 1);
  CHECK_EQ(conn_find(ble, H)->rx_cap < 1024, true);
  alive();
  finish();
}

TEST(l2cap_length_smaller_than_the_data) {
  bring(1);
  uvble_stats_t s0 = stats();
  int m = mark();
  /* Says 3 bytes (a whole Read Request), carries 10. */
  acl_raw(2, (uint8_t[]){3, 0, 4, 0, 0x0A, 3, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3}, 14);
  CHECK_EQ(stats().acl_rx_overflow, s0.acl_rx_overflow + 1);
  CHECK_EQ(count_on(L2CAP_CID_ATT, m), 0);
  alive();
  finish();
}

TEST(unknown_fixed_channels_are_counted_and_ignored) {
  bring(1);
  uvble_stats_t s0 = stats();
  int m = mark();
  l2cap_in(0x0003, (uint8_t[]){1, 2, 3}, 3); /* AMP manager: not on LE */
  l2cap_in(0x0001, (uint8_t[]){0x02, 1, 2, 0, 1, 0}, 6); /* BR/EDR signalling */
  l2cap_in(0x0020, (uint8_t[]){0x0A, 3, 0}, 3);           /* unassigned */
  l2cap_in(0x0040, (uint8_t[]){0, 0, 1}, 3);              /* no such channel */
  CHECK_EQ(stats().l2cap_rx_unknown_cid, s0.l2cap_rx_unknown_cid + 4);
  CHECK_EQ(count_on(L2CAP_CID_LE_SIGNALING, m), 0);
  alive();
  finish();
}

/* Expects one Command Reject with ident and reason after `from`. */
static void expect_reject(int from, uint8_t ident, uint16_t reason) {
  const struct pdu *p = sent_on(L2CAP_CID_LE_SIGNALING, from, 0);
  REQUIRE(p != NULL);
  REQUIRE(p->len >= 6);
  CHECK_EQ(p->d[0], 0x01);
  CHECK_EQ(p->d[1], ident);
  CHECK_EQ(le16(p->d + 2), p->len - 4);
  CHECK_EQ(le16(p->d + 4), reason);
  CHECK_EQ(count_on(L2CAP_CID_LE_SIGNALING, from), 1);
}

TEST(signalling_commands_with_bad_lengths_get_command_reject) {
  bring(1);
  REQUIRE_EQ(uvble_l2cap_listen(ble, PSM, OUR_MTU), 0);
  struct {
    uint8_t code;
    size_t len; /* what the data carries; the right length differs */
  } cases[] = {
      {0x06, 2},  /* Disconnection Request: 4 */
      {0x06, 6},
      {0x14, 8},  /* LE Credit Based Connection Request: 10 */
      {0x14, 12},
      {0x16, 2},  /* Flow Control Credit Indication: 4 */
      {0x17, 7},  /* Credit Based Connection Request: 8 + 2n */
      {0x0A, 0},  /* Information Request (BR/EDR only): unknown on LE */
  };
  uint8_t data[16] = {PSM, 0, 0x40, 0, 100, 0, 23, 0, 1, 0, 0, 0};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    uvble_l2cap_stats_t l0 = l2stats();
    int m = mark();
    uint8_t ident = (uint8_t)(0x20 + k);
    sig_in(cases[k].code, ident, data, cases[k].len);
    /* Command not understood (Vol 3, Part A, 4.1), echoing the identifier. */
    expect_reject(m, ident, 0x0000);
    CHECK_EQ(l2stats().sig_rejects_sent, l0.sig_rejects_sent + 1);
    CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_ACCEPT), 0);
  }
  /* The length field of the header disagrees with the frame: longer, then
   * shorter than what follows. */
  int m = mark();
  l2cap_in(L2CAP_CID_LE_SIGNALING, (uint8_t[]){0x06, 0x31, 10, 0, 0x40, 0, 0x41, 0}, 8);
  expect_reject(m, 0x31, 0x0000);
  m = mark();
  l2cap_in(L2CAP_CID_LE_SIGNALING, (uint8_t[]){0x06, 0x32, 2, 0, 0x40, 0, 0x41, 0}, 8);
  expect_reject(m, 0x32, 0x0000);
  /* Identifier 0 is never valid: dropped, not answered. */
  uvble_l2cap_stats_t l0 = l2stats();
  m = mark();
  sig_in(0x06, 0x00, data, 2);
  CHECK_EQ(count_on(L2CAP_CID_LE_SIGNALING, m), 0);
  CHECK_EQ(l2stats().sig_malformed, l0.sig_malformed + 1);
  /* Signalling still works: a request for an SPSM nobody listens on gets
   * its response (result 0x0002). */
  m = mark();
  sig_in(0x14, 0x40, (uint8_t[]){0x81, 0, 0x40, 0, 100, 0, 23, 0, 1, 0}, 10);
  const struct pdu *p = sent_on(L2CAP_CID_LE_SIGNALING, m, 0);
  REQUIRE(p != NULL);
  CHECK_EQ(p->d[0], 0x15);
  CHECK_EQ(p->d[1], 0x40);
  CHECK_EQ(le16(p->d + 12), UVBLE_L2CAP_RESULT_SPSM_NOT_SUPPORTED);
  alive();
  finish();
}

/* The peer opens a channel to our listener (its CID peer_cid, MPS 23, 10
 * credits); returns our CID. */
static uint16_t peer_opens(uint16_t peer_cid, uint8_t ident) {
  int before = count_ev(UVBLE_IRQ_L2CAP_CONNECT);
  int m = mark();
  uint8_t req[10] = {PSM, 0, (uint8_t)peer_cid, (uint8_t)(peer_cid >> 8), 200, 0, 23, 0, 10, 0};
  sig_in(0x14, ident, req, 10);
  const struct pdu *p = sent_on(L2CAP_CID_LE_SIGNALING, m, 0);
  REQUIRE(p != NULL);
  REQUIRE_EQ(p->d[0], 0x15);
  REQUIRE_EQ(p->len, 14);
  REQUIRE_EQ(le16(p->d + 12), UVBLE_L2CAP_RESULT_SUCCESS);
  CHECK_EQ(le16(p->d + 6), OUR_MTU);
  CHECK_EQ(le16(p->d + 8), OUR_MPS);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_L2CAP_CONNECT), before + 1);
  return le16(p->d + 4);
}

/* We closed the channel for a protocol violation: a Disconnection Request
 * names both ends; once answered, the app hears L2CAP_DISCONNECT EPROTO. */
static void expect_closed(int from, uint16_t cid, uint16_t peer_cid) {
  const struct pdu *p = NULL;
  for (int n = 0; (p = sent_on(L2CAP_CID_LE_SIGNALING, from, n)) != NULL; n++)
    if (p->d[0] == 0x06) break;
  REQUIRE(p != NULL);
  REQUIRE_EQ(p->len, 8);
  CHECK_EQ(le16(p->d + 4), peer_cid);
  CHECK_EQ(le16(p->d + 6), cid);
  sig_in(0x07, p->d[1], (uint8_t[]){(uint8_t)peer_cid, 0, (uint8_t)cid, 0}, 4);
  const uvble_irq_data_t *e = last_ev(UVBLE_IRQ_L2CAP_DISCONNECT);
  REQUIRE(e != NULL);
  CHECK_EQ(e->l2cap_disconnect.cid, cid);
  CHECK_EQ(e->l2cap_disconnect.status, UVBLE_EPROTO);
  CHECK_EQ(uvble_l2cap_recvinto(ble, H, cid, NULL, 0), UVBLE_ENOTCONN);
}

TEST(credit_based_channel_violations_close_only_that_channel) {
  bring(1);
  REQUIRE_EQ(uvble_l2cap_set_opt(ble, UVBLE_L2CAP_OPT_MPS, OUR_MPS), 0);
  REQUIRE_EQ(uvble_l2cap_listen(ble, PSM, OUR_MTU), 0);
  uint16_t keep = peer_opens(0x70, 1); /* a bystander channel */

  /* A K-frame one byte over our MPS. */
  int m = mark();
  uint16_t cid = peer_opens(0x71, 2);
  uint8_t k[64] = {10, 0};
  l2cap_in(cid, k, OUR_MPS + 1);
  CHECK_EQ(l2stats().viol_kframe_over_mps, 1);
  expect_closed(m, cid, 0x71);

  /* An SDU announced longer than our MTU. */
  m = mark();
  cid = peer_opens(0x72, 3);
  k[0] = OUR_MTU + 1;
  l2cap_in(cid, k, 10);
  CHECK_EQ(l2stats().viol_sdu_over_mtu, 1);
  expect_closed(m, cid, 0x72);
  CHECK_EQ(count_ev(UVBLE_IRQ_L2CAP_RECV), 0);

  /* Credits pushed past 65535: 10 granted, then 65526 more. */
  m = mark();
  cid = peer_opens(0x73, 4);
  sig_in(0x16, 5, (uint8_t[]){0x73, 0, 0xf6, 0xff}, 4);
  CHECK_EQ(l2stats().viol_credit_overflow, 1);
  expect_closed(m, cid, 0x73);

  /* The same CID value once more: a credit indication naming a closed
   * channel is ignored and counted. */
  uvble_l2cap_stats_t l0 = l2stats();
  sig_in(0x16, 6, (uint8_t[]){0x73, 0, 1, 0}, 4);
  CHECK_EQ(l2stats().credits_ignored, l0.credits_ignored + 1);

  /* The bystander still carries data, and a new channel opens and works. */
  uint8_t sdu[12] = {10, 0, 'b', 'y', 's', 't', 'a', 'n', 'd', 'e', 'r', '!'};
  l2cap_in(keep, sdu, sizeof sdu);
  uint8_t got[16];
  CHECK_EQ(uvble_l2cap_recvinto(ble, H, keep, got, sizeof got), 10);
  CHECK_MEM(got, "bystander!", 10);
  cid = peer_opens(0x74, 7);
  l2cap_in(cid, sdu, sizeof sdu);
  CHECK_EQ(uvble_l2cap_recvinto(ble, H, cid, got, sizeof got), 10);
  alive();
  finish();
}

TEST(a_storm_of_malformed_frames_then_normal_service) {
  bring(1);
  REQUIRE_EQ(uvble_l2cap_listen(ble, PSM, OUR_MTU), 0);
  /* A deterministic mix of every kind above, 2000 frames. */
  uint32_t x = 0x12345678;
  for (int i = 0; i < 2000; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    uint8_t f[40];
    for (int k = 0; k < 40; k++) f[k] = (uint8_t)(x >> (k % 24));
    size_t n = x % 40;
    uint8_t pb = (x >> 8) & 1 ? 2 : 1;
    if ((x >> 9) % 3 == 0) {
      f[2] = (uint8_t)(4 + (x >> 12) % 3); /* ATT, signalling or SMP */
      f[3] = 0;
    }
    sc_send_acl(sc, H, pb, f, n);
    if (i % 100 == 0) run_until_idle(&loop, 5000);
  }
  run_until_idle(&loop, 5000);
  REQUIRE(conn_find(ble, H) != NULL);
  alive();
  /* The link still goes down cleanly. */
  CHECK_EQ(uvble_gap_disconnect(ble, H), 1);
  run_until_idle(&loop, 5000);
  CHECK_EQ(count_ev(UVBLE_IRQ_CENTRAL_DISCONNECT), 1);
  finish();
}

TEST_MAIN()
