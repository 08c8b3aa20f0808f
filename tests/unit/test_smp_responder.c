/* SPDX-License-Identifier: Apache-2.0 */
/* SMP with us as peripheral (responder), the test playing the central PDU
 * by PDU: the values the spec defines (confirms, STK, LTK, DHKey checks,
 * the key handed to the controller), key distribution, re-encryption from
 * storage, and every way a central can get it wrong. */
#include "test_smp_peer.h"

static const uint8_t Z8[8];
static const uint8_t Z16[16];

static void peer_req(struct peer *p, uint8_t io, uint8_t auth, uint8_t maxk,
                     uint8_t idist, uint8_t rdist) {
  memset(p, 0, sizeof *p);
  p->central = true;
  uint8_t req[7] = {SMP_PAIRING_REQ, io, 0, auth, maxk, idist, rdist};
  memcpy(p->preq, req, 7);
  smp_in(req, 7);
}

static void expect_rsp(struct peer *p) {
  EXPECT_PDU(SMP_PAIRING_RSP, 6, p->pres + 1);
  p->pres[0] = SMP_PAIRING_RSP;
}

/* Public keys exchanged: the host's answer captured, DHKey computed. */
static void sc_keys(struct peer *p) {
  REQUIRE_EQ(uvble_sm_p256_generate(p->priv, p->pub), 0);
  smp_in2(SMP_PUBLIC_KEY, p->pub, 64);
  EXPECT_PDU(SMP_PUBLIC_KEY, 64, p->host_pub);
  REQUIRE_EQ(uvble_sm_p256_dhkey(p->priv, p->host_pub, p->dhkey), 0);
}

/* Just Works stage 1: Cb, Na, Nb, Cb checked. */
static void sc_jw_stage1(struct peer *p) {
  EXPECT_PDU(SMP_PAIRING_CONFIRM, 16, p->c_host);
  REQUIRE_EQ(uvble_sm_random(p->n_own, 16), 0);
  smp_in2(SMP_PAIRING_RANDOM, p->n_own, 16);
  EXPECT_PDU(SMP_PAIRING_RANDOM, 16, p->n_host);
  uint8_t cb[16];
  REQUIRE_EQ(uvble_sm_f4(p->host_pub, p->pub, p->n_host, 0, cb), 0);
  CHECK_MEM(cb, p->c_host, 16);
}

TEST(sc_just_works_values_match_the_spec_then_keys_and_reencryption) {
  bring(1);
  struct peer p;
  peer_req(&p, UVBLE_IO_NO_INPUT_OUTPUT, 0x09, 16, 0x07, 0x07);
  expect_rsp(&p);
  /* NoInputNoOutput, bonding + SC, 16, EncKey dropped under SC. */
  CHECK_EQ(p.pres[1], UVBLE_IO_NO_INPUT_OUTPUT);
  CHECK_EQ(p.pres[2], 0);
  CHECK_EQ(p.pres[3], 0x09);
  CHECK_EQ(p.pres[4], 16);
  CHECK_EQ(p.pres[5], 0x06);
  CHECK_EQ(p.pres[6], 0x06);
  sc_keys(&p);
  sc_jw_stage1(&p);
  uint8_t ea[16], eb[16], got[16];
  sc_checks(&p, Z16, ea, eb);
  smp_in2(SMP_DHKEY_CHECK, ea, 16);
  EXPECT_PDU(SMP_DHKEY_CHECK, 16, got);
  CHECK_MEM(got, eb, 16);
  /* The controller asks for the key: the f5 LTK, EDIV and Rand zero. */
  inject_ltk_request(0, Z8);
  uint8_t ltk[16];
  REQUIRE(ltk_replied(0, ltk));
  CHECK_MEM(ltk, p.ltk, 16);
  CHECK_EQ(enc_events, 0);
  inject_enc_change(0, 1);
  /* We distribute first: IdKey, SignKey (3.6.1). */
  uint8_t irk[16], ai[7], csrk[16];
  EXPECT_PDU(SMP_ID_INFO, 16, irk);
  EXPECT_PDU(SMP_ID_ADDR_INFO, 7, ai);
  CHECK_EQ(ai[0], 0);
  CHECK_MEM(ai + 1, OWN, 6);
  EXPECT_PDU(SMP_SIGN_INFO, 16, csrk);
  EXPECT_NOTHING();
  CHECK_EQ(enc_events, 0); /* the central's keys are due */
  uint8_t pirk[16] = {9, 8, 7}, pai[7] = {0}, pcsrk[16] = {5};
  memcpy(pai + 1, PEER, 6);
  smp_in2(SMP_ID_INFO, pirk, 16);
  smp_in2(SMP_ID_ADDR_INFO, pai, 7);
  smp_in2(SMP_SIGN_INFO, pcsrk, 16);
  REQUIRE_EQ(enc_events, 1);
  CHECK_EQ(enc.status, 0);
  CHECK(enc.encrypted);
  CHECK(!enc.authenticated);
  CHECK(enc.bonded);
  CHECK_EQ(enc.key_size, 16);
  CHECK_EQ(nsecs(UVBLE_SECRET_OUR_SEC), 1);
  CHECK_EQ(nsecs(UVBLE_SECRET_PEER_SEC), 1);
  /* Our IRK as distributed is the one kept under sec_type 10. */
  int i = find_sec(UVBLE_SECRET_OUR_IRK, (const uint8_t *)"irk", 3);
  REQUIRE(i >= 0);
  CHECK_MEM(secs[i].val, irk, 16);
  struct keys_bond kb;
  uvble_addr_t pid = {0, {0x66, 0x55, 0x44, 0x33, 0x22, 0x11}};
  REQUIRE_EQ(keys_bond_load(ble, UVBLE_SECRET_PEER_SEC, &pid, &kb), 0);
  CHECK_MEM(kb.irk, pirk, 16);
  CHECK_MEM(kb.csrk, pcsrk, 16);
  CHECK_MEM(kb.ltk, p.ltk, 16);

  /* Reconnection: the central encrypts with the stored LTK. */
  inject_ltk_request(0, Z8);
  REQUIRE(ltk_replied(1, ltk));
  CHECK_MEM(ltk, p.ltk, 16);
  inject_enc_change(0, 1);
  REQUIRE_EQ(enc_events, 2);
  CHECK(enc.bonded);
  CHECK_EQ(enc.status, 0);
  /* An SC key has EDIV and Rand zero: anything else is not ours. */
  inject_ltk_request(1, Z8);
  CHECK(sc_find_cmd(sc, 0x201B, 0) >= 0);
  finish();
}

