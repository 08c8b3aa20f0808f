/* SPDX-License-Identifier: Apache-2.0 */
/* H4 deframer and encoder; see h4.h. */
#include "h4.h"

#include <stdbool.h>
#include <string.h>

#include "uvble/error.h"

size_t uvble_h4_header_len(uint8_t type) {
  switch (type) {
    case UVBLE_HCI_COMMAND: return 3; /* opcode(2) length(1) */
    case UVBLE_HCI_ACL: return 4;     /* handle+flags(2) length(2) */
    case UVBLE_HCI_SCO: return 3;     /* handle+flags(2) length(1) */
    case UVBLE_HCI_EVENT: return 2;   /* code(1) length(1) */
    case UVBLE_HCI_ISO: return 4;     /* handle+flags(2) length(14 bits + 2 RFU) */
    default: return 0;
  }
}

size_t uvble_h4_max_len(uint8_t type) {
  switch (type) {
    case UVBLE_HCI_COMMAND: return UVBLE_HCI_CMD_MAX;
    case UVBLE_HCI_ACL: return UVBLE_HCI_ACL_MAX;
    case UVBLE_HCI_SCO: return UVBLE_HCI_SCO_MAX;
    case UVBLE_HCI_EVENT: return UVBLE_HCI_EVT_MAX;
    case UVBLE_HCI_ISO: return UVBLE_HCI_ISO_MAX;
    default: return 0;
  }
}

long uvble_h4_packet_len(uint8_t type, const uint8_t *hdr) {
  unsigned n;
  switch (type) {
    case UVBLE_HCI_COMMAND:
    case UVBLE_HCI_SCO:
      return 3 + (long)hdr[2];
    case UVBLE_HCI_EVENT:
      return 2 + (long)hdr[1];
    case UVBLE_HCI_ACL:
      n = (unsigned)hdr[2] | (unsigned)hdr[3] << 8;
      return n > UVBLE_HCI_ACL_MAX_DATA ? UVBLE_EPROTO : 4 + (long)n;
    case UVBLE_HCI_ISO:
      /* The length field is 14 bits; the top two bits are RFU and a set one
       * is a length this host will not buffer. */
      n = (unsigned)hdr[2] | (unsigned)hdr[3] << 8;
      return n > UVBLE_HCI_ISO_MAX - 4 ? UVBLE_EPROTO : 4 + (long)n;
    default:
      return UVBLE_EPROTO;
  }
}

int uvble_h4_check_packet(uint8_t type, const uint8_t *pkt, size_t len) {
  size_t hl = uvble_h4_header_len(type);
  if (hl == 0 || len < hl) return UVBLE_EPROTO;
  long total = uvble_h4_packet_len(type, pkt);
  if (total < 0 || (size_t)total != len) return UVBLE_EPROTO;
  return 0;
}

void uvble_h4_init(uvble_h4_t *h, uvble_h4_packet_cb cb, void *arg) {
  h->cb = cb;
  h->arg = arg;
  h->hunt_dropped = 0;
  uvble_h4_reset(h);
}

void uvble_h4_reset(uvble_h4_t *h) {
  h->err = 0;
  h->hunt = 0;
  h->type = 0;
  h->hdr_len = 0;
  h->need = 0;
  h->have = 0;
}

size_t uvble_h4_buffered(const uvble_h4_t *h) { return h->have; }

static int h4_fail(uvble_h4_t *h) {
  h->err = UVBLE_EPROTO;
  h->type = 0;
  h->have = 0;
  h->need = 0;
  return UVBLE_EPROTO;
}

void uvble_h4_hunt(uvble_h4_t *h) {
  uvble_h4_reset(h);
  h->hunt = 1;
}

#define EVT_CMD_COMPLETE 0x0E
#define EVT_CMD_STATUS 0x0F

/* Consumes bytes until an indicator 0x04 followed by a Command Complete or
 * Status code; then the deframer holds that event's first header byte and
 * hunt is 3 until its length byte has been checked. */
static size_t hunt(uvble_h4_t *h, const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n && (h->hunt == 1 || h->hunt == 2)) {
    uint8_t b = p[i++];
    if (h->hunt == 2 && (b == EVT_CMD_COMPLETE || b == EVT_CMD_STATUS)) {
      h->hunt = 3; /* checked once the length is in */
      h->type = UVBLE_HCI_EVENT;
      h->hdr_len = 2;
      h->need = 2;
      h->buf[0] = b;
      h->have = 1;
      break;
    }
    if (h->hunt == 2) h->hunt_dropped++; /* the 0x04 before b */
    if (b == UVBLE_HCI_EVENT) {
      h->hunt = 2;
    } else {
      h->hunt = 1;
      h->hunt_dropped++;
    }
  }
  return i;
}

