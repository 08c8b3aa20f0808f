/* SPDX-License-Identifier: Apache-2.0 */
/* H4 deframer fuzz harness. The input starts with the sizes of the chunks
 * the rest is fed in (so libFuzzer explores splits as well as contents). Invariants: every packet handed up has a known type, a length
 * equal to its header-declared length plus the header, within the type's
 * maximum, and lies inside the input's bytes; the packets' bytes
 * re-encoded equal the consumed prefix of the stream; after an error every
 * feed keeps failing until reset. Bit 4 of the first byte starts the
 * deframer hunting (uvble_h4_hunt): then the first packet must be a Command
 * Complete (length >= 3) or Command Status (length 4) that starts right
 * after the hunt_dropped bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h4.h"
#include "uvble/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
  const uint8_t *stream; /* the bytes fed, for comparing */
  size_t stream_len;
  size_t consumed; /* bytes of the stream accounted for by delivered packets */
  size_t packets;
  int hunting;
} check_t;

static check_t chk;
static uvble_h4_t h4;

static int on_packet(void *arg, uint8_t type, const uint8_t *pkt, size_t len) {
  check_t *c = arg;
  if (c->hunting && c->packets == 0) {
    if (type != UVBLE_HCI_EVENT || h4.hunt != 0) abort();
    if (pkt[0] == 0x0e ? pkt[1] < 3 : (pkt[0] != 0x0f || pkt[1] != 4)) abort();
    c->consumed = h4.hunt_dropped;
  }
  size_t hl = uvble_h4_header_len(type);
  if (hl == 0) abort();
  if (len < hl) abort();
  long want = uvble_h4_packet_len(type, pkt);
  if (want < 0 || (size_t)want != len) abort();
  if (len > uvble_h4_max_len(type)) abort();
  /* Declared length, decoded independently. */
  size_t declared;
  switch (type) {
    case UVBLE_HCI_EVENT: declared = pkt[1]; break;
    case UVBLE_HCI_COMMAND:
    case UVBLE_HCI_SCO: declared = pkt[2]; break;
    default: declared = (size_t)pkt[2] | (size_t)pkt[3] << 8; break;
  }
  if (declared + hl != len) abort();
  /* The packet is exactly the next bytes of the stream. */
  if (c->consumed + 1 + len > c->stream_len) abort();
  if (c->stream[c->consumed] != type) abort();
  if (memcmp(c->stream + c->consumed + 1, pkt, len) != 0) abort();
  c->consumed += 1 + len;
  c->packets++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Layout: n = data[0] & 15, then n chunk sizes (0 = all the rest), then
   * the H4 stream, fed in chunks of those sizes, cycling. */
  if (size < 1) return 0;
  size_t nsizes = data[0] & 15;
  int hunting = data[0] & 16;
  if (size < 1 + nsizes) return 0;
  const uint8_t *sizes = data + 1;
  data += 1 + nsizes;
  size -= 1 + nsizes;
  memset(&chk, 0, sizeof chk);
  chk.stream = data;
  chk.stream_len = size;
  chk.hunting = hunting;
  uvble_h4_init(&h4, on_packet, &chk);
  if (hunting) uvble_h4_hunt(&h4);
  size_t off = 0, k = 0;
  int err = 0;
  while (off < size) {
    size_t n = nsizes ? sizes[k++ % nsizes] : 0;
    if (n == 0 || n > size - off) n = size - off;
    int r = uvble_h4_feed(&h4, data + off, n);
    if (r != 0) {
      if (r != UVBLE_EPROTO) abort();
      err = r;
      break;
    }
    off += n;
  }
  if (err) {
    /* Sticky until reset. */
    if (uvble_h4_feed(&h4, data, size) != UVBLE_EPROTO) abort();
    size_t before = chk.packets;
    uint8_t evt[] = {UVBLE_HCI_EVENT, 0x0e, 0x00};
    if (uvble_h4_feed(&h4, evt, sizeof evt) != UVBLE_EPROTO) abort();
    if (chk.packets != before) abort();
    uvble_h4_reset(&h4);
    chk.stream = evt;
    chk.stream_len = sizeof evt;
    chk.consumed = 0;
    if (uvble_h4_feed(&h4, evt, sizeof evt) != 0 || chk.packets != before + 1) abort();
  } else if (hunting && chk.packets == 0) {
    /* Nothing delivered yet: all dropped but a pending 0x04, or the found
     * event's indicator and the part of it held. */
    size_t held = h4.hunt == 2 ? 1 : h4.hunt == 1 ? 0 : 1 + uvble_h4_buffered(&h4);
    if (h4.hunt_dropped + held != size) abort();
  } else {
    /* Everything fed is either a delivered packet or the partial one held. */
    if (chk.consumed > size) abort();
    size_t rest = size - chk.consumed;
    if (rest == 0) {
      if (uvble_h4_buffered(&h4) != 0) abort();
    } else if (uvble_h4_buffered(&h4) != rest - 1) {
      abort();
    }
  }
  return 0;
}
