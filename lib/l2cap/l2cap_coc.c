/* SPDX-License-Identifier: Apache-2.0 */
/* L2CAP LE credit-based connection-oriented channels (Core Spec Vol 3,
 * Part A, 3.4.3, 4.22-4.24 and 10.1): channel setup and teardown, SDU
 * segmentation and reassembly, credits, and the core API (uvble/l2cap.h).
 *
 * Receive side: a ring of SDU records per channel. Every credit we grant
 * reserves `rx_unit` bytes of it, the most one K-frame can add, so the
 * ring cannot overflow while the peer keeps to its credits; reading with
 * recvinto() frees space, which is turned back into credits. A slow reader
 * therefore stalls the sender, and the buffer never exceeds the credit
 * window (or one SDU of our MTU, whichever is larger).
 *
 * Transmit side: when nothing is queued before it and the peer's credits
 * and the link's queue allow, send() cuts the SDU's K-frames straight from
 * the caller's bytes into the connection's ACL packets (acl.c: from the
 * pool; the one copy). Otherwise it copies the SDU into the channel's ring,
 * and K-frames are cut from it as credits allow, into ACL packets the same
 * way, kept a little above what the controller's buffers hold and topped
 * up whenever Number Of Completed Packets returns buffers.
 *
 * Event handlers may call anything, including uvble_close(), but nothing
 * is freed inside them (docs/architecture.md, "Lifetime"): a channel goes
 * only in the peer's response or the link's end, a link only in its
 * Disconnection Complete, the stack at the end of the dispatch. So pointers
 * held across an irq stay valid; what is left to ask after one is "go
 * on?" (ble_dead: the application closed the stack), and sends never end
 * anything either (a failed transport fails the stack on a later turn).
 */
#include <stdlib.h>
#include <string.h>

#include "l2cap_internal.h"
#include "pdu_reader.h"

/* ---- rings
 * ------------------------------------------------------------------- */
static size_t ring_pos(const struct l2cap_ring *r, size_t at) {
  size_t p = r->rd + at;
  return p >= r->cap ? p - r->cap : p;
}

static void ring_put(struct l2cap_ring *r, size_t at, const uint8_t *d,
                     size_t n) {
  size_t p = ring_pos(r, at), first = r->cap - p;
  if (first >= n) {
    memcpy(r->buf + p, d, n);
    return;
  }
  memcpy(r->buf + p, d, first);
  memcpy(r->buf, d + first, n - first);
}

static void ring_get(const struct l2cap_ring *r, size_t at, uint8_t *d,
                     size_t n) {
  size_t p = ring_pos(r, at), first = r->cap - p;
  if (first >= n) {
    memcpy(d, r->buf + p, n);
    return;
  }
  memcpy(d, r->buf + p, first);
  memcpy(d + first, r->buf, n - first);
}

/* Points iov at n bytes from offset at: one or two pieces. */
static int ring_iov(const struct l2cap_ring *r, size_t at, size_t n,
                    uvble_iov_t *iov) {
  size_t p = ring_pos(r, at), first = r->cap - p;
  if (first >= n) {
    iov[0].base = r->buf + p;
    iov[0].len = n;
    return 1;
  }
  iov[0].base = r->buf + p;
  iov[0].len = first;
  iov[1].base = r->buf;
  iov[1].len = n - first;
  return 2;
}

static void ring_consume(struct l2cap_ring *r, size_t n) {
  r->used -= n;
  /* An empty ring starts over at 0: records stay in one piece more often. */
  r->rd = r->used ? ring_pos(r, n) : 0;
}

static size_t ring_free(const struct l2cap_ring *r) { return r->cap - r->used; }

static void emit_io(uvble_t *ble, int ev, uint16_t handle, uint16_t cid) {
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.l2cap_io.conn_handle = handle;
  d.l2cap_io.cid = cid;
  ble_irq(ble, ev, &d);
}

