/* SPDX-License-Identifier: Apache-2.0 */
/* CCCDs of bonded clients on btvirt (Vol 3, Part G, 3.3.3.3): h[0] is the
 * central and GATT client, h[1] the peripheral and GATT server. A bonded
 * client that comes back and re-encrypts gets its subscriptions served
 * without writing them again, also after the server restarts with its
 * bond store; after the database changed while it was away it is told
 * with Service Changed. */
#include <unistd.h>

#include "test_pairing_common.h"
#include "uvble/gattc.h"
#include "uvble/gatts.h"

#define SC_CCCD (UVBLE_GATTS_SERVICE_CHANGED_HANDLE + 1)

static struct {
  int notifies, indicates, writes_done, write_status;
  uint16_t ntf_handle, ind_handle;
  uint8_t ntf[16], ind[16];
  size_t ntf_len, ind_len;
} G;
static uint16_t vh;

static int irq(uvble_t *ble, int ev, const uvble_irq_data_t *d, void *arg) {
  switch (ev) {
    case UVBLE_IRQ_GATTC_NOTIFY:
      G.notifies++;
      G.ntf_handle = d->gattc_data.value_handle;
      G.ntf_len = d->gattc_data.data_len < 16 ? d->gattc_data.data_len : 16;
      memcpy(G.ntf, d->gattc_data.data, G.ntf_len);
      break;
    case UVBLE_IRQ_GATTC_INDICATE:
      G.indicates++;
      G.ind_handle = d->gattc_data.value_handle;
      G.ind_len = d->gattc_data.data_len < 16 ? d->gattc_data.data_len : 16;
      memcpy(G.ind, d->gattc_data.data, G.ind_len);
      break;
    case UVBLE_IRQ_GATTC_WRITE_DONE:
      G.writes_done++;
      G.write_status = d->gatt_status.status;
      break;
    default:
      break;
  }
  return host_irq(ble, ev, d, arg);
}

static void register_server(struct host *h, bool changed) {
  uvble_gatts_characteristic_t chr[2];
  memset(chr, 0, sizeof chr);
  size_t n = 0;
  if (changed) {
    chr[n].uuid = uvble_uuid16(0x2a19);
    chr[n++].flags = UVBLE_FLAG_READ | UVBLE_FLAG_NOTIFY;
  }
  chr[n].uuid = uvble_uuid16(0x2a37);
  chr[n++].flags = UVBLE_FLAG_READ | UVBLE_FLAG_NOTIFY;
  uvble_gatts_service_t svc = {uvble_uuid16(0x180d), chr, n};
  uint16_t handles[2];
  REQUIRE_EQ(uvble_gatts_register_services(h[1].ble, &svc, 1, handles, 2), (int)n);
  vh = handles[n - 1];
}

static void start(struct host *h) {
  memset(&G, 0, sizeof G);
  hosts_up(h);
  for (int i = 0; i < 2; i++) uvble_irq(h[i].ble, irq, &h[i]);
  register_server(h, false);
}

static bool write_done(void *arg) { return G.writes_done >= *(int *)arg; }

static void subscribe(struct host *h, uint16_t cccd, uint16_t bits) {
  uint8_t v[2] = {(uint8_t)bits, (uint8_t)(bits >> 8)};
  int want = G.writes_done + 1;
  REQUIRE_EQ(uvble_gattc_write(h[0].ble, h[0].conn, cccd, v, 2,
                               UVBLE_GATTC_WRITE_WITH_RESPONSE),
             0);
  REQUIRE(run_until_pred(&loop, write_done, &want, 5000));
  CHECK_EQ(G.write_status, 0);
}

static bool got_notify(void *arg) { return G.notifies >= *(int *)arg; }
static bool got_indicate(void *arg) { return G.indicates >= *(int *)arg; }

/* The server updates its value for subscribers; the client hears it. */
static void expect_update(struct host *h) {
  int want = G.notifies + 1;
  REQUIRE_EQ(uvble_gatts_write(h[1].ble, vh, "bpm", 3, true), 0);
  REQUIRE(run_until_pred(&loop, got_notify, &want, 5000));
  CHECK_EQ(G.ntf_handle, vh);
  CHECK_EQ(G.ntf_len, 3);
  CHECK_MEM(G.ntf, "bpm", 3);
}

