/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/ble_gap_device_name.py: the GAP device
 * name set and read back locally before and after registering (empty)
 * services, and read remotely through the Device Name characteristic
 * (0x2A00) after each change. */
#include "conformance.h"

static const char *const EXP0[] = {
    "b'GAP_NAME'",
    "gap_advertise",
    "b'GAP_NAME0'",
    "_IRQ_CENTRAL_CONNECT",
    "_IRQ_CENTRAL_DISCONNECT",
    "b'GAP_NAME1'",
    "_IRQ_CENTRAL_CONNECT",
    "_IRQ_CENTRAL_DISCONNECT",
    NULL,
};
static const char *const EXP1[] = {
    "gap_connect",
    "_IRQ_PERIPHERAL_CONNECT",
    "gattc_discover_characteristics",
    "_IRQ_GATTC_CHARACTERISTIC_RESULT UUID(0x2a00)",
    "_IRQ_GATTC_CHARACTERISTIC_DONE",
    "gattc_read",
    "_IRQ_GATTC_READ_RESULT b'GAP_NAME0'",
    "gap_disconnect: True",
    "_IRQ_PERIPHERAL_DISCONNECT",
    "gap_connect",
    "_IRQ_PERIPHERAL_CONNECT",
    "gattc_read",
    "_IRQ_GATTC_READ_RESULT b'GAP_NAME1'",
    "gap_disconnect: True",
    "_IRQ_PERIPHERAL_DISCONNECT",
    NULL,
};

static void irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  if (print_conn_events(i, ev, d)) return;
  uvble_uuid_t name_uuid = uvble_uuid16(UVBLE_GATT_DEVICE_NAME_UUID);
  switch (ev) {
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT:
      if (!uvble_uuid_equal(&d->characteristic.uuid, &name_uuid)) {
        i->skip_post = true;
        return;
      }
      out(i, "%s %s", irq_name(ev), pyuuid(&d->characteristic.uuid));
      post_val(i, ev, d->characteristic.value_handle);
      break;
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE:
      out(i, "%s", irq_name(ev));
      break;
    case UVBLE_IRQ_GATTC_READ_RESULT:
      out(i, "%s %s", irq_name(ev),
          pybytes(d->gattc_data.data, d->gattc_data.data_len));
      break;
    default:
      break;
  }
}

/* print(ble.config("gap_name")) */
static void print_name(struct inst *i) {
  uint8_t buf[UVBLE_GAP_NAME_MAX];
  int n = uvble_config_get_name(i->ble, buf, sizeof buf);
  REQUIRE(n >= 0);
  out(i, "%s", pybytes(buf, (size_t)n));
}

static void set_name(struct inst *i, const char *name) {
  REQUIRE_EQ(uvble_config_set_name(i->ble, name, strlen(name)), 0);
}

TEST(ble_gap_device_name) {
  uv_loop_init(&loop);
  struct inst i0 = {.name = "instance0", .handler = irq};
  struct inst i1 = {.name = "instance1", .handler = irq};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, NULL);

  AS(&i0) {
    set_name(&i0, "GAP_NAME");
    print_name(&i0);
    REQUIRE_EQ(uvble_gatts_register_services(i0.ble, NULL, 0, NULL, 0), 0);
    out(&i0, "gap_advertise");
  }

  long value_handle = 0, conn = 0;
  for (int iteration = 0; iteration < 2; iteration++) {
    AS(&i0) {
      char name[16];
      snprintf(name, sizeof name, "GAP_NAME%d", iteration);
      set_name(&i0, name);
      print_name(&i0);
      /* gap_advertise(20_000): no payload given, the previous one is kept. */
      REQUIRE_EQ(uvble_gap_advertise(i0.ble, 20000, NULL, 0, NULL, 0, true), 0);
      settle(&i0);
    }

    AS(&i1) {
      run_for(&loop, 50); /* time.sleep_ms(500), shortened */
      out(&i1, "gap_connect");
      REQUIRE_EQ(conf_gap_connect(&i1, &i0, 0), 0);
      conn = wait_for(&i1, UVBLE_IRQ_PERIPHERAL_CONNECT, CONF_TIMEOUT_MS);
    }
    AS(&i0) wait_for(&i0, UVBLE_IRQ_CENTRAL_CONNECT, CONF_TIMEOUT_MS);
    AS(&i1) {
      if (iteration == 0) {
        out(&i1, "gattc_discover_characteristics");
        REQUIRE_EQ(uvble_gattc_discover_characteristics(i1.ble, (uint16_t)conn,
                                                         1, 0xffff, NULL),
                   0);
        value_handle =
            wait_for(&i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT, CONF_TIMEOUT_MS);
        wait_for(&i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, CONF_TIMEOUT_MS);
        CHECK_EQ(value_handle, UVBLE_GATTS_DEVICE_NAME_HANDLE);
      }
      out(&i1, "gattc_read");
      REQUIRE_EQ(uvble_gattc_read(i1.ble, (uint16_t)conn, (uint16_t)value_handle), 0);
      wait_for(&i1, UVBLE_IRQ_GATTC_READ_RESULT, CONF_TIMEOUT_MS);
      out(&i1, "gap_disconnect: %s",
          pybool(uvble_gap_disconnect(i1.ble, (uint16_t)conn)));
      wait_for(&i1, UVBLE_IRQ_PERIPHERAL_DISCONNECT, CONF_TIMEOUT_MS);
    }
    AS(&i0) wait_for(&i0, UVBLE_IRQ_CENTRAL_DISCONNECT, CONF_TIMEOUT_MS);
  }

  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
