/* SPDX-License-Identifier: Apache-2.0 */
/* SMP with us as central (initiator), the test playing the peripheral PDU
 * by PDU: our Pairing Request, the values the spec defines (confirms, STK,
 * LTK, DHKey checks, the key given to LE Enable Encryption), key
 * distribution, Security Requests, and a peripheral that gets it wrong. */
#include "test_smp_peer.h"

static const uint8_t Z16[16];

/* gap_pair: our Pairing Request captured. */
static void start(struct peer *p) {
  memset(p, 0, sizeof *p);
  p->central = false;
  REQUIRE_EQ(uvble_gap_pair(ble, H), 0);
  EXPECT_PDU(SMP_PAIRING_REQ, 6, p->preq + 1);
  p->preq[0] = SMP_PAIRING_REQ;
}

static void peer_rsp(struct peer *p, uint8_t io, uint8_t auth, uint8_t maxk,
                     uint8_t idist, uint8_t rdist) {
  uint8_t rsp[7] = {SMP_PAIRING_RSP, io, 0, auth, maxk, idist, rdist};
  memcpy(p->pres, rsp, 7);
  smp_in(rsp, 7);
}

/* Public keys: ours captured, the peripheral's sent (or the one given). */
static void sc_keys(struct peer *p) {
  EXPECT_PDU(SMP_PUBLIC_KEY, 64, p->host_pub);
  REQUIRE_EQ(uvble_sm_p256_generate(p->priv, p->pub), 0);
  REQUIRE_EQ(uvble_sm_p256_dhkey(p->priv, p->host_pub, p->dhkey), 0);
  smp_in2(SMP_PUBLIC_KEY, p->pub, 64);
}

/* Just Works stage 1 from the responder's side: Cb, then Na, Nb. */
static void sc_jw_stage1(struct peer *p) {
  uint8_t cb[16];
  REQUIRE_EQ(uvble_sm_random(p->n_own, 16), 0);
  REQUIRE_EQ(uvble_sm_f4(p->pub, p->host_pub, p->n_own, 0, cb), 0);
  smp_in2(SMP_PAIRING_CONFIRM, cb, 16);
  EXPECT_PDU(SMP_PAIRING_RANDOM, 16, p->n_host);
  smp_in2(SMP_PAIRING_RANDOM, p->n_own, 16);
}

/* The link drops and the peer comes back on the same handle; the script's
 * records start afresh. */
static void reconnect(void) {
  sc_disconnect(sc, H, 0x13);
  run_until_idle(&loop, 5000);
  sc_connect(sc, H, 0, PEER);
  run_until_idle(&loop, 5000);
  sc_clear(sc);
  acl_cursor = 0;
}

TEST(pairing_request_carries_our_config) {
  bring(0);
  struct peer p;
  start(&p);
  /* Defaults: NoInputNoOutput, no OOB, bonding + SC, 16, all keys. */
  CHECK_EQ(p.preq[1], UVBLE_IO_NO_INPUT_OUTPUT);
  CHECK_EQ(p.preq[2], 0);
  CHECK_EQ(p.preq[3], 0x09);
  CHECK_EQ(p.preq[4], 16);
  CHECK_EQ(p.preq[5], 0x07);
  CHECK_EQ(p.preq[6], 0x07);
  CHECK_EQ(uvble_gap_pair(ble, H), UVBLE_EBUSY);
  finish();
  bring(0);
  uvble_config_set_int(ble, UVBLE_CONFIG_IO, UVBLE_IO_KEYBOARD_DISPLAY);
  uvble_config_set_int(ble, UVBLE_CONFIG_MITM, 1);
  uvble_config_set_int(ble, UVBLE_CONFIG_LE_SECURE, 0);
  uvble_config_set_int(ble, UVBLE_CONFIG_BOND, 0);
  start(&p);
  CHECK_EQ(p.preq[1], UVBLE_IO_KEYBOARD_DISPLAY);
  CHECK_EQ(p.preq[3], 0x04);
  CHECK_EQ(p.preq[5], 0);
  CHECK_EQ(p.preq[6], 0);
  finish();
}

