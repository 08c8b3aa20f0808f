/* SPDX-License-Identifier: Apache-2.0 */
/* The in-memory controller pair (memctl.h). */
#include "memctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONNS 32
#define HANDLE_BASE 0x0040

struct memctl;

/* A packet a slow radio has not delivered yet. */
struct held {
  struct held *next;
  int from, slot;
  size_t len;
  uint8_t d[];
};

struct side {
  struct memctl *m;
  int idx; /* 0: A, 1: B */
  uvble_transport_t *t;
  uint8_t bdaddr[6]; /* HCI order */
  unsigned acl_free; /* buffers the host may still fill */
  /* completions not yet reported, by connection slot */
  uint16_t pending[MAX_CONNS];
  unsigned pending_total;
};

struct memctl {
  uv_loop_t *loop;
  struct memctl_config cfg;
  struct side side[2];
  bool conn_used[MAX_CONNS];
  uint8_t ltk[MAX_CONNS][16]; /* what the central gave LE Enable Encryption */
  /* Completions gathered in a loop turn go out at its end (a prepare
   * watcher runs after the idle pass that delivered the packets). */
  uv_prepare_t flush;
  bool flush_open;
  uv_timer_t delay; /* completion_delay_ms */
  bool hold;
  struct held *held_head, *held_tail; /* packets "in the air" */
  int closing;
  struct memctl_stats stats;
};

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void send_event(struct side *s, uint8_t code, const void *params,
                       size_t len) {
  uint8_t hdr[2] = {code, (uint8_t)len};
  uvble_iov_t iov[2] = {{hdr, 2}, {params, len}};
  uvble_transport_send(s->t, UVBLE_HCI_EVENT, iov, 2);
}

static void send_cc(struct side *s, uint16_t opcode, const void *ret,
                    size_t len) {
  uint8_t p[255];
  p[0] = 1; /* Num_HCI_Command_Packets */
  put16(p + 1, opcode);
  memcpy(p + 3, ret, len);
  send_event(s, 0x0E, p, 3 + len);
}

static void send_cs(struct side *s, uint16_t opcode, uint8_t status) {
  uint8_t p[4] = {status, 1, 0, 0};
  put16(p + 2, opcode);
  send_event(s, 0x0F, p, 4);
}

static void send_disconn_complete(struct side *s, uint16_t handle,
                                  uint8_t reason) {
  uint8_t p[4] = {0, 0, 0, reason};
  put16(p + 1, handle);
  send_event(s, 0x05, p, 4);
}

static int slot_of(const struct memctl *m, uint16_t handle) {
  int i = (int)handle - HANDLE_BASE;
  return i >= 0 && i < MAX_CONNS && m->conn_used[i] ? i : -1;
}

static void drop_conn(struct memctl *m, int slot) {
  m->conn_used[slot] = false;
  /* Packets still in the air for the link are lost with it; their
   * buffers are free again. */
  for (struct held *h = m->held_head; h; h = h->next)
    if (h->slot == slot) {
      m->side[h->from].acl_free++;
      h->slot = -1;
    }
  /* The controller forgets the handle's packets: their buffers are free
   * again without a completion (Vol 4, Part E, 4.1.1). */
  for (int i = 0; i < 2; i++) {
    m->side[i].acl_free += m->side[i].pending[slot];
    m->side[i].pending_total -= m->side[i].pending[slot];
    m->side[i].pending[slot] = 0;
  }
}

