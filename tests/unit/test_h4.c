/* SPDX-License-Identifier: Apache-2.0 */
/* The H4 deframer and encoder, driven directly. */
#include <stdlib.h>

#include "h4.h"
#include "test.h"
#include "uvble/error.h"

typedef struct {
  uint8_t type;
  size_t len;
  uint8_t data[UVBLE_HCI_ISO_MAX];
  const uint8_t *ptr;
} pkt_t;

typedef struct {
  pkt_t *pkts;
  size_t n, cap;
  int stop_after; /* return 1 from the callback after this many packets (0: never) */
} sink_t;

static int on_packet(void *arg, uint8_t type, const uint8_t *data, size_t len) {
  sink_t *s = arg;
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 16;
    s->pkts = realloc(s->pkts, s->cap * sizeof *s->pkts);
  }
  pkt_t *p = &s->pkts[s->n++];
  p->type = type;
  p->len = len;
  p->ptr = data;
  memcpy(p->data, data, len);
  return s->stop_after && (int)s->n >= s->stop_after ? 1 : 0;
}

static void sink_free(sink_t *s) {
  free(s->pkts);
  memset(s, 0, sizeof *s);
}

/* One of each type, with payloads that contain H4 indicators and zeros. */
static const uint8_t stream[] = {
    0x01, 0x03, 0x0c, 0x00,                               /* HCI_Reset */
    0x04, 0x0e, 0x04, 0x01, 0x03, 0x0c, 0x00,             /* Command Complete */
    0x02, 0x40, 0x20, 0x06, 0x00, 0x02, 0x00, 0x04, 0x00, 0x01, 0x04, /* ACL */
    0x03, 0x01, 0x00, 0x03, 0x01, 0x02, 0x03,             /* SCO */
    0x05, 0x01, 0x20, 0x05, 0x00, 0x05, 0x04, 0x03, 0x02, 0x01, /* ISO */
    0x04, 0x13, 0x05, 0x01, 0x40, 0x00, 0x01, 0x00,       /* Num Completed */
};
static const struct {
  uint8_t type;
  size_t off, len;
} expect[] = {
    {UVBLE_HCI_COMMAND, 1, 3}, {UVBLE_HCI_EVENT, 5, 6}, {UVBLE_HCI_ACL, 12, 10},
    {UVBLE_HCI_SCO, 23, 6},    {UVBLE_HCI_ISO, 30, 9},  {UVBLE_HCI_EVENT, 40, 7},
};
#define NEXPECT (sizeof expect / sizeof expect[0])

static void check_all(const sink_t *s) {
  REQUIRE_EQ(s->n, NEXPECT);
  for (size_t i = 0; i < NEXPECT; i++) {
    CHECK_EQ(s->pkts[i].type, expect[i].type);
    CHECK_EQ(s->pkts[i].len, expect[i].len);
    CHECK_MEM(s->pkts[i].data, stream + expect[i].off, expect[i].len);
  }
}

TEST(every_type_in_one_read_is_zero_copy) {
  static uvble_h4_t h;
  sink_t s = {0};
  uvble_h4_init(&h, on_packet, &s);
  CHECK_EQ(uvble_h4_feed(&h, stream, sizeof stream), 0);
  check_all(&s);
  /* Whole packets inside one read are handed up in place. */
  for (size_t i = 0; i < s.n && i < NEXPECT; i++)
    CHECK(s.pkts[i].ptr == stream + expect[i].off);
  CHECK_EQ(uvble_h4_buffered(&h), 0);
  sink_free(&s);
}

TEST(split_at_every_boundary) {
  static uvble_h4_t h;
  for (size_t cut = 0; cut <= sizeof stream; cut++) {
    sink_t s = {0};
    uvble_h4_init(&h, on_packet, &s);
    CHECK_EQ(uvble_h4_feed(&h, stream, cut), 0);
    CHECK_EQ(uvble_h4_feed(&h, stream + cut, sizeof stream - cut), 0);
    check_all(&s);
    sink_free(&s);
  }
  /* And every pair of cuts (three reads). */
  for (size_t a = 0; a <= sizeof stream; a++)
    for (size_t b = a; b <= sizeof stream; b++) {
      sink_t s = {0};
      uvble_h4_init(&h, on_packet, &s);
      CHECK_EQ(uvble_h4_feed(&h, stream, a), 0);
      CHECK_EQ(uvble_h4_feed(&h, stream + a, b - a), 0);
      CHECK_EQ(uvble_h4_feed(&h, stream + b, sizeof stream - b), 0);
      check_all(&s);
      sink_free(&s);
    }
}

