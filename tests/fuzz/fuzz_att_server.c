/* SPDX-License-Identifier: Apache-2.0 */
/* ATT bearer and GATT server: arbitrary PDUs from a peer's client (and
 * anything else a peer may send on CID 4) delivered to a connection whose
 * server holds a database with every kind of attribute, interleaved with the
 * application's own calls (writes with send_update, notify/indicate,
 * set_buffer, re-registration) and the link dropping.
 *
 * Input: byte 0 = flags: bit 0 link encrypted, bit 1 authenticated (key
 * size 16), bits 2-3 what READ_REQUEST does (allow, deny with 0x80, set the
 * value, re-register the database), bit 4 a transaction timeout of 0 ms
 * (timers fire at the next loop turn), bits 5-7 close the stack on that
 * irq event (0 = never). Then records [cmd][len lo][len hi][len bytes]:
 * cmd % 6 = 0 a PDU from the peer, 1 gatts_write (handle, send_update,
 * value), 2 notify / indicate, 3 set_buffer, 4 the link drops and comes
 * back, 5 register again (full or empty). Between records the loop runs
 * once and ACL credits come back. */
#include <stdlib.h>
#include <string.h>

#include "att.h"
#include "conn.h"
#include "uvble/gatts.h"

#define FUZZ_CONN 0x0040

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;
static struct {
  int read_mode;
  int close_at;
  int events;
  bool closed;
  bool enc, auth;
} F;

static const uvble_gatts_descriptor_t DESCS[] = {
    {.uuid = {16, {0x01, 0x29}}, .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE},
    {.uuid = {16, {0x01, 0xA1}},
     .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE_NO_RESPONSE,
     .max_length = 4,
     .fixed_length = true},
};

static const uvble_gatts_characteristic_t CHARS[] = {
    {.uuid = {16, {0x01, 0xA0}},
     .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE | UVBLE_FLAG_NOTIFY |
              UVBLE_FLAG_INDICATE,
     .descriptors = DESCS,
     .num_descriptors = 2},
    {.uuid = {16, {0x02, 0xA0}},
     .flags = UVBLE_FLAG_READ | UVBLE_FLAG_READ_ENCRYPTED | UVBLE_FLAG_WRITE |
              UVBLE_FLAG_WRITE_AUTHENTICATED | UVBLE_FLAG_NOTIFY},
    {.uuid = {16, {0x03, 0xA0}},
     .flags = UVBLE_FLAG_READ | UVBLE_FLAG_READ_AUTHORIZED |
              UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_AUTHORIZED},
    {.uuid = {32, {0x04, 0xA0, 0x12, 0x34}},
     .flags = UVBLE_FLAG_WRITE | UVBLE_FLAG_AUX_WRITE |
              UVBLE_FLAG_INDICATE,
     .max_length = 8},
};

static const uvble_gatts_characteristic_t CHARS128[] = {
    {.uuid = {128, {0x9e, 0xca, 0xdc, 0x24, 0x0e, 0xe5, 0xa9, 0xe0, 0x93, 0xf3,
                    0xa3, 0xb5, 0x02, 0x00, 0x40, 0x6e}},
     .flags = UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_NO_RESPONSE},
    {.uuid = {128, {0x9e, 0xca, 0xdc, 0x24, 0x0e, 0xe5, 0xa9, 0xe0, 0x93, 0xf3,
                    0xa3, 0xb5, 0x03, 0x00, 0x40, 0x6e}},
     .flags = UVBLE_FLAG_NOTIFY | UVBLE_FLAG_READ},
};

static const uvble_gatts_service_t SERVICES[] = {
    {.uuid = {16, {0xAA, 0xAA}},
     .characteristics = CHARS,
     .num_characteristics = 4},
    {.uuid = {128, {0x9e, 0xca, 0xdc, 0x24, 0x0e, 0xe5, 0xa9, 0xe0, 0x93,
                    0xf3, 0xa3, 0xb5, 0x01, 0x00, 0x40, 0x6e}},
     .characteristics = CHARS128,
     .num_characteristics = 2},
};

static void register_db(uvble_t *ble, bool full) {
  uint16_t h[16];
  uvble_gatts_register_services(ble, full ? SERVICES : NULL, full ? 2 : 0, h,
                                16);
}

static int authorize(uvble_t *ble, uint16_t conn, uint16_t handle,
                     const uint8_t *d, size_t n, void *arg) {
  (void)ble;
  (void)conn;
  (void)handle;
  (void)arg;
  uint8_t x = 0;
  for (size_t i = 0; i < n; i++) x ^= d[i];
  sink = x;
  return x & 1 ? 0x80 : 0;
}

static int fuzz_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d,
                    void *arg) {
  (void)arg;
  F.events++;
  if (ev == UVBLE_IRQ_GATTC_NOTIFY || ev == UVBLE_IRQ_GATTC_INDICATE) {
    uint8_t x = 0;
    for (size_t i = 0; i < d->gattc_data.data_len; i++)
      x ^= d->gattc_data.data[i];
    sink = x;
  }
  if (F.close_at && F.events == F.close_at) {
    F.closed = true;
    uvble_close(ble, NULL, NULL);
    return 0;
  }
  if (ev != UVBLE_IRQ_GATTS_READ_REQUEST) return 0;
  switch (F.read_mode) {
    case 1:
      return 0x80;
    case 2:
      uvble_gatts_write(ble, d->gatts.attr_handle, "fuzzed value", 12, true);
      return 0;
    case 3:
      register_db(ble, F.events & 1);
      return 0;
    default:
      return 0;
  }
}

