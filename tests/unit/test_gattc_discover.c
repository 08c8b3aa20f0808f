/* SPDX-License-Identifier: Apache-2.0 */
/* GATT client discovery against a scripted server: services (all, by
 * UUID), characteristics with MicroPython's end handles, descriptors. */
#include "test_gattc_peer.h"

static const uint8_t UUID128[16] = {0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x11, 0x11,
                                    0x99, 0x99, 0xff, 0xff, 0xa5, 0xa5, 0xa5, 0xa5};

TEST(discover_all_services_over_pages_16_and_128_bit) {
  peer_up();
  REQUIRE_EQ(uvble_gattc_discover_services(ble, CONN, NULL), 0);
  CHECK_EQ(nev, 0); /* nothing inside the call */
  EXPECT_REQ(0x10, 0x01, 0x00, 0xff, 0xff, 0x00, 0x28);
  PEER_SEND(0x11, 6, 0x01, 0x00, 0x05, 0x00, 0x00, 0x18, /* GAP */
            0x06, 0x00, 0x09, 0x00, 0x01, 0x18);          /* GATT */
  /* The next page starts after the last group end. */
  EXPECT_REQ(0x10, 0x0a, 0x00, 0xff, 0xff, 0x00, 0x28);
  uint8_t p[2 + 20] = {0x11, 20, 0x0a, 0x00, 0x10, 0x00};
  memcpy(p + 6, UUID128, 16);
  peer_send(p, sizeof p);
  EXPECT_REQ(0x10, 0x11, 0x00, 0xff, 0xff, 0x00, 0x28);
  peer_error(0x10, 0x0011, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  int done = wait_ev(UVBLE_IRQ_GATTC_SERVICE_DONE, 0, 200);
  REQUIRE_EQ(done, 3);
  CHECK_EQ(evs[done].d.done.status, 0);
  CHECK_EQ(evs[done].d.done.conn_handle, CONN);
  REQUIRE_EQ(count_ev(UVBLE_IRQ_GATTC_SERVICE_RESULT), 3);
  uvble_evt_service_result_t *s = &evs[0].d.service;
  CHECK_EQ(s->conn_handle, CONN);
  CHECK_EQ(s->start_handle, 1);
  CHECK_EQ(s->end_handle, 5);
  CHECK(uvble_uuid_equal(&s->uuid, &(uvble_uuid_t){16, {0x00, 0x18}}));
  s = &evs[1].d.service;
  CHECK_EQ(s->start_handle, 6);
  CHECK_EQ(s->end_handle, 9);
  CHECK_EQ(s->uuid.type, 16);
  s = &evs[2].d.service;
  CHECK_EQ(s->start_handle, 0x0a);
  CHECK_EQ(s->end_handle, 0x10);
  CHECK_EQ(s->uuid.type, 128);
  CHECK_MEM(s->uuid.data, UUID128, 16);
  char str[UVBLE_UUID_STR_LEN];
  uvble_uuid_to_str(&s->uuid, str, sizeof str);
  CHECK_STR(str, "a5a5a5a5-ffff-9999-1111-5a5a5a5a5a5a");
  CHECK(peer_quiet(10));
  peer_down();
}

TEST(discovery_ends_without_request_when_a_group_reaches_ffff) {
  peer_up();
  REQUIRE_EQ(uvble_gattc_discover_services(ble, CONN, NULL), 0);
  EXPECT_REQ(0x10, 0x01, 0x00, 0xff, 0xff, 0x00, 0x28);
  PEER_SEND(0x11, 6, 0x01, 0x00, 0xff, 0xff, 0x0d, 0x18);
  int done = wait_ev(UVBLE_IRQ_GATTC_SERVICE_DONE, 0, 200);
  REQUIRE_EQ(done, 1);
  CHECK_EQ(evs[done].d.done.status, 0);
  CHECK_EQ(evs[0].d.service.end_handle, 0xffff);
  CHECK(peer_quiet(10));
  peer_down();
}

TEST(discover_services_by_16_bit_uuid) {
  peer_up();
  uvble_uuid_t hr = uvble_uuid16(0x180d);
  REQUIRE_EQ(uvble_gattc_discover_services(ble, CONN, &hr), 0);
  EXPECT_REQ(0x06, 0x01, 0x00, 0xff, 0xff, 0x00, 0x28, 0x0d, 0x18);
  PEER_SEND(0x07, 0x20, 0x00, 0x25, 0x00, 0x30, 0x00, 0x34, 0x00);
  EXPECT_REQ(0x06, 0x35, 0x00, 0xff, 0xff, 0x00, 0x28, 0x0d, 0x18);
  peer_error(0x06, 0x0035, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  int done = wait_ev(UVBLE_IRQ_GATTC_SERVICE_DONE, 0, 200);
  REQUIRE_EQ(done, 2);
  CHECK_EQ(evs[done].d.done.status, 0);
  CHECK_EQ(evs[0].d.service.start_handle, 0x20);
  CHECK_EQ(evs[0].d.service.end_handle, 0x25);
  CHECK(uvble_uuid_equal(&evs[0].d.service.uuid, &hr));
  CHECK_EQ(evs[1].d.service.start_handle, 0x30);
  CHECK_EQ(evs[1].d.service.end_handle, 0x34);
  peer_down();
}

TEST(discover_services_by_128_bit_and_32_bit_uuid) {
  peer_up();
  uvble_uuid_t u;
  REQUIRE_EQ(uvble_uuid_from_bytes(&u, UUID128, 16), 0);
  REQUIRE_EQ(uvble_gattc_discover_services(ble, CONN, &u), 0);
  uint8_t want[7 + 16] = {0x06, 0x01, 0x00, 0xff, 0xff, 0x00, 0x28};
  memcpy(want + 7, UUID128, 16);
  uint8_t got[600];
  REQUIRE_EQ(peer_recv(got), sizeof want);
  CHECK_MEM(got, want, sizeof want);
  PEER_SEND(0x07, 0x0a, 0x00, 0xff, 0xff);
  int done = wait_ev(UVBLE_IRQ_GATTC_SERVICE_DONE, 0, 200);
  REQUIRE_EQ(done, 1);
  CHECK_EQ(evs[done].d.done.status, 0);
  CHECK_MEM(evs[0].d.service.uuid.data, UUID128, 16);
  /* A 32-bit UUID never appears in a declaration: it goes as 128-bit. */
  uvble_uuid_t u32 = uvble_uuid32(0x12345678);
  REQUIRE_EQ(uvble_gattc_discover_services(ble, CONN, &u32), 0);
  REQUIRE_EQ(peer_recv(got), 7 + 16);
  uvble_uuid_t full = uvble_uuid_to128(&u32);
  CHECK_MEM(got + 7, full.data, 16);
  peer_error(0x06, 0x0001, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  done = wait_ev(UVBLE_IRQ_GATTC_SERVICE_DONE, done + 1, 200);
  REQUIRE(done > 0);
  CHECK_EQ(evs[done].d.done.status, 0);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_SERVICE_RESULT), 1);
  peer_down();
}

TEST(service_discovery_reports_other_att_errors) {
  peer_up();
  REQUIRE_EQ(uvble_gattc_discover_services(ble, CONN, NULL), 0);
  EXPECT_REQ(0x10, 0x01, 0x00, 0xff, 0xff, 0x00, 0x28);
  peer_error(0x10, 0x0001, UVBLE_ATT_ERR_INSUFFICIENT_AUTHENTICATION);
  int done = wait_ev(UVBLE_IRQ_GATTC_SERVICE_DONE, 0, 200);
  REQUIRE_EQ(done, 0);
  CHECK_EQ(evs[done].d.done.status, UVBLE_ATT_ERR_INSUFFICIENT_AUTHENTICATION);
  peer_down();
}

TEST(characteristics_get_micropython_end_handles) {
  peer_up();
  REQUIRE_EQ(uvble_gattc_discover_characteristics(ble, CONN, 0x20, 0x30, NULL),
             0);
  EXPECT_REQ(0x08, 0x20, 0x00, 0x30, 0x00, 0x03, 0x28);
  PEER_SEND(0x09, 7,
            0x21, 0x00, 0x02, 0x22, 0x00, 0x00, 0x2a,  /* read */
            0x24, 0x00, 0x1a, 0x25, 0x00, 0x01, 0x2a); /* r/w/notify */
  /* The first one is reported once the second shows where it ends. */
  int r0 = wait_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT, 0, 200);
  REQUIRE_EQ(r0, 0);
  CHECK_EQ(nev, 1);
  EXPECT_REQ(0x08, 0x25, 0x00, 0x30, 0x00, 0x03, 0x28);
  uint8_t p[2 + 21] = {0x09, 21, 0x28, 0x00, 0x10, 0x29, 0x00};
  memcpy(p + 7, UUID128, 16);
  peer_send(p, sizeof p);
  EXPECT_REQ(0x08, 0x29, 0x00, 0x30, 0x00, 0x03, 0x28);
  peer_error(0x08, 0x0029, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  int done = wait_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, 0, 200);
  REQUIRE_EQ(done, 3);
  CHECK_EQ(evs[done].d.done.status, 0);
  uvble_evt_characteristic_result_t *c = &evs[0].d.characteristic;
  CHECK_EQ(c->conn_handle, CONN);
  CHECK_EQ(c->value_handle, 0x22);
  CHECK_EQ(c->end_handle, 0x23);
  CHECK_EQ(c->properties, 0x02);
  CHECK(uvble_uuid_equal(&c->uuid, &(uvble_uuid_t){16, {0x00, 0x2a}}));
  c = &evs[1].d.characteristic;
  CHECK_EQ(c->value_handle, 0x25);
  CHECK_EQ(c->end_handle, 0x27);
  CHECK_EQ(c->properties, 0x1a);
  c = &evs[2].d.characteristic;
  CHECK_EQ(c->value_handle, 0x29);
  CHECK_EQ(c->end_handle, 0x30); /* the last: the end of the query */
  CHECK_EQ(c->uuid.type, 128);
  CHECK_MEM(c->uuid.data, UUID128, 16);
  peer_down();
}