TEST(byte_at_a_time) {
  static uvble_h4_t h;
  sink_t s = {0};
  uvble_h4_init(&h, on_packet, &s);
  for (size_t i = 0; i < sizeof stream; i++) {
    CHECK_EQ(uvble_h4_feed(&h, stream + i, 1), 0);
  }
  check_all(&s);
  sink_free(&s);
}

TEST(many_packets_in_one_read) {
  static uvble_h4_t h;
  static uint8_t big[64 * 1024];
  size_t n = 0, count = 0;
  while (n + sizeof stream <= sizeof big) {
    memcpy(big + n, stream, sizeof stream);
    n += sizeof stream;
    count++;
  }
  sink_t s = {0};
  uvble_h4_init(&h, on_packet, &s);
  /* Two reads cutting a packet in the middle. */
  CHECK_EQ(uvble_h4_feed(&h, big, n / 2 + 3), 0);
  CHECK_EQ(uvble_h4_feed(&h, big + n / 2 + 3, n - n / 2 - 3), 0);
  REQUIRE_EQ(s.n, count * NEXPECT);
  for (size_t i = 0; i < s.n; i++) {
    CHECK_EQ(s.pkts[i].type, expect[i % NEXPECT].type);
    CHECK_EQ(s.pkts[i].len, expect[i % NEXPECT].len);
  }
  sink_free(&s);
}

TEST(zero_length_payloads) {
  static uvble_h4_t h;
  const uint8_t z[] = {
      0x01, 0x01, 0x10, 0x00,       /* command, no parameters */
      0x02, 0x01, 0x00, 0x00, 0x00, /* ACL, no data */
      0x03, 0x01, 0x00, 0x00,       /* SCO */
      0x04, 0x05, 0x00,             /* event, no parameters */
      0x05, 0x01, 0x00, 0x00, 0x00, /* ISO */
  };
  sink_t s = {0};
  uvble_h4_init(&h, on_packet, &s);
  CHECK_EQ(uvble_h4_feed(&h, z, sizeof z), 0);
  REQUIRE_EQ(s.n, 5);
  CHECK_EQ(s.pkts[0].len, 3);
  CHECK_EQ(s.pkts[1].len, 4);
  CHECK_EQ(s.pkts[2].len, 3);
  CHECK_EQ(s.pkts[3].len, 2);
  CHECK_EQ(s.pkts[4].len, 4);
  sink_free(&s);
  /* Split after each header too. */
  uvble_h4_init(&h, on_packet, &s);
  for (size_t i = 0; i < sizeof z; i++) CHECK_EQ(uvble_h4_feed(&h, z + i, 1), 0);
  CHECK_EQ(s.n, 5);
  sink_free(&s);
}

TEST(largest_packets_of_each_type) {
  static uvble_h4_t h;
  static uint8_t buf[1 + UVBLE_HCI_ISO_MAX];
  const struct {
    uint8_t type;
    size_t hl, max;
  } k[] = {{UVBLE_HCI_COMMAND, 3, UVBLE_HCI_CMD_MAX},
           {UVBLE_HCI_ACL, 4, UVBLE_HCI_ACL_MAX},
           {UVBLE_HCI_SCO, 3, UVBLE_HCI_SCO_MAX},
           {UVBLE_HCI_EVENT, 2, UVBLE_HCI_EVT_MAX},
           {UVBLE_HCI_ISO, 4, UVBLE_HCI_ISO_MAX}};
  for (size_t i = 0; i < 5; i++) {
    size_t plen = k[i].max - k[i].hl;
    memset(buf, 0xa5, sizeof buf);
    buf[0] = k[i].type;
    size_t lenpos = k[i].hl == 2 ? 2 : 3; /* after the indicator and code/handle */
    buf[lenpos] = (uint8_t)plen;          /* low (or only) length byte */
    if (k[i].hl == 4) buf[4] = (uint8_t)(plen >> 8);
    sink_t s = {0};
    uvble_h4_init(&h, on_packet, &s);
    /* Split so it has to be assembled in the buffer. */
    CHECK_EQ(uvble_h4_feed(&h, buf, 7), 0);
    CHECK_EQ(uvble_h4_feed(&h, buf + 7, k[i].max + 1 - 7), 0);
    REQUIRE_EQ(s.n, 1);
    CHECK_EQ(s.pkts[0].type, k[i].type);
    CHECK_EQ(s.pkts[0].len, k[i].max);
    CHECK_MEM(s.pkts[0].data, buf + 1, k[i].max);
    sink_free(&s);
  }
}

