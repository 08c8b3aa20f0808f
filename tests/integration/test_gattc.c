/* SPDX-License-Identifier: Apache-2.0 */
/* GATT client against uvble's own GATT server on btvirt, mirroring
 * MicroPython's multi_bluetooth scenarios: ble_gattc_discover_services,
 * ble_characteristic, ble_descriptor, ble_irq_calls, ble_gap_device_name,
 * plus what uvble does better than MicroPython: values longer than the MTU
 * read with Read Blob and written with Prepare/Execute Write. */
#include "test_gap_common.h"
#include "uvble/gattc.h"
#include "uvble/gatts.h"

/* ---- a log of GATT events per host ----------------------------------------- */
struct gev {
  int type;
  uvble_irq_data_t d;
  uint8_t data[600];
  size_t len;
};
#define GLOG_MAX 128
struct glog {
  struct gev ev[GLOG_MAX];
  int n;
  int (*chain)(struct host *h, int ev, const uvble_irq_data_t *d);
};
static struct host hosts[2];
static struct glog glogs[2];

static struct glog *glog_of(struct host *h) { return &glogs[h - hosts]; }

static void record(struct host *h, int ev, const uvble_irq_data_t *d) {
  struct glog *g = glog_of(h);
  if (ev == UVBLE_IRQ_SCAN_RESULT || g->n >= GLOG_MAX) return;
  struct gev *e = &g->ev[g->n++];
  e->type = ev;
  e->d = *d;
  e->len = 0;
  if (ev == UVBLE_IRQ_GATTC_READ_RESULT || ev == UVBLE_IRQ_GATTC_NOTIFY ||
      ev == UVBLE_IRQ_GATTC_INDICATE) {
    e->len = d->gattc_data.data_len < sizeof e->data ? d->gattc_data.data_len
                                                     : sizeof e->data;
    memcpy(e->data, d->gattc_data.data, e->len);
    e->d.gattc_data.data = NULL;
  }
  if (g->chain) g->chain(h, ev, d);
}

/* The first event of type in h's log at or after *from; advances *from past
 * it. Waits for it up to 3 s. */
struct gwait {
  struct glog *g;
  int type, from;
};
static bool gwait_pred(void *arg) {
  struct gwait *w = arg;
  for (int i = w->from; i < w->g->n; i++)
    if (w->g->ev[i].type == w->type) return true;
  return false;
}
static struct gev *next_ev(struct host *h, int type, int *from) {
  struct gwait w = {glog_of(h), type, *from};
  run_until_pred(&loop, gwait_pred, &w, 3000);
  for (int i = *from; i < w.g->n; i++)
    if (w.g->ev[i].type == type) {
      *from = i + 1;
      return &w.g->ev[i];
    }
  return NULL;
}
static int gcount(struct host *h, int type) {
  int n = 0;
  for (int i = 0; i < glog_of(h)->n; i++) n += glog_of(h)->ev[i].type == type;
  return n;
}

/* ---- the peripheral's database ---------------------------------------------- */
static uvble_uuid_t uuid128(const char *s) {
  uvble_uuid_t u;
  REQUIRE_EQ(uvble_uuid_parse(&u, s), 0);
  return u;
}
#define SERVICE_UUID "a5a5a5a5-ffff-9999-1111-5a5a5a5a5a5a"
#define CHAR_UUID "a5a5a5a5-eeee-9999-1111-5a5a5a5a5a5a"
#define DESC_UUID "a5a5a5a5-5555-9999-1111-5a5a5a5a5a5a"

/* Service 0x180d with one characteristic, then the 128-bit service with a
 * read/write/notify/indicate characteristic that has a user descriptor and
 * a plain read/write characteristic for long values. */
struct db {
  uint16_t hr_value, value, desc, long_value;
};

