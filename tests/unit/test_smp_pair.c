/* SPDX-License-Identifier: Apache-2.0 */
/* Pairing end to end: two uvble hosts on the in-memory controller pair,
 * which encrypts a link only when both hosts hand it the same key (as
 * btvirt does). Each method in both roles, bonding and re-encryption,
 * failures the users cause, and the secrets the app is asked to keep. */
#include "test_smp_pair_common.h"

/* Pairs (or re-encrypts, bonded) and checks each side heard one more
 * ENCRYPTION_UPDATE. */
static void pair_and_check(bool auth, bool bonded) {
  int a0 = A.enc_events, b0 = B.enc_events;
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(a0 + 1, b0 + 1, 3000));
  CHECK_EQ(A.enc_events, a0 + 1);
  CHECK_EQ(B.enc_events, b0 + 1);
  expect_secure(&A, auth, bonded);
  expect_secure(&B, auth, bonded);
}

TEST(sc_just_works_bonds_and_reencrypts_without_pairing) {
  up();
  link_up();
  pair_and_check(false, true);
  CHECK_EQ(A.actions, 0);
  CHECK_EQ(B.actions, 0);
  /* Each side keeps the keys it gave and got, and its own IRK. */
  CHECK_EQ(sec_count(&A, UVBLE_SECRET_OUR_SEC), 1);
  CHECK_EQ(sec_count(&A, UVBLE_SECRET_PEER_SEC), 1);
  CHECK_EQ(sec_count(&B, UVBLE_SECRET_PEER_SEC), 1);
  CHECK_EQ(sec_count(&A, UVBLE_SECRET_OUR_IRK), 1);
  CHECK_EQ(sec_count(&B, UVBLE_SECRET_OUR_IRK), 1);
  /* A's record of B carries B's identity and B's IRK. */
  uvble_addr_t bid;
  REQUIRE_EQ(uvble_config_get_mac(B.ble, &bid), 0);
  struct keys_bond kb;
  REQUIRE_EQ(keys_bond_load(A.ble, UVBLE_SECRET_PEER_SEC, &bid, &kb), 0);
  CHECK(kb.flags & KEYS_F_LTK);
  CHECK(kb.flags & KEYS_F_IRK);
  CHECK(kb.flags & KEYS_F_SC);
  CHECK(!(kb.flags & KEYS_F_AUTH));
  const struct secret *birk =
      sec_find(&B, UVBLE_SECRET_OUR_IRK, (const uint8_t *)"irk", 3);
  REQUIRE(birk != NULL);
  CHECK_MEM(kb.irk, birk->val, 16);

  link_down();
  struct memctl_stats before, after;
  link_up();
  memctl_get_stats(mc, &before);
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(2, 2, 3000));
  memctl_get_stats(mc, &after);
  /* No SMP exchange: the stored LTKs matched in the controller. */
  CHECK_EQ(after.acl_packets[0], before.acl_packets[0]);
  CHECK_EQ(after.acl_packets[1], before.acl_packets[1]);
  expect_secure(&A, false, true);
  expect_secure(&B, false, true);
  CHECK_EQ(A.actions + B.actions, 0);
  down();
}

TEST(sc_passkey_central_displays_peripheral_types) {
  up();
  set_cfg(&A, UVBLE_IO_DISPLAY_ONLY, true, true, true);
  set_cfg(&B, UVBLE_IO_KEYBOARD_ONLY, true, true, true);
  link_up();
  pair_and_check(true, true);
  CHECK_EQ(A.action, UVBLE_PASSKEY_ACTION_DISPLAY);
  CHECK_EQ(B.action, UVBLE_PASSKEY_ACTION_INPUT);
  CHECK_EQ(A.actions, 1);
  CHECK_EQ(B.actions, 1);
  down();
}

TEST(sc_passkey_peripheral_displays_its_own_number) {
  up();
  set_cfg(&A, UVBLE_IO_KEYBOARD_DISPLAY, true, true, true);
  set_cfg(&B, UVBLE_IO_DISPLAY_ONLY, true, true, false);
  B.display_own = 123456; /* MicroPython style: the app picks it */
  link_up();
  pair_and_check(true, false);
  CHECK_EQ(A.action, UVBLE_PASSKEY_ACTION_INPUT);
  CHECK_EQ(B.action, UVBLE_PASSKEY_ACTION_DISPLAY);
  CHECK_EQ(B.shown, 123456);
  /* Not bonding on one side: nothing stored anywhere. */
  CHECK_EQ(sec_count(&A, UVBLE_SECRET_PEER_SEC), 0);
  CHECK_EQ(sec_count(&B, UVBLE_SECRET_OUR_SEC), 0);
  down();
}