TEST(unknown_type_is_eproto_and_sticky) {
  static uvble_h4_t h;
  const uint8_t good[] = {0x04, 0x0e, 0x00};
  const uint8_t types[] = {0x00, 0x06, 0x07, 0x3f, 0x80, 0xf0, 0xff};
  for (size_t i = 0; i < sizeof types; i++) {
    sink_t s = {0};
    uvble_h4_init(&h, on_packet, &s);
    uint8_t bad[8] = {0x04, 0x0e, 0x00, types[i], 0x04, 0x0e, 0x00};
    CHECK_EQ(uvble_h4_feed(&h, bad, 7), UVBLE_EPROTO);
    CHECK_EQ(s.n, 1); /* the packet before the bad byte was delivered */
    /* Refuses everything until reset, even well-formed input. */
    CHECK_EQ(uvble_h4_feed(&h, good, sizeof good), UVBLE_EPROTO);
    CHECK_EQ(s.n, 1);
    uvble_h4_reset(&h);
    CHECK_EQ(uvble_h4_feed(&h, good, sizeof good), 0);
    CHECK_EQ(s.n, 2);
    sink_free(&s);
  }
}

TEST(oversize_lengths_are_eproto) {
  static uvble_h4_t h;
  /* ACL: data length above UVBLE_HCI_ACL_MAX_DATA (4096). */
  const uint8_t acl[] = {0x02, 0x01, 0x00, 0x01, 0x10}; /* 4097 */
  const uint8_t acl_ffff[] = {0x02, 0x01, 0x00, 0xff, 0xff};
  /* ISO: the length is 14 bits; either RFU bit set is over the maximum. */
  const uint8_t iso[] = {0x05, 0x01, 0x00, 0x00, 0x40};
  const uint8_t iso_ffff[] = {0x05, 0x01, 0x00, 0xff, 0xff};
  const struct {
    const uint8_t *p;
    size_t n;
  } cases[] = {{acl, sizeof acl}, {acl_ffff, sizeof acl_ffff}, {iso, sizeof iso},
               {iso_ffff, sizeof iso_ffff}};
  for (size_t i = 0; i < 4; i++) {
    sink_t s = {0};
    /* In one read... */
    uvble_h4_init(&h, on_packet, &s);
    CHECK_EQ(uvble_h4_feed(&h, cases[i].p, cases[i].n), UVBLE_EPROTO);
    /* ...and with the header split: the error comes once it is complete,
     * before any payload is buffered. */
    uvble_h4_init(&h, on_packet, &s);
    CHECK_EQ(uvble_h4_feed(&h, cases[i].p, 4), 0);
    CHECK_EQ(uvble_h4_feed(&h, cases[i].p + 4, 1), UVBLE_EPROTO);
    CHECK_EQ(uvble_h4_feed(&h, cases[i].p, 1), UVBLE_EPROTO);
    CHECK_EQ(s.n, 0);
    sink_free(&s);
  }
  /* One below: accepted (the maxima themselves are in largest_packets). */
  CHECK_EQ(uvble_h4_packet_len(UVBLE_HCI_ACL, (const uint8_t[]){1, 0, 0x00, 0x10}), 4 + 4096);
  CHECK_EQ(uvble_h4_packet_len(UVBLE_HCI_ISO, (const uint8_t[]){1, 0, 0xff, 0x3f}), 4 + 16383);
  /* Command, event and SCO lengths are one byte: never above their maximum
   * in a stream, but a sender can still build one too long. */
  static uint8_t big[300];
  memset(big, 0, sizeof big);
  big[0] = 0x01;
  big[1] = 0x10;
  big[2] = 255;
  uvble_iov_t v = {big, 3 + 256};
  CHECK_EQ(uvble_h4_check_iov(UVBLE_HCI_COMMAND, &v, 1, NULL), UVBLE_EINVAL);
  v.len = 2 + 256;
  CHECK_EQ(uvble_h4_check_iov(UVBLE_HCI_EVENT, &v, 1, NULL), UVBLE_EINVAL);
  v.len = 3 + 256;
  CHECK_EQ(uvble_h4_check_iov(UVBLE_HCI_SCO, &v, 1, NULL), UVBLE_EINVAL);
}