static void link_up(uvble_t *ble) {
  uvble_addr_t peer = {0, {1, 2, 3, 4, 5, 6}};
  struct ble_conn *c = conn_add(ble, FUZZ_CONN, CONN_ROLE_PERIPHERAL, &peer);
  if (!c) return;
  c->encrypted = F.enc || F.auth;
  c->authenticated = F.auth;
  c->key_size = c->encrypted ? 16 : 0;
  conn_open(ble, c);
}

static void return_credits(uvble_t *ble) {
  struct ble_conn *c = conn_find(ble, FUZZ_CONN);
  if (!c || !c->acl_in_flight) return;
  uint8_t ev[7] = {0x13, 5, 1, FUZZ_CONN & 0xff, FUZZ_CONN >> 8, 0, 0};
  put_le16(ev + 5, c->acl_in_flight);
  hci_on_event(ble, ev, sizeof ev);
}

static void drain(uvble_transport_t *t, uint8_t type, const uint8_t *d,
                  size_t len, void *arg) {
  (void)t;
  (void)type;
  (void)d;
  (void)len;
  (void)arg;
}

static void drain_err(uvble_transport_t *t, int err, void *arg) {
  (void)t;
  (void)err;
  (void)arg;
}

static uint16_t le16_or(const uint8_t *p, size_t n, size_t off, uint16_t dflt) {
  return off + 2 <= n ? get_le16(p + off) : dflt;
}

static void step(uvble_t *ble, uint8_t cmd, const uint8_t *p, size_t n) {
  struct ble_conn *c = conn_find(ble, FUZZ_CONN);
  uint16_t h = (uint16_t)(le16_or(p, n, 0, 12) % 40);
  const uint8_t *v = n > 3 ? p + 3 : p;
  size_t vlen = n > 3 ? n - 3 : 0;
  switch (cmd % 6) {
    case 0:
      if (c && ble->conns.fixed_rx[L2CAP_CID_ATT]) {
        uint8_t *pdu = malloc(n ? n : 1); /* exact extent for ASan */
        memcpy(pdu, p, n);
        ble->conns.fixed_rx[L2CAP_CID_ATT](ble, c, pdu, n);
        free(pdu);
      }
      break;
    case 1:
      uvble_gatts_write(ble, h, v, vlen, n > 2 && (p[2] & 1));
      break;
    case 2:
      if (n > 2 && (p[2] & 1))
        uvble_gatts_indicate(ble, FUZZ_CONN, h, p[2] & 2 ? NULL : v, vlen);
      else
        uvble_gatts_notify(ble, FUZZ_CONN, h, n > 2 && (p[2] & 2) ? NULL : v,
                           vlen);
      break;
    case 3:
      uvble_gatts_set_buffer(ble, h, le16_or(p, n, 2, 20) % 600,
                             n > 4 && (p[4] & 1));
      break;
    case 4:
      if (c) conn_remove(ble, c, 0x13);
      if (!F.closed && !conn_find(ble, FUZZ_CONN)) link_up(ble);
      break;
    default:
      register_db(ble, !(n && (p[0] & 1)));
      break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  memset(&F, 0, sizeof F);
  F.enc = data[0] & 1;
  F.auth = data[0] & 2;
  F.read_mode = (data[0] >> 2) & 3;
  F.close_at = data[0] >> 5;
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *a, *b;
  if (uvble_transport_mem_pair(&loop, &a, &b) != 0) abort();
  uvble_transport_start(b, drain, drain_err, NULL);
  uvble_t *ble;
  if (uvble_new_with_transport(&loop, a, &ble) != 0) abort();
  uvble_irq(ble, fuzz_irq, NULL);
  uvble_gatts_set_write_authorizer(ble, authorize, NULL);
  uvble_gatts_set_name_writable(ble, true);
  ble->state = BLE_ON;
  ble->info_valid = true;
  ble->hci.acl_mtu = 27;
  ble->hci.acl_total = ble->hci.acl_free = 4;
  if (data[0] & 0x10) att_set_timeout_ms(ble, 0);
  register_db(ble, true);
  link_up(ble);
  size_t off = 1;
  while (off + 3 <= size && !F.closed) {
    uint8_t cmd = data[off];
    size_t len = (size_t)(data[off + 1] | (data[off + 2] << 8));
    off += 3;
    if (len > size - off) len = size - off;
    /* Layers are entered directly, as a dispatch would: hold its
     * reference so an irq that closes the stack frees nothing under them. */
    ble_ref(ble);
    step(ble, cmd, data + off, len);
    ble_unref(ble);
    off += len;
    if (F.closed) break;
    return_credits(ble);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  if (!F.closed) uvble_close(ble, NULL, NULL);
  uvble_transport_close(b, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return 0;
}
