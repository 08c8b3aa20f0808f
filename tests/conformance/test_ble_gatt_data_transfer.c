/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/ble_gatt_data_transfer.py: a receive
 * characteristic in append mode (gatts_set_buffer(h, 100, True))
 * accumulates four writes of both kinds and gatts_read returns them all at
 * once; a control characteristic signals each side's end; the server
 * notifies a notify-only characteristic. Sleeps (400 ms / 300 ms) are
 * shortened to 50 ms: btvirt has no radio to wait for. */
#include "conformance.h"

#define SLEEP_MS 50

static const char *const EXP0[] = {
    "gap_advertise",
    "_IRQ_CENTRAL_CONNECT",
    "_IRQ_GATTS_WRITE",
    "_IRQ_GATTS_WRITE",
    "_IRQ_GATTS_WRITE",
    "_IRQ_GATTS_WRITE",
    "_IRQ_GATTS_WRITE",
    "gatts_read: b'central0central1central2central3'",
    "_IRQ_CENTRAL_DISCONNECT",
    NULL,
};
static const char *const EXP1[] = {
    "gap_connect",
    "_IRQ_PERIPHERAL_CONNECT",
    "_IRQ_GATTC_CHARACTERISTIC_RESULT UUID('00000002-1111-2222-3333-444444444444')",
    "_IRQ_GATTC_CHARACTERISTIC_RESULT UUID('00000003-1111-2222-3333-444444444444')",
    "_IRQ_GATTC_CHARACTERISTIC_RESULT UUID('00000004-1111-2222-3333-444444444444')",
    "_IRQ_GATTC_CHARACTERISTIC_DONE",
    "gattc_write",
    "gattc_write",
    "_IRQ_GATTC_WRITE_DONE 0",
    "gattc_write",
    "gattc_write",
    "_IRQ_GATTC_WRITE_DONE 0",
    "_IRQ_GATTC_WRITE_DONE 0",
    "_IRQ_GATTC_NOTIFY b'message0'",
    "_IRQ_GATTC_NOTIFY b'message1'",
    "_IRQ_GATTC_NOTIFY b'message2'",
    "_IRQ_GATTC_NOTIFY b'message3'",
    "_IRQ_GATTC_NOTIFY b'OK'",
    "gap_disconnect: True",
    "_IRQ_PERIPHERAL_DISCONNECT",
    NULL,
};

static uvble_uuid_t ctrl_uuid, rx_uuid, tx_uuid;
static uint16_t ctrl_vh, rx_vh, tx_vh;       /* client side */
static uint16_t ctrl_h0;                    /* server side */
static bool ctrl_written, ctrl_notified;

static void irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  if (print_conn_events(i, ev, d)) return;
  switch (ev) {
    case UVBLE_IRQ_GATTS_WRITE:
      out(i, "%s", irq_name(ev));
      if (d->gatts.attr_handle == ctrl_h0) ctrl_written = true;
      break;
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT: {
      const uvble_uuid_t *u = &d->characteristic.uuid;
      uint16_t *slot = uvble_uuid_equal(u, &ctrl_uuid) ? &ctrl_vh
                       : uvble_uuid_equal(u, &rx_uuid) ? &rx_vh
                       : uvble_uuid_equal(u, &tx_uuid) ? &tx_vh
                                                       : NULL;
      if (slot) {
        out(i, "%s %s", irq_name(ev), pyuuid(u));
        *slot = d->characteristic.value_handle;
      }
      break;
    }
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE:
      out(i, "%s", irq_name(ev));
      break;
    case UVBLE_IRQ_GATTC_WRITE_DONE:
      out(i, "%s %d", irq_name(ev), d->gatt_status.status);
      break;
    case UVBLE_IRQ_GATTC_NOTIFY:
      out(i, "%s %s", irq_name(ev),
          pybytes(d->gattc_data.data, d->gattc_data.data_len));
      if (d->gattc_data.value_handle == ctrl_vh) ctrl_notified = true;
      break;
    default:
      break;
  }
}

