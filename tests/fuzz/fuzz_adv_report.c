/* SPDX-License-Identifier: Apache-2.0 */
/* LE Advertising Report and LE Extended Advertising Report parsing (with
 * fragment reassembly and the scan filters) on arbitrary events, through
 * the HCI event path of a stack that is scanning.
 *
 * Input: one flags byte, then events as [selector][length][payload]:
 *   flags bit 0  stop the scan from the handler at the 3rd result
 *         bit 1  a prefix filter (manufacturer data 0x4c 0x00)
 *         bit 2  a minimum RSSI of -60
 *   selector bit 0  extended (0x0D) or legacy (0x02) report subevent
 * The payload (at most 254 bytes) follows the subevent code in an LE Meta
 * event. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gap_internal.h"

static volatile uint8_t sink;
static int results;
static bool stop_third;

static int on_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d, void *a) {
  (void)a;
  if (ev != UVBLE_IRQ_SCAN_RESULT) return 0;
  uint8_t x = d->scan_result.adv_type ^ (uint8_t)d->scan_result.rssi;
  /* Every byte handed out must be readable. */
  for (size_t i = 0; i < d->scan_result.adv_data_len; i++)
    x ^= d->scan_result.adv_data[i];
  sink = x;
  if (++results == 3 && stop_third) uvble_gap_scan_stop(ble);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *a, *b;
  if (uvble_transport_mem_pair(&loop, &a, &b) != 0) abort();
  uvble_t *ble;
  if (uvble_new_with_transport(&loop, a, &ble) != 0) abort();
  uvble_irq(ble, on_irq, NULL);
  /* As if the init sequence and uvble_gap_scan had run. */
  ble->state = BLE_ON;
  ble->info_valid = true;
  ble->gap->mode = GAP_MODE_EXTENDED;
  ble->gap->scan.active = true;
  results = 0;
  uint8_t flags = data[0];
  stop_third = flags & 1;
  static const uint8_t PFX[] = {0xff, 0x4c, 0x00};
  uvble_gap_prefix_t pf = {PFX, sizeof PFX};
  uvble_gap_scan_filter(ble, (flags & 2) ? &pf : NULL, (flags & 2) ? 1 : 0,
                        (flags & 4) ? -60 : UVBLE_GAP_RSSI_ANY);
  size_t off = 1;
  while (off + 2 <= size && !ble_dead(ble)) {
    uint8_t sel = data[off];
    size_t len = data[off + 1];
    off += 2;
    if (len > size - off) len = size - off;
    if (len > 253) len = 253;
    /* Copy so ASan sees the event's true extent. */
    size_t pkt_len = 3 + len;
    uint8_t *pkt = malloc(pkt_len);
    pkt[0] = 0x3E;
    pkt[1] = (uint8_t)(1 + len);
    pkt[2] = (sel & 1) ? HCI_LE_EXT_ADV_REPORT : HCI_LE_ADVERTISING_REPORT;
    if (len) memcpy(pkt + 3, data + off, len);
    hci_on_event(ble, pkt, pkt_len);
    free(pkt);
    off += len;
  }
  uvble_close(ble, NULL, NULL);
  uvble_transport_close(b, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return 0;
}
