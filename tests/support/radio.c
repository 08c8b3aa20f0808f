/* SPDX-License-Identifier: Apache-2.0 */
/* The in-memory radio (radio.h). */
#include "radio.h"

#include <stdlib.h>
#include <string.h>

/* An event the host's inbound queue could not take yet: a controller
 * never loses one of its own (a Command Complete dropped would stall the
 * host); it waits, ahead of anything injected later. */
struct pending {
  struct pending *next;
  size_t len;
  uint8_t pkt[];
};

struct ctl {
  struct radio *r;
  struct pending *wait_head, *wait_tail;
  int idx;
  uvble_transport_t *t; /* the controller's end */
  uint8_t bdaddr[6];    /* HCI order */
  uint8_t adv_type;     /* LE Set Advertising Parameters */
  uint8_t adv[31], adv_len;
  uint8_t rsp[31], rsp_len;
  bool adv_on, scan_on, scan_active;
};

struct radio {
  uv_loop_t *loop;
  struct ctl **ctl;
  int n, cap;
  struct radio_stats stats;
  uv_idle_t *flush; /* retries waiting events; freed on close */
};

static void flush_one(struct ctl *c) {
  while (c->wait_head) {
    struct pending *p = c->wait_head;
    uvble_iov_t iov = {p->pkt, p->len};
    if (uvble_transport_send(c->t, UVBLE_HCI_EVENT, &iov, 1) != 0) return;
    c->wait_head = p->next;
    if (!c->wait_head) c->wait_tail = NULL;
    free(p);
  }
}

static void on_flush(uv_idle_t *h) {
  struct radio *r = h->data;
  bool any = false;
  for (int i = 0; i < r->n; i++) {
    flush_one(r->ctl[i]);
    any |= r->ctl[i]->wait_head != NULL;
  }
  if (!any) uv_idle_stop(h);
}

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void send_event(struct ctl *c, uint8_t code, const void *params, size_t len) {
  uint8_t hdr[2] = {code, (uint8_t)len};
  uvble_iov_t iov[2] = {{hdr, 2}, {params, len}};
  flush_one(c);
  if (!c->wait_head && uvble_transport_send(c->t, UVBLE_HCI_EVENT, iov, 2) == 0) return;
  struct pending *p = malloc(sizeof *p + 2 + len);
  if (!p) {
    c->r->stats.dropped++;
    return;
  }
  p->next = NULL;
  p->len = 2 + len;
  memcpy(p->pkt, hdr, 2);
  memcpy(p->pkt + 2, params, len);
  if (c->wait_tail)
    c->wait_tail->next = p;
  else
    c->wait_head = p;
  c->wait_tail = p;
  c->r->stats.delayed++;
  uv_idle_start(c->r->flush, on_flush);
}

static void send_cc(struct ctl *c, uint16_t op, const void *ret, size_t len) {
  uint8_t p[255];
  p[0] = 1;
  put16(p + 1, op);
  memcpy(p + 3, ret, len);
  send_event(c, 0x0E, p, 3 + len);
}

/* One legacy advertising report of `from` (its advertisement or, with
 * rsp, its scan response) to `to`. Report types: 0 ADV_IND, 2 ADV_SCAN_IND,
 * 3 ADV_NONCONN_IND, 4 SCAN_RSP (Vol 4, Part E, 7.7.65.2). */
static void report(struct ctl *to, const struct ctl *from, bool rsp) {
  static const uint8_t type_of[5] = {0, 1, 2, 3, 1};
  uint8_t p[64];
  size_t n = 0;
  p[n++] = 0x02;
  p[n++] = 1;
  p[n++] = rsp ? 4 : type_of[from->adv_type < 5 ? from->adv_type : 3];
  p[n++] = 0x00;
  memcpy(p + n, from->bdaddr, 6);
  n += 6;
  uint8_t len = rsp ? from->rsp_len : from->adv_len;
  p[n++] = len;
  memcpy(p + n, rsp ? from->rsp : from->adv, len);
  n += len;
  p[n++] = (uint8_t)(-40 - (from->idx % 50)); /* RSSI, -40..-89 dBm */
  send_event(to, 0x3E, p, n);
  to->r->stats.reports++;
}

/* What a scanner sees of an advertiser right now. */
static void deliver(struct ctl *scanner, const struct ctl *adv) {
  if (scanner == adv || !scanner->scan_on || !adv->adv_on) return;
  report(scanner, adv, false);
  bool scannable = adv->adv_type == 0x00 || adv->adv_type == 0x02;
  if (scanner->scan_active && scannable) report(scanner, adv, true);
}

