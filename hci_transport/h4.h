/* SPDX-License-Identifier: Apache-2.0 */
/* H4 framing (Core Spec Vol 4, Part A): a packet indicator byte, then an HCI
 * packet whose header says how long it is.
 *
 * uvble_h4_t is a pure incremental deframer: feed it bytes in any split and it
 * calls back once per complete packet with a pointer to the packet header.
 * A packet that lies whole inside one feed() is handed up in place, without a
 * copy; only packets cut by a feed() boundary go through the internal buffer.
 * It is strict: an unknown packet indicator or a length above the type's
 * maximum makes feed() return UVBLE_EPROTO, and every later feed() returns it
 * too until uvble_h4_reset().
 */
#ifndef UVBLE_HCI_TRANSPORT_H4_H
#define UVBLE_HCI_TRANSPORT_H4_H

#include <stddef.h>
#include <stdint.h>

#include "uvble/transport.h"

/* Called once per complete packet; type is UVBLE_HCI_*, pkt starts at the
 * packet header (no indicator byte), len = header + payload. pkt is valid
 * only during the call. Returning non-zero stops feed(), which then returns
 * that value; the bytes after this packet are left unconsumed and the
 * deframer stays at a packet boundary. */
typedef int (*uvble_h4_packet_cb)(void *arg, uint8_t type, const uint8_t *pkt,
                                  size_t len);

typedef struct {
  uvble_h4_packet_cb cb;
  void *arg;
  int err;         /* 0, or UVBLE_EPROTO once a framing error was seen */
  uint8_t type;    /* indicator of the packet being assembled; 0 between packets */
  uint8_t hdr_len; /* its header length */
  size_t need;     /* bytes wanted in buf: hdr_len until the header is in, then the whole packet */
  size_t have;     /* bytes in buf */
  uint8_t hunt;    /* uvble_h4_hunt(): 1 looking for 0x04, 2 for 0x0E/0x0F,
                      3 checking the found event's length */
  size_t hunt_dropped; /* bytes thrown away while hunting */
  uint8_t buf[UVBLE_HCI_ISO_MAX];
} uvble_h4_t;

void uvble_h4_init(uvble_h4_t *h, uvble_h4_packet_cb cb, void *arg);
/* Forgets any partial packet and a previous framing error. */
void uvble_h4_reset(uvble_h4_t *h);
/* Until the first Command Complete or Command Status event, throws input
 * away (counted in hunt_dropped) instead of failing: for a serial link
 * opened while the controller was still talking to a previous host, where
 * the first bytes read may be the tail of a packet that tcflush() cut
 * (Vol 4, Part A, 3 has no way to find a packet boundary but this: the
 * host's first command gets one of those two events). Only the event code
 * and the indicator before it are matched, then the event's length is
 * checked: 3 or more for Command Complete, exactly 4 for Command Status;
 * a mismatch goes back to hunting. */
void uvble_h4_hunt(uvble_h4_t *h);
/* Parses len bytes. Returns 0, UVBLE_EPROTO, or a callback's non-zero value. */
int uvble_h4_feed(uvble_h4_t *h, const uint8_t *data, size_t len);
/* Bytes of a partial packet currently held (indicator byte not counted). */
size_t uvble_h4_buffered(const uvble_h4_t *h);

/* Header length of a packet type (3, 4, 3, 2, 4), or 0 for an unknown type. */
size_t uvble_h4_header_len(uint8_t type);
/* Largest packet (header included) of a type, or 0 for an unknown type. */
size_t uvble_h4_max_len(uint8_t type);
/* Given a complete header of a known type, the whole packet's length (header
 * + payload), or UVBLE_EPROTO when the declared length is above the maximum. */
long uvble_h4_packet_len(uint8_t type, const uint8_t *hdr);
/* Checks that pkt[0..len) is exactly one well-formed packet of type:
 * returns 0 or UVBLE_EPROTO. */
int uvble_h4_check_packet(uint8_t type, const uint8_t *pkt, size_t len);

/* Encoder side. Checks that iov[0..iovcnt) concatenated is one well-formed
 * packet of type (known type, complete header, payload length equal to the
 * header's and within the maximum); stores its length (without indicator)
 * in *len. Returns 0 or UVBLE_EINVAL. */
int uvble_h4_check_iov(uint8_t type, const uvble_iov_t *iov, int iovcnt,
                       size_t *len);
/* Writes the indicator byte and the packet into out[0..outlen). Returns the
 * number of bytes written (1 + packet length), UVBLE_EINVAL for a malformed
 * packet or UVBLE_ENOBUFS when out is too small. */
long uvble_h4_encode(uint8_t *out, size_t outlen, uint8_t type,
                     const uvble_iov_t *iov, int iovcnt);

#endif