TEST(legacy_just_works_stk_and_distributed_ltk_match_the_spec) {
  bring(1);
  struct peer p;
  peer_req(&p, UVBLE_IO_NO_INPUT_OUTPUT, 0x01, 16, 0x07, 0x07);
  expect_rsp(&p);
  CHECK_EQ(p.pres[5], 0x07);
  CHECK_EQ(p.pres[6], 0x07);
  uint8_t mconf[16], sconf[16];
  REQUIRE_EQ(uvble_sm_random(p.n_own, 16), 0); /* Mrand */
  legacy_confirm(&p, p.n_own, mconf);
  smp_in2(SMP_PAIRING_CONFIRM, mconf, 16);
  EXPECT_PDU(SMP_PAIRING_CONFIRM, 16, p.c_host);
  smp_in2(SMP_PAIRING_RANDOM, p.n_own, 16);
  EXPECT_PDU(SMP_PAIRING_RANDOM, 16, p.n_host); /* Srand */
  legacy_confirm(&p, p.n_host, sconf);
  CHECK_MEM(sconf, p.c_host, 16);
  /* 2.3.5.5: STK = s1(TK, Srand, Mrand). */
  uint8_t stk[16], ltk[16];
  REQUIRE_EQ(uvble_sm_s1(p.tk, p.n_host, p.n_own, stk), 0);
  inject_ltk_request(0, Z8);
  REQUIRE(ltk_replied(0, ltk));
  CHECK_MEM(ltk, stk, 16);
  inject_enc_change(0, 1);
  uint8_t hltk[16], hci[10], irk[16], ai[7], csrk[16];
  EXPECT_PDU(SMP_ENC_INFO, 16, hltk);
  EXPECT_PDU(SMP_CENTRAL_IDENT, 10, hci);
  EXPECT_PDU(SMP_ID_INFO, 16, irk);
  EXPECT_PDU(SMP_ID_ADDR_INFO, 7, ai);
  EXPECT_PDU(SMP_SIGN_INFO, 16, csrk);
  uint8_t k[16] = {1, 2, 3}, ci[10] = {0x34, 0x12, 1, 2, 3, 4, 5, 6, 7, 8};
  uint8_t pai[8] = {0};
  memcpy(pai + 1, PEER, 6);
  smp_in2(SMP_ENC_INFO, k, 16);
  smp_in2(SMP_CENTRAL_IDENT, ci, 10);
  smp_in2(SMP_ID_INFO, k, 16);
  smp_in2(SMP_ID_ADDR_INFO, pai, 7);
  smp_in2(SMP_SIGN_INFO, k, 16);
  REQUIRE_EQ(enc_events, 1);
  CHECK_EQ(enc.status, 0);
  CHECK(enc.bonded);
  /* The central comes back with the EDIV/Rand we gave it. */
  uint16_t ediv = get_le16(hci);
  inject_ltk_request(ediv, hci + 2);
  REQUIRE(ltk_replied(1, ltk));
  CHECK_MEM(ltk, hltk, 16);
  inject_enc_change(0, 1);
  CHECK_EQ(enc_events, 2);
  CHECK(enc.bonded);
  inject_ltk_request((uint16_t)(ediv ^ 1), hci + 2);
  CHECK(sc_find_cmd(sc, 0x201B, 0) >= 0);
  finish();
}

