/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/ble_gap_connect.py: connect and
 * disconnect in both directions. The peripheral advertises; the central
 * connects and disconnects; the peripheral advertises again, the central
 * connects and this time the peripheral disconnects. */
#include "conformance.h"

static const char *const EXP0[] = {
    "gap_advertise",
    "_IRQ_CENTRAL_CONNECT",
    "_IRQ_CENTRAL_DISCONNECT",
    "gap_advertise",
    "_IRQ_CENTRAL_CONNECT",
    "gap_disconnect: True",
    "_IRQ_CENTRAL_DISCONNECT",
    NULL,
};
static const char *const EXP1[] = {
    "gap_connect",
    "_IRQ_PERIPHERAL_CONNECT",
    "gap_disconnect: True",
    "_IRQ_PERIPHERAL_DISCONNECT",
    "gap_connect",
    "_IRQ_PERIPHERAL_CONNECT",
    "_IRQ_PERIPHERAL_DISCONNECT",
    NULL,
};

static void irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  print_conn_events(i, ev, d);
}

TEST(ble_gap_connect) {
  uv_loop_init(&loop);
  struct inst i0 = {.name = "instance0", .handler = irq};
  struct inst i1 = {.name = "instance1", .handler = irq};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, NULL);

  long c0 = 0, c1 = 0;

  /* instance0: advertise, then multitest.next() */
  AS(&i0) {
    out(&i0, "gap_advertise");
    advertise(&i0, 20000, true);
  }

  /* instance1: connect to the peripheral and then disconnect. */
  AS(&i1) {
    out(&i1, "gap_connect");
    REQUIRE_EQ(conf_gap_connect(&i1, &i0, 0), 0);
    c1 = wait_for(&i1, UVBLE_IRQ_PERIPHERAL_CONNECT, CONF_TIMEOUT_MS);
  }
  AS(&i0) wait_for(&i0, UVBLE_IRQ_CENTRAL_CONNECT, CONF_TIMEOUT_MS);
  AS(&i1) {
    out(&i1, "gap_disconnect: %s", pybool(uvble_gap_disconnect(i1.ble, (uint16_t)c1)));
    wait_for(&i1, UVBLE_IRQ_PERIPHERAL_DISCONNECT, CONF_TIMEOUT_MS);
  }
  AS(&i0) {
    wait_for(&i0, UVBLE_IRQ_CENTRAL_DISCONNECT, CONF_TIMEOUT_MS);

    /* instance0 starts advertising again; instance1 waits 100 ms for it. */
    out(&i0, "gap_advertise");
    advertise(&i0, 20000, true);
  }
  AS(&i1) {
    run_for(&loop, 100);

    /* Connect again and let the peripheral disconnect us. */
    out(&i1, "gap_connect");
    REQUIRE_EQ(conf_gap_connect(&i1, &i0, 0), 0);
    wait_for(&i1, UVBLE_IRQ_PERIPHERAL_CONNECT, CONF_TIMEOUT_MS);
  }
  AS(&i0) {
    c0 = wait_for(&i0, UVBLE_IRQ_CENTRAL_CONNECT, CONF_TIMEOUT_MS);
    out(&i0, "gap_disconnect: %s", pybool(uvble_gap_disconnect(i0.ble, (uint16_t)c0)));
    wait_for(&i0, UVBLE_IRQ_CENTRAL_DISCONNECT, CONF_TIMEOUT_MS);
  }
  AS(&i1) wait_for(&i1, UVBLE_IRQ_PERIPHERAL_DISCONNECT, CONF_TIMEOUT_MS);

  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
