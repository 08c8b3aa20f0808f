/* SPDX-License-Identifier: Apache-2.0 */
/* Bonds on btvirt: the built-in bond store across a process restart,
 * GATT attribute security against the real link state, and a bonded peer
 * that advertises with a resolvable private address.
 *
 * Restart: btvirt gives each new client connection the lowest free
 * controller slot and derives the address from it (00:AA:01:NN:00:42), so
 * closing both stacks and opening two new ones in the same order gives the
 * new controllers the old addresses. The test checks that before relying
 * on it: the bonds are keyed by identity address. */
#include <unistd.h>

#include "test_pairing_common.h"
#include "uvble/gattc.h"
#include "uvble/gatts.h"

static char dir[64];

static void open_store(struct host *h, int i) {
  char s[128], k[128], err[256];
  snprintf(s, sizeof s, "%s/bonds-%d", dir, i);
  snprintf(k, sizeof k, "%s/key-%d", dir, i);
  int r = uvble_bond_store_open(h->ble, s, k, NULL, err, sizeof err);
  if (r) fprintf(stderr, "  %s\n", err);
  REQUIRE_EQ(r, 0);
  h->app_secrets = false; /* the app keeps nothing itself */
}

static void remove_store(void) {
  char p[128];
  for (int i = 0; i < 2; i++) {
    snprintf(p, sizeof p, "%s/bonds-%d", dir, i);
    unlink(p);
    snprintf(p, sizeof p, "%s/key-%d", dir, i);
    unlink(p);
  }
  rmdir(dir);
}

static uint64_t acl_sent(struct host *h) {
  uvble_stats_t st;
  uvble_get_stats(h->ble, &st);
  return st.acl_tx_packets;
}

TEST(bonds_survive_a_restart_through_the_bond_store) {
  snprintf(dir, sizeof dir, "/tmp/uvble-pairing-XXXXXX");
  REQUIRE(mkdtemp(dir) != NULL);
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h);
  uvble_addr_t addr0 = h[0].addr, addr1 = h[1].addr;
  for (int i = 0; i < 2; i++) open_store(&h[i], i);
  link_up(h);
  pair(h);
  expect_secure(&h[0], false, true);
  expect_secure(&h[1], false, true);
  hosts_down(h);

  /* The "new process": new stacks, new controllers, the same files. */
  hosts_up(h);
  REQUIRE_EQ(memcmp(h[0].addr.val, addr0.val, 6), 0);
  REQUIRE_EQ(memcmp(h[1].addr.val, addr1.val, 6), 0);
  for (int i = 0; i < 2; i++) open_store(&h[i], i);
  link_up(h);
  uint64_t a = acl_sent(&h[0]), b = acl_sent(&h[1]);
  pair(h);
  CHECK_EQ(acl_sent(&h[0]), a); /* encrypted with the stored keys */
  CHECK_EQ(acl_sent(&h[1]), b);
  expect_secure(&h[0], false, true);
  expect_secure(&h[1], false, true);
  hosts_down(h);
  loop_teardown(&loop);
  remove_store();
}

struct reads {
  struct host *h;
  int n;
};
static bool reads_pred(void *arg) {
  struct reads *r = arg;
  return r->h->reads_done >= r->n;
}

/* Reads value handle vh from h's peer; returns the status. */
static int read_value(struct host *h, uint16_t vh) {
  struct reads r = {h, h->reads_done + 1};
  h->read_len = 0;
  REQUIRE_EQ(uvble_gattc_read(h->ble, h->conn, vh), 0);
  REQUIRE(run_until_pred(&loop, reads_pred, &r, 5000));
  return h->read_status;
}

TEST(encrypted_characteristics_refused_before_and_served_after_pairing) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h);
  uvble_gatts_characteristic_t c[2] = {
      {.uuid = uvble_uuid16(0xFF01),
       .flags = UVBLE_FLAG_READ | UVBLE_FLAG_READ_ENCRYPTED},
      {.uuid = uvble_uuid16(0xFF02),
       .flags = UVBLE_FLAG_READ | UVBLE_FLAG_READ_AUTHENTICATED},
  };
  uvble_gatts_service_t svc = {.uuid = uvble_uuid16(0xFF00),
                               .characteristics = c,
                               .num_characteristics = 2};
  uint16_t vh[2];
  REQUIRE_EQ(uvble_gatts_register_services(h[1].ble, &svc, 1, vh, 2), 2);
  REQUIRE_EQ(uvble_gatts_write(h[1].ble, vh[0], "encrypted", 9, false), 0);
  REQUIRE_EQ(uvble_gatts_write(h[1].ble, vh[1], "mitm", 4, false), 0);
  link_up(h);
  /* Unencrypted: Insufficient Encryption / Authentication. */
  CHECK_EQ(read_value(&h[0], vh[0]), UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION);
  CHECK_EQ(read_value(&h[0], vh[1]), UVBLE_ATT_ERR_INSUFFICIENT_AUTHENTICATION);
  /* Just Works: encrypted but not authenticated. */
  pair(h);
  expect_secure(&h[0], false, true);
  CHECK_EQ(read_value(&h[0], vh[0]), 0);
  CHECK_EQ(h[0].read_len, 9);
  CHECK_MEM(h[0].read_data, "encrypted", 9);
  CHECK_EQ(read_value(&h[0], vh[1]), UVBLE_ATT_ERR_INSUFFICIENT_AUTHENTICATION);
  /* The client pairs again with MITM protection and retries. */
  set_cfg(&h[0], UVBLE_IO_KEYBOARD_ONLY, true, true, true);
  set_cfg(&h[1], UVBLE_IO_DISPLAY_ONLY, true, true, true);
  pair(h);
  expect_secure(&h[0], true, true);
  CHECK_EQ(read_value(&h[0], vh[1]), 0);
  CHECK_MEM(h[0].read_data, "mitm", 4);
  hosts_down(h);
  loop_teardown(&loop);
}