TEST(central_resuming_a_bond_we_do_not_hold_is_reported) {
  bring(1);
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  uint64_t refused0 = st.smp_ltk_refused;
  static const uint8_t r[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  inject_ltk_request(0x1234, r);
  CHECK(sc_find_cmd(sc, 0x201B, 0) >= 0); /* Negative Reply */
  REQUIRE_EQ(enc_events, 1);
  CHECK_EQ(enc.status, UVBLE_EHCI);
  CHECK_EQ(enc.hci_status, 0x06);
  CHECK(enc.stale_bond);
  CHECK(!enc.encrypted);
  /* A controller that reports the failure as well: told once. */
  inject_enc_change(0x06, 0);
  CHECK_EQ(enc_events, 1);
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.smp_ltk_refused, refused0 + 1);
  /* The central then pairs: an ordinary pairing, answered. */
  struct peer p;
  peer_req(&p, 3, 0x09, 16, 0, 0);
  expect_rsp(&p);
  finish();
}

TEST(legacy_passkey_we_display_and_the_tk_is_the_passkey) {
  bring(1);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_IO, UVBLE_IO_DISPLAY_ONLY), 0);
  struct peer p;
  peer_req(&p, UVBLE_IO_KEYBOARD_ONLY, 0x05, 16, 0, 0); /* bond + MITM */
  expect_rsp(&p);
  REQUIRE_EQ(passkey_events, 1);
  CHECK_EQ(pk_ev.action, UVBLE_PASSKEY_ACTION_DISPLAY);
  CHECK(pk_ev.passkey <= 999999);
  put_le32(p.tk, pk_ev.passkey);
  uint8_t mconf[16], sconf[16];
  REQUIRE_EQ(uvble_sm_random(p.n_own, 16), 0);
  legacy_confirm(&p, p.n_own, mconf);
  smp_in2(SMP_PAIRING_CONFIRM, mconf, 16);
  EXPECT_PDU(SMP_PAIRING_CONFIRM, 16, p.c_host);
  smp_in2(SMP_PAIRING_RANDOM, p.n_own, 16);
  EXPECT_PDU(SMP_PAIRING_RANDOM, 16, p.n_host);
  legacy_confirm(&p, p.n_host, sconf);
  CHECK_MEM(sconf, p.c_host, 16);
  inject_ltk_request(0, Z8);
  inject_enc_change(0, 1);
  /* No keys agreed: done at once, authenticated, not bonded. */
  REQUIRE_EQ(enc_events, 1);
  CHECK(enc.authenticated);
  CHECK(!enc.bonded);
  finish();
}

TEST(sc_passkey_we_type_twenty_rounds) {
  bring(1);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_IO, UVBLE_IO_KEYBOARD_ONLY), 0);
  const uint32_t pk = 654321;
  answer_input = (int)pk;
  struct peer p;
  peer_req(&p, UVBLE_IO_DISPLAY_ONLY, 0x0D, 16, 0, 0);
  expect_rsp(&p);
  sc_keys(&p);
  CHECK_EQ(pk_ev.action, UVBLE_PASSKEY_ACTION_INPUT);
  for (int i = 0; i < 20; i++) {
    uint8_t z = (uint8_t)(0x80 | ((pk >> i) & 1)), ca[16], cb[16];
    REQUIRE_EQ(uvble_sm_random(p.n_own, 16), 0);
    REQUIRE_EQ(uvble_sm_f4(p.pub, p.host_pub, p.n_own, z, ca), 0);
    smp_in2(SMP_PAIRING_CONFIRM, ca, 16);
    EXPECT_PDU(SMP_PAIRING_CONFIRM, 16, p.c_host);
    smp_in2(SMP_PAIRING_RANDOM, p.n_own, 16);
    EXPECT_PDU(SMP_PAIRING_RANDOM, 16, p.n_host);
    REQUIRE_EQ(uvble_sm_f4(p.host_pub, p.pub, p.n_host, z, cb), 0);
    CHECK_MEM(cb, p.c_host, 16);
  }
  uint8_t r[16] = {0}, ea[16], eb[16], got[16];
  put_le32(r, pk);
  sc_checks(&p, r, ea, eb);
  smp_in2(SMP_DHKEY_CHECK, ea, 16);
  EXPECT_PDU(SMP_DHKEY_CHECK, 16, got);
  CHECK_MEM(got, eb, 16);
  inject_ltk_request(0, Z8);
  uint8_t ltk[16];
  REQUIRE(ltk_replied(0, ltk));
  CHECK_MEM(ltk, p.ltk, 16);
  inject_enc_change(0, 1);
  REQUIRE_EQ(enc_events, 1);
  CHECK(enc.authenticated);
  finish();
}

