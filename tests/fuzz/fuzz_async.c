/* SPDX-License-Identifier: Apache-2.0 */
/* The async layer's event routing under arbitrary event sequences: the
 * fuzzer's script interleaves async operations (discoveries, reads,
 * writes, notified, subscribe, written, indicate, scans, L2CAP, pair,
 * cancels) with irq events handed straight to the async layer's handler —
 * events for unknown links, results nobody asked for, DONE events out of
 * order, payloads of any length — and loop turns that deliver completions.
 * At the end the context closes with whatever is pending: every future must
 * complete exactly once and nothing may leak (ASan).
 *
 * Input: records [cmd][arg][len][len bytes]; cmd % 12 picks the action. */
#include <stdlib.h>
#include <string.h>

#include "async_internal.h"
#include "conn.h"
#include "uvble/async.h"
#include "uvble/co.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NF 16
static uvble_future_t futs[NF];
static uint8_t bufs[NF][64];
/* Exactly once: every start that returned 0 completes once, unless it was
 * abandoned while pending. */
static int completions[NF], started[NF], abandoned[NF];

static void on_done(uvble_future_t *f) { completions[f - futs]++; }

static uvble_future_t *free_future(uint8_t arg) {
  uvble_future_t *f = &futs[arg % NF];
  if (uvble_future_pending(f)) return NULL;
  memset(f, 0, sizeof *f);
  f->cb = on_done;
  return f;
}

struct state {
  uvble_t *ble;
  uvble_async_t *a;
  uvble_client_characteristic_t *chars[8];
  int nchars;
  uvble_scan_t *scan;
  uvble_characteristic_t *chr;
};

static uint16_t handle_of(uint8_t b) { return b & 1 ? 0x0040 : 0x0041; }

static void event(struct state *s, uint8_t arg, const uint8_t *p, size_t n) {
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  int ev = 1 + arg % UVBLE_IRQ_MAX;
  uint16_t h = handle_of(n ? p[0] : 0);
  uint16_t vh = n > 2 ? (uint16_t)(p[1] | (p[2] << 8)) : 0x12;
  int st = n > 3 ? (int8_t)p[3] : 0;
  switch (ev) {
    case UVBLE_IRQ_SCAN_RESULT:
      d.scan_result.addr.type = n ? p[0] & 1 : 0;
      if (n > 6) memcpy(d.scan_result.addr.val, p + 1, 6);
      d.scan_result.adv_type = n > 7 ? p[7] % 5 : 0;
      d.scan_result.rssi = n > 8 ? (int8_t)p[8] : -50;
      d.scan_result.adv_data = n > 9 ? p + 9 : NULL;
      d.scan_result.adv_data_len = n > 9 ? n - 9 : 0;
      break;
    case UVBLE_IRQ_GATTC_SERVICE_RESULT:
      d.service.conn_handle = h;
      d.service.start_handle = vh;
      d.service.end_handle = (uint16_t)(vh + (n > 4 ? p[4] : 5));
      d.service.uuid = uvble_uuid16(n > 5 ? p[5] : 0x0d);
      break;
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT:
      d.characteristic.conn_handle = h;
      d.characteristic.value_handle = vh;
      d.characteristic.end_handle = (uint16_t)(vh + (n > 4 ? (int8_t)p[4] : 2));
      d.characteristic.properties = n > 5 ? p[5] : 0x3A;
      d.characteristic.uuid = uvble_uuid16(0x2A37);
      break;
    case UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT:
      d.descriptor.conn_handle = h;
      d.descriptor.dsc_handle = vh;
      d.descriptor.uuid = uvble_uuid16(n > 4 && p[4] & 1 ? 0x2902 : 0x2901);
      break;
    case UVBLE_IRQ_GATTC_READ_RESULT:
    case UVBLE_IRQ_GATTC_NOTIFY:
    case UVBLE_IRQ_GATTC_INDICATE:
      d.gattc_data.conn_handle = h;
      d.gattc_data.value_handle = vh;
      d.gattc_data.data = n > 3 ? p + 3 : NULL;
      d.gattc_data.data_len = n > 3 ? n - 3 : 0;
      break;
    case UVBLE_IRQ_L2CAP_ACCEPT:
    case UVBLE_IRQ_L2CAP_CONNECT:
      d.l2cap_connect.conn_handle = h;
      d.l2cap_connect.cid = vh;
      d.l2cap_connect.psm = n > 4 ? p[4] : 0x40;
      d.l2cap_connect.our_mtu = 100;
      d.l2cap_connect.peer_mtu = n > 5 ? p[5] : 100;
      break;
    case UVBLE_IRQ_L2CAP_DISCONNECT:
      d.l2cap_disconnect.conn_handle = h;
      d.l2cap_disconnect.cid = vh;
      d.l2cap_disconnect.status = st;
      break;
    case UVBLE_IRQ_L2CAP_RECV:
    case UVBLE_IRQ_L2CAP_SEND_READY:
      d.l2cap_io.conn_handle = h;
      d.l2cap_io.cid = vh;
      break;
    case UVBLE_IRQ_ENCRYPTION_UPDATE:
      d.encryption.conn_handle = h;
      d.encryption.encrypted = n > 1 && p[1] & 1;
      d.encryption.status = st;
      d.encryption.key_size = 16;
      break;
    case UVBLE_IRQ_GET_SECRET:
    case UVBLE_IRQ_SET_SECRET:
      return; /* pointers the async layer never reads, but the core's */
    default:
      /* Everything else starts with a connection handle and small ints. */
      d.gatt_status.conn_handle = h;
      d.gatt_status.value_handle = vh;
      d.gatt_status.status = st;
      if (ev == UVBLE_IRQ_MTU_EXCHANGED) d.mtu.mtu = (uint16_t)(23 + vh % 500);
      if (ev == UVBLE_IRQ_CENTRAL_CONNECT || ev == UVBLE_IRQ_PERIPHERAL_CONNECT ||
          ev == UVBLE_IRQ_CENTRAL_DISCONNECT ||
          ev == UVBLE_IRQ_PERIPHERAL_DISCONNECT) {
        memset(&d, 0, sizeof d);
        d.connect.conn_handle = n > 1 && p[1] == 0xff ? 0xffff : h;
        d.connect.addr.type = n > 1 && p[1] == 0xff ? UVBLE_ADDR_NONE : 0;
      }
      break;
  }
  s->ble->irq_cb(s->ble, ev, &d, s->ble->irq_arg);
}

