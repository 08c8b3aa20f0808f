/* SPDX-License-Identifier: Apache-2.0 */
/* Bonds end to end on the in-memory controller pair: Security Requests,
 * re-encryption in both directions, a peer that lost its keys, the
 * built-in bond store across a restart, erasing bonds, resolving a bonded
 * peer's RPA, links that drop or stall during pairing. */
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "test_smp_pair_common.h"

TEST(micropython_ble_gap_pair_mitm_without_io_is_unauthenticated) {
  /* tests/multi_bluetooth/ble_gap_pair.py: mitm=True, le_secure=True,
   * bond=False on both, no IO: "_IRQ_ENCRYPTION_UPDATE 1 0 0". */
  up();
  set_cfg(&A, UVBLE_IO_NO_INPUT_OUTPUT, true, true, false);
  set_cfg(&B, UVBLE_IO_NO_INPUT_OUTPUT, true, true, false);
  link_up();
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(1, 1, 3000));
  expect_secure(&A, false, false);
  expect_secure(&B, false, false);
  CHECK_EQ(A.sets - sec_count(&A, UVBLE_SECRET_OUR_IRK), 0);
  down();
}

static int bonded_calls;
static bool bonded_seen;
static void on_bonded(uvble_t *ble, struct ble_conn *c) {
  (void)ble;
  bonded_calls++;
  bonded_seen = c->bonded && c->encrypted;
  /* What the GATT server does here: keep the client's CCCDs. */
  const uint8_t blob[2] = {0x01, 0x00};
  CHECK_EQ(keys_cccd_save(ble, c, blob, 2), 0);
}

TEST(the_gatt_server_hears_of_a_new_bond_and_keeps_cccds_with_it) {
  up();
  keys_on_bonded(B.ble, on_bonded);
  bonded_calls = 0;
  link_up();
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(1, 1, 3000));
  CHECK_EQ(bonded_calls, 1);
  CHECK(bonded_seen);
  CHECK_EQ(sec_count(&B, UVBLE_SECRET_CCCD), 1);
  /* Reconnected and re-encrypted: no new bond, no second call; the table
   * is found for the same client. */
  link_down();
  link_up();
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(2, 2, 3000));
  CHECK_EQ(bonded_calls, 1);
  struct ble_conn *c = conn_find(B.ble, B.conn);
  REQUIRE(c != NULL);
  uint8_t out[4];
  /* (Found: the GATT server's own table by now, saved through its
   * bond-link hook after this test's hook.) */
  CHECK(keys_cccd_load(B.ble, c, out, sizeof out) > 0);
  /* Erasing bonds takes the CCCDs too. */
  CHECK_EQ(uvble_erase_bonding(B.ble), 0);
  CHECK_EQ(sec_count(&B, UVBLE_SECRET_CCCD), 0);
  down();
}

