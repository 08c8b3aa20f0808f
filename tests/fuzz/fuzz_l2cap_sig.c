/* SPDX-License-Identifier: Apache-2.0 */
/* L2CAP LE signalling (CID 5): arbitrary commands interleaved with K-frames
 * on dynamic CIDs, API calls (connect, disconnect, send, listen, parameter
 * update) and buffer completions, on a central or peripheral link.
 *
 * Input: [config][records...]; config bit 0 picks the role, bits 1-2 the
 * ACCEPT handler's answer; a record is [op][len lo][len hi][bytes]; op 3
 * with the single byte 0xff makes the controller go away. */
#include "fuzz_l2cap_common.h"

static void api(struct fz *f, const uint8_t *d, size_t n) {
  if (n < 3) return;
  uint16_t cid = (uint16_t)(0x40 + (d[1] & 0x3f));
  uint16_t v = (uint16_t)(d[1] | d[2] << 8);
  switch (d[0] % 7) {
    case 0:
      uvble_l2cap_connect(f->ble, FZ_HANDLE, d[1], (uint16_t)(v | 23));
      break;
    case 1:
      uvble_l2cap_disconnect(f->ble, FZ_HANDLE, cid);
      break;
    case 2:
      uvble_l2cap_send(f->ble, FZ_HANDLE, cid, d + 3, n - 3);
      break;
    case 3:
      uvble_l2cap_listen(f->ble, d[1], (uint16_t)(d[2] * 4 + 23));
      break;
    case 4:
      uvble_l2cap_listen_stop(f->ble, d[1]);
      break;
    case 5: {
      struct ble_conn *c = conn_find(f->ble, FZ_HANDLE);
      struct l2cap_conn_params p = {d[1], v, d[2], (uint16_t)(v * 2)};
      if (c) l2cap_conn_param_update_request(f->ble, c, &p, NULL, NULL);
      break;
    }
    default:
      uvble_l2cap_recvinto(f->ble, FZ_HANDLE, cid, f->buf, v);
      break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static struct fz f;
  fz_setup(&f, data[0] & 1, 27);
  static const int answers[4] = {0, 0x0004, -1, 0x10000};
  f.accept_ret = answers[(data[0] >> 1) & 3];
  uvble_l2cap_listen(f.ble, 0x0080, 100);
  uvble_l2cap_listen(f.ble, 0x0025, 23);
  size_t off = 1;
  while (off + 3 <= size && !ble_dead(f.ble)) {
    uint8_t op = data[off];
    size_t len = (size_t)(data[off + 1] | data[off + 2] << 8);
    off += 3;
    if (len > size - off) len = size - off;
    const uint8_t *d = data + off;
    off += len;
    switch (op & 3) {
      case 0:
        fz_pdu(&f, L2CAP_CID_LE_SIGNALING, d, len);
        break;
      case 1:
        fz_pdu(&f, (uint16_t)(0x40 + ((op >> 2) & 0x3f)), d, len);
        break;
      case 2:
        api(&f, d, len);
        break;
      default:
        if (len == 1 && d[0] == 0xff)
          fz_controller_gone(&f);
        else
          fz_completed(&f);
        break;
    }
  }
  fz_teardown(&f);
  return 0;
}
