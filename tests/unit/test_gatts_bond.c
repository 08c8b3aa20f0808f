/* SPDX-License-Identifier: Apache-2.0 */
/* CCCDs of bonded clients across connections (Vol 3, Part G, 3.3.3.3) and
 * Service Changed for a bonded client that was away while the database
 * changed (7.1), end to end on the in-memory controller pair: A is the
 * central and GATT client, B the peripheral and GATT server; both keep
 * their secrets in the app (GET/SET_SECRET) unless a test opens the
 * built-in bond store. */
#include <stdio.h>
#include <unistd.h>

#include "test_smp_pair_common.h"
#include "uvble/gattc.h"
#include "uvble/gatts.h"

#define SC_VALUE UVBLE_GATTS_SERVICE_CHANGED_HANDLE
#define SC_CCCD (UVBLE_GATTS_SERVICE_CHANGED_HANDLE + 1)

/* What A's client saw, and what B's app saw when encryption came up. */
static struct {
  int notifies, indicates, writes_done, write_status;
  uint16_t ntf_handle, ind_handle;
  uint8_t ntf[32], ind[32];
  size_t ntf_len, ind_len;
  int sub_at_enc; /* B: subscription to vh at ENCRYPTION_UPDATE */
  bool close_on_cccd_get, close_on_cccd_set, disconnect_at_enc;
} G;
static uint16_t vh; /* B's characteristic value handle */

static int gatt_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d, void *arg) {
  struct host *h = arg;
  if (h == &A) {
    switch (ev) {
      case UVBLE_IRQ_GATTC_NOTIFY:
        G.notifies++;
        G.ntf_handle = d->gattc_data.value_handle;
        G.ntf_len = d->gattc_data.data_len < 32 ? d->gattc_data.data_len : 32;
        memcpy(G.ntf, d->gattc_data.data, G.ntf_len);
        break;
      case UVBLE_IRQ_GATTC_INDICATE:
        G.indicates++;
        G.ind_handle = d->gattc_data.value_handle;
        G.ind_len = d->gattc_data.data_len < 32 ? d->gattc_data.data_len : 32;
        memcpy(G.ind, d->gattc_data.data, G.ind_len);
        break;
      case UVBLE_IRQ_GATTC_WRITE_DONE:
        G.writes_done++;
        G.write_status = d->gatt_status.status;
        break;
      default:
        break;
    }
  } else {
    bool cccd_secret =
        (ev == UVBLE_IRQ_GET_SECRET && d->get_secret.sec_type == UVBLE_SECRET_CCCD) ||
        (ev == UVBLE_IRQ_SET_SECRET && d->set_secret.sec_type == UVBLE_SECRET_CCCD);
    if (cccd_secret && ((ev == UVBLE_IRQ_GET_SECRET && G.close_on_cccd_get) ||
                        (ev == UVBLE_IRQ_SET_SECRET && G.close_on_cccd_set))) {
      uvble_close(ble, NULL, NULL);
      B.ble = NULL;
      B.connected = false;
      return 0;
    }
    if (ev == UVBLE_IRQ_ENCRYPTION_UPDATE) {
      G.sub_at_enc = uvble_gatts_subscription(ble, d->encryption.conn_handle, vh);
      /* The link is lost (the controller ends it at once): a graceful
       * uvble_gap_disconnect would let the indication out and its
       * confirmation back first. */
      if (G.disconnect_at_enc)
        memctl_disconnect(mc, d->encryption.conn_handle, 0x08);
    }
  }
  return on_irq(ble, ev, d, arg);
}

/* B's database: one service with a notify/indicate characteristic, and in
 * the "changed" variant a second characteristic in front of it. */
static void register_b(bool changed) {
  uvble_gatts_characteristic_t chr[2];
  memset(chr, 0, sizeof chr);
  size_t n = 0;
  if (changed) {
    chr[n].uuid = uvble_uuid16(0x2a19);
    chr[n++].flags = UVBLE_FLAG_READ | UVBLE_FLAG_NOTIFY;
  }
  chr[n].uuid = uvble_uuid16(0x2a37);
  chr[n++].flags = UVBLE_FLAG_READ | UVBLE_FLAG_NOTIFY | UVBLE_FLAG_INDICATE;
  uvble_gatts_service_t svc = {uvble_uuid16(0x180d), chr, n};
  uint16_t handles[2];
  REQUIRE_EQ(uvble_gatts_register_services(B.ble, &svc, 1, handles, 2), (int)n);
  vh = handles[n - 1];
}

static void start(void) {
  memset(&G, 0, sizeof G);
  up();
  uvble_irq(A.ble, gatt_irq, &A);
  uvble_irq(B.ble, gatt_irq, &B);
  register_b(false);
}