TEST(characteristic_uuid_filter_keeps_end_handles_of_all) {
  peer_up();
  uvble_uuid_t want = uvble_uuid16(0x2a01);
  REQUIRE_EQ(
      uvble_gattc_discover_characteristics(ble, CONN, 0x20, 0x30, &want), 0);
  EXPECT_REQ(0x08, 0x20, 0x00, 0x30, 0x00, 0x03, 0x28);
  PEER_SEND(0x09, 7, 0x21, 0x00, 0x02, 0x22, 0x00, 0x00, 0x2a,
            0x24, 0x00, 0x1a, 0x25, 0x00, 0x01, 0x2a,
            0x28, 0x00, 0x02, 0x29, 0x00, 0x02, 0x2a);
  EXPECT_REQ(0x08, 0x29, 0x00, 0x30, 0x00, 0x03, 0x28);
  peer_error(0x08, 0x0029, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  int done = wait_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, 0, 200);
  REQUIRE_EQ(done, 1);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT), 1);
  CHECK_EQ(evs[0].d.characteristic.value_handle, 0x25);
  /* Ends before the next declaration, matching or not. */
  CHECK_EQ(evs[0].d.characteristic.end_handle, 0x27);
  /* A filter given as the 128-bit form matches the 16-bit declaration. */
  uvble_uuid_t want128 = uvble_uuid_to128(&want);
  REQUIRE_EQ(
      uvble_gattc_discover_characteristics(ble, CONN, 0x24, 0x27, &want128), 0);
  EXPECT_REQ(0x08, 0x24, 0x00, 0x27, 0x00, 0x03, 0x28);
  PEER_SEND(0x09, 7, 0x24, 0x00, 0x1a, 0x25, 0x00, 0x01, 0x2a);
  EXPECT_REQ(0x08, 0x25, 0x00, 0x27, 0x00, 0x03, 0x28);
  peer_error(0x08, 0x0025, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  done = wait_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, done + 1, 200);
  REQUIRE(done > 0);
  CHECK_EQ(evs[done - 1].type, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT);
  CHECK_EQ(evs[done - 1].d.characteristic.end_handle, 0x27);
  peer_down();
}

