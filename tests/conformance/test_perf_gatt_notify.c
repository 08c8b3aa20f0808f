/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/perf_gatt_notify.py: notification
 * ping-pong, 50 round trips. Both devices register the same service, so
 * the value handle each discovers on the other is also its own; the
 * peripheral notifies "peripheralN" and the central answers from inside
 * its irq handler with a notification of "central" + the payload. Metric:
 * milliseconds per round trip. */
#include "conformance.h"

#define NUM_NOTIFICATIONS 50

static const char *const EXP0[] = {"gap_advertise", "gap_disconnect: True", NULL};
static const char *const EXP1[] = {"gap_connect", NULL};

static uvble_uuid_t char_uuid;
static int echoes;

static void irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  bool is_central = i->ctx != NULL;
  switch (ev) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
      post_val(i, ev, d->connect.conn_handle);
      break;
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT:
      if (!uvble_uuid_equal(&d->characteristic.uuid, &char_uuid)) {
        i->skip_post = true;
        return;
      }
      post_val(i, ev, d->characteristic.value_handle);
      break;
    case UVBLE_IRQ_GATTC_NOTIFY:
      if (is_central) {
        uint8_t buf[64];
        size_t n = d->gattc_data.data_len;
        REQUIRE(n + 7 <= sizeof buf);
        memcpy(buf, "central", 7);
        memcpy(buf + 7, d->gattc_data.data, n);
        CHECK_EQ(uvble_gatts_notify(i->ble, d->gattc_data.conn_handle,
                                    d->gattc_data.value_handle, buf, n + 7),
                 0);
        echoes++;
      } else {
        char want[32];
        /* The k-th echo (this instance's own count: the central's
         * counter may live in another process). */
        snprintf(want, sizeof want, "centralperipheral%d",
                 i->count[UVBLE_IRQ_GATTC_NOTIFY] - 1);
        CHECK_EQ(d->gattc_data.data_len, strlen(want));
        CHECK_MEM(d->gattc_data.data, want, strlen(want));
      }
      break;
    default:
      break;
  }
}

static uint16_t register_service(struct inst *i) {
  uvble_gatts_characteristic_t chr = {.uuid = char_uuid, .flags = UVBLE_FLAG_NOTIFY};
  uvble_gatts_service_t svc = {
      .uuid = parse_uuid("A5A5A5A5-FFFF-9999-1111-5A5A5A5A5A5A"),
      .characteristics = &chr,
      .num_characteristics = 1};
  uint16_t h;
  REQUIRE_EQ(uvble_gatts_register_services(i->ble, &svc, 1, &h, 1), 1);
  return h;
}

static uint16_t discover(struct inst *i, uint16_t conn) {
  REQUIRE_EQ(uvble_gattc_discover_characteristics(i->ble, conn, 1, 0xffff, NULL), 0);
  uint16_t vh = (uint16_t)wait_for(i, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT, 2000);
  wait_for(i, UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, 2000);
  return vh;
}

TEST(perf_gatt_notify) {
  uv_loop_init(&loop);
  char_uuid = parse_uuid("00000000-1111-2222-3333-444444444444");
  int central_tag = 1;
  struct inst i0 = {.name = "instance0", .handler = irq};
  struct inst i1 = {.name = "instance1", .handler = irq, .ctx = &central_tag};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, NULL);
  uint16_t h0 = 0, h1 = 0;
  AS(&i0) h0 = register_service(&i0);
  AS(&i1) h1 = register_service(&i1);
  SHARE(&i0, h0);
  SHARE(&i1, h1);
  CHECK_EQ(h0, h1);

  long c0l = 0;
  uint16_t c1 = connect_steps(&i0, &i1, &c0l), c0 = (uint16_t)c0l;
  /* Each discovers the other's characteristic. */
  AS(&i1) CHECK_EQ(discover(&i1, c1), h0);
  AS(&i0) {
    uint16_t vh = discover(&i0, c0);
    CHECK_EQ(vh, h1);
    run_for(&loop, 50); /* time.sleep_ms(500), shortened */

    uint64_t t0 = uv_hrtime();
    for (int k = 0; k < NUM_NOTIFICATIONS; k++) {
      char v[32];
      snprintf(v, sizeof v, "peripheral%d", k);
      REQUIRE_EQ(uvble_gatts_notify(i0.ble, c0, vh, v, strlen(v)), 0);
      wait_for(&i0, UVBLE_IRQ_GATTC_NOTIFY, 2000);
    }
    uint64_t us = (uv_hrtime() - t0) / 1000;
    metric("perf_gatt_notify: Acknowledged %d notifications in %.3f ms. %.3f ms/notification.",
           NUM_NOTIFICATIONS, us / 1000.0, us / 1000.0 / NUM_NOTIFICATIONS);
    CHECK_EQ(i0.count[UVBLE_IRQ_GATTC_NOTIFY], NUM_NOTIFICATIONS);

    out(&i0, "gap_disconnect: %s", pybool(uvble_gap_disconnect(i0.ble, c0)));
    wait_for(&i0, UVBLE_IRQ_CENTRAL_DISCONNECT, 2000);
  }
  AS(&i1) {
    wait_for(&i1, UVBLE_IRQ_PERIPHERAL_DISCONNECT, 20000);
    CHECK_EQ(echoes, NUM_NOTIFICATIONS);
  }

  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
