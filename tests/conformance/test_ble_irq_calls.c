/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/ble_irq_calls.py: the central runs its
 * whole client sequence from inside the irq handler — on connect it starts
 * service discovery by UUID, on each DONE it starts the next step
 * (characteristics, descriptors over the service, MTU exchange, CCCD
 * write, two reads) and finally disconnects. The peripheral prints every
 * event it sees.
 *
 * Left out: the original's test_deep_calls(), which checks that MicroPython
 * detects a Python stack overflow inside the handler; C has no such check
 * to test. */
#include "conformance.h"

static const char *const EXP0[] = {
    "peripheral start",
    "_IRQ_CENTRAL_CONNECT",
    "_IRQ_MTU_EXCHANGED",
    "_IRQ_GATTS_READ_REQUEST",
    "_IRQ_GATTS_READ_REQUEST",
    "_IRQ_CENTRAL_DISCONNECT",
    NULL,
};
static const char *const EXP1[] = {
    "central start",
    "_IRQ_PERIPHERAL_CONNECT",
    "_IRQ_GATTC_SERVICE_RESULT",
    "service found: 3 UUID('a5a5a5a5-ffff-9999-1111-5a5a5a5a5a5a')",
    "_IRQ_GATTC_SERVICE_DONE",
    "service handle range: 3",
    "_IRQ_GATTC_CHARACTERISTIC_RESULT",
    "characteristic found: UUID('a5a5a5a5-eeee-9999-1111-5a5a5a5a5a5a')",
    "_IRQ_GATTC_CHARACTERISTIC_DONE",
    /* (start, end] of the service: the declaration, the value, the CCCD. */
    "_IRQ_GATTC_DESCRIPTOR_RESULT",
    "_IRQ_GATTC_DESCRIPTOR_RESULT",
    "_IRQ_GATTC_DESCRIPTOR_RESULT",
    "CCCD found: UUID(0x2902)",
    "_IRQ_GATTC_DESCRIPTOR_DONE",
    "_IRQ_MTU_EXCHANGED",
    "CCCD write",
    "_IRQ_GATTC_WRITE_DONE",
    "CCCD write result: 0",
    "issue gattc_read",
    "_IRQ_GATTC_READ_RESULT",
    "gattc_read result: b''",
    "_IRQ_GATTC_READ_DONE",
    "_IRQ_GATTC_READ_RESULT",
    "gattc_read result: b''",
    "_IRQ_GATTC_READ_DONE",
    "_IRQ_PERIPHERAL_DISCONNECT",
    "connection closed",
    NULL,
};

static uvble_uuid_t accessory_uuid, state_uuid;

struct central {
  bool done;
  long conn;
  bool have_service;
  uint16_t svc_start, svc_end;
  uint16_t char_handle, cccd_handle;
  int reads_remaining;
};

static void central_irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  struct central *c = i->ctx;
  uvble_t *ble = i->ble;
  uvble_uuid_t cccd = uvble_uuid16(UVBLE_GATT_CCCD_UUID);
  /* Secret-store events (the stack's own IRK, fetched and stored at power
   * up) are filtered as the original's peripheral filters them: they are
   * not part of the client sequence. */
  if (ev == UVBLE_IRQ_GET_SECRET || ev == UVBLE_IRQ_SET_SECRET) return;
  out(i, "%s", irq_name(ev));
  switch (ev) {
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
      c->conn = d->connect.conn_handle;
      CHECK_EQ(uvble_gattc_discover_services(ble, (uint16_t)c->conn, &accessory_uuid), 0);
      break;
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
      CHECK_EQ(c->conn, d->connect.conn_handle);
      c->conn = -1;
      out(i, "connection closed");
      break;
    case UVBLE_IRQ_GATTC_SERVICE_RESULT:
      out(i, "service found: %d %s", d->service.end_handle - d->service.start_handle,
          pyuuid(&d->service.uuid));
      if (uvble_uuid_equal(&d->service.uuid, &accessory_uuid)) {
        CHECK(!c->have_service);
        c->have_service = true;
        c->svc_start = d->service.start_handle;
        c->svc_end = d->service.end_handle;
      }
      break;
    case UVBLE_IRQ_GATTC_SERVICE_DONE:
      out(i, "service handle range: %d", c->svc_end - c->svc_start);
      CHECK_EQ(uvble_gattc_discover_characteristics(ble, (uint16_t)c->conn, c->svc_start,
                                                    c->svc_end, NULL),
               0);
      break;
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT:
      CHECK(uvble_uuid_equal(&d->characteristic.uuid, &state_uuid));
      out(i, "characteristic found: %s", pyuuid(&d->characteristic.uuid));
      CHECK_EQ(c->char_handle, 0);
      c->char_handle = d->characteristic.value_handle;
      break;
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE:
      CHECK_EQ(uvble_gattc_discover_descriptors(ble, (uint16_t)c->conn, c->svc_start,
                                                c->svc_end),
               0);
      break;
    case UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT:
      if (uvble_uuid_equal(&d->descriptor.uuid, &cccd)) {
        out(i, "CCCD found: %s", pyuuid(&d->descriptor.uuid));
        CHECK_EQ(c->cccd_handle, 0);
        c->cccd_handle = d->descriptor.dsc_handle;
      }
      break;
    case UVBLE_IRQ_GATTC_DESCRIPTOR_DONE:
      CHECK_EQ(uvble_gattc_exchange_mtu(ble, (uint16_t)c->conn), 0);
      break;
    case UVBLE_IRQ_MTU_EXCHANGED: {
      out(i, "CCCD write");
      uint8_t v[2] = {UVBLE_CCCD_NOTIFY, 0}; /* struct.pack("<h", 1) */
      CHECK_EQ(uvble_gattc_write(ble, (uint16_t)c->conn, c->cccd_handle, v, 2, 1), 0);
      break;
    }
    case UVBLE_IRQ_GATTC_WRITE_DONE:
      out(i, "CCCD write result: %d", d->gatt_status.status);
      out(i, "issue gattc_read");
      c->reads_remaining = 2;
      CHECK_EQ(uvble_gattc_read(ble, (uint16_t)c->conn, c->char_handle), 0);
      break;
    case UVBLE_IRQ_GATTC_READ_RESULT:
      out(i, "gattc_read result: %s", pybytes(d->gattc_data.data, d->gattc_data.data_len));
      break;
    case UVBLE_IRQ_GATTC_READ_DONE:
      c->reads_remaining--;
      if (c->reads_remaining > 0) {
        CHECK_EQ(uvble_gattc_read(ble, (uint16_t)c->conn, c->char_handle), 0);
      } else {
        c->done = true;
        CHECK_EQ(uvble_gap_disconnect(ble, (uint16_t)c->conn), 1);
      }
      break;
    default:
      break;
  }
}