TEST(sc_passkey_both_keyboards) {
  up();
  set_cfg(&A, UVBLE_IO_KEYBOARD_ONLY, true, true, true);
  set_cfg(&B, UVBLE_IO_KEYBOARD_ONLY, true, true, true);
  A.input_value = B.input_value = 987654; /* the user makes one up */
  link_up();
  pair_and_check(true, true);
  CHECK_EQ(A.action, UVBLE_PASSKEY_ACTION_INPUT);
  CHECK_EQ(B.action, UVBLE_PASSKEY_ACTION_INPUT);
  down();
}

TEST(wrong_passkey_fails_with_confirm_value_failed_then_backs_off) {
  for (int sc = 0; sc < 2; sc++) {
    up();
    set_cfg(&A, UVBLE_IO_KEYBOARD_ONLY, true, sc, true);
    set_cfg(&B, UVBLE_IO_DISPLAY_ONLY, true, sc, true);
    B.display_own = 111111;
    A.input_value = 111112; /* A's user mistypes the last digit */
    link_up();
    REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
    REQUIRE(wait_enc(1, 1, 3000));
    /* B, the verifier, finds the mismatch and says so. */
    CHECK_EQ(A.enc.status, UVBLE_SMP_CONFIRM_VALUE_FAILED);
    CHECK_EQ(B.enc.status, UVBLE_SMP_CONFIRM_VALUE_FAILED);
    CHECK(!A.enc.encrypted);
    /* An immediate retry meets B's waiting interval. */
    REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
    REQUIRE(wait_enc(2, 1, 3000));
    CHECK_EQ(A.enc.status, UVBLE_SMP_REPEATED_ATTEMPTS);
    CHECK_EQ(B.enc_events, 1); /* B refused before anything started */
    /* After the interval (1 s for a first failure) the right number works. */
    run_for(&loop, 1100);
    A.input_value = -1;
    REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
    REQUIRE(wait_enc(3, 2, 3000));
    expect_secure(&A, true, true);
    expect_secure(&B, true, true);
    down();
  }
}

TEST(sc_numeric_comparison_accepted) {
  up();
  set_cfg(&A, UVBLE_IO_DISPLAY_YESNO, true, true, true);
  set_cfg(&B, UVBLE_IO_KEYBOARD_DISPLAY, true, true, true);
  link_up();
  pair_and_check(true, true);
  CHECK_EQ(A.action, UVBLE_PASSKEY_ACTION_NUMCMP);
  CHECK_EQ(B.action, UVBLE_PASSKEY_ACTION_NUMCMP);
  CHECK_EQ(A.shown, B.shown); /* both users saw the same six digits */
  down();
}

TEST(sc_numeric_comparison_rejected_by_either_side) {
  for (int who = 0; who < 2; who++) {
    up();
    set_cfg(&A, UVBLE_IO_DISPLAY_YESNO, true, true, true);
    set_cfg(&B, UVBLE_IO_DISPLAY_YESNO, true, true, true);
    (who ? &B : &A)->numcmp_accept = false;
    link_up();
    REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
    REQUIRE(wait_enc(1, 1, 3000));
    CHECK_EQ(A.enc.status, UVBLE_SMP_NUMCMP_FAILED);
    CHECK_EQ(B.enc.status, UVBLE_SMP_NUMCMP_FAILED);
    CHECK(!A.enc.encrypted);
    CHECK(!B.enc.encrypted);
    CHECK_EQ(sec_count(&A, UVBLE_SECRET_PEER_SEC), 0);
    CHECK_EQ(sec_count(&B, UVBLE_SECRET_PEER_SEC), 0);
    down();
  }
}

TEST(legacy_just_works_bonds_and_both_roles_reencrypt) {
  up();
  set_cfg(&A, UVBLE_IO_NO_INPUT_OUTPUT, false, false, true);
  link_up();
  pair_and_check(false, true);
  /* Legacy: each side distributed its own LTK with EDIV/Rand. */
  uvble_addr_t aid, bid;
  REQUIRE_EQ(uvble_config_get_mac(A.ble, &aid), 0);
  REQUIRE_EQ(uvble_config_get_mac(B.ble, &bid), 0);
  struct keys_bond a_peer, b_ours;
  REQUIRE_EQ(keys_bond_load(A.ble, UVBLE_SECRET_PEER_SEC, &bid, &a_peer), 0);
  REQUIRE_EQ(keys_bond_load(B.ble, UVBLE_SECRET_OUR_SEC, &aid, &b_ours), 0);
  CHECK(!(a_peer.flags & KEYS_F_SC));
  CHECK_MEM(a_peer.ltk, b_ours.ltk, 16);
  CHECK_EQ(a_peer.ediv, b_ours.ediv);
  CHECK_MEM(a_peer.rand, b_ours.rand, 8);
  link_down();
  link_up();
  pair_and_check(false, true);
  down();
}

TEST(legacy_passkey_peripheral_displays) {
  up();
  set_cfg(&A, UVBLE_IO_KEYBOARD_ONLY, true, false, true);
  set_cfg(&B, UVBLE_IO_DISPLAY_YESNO, true, true, true);
  link_up();
  pair_and_check(true, true);
  CHECK_EQ(A.action, UVBLE_PASSKEY_ACTION_INPUT);
  CHECK_EQ(B.action, UVBLE_PASSKEY_ACTION_DISPLAY);
  down();
}

