/* SPDX-License-Identifier: Apache-2.0 */
/* ACL data: fragmentation against the controller's LE buffers, round-robin
 * between connections, and reassembly of incoming L2CAP PDUs.
 *
 * Host to controller flow control is packet based (Vol 4, Part E, 4.1.1):
 * every fragment uses one buffer, Number Of Completed Packets returns them,
 * and a disconnection returns those still held for the handle.
 *
 * No allocation per PDU: a PDU is cut, when queued, straight from the
 * caller's pieces into ACL packets (header included) taken from a bounded
 * stack-wide pool whose freed blocks are kept for reuse; the transport
 * writes each packet as it is. Reassembly reuses one spare buffer.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "pdu_reader.h"

/* Packet boundary flags (Vol 4, Part E, 5.4.2). */
#define PB_FIRST_NON_FLUSHABLE 0x0
#define PB_CONTINUATION 0x1
#define PB_FIRST_FLUSHABLE 0x2

/* ---- the pool of outgoing ACL packets ------------------------------------ */
/* The LE minimum (Vol 6, Part B, 2.4.2.21): the cut before the controller
 * has said (a link exists only after init, so only tests see it). */
#define ACL_MTU_MIN 27

static size_t pool_max(const struct hci *hci, uint16_t cap) {
  if (hci->acl_pool.max) return hci->acl_pool.max;
  return 4 * (hci->conn_txq_max / cap + 2);
}

static void pool_drop_kept(struct acl_pool *p) {
  struct sq_node *n;
  while ((n = sq_pop(&p->free))) free(SQ_ENTRY(n, struct acl_frag, node));
}

static struct acl_frag *frag_take(struct hci *hci, uint16_t cap) {
  struct acl_pool *p = &hci->acl_pool;
  if (p->frag_cap != cap) { /* a new controller: blocks of its size */
    pool_drop_kept(p);
    p->frag_cap = cap;
  }
  p->keep = 4 * (size_t)hci->acl_total + 64;
  struct sq_node *n = sq_pop(&p->free);
  struct acl_frag *f;
  if (n) {
    f = SQ_ENTRY(n, struct acl_frag, node);
  } else {
    f = malloc(sizeof *f + 4 + (size_t)cap);
    if (!f) return NULL;
    f->cap = cap;
    f->pool = p;
  }
  p->in_use++;
  return f;
}

static void frag_give(struct acl_frag *f) {
  struct acl_pool *p = f->pool;
  p->in_use--;
  /* SMP distributes keys in control PDUs. */
  if (f->cls == ACL_CLASS_CTL) sodium_memzero(f->data, 4 + (size_t)f->len);
  if (!p->closed && f->cap == p->frag_cap && p->free.len < p->keep)
    sq_push(&p->free, &f->node);
  else
    free(f);
}

void acl_close(uvble_t *ble) {
  struct hci *hci = &ble->hci;
  hci->acl_pool.closed = true;
  pool_drop_kept(&hci->acl_pool);
  free(hci->rx_spare);
  hci->rx_spare = NULL;
  hci->rx_spare_cap = 0;
}

/* ---- sending -------------------------------------------------------------- */
/* The connections that may send: the table, or while uvble_close()
 * lingers, the links it keeps until their data is out (conn_edge.c). */
static struct ble_conn *tx_list(uvble_t *ble) {
  return conn_of(ble->state == BLE_CLOSING ? ble->conns.linger.head
                                            : ble->conns.table.head);
}

static bool has_tx(const struct ble_conn *c) {
  return !sq_empty(&c->txq[ACL_CLASS_CTL]) ||
         !sq_empty(&c->txq[ACL_CLASS_DATA]);
}

static struct ble_conn *next_with_data(uvble_t *ble) {
  struct ble_conn *head = tx_list(ble);
  struct ble_conn *start = ble->hci.rr_next ? ble->hci.rr_next : head;
  struct ble_conn *c = start;
  if (!c) return NULL;
  do {
    if (has_tx(c)) return c;
    c = conn_next(c) ? conn_next(c) : head;
  } while (c != start);
  return NULL;
}

/* The queue whose head goes next: a data PDU that has started fragmenting
 * finishes first (L2CAP fragments of two PDUs never interleave on a
 * link); otherwise control before data. */