TEST(sc_just_works_values_match_the_spec_and_keys_complete_it) {
  bring(0);
  struct peer p;
  start(&p);
  peer_rsp(&p, 3, 0x09, 16, 0x06, 0x06);
  sc_keys(&p);
  sc_jw_stage1(&p);
  uint8_t ea[16], eb[16], got[16];
  sc_checks(&p, Z16, ea, eb);
  EXPECT_PDU(SMP_DHKEY_CHECK, 16, got);
  CHECK_MEM(got, ea, 16);
  smp_in2(SMP_DHKEY_CHECK, eb, 16);
  /* LE Enable Encryption with the f5 LTK, EDIV and Rand zero. */
  uint8_t ltk[16], rand[8];
  uint16_t ediv;
  REQUIRE(enc_started(0, ltk, &ediv, rand));
  CHECK_MEM(ltk, p.ltk, 16);
  CHECK_EQ(ediv, 0);
  CHECK_MEM(rand, Z16, 8);
  inject_enc_change(0, 1);
  /* The responder's keys come first; ours follow. */
  EXPECT_NOTHING();
  uint8_t pirk[16] = {7}, pai[7] = {0}, pcsrk[16] = {3};
  memcpy(pai + 1, PEER, 6);
  smp_in2(SMP_ID_INFO, pirk, 16);
  smp_in2(SMP_ID_ADDR_INFO, pai, 7);
  CHECK_EQ(enc_events, 0);
  smp_in2(SMP_SIGN_INFO, pcsrk, 16);
  uint8_t irk[16], ai[7], csrk[16];
  EXPECT_PDU(SMP_ID_INFO, 16, irk);
  EXPECT_PDU(SMP_ID_ADDR_INFO, 7, ai);
  CHECK_MEM(ai + 1, OWN, 6);
  EXPECT_PDU(SMP_SIGN_INFO, 16, csrk);
  REQUIRE_EQ(enc_events, 1);
  CHECK_EQ(enc.status, 0);
  CHECK(enc.encrypted);
  CHECK(enc.bonded);
  CHECK(!enc.authenticated);
  /* Reconnection: gap_pair encrypts with the stored LTK, no SMP. */
  reconnect();
  REQUIRE_EQ(uvble_gap_pair(ble, H), 0);
  EXPECT_NOTHING();
  REQUIRE(enc_started(0, ltk, &ediv, rand));
  CHECK_MEM(ltk, p.ltk, 16);
  inject_enc_change(0, 1);
  REQUIRE_EQ(enc_events, 2);
  CHECK(enc.bonded);
  CHECK_EQ(enc.status, 0);
  finish();
}

/* Runs an SC Just Works pairing up to LE Enable Encryption. */
static void sc_to_encryption(struct peer *p, uint8_t idist, uint8_t rdist) {
  start(p);
  peer_rsp(p, 3, 0x09, 16, idist, rdist);
  sc_keys(p);
  sc_jw_stage1(p);
  uint8_t ea[16], eb[16];
  sc_checks(p, Z16, ea, eb);
  EXPECT_PDU(SMP_DHKEY_CHECK, 16, NULL);
  smp_in2(SMP_DHKEY_CHECK, eb, 16);
}

TEST(keys_that_overtake_the_encryption_change_are_kept_for_it) {
  bring(0);
  struct peer p;
  sc_to_encryption(&p, 0x02, 0x06);
  uint8_t pirk[16] = {4}, pai[7] = {0};
  memcpy(pai + 1, PEER, 6);
  smp_in2(SMP_ID_INFO, pirk, 16);
  smp_in2(SMP_ID_ADDR_INFO, pai, 7);
  smp_in2(SMP_SIGN_INFO, Z16, 16);
  EXPECT_NOTHING(); /* held, not refused */
  CHECK_EQ(enc_events, 0);
  inject_enc_change(0, 1);
  EXPECT_PDU(SMP_ID_INFO, 16, NULL);
  EXPECT_PDU(SMP_ID_ADDR_INFO, 7, NULL);
  REQUIRE_EQ(enc_events, 1);
  CHECK_EQ(enc.status, 0);
  CHECK(enc.bonded);
  struct keys_bond kb;
  uvble_addr_t pid = {0, {0x66, 0x55, 0x44, 0x33, 0x22, 0x11}};
  REQUIRE_EQ(keys_bond_load(ble, UVBLE_SECRET_PEER_SEC, &pid, &kb), 0);
  CHECK_MEM(kb.irk, pirk, 16);
  /* If encryption then fails, held keys are dropped with the pairing. */
  REQUIRE_EQ(uvble_erase_bonding(ble), 0); /* so gap_pair pairs again */
  sc_to_encryption(&p, 0, 0x02);
  smp_in2(SMP_ID_INFO, Z16, 16);
  inject_enc_change(0x05, 0);
  REQUIRE_EQ(enc_events, 2);
  CHECK_EQ(enc.status, UVBLE_EHCI);
  /* More than a full key distribution ahead of time is refused. */
  sc_to_encryption(&p, 0, 0x06);
  for (int i = 0; i < 5; i++) smp_in2(SMP_SIGN_INFO, Z16, 16);
  EXPECT_NOTHING();
  smp_in2(SMP_SIGN_INFO, Z16, 16);
  EXPECT_FAILED(UVBLE_SMP_UNSPECIFIED);
  finish();
}