TEST(peripheral_security_request_pairs_then_reencrypts) {
  up();
  link_up();
  REQUIRE_EQ(uvble_gap_pair(B.ble, B.conn), 0); /* Security Request */
  REQUIRE(wait_enc(1, 1, 3000));
  expect_secure(&A, false, true);
  expect_secure(&B, false, true);
  link_down();
  link_up();
  REQUIRE_EQ(uvble_gap_pair(B.ble, B.conn), 0);
  REQUIRE(wait_enc(2, 2, 3000));
  expect_secure(&A, false, true);
  expect_secure(&B, false, true);
  /* A second request on a secure link changes nothing. */
  REQUIRE_EQ(uvble_gap_pair(B.ble, B.conn), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(A.enc_events, 2);
  down();
}

static bool a_reencrypting(void *arg) {
  (void)arg;
  struct ble_conn *c = conn_find(A.ble, A.conn);
  return c && c->smp && c->smp->phase == SMP_REENCRYPT;
}

static int joined_status = 1;
static int joined_calls;
static bool req_done_flag;
static void on_joined(uvble_req_t *req, int status, const uvble_irq_data_t *d,
                      void *arg) {
  (void)req;
  (void)arg;
  joined_calls++;
  joined_status = status;
  req_done_flag = true;
  CHECK(d != NULL && d->encryption.encrypted && d->encryption.bonded);
}

/* A bonded peripheral's Security Request makes the central re-encrypt
 * from the bond by itself; the central's app asking to pair meanwhile
 * joins that procedure (as Zephyr's bt_conn_set_security does) instead of
 * failing with UVBLE_EBUSY: it is what pairing would have started. One
 * ENCRYPTION_UPDATE ends both. */
TEST(pair_during_reencryption_started_by_the_peer_joins_it) {
  up();
  link_up();
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(1, 1, 3000));
  expect_secure(&A, false, true);
  for (int with_req = 0; with_req < 2; with_req++) {
    link_down();
    link_up();
    int a_before = A.enc_events, b_before = B.enc_events;
    /* What A's handler of B's Security Request does on a bonded link
     * (peripheral_security_request_pairs_then_reencrypts covers that path
     * over the air): called here so that A's app acts while it is under
     * way, which on the in-memory pair lasts less than one loop turn. */
    struct ble_conn *ac = conn_find(A.ble, A.conn);
    REQUIRE(ac != NULL);
    REQUIRE_EQ(smp_reencrypt(A.ble, ac, false), 1);
    REQUIRE(a_reencrypting(NULL));
    uvble_req_t req;
    joined_calls = 0;
    req_done_flag = false;
    if (with_req) {
      uvble_req_init(&req, on_joined, NULL);
      REQUIRE_EQ(uvble_gap_pair_req(&req, A.ble, A.conn), 0);
      REQUIRE(run_until(&loop, &req_done_flag, 3000));
      /* The request took the completion; the irq handler saw none. */
      CHECK_EQ(joined_calls, 1);
      CHECK_EQ(joined_status, 0);
      CHECK_EQ(A.enc_events, a_before);
    } else {
      REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
      REQUIRE(wait_enc(a_before + 1, b_before + 1, 3000));
      CHECK_EQ(A.enc_events, a_before + 1);
    }
    REQUIRE(wait_enc(A.enc_events, b_before + 1, 3000));
    expect_secure(&A, false, true);
    expect_secure(&B, false, true);
  }
  down();
}

TEST(gap_pair_while_busy_and_on_unknown_links) {
  up();
  link_up();
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  CHECK_EQ(uvble_gap_pair(A.ble, A.conn), UVBLE_EBUSY);
  CHECK_EQ(uvble_gap_pair(A.ble, 0x0eee), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_gap_passkey(A.ble, A.conn, UVBLE_PASSKEY_ACTION_INPUT, 1),
           UVBLE_EINVAL); /* nothing asked */
  CHECK_EQ(uvble_gap_passkey(A.ble, 0x0eee, UVBLE_PASSKEY_ACTION_INPUT, 1),
           UVBLE_ENOTCONN);
  REQUIRE(wait_enc(1, 1, 3000));
  expect_secure(&A, false, true);
  /* Paired again on an encrypted link: a fresh pairing (key refresh). */
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(2, 2, 3000));
  expect_secure(&A, false, true);
  expect_secure(&B, false, true);
  down();
}

static uint64_t stat_of(uvble_t *ble, size_t off) {
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  return *(const uint64_t *)((const char *)&st + off);
}
#define STAT(ble, f) stat_of((ble), offsetof(uvble_stats_t, f))

static void expect_stale(const struct host *h) {
  CHECK_EQ(h->enc.status, UVBLE_EHCI);
  CHECK_EQ(h->enc.hci_status, 0x06); /* PIN or Key Missing */
  CHECK(h->enc.stale_bond);
  CHECK(!h->enc.encrypted);
  CHECK(!h->enc.bonded);
}

