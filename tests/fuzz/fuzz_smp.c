/* SPDX-License-Identifier: Apache-2.0 */
/* SMP in both roles: PDUs on the SMP channel of a link where we are
 * central and of one where we are peripheral, interleaved with the
 * controller's encryption events (LTK Request, Encryption Change, Key
 * Refresh), the app's calls (gap_pair, gap_passkey, config, minimum key
 * size) and an app that keeps secrets or not.
 *
 * Input: records [op][len][len bytes]:
 *   op % 8 == 0  SMP PDU on the central link      (op bit 3: peripheral link)
 *   op % 8 == 1  HCI event: LE LTK Request (subevent 0x05 + bytes)
 *   op % 8 == 2  HCI event: Encryption Change (bytes)
 *   op % 8 == 3  HCI event: Encryption Key Refresh Complete (bytes)
 *   op % 8 == 4  uvble_gap_pair (bit 3: which link)
 *   op % 8 == 5  uvble_gap_passkey(link, bytes[0], le32 bytes[1..4])
 *   op % 8 == 6  config: io, mitm, le_secure, bond, min key size from bytes
 *   op % 8 == 7  the app answers secrets (bytes[0] & 1) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "smp_internal.h"
#include "uvble/security.h"

static bool app_secrets;
static struct {
  bool used;
  uint8_t type, key[32], val[96];
  size_t klen, vlen;
} secs[8];

static int fuzz_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d, void *a) {
  (void)ble;
  (void)a;
  if (!app_secrets) return 0;
  if (ev == UVBLE_IRQ_GET_SECRET) {
    const uvble_evt_get_secret_t *g = &d->get_secret;
    for (int i = 0, n = 0; i < 8; i++) {
      if (!secs[i].used || secs[i].type != g->sec_type) continue;
      bool hit = g->key ? (secs[i].klen == g->key_len &&
                           !memcmp(secs[i].key, g->key, g->key_len))
                        : n++ == g->index;
      if (!hit || secs[i].vlen > g->value_cap) continue;
      memcpy(g->value, secs[i].val, secs[i].vlen);
      *g->value_len = secs[i].vlen;
      return 1;
    }
    return 0;
  }
  if (ev == UVBLE_IRQ_SET_SECRET) {
    const uvble_evt_set_secret_t *e = &d->set_secret;
    if (e->key_len > 32 || e->value_len > 96) return 0;
    int slot = -1;
    for (int i = 0; i < 8; i++)
      if (secs[i].used && secs[i].type == e->sec_type &&
          secs[i].klen == e->key_len && !memcmp(secs[i].key, e->key, e->key_len))
        slot = i;
    if (!e->value) {
      if (slot >= 0) secs[slot].used = false;
      return 1;
    }
    for (int i = 0; i < 8 && slot < 0; i++)
      if (!secs[i].used) slot = i;
    if (slot < 0) return 0;
    secs[slot].used = true;
    secs[slot].type = e->sec_type;
    memcpy(secs[slot].key, e->key, e->key_len);
    secs[slot].klen = e->key_len;
    memcpy(secs[slot].val, e->value, e->value_len);
    secs[slot].vlen = e->value_len;
    return 1;
  }
  return 0;
}

static void event(uvble_t *ble, uint8_t code, const uint8_t *pre, size_t pn,
                  const uint8_t *d, size_t n) {
  uint8_t *pkt = malloc(2 + pn + n);
  pkt[0] = code;
  pkt[1] = (uint8_t)(pn + n);
  if (pn) memcpy(pkt + 2, pre, pn);
  if (n) memcpy(pkt + 2 + pn, d, n);
  hci_on_event(ble, pkt, 2 + pn + n);
  free(pkt);
}

static void one(uvble_t *ble, uint8_t op, const uint8_t *d, size_t n) {
  uint16_t handle = (op & 8) ? 0x0041 : 0x0040;
  switch (op % 8) {
    case 0: {
      struct ble_conn *c = conn_find(ble, handle);
      if (!c || !ble->conns.fixed_rx[L2CAP_CID_SMP]) return;
      uint8_t *pdu = malloc(n ? n : 1); /* exact extent for ASan */
      if (n) memcpy(pdu, d, n);
      ble_ref(ble); /* a dispatch's reference (ble_ref) */
      ble->conns.fixed_rx[L2CAP_CID_SMP](ble, c, pdu, n);
      ble_unref(ble);
      free(pdu);
      return;
    }
    case 1: event(ble, 0x3E, (const uint8_t[]){0x05}, 1, d, n); return;
    case 2: event(ble, 0x08, NULL, 0, d, n); return;
    case 3: event(ble, 0x30, NULL, 0, d, n); return;
    case 4: uvble_gap_pair(ble, handle); return;
    case 5:
      if (n >= 5) uvble_gap_passkey(ble, handle, d[0], get_le32(d + 1));
      return;
    case 6:
      if (n < 5) return;
      uvble_config_set_int(ble, UVBLE_CONFIG_IO, d[0] % 5);
      uvble_config_set_int(ble, UVBLE_CONFIG_MITM, d[1] & 1);
      uvble_config_set_int(ble, UVBLE_CONFIG_LE_SECURE, d[2] & 1);
      uvble_config_set_int(ble, UVBLE_CONFIG_BOND, d[3] & 1);
      uvble_security_set_min_key_size(ble, 7 + d[4] % 10);
      return;
    default:
      if (n) app_secrets = d[0] & 1;
      return;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *a, *b;
  if (uvble_transport_mem_pair(&loop, &a, &b) != 0) abort();
  uvble_t *ble;
  if (uvble_new_with_transport(&loop, a, &ble) != 0) abort();
  memset(secs, 0, sizeof secs);
  app_secrets = true;
  uvble_irq(ble, fuzz_irq, NULL);
  ble->state = BLE_ON;
  ble->info_valid = true;
  memcpy(ble->info.public_addr.val, "\x00\xaa\x01\x00\x00\x42", 6);
  ble->hci.acl_mtu = 251;
  ble->hci.acl_total = ble->hci.acl_free = 8;
  uvble_addr_t peer = {0, {1, 2, 3, 4, 5, 6}};
  struct ble_conn *c0 = conn_add(ble, 0x0040, CONN_ROLE_CENTRAL, &peer);
  conn_open(ble, c0);
  struct ble_conn *c1 = conn_add(ble, 0x0041, CONN_ROLE_PERIPHERAL, &peer);
  conn_open(ble, c1);
  size_t off = 0;
  while (off + 2 <= size && !ble_dead(ble)) {
    uint8_t op = data[off];
    size_t len = data[off + 1];
    off += 2;
    if (len > size - off) len = size - off;
    one(ble, op, data + off, len);
    off += len;
  }
  uvble_close(ble, NULL, NULL);
  uvble_transport_close(b, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return 0;
}
