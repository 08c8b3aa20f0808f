/* SPDX-License-Identifier: Apache-2.0 */
/* The secrets layer (lib/keys.c): the app's GET_SECRET / SET_SECRET
 * handler first, the built-in bond store second; bond records; RPA
 * resolution over both; CCCD persistence; erasing bonds. */
#include <stdio.h>
#include <unistd.h>

#include "test_smp_peer.h"

static char dir[64], store_path[128], key_path[128];

static void open_store(void) {
  snprintf(dir, sizeof dir, "/tmp/uvble-keys-XXXXXX");
  REQUIRE(mkdtemp(dir) != NULL);
  snprintf(store_path, sizeof store_path, "%s/bonds", dir);
  snprintf(key_path, sizeof key_path, "%s/key", dir);
  REQUIRE_EQ(uvble_bond_store_open(ble, store_path, key_path, NULL, NULL, 0), 0);
}

static void remove_store(void) {
  unlink(store_path);
  unlink(key_path);
  rmdir(dir);
}

static struct keys_bond make_bond(uint8_t last, const uint8_t irk[16]) {
  struct keys_bond b;
  memset(&b, 0, sizeof b);
  b.flags = KEYS_F_LTK | (irk ? KEYS_F_IRK : 0) | KEYS_F_SC;
  b.key_size = 16;
  b.id_type = 0;
  uint8_t addr[6] = {last, 2, 3, 4, 5, 6};
  memcpy(b.id_addr, addr, 6);
  memset(b.ltk, last, 16);
  if (irk) memcpy(b.irk, irk, 16);
  return b;
}

static uvble_addr_t id_of(const struct keys_bond *b) {
  uvble_addr_t a;
  ble_addr_from_hci(&a, b->id_type, b->id_addr);
  return a;
}

TEST(bond_records_round_trip_and_reject_other_layouts) {
  uint8_t irk[16] = {1, 2, 3};
  struct keys_bond b = make_bond(7, irk), d;
  b.ediv = 0xBEEF;
  memcpy(b.rand, "\1\2\3\4\5\6\7\10", 8);
  memset(b.csrk, 0xCC, 16);
  b.sign_counter = 0x01020304;
  uint8_t v[KEYS_BOND_LEN];
  keys_bond_encode(&b, v);
  memset(&d, 0x5A, sizeof d);
  REQUIRE(keys_bond_decode(&d, v, sizeof v));
  /* Field by field: a struct's padding is not part of the record. */
  CHECK_EQ(d.flags, b.flags);
  CHECK_EQ(d.key_size, b.key_size);
  CHECK_EQ(d.id_type, b.id_type);
  CHECK_EQ(memcmp(d.id_addr, b.id_addr, 6), 0);
  CHECK_EQ(d.ediv, b.ediv);
  CHECK_EQ(memcmp(d.rand, b.rand, 8), 0);
  CHECK_EQ(memcmp(d.ltk, b.ltk, 16), 0);
  CHECK_EQ(memcmp(d.irk, b.irk, 16), 0);
  CHECK_EQ(memcmp(d.csrk, b.csrk, 16), 0);
  CHECK_EQ(d.sign_counter, b.sign_counter);
  CHECK(!keys_bond_decode(&d, v, sizeof v - 1));
  uint8_t w[KEYS_BOND_LEN + 1];
  memcpy(w, v, sizeof v);
  CHECK(!keys_bond_decode(&d, w, sizeof w));
  v[0] = 2; /* a later version */
  CHECK(!keys_bond_decode(&d, v, sizeof v));
  v[0] = 1;
  v[2] = 6; /* key size out of range */
  CHECK(!keys_bond_decode(&d, v, sizeof v));
  v[2] = 16;
  v[3] = 2; /* identity type */
  CHECK(!keys_bond_decode(&d, v, sizeof v));
}