TEST(legacy_passkey_central_displays) {
  up();
  set_cfg(&A, UVBLE_IO_DISPLAY_ONLY, true, false, true);
  set_cfg(&B, UVBLE_IO_KEYBOARD_DISPLAY, false, false, true);
  link_up();
  pair_and_check(true, true);
  CHECK_EQ(A.action, UVBLE_PASSKEY_ACTION_DISPLAY);
  CHECK_EQ(B.action, UVBLE_PASSKEY_ACTION_INPUT);
  down();
}

/* ---- uvble_gap_pair_req (uvble/req.h) --------------------------------------- */
struct preq {
  uvble_req_t req;
  int calls;
  int status;
  bool had_result;
  uvble_evt_encryption_t result;
};

static void on_preq(uvble_req_t *req, int status, const uvble_irq_data_t *d,
                    void *arg) {
  struct preq *q = arg;
  CHECK(req == &q->req);
  q->calls++;
  q->status = status;
  q->had_result = d != NULL;
  if (d) q->result = d->encryption;
}

static bool preq_done(void *arg) { return ((struct preq *)arg)->calls > 0; }

static void preq_start(struct preq *q) {
  memset(q, 0, sizeof *q);
  uvble_req_init(&q->req, on_preq, q);
  REQUIRE_EQ(uvble_gap_pair_req(&q->req, A.ble, A.conn), 0);
  CHECK_EQ(q->req.type, UVBLE_REQ_PAIR);
  CHECK_EQ(q->calls, 0);
}

/* Both users look at the number and never answer: the pairing waits. */
static void stalled_numcmp(void) {
  set_cfg(&A, UVBLE_IO_DISPLAY_YESNO, true, true, true);
  set_cfg(&B, UVBLE_IO_DISPLAY_YESNO, true, true, true);
  A.numcmp_silent = B.numcmp_silent = true;
}

static bool a_asked(void *arg) {
  (void)arg;
  return A.actions > 0;
}

TEST(pair_req_completes_with_the_link_state_and_no_irq_on_our_side) {
  up();
  link_up();
  struct preq q;
  preq_start(&q);
  REQUIRE(run_until_pred(&loop, preq_done, &q, 3000));
  REQUIRE(wait_enc(0, 1, 3000));
  CHECK_EQ(q.calls, 1);
  CHECK_EQ(q.status, 0);
  CHECK(q.result.encrypted);
  CHECK(q.result.bonded);
  CHECK_EQ(q.result.conn_handle, A.conn);
  CHECK_EQ(A.enc_events, 0);
  expect_secure(&B, false, true);
  CHECK_EQ(uvble_cancel(&q.req), UVBLE_EALREADY);
  down();
}

TEST(pair_req_cancel_fails_the_pairing_with_unspecified_reason) {
  up();
  stalled_numcmp();
  link_up();
  struct preq q;
  preq_start(&q);
  REQUIRE(run_until_pred(&loop, a_asked, NULL, 3000));
  REQUIRE_EQ(uvble_cancel(&q.req), 0);
  CHECK_EQ(q.calls, 0);
  CHECK_EQ(uvble_cancel(&q.req), UVBLE_EALREADY);
  REQUIRE(run_until_pred(&loop, preq_done, &q, 1000));
  CHECK_EQ(q.status, UVBLE_ECANCELED);
  CHECK(!q.had_result);
  /* The peer heard Pairing Failed, Unspecified Reason; we heard nothing. */
  REQUIRE(wait_enc(0, 1, 3000));
  CHECK_EQ(B.enc.status, UVBLE_SMP_UNSPECIFIED);
  run_for(&loop, 20);
  CHECK_EQ(A.enc_events, 0);
  CHECK_EQ(q.calls, 1);
  /* The link may pair again. */
  A.numcmp_silent = B.numcmp_silent = false;
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(1, 2, 3000));
  CHECK_EQ(A.enc.status, 0);
  down();
}

TEST(pair_req_ends_with_the_link_or_the_stack) {
  up();
  stalled_numcmp();
  link_up();
  struct preq q;
  preq_start(&q);
  REQUIRE(run_until_pred(&loop, a_asked, NULL, 3000));
  link_down();
  REQUIRE(run_until_pred(&loop, preq_done, &q, 1000));
  CHECK_EQ(q.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(A.enc_events, 0);
  link_up();
  A.actions = 0;
  preq_start(&q);
  REQUIRE(run_until_pred(&loop, a_asked, NULL, 3000));
  uvble_close(A.ble, NULL, NULL);
  A.ble = NULL;
  CHECK_EQ(q.calls, 1); /* inside uvble_close */
  CHECK_EQ(q.status, UVBLE_ECANCELED);
  down();
}

TEST_MAIN()
