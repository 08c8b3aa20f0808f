/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/ble_gattc_discover_services.py: primary
 * service discovery finds a 16-bit and a 128-bit service (each registered
 * without characteristics) next to the GAP and GATT services. */
#include "conformance.h"

static const char *const EXP0[] = {
    "gap_advertise",
    "_IRQ_CENTRAL_CONNECT",
    "_IRQ_CENTRAL_DISCONNECT",
    NULL,
};
static const char *const EXP1[] = {
    "gap_connect",
    "_IRQ_PERIPHERAL_CONNECT",
    "_IRQ_GATTC_SERVICE_RESULT UUID(0x180d)",
    "_IRQ_GATTC_SERVICE_RESULT UUID('a5a5a5a5-ffff-9999-1111-5a5a5a5a5a5a')",
    "_IRQ_GATTC_SERVICE_DONE",
    "discovered: 2",
    "gap_disconnect: True",
    "_IRQ_PERIPHERAL_DISCONNECT",
    NULL,
};

static uvble_uuid_t uuid_a, uuid_b;
static int num_service_result;

static void irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  if (print_conn_events(i, ev, d)) return;
  if (ev == UVBLE_IRQ_GATTC_SERVICE_RESULT) {
    if (uvble_uuid_equal(&d->service.uuid, &uuid_a) ||
        uvble_uuid_equal(&d->service.uuid, &uuid_b)) {
      out(i, "%s %s", irq_name(ev), pyuuid(&d->service.uuid));
      num_service_result++;
    }
  } else if (ev == UVBLE_IRQ_GATTC_SERVICE_DONE) {
    out(i, "%s", irq_name(ev));
    CHECK_EQ(d->done.status, 0);
  }
}

TEST(ble_gattc_discover_services) {
  uv_loop_init(&loop);
  uuid_a = uvble_uuid16(0x180d);
  uuid_b = parse_uuid("A5A5A5A5-FFFF-9999-1111-5A5A5A5A5A5A");
  struct inst i0 = {.name = "instance0", .handler = irq};
  struct inst i1 = {.name = "instance1", .handler = irq};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, NULL);

  uvble_gatts_service_t services[2] = {{.uuid = uuid_a}, {.uuid = uuid_b}};
  AS(&i0) REQUIRE_EQ(uvble_gatts_register_services(i0.ble, services, 2, NULL, 0), 0);
  uint16_t conn = connect_steps(&i0, &i1, NULL);
  AS(&i1) {
    REQUIRE_EQ(uvble_gattc_discover_services(i1.ble, conn, NULL), 0);
    wait_for(&i1, UVBLE_IRQ_GATTC_SERVICE_DONE, CONF_TIMEOUT_MS);
    out(&i1, "discovered: %d", num_service_result);
  }
  disconnect_steps(&i1, conn, &i0);

  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