/* The peer broke the protocol: count it and close the channel. */
static void violation(uvble_t *ble, struct ble_conn *c, struct l2cap_chan *ch,
                      uint64_t *counter) {
  (*counter)++;
  if (ch->state != CH_OPEN) return;
  if (chan_close(ble, c, ch, UVBLE_EPROTO) < 0)
    chan_finish(ble, c->l2cap, c->handle, ch, UVBLE_EPROTO);
}

/* ---- credits we grant
 * ------------------------------------------------------------ */
/* Tops the peer's credits up to what free buffer space and the window allow,
 * once the peer is down to half its window (fewer indications). */
static void grant_credits(uvble_t *ble, struct ble_conn *c,
                          struct l2cap_chan *ch) {
  if (ch->state != CH_OPEN) return;
  if ((size_t)ch->rx_credits * 2 > ch->rx_window) return;
  size_t can = ring_free(&ch->rx) / ch->rx_unit;
  if (can > ch->rx_window) can = ch->rx_window;
  if (can <= ch->rx_credits) return;
  uint16_t add = (uint16_t)(can - ch->rx_credits);
  uint8_t d[4];
  put_le16(d, ch->lcid); /* our end: the one the credits are for (4.24) */
  put_le16(d + 2, add);
  if (l2sig_send(ble, c, L2SIG_FLOW_CONTROL_CREDIT, 0, d, 4) < 0) {
    ch->credit_owed = true; /* retried when ACL buffers come back */
    c->l2cap->attention = true;
    return;
  }
  ch->credit_owed = false;
  ch->rx_credits += add;
  ble->l2cap->stats.credits_sent++;
}

/* ---- receive: K-frames (Vol 3, Part A, 3.4.3)
 * ----------------------------------- */
/* Returns 1 when the K-frame completed an SDU, 0 when not, -1 after a
 * violation closed the channel. */
static int rx_kframe(uvble_t *ble, struct ble_conn *c, struct l2cap_chan *ch,
                     const uint8_t *d, size_t len) {
  uvble_l2cap_stats_t *s = &ble->l2cap->stats;
  uint64_t *viol = NULL;
  size_t pay = len;
  if (ch->rx_credits == 0) {
    viol = &s->viol_no_credits;
  } else if (len > ch->our_mps) {
    viol = &s->viol_kframe_over_mps;
  } else if (!ch->rx_in_sdu) {
    /* The first K-frame of an SDU starts with its length. */
    struct pdu_reader r;
    pdu_reader_init(&r, d, len);
    size_t sdu = pdu_get_le16(&r);
    pay = pdu_left(&r);
    if (!pdu_ok(&r))
      viol = &s->viol_bad_kframe;
    else if (sdu > ch->our_mtu)
      viol = &s->viol_sdu_over_mtu;
    else if (pay > sdu)
      viol = &s->viol_sdu_overrun;
    ch->rx_sdu_len = ch->rx_sdu_rem = sdu;
  } else if (len > ch->rx_sdu_rem) {
    viol = &s->viol_sdu_overrun;
  }
  /* The credits we granted reserved the space; never trust that blindly. */
  if (!viol && len > ring_free(&ch->rx)) viol = &s->viol_no_credits;
  if (viol) {
    ch->rx_in_sdu = false;
    violation(ble, c, ch, viol);
    return -1;
  }
  ch->rx_credits--;
  if (!ch->rx_in_sdu && ch->rx_sdu_len == 0) {
    s->rx_empty_sdus++; /* nothing to deliver, nothing stored */
    return 0;
  }
  /* The first K-frame's SDU length field becomes the record's header. */
  ring_put(&ch->rx, ch->rx.used, d, len);
  ch->rx.used += len;
  ch->rx_sdu_rem -= pay;
  ch->rx_in_sdu = ch->rx_sdu_rem != 0;
  if (ch->rx_in_sdu) return 0;
  /* Only the tail record was incomplete: now everything is whole. */
  ch->rx_complete = ch->rx.used;
  ch->rx_unread += ch->rx_sdu_len;
  s->rx_sdus++;
  s->rx_bytes += ch->rx_sdu_len;
  return 1;
}