TEST(sc_passkey_a_wrong_bit_fails_with_confirm_value_failed) {
  bring(1);
  CHECK_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_IO, UVBLE_IO_KEYBOARD_ONLY), 0);
  answer_input = 1; /* the script commits to passkey 0: bit 0 differs */
  struct peer p;
  peer_req(&p, UVBLE_IO_DISPLAY_ONLY, 0x0D, 16, 0, 0);
  expect_rsp(&p);
  sc_keys(&p);
  uint8_t ca[16];
  REQUIRE_EQ(uvble_sm_random(p.n_own, 16), 0);
  REQUIRE_EQ(uvble_sm_f4(p.pub, p.host_pub, p.n_own, 0x80, ca), 0);
  smp_in2(SMP_PAIRING_CONFIRM, ca, 16);
  EXPECT_PDU(SMP_PAIRING_CONFIRM, 16, NULL);
  smp_in2(SMP_PAIRING_RANDOM, p.n_own, 16);
  EXPECT_FAILED(UVBLE_SMP_CONFIRM_VALUE_FAILED);
  CHECK_EQ(enc.status, UVBLE_SMP_CONFIRM_VALUE_FAILED);
  finish();
}

/* ---- a central that gets it wrong ----------------------------------------- */
TEST(malformed_and_unknown_pdus) {
  bring(1);
  uint8_t req[7] = {SMP_PAIRING_REQ, 3, 0, 1, 16, 0, 0};
  smp_in(req, 6); /* truncated */
  EXPECT_FAILED(UVBLE_SMP_INVALID_PARAMS);
  smp_in((uint8_t[]){SMP_PAIRING_REQ, 3, 0, 1, 16, 0, 0, 0}, 8); /* long */
  EXPECT_FAILED(UVBLE_SMP_INVALID_PARAMS);
  smp_in((uint8_t[]){0x1F, 1, 2}, 3);
  EXPECT_FAILED(UVBLE_SMP_CMD_NOT_SUPPORTED);
  smp_in((uint8_t[]){0x00}, 1);
  EXPECT_FAILED(UVBLE_SMP_CMD_NOT_SUPPORTED);
  smp_in(req, 0); /* empty */
  EXPECT_FAILED(UVBLE_SMP_INVALID_PARAMS);
  smp_in2(SMP_PAIRING_CONFIRM, Z16, 16); /* no pairing under way */
  EXPECT_FAILED(UVBLE_SMP_UNSPECIFIED);
  smp_in2(SMP_SECURITY_REQ, (uint8_t[]){1}, 1); /* only a peripheral sends it */
  EXPECT_FAILED(UVBLE_SMP_CMD_NOT_SUPPORTED);
  smp_in2(SMP_PAIRING_RSP, req + 1, 6); /* only a responder sends it */
  EXPECT_FAILED(UVBLE_SMP_CMD_NOT_SUPPORTED);
  smp_in2(SMP_PAIRING_FAILED, (uint8_t[]){8}, 1); /* never answered */
  smp_in2(SMP_KEYPRESS, (uint8_t[]){0}, 1);
  EXPECT_NOTHING();
  CHECK_EQ(enc_events, 0); /* no procedure ran */
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.smp_rx_refused, 8); /* each refusal counted */
  /* A correct request still works afterwards. */
  smp_in(req, 7);
  EXPECT_PDU(SMP_PAIRING_RSP, 6, NULL);
  finish();
}

