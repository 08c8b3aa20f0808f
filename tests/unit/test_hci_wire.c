/* SPDX-License-Identifier: Apache-2.0 */
/* Every HCI command the stack sends, byte for byte, against the Core
 * Specification's parameter tables (Vol 4, Part E, 7.x). The expected bytes
 * are written here from the tables (each test lists the fields with their
 * offsets and sizes), never from the builders, so a field written at the
 * wrong offset fails here even when the stack's own parser agrees with it
 * (issue 15: LE Set Extended Advertising Parameters was one byte early from
 * Advertising_Filter_Policy on, and every test passed).
 *
 * Covered here: the init sequence (both shapes), legacy and extended
 * advertising, scanning and connecting (LE 1M and LE Coded), LE Create
 * Connection Cancel, LE Connection Update with CE lengths, the L2CAP
 * Connection Parameter Update Request, LE Remote Connection Parameter
 * Request (Negative) Reply, Disconnect, LE Set Random Address, LE Long Term
 * Key Request Negative Reply, and the link layer commands (LE Read Maximum
 * Data Length, LE Write Suggested Default Data Length, LE Set Data Length,
 * LE Set Default PHY, LE Set PHY). LE Set Extended Advertising Parameters
 * is in test_gap_adv.c; LE Enable Encryption (7.8.24: handle 0-1, Random
 * 2-9, EDIV 10-11, LTK 12-27) and LE Long Term Key Request Reply (7.8.25:
 * handle 0-1, LTK 2-17) are read at those offsets by test_smp_peer.h and
 * checked against the keys the pairing tests compute independently. */
#include "l2cap.h"
#include "test_gap_common.h"

static const uint8_t PEER[6] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66}; /* HCI order */

enum {
  F_EXT = 1,    /* extended advertising feature and commands */
  F_DLE = 2,    /* LE Data Packet Length Extension + its commands */
  F_2M = 4,     /* LE 2M PHY + LE Set (Default) PHY */
  F_CODED = 8,  /* LE Coded PHY + LE Set (Default) PHY */
};

static void features(sc_t *sc, int f) {
  struct sc_config *c = sc_config(sc);
  if (f & F_EXT) sc_make_extended(sc);
  if (f & F_DLE) {
    c->le_features[0] |= 0x20; /* bit 5 */
    c->commands[33] |= 0x40;   /* LE Set Data Length */
    c->commands[34] |= 0x01;   /* LE Write Suggested Default Data Length */
    c->commands[35] |= 0x08;   /* LE Read Maximum Data Length */
  }
  if (f & (F_2M | F_CODED)) c->commands[35] |= 0x20 | 0x40; /* Set (Default) PHY */
  if (f & F_2M) c->le_features[1] |= 0x01;    /* bit 8 */
  if (f & F_CODED) c->le_features[1] |= 0x08; /* bit 11 */
}

/* Brings a stack up on a controller with features f; keeps the init
 * commands recorded. cfg (may be NULL) is applied before power-up. */
static void up_f(sc_t **sc, uvble_t **ble, int f,
                 const uvble_gap_link_config_t *cfg) {
  uv_loop_init(&loop);
  uvble_transport_t *host;
  *sc = sc_new(&loop, &host);
  features(*sc, f);
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, ble), 0);
  if (cfg) REQUIRE_EQ(uvble_gap_set_link_config(*ble, cfg), 0);
  REQUIRE_EQ(uvble_active(*ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(*ble));
  memset(&rec, 0, sizeof rec);
  uvble_irq(*ble, rec_irq, NULL);
}

/* The n-th command with op has exactly these parameters. */
#define EXPECT_CMD(sc, op, n, ...)                                \
  do {                                                            \
    static const uint8_t want_[] = {__VA_ARGS__};                 \
    const struct sc_cmd_rec *c_ = cmd_n(sc, op, n);               \
    CHECK_EQ(c_->len, sizeof want_);                              \
    if (c_->len == sizeof want_) CHECK_MEM(c_->params, want_, sizeof want_); \
  } while (0)
#define EXPECT_EMPTY(sc, op, n) CHECK_EQ(cmd_n(sc, op, n)->len, 0)

/* ---- init ------------------------------------------------------------- */

/* The opcodes sent, in order. */
static void expect_opcodes(sc_t *sc, const uint16_t *ops, size_t n) {
  CHECK_EQ(sc_cmd_count(sc), n);
  for (size_t i = 0; i < n && i < sc_cmd_count(sc); i++)
    CHECK_EQ(sc_cmd(sc, i)->opcode, ops[i]);
}