static void register_db(struct host *p, struct db *db) {
  static uvble_gatts_characteristic_t hr_chars[1];
  static uvble_gatts_descriptor_t descs[1];
  static uvble_gatts_characteristic_t chars[2];
  static uvble_gatts_service_t svcs[2];
  hr_chars[0] = (uvble_gatts_characteristic_t){
      .uuid = uvble_uuid16(0x2a37), .flags = UVBLE_FLAG_READ};
  descs[0] = (uvble_gatts_descriptor_t){
      .uuid = uuid128(DESC_UUID), .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE};
  chars[0] = (uvble_gatts_characteristic_t){
      .uuid = uuid128(CHAR_UUID),
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE |
               UVBLE_FLAG_WRITE_NO_RESPONSE | UVBLE_FLAG_NOTIFY |
               UVBLE_FLAG_INDICATE,
      .descriptors = descs,
      .num_descriptors = 1};
  chars[1] = (uvble_gatts_characteristic_t){
      .uuid = uvble_uuid16(0x2a3d), .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE};
  svcs[0] = (uvble_gatts_service_t){uvble_uuid16(0x180d), hr_chars, 1};
  svcs[1] = (uvble_gatts_service_t){uuid128(SERVICE_UUID), chars, 2};
  uint16_t h[4];
  REQUIRE_EQ(uvble_gatts_register_services(p->ble, svcs, 2, h, 4), 4);
  db->hr_value = h[0];
  db->value = h[1];
  db->desc = h[2];
  db->long_value = h[3];
}

static const uint8_t ADV[] = {0x02, 0x01, 0x06};

/* hosts[0] is the peripheral, hosts[1] the central; returns the central's
 * connection handle. */
static uint16_t setup(struct db *db) {
  uv_loop_init(&loop);
  memset(glogs, 0, sizeof glogs);
  hosts_up(hosts, 2);
  struct host *p = &hosts[0], *c = &hosts[1];
  p->hook = record;
  c->hook = record;
  register_db(p, db);
  REQUIRE_EQ(uvble_gap_advertise(p->ble, 20000, ADV, sizeof ADV, NULL, 0, true),
             0);
  run_until_idle(&loop, 5000); /* advertising is on at the controller */
  REQUIRE_EQ(uvble_gap_connect(c->ble, &p->addr, 0, 0, 0), 0);
  REQUIRE(wait_event(c, UVBLE_IRQ_PERIPHERAL_CONNECT, 1, 3000));
  REQUIRE(wait_event(p, UVBLE_IRQ_CENTRAL_CONNECT, 1, 3000));
  return c->connect[UVBLE_IRQ_PERIPHERAL_CONNECT].conn_handle;
}

static void teardown(void) {
  hosts_down(hosts, 2);
  loop_teardown(&loop);
}

static bool uuid_is(const uvble_uuid_t *u, const char *s) {
  uvble_uuid_t w = uuid128(s);
  return uvble_uuid_equal(u, &w);
}

/* ---- ble_gattc_discover_services ---------------------------------------------- */
TEST(discover_all_services_and_by_uuid) {
  struct db db;
  uint16_t conn = setup(&db);
  struct host *c = &hosts[1];
  REQUIRE_EQ(uvble_gattc_discover_services(c->ble, conn, NULL), 0);
  int at = 0;
  struct gev *done = next_ev(c, UVBLE_IRQ_GATTC_SERVICE_DONE, &at);
  REQUIRE(done);
  CHECK_EQ(done->d.done.status, 0);
  CHECK_EQ(done->d.done.conn_handle, conn);
  /* GAP, GATT, then ours: 0x180d and the 128-bit one. */
  REQUIRE_EQ(gcount(c, UVBLE_IRQ_GATTC_SERVICE_RESULT), 4);
  at = 0;
  uvble_uuid_t want[4] = {uvble_uuid16(0x1800), uvble_uuid16(0x1801),
                          uvble_uuid16(0x180d), uuid128(SERVICE_UUID)};
  uint16_t prev_end = 0;
  for (int i = 0; i < 4; i++) {
    struct gev *e = next_ev(c, UVBLE_IRQ_GATTC_SERVICE_RESULT, &at);
    REQUIRE(e);
    CHECK(uvble_uuid_equal(&e->d.service.uuid, &want[i]));
    CHECK(e->d.service.start_handle > prev_end);
    CHECK(e->d.service.end_handle >= e->d.service.start_handle);
    prev_end = e->d.service.end_handle;
  }
  CHECK_EQ(prev_end, db.long_value); /* the last attribute */
  /* By UUID: only that one. */
  int before = gcount(c, UVBLE_IRQ_GATTC_SERVICE_RESULT);
  uvble_uuid_t s = uuid128(SERVICE_UUID);
  REQUIRE_EQ(uvble_gattc_discover_services(c->ble, conn, &s), 0);
  at = 0;
  next_ev(c, UVBLE_IRQ_GATTC_SERVICE_DONE, &at);
  done = next_ev(c, UVBLE_IRQ_GATTC_SERVICE_DONE, &at);
  REQUIRE(done);
  CHECK_EQ(done->d.done.status, 0);
  CHECK_EQ(gcount(c, UVBLE_IRQ_GATTC_SERVICE_RESULT), before + 1);
  teardown();
}

