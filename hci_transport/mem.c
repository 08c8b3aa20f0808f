/* SPDX-License-Identifier: Apache-2.0 */
/* The in-memory pair: what one end sends is copied into the other end's
 * inbound queue and handed to its recv_cb from a uv_idle_t callback, so
 * never inside send(); one callback serves the pair and the ends it feeds
 * (on_idle).
 * The queue is one contiguous buffer used as a bip buffer (records are
 * never split, so each is handed up in place), allocated on first use and
 * then reused: no allocation per packet.
 *
 * Record: type(1) 0(1) length(2, little endian) then the packet.
 */
#include <stdlib.h>
#include <string.h>

#include "transport_internal.h"

#define REC_HDR 4
#define MAX_REC (REC_HDR + UVBLE_HCI_ISO_MAX)

typedef struct mem_transport mem_transport_t;
struct mem_transport {
  uvble_transport_t base; /* first: freed through it */
  uv_idle_t idle;
  mem_transport_t *peer; /* NULL once the peer closed */
  int peer_closed;
  size_t out_limit; /* the queue towards the peer */
  /* Inbound queue: region A [a_start, a_end); when wrapped, region B
   * [0, b_end) follows it (b_end <= a_start). */
  uint8_t *q;
  size_t cap, a_start, a_end, b_end;
  int wrapped;
  size_t records;  /* packets queued */
  size_t h4_bytes; /* their size as H4 (indicator + packet): the peer's pending() */
};

static int mem_empty(const mem_transport_t *m) { return m->records == 0; }

static void on_idle(uv_idle_t *h);

/* Reserves n contiguous bytes in m's queue; NULL when it does not fit. */
static uint8_t *q_reserve(mem_transport_t *m, size_t n) {
  if (m->wrapped) {
    if (m->b_end + n > m->a_start) return NULL;
    uint8_t *p = m->q + m->b_end;
    m->b_end += n;
    return p;
  }
  if (m->a_end + n <= m->cap) {
    uint8_t *p = m->q + m->a_end;
    m->a_end += n;
    return p;
  }
  if (n < m->a_start) { /* start region B at the front */
    m->wrapped = 1;
    m->b_end = n;
    return m->q;
  }
  return NULL;
}

/* Drops the record at a_start (of total size n). */
static void q_release(mem_transport_t *m, size_t n) {
  m->a_start += n;
  if (m->a_start < m->a_end) return;
  if (m->wrapped) {
    m->a_start = 0;
    m->a_end = m->b_end;
    m->b_end = 0;
    m->wrapped = 0;
  } else {
    m->a_start = m->a_end = 0;
  }
}

static int can_deliver(const mem_transport_t *m) {
  return m->base.started && !m->base.closing && !m->base.failed;
}

/* Hands up the records queued in m now (those queued from inside the
 * callbacks wait for the next round); returns how many. */
static size_t drain(mem_transport_t *m) {
  uvble_transport_t *t = &m->base;
  size_t n = m->records, done = 0;
  while (n-- > 0) {
    const uint8_t *r = m->q + m->a_start;
    uint8_t type = r[0];
    size_t len = (size_t)r[2] | (size_t)r[3] << 8;
    int stop = uvble__transport_deliver(t, type, r + REC_HDR, len);
    /* The record is released only now: it was borrowed during the call. */
    q_release(m, REC_HDR + len);
    m->records--;
    m->h4_bytes -= 1 + len;
    done++;
    if (stop) break;
  }
  return done;
}

/* After a pass: the watcher runs on while m has packets to hand up. */
static void settle(mem_transport_t *m) {
  uvble_transport_t *t = &m->base;
  if (t->closing) return;
  if (mem_empty(m) && m->peer_closed) uvble__transport_fail(t, UVBLE_ECONNRESET);
  if (t->closing || t->failed || mem_empty(m))
    uv_idle_stop(&m->idle);
  else if (t->started)
    uv_idle_start(&m->idle, on_idle);
}

/* Rounds of one pass: enough for hosts and a controller model to trade a
 * window of packets, their completions and the answers; an endless
 * exchange still yields to the loop (and goes on at its next turn). */
#define PASS_ROUNDS 16
/* Ends one pass serves: its pair and those the pair's owners send to. */
#define PASS_ENDS 8

/* One pass delivers whatever its ends have queued, round after round, until
 * nothing moves: the pair whose watcher runs, and every end of this loop
 * that a callback of the pass sends to (a controller model forwarding from
 * one host's pair to another's, tests/support/memctl.c). A controller on a
 * real transport works while the host does, and the host reads all it
 * sent on its next turn; one hop per loop turn instead made the loop, not
 * the stack, what the benchmarks measured. Still nothing is delivered
 * inside send(), and a pass is bounded. */
struct pass {
  uv_loop_t *loop;
  mem_transport_t *end[PASS_ENDS];
  int n;
};
/* The pass running on this thread, if any (a loop runs on one thread). */
static _Thread_local struct pass *cur_pass;

static void pass_add(struct pass *ps, mem_transport_t *m) {
  for (int i = 0; i < ps->n; i++)
    if (ps->end[i] == m) return;
  if (ps->n < PASS_ENDS) ps->end[ps->n++] = m; /* else its own watcher */
}