TEST(legacy_just_works_stk_and_stored_peripheral_key) {
  bring(0);
  struct peer p;
  start(&p);
  peer_rsp(&p, 3, 0x01, 16, 0x07, 0x07); /* no SC: legacy */
  uint8_t mconf[16], sconf[16];
  EXPECT_PDU(SMP_PAIRING_CONFIRM, 16, p.c_host);
  REQUIRE_EQ(uvble_sm_random(p.n_own, 16), 0); /* Srand */
  legacy_confirm(&p, p.n_own, sconf);
  smp_in2(SMP_PAIRING_CONFIRM, sconf, 16);
  EXPECT_PDU(SMP_PAIRING_RANDOM, 16, p.n_host); /* Mrand */
  legacy_confirm(&p, p.n_host, mconf);
  CHECK_MEM(mconf, p.c_host, 16);
  smp_in2(SMP_PAIRING_RANDOM, p.n_own, 16);
  uint8_t stk[16], ltk[16], rand[8];
  uint16_t ediv;
  REQUIRE_EQ(uvble_sm_s1(p.tk, p.n_own, p.n_host, stk), 0);
  REQUIRE(enc_started(0, ltk, &ediv, rand));
  CHECK_MEM(ltk, stk, 16);
  inject_enc_change(0, 1);
  uint8_t pltk[16] = {0xAA, 0xBB}, ci[10] = {0x21, 0x43, 9, 8, 7, 6, 5, 4, 3, 2};
  uint8_t pai[7] = {0};
  memcpy(pai + 1, PEER, 6);
  smp_in2(SMP_ENC_INFO, pltk, 16);
  smp_in2(SMP_CENTRAL_IDENT, ci, 10);
  smp_in2(SMP_ID_INFO, Z16, 16);
  smp_in2(SMP_ID_ADDR_INFO, pai, 7);
  smp_in2(SMP_SIGN_INFO, Z16, 16);
  EXPECT_PDU(SMP_ENC_INFO, 16, NULL);
  EXPECT_PDU(SMP_CENTRAL_IDENT, 10, NULL);
  EXPECT_PDU(SMP_ID_INFO, 16, NULL);
  EXPECT_PDU(SMP_ID_ADDR_INFO, 7, NULL);
  EXPECT_PDU(SMP_SIGN_INFO, 16, NULL);
  REQUIRE_EQ(enc_events, 1);
  CHECK(enc.bonded);
  /* Back again: the central uses the peripheral's key, EDIV and Rand. */
  reconnect();
  REQUIRE_EQ(uvble_gap_pair(ble, H), 0);
  REQUIRE(enc_started(0, ltk, &ediv, rand));
  CHECK_MEM(ltk, pltk, 16);
  CHECK_EQ(ediv, 0x4321);
  CHECK_MEM(rand, ci + 2, 8);
  finish();
}