TEST(init_le_only_controller_with_dle_2m_and_coded) {
  sc_t *sc;
  uvble_t *ble;
  up_f(&sc, &ble, F_DLE | F_2M | F_CODED, NULL);
  static const uint16_t OPS[] = {0x0C03, 0x1001, 0x1002, 0x1003, 0x2003,
                                 0x2002, 0x0C01, 0x2001, 0x1009, 0x202F,
                                 0x2024, 0x2031};
  expect_opcodes(sc, OPS, sizeof OPS / sizeof OPS[0]);
  /* Reset (7.3.2), Read Local Version (7.4.1), Read Local Supported
   * Commands (7.4.2), Read Local Supported Features (7.4.3), LE Read Local
   * Supported Features (7.8.3), LE Read Buffer Size [v1] (7.8.2), Read
   * BD_ADDR (7.4.6), LE Read Maximum Data Length (7.8.46): no parameters. */
  EXPECT_EMPTY(sc, 0x0C03, 0);
  EXPECT_EMPTY(sc, 0x1001, 0);
  EXPECT_EMPTY(sc, 0x1002, 0);
  EXPECT_EMPTY(sc, 0x1003, 0);
  EXPECT_EMPTY(sc, 0x2003, 0);
  EXPECT_EMPTY(sc, 0x2002, 0);
  EXPECT_EMPTY(sc, 0x1009, 0);
  EXPECT_EMPTY(sc, 0x202F, 0);
  /* Set Event Mask (7.3.1), 0 Event_Mask (8): bits 4 Disconnection
   * Complete, 7 Encryption Change, 15 Hardware Error, 25 Data Buffer
   * Overflow, 47 Encryption Key Refresh Complete, 61 LE Meta. */
  EXPECT_CMD(sc, 0x0C01, 0, 0x90, 0x80, 0x00, 0x02, 0x00, 0x80, 0x00, 0x20);
  /* LE Set Event Mask (7.8.1), 0 LE_Event_Mask (8): bits 0-12 (Connection
   * Complete .. Extended Advertising Report, Data Length Change = 6, PHY
   * Update Complete = 11), 16 Scan Timeout, 17 Advertising Set Terminated,
   * 19 Channel Selection Algorithm. */
  EXPECT_CMD(sc, 0x2001, 0, 0xFF, 0x1F, 0x0B, 0x00, 0x00, 0x00, 0x00, 0x00);
  /* LE Write Suggested Default Data Length (7.8.35): 0
   * Suggested_Max_TX_Octets (2), 2 Suggested_Max_TX_Time (2) = the maxima
   * read (sc: 251, 17040). */
  EXPECT_CMD(sc, 0x2024, 0, 0xFB, 0x00, 0x90, 0x42);
  /* LE Set Default PHY (7.8.48): 0 All_PHYs (1), 1 TX_PHYs (1), 2 RX_PHYs
   * (1). Default preference LE 2M (bit 1) both ways. */
  EXPECT_CMD(sc, 0x2031, 0, 0x00, 0x02, 0x02);
  uvble_controller_info_t info;
  REQUIRE_EQ(uvble_controller_info(ble, &info), 0);
  CHECK_EQ(info.max_tx_octets, 251);
  CHECK_EQ(info.max_tx_time, 17040);
  CHECK_EQ(info.max_rx_octets, 251);
  CHECK_EQ(info.max_rx_time, 17040);
  down(sc, ble);
}

TEST(init_dual_mode_controller_shared_buffers_and_any_phy) {
  sc_t *sc;
  uvble_t *ble;
  uv_loop_init(&loop);
  uvble_transport_t *host;
  sc = sc_new(&loop, &host);
  struct sc_config *c = sc_config(sc);
  c->features[4] = 0x40;    /* LE supported, BR/EDR supported */
  c->commands[24] |= 0x40;  /* Write LE Host Support */
  c->commands[41] |= 0x20;  /* LE Read Buffer Size [v2] */
  c->acl_mtu = 0;           /* LE shares the BR/EDR buffers */
  c->acl_pkts = 0;
  features(sc, F_2M);
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  uvble_gap_link_config_t cfg;
  uvble_gap_get_link_config(ble, &cfg);
  cfg.default_phy = UVBLE_PHY_PREF_ANY;
  REQUIRE_EQ(uvble_gap_set_link_config(ble, &cfg), 0);
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(ble));
  static const uint16_t OPS[] = {0x0C03, 0x1001, 0x1002, 0x1003,
                                 0x2003, 0x2060, 0x1005, 0x0C01,
                                 0x0C6D, 0x2001, 0x1009, 0x2031};
  expect_opcodes(sc, OPS, sizeof OPS / sizeof OPS[0]);
  EXPECT_EMPTY(sc, 0x2060, 0); /* LE Read Buffer Size [v2] (7.8.2) */
  EXPECT_EMPTY(sc, 0x1005, 0); /* Read Buffer Size (7.4.5) */
  /* Write LE Host Support (7.3.79): 0 LE_Supported_Host (1) = 1, 1 Unused
   * (1) = 0. */
  EXPECT_CMD(sc, 0x0C6D, 0, 0x01, 0x00);
  /* LE Set Default PHY: All_PHYs bits 0 and 1 (no TX / RX preference);
   * TX_PHYs / RX_PHYs what the controller has (1M | 2M). */
  EXPECT_CMD(sc, 0x2031, 0, 0x03, 0x03, 0x03);
  uvble_controller_info_t info;
  REQUIRE_EQ(uvble_controller_info(ble, &info), 0);
  CHECK_EQ(info.acl_mtu, 1021); /* sc's Read Buffer Size */
  CHECK_EQ(info.max_tx_octets, 0);
  down(sc, ble);
}