static bool flag_pred(void *arg) { return *(bool *)arg; }

TEST(ble_gatt_data_transfer) {
  uv_loop_init(&loop);
  ctrl_uuid = parse_uuid("00000002-1111-2222-3333-444444444444");
  rx_uuid = parse_uuid("00000003-1111-2222-3333-444444444444");
  tx_uuid = parse_uuid("00000004-1111-2222-3333-444444444444");
  struct inst i0 = {.name = "instance0", .handler = irq};
  struct inst i1 = {.name = "instance1", .handler = irq};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, NULL);

  uvble_gatts_characteristic_t chrs[3] = {
      {.uuid = ctrl_uuid, .flags = UVBLE_FLAG_WRITE | UVBLE_FLAG_NOTIFY},
      {.uuid = rx_uuid, .flags = UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_NO_RESPONSE},
      {.uuid = tx_uuid, .flags = UVBLE_FLAG_NOTIFY},
  };
  uvble_gatts_service_t svc = {
      .uuid = parse_uuid("00000001-1111-2222-3333-444444444444"),
      .characteristics = chrs,
      .num_characteristics = 3};
  uint16_t h[3] = {0, 0, 0};
  AS(&i0) {
    REQUIRE_EQ(uvble_gatts_register_services(i0.ble, &svc, 1, h, 3), 3);
    ctrl_h0 = h[0];
    REQUIRE_EQ(uvble_gatts_set_buffer(i0.ble, h[1], 100, true), 0);
  }
  long c0l = 0;
  uint16_t c1 = connect_steps(&i0, &i1, &c0l), c0 = (uint16_t)c0l;

  AS(&i1) {
    REQUIRE_EQ(uvble_gattc_discover_characteristics(i1.ble, c1, 1, 0xffff, NULL), 0);
    wait_for(&i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, CONF_TIMEOUT_MS);
    REQUIRE(ctrl_vh && rx_vh && tx_vh);

    for (int k = 0; k < 4; k++) {
      char v[16];
      snprintf(v, sizeof v, "central%d", k);
      out(&i1, "gattc_write");
      REQUIRE_EQ(uvble_gattc_write(i1.ble, c1, rx_vh, v, strlen(v), k & 1), 0);
      if (k & 1) wait_for(&i1, UVBLE_IRQ_GATTC_WRITE_DONE, CONF_TIMEOUT_MS);
      run_for(&loop, SLEEP_MS);
    }
    REQUIRE_EQ(uvble_gattc_write(i1.ble, c1, ctrl_vh, "OK", 2, 1), 0);
    wait_for(&i1, UVBLE_IRQ_GATTC_WRITE_DONE, CONF_TIMEOUT_MS);
  }

  /* The server waits for the control write, then reads what accumulated. */
  AS(&i0) {
    REQUIRE(run_until_pred(&loop, flag_pred, &ctrl_written, 2 * CONF_TIMEOUT_MS));
    uint8_t buf[100];
    size_t len = 0;
    REQUIRE_EQ(uvble_gatts_read(i0.ble, h[1], buf, sizeof buf, &len), 0);
    out(&i0, "gatts_read: %s", pybytes(buf, len));
    /* Append mode: the read emptied the buffer. */
    REQUIRE_EQ(uvble_gatts_read(i0.ble, h[1], buf, sizeof buf, &len), 0);
    CHECK_EQ(len, 0);

    for (int k = 0; k < 4; k++) {
      char v[16];
      snprintf(v, sizeof v, "message%d", k);
      run_for(&loop, SLEEP_MS);
      REQUIRE_EQ(uvble_gatts_notify(i0.ble, c0, h[2], v, strlen(v)), 0);
    }
    run_for(&loop, SLEEP_MS);
    REQUIRE_EQ(uvble_gatts_notify(i0.ble, c0, h[0], "OK", 2), 0);
  }

  AS(&i1) REQUIRE(run_until_pred(&loop, flag_pred, &ctrl_notified, CONF_TIMEOUT_MS));
  disconnect_steps(&i1, c1, &i0);

  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
