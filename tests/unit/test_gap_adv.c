/* SPDX-License-Identifier: Apache-2.0 */
/* Broadcaster against a scripted controller: the exact HCI parameters of
 * legacy and extended advertising, interval rounding, payload rules (NULL
 * keeps, empty clears, 31 bytes legacy, fragments extended), own address
 * types, and how the host's view follows the controller (refusals,
 * connections, set terminated, power-down). */
#include "test_gap_common.h"

static const uint8_t ADV[] = {0x02, 0x01, 0x06, 0x04, 0xff, 'M', 'P', 'Y'};
static const uint8_t RESP[] = {0x05, 0x09, 'u', 'v', 'b', 'l'};

TEST(legacy_parameters_data_and_enable_are_exact) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, false);
  REQUIRE_EQ(uvble_gap_advertise(ble, 100000, ADV, sizeof ADV, RESP,
                                 sizeof RESP, true),
             0);
  run_until_idle(&loop, 5000);
  /* Order: parameters, data, scan response, enable. */
  int ip = sc_find_cmd(sc, HCI_OP_LE_SET_ADV_PARAMS, 0);
  int id = sc_find_cmd(sc, HCI_OP_LE_SET_ADV_DATA, 0);
  int ir = sc_find_cmd(sc, HCI_OP_LE_SET_SCAN_RSP_DATA, 0);
  int ie = sc_find_cmd(sc, HCI_OP_LE_SET_ADV_ENABLE, 0);
  REQUIRE(ip >= 0 && ip < id && id < ir && ir < ie);
  CHECK_EQ(sc_find_cmd(sc, HCI_OP_LE_SET_RANDOM_ADDRESS, 0), -1);
  const struct sc_cmd_rec *p = sc_cmd(sc, (size_t)ip);
  REQUIRE_EQ(p->len, 15);
  CHECK_EQ(le16(p->params), 160); /* 100 ms / 0.625 ms */
  CHECK_EQ(le16(p->params + 2), 160);
  CHECK_EQ(p->params[4], 0x00); /* ADV_IND */
  CHECK_EQ(p->params[5], 0x00); /* own address public */
  CHECK_EQ(p->params[13], 0x07);
  CHECK_EQ(p->params[14], 0x00);
  const struct sc_cmd_rec *d = sc_cmd(sc, (size_t)id);
  REQUIRE_EQ(d->len, 32);
  CHECK_EQ(d->params[0], sizeof ADV);
  CHECK_MEM(d->params + 1, ADV, sizeof ADV);
  for (size_t i = 1 + sizeof ADV; i < 32; i++) CHECK_EQ(d->params[i], 0);
  const struct sc_cmd_rec *r = sc_cmd(sc, (size_t)ir);
  CHECK_EQ(r->params[0], sizeof RESP);
  CHECK_MEM(r->params + 1, RESP, sizeof RESP);
  const struct sc_cmd_rec *e = sc_cmd(sc, (size_t)ie);
  REQUIRE_EQ(e->len, 1);
  CHECK_EQ(e->params[0], 0x01);
  CHECK(uvble_gap_advertising(ble));
  down(sc, ble);
}

static uint16_t interval_for(int32_t us) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, false);
  REQUIRE_EQ(uvble_gap_advertise(ble, us, ADV, sizeof ADV, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  uint16_t v = le16(cmd_n(sc, HCI_OP_LE_SET_ADV_PARAMS, 0)->params);
  down(sc, ble);
  return v;
}

TEST(interval_is_rounded_down_to_625us_with_limits) {
  CHECK_EQ(interval_for(100624), 160); /* rounded down */
  CHECK_EQ(interval_for(100625), 161);
  CHECK_EQ(interval_for(0), 800);    /* default 500 ms */
  CHECK_EQ(interval_for(625), 0x20); /* at least 20 ms */
  CHECK_EQ(interval_for(19999), 0x20);
  CHECK_EQ(interval_for(20000), 0x20);
  CHECK_EQ(interval_for(20000000), 0x4000); /* legacy maximum 10.24 s */
}

TEST(non_connectable_is_adv_scan_ind_like_micropython) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, false);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, ADV, sizeof ADV, NULL, 0, false), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_n(sc, HCI_OP_LE_SET_ADV_PARAMS, 0)->params[4], 0x02);
  /* With a scan response: the same. */
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, NULL, 0, RESP, sizeof RESP, false), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_n(sc, HCI_OP_LE_SET_ADV_PARAMS, 1)->params[4], 0x02);
  down(sc, ble);
}