TEST(peer_that_lost_its_keys_is_reported_and_never_silently_repaired) {
  up();
  link_up();
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(1, 1, 3000));
  CHECK(!A.enc.stale_bond);
  link_down();
  CHECK_EQ(uvble_erase_bonding(B.ble), 0);
  CHECK_EQ(sec_count(&B, UVBLE_SECRET_OUR_SEC), 0);
  CHECK_EQ(sec_count(&B, UVBLE_SECRET_PEER_SEC), 0);
  CHECK_EQ(sec_count(&B, UVBLE_SECRET_OUR_IRK), 1); /* kept */
  int a_sets = A.sets;
  link_up();
  uint64_t rej0 = STAT(A.ble, smp_bond_rejected);
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(2, 2, 3000));
  /* B answered the LTK request negatively: the central hears Key Missing,
   * and B's app hears that a central asked for a bond it does not hold. */
  expect_stale(&A);
  expect_stale(&B);
  CHECK_EQ(STAT(A.ble, smp_bond_rejected), rej0 + 1);
  /* Asking again tries the stored key again: no pairing over the bond. */
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(3, 3, 3000));
  expect_stale(&A);
  CHECK_EQ(STAT(A.ble, smp_bond_rejected), rej0 + 2);
  /* Nor does the peer's Security Request make us pair. */
  REQUIRE_EQ(uvble_gap_pair(B.ble, B.conn), 0);
  REQUIRE(wait_enc(4, 4, 3000));
  expect_stale(&A);
  run_until_idle(&loop, 5000);
  CHECK_EQ(A.enc_events, 4);
  CHECK_EQ(sec_count(&B, UVBLE_SECRET_OUR_SEC), 0); /* nothing new bonded */
  CHECK_EQ(A.sets, a_sets);                         /* A's bond untouched */
  /* The application forgets the bond, then pairs: both bonded anew. */
  CHECK_EQ(uvble_forget_bond_conn(A.ble, 0x0eee), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_forget_bond_conn(A.ble, A.conn), 0);
  CHECK_EQ(sec_count(&A, UVBLE_SECRET_PEER_SEC), 0);
  CHECK_EQ(sec_count(&A, UVBLE_SECRET_OUR_SEC), 0);
  CHECK_EQ(uvble_forget_bond_conn(A.ble, A.conn), UVBLE_ENOENT);
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(5, 5, 3000));
  expect_secure(&A, false, true);
  expect_secure(&B, false, true);
  CHECK(!A.enc.stale_bond);
  CHECK(!B.enc.stale_bond);
  down();
}

TEST(forget_bond_by_identity_or_rpa) {
  up();
  link_up();
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(1, 1, 3000));
  link_down();
  uvble_addr_t bid, other;
  REQUIRE_EQ(uvble_config_get_mac(B.ble, &bid), 0);
  CHECK_EQ(uvble_forget_bond(A.ble, NULL), UVBLE_EINVAL);
  other = bid;
  other.type = 7;
  CHECK_EQ(uvble_forget_bond(A.ble, &other), UVBLE_EINVAL);
  other = bid;
  other.val[5] ^= 1;
  CHECK_EQ(uvble_forget_bond(A.ble, &other), UVBLE_ENOENT);
  /* By an RPA made with B's IRK: the identity behind it. */
  const struct secret *birk =
      sec_find(&B, UVBLE_SECRET_OUR_IRK, (const uint8_t *)"irk", 3);
  REQUIRE(birk != NULL);
  uint8_t hci[6];
  REQUIRE_EQ(uvble_sm_rpa_generate(birk->val, hci), 0);
  uvble_addr_t rpa, id;
  ble_addr_from_hci(&rpa, UVBLE_ADDR_RANDOM, hci);
  REQUIRE(uvble_resolve_peer(A.ble, &rpa, &id));
  CHECK_EQ(uvble_forget_bond(A.ble, &rpa), 0);
  CHECK_EQ(sec_count(&A, UVBLE_SECRET_PEER_SEC), 0);
  CHECK(!uvble_resolve_peer(A.ble, &rpa, &id)); /* its IRK went with it */
  CHECK_EQ(uvble_forget_bond(A.ble, &bid), UVBLE_ENOENT);
  /* B's side by identity address. */
  uvble_addr_t aid;
  REQUIRE_EQ(uvble_config_get_mac(A.ble, &aid), 0);
  CHECK_EQ(uvble_forget_bond(B.ble, &aid), 0);
  CHECK_EQ(sec_count(&B, UVBLE_SECRET_OUR_SEC), 0);
  CHECK_EQ(sec_count(&B, UVBLE_SECRET_PEER_SEC), 0);
  down();
}