/* Answers for the init sequence, like tests/support/sc.c's defaults. */
static void on_command(struct side *s, const uint8_t *d, size_t len) {
  struct memctl *m = s->m;
  if (len < 3) return;
  uint16_t op = get16(d);
  const uint8_t *p = d + 3;
  size_t plen = len - 3;
  uint8_t r[80];
  memset(r, 0, sizeof r);
  size_t n = 1;
  m->stats.commands++;
  switch (op) {
    case 0x0C03: /* Reset */
      s->acl_free = m->cfg.acl_pkts;
      break;
    case 0x1001: /* Read Local Version: 5.0, Linux Foundation */
      r[1] = 9;
      put16(r + 2, 1);
      r[4] = 9;
      put16(r + 5, 0x05F1);
      put16(r + 7, 2);
      n = 9;
      break;
    case 0x1002: /* Read Local Supported Commands: none optional */
      n = 65;
      break;
    case 0x1003: /* features: LE supported, BR/EDR not supported */
      r[5] = 0x60;
      n = 9;
      break;
    case 0x2003: /* LE features: encryption */
      r[1] = 0x01;
      n = 9;
      break;
    case 0x2002: /* LE Read Buffer Size */
    case 0x2060:
      put16(r + 1, m->cfg.acl_mtu);
      r[3] = m->cfg.acl_pkts;
      n = op == 0x2002 ? 4 : 7;
      s->acl_free = m->cfg.acl_pkts;
      break;
    case 0x1009:
      memcpy(r + 1, s->bdaddr, 6);
      n = 7;
      break;
    case 0x0406: { /* Disconnect */
      if (plen < 3) break;
      uint16_t h = get16(p) & 0x0fff;
      int slot = slot_of(m, h);
      send_cs(s, op, slot < 0 ? 0x02 : 0x00);
      if (slot < 0) return;
      drop_conn(m, slot);
      send_disconn_complete(s, h, 0x16);
      send_disconn_complete(&m->side[!s->idx], h, p[2]);
      return;
    }
    case 0x2013: { /* LE Connection Update: done at once on both sides */
      if (plen < 14) break;
      uint16_t h = get16(p) & 0x0fff;
      send_cs(s, op, slot_of(m, h) < 0 ? 0x02 : 0x00);
      if (slot_of(m, h) < 0) return;
      uint8_t e[10] = {0x03, 0};
      put16(e + 2, h);
      put16(e + 4, get16(p + 4)); /* interval: the maximum */
      put16(e + 6, get16(p + 6));
      put16(e + 8, get16(p + 8));
      for (int i = 0; i < 2; i++) send_event(&m->side[i], 0x3E, e, sizeof e);
      return;
    }
    case 0x2019: { /* LE Enable Encryption: as btvirt, the peripheral's
                      host is asked for its key (LTK Request) */
      if (plen < 28) break;
      uint16_t h = get16(p) & 0x0fff;
      int slot = slot_of(m, h);
      send_cs(s, op, slot < 0 ? 0x02 : 0x00);
      if (slot < 0) return;
      memcpy(m->ltk[slot], p + 12, 16);
      uint8_t e[13] = {0x05};
      put16(e + 1, h);
      memcpy(e + 3, p + 2, 8);   /* Rand */
      memcpy(e + 11, p + 10, 2); /* EDIV */
      send_event(&m->side[!s->idx], 0x3E, e, sizeof e);
      return;
    }
    case 0x201A:   /* LE Long Term Key Request Reply: encrypted on both
                      sides when the keys match, else Authentication
                      Failure on both (btvirt's rule) */
    case 0x201B: { /* Negative Reply: the central hears Key Missing */
      if (plen < (op == 0x201A ? 18u : 2u)) break;
      uint16_t h = get16(p) & 0x0fff;
      int slot = slot_of(m, h);
      r[0] = slot < 0 ? 0x02 : 0x00;
      put16(r + 1, h);
      send_cc(s, op, r, 3);
      if (slot < 0) return;
      uint8_t e[4] = {0x06, 0, 0, 0};
      put16(e + 1, h);
      if (op == 0x201B) {
        send_event(&m->side[!s->idx], 0x08, e, 4);
        return;
      }
      bool same = memcmp(m->ltk[slot], p + 2, 16) == 0;
      e[0] = same ? 0x00 : 0x05;
      e[3] = same;
      for (int i = 0; i < 2; i++) send_event(&m->side[i], 0x08, e, 4);
      return;
    }
    default:
      break;
  }
  send_cc(s, op, r, n);
}

static void flush_side(struct side *s) {
  if (!s->pending_total) return;
  uint8_t p[1 + 4 * MAX_CONNS];
  unsigned k = 0;
  for (int i = 0; i < MAX_CONNS; i++) {
    if (!s->pending[i]) continue;
    put16(p + 1 + 4 * k, (uint16_t)(HANDLE_BASE + i));
    put16(p + 3 + 4 * k, s->pending[i]);
    s->acl_free += s->pending[i];
    s->pending[i] = 0;
    k++;
  }
  p[0] = (uint8_t)k;
  s->pending_total = 0;
  s->m->stats.completed_events++;
  send_event(s, 0x13, p, 1 + 4 * k);
}

static void on_flush(uv_prepare_t *h) {
  struct memctl *m = h->data;
  flush_side(&m->side[0]);
  flush_side(&m->side[1]);
  uv_prepare_stop(h);
}

static void deliver(struct memctl *m, int from, const uint8_t *d,
                    size_t len) {
  uint8_t pb = (get16(d) >> 12) & 3;
  uint8_t hdr[4];
  put16(hdr, (uint16_t)((get16(d) & 0x0fff) | (pb == 0 ? 2 : pb) << 12));
  put16(hdr + 2, (uint16_t)(len - 4));
  uvble_iov_t iov[2] = {{hdr, 4}, {d + 4, len - 4}};
  uvble_transport_send(m->side[!from].t, UVBLE_HCI_ACL, iov, 2);
}