TEST(restart_disables_first_null_keeps_and_empty_clears) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, false);
  REQUIRE_EQ(
      uvble_gap_advertise(ble, 0, ADV, sizeof ADV, RESP, sizeof RESP, true), 0);
  run_until_idle(&loop, 5000);
  sc_clear(sc);
  /* NULL keeps the advertising data; an empty response clears it. */
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, NULL, 0, RESP, 0, true), 0);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(sc_cmd(sc, 0)->opcode, HCI_OP_LE_SET_ADV_ENABLE);
  CHECK_EQ(sc_cmd(sc, 0)->params[0], 0x00); /* off first */
  const struct sc_cmd_rec *d = cmd_n(sc, HCI_OP_LE_SET_ADV_DATA, 0);
  CHECK_EQ(d->params[0], sizeof ADV);
  CHECK_MEM(d->params + 1, ADV, sizeof ADV);
  CHECK_EQ(cmd_n(sc, HCI_OP_LE_SET_SCAN_RSP_DATA, 0)->params[0], 0);
  CHECK_EQ(cmd_n(sc, HCI_OP_LE_SET_ADV_ENABLE, 1)->params[0], 0x01);
  /* Stop: one disable; stopping again sends nothing. */
  sc_clear(sc);
  REQUIRE_EQ(uvble_gap_advertise(ble, -1, NULL, 0, NULL, 0, true), 0);
  CHECK(!uvble_gap_advertising(ble));
  REQUIRE_EQ(uvble_gap_advertise(ble, -1, NULL, 0, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(sc_cmd_count(sc), 1);
  CHECK_EQ(sc_cmd(sc, 0)->params[0], 0x00);
  down(sc, ble);
}

TEST(legacy_payloads_over_31_bytes_are_refused) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, false);
  uint8_t big[32];
  memset(big, 0, sizeof big);
  CHECK_EQ(uvble_gap_advertise(ble, 0, big, 32, NULL, 0, true), UVBLE_EMSGSIZE);
  CHECK_EQ(uvble_gap_advertise(ble, 0, NULL, 0, big, 32, false),
           UVBLE_EMSGSIZE);
  CHECK_EQ(uvble_gap_advertise(ble, 0, big, 31, big, 31, true), 0);
  run_until_idle(&loop, 5000);
  /* A refused call sends nothing and changes nothing. */
  size_t n = sc_cmd_count(sc);
  CHECK_EQ(uvble_gap_advertise(ble, 0, big, 40, NULL, 0, true), UVBLE_EMSGSIZE);
  run_until_idle(&loop, 5000);
  CHECK(uvble_gap_advertising(ble));
  CHECK_EQ(sc_cmd_count(sc), n);
  down(sc, ble);
}

TEST(random_address_mode_sets_the_static_address_first) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, false);
  uvble_addr_t a = {UVBLE_ADDR_RANDOM, {0xc1, 0x02, 0x03, 0x04, 0x05, 0x06}};
  REQUIRE_EQ(uvble_config_set_mac(ble, &a), 0);
  REQUIRE_EQ(
      uvble_config_set_int(ble, UVBLE_CONFIG_ADDR_MODE, UVBLE_ADDR_MODE_RANDOM),
      0);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, ADV, sizeof ADV, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  int ia = sc_find_cmd(sc, HCI_OP_LE_SET_RANDOM_ADDRESS, 0);
  int ip = sc_find_cmd(sc, HCI_OP_LE_SET_ADV_PARAMS, 0);
  REQUIRE(ia >= 0 && ia < ip);
  static const uint8_t HCI[6] = {0x06, 0x05, 0x04, 0x03, 0x02, 0xc1};
  CHECK_MEM(sc_cmd(sc, (size_t)ia)->params, HCI, 6);
  CHECK_EQ(sc_cmd(sc, (size_t)ip)->params[5], 0x01); /* own type random */
  /* The controller holds it now: a restart does not set it again. */
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, NULL, 0, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_SET_RANDOM_ADDRESS), 1);
  uvble_addr_t own;
  REQUIRE_EQ(uvble_gap_own_addr(ble, &own), 0);
  CHECK_MEM(own.val, a.val, 6);
  down(sc, ble);
}