static bool write_done(void *arg) { return G.writes_done >= *(int *)arg; }

/* A writes a CCCD of B's (with response). */
static void subscribe(uint16_t cccd_handle, uint16_t bits) {
  uint8_t v[2] = {(uint8_t)bits, (uint8_t)(bits >> 8)};
  int want = G.writes_done + 1;
  REQUIRE_EQ(uvble_gattc_write(A.ble, A.conn, cccd_handle, v, 2,
                               UVBLE_GATTC_WRITE_WITH_RESPONSE),
             0);
  REQUIRE(run_until_pred(&loop, write_done, &want, 2000));
  CHECK_EQ(G.write_status, 0);
}

/* A pairs (a new bond) or re-encrypts with the stored key. */
static void secure(void) {
  int a = A.enc_events + 1, b = B.enc_events + 1;
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(wait_enc(a, b, 3000));
}

static void reconnect(void) {
  link_down();
  link_up();
  secure();
  expect_secure(&B, false, true);
}

static int sub(void) { return uvble_gatts_subscription(B.ble, B.conn, vh); }

/* In the changed database, the value handle of the first database's
 * characteristic belongs to the characteristic added in front of it. */
static int old_vh_sub(void) {
  return uvble_gatts_subscription(B.ble, B.conn,
                                  UVBLE_GATTS_FIRST_USER_HANDLE + 2);
}

static struct secret *cccd_secret(void) {
  for (int i = 0; i < SECRETS_MAX; i++)
    if (B.sec.s[i].used && B.sec.s[i].type == UVBLE_SECRET_CCCD) return &B.sec.s[i];
  return NULL;
}

static bool got_notifies(void *arg) { return G.notifies >= *(int *)arg; }
static bool got_indicates(void *arg) { return G.indicates >= *(int *)arg; }

TEST(a_bonded_clients_subscription_survives_reconnection) {
  start();
  link_up();
  secure();
  expect_secure(&B, false, true);
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  CHECK_EQ(sub(), UVBLE_CCCD_NOTIFY);
  CHECK_EQ(sec_count(&B, UVBLE_SECRET_CCCD), 1);
  link_down();
  link_up();
  /* Not known yet: an unencrypted link is anybody's. */
  CHECK_EQ(sub(), 0);
  secure();
  expect_secure(&B, false, true);
  /* Restored before the app heard of the encryption. */
  CHECK_EQ(G.sub_at_enc, UVBLE_CCCD_NOTIFY);
  CHECK_EQ(sub(), UVBLE_CCCD_NOTIFY);
  /* What the user sees: updates flow without subscribing again. */
  REQUIRE_EQ(uvble_gatts_write(B.ble, vh, "hello", 5, true), 0);
  int want = 1;
  REQUIRE(run_until_pred(&loop, got_notifies, &want, 2000));
  CHECK_EQ(G.ntf_handle, vh);
  CHECK_EQ(G.ntf_len, 5);
  CHECK_MEM(G.ntf, "hello", 5);
  down();
}

TEST(indications_are_restored_too_and_the_table_follows_every_change) {
  start();
  link_up();
  secure();
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_INDICATE);
  int sets = B.sets;
  /* The same value again: nothing to save. */
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_INDICATE);
  CHECK_EQ(B.sets, sets);
  reconnect();
  CHECK_EQ(sub(), UVBLE_CCCD_INDICATE);
  REQUIRE_EQ(uvble_gatts_write(B.ble, vh, "x", 1, true), 0);
  int want = 1;
  REQUIRE(run_until_pred(&loop, got_indicates, &want, 2000));
  CHECK_EQ(G.ind_handle, vh);
  /* Unsubscribing is kept as well. */
  subscribe((uint16_t)(vh + 1), 0);
  CHECK_EQ(B.sets, sets + 1);
  reconnect();
  CHECK_EQ(sub(), 0);
  down();
}

TEST(an_unbonded_client_starts_from_nothing_each_time) {
  start();
  set_cfg(&A, UVBLE_IO_NO_INPUT_OUTPUT, false, true, false);
  set_cfg(&B, UVBLE_IO_NO_INPUT_OUTPUT, false, true, false);
  link_up();
  secure();
  CHECK(!B.enc.bonded);
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  CHECK_EQ(sec_count(&B, UVBLE_SECRET_CCCD), 0);
  link_down();
  link_up();
  secure(); /* a new pairing, not a resumed bond */
  CHECK_EQ(sub(), 0);
  CHECK_EQ(sec_count(&B, UVBLE_SECRET_CCCD), 0);
  down();
}