TEST(reset_drops_partial_packet) {
  static uvble_h4_t h;
  sink_t s = {0};
  uvble_h4_init(&h, on_packet, &s);
  CHECK_EQ(uvble_h4_feed(&h, stream + 11, 6), 0); /* half an ACL packet */
  CHECK_EQ(uvble_h4_buffered(&h), 5);
  uvble_h4_reset(&h);
  CHECK_EQ(uvble_h4_buffered(&h), 0);
  CHECK_EQ(uvble_h4_feed(&h, stream, sizeof stream), 0);
  check_all(&s);
  sink_free(&s);
}

TEST(callback_can_stop_feed) {
  static uvble_h4_t h;
  sink_t s = {0};
  s.stop_after = 2;
  uvble_h4_init(&h, on_packet, &s);
  CHECK_EQ(uvble_h4_feed(&h, stream, sizeof stream), 1);
  CHECK_EQ(s.n, 2);
  /* The deframer is at a boundary: the rest parses on its own. */
  s.stop_after = 0;
  CHECK_EQ(uvble_h4_feed(&h, stream + 11, sizeof stream - 11), 0);
  CHECK_EQ(s.n, NEXPECT);
  sink_free(&s);
}

TEST(encoder_checks_and_writes) {
  uint8_t out[64];
  const uint8_t hdr[] = {0x03, 0x0c, 0x00};
  uvble_iov_t v[2] = {{hdr, 3}, {NULL, 0}};
  CHECK_EQ(uvble_h4_encode(out, sizeof out, UVBLE_HCI_COMMAND, v, 2), 4);
  CHECK_MEM(out, "\x01\x03\x0c\x00", 4);
  /* Header split across iovecs, payload in a third. */
  const uint8_t a[] = {0x40, 0x00}, b[] = {0x03, 0x00}, c[] = {9, 8, 7};
  uvble_iov_t w[3] = {{a, 2}, {b, 2}, {c, 3}};
  size_t len = 0;
  CHECK_EQ(uvble_h4_check_iov(UVBLE_HCI_ACL, w, 3, &len), 0);
  CHECK_EQ(len, 7);
  CHECK_EQ(uvble_h4_encode(out, sizeof out, UVBLE_HCI_ACL, w, 3), 8);
  CHECK_MEM(out, "\x02\x40\x00\x03\x00\x09\x08\x07", 8);
  CHECK_EQ(uvble_h4_encode(out, 7, UVBLE_HCI_ACL, w, 3), UVBLE_ENOBUFS);
  /* Length mismatch, short header, unknown type. */
  w[2].len = 2;
  CHECK_EQ(uvble_h4_check_iov(UVBLE_HCI_ACL, w, 3, NULL), UVBLE_EINVAL);
  CHECK_EQ(uvble_h4_check_iov(UVBLE_HCI_ACL, w, 1, NULL), UVBLE_EINVAL);
  CHECK_EQ(uvble_h4_check_iov(0x06, v, 1, NULL), UVBLE_EINVAL);
  CHECK_EQ(uvble_h4_check_iov(UVBLE_HCI_COMMAND, NULL, 1, NULL), UVBLE_EINVAL);
  /* Encoded output parses back. */
  static uvble_h4_t h;
  sink_t s = {0};
  uvble_h4_init(&h, on_packet, &s);
  CHECK_EQ(uvble_h4_feed(&h, (const uint8_t *)"\x02\x40\x00\x03\x00\x09\x08\x07", 8), 0);
  REQUIRE_EQ(s.n, 1);
  CHECK_EQ(s.pkts[0].type, UVBLE_HCI_ACL);
  CHECK_EQ(s.pkts[0].len, 7);
  sink_free(&s);
}