TEST(rpa_rotates_and_running_advertising_moves_to_the_new_one) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, false);
  REQUIRE_EQ(
      uvble_config_set_int(ble, UVBLE_CONFIG_ADDR_MODE, UVBLE_ADDR_MODE_RPA),
      0);
  REQUIRE_EQ(uvble_gap_set_rpa_timeout(ble, 1), 0);
  CHECK_EQ(uvble_gap_set_rpa_timeout(ble, 41401), UVBLE_EINVAL);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, ADV, sizeof ADV, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  const struct sc_cmd_rec *a1 = cmd_n(sc, HCI_OP_LE_SET_RANDOM_ADDRESS, 0);
  CHECK_EQ(a1->params[5] & 0xc0, 0x40); /* RPA: top bits 01 */
  uint8_t first[6];
  memcpy(first, a1->params, 6);
  /* The address rotates on its timer (1 s here). */
  RUN_UNTIL(&loop, sc_find_cmd(sc, HCI_OP_LE_SET_RANDOM_ADDRESS, 1) >= 0,
            5000);
  run_until_idle(&loop, 5000);
  const struct sc_cmd_rec *a2 = cmd_n(sc, HCI_OP_LE_SET_RANDOM_ADDRESS, 1);
  CHECK_EQ(a2->params[5] & 0xc0, 0x40);
  CHECK(memcmp(first, a2->params, 6) != 0);
  /* Advertising was taken down, readdressed and restarted. */
  int i2 = sc_find_cmd(sc, HCI_OP_LE_SET_RANDOM_ADDRESS, 1);
  CHECK(sc_find_cmd(sc, HCI_OP_LE_SET_ADV_ENABLE, 1) < i2);
  CHECK(sc_find_cmd(sc, HCI_OP_LE_SET_ADV_ENABLE, 2) > i2);
  CHECK(uvble_gap_advertising(ble));
  /* NRPA: top bits 00. */
  REQUIRE_EQ(
      uvble_config_set_int(ble, UVBLE_CONFIG_ADDR_MODE, UVBLE_ADDR_MODE_NRPA),
      0);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, NULL, 0, NULL, 0, false), 0);
  run_until_idle(&loop, 5000);
  int n = cmd_count(sc, HCI_OP_LE_SET_RANDOM_ADDRESS);
  CHECK_EQ(cmd_n(sc, HCI_OP_LE_SET_RANDOM_ADDRESS, n - 1)->params[5] & 0xc0,
           0x00);
  down(sc, ble);
}

static int disallow_count;
static bool refuse_disable(sc_t *sc, const struct sc_cmd_rec *c, void *arg) {
  (void)arg;
  if (c->params[0] != 0x00) return false;
  disallow_count++;
  uint8_t st = 0x0C; /* Command Disallowed: already off */
  sc_send_cc(sc, c->opcode, &st, 1);
  return true;
}

TEST(controller_refusals_update_the_host_view) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, false);
  /* A disable that finds advertising off is not an error. */
  sc_on_cmd(sc, HCI_OP_LE_SET_ADV_ENABLE, refuse_disable, NULL);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, ADV, sizeof ADV, NULL, 0, true), 0);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, ADV, sizeof ADV, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(disallow_count, 1);
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(ble, &gs);
  CHECK_EQ(gs.adv_errors, 0);
  CHECK(uvble_gap_advertising(ble));
  /* An enable the controller refuses leaves advertising off, counted. */
  REQUIRE_EQ(uvble_gap_advertise(ble, -1, NULL, 0, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  sc_on_cmd(sc, HCI_OP_LE_SET_ADV_ENABLE, NULL, NULL);
  sc_fail_with(sc, HCI_OP_LE_SET_ADV_ENABLE, 0x12);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, ADV, sizeof ADV, NULL, 0, true), 0);
  CHECK(uvble_gap_advertising(ble));
  run_until_idle(&loop, 5000);
  CHECK(!uvble_gap_advertising(ble));
  uvble_gap_get_stats(ble, &gs);
  CHECK_EQ(gs.adv_errors, 1);
  down(sc, ble);
}