TEST(what_a_client_wrote_before_reencrypting_wins_over_the_stored_table) {
  start();
  link_up();
  secure();
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  link_down();
  link_up();
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_INDICATE); /* before encryption */
  secure();
  CHECK_EQ(sub(), UVBLE_CCCD_INDICATE);
  reconnect();
  CHECK_EQ(sub(), UVBLE_CCCD_INDICATE); /* and that is what was kept */
  down();
}

TEST(service_changed_goes_to_a_bonded_client_that_was_away) {
  start();
  link_up();
  secure();
  subscribe(SC_CCCD, UVBLE_CCCD_INDICATE);
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  link_down();
  register_b(true); /* the database changes while it is away */
  link_up();
  run_until_idle(&loop, 5000);
  CHECK_EQ(G.indicates, 0); /* unknown client until encrypted */
  secure();
  int want = 1;
  REQUIRE(run_until_pred(&loop, got_indicates, &want, 2000));
  CHECK_EQ(G.ind_handle, SC_VALUE);
  const uint8_t range[4] = {UVBLE_GATTS_FIRST_USER_HANDLE, 0, 0xff, 0xff};
  CHECK_EQ(G.ind_len, 4);
  CHECK_MEM(G.ind, range, 4);
  /* Its subscriptions named handles of the old database: gone, also
   * from the characteristic that now sits at the old value handle. */
  CHECK_EQ(sub(), 0);
  CHECK_EQ(old_vh_sub(), 0);
  run_until_idle(&loop, 5000); /* the confirmation */
  /* Confirmed: up to date, nothing more next time. */
  reconnect();
  run_until_idle(&loop, 5000);
  CHECK_EQ(G.indicates, 1);
  down();
}

TEST(the_same_database_registered_again_changes_nothing) {
  start();
  link_up();
  secure();
  subscribe(SC_CCCD, UVBLE_CCCD_INDICATE);
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  link_down();
  register_b(false);
  reconnect();
  run_until_idle(&loop, 5000);
  CHECK_EQ(G.indicates, 0);
  CHECK_EQ(sub(), UVBLE_CCCD_NOTIFY);
  down();
}

TEST(a_client_without_service_changed_loses_stale_subscriptions_quietly) {
  start();
  link_up();
  secure();
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  link_down();
  register_b(true);
  reconnect();
  run_until_idle(&loop, 5000);
  CHECK_EQ(G.indicates, 0);
  CHECK_EQ(sub(), 0);
  CHECK_EQ(old_vh_sub(), 0);
  /* Its table now names the new database: what it subscribes to stays. */
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  reconnect();
  CHECK_EQ(sub(), UVBLE_CCCD_NOTIFY);
  down();
}

TEST(a_connected_client_that_confirms_service_changed_is_up_to_date) {
  start();
  link_up();
  secure();
  subscribe(SC_CCCD, UVBLE_CCCD_INDICATE);
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  register_b(true); /* while connected: told at once */
  int want = 1;
  REQUIRE(run_until_pred(&loop, got_indicates, &want, 2000));
  CHECK_EQ(G.ind_handle, SC_VALUE);
  CHECK_EQ(sub(), 0);
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_INDICATE); /* rediscovered */
  reconnect();
  run_until_idle(&loop, 5000);
  CHECK_EQ(G.indicates, 1);
  CHECK_EQ(sub(), UVBLE_CCCD_INDICATE);
  down();
}

TEST(service_changed_unconfirmed_when_the_link_drops_is_sent_again) {
  start();
  link_up();
  secure();
  subscribe(SC_CCCD, UVBLE_CCCD_INDICATE);
  link_down();
  register_b(true);
  link_up();
  G.disconnect_at_enc = true; /* the link drops as soon as B is secure */
  int a = A.enc_events + 1;
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  struct want w = {a, B.enc_events + 1};
  REQUIRE(run_until_pred(&loop, enc_done, &w, 3000));
  REQUIRE(run_until_pred(&loop, both_down, NULL, 2000));
  G.disconnect_at_enc = false;
  int seen = G.indicates; /* A may have seen it; B had no confirmation */
  link_up();
  secure();
  int want = seen + 1;
  REQUIRE(run_until_pred(&loop, got_indicates, &want, 2000));
  CHECK_EQ(G.ind_handle, SC_VALUE);
  run_until_idle(&loop, 5000);
  reconnect();
  run_until_idle(&loop, 5000);
  CHECK_EQ(G.indicates, want); /* confirmed that time */
  down();
}

/* A stored table as the app hands it back: header with layout, entries. */
static void put_table(const uint8_t *layout, const uint16_t *e, size_t n,
                      uint8_t version, size_t extra) {
  struct secret *s = cccd_secret();
  REQUIRE(s != NULL);
  uint8_t *v = s->val;
  v[0] = version;
  memcpy(v + 1, layout, 8);
  size_t len = 9;
  for (size_t i = 0; i < n; i++, len += 4) {
    v[len] = (uint8_t)e[2 * i];
    v[len + 1] = (uint8_t)(e[2 * i] >> 8);
    v[len + 2] = (uint8_t)e[2 * i + 1];
    v[len + 3] = (uint8_t)(e[2 * i + 1] >> 8);
  }
  memset(v + len, 0xee, extra);
  s->vlen = len + extra;
}