TEST(rpa_of_a_bonded_peer_resolves_to_its_identity) {
  up();
  link_up();
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(1, 1, 3000));
  const struct secret *birk =
      sec_find(&B, UVBLE_SECRET_OUR_IRK, (const uint8_t *)"irk", 3);
  REQUIRE(birk != NULL);
  uint8_t hci[6];
  REQUIRE_EQ(uvble_sm_rpa_generate(birk->val, hci), 0);
  uvble_addr_t rpa, id, bid;
  ble_addr_from_hci(&rpa, UVBLE_ADDR_RANDOM, hci);
  REQUIRE_EQ(uvble_config_get_mac(B.ble, &bid), 0);
  REQUIRE(uvble_resolve_peer(A.ble, &rpa, &id));
  CHECK_EQ(id.type, UVBLE_ADDR_PUBLIC);
  CHECK_MEM(id.val, bid.val, 6);
  /* Not an RPA of anyone bonded; not an RPA at all. */
  uint8_t other[16] = {1};
  REQUIRE_EQ(uvble_sm_rpa_generate(other, hci), 0);
  ble_addr_from_hci(&rpa, UVBLE_ADDR_RANDOM, hci);
  CHECK(!uvble_resolve_peer(A.ble, &rpa, &id));
  CHECK(!uvble_resolve_peer(A.ble, &bid, &id));
  /* Erased bonds resolve no more. */
  REQUIRE_EQ(uvble_sm_rpa_generate(birk->val, hci), 0);
  ble_addr_from_hci(&rpa, UVBLE_ADDR_RANDOM, hci);
  CHECK_EQ(uvble_erase_bonding(A.ble), 0);
  CHECK(!uvble_resolve_peer(A.ble, &rpa, &id));
  down();
}

static bool b_has_input(void *arg) {
  (void)arg;
  return B.input_pending;
}

TEST(link_drop_during_pairing_completes_with_edisconnected) {
  up();
  set_cfg(&A, UVBLE_IO_DISPLAY_ONLY, true, true, true);
  set_cfg(&B, UVBLE_IO_KEYBOARD_ONLY, true, true, true);
  B.input_value = -1;
  link_up();
  /* B's user never types: the pairing waits on B. */
  B.peer = &B; /* try_input finds no displayed number from "itself" */
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(run_until_pred(&loop, b_has_input, NULL, 3000));
  link_down();
  CHECK_EQ(A.enc_events, 1);
  CHECK_EQ(B.enc_events, 1);
  CHECK_EQ(A.enc.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(B.enc.status, UVBLE_EDISCONNECTED);
  CHECK(!A.enc.encrypted);
  /* The answer arrives too late: no such link. */
  CHECK_EQ(uvble_gap_passkey(B.ble, B.conn, UVBLE_PASSKEY_ACTION_INPUT, 1),
           UVBLE_ENOTCONN);
  down();
}

TEST(smp_timeout_ends_pairing_and_smp_on_the_link) {
  up();
  set_cfg(&A, UVBLE_IO_DISPLAY_ONLY, true, true, true);
  set_cfg(&B, UVBLE_IO_KEYBOARD_ONLY, true, true, true);
  smp_set_timeout_ms(A.ble, 300);
  smp_set_timeout_ms(B.ble, 300);
  B.input_silent = true;
  link_up();
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(1, 1, 3000));
  CHECK_EQ(A.enc.status, UVBLE_ETIMEDOUT);
  CHECK_EQ(B.enc.status, UVBLE_ETIMEDOUT);
  /* 3.4: no more pairing on this link... */
  CHECK_EQ(uvble_gap_pair(A.ble, A.conn), UVBLE_ETIMEDOUT);
  CHECK_EQ(uvble_gap_pair(B.ble, B.conn), UVBLE_ETIMEDOUT);
  CHECK_EQ(uvble_gap_passkey(B.ble, B.conn, UVBLE_PASSKEY_ACTION_INPUT, 1),
           UVBLE_EINVAL);
  /* ... until a new one. */
  link_down();
  B.input_silent = false;
  link_up();
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(2, 2, 3000));
  expect_secure(&A, true, true);
  down();
}

