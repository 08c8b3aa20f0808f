/* SPDX-License-Identifier: Apache-2.0 */
/* The async layer end to end on the in-memory controller pair (memctl):
 * host A is the central and GATT client, host B the peripheral and GATT
 * server. The link dropping under a pending indicate, L2CAP send and
 * recvinto, and pair completes each with UVBLE_EDISCONNECTED; a channel
 * closed by the peer gives UVBLE_EL2CAPCLOSED instead; the capture queue's
 * bound; on_read; the L2CAP backlog; connection object lifetimes; timeout
 * scopes that end on a disconnect; closing with server operations pending. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memctl.h"
#include "test.h"
#include "uvble/async.h"
#include "uvble/co.h"
#include "uvble/l2cap.h"
#include "uvble/security.h"
#include "conn.h"

static uv_loop_t loop;
static memctl_t *mc;
static uvble_t *ble_a, *ble_b;
static uvble_async_t *A, *B;
static uvble_connection_t *CA, *CB; /* the link, seen from A and from B */
static uint16_t H;
static uvble_service_t *svc;
static uvble_characteristic_t *chr, *cap, *auth;
static uvble_client_characteristic_t *cchr, *ccap, *cauth;

#define PSM 0x0040

static bool done(void *f) { return uvble_future_done(f); }

static bool both_connected(void *arg) {
  (void)arg;
  return uvble_async_connection(A, H) && uvble_async_connection(B, H);
}

static void link_up(void) {
  int h = memctl_connect(mc);
  REQUIRE(h >= 0);
  H = (uint16_t)h;
  REQUIRE(run_until_pred(&loop, both_connected, NULL, 1000));
  CA = uvble_connection_ref(uvble_async_connection(A, H));
  CB = uvble_connection_ref(uvble_async_connection(B, H));
}