TEST(pairing_request_fields_out_of_range) {
  bring(1);
  struct {
    uint8_t io, oob, auth, maxk;
    uint8_t reason;
  } cases[] = {
      {5, 0, 1, 16, UVBLE_SMP_INVALID_PARAMS},      /* IO capability */
      {3, 2, 1, 16, UVBLE_SMP_INVALID_PARAMS},      /* OOB flag */
      /* Maximum Encryption Key Size outside 7..16 (3.5.1): Invalid
       * Parameters; in range but below our minimum: Encryption Key Size
       * (3.5.5). */
      {3, 0, 1, 6, UVBLE_SMP_INVALID_PARAMS},       /* below 7 */
      {3, 0, 1, 17, UVBLE_SMP_INVALID_PARAMS},      /* above 16 */
      {3, 0, 1, 15, UVBLE_SMP_ENC_KEY_SIZE},        /* below our 16 */
      {3, 1, 0x09, 16, UVBLE_SMP_OOB_NOT_AVAILABLE}, /* SC with OOB data */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t req[7] = {SMP_PAIRING_REQ, cases[i].io, cases[i].oob,
                      cases[i].auth, cases[i].maxk, 0, 0};
    smp_in(req, 7);
    EXPECT_FAILED(cases[i].reason);
  }
  /* Refused before a pairing began: nothing for the app to hear. */
  CHECK_EQ(enc_events, 0);
  CHECK_EQ(uvble_security_set_min_key_size(ble, 6), UVBLE_EINVAL);
  CHECK_EQ(uvble_security_set_min_key_size(ble, 17), UVBLE_EINVAL);
  REQUIRE_EQ(uvble_security_set_min_key_size(ble, 10), 0);
  CHECK_EQ(uvble_security_get_min_key_size(ble), 10);
  smp_in((uint8_t[]){SMP_PAIRING_REQ, 3, 0, 1, 9, 0, 0}, 7);
  EXPECT_FAILED(UVBLE_SMP_ENC_KEY_SIZE);
  /* 12 is enough now: the key is cut to 12 octets. */
  struct peer p;
  peer_req(&p, 3, 0x01, 12, 0, 0);
  expect_rsp(&p);
  uint8_t mconf[16];
  REQUIRE_EQ(uvble_sm_random(p.n_own, 16), 0);
  legacy_confirm(&p, p.n_own, mconf);
  smp_in2(SMP_PAIRING_CONFIRM, mconf, 16);
  EXPECT_PDU(SMP_PAIRING_CONFIRM, 16, NULL);
  smp_in2(SMP_PAIRING_RANDOM, p.n_own, 16);
  EXPECT_PDU(SMP_PAIRING_RANDOM, 16, p.n_host);
  uint8_t stk[16], ltk[16];
  REQUIRE_EQ(uvble_sm_s1(p.tk, p.n_host, p.n_own, stk), 0);
  memset(stk + 12, 0, 4);
  inject_ltk_request(0, Z8);
  REQUIRE(ltk_replied(0, ltk));
  CHECK_MEM(ltk, stk, 16);
  inject_enc_change(0, 1);
  CHECK_EQ(enc.key_size, 12);
  finish();
}

TEST(off_curve_public_key_fails_with_dhkey_check_failed) {
  bring(1);
  struct peer p;
  peer_req(&p, 3, 0x09, 16, 0, 0);
  expect_rsp(&p);
  REQUIRE_EQ(uvble_sm_p256_generate(p.priv, p.pub), 0);
  p.pub[40] ^= 1; /* Y changed: no longer on the curve */
  smp_in2(SMP_PUBLIC_KEY, p.pub, 64);
  EXPECT_FAILED(UVBLE_SMP_DHKEY_CHECK_FAILED);
  CHECK_EQ(enc.status, UVBLE_SMP_DHKEY_CHECK_FAILED);
  CHECK(!enc.encrypted);
  finish();
  /* The point at infinity (all zero) likewise (a fresh link: the failure
   * above started the repeated-attempts wait). */
  bring(1);
  peer_req(&p, 3, 0x09, 16, 0, 0);
  expect_rsp(&p);
  uint8_t zero[64] = {0};
  smp_in2(SMP_PUBLIC_KEY, zero, 64);
  EXPECT_FAILED(UVBLE_SMP_DHKEY_CHECK_FAILED);
  finish();
}

