/* SPDX-License-Identifier: Apache-2.0 */
/* Hostile-input regressions, Security Manager (the SweynTooth family's
 * "Key Size Overflow" and "DHCheck Skipping", and the invalid-curve attack
 * of CVE-2018-5383): a peer playing the central PDU by PDU
 * (test_smp_peer.h) sends a public key that is not on P-256, asks for key
 * sizes below the minimum or above 16, and starts encryption without the
 * DHKey Check. Each asserts Pairing Failed with the reason the Core
 * Specification gives (Vol 3, Part H, 3.5.5 / 2.3.5.6), that no key reaches
 * the controller and the link stays unencrypted, and that the link still
 * serves ATT afterwards. */
#include "test_smp_peer.h"

static const uint8_t Z8[8];

/* The peer reads the Device Name: the link still works. */
static void alive(void) {
  REQUIRE(conn_find(ble, H) != NULL);
  size_t before = sc_acl_count(sc);
  uint8_t req[7] = {3, 0, 4, 0, 0x0A, 3, 0};
  sc_send_acl(sc, H, 2, req, sizeof req);
  run_until_idle(&loop, 5000);
  bool answered = false;
  for (size_t i = before; i < sc_acl_count(sc); i++) {
    const struct sc_acl_rec *a = sc_acl(sc, i);
    if (a->len >= 5 && a->data[2] == 4 && a->data[4] == 0x0B) answered = true;
  }
  CHECK(answered);
}

/* No LTK was ever handed to the controller, the link is not encrypted and
 * an LTK request now is refused. */
static void no_key_out(void) {
  CHECK(sc_find_cmd(sc, 0x201A, 0) < 0);
  CHECK(!conn_find(ble, H)->encrypted);
  int refused = 0;
  while (sc_find_cmd(sc, 0x201B, refused) >= 0) refused++;
  inject_ltk_request(0, Z8);
  CHECK(sc_find_cmd(sc, 0x201B, refused) >= 0);
  CHECK(sc_find_cmd(sc, 0x201A, 0) < 0);
}

static uint64_t refused(void) {
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  return st.smp_rx_refused;
}

static void pairing_req(uint8_t auth, uint8_t maxk) {
  uint8_t req[7] = {SMP_PAIRING_REQ, UVBLE_IO_NO_INPUT_OUTPUT, 0, auth, maxk, 0, 0};
  smp_in(req, 7);
}

TEST(public_key_not_on_the_curve_fails_pairing) {
  /* Three invalid keys: Y flipped (off the curve), X not below the field
   * prime, and the point at infinity (all zero). Each on a fresh link:
   * a failure starts the repeated-attempts wait. */
  for (int kind = 0; kind < 3; kind++) {
    bring(1);
    pairing_req(0x09, 16);
    EXPECT_PDU(SMP_PAIRING_RSP, 6, NULL);
    uint8_t priv[32], pub[64];
    REQUIRE_EQ(uvble_sm_p256_generate(priv, pub), 0);
    if (kind == 0) pub[40] ^= 1;
    if (kind == 1) memset(pub, 0xff, 32); /* X >= p (little endian) */
    if (kind == 2) memset(pub, 0, 64);
    CHECK(uvble_sm_p256_check_public(pub) != 0);
    uint64_t r0 = refused();
    smp_in2(SMP_PUBLIC_KEY, pub, 64);
    /* DHKey Check Failed: the spec's answer to an invalid public key. */
    EXPECT_FAILED(UVBLE_SMP_DHKEY_CHECK_FAILED);
    CHECK_EQ(refused(), r0 + 1);
    REQUIRE_EQ(enc_events, 1);
    CHECK_EQ(enc.status, UVBLE_SMP_DHKEY_CHECK_FAILED);
    CHECK(!enc.encrypted);
    /* Our own public key was never sent in answer to a bad one. */
    EXPECT_NOTHING();
    no_key_out();
    alive();
    finish();
  }
}

TEST(key_sizes_outside_the_limits_fail_pairing) {
  bring(1);
  /* Vol 3, Part H, 3.5.1: Maximum Encryption Key Size is 7..16 octets.
   * Outside that range (0, 6, 17, 255) the parameter is invalid: Pairing
   * Failed "Invalid Parameters" (0x0A, 3.5.5). In range but below our
   * minimum (16 by default: 7, 15): "Encryption Key Size" (0x06). Each
   * before any pairing begins, so the app hears nothing. */
  static const struct {
    uint8_t size, reason;
  } cases[] = {{0, 0x0A}, {6, 0x0A}, {7, 0x06}, {15, 0x06}, {17, 0x0A},
               {255, 0x0A}};
  size_t n = sizeof cases / sizeof cases[0];
  uint64_t r0 = refused();
  for (size_t k = 0; k < n; k++) {
    pairing_req(0x09, cases[k].size);
    EXPECT_FAILED(cases[k].reason);
    pairing_req(0x01, cases[k].size); /* legacy alike */
    EXPECT_FAILED(cases[k].reason);
  }
  CHECK_EQ(enc_events, 0);
  CHECK_EQ(refused(), r0 + 2 * n);
  no_key_out();
  alive();
  /* A valid request is still answered on the same link. */
  pairing_req(0x09, 16);
  EXPECT_PDU(SMP_PAIRING_RSP, 6, NULL);
  finish();
}