bool l2cap_dyn_rx(uvble_t *ble, struct ble_conn *c, uint16_t cid,
                  const uint8_t *d, size_t len) {
  /* A link whose L2CAP is ending has it detached already (c->l2cap). */
  struct l2cap_conn *lc = c->l2cap;
  if (!lc) return false;
  struct l2cap_chan *ch = chan_by_lcid(lc, cid);
  if (!ch) return false;
  ble->l2cap->stats.rx_kframes++;
  /* Before the response, or after our Disconnection Request: dropped
   * (Vol 3, Part A, 4.6). */
  if (ch->state != CH_OPEN) return true;
  int r = rx_kframe(ble, c, ch, d, len);
  if (r < 0) return true;
  grant_credits(ble, c, ch);
  if (r == 1) emit_io(ble, UVBLE_IRQ_L2CAP_RECV, c->handle, ch->lcid);
  return true;
}

int uvble_l2cap_recvinto(uvble_t *ble, uint16_t handle, uint16_t cid, void *buf,
                         size_t cap) {
  if (!ble || !ble->l2cap) return UVBLE_EINVAL;
  struct ble_conn *c = conn_find(ble, handle);
  struct l2cap_chan *ch = c && c->l2cap ? chan_by_lcid(c->l2cap, cid) : NULL;
  if (!ch || ch->state == CH_CONNECTING) return UVBLE_ENOTCONN;
  if (!ch->rx_head_open) {
    if (ch->rx_complete == 0) return 0;
    uint8_t h[2];
    ring_get(&ch->rx, 0, h, 2);
    ring_consume(&ch->rx, 2);
    ch->rx_complete -= 2;
    ch->rx_head_rem = get_le16(h);
    ch->rx_head_open = true;
  }
  if (!buf) return (int)ch->rx_head_rem;
  size_t n = cap < ch->rx_head_rem ? cap : ch->rx_head_rem;
  ring_get(&ch->rx, 0, buf, n);
  ring_consume(&ch->rx, n);
  ch->rx_complete -= n;
  ch->rx_head_rem -= n;
  ch->rx_unread -= n;
  if (ch->rx_head_rem == 0) ch->rx_head_open = false;
  grant_credits(ble, c, ch);
  return (int)n;
}

/* ---- transmit
 * -------------------------------------------------------------------- */
/* Queues one K-frame (iov: its SDU length field if first, then take
 * payload bytes) on the link and counts it against the peer's credits. */
static int send_kframe(uvble_t *ble, struct ble_conn *c, struct l2cap_chan *ch,
                       const uvble_iov_t *iov, int n, size_t take) {
  int r = l2cap_send_pdu(ble, c, ch->rcid, iov, n);
  if (r < 0) return r;
  ch->tx_credits--;
  ch->tx_sdu_rem -= take;
  ch->tx_in_sdu = ch->tx_sdu_rem != 0;
  uvble_l2cap_stats_t *s = &ble->l2cap->stats;
  s->tx_kframes++;
  s->tx_bytes += take;
  if (!ch->tx_in_sdu) s->tx_sdus++;
  return 0;
}

