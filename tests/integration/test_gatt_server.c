/* SPDX-License-Identifier: Apache-2.0 */
/* The GATT server on btvirt, driven by uvble's GATT client on a second
 * controller: MicroPython's multi_bluetooth scenarios ble_characteristic,
 * ble_descriptor, ble_subscribe, ble_gatt_data_transfer and
 * ble_gap_device_name, plus discovery of everything, READ_REQUEST denial and
 * security-flagged attributes refused on an unencrypted link. n[0] is the
 * peripheral (server), n[1] the central (client). */
#include "test_gatt_server_common.h"

static uvble_uuid_t uuid(const char *s) {
  uvble_uuid_t u;
  uvble_uuid_parse(&u, s);
  return u;
}

#define SERVICE_UUID "A5A5A5A5-FFFF-9999-1111-5A5A5A5A5A5A"
#define CHAR_UUID "00000000-1111-2222-3333-444444444444"
#define DESC_UUID "00000000-1111-2222-3333-555555555555"

static uvble_gatts_descriptor_t desc;
static uvble_gatts_characteristic_t chars[3];
static uvble_gatts_service_t service;
/* Value handles: the characteristic, its descriptor, an encrypted one, a
 * notify-only one. */
static uint16_t H[4];

static void register_service(struct node *p) {
  desc = (uvble_gatts_descriptor_t){
      .uuid = uuid(DESC_UUID), .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE};
  chars[0] = (uvble_gatts_characteristic_t){
      .uuid = uuid(CHAR_UUID),
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE |
               UVBLE_FLAG_WRITE_NO_RESPONSE | UVBLE_FLAG_NOTIFY |
               UVBLE_FLAG_INDICATE,
      .descriptors = &desc,
      .num_descriptors = 1};
  chars[1] = (uvble_gatts_characteristic_t){
      .uuid = uvble_uuid16(0xBEE1),
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_READ_ENCRYPTED | UVBLE_FLAG_WRITE |
               UVBLE_FLAG_WRITE_ENCRYPTED};
  chars[2] = (uvble_gatts_characteristic_t){.uuid = uvble_uuid16(0xBEE2),
                                            .flags = UVBLE_FLAG_NOTIFY};
  service = (uvble_gatts_service_t){.uuid = uuid(SERVICE_UUID),
                                    .characteristics = chars,
                                    .num_characteristics = 3};
  REQUIRE_EQ(uvble_gatts_register_services(p->ble, &service, 1, H, 4), 4);
}

/* Discovery from the client: the service by UUID, then its characteristic
 * by UUID; returns the value handle the client found. */
static uint16_t discover(struct node *c, uint16_t *end) {
  uvble_uuid_t su = uuid(SERVICE_UUID), cu = uuid(CHAR_UUID);
  REQUIRE_EQ(uvble_gattc_discover_services(c->ble, c->conn, &su), 0);
  REQUIRE(wait_count(c, UVBLE_IRQ_GATTC_SERVICE_DONE, 1));
  CHECK_EQ(last_of(c, UVBLE_IRQ_GATTC_SERVICE_DONE)->d.done.status, 0);
  REQUIRE_EQ(c->count[UVBLE_IRQ_GATTC_SERVICE_RESULT], 1);
  const struct gev *s = last_of(c, UVBLE_IRQ_GATTC_SERVICE_RESULT);
  CHECK(uvble_uuid_equal(&s->d.service.uuid, &su));
  *end = s->d.service.end_handle;
  REQUIRE_EQ(uvble_gattc_discover_characteristics(c->ble, c->conn,
                                                  s->d.service.start_handle,
                                                  *end, &cu),
             0);
  REQUIRE(wait_count(c, UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, 1));
  REQUIRE_EQ(c->count[UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT], 1);
  const struct gev *ch = last_of(c, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT);
  CHECK_EQ(ch->d.characteristic.properties, 0x02 | 0x04 | 0x08 | 0x10 | 0x20);
  return ch->d.characteristic.value_handle;
}