static void on_idle(uv_idle_t *h) {
  mem_transport_t *m = h->data;
  struct pass ps = {m->base.loop, {0}, 0}, *outer = cur_pass;
  pass_add(&ps, m);
  if (m->peer) pass_add(&ps, m->peer);
  cur_pass = &ps;
  for (int round = 0; round < PASS_ROUNDS; round++) {
    size_t moved = 0;
    /* An end closed meanwhile is freed on a later turn, not under us. */
    for (int i = 0; i < ps.n; i++)
      if (can_deliver(ps.end[i])) moved += drain(ps.end[i]);
    if (!moved) break;
  }
  cur_pass = outer;
  for (int i = 0; i < ps.n; i++) settle(ps.end[i]);
}

static int mem_start(uvble_transport_t *t) {
  mem_transport_t *m = (mem_transport_t *)t;
  if (!mem_empty(m) || m->peer_closed) uv_idle_start(&m->idle, on_idle);
  return 0;
}

static int mem_send(uvble_transport_t *t, uint8_t type, const uvble_iov_t *iov,
                    int iovcnt, size_t len) {
  mem_transport_t *m = (mem_transport_t *)t;
  mem_transport_t *p = m->peer;
  if (!p || p->base.closing) return UVBLE_EPIPE;
  if (!p->q) {
    /* One record more than the limit: whatever the limit admits then fits
     * contiguously, wherever the free space happens to be. */
    size_t cap = m->out_limit + MAX_REC;
    p->q = malloc(cap);
    if (!p->q) return UVBLE_ENOMEM;
    p->cap = cap;
  }
  size_t need = REC_HDR + len;
  /* The limit counts queued bytes, record headers included. */
  size_t used = p->wrapped ? (p->a_end - p->a_start) + p->b_end : p->a_end - p->a_start;
  if (used + need > m->out_limit) return UVBLE_ENOBUFS;
  uint8_t *r = q_reserve(p, need);
  if (!r) return UVBLE_ENOBUFS;
  r[0] = type;
  r[1] = 0;
  r[2] = (uint8_t)len;
  r[3] = (uint8_t)(len >> 8);
  uint8_t *o = r + REC_HDR;
  for (int i = 0; i < iovcnt; i++) {
    if (iov[i].len) memcpy(o, iov[i].base, iov[i].len);
    o += iov[i].len;
  }
  p->records++;
  p->h4_bytes += 1 + len;
  if (cur_pass && cur_pass->loop == p->base.loop) pass_add(cur_pass, p);
  if (p->base.started && !p->base.failed) uv_idle_start(&p->idle, on_idle);
  return 0;
}

static size_t mem_pending(const uvble_transport_t *t) {
  const mem_transport_t *m = (const mem_transport_t *)t;
  return m->peer ? m->peer->h4_bytes : 0;
}

static int mem_set_limit(uvble_transport_t *t, size_t limit) {
  mem_transport_t *m = (mem_transport_t *)t;
  mem_transport_t *p = m->peer;
  if (p && p->q) {
    if (!mem_empty(p)) return UVBLE_EBUSY;
    if (limit + MAX_REC > p->cap) { /* reallocated, bigger, on the next send */
      free(p->q);
      p->q = NULL;
      p->cap = 0;
      p->a_start = p->a_end = p->b_end = 0;
      p->wrapped = 0;
    }
  }
  m->out_limit = limit;
  return 0;
}

static void on_idle_closed(uv_handle_t *h) {
  mem_transport_t *m = h->data;
  free(m->q);
  uvble__transport_closed(&m->base);
}

static void mem_close(uvble_transport_t *t) {
  mem_transport_t *m = (mem_transport_t *)t;
  mem_transport_t *p = m->peer;
  if (p) {
    /* The peer gets what was already queued for it, then ECONNRESET. */
    p->peer = NULL;
    p->peer_closed = 1;
    if (p->base.started && !p->base.closing && !p->base.failed)
      uv_idle_start(&p->idle, on_idle);
    m->peer = NULL;
  }
  uv_close((uv_handle_t *)&m->idle, on_idle_closed);
}

static const uvble_transport_vtable_t mem_vtable = {
    .start = mem_start,
    .send = mem_send,
    .close = mem_close,
    .pending = mem_pending,
    .set_limit = mem_set_limit,
};

static mem_transport_t *mem_new(uv_loop_t *loop) {
  mem_transport_t *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  if (uvble__transport_init(&m->base, &mem_vtable, loop, "mem") != 0) {
    free(m);
    return NULL;
  }
  uv_idle_init(loop, &m->idle);
  m->idle.data = m;
  m->out_limit = UVBLE_TRANSPORT_DEFAULT_LIMIT;
  return m;
}

static void free_unstarted(uv_handle_t *h) {
  mem_transport_t *m = h->data;
  free(m->base.name);
  free(m);
}

int uvble_transport_mem_pair(uv_loop_t *loop, uvble_transport_t **a,
                             uvble_transport_t **b) {
  if (!loop || !a || !b) return UVBLE_EINVAL;
  mem_transport_t *x = mem_new(loop);
  mem_transport_t *y = x ? mem_new(loop) : NULL;
  if (!y) {
    if (x) uv_close((uv_handle_t *)&x->idle, free_unstarted);
    return UVBLE_ENOMEM;
  }
  x->peer = y;
  y->peer = x;
  *a = &x->base;
  *b = &y->base;
  return 0;
}