static bool periph_done;
static void periph_irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  (void)d;
  if (ev != UVBLE_IRQ_GET_SECRET && ev != UVBLE_IRQ_SET_SECRET) out(i, "%s", irq_name(ev));
  if (ev == UVBLE_IRQ_CENTRAL_DISCONNECT) periph_done = true;
}

static bool central_done_pred(void *arg) {
  struct central *c = arg;
  return c->done && c->conn == -1;
}

static bool flag_pred(void *arg) { return *(bool *)arg; }

TEST(ble_irq_calls) {
  uv_loop_init(&loop);
  accessory_uuid = parse_uuid("a5a5a5a5-ffff-9999-1111-5a5a5a5a5a5a");
  state_uuid = parse_uuid("a5a5a5a5-eeee-9999-1111-5a5a5a5a5a5a");
  struct central c;
  memset(&c, 0, sizeof c);
  struct inst i0 = {.name = "instance0", .handler = periph_irq};
  struct inst i1 = {.name = "instance1", .handler = central_irq, .ctx = &c};
  struct inst *all[] = {&i0, &i1, NULL};

  out(&i0, "peripheral start");
  out(&i1, "central start");
  insts_up(all, NULL);

  uvble_gatts_characteristic_t chr = {
      .uuid = state_uuid, .flags = UVBLE_FLAG_READ | UVBLE_FLAG_NOTIFY};
  uvble_gatts_service_t svc = {
      .uuid = accessory_uuid, .characteristics = &chr, .num_characteristics = 1};
  AS(&i0) {
    uint16_t h;
    REQUIRE_EQ(uvble_gatts_register_services(i0.ble, &svc, 1, &h, 1), 1);
    /* advertising_payload("acc", (ACCESSORY_UUID,)) */
    uint8_t adv[31];
    size_t adv_len = 0;
    uint8_t flags = 0x06;
    REQUIRE_EQ(uvble_adv_append(adv, sizeof adv, &adv_len, UVBLE_AD_FLAGS, &flags, 1), 0);
    REQUIRE_EQ(uvble_adv_append(adv, sizeof adv, &adv_len, UVBLE_AD_NAME_COMPLETE, "acc", 3), 0);
    REQUIRE_EQ(uvble_adv_append(adv, sizeof adv, &adv_len, UVBLE_AD_UUID128_COMPLETE,
                                accessory_uuid.data, 16),
               0);
    REQUIRE_EQ(uvble_gap_advertise(i0.ble, 500000, adv, adv_len, NULL, 0, true), 0);
    settle(&i0);
  }

  AS(&i1) {
    REQUIRE_EQ(conf_gap_connect(&i1, &i0, 0), 0);
    REQUIRE(run_until_pred(&loop, central_done_pred, &c, 10000));
  }
  AS(&i0) REQUIRE(run_until_pred(&loop, flag_pred, &periph_done, 10000));

  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