TEST(characteristic_read_write_notify_indicate) {
  /* ble_characteristic: no CCCD subscription involved. */
  struct node n[2];
  nodes_up(n);
  struct node *p = &n[0], *c = &n[1];
  register_service(p);
  REQUIRE_EQ(uvble_gatts_write(p->ble, H[0], "periph0", 7, false), 0);
  nodes_connect(n);
  uint16_t end;
  uint16_t vh = discover(c, &end);
  CHECK_EQ(vh, H[0]);
  uint8_t v[600];
  size_t len;
  CHECK_EQ(c_read(c, vh, v, &len), 0);
  CHECK_EQ(len, 7);
  CHECK_MEM(v, "periph0", 7);
  CHECK_EQ(p->count[UVBLE_IRQ_GATTS_READ_REQUEST], 1);
  /* Write with response, then without. */
  CHECK_EQ(c_write(c, vh, "central0", 8), 0);
  REQUIRE(wait_count(p, UVBLE_IRQ_GATTS_WRITE, 1));
  CHECK_EQ(last_of(p, UVBLE_IRQ_GATTS_WRITE)->d.gatts.attr_handle, H[0]);
  CHECK_EQ(last_of(p, UVBLE_IRQ_GATTS_WRITE)->d.gatts.conn_handle, p->conn);
  CHECK_EQ(s_value(p, H[0], v), 8);
  CHECK_MEM(v, "central0", 8);
  REQUIRE_EQ(uvble_gattc_write(c->ble, c->conn, vh, "central1", 8,
                               UVBLE_GATTC_WRITE_NO_RESPONSE),
             0);
  REQUIRE(wait_count(p, UVBLE_IRQ_GATTS_WRITE, 2));
  CHECK_EQ(s_value(p, H[0], v), 8);
  CHECK_MEM(v, "central1", 8);
  /* Notify the stored value, then an explicit one (the store keeps its
   * value). */
  REQUIRE_EQ(uvble_gatts_write(p->ble, H[0], "periph1", 7, false), 0);
  REQUIRE_EQ(uvble_gatts_notify(p->ble, p->conn, H[0], NULL, 0), 0);
  REQUIRE(wait_count(c, UVBLE_IRQ_GATTC_NOTIFY, 1));
  const struct gev *e = last_of(c, UVBLE_IRQ_GATTC_NOTIFY);
  CHECK_EQ(e->d.gattc_data.value_handle, vh);
  CHECK_EQ(e->len, 7);
  CHECK_MEM(e->data, "periph1", 7);
  REQUIRE_EQ(uvble_gatts_notify(p->ble, p->conn, H[0], "periph2", 7), 0);
  REQUIRE(wait_count(c, UVBLE_IRQ_GATTC_NOTIFY, 2));
  CHECK_MEM(last_of(c, UVBLE_IRQ_GATTC_NOTIFY)->data, "periph2", 7);
  CHECK_EQ(c_read(c, vh, v, &len), 0);
  CHECK_EQ(len, 7);
  CHECK_MEM(v, "periph1", 7);
  /* Indicate: the client confirms, the server hears INDICATE_DONE 0. */
  REQUIRE_EQ(uvble_gatts_indicate(p->ble, p->conn, H[0], "periph3", 7), 0);
  REQUIRE(wait_count(c, UVBLE_IRQ_GATTC_INDICATE, 1));
  CHECK_MEM(last_of(c, UVBLE_IRQ_GATTC_INDICATE)->data, "periph3", 7);
  REQUIRE(wait_count(p, UVBLE_IRQ_GATTS_INDICATE_DONE, 1));
  e = last_of(p, UVBLE_IRQ_GATTS_INDICATE_DONE);
  CHECK_EQ(e->d.gatt_status.status, 0);
  CHECK_EQ(e->d.gatt_status.value_handle, H[0]);
  /* Disconnect. */
  CHECK_EQ(uvble_gap_disconnect(c->ble, c->conn), 1);
  REQUIRE(wait_count(p, UVBLE_IRQ_CENTRAL_DISCONNECT, 1));
  nodes_down(n);
}

