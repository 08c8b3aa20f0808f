/* SPDX-License-Identifier: Apache-2.0 */
/* ACL data: fragmentation against the controller's LE buffers, round-robin
 * between connections, and reassembly of incoming L2CAP PDUs.
 *
 * Host to controller flow control is packet based (Vol 4, Part E, 4.1.1):
 * every fragment uses one buffer, Number Of Completed Packets returns them,
 * and a disconnection returns those still held for the handle.
 */
#include <stdlib.h>
#include <string.h>

#include "ble_internal.h"
#include "gatts_internal.h"
#include "l2cap.h"

/* Packet boundary flags (Vol 4, Part E, 5.4.2). */
#define PB_FIRST_NON_FLUSHABLE 0x0
#define PB_CONTINUATION 0x1
#define PB_FIRST_FLUSHABLE 0x2

static struct ble_conn *next_with_data(uvble_t *ble) {
  struct ble_conn *start = ble->hci.rr_next ? ble->hci.rr_next : ble->conns.head;
  struct ble_conn *c = start;
  if (!c) return NULL;
  do {
    if (c->txq_head && !c->disconnecting) return c;
    c = c->next ? c->next : ble->conns.head;
  } while (c != start);
  return NULL;
}

void acl_pump(uvble_t *ble) {
  struct hci *hci = &ble->hci;
  while (hci->acl_free > 0 && !ble_dead(ble)) {
    struct ble_conn *c = next_with_data(ble);
    if (!c) return;
    struct acl_pdu *pdu = c->txq_head;
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
      ble_fail(ble, UVBLE_ETRANSPORT);
      return;
    }
    hci->acl_free--;
    c->acl_in_flight++;
    ble->stats.acl_tx_packets++;
    ble->stats.acl_tx_bytes += frag;
    pdu->sent += frag;
    if (pdu->sent == pdu->len) {
      c->txq_head = pdu->next;
      if (!c->txq_head) c->txq_tail = NULL;
      c->txq_bytes -= pdu->len;
      free(pdu);
      /* A whole PDU went out: give the next connection its turn. */
      hci->rr_next = c->next;
    }
  }
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
    struct ble_conn *c = conn_find(ble, handle);
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
  }
  acl_pump(ble);
  l2cap_on_acl_completed(ble);
  gatts_on_acl_completed(ble);
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
  pdu->next = NULL;
  pdu->len = 4 + payload;
  pdu->sent = 0;
  put_le16(pdu->data, (uint16_t)payload);
  put_le16(pdu->data + 2, cid);
  size_t off = 4;
  for (int i = 0; i < iovcnt; i++) {
    if (iov[i].len) memcpy(pdu->data + off, iov[i].base, iov[i].len);
    off += iov[i].len;
  }
  if (conn->txq_tail)
    conn->txq_tail->next = pdu;
  else
    conn->txq_head = pdu;
  conn->txq_tail = pdu;
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