TEST(app_first_then_the_store) {
  bring(0);
  open_store();
  const uint8_t key[3] = {'k', 'e', 'y'};
  uint8_t out[16];
  /* The app takes it: the store never sees it. */
  app_secrets = true;
  REQUIRE_EQ(keys_set(ble, 40, key, 3, (const uint8_t *)"app", 3), 0);
  app_secrets = false;
  CHECK_EQ(keys_get(ble, 40, key, 3, out, sizeof out), UVBLE_ENOENT);
  /* Unhandled: the store keeps it. */
  REQUIRE_EQ(keys_set(ble, 41, key, 3, (const uint8_t *)"store", 5), 0);
  CHECK_EQ(keys_get(ble, 41, key, 3, out, sizeof out), 5);
  CHECK_MEM(out, "store", 5);
  /* The app answering wins over the store. */
  app_secrets = true;
  REQUIRE_EQ(keys_set(ble, 41, key, 3, (const uint8_t *)"mine", 4), 0);
  CHECK_EQ(keys_get(ble, 41, key, 3, out, sizeof out), 4);
  CHECK_MEM(out, "mine", 4);
  /* Deleting what nobody has is fine. */
  app_secrets = false;
  CHECK_EQ(keys_set(ble, 42, key, 3, NULL, 0), 0);
  finish();
  remove_store();
}

TEST(without_a_store_unhandled_secrets_are_not_kept) {
  bring(NO_LINK);
  app_secrets = false;
  const uint8_t key[1] = {1};
  uint8_t out[4];
  CHECK_EQ(keys_set(ble, 40, key, 1, key, 1), UVBLE_ENOENT);
  CHECK_EQ(keys_get(ble, 40, key, 1, out, sizeof out), UVBLE_ENOENT);
  /* Our IRK: made up for the session, not persisted, stable meanwhile. */
  uint8_t a[16], b[16];
  CHECK_EQ(keys_local_irk(ble, a), UVBLE_ENOENT);
  keys_local_irk(ble, b);
  CHECK_MEM(a, b, 16);
  /* Persisted as soon as someone takes it. */
  app_secrets = true;
  CHECK_EQ(keys_local_irk(ble, b), 0);
  CHECK_MEM(a, b, 16);
  int i = find_sec(UVBLE_SECRET_OUR_IRK, (const uint8_t *)"irk", 3);
  REQUIRE(i >= 0);
  CHECK_MEM(secs[i].val, a, 16);
  finish();
}

static int overlong_irq(uvble_t *b, int ev, const uvble_irq_data_t *d,
                        void *arg) {
  (void)b;
  (void)arg;
  if (ev != UVBLE_IRQ_GET_SECRET) return 0;
  *d->get_secret.value_len = d->get_secret.value_cap + 1; /* lies */
  return 1;
}

TEST(a_handler_claiming_more_than_the_buffer_is_ignored) {
  bring(0);
  open_store();
  app_secrets = false;
  const uint8_t key[1] = {9};
  REQUIRE_EQ(keys_set(ble, 40, key, 1, (const uint8_t *)"ok", 2), 0);
  uvble_irq(ble, overlong_irq, NULL);
  uint8_t out[4];
  CHECK_EQ(keys_get(ble, 40, key, 1, out, sizeof out), 2); /* from the store */
  finish();
  remove_store();
}