static struct sq *next_queue(struct ble_conn *c) {
  struct sq *data = &c->txq[ACL_CLASS_DATA];
  struct acl_frag *d = SQ_FIRST(data, struct acl_frag, node);
  if (d && !d->first) return data;
  if (!sq_empty(&c->txq[ACL_CLASS_CTL])) return &c->txq[ACL_CLASS_CTL];
  return data;
}

void acl_pump(uvble_t *ble) {
  struct hci *hci = &ble->hci;
  while (hci->acl_free > 0 && (!ble_dead(ble) || hci->lingering)) {
    struct ble_conn *c = next_with_data(ble);
    if (!c) return;
    struct sq *q = next_queue(c);
    struct acl_frag *f = SQ_FIRST(q, struct acl_frag, node);
    uvble_iov_t iov = {f->data, 4 + (size_t)f->len};
    int r = uvble_transport_send(ble->transport, UVBLE_HCI_ACL, &iov, 1);
    if (r == UVBLE_ENOBUFS) return; /* transport full: retry on completion */
    if (r < 0) {
      /* The fragment stays queued; the stack fails on a later loop turn
       * (never under the sender, who may be a layer in the middle of a
       * PDU). */
      ble_fail_later(ble, UVBLE_ETRANSPORT);
      return;
    }
    sq_pop(q);
    sq_push(&c->sentq, &f->node);
    hci->acl_free--;
    c->acl_in_flight++;
    c->txq_bytes -= f->len;
    ble->stats.acl_tx_packets++;
    ble->stats.acl_tx_bytes += f->len;
    /* A whole PDU went out: give the next connection its turn. */
    if (f->last) hci->rr_next = conn_next(c);
  }
}

/* The controller completed n more packets of c, the oldest first: a PDU
 * whose last packet is among them is done. */
static void tx_completed(struct ble_conn *c, uint16_t n) {
  struct sq_node *node;
  while (n-- > 0 && (node = sq_pop(&c->sentq))) {
    struct acl_frag *f = SQ_ENTRY(node, struct acl_frag, node);
    if (f->last) c->tx_done[f->cls] = f->seq;
    frag_give(f);
  }
}

static struct ble_conn *tx_conn_find(uvble_t *ble, uint16_t handle) {
  for (struct ble_conn *c = tx_list(ble); c; c = conn_next(c))
    if (c->handle == handle) return c;
  return NULL;
}

void acl_on_completed(uvble_t *ble, const uint8_t *p, size_t len) {
  struct hci *hci = &ble->hci;
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  unsigned handles = pdu_get_u8(&r);
  if (!pdu_ok(&r) || pdu_left(&r) != (size_t)handles * 4) {
    ble->stats.hci_events_malformed++;
    return;
  }
  for (unsigned i = 0; i < handles; i++) {
    uint16_t handle = pdu_get_le16(&r) & 0x0fff;
    uint16_t count = pdu_get_le16(&r);
    struct ble_conn *c = tx_conn_find(ble, handle);
    if (!c) {
      /* Late completions for a connection already gone were returned on
       * disconnect (Vol 4, Part E, 7.7.19). */
      ble->stats.acl_credits_bogus++;
      continue;
    }
    if (count > c->acl_in_flight) {
      ble->stats.acl_credits_bogus++;
      count = c->acl_in_flight;
    }
    c->acl_in_flight -= count;
    hci->acl_free += count;
    if (hci->acl_free > hci->acl_total) hci->acl_free = hci->acl_total;
    tx_completed(c, count);
  }
  acl_pump(ble);
  if (ble->state == BLE_CLOSING) {
    conn_linger_check(ble);
    return;
  }
  /* Links being ended may now be drained; each check may end one. */
  for (unsigned i = 0; i < handles && !ble_dead(ble); i++) {
    struct ble_conn *c = conn_find(ble, get_le16(p + 1 + i * 4) & 0x0fff);
    if (c && c->disconnecting) conn_edge_on_progress(ble, c);
  }
  for (int i = 0; i < ACL_TX_OBSERVERS && !ble_dead(ble); i++)
    if (hci->tx_done_obs[i]) hci->tx_done_obs[i](ble);
  for (int i = 0; i < ACL_ROOM_OBSERVERS && !ble_dead(ble); i++)
    if (ble->conns.room_obs[i]) ble->conns.room_obs[i](ble);
}