/* The slow radio's turn: every held packet reaches the peer and is
 * completed to its sender, in that order, as a link layer acknowledges. */
static void on_delay(uv_timer_t *t) {
  struct memctl *m = t->data;
  if (m->hold) return;
  while (m->held_head) {
    struct held *h = m->held_head;
    m->held_head = h->next;
    if (h->slot >= 0) {
      deliver(m, h->from, h->d, h->len);
      m->side[h->from].pending[h->slot]++;
      m->side[h->from].pending_total++;
    }
    free(h);
  }
  m->held_tail = NULL;
  flush_side(&m->side[0]);
  flush_side(&m->side[1]);
}

void memctl_hold_completions(memctl_t *m, bool hold) {
  m->hold = hold;
  if (!hold && m->flush_open) uv_timer_start(&m->delay, on_delay, 0, 0);
}

static void hold_packet(struct side *s, int slot, const uint8_t *d,
                        size_t len) {
  struct memctl *m = s->m;
  struct held *h = malloc(sizeof *h + len);
  if (!h) abort();
  h->next = NULL;
  h->from = s->idx;
  h->slot = slot;
  h->len = len;
  memcpy(h->d, d, len);
  if (m->held_tail)
    m->held_tail->next = h;
  else
    m->held_head = h;
  m->held_tail = h;
  if (!m->hold && m->flush_open && !uv_is_active((uv_handle_t *)&m->delay))
    uv_timer_start(&m->delay, on_delay, m->cfg.completion_delay_ms, 0);
}

static void on_acl(struct side *s, const uint8_t *d, size_t len) {
  struct memctl *m = s->m;
  if (len < 4) return;
  uint16_t hf = get16(d);
  uint16_t handle = hf & 0x0fff;
  int slot = slot_of(m, handle);
  if (slot < 0) {
    m->stats.acl_dropped++;
    return;
  }
  if (len - 4 > m->cfg.acl_mtu) m->stats.acl_over_mtu++;
  if (s->acl_free == 0)
    m->stats.acl_over_buffers++;
  else
    s->acl_free--;
  m->stats.acl_packets[s->idx]++;
  m->stats.acl_bytes[s->idx] += len - 4;
  if (m->cfg.completion_delay_ms || m->hold) {
    hold_packet(s, slot, d, len);
    return;
  }
  deliver(m, s->idx, d, len);
  if (m->cfg.completed_batch == 0) { /* one event per packet */
    uint8_t p[5] = {1, (uint8_t)handle, (uint8_t)(handle >> 8), 1, 0};
    s->acl_free++;
    m->stats.completed_events++;
    send_event(s, 0x13, p, sizeof p);
    return;
  }
  s->pending[slot]++;
  s->pending_total++;
  if (s->pending_total >= m->cfg.completed_batch) {
    flush_side(s);
  } else if (m->flush_open) {
    uv_prepare_start(&m->flush, on_flush);
  }
}

static void on_packet(uvble_transport_t *t, uint8_t type, const uint8_t *d,
                      size_t len, void *arg) {
  (void)t;
  struct side *s = arg;
  if (type == UVBLE_HCI_ACL)
    on_acl(s, d, len);
  else if (type == UVBLE_HCI_COMMAND)
    on_command(s, d, len);
}

static void on_error(uvble_transport_t *t, int err, void *arg) {
  (void)t;
  (void)err;
  (void)arg;
}

unsigned memctl_pending(const memctl_t *m, char *why, size_t len) {
  if (why && len) why[0] = 0;
  if (m->hold) return MEMCTL_HELD;
  unsigned held = 0;
  for (const struct held *h = m->held_head; h; h = h->next) held++;
  unsigned owed = m->side[0].pending_total + m->side[1].pending_total;
  if (!held && !owed) return 0;
  if (why)
    snprintf(why, len, "memctl: %u packet(s) in the air, %u completion(s) "
             "not yet reported", held, owed);
  return MEMCTL_BUSY;
}

memctl_t *memctl_of_handle(const uv_handle_t *h) {
  if (!h || h->type != UV_PREPARE) return NULL;
  /* Pointer arithmetic only: nothing is read unless h->data names it. */
  memctl_t *cand = (memctl_t *)(void *)((char *)h - offsetof(memctl_t, flush));
  return h->data == cand && cand->flush_open ? cand : NULL;
}