/* Cuts the next K-frame (at most the peer's MPS) from the channel's ring. */
static int tx_kframe(uvble_t *ble, struct ble_conn *c, struct l2cap_chan *ch) {
  uvble_iov_t iov[3];
  uint8_t hdr[2];
  int n = 0;
  size_t take, skip = 0, mps = ch->peer_mps;
  if (!ch->tx_in_sdu) {
    /* The record's length is the SDU length field (Vol 3, Part A, 3.4.3). */
    ring_get(&ch->tx, 0, hdr, 2);
    ch->tx_sdu_rem = get_le16(hdr);
    iov[n].base = hdr;
    iov[n++].len = 2;
    skip = 2;
    mps -= 2;
  }
  take = ch->tx_sdu_rem < mps ? ch->tx_sdu_rem : mps;
  n += ring_iov(&ch->tx, skip, take, iov + n);
  int r = send_kframe(ble, c, ch, iov, n, take);
  if (r < 0) return r;
  ring_consume(&ch->tx, skip + take);
  ch->tx_unqueued -= take;
  if (!ch->tx.used) set_busy(c->l2cap, ch, false);
  return 0;
}

/* The ACL queue is kept at about twice what the controller's buffers hold:
 * enough that Number Of Completed Packets always finds the next fragment
 * waiting, little enough that channels share the link fairly. */
static size_t txq_target(const uvble_t *ble) {
  size_t t = 2 * (size_t)ble->hci.acl_total * ble->hci.acl_mtu;
  return t < 4096 ? 4096 : t;
}

/* K-frames an SDU of len bytes takes at the peer's MPS. */
static size_t kframes_of(const struct l2cap_chan *ch, size_t len) {
  return (len + 2 + ch->peer_mps - 1) / ch->peer_mps;
}

/* send() when nothing waits before the SDU and the credits and the link's
 * queue take all of it: its K-frames are cut straight from the caller's
 * bytes into ACL packets (acl.c), skipping the channel's ring. Returns the
 * bytes of buf left to queue in the ring (len when none went out; the
 * rest of a started SDU otherwise, tx_in_sdu set). */
static size_t tx_direct(uvble_t *ble, struct ble_conn *c, struct l2cap_chan *ch,
                        const uint8_t *buf, size_t len) {
  size_t k = kframes_of(ch, len);
  if (ch->tx.used || c->l2cap->tx_busy || ch->tx_credits < k ||
      c->txq_bytes + len + 2 + k * 4 > txq_target(ble))
    return len;
  uint8_t hdr[2];
  put_le16(hdr, (uint16_t)len);
  ch->tx_sdu_rem = len;
  size_t off = 0;
  while (off < len) {
    uvble_iov_t iov[2];
    int n = 0;
    size_t mps = ch->peer_mps;
    if (off == 0) {
      iov[n].base = hdr;
      iov[n++].len = 2;
      mps -= 2;
    }
    size_t take = len - off < mps ? len - off : mps;
    iov[n].base = buf + off;
    iov[n++].len = take;
    /* The link refused (its queue or the ACL pool is full): the rest goes
     * through the ring, as the continuation of the started SDU. */
    if (send_kframe(ble, c, ch, iov, n, take) < 0) break;
    off += take;
  }
  return len - off;
}

/* Round-robin over the connection's channels, one K-frame each per turn. */
static void conn_fill(uvble_t *ble, struct ble_conn *c) {
  struct l2cap_conn *lc = c->l2cap;
  if (!lc->tx_busy) return;
  size_t target = txq_target(ble);
  while (lc->tx_busy && c->txq_bytes < target) {
    bool progress = false;
    unsigned i = lc->rr;
    for (unsigned k = 0; k < lc->hi && c->txq_bytes < target; k++, i++) {
      if (i >= lc->hi) i = 0;
      struct l2cap_chan *ch = lc->chans[i];
      if (!ch || !ch->tx_listed || !ch->tx_credits || ch->state != CH_OPEN)
        continue;
      if (tx_kframe(ble, c, ch) < 0) return; /* ACL queue full: wait */
      progress = true;
      lc->rr = i + 1;
    }
    if (!progress) return;
  }
}

static bool send_ready(const struct l2cap_chan *ch) {
  size_t want = ch->tx_max_sdu + 2;
  if (want < ch->tx.cap / 2) want = ch->tx.cap / 2;
  return ring_free(&ch->tx) >= want;
}

/* Fills the ACL queue, retries owed credits, then tells stalled senders
 * they may send again. */