static void answer(struct ctl *c, uint16_t op, const uint8_t *p, size_t len) {
  uint8_t r[80];
  memset(r, 0, sizeof r);
  size_t n = 1; /* status 0 */
  switch (op) {
    case 0x1001: /* Read Local Version: 5.0 */
      r[1] = 9;
      r[4] = 9;
      put16(r + 5, 0x05F1);
      n = 9;
      break;
    case 0x1002: /* no optional commands listed */
      n = 65;
      break;
    case 0x1003:
      r[5] = 0x60; /* LE only */
      n = 9;
      break;
    case 0x2003:
      r[1] = 0x01;
      n = 9;
      break;
    case 0x2002: /* LE buffers: 251 x 8 */
      put16(r + 1, 251);
      r[3] = 8;
      n = 4;
      break;
    case 0x1009:
      memcpy(r + 1, c->bdaddr, 6);
      n = 7;
      break;
    case 0x2006: /* LE Set Advertising Parameters */
      if (len >= 5) c->adv_type = p[4];
      break;
    case 0x2008: /* LE Set Advertising Data */
      if (len >= 1 && p[0] <= 31 && len >= 1u + p[0]) {
        c->adv_len = p[0];
        memcpy(c->adv, p + 1, p[0]);
      }
      break;
    case 0x2009: /* LE Set Scan Response Data */
      if (len >= 1 && p[0] <= 31 && len >= 1u + p[0]) {
        c->rsp_len = p[0];
        memcpy(c->rsp, p + 1, p[0]);
      }
      break;
    case 0x200B: /* LE Set Scan Parameters */
      if (len >= 1) c->scan_active = p[0] == 1;
      break;
    default:
      break;
  }
  send_cc(c, op, r, n);
  /* Enabling happens after the answer, as a controller reports reports
   * only once enabled. */
  if (op == 0x200A && len >= 1) {
    bool was = c->adv_on;
    c->adv_on = p[0] != 0;
    if (c->adv_on && !was)
      for (int i = 0; i < c->r->n; i++) deliver(c->r->ctl[i], c);
  } else if (op == 0x200C && len >= 1) {
    bool was = c->scan_on;
    c->scan_on = p[0] != 0;
    if (c->scan_on && !was)
      for (int i = 0; i < c->r->n; i++) deliver(c, c->r->ctl[i]);
  }
}

static void on_packet(uvble_transport_t *t, uint8_t type, const uint8_t *d,
                      size_t len, void *arg) {
  (void)t;
  struct ctl *c = arg;
  if (type != UVBLE_HCI_COMMAND || len < 3) return; /* ACL: no links here */
  c->r->stats.commands++;
  uint16_t op = (uint16_t)(d[0] | d[1] << 8);
  size_t plen = d[2] <= len - 3 ? d[2] : len - 3;
  answer(c, op, d + 3, plen);
}

static void on_error(uvble_transport_t *t, int err, void *arg) {
  (void)t;
  (void)err;
  (void)arg;
}

radio_t *radio_new(uv_loop_t *loop) {
  radio_t *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->loop = loop;
  r->flush = malloc(sizeof *r->flush);
  if (!r->flush) {
    free(r);
    return NULL;
  }
  uv_idle_init(loop, r->flush);
  r->flush->data = r;
  return r;
}

uvble_transport_t *radio_add(radio_t *r) {
  if (r->n == r->cap) {
    int cap = r->cap ? r->cap * 2 : 16;
    struct ctl **a = realloc(r->ctl, (size_t)cap * sizeof *a);
    if (!a) return NULL;
    r->ctl = a;
    r->cap = cap;
  }
  struct ctl *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  uvble_transport_t *host;
  if (uvble_transport_mem_pair(r->loop, &host, &c->t) != 0) {
    free(c);
    return NULL;
  }
  c->r = r;
  c->idx = r->n;
  c->adv_type = 0x03;
  /* 00:AA:02:hh:ll:42, HCI order. */
  uint8_t a[6] = {0x42, (uint8_t)c->idx, (uint8_t)(c->idx >> 8), 0x02, 0xAA, 0x00};
  memcpy(c->bdaddr, a, 6);
  uvble_transport_start(c->t, on_packet, on_error, c);
  r->ctl[r->n++] = c;
  return host;
}

int radio_count(const radio_t *r) { return r->n; }

int radio_send_raw(radio_t *r, int i, uint8_t type, const void *pkt, size_t len) {
  if (i < 0 || i >= r->n) return UVBLE_EINVAL;
  flush_one(r->ctl[i]);
  if (r->ctl[i]->wait_head) return UVBLE_ENOBUFS; /* its own events first */
  uvble_iov_t iov = {pkt, len};
  return uvble_transport_send(r->ctl[i]->t, type, &iov, 1);
}

bool radio_scanning(const radio_t *r, int i) {
  return i >= 0 && i < r->n && r->ctl[i]->scan_on;
}

bool radio_advertising(const radio_t *r, int i) {
  return i >= 0 && i < r->n && r->ctl[i]->adv_on;
}

void radio_get_stats(const radio_t *r, struct radio_stats *out) { *out = r->stats; }

static void on_flush_closed(uv_handle_t *h) { free(h); }

void radio_free(radio_t *r) {
  if (!r) return;
  for (int i = 0; i < r->n; i++) {
    uvble_transport_close(r->ctl[i]->t, NULL, NULL);
    while (r->ctl[i]->wait_head) {
      struct pending *p = r->ctl[i]->wait_head;
      r->ctl[i]->wait_head = p->next;
      free(p);
    }
    free(r->ctl[i]);
  }
  uv_close((uv_handle_t *)r->flush, on_flush_closed);
  free(r->ctl);
  free(r);
}