TEST(init_tolerates_refused_link_layer_commands) {
  sc_t *sc;
  uvble_t *ble;
  uv_loop_init(&loop);
  uvble_transport_t *host;
  sc = sc_new(&loop, &host);
  features(sc, F_DLE | F_2M);
  sc_fail_with(sc, 0x202F, 0x01);
  sc_fail_with(sc, 0x2031, 0x11);
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(ble));
  CHECK_EQ(cmd_count(sc, 0x2024), 0); /* nothing known to suggest */
  uvble_stats_t st;
  uvble_get_stats(ble, &st);
  CHECK_EQ(st.link_requests_refused, 2);
  down(sc, ble);
}

/* LE Read Maximum Advertising Data Length (7.8.57): OCF 0x003A (opcode
 * 0x203A), Supported_Commands octet 36 bit 6, no command parameters; return
 * parameters 0 Status (1), 1 Max_Advertising_Data_Length (2), range
 * 0x001F..0x0672. Sent once, after Read BD_ADDR, by an extended controller
 * that lists it. */
TEST(init_reads_the_maximum_advertising_data_length) {
  sc_t *sc;
  uvble_t *ble;
  uv_loop_init(&loop);
  uvble_transport_t *host;
  sc = sc_new(&loop, &host);
  features(sc, F_EXT);
  sc_config(sc)->max_adv_data_len = 0x01F3; /* 499 */
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(ble));
  static const uint16_t OPS[] = {0x0C03, 0x1001, 0x1002, 0x1003, 0x2003,
                                 0x2002, 0x0C01, 0x2001, 0x1009, 0x203A};
  expect_opcodes(sc, OPS, sizeof OPS / sizeof OPS[0]);
  EXPECT_EMPTY(sc, 0x203A, 0);
  /* The whole packet: opcode 0x203A little-endian, length 0. */
  const struct sc_cmd_rec *c = cmd_n(sc, 0x203A, 0);
  uint8_t wire[3] = {(uint8_t)c->opcode, (uint8_t)(c->opcode >> 8), c->len};
  static const uint8_t WANT[3] = {0x3A, 0x20, 0x00};
  CHECK_MEM(wire, WANT, 3);
  uvble_controller_info_t info;
  REQUIRE_EQ(uvble_controller_info(ble, &info), 0);
  CHECK_EQ(info.max_adv_data_len, 499);
  down(sc, ble);

  /* A legacy controller is not asked, even when it lists the command;
   * its sets hold 31. */
  uv_loop_init(&loop);
  sc = sc_new(&loop, &host);
  sc_config(sc)->commands[36] |= 0x40;
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  REQUIRE_EQ(uvble_active(ble, true, NULL, NULL), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(uvble_is_active(ble));
  CHECK_EQ(cmd_count(sc, 0x203A), 0);
  REQUIRE_EQ(uvble_controller_info(ble, &info), 0);
  CHECK_EQ(info.max_adv_data_len, 31);
  down(sc, ble);
}

/* ---- advertising ------------------------------------------------------ */

static const uint8_t ADV[] = {0x02, 0x01, 0x06, 0x03, 0xff, 0xAB, 0xCD};
static const uint8_t RSP[] = {0x03, 0x09, 'u', 'v'};

TEST(legacy_advertising_commands) {
  sc_t *sc;
  uvble_t *ble;
  up_f(&sc, &ble, 0, NULL);
  sc_clear(sc);
  REQUIRE_EQ(uvble_gap_advertise(ble, 100000, ADV, sizeof ADV, RSP,
                                 sizeof RSP, true),
             0);
  run_until_idle(&loop, 5000);
  /* LE Set Advertising Parameters (7.8.5): 0 Advertising_Interval_Min (2),
   * 2 _Max (2), 4 Advertising_Type (1), 5 Own_Address_Type (1), 6
   * Peer_Address_Type (1), 7 Peer_Address (6), 13 Advertising_Channel_Map
   * (1), 14 Advertising_Filter_Policy (1) = 15. */
  EXPECT_CMD(sc, 0x2006, 0, 0xA0, 0x00, 0xA0, 0x00, 0x00, 0x00, 0x00, 0, 0,
             0, 0, 0, 0, 0x07, 0x00);
  /* LE Set Advertising Data (7.8.7): 0 Advertising_Data_Length (1), 1
   * Advertising_Data (31, zero padded) = 32. */
  static const uint8_t DATA[32] = {7, 0x02, 0x01, 0x06, 0x03, 0xff, 0xAB, 0xCD};
  REQUIRE_EQ(cmd_n(sc, 0x2008, 0)->len, 32);
  CHECK_MEM(cmd_n(sc, 0x2008, 0)->params, DATA, 32);
  /* LE Set Scan Response Data (7.8.8): same shape. */
  static const uint8_t RESP[32] = {4, 0x03, 0x09, 'u', 'v'};
  REQUIRE_EQ(cmd_n(sc, 0x2009, 0)->len, 32);
  CHECK_MEM(cmd_n(sc, 0x2009, 0)->params, RESP, 32);
  /* LE Set Advertising Enable (7.8.9): 0 Advertising_Enable (1). */
  EXPECT_CMD(sc, 0x200A, 0, 0x01);
  REQUIRE_EQ(uvble_gap_advertise(ble, -1, NULL, 0, NULL, 0, false), 0);
  run_until_idle(&loop, 5000);
  EXPECT_CMD(sc, 0x200A, 1, 0x00);
  down(sc, ble);
}