TEST(rpas_resolve_against_app_and_store_bonds) {
  bring(0);
  open_store();
  uint8_t irk1[16] = {0x11}, irk2[16] = {0x22};
  struct keys_bond b1 = make_bond(1, irk1), b2 = make_bond(2, irk2);
  uvble_addr_t id1 = id_of(&b1), id2 = id_of(&b2), out;
  app_secrets = true;
  REQUIRE_EQ(keys_bond_save(ble, UVBLE_SECRET_PEER_SEC, &id1, &b1), 0);
  app_secrets = false;
  REQUIRE_EQ(keys_bond_save(ble, UVBLE_SECRET_PEER_SEC, &id2, &b2), 0);
  app_secrets = true;
  keys_irk_cache_invalidate(ble);
  uint8_t hci[6];
  uvble_addr_t rpa;
  REQUIRE_EQ(uvble_sm_rpa_generate(irk2, hci), 0);
  ble_addr_from_hci(&rpa, UVBLE_ADDR_RANDOM, hci);
  REQUIRE(uvble_resolve_peer(ble, &rpa, &out));
  CHECK_MEM(out.val, id2.val, 6);
  REQUIRE_EQ(uvble_sm_rpa_generate(irk1, hci), 0);
  ble_addr_from_hci(&rpa, UVBLE_ADDR_RANDOM, hci);
  REQUIRE(uvble_resolve_peer(ble, &rpa, &out));
  CHECK_MEM(out.val, id1.val, 6);
  /* keys_peer_identity maps the RPA; a public address stays itself. */
  keys_peer_identity(ble, &rpa, &out);
  CHECK_MEM(out.val, id1.val, 6);
  CHECK_EQ(out.type, UVBLE_ADDR_PUBLIC);
  keys_peer_identity(ble, &id2, &out);
  CHECK_MEM(out.val, id2.val, 6);
  /* A public "RPA" is not resolved. */
  rpa.type = UVBLE_ADDR_PUBLIC;
  CHECK(!uvble_resolve_peer(ble, &rpa, &out));
  /* Erasing removes both, through SET_SECRET and in the store. */
  int sets_before = sets;
  CHECK_EQ(uvble_erase_bonding(ble), 0);
  CHECK(sets > sets_before);
  CHECK_EQ(nsecs(UVBLE_SECRET_PEER_SEC), 0);
  struct keys_bond d;
  app_secrets = false;
  CHECK_EQ(keys_bond_load(ble, UVBLE_SECRET_PEER_SEC, &id2, &d), UVBLE_ENOENT);
  rpa.type = UVBLE_ADDR_RANDOM;
  CHECK(!uvble_resolve_peer(ble, &rpa, &out));
  finish();
  remove_store();
}

/* uvble_bond_list, and uvble_forget_bond (what `uvble bonds` uses): every
 * identity once, whichever record it has; removal forgets one peer only,
 * and its RPAs stop resolving. */
TEST(bonds_are_listed_and_removed_one_by_one) {
  bring(0);
  open_store();
  app_secrets = false;
  uint8_t irk1[16] = {0x31}, irk2[16] = {0x32};
  struct keys_bond b1 = make_bond(1, irk1), b2 = make_bond(2, irk2), b3 = make_bond(3, NULL);
  b2.flags |= KEYS_F_AUTH;
  b3.key_size = 7;
  uvble_addr_t id1 = id_of(&b1), id2 = id_of(&b2), id3 = id_of(&b3), out;
  REQUIRE_EQ(keys_bond_save(ble, UVBLE_SECRET_PEER_SEC, &id1, &b1), 0);
  REQUIRE_EQ(keys_bond_save(ble, UVBLE_SECRET_OUR_SEC, &id1, &b1), 0);
  REQUIRE_EQ(keys_bond_save(ble, UVBLE_SECRET_PEER_SEC, &id2, &b2), 0);
  REQUIRE_EQ(keys_bond_save(ble, UVBLE_SECRET_OUR_SEC, &id3, &b3), 0);
  keys_irk_cache_invalidate(ble);
  uvble_bond_info_t info[4];
  CHECK_EQ(uvble_bond_list(ble, NULL, 0), 3);
  CHECK_EQ(uvble_bond_list(ble, info, 1), 3); /* only one filled */
  REQUIRE_EQ(uvble_bond_list(ble, info, 4), 3);
  bool seen[3] = {false, false, false};
  for (int i = 0; i < 3; i++) {
    int k = info[i].identity.val[5] - 1; /* display order: last byte first in HCI */
    REQUIRE(k >= 0 && k < 3);
    seen[k] = true;
    CHECK_EQ(info[i].identity.type, UVBLE_ADDR_PUBLIC);
    CHECK_EQ(info[i].key_size, k == 2 ? 7 : 16);
    CHECK_EQ(info[i].authenticated, k == 1);
    CHECK_EQ(info[i].peer_irk, k != 2);
    CHECK(info[i].secure_connections);
  }
  CHECK(seen[0] && seen[1] && seen[2]);
  uint8_t hci[6];
  uvble_addr_t rpa;
  REQUIRE_EQ(uvble_sm_rpa_generate(irk1, hci), 0);
  ble_addr_from_hci(&rpa, UVBLE_ADDR_RANDOM, hci);
  CHECK(uvble_resolve_peer(ble, &rpa, &out));
  /* Remove the first: both its records go, the others stay. */
  uvble_addr_t resolved = id1;
  resolved.type = UVBLE_ADDR_PUBLIC_ID;
  CHECK_EQ(uvble_forget_bond(ble, &resolved), 0);
  CHECK_EQ(uvble_forget_bond(ble, &id1), UVBLE_ENOENT);
  struct keys_bond d;
  CHECK_EQ(keys_bond_load(ble, UVBLE_SECRET_PEER_SEC, &id1, &d), UVBLE_ENOENT);
  CHECK_EQ(keys_bond_load(ble, UVBLE_SECRET_OUR_SEC, &id1, &d), UVBLE_ENOENT);
  CHECK(!uvble_resolve_peer(ble, &rpa, &out));
  CHECK_EQ(uvble_bond_list(ble, info, 4), 2);
  CHECK_EQ(uvble_forget_bond(ble, &id3), 0);
  REQUIRE_EQ(uvble_bond_list(ble, info, 4), 1);
  CHECK_MEM(info[0].identity.val, id2.val, 6);
  CHECK_EQ(uvble_forget_bond(ble, NULL), UVBLE_EINVAL);
  CHECK_EQ(uvble_bond_list(ble, NULL, 1), UVBLE_EINVAL);
  finish();
  remove_store();
}