memctl_t *memctl_new(uv_loop_t *loop, const struct memctl_config *cfg,
                     uvble_transport_t **host_a, uvble_transport_t **host_b) {
  struct memctl *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->loop = loop;
  m->cfg.acl_mtu = 251;
  m->cfg.acl_pkts = 8;
  if (cfg) {
    if (cfg->acl_mtu) m->cfg.acl_mtu = cfg->acl_mtu;
    if (cfg->acl_pkts) m->cfg.acl_pkts = cfg->acl_pkts;
    m->cfg.completed_batch = cfg->completed_batch;
    m->cfg.completion_delay_ms = cfg->completion_delay_ms;
  }
  uvble_transport_t **host[2] = {host_a, host_b};
  for (int i = 0; i < 2; i++) {
    struct side *s = &m->side[i];
    s->m = m;
    s->idx = i;
    /* 00:AA:01:0i:00:42 like btvirt's, in HCI order */
    memcpy(s->bdaddr, "\x42\x00\x00\x01\xaa\x00", 6);
    s->bdaddr[2] = (uint8_t)i;
    if (uvble_transport_mem_pair(loop, host[i], &s->t) != 0) abort();
    uvble_transport_start(s->t, on_packet, on_error, s);
  }
  uv_prepare_init(loop, &m->flush);
  m->flush.data = m;
  uv_timer_init(loop, &m->delay);
  m->delay.data = m;
  m->flush_open = true;
  return m;
}

int memctl_connect(memctl_t *m) {
  int slot = 0;
  while (slot < MAX_CONNS && m->conn_used[slot]) slot++;
  if (slot == MAX_CONNS) return -1;
  m->conn_used[slot] = true;
  uint16_t handle = (uint16_t)(HANDLE_BASE + slot);
  for (int i = 0; i < 2; i++) {
    uint8_t p[19];
    memset(p, 0, sizeof p);
    p[0] = 0x01; /* LE Connection Complete */
    put16(p + 2, handle);
    p[4] = (uint8_t)i; /* A central, B peripheral */
    memcpy(p + 6, m->side[!i].bdaddr, 6);
    put16(p + 12, 6);   /* 7.5 ms */
    put16(p + 16, 100); /* 1 s */
    send_event(&m->side[i], 0x3E, p, sizeof p);
  }
  return handle;
}

void memctl_disconnect(memctl_t *m, uint16_t handle, uint8_t reason) {
  int slot = slot_of(m, handle);
  if (slot < 0) return;
  drop_conn(m, slot);
  for (int i = 0; i < 2; i++)
    send_disconn_complete(&m->side[i], handle, reason);
}

void memctl_send_event(memctl_t *m, int host, uint8_t code,
                       const void *params, size_t len) {
  if (host < 0 || host > 1 || len > 255) return;
  send_event(&m->side[host], code, params, len);
}

void memctl_get_stats(const memctl_t *m, struct memctl_stats *out) {
  *out = m->stats;
}

static void on_handle_closed(uv_handle_t *h) {
  struct memctl *m = h->data;
  if (--m->closing == 0) free(m);
}

void memctl_free(memctl_t *m) {
  if (!m) return;
  for (int i = 0; i < 2; i++) uvble_transport_close(m->side[i].t, NULL, NULL);
  m->flush_open = false;
  while (m->held_head) {
    struct held *h = m->held_head;
    m->held_head = h->next;
    free(h);
  }
  m->held_tail = NULL;
  m->closing = 2; /* freed when both handles are closed */
  uv_close((uv_handle_t *)&m->delay, on_handle_closed);
  uv_close((uv_handle_t *)&m->flush, on_handle_closed);
}

struct bring_up {
  int pending;
  int status;
};

static void on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  struct bring_up *b = uvble_get_data(ble);
  b->pending--;
  if (status && !b->status) b->status = status;
}

int memctl_bring_up(uv_loop_t *loop, const struct memctl_config *cfg,
                    memctl_t **mp, uvble_t **a, uvble_t **b) {
  uvble_transport_t *ta, *tb;
  *a = *b = NULL;
  memctl_t *m = memctl_new(loop, cfg, &ta, &tb);
  *mp = m;
  if (!m) return UVBLE_ENOMEM;
  int r = uvble_new_with_transport(loop, ta, a);
  if (r < 0) {
    uvble_transport_close(tb, NULL, NULL);
    return r;
  }
  r = uvble_new_with_transport(loop, tb, b);
  if (r < 0) return r;
  struct bring_up st = {2, 0};
  uvble_set_data(*a, &st);
  uvble_set_data(*b, &st);
  if ((r = uvble_active(*a, true, on_active, NULL)) < 0) return r;
  if ((r = uvble_active(*b, true, on_active, NULL)) < 0) return r;
  /* The stack's own command timeout bounds this. */
  while (st.pending > 0 && uv_run(loop, UV_RUN_ONCE)) {
  }
  uvble_set_data(*a, NULL);
  uvble_set_data(*b, NULL);
  return st.pending ? UVBLE_ETIMEDOUT : st.status;
}
