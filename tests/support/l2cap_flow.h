/* SPDX-License-Identifier: Apache-2.0 */
/* Test helper for L2CAP credit-based channels: "flows", one direction of
 * one channel each. The sender pumps a deterministic stream of SDUs (sizes
 * and bytes from a seed) until send() stalls and again on SEND_READY; the
 * receiver reads every SDU on RECV and compares it with the same stream
 * regenerated, so loss, duplication, reordering, truncation and corruption
 * all show up as rx_errors or a byte-count mismatch. */
#ifndef UVBLE_TEST_L2CAP_FLOW_H
#define UVBLE_TEST_L2CAP_FLOW_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "uvble/l2cap.h"

struct l2f_stream {
  uint64_t seed;
  size_t min, max; /* SDU sizes */
  size_t sdus_done;
  size_t bytes_done;
};

struct l2f_flow {
  uvble_t *txb, *rxb;
  uint16_t tx_conn, tx_cid, rx_conn, rx_cid;
  struct l2f_stream tx, rx;
  size_t target;
  bool tx_active, rx_auto;
  bool discard; /* read without checking */
  int send_ready, stalls, rx_errors, send_errors;
};

static inline uint64_t l2f_xs(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* The stream's next SDU into buf (65535 bytes at most); returns its length. */
static inline size_t l2f_next(const struct l2f_stream *st, uint8_t *buf) {
  uint64_t s = st->seed;
  size_t len = st->min + (size_t)(l2f_xs(&s) % (st->max - st->min + 1));
  for (size_t i = 0; i < len; i += 8) {
    uint64_t v = l2f_xs(&s);
    size_t n = len - i < 8 ? len - i : 8;
    memcpy(buf + i, &v, n);
  }
  return len;
}

static inline void l2f_advance(struct l2f_stream *st, size_t len) {
  l2f_xs(&st->seed);
  st->sdus_done++;
  st->bytes_done += len;
}

static inline void l2f_pump(struct l2f_flow *f) {
  static uint8_t buf[65536];
  while (f->tx_active && f->tx.bytes_done < f->target) {
    size_t len = l2f_next(&f->tx, buf);
    int r = uvble_l2cap_send(f->txb, f->tx_conn, f->tx_cid, buf, len);
    if (r == UVBLE_EAGAIN) {
      f->stalls++;
      return;
    }
    if (r < 0) {
      f->send_errors++;
      f->tx_active = false;
      return;
    }
    l2f_advance(&f->tx, len);
    if (r == 0) {
      f->stalls++;
      return;
    }
  }
}

static inline void l2f_read_all(struct l2f_flow *f) {
  static uint8_t got[65536], want[65536];
  for (;;) {
    int n = uvble_l2cap_recvinto(f->rxb, f->rx_conn, f->rx_cid, NULL, 0);
    if (n <= 0) return;
    int r =
        uvble_l2cap_recvinto(f->rxb, f->rx_conn, f->rx_cid, got, sizeof got);
    if (r != n) f->rx_errors++;
    if (f->discard) continue;
    size_t wl = l2f_next(&f->rx, want);
    if (wl != (size_t)r || memcmp(got, want, wl) != 0) f->rx_errors++;
    l2f_advance(&f->rx, wl);
  }
}

/* Starts a flow; the receiver reads automatically. */
static inline void l2f_start(struct l2f_flow *f, uvble_t *txb, uint16_t tconn,
                             uint16_t tcid, uvble_t *rxb, uint16_t rconn,
                             uint16_t rcid, size_t target, size_t min,
                             size_t max, uint64_t seed) {
  memset(f, 0, sizeof *f);
  f->txb = txb;
  f->rxb = rxb;
  f->tx_conn = tconn;
  f->tx_cid = tcid;
  f->rx_conn = rconn;
  f->rx_cid = rcid;
  f->tx = (struct l2f_stream){seed, min, max, 0, 0};
  f->rx = f->tx;
  f->target = target;
  f->tx_active = true;
  f->rx_auto = true;
  l2f_pump(f);
}

/* Routes an irq to the flows it concerns (call from the irq handler). */
static inline void l2f_on_irq(struct l2f_flow *flows, int n, uvble_t *ble,
                              int ev, const uvble_irq_data_t *d) {
  uint16_t conn, cid;
  if (ev == UVBLE_IRQ_L2CAP_DISCONNECT) {
    conn = d->l2cap_disconnect.conn_handle;
    cid = d->l2cap_disconnect.cid;
  } else if (ev == UVBLE_IRQ_L2CAP_RECV || ev == UVBLE_IRQ_L2CAP_SEND_READY) {
    conn = d->l2cap_io.conn_handle;
    cid = d->l2cap_io.cid;
  } else {
    return;
  }
  for (int i = 0; i < n; i++) {
    struct l2f_flow *f = &flows[i];
    bool is_tx = f->txb == ble && f->tx_conn == conn && f->tx_cid == cid;
    bool is_rx = f->rxb == ble && f->rx_conn == conn && f->rx_cid == cid;
    if (ev == UVBLE_IRQ_L2CAP_DISCONNECT) {
      if (is_tx) {
        f->tx_active = false;
        f->tx_cid = 0; /* the CID may be reused by a new channel */
      }
      if (is_rx) f->rx_cid = 0;
    } else if (ev == UVBLE_IRQ_L2CAP_RECV && is_rx && f->rx_auto) {
      l2f_read_all(f);
    } else if (ev == UVBLE_IRQ_L2CAP_SEND_READY && is_tx) {
      f->send_ready++;
      l2f_pump(f);
    }
  }
}

/* Every flow delivered its target, or stopped sending. */
static inline bool l2f_all_done(const struct l2f_flow *flows, int n) {
  for (int i = 0; i < n; i++)
    if (flows[i].tx_active && flows[i].rx.bytes_done < flows[i].target)
      return false;
  return true;
}

static inline bool l2f_ok(const struct l2f_flow *f) {
  return f->rx_errors == 0 && f->send_errors == 0 &&
         f->rx.bytes_done >= f->target &&
         f->rx.bytes_done == f->tx.bytes_done &&
         f->rx.sdus_done == f->tx.sdus_done;
}

#endif