void coc_conn_service(uvble_t *ble, struct ble_conn *c) {
  struct l2cap_conn *lc = c->l2cap;
  if (!lc) return;
  conn_fill(ble, c);
  if (!lc->attention) return;
  /* Gathered first: a handler may send, which changes who is stalled. */
  struct l2cap_chan *ready[L2CAP_NUM_DYN];
  unsigned nready = 0;
  bool again = false;
  for (unsigned i = 0; i < lc->hi; i++) {
    struct l2cap_chan *ch = lc->chans[i];
    if (!ch || ch->state != CH_OPEN) continue;
    if (ch->credit_owed) grant_credits(ble, c, ch);
    if (ch->stalled && send_ready(ch)) {
      ch->stalled = false;
      ready[nready++] = ch;
    }
    again = again || ch->stalled || ch->credit_owed;
  }
  lc->attention = again;
  /* The channels outlive the handlers (a disconnect only sends a request);
   * once one closed the stack, the rest hear nothing (ble_irq). */
  for (unsigned i = 0; i < nready; i++)
    emit_io(ble, UVBLE_IRQ_L2CAP_SEND_READY, c->handle, ready[i]->lcid);
}

void l2cap_on_acl_completed(uvble_t *ble) {
  if (!ble->l2cap) return;
  bool queued = false;
  /* The table's links outlive the SEND_READY handlers (a link leaves it
   * in its Disconnection Complete); once one closed the stack the other
   * links are not filled any more: uvble_close() sends what is queued. */
  for (struct ble_conn *c = conn_first(ble); c && !ble_dead(ble);
       c = conn_next(c)) {
    struct l2cap_conn *lc = c->l2cap;
    if (!lc || !lc->nchans) continue;
    coc_conn_service(ble, c);
    if (lc->tx_busy) queued = true;
  }
  if (queued) {
    ble->l2cap->stats.acl_samples++;
    if (ble->hci.acl_free > 0) ble->l2cap->stats.acl_idle_with_data++;
  }
}

int uvble_l2cap_send(uvble_t *ble, uint16_t handle, uint16_t cid,
                     const void *buf, size_t len) {
  if (!ble || !ble->l2cap) return UVBLE_EINVAL;
  /* Closed from a handler: the links go when the dispatch unwinds and
   * queue nothing new meanwhile. */
  if (ble_dead(ble)) return UVBLE_ENOTCONN;
  struct ble_conn *c = conn_find(ble, handle);
  struct l2cap_chan *ch = c && c->l2cap ? chan_by_lcid(c->l2cap, cid) : NULL;
  if (!ch || ch->state != CH_OPEN) return UVBLE_ENOTCONN;
  if (!buf || len == 0 || len > ch->tx_max_sdu) return UVBLE_EINVAL;
  if (ring_free(&ch->tx) < len + 2) {
    ch->stalled = c->l2cap->attention = true;
    return UVBLE_EAGAIN;
  }
  size_t left = tx_direct(ble, c, ch, buf, len);
  if (left == len) { /* a record: [SDU length][SDU] */
    uint8_t hdr[2];
    put_le16(hdr, (uint16_t)len);
    ring_put(&ch->tx, ch->tx.used, hdr, 2);
    ring_put(&ch->tx, ch->tx.used + 2, buf, len);
    ch->tx.used += len + 2;
  } else if (left) { /* the rest of the SDU tx_direct started */
    ring_put(&ch->tx, ch->tx.used, (const uint8_t *)buf + len - left, left);
    ch->tx.used += left;
  }
  if (left) {
    ch->tx_unqueued += left;
    set_busy(c->l2cap, ch, true);
    conn_fill(ble, c);
  }
  if (ring_free(&ch->tx) >= ch->tx_max_sdu + 2) {
    ch->stalled = false;
    return 1;
  }
  ch->stalled = c->l2cap->attention = true;
  return 0;
}