TEST(set_random_address_carries_the_address_lsb_first) {
  sc_t *sc;
  uvble_t *ble;
  up_f(&sc, &ble, 0, NULL);
  const uvble_addr_t a = {UVBLE_ADDR_RANDOM,
                          {0xC1, 0x02, 0x03, 0x04, 0x05, 0x06}};
  REQUIRE_EQ(uvble_config_set_mac(ble, &a), 0);
  REQUIRE_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_ADDR_MODE,
                                  UVBLE_ADDR_MODE_RANDOM),
             0);
  sc_clear(sc);
  REQUIRE_EQ(uvble_gap_advertise(ble, 100000, ADV, sizeof ADV, NULL, 0, true),
             0);
  run_until_idle(&loop, 5000);
  /* LE Set Random Address (7.8.4): 0 Random_Address (6), LSB first. */
  EXPECT_CMD(sc, 0x2005, 0, 0x06, 0x05, 0x04, 0x03, 0x02, 0xC1);
  CHECK_EQ(cmd_n(sc, 0x2006, 0)->params[5], 0x01); /* own type random */
  down(sc, ble);
}

TEST(extended_advertising_commands) {
  sc_t *sc;
  uvble_t *ble;
  up_f(&sc, &ble, F_EXT, NULL);
  const uvble_addr_t a = {UVBLE_ADDR_RANDOM,
                          {0xC1, 0x02, 0x03, 0x04, 0x05, 0x06}};
  REQUIRE_EQ(uvble_config_set_mac(ble, &a), 0);
  REQUIRE_EQ(uvble_config_set_int(ble, UVBLE_CONFIG_ADDR_MODE,
                                  UVBLE_ADDR_MODE_RANDOM),
             0);
  sc_clear(sc);
  REQUIRE_EQ(uvble_gap_advertise(ble, 100000, ADV, sizeof ADV, RSP,
                                 sizeof RSP, true),
             0);
  run_until_idle(&loop, 5000);
  /* LE Set Advertising Set Random Address (7.8.52): 0 Advertising_Handle
   * (1), 1 Random_Address (6). */
  EXPECT_CMD(sc, 0x2035, 0, 0x00, 0x06, 0x05, 0x04, 0x03, 0x02, 0xC1);
  /* LE Set Extended Advertising Data (7.8.54): 0 Advertising_Handle (1), 1
   * Operation (1) = 3 complete, 2 Fragment_Preference (1) = 1 (no
   * fragmenting), 3 Advertising_Data_Length (1), 4 Advertising_Data. */
  EXPECT_CMD(sc, 0x2037, 0, 0x00, 0x03, 0x01, 7, 0x02, 0x01, 0x06, 0x03, 0xff,
             0xAB, 0xCD);
  /* LE Set Extended Scan Response Data (7.8.55): the same shape. */
  EXPECT_CMD(sc, 0x2038, 0, 0x00, 0x03, 0x01, 4, 0x03, 0x09, 'u', 'v');
  /* LE Set Extended Advertising Enable (7.8.56): 0 Enable (1), 1
   * Num_Sets (1), then per set 2 Advertising_Handle (1), 3 Duration (2), 5
   * Max_Extended_Advertising_Events (1). */
  EXPECT_CMD(sc, 0x2039, 0, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00);
  /* The set's own address type is random: Own_Address_Type at 10. */
  CHECK_EQ(cmd_n(sc, 0x2036, 0)->params[10], 0x01);
  REQUIRE_EQ(uvble_gap_advertise(ble, -1, NULL, 0, NULL, 0, false), 0);
  run_until_idle(&loop, 5000);
  EXPECT_CMD(sc, 0x2039, 1, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00);
  /* New properties (more than 31 bytes: not legacy) replace the set: LE
   * Remove Advertising Set (7.8.59): 0 Advertising_Handle (1). */
  sc_config(sc)->commands[37] |= 0x01;
  static uint8_t big[40];
  memset(big, 0x5A, sizeof big);
  REQUIRE_EQ(uvble_gap_advertise(ble, 100000, big, sizeof big, RSP, 0, true),
             0);
  run_until_idle(&loop, 5000);
  EXPECT_CMD(sc, 0x203C, 0, 0x00);
  down(sc, ble);
}