static uvble_client_characteristic_t *some_char(struct state *s, uint8_t arg) {
  uvble_connection_t *c = uvble_async_connection(s->a, handle_of(arg));
  if (!c) return NULL;
  int k = 0;
  for (uvble_client_service_t *sv = c->services; sv; sv = sv->next_)
    for (uvble_client_characteristic_t *ch = sv->chars_; ch; ch = ch->next_)
      if (k++ == (arg >> 1) % 4) return ch;
  return NULL;
}

static int operation(struct state *s, uint8_t arg, const uint8_t *p, size_t n,
                     uvble_future_t *f) {
  uint8_t *b = bufs[f - futs];
  uvble_connection_t *c = uvble_async_connection(s->a, handle_of(arg));
  uvble_client_characteristic_t *ch = some_char(s, arg);
  uint32_t to = n && p[0] & 1 ? 5 : 0;
  switch ((arg >> 4) % 12) {
    case 0:
      return c ? uvble_connection_services(f, c, NULL, NULL, 0, to) : -1;
    case 1:
      return c && c->services ? uvble_client_service_characteristics(
                                    f, c->services, NULL, NULL, 0, to)
                              : -1;
    case 2:
      return ch ? uvble_client_characteristic_read(f, ch, b, 64, to) : -1;
    case 3:
      return ch ? uvble_client_characteristic_write(f, ch, p, n > 64 ? 64 : n,
                                                    UVBLE_WRITE_AUTO, to)
                : -1;
    case 4:
      return ch ? uvble_client_characteristic_notified(f, ch, b, 64, to) : -1;
    case 5:
      return ch ? uvble_client_characteristic_subscribe(f, ch, true, arg & 1, to)
                : -1;
    case 6:
      return ch ? uvble_client_characteristic_descriptors(f, ch, NULL, 0, to)
                : -1;
    case 7:
      return uvble_characteristic_written(f, s->chr, b, 64, to);
    case 8:
      return c ? uvble_characteristic_indicate(f, s->chr, c, p, n, to) : -1;
    case 9:
      return s->scan ? uvble_scan_next(f, s->scan, to) : -1;
    case 10:
      return c ? uvble_connection_l2cap_accept(f, c, 0x40, 100, to) : -1;
    default:
      return c ? uvble_connection_disconnected(f, c, to) : -1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *ta, *tb;
  if (uvble_transport_mem_pair(&loop, &ta, &tb) != 0) abort();
  struct state s;
  memset(&s, 0, sizeof s);
  if (uvble_new_with_transport(&loop, ta, &s.ble) != 0) abort();
  s.ble->state = BLE_ON;
  s.ble->info_valid = true;
  s.ble->hci.acl_mtu = 27;
  s.ble->hci.acl_total = s.ble->hci.acl_free = 4;
  /* Links the core knows, so operations on them get going. */
  uvble_addr_t peer = {0, {1, 2, 3, 4, 5, 6}};
  conn_add(s.ble, 0x0040, CONN_ROLE_CENTRAL, &peer);
  conn_add(s.ble, 0x0041, CONN_ROLE_PERIPHERAL, &peer);
  if (uvble_async_new(s.ble, NULL, NULL, &s.a) != 0) abort();
  memset(futs, 0, sizeof futs);
  memset(completions, 0, sizeof completions);
  memset(started, 0, sizeof started);
  memset(abandoned, 0, sizeof abandoned);
  uvble_service_t *svc;
  uvble_uuid_t u = uvble_uuid16(0xABCD);
  uvble_service_new(s.a, &u, &svc);
  uvble_characteristic_opts_t o = {.flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE |
                                            UVBLE_FLAG_INDICATE,
                                   .capture = size & 1};
  uvble_characteristic_new(svc, &u, &o, &s.chr);
  uvble_register_services(s.a, &svc, 1);

  size_t off = 0;
  while (off + 3 <= size) {
    uint8_t cmd = data[off], arg = data[off + 1];
    size_t len = data[off + 2];
    off += 3;
    if (len > size - off) len = size - off;
    uint8_t *p = malloc(len ? len : 1); /* its true extent, for ASan */
    memcpy(p, data + off, len);
    off += len;
    switch (cmd % 12) {
      case 0:
      case 1:
      case 2:
      case 3:
        event(&s, arg, p, len);
        break;
      case 4:
      case 5: {
        uvble_future_t *f = free_future(arg);
        if (f && operation(&s, arg, p, len, f) == 0) started[f - futs]++;
        break;
      }
      case 6:
        uvble_future_cancel(&futs[arg % NF]);
        break;
      case 7:
        if (uvble_future_pending(&futs[arg % NF])) abandoned[arg % NF]++;
        uvble_future_abandon(&futs[arg % NF]);
        break;
      case 8:
        if (!s.scan) {
          uvble_scan_params_t sp = {.ignore_rssi = arg & 1};
          uvble_scan_start(s.a, &sp, &s.scan);
        } else if (arg & 2) {
          uvble_scan_free(s.scan);
          s.scan = NULL;
        } else {
          uvble_scan_stop(s.scan);
        }
        break;
      case 9:
        uv_run(&loop, UV_RUN_NOWAIT);
        break;
      case 10:
        if (arg & 1) {
          uvble_future_t *f = free_future(arg >> 1);
          if (f && uvble_sleep(f, uvble_async_sched(s.a), arg >> 4) == 0)
            started[f - futs]++;
        }
        break;
      default:
        uvble_characteristic_write(s.chr, p, len, arg & 1);
        break;
    }
    free(p);
  }
  if (s.scan) uvble_scan_free(s.scan);
  uvble_async_close(s.a, NULL, NULL);
  /* Closing delivered every completion: none is left pending, and each
   * start completed exactly once. */
  for (int i = 0; i < NF; i++) {
    if (uvble_future_pending(&futs[i])) abort();
    if (completions[i] != started[i] - abandoned[i]) abort();
  }
  uvble_transport_close(tb, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return 0;
}
