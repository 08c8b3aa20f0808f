/* SPDX-License-Identifier: Apache-2.0 */
/* The edges of a link and of the stack: what we owe the controller before
 * ending either.
 *
 * Ending a link on the application's behalf first lets the PDUs already
 * queued on it reach the controller and be completed (Number Of Completed
 * Packets, Vol 4, Part E, 7.7.19), then sends HCI Disconnect (7.1.6): a
 * write, a notification or the last key of a pairing queued just before
 * uvble_gap_disconnect() arrives. The drain is bounded by the drain
 * timeout (UVBLE_CONFIG_DRAIN_MS); past it the link is ended anyway and
 * what was still queued or uncompleted is counted in
 * uvble_stats_t.acl_tx_dropped. A link the peer or the controller ends
 * completes everything at once (conn_remove), drained or not.
 *
 * uvble_close() lingers the same way: commands already sent are answered,
 * the kept links' data completed; then HCI Reset (Vol 4, Part E, 7.3.2)
 * quiets the controller (no more advertising reports, no links whose
 * peers send to us) and its answer is awaited. All of it is bounded by the
 * drain timeout and never more than UVBLE_CLOSE_LINGER_MAX_MS; only then
 * does the transport close. A controller never writes into a closed
 * transport (btvirt dies of that, taking every host on it along).
 *
 * One timer serves both, armed for the earliest deadline.
 */
#include "conn.h"

#define UVBLE_CLOSE_LINGER_MAX_MS 1000
#define DISCONNECT_RETRY_MS 100

static void on_edge_timer(uv_timer_t *t);

static void arm(uvble_t *ble) {
  struct hci *hci = &ble->hci;
  if (!hci->edge_timer_open) return;
  uint64_t next = hci->lingering ? hci->linger_deadline
                  : hci->stop_done ? hci->stop_deadline
                                   : 0;
  for (struct ble_conn *c = conn_first(ble); c; c = conn_next(c))
    if (c->drain_deadline && (!next || c->drain_deadline < next))
      next = c->drain_deadline;
  if (!next) {
    uv_timer_stop(&hci->edge_timer);
    return;
  }
  uint64_t now = ble_now_ms(ble->loop);
  uv_timer_start(&hci->edge_timer, on_edge_timer, next > now ? next - now : 0,
                 0);
}

static int send_disconnect_cb(uvble_t *ble, struct ble_conn *c,
                              hci_cmd_cb cb) {
  uint8_t cmd[3];
  put_le16(cmd, c->handle);
  cmd[2] = c->disc_reason;
  return hci_send_cmd(ble, HCI_OP_DISCONNECT, cmd, 3, cb,
                      (void *)(uintptr_t)c->handle);
}

static int send_disconnect(uvble_t *ble, struct ble_conn *c) {
  int r = send_disconnect_cb(ble, c, NULL);
  if (r == 0) c->disc_sent = true;
  return r;
}

int conn_disconnect(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  if (c->disconnecting) return 0;
  c->disc_reason = reason;
  if (acl_tx_idle(c) || ble->hci.drain_ms == 0) {
    ble->stats.acl_tx_dropped += acl_tx_discard(c);
    int r = send_disconnect(ble, c);
    if (r == 0) c->disconnecting = true;
    return r;
  }
  c->disconnecting = true; /* refuses new sends from now on */
  c->drain_deadline = ble_now_ms(ble->loop) + ble->hci.drain_ms;
  arm(ble);
  return 0;
}

/* The drain of c is over (done, or out of time): the link ends. */
static void drain_end(uvble_t *ble, struct ble_conn *c) {
  c->drain_deadline = 0;
  ble->stats.acl_tx_dropped += acl_tx_discard(c);
  /* The command queue is full: try again shortly rather than leave the
   * link up and refusing senders for good. */
  if (send_disconnect(ble, c) < 0)
    c->drain_deadline = ble_now_ms(ble->loop) + DISCONNECT_RETRY_MS;
}

void conn_edge_on_progress(uvble_t *ble, struct ble_conn *c) {
  conn_drain_all_check(ble);
  if (ble_dead(ble) || ble->state == BLE_STOPPING) return;
  if (!c->drain_deadline || !acl_tx_idle(c)) return;
  drain_end(ble, c);
  arm(ble);
}

/* ---- uvble_active(false) ----------------------------------------------- */
static bool all_idle(const uvble_t *ble) {
  for (const struct ble_conn *c = conn_first(ble); c; c = conn_next(c))
    if (!acl_tx_idle(c)) return false;
  return true;
}

static void drain_all_end(uvble_t *ble) {
  struct hci *hci = &ble->hci;
  void (*done)(uvble_t *) = hci->stop_done;
  hci->stop_done = NULL;
  for (struct ble_conn *c = conn_first(ble); c; c = conn_next(c))
    ble->stats.acl_tx_dropped += acl_tx_discard(c);
  arm(ble);
  if (done) done(ble);
}

void conn_drain_all(uvble_t *ble, void (*done)(uvble_t *ble)) {
  struct hci *hci = &ble->hci;
  for (struct ble_conn *c = conn_first(ble); c; c = conn_next(c))
    c->disconnecting = true; /* refuses new sends */
  hci->stop_done = done;
  hci->stop_deadline = ble_now_ms(ble->loop) + hci->drain_ms;
  if (all_idle(ble) || hci->drain_ms == 0 || !hci->edge_timer_open) {
    drain_all_end(ble);
    return;
  }
  arm(ble);
}

void conn_drain_all_check(uvble_t *ble) {
  if (ble->hci.stop_done && ble->state == BLE_STOPPING && all_idle(ble))
    drain_all_end(ble);
}