TEST(extended_advertising_on_coded_phy) {
  sc_t *sc;
  uvble_t *ble;
  uvble_gap_link_config_t cfg;
  up_f(&sc, &ble, F_EXT | F_CODED, NULL);
  uvble_gap_get_link_config(ble, &cfg);
  cfg.adv_coded = true;
  REQUIRE_EQ(uvble_gap_set_link_config(ble, &cfg), 0);
  sc_clear(sc);
  /* A connectable set on LE Coded takes no scan response. */
  CHECK_EQ(uvble_gap_advertise(ble, 100000, ADV, sizeof ADV, RSP, sizeof RSP,
                               true),
           UVBLE_EINVAL);
  REQUIRE_EQ(uvble_gap_advertise(ble, 100000, ADV, sizeof ADV, NULL, 0, true),
             0);
  run_until_idle(&loop, 5000);
  /* 7.8.53 (offsets in test_gap_adv.c): properties 0x0001 connectable,
   * not legacy; 20 Primary_Advertising_PHY = 3 LE Coded; 22
   * Secondary_Advertising_PHY = 3 LE Coded. */
  EXPECT_CMD(sc, 0x2036, 0, 0x00, 0x01, 0x00, 0xA0, 0x00, 0x00, 0xA0, 0x00,
             0x00, 0x07, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0x00, 0x7F, 0x03, 0x00,
             0x03, 0x00, 0x00);
  down(sc, ble);
}

/* ---- scanning --------------------------------------------------------- */

TEST(legacy_scanning_commands) {
  sc_t *sc;
  uvble_t *ble;
  up_f(&sc, &ble, 0, NULL);
  sc_clear(sc);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 100000, 50000, true), 0);
  run_until_idle(&loop, 5000);
  /* LE Set Scan Parameters (7.8.10): 0 LE_Scan_Type (1) = 1 active, 1
   * LE_Scan_Interval (2) = 160, 3 LE_Scan_Window (2) = 80, 5
   * Own_Address_Type (1), 6 Scanning_Filter_Policy (1). */
  EXPECT_CMD(sc, 0x200B, 0, 0x01, 0xA0, 0x00, 0x50, 0x00, 0x00, 0x00);
  /* LE Set Scan Enable (7.8.11): 0 LE_Scan_Enable (1), 1
   * Filter_Duplicates (1). */
  EXPECT_CMD(sc, 0x200C, 0, 0x01, 0x00);
  REQUIRE_EQ(uvble_gap_scan_stop(ble), 0);
  run_until_idle(&loop, 5000);
  EXPECT_CMD(sc, 0x200C, 1, 0x00, 0x00);
  down(sc, ble);
}

TEST(extended_scanning_commands_1m_and_coded) {
  sc_t *sc;
  uvble_t *ble;
  up_f(&sc, &ble, F_EXT | F_CODED, NULL);
  sc_clear(sc);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 100000, 50000, false), 0);
  run_until_idle(&loop, 5000);
  /* LE Set Extended Scan Parameters (7.8.64): 0 Own_Address_Type (1), 1
   * Scanning_Filter_Policy (1), 2 Scanning_PHYs (1), then per PHY bit set
   * Scan_Type (1), Scan_Interval (2), Scan_Window (2). */
  EXPECT_CMD(sc, 0x2041, 0, 0x00, 0x00, 0x01, 0x00, 0xA0, 0x00, 0x50, 0x00);
  /* LE Set Extended Scan Enable (7.8.65): 0 Enable (1), 1
   * Filter_Duplicates (1), 2 Duration (2), 4 Period (2). */
  EXPECT_CMD(sc, 0x2042, 0, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00);
  REQUIRE_EQ(uvble_gap_scan_stop(ble), 0);
  run_until_idle(&loop, 5000);
  EXPECT_CMD(sc, 0x2042, 1, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00);
  uvble_gap_link_config_t cfg;
  uvble_gap_get_link_config(ble, &cfg);
  cfg.scan_coded = true;
  REQUIRE_EQ(uvble_gap_set_link_config(ble, &cfg), 0);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 100000, 50000, true), 0);
  run_until_idle(&loop, 5000);
  /* Scanning_PHYs = bit 0 LE 1M | bit 2 LE Coded: two blocks. */
  EXPECT_CMD(sc, 0x2041, 1, 0x00, 0x00, 0x05, 0x01, 0xA0, 0x00, 0x50, 0x00,
             0x01, 0xA0, 0x00, 0x50, 0x00);
  down(sc, ble);
}

/* ---- connecting ------------------------------------------------------- */

static const uvble_addr_t PEER_ADDR = {UVBLE_ADDR_RANDOM,
                                       {0xC6, 0x55, 0x44, 0x33, 0x22, 0x11}};

