/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/ble_characteristic.py: characteristic
 * read, write with and without response, notify (the stored value, or a
 * payload given with the call, which leaves the stored value alone) and
 * indicate with its confirmation, all without a CCCD subscription
 * (gatts_notify / gatts_indicate ignore the CCCD). */
#include "conformance.h"

static const char *const EXP0[] = {
    "gap_advertise",
    "_IRQ_CENTRAL_CONNECT",
    "_IRQ_GATTS_WRITE b'central0'",
    "gatts_write",
    "gatts_notify",
    "_IRQ_GATTS_WRITE b'central1'",
    "gatts_notify",
    "_IRQ_GATTS_WRITE b'central2'",
    "gatts_write",
    "gatts_indicate",
    "_IRQ_GATTS_INDICATE_DONE 0",
    "_IRQ_GATTS_WRITE b'central3'",
    "gatts_notify",
    "_IRQ_CENTRAL_DISCONNECT",
    NULL,
};
static const char *const EXP1[] = {
    "gap_connect",
    "_IRQ_PERIPHERAL_CONNECT",
    "_IRQ_GATTC_CHARACTERISTIC_RESULT UUID('00000000-1111-2222-3333-444444444444')",
    "_IRQ_GATTC_CHARACTERISTIC_DONE",
    "gattc_read",
    "_IRQ_GATTC_READ_RESULT b'periph0'",
    "_IRQ_GATTC_READ_DONE 0",
    "gattc_write",
    "_IRQ_GATTC_WRITE_DONE 0",
    "_IRQ_GATTC_NOTIFY b'periph1'",
    "gattc_read",
    "_IRQ_GATTC_READ_RESULT b'periph1'",
    "_IRQ_GATTC_READ_DONE 0",
    "gattc_write",
    "_IRQ_GATTC_WRITE_DONE 0",
    "_IRQ_GATTC_NOTIFY b'periph2'",
    "gattc_read",
    "_IRQ_GATTC_READ_RESULT b'central1'",
    "_IRQ_GATTC_READ_DONE 0",
    "gattc_write",
    "_IRQ_GATTC_WRITE_DONE 0",
    "_IRQ_GATTC_INDICATE b'periph3'",
    "gattc_read",
    "_IRQ_GATTC_READ_RESULT b'periph3'",
    "_IRQ_GATTC_READ_DONE 0",
    "_IRQ_GATTC_NOTIFY b'central3'",
    "gap_disconnect: True",
    "_IRQ_PERIPHERAL_DISCONNECT",
    NULL,
};

static uvble_uuid_t char_uuid;

static void irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  if (print_conn_events(i, ev, d)) return;
  switch (ev) {
    case UVBLE_IRQ_GATTS_WRITE:
      out(i, "%s %s", irq_name(ev), gatts_read_repr(i, d->gatts.attr_handle));
      break;
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT:
      if (!uvble_uuid_equal(&d->characteristic.uuid, &char_uuid)) {
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
    case UVBLE_IRQ_GATTC_NOTIFY:
    case UVBLE_IRQ_GATTC_INDICATE:
      out(i, "%s %s", irq_name(ev),
          pybytes(d->gattc_data.data, d->gattc_data.data_len));
      break;
    case UVBLE_IRQ_GATTC_READ_DONE:
    case UVBLE_IRQ_GATTC_WRITE_DONE:
    case UVBLE_IRQ_GATTS_INDICATE_DONE:
      out(i, "%s %d", irq_name(ev), d->gatt_status.status);
      break;
    default:
      break;
  }
}

static void gwrite(struct inst *i, uint16_t h, const char *s) {
  REQUIRE_EQ(uvble_gatts_write(i->ble, h, s, strlen(s), false), 0);
}

static void cwrite(struct inst *i, long conn, long h, const char *s, int mode) {
  REQUIRE_EQ(uvble_gattc_write(i->ble, (uint16_t)conn, (uint16_t)h, s,
                               strlen(s), mode),
             0);
}

