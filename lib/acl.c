/* SPDX-License-Identifier: Apache-2.0 */
/* ACL data: fragmentation against the controller's LE buffers, round-robin
 * between connections, and reassembly of incoming L2CAP PDUs.
 *
 * Host to controller flow control is packet based (Vol 4, Part E, 4.1.1):
 * every fragment uses one buffer, Number Of Completed Packets returns them,
 * and a disconnection returns those still held for the handle.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ble_internal.h"
#include "gatts_internal.h"
#include "l2cap.h"

/* Packet boundary flags (Vol 4, Part E, 5.4.2). */
#define PB_FIRST_NON_FLUSHABLE 0x0
#define PB_CONTINUATION 0x1
#define PB_FIRST_FLUSHABLE 0x2

/* The connections that may send: the table, or while uvble_close()
 * lingers, the links it keeps until their data is out (conn_edge.c). */
static struct ble_conn *tx_list(uvble_t *ble) {
  return ble->state == BLE_CLOSING ? ble->linger : ble->conns.head;
}

static bool has_tx(const struct ble_conn *c) {
  return c->txq[ACL_CLASS_CTL].head || c->txq[ACL_CLASS_DATA].head;
}

static struct ble_conn *next_with_data(uvble_t *ble) {
  struct ble_conn *head = tx_list(ble);
  struct ble_conn *start = ble->hci.rr_next ? ble->hci.rr_next : head;
  struct ble_conn *c = start;
  if (!c) return NULL;
  do {
    if (has_tx(c)) return c;
    c = c->next ? c->next : head;
  } while (c != start);
  return NULL;
}

/* The queue whose head goes next: a data PDU that has started fragmenting
 * finishes first (L2CAP fragments of two PDUs never interleave on a
 * link); otherwise control before data. */
static struct acl_txq *next_queue(struct ble_conn *c) {
  struct acl_txq *data = &c->txq[ACL_CLASS_DATA];
  if (data->head && data->head->sent) return data;
  if (c->txq[ACL_CLASS_CTL].head) return &c->txq[ACL_CLASS_CTL];
  return data;
}

static void pdu_sent(struct ble_conn *c, struct acl_txq *q) {
  struct acl_pdu *pdu = q->head;
  q->head = pdu->next;
  if (!q->head) q->tail = NULL;
  c->txq_bytes -= pdu->len;
  pdu->frag_end = c->tx_frags_sent;
  pdu->next = NULL;
  /* Only the bookkeeping waits for the completion: shrink to the header,
   * wiping control PDUs first (SMP distributes keys in them). */
  if (pdu->cls == ACL_CLASS_CTL) sodium_memzero(pdu->data, pdu->len);
  struct acl_pdu *small = realloc(pdu, sizeof *pdu);
  if (small) pdu = small;
  if (c->sentq.tail)
    c->sentq.tail->next = pdu;
  else
    c->sentq.head = pdu;
  c->sentq.tail = pdu;
}

void acl_pump(uvble_t *ble) {
  struct hci *hci = &ble->hci;
  while (hci->acl_free > 0 && (!ble_dead(ble) || hci->lingering)) {
    struct ble_conn *c = next_with_data(ble);
    if (!c) return;
    struct acl_txq *q = next_queue(c);
    struct acl_pdu *pdu = q->head;
    size_t frag = pdu->len - pdu->sent;
    if (frag > hci->acl_mtu) frag = hci->acl_mtu;
    uint8_t hdr[4];
    uint16_t pb = pdu->sent == 0 ? PB_FIRST_NON_FLUSHABLE : PB_CONTINUATION;
    put_le16(hdr, (uint16_t)(c->handle | (pb << 12)));
    put_le16(hdr + 2, (uint16_t)frag);
    uvble_iov_t iov[2] = {{hdr, 4}, {pdu->data + pdu->sent, frag}};
    int r = uvble_transport_send(ble->transport, UVBLE_HCI_ACL, iov, 2);
    if (r == UVBLE_ENOBUFS) return; /* transport full: retry on completion */
    if (r < 0) {
      /* The PDU stays queued; the stack fails on a later loop turn (never
       * under the sender, who may be a layer in the middle of a PDU). */
      ble_fail_later(ble, UVBLE_ETRANSPORT);
      return;
    }
    hci->acl_free--;
    c->acl_in_flight++;
    c->tx_frags_sent++;
    ble->stats.acl_tx_packets++;
    ble->stats.acl_tx_bytes += frag;
    pdu->sent += frag;
    if (pdu->sent == pdu->len) {
      pdu_sent(c, q);
      /* A whole PDU went out: give the next connection its turn. */
      hci->rr_next = c->next;
    }
  }
}

/* The controller completed n more fragments of c: the PDUs whose last
 * fragment is among them are done. */
static void tx_completed(struct ble_conn *c, uint16_t n) {
  c->tx_frags_done += n;
  struct acl_pdu *p;
  while ((p = c->sentq.head) && p->frag_end <= c->tx_frags_done) {
    c->tx_done[p->cls] = p->seq;
    c->sentq.head = p->next;
    if (!c->sentq.head) c->sentq.tail = NULL;
    free(p);
  }
}