TEST(dhkey_check_mismatch_fails_and_backs_off) {
  bring(1);
  struct peer p;
  peer_req(&p, 3, 0x09, 16, 0, 0);
  expect_rsp(&p);
  sc_keys(&p);
  sc_jw_stage1(&p);
  uint8_t ea[16], eb[16];
  sc_checks(&p, Z16, ea, eb);
  ea[0] ^= 0x80;
  smp_in2(SMP_DHKEY_CHECK, ea, 16);
  EXPECT_FAILED(UVBLE_SMP_DHKEY_CHECK_FAILED);
  CHECK_EQ(enc.status, UVBLE_SMP_DHKEY_CHECK_FAILED);
  /* The LTK is not handed out for a failed pairing. */
  inject_ltk_request(0, Z8);
  CHECK(sc_find_cmd(sc, 0x201B, 0) >= 0);
  CHECK(sc_find_cmd(sc, 0x201A, 0) < 0);
  /* Repeated Attempts until the waiting interval has passed. */
  peer_req(&p, 3, 0x09, 16, 0, 0);
  EXPECT_FAILED(UVBLE_SMP_REPEATED_ATTEMPTS);
  /* time must pass: the waiting interval (1 s) */
  run_for(&loop, 1100);
  peer_req(&p, 3, 0x09, 16, 0, 0);
  expect_rsp(&p);
  finish();
}

/* A legacy pairing whose Mrand does not open the Mconfirm. */
static void cheat_once(struct peer *p) {
  peer_req(p, 3, 0x01, 16, 0, 0);
  expect_rsp(p);
  uint8_t mconf[16];
  REQUIRE_EQ(uvble_sm_random(p->n_own, 16), 0);
  legacy_confirm(p, p->n_own, mconf);
  smp_in2(SMP_PAIRING_CONFIRM, mconf, 16);
  EXPECT_PDU(SMP_PAIRING_CONFIRM, 16, NULL);
  p->n_own[0] ^= 1;
  smp_in2(SMP_PAIRING_RANDOM, p->n_own, 16);
  EXPECT_FAILED(UVBLE_SMP_CONFIRM_VALUE_FAILED);
}

TEST(repeated_attempts_wait_doubles_with_each_failure) {
  bring(1);
  struct peer p;
  cheat_once(&p);
  /* time must pass: first wait, 1 s */
  run_for(&loop, 1100);
  cheat_once(&p);
  /* time must pass: second wait, 2 s, not over yet */
  run_for(&loop, 1100);
  peer_req(&p, 3, 0x01, 16, 0, 0);
  EXPECT_FAILED(UVBLE_SMP_REPEATED_ATTEMPTS);
  /* time must pass: the rest of the 2 s */
  run_for(&loop, 1000);
  peer_req(&p, 3, 0x01, 16, 0, 0);
  expect_rsp(&p);
  finish();
}

TEST(legacy_confirm_mismatch_fails_with_confirm_value_failed) {
  bring(1);
  struct peer p;
  peer_req(&p, 3, 0x01, 16, 0, 0);
  expect_rsp(&p);
  uint8_t mconf[16];
  REQUIRE_EQ(uvble_sm_random(p.n_own, 16), 0);
  legacy_confirm(&p, p.n_own, mconf);
  smp_in2(SMP_PAIRING_CONFIRM, mconf, 16);
  EXPECT_PDU(SMP_PAIRING_CONFIRM, 16, NULL);
  p.n_own[5] ^= 1; /* reveals another random than committed */
  smp_in2(SMP_PAIRING_RANDOM, p.n_own, 16);
  EXPECT_FAILED(UVBLE_SMP_CONFIRM_VALUE_FAILED);
  EXPECT_NOTHING(); /* no Srand for a cheater */
  CHECK_EQ(enc.status, UVBLE_SMP_CONFIRM_VALUE_FAILED);
  finish();
}

TEST(out_of_sequence_pdus_fail_with_unspecified) {
  bring(1);
  struct peer p;
  /* Random before Confirm (legacy). */
  peer_req(&p, 3, 0x01, 16, 0, 0);
  expect_rsp(&p);
  smp_in2(SMP_PAIRING_RANDOM, Z16, 16);
  EXPECT_FAILED(UVBLE_SMP_UNSPECIFIED);
  CHECK_EQ(enc.status, UVBLE_SMP_UNSPECIFIED);
  /* A second request in the middle of a pairing. */
  peer_req(&p, 3, 0x01, 16, 0, 0);
  expect_rsp(&p);
  peer_req(&p, 3, 0x01, 16, 0, 0);
  EXPECT_FAILED(UVBLE_SMP_UNSPECIFIED);
  /* SC: a confirm before the public keys; a public key in legacy. */
  peer_req(&p, 3, 0x09, 16, 0, 0);
  expect_rsp(&p);
  smp_in2(SMP_PAIRING_CONFIRM, Z16, 16);
  EXPECT_FAILED(UVBLE_SMP_UNSPECIFIED);
  peer_req(&p, 3, 0x01, 16, 0, 0);
  expect_rsp(&p);
  uint8_t pk[64] = {0};
  smp_in2(SMP_PUBLIC_KEY, pk, 64);
  EXPECT_FAILED(UVBLE_SMP_UNSPECIFIED);
  /* SC Just Works: the responder never receives a confirm. */
  peer_req(&p, 3, 0x09, 16, 0, 0);
  expect_rsp(&p);
  sc_keys(&p);
  EXPECT_PDU(SMP_PAIRING_CONFIRM, 16, NULL);
  smp_in2(SMP_PAIRING_CONFIRM, Z16, 16);
  EXPECT_FAILED(UVBLE_SMP_UNSPECIFIED);
  /* Key distribution PDUs out of place: before encryption... */
  peer_req(&p, 3, 0x01, 16, 0, 0);
  expect_rsp(&p);
  smp_in2(SMP_ENC_INFO, Z16, 16);
  EXPECT_FAILED(UVBLE_SMP_UNSPECIFIED);
  finish();
}