/* ---- ble_characteristic ------------------------------------------------------- */
TEST(characteristic_read_write_notify_indicate) {
  struct db db;
  uint16_t conn = setup(&db);
  struct host *p = &hosts[0], *c = &hosts[1];
  REQUIRE_EQ(uvble_gatts_write(p->ble, db.value, "periph0", 7, false), 0);
  /* Find the characteristic by UUID over the whole database. */
  uvble_uuid_t cu = uuid128(CHAR_UUID);
  REQUIRE_EQ(
      uvble_gattc_discover_characteristics(c->ble, conn, 1, 0xffff, &cu), 0);
  int at = 0;
  struct gev *e = next_ev(c, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT, &at);
  REQUIRE(e);
  CHECK_EQ(e->d.characteristic.value_handle, db.value);
  CHECK_EQ(e->d.characteristic.properties, 0x02 | 0x04 | 0x08 | 0x10 | 0x20);
  /* It ends just before the next declaration: value, CCCD, descriptor. */
  CHECK_EQ(e->d.characteristic.end_handle, db.desc);
  struct gev *done = next_ev(c, UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, &at);
  REQUIRE(done);
  CHECK_EQ(done->d.done.status, 0);
  CHECK_EQ(gcount(c, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT), 1);

  /* Read. */
  REQUIRE_EQ(uvble_gattc_read(c->ble, conn, db.value), 0);
  e = next_ev(c, UVBLE_IRQ_GATTC_READ_RESULT, &at);
  REQUIRE(e);
  CHECK_EQ(e->len, 7);
  CHECK_MEM(e->data, "periph0", 7);
  done = next_ev(c, UVBLE_IRQ_GATTC_READ_DONE, &at);
  REQUIRE(done);
  CHECK_EQ(done->d.gatt_status.status, 0);
  CHECK_EQ(done->d.gatt_status.value_handle, db.value);
  int pat = 0;
  CHECK(next_ev(p, UVBLE_IRQ_GATTS_READ_REQUEST, &pat) != NULL);

  /* Write with response. */
  REQUIRE_EQ(uvble_gattc_write(c->ble, conn, db.value, "central0", 8, 1), 0);
  done = next_ev(c, UVBLE_IRQ_GATTC_WRITE_DONE, &at);
  REQUIRE(done);
  CHECK_EQ(done->d.gatt_status.status, 0);
  e = next_ev(p, UVBLE_IRQ_GATTS_WRITE, &pat);
  REQUIRE(e);
  CHECK_EQ(e->d.gatts.attr_handle, db.value);
  uint8_t buf[600];
  size_t n;
  REQUIRE_EQ(uvble_gatts_read(p->ble, db.value, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 8);
  CHECK_MEM(buf, "central0", 8);

  /* Write without response. */
  REQUIRE_EQ(uvble_gattc_write(c->ble, conn, db.value, "central1", 8, 0), 0);
  REQUIRE(next_ev(p, UVBLE_IRQ_GATTS_WRITE, &pat));
  REQUIRE_EQ(uvble_gatts_read(p->ble, db.value, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 8);
  CHECK_MEM(buf, "central1", 8);

  /* Notify the DB value, then an explicit payload; indicate. */
  uint16_t pconn = p->connect[UVBLE_IRQ_CENTRAL_CONNECT].conn_handle;
  REQUIRE_EQ(uvble_gatts_write(p->ble, db.value, "periph1", 7, false), 0);
  REQUIRE_EQ(uvble_gatts_notify(p->ble, pconn, db.value, NULL, 0), 0);
  e = next_ev(c, UVBLE_IRQ_GATTC_NOTIFY, &at);
  REQUIRE(e);
  CHECK_EQ(e->d.gattc_data.value_handle, db.value);
  CHECK_EQ(e->len, 7);
  CHECK_MEM(e->data, "periph1", 7);
  REQUIRE_EQ(uvble_gatts_notify(p->ble, pconn, db.value, "periph2", 7), 0);
  e = next_ev(c, UVBLE_IRQ_GATTC_NOTIFY, &at);
  REQUIRE(e);
  CHECK_MEM(e->data, "periph2", 7);
  REQUIRE_EQ(uvble_gatts_indicate(p->ble, pconn, db.value, "periph3", 7), 0);
  e = next_ev(c, UVBLE_IRQ_GATTC_INDICATE, &at);
  REQUIRE(e);
  CHECK_EQ(e->len, 7);
  CHECK_MEM(e->data, "periph3", 7);
  /* The client's stack confirmed it. */
  e = next_ev(p, UVBLE_IRQ_GATTS_INDICATE_DONE, &pat);
  REQUIRE(e);
  CHECK_EQ(e->d.gatt_status.status, 0);
  teardown();
}

/* ---- ble_descriptor -------------------------------------------------------------- */
TEST(descriptor_discovery_read_and_write) {
  struct db db;
  uint16_t conn = setup(&db);
  struct host *p = &hosts[0], *c = &hosts[1];
  /* MicroPython's (value_handle, end_handle]: CCCD, then ours. */
  REQUIRE_EQ(uvble_gattc_discover_descriptors(c->ble, conn, db.value, db.desc),
             0);
  int at = 0;
  struct gev *d1 = next_ev(c, UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT, &at);
  struct gev *d2 = next_ev(c, UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT, &at);
  struct gev *done = next_ev(c, UVBLE_IRQ_GATTC_DESCRIPTOR_DONE, &at);
  REQUIRE(d1 && d2 && done);
  CHECK_EQ(done->d.done.status, 0);
  CHECK_EQ(gcount(c, UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT), 2);
  uvble_uuid_t cccd = uvble_uuid16(0x2902);
  CHECK(uvble_uuid_equal(&d1->d.descriptor.uuid, &cccd));
  CHECK(uuid_is(&d2->d.descriptor.uuid, DESC_UUID));
  CHECK_EQ(d2->d.descriptor.dsc_handle, db.desc);

  REQUIRE_EQ(uvble_gatts_write(p->ble, db.desc, "desc_periph0", 12, false), 0);
  REQUIRE_EQ(uvble_gattc_read(c->ble, conn, db.desc), 0);
  struct gev *e = next_ev(c, UVBLE_IRQ_GATTC_READ_RESULT, &at);
  REQUIRE(e);
  CHECK_EQ(e->len, 12);
  CHECK_MEM(e->data, "desc_periph0", 12);
  REQUIRE_EQ(uvble_gattc_write(c->ble, conn, db.desc, "desc_central0", 13, 1),
             0);
  done = next_ev(c, UVBLE_IRQ_GATTC_WRITE_DONE, &at);
  REQUIRE(done);
  CHECK_EQ(done->d.gatt_status.status, 0);
  int pat = 0;
  e = next_ev(p, UVBLE_IRQ_GATTS_WRITE, &pat);
  REQUIRE(e);
  CHECK_EQ(e->d.gatts.attr_handle, db.desc);
  uint8_t buf[64];
  size_t n;
  REQUIRE_EQ(uvble_gatts_read(p->ble, db.desc, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, 13);
  CHECK_MEM(buf, "desc_central0", 13);
  teardown();
}

/* ---- ble_irq_calls ------------------------------------------------------------------ */
static struct {
  uint16_t conn, svc_start, svc_end, value, cccd;
  int reads_left;
  int bad_calls;
  bool done;
} irqc;

static int irq_chain(struct host *h, int ev, const uvble_irq_data_t *d) {
  uvble_t *b = h->ble;
  int r = 0;
  switch (ev) {
    case UVBLE_IRQ_GATTC_SERVICE_RESULT:
      irqc.svc_start = d->service.start_handle;
      irqc.svc_end = d->service.end_handle;
      break;
    case UVBLE_IRQ_GATTC_SERVICE_DONE:
      r = uvble_gattc_discover_characteristics(b, irqc.conn, irqc.svc_start,
                                               irqc.svc_end, NULL);
      break;
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT:
      if (uuid_is(&d->characteristic.uuid, CHAR_UUID))
        irqc.value = d->characteristic.value_handle;
      break;
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE:
      r = uvble_gattc_discover_descriptors(b, irqc.conn, irqc.svc_start,
                                           irqc.svc_end);
      break;
    case UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT: {
      uvble_uuid_t cccd = uvble_uuid16(0x2902);
      if (uvble_uuid_equal(&d->descriptor.uuid, &cccd) && !irqc.cccd)
        irqc.cccd = d->descriptor.dsc_handle;
      break;
    }
    case UVBLE_IRQ_GATTC_DESCRIPTOR_DONE:
      r = uvble_gattc_exchange_mtu(b, irqc.conn);
      break;
    case UVBLE_IRQ_MTU_EXCHANGED:
      r = uvble_gattc_write(b, irqc.conn, irqc.cccd, "\x01\x00", 2, 1);
      break;
    case UVBLE_IRQ_GATTC_WRITE_DONE:
      irqc.reads_left = 2;
      r = uvble_gattc_read(b, irqc.conn, irqc.value);
      break;
    case UVBLE_IRQ_GATTC_READ_DONE:
      if (--irqc.reads_left > 0) {
        r = uvble_gattc_read(b, irqc.conn, irqc.value);
      } else {
        irqc.done = true;
        r = uvble_gap_disconnect(b, irqc.conn) == 1 ? 0 : -1;
      }
      break;
    default:
      break;
  }
  if (r < 0) irqc.bad_calls++;
  return 0;
}

static bool irqc_done(void *arg) {
  (void)arg;
  return irqc.done && hosts[0].count[UVBLE_IRQ_CENTRAL_DISCONNECT] > 0;
}

TEST(calls_chained_from_inside_the_irq) {
  struct db db;
  memset(&irqc, 0, sizeof irqc);
  irqc.conn = setup(&db);
  struct host *p = &hosts[0], *c = &hosts[1];
  glog_of(c)->chain = irq_chain;
  uvble_uuid_t s = uuid128(SERVICE_UUID);
  REQUIRE_EQ(uvble_gattc_discover_services(c->ble, irqc.conn, &s), 0);
  CHECK(run_until_pred(&loop, irqc_done, NULL, 5000));
  CHECK_EQ(irqc.bad_calls, 0);
  CHECK_EQ(irqc.value, db.value);
  /* The service's range holds two characteristics (declaration, value,
   * CCCD, descriptor; declaration, value): every handle after its start. */
  CHECK_EQ(gcount(c, UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT), 6);
  CHECK_EQ(irqc.cccd, db.value + 1);
  /* Both sides heard the MTU exchange; the CCCD write succeeded. */
  CHECK_EQ(gcount(c, UVBLE_IRQ_MTU_EXCHANGED), 1);
  CHECK_EQ(gcount(p, UVBLE_IRQ_MTU_EXCHANGED), 1);
  int at = 0;
  struct gev *w = next_ev(c, UVBLE_IRQ_GATTC_WRITE_DONE, &at);
  REQUIRE(w);
  CHECK_EQ(w->d.gatt_status.status, 0);
  /* A CCCD write raises no GATTS_WRITE (MicroPython); two reads, each a
   * READ_REQUEST on the peripheral, each an empty value. */
  CHECK_EQ(gcount(p, UVBLE_IRQ_GATTS_WRITE), 0);
  CHECK_EQ(gcount(p, UVBLE_IRQ_GATTS_READ_REQUEST), 2);
  CHECK_EQ(gcount(c, UVBLE_IRQ_GATTC_READ_RESULT), 2);
  at = 0;
  struct gev *r = next_ev(c, UVBLE_IRQ_GATTC_READ_RESULT, &at);
  REQUIRE(r);
  CHECK_EQ(r->len, 0);
  teardown();
}

/* ---- ble_gap_device_name --------------------------------------------------------- */
TEST(read_the_peer_device_name) {
  struct db db;
  uvble_t *pb;
  uint16_t conn = setup(&db);
  struct host *c = &hosts[1];
  pb = hosts[0].ble;
  REQUIRE_EQ(uvble_config_set_name(pb, "GAP_NAME0", 9), 0);
  uvble_uuid_t name = uvble_uuid16(0x2a00);
  REQUIRE_EQ(
      uvble_gattc_discover_characteristics(c->ble, conn, 1, 0xffff, &name), 0);
  int at = 0;
  struct gev *e = next_ev(c, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT, &at);
  REQUIRE(e);
  uint16_t vh = e->d.characteristic.value_handle;
  CHECK_EQ(vh, UVBLE_GATTS_DEVICE_NAME_HANDLE);
  REQUIRE(next_ev(c, UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, &at));
  REQUIRE_EQ(uvble_gattc_read(c->ble, conn, vh), 0);
  e = next_ev(c, UVBLE_IRQ_GATTC_READ_RESULT, &at);
  REQUIRE(e);
  CHECK_EQ(e->len, 9);
  CHECK_MEM(e->data, "GAP_NAME0", 9);
  teardown();
}

/* ---- longer than the MTU, both ways (MicroPython truncates) ------------------------- */
static void long_round_trip(struct host *p, struct host *c, uint16_t conn,
                            uint16_t vh, size_t len, int *at) {
  uint8_t v[512], buf[600];
  for (size_t i = 0; i < len; i++) v[i] = (uint8_t)(i * 13 + len);
  REQUIRE_EQ(uvble_gattc_write(c->ble, conn, vh, v, len, 1), 0);
  struct gev *done = next_ev(c, UVBLE_IRQ_GATTC_WRITE_DONE, at);
  REQUIRE(done);
  CHECK_EQ(done->d.gatt_status.status, 0);
  size_t n;
  REQUIRE_EQ(uvble_gatts_read(p->ble, vh, buf, sizeof buf, &n), 0);
  CHECK_EQ(n, len);
  CHECK_MEM(buf, v, len);
  for (size_t i = 0; i < len; i++) v[i] = (uint8_t)(v[i] ^ 0x5a);
  REQUIRE_EQ(uvble_gatts_write(p->ble, vh, v, len, false), 0);
  REQUIRE_EQ(uvble_gattc_read(c->ble, conn, vh), 0);
  struct gev *e = next_ev(c, UVBLE_IRQ_GATTC_READ_RESULT, at);
  REQUIRE(e);
  CHECK_EQ(e->len, len);
  CHECK_MEM(e->data, v, len);
  done = next_ev(c, UVBLE_IRQ_GATTC_READ_DONE, at);
  REQUIRE(done);
  CHECK_EQ(done->d.gatt_status.status, 0);
}

TEST(values_longer_than_the_mtu_both_ways) {
  struct db db;
  uint16_t conn = setup(&db);
  struct host *p = &hosts[0], *c = &hosts[1];
  /* Room for the whole value: a remote write is truncated to the buffer. */
  REQUIRE_EQ(uvble_gatts_set_buffer(p->ble, db.long_value, 512, false), 0);
  int at = 0;
  long_round_trip(p, c, conn, db.long_value, 100, &at); /* MTU 23 */
  long_round_trip(p, c, conn, db.long_value, 512, &at);
  REQUIRE_EQ(uvble_gattc_exchange_mtu(c->ble, conn), 0);
  struct gev *m = next_ev(c, UVBLE_IRQ_MTU_EXCHANGED, &at);
  REQUIRE(m);
  CHECK_EQ(m->d.mtu.mtu, 256);
  long_round_trip(p, c, conn, db.long_value, 253, &at); /* one PDU each */
  long_round_trip(p, c, conn, db.long_value, 300, &at);
  long_round_trip(p, c, conn, db.long_value, 512, &at);
  teardown();
}

TEST(link_drop_completes_pending_operations) {
  struct db db;
  uint16_t conn = setup(&db);
  struct host *p = &hosts[0], *c = &hosts[1];
  uint8_t v[512];
  memset(v, 0x42, sizeof v);
  REQUIRE_EQ(uvble_gatts_set_buffer(p->ble, db.long_value, 512, false), 0);
  REQUIRE_EQ(uvble_gatts_write(p->ble, db.long_value, v, sizeof v, false), 0);
  /* A 512-byte read at MTU 23 takes 24 round trips; the link goes down
   * long before, with a write and a discovery queued behind it. */
  REQUIRE_EQ(uvble_gattc_read(c->ble, conn, db.long_value), 0);
  REQUIRE_EQ(uvble_gattc_write(c->ble, conn, db.value, "x", 1, 1), 0);
  REQUIRE_EQ(uvble_gattc_discover_services(c->ble, conn, NULL), 0);
  CHECK_EQ(uvble_gap_disconnect(c->ble, conn), 1);
  REQUIRE(wait_event(c, UVBLE_IRQ_PERIPHERAL_DISCONNECT, 1, 3000));
  int at = 0;
  struct gev *r = next_ev(c, UVBLE_IRQ_GATTC_READ_DONE, &at);
  REQUIRE(r);
  CHECK_EQ(r->d.gatt_status.status, UVBLE_EDISCONNECTED);
  at = 0;
  struct gev *w = next_ev(c, UVBLE_IRQ_GATTC_WRITE_DONE, &at);
  REQUIRE(w);
  CHECK_EQ(w->d.gatt_status.status, UVBLE_EDISCONNECTED);
  at = 0;
  struct gev *d = next_ev(c, UVBLE_IRQ_GATTC_SERVICE_DONE, &at);
  REQUIRE(d);
  CHECK_EQ(d->d.done.status, UVBLE_EDISCONNECTED);
  /* Each exactly once, before the disconnect event; no partial value. */
  CHECK_EQ(gcount(c, UVBLE_IRQ_GATTC_READ_DONE), 1);
  CHECK_EQ(gcount(c, UVBLE_IRQ_GATTC_READ_RESULT), 0);
  CHECK_EQ(gcount(c, UVBLE_IRQ_GATTC_WRITE_DONE), 1);
  CHECK_EQ(gcount(c, UVBLE_IRQ_GATTC_SERVICE_DONE), 1);
  at = 0;
  CHECK(next_ev(c, UVBLE_IRQ_PERIPHERAL_DISCONNECT, &at) != NULL);
  CHECK(at - 1 > (int)(d - glog_of(c)->ev));
  CHECK_EQ(uvble_gattc_read(c->ble, conn, db.value), UVBLE_ENOTCONN);
  teardown();
}

TEST_MAIN()