/* ---- the built-in bond store ------------------------------------------------ */
static char dir[64];

static void store_paths(char *store, char *key, size_t n, int side) {
  snprintf(store, n, "%s/bonds-%d", dir, side);
  snprintf(key, n, "%s/key-%d", dir, side);
}

static void open_stores(void) {
  char s[128], k[128], err[256];
  for (int i = 0; i < 2; i++) {
    store_paths(s, k, sizeof s, i);
    int r = uvble_bond_store_open(i ? B.ble : A.ble, s, k, NULL, err, sizeof err);
    if (r) fprintf(stderr, "  %s\n", err);
    REQUIRE_EQ(r, 0);
  }
}

TEST(bonds_survive_a_restart_through_the_bond_store) {
  snprintf(dir, sizeof dir, "/tmp/uvble-smp-XXXXXX");
  REQUIRE(mkdtemp(dir) != NULL);
  up();
  A.app_secrets = B.app_secrets = false; /* the app keeps nothing */
  open_stores();
  link_up();
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(1, 1, 3000));
  expect_secure(&A, false, true);
  expect_secure(&B, false, true);
  uint8_t irk_before[16];
  REQUIRE_EQ(keys_local_irk(B.ble, irk_before), 0);
  down();

  /* A new process: new stacks on a new controller pair (the same
   * addresses, as memctl gives them), the same store files. */
  up();
  A.app_secrets = B.app_secrets = false;
  open_stores();
  uint8_t irk_after[16];
  REQUIRE_EQ(keys_local_irk(B.ble, irk_after), 0);
  CHECK_MEM(irk_before, irk_after, 16); /* our IRK is kept */
  link_up();
  struct memctl_stats before, after;
  memctl_get_stats(mc, &before);
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(1, 1, 3000));
  memctl_get_stats(mc, &after);
  CHECK_EQ(after.acl_packets[0] + after.acl_packets[1],
           before.acl_packets[0] + before.acl_packets[1]);
  expect_secure(&A, false, true);
  expect_secure(&B, false, true);
  /* Erasing empties the store but keeps the IRK. */
  CHECK_EQ(uvble_erase_bonding(B.ble), 0);
  down();

  up();
  A.app_secrets = B.app_secrets = false;
  open_stores();
  link_up();
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(1, 0, 3000));
  CHECK_EQ(A.enc.hci_status, 0x06); /* B forgot */
  REQUIRE_EQ(keys_local_irk(B.ble, irk_after), 0);
  CHECK_MEM(irk_before, irk_after, 16);
  down();
  char s[128], k[128];
  for (int i = 0; i < 2; i++) {
    store_paths(s, k, sizeof s, i);
    unlink(s);
    unlink(k);
  }
  rmdir(dir);
}

TEST(bond_store_open_refuses_a_wrong_passphrase) {
  snprintf(dir, sizeof dir, "/tmp/uvble-smp-XXXXXX");
  REQUIRE(mkdtemp(dir) != NULL);
  char s[128];
  snprintf(s, sizeof s, "%s/bonds", dir);
  up();
  char err[256] = "";
  CHECK_EQ(uvble_bond_store_open(A.ble, s, NULL, "right", err, sizeof err), 0);
  CHECK_EQ(uvble_bond_store_open(B.ble, s, NULL, "wrong", err, sizeof err),
           UVBLE_EACCES);
  CHECK(err[0] != 0);
  CHECK_EQ(uvble_bond_store_open(B.ble, NULL, NULL, "x", NULL, 0), UVBLE_EINVAL);
  down();
  unlink(s);
  rmdir(dir);
}

TEST_MAIN()