static void discover(void) {
  uvble_future_t f = {0};
  uvble_uuid_t su = uvble_uuid16(0xABCD), u1 = uvble_uuid16(0xAB01),
               u2 = uvble_uuid16(0xAB02);
  REQUIRE_EQ(uvble_connection_service(&f, CA, &su, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  REQUIRE_EQ(f.status, 0);
  uvble_client_service_t *s = f.result.service;
  REQUIRE_EQ(uvble_client_service_characteristic(&f, s, &u1, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  REQUIRE_EQ(f.status, 0);
  cchr = f.result.characteristic;
  REQUIRE_EQ(uvble_client_service_characteristic(&f, s, &u2, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  REQUIRE_EQ(f.status, 0);
  ccap = f.result.characteristic;
  uvble_uuid_t u3 = uvble_uuid16(0xAB03);
  REQUIRE_EQ(uvble_client_service_characteristic(&f, s, &u3, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  REQUIRE_EQ(f.status, 0);
  cauth = f.result.characteristic;
}

static void up_with(const uvble_async_config_t *bcfg) {
  uv_loop_init(&loop);
  REQUIRE_EQ(memctl_bring_up(&loop, NULL, &mc, &ble_a, &ble_b), 0);
  REQUIRE_EQ(uvble_async_new(ble_a, NULL, NULL, &A), 0);
  REQUIRE_EQ(uvble_async_new(ble_b, NULL, bcfg, &B), 0);
  uvble_uuid_t su = uvble_uuid16(0xABCD), u1 = uvble_uuid16(0xAB01),
               u2 = uvble_uuid16(0xAB02);
  REQUIRE_EQ(uvble_service_new(B, &su, &svc), 0);
  uvble_characteristic_opts_t o = {
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE | UVBLE_FLAG_NOTIFY |
               UVBLE_FLAG_INDICATE,
      .initial = "v0",
      .initial_len = 2};
  REQUIRE_EQ(uvble_characteristic_new(svc, &u1, &o, &chr), 0);
  uvble_characteristic_opts_t oc = {.flags = UVBLE_FLAG_WRITE, .capture = true};
  REQUIRE_EQ(uvble_characteristic_new(svc, &u2, &oc, &cap), 0);
  uvble_uuid_t u3 = uvble_uuid16(0xAB03);
  uvble_characteristic_opts_t oa = {
      .flags = UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_NO_RESPONSE |
               UVBLE_FLAG_WRITE_AUTHORIZED,
      .capture = true};
  REQUIRE_EQ(uvble_characteristic_new(svc, &u3, &oa, &auth), 0);
  REQUIRE_EQ(uvble_register_services(B, &svc, 1), 0);
  link_up();
  discover();
}

static void up(void) { up_with(NULL); }

static int nclosed;
static void on_closed(uvble_async_t *a, void *arg) {
  (void)a;
  (void)arg;
  nclosed++;
}
static bool two_closed(void *arg) {
  (void)arg;
  return nclosed == 2;
}

static void down(void) {
  uvble_connection_release(CA);
  uvble_connection_release(CB);
  nclosed = 0;
  uvble_async_close(A, on_closed, NULL);
  uvble_async_close(B, on_closed, NULL);
  REQUIRE(run_until_pred(&loop, two_closed, NULL, 2000));
  memctl_free(mc);
  run_until_idle(&loop, 5000);
  loop_teardown(&loop);
}

/* ---- notifications with flow control -------------------------------------------- */
#define NOTES 300
static uvble_future_t note_f[NOTES];
static uint8_t note_v[NOTES][2];
static int notes_seen;
static bool notes_in_order;
static int count_notes(uvble_t *b, int ev, const uvble_irq_data_t *d,
                       void *arg) {
  (void)b;
  (void)arg;
  if (ev != UVBLE_IRQ_GATTC_NOTIFY) return 0;
  if (d->gattc_data.data_len != 2 ||
      d->gattc_data.data[0] != (uint8_t)notes_seen ||
      d->gattc_data.data[1] != (uint8_t)(notes_seen >> 8))
    notes_in_order = false;
  notes_seen++;
  return 0;
}
static bool all_notes_done(void *arg) {
  int n = *(int *)arg;
  for (int i = 0; i < n; i++)
    if (!uvble_future_done(&note_f[i])) return false;
  return true;
}

/* Far more notifications than the link's queue holds: those that do not
 * fit wait for room instead of failing, every one completes, and the
 * client receives them all in order. */
TEST(notify_wait_queues_behind_a_full_link) {
  up();
  uvble_async_irq_chain(A, count_notes, NULL);
  notes_seen = 0;
  notes_in_order = true;
  ble_b->hci.conn_txq_max = 256; /* a short queue, quickly full */
  int waited = 0;
  for (int i = 0; i < NOTES; i++) {
    note_v[i][0] = (uint8_t)i;
    note_v[i][1] = (uint8_t)(i >> 8);
    memset(&note_f[i], 0, sizeof note_f[i]);
    REQUIRE_EQ(uvble_characteristic_notify_wait(&note_f[i], chr, CB, note_v[i],
                                                2, 5000),
               0);
    waited += uvble_future_pending(&note_f[i]);
  }
  CHECK(waited > 0); /* the queue did fill */
  /* The plain notify fails rather than jump the queue's order ... */
  CHECK_EQ(uvble_characteristic_notify(chr, CB, "x", 1), UVBLE_ENOBUFS);
  int n = NOTES;
  REQUIRE(run_until_pred(&loop, all_notes_done, &n, 5000));
  int bad = 0;
  for (int i = 0; i < NOTES; i++) bad += note_f[i].status != 0;
  CHECK_EQ(bad, 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(notes_seen, NOTES);
  CHECK(notes_in_order);
  down();
}

/* Waiting notifications end with EDISCONNECTED when the link drops, and a
 * timed-out one leaves the queue. */
TEST(notify_wait_pending_when_the_link_drops) {
  up();
  ble_b->hci.conn_txq_max = 64;
  int i = 0;
  for (; i < NOTES; i++) {
    memset(&note_f[i], 0, sizeof note_f[i]);
    REQUIRE_EQ(uvble_characteristic_notify_wait(&note_f[i], chr, CB, "abcd", 4,
                                                i == 40 ? 1 : 5000),
               0);
    if (i > 40 && uvble_future_pending(&note_f[i])) break;
  }
  REQUIRE(i < NOTES);
  int n = i + 1;
  memctl_disconnect(mc, H, 0x13);
  REQUIRE(run_until_pred(&loop, all_notes_done, &n, 1000));
  CHECK(note_f[i].status == UVBLE_EDISCONNECTED);
  CHECK_EQ(uvble_characteristic_notify_wait(&note_f[0], chr, CB, "x", 1, 100),
           UVBLE_ENOTCONN);
  down();
}

/* The server sees what the client subscribed to. */
TEST(the_server_sees_the_clients_subscription) {
  up();
  CHECK_EQ(uvble_characteristic_subscription(chr, CB), 0);
  CHECK_EQ(uvble_characteristic_subscription(NULL, CB), UVBLE_EINVAL);
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_client_characteristic_subscribe(&f, cchr, true, false, 1000),
             0);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  REQUIRE_EQ(f.status, 0);
  CHECK_EQ(uvble_characteristic_subscription(chr, CB), UVBLE_CCCD_NOTIFY);
  REQUIRE_EQ(uvble_client_characteristic_subscribe(&f, cchr, false, true, 1000),
             0);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  CHECK_EQ(uvble_characteristic_subscription(chr, CB), UVBLE_CCCD_INDICATE);
  memctl_disconnect(mc, H, 0x13);
  run_until_idle(&loop, 5000);
  CHECK_EQ(uvble_characteristic_subscription(chr, CB), UVBLE_ENOTCONN);
  down();
}

/* ---- the write hook ------------------------------------------------------------- */
static int busy_writes;
static int hook_calls;
static bool hook_saw_conn;
static int refuse_while_busy(void *attr, uvble_connection_t *conn,
                             const uint8_t *data, size_t len, void *arg) {
  (void)data;
  (void)len;
  hook_calls++;
  hook_saw_conn = attr == (void *)auth && conn == CB && arg == &busy_writes;
  return busy_writes > 0 ? (busy_writes--, UVBLE_ATT_ERR_INSUFFICIENT_RESOURCES)
                         : 0;
}

TEST(the_write_hook_accepts_or_refuses_each_write) {
  up();
  uvble_future_t f = {0}, w = {0};
  uint8_t buf[8];
  /* WRITE_AUTHORIZED with no hook: refused, as the core does. */
  REQUIRE_EQ(uvble_client_characteristic_write(&f, cauth, "a", 1, 1, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  CHECK_EQ(f.status, UVBLE_EATT);
  CHECK_EQ(f.proto_status, UVBLE_ATT_ERR_INSUFFICIENT_AUTHORIZATION);
  /* A hook that is busy once. */
  busy_writes = 1;
  hook_calls = 0;
  uvble_characteristic_on_write(auth, refuse_while_busy, &busy_writes);
  REQUIRE_EQ(uvble_characteristic_written(&w, auth, buf, sizeof buf, 1000), 0);
  REQUIRE_EQ(uvble_client_characteristic_write(&f, cauth, "b", 1, 1, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  CHECK_EQ(f.status, UVBLE_EATT);
  CHECK_EQ(f.proto_status, UVBLE_ATT_ERR_INSUFFICIENT_RESOURCES);
  CHECK(uvble_future_pending(&w)); /* nothing was applied */
  REQUIRE_EQ(uvble_client_characteristic_write(&f, cauth, "c", 1, 1, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  CHECK_EQ(f.status, 0);
  REQUIRE(run_until_pred(&loop, done, &w, 1000));
  CHECK_EQ(w.status, 0);
  CHECK_EQ(w.len, 1);
  CHECK_EQ(buf[0], 'c');
  CHECK_EQ(hook_calls, 2);
  CHECK(hook_saw_conn);
  down();
}

/* ---- the link drops ------------------------------------------------------------ */
TEST(an_indicate_pending_when_the_link_drops) {
  up();
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_characteristic_indicate(&f, chr, CB, "i", 1, 5000), 0);
  /* A second one to the same peer is refused while the first waits. */
  uvble_future_t g = {0};
  CHECK_EQ(uvble_characteristic_indicate(&g, chr, CB, "j", 1, 5000),
           UVBLE_EBUSY);
  memctl_disconnect(mc, H, 0x13);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  CHECK_EQ(f.status, UVBLE_EDISCONNECTED);
  CHECK(!uvble_connection_is_connected(CB));
  down();
}

TEST(an_indicate_is_confirmed) {
  up();
  uvble_future_t f = {0}, n = {0};
  uint8_t b[8];
  REQUIRE_EQ(uvble_client_characteristic_indicated(&n, cchr, b, sizeof b, 1000),
             0);
  REQUIRE_EQ(uvble_characteristic_indicate(&f, chr, CB, "i", 1, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  CHECK_EQ(f.status, 0);
  REQUIRE(run_until_pred(&loop, done, &n, 1000));
  CHECK_EQ(n.status, 0);
  CHECK_EQ(b[0], 'i');
  down();
}

struct chans {
  uvble_l2cap_channel_t *a, *b;
};

static void open_channel(struct chans *ch) {
  uvble_future_t fa = {0}, fb = {0};
  REQUIRE_EQ(uvble_connection_l2cap_accept(&fb, CB, PSM, 100, 1000), 0);
  REQUIRE_EQ(uvble_connection_l2cap_connect(&fa, CA, PSM, 100, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &fa, 1000));
  REQUIRE(run_until_pred(&loop, done, &fb, 1000));
  REQUIRE_EQ(fa.status, 0);
  REQUIRE_EQ(fb.status, 0);
  ch->a = fa.result.channel;
  ch->b = fb.result.channel;
  CHECK_EQ(uvble_l2cap_channel_peer_mtu(ch->a), 100);
}

static uint8_t big[64 * 1024];

TEST(an_l2cap_send_stalled_on_credits_and_a_recvinto_when_the_link_drops) {
  uv_loop_init(&loop);
  REQUIRE_EQ(memctl_bring_up(&loop, NULL, &mc, &ble_a, &ble_b), 0);
  /* B grants one credit at a time and A buffers little: A stalls fast. */
  REQUIRE_EQ(uvble_l2cap_set_opt(ble_b, UVBLE_L2CAP_OPT_CREDITS, 1), 0);
  REQUIRE_EQ(uvble_l2cap_set_opt(ble_a, UVBLE_L2CAP_OPT_TX_BUFFER, 4096), 0);
  REQUIRE_EQ(uvble_async_new(ble_a, NULL, NULL, &A), 0);
  REQUIRE_EQ(uvble_async_new(ble_b, NULL, NULL, &B), 0);
  link_up();
  struct chans ch;
  open_channel(&ch);
  uvble_future_t snd = {0}, rcv = {0}, fl = {0};
  uint8_t b[16];
  REQUIRE_EQ(uvble_l2cap_channel_send(&snd, ch.a, big, sizeof big, 0, 10000), 0);
  REQUIRE_EQ(uvble_l2cap_channel_recvinto(&rcv, ch.a, b, sizeof b, 10000), 0);
  run_until_idle(&loop, 5000);
  CHECK(uvble_future_pending(&snd)); /* B never reads: stalled */
  CHECK(snd.len > 0 && snd.len < sizeof big);
  REQUIRE_EQ(uvble_l2cap_channel_flush(&fl, ch.a, 10000), 0);
  memctl_disconnect(mc, H, 0x08);
  REQUIRE(run_until_pred(&loop, done, &snd, 1000));
  REQUIRE(run_until_pred(&loop, done, &rcv, 1000));
  REQUIRE(run_until_pred(&loop, done, &fl, 1000));
  CHECK_EQ(snd.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(rcv.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(fl.status, UVBLE_EDISCONNECTED);
  CHECK(!uvble_l2cap_channel_is_open(ch.a));
  CHECK_EQ(uvble_l2cap_channel_send(&snd, ch.a, "x", 1, 0, 100),
           UVBLE_EDISCONNECTED);
  uvble_l2cap_channel_free(ch.a);
  uvble_l2cap_channel_free(ch.b);
  down();
}

TEST(a_channel_closed_by_the_peer_gives_el2capclosed) {
  up();
  struct chans ch;
  open_channel(&ch);
  uvble_future_t rcv = {0}, dn = {0};
  uint8_t b[16];
  REQUIRE_EQ(uvble_l2cap_channel_recvinto(&rcv, ch.a, b, sizeof b, 2000), 0);
  REQUIRE_EQ(uvble_l2cap_channel_disconnect(&dn, ch.b, 2000), 0);
  REQUIRE(run_until_pred(&loop, done, &rcv, 1000));
  CHECK_EQ(rcv.status, UVBLE_EL2CAPCLOSED);
  REQUIRE(run_until_pred(&loop, done, &dn, 1000));
  CHECK_EQ(dn.status, 0);
  CHECK(uvble_connection_is_connected(CA)); /* the link stays */
  uvble_l2cap_channel_free(ch.a);
  uvble_l2cap_channel_free(ch.b);
  down();
}

TEST(data_sent_before_the_reader_waits_is_kept) {
  up();
  struct chans ch;
  open_channel(&ch);
  uvble_future_t snd = {0}, rcv = {0};
  REQUIRE_EQ(uvble_l2cap_channel_send(&snd, ch.a, "hello", 5, 0, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &snd, 1000));
  run_until_idle(&loop, 5000);
  CHECK(uvble_l2cap_channel_available(ch.b));
  uint8_t b[3];
  /* A read never spans SDUs; a partial read goes on next time. */
  REQUIRE_EQ(uvble_l2cap_channel_recvinto(&rcv, ch.b, b, sizeof b, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &rcv, 1000));
  CHECK_EQ(rcv.len, 3);
  CHECK_MEM(b, "hel", 3);
  REQUIRE_EQ(uvble_l2cap_channel_recvinto(&rcv, ch.b, b, sizeof b, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &rcv, 1000));
  CHECK_EQ(rcv.len, 2);
  CHECK_MEM(b, "lo", 2);
  CHECK(!uvble_l2cap_channel_available(ch.b));
  uvble_l2cap_channel_free(ch.a);
  uvble_l2cap_channel_free(ch.b);
  down();
}

TEST(a_pair_pending_when_the_link_drops) {
  up();
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_connection_pair(&f, CA, NULL, 5000), 0);
  memctl_disconnect(mc, H, 0x13);
  REQUIRE(run_until_pred(&loop, done, &f, 1000));
  CHECK_EQ(f.status, UVBLE_EDISCONNECTED);
  down();
}

TEST(pairing_updates_both_connections) {
  up();
  uvble_future_t f = {0};
  REQUIRE_EQ(uvble_connection_pair(&f, CA, NULL, 5000), 0);
  REQUIRE(run_until_pred(&loop, done, &f, 3000));
  CHECK_EQ(f.status, 0);
  CHECK(uvble_connection_encrypted(CA));
  run_until_idle(&loop, 5000);
  CHECK(uvble_connection_encrypted(CB));
  CHECK_EQ(uvble_connection_key_size(CB), 16);
  down();
}

static bool ca_gone(void *arg) {
  (void)arg;
  return !uvble_connection_is_connected(CA);
}

static void relink(void) {
  memctl_disconnect(mc, H, 0x13);
  REQUIRE(run_until_pred(&loop, ca_gone, NULL, 1000));
  run_until_idle(&loop, 5000);
  uvble_connection_release(CA);
  uvble_connection_release(CB);
  link_up();
}

static void pair_now(uvble_future_t *f) {
  REQUIRE_EQ(uvble_connection_pair(f, CA, NULL, 5000), 0);
  REQUIRE(run_until_pred(&loop, done, f, 5000));
}

TEST(a_stale_bond_fails_pair_with_the_hci_status_until_forgotten) {
  char dir[] = "/tmp/uvble-async-XXXXXX", path[2][64], key[2][64];
  REQUIRE(mkdtemp(dir) != NULL);
  up();
  uvble_t *hosts[2] = {ble_a, ble_b};
  for (int i = 0; i < 2; i++) {
    snprintf(path[i], sizeof path[i], "%s/bonds-%d", dir, i);
    snprintf(key[i], sizeof key[i], "%s/key-%d", dir, i);
    REQUIRE_EQ(uvble_bond_store_open(hosts[i], path[i], key[i], NULL, NULL, 0),
               0);
  }
  uvble_future_t f = {0};
  pair_now(&f);
  REQUIRE_EQ(f.status, 0);
  CHECK(uvble_connection_bonded(CA));
  /* B loses the bond; A still holds it. */
  relink();
  CHECK_EQ(uvble_erase_bonding(ble_b), 0);
  for (int attempt = 0; attempt < 2; attempt++) { /* never re-paired */
    pair_now(&f);
    CHECK_EQ(f.status, UVBLE_EHCI);
    CHECK_EQ(f.proto_status, 0x06); /* PIN or Key Missing */
    CHECK(!uvble_connection_encrypted(CA));
    CHECK(!uvble_connection_encrypted(CB));
  }
  /* The application forgets the stale bond, then pairs: bonded anew. */
  CHECK_EQ(uvble_connection_forget_bond(CA), 0);
  CHECK_EQ(uvble_connection_forget_bond(CA), UVBLE_ENOENT);
  CHECK_EQ(uvble_connection_forget_bond(NULL), UVBLE_EINVAL);
  pair_now(&f);
  CHECK_EQ(f.status, 0);
  CHECK(uvble_connection_bonded(CA));
  /* And the new bond works: re-encryption without pairing. */
  relink();
  pair_now(&f);
  CHECK_EQ(f.status, 0);
  CHECK(uvble_connection_bonded(CA));
  down();
  for (int i = 0; i < 2; i++) {
    unlink(path[i]);
    unlink(key[i]);
  }
  rmdir(dir);
}

static bool both_done(void *arg) {
  uvble_future_t **f = arg;
  return uvble_future_done(f[0]) && uvble_future_done(f[1]);
}

/* Pairs with passkey entry: B displays, A's user types B's number plus
 * offset. Returns the pair future's status. */
static void passkey_pair(uint32_t offset, uvble_future_t *f) {
  REQUIRE_EQ(uvble_config_set_int(ble_b, UVBLE_CONFIG_IO, UVBLE_IO_DISPLAY_ONLY),
             0);
  REQUIRE_EQ(uvble_config_set_int(ble_b, UVBLE_CONFIG_MITM, 1), 0);
  uvble_future_t pa = {0}, pb = {0};
  REQUIRE_EQ(uvble_connection_passkey_action(&pb, CB, 5000), 0);
  REQUIRE_EQ(uvble_connection_passkey_action(&pa, CA, 5000), 0);
  uvble_pair_params_t pp;
  uvble_pair_params_default(&pp);
  pp.mitm = true;
  pp.io = UVBLE_IO_KEYBOARD_ONLY;
  REQUIRE_EQ(uvble_connection_pair(f, CA, &pp, 5000), 0);
  uvble_future_t *both[2] = {&pa, &pb};
  REQUIRE(run_until_pred(&loop, both_done, both, 5000));
  CHECK_EQ(pb.status, 0);
  CHECK_EQ(pa.status, 0);
  CHECK_EQ(pb.result.passkey.action, 3);
  CHECK_EQ(pa.result.passkey.action, 2);
  uint32_t typed = (pb.result.passkey.passkey + offset) % 1000000;
  CHECK_EQ(uvble_connection_passkey(CA, pa.result.passkey.action, typed), 0);
  REQUIRE(run_until_pred(&loop, done, f, 5000));
}

TEST(passkey_entry_through_passkey_action_futures) {
  up();
  uvble_future_t f = {0};
  passkey_pair(0, &f);
  CHECK_EQ(f.status, 0);
  CHECK(uvble_connection_authenticated(CA));
  CHECK(uvble_connection_encrypted(CB));
  down();
}

TEST(a_wrong_passkey_fails_with_esmp_and_the_reason) {
  up();
  uvble_future_t f = {0};
  passkey_pair(1, &f);
  CHECK_EQ(f.status, UVBLE_ESMP);
  /* Confirm Value Failed (legacy or SC passkey). */
  CHECK_EQ(f.proto_status, 0x04);
  CHECK(!uvble_connection_encrypted(CA));
  down();
}

/* ---- server objects ------------------------------------------------------------- */
TEST(the_capture_queue_is_bounded_and_counts_what_it_drops) {
  uvble_async_config_t cfg;
  uvble_async_config_default(&cfg);
  cfg.capture_depth = 2;
  up_with(&cfg);
  uvble_future_t w = {0};
  for (int i = 0; i < 5; i++) {
    uint8_t v = (uint8_t)('0' + i);
    REQUIRE_EQ(uvble_client_characteristic_write(&w, ccap, &v, 1, 1, 1000), 0);
    REQUIRE(run_until_pred(&loop, done, &w, 1000));
    REQUIRE_EQ(w.status, 0);
  }
  uvble_async_stats_t st;
  uvble_async_get_stats(B, &st);
  CHECK_EQ(st.capture_overflow, 3);
  uint8_t b[4];
  for (int i = 3; i < 5; i++) {
    REQUIRE_EQ(uvble_characteristic_written(&w, cap, b, sizeof b, 100), 0);
    REQUIRE(run_until_pred(&loop, done, &w, 500));
    CHECK_EQ(w.status, 0);
    CHECK_EQ(b[0], '0' + i);
    CHECK(w.result.conn == CB);
  }
  REQUIRE_EQ(uvble_characteristic_written(&w, cap, b, sizeof b, 30), 0);
  REQUIRE(run_until_pred(&loop, done, &w, 500));
  CHECK_EQ(w.status, UVBLE_ETIMEDOUT);
  /* Not writable: written() is refused. */
  uvble_characteristic_t *ro;
  uvble_uuid_t u = uvble_uuid16(0xAB03);
  uvble_characteristic_opts_t o = {.flags = UVBLE_FLAG_READ};
  REQUIRE_EQ(uvble_characteristic_new(svc, &u, &o, &ro), 0);
  CHECK_EQ(uvble_characteristic_written(&w, ro, NULL, 0, 30), UVBLE_EINVAL);
  down();
}

static int reads_allowed;
static int on_read(void *attr, uvble_connection_t *c, void *arg) {
  (void)arg;
  CHECK(attr == (void *)chr);
  CHECK(c == CB);
  return reads_allowed ? 0 : 0x80;
}

TEST(on_read_decides_each_read) {
  up();
  uvble_characteristic_on_read(chr, on_read, NULL);
  uvble_future_t r = {0};
  uint8_t b[8];
  reads_allowed = 0;
  REQUIRE_EQ(uvble_client_characteristic_read(&r, cchr, b, sizeof b, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &r, 1000));
  CHECK_EQ(r.status, UVBLE_EATT);
  CHECK_EQ(r.proto_status, 0x80);
  reads_allowed = 1;
  REQUIRE_EQ(uvble_client_characteristic_read(&r, cchr, b, sizeof b, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &r, 1000));
  CHECK_EQ(r.status, 0);
  CHECK_EQ(r.len, 2);
  CHECK_MEM(b, "v0", 2);
  down();
}

/* ---- L2CAP backlog ---------------------------------------------------------------- */
TEST(a_channel_opened_before_accept_waits_in_the_backlog) {
  up();
  uvble_future_t fa = {0}, fb = {0};
  /* Listening starts with a first accept, which times out. */
  REQUIRE_EQ(uvble_connection_l2cap_accept(&fb, CB, PSM, 100, 10), 0);
  REQUIRE(run_until_pred(&loop, done, &fb, 500));
  CHECK_EQ(fb.status, UVBLE_ETIMEDOUT);
  REQUIRE_EQ(uvble_connection_l2cap_connect(&fa, CA, PSM, 100, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &fa, 1000));
  REQUIRE_EQ(fa.status, 0);
  REQUIRE_EQ(uvble_connection_l2cap_accept(&fb, CB, PSM, 100, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &fb, 1000));
  REQUIRE_EQ(fb.status, 0);
  CHECK_EQ(uvble_l2cap_channel_cid(fb.result.channel) != 0, 1);
  uvble_l2cap_channel_free(fa.result.channel);
  uvble_l2cap_channel_free(fb.result.channel);
  down();
}

TEST(a_full_backlog_refuses_with_no_resources) {
  uvble_async_config_t cfg;
  uvble_async_config_default(&cfg);
  cfg.l2cap_backlog = 0;
  up_with(&cfg);
  uvble_future_t fa = {0}, fb = {0};
  REQUIRE_EQ(uvble_connection_l2cap_accept(&fb, CB, PSM, 100, 10), 0);
  REQUIRE(run_until_pred(&loop, done, &fb, 500));
  REQUIRE_EQ(uvble_connection_l2cap_connect(&fa, CA, PSM, 100, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &fa, 1000));
  CHECK_EQ(fa.status, UVBLE_EL2CAP);
  CHECK_EQ(fa.proto_status, UVBLE_L2CAP_RESULT_NO_RESOURCES);
  uvble_async_stats_t st;
  uvble_async_get_stats(B, &st);
  CHECK_EQ(st.l2cap_refused, 1);
  down();
}

/* ---- connection objects ------------------------------------------------------------ */
TEST(connection_objects_live_while_linked_or_referenced) {
  up();
  uvble_async_stats_t st;
  uvble_async_get_stats(A, &st);
  CHECK_EQ(st.live_connections, 1);
  /* A second link nobody references. */
  int h2 = memctl_connect(mc);
  REQUIRE(h2 >= 0);
  run_until_idle(&loop, 5000);
  uvble_async_get_stats(A, &st);
  CHECK_EQ(st.live_connections, 2);
  uvble_connection_t *c2 = uvble_async_connection(A, (uint16_t)h2);
  REQUIRE(c2 != NULL);
  CHECK(uvble_connection_handle(c2) == h2);
  memctl_disconnect(mc, (uint16_t)h2, 0x13);
  run_until_idle(&loop, 5000);
  uvble_async_get_stats(A, &st);
  CHECK_EQ(st.live_connections, 1); /* freed with its link */
  CHECK(uvble_async_connection(A, (uint16_t)h2) == NULL);
  /* The referenced one outlives its link. */
  memctl_disconnect(mc, H, 0x13);
  run_until_idle(&loop, 5000);
  CHECK(!uvble_connection_is_connected(CA));
  CHECK(uvble_async_connection(A, H) == NULL);
  uvble_async_get_stats(A, &st);
  CHECK_EQ(st.live_connections, 1);
  uvble_connection_release(CA);
  uvble_async_get_stats(A, &st);
  CHECK_EQ(st.live_connections, 0);
  CA = NULL;
  down();
}

/* ---- scopes ---------------------------------------------------------------------- */
struct scoped {
  uvble_task_t task;
  uvble_future_t f1, f2;
  uvble_scope_t scope;
  uint8_t b[8];
  int st1, st2, scope_st;
};

static int scoped_fn(uvble_task_t *t) {
  struct scoped *s = (struct scoped *)t;
  UVBLE_CO_BEGIN(t);
  UVBLE_SCOPE_BEGIN(t, &s->scope, CA, 0);
  /* Not a connection operation: the scope ends it when the link drops. */
  UVBLE_AWAIT(t, (uvble_sleep(&s->f1, uvble_async_sched(A), 100000), &s->f1));
  s->st1 = s->f1.status;
  UVBLE_AWAIT(t, (uvble_sleep(&s->f2, uvble_async_sched(A), 100000), &s->f2));
  s->st2 = s->f2.status;
  s->scope_st = UVBLE_SCOPE_END(t, &s->scope);
  UVBLE_CO_END(t);
}

static bool task_done(void *t) { return !uvble_task_running(t); }

TEST(a_scope_on_a_connection_ends_when_the_link_drops) {
  up();
  struct scoped s;
  memset(&s, 0, sizeof s);
  REQUIRE_EQ(uvble_task_spawn(uvble_async_sched(A), &s.task, scoped_fn, NULL), 0);
  run_until_idle(&loop, 5000);
  CHECK(uvble_task_running(&s.task));
  memctl_disconnect(mc, H, 0x13);
  REQUIRE(run_until_pred(&loop, task_done, &s.task, 1000));
  CHECK_EQ(s.st1, UVBLE_EDISCONNECTED);
  CHECK_EQ(s.st2, UVBLE_EDISCONNECTED);
  CHECK_EQ(s.scope_st, UVBLE_EDISCONNECTED);
  down();
}

/* ---- closing ------------------------------------------------------------------------ */
static int ncancel;
static void cancel_cb(uvble_future_t *f) { ncancel += f->status == UVBLE_ECANCELED; }

TEST(closing_the_server_completes_its_pending_operations) {
  up();
  uvble_future_t f[6];
  memset(f, 0, sizeof f);
  for (int i = 0; i < 6; i++) f[i].cb = cancel_cb;
  ncancel = 0;
  uvble_advertise_params_t ap;
  uvble_advertise_params_init(&ap);
  /* memctl does not advertise; the stack only has to accept the call. */
  int adv = uvble_advertise(&f[0], B, &ap, 0);
  REQUIRE_EQ(uvble_characteristic_written(&f[1], chr, NULL, 0, 0), 0);
  REQUIRE_EQ(uvble_characteristic_written(&f[2], cap, NULL, 0, 0), 0);
  REQUIRE_EQ(uvble_characteristic_indicate(&f[3], chr, CB, "x", 1, 0), 0);
  REQUIRE_EQ(uvble_connection_l2cap_accept(&f[4], CB, PSM, 100, 0), 0);
  REQUIRE_EQ(uvble_connection_disconnected(&f[5], CB, 0), 0);
  uvble_connection_release(CB);
  CB = NULL;
  nclosed = 0;
  uvble_async_close(B, on_closed, NULL);
  CHECK_EQ(ncancel, adv == 0 ? 6 : 5);
  uvble_connection_release(CA);
  CA = NULL;
  uvble_async_close(A, on_closed, NULL);
  REQUIRE(run_until_pred(&loop, two_closed, NULL, 2000));
  memctl_free(mc);
  run_until_idle(&loop, 5000);
  loop_teardown(&loop);
}

/* A callback may close the context: the connection reference its future
 * holds is dropped after the callback returns, safely. */
static bool closed_in_cb;
static uvble_connection_t *writer;
static void close_from_cb(uvble_future_t *f) {
  CHECK_EQ(f->status, 0);
  CHECK(f->result.conn == writer);
  CHECK(uvble_connection_is_connected(f->result.conn));
  uvble_async_close(B, on_closed, NULL);
  closed_in_cb = true;
}

TEST(a_written_callback_may_close_the_context) {
  up();
  uvble_future_t w = {.cb = close_from_cb}, wr = {0};
  REQUIRE_EQ(uvble_characteristic_written(&w, cap, NULL, 0, 1000), 0);
  writer = CB;
  uvble_connection_release(CB); /* the link's reference keeps it */
  CB = NULL;
  closed_in_cb = false;
  nclosed = 0;
  REQUIRE_EQ(uvble_client_characteristic_write(&wr, ccap, "x", 1, 1, 1000), 0);
  REQUIRE(run_until_pred(&loop, done, &w, 1000));
  CHECK(closed_in_cb);
  uvble_connection_release(CA);
  CA = NULL;
  uvble_async_close(A, on_closed, NULL);
  REQUIRE(run_until_pred(&loop, two_closed, NULL, 2000));
  memctl_free(mc);
  run_until_idle(&loop, 5000);
  loop_teardown(&loop);
}

TEST_MAIN()
