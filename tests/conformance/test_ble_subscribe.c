/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/ble_subscribe.py: the CCCD decides what
 * gatts_write(send_update=True) sends (nothing when unsubscribed, a
 * notification when subscribed for notify, an indication when subscribed
 * for indicate), gatts_notify sends regardless, and a client's CCCD writes
 * raise no GATTS_WRITE on the server. Four phases A-D, each started by a
 * client write and ended by the server's broadcast (here: the steps run in
 * order, with the server's 100 ms sleeps shortened to 50 ms so that a
 * stray notification would still arrive inside its phase).
 *
 * The original prints indications with the NOTIFY label (its handler maps
 * _IRQ_GATTC_INDICATE to that text); the expected lines keep it. */
#include "conformance.h"

/* Room for a notification to cross: a connection event or two on a real
 * link layer (label ll), hence scaled. */
#define SLEEP_MS test_scaled_ms(50)

static const char *const EXP0[] = {
    "gap_advertise",
    "_IRQ_CENTRAL_CONNECT",
    "_IRQ_GATTS_WRITE b'central0'",
    "sync A",
    "_IRQ_GATTS_WRITE b'central1'",
    "sync B",
    "_IRQ_GATTS_WRITE b'central2'",
    "sync C",
    "_IRQ_GATTS_WRITE b'central3'",
    "sync D",
    "_IRQ_CENTRAL_DISCONNECT",
    NULL,
};
static const char *const EXP1[] = {
    "gap_connect",
    "_IRQ_PERIPHERAL_CONNECT",
    "_IRQ_GATTC_CHARACTERISTIC_RESULT UUID('00000000-1111-2222-3333-444444444444')",
    "_IRQ_GATTC_CHARACTERISTIC_DONE",
    "_IRQ_GATTC_DESCRIPTOR_RESULT UUID(0x2902)",
    "_IRQ_GATTC_DESCRIPTOR_DONE",
    "gattc_read",
    "_IRQ_GATTC_READ_RESULT b'periph0'",
    "_IRQ_GATTC_READ_DONE 0",
    "gattc_write",
    "_IRQ_GATTC_WRITE_DONE 0",
    "_IRQ_GATTC_NOTIFY b'periph2'",
    "_IRQ_GATTC_WRITE_DONE 0",
    "gattc_write",
    "_IRQ_GATTC_WRITE_DONE 0",
    "_IRQ_GATTC_NOTIFY b'periph5'",
    "_IRQ_GATTC_WRITE_DONE 0",
    "gattc_write",
    "_IRQ_GATTC_WRITE_DONE 0",
    "_IRQ_GATTC_NOTIFY b'periph7'",
    "_IRQ_GATTC_WRITE_DONE 0",
    "gattc_write",
    "_IRQ_GATTC_WRITE_DONE 0",
    "_IRQ_GATTC_NOTIFY b'periph10'",
    "gap_disconnect: True",
    "_IRQ_PERIPHERAL_DISCONNECT",
    NULL,
};

static uvble_uuid_t char_uuid;