TEST(a_central_connecting_stops_advertising) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, false);
  REQUIRE_EQ(
      uvble_config_set_int(ble, UVBLE_CONFIG_ADDR_MODE, UVBLE_ADDR_MODE_RPA),
      0);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, ADV, sizeof ADV, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  static const uint8_t PEER[6] = {1, 2, 3, 4, 5, 6};
  sc_connect(sc, 0x40, 1, PEER); /* we are peripheral */
  run_until_idle(&loop, 5000);
  CHECK_EQ(rec.count[UVBLE_IRQ_CENTRAL_CONNECT], 1);
  CHECK(!uvble_gap_advertising(ble));
  /* The link was made with the RPA we advertised (SMP needs it). */
  const uint8_t *rpa = cmd_n(sc, HCI_OP_LE_SET_RANDOM_ADDRESS, 0)->params;
  uvble_addr_t own;
  REQUIRE_EQ(gap_conn_own_addr(ble, conn_find(ble, 0x40), &own), 0);
  CHECK_EQ(own.type, UVBLE_ADDR_RANDOM);
  for (int i = 0; i < 6; i++) CHECK_EQ(own.val[i], rpa[5 - i]);
  /* The app restarts it: no disable is sent for advertising that is off. */
  sc_clear(sc);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, NULL, 0, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(sc_cmd(sc, 0)->opcode, HCI_OP_LE_SET_ADV_PARAMS);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_SET_ADV_ENABLE), 1);
  down(sc, ble);
}

TEST(not_active_and_power_down) {
  uv_loop_init(&loop);
  uvble_transport_t *host;
  sc_t *sc = sc_new(&loop, &host);
  uvble_t *ble;
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  CHECK_EQ(uvble_gap_advertise(ble, 0, ADV, sizeof ADV, NULL, 0, true),
           UVBLE_ENOTACTIVE);
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(ble));
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, ADV, sizeof ADV, NULL, 0, true), 0);
  REQUIRE_EQ(uvble_active(ble, false, NULL, NULL), 0);
  CHECK(!uvble_gap_advertising(ble));
  run_until_idle(&loop, 5000);
  /* Up again: the payload is kept (MicroPython reuses it). */
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(ble));
  sc_clear(sc);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, NULL, 0, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_SET_ADV_ENABLE), 1); /* no disable */
  CHECK_EQ(cmd_n(sc, HCI_OP_LE_SET_ADV_DATA, 0)->params[0], sizeof ADV);
  down(sc, ble);
}

/* ---- extended advertising ---- */