TEST(characteristic_held_back_is_reported_on_att_error_end) {
  /* MicroPython reports the held-back result whatever error ends it. */
  peer_up();
  REQUIRE_EQ(uvble_gattc_discover_characteristics(ble, CONN, 1, 0x10, NULL), 0);
  EXPECT_REQ(0x08, 0x01, 0x00, 0x10, 0x00, 0x03, 0x28);
  PEER_SEND(0x09, 7, 0x02, 0x00, 0x02, 0x03, 0x00, 0x00, 0x2a);
  EXPECT_REQ(0x08, 0x03, 0x00, 0x10, 0x00, 0x03, 0x28);
  peer_error(0x08, 0x0003, UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION);
  int done = wait_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, 0, 200);
  REQUIRE_EQ(done, 1);
  CHECK_EQ(evs[0].d.characteristic.end_handle, 0x10);
  CHECK_EQ(evs[done].d.done.status, UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION);
  peer_down();
}

TEST(descriptors_cover_start_exclusive_end_inclusive) {
  peer_up();
  REQUIRE_EQ(uvble_gattc_discover_descriptors(ble, CONN, 0x22, 0x26), 0);
  EXPECT_REQ(0x04, 0x23, 0x00, 0x26, 0x00);
  PEER_SEND(0x05, 1, 0x23, 0x00, 0x02, 0x29, 0x24, 0x00, 0x01, 0x29);
  EXPECT_REQ(0x04, 0x25, 0x00, 0x26, 0x00);
  uint8_t p[2 + 18] = {0x05, 2, 0x25, 0x00};
  memcpy(p + 4, UUID128, 16);
  peer_send(p, sizeof p);
  EXPECT_REQ(0x04, 0x26, 0x00, 0x26, 0x00);
  peer_error(0x04, 0x0026, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  int done = wait_ev(UVBLE_IRQ_GATTC_DESCRIPTOR_DONE, 0, 200);
  REQUIRE_EQ(done, 3);
  CHECK_EQ(evs[done].d.done.status, 0);
  CHECK_EQ(evs[0].d.descriptor.conn_handle, CONN);
  CHECK_EQ(evs[0].d.descriptor.dsc_handle, 0x23);
  CHECK(uvble_uuid_equal(&evs[0].d.descriptor.uuid,
                         &(uvble_uuid_t){16, {0x02, 0x29}}));
  CHECK_EQ(evs[1].d.descriptor.dsc_handle, 0x24);
  CHECK_EQ(evs[2].d.descriptor.dsc_handle, 0x25);
  CHECK_EQ(evs[2].d.descriptor.uuid.type, 128);
  CHECK_MEM(evs[2].d.descriptor.uuid.data, UUID128, 16);
  peer_down();
}

TEST(descriptors_of_a_characteristic_without_any_complete_empty) {
  /* aioble asks for (value_handle, end_handle) with both equal when a
   * characteristic has no descriptors: DONE 0, no request, not inside the
   * call. */
  peer_up();
  REQUIRE_EQ(uvble_gattc_discover_descriptors(ble, CONN, 0x25, 0x25), 0);
  CHECK_EQ(nev, 0);
  int done = wait_ev(UVBLE_IRQ_GATTC_DESCRIPTOR_DONE, 0, 200);
  REQUIRE_EQ(done, 0);
  CHECK_EQ(evs[done].d.done.status, 0);
  CHECK(peer_quiet(10));
  /* The discovery slot is free again. */
  REQUIRE_EQ(uvble_gattc_discover_descriptors(ble, CONN, 0xffff, 0xffff), 0);
  CHECK_EQ(wait_ev(UVBLE_IRQ_GATTC_DESCRIPTOR_DONE, 1, 200), 1);
  CHECK(peer_quiet(10));
  peer_down();
}

TEST(one_discovery_at_a_time_next_one_from_done_handler) {
  peer_up();
  REQUIRE_EQ(uvble_gattc_discover_services(ble, CONN, NULL), 0);
  CHECK_EQ(uvble_gattc_discover_characteristics(ble, CONN, 1, 5, NULL),
           UVBLE_EBUSY);
  CHECK_EQ(uvble_gattc_discover_descriptors(ble, CONN, 1, 5), UVBLE_EBUSY);
  CHECK_EQ(uvble_gattc_discover_services(ble, CONN, NULL), UVBLE_EBUSY);
  EXPECT_REQ(0x10, 0x01, 0x00, 0xff, 0xff, 0x00, 0x28);
  PEER_SEND(0x11, 6, 0x01, 0x00, 0xff, 0xff, 0x0d, 0x18);
  int done = wait_ev(UVBLE_IRQ_GATTC_SERVICE_DONE, 0, 200);
  REQUIRE(done >= 0);
  /* Done: a new discovery is accepted (ble_irq_calls chains them). */
  CHECK_EQ(uvble_gattc_discover_characteristics(ble, CONN, 1, 0xffff, NULL), 0);
  EXPECT_REQ(0x08, 0x01, 0x00, 0xff, 0xff, 0x03, 0x28);
  peer_down();
}

static int chain_step;
static int chain_hook(int ev, const uvble_irq_data_t *d) {
  (void)d;
  if (ev == UVBLE_IRQ_GATTC_SERVICE_DONE)
    chain_step = uvble_gattc_discover_characteristics(ble, CONN, 1, 5, NULL);
  if (ev == UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE)
    chain_step = uvble_gattc_discover_descriptors(ble, CONN, 1, 5) - 100;
  return 0;
}

TEST(discoveries_chained_from_inside_the_irq) {
  peer_up();
  irq_hook = chain_hook;
  chain_step = -1;
  REQUIRE_EQ(uvble_gattc_discover_services(ble, CONN, NULL), 0);
  EXPECT_REQ(0x10, 0x01, 0x00, 0xff, 0xff, 0x00, 0x28);
  PEER_SEND(0x11, 6, 0x01, 0x00, 0x05, 0x00, 0x0d, 0x18);
  EXPECT_REQ(0x10, 0x06, 0x00, 0xff, 0xff, 0x00, 0x28);
  peer_error(0x10, 6, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  EXPECT_REQ(0x08, 0x01, 0x00, 0x05, 0x00, 0x03, 0x28);
  CHECK_EQ(chain_step, 0);
  PEER_SEND(0x09, 7, 0x02, 0x00, 0x12, 0x03, 0x00, 0x37, 0x2a);
  EXPECT_REQ(0x08, 0x03, 0x00, 0x05, 0x00, 0x03, 0x28);
  peer_error(0x08, 3, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  EXPECT_REQ(0x04, 0x02, 0x00, 0x05, 0x00);
  CHECK_EQ(chain_step, -100);
  PEER_SEND(0x05, 1, 0x02, 0x00, 0x03, 0x28, 0x03, 0x00, 0x37, 0x2a, 0x04,
            0x00, 0x02, 0x29, 0x05, 0x00, 0x01, 0x29);
  int done = wait_ev(UVBLE_IRQ_GATTC_DESCRIPTOR_DONE, 0, 200);
  REQUIRE(done > 0);
  /* Handle 5 was the range's end: no further request. */
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT), 4);
  CHECK(peer_quiet(10));
  peer_down();
}

TEST(bad_arguments_and_unknown_connections) {
  peer_up();
  CHECK_EQ(uvble_gattc_discover_services(ble, 0x099, NULL), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_gattc_discover_characteristics(ble, CONN, 0, 5, NULL),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gattc_discover_characteristics(ble, CONN, 6, 5, NULL),
           UVBLE_EINVAL);
  CHECK_EQ(uvble_gattc_discover_descriptors(ble, CONN, 6, 5), UVBLE_EINVAL);
  uvble_uuid_t bad = {0};
  CHECK_EQ(uvble_gattc_discover_services(ble, CONN, &bad), UVBLE_EINVAL);
  CHECK_EQ(uvble_gattc_read(ble, CONN, 0), UVBLE_EINVAL);
  CHECK_EQ(uvble_gattc_write(ble, CONN, 0, "x", 1, 1), UVBLE_EINVAL);
  CHECK_EQ(uvble_gattc_write(ble, CONN, 5, "x", 1, 2), UVBLE_EINVAL);
  CHECK_EQ(uvble_gattc_read(ble, 0x99, 5), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_gattc_exchange_mtu(ble, 0x99), UVBLE_ENOTCONN);
  CHECK(peer_quiet(10));
  CHECK_EQ(nev, 0);
  peer_down();
}

TEST_MAIN()
