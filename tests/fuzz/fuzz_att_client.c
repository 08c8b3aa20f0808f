/* SPDX-License-Identifier: Apache-2.0 */
/* GATT client response handling: the fuzzer's script starts client
 * operations (discoveries, reads, writes, MTU exchange) on a connection and
 * answers them with arbitrary PDUs from the "server", through the real ATT
 * bearer. The irq handler reads every byte it is given, may chain a new
 * operation from a DONE event and may close the stack mid-way.
 *
 * Input: byte 0 = flags (bit 0: chain a read from each DONE; bits 1-7: close
 * the stack on that event number, 0 = never), then records
 * [cmd][len lo][len hi][len bytes]: cmd % 4 = 0 start an operation (kind, handles,
 * UUID or data from the bytes), 1 a PDU from the server, 2 the link drops
 * and comes back, 3 MTU exchange or Write Command. Between records the loop
 * runs once (deferred starts, ATT retries) and ACL credits come back. */
#include <stdlib.h>
#include <string.h>

#include "att.h"
#include "conn.h"
#include "uvble/gattc.h"

#define FUZZ_CONN 0x0040

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;
static struct {
  bool chain;
  int close_at;
  int events;
  bool closed; /* the irq closed the stack: ble may be freed by the loop */
} F;

static int fuzz_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d,
                    void *arg) {
  (void)arg;
  F.events++;
  uint8_t x = 0;
  if (ev == UVBLE_IRQ_GATTC_READ_RESULT || ev == UVBLE_IRQ_GATTC_NOTIFY ||
      ev == UVBLE_IRQ_GATTC_INDICATE)
    for (size_t i = 0; i < d->gattc_data.data_len; i++)
      x ^= d->gattc_data.data[i]; /* every byte must be readable */
  if (ev == UVBLE_IRQ_GATTC_SERVICE_RESULT) x ^= d->service.uuid.data[15];
  sink = x;
  if (F.close_at && F.events == F.close_at) {
    F.closed = true;
    uvble_close(ble, NULL, NULL);
    return 0;
  }
  if (F.chain && (ev == UVBLE_IRQ_GATTC_SERVICE_DONE ||
                  ev == UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE ||
                  ev == UVBLE_IRQ_GATTC_DESCRIPTOR_DONE ||
                  ev == UVBLE_IRQ_GATTC_READ_DONE ||
                  ev == UVBLE_IRQ_GATTC_WRITE_DONE))
    uvble_gattc_read(ble, FUZZ_CONN, 3);
  return 0;
}

static uint16_t le16_or(const uint8_t *p, size_t n, size_t off, uint16_t dflt) {
  return off + 2 <= n ? get_le16(p + off) : dflt;
}

static void start_op(uvble_t *ble, const uint8_t *p, size_t n) {
  uint8_t kind = n ? p[0] % 8 : 0;
  uint16_t a = le16_or(p, n, 1, 1), b = le16_or(p, n, 3, 0xffff);
  uvble_uuid_t u = uvble_uuid16(le16_or(p, n, 5, 0x180d));
  if (n >= 5 + 16) uvble_uuid_from_bytes(&u, p + 5, 16);
  const uint8_t *val = n > 5 ? p + 5 : p;
  size_t vlen = n > 5 ? n - 5 : 0;
  switch (kind) {
    case 0: uvble_gattc_discover_services(ble, FUZZ_CONN, NULL); break;
    case 1: uvble_gattc_discover_services(ble, FUZZ_CONN, &u); break;
    case 2: uvble_gattc_discover_characteristics(ble, FUZZ_CONN, a, b, NULL);
      break;
    case 3: uvble_gattc_discover_characteristics(ble, FUZZ_CONN, a, b, &u);
      break;
    case 4: uvble_gattc_discover_descriptors(ble, FUZZ_CONN, a, b); break;
    case 5: uvble_gattc_read(ble, FUZZ_CONN, a); break;
    case 6: uvble_gattc_write(ble, FUZZ_CONN, a, val, vlen, 1); break;
    default: {
      /* A long write: the bytes repeated up to b % 513 bytes. */
      static uint8_t big[512];
      size_t len = b % 513;
      for (size_t i = 0; i < len; i++) big[i] = vlen ? val[i % vlen] : 0;
      uvble_gattc_write(ble, FUZZ_CONN, a, big, len, 1);
      break;
    }
  }
}

static void link_up(uvble_t *ble) {
  uvble_addr_t peer = {0, {1, 2, 3, 4, 5, 6}};
  struct ble_conn *c = conn_add(ble, FUZZ_CONN, CONN_ROLE_CENTRAL, &peer);
  if (c) conn_open(ble, c);
}

/* The controller sent every fragment: Number Of Completed Packets. */
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

static void step(uvble_t *ble, uint8_t cmd, const uint8_t *p, size_t n) {
  struct ble_conn *c = conn_find(ble, FUZZ_CONN);
  switch (cmd % 4) {
    case 0:
      start_op(ble, p, n);
      break;
    case 1:
      if (c && ble->conns.fixed_rx[L2CAP_CID_ATT]) {
        uint8_t *pdu = malloc(n ? n : 1); /* exact extent for ASan */
        memcpy(pdu, p, n);
        ble->conns.fixed_rx[L2CAP_CID_ATT](ble, c, pdu, n);
        free(pdu);
      }
      break;
    case 2:
      if (c) conn_remove(ble, c, 0x13);
      if (!F.closed && !conn_find(ble, FUZZ_CONN)) link_up(ble);
      break;
    default:
      if (n == 0)
        uvble_gattc_exchange_mtu(ble, FUZZ_CONN);
      else
        uvble_gattc_write(ble, FUZZ_CONN, le16_or(p, n, 0, 1), p, n, 0);
      break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  memset(&F, 0, sizeof F);
  F.chain = data[0] & 1;
  F.close_at = data[0] >> 1;
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *a, *b;
  if (uvble_transport_mem_pair(&loop, &a, &b) != 0) abort();
  uvble_transport_start(b, drain, drain_err, NULL);
  uvble_t *ble;
  if (uvble_new_with_transport(&loop, a, &ble) != 0) abort();
  uvble_irq(ble, fuzz_irq, NULL);
  ble->state = BLE_ON;
  ble->info_valid = true;
  ble->hci.acl_mtu = 27;
  ble->hci.acl_total = ble->hci.acl_free = 4;
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