int acl_on_room(uvble_t *ble, acl_room_fn fn) {
  for (int i = 0; i < ACL_ROOM_OBSERVERS; i++) {
    if (!ble->conns.room_obs[i]) {
      ble->conns.room_obs[i] = fn;
      return 0;
    }
  }
  return UVBLE_ENOBUFS;
}

int acl_on_tx_done(uvble_t *ble, acl_tx_done_fn fn) {
  for (int i = 0; i < ACL_TX_OBSERVERS; i++) {
    if (ble->hci.tx_done_obs[i] == fn) return 0;
    if (!ble->hci.tx_done_obs[i]) {
      ble->hci.tx_done_obs[i] = fn;
      return 0;
    }
  }
  return UVBLE_ENOBUFS;
}

static uint8_t class_of(uint16_t cid) {
  return cid == L2CAP_CID_LE_SIGNALING || cid == L2CAP_CID_SMP
             ? ACL_CLASS_CTL
             : ACL_CLASS_DATA;
}

uint64_t acl_tx_mark(const struct ble_conn *c, uint16_t cid) {
  uint8_t cls = class_of(cid);
  return c->tx_seq[cls] ? c->tx_seq[cls] << 1 | cls : 0;
}

bool acl_tx_done(const struct ble_conn *c, uint64_t mark) {
  return mark == 0 || c->tx_done[mark & 1] >= mark >> 1;
}

bool acl_tx_idle(const struct ble_conn *c) {
  return sq_empty(&c->txq[ACL_CLASS_CTL]) && sq_empty(&c->txq[ACL_CLASS_DATA]) &&
         sq_empty(&c->sentq) && c->acl_in_flight == 0;
}

/* Gives q's packets back; returns how many PDUs they held (one started
 * and unfinished counts). */
static unsigned free_list(struct sq *q) {
  unsigned n = 0;
  struct acl_frag *head = SQ_FIRST(q, struct acl_frag, node);
  if (head && !head->first) n++;
  struct sq_node *node;
  while ((node = sq_pop(q))) {
    struct acl_frag *f = SQ_ENTRY(node, struct acl_frag, node);
    if (f->first) n++;
    frag_give(f);
  }
  return n;
}

unsigned acl_tx_discard(struct ble_conn *c) {
  free_list(&c->sentq); /* with the controller: not ours to count */
  unsigned n = 0;
  for (int i = 0; i < ACL_CLASSES; i++) n += free_list(&c->txq[i]);
  c->txq_bytes = 0;
  return n;
}

unsigned acl_tx_discard_cid(struct ble_conn *c, uint16_t cid) {
  struct sq *q = &c->txq[ACL_CLASS_DATA];
  unsigned n = 0;
  /* Packets before the first PDU start belong to one already going out. */
  bool dropping = false;
  struct sq_node **at = &q->head, *prev = NULL;
  while (*at) {
    struct acl_frag *f = SQ_ENTRY(*at, struct acl_frag, node);
    if (f->first && (dropping = f->cid == cid)) n++;
    if (dropping) {
      sq_unlink(q, at, prev);
      c->txq_bytes -= f->len;
      frag_give(f);
    } else {
      prev = *at;
      at = &prev->next;
    }
  }
  return n;
}

/* Copies from the L2CAP basic header, then the iovs, in order. */
struct gather {
  const uint8_t *hdr;
  size_t hdr_left;
  const uvble_iov_t *iov;
  int i;
  size_t off;
};

static void gather(struct gather *g, uint8_t *dst, size_t n) {
  size_t k = g->hdr_left < n ? g->hdr_left : n;
  if (k) {
    memcpy(dst, g->hdr, k);
    g->hdr += k;
    g->hdr_left -= k;
    dst += k;
    n -= k;
  }
  while (n) {
    const uvble_iov_t *v = &g->iov[g->i];
    k = v->len - g->off < n ? v->len - g->off : n;
    if (k) memcpy(dst, (const uint8_t *)v->base + g->off, k);
    dst += k;
    n -= k;
    g->off += k;
    if (g->off == v->len) {
      g->i++;
      g->off = 0;
    }
  }
}