TEST(descriptor_discovery_read_and_write) {
  /* ble_descriptor. */
  struct node n[2];
  nodes_up(n);
  struct node *p = &n[0], *c = &n[1];
  register_service(p);
  REQUIRE_EQ(uvble_gatts_write(p->ble, H[1], "desc_periph0", 12, false), 0);
  nodes_connect(n);
  uint16_t end;
  uint16_t vh = discover(c, &end);
  /* (value, end]: the CCCD and the descriptor, up to the next
   * characteristic's declaration. */
  REQUIRE_EQ(uvble_gattc_discover_descriptors(c->ble, c->conn, vh,
                                              (uint16_t)(vh + 2)),
             0);
  REQUIRE(wait_count(c, UVBLE_IRQ_GATTC_DESCRIPTOR_DONE, 1));
  REQUIRE_EQ(c->count[UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT], 2);
  uvble_uuid_t cccd = uvble_uuid16(0x2902), du = uuid(DESC_UUID);
  int found = 0;
  for (int i = 0; i < c->nev; i++) {
    if (c->ev[i].type != UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT) continue;
    const uvble_evt_descriptor_result_t *d = &c->ev[i].d.descriptor;
    if (d->dsc_handle == vh + 1) found += uvble_uuid_equal(&d->uuid, &cccd);
    if (d->dsc_handle == H[1]) found += uvble_uuid_equal(&d->uuid, &du);
  }
  CHECK_EQ(found, 2);
  uint8_t v[600];
  size_t len;
  CHECK_EQ(c_read(c, H[1], v, &len), 0);
  CHECK_EQ(len, 12);
  CHECK_MEM(v, "desc_periph0", 12);
  CHECK_EQ(c_write(c, H[1], "desc_central0", 13), 0);
  REQUIRE(wait_count(p, UVBLE_IRQ_GATTS_WRITE, 1));
  CHECK_EQ(last_of(p, UVBLE_IRQ_GATTS_WRITE)->d.gatts.attr_handle, H[1]);
  CHECK_EQ(s_value(p, H[1], v), 13);
  CHECK_MEM(v, "desc_central0", 13);
  REQUIRE_EQ(uvble_gattc_write(c->ble, c->conn, H[1], "desc_central1", 13,
                               UVBLE_GATTC_WRITE_NO_RESPONSE),
             0);
  REQUIRE(wait_count(p, UVBLE_IRQ_GATTS_WRITE, 2));
  CHECK_EQ(s_value(p, H[1], v), 13);
  CHECK_MEM(v, "desc_central1", 13);
  nodes_down(n);
}

/* Notifications and indications the client has heard. */
static int values_heard(const struct node *c) {
  int k = 0;
  for (int i = 0; i < c->nev; i++)
    k += c->ev[i].type == UVBLE_IRQ_GATTC_NOTIFY ||
         c->ev[i].type == UVBLE_IRQ_GATTC_INDICATE;
  return k;
}

TEST(subscribe_through_the_cccd_then_send_update) {
  /* ble_subscribe: i1 sees only periph2 (forced), periph5 (notify
   * subscribed), periph7 (indicate subscribed) and periph10 (forced). */
  struct node n[2];
  nodes_up(n);
  struct node *p = &n[0], *c = &n[1];
  register_service(p);
  nodes_connect(n);
  uint16_t cccd = (uint16_t)(H[0] + 1);
  static const char *vals[] = {"periph0", "periph1", "periph2", "periph3",
                               "periph4", "periph5", "periph6", "periph7",
                               "periph8", "periph9", "periph10"};
  for (int i = 0; i <= 10; i++) {
    if (i == 2 || i == 10) {
      REQUIRE_EQ(uvble_gatts_write(p->ble, H[0], vals[i], strlen(vals[i]),
                                   false),
                 0);
      REQUIRE_EQ(uvble_gatts_notify(p->ble, p->conn, H[0], NULL, 0), 0);
    } else {
      REQUIRE_EQ(uvble_gatts_write(p->ble, H[0], vals[i], strlen(vals[i]),
                                   true),
                 0);
    }
    /* time must pass: the value reaches the client across btvirt before
     * the next subscription change (no event for "not notified") */
    run_for(&loop, 30);
    if (i == 3) CHECK_EQ(c_write(c, cccd, "\x01\x00", 2), 0);
    if (i == 5) CHECK_EQ(c_write(c, cccd, "\x02\x00", 2), 0);
    if (i == 7) CHECK_EQ(c_write(c, cccd, "\x00\x00", 2), 0);
  }
  /* The last value (periph10) is the sixth the client hears. */
  RUN_UNTIL(&loop, values_heard(c) >= 6, 5000);
  /* periph4/5 notified (subscribed after periph3), periph6/7 indicated. */
  const char *want[] = {"periph2", "periph4", "periph5", "periph6",
                        "periph7", "periph10"};
  int k = 0;
  for (int i = 0; i < c->nev; i++) {
    int t = c->ev[i].type;
    if (t != UVBLE_IRQ_GATTC_NOTIFY && t != UVBLE_IRQ_GATTC_INDICATE) continue;
    REQUIRE(k < 6);
    CHECK_EQ(c->ev[i].len, strlen(want[k]));
    CHECK_MEM(c->ev[i].data, want[k], strlen(want[k]));
    CHECK_EQ(t, k == 3 || k == 4 ? UVBLE_IRQ_GATTC_INDICATE
                                 : UVBLE_IRQ_GATTC_NOTIFY);
    k++;
  }
  CHECK_EQ(k, 6);
  CHECK_EQ(p->count[UVBLE_IRQ_GATTS_INDICATE_DONE], 2);
  CHECK_EQ(p->count[UVBLE_IRQ_GATTS_WRITE], 0); /* CCCD writes are silent */
  nodes_down(n);
}

