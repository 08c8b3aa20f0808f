/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the HCI-event and ACL fuzz harnesses: a stack that believes the
 * init sequence ran, fed packets straight from the fuzzer's bytes. */
#ifndef UVBLE_FUZZ_STACK_INPUT_H
#define UVBLE_FUZZ_STACK_INPUT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"

static volatile uint8_t fuzz_sink;

static void fuzz_touch(uvble_t *ble, struct ble_conn *conn, const uint8_t *d,
                       size_t n) {
  (void)ble;
  (void)conn;
  uint8_t x = 0;
  for (size_t i = 0; i < n; i++) x ^= d[i]; /* every byte must be readable */
  fuzz_sink = x;
}

static int fuzz_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d, void *a) {
  (void)ble;
  (void)a;
  if (ev == UVBLE_IRQ_SCAN_RESULT && d->scan_result.adv_data_len)
    fuzz_sink = d->scan_result.adv_data[d->scan_result.adv_data_len - 1];
  return 0;
}

/* Splits data into packets: [kind][len_lo][len_hi][bytes...]; kind's low bit
 * picks event (0) or ACL (1). Packets are handed to the layer directly, as
 * the transport would after deframing. */
static void fuzz_feed_stack(const uint8_t *data, size_t size) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *a, *b;
  if (uvble_transport_mem_pair(&loop, &a, &b) != 0) abort();
  uvble_t *ble;
  if (uvble_new_with_transport(&loop, a, &ble) != 0) abort();
  uvble_irq(ble, fuzz_irq, NULL);
  ble->state = BLE_ON;
  ble->info_valid = true;
  ble->hci.acl_mtu = 27;
  ble->hci.acl_total = ble->hci.acl_free = 4;
  ble->hci.l2cap_rx_max_pdu = 4 + 512;
  for (int cid = 4; cid <= 6; cid++) ble->conns.fixed_rx[cid] = fuzz_touch;
  /* Two connections exist so ACL input has somewhere to go. */
  uvble_addr_t peer = {0, {1, 2, 3, 4, 5, 6}};
  conn_add(ble, 0x0040, CONN_ROLE_CENTRAL, &peer);
  conn_add(ble, 0x0041, CONN_ROLE_PERIPHERAL, &peer);
  size_t off = 0;
  while (off + 3 <= size && !ble_dead(ble)) {
    uint8_t kind = data[off];
    size_t len = (size_t)(data[off + 1] | (data[off + 2] << 8));
    off += 3;
    if (len > size - off) len = size - off;
    /* Copy so ASan sees the packet's true extent. */
    uint8_t *pkt = malloc(len ? len : 1);
    memcpy(pkt, data + off, len);
    if (kind & 1)
      acl_on_packet(ble, pkt, len);
    else
      hci_on_event(ble, pkt, len);
    free(pkt);
    off += len;
  }
  uvble_close(ble, NULL, NULL);
  uvble_transport_close(b, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}

#endif