TEST(responses_out_of_range_fail) {
  bring(0);
  struct peer p;
  start(&p);
  peer_rsp(&p, 3, 0x09, 16, 0x0F, 0x07); /* LinkKey was not asked for */
  EXPECT_FAILED(UVBLE_SMP_INVALID_PARAMS);
  CHECK_EQ(enc.status, UVBLE_SMP_INVALID_PARAMS);
  start(&p);
  peer_rsp(&p, 3, 0x09, 7, 0, 0); /* below our 16 */
  EXPECT_FAILED(UVBLE_SMP_ENC_KEY_SIZE);
  CHECK_EQ(enc.status, UVBLE_SMP_ENC_KEY_SIZE);
  /* Outside Maximum Encryption Key Size's 7..16 (Vol 3, Part H, 3.5.1):
   * Invalid Parameters (0x0A), not Encryption Key Size (3.5.5). */
  start(&p);
  peer_rsp(&p, 3, 0x09, 17, 0, 0);
  EXPECT_FAILED(0x0A);
  CHECK_EQ(enc.status, 0x0A);
  start(&p);
  peer_rsp(&p, 3, 0x09, 6, 0, 0);
  EXPECT_FAILED(0x0A);
  CHECK_EQ(enc.status, 0x0A);
  start(&p);
  peer_rsp(&p, 9, 0x09, 16, 0, 0);
  EXPECT_FAILED(UVBLE_SMP_INVALID_PARAMS);
  start(&p);
  smp_in((uint8_t[]){SMP_PAIRING_RSP, 3, 0, 1}, 4);
  EXPECT_FAILED(UVBLE_SMP_INVALID_PARAMS);
  /* Responder-only and initiator-only PDUs in the wrong direction. */
  smp_in((uint8_t[]){SMP_PAIRING_REQ, 3, 0, 1, 16, 0, 0}, 7);
  EXPECT_FAILED(UVBLE_SMP_CMD_NOT_SUPPORTED);
  smp_in((uint8_t[]){SMP_PAIRING_RSP, 3, 0, 1, 16, 0, 0}, 7); /* not waiting */
  EXPECT_FAILED(UVBLE_SMP_UNSPECIFIED);
  finish();
}

TEST(reflected_and_invalid_public_keys) {
  bring(0);
  struct peer p;
  start(&p);
  peer_rsp(&p, 3, 0x09, 16, 0, 0);
  EXPECT_PDU(SMP_PUBLIC_KEY, 64, p.host_pub);
  smp_in2(SMP_PUBLIC_KEY, p.host_pub, 64); /* our own key, reflected */
  EXPECT_FAILED(UVBLE_SMP_UNSPECIFIED);
  CHECK_EQ(enc.status, UVBLE_SMP_UNSPECIFIED);
  start(&p);
  peer_rsp(&p, 3, 0x09, 16, 0, 0);
  EXPECT_PDU(SMP_PUBLIC_KEY, 64, p.host_pub);
  uint8_t off[64];
  memset(off, 0xFF, sizeof off); /* coordinates >= p */
  smp_in2(SMP_PUBLIC_KEY, off, 64);
  EXPECT_FAILED(UVBLE_SMP_DHKEY_CHECK_FAILED);
  /* The debug key with a wrong Y (an invalid-curve attack point). */
  start(&p);
  peer_rsp(&p, 3, 0x09, 16, 0, 0);
  EXPECT_PDU(SMP_PUBLIC_KEY, 64, NULL);
  memcpy(off, uvble_sm_p256_debug_pub, 64);
  memset(off + 32, 0, 32);
  smp_in2(SMP_PUBLIC_KEY, off, 64);
  EXPECT_FAILED(UVBLE_SMP_DHKEY_CHECK_FAILED);
  finish();
}