TEST(extended_controller_sends_short_payloads_as_legacy_pdus) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, true);
  REQUIRE_EQ(uvble_gap_advertise(ble, 100000, ADV, sizeof ADV, RESP,
                                 sizeof RESP, true),
             0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_SET_ADV_PARAMS), 0); /* no legacy mix */
  const struct sc_cmd_rec *p = cmd_n(sc, HCI_OP_LE_SET_EXT_ADV_PARAMS, 0);
  /* Vol 4, Part E, 7.8.53, LE Set Extended Advertising Parameters [v1],
   * opcode 0x2036, written from the spec's parameter table:
   *  off size field
   *   0   1  Advertising_Handle
   *   1   2  Advertising_Event_Properties
   *   3   3  Primary_Advertising_Interval_Min
   *   6   3  Primary_Advertising_Interval_Max
   *   9   1  Primary_Advertising_Channel_Map
   *  10   1  Own_Address_Type
   *  11   1  Peer_Address_Type
   *  12   6  Peer_Address
   *  18   1  Advertising_Filter_Policy
   *  19   1  Advertising_TX_Power
   *  20   1  Primary_Advertising_PHY
   *  21   1  Secondary_Advertising_Max_Skip
   *  22   1  Secondary_Advertising_PHY
   *  23   1  Advertising_SID
   *  24   1  Scan_Request_Notification_Enable      = 25 bytes */
  static const uint8_t EXT_PARAMS[25] = {
      [0] = 0x00,                          /* handle 0 */
      [1] = 0x13, [2] = 0x00,              /* legacy|scannable|connectable */
      [3] = 0xA0, [4] = 0x00, [5] = 0x00,  /* 160 x 0.625 ms */
      [6] = 0xA0, [7] = 0x00, [8] = 0x00,  /* 160 */
      [9] = 0x07,                          /* channels 37, 38, 39 */
      [10] = 0x00,                         /* public */
      [11] = 0x00,                         /* peer type (unused) */
      [12] = 0, [13] = 0, [14] = 0, [15] = 0, [16] = 0, [17] = 0,
      [18] = 0x00, /* process scan and connection requests from all */
      [19] = 0x7F, /* host has no TX power preference */
      [20] = 0x01, /* primary PHY LE 1M */
      [21] = 0x00, /* max skip 0 */
      [22] = 0x01, /* secondary PHY LE 1M */
      [23] = 0x00, /* SID 0 */
      [24] = 0x00, /* no scan request notifications */
  };
  REQUIRE_EQ(p->len, 25);
  CHECK_MEM(p->params, EXT_PARAMS, sizeof EXT_PARAMS);
  const struct sc_cmd_rec *d = cmd_n(sc, HCI_OP_LE_SET_EXT_ADV_DATA, 0);
  CHECK_EQ(d->params[1], 0x03); /* complete */
  CHECK_EQ(d->params[3], sizeof ADV);
  CHECK_EQ(d->len, 4 + sizeof ADV);
  CHECK_MEM(d->params + 4, ADV, sizeof ADV);
  const struct sc_cmd_rec *r = cmd_n(sc, HCI_OP_LE_SET_EXT_SCAN_RSP_DATA, 0);
  CHECK_EQ(r->params[3], sizeof RESP);
  CHECK_MEM(r->params + 4, RESP, sizeof RESP);
  const struct sc_cmd_rec *e = cmd_n(sc, HCI_OP_LE_SET_EXT_ADV_ENABLE, 0);
  static const uint8_t EN[6] = {1, 1, 0, 0, 0, 0};
  REQUIRE_EQ(e->len, 6);
  CHECK_MEM(e->params, EN, 6);
  /* Non-connectable: legacy ADV_SCAN_IND. */
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, NULL, 0, NULL, 0, false), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(le16(cmd_n(sc, HCI_OP_LE_SET_EXT_ADV_PARAMS, 1)->params + 1),
           0x0012);
  down(sc, ble);
}

TEST(extended_long_payload_is_fragmented) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, true);
  static uint8_t big[600];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)i;
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, ADV, sizeof ADV, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  sc_clear(sc);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, big, sizeof big, RESP, 0, true), 0);
  run_until_idle(&loop, 5000);
  /* Off, then a fresh set (the old one had legacy properties). */
  CHECK_EQ(sc_cmd(sc, 0)->opcode, HCI_OP_LE_SET_EXT_ADV_ENABLE);
  CHECK_EQ(sc_cmd(sc, 0)->params[0], 0x00);
  CHECK_EQ(sc_cmd(sc, 1)->opcode, HCI_OP_LE_REMOVE_ADV_SET);
  CHECK_EQ(le16(cmd_n(sc, HCI_OP_LE_SET_EXT_ADV_PARAMS, 0)->params + 1),
           0x0001); /* connectable, extended PDUs */
  REQUIRE_EQ(cmd_count(sc, HCI_OP_LE_SET_EXT_ADV_DATA), 3);
  static const uint8_t OPS[3] = {0x01, 0x00, 0x02};
  static const size_t LENS[3] = {251, 251, 98};
  size_t off = 0;
  for (int i = 0; i < 3; i++) {
    const struct sc_cmd_rec *d = cmd_n(sc, HCI_OP_LE_SET_EXT_ADV_DATA, i);
    CHECK_EQ(d->params[1], OPS[i]);
    CHECK_EQ(d->params[3], LENS[i]);
    CHECK_MEM(d->params + 4, big + off, LENS[i]);
    off += LENS[i];
  }
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_SET_EXT_SCAN_RSP_DATA), 0);
  /* Non-connectable with only a long scan response: scannable. */
  sc_clear(sc);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, ADV, 0, big, 300, false), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(le16(cmd_n(sc, HCI_OP_LE_SET_EXT_ADV_PARAMS, 0)->params + 1),
           0x0002);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_SET_EXT_ADV_DATA), 0);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_SET_EXT_SCAN_RSP_DATA), 2);
  /* Non-connectable, long data, no response: neither. */
  sc_clear(sc);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, big, 100, RESP, 0, false), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(le16(cmd_n(sc, HCI_OP_LE_SET_EXT_ADV_PARAMS, 0)->params + 1),
           0x0000);
  CHECK_EQ(cmd_n(sc, HCI_OP_LE_SET_EXT_ADV_DATA, 0)->params[1], 0x03);
  down(sc, ble);
}

