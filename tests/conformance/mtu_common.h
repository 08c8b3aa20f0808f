/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by ble_mtu and ble_mtu_peripheral: one MTU exchange per
 * connection (started by the central or by the peripheral), then a 64-byte
 * notification from the server and a write of MTU + 20 bytes from the
 * client, to show what each side's MTU lets through. */
#ifndef UVBLE_TEST_CONF_MTU_COMMON_H
#define UVBLE_TEST_CONF_MTU_COMMON_H

#include "conformance.h"

static uvble_uuid_t char_uuid;

static void irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  if (print_conn_events(i, ev, d)) return;
  switch (ev) {
    case UVBLE_IRQ_GATTS_WRITE:
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
    case UVBLE_IRQ_GATTC_WRITE_DONE:
      out(i, "%s", irq_name(ev));
      break;
    case UVBLE_IRQ_GATTC_NOTIFY:
      out(i, "%s %zu %c", irq_name(ev), d->gattc_data.data_len,
          d->gattc_data.data_len ? d->gattc_data.data[0] : '?');
      break;
    case UVBLE_IRQ_MTU_EXCHANGED:
      out(i, "%s %u", irq_name(ev), d->mtu.mtu);
      post_val(i, ev, d->mtu.mtu);
      break;
    default:
      break;
  }
}

/* Both instances know the characteristic's UUID (the central's handler
 * looks for it). */
static void mtu_init(void) {
  char_uuid = parse_uuid("00000000-1111-2222-3333-444444444444");
}

/* The peripheral's service: one characteristic with a 500-byte buffer
 * (gatts_set_buffer(char_handle, 500, False)). */
static uint16_t register_mtu_service(struct inst *i0) {
  uvble_gatts_characteristic_t chr = {
      .uuid = char_uuid,
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE | UVBLE_FLAG_NOTIFY};
  uvble_gatts_service_t svc = {
      .uuid = parse_uuid("A5A5A5A5-FFFF-9999-1111-5A5A5A5A5A5A"),
      .characteristics = &chr,
      .num_characteristics = 1};
  uint16_t h;
  REQUIRE_EQ(uvble_gatts_register_services(i0->ble, &svc, 1, &h, 1), 1);
  REQUIRE_EQ(uvble_gatts_set_buffer(i0->ble, h, 500, false), 0);
  return h;
}

/* One connection: the exchange started by `initiator` (the central i1 or
 * the peripheral i0), then the notify and the write. Returns the MTU. */
static long mtu_round(struct inst *i0, struct inst *i1, uint16_t char_handle,
                      int iteration, bool central_initiates) {
  long c0 = 0, mtu = 0, mtu0 = 0;
  uint16_t c1 = connect_steps(i0, i1, &c0), vh = 0;

  struct inst *init = central_initiates ? i1 : i0;
  AS(init) {
    out(init, "gattc_exchange_mtu");
    REQUIRE_EQ(uvble_gattc_exchange_mtu(init->ble, central_initiates ? c1 : (uint16_t)c0),
               0);
  }
  AS(i1) mtu = wait_for(i1, UVBLE_IRQ_MTU_EXCHANGED, CONF_TIMEOUT_MS);
  AS(i0) mtu0 = wait_for(i0, UVBLE_IRQ_MTU_EXCHANGED, CONF_TIMEOUT_MS);
  SHARE(i1, mtu);
  AS(i0) CHECK_EQ(mtu0, mtu);

  AS(i1) {
    out(i1, "gattc_discover_characteristics");
    REQUIRE_EQ(uvble_gattc_discover_characteristics(i1->ble, c1, 1, 0xffff, NULL), 0);
    vh = (uint16_t)wait_for(i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT, CONF_TIMEOUT_MS);
    wait_for(i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, CONF_TIMEOUT_MS);
  }

  /* str(i) * 64: truncated to MTU - 3 by the server. */
  AS(i0) {
    char note[64];
    memset(note, '0' + iteration, sizeof note);
    out(i0, "gatts_notify");
    REQUIRE_EQ(uvble_gatts_notify(i0->ble, (uint16_t)c0, char_handle, note, sizeof note),
               0);
  }

  /* Write 20 more than the MTU. MicroPython truncates the write to MTU - 3;
   * uvble writes it whole with Prepare/Execute Write (gattc.h), so the
   * server receives MTU + 20 bytes. */
  AS(i1) {
    wait_for(i1, UVBLE_IRQ_GATTC_NOTIFY, CONF_TIMEOUT_MS);
    char w[600];
    memset(w, 'a' + iteration, (size_t)mtu + 20);
    out(i1, "gattc_write");
    REQUIRE_EQ(uvble_gattc_write(i1->ble, c1, vh, w, (size_t)mtu + 20, 1), 0);
    wait_for(i1, UVBLE_IRQ_GATTC_WRITE_DONE, CONF_TIMEOUT_MS);
  }
  AS(i0) {
    wait_for(i0, UVBLE_IRQ_GATTS_WRITE, CONF_TIMEOUT_MS);
    out(i0, "gatts_read");
    uint8_t buf[600];
    size_t len = 0;
    REQUIRE_EQ(uvble_gatts_read(i0->ble, char_handle, buf, sizeof buf, &len), 0);
    out(i0, "characteristic len: %zu %c", len, len ? buf[0] : '?');
  }

  disconnect_steps(i1, c1, i0);
  if (!central_initiates) {
    /* ble_mtu_peripheral's peripheral advertises again after each
     * disconnect, and once more at the start of its next round. */
    AS(i0) {
      out(i0, "gap_advertise");
      advertise(i0, 20000, true);
    }
  }
  return mtu;
}

#endif