TEST(responder_commitment_or_check_mismatch) {
  bring(0);
  struct peer p;
  start(&p);
  peer_rsp(&p, 3, 0x09, 16, 0, 0);
  sc_keys(&p);
  uint8_t cb[16];
  REQUIRE_EQ(uvble_sm_random(p.n_own, 16), 0);
  REQUIRE_EQ(uvble_sm_f4(p.pub, p.host_pub, p.n_own, 0, cb), 0);
  smp_in2(SMP_PAIRING_CONFIRM, cb, 16);
  EXPECT_PDU(SMP_PAIRING_RANDOM, 16, p.n_host);
  p.n_own[0] ^= 1;
  smp_in2(SMP_PAIRING_RANDOM, p.n_own, 16);
  EXPECT_FAILED(UVBLE_SMP_CONFIRM_VALUE_FAILED);
  CHECK_EQ(enc.status, UVBLE_SMP_CONFIRM_VALUE_FAILED);
  /* A DHKey check that does not match. */
  start(&p);
  peer_rsp(&p, 3, 0x09, 16, 0, 0);
  sc_keys(&p);
  sc_jw_stage1(&p);
  uint8_t ea[16], eb[16];
  sc_checks(&p, Z16, ea, eb);
  EXPECT_PDU(SMP_DHKEY_CHECK, 16, NULL);
  eb[15] ^= 1;
  smp_in2(SMP_DHKEY_CHECK, eb, 16);
  EXPECT_FAILED(UVBLE_SMP_DHKEY_CHECK_FAILED);
  CHECK(sc_find_cmd(sc, 0x2019, 0) < 0); /* never encrypted */
  /* Legacy: a confirm the random does not open. */
  start(&p);
  peer_rsp(&p, 3, 0x01, 16, 0, 0);
  EXPECT_PDU(SMP_PAIRING_CONFIRM, 16, NULL);
  smp_in2(SMP_PAIRING_CONFIRM, Z16, 16);
  EXPECT_PDU(SMP_PAIRING_RANDOM, 16, NULL);
  smp_in2(SMP_PAIRING_RANDOM, Z16, 16);
  EXPECT_FAILED(UVBLE_SMP_CONFIRM_VALUE_FAILED);
  finish();
}

TEST(numeric_comparison_shows_g2_and_rejection_fails_it) {
  bring(0);
  uvble_config_set_int(ble, UVBLE_CONFIG_IO, UVBLE_IO_DISPLAY_YESNO);
  uvble_config_set_int(ble, UVBLE_CONFIG_MITM, 1);
  struct peer p;
  start(&p);
  peer_rsp(&p, UVBLE_IO_DISPLAY_YESNO, 0x0D, 16, 0, 0);
  sc_keys(&p);
  sc_jw_stage1(&p);
  REQUIRE_EQ(passkey_events, 1);
  CHECK_EQ(pk_ev.action, UVBLE_PASSKEY_ACTION_NUMCMP);
  uint32_t v;
  REQUIRE_EQ(uvble_sm_g2(p.host_pub, p.pub, p.n_host, p.n_own, &v), 0);
  CHECK_EQ(pk_ev.passkey, v);
  EXPECT_NOTHING(); /* Ea waits for the user */
  /* The peripheral's check arriving early is out of sequence. */
  CHECK_EQ(uvble_gap_passkey(ble, H, UVBLE_PASSKEY_ACTION_INPUT, 1),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_passkey(ble, H, UVBLE_PASSKEY_ACTION_NUMCMP, 0), 0);
  EXPECT_FAILED(UVBLE_SMP_NUMCMP_FAILED);
  CHECK_EQ(enc.status, UVBLE_SMP_NUMCMP_FAILED);
  finish();
}

TEST(security_request_starts_pairing_or_encryption) {
  bring(0);
  smp_in2(SMP_SECURITY_REQ, (uint8_t[]){0x01}, 1);
  uint8_t req[6];
  EXPECT_PDU(SMP_PAIRING_REQ, 6, req);
  /* Another one while pairing is ignored. */
  smp_in2(SMP_SECURITY_REQ, (uint8_t[]){0x01}, 1);
  EXPECT_NOTHING();
  finish();
}

static uint64_t bond_rejected(void) {
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  return st.smp_bond_rejected;
}

/* The stored key the controller was handed (n-th LE Enable Encryption). */
static void expect_stored_key(int n, const uint8_t want[16]) {
  uint8_t ltk[16], rand[8];
  uint16_t ediv;
  REQUIRE(enc_started(n, ltk, &ediv, rand));
  CHECK_MEM(ltk, want, 16);
}

static void expect_stale(int events, uint8_t hci_status) {
  REQUIRE_EQ(enc_events, events);
  CHECK_EQ(enc.status, UVBLE_EHCI);
  CHECK_EQ(enc.hci_status, hci_status);
  CHECK(enc.stale_bond);
  CHECK(!enc.encrypted);
}