TEST(key_size_below_a_lowered_minimum_is_accepted) {
  /* With our minimum lowered to 7, a peer's 7 is fine: the range check
   * does not stand in for the minimum. */
  bring(1);
  REQUIRE_EQ(uvble_security_set_min_key_size(ble, 7), 0);
  pairing_req(0x09, 7);
  EXPECT_PDU(SMP_PAIRING_RSP, 6, NULL);
  REQUIRE_EQ(uvble_security_set_min_key_size(ble, 16), 0);
  finish();
}

TEST(central_role_refuses_a_response_with_a_bad_key_size) {
  /* Out of 7..16: Invalid Parameters; in range, below our 16: Encryption
   * Key Size (Vol 3, Part H, 3.5.1, 3.5.5). */
  static const struct {
    uint8_t size, reason;
  } cases[] = {{17, 0x0A}, {7, 0x06}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    bring(0); /* we are central */
    REQUIRE_EQ(uvble_gap_pair(ble, H), 0);
    uint8_t req[6];
    EXPECT_PDU(SMP_PAIRING_REQ, 6, req);
    uint8_t rsp[7] = {SMP_PAIRING_RSP, UVBLE_IO_NO_INPUT_OUTPUT, 0, 0x09,
                      cases[k].size, 0, 0};
    uint64_t r0 = refused();
    smp_in(rsp, 7);
    EXPECT_FAILED(cases[k].reason);
    CHECK_EQ(refused(), r0 + 1);
    REQUIRE_EQ(enc_events, 1);
    CHECK_EQ(enc.status, cases[k].reason);
    CHECK(sc_find_cmd(sc, 0x2019, 0) < 0); /* no encryption started */
    alive();
    finish();
  }
}

TEST(encryption_started_without_the_dhkey_check_is_refused) {
  bring(1);
  struct peer p;
  memset(&p, 0, sizeof p);
  p.central = true;
  uint8_t req[7] = {SMP_PAIRING_REQ, UVBLE_IO_NO_INPUT_OUTPUT, 0, 0x09, 16, 0, 0};
  memcpy(p.preq, req, 7);
  smp_in(req, 7);
  EXPECT_PDU(SMP_PAIRING_RSP, 6, p.pres + 1);
  p.pres[0] = SMP_PAIRING_RSP;
  REQUIRE_EQ(uvble_sm_p256_generate(p.priv, p.pub), 0);
  smp_in2(SMP_PUBLIC_KEY, p.pub, 64);
  EXPECT_PDU(SMP_PUBLIC_KEY, 64, p.host_pub);
  EXPECT_PDU(SMP_PAIRING_CONFIRM, 16, p.c_host);
  REQUIRE_EQ(uvble_sm_random(p.n_own, 16), 0);
  smp_in2(SMP_PAIRING_RANDOM, p.n_own, 16);
  EXPECT_PDU(SMP_PAIRING_RANDOM, 16, p.n_host);
  /* Here the central owes its DHKey Check Ea. It skips it and starts
   * encryption: the controller asks us for the LTK. The LTK is computable
   * by now (f5), but the peer has proved nothing: the request is refused
   * and no key reaches the controller. */
  uvble_stats_t st0, st1;
  uvble_get_stats(ble, &st0);
  inject_ltk_request(0, Z8);
  uvble_get_stats(ble, &st1);
  CHECK_EQ(st1.smp_ltk_refused, st0.smp_ltk_refused + 1);
  CHECK(sc_find_cmd(sc, 0x201B, 0) >= 0);
  CHECK(sc_find_cmd(sc, 0x201A, 0) < 0);
  CHECK(!conn_find(ble, H)->encrypted);
  /* The attempt is refused, not fatal: the app has heard nothing yet. */
  CHECK_EQ(enc_events, 0);
  /* Once the central does send a correct DHKey Check, the pairing ends as
   * the spec says: our Eb, and only then the LTK for an encryption start. */
  uint8_t ea[16], eb[16], got[16], ltk[16];
  REQUIRE_EQ(uvble_sm_p256_dhkey(p.priv, p.host_pub, p.dhkey), 0);
  sc_checks(&p, (const uint8_t[16]){0}, ea, eb);
  smp_in2(SMP_DHKEY_CHECK, ea, 16);
  EXPECT_PDU(SMP_DHKEY_CHECK, 16, got);
  CHECK_MEM(got, eb, 16);
  inject_ltk_request(0, Z8);
  REQUIRE(ltk_replied(0, ltk));
  CHECK_MEM(ltk, p.ltk, 16);
  alive();
  finish();
}

TEST_MAIN()