TEST(ble_characteristic) {
  uv_loop_init(&loop);
  char_uuid = parse_uuid("00000000-1111-2222-3333-444444444444");
  struct inst i0 = {.name = "instance0", .handler = irq};
  struct inst i1 = {.name = "instance1", .handler = irq};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, NULL);

  uvble_gatts_characteristic_t chr = {
      .uuid = char_uuid,
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_NO_RESPONSE |
               UVBLE_FLAG_NOTIFY | UVBLE_FLAG_INDICATE};
  uvble_gatts_service_t svc = {
      .uuid = parse_uuid("A5A5A5A5-FFFF-9999-1111-5A5A5A5A5A5A"),
      .characteristics = &chr,
      .num_characteristics = 1};
  uint16_t char_handle = 0;
  AS(&i0) {
    REQUIRE_EQ(uvble_gatts_register_services(i0.ble, &svc, 1, &char_handle, 1), 1);
    gwrite(&i0, char_handle, "periph0");
  }
  SHARE(&i0, char_handle);

  long conn0 = 0;
  uint16_t conn1 = connect_steps(&i0, &i1, &conn0);

  long vh = 0;
  AS(&i1) {
    REQUIRE_EQ(uvble_gattc_discover_characteristics(i1.ble, conn1, 1, 0xffff, NULL),
               0);
    vh = wait_for(&i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT, CONF_TIMEOUT_MS);
    wait_for(&i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, CONF_TIMEOUT_MS);
    CHECK_EQ(vh, char_handle);

    out(&i1, "gattc_read");
    REQUIRE_EQ(uvble_gattc_read(i1.ble, conn1, (uint16_t)vh), 0);
    wait_for(&i1, UVBLE_IRQ_GATTC_READ_RESULT, CONF_TIMEOUT_MS);

    /* A: a write, answered with a notification of the stored value. */
    out(&i1, "gattc_write");
    cwrite(&i1, conn1, vh, "central0", 1);
  }
  AS(&i0) {
    wait_for(&i0, UVBLE_IRQ_GATTS_WRITE, CONF_TIMEOUT_MS);
    out(&i0, "gatts_write");
    gwrite(&i0, char_handle, "periph1");
    out(&i0, "gatts_notify");
    REQUIRE_EQ(uvble_gatts_notify(i0.ble, (uint16_t)conn0, char_handle, NULL, 0), 0);
  }
  AS(&i1) {
    wait_for(&i1, UVBLE_IRQ_GATTC_WRITE_DONE, CONF_TIMEOUT_MS);
    wait_for(&i1, UVBLE_IRQ_GATTC_NOTIFY, CONF_TIMEOUT_MS);
    out(&i1, "gattc_read");
    REQUIRE_EQ(uvble_gattc_read(i1.ble, conn1, (uint16_t)vh), 0);
    wait_for(&i1, UVBLE_IRQ_GATTC_READ_RESULT, CONF_TIMEOUT_MS);

    /* B: a notification carrying its own payload; the value stays. */
    out(&i1, "gattc_write");
    cwrite(&i1, conn1, vh, "central1", 1);
  }
  AS(&i0) {
    wait_for(&i0, UVBLE_IRQ_GATTS_WRITE, CONF_TIMEOUT_MS);
    out(&i0, "gatts_notify");
    REQUIRE_EQ(uvble_gatts_notify(i0.ble, (uint16_t)conn0, char_handle, "periph2", 7), 0);
  }
  AS(&i1) {
    wait_for(&i1, UVBLE_IRQ_GATTC_WRITE_DONE, CONF_TIMEOUT_MS);
    wait_for(&i1, UVBLE_IRQ_GATTC_NOTIFY, CONF_TIMEOUT_MS);
    out(&i1, "gattc_read");
    REQUIRE_EQ(uvble_gattc_read(i1.ble, conn1, (uint16_t)vh), 0);
    wait_for(&i1, UVBLE_IRQ_GATTC_READ_RESULT, CONF_TIMEOUT_MS);

    /* C: an indication, confirmed. */
    out(&i1, "gattc_write");
    cwrite(&i1, conn1, vh, "central2", 1);
  }
  AS(&i0) {
    wait_for(&i0, UVBLE_IRQ_GATTS_WRITE, CONF_TIMEOUT_MS);
    out(&i0, "gatts_write");
    gwrite(&i0, char_handle, "periph3");
    out(&i0, "gatts_indicate");
    REQUIRE_EQ(uvble_gatts_indicate(i0.ble, (uint16_t)conn0, char_handle, NULL, 0), 0);
    wait_for(&i0, UVBLE_IRQ_GATTS_INDICATE_DONE, CONF_TIMEOUT_MS);
  }
  AS(&i1) {
    wait_for(&i1, UVBLE_IRQ_GATTC_WRITE_DONE, CONF_TIMEOUT_MS);
    wait_for(&i1, UVBLE_IRQ_GATTC_INDICATE, CONF_TIMEOUT_MS);
    out(&i1, "gattc_read");
    REQUIRE_EQ(uvble_gattc_read(i1.ble, conn1, (uint16_t)vh), 0);
    wait_for(&i1, UVBLE_IRQ_GATTC_READ_RESULT, CONF_TIMEOUT_MS);

    /* D: a write without response, answered with a notification. */
    cwrite(&i1, conn1, vh, "central3", 0);
  }
  AS(&i0) {
    wait_for(&i0, UVBLE_IRQ_GATTS_WRITE, CONF_TIMEOUT_MS);
    out(&i0, "gatts_notify");
    REQUIRE_EQ(uvble_gatts_notify(i0.ble, (uint16_t)conn0, char_handle, NULL, 0), 0);
  }
  AS(&i1) wait_for(&i1, UVBLE_IRQ_GATTC_NOTIFY, CONF_TIMEOUT_MS);

  disconnect_steps(&i1, conn1, &i0);

  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