static void irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  if (print_conn_events(i, ev, d)) return;
  uvble_uuid_t cccd = uvble_uuid16(UVBLE_GATT_CCCD_UUID);
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
    case UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT:
      if (!uvble_uuid_equal(&d->descriptor.uuid, &cccd)) {
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
    case UVBLE_IRQ_GATTC_NOTIFY:
    case UVBLE_IRQ_GATTC_INDICATE:
      out(i, "%s %s", irq_name(UVBLE_IRQ_GATTC_NOTIFY),
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

struct ctx {
  struct inst *i0, *i1;
  uint16_t h0, c0, c1, vh, cccd;
};

static void gwrite(struct ctx *x, const char *s, bool update) {
  REQUIRE_EQ(uvble_gatts_write(x->i0->ble, x->h0, s, strlen(s), update), 0);
}
static void gnotify(struct ctx *x) {
  REQUIRE_EQ(uvble_gatts_notify(x->i0->ble, x->c0, x->h0, NULL, 0), 0);
}

/* The client writes the value (triggers a phase), the server syncs on its
 * GATTS_WRITE and runs the phase. */
static void client_trigger(struct ctx *x, const char *value) {
  AS(x->i1) {
    out(x->i1, "gattc_write");
    REQUIRE_EQ(uvble_gattc_write(x->i1->ble, x->c1, x->vh, value, strlen(value), 1), 0);
    wait_for(x->i1, UVBLE_IRQ_GATTC_WRITE_DONE, CONF_TIMEOUT_MS);
  }
  AS(x->i0) wait_for(x->i0, UVBLE_IRQ_GATTS_WRITE, CONF_TIMEOUT_MS);
}

static void client_cccd(struct ctx *x, uint8_t bits) {
  uint8_t v[2] = {bits, 0};
  AS(x->i1) {
    REQUIRE_EQ(uvble_gattc_write(x->i1->ble, x->c1, x->cccd, v, 2, 1), 0);
    wait_for(x->i1, UVBLE_IRQ_GATTC_WRITE_DONE, CONF_TIMEOUT_MS);
  }
}

TEST(ble_subscribe) {
  uv_loop_init(&loop);
  char_uuid = parse_uuid("00000000-1111-2222-3333-444444444444");
  struct inst i0 = {.name = "instance0", .handler = irq};
  struct inst i1 = {.name = "instance1", .handler = irq};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, NULL);
  struct ctx x = {.i0 = &i0, .i1 = &i1};

  uvble_gatts_characteristic_t chr = {
      .uuid = char_uuid,
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE | UVBLE_FLAG_NOTIFY |
               UVBLE_FLAG_INDICATE};
  uvble_gatts_service_t svc = {
      .uuid = parse_uuid("A5A5A5A5-FFFF-9999-1111-5A5A5A5A5A5A"),
      .characteristics = &chr,
      .num_characteristics = 1};
  AS(&i0) {
    REQUIRE_EQ(uvble_gatts_register_services(i0.ble, &svc, 1, &x.h0, 1), 1);
    gwrite(&x, "periph0", false);
  }
  long c0 = 0;
  x.c1 = connect_steps(&i0, &i1, &c0);
  x.c0 = (uint16_t)c0;

  AS(&i1) {
    REQUIRE_EQ(uvble_gattc_discover_characteristics(i1.ble, x.c1, 1, 0xffff, NULL), 0);
    x.vh = (uint16_t)wait_for(&i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT, CONF_TIMEOUT_MS);
    wait_for(&i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, CONF_TIMEOUT_MS);
    REQUIRE_EQ(uvble_gattc_discover_descriptors(i1.ble, x.c1, x.vh, x.vh + 5), 0);
    x.cccd = (uint16_t)wait_for(&i1, UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT, CONF_TIMEOUT_MS);
    wait_for(&i1, UVBLE_IRQ_GATTC_DESCRIPTOR_DONE, CONF_TIMEOUT_MS);

    out(&i1, "gattc_read");
    REQUIRE_EQ(uvble_gattc_read(i1.ble, x.c1, x.vh), 0);
    wait_for(&i1, UVBLE_IRQ_GATTC_READ_RESULT, CONF_TIMEOUT_MS);
  }

  /* A: unsubscribed. Only the forced notification arrives. */
  client_trigger(&x, "central0");
  AS(&i0) {
    out(&i0, "sync A");
    gwrite(&x, "periph1", false);
    run_for(&loop, SLEEP_MS);
    gwrite(&x, "periph2", false);
    gnotify(&x);
    run_for(&loop, SLEEP_MS);
    gwrite(&x, "periph3", true);
    run_for(&loop, SLEEP_MS);
  }

  /* B: subscribed for notify. */
  client_cccd(&x, UVBLE_CCCD_NOTIFY);
  client_trigger(&x, "central1");
  AS(&i0) {
    out(&i0, "sync B");
    gwrite(&x, "periph4", false);
    run_for(&loop, SLEEP_MS);
    gwrite(&x, "periph5", true);
    run_for(&loop, SLEEP_MS);
  }

  /* C: subscribed for indicate. */
  client_cccd(&x, UVBLE_CCCD_INDICATE);
  client_trigger(&x, "central2");
  AS(&i0) {
    out(&i0, "sync C");
    gwrite(&x, "periph6", false);
    run_for(&loop, SLEEP_MS);
    gwrite(&x, "periph7", true);
    run_for(&loop, SLEEP_MS);
  }

  /* D: unsubscribed again. */
  client_cccd(&x, 0);
  client_trigger(&x, "central3");
  AS(&i0) {
    out(&i0, "sync D");
    gwrite(&x, "periph8", false);
    run_for(&loop, SLEEP_MS);
    gwrite(&x, "periph9", true);
    run_for(&loop, SLEEP_MS);
    gwrite(&x, "periph10", false);
    gnotify(&x);
    run_for(&loop, SLEEP_MS);
  }

  disconnect_steps(&i1, x.c1, &i0);

  /* The indication of phase C was confirmed by the client's stack. */
  AS(&i0) CHECK_EQ(i0.count[UVBLE_IRQ_GATTS_INDICATE_DONE], 1);
  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