TEST(cccd_tables_persist_only_for_bonded_clients) {
  bring(1);
  struct ble_conn *c = conn_find(ble, H);
  REQUIRE(c != NULL);
  const uint8_t blob[4] = {0x10, 0x00, 0x01, 0x00};
  uint8_t out[8];
  CHECK_EQ(keys_cccd_save(ble, c, blob, 4), UVBLE_EPERM);
  c->bonded = true; /* as SMP sets it after a bonding pairing */
  CHECK_EQ(keys_cccd_save(ble, c, blob, 4), 0);
  CHECK_EQ(keys_cccd_load(ble, c, out, sizeof out), 4);
  CHECK_MEM(out, blob, 4);
  /* Stored under the client's address (type, then HCI order). */
  uint8_t key[7] = {0};
  memcpy(key + 1, PEER, 6);
  CHECK(find_sec(UVBLE_SECRET_CCCD, key, 7) >= 0);
  /* An empty table deletes it. */
  CHECK_EQ(keys_cccd_save(ble, c, blob, 0), 0);
  CHECK_EQ(keys_cccd_load(ble, c, out, sizeof out), UVBLE_ENOENT);
  uint8_t big[UVBLE_SECRET_VALUE_MAX + 1] = {0};
  CHECK_EQ(keys_cccd_save(ble, c, big, sizeof big), UVBLE_EMSGSIZE);
  finish();
}

TEST(our_irk_comes_from_the_store_and_goes_to_gap) {
  bring(NO_LINK);
  app_secrets = false;
  open_store();
  uint8_t irk[16];
  REQUIRE_EQ(keys_local_irk(ble, irk), 0);
  uvble_addr_t own;
  REQUIRE_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_ADDR_MODE,
                                  UVBLE_ADDR_MODE_RPA), 0);
  REQUIRE_EQ(uvble_gap_own_addr(ble, &own), 0);
  uint8_t hci[6];
  ble_addr_to_hci(&own, hci);
  CHECK(uvble_sm_rpa_resolve(irk, hci)); /* GAP's RPA is made with it */
  finish();
  /* A new session on the same store gets the same IRK. */
  bring(NO_LINK);
  app_secrets = false;
  REQUIRE_EQ(uvble_bond_store_open(ble, store_path, key_path, NULL, NULL, 0), 0);
  uint8_t again[16];
  REQUIRE_EQ(keys_local_irk(ble, again), 0);
  CHECK_MEM(irk, again, 16);
  finish();
  remove_store();
}

TEST_MAIN()