TEST(a_bonded_client_is_notified_after_reconnecting_without_subscribing_again) {
  uv_loop_init(&loop);
  struct host h[2];
  start(h);
  link_up(h);
  pair(h);
  expect_secure(&h[1], false, true);
  subscribe(h, (uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  expect_update(h);
  link_down(h);
  link_up(h);
  CHECK_EQ(uvble_gatts_subscription(h[1].ble, h[1].conn, vh), 0);
  pair(h); /* re-encrypts with the stored keys */
  expect_secure(&h[1], false, true);
  CHECK_EQ(uvble_gatts_subscription(h[1].ble, h[1].conn, vh), UVBLE_CCCD_NOTIFY);
  expect_update(h);
  hosts_down(h);
  loop_teardown(&loop);
}

TEST(service_changed_after_the_database_changed_while_the_client_was_away) {
  uv_loop_init(&loop);
  struct host h[2];
  start(h);
  link_up(h);
  pair(h);
  subscribe(h, SC_CCCD, UVBLE_CCCD_INDICATE);
  subscribe(h, (uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  link_down(h);
  register_server(h, true);
  link_up(h);
  pair(h);
  int want = 1;
  REQUIRE(run_until_pred(&loop, got_indicate, &want, 5000));
  CHECK_EQ(G.ind_handle, UVBLE_GATTS_SERVICE_CHANGED_HANDLE);
  const uint8_t range[4] = {UVBLE_GATTS_FIRST_USER_HANDLE, 0, 0xff, 0xff};
  CHECK_EQ(G.ind_len, 4);
  CHECK_MEM(G.ind, range, 4);
  CHECK_EQ(uvble_gatts_subscription(h[1].ble, h[1].conn, vh), 0);
  /* It rediscovers and subscribes again; next time nothing is said. */
  subscribe(h, (uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  link_down(h);
  link_up(h);
  pair(h);
  RUN_UNTIL(&loop, G.indicates >= 1, 5000);
  CHECK_EQ(G.indicates, 1);
  expect_update(h);
  hosts_down(h);
  loop_teardown(&loop);
}

/* ---- across a restart of both hosts, through their bond stores -------------- */
static char dir[64];

static void open_store(struct host *h, int i) {
  char s[128], k[128], err[256];
  snprintf(s, sizeof s, "%s/bonds-%d", dir, i);
  snprintf(k, sizeof k, "%s/key-%d", dir, i);
  int r = uvble_bond_store_open(h->ble, s, k, NULL, err, sizeof err);
  if (r) fprintf(stderr, "  %s\n", err);
  REQUIRE_EQ(r, 0);
  h->app_secrets = false;
}

TEST(subscriptions_survive_a_restart_through_the_bond_store) {
  snprintf(dir, sizeof dir, "/tmp/uvble-cccd-XXXXXX");
  REQUIRE(mkdtemp(dir) != NULL);
  uv_loop_init(&loop);
  struct host h[2];
  start(h);
  uvble_addr_t addr1 = h[1].addr;
  for (int i = 0; i < 2; i++) open_store(&h[i], i);
  link_up(h);
  pair(h);
  subscribe(h, (uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  hosts_down(h);

  /* New stacks on new controllers (btvirt gives the same addresses in the
   * same order), the same files, the same database registered again. */
  start(h);
  REQUIRE_EQ(memcmp(h[1].addr.val, addr1.val, 6), 0);
  for (int i = 0; i < 2; i++) open_store(&h[i], i);
  link_up(h);
  pair(h);
  expect_secure(&h[1], false, true);
  CHECK_EQ(uvble_gatts_subscription(h[1].ble, h[1].conn, vh), UVBLE_CCCD_NOTIFY);
  expect_update(h);
  hosts_down(h);
  loop_teardown(&loop);
  char p[128];
  for (int i = 0; i < 2; i++) {
    snprintf(p, sizeof p, "%s/bonds-%d", dir, i);
    unlink(p);
    snprintf(p, sizeof p, "%s/key-%d", dir, i);
    unlink(p);
  }
  rmdir(dir);
}

TEST_MAIN()