TEST(stored_tables_that_do_not_fit_are_ignored_or_trimmed) {
  start();
  link_up();
  secure();
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  struct secret *s = cccd_secret();
  REQUIRE(s != NULL);
  REQUIRE(s->vlen >= 9);
  uint8_t layout[8];
  memcpy(layout, s->val + 1, 8);
  link_down();
  struct {
    uint8_t version;
    size_t extra, n;
    uint16_t e[6];
    int want;
  } cases[] = {
      /* another version */
      {2, 0, 1, {vh, UVBLE_CCCD_NOTIFY}, 0},
      /* a torn entry */
      {1, 3, 1, {vh, UVBLE_CCCD_NOTIFY}, 0},
      /* handles that are no characteristic value with a CCCD */
      {1, 0, 3, {0x0000, 1, (uint16_t)(vh - 1), 1, 0xffff, 1}, 0},
      /* a value without CCCD, and bits beyond what the value allows */
      {1, 0, 2, {UVBLE_GATTS_APPEARANCE_HANDLE, 1, vh, 0xffff},
       UVBLE_CCCD_NOTIFY | UVBLE_CCCD_INDICATE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    put_table(layout, cases[i].e, cases[i].n, cases[i].version, cases[i].extra);
    link_up();
    secure();
    CHECK_EQ(sub(), cases[i].want);
    /* What B keeps afterwards is its own, well-formed table again. */
    s = cccd_secret();
    REQUIRE(s != NULL);
    CHECK_EQ(s->val[0], 1);
    CHECK_EQ((s->vlen - 9) % 4, 0);
    link_down();
  }
  /* Shorter than a header, and absent: nothing restored, no crash. */
  s = cccd_secret();
  REQUIRE(s != NULL);
  s->vlen = 5;
  link_up();
  secure();
  CHECK_EQ(sub(), 0);
  link_down();
  s = cccd_secret();
  if (s) s->used = false;
  link_up();
  secure();
  CHECK_EQ(sub(), 0);
  down();
}

TEST(the_app_closes_the_stack_while_cccds_are_loaded_or_saved) {
  start();
  link_up();
  secure();
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  link_down();
  link_up();
  G.close_on_cccd_get = true;
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  REQUIRE(run_until_pred(&loop, both_down, NULL, 3000) || B.ble == NULL);
  CHECK(B.ble == NULL);
  down();

  /* Closing from SET_SECRET while a bonded client's write is saved. */
  start();
  link_up();
  secure();
  G.close_on_cccd_set = true;
  uint8_t v[2] = {UVBLE_CCCD_NOTIFY, 0};
  REQUIRE_EQ(uvble_gattc_write(A.ble, A.conn, (uint16_t)(vh + 1), v, 2,
                               UVBLE_GATTC_WRITE_WITH_RESPONSE),
             0);
  int want = 1;
  REQUIRE(run_until_pred(&loop, write_done, &want, 3000));
  CHECK(B.ble == NULL);
  down();
}

/* ---- through the built-in bond store, across a restart ------------------------ */
static char dir[64];

static void open_stores(void) {
  char s[128], k[128], err[256];
  for (int i = 0; i < 2; i++) {
    snprintf(s, sizeof s, "%s/bonds-%d", dir, i);
    snprintf(k, sizeof k, "%s/key-%d", dir, i);
    int r = uvble_bond_store_open(i ? B.ble : A.ble, s, k, NULL, err, sizeof err);
    if (r) fprintf(stderr, "  %s\n", err);
    REQUIRE_EQ(r, 0);
  }
}

TEST(subscriptions_survive_a_restart_through_the_bond_store) {
  snprintf(dir, sizeof dir, "/tmp/uvble-cccd-XXXXXX");
  REQUIRE(mkdtemp(dir) != NULL);
  start();
  A.app_secrets = B.app_secrets = false;
  open_stores();
  link_up();
  secure();
  subscribe((uint16_t)(vh + 1), UVBLE_CCCD_NOTIFY);
  down();

  /* A new process: the same database registered again, the same stores. */
  start();
  A.app_secrets = B.app_secrets = false;
  open_stores();
  link_up();
  secure();
  expect_secure(&B, false, true);
  CHECK_EQ(sub(), UVBLE_CCCD_NOTIFY);
  /* Erasing the bonds takes the table with them. */
  CHECK_EQ(uvble_erase_bonding(B.ble), 0);
  down();
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