TEST(legacy_create_connection_with_throughput_preset_and_cancel) {
  sc_t *sc;
  uvble_t *ble;
  up_f(&sc, &ble, 0, NULL);
  sc_clear(sc);
  uvble_gap_conn_params_t p = UVBLE_CONN_PARAMS_THROUGHPUT;
  REQUIRE_EQ(uvble_gap_connect_with(ble, &PEER_ADDR, 1000, &p), 0);
  run_until_idle(&loop, 5000);
  /* LE Create Connection (7.8.12): 0 LE_Scan_Interval (2), 2
   * LE_Scan_Window (2), 4 Initiator_Filter_Policy (1), 5 Peer_Address_Type
   * (1), 6 Peer_Address (6), 12 Own_Address_Type (1), 13
   * Connection_Interval_Min (2) = 15 ms / 1.25, 15 _Max (2) = 30 ms / 1.25,
   * 17 Max_Latency (2), 19 Supervision_Timeout (2) = 4 s / 10 ms, 21
   * Min_CE_Length (2) = 15 ms / 0.625, 23 Max_CE_Length (2) = 30 ms /
   * 0.625 = 25. */
  EXPECT_CMD(sc, 0x200D, 0, 0x10, 0x00, 0x10, 0x00, 0x00, 0x01, 0x11, 0x22,
             0x33, 0x44, 0x55, 0xC6, 0x00, 0x0C, 0x00, 0x18, 0x00, 0x00, 0x00,
             0x90, 0x01, 0x18, 0x00, 0x30, 0x00);
  REQUIRE_EQ(uvble_gap_connect_cancel(ble), 0);
  run_until_idle(&loop, 5000);
  EXPECT_EMPTY(sc, 0x200E, 0); /* LE Create Connection Cancel (7.8.13) */
  down(sc, ble);
}

TEST(extended_create_connection_1m_and_coded) {
  sc_t *sc;
  uvble_t *ble;
  up_f(&sc, &ble, F_EXT | F_CODED, NULL);
  sc_clear(sc);
  uvble_gap_conn_params_t p = UVBLE_CONN_PARAMS_LOW_POWER;
  REQUIRE_EQ(uvble_gap_connect_with(ble, &PEER_ADDR, 1000, &p), 0);
  run_until_idle(&loop, 5000);
  /* LE Extended Create Connection [v1] (7.8.66): 0 Initiator_Filter_Policy
   * (1), 1 Own_Address_Type (1), 2 Peer_Address_Type (1), 3 Peer_Address
   * (6), 9 Initiating_PHYs (1), then per PHY bit set: Scan_Interval (2),
   * Scan_Window (2), Connection_Interval_Min (2) = 100 ms / 1.25 = 80,
   * _Max (2) = 160, Max_Latency (2) = 4, Supervision_Timeout (2) = 600,
   * Min_CE_Length (2) = 0, Max_CE_Length (2) = 1.25 ms / 0.625 = 2. */
  EXPECT_CMD(sc, 0x2043, 0, 0x00, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44, 0x55,
             0xC6, 0x01, 0x10, 0x00, 0x10, 0x00, 0x50, 0x00, 0xA0, 0x00, 0x04,
             0x00, 0x58, 0x02, 0x00, 0x00, 0x02, 0x00);
  REQUIRE_EQ(uvble_gap_connect_cancel(ble), 0);
  run_until_idle(&loop, 5000);
  /* The controller ends the cancelled attempt. */
  uint8_t fail[18] = {0x02};
  send_meta(sc, 0x01, fail, sizeof fail);
  run_until_idle(&loop, 5000);
  uvble_gap_link_config_t cfg;
  uvble_gap_get_link_config(ble, &cfg);
  cfg.connect_coded = true;
  REQUIRE_EQ(uvble_gap_set_link_config(ble, &cfg), 0);
  REQUIRE_EQ(uvble_gap_connect(ble, &PEER_ADDR, 1000, 0, 0), 0);
  run_until_idle(&loop, 5000);
  /* Initiating_PHYs = LE 1M | LE Coded (bits 0, 2): two blocks; default
   * parameters 30..50 ms (24, 40), timeout 2.56 s (256), CE 0. */
  EXPECT_CMD(sc, 0x2043, 1, 0x00, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44, 0x55,
             0xC6, 0x05, 0x10, 0x00, 0x10, 0x00, 0x18, 0x00, 0x28, 0x00, 0x00,
             0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x10, 0x00,
             0x18, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
             0x00);
  down(sc, ble);
}

/* ---- on a connection --------------------------------------------------- */

static void linked(sc_t **sc, uvble_t **ble, int f, uint8_t role,
                   const uvble_gap_link_config_t *cfg) {
  up_f(sc, ble, f, cfg);
  sc_clear(*sc);
  sc_connect(*sc, 0x0041, role, PEER);
  run_until_idle(&loop, 5000);
  REQUIRE(conn_find(*ble, 0x0041) != NULL);
}