/* Runs a legacy Just Works pairing up to key distribution. */
static void legacy_to_keydist(struct peer *p, uint8_t idist, uint8_t rdist) {
  peer_req(p, 3, 0x01, 16, idist, rdist);
  expect_rsp(p);
  uint8_t mconf[16];
  REQUIRE_EQ(uvble_sm_random(p->n_own, 16), 0);
  legacy_confirm(p, p->n_own, mconf);
  smp_in2(SMP_PAIRING_CONFIRM, mconf, 16);
  EXPECT_PDU(SMP_PAIRING_CONFIRM, 16, NULL);
  smp_in2(SMP_PAIRING_RANDOM, p->n_own, 16);
  EXPECT_PDU(SMP_PAIRING_RANDOM, 16, NULL);
  inject_ltk_request(0, Z8);
  inject_enc_change(0, 1);
}

TEST(key_distribution_out_of_order_or_invalid) {
  bring(1);
  struct peer p;
  /* Identity Address Information before Identity Information. */
  legacy_to_keydist(&p, SMP_DIST_ID, 0);
  uint8_t ai[7] = {0};
  memcpy(ai + 1, PEER, 6);
  smp_in2(SMP_ID_ADDR_INFO, ai, 7);
  EXPECT_FAILED(UVBLE_SMP_UNSPECIFIED);
  CHECK_EQ(enc.status, UVBLE_SMP_UNSPECIFIED);
  CHECK(enc.encrypted); /* the link stays encrypted; the bond is not made */
  CHECK(!enc.bonded);
  CHECK_EQ(nsecs(UVBLE_SECRET_PEER_SEC), 0);
  finish();
  bring(1);
  /* A random identity address that is not static. */
  legacy_to_keydist(&p, SMP_DIST_ID, 0);
  smp_in2(SMP_ID_INFO, Z16, 16);
  uint8_t bad[7] = {1, 1, 2, 3, 4, 5, 0x45}; /* top bits 01: an RPA */
  smp_in2(SMP_ID_ADDR_INFO, bad, 7);
  EXPECT_FAILED(UVBLE_SMP_INVALID_PARAMS);
  finish();
  bring(1);
  /* A key that was not agreed on (SignKey) and a truncated one. */
  legacy_to_keydist(&p, SMP_DIST_ENC, 0);
  smp_in2(SMP_SIGN_INFO, Z16, 16);
  EXPECT_FAILED(UVBLE_SMP_UNSPECIFIED);
  finish();
  bring(1);
  legacy_to_keydist(&p, SMP_DIST_ENC, 0);
  smp_in2(SMP_ENC_INFO, Z16, 15);
  EXPECT_FAILED(UVBLE_SMP_INVALID_PARAMS);
  finish();
}

TEST(pairing_failed_and_keypress_from_the_central) {
  bring(1);
  struct peer p;
  peer_req(&p, 3, 0x01, 16, 0, 0);
  expect_rsp(&p);
  smp_in2(SMP_KEYPRESS, (uint8_t[]){1}, 1); /* ignored */
  EXPECT_NOTHING();
  CHECK_EQ(enc_events, 0);
  smp_in2(SMP_PAIRING_FAILED, (uint8_t[]){UVBLE_SMP_PASSKEY_ENTRY_FAILED}, 1);
  EXPECT_NOTHING();
  REQUIRE_EQ(enc_events, 1);
  CHECK_EQ(enc.status, UVBLE_SMP_PASSKEY_ENTRY_FAILED);
  /* Reason 0 is never reported as success; a bad length as Invalid
   * Parameters. */
  peer_req(&p, 3, 0x01, 16, 0, 0);
  expect_rsp(&p);
  smp_in2(SMP_PAIRING_FAILED, (uint8_t[]){0}, 1);
  CHECK_EQ(enc.status, UVBLE_SMP_UNSPECIFIED);
  peer_req(&p, 3, 0x01, 16, 0, 0);
  expect_rsp(&p);
  smp_in((uint8_t[]){SMP_PAIRING_FAILED}, 1);
  CHECK_EQ(enc.status, UVBLE_SMP_INVALID_PARAMS);
  EXPECT_NOTHING();
  finish();
}