static bool scanned_random(void *arg) {
  struct host *h = arg;
  return h->scan_results > 0 && h->last_scan_addr.type == UVBLE_ADDR_RANDOM;
}

TEST(a_bonded_peer_advertising_an_rpa_is_resolved_and_reencrypted) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h);
  link_up(h);
  pair(h); /* h[1] gives h[0] its IRK and identity */
  expect_secure(&h[0], false, true);
  link_down(h);
  /* h[1] goes private; h[0] scans first (btvirt reports an advertiser
   * once, when it starts). */
  REQUIRE_EQ(uvble_config_set_int(h[1].ble, UVBLE_CONFIG_ADDR_MODE,
                                  UVBLE_ADDR_MODE_RPA), 0);
  REQUIRE_EQ(uvble_gap_scan(h[0].ble, 0, 0, 0, false), 0);
  run_until_idle(&loop, 5000); /* scanning is on at the controller */
  h[0].scan_results = 0;
  REQUIRE_EQ(uvble_gap_advertise(h[1].ble, 20000, ADV, sizeof ADV, NULL, 0,
                                 true),
             0);
  REQUIRE(run_until_pred(&loop, scanned_random, &h[0], 15000));
  REQUIRE_EQ(uvble_gap_scan_stop(h[0].ble), 0);
  uvble_addr_t rpa = h[0].last_scan_addr, id;
  uint8_t hci[6];
  ble_addr_to_hci(&rpa, hci);
  CHECK(uvble_sm_addr_is_rpa(hci));
  CHECK(memcmp(rpa.val, h[1].addr.val, 6) != 0);
  REQUIRE(uvble_resolve_peer(h[0].ble, &rpa, &id));
  CHECK_EQ(id.type, UVBLE_ADDR_PUBLIC);
  CHECK_MEM(id.val, h[1].addr.val, 6);
  /* Connecting to the RPA: the central finds the bond behind it. */
  REQUIRE_EQ(uvble_gap_connect(h[0].ble, &rpa, 0, 0, 0), 0);
  REQUIRE(run_until_pred(&loop, both_connected, h, 15000));
  uint64_t a = 0;
  uvble_stats_t st;
  uvble_get_stats(h[0].ble, &st);
  a = st.acl_tx_packets;
  pair(h);
  expect_secure(&h[0], false, true);
  expect_secure(&h[1], false, true);
  uvble_get_stats(h[0].ble, &st);
  CHECK_EQ(st.acl_tx_packets, a);
  hosts_down(h);
  loop_teardown(&loop);
}

TEST(pairing_over_private_and_static_random_addresses) {
  /* c1 and f5/f6 take both devices' addresses as used on the link: the
   * peripheral's RPA and the central's static random address here. */
  for (int sc = 0; sc < 2; sc++) {
    uv_loop_init(&loop);
    struct host h[2];
    hosts_up(h);
    set_cfg(&h[0], UVBLE_IO_NO_INPUT_OUTPUT, false, sc, true);
    REQUIRE_EQ(uvble_config_set_int(h[0].ble, UVBLE_CONFIG_ADDR_MODE,
                                    UVBLE_ADDR_MODE_RANDOM), 0);
    REQUIRE_EQ(uvble_config_set_int(h[1].ble, UVBLE_CONFIG_ADDR_MODE,
                                    UVBLE_ADDR_MODE_RPA), 0);
    uvble_addr_t rpa;
    REQUIRE_EQ(uvble_gap_own_addr(h[1].ble, &rpa), 0);
    REQUIRE_EQ(uvble_gap_advertise(h[1].ble, 20000, ADV, sizeof ADV, NULL, 0,
                                   true),
               0);
    run_until_idle(&loop, 5000); /* advertising is on at the controller */
    REQUIRE_EQ(uvble_gap_connect(h[0].ble, &rpa, 0, 0, 0), 0);
    REQUIRE(run_until_pred(&loop, both_connected, h, 15000));
    pair(h);
    expect_secure(&h[0], false, true);
    expect_secure(&h[1], false, true);
    /* Each keeps the other under its identity address. */
    uvble_addr_t a_static;
    REQUIRE_EQ(uvble_config_get_mac(h[0].ble, &a_static), 0);
    uint8_t key[7];
    key[0] = 0;
    ble_addr_to_hci(&h[1].addr, key + 1);
    CHECK(sec_find(&h[0], UVBLE_SECRET_PEER_SEC, key, 7) != NULL);
    key[0] = 1;
    ble_addr_to_hci(&a_static, key + 1);
    CHECK(sec_find(&h[1], UVBLE_SECRET_OUR_SEC, key, 7) != NULL);
    hosts_down(h);
    loop_teardown(&loop);
  }
}

TEST_MAIN()