TEST(connection_update_with_ce_lengths_and_l2cap_request) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 0, 0, NULL);
  uvble_gap_conn_params_t p = UVBLE_CONN_PARAMS_LOW_POWER;
  REQUIRE_EQ(uvble_gap_update_conn_params(ble, 0x0041, &p), 0);
  run_until_idle(&loop, 5000);
  /* LE Connection Update (7.8.18): 0 Connection_Handle (2), 2
   * Connection_Interval_Min (2), 4 _Max (2), 6 Max_Latency (2), 8
   * Supervision_Timeout (2), 10 Min_CE_Length (2), 12 Max_CE_Length (2). */
  EXPECT_CMD(sc, 0x2013, 0, 0x41, 0x00, 0x50, 0x00, 0xA0, 0x00, 0x04, 0x00,
             0x58, 0x02, 0x00, 0x00, 0x02, 0x00);
  p.timeout_ms = 1999; /* not > (1 + 4) * 200 ms * 2 */
  CHECK_EQ(uvble_gap_update_conn_params(ble, 0x0041, &p), UVBLE_EINVAL);
  p = UVBLE_CONN_PARAMS_THROUGHPUT;
  p.max_ce_us = p.min_ce_us - 1;
  CHECK_EQ(uvble_gap_update_conn_params(ble, 0x0041, &p), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_update_conn_params(ble, 0x0099, &p), UVBLE_ENOTCONN);
  down(sc, ble);
  /* As peripheral: L2CAP Connection Parameter Update Request (Vol 3, Part
   * A, 4.20) on CID 5: basic header length (2) cid (2), then code 0x12,
   * identifier, length 8, Interval_Min (2), Interval_Max (2), Latency (2),
   * Timeout (2). CE lengths have no field there. */
  linked(&sc, &ble, 0, 1, NULL);
  p = UVBLE_CONN_PARAMS_LOW_POWER;
  REQUIRE_EQ(uvble_gap_update_conn_params(ble, 0x0041, &p), 0);
  run_until_idle(&loop, 5000);
  REQUIRE(sc_acl_count(sc) >= 1);
  const struct sc_acl_rec *a = sc_acl(sc, sc_acl_count(sc) - 1);
  REQUIRE_EQ(a->len, 16);
  CHECK_EQ(a->handle, 0x0041);
  static const uint8_t HDR[] = {0x0C, 0x00, 0x05, 0x00, 0x12};
  CHECK_MEM(a->data, HDR, sizeof HDR);
  CHECK(a->data[5] != 0); /* identifier */
  static const uint8_t BODY[] = {0x08, 0x00, 0x50, 0x00, 0xA0,
                                 0x00, 0x04, 0x00, 0x58, 0x02};
  CHECK_MEM(a->data + 6, BODY, sizeof BODY);
  down(sc, ble);
}

TEST(remote_connection_parameter_request_replies) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 0, 1, NULL);
  /* LE Remote Connection Parameter Request (7.7.65.6): handle, interval
   * min 24, max 40, latency 0, timeout 500. */
  uint8_t req[10] = {0x41, 0x00, 24, 0, 40, 0, 0, 0, 0xF4, 0x01};
  send_meta(sc, 0x06, req, sizeof req);
  run_until_idle(&loop, 5000);
  /* LE Remote Connection Parameter Request Reply (7.8.31): 0
   * Connection_Handle (2), 2 Interval_Min (2), 4 Interval_Max (2), 6
   * Max_Latency (2), 8 Timeout (2), 10 Min_CE_Length (2), 12 Max_CE_Length
   * (2). */
  EXPECT_CMD(sc, 0x2020, 0, 0x41, 0x00, 24, 0, 40, 0, 0, 0, 0xF4, 0x01, 0, 0,
             0, 0);
  /* Latency beyond the bounds: LE Remote Connection Parameter Request
   * Negative Reply (7.8.32): 0 Connection_Handle (2), 2 Reason (1) = 0x3B
   * Unacceptable Connection Parameters. */
  req[6] = 0xF4;
  req[7] = 0x01;
  send_meta(sc, 0x06, req, sizeof req);
  run_until_idle(&loop, 5000);
  EXPECT_CMD(sc, 0x2021, 0, 0x41, 0x00, 0x3B);
  down(sc, ble);
}

TEST(disconnect_and_ltk_negative_reply) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, 0, 1, NULL);
  /* LE Long Term Key Request (7.7.65.5) for a peer with no bond: LE Long
   * Term Key Request Negative Reply (7.8.26): 0 Connection_Handle (2). */
  uint8_t ltk_req[12] = {0x41, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x34, 0x12};
  send_meta(sc, 0x05, ltk_req, sizeof ltk_req);
  run_until_idle(&loop, 5000);
  EXPECT_CMD(sc, 0x201B, 0, 0x41, 0x00);
  /* Disconnect (7.1.6): 0 Connection_Handle (2), 2 Reason (1) = 0x13
   * Remote User Terminated Connection. */
  REQUIRE(uvble_gap_disconnect(ble, 0x0041) >= 0);
  run_until_idle(&loop, 5000);
  EXPECT_CMD(sc, 0x0406, 0, 0x41, 0x00, 0x13);
  down(sc, ble);
}