static struct ble_conn *tx_conn_find(uvble_t *ble, uint16_t handle) {
  for (struct ble_conn *c = tx_list(ble); c; c = c->next)
    if (c->handle == handle) return c;
  return NULL;
}

void acl_on_completed(uvble_t *ble, const uint8_t *p, size_t len) {
  struct hci *hci = &ble->hci;
  if (len < 1 || len != 1 + (size_t)p[0] * 4) {
    ble->stats.hci_events_malformed++;
    return;
  }
  for (unsigned i = 0; i < p[0]; i++) {
    uint16_t handle = get_le16(p + 1 + i * 4) & 0x0fff;
    uint16_t count = get_le16(p + 3 + i * 4);
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
  for (unsigned i = 0; i < p[0] && !ble_dead(ble); i++) {
    struct ble_conn *c = conn_find(ble, get_le16(p + 1 + i * 4) & 0x0fff);
    if (c && c->disconnecting) conn_edge_on_progress(ble, c);
  }
  for (int i = 0; i < ACL_TX_OBSERVERS && !ble_dead(ble); i++)
    if (hci->tx_done_obs[i]) hci->tx_done_obs[i](ble);
  if (ble_dead(ble)) return;
  l2cap_on_acl_completed(ble);
  gatts_on_acl_completed(ble);
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
  return !c->txq[ACL_CLASS_CTL].head && !c->txq[ACL_CLASS_DATA].head &&
         !c->sentq.head && c->acl_in_flight == 0;
}

static unsigned free_list(struct acl_txq *q) {
  unsigned n = 0;
  struct acl_pdu *p = q->head;
  while (p) {
    struct acl_pdu *next = p->next;
    free(p);
    p = next;
    n++;
  }
  q->head = q->tail = NULL;
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
  struct acl_txq *q = &c->txq[ACL_CLASS_DATA];
  unsigned n = 0;
  struct acl_pdu **at = &q->head, *last = NULL;
  while (*at) {
    struct acl_pdu *p = *at;
    if (p->sent == 0 && get_le16(p->data + 2) == cid) {
      *at = p->next;
      c->txq_bytes -= p->len;
      free(p);
      n++;
    } else {
      last = p;
      at = &p->next;
    }
  }
  q->tail = last;
  return n;
}

int l2cap_send_pdu(uvble_t *ble, struct ble_conn *conn, uint16_t cid,
                   const uvble_iov_t *iov, int iovcnt) {
  size_t payload = 0;
  for (int i = 0; i < iovcnt; i++) payload += iov[i].len;
  if (payload > 0xffff) return UVBLE_EMSGSIZE;
  if (conn->disconnecting) return UVBLE_ENOTCONN;
  if (conn->txq_bytes + payload + 4 > ble->hci.conn_txq_max)
    return UVBLE_ENOBUFS;
  struct acl_pdu *pdu = malloc(sizeof *pdu + 4 + payload);
  if (!pdu) return UVBLE_ENOMEM;
  uint8_t cls = class_of(cid);
  pdu->next = NULL;
  pdu->len = 4 + payload;
  pdu->sent = 0;
  pdu->cls = cls;
  pdu->seq = ++conn->tx_seq[cls];
  pdu->frag_end = 0;
  put_le16(pdu->data, (uint16_t)payload);
  put_le16(pdu->data + 2, cid);
  size_t off = 4;
  for (int i = 0; i < iovcnt; i++) {
    if (iov[i].len) memcpy(pdu->data + off, iov[i].base, iov[i].len);
    off += iov[i].len;
  }
  struct acl_txq *q = &conn->txq[cls];
  if (q->tail)
    q->tail->next = pdu;
  else
    q->head = pdu;
  q->tail = pdu;
  conn->txq_bytes += pdu->len;
  acl_pump(ble);
  return 0;
}

static void rx_reset(struct ble_conn *c) {
  c->rx_len = 0;
  c->rx_total = 0;
}

static bool rx_reserve(struct ble_conn *c, size_t need) {
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
  if (!rx_reserve(c, c->rx_total ? c->rx_total : 4)) {
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
    size_t total = c->rx_total;
    c->rx_buf = NULL;
    c->rx_cap = 0;
    rx_reset(c);
    l2cap_on_pdu(ble, c, pdu, total);
    free(pdu);
  }
}

static void acl_rx(uvble_t *ble, struct ble_conn *c, uint8_t pb,
                   const uint8_t *d, size_t n);

void acl_on_packet(uvble_t *ble, const uint8_t *pkt, size_t len) {
  if (len < 4 || get_le16(pkt + 2) != len - 4) {
    ble->stats.acl_rx_dropped++;
    return;
  }
  uint16_t hf = get_le16(pkt);
  uint16_t handle = hf & 0x0fff;
  uint8_t pb = (hf >> 12) & 0x3;
  const uint8_t *d = pkt + 4;
  size_t n = len - 4;
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
