/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/ble_mtu_peripheral.py: MTU exchange
 * started by the peripheral (requesting 290) with a central preferring 256,
 * 190 and 350: results 256, 190, 290 on both sides; the 64-byte
 * notification fits each time.
 *
 * Where uvble differs on purpose: the client's write of MTU + 20 bytes.
 * MicroPython truncates it to MTU - 3 ("characteristic len: 253 a", 187,
 * 287); uvble writes it whole with Prepare/Execute Write (276, 210, 310). */
#include "mtu_common.h"

/* The original's peripheral advertises at the start of each round and
 * again after each disconnect. */
#define ROUND0(mtu, len)                                                        \
  "gap_advertise", "_IRQ_CENTRAL_CONNECT", "gattc_exchange_mtu",                \
      "_IRQ_MTU_EXCHANGED " #mtu, "gatts_notify", "_IRQ_GATTS_WRITE",           \
      "gatts_read", "characteristic len: " len, "_IRQ_CENTRAL_DISCONNECT",      \
      "gap_advertise"

static const char *const EXP0[] = {
    ROUND0(256, "276 a"), ROUND0(190, "210 b"), ROUND0(290, "310 c"), NULL,
};

#define ROUND1(mtu, n)                                                          \
  "gap_connect", "_IRQ_PERIPHERAL_CONNECT", "_IRQ_MTU_EXCHANGED " #mtu,         \
      "gattc_discover_characteristics",                                         \
      "_IRQ_GATTC_CHARACTERISTIC_RESULT UUID('00000000-1111-2222-3333-444444444444')", \
      "_IRQ_GATTC_CHARACTERISTIC_DONE", "_IRQ_GATTC_NOTIFY " n, "gattc_write",  \
      "_IRQ_GATTC_WRITE_DONE", "gap_disconnect: True", "_IRQ_PERIPHERAL_DISCONNECT"

static const char *const EXP1[] = {
    ROUND1(256, "64 0"), ROUND1(190, "64 1"), ROUND1(290, "64 2"), NULL,
};

TEST(ble_mtu_peripheral) {
  uv_loop_init(&loop);
  struct inst i0 = {.name = "instance0", .handler = irq};
  struct inst i1 = {.name = "instance1", .handler = irq};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, NULL);
  uint16_t h = 0;
  mtu_init();
  AS(&i0) h = register_mtu_service(&i0);

  static const int central_mtu[] = {256, 190, 350};
  for (int k = 0; k < 3; k++) {
    AS(&i0) REQUIRE_EQ(uvble_config_set_int(i0.ble, UVBLE_CONFIG_MTU, 290), 0);
    AS(&i1) REQUIRE_EQ(uvble_config_set_int(i1.ble, UVBLE_CONFIG_MTU, central_mtu[k]), 0);
    mtu_round(&i0, &i1, h, k, false);
  }
  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
