/* SPDX-License-Identifier: Apache-2.0 */
/* MTU exchange from either side and values longer than the MTU both ways,
 * on btvirt: MicroPython's ble_mtu (central-initiated, min of both
 * preferences, notifications truncated to MTU-3) and ble_mtu_peripheral
 * (peripheral-initiated), then long reads (Read Blob) and long writes
 * (Prepare/Execute) between uvble's client and server. n[0] is the
 * peripheral (server), n[1] the central (client). */
#include "test_gatt_server_common.h"

static uvble_gatts_characteristic_t chr;
static uvble_gatts_service_t svc;

static uint16_t register_one(struct node *p) {
  chr = (uvble_gatts_characteristic_t){
      .uuid = uvble_uuid16(0xABCD),
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE |
               UVBLE_FLAG_WRITE_NO_RESPONSE | UVBLE_FLAG_NOTIFY};
  svc = (uvble_gatts_service_t){.uuid = uvble_uuid16(0xABCC),
                                .characteristics = &chr,
                                .num_characteristics = 1};
  uint16_t h;
  REQUIRE_EQ(uvble_gatts_register_services(p->ble, &svc, 1, &h, 1), 1);
  REQUIRE_EQ(uvble_gatts_set_buffer(p->ble, h, 500, false), 0);
  return h;
}

/* One pair: preferred MTUs, who starts the exchange, the agreed value. */
static void mtu_case(int periph_mtu, int central_mtu, bool from_central,
                     int want) {
  struct node n[2];
  nodes_up(n);
  struct node *p = &n[0], *c = &n[1];
  REQUIRE_EQ(uvble_config_set_int(p->ble, UVBLE_CONFIG_MTU, periph_mtu), 0);
  REQUIRE_EQ(uvble_config_set_int(c->ble, UVBLE_CONFIG_MTU, central_mtu), 0);
  uint16_t h = register_one(p);
  nodes_connect(n);
  if (from_central) {
    REQUIRE_EQ(uvble_gattc_exchange_mtu(c->ble, c->conn), 0);
    CHECK_EQ(uvble_gattc_exchange_mtu(c->ble, c->conn), UVBLE_EALREADY);
  } else {
    /* The peripheral's client side exchanges (gattc on the server's end). */
    REQUIRE_EQ(uvble_gattc_exchange_mtu(p->ble, p->conn), 0);
  }
  REQUIRE(wait_count(p, UVBLE_IRQ_MTU_EXCHANGED, 1));
  REQUIRE(wait_count(c, UVBLE_IRQ_MTU_EXCHANGED, 1));
  CHECK_EQ(last_of(p, UVBLE_IRQ_MTU_EXCHANGED)->d.mtu.mtu, want);
  CHECK_EQ(last_of(c, UVBLE_IRQ_MTU_EXCHANGED)->d.mtu.mtu, want);
  CHECK_EQ(last_of(p, UVBLE_IRQ_MTU_EXCHANGED)->d.mtu.conn_handle, p->conn);
  /* A 64-byte notification arrives cut to MTU-3 when the MTU is small. */
  uint8_t big[400];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)('a' + i % 26);
  REQUIRE_EQ(uvble_gatts_notify(p->ble, p->conn, h, big, 64), 0);
  REQUIRE(wait_count(c, UVBLE_IRQ_GATTC_NOTIFY, 1));
  size_t got = last_of(c, UVBLE_IRQ_GATTC_NOTIFY)->len;
  CHECK_EQ(got, want - 3 < 64 ? (size_t)(want - 3) : 64);
  /* A write without response of MTU-3 bytes fits in one PDU. */
  REQUIRE_EQ(uvble_gattc_write(c->ble, c->conn, h, big, (size_t)(want - 3),
                               UVBLE_GATTC_WRITE_NO_RESPONSE),
             0);
  REQUIRE(wait_count(p, UVBLE_IRQ_GATTS_WRITE, 1));
  uint8_t v[600];
  CHECK_EQ(s_value(p, h, v), (size_t)(want - 3));
  CHECK_EQ(uvble_gattc_write(c->ble, c->conn, h, big, (size_t)(want - 2),
                             UVBLE_GATTC_WRITE_NO_RESPONSE),
           UVBLE_EMSGSIZE);
  nodes_down(n);
}

TEST(central_initiated_exchange_takes_the_smaller_mtu) {
  mtu_case(256, 300, true, 256);
  mtu_case(200, 300, true, 200);
  mtu_case(400, 300, true, 300);
  mtu_case(50, 300, true, 50);
}

TEST(peripheral_initiated_exchange) {
  mtu_case(256, 300, false, 256);
  mtu_case(190, 300, false, 190);
  mtu_case(290, 300, false, 290);
}

TEST(values_longer_than_the_mtu_both_ways) {
  struct node n[2];
  nodes_up(n);
  struct node *p = &n[0], *c = &n[1];
  uint16_t h = register_one(p);
  nodes_connect(n);
  uint8_t big[300], v[600];
  size_t len;
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
  /* Server to client at MTU 23: Read, then Read Blob until the end. */
  REQUIRE_EQ(uvble_gatts_write(p->ble, h, big, sizeof big, false), 0);
  CHECK_EQ(c_read(c, h, v, &len), 0);
  CHECK_EQ(len, sizeof big);
  CHECK_MEM(v, big, sizeof big);
  CHECK_EQ(p->count[UVBLE_IRQ_GATTS_READ_REQUEST], 1 + 13); /* 22 + 13 blobs */
  /* Client to server: Prepare Write x17 then Execute; one GATTS_WRITE. */
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(255 - i);
  CHECK_EQ(c_write(c, h, big, sizeof big), 0);
  REQUIRE(wait_count(p, UVBLE_IRQ_GATTS_WRITE, 1));
  CHECK_EQ(p->count[UVBLE_IRQ_GATTS_WRITE], 1);
  CHECK_EQ(s_value(p, h, v), sizeof big);
  CHECK_MEM(v, big, sizeof big);
  /* The same after a larger MTU: fewer, bigger PDUs, same result. */
  REQUIRE_EQ(uvble_gattc_exchange_mtu(c->ble, c->conn), 0);
  REQUIRE(wait_count(c, UVBLE_IRQ_MTU_EXCHANGED, 1));
  CHECK_EQ(last_of(c, UVBLE_IRQ_MTU_EXCHANGED)->d.mtu.mtu, 256);
  CHECK_EQ(c_read(c, h, v, &len), 0);
  CHECK_EQ(len, sizeof big);
  CHECK_MEM(v, big, sizeof big);
  /* A remote write longer than the buffer is truncated (MicroPython). */
  REQUIRE_EQ(uvble_gatts_set_buffer(p->ble, h, 100, false), 0);
  CHECK_EQ(c_write(c, h, big, sizeof big), 0);
  CHECK_EQ(s_value(p, h, v), 100);
  CHECK_MEM(v, big, 100);
  nodes_down(n);
}

TEST_MAIN()
