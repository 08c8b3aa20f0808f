/* SPDX-License-Identifier: Apache-2.0 */
/* Pairing on btvirt between two uvble hosts (h[0] central, h[1]
 * peripheral): LE Secure Connections Just Works with bonding and
 * re-encryption without pairing, Passkey Entry both ways, Numeric
 * Comparison accepted and rejected, legacy Just Works and Passkey Entry,
 * a wrong passkey, a peripheral's Security Request. btvirt hands the
 * peripheral's host an LTK request and encrypts only when both hosts gave
 * it the same key, so every success below is a key agreement checked by
 * someone else's code. */
#include "test_pairing_common.h"

static uint64_t acl_sent(struct host *h) {
  uvble_stats_t st;
  uvble_get_stats(h->ble, &st);
  return st.acl_tx_packets;
}

TEST(lesc_just_works_bonds_then_reencrypts_without_pairing) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h);
  link_up(h);
  pair(h);
  expect_secure(&h[0], false, true);
  expect_secure(&h[1], false, true);
  CHECK_EQ(h[0].actions + h[1].actions, 0);
  CHECK_EQ(sec_count(&h[0], UVBLE_SECRET_PEER_SEC), 1);
  CHECK_EQ(sec_count(&h[1], UVBLE_SECRET_OUR_SEC), 1);
  link_down(h);
  link_up(h);
  uint64_t a = acl_sent(&h[0]), b = acl_sent(&h[1]);
  pair(h);
  /* No SMP PDU either way: the stored LTKs did it. */
  CHECK_EQ(acl_sent(&h[0]), a);
  CHECK_EQ(acl_sent(&h[1]), b);
  expect_secure(&h[0], false, true);
  expect_secure(&h[1], false, true);
  CHECK_EQ(h[0].actions + h[1].actions, 0);
  hosts_down(h);
  loop_teardown(&loop);
}

TEST(lesc_passkey_display_on_one_side_input_on_the_other) {
  for (int dir = 0; dir < 2; dir++) {
    uv_loop_init(&loop);
    struct host h[2];
    hosts_up(h);
    struct host *shows = &h[dir], *types = &h[!dir];
    set_cfg(shows, UVBLE_IO_DISPLAY_ONLY, true, true, true);
    set_cfg(types, UVBLE_IO_KEYBOARD_ONLY, true, true, true);
    link_up(h);
    pair(h);
    expect_secure(&h[0], true, true);
    expect_secure(&h[1], true, true);
    CHECK_EQ(shows->action, UVBLE_PASSKEY_ACTION_DISPLAY);
    CHECK_EQ(types->action, UVBLE_PASSKEY_ACTION_INPUT);
    hosts_down(h);
    loop_teardown(&loop);
  }
}

TEST(lesc_numeric_comparison_accepted_and_rejected) {
  for (int reject = 0; reject < 2; reject++) {
    uv_loop_init(&loop);
    struct host h[2];
    hosts_up(h);
    set_cfg(&h[0], UVBLE_IO_DISPLAY_YESNO, true, true, true);
    set_cfg(&h[1], UVBLE_IO_KEYBOARD_DISPLAY, true, true, true);
    h[1].numcmp_accept = !reject;
    link_up(h);
    pair(h);
    CHECK_EQ(h[0].action, UVBLE_PASSKEY_ACTION_NUMCMP);
    CHECK_EQ(h[1].action, UVBLE_PASSKEY_ACTION_NUMCMP);
    CHECK_EQ(h[0].shown, h[1].shown);
    if (!reject) {
      expect_secure(&h[0], true, true);
      expect_secure(&h[1], true, true);
    } else {
      CHECK_EQ(h[0].enc.status, UVBLE_SMP_NUMCMP_FAILED);
      CHECK_EQ(h[1].enc.status, UVBLE_SMP_NUMCMP_FAILED);
      CHECK(!h[0].enc.encrypted);
      CHECK(!h[1].enc.encrypted);
    }
    hosts_down(h);
    loop_teardown(&loop);
  }
}

TEST(legacy_just_works_and_passkey) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h);
  set_cfg(&h[0], UVBLE_IO_NO_INPUT_OUTPUT, false, false, true);
  link_up(h);
  pair(h);
  expect_secure(&h[0], false, true);
  expect_secure(&h[1], false, true);
  /* Re-encryption with the legacy keys (EDIV/Rand of the peripheral). */
  link_down(h);
  link_up(h);
  pair(h);
  expect_secure(&h[0], false, true);
  expect_secure(&h[1], false, true);
  link_down(h);
  /* Passkey Entry, legacy: the peripheral shows, the central types. */
  set_cfg(&h[0], UVBLE_IO_KEYBOARD_ONLY, true, false, true);
  set_cfg(&h[1], UVBLE_IO_DISPLAY_ONLY, true, false, true);
  link_up(h);
  /* A new pairing on a bonded link: the stored key is used first, so
   * pair afresh on the encrypted link. */
  pair(h);
  pair(h);
  expect_secure(&h[0], true, true);
  expect_secure(&h[1], true, true);
  CHECK_EQ(h[0].action, UVBLE_PASSKEY_ACTION_INPUT);
  CHECK_EQ(h[1].action, UVBLE_PASSKEY_ACTION_DISPLAY);
  hosts_down(h);
  loop_teardown(&loop);
}

TEST(wrong_passkey_fails_with_confirm_value_failed) {
  for (int sc = 0; sc < 2; sc++) {
    uv_loop_init(&loop);
    struct host h[2];
    hosts_up(h);
    set_cfg(&h[0], UVBLE_IO_KEYBOARD_ONLY, true, sc, true);
    set_cfg(&h[1], UVBLE_IO_DISPLAY_ONLY, true, sc, true);
    h[1].display_own = 246810;
    h[0].input_value = 246811;
    link_up(h);
    pair(h);
    CHECK_EQ(h[0].enc.status, UVBLE_SMP_CONFIRM_VALUE_FAILED);
    CHECK_EQ(h[1].enc.status, UVBLE_SMP_CONFIRM_VALUE_FAILED);
    CHECK(!h[0].enc.encrypted);
    CHECK(!h[1].enc.encrypted);
    CHECK_EQ(sec_count(&h[0], UVBLE_SECRET_PEER_SEC), 0);
    hosts_down(h);
    loop_teardown(&loop);
  }
}

TEST(security_request_from_the_peripheral) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h);
  link_up(h);
  REQUIRE_EQ(uvble_gap_pair(h[1].ble, h[1].conn), 0);
  REQUIRE(wait_enc(h, 1, 1));
  expect_secure(&h[0], false, true);
  expect_secure(&h[1], false, true);
  link_down(h);
  link_up(h);
  uint64_t a = acl_sent(&h[0]);
  REQUIRE_EQ(uvble_gap_pair(h[1].ble, h[1].conn), 0);
  REQUIRE(wait_enc(h, 2, 2));
  CHECK_EQ(acl_sent(&h[0]), a); /* the central only started encryption */
  expect_secure(&h[0], false, true);
  expect_secure(&h[1], false, true);
  hosts_down(h);
  loop_teardown(&loop);
}

TEST_MAIN()