/* ---- data length and PHY ----------------------------------------------- */

TEST(link_layer_requests_after_connecting) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, F_DLE | F_2M, 0, NULL);
  /* LE Set Data Length (7.8.33): 0 Connection_Handle (2), 2 TX_Octets (2)
   * = 251, 4 TX_Time (2) = 17040, the controller's maxima. */
  EXPECT_CMD(sc, 0x2022, 0, 0x41, 0x00, 0xFB, 0x00, 0x90, 0x42);
  /* LE Set PHY (7.8.49): 0 Connection_Handle (2), 2 All_PHYs (1), 3
   * TX_PHYs (1), 4 RX_PHYs (1), 5 PHY_Options (2). Prefer LE 2M. */
  EXPECT_CMD(sc, 0x2032, 0, 0x41, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00);
  CHECK_EQ(cmd_count(sc, 0x2022), 1);
  CHECK_EQ(cmd_count(sc, 0x2032), 1);
  /* Asked for by the app. */
  REQUIRE_EQ(uvble_gap_set_data_length(ble, 0x0041, 100, 1000), 0);
  REQUIRE_EQ(uvble_gap_set_phy(ble, 0x0041, UVBLE_PHY_PREF_1M), 0);
  REQUIRE_EQ(uvble_gap_set_phy(ble, 0x0041, UVBLE_PHY_PREF_ANY), 0);
  run_until_idle(&loop, 5000);
  EXPECT_CMD(sc, 0x2022, 1, 0x41, 0x00, 0x64, 0x00, 0xE8, 0x03);
  EXPECT_CMD(sc, 0x2032, 1, 0x41, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00);
  EXPECT_CMD(sc, 0x2032, 2, 0x41, 0x00, 0x03, 0x03, 0x03, 0x00, 0x00);
  /* No Coded PHY on this controller; bad arguments. */
  CHECK_EQ(uvble_gap_set_phy(ble, 0x0041, UVBLE_PHY_PREF_CODED_S8),
           UVBLE_ENOTSUP);
  CHECK_EQ(uvble_gap_set_phy(ble, 0x0041, 6), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_set_phy(ble, 0x0099, UVBLE_PHY_PREF_2M), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_gap_set_data_length(ble, 0x0041, 26, 1000), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_set_data_length(ble, 0x0041, 252, 1000), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_set_data_length(ble, 0x0041, 27, 327), UVBLE_EINVAL);
  CHECK_EQ(uvble_gap_set_data_length(ble, 0x0041, 27, 17041), UVBLE_EINVAL);
  down(sc, ble);
}

TEST(coded_phy_options) {
  sc_t *sc;
  uvble_t *ble;
  linked(&sc, &ble, F_DLE | F_CODED, 1, NULL);
  /* Default preference 2M, but no 2M here: no automatic LE Set PHY. */
  CHECK_EQ(cmd_count(sc, 0x2032), 0);
  REQUIRE_EQ(uvble_gap_set_phy(ble, 0x0041, UVBLE_PHY_PREF_CODED_S2), 0);
  REQUIRE_EQ(uvble_gap_set_phy(ble, 0x0041, UVBLE_PHY_PREF_CODED_S8), 0);
  REQUIRE_EQ(uvble_gap_set_phy(ble, 0x0041, UVBLE_PHY_PREF_CODED), 0);
  run_until_idle(&loop, 5000);
  /* TX_PHYs / RX_PHYs bit 2 LE Coded; PHY_Options 1 = S=2, 2 = S=8. */
  EXPECT_CMD(sc, 0x2032, 0, 0x41, 0x00, 0x00, 0x04, 0x04, 0x01, 0x00);
  EXPECT_CMD(sc, 0x2032, 1, 0x41, 0x00, 0x00, 0x04, 0x04, 0x02, 0x00);
  EXPECT_CMD(sc, 0x2032, 2, 0x41, 0x00, 0x00, 0x04, 0x04, 0x00, 0x00);
  down(sc, ble);
}

TEST(automatic_requests_can_be_turned_off) {
  sc_t *sc;
  uvble_t *ble;
  uvble_gap_link_config_t cfg = {.auto_data_length = false,
                                 .auto_phy = false,
                                 .default_phy = UVBLE_PHY_PREF_2M};
  linked(&sc, &ble, F_DLE | F_2M, 0, &cfg);
  CHECK_EQ(cmd_count(sc, 0x2022), 0);
  CHECK_EQ(cmd_count(sc, 0x2032), 0);
  cfg.default_phy = 9;
  CHECK_EQ(uvble_gap_set_link_config(ble, &cfg), UVBLE_EINVAL);
  down(sc, ble);
}

TEST_MAIN()