TEST(check_packet_for_datagrams) {
  const uint8_t evt[] = {0x0e, 0x01, 0x05};
  CHECK_EQ(uvble_h4_check_packet(UVBLE_HCI_EVENT, evt, 3), 0);
  CHECK_EQ(uvble_h4_check_packet(UVBLE_HCI_EVENT, evt, 2), UVBLE_EPROTO);
  CHECK_EQ(uvble_h4_check_packet(UVBLE_HCI_EVENT, evt, 1), UVBLE_EPROTO);
  CHECK_EQ(uvble_h4_check_packet(0x09, evt, 3), UVBLE_EPROTO);
}

/* uvble_h4_hunt: a serial port opened mid-stream. The bytes below are the
 * tail of an LE Advertising Report (an indicator 0x04 and a code other than
 * 0x0E/0x0F inside), a fake Command Status with a wrong length (0x0F, 0x05:
 * Command Status is always 4 long, Vol 4, Part E, 7.7.15), then a real
 * Command Complete for HCI_Reset (7.7.14: 0x0E, length 4, Num_HCI_Command_
 * Packets, opcode 0x0C03, status) and an ordinary event after it. */
static const uint8_t hunt_in[] = {
    0x00, 0x3e, 0x04, 0x3e, 0xc5,             /* tail: 5 bytes */
    0x04, 0x0f, 0x05,                         /* fake status header */
    0x04, 0x0e, 0x04, 0x01, 0x03, 0x0c, 0x00, /* Command Complete (Reset) */
    0x04, 0x05, 0x04, 0x00, 0x40, 0x00, 0x16, /* Disconnection Complete */
};

static void hunt_check(const sink_t *s, const uvble_h4_t *h) {
  REQUIRE_EQ(s->n, 2);
  CHECK_EQ(s->pkts[0].type, UVBLE_HCI_EVENT);
  CHECK_EQ(s->pkts[0].len, 6);
  CHECK_MEM(s->pkts[0].data, hunt_in + 9, 6);
  CHECK_EQ(s->pkts[1].len, 6);
  CHECK_MEM(s->pkts[1].data, hunt_in + 16, 6);
  CHECK_EQ(h->hunt_dropped, 8); /* the tail and the fake header */
  CHECK_EQ(h->hunt, 0);
}

TEST(hunt_skips_to_the_first_command_complete) {
  static uvble_h4_t h;
  sink_t s = {0};
  uvble_h4_init(&h, on_packet, &s);
  uvble_h4_hunt(&h);
  CHECK_EQ(uvble_h4_feed(&h, hunt_in, sizeof hunt_in), 0);
  hunt_check(&s, &h);
  sink_free(&s);
}

TEST(hunt_byte_at_a_time_and_split_everywhere) {
  static uvble_h4_t h;
  for (size_t cut = 0; cut <= sizeof hunt_in; cut++) {
    sink_t s = {0};
    uvble_h4_init(&h, on_packet, &s);
    uvble_h4_hunt(&h);
    CHECK_EQ(uvble_h4_feed(&h, hunt_in, cut), 0);
    CHECK_EQ(uvble_h4_feed(&h, hunt_in + cut, sizeof hunt_in - cut), 0);
    hunt_check(&s, &h);
    sink_free(&s);
  }
  sink_t s = {0};
  uvble_h4_init(&h, on_packet, &s);
  uvble_h4_hunt(&h);
  for (size_t i = 0; i < sizeof hunt_in; i++)
    CHECK_EQ(uvble_h4_feed(&h, hunt_in + i, 1), 0);
  hunt_check(&s, &h);
  sink_free(&s);
}

TEST(after_the_hunt_the_deframer_is_strict_again) {
  static uvble_h4_t h;
  sink_t s = {0};
  uvble_h4_init(&h, on_packet, &s);
  uvble_h4_hunt(&h);
  const uint8_t in[] = {0x04, 0x0f, 0x04, 0x00, 0x01, 0x06, 0x20, 0x00};
  CHECK_EQ(uvble_h4_feed(&h, in, sizeof in), UVBLE_EPROTO);
  CHECK_EQ(s.n, 1);
  CHECK_EQ(h.hunt_dropped, 0);
  /* Without hunting (the default) the same garbage is an error at once. */
  sink_free(&s);
  uvble_h4_init(&h, on_packet, &s);
  CHECK_EQ(uvble_h4_feed(&h, hunt_in, sizeof hunt_in), UVBLE_EPROTO);
  CHECK_EQ(s.n, 0);
  sink_free(&s);
}

TEST_MAIN()