TEST(append_buffer_data_transfer) {
  /* ble_gatt_data_transfer: 4 writes on a 100-byte append buffer. */
  struct node n[2];
  nodes_up(n);
  struct node *p = &n[0], *c = &n[1];
  register_service(p);
  REQUIRE_EQ(uvble_gatts_set_buffer(p->ble, H[0], 100, true), 0);
  nodes_connect(n);
  for (int i = 0; i < 4; i++) {
    char w[9];
    snprintf(w, sizeof w, "central%d", i);
    if (i % 2) {
      CHECK_EQ(c_write(c, H[0], w, 8), 0);
    } else {
      REQUIRE_EQ(uvble_gattc_write(c->ble, c->conn, H[0], w, 8,
                                   UVBLE_GATTC_WRITE_NO_RESPONSE),
                 0);
    }
    REQUIRE(wait_count(p, UVBLE_IRQ_GATTS_WRITE, i + 1));
  }
  uint8_t v[600];
  CHECK_EQ(s_value(p, H[0], v), 32);
  CHECK_MEM(v, "central0central1central2central3", 32);
  CHECK_EQ(s_value(p, H[0], v), 0); /* read clears */
  /* The server notifies a notify-only characteristic. */
  for (int i = 0; i < 4; i++) {
    char m[9];
    snprintf(m, sizeof m, "message%d", i);
    REQUIRE_EQ(uvble_gatts_notify(p->ble, p->conn, H[3], m, 8), 0);
  }
  REQUIRE(wait_count(c, UVBLE_IRQ_GATTC_NOTIFY, 4));
  CHECK_MEM(last_of(c, UVBLE_IRQ_GATTC_NOTIFY)->data, "message3", 8);
  nodes_down(n);
}

TEST(device_name_and_discovery_of_everything) {
  /* ble_gap_device_name. */
  struct node n[2];
  nodes_up(n);
  struct node *p = &n[0], *c = &n[1];
  REQUIRE_EQ(uvble_config_set_name(p->ble, "GAP_NAME0", 9), 0);
  register_service(p);
  nodes_connect(n);
  REQUIRE_EQ(uvble_gattc_discover_services(c->ble, c->conn, NULL), 0);
  REQUIRE(wait_count(c, UVBLE_IRQ_GATTC_SERVICE_DONE, 1));
  REQUIRE_EQ(c->count[UVBLE_IRQ_GATTC_SERVICE_RESULT], 3);
  uvble_uuid_t want[3] = {uvble_uuid16(0x1800), uvble_uuid16(0x1801),
                          uuid(SERVICE_UUID)};
  int k = 0;
  for (int i = 0; i < c->nev; i++)
    if (c->ev[i].type == UVBLE_IRQ_GATTC_SERVICE_RESULT)
      CHECK(uvble_uuid_equal(&c->ev[i].d.service.uuid, &want[k++]));
  uvble_uuid_t name = uvble_uuid16(0x2A00);
  REQUIRE_EQ(uvble_gattc_discover_characteristics(c->ble, c->conn, 1, 0xffff,
                                                  &name),
             0);
  REQUIRE(wait_count(c, UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, 1));
  REQUIRE_EQ(c->count[UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT], 1);
  uint16_t vh =
      last_of(c, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT)->d.characteristic
          .value_handle;
  CHECK_EQ(vh, UVBLE_GATTS_DEVICE_NAME_HANDLE);
  uint8_t v[600];
  size_t len;
  CHECK_EQ(c_read(c, vh, v, &len), 0);
  CHECK_EQ(len, 9);
  CHECK_MEM(v, "GAP_NAME0", 9);
  /* A name change shows at once; the name is not writable by default. */
  REQUIRE_EQ(uvble_config_set_name(p->ble, "GAP_NAME1", 9), 0);
  CHECK_EQ(c_read(c, vh, v, &len), 0);
  CHECK_MEM(v, "GAP_NAME1", 9);
  CHECK_EQ(c_write(c, vh, "x", 1), UVBLE_ATT_ERR_WRITE_NOT_PERMITTED);
  nodes_down(n);
}