/* The hunted event's length: anything else was not a real one. */
static bool hunt_len_ok(const uint8_t *hdr) {
  return hdr[0] == EVT_CMD_COMPLETE ? hdr[1] >= 3 : hdr[1] == 4;
}

int uvble_h4_feed(uvble_h4_t *h, const uint8_t *p, size_t n) {
  if (h->err) return h->err;
  while (n > 0) {
    if (h->hunt == 1 || h->hunt == 2) {
      size_t used = hunt(h, p, n);
      p += used;
      n -= used;
      continue;
    }
    if (h->type == 0) {
      /* At a packet boundary: hand up in place whatever is complete. */
      uint8_t type = p[0];
      size_t hl = uvble_h4_header_len(type);
      if (hl == 0) return h4_fail(h);
      if (n - 1 >= hl) {
        long total = uvble_h4_packet_len(type, p + 1);
        if (total < 0) return h4_fail(h);
        if (n - 1 >= (size_t)total) {
          int r = h->cb(h->arg, type, p + 1, (size_t)total);
          p += 1 + (size_t)total;
          n -= 1 + (size_t)total;
          if (r) return r;
          continue;
        }
      }
      h->type = type;
      h->hdr_len = (uint8_t)hl;
      h->need = hl;
      h->have = 0;
      p++;
      n--;
      continue;
    }
    size_t take = h->need - h->have;
    if (take > n) take = n;
    memcpy(h->buf + h->have, p, take);
    h->have += take;
    p += take;
    n -= take;
    if (h->have < h->need) break;
    if (h->need == h->hdr_len) {
      if (h->hunt == 3 && !hunt_len_ok(h->buf)) {
        uint8_t len_byte = h->buf[1]; /* may start the real thing */
        h->hunt_dropped += 2; /* indicator and code */
        h->type = 0;
        h->have = h->need = 0;
        h->hunt = 1;
        hunt(h, &len_byte, 1);
        continue;
      }
      h->hunt = 0;
      long total = uvble_h4_packet_len(h->type, h->buf);
      if (total < 0) return h4_fail(h);
      h->need = (size_t)total;
      if (h->need > h->have) continue;
    }
    uint8_t type = h->type;
    size_t len = h->have;
    h->type = 0;
    h->have = 0;
    h->need = 0;
    int r = h->cb(h->arg, type, h->buf, len);
    if (r) return r;
  }
  return 0;
}

int uvble_h4_check_iov(uint8_t type, const uvble_iov_t *iov, int iovcnt,
                       size_t *len) {
  size_t hl = uvble_h4_header_len(type);
  if (hl == 0 || iovcnt < 0 || (iovcnt > 0 && !iov)) return UVBLE_EINVAL;
  uint8_t hdr[4];
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) {
    size_t l = iov[i].len;
    if (l && !iov[i].base) return UVBLE_EINVAL;
    if (l > UVBLE_HCI_ISO_MAX) return UVBLE_EINVAL; /* also keeps total from overflowing */
    if (total < hl) {
      size_t c = hl - total < l ? hl - total : l;
      memcpy(hdr + total, iov[i].base, c);
    }
    total += l;
    if (total > UVBLE_HCI_ISO_MAX) return UVBLE_EINVAL;
  }
  if (total < hl) return UVBLE_EINVAL;
  long want = uvble_h4_packet_len(type, hdr);
  if (want < 0 || (size_t)want != total) return UVBLE_EINVAL;
  if (len) *len = total;
  return 0;
}

long uvble_h4_encode(uint8_t *out, size_t outlen, uint8_t type,
                     const uvble_iov_t *iov, int iovcnt) {
  size_t len;
  int r = uvble_h4_check_iov(type, iov, iovcnt, &len);
  if (r) return r;
  if (outlen < 1 + len) return UVBLE_ENOBUFS;
  out[0] = type;
  size_t off = 1;
  for (int i = 0; i < iovcnt; i++) {
    if (iov[i].len) memcpy(out + off, iov[i].base, iov[i].len);
    off += iov[i].len;
  }
  return (long)off;
}