static bool hci_idle(void *arg) {
  const uvble_t *ble = arg;
  return !ble->hci.queue.head && !ble->hci.inflight.head;
}

TEST(extended_payload_rules) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, true);
  static uint8_t big[1651];
  memset(big, 0, sizeof big);
  CHECK_EQ(uvble_gap_advertise(ble, 0, big, 1651, NULL, 0, true),
           UVBLE_EMSGSIZE);
  CHECK_EQ(uvble_gap_advertise(ble, 0, big, 1650, NULL, 0, true), 0);
  /* Connectable extended advertising has no scan response. */
  CHECK_EQ(uvble_gap_advertise(ble, 0, big, 100, RESP, sizeof RESP, true),
           UVBLE_EINVAL);
  /* Scannable extended advertising carries its payload in the response. */
  CHECK_EQ(uvble_gap_advertise(ble, 0, big, 10, big, 100, false), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_advertise(ble, 20000000, NULL, 0, NULL, 0, true), 0);
  /* Until both sequences are out (a fixed 20 ms can end, under load,
   * before the second one's parameters are sent). */
  REQUIRE(run_until_pred(&loop, hci_idle, ble, 3000));
  int n = cmd_count(sc, HCI_OP_LE_SET_EXT_ADV_PARAMS);
  const uint8_t *p = cmd_n(sc, HCI_OP_LE_SET_EXT_ADV_PARAMS, n - 1)->params;
  CHECK_EQ(p[3] | p[4] << 8 | p[5] << 16, 32000); /* no 10.24 s cap */
  down(sc, ble);
}

/* A controller with extended advertising may hold less than 1650 bytes per
 * set (Zephyr's full build: 31); what LE Read Maximum Advertising Data
 * Length (7.8.57) answers at init bounds the call, which refuses more
 * before sending anything rather than leave the controller to refuse the
 * data of a set it then enables empty. */
TEST(extended_payloads_over_the_controllers_maximum_are_refused) {
  sc_t *sc;
  uvble_t *ble;
  static uint8_t big[252];
  memset(big, 0, sizeof big);
  up_max_adv(&sc, &ble, true, 31);
  uvble_controller_info_t info;
  REQUIRE_EQ(uvble_controller_info(ble, &info), 0);
  CHECK_EQ(info.max_adv_data_len, 31);
  CHECK_EQ(uvble_gap_advertise(ble, 0, big, 40, NULL, 0, true),
           UVBLE_EMSGSIZE);
  CHECK_EQ(uvble_gap_advertise(ble, 0, NULL, 0, big, 40, false),
           UVBLE_EMSGSIZE);
  CHECK_EQ(sc_cmd_count(sc), 0);
  CHECK(!uvble_gap_advertising(ble));
  CHECK_EQ(uvble_gap_advertise(ble, 0, big, 31, NULL, 0, true), 0);
  REQUIRE(run_until_pred(&loop, hci_idle, ble, 3000));
  CHECK(uvble_gap_advertising(ble));
  down(sc, ble);

  up_max_adv(&sc, &ble, true, 251);
  CHECK_EQ(uvble_gap_advertise(ble, 0, big, 40, NULL, 0, true), 0);
  REQUIRE(run_until_pred(&loop, hci_idle, ble, 3000));
  CHECK(uvble_gap_advertising(ble));
  const struct sc_cmd_rec *d = cmd_n(sc, HCI_OP_LE_SET_EXT_ADV_DATA, 0);
  CHECK_EQ(d->params[3], 40); /* Advertising_Data_Length */
  CHECK_EQ(uvble_gap_advertise(ble, 0, big, 251, NULL, 0, true), 0);
  CHECK_EQ(uvble_gap_advertise(ble, 0, big, 252, NULL, 0, true),
           UVBLE_EMSGSIZE);
  REQUIRE(run_until_pred(&loop, hci_idle, ble, 3000));
  down(sc, ble);
}