TEST(stale_bond_is_reported_with_the_hci_status_and_never_repaired) {
  bring(0);
  struct peer p;
  sc_to_encryption(&p, 0, 0);
  inject_enc_change(0, 1);
  REQUIRE_EQ(enc_events, 1);
  CHECK(enc.bonded);
  CHECK(!enc.stale_bond);
  reconnect();
  uint64_t r0 = bond_rejected();
  /* Encryption Change: Authentication Failure (the peer holds another
   * key). */
  REQUIRE_EQ(uvble_gap_pair(ble, H), 0);
  expect_stored_key(0, p.ltk);
  inject_enc_change(0x05, 0);
  expect_stale(2, 0x05);
  /* Asked again: the stored key again, no Pairing Request. */
  REQUIRE_EQ(uvble_gap_pair(ble, H), 0);
  EXPECT_NOTHING();
  expect_stored_key(1, p.ltk);
  inject_enc_change(0x06, 0); /* PIN or Key Missing: the peer lost it */
  expect_stale(3, 0x06);
  /* The peer's Security Request: the stored key once more, never a
   * pairing the peer could use to replace the bond. */
  smp_in2(SMP_SECURITY_REQ, (uint8_t[]){0x09}, 1);
  EXPECT_NOTHING();
  expect_stored_key(2, p.ltk);
  inject_enc_change(0x06, 0);
  expect_stale(4, 0x06);
  /* Reported as Encryption Key Refresh Complete (Vol 4, Part E, 7.7.39:
   * status, handle): the same. */
  REQUIRE_EQ(uvble_gap_pair(ble, H), 0);
  expect_stored_key(3, p.ltk);
  uint8_t kr[3] = {0x06, H & 0xff, H >> 8};
  sc_send_event(sc, 0x30, kr, sizeof kr);
  run_until_idle(&loop, 5000);
  expect_stale(5, 0x06);
  CHECK_EQ(bond_rejected(), r0 + 4);
  /* Another failure of the same link is no stale bond. */
  REQUIRE_EQ(uvble_gap_pair(ble, H), 0);
  expect_stored_key(4, p.ltk);
  inject_enc_change(0x3D, 0); /* MIC failure */
  REQUIRE_EQ(enc_events, 6);
  CHECK_EQ(enc.hci_status, 0x3D);
  CHECK(!enc.stale_bond);
  CHECK_EQ(bond_rejected(), r0 + 4);
  /* The application forgets the bond: gap_pair pairs. */
  CHECK_EQ(uvble_forget_bond_conn(ble, H), 0);
  REQUIRE_EQ(uvble_gap_pair(ble, H), 0);
  EXPECT_PDU(SMP_PAIRING_REQ, 6, NULL);
  CHECK(sc_find_cmd(sc, 0x2019, 5) < 0);
  finish();
}

TEST(encryption_refused_by_the_controller) {
  bring(0);
  struct peer p;
  /* Command Status with an error: the pairing fails and the peer hears. */
  sc_on_cmd(sc, 0x2019, answer_enable_encryption, (void *)0x0C);
  start(&p);
  peer_rsp(&p, 3, 0x09, 16, 0, 0);
  sc_keys(&p);
  sc_jw_stage1(&p);
  uint8_t ea[16], eb[16];
  sc_checks(&p, Z16, ea, eb);
  EXPECT_PDU(SMP_DHKEY_CHECK, 16, NULL);
  smp_in2(SMP_DHKEY_CHECK, eb, 16);
  EXPECT_FAILED(UVBLE_SMP_UNSPECIFIED);
  REQUIRE_EQ(enc_events, 1);
  CHECK_EQ(enc.status, UVBLE_EHCI);
  CHECK_EQ(enc.hci_status, 0x0C);
  /* Encryption Change with an error. */
  sc_on_cmd(sc, 0x2019, answer_enable_encryption, (void *)0);
  start(&p);
  peer_rsp(&p, 3, 0x09, 16, 0, 0);
  sc_keys(&p);
  sc_jw_stage1(&p);
  sc_checks(&p, Z16, ea, eb);
  EXPECT_PDU(SMP_DHKEY_CHECK, 16, NULL);
  smp_in2(SMP_DHKEY_CHECK, eb, 16);
  inject_enc_change(0x05, 0);
  REQUIRE_EQ(enc_events, 2);
  CHECK_EQ(enc.status, UVBLE_EHCI);
  CHECK_EQ(enc.hci_status, 0x05);
  CHECK(!enc.encrypted);
  CHECK(!enc.stale_bond); /* a pairing's own key: no bond involved */
  finish();
}

