/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/ble_mtu.py: MTU exchange started by
 * the central (preferred MTU 300) with a peripheral preferring 256, 200,
 * 400 and 50 in turn: the result is the smaller of the two (256, 200, 300,
 * 50), both sides report it, a 64-byte notification arrives cut to MTU - 3
 * (47 bytes at MTU 50) and the client's write of MTU + 20 bytes reaches the
 * server.
 *
 * Where uvble differs on purpose: the write. MicroPython truncates it to
 * MTU - 3 ("characteristic len: 253 a", 197, 297, 47); uvble writes long
 * values whole with Prepare/Execute Write, so the server holds MTU + 20
 * bytes (276, 220, 320, 70). */
#include "mtu_common.h"

static const char *const EXP0[] = {
    "gap_advertise", "_IRQ_CENTRAL_CONNECT", "_IRQ_MTU_EXCHANGED 256",
    "gatts_notify", "_IRQ_GATTS_WRITE", "gatts_read", "characteristic len: 276 a",
    "_IRQ_CENTRAL_DISCONNECT",
    "gap_advertise", "_IRQ_CENTRAL_CONNECT", "_IRQ_MTU_EXCHANGED 200",
    "gatts_notify", "_IRQ_GATTS_WRITE", "gatts_read", "characteristic len: 220 b",
    "_IRQ_CENTRAL_DISCONNECT",
    "gap_advertise", "_IRQ_CENTRAL_CONNECT", "_IRQ_MTU_EXCHANGED 300",
    "gatts_notify", "_IRQ_GATTS_WRITE", "gatts_read", "characteristic len: 320 c",
    "_IRQ_CENTRAL_DISCONNECT",
    "gap_advertise", "_IRQ_CENTRAL_CONNECT", "_IRQ_MTU_EXCHANGED 50",
    "gatts_notify", "_IRQ_GATTS_WRITE", "gatts_read", "characteristic len: 70 d",
    "_IRQ_CENTRAL_DISCONNECT",
    NULL,
};

#define ROUND1(mtu, n)                                                          \
  "gap_connect", "_IRQ_PERIPHERAL_CONNECT", "gattc_exchange_mtu",               \
      "_IRQ_MTU_EXCHANGED " #mtu, "gattc_discover_characteristics",             \
      "_IRQ_GATTC_CHARACTERISTIC_RESULT UUID('00000000-1111-2222-3333-444444444444')", \
      "_IRQ_GATTC_CHARACTERISTIC_DONE", "_IRQ_GATTC_NOTIFY " n, "gattc_write",  \
      "_IRQ_GATTC_WRITE_DONE", "gap_disconnect: True", "_IRQ_PERIPHERAL_DISCONNECT"

static const char *const EXP1[] = {
    ROUND1(256, "64 0"), ROUND1(200, "64 1"), ROUND1(300, "64 2"), ROUND1(50, "47 3"),
    NULL,
};

TEST(ble_mtu) {
  uv_loop_init(&loop);
  struct inst i0 = {.name = "instance0", .handler = irq};
  struct inst i1 = {.name = "instance1", .handler = irq};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, NULL);
  uint16_t h = 0;
  mtu_init();
  AS(&i0) h = register_mtu_service(&i0);

  static const int periph_mtu[] = {256, 200, 400, 50};
  AS(&i1) REQUIRE_EQ(uvble_config_set_int(i1.ble, UVBLE_CONFIG_MTU, 300), 0);
  for (int k = 0; k < 4; k++) {
    AS(&i0) REQUIRE_EQ(uvble_config_set_int(i0.ble, UVBLE_CONFIG_MTU, periph_mtu[k]), 0);
    mtu_round(&i0, &i1, h, k, true);
  }

  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
