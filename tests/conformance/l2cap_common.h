/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by ble_l2cap and perf_l2cap: payloads from a seeded generator
 * (MicroPython's random.seed(22) + random.randint(0, 255); here a
 * xorshift generator, seeded the same on both instances, so the receiver
 * checks each byte against its own copy of the sequence), and receiving
 * from inside the irq handler. */
#ifndef UVBLE_TEST_CONF_L2CAP_COMMON_H
#define UVBLE_TEST_CONF_L2CAP_COMMON_H

#include "conformance.h"

#define L2CAP_PSM 22
#define RANDOM_SEED 22

struct chan {
  uint64_t rng;
  uint16_t conn, cid;
  bool receiving;
  size_t recv_bytes, recv_correct, expected;
  uint64_t t_first, t_last; /* first and last byte received, uv_hrtime */
};

static inline void rng_seed(struct chan *ch) {
  ch->rng = 0x9E3779B97F4A7C15ull ^ RANDOM_SEED;
}
static inline uint8_t rng_byte(struct chan *ch) {
  uint64_t x = ch->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  ch->rng = x;
  return (uint8_t)(x >> 32);
}

/* The body of recv_data(): what one L2CAP_RECV event lets us read. */
static inline void chan_drain(struct inst *i, struct chan *ch) {
  uint8_t buf[512];
  for (;;) {
    int n = uvble_l2cap_recvinto(i->ble, ch->conn, ch->cid, buf, sizeof buf);
    CHECK(n >= 0);
    if (n <= 0) break;
    if (!ch->t_first) ch->t_first = uv_hrtime();
    ch->t_last = uv_hrtime();
    ch->recv_bytes += (size_t)n;
    for (int k = 0; k < n; k++)
      if (buf[k] == rng_byte(ch)) ch->recv_correct++;
  }
}

static inline bool chan_received_pred(void *arg) {
  struct chan *ch = arg;
  return ch->recv_bytes >= ch->expected;
}

/* send_data(): n payloads of len0, len0 + step, ...; after a send that
 * returns 0 (queued, buffer filling up) wait for SEND_READY, as the
 * original waits after l2cap_send returns False. */
static inline void chan_send(struct inst *i, struct chan *ch, int n, int len0,
                             int step) {
  uint8_t buf[1024];
  for (int k = 0; k < n; k++) {
    int len = len0 + k * step;
    for (int j = 0; j < len; j++) buf[j] = rng_byte(ch);
    int r;
    while ((r = uvble_l2cap_send(i->ble, ch->conn, ch->cid, buf, (size_t)len)) ==
           UVBLE_EAGAIN)
      wait_for(i, UVBLE_IRQ_L2CAP_SEND_READY, CONF_TIMEOUT_MS);
    REQUIRE(r >= 0);
    if (r == 0) wait_for(i, UVBLE_IRQ_L2CAP_SEND_READY, CONF_TIMEOUT_MS);
  }
}

#endif
