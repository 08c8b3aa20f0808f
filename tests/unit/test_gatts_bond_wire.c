/* SPDX-License-Identifier: Apache-2.0 */
/* CCCD persistence on the wire, against the scripted controller: our host
 * is the peripheral and GATT server; the test is the controller and the
 * bonded central. The app holds a bond and a stored CCCD table; the
 * controller asks for the key (LE Long Term Key Request) and reports the
 * encryption; the test reads the ATT PDUs the host sends. */
#include "gatts_internal.h"
#include "keys.h"
#include "test_smp_peer.h"
#include "uvble/gatts.h"

static const uint8_t LTK[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t Z8[8];
static uint16_t vh;

/* The app's secrets: a Secure Connections bond with the peer, and a CCCD
 * table naming layout with the given entries (value handle, bits). */
static void store_bond(uint64_t layout, const uint16_t *e, size_t n) {
  uvble_addr_t id = {UVBLE_ADDR_PUBLIC, {0}};
  for (int k = 0; k < 6; k++) id.val[k] = PEER[5 - k]; /* HCI order reversed */
  struct keys_bond b;
  memset(&b, 0, sizeof b);
  b.flags = KEYS_F_LTK | KEYS_F_SC;
  b.key_size = 16;
  memcpy(b.id_addr, PEER, 6);
  memcpy(b.ltk, LTK, 16);
  REQUIRE_EQ(keys_bond_save(ble, UVBLE_SECRET_OUR_SEC, &id, &b), 0);
  int i = 0;
  while (i < NSEC && secs[i].used) i++;
  REQUIRE(i < NSEC);
  secs[i].used = true;
  secs[i].type = UVBLE_SECRET_CCCD;
  keys_addr_key(&id, secs[i].key);
  secs[i].klen = KEYS_ADDR_KEY_LEN;
  uint8_t *v = secs[i].val;
  v[0] = 1;
  for (int k = 0; k < 8; k++) v[1 + k] = (uint8_t)(layout >> (8 * k));
  for (size_t k = 0; k < n; k++) {
    put_le16(v + 9 + 4 * k, e[2 * k]);
    put_le16(v + 11 + 4 * k, e[2 * k + 1]);
  }
  secs[i].vlen = 9 + 4 * n;
}

static int cccd_sets; /* SET_SECRET of the CCCD table */

static int irq(uvble_t *b, int ev, const uvble_irq_data_t *d, void *arg) {
  if (ev == UVBLE_IRQ_SET_SECRET && d->set_secret.sec_type == UVBLE_SECRET_CCCD)
    cccd_sets++;
  return peer_irq(b, ev, d, arg);
}

/* The database first, then the link (a registration on a live link is
 * a change that link's client must hear of). */
static void setup(void) {
  bring(NO_LINK);
  uvble_irq(ble, irq, NULL);
  cccd_sets = 0;
  uvble_gatts_characteristic_t chr = {.uuid = uvble_uuid16(0x2a37),
                                      .flags = UVBLE_FLAG_NOTIFY};
  uvble_gatts_service_t svc = {uvble_uuid16(0x180d), &chr, 1};
  REQUIRE_EQ(uvble_gatts_register_services(ble, &svc, 1, &vh, 1), 1);
  sc_connect(sc, H, CONN_ROLE_PERIPHERAL, PEER);
  run_until_idle(&loop, 5000);
  REQUIRE(conn_find(ble, H) != NULL);
  sc_clear(sc);
  acl_cursor = 0;
}

/* The controller asks for the bond's key and encrypts the link. */
static void encrypt(void) {
  inject_ltk_request(0, Z8);
  uint8_t ltk[16];
  REQUIRE(ltk_replied(0, ltk));
  CHECK_MEM(ltk, LTK, 16);
  inject_enc_change(0, 1);
  REQUIRE_EQ(enc_events, 1);
  CHECK(enc.bonded);
}

/* The next ATT PDU the host sent; its length, 0 when none. */
static size_t att_out(uint8_t *pdu, size_t cap) {
  if (acl_cursor >= sc_acl_count(sc)) run_until_idle(&loop, 5000);
  while (acl_cursor < sc_acl_count(sc)) {
    const struct sc_acl_rec *a = sc_acl(sc, acl_cursor++);
    if (a->len < 4 || a->data[2] != 0x04 || a->data[3] != 0) continue;
    size_t n = a->len - 4u;
    memcpy(pdu, a->data + 4, n < cap ? n : cap);
    return n;
  }
  return 0;
}

static void att_in(const void *pdu, size_t len) {
  uint8_t buf[64] = {(uint8_t)len, 0, 0x04, 0};
  memcpy(buf + 4, pdu, len);
  sc_send_acl(sc, H, 2, buf, 4 + len);
  run_until_idle(&loop, 5000);
}

static int cccd_secret(void) {
  for (int i = 0; i < NSEC; i++)
    if (secs[i].used && secs[i].type == UVBLE_SECRET_CCCD) return i;
  return -1;
}

TEST(a_stored_subscription_is_served_after_the_link_is_encrypted) {
  setup();
  const uint16_t e[] = {vh, UVBLE_CCCD_NOTIFY};
  store_bond(ble->gatts->layout, e, 1);
  CHECK_EQ(uvble_gatts_subscription(ble, H, vh), 0);
  encrypt();
  CHECK_EQ(uvble_gatts_subscription(ble, H, vh), UVBLE_CCCD_NOTIFY);
  uint8_t pdu[32];
  CHECK_EQ(att_out(pdu, sizeof pdu), 0); /* nothing to tell it */
  REQUIRE_EQ(uvble_gatts_write(ble, vh, "hi", 2, true), 0);
  REQUIRE_EQ(att_out(pdu, sizeof pdu), 5);
  const uint8_t ntf[5] = {0x1b, (uint8_t)vh, (uint8_t)(vh >> 8), 'h', 'i'};
  CHECK_MEM(pdu, ntf, 5);
  /* Nothing changed: nothing written back. */
  CHECK_EQ(cccd_sets, 0);
  finish();
}

TEST(a_stale_layout_gets_service_changed_and_is_updated_on_confirmation) {
  setup();
  uint64_t now = ble->gatts->layout;
  const uint16_t e[] = {UVBLE_GATTS_SERVICE_CHANGED_HANDLE, UVBLE_CCCD_INDICATE,
                        vh, UVBLE_CCCD_NOTIFY};
  store_bond(now ^ 1, e, 2);
  encrypt();
  /* Handle Value Indication of Service Changed: handles 10..0xffff. */
  uint8_t pdu[32];
  REQUIRE_EQ(att_out(pdu, sizeof pdu), 7);
  const uint8_t ind[7] = {0x1d, UVBLE_GATTS_SERVICE_CHANGED_HANDLE, 0,
                          UVBLE_GATTS_FIRST_USER_HANDLE, 0, 0xff, 0xff};
  CHECK_MEM(pdu, ind, 7);
  CHECK_EQ(uvble_gatts_subscription(ble, H, vh), 0);
  int i = cccd_secret();
  REQUIRE(i >= 0);
  uint64_t stored = 0;
  for (int k = 0; k < 8; k++) stored |= (uint64_t)secs[i].val[1 + k] << (8 * k);
  CHECK(stored != now); /* not up to date before it confirms */
  const uint8_t cfm = 0x1e;
  att_in(&cfm, 1);
  stored = 0;
  for (int k = 0; k < 8; k++) stored |= (uint64_t)secs[i].val[1 + k] << (8 * k);
  CHECK(stored == now);
  CHECK_EQ(cccd_sets, 1);
  CHECK_EQ(secs[i].vlen, 13); /* Service Changed only */
  CHECK_EQ(get_le16(secs[i].val + 9), UVBLE_GATTS_SERVICE_CHANGED_HANDLE);
  CHECK_EQ(get_le16(secs[i].val + 11), UVBLE_CCCD_INDICATE);
  finish();
}

TEST(the_link_dropping_under_the_service_changed_indication_keeps_the_old_layout) {
  setup();
  uint64_t now = ble->gatts->layout;
  const uint16_t e[] = {UVBLE_GATTS_SERVICE_CHANGED_HANDLE, UVBLE_CCCD_INDICATE};
  store_bond(now ^ 1, e, 1);
  encrypt();
  uint8_t pdu[32];
  REQUIRE_EQ(att_out(pdu, sizeof pdu), 7);
  sc_disconnect(sc, H, 0x08);
  run_until_idle(&loop, 5000);
  CHECK(conn_find(ble, H) == NULL);
  int i = cccd_secret();
  REQUIRE(i >= 0);
  uint64_t stored = 0;
  for (int k = 0; k < 8; k++) stored |= (uint64_t)secs[i].val[1 + k] << (8 * k);
  CHECK(stored == (now ^ 1)); /* told again next time */
  finish();
}

TEST(a_bond_without_a_table_gets_one_when_the_client_subscribes) {
  setup();
  store_bond(0, NULL, 0);
  int i = cccd_secret();
  REQUIRE(i >= 0);
  secs[i].used = false; /* a bond, no table */
  encrypt();
  uint8_t pdu[32];
  CHECK_EQ(att_out(pdu, sizeof pdu), 0);
  /* Write Request to the CCCD: answered, then kept with the bond. */
  const uint8_t wr[5] = {0x12, (uint8_t)(vh + 1), (uint8_t)((vh + 1) >> 8), 1, 0};
  att_in(wr, sizeof wr);
  REQUIRE_EQ(att_out(pdu, sizeof pdu), 1);
  CHECK_EQ(pdu[0], 0x13);
  i = cccd_secret();
  REQUIRE(i >= 0);
  CHECK_EQ(secs[i].vlen, 13);
  CHECK_EQ(get_le16(secs[i].val + 9), vh);
  CHECK_EQ(get_le16(secs[i].val + 11), UVBLE_CCCD_NOTIFY);
  finish();
}

TEST_MAIN()