/* ---- uvble_close()'s linger -------------------------------------------- */
static void linger_finish(uvble_t *ble) {
  struct hci *hci = &ble->hci;
  hci->lingering = false;
  struct ble_conn *c;
  while ((c = conn_of(sq_pop(&ble->conns.linger)))) {
    ble->stats.acl_tx_dropped += acl_tx_discard(c);
    conn_free(ble, c);
  }
  if (hci->edge_timer_open) uv_timer_stop(&hci->edge_timer);
  void (*done)(uvble_t *) = hci->linger_done;
  hci->linger_done = NULL;
  if (done) done(ble);
}

static bool linger_idle(const uvble_t *ble) {
  if (hci_inflight(ble)) return false;
  for (const struct ble_conn *c = conn_of(ble->conns.linger.head); c;
       c = conn_next(c))
    if (!acl_tx_idle(c)) return false;
  return true;
}

void conn_linger(uvble_t *ble, bool was_started,
                 void (*done)(uvble_t *ble)) {
  struct hci *hci = &ble->hci;
  hci->stop_done = NULL; /* a power-down waiting is over */
  hci->linger_done = done;
  hci->lingering = true;
  hci->rr_next = NULL; /* the cursor pointed into the table */
  unsigned bound = hci->drain_ms < UVBLE_CLOSE_LINGER_MAX_MS
                       ? hci->drain_ms
                       : UVBLE_CLOSE_LINGER_MAX_MS;
  hci->linger_deadline = ble_now_ms(ble->loop) + bound;
  hci->linger_reset = false;
  /* A failed stack has no controller to wait for; one never started has
   * nothing to quiet. */
  if (!ble->transport || !hci->edge_timer_open || ble->fail_status ||
      (!was_started && linger_idle(ble))) {
    linger_finish(ble);
    return;
  }
  acl_pump(ble);
  arm(ble);
  conn_linger_check(ble);
}

/* Everything owed is out: the controller is reset so that it stops
 * talking, then the linger ends with its answer. */
static void linger_reset(uvble_t *ble) {
  ble->hci.linger_reset = true;
  if (hci_send_cmd(ble, HCI_OP_RESET, NULL, 0, NULL, NULL) < 0)
    linger_finish(ble);
}

/* Every link still up is ended with Remote Device Terminated Connection
 * due to Power Off (Vol 1, Part F, 0x15), as a host powering down does:
 * HCI Reset alone leaves the peer to find out at its supervision timeout
 * (btvirt, which has none, keeps the link for good). Returns whether a
 * Disconnection Complete is still awaited. */
static void on_linger_disconnect(uvble_t *ble, int err, uint8_t st,
                                 const uint8_t *ret, size_t ret_len,
                                 void *arg) {
  /* Refused (the link is already going, say): no Disconnection Complete
   * will come for it, and waiting out the linger would skip the Reset. */
  if (err && ble->hci.lingering)
    conn_linger_on_disconnected(ble, (uint16_t)(uintptr_t)arg);
}

static bool linger_disconnect_all(uvble_t *ble) {
  struct ble_conn *next;
  for (struct ble_conn *c = conn_of(ble->conns.linger.head); c; c = next) {
    next = conn_next(c);
    if (c->disc_sent) continue;
    c->disc_sent = true;
    c->disc_reason = HCI_POWER_OFF;
    /* A refusal may free c inside the call (on_linger_disconnect): c is
     * not touched after it. */
    send_disconnect_cb(ble, c, on_linger_disconnect);
  }
  for (const struct ble_conn *c = conn_of(ble->conns.linger.head); c;
       c = conn_next(c))
    if (c->disc_sent) return true;
  return false;
}

void conn_linger_check(uvble_t *ble) {
  if (!ble->hci.lingering || !linger_idle(ble)) return;
  if (ble->hci.linger_reset)
    linger_finish(ble);
  else if (!linger_disconnect_all(ble))
    linger_reset(ble);
}

void conn_linger_on_disconnected(uvble_t *ble, uint16_t handle) {
  struct sq *q = &ble->conns.linger;
  struct sq_node **at = &q->head, *prev = NULL;
  for (; *at; at = &(prev = *at)->next) {
    struct ble_conn *c = conn_of(*at);
    if (c->handle != handle) continue;
    sq_unlink(q, at, prev);
    if (ble->hci.rr_next == c) ble->hci.rr_next = NULL;
    ble->stats.acl_tx_dropped += acl_tx_discard(c);
    conn_free(ble, c);
    acl_pump(ble);
    return;
  }
}

void conn_linger_abort(uvble_t *ble) {
  if (ble->hci.lingering) linger_finish(ble);
}

/* A timer is an entry from the loop: a dispatch reference (ble_ref). */
static void on_edge_timer_run(uv_timer_t *t);

static void on_edge_timer(uv_timer_t *t) {
  uvble_t *ble = (uvble_t *)t->data;
  ble_ref(ble);
  on_edge_timer_run(t);
  ble_unref(ble);
}

static void on_edge_timer_run(uv_timer_t *t) {
  uvble_t *ble = t->data;
  struct hci *hci = &ble->hci;
  uint64_t now = ble_now_ms(ble->loop);
  if (hci->lingering) {
    if (now >= hci->linger_deadline) linger_finish(ble);
    else arm(ble);
    return;
  }
  if (ble_dead(ble)) return;
  if (hci->stop_done && now >= hci->stop_deadline) {
    drain_all_end(ble);
    return;
  }
  for (struct ble_conn *c = conn_first(ble); c; c = conn_next(c)) {
    if (c->drain_deadline && now >= c->drain_deadline) drain_end(ble, c);
    if (ble_dead(ble)) return;
  }
  arm(ble);
}