/* Without the command (or when it turns out unknown) an extended
 * controller is assumed to hold the least the spec allows, 31 bytes. */
TEST(extended_without_the_maximum_assumes_31_bytes) {
  sc_t *sc;
  uvble_t *ble;
  uint8_t big[32];
  memset(big, 0, sizeof big);
  for (int refused = 0; refused < 2; refused++) {
    uv_loop_init(&loop);
    uvble_transport_t *host;
    sc = sc_new(&loop, &host);
    sc_make_extended(sc);
    if (refused)
      sc_fail_with(sc, 0x203A, 0x01); /* Unknown HCI Command */
    else
      sc_config(sc)->commands[36] &= (uint8_t)~0x40;
    REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
    REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
    run_until_idle(&loop, 5000);
    REQUIRE(uvble_is_active(ble));
    CHECK_EQ(sc_find_cmd(sc, 0x203A, 0) >= 0, refused == 1);
    uvble_controller_info_t info;
    REQUIRE_EQ(uvble_controller_info(ble, &info), 0);
    CHECK_EQ(info.max_adv_data_len, 31);
    CHECK_EQ(uvble_gap_advertise(ble, 0, big, 32, NULL, 0, true),
             UVBLE_EMSGSIZE);
    CHECK_EQ(uvble_gap_advertise(ble, 0, big, 31, NULL, 0, true), 0);
    REQUIRE(run_until_pred(&loop, hci_idle, ble, 3000));
    down(sc, ble);
  }
}

TEST(extended_random_address_goes_to_the_set) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, true);
  uvble_addr_t a = {UVBLE_ADDR_RANDOM, {0xc1, 0x02, 0x03, 0x04, 0x05, 0x06}};
  REQUIRE_EQ(uvble_config_set_mac(ble, &a), 0);
  REQUIRE_EQ(
      uvble_config_set_int(ble, UVBLE_CONFIG_ADDR_MODE, UVBLE_ADDR_MODE_RANDOM),
      0);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, ADV, sizeof ADV, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  int ip = sc_find_cmd(sc, HCI_OP_LE_SET_EXT_ADV_PARAMS, 0);
  int ia = sc_find_cmd(sc, HCI_OP_LE_SET_ADV_SET_RANDOM_ADDR, 0);
  REQUIRE(ip >= 0 && ia > ip); /* the set exists once parameters are set */
  CHECK_EQ(sc_cmd(sc, (size_t)ip)->params[10], 0x01);
  static const uint8_t P[7] = {0x00, 0x06, 0x05, 0x04, 0x03, 0x02, 0xc1};
  CHECK_MEM(sc_cmd(sc, (size_t)ia)->params, P, 7);
  CHECK_EQ(cmd_count(sc, HCI_OP_LE_SET_RANDOM_ADDRESS), 0);
  down(sc, ble);
}

TEST(advertising_set_terminated_ends_advertising) {
  sc_t *sc;
  uvble_t *ble;
  up(&sc, &ble, true);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, ADV, sizeof ADV, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  uvble_stats_t st0;
  uvble_get_stats(ble, &st0);
  /* Malformed (4 bytes) and another set's: ignored and counted. */
  static const uint8_t SHORT[4] = {0, 0, 0x40, 0};
  send_meta(sc, HCI_LE_ADV_SET_TERMINATED, SHORT, 4);
  static const uint8_t OTHER[5] = {0, 3, 0x40, 0, 1};
  send_meta(sc, HCI_LE_ADV_SET_TERMINATED, OTHER, 5);
  run_until_idle(&loop, 5000);
  CHECK(uvble_gap_advertising(ble));
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.hci_events_malformed, st0.hci_events_malformed + 1);
  CHECK_EQ(st.hci_events_unexpected, st0.hci_events_unexpected + 1);
  static const uint8_t OURS[5] = {0, 0, 0x40, 0, 1};
  send_meta(sc, HCI_LE_ADV_SET_TERMINATED, OURS, 5);
  run_until_idle(&loop, 5000);
  CHECK(!uvble_gap_advertising(ble));
  down(sc, ble);
}

TEST_MAIN()