TEST(read_request_denial_and_security_flags) {
  struct node n[2];
  nodes_up(n);
  struct node *p = &n[0], *c = &n[1];
  register_service(p);
  nodes_connect(n);
  uint8_t v[600];
  size_t len;
  p->read_answer = 0x80;
  CHECK_EQ(c_read(c, H[0], v, &len), 0x80);
  CHECK_EQ(len, 0);
  CHECK_EQ(c->count[UVBLE_IRQ_GATTC_READ_RESULT], 0);
  p->read_answer = 0;
  CHECK_EQ(c_read(c, H[0], v, &len), 0);
  /* Encrypted attributes on an unencrypted link. */
  CHECK_EQ(c_read(c, H[2], v, &len), UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION);
  CHECK_EQ(c_write(c, H[2], "x", 1), UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION);
  /* Not readable at all. */
  CHECK_EQ(c_read(c, H[3], v, &len), UVBLE_ATT_ERR_READ_NOT_PERMITTED);
  CHECK_EQ(c_write(c, H[3], "x", 1), UVBLE_ATT_ERR_WRITE_NOT_PERMITTED);
  CHECK_EQ(c_read(c, 0x0fff, v, &len), UVBLE_ATT_ERR_INVALID_HANDLE);
  CHECK_EQ(p->count[UVBLE_IRQ_GATTS_WRITE], 0);
  nodes_down(n);
}

/* A UART-bridge echo: the server answers each write from inside the
 * GATTS_WRITE handler with a notification of what it read (API calls from
 * the irq, as MicroPython apps make them); nothing is lost or reordered. */
static void echo_hook(struct node *n, int ev, const uvble_irq_data_t *d) {
  if (ev != UVBLE_IRQ_GATTS_WRITE) return;
  uint8_t v[600];
  size_t len;
  REQUIRE_EQ(uvble_gatts_read(n->ble, d->gatts.attr_handle, v, sizeof v, &len),
             0);
  REQUIRE_EQ(uvble_gatts_notify(n->ble, d->gatts.conn_handle, H[3], v, len),
             0);
}

TEST(echo_from_inside_the_write_handler) {
  struct node n[2];
  nodes_up(n);
  struct node *p = &n[0], *c = &n[1];
  register_service(p);
  REQUIRE_EQ(uvble_gatts_set_buffer(p->ble, H[0], 20, true), 0);
  p->hook = echo_hook;
  nodes_connect(n);
  enum { N = 50 };
  for (int i = 0; i < N; i++) {
    char w[16];
    int len = snprintf(w, sizeof w, "line %02d", i);
    int r;
    /* Write Command: retry while the link queue is full. */
    while ((r = uvble_gattc_write(c->ble, c->conn, H[0], w, (size_t)len,
                                  UVBLE_GATTC_WRITE_NO_RESPONSE)) ==
           UVBLE_ENOBUFS)
      run_until_idle(&loop, 5000); /* room again once packets complete */
    REQUIRE_EQ(r, 0);
  }
  REQUIRE(wait_count(c, UVBLE_IRQ_GATTC_NOTIFY, N));
  int k = 0;
  for (int i = 0; i < c->nev; i++) {
    if (c->ev[i].type != UVBLE_IRQ_GATTC_NOTIFY) continue;
    char w[16];
    int len = snprintf(w, sizeof w, "line %02d", k++);
    CHECK_EQ(c->ev[i].len, (size_t)len);
    CHECK_MEM(c->ev[i].data, w, (size_t)len);
  }
  CHECK_EQ(k, N);
  CHECK_EQ(p->count[UVBLE_IRQ_GATTS_WRITE], N);
  nodes_down(n);
}

TEST_MAIN()
