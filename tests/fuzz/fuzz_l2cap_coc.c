/* SPDX-License-Identifier: Apache-2.0 */
/* LE credit-based channel data path: K-frames (SDU length fields, sizes
 * around MPS and MTU, credits) into an open channel, with reads of any
 * size, credit indications, sends and buffer completions in between.
 *
 * Input: [our mtu (2)][our credits][our mps][peer mtu (2)][peer mps (2)]
 * [peer credits (2)] then records [op][len lo][len hi][bytes]; op 5 with
 * the single byte 0xff makes the controller go away. */
#include "fuzz_l2cap_common.h"

#define PEER_CID 0x0040

static void peer_request(struct fz *f, const uint8_t *cfg) {
  uint8_t req[14] = {0x14, 0x01, 10, 0, 0x80, 0x00, PEER_CID, 0x00};
  memcpy(req + 8, cfg + 5, 6); /* peer MTU, MPS, credits */
  fz_pdu(f, L2CAP_CID_LE_SIGNALING, req, sizeof req);
}

static void credits(struct fz *f, const uint8_t *d, size_t n) {
  if (n < 2) return;
  uint8_t ind[8] = {0x16, 0x02, 4, 0, PEER_CID, 0, d[0], d[1]};
  fz_pdu(f, L2CAP_CID_LE_SIGNALING, ind, sizeof ind);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 11) return 0;
  static struct fz f;
  fz_setup(&f, 1, 27 + data[3]);
  uint16_t mtu = (uint16_t)(data[0] | data[1] << 8);
  uvble_l2cap_set_opt(f.ble, UVBLE_L2CAP_OPT_CREDITS, data[2] % 70 + 1);
  uvble_l2cap_set_opt(f.ble, UVBLE_L2CAP_OPT_TX_BUFFER, 4096);
  uvble_l2cap_listen(f.ble, 0x0080, mtu < 23 ? 23 : mtu);
  peer_request(&f, data);
  uint16_t cid = f.last_cid;
  size_t off = 11;
  while (off + 3 <= size && !ble_dead(f.ble)) {
    uint8_t op = data[off];
    size_t len = (size_t)(data[off + 1] | data[off + 2] << 8);
    off += 3;
    if (len > size - off) len = size - off;
    const uint8_t *d = data + off;
    off += len;
    switch (op % 6) {
      case 0:
      case 1: /* K-frames are what this harness is about */
        fz_pdu(&f, cid, d, len);
        break;
      case 2:
        uvble_l2cap_recvinto(f.ble, FZ_HANDLE, cid, f.buf,
                             len ? (size_t)d[0] * 256 + len : 0);
        break;
      case 3:
        credits(&f, d, len);
        break;
      case 4:
        uvble_l2cap_send(f.ble, FZ_HANDLE, cid, d, len);
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