TEST(ltk_requests_without_a_bond_or_mid_pairing_are_refused) {
  bring(1);
  inject_ltk_request(0, Z8);
  inject_ltk_request(0x1234, (const uint8_t *)"\1\2\3\4\5\6\7\10");
  CHECK(sc_find_cmd(sc, 0x201B, 1) >= 0);
  CHECK(sc_find_cmd(sc, 0x201A, 0) < 0);
  /* Mid-pairing, before the STK exists. */
  struct peer p;
  peer_req(&p, 3, 0x01, 16, 0, 0);
  expect_rsp(&p);
  inject_ltk_request(0, Z8);
  CHECK(sc_find_cmd(sc, 0x201B, 2) >= 0);
  CHECK(sc_find_cmd(sc, 0x201A, 0) < 0);
  /* A malformed event is counted and ignored. */
  uvble_stats_t before, after;
  uvble_get_stats(ble, &before);
  sc_send_event(sc, 0x3E, (uint8_t[]){0x05, 0x40, 0x00, 1}, 4);
  run_until_idle(&loop, 5000);
  uvble_get_stats(ble, &after);
  CHECK_EQ(after.hci_events_malformed, before.hci_events_malformed + 1);
  finish();
}

TEST(encryption_failure_during_pairing_reports_the_hci_status) {
  bring(1);
  struct peer p;
  legacy_to_keydist(&p, 0, 0); /* no keys: completes at encryption */
  REQUIRE_EQ(enc_events, 1);
  CHECK_EQ(enc.status, 0);
  /* Another pairing whose encryption fails (MIC failure). */
  peer_req(&p, 3, 0x01, 16, 0, 0);
  expect_rsp(&p);
  uint8_t mconf[16];
  REQUIRE_EQ(uvble_sm_random(p.n_own, 16), 0);
  legacy_confirm(&p, p.n_own, mconf);
  smp_in2(SMP_PAIRING_CONFIRM, mconf, 16);
  smp_in2(SMP_PAIRING_RANDOM, p.n_own, 16);
  inject_ltk_request(0, Z8);
  inject_enc_change(0x3D, 0);
  REQUIRE_EQ(enc_events, 2);
  CHECK_EQ(enc.status, UVBLE_EHCI);
  CHECK_EQ(enc.hci_status, 0x3D);
  CHECK(!enc.encrypted);
  finish();
}

TEST(security_request_waits_for_the_central_and_times_out) {
  bring(1);
  smp_set_timeout_ms(ble, 200);
  REQUIRE_EQ(uvble_gap_pair(ble, H), 0);
  uint8_t auth;
  EXPECT_PDU(SMP_SECURITY_REQ, 1, &auth);
  CHECK_EQ(auth, 0x09); /* bonding, SC (defaults) */
  CHECK_EQ(uvble_gap_pair(ble, H), UVBLE_EBUSY);
  RUN_UNTIL(&loop, enc_events >= 1, 5000); /* the 200 ms SMP timeout */
  REQUIRE_EQ(enc_events, 1);
  CHECK_EQ(enc.status, UVBLE_ETIMEDOUT);
  /* Dead for SMP: a Pairing Request is ignored, nothing is sent. */
  smp_in((uint8_t[]){SMP_PAIRING_REQ, 3, 0, 1, 16, 0, 0}, 7);
  EXPECT_NOTHING();
  CHECK_EQ(uvble_gap_pair(ble, H), UVBLE_ETIMEDOUT);
  finish();
}

TEST(security_request_answered_with_pairing_and_disconnect) {
  bring(1);
  REQUIRE_EQ(uvble_gap_pair(ble, H), 0);
  EXPECT_PDU(SMP_SECURITY_REQ, 1, NULL);
  struct peer p;
  peer_req(&p, 3, 0x01, 16, 0, 0);
  expect_rsp(&p);
  sc_disconnect(sc, H, 0x13);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(enc_events, 1);
  CHECK_EQ(enc.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(enc.conn_handle, H);
  finish();
}

TEST_MAIN()
