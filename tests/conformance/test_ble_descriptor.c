/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/ble_descriptor.py: a user descriptor
 * registered with its characteristic (the handles come back as (char,
 * desc)), found by descriptor discovery over the characteristic's (value,
 * end] range, read, and written with and without response. */
#include "conformance.h"

static const char *const EXP0[] = {
    "gap_advertise",
    "_IRQ_CENTRAL_CONNECT",
    "_IRQ_GATTS_WRITE b'central0'",
    "_IRQ_GATTS_WRITE b'desc_central0'",
    "_IRQ_GATTS_WRITE b'desc_central1'",
    "_IRQ_CENTRAL_DISCONNECT",
    NULL,
};
static const char *const EXP1[] = {
    "gap_connect",
    "_IRQ_PERIPHERAL_CONNECT",
    "_IRQ_GATTC_CHARACTERISTIC_RESULT UUID('00000000-1111-2222-3333-444444444444')",
    "_IRQ_GATTC_CHARACTERISTIC_DONE",
    "_IRQ_GATTC_DESCRIPTOR_RESULT UUID('00000000-1111-2222-3333-555555555555')",
    "_IRQ_GATTC_DESCRIPTOR_DONE",
    "gattc_read characteristic",
    "_IRQ_GATTC_READ_RESULT b'periph0'",
    "_IRQ_GATTC_READ_DONE 0",
    "gattc_read descriptor",
    "_IRQ_GATTC_READ_RESULT b'desc_periph0'",
    "_IRQ_GATTC_READ_DONE 0",
    "gattc_write characteristic",
    "_IRQ_GATTC_WRITE_DONE 0",
    "gattc_write descriptor",
    "_IRQ_GATTC_WRITE_DONE 0",
    "gattc_write descriptor",
    "gap_disconnect: True",
    "_IRQ_PERIPHERAL_DISCONNECT",
    NULL,
};

static uvble_uuid_t char_uuid, desc_uuid;

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
      /* (value_handle, end_handle) */
      post_val(i, ev, (long)d->characteristic.value_handle << 16 |
                          d->characteristic.end_handle);
      break;
    case UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT:
      if (!uvble_uuid_equal(&d->descriptor.uuid, &desc_uuid)) {
        i->skip_post = true;
        return;
      }
      out(i, "%s %s", irq_name(ev), pyuuid(&d->descriptor.uuid));
      post_val(i, ev, d->descriptor.dsc_handle);
      break;
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE:
    case UVBLE_IRQ_GATTC_DESCRIPTOR_DONE:
      out(i, "%s", irq_name(ev));
      break;
    case UVBLE_IRQ_GATTC_READ_RESULT:
      out(i, "%s %s", irq_name(ev),
          pybytes(d->gattc_data.data, d->gattc_data.data_len));
      break;
    case UVBLE_IRQ_GATTC_READ_DONE:
    case UVBLE_IRQ_GATTC_WRITE_DONE:
      out(i, "%s %d", irq_name(ev), d->gatt_status.status);
      break;
    default:
      break;
  }
}

TEST(ble_descriptor) {
  uv_loop_init(&loop);
  char_uuid = parse_uuid("00000000-1111-2222-3333-444444444444");
  desc_uuid = parse_uuid("00000000-1111-2222-3333-555555555555");
  struct inst i0 = {.name = "instance0", .handler = irq};
  struct inst i1 = {.name = "instance1", .handler = irq};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, NULL);

  uvble_gatts_descriptor_t dsc = {
      .uuid = desc_uuid,
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_NO_RESPONSE};
  uvble_gatts_characteristic_t chr = {.uuid = char_uuid,
                                      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE,
                                      .descriptors = &dsc,
                                      .num_descriptors = 1};
  uvble_gatts_service_t svc = {
      .uuid = parse_uuid("A5A5A5A5-FFFF-9999-1111-5A5A5A5A5A5A"),
      .characteristics = &chr,
      .num_characteristics = 1};
  uint16_t h[2] = {0, 0};
  AS(&i0) {
    REQUIRE_EQ(uvble_gatts_register_services(i0.ble, &svc, 1, h, 2), 2);
    REQUIRE_EQ(uvble_gatts_write(i0.ble, h[0], "periph0", 7, false), 0);
    REQUIRE_EQ(uvble_gatts_write(i0.ble, h[1], "desc_periph0", 12, false), 0);
  }
  SHARE(&i0, h); /* the central checks what discovery finds against them */
  uint16_t char_handle = h[0], desc_handle = h[1];

  uint16_t c = connect_steps(&i0, &i1, NULL);

  AS(&i1) {
    REQUIRE_EQ(uvble_gattc_discover_characteristics(i1.ble, c, 1, 0xffff, NULL), 0);
    long ve = wait_for(&i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT, CONF_TIMEOUT_MS);
    wait_for(&i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, CONF_TIMEOUT_MS);
    uint16_t vh = (uint16_t)(ve >> 16), eh = (uint16_t)ve;
    CHECK_EQ(vh, char_handle);

    REQUIRE_EQ(uvble_gattc_discover_descriptors(i1.ble, c, vh, eh), 0);
    uint16_t dh = (uint16_t)wait_for(&i1, UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT, CONF_TIMEOUT_MS);
    wait_for(&i1, UVBLE_IRQ_GATTC_DESCRIPTOR_DONE, CONF_TIMEOUT_MS);
    CHECK_EQ(dh, desc_handle);

    out(&i1, "gattc_read characteristic");
    REQUIRE_EQ(uvble_gattc_read(i1.ble, c, vh), 0);
    wait_for(&i1, UVBLE_IRQ_GATTC_READ_RESULT, CONF_TIMEOUT_MS);
    out(&i1, "gattc_read descriptor");
    REQUIRE_EQ(uvble_gattc_read(i1.ble, c, dh), 0);
    wait_for(&i1, UVBLE_IRQ_GATTC_READ_RESULT, CONF_TIMEOUT_MS);

    out(&i1, "gattc_write characteristic");
    REQUIRE_EQ(uvble_gattc_write(i1.ble, c, vh, "central0", 8, 1), 0);
    wait_for(&i1, UVBLE_IRQ_GATTC_WRITE_DONE, CONF_TIMEOUT_MS);
  }
  AS(&i0) wait_for(&i0, UVBLE_IRQ_GATTS_WRITE, CONF_TIMEOUT_MS);
  AS(&i1) {
    out(&i1, "gattc_write descriptor");
    REQUIRE_EQ(uvble_gattc_write(i1.ble, c, desc_handle, "desc_central0", 13, 1), 0);
    wait_for(&i1, UVBLE_IRQ_GATTC_WRITE_DONE, CONF_TIMEOUT_MS);
  }
  AS(&i0) wait_for(&i0, UVBLE_IRQ_GATTS_WRITE, CONF_TIMEOUT_MS);
  AS(&i1) {
    out(&i1, "gattc_write descriptor");
    REQUIRE_EQ(uvble_gattc_write(i1.ble, c, desc_handle, "desc_central1", 13, 0), 0);
  }

  /* instance0 waits for each of its three writes in turn; instance1
   * sleeps 500 ms before disconnecting. */
  AS(&i0) wait_for(&i0, UVBLE_IRQ_GATTS_WRITE, CONF_TIMEOUT_MS);

  disconnect_steps(&i1, c, &i0);

  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