TEST(timeout_and_disconnect_while_waiting_for_the_response) {
  bring(0);
  smp_set_timeout_ms(ble, 150);
  struct peer p;
  start(&p);
  RUN_UNTIL(&loop, enc_events >= 1, 5000); /* the 150 ms SMP timeout */
  REQUIRE_EQ(enc_events, 1);
  CHECK_EQ(enc.status, UVBLE_ETIMEDOUT);
  peer_rsp(&p, 3, 0x09, 16, 0, 0); /* too late: ignored */
  EXPECT_NOTHING();
  smp_in2(SMP_SECURITY_REQ, (uint8_t[]){0x01}, 1);
  EXPECT_NOTHING();
  CHECK_EQ(uvble_gap_pair(ble, H), UVBLE_ETIMEDOUT);
  finish();
  bring(0);
  start(&p);
  sc_disconnect(sc, H, 0x08);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(enc_events, 1);
  CHECK_EQ(enc.status, UVBLE_EDISCONNECTED);
  finish();
}

TEST(close_while_the_user_is_asked) {
  bring(0);
  struct peer p;
  uvble_config_set_int(ble, UVBLE_CONFIG_IO, UVBLE_IO_KEYBOARD_ONLY);
  uvble_config_set_int(ble, UVBLE_CONFIG_MITM, 1);
  start(&p);
  peer_rsp(&p, UVBLE_IO_DISPLAY_ONLY, 0x0D, 16, 0, 0);
  sc_keys(&p);
  REQUIRE_EQ(pk_ev.action, UVBLE_PASSKEY_ACTION_INPUT);
  /* The app closes the stack while the user is asked; nothing is left. */
  uvble_close(ble, NULL, NULL);
  ble = NULL;
  finish();
}

/* An app that closes the stack from inside an SMP irq. */
static int close_on;
static int closing_irq(uvble_t *b, int ev, const uvble_irq_data_t *d,
                       void *arg) {
  if (ev == close_on) {
    uvble_close(b, NULL, NULL);
    ble = NULL;
    return 0;
  }
  return peer_irq(b, ev, d, arg);
}

TEST(close_from_inside_smp_irqs) {
  static const int events[] = {UVBLE_IRQ_PASSKEY_ACTION,
                               UVBLE_IRQ_ENCRYPTION_UPDATE,
                               UVBLE_IRQ_GET_SECRET, UVBLE_IRQ_SET_SECRET};
  for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
    bring(0);
    close_on = events[i];
    uvble_irq(ble, closing_irq, NULL);
    uvble_config_set_int(ble, UVBLE_CONFIG_IO, UVBLE_IO_DISPLAY_YESNO);
    uvble_config_set_int(ble, UVBLE_CONFIG_MITM, 1);
    answer_input = -1;
    struct peer p;
    memset(&p, 0, sizeof p);
    int r = uvble_gap_pair(ble, H); /* GET_SECRET: is there a bond? */
    CHECK_EQ(r, ble ? 0 : UVBLE_ECANCELED);
    if (ble) {
      EXPECT_PDU(SMP_PAIRING_REQ, 6, p.preq + 1);
      p.preq[0] = SMP_PAIRING_REQ;
      peer_rsp(&p, UVBLE_IO_DISPLAY_YESNO, 0x0D, 16, 0x02, 0x02);
      sc_keys(&p);
      sc_jw_stage1(&p); /* NUMCMP: PASSKEY_ACTION */
    }
    if (ble) {
      uvble_gap_passkey(ble, H, UVBLE_PASSKEY_ACTION_NUMCMP, 1);
      uint8_t ea[16], eb[16];
      sc_checks(&p, Z16, ea, eb);
      smp_in2(SMP_DHKEY_CHECK, eb, 16);
      inject_enc_change(0, 1);
      uint8_t pai[7] = {0};
      memcpy(pai + 1, PEER, 6);
      smp_in2(SMP_ID_INFO, Z16, 16); /* then our IRK: GET/SET_SECRET */
      smp_in2(SMP_ID_ADDR_INFO, pai, 7);
    }
    if (ble) {
      /* Still up (ENCRYPTION_UPDATE closes on the link drop below). */
      sc_disconnect(sc, H, 0x13);
      run_until_idle(&loop, 5000);
    }
    CHECK(ble == NULL);
    finish();
  }
}

TEST_MAIN()
