/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by ble_gap_pair and ble_gap_pair_bond: Just Works pairing started
 * by the central (config mitm=True, le_secure=True and the default IO
 * capability, so nothing can authenticate: "1 0 x"), then a read of a
 * READ_ENCRYPTED characteristic that the server serves only now. */
#ifndef UVBLE_TEST_CONF_PAIR_COMMON_H
#define UVBLE_TEST_CONF_PAIR_COMMON_H

#include "conformance.h"
#include "uvble/security.h"

static uvble_uuid_t char_uuid;
static bool bond_cfg;
static uint16_t vh;

static void irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  if (print_conn_events(i, ev, d)) return;
  switch (ev) {
    case UVBLE_IRQ_GATTS_READ_REQUEST:
      out(i, "%s", irq_name(ev));
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
      out(i, "%s %s", irq_name(ev),
          pybytes(d->gattc_data.data, d->gattc_data.data_len));
      break;
    case UVBLE_IRQ_ENCRYPTION_UPDATE:
      out(i, "%s %d %d %d", irq_name(ev), d->encryption.encrypted,
          d->encryption.authenticated, d->encryption.bonded);
      CHECK_EQ(d->encryption.status, 0);
      break;
    case UVBLE_IRQ_SET_SECRET:
      /* ble_gap_pair_bond's handler: "return True" (stored, as far as the
       * stack knows); GET_SECRET is left unanswered (None). */
      i->ret = 1;
      return;
    default:
      break;
  }
}

/* ble.config(mitm=True, le_secure=True, bond=...) before ble.active(1). */
static void pre(struct inst *i) {
  REQUIRE_EQ(uvble_config_set_int(i->ble, UVBLE_CONFIG_MITM, 1), 0);
  REQUIRE_EQ(uvble_config_set_int(i->ble, UVBLE_CONFIG_LE_SECURE, 1), 0);
  REQUIRE_EQ(uvble_config_set_int(i->ble, UVBLE_CONFIG_BOND, bond_cfg), 0);
}

static void pair_scenario(bool bond, const char *const *exp0,
                          const char *const *exp1) {
  uv_loop_init(&loop);
  bond_cfg = bond;
  char_uuid = parse_uuid("00000000-1111-2222-3333-444444444444");
  struct inst i0 = {.name = "instance0", .handler = irq};
  struct inst i1 = {.name = "instance1", .handler = irq};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, pre);

  uvble_gatts_characteristic_t chr = {
      .uuid = char_uuid, .flags = UVBLE_FLAG_READ | UVBLE_FLAG_READ_ENCRYPTED};
  uvble_gatts_service_t svc = {
      .uuid = parse_uuid("A5A5A5A5-FFFF-9999-1111-5A5A5A5A5A5A"),
      .characteristics = &chr,
      .num_characteristics = 1};
  AS(&i0) {
    uint16_t h;
    REQUIRE_EQ(uvble_gatts_register_services(i0.ble, &svc, 1, &h, 1), 1);
    REQUIRE_EQ(uvble_gatts_write(i0.ble, h, "encrypted", 9, false), 0);
  }
  uint16_t c1 = connect_steps(&i0, &i1, NULL);

  AS(&i1) {
    REQUIRE_EQ(uvble_gattc_discover_characteristics(i1.ble, c1, 1, 0xffff, NULL), 0);
    vh = (uint16_t)wait_for(&i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT, 4000);
    wait_for(&i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, 4000);

    out(&i1, "gap_pair");
    REQUIRE_EQ(uvble_gap_pair(i1.ble, c1), 0);
    wait_for(&i1, UVBLE_IRQ_ENCRYPTION_UPDATE, 4000);
  }
  AS(&i0) wait_for(&i0, UVBLE_IRQ_ENCRYPTION_UPDATE, 4000);

  AS(&i1) {
    out(&i1, "gattc_read");
    REQUIRE_EQ(uvble_gattc_read(i1.ble, c1, vh), 0);
    wait_for(&i1, UVBLE_IRQ_GATTC_READ_RESULT, 4000);
  }
  AS(&i0) wait_for(&i0, UVBLE_IRQ_GATTS_READ_REQUEST, 4000);

  disconnect_steps(&i1, c1, &i0);

  expect_lines(&i0, exp0);
  expect_lines(&i1, exp1);
  insts_down(all);
}

#endif