/* Cuts the PDU (basic header + iov, total bytes) into ACL packets of at
 * most cap onto frags; 0 or UVBLE_ENOMEM (nothing kept). */
static int cut(uvble_t *ble, struct ble_conn *conn, uint8_t cls, uint16_t cid,
               struct gather *g, size_t total, uint16_t cap, struct sq *frags) {
  uint64_t seq = conn->tx_seq[cls] + 1;
  for (size_t left = total; left > 0;) {
    struct acl_frag *f = frag_take(&ble->hci, cap);
    if (!f) {
      free_list(frags);
      return UVBLE_ENOMEM;
    }
    size_t n = left < cap ? left : cap;
    f->seq = seq;
    f->cid = cid;
    f->len = (uint16_t)n;
    f->cls = cls;
    f->first = left == total;
    f->last = n == left;
    uint16_t pb = f->first ? PB_FIRST_NON_FLUSHABLE : PB_CONTINUATION;
    put_le16(f->data, (uint16_t)(conn->handle | pb << 12));
    put_le16(f->data + 2, (uint16_t)n);
    gather(g, f->data + 4, n);
    left -= n;
    sq_push(frags, &f->node);
  }
  conn->tx_seq[cls] = seq;
  return 0;
}

int l2cap_send_pdu(uvble_t *ble, struct ble_conn *conn, uint16_t cid,
                   const uvble_iov_t *iov, int iovcnt) {
  struct hci *hci = &ble->hci;
  size_t payload = 0;
  for (int i = 0; i < iovcnt; i++) payload += iov[i].len;
  if (payload > 0xffff) return UVBLE_EMSGSIZE;
  if (conn->disconnecting) return UVBLE_ENOTCONN;
  size_t total = 4 + payload;
  if (conn->txq_bytes + total > hci->conn_txq_max) return UVBLE_ENOBUFS;
  uint16_t cap = hci->acl_mtu ? hci->acl_mtu : ACL_MTU_MIN;
  if (hci->acl_pool.in_use + (total + cap - 1) / cap > pool_max(hci, cap)) {
    ble->stats.acl_tx_pool_full++;
    return UVBLE_ENOBUFS;
  }
  uint8_t hdr[4];
  put_le16(hdr, (uint16_t)payload);
  put_le16(hdr + 2, cid);
  struct gather g = {hdr, 4, iov, 0, 0};
  uint8_t cls = class_of(cid);
  struct sq frags = {0};
  int r = cut(ble, conn, cls, cid, &g, total, cap, &frags);
  if (r < 0) return r;
  sq_concat(&conn->txq[cls], &frags);
  conn->txq_bytes += total;
  acl_pump(ble);
  return 0;
}

/* ---- receiving ------------------------------------------------------------ */
static void rx_reset(struct ble_conn *c) {
  c->rx_len = 0;
  c->rx_total = 0;
}

/* A link starting a PDU takes the stack's spare buffer, the last one
 * delivered (rx_append), so a stream of fragmented PDUs reuses one
 * buffer instead of allocating one each. */
static bool rx_reserve(struct hci *hci, struct ble_conn *c, size_t need) {
  if (!c->rx_buf && hci->rx_spare) {
    c->rx_buf = hci->rx_spare;
    c->rx_cap = hci->rx_spare_cap;
    hci->rx_spare = NULL;
    hci->rx_spare_cap = 0;
  }
  if (need <= c->rx_cap) return true;
  size_t cap = c->rx_cap ? c->rx_cap : 64;
  while (cap < need) cap *= 2;
  uint8_t *b = realloc(c->rx_buf, cap);
  if (!b) return false;
  c->rx_buf = b;
  c->rx_cap = cap;
  return true;
}

/* Appends a fragment to the PDU being reassembled and delivers it when
 * complete. */
static void rx_append(uvble_t *ble, struct ble_conn *c, const uint8_t *d,
                      size_t n) {
  size_t max = ble->hci.l2cap_rx_max_pdu;
  if (c->rx_total == 0 && c->rx_len + n >= 4) {
    /* The basic header is complete: now the PDU's length is known. */
    uint8_t hdr[4];
    size_t have = c->rx_len;
    if (have) memcpy(hdr, c->rx_buf, have);
    memcpy(hdr + have, d, 4 - have);
    c->rx_total = 4 + (size_t)get_le16(hdr);
    if (c->rx_total > max) {
      ble->stats.acl_rx_overflow++;
      rx_reset(c);
      c->rx_discard = true;
      return;
    }
  }
  size_t after = c->rx_len + n;
  if ((c->rx_total && after > c->rx_total) || after > max) {
    ble->stats.acl_rx_overflow++;
    rx_reset(c);
    c->rx_discard = true;
    return;
  }
  if (c->rx_len == 0 && after == c->rx_total) {
    /* A whole PDU in one fragment: hand it up without copying. */
    rx_reset(c);
    l2cap_on_pdu(ble, c, d, n);
    return;
  }
  if (!rx_reserve(&ble->hci, c, c->rx_total ? c->rx_total : 4)) {
    ble->stats.acl_rx_dropped++;
    rx_reset(c);
    c->rx_discard = true;
    return;
  }
  memcpy(c->rx_buf + c->rx_len, d, n);
  c->rx_len = after;
  if (c->rx_total && c->rx_len == c->rx_total) {
    /* Hand the buffer over before delivering: the receiver may end the
     * connection, freeing c. */
    uint8_t *pdu = c->rx_buf;
    size_t total = c->rx_total, cap = c->rx_cap;
    c->rx_buf = NULL;
    c->rx_cap = 0;
    rx_reset(c);
    l2cap_on_pdu(ble, c, pdu, total);
    /* ble outlives the call (its close completes on a later turn). */
    struct hci *hci = &ble->hci;
    if (!hci->rx_spare && !hci->acl_pool.closed) {
      hci->rx_spare = pdu;
      hci->rx_spare_cap = cap;
    } else {
      free(pdu);
    }
  }
}

static void acl_rx(uvble_t *ble, struct ble_conn *c, uint8_t pb,
                   const uint8_t *d, size_t n);

void acl_on_packet(uvble_t *ble, const uint8_t *pkt, size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, pkt, len);
  uint16_t hf = pdu_get_le16(&r);
  uint16_t data_len = pdu_get_le16(&r);
  size_t n;
  const uint8_t *d = pdu_get_rest(&r, &n);
  if (!pdu_ok(&r) || data_len != n) {
    ble->stats.acl_rx_dropped++;
    return;
  }
  uint16_t handle = hf & 0x0fff;
  uint8_t pb = (hf >> 12) & 0x3;
  struct ble_conn *c = conn_find(ble, handle);
  if (!c) {
    ble->stats.acl_rx_dropped++;
    return;
  }
  ble->stats.acl_rx_packets++;
  ble->stats.acl_rx_bytes += n;
  /* What the PDU's receivers and the app do cannot free c or the stack
   * under us (ble_ref, struct ble_conn). */
  ble_ref(ble);
  conn_ref(c);
  acl_rx(ble, c, pb, d, n);
  conn_unref(c);
  ble_unref(ble);
}

static void acl_rx(uvble_t *ble, struct ble_conn *c, uint8_t pb,
                   const uint8_t *d, size_t n) {
  if (pb == PB_CONTINUATION) {
    if (c->rx_discard) return; /* rest of a PDU already dropped */
    if (c->rx_len == 0) {
      ble->stats.acl_rx_no_start++;
      return;
    }
    rx_append(ble, c, d, n);
    return;
  }
  if (pb != PB_FIRST_FLUSHABLE && pb != PB_FIRST_NON_FLUSHABLE) {
    ble->stats.acl_rx_dropped++;
    return;
  }
  if (c->rx_len != 0) {
    /* A new start abandons an unfinished PDU (Vol 3, Part A, 7.2.2). */
    ble->stats.acl_rx_dropped++;
    rx_reset(c);
  }
  c->rx_discard = false;
  if (n == 0) {
    ble->stats.acl_rx_dropped++;
    return;
  }
  rx_append(ble, c, d, n);
}
