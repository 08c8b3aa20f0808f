/* SPDX-License-Identifier: Apache-2.0 */
/* Connection management: links come up (LE (Enhanced) Connection Complete)
 * and go down (Disconnection Complete) here, for every layer. The layers
 * above hear about it through what they registered: per-connection
 * observers (conn_add_observer) and GAP's establishment hooks
 * (conn_set_gap_hooks). */
#include <string.h>

#include "conn.h"
#include "pdu_reader.h"

int conn_add_observer(uvble_t *ble, conn_open_fn open, conn_closed_fn closed) {
  struct ble_conns *cs = &ble->conns;
  if (cs->nobs == CONN_OBSERVERS) return UVBLE_ENOBUFS;
  cs->obs[cs->nobs].open = open;
  cs->obs[cs->nobs].closed = closed;
  cs->nobs++;
  return 0;
}

void conn_set_gap_hooks(uvble_t *ble, const struct conn_gap_hooks *h) {
  ble->conns.gap = *h;
}

/* All or nothing: an observer that fails undoes, through their closed
 * hooks and in reverse, the ones that ran before it. */
int conn_observers_open(uvble_t *ble, struct ble_conn *c) {
  const struct ble_conns *cs = &ble->conns;
  unsigned i;
  int r = 0;
  for (i = 0; i < cs->nobs; i++)
    if (cs->obs[i].open && (r = cs->obs[i].open(ble, c)) != 0) break;
  if (r == 0) return 0;
  if (r > 0) r = UVBLE_EIO;
  while (i-- > 0)
    if (cs->obs[i].closed) cs->obs[i].closed(ble, c, HCI_REMOTE_LOW_RESOURCES);
  return r;
}

/* Upper layers first: the reverse of registration order. */
void conn_observers_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  for (unsigned i = ble->conns.nobs; i-- > 0;)
    if (ble->conns.obs[i].closed) ble->conns.obs[i].closed(ble, c, reason);
}

/* ---- connection events ----------------------------------------------- */

void conn_event_data(uvble_irq_data_t *d, uint16_t handle,
                     const uvble_addr_t *peer, uint8_t reason) {
  memset(d, 0, sizeof *d);
  d->connect.conn_handle = handle;
  d->connect.addr = *peer;
  d->connect.reason = reason;
}

static void connect_event_data(const struct ble_conn *c, uvble_irq_data_t *d) {
  conn_event_data(d, c->handle, &c->peer, 0);
}

static void emit_connect(uvble_t *ble, const struct ble_conn *c) {
  uvble_irq_data_t d;
  connect_event_data(c, &d);
  ble_irq(ble,
          c->role == CONN_ROLE_CENTRAL ? UVBLE_IRQ_PERIPHERAL_CONNECT
                                       : UVBLE_IRQ_CENTRAL_CONNECT,
          &d);
}

static void emit_disconnect(uvble_t *ble, uint16_t handle, uint8_t role,
                            const uvble_addr_t *peer, uint8_t reason) {
  uvble_irq_data_t d;
  conn_event_data(&d, handle, peer, reason);
  ble_irq(ble,
          role == CONN_ROLE_CENTRAL ? UVBLE_IRQ_PERIPHERAL_DISCONNECT
                                    : UVBLE_IRQ_CENTRAL_DISCONNECT,
          &d);
}

static void send_disconnect(uvble_t *ble, uint16_t handle, uint8_t reason) {
  uint8_t cmd[3];
  put_le16(cmd, handle);
  cmd[2] = reason;
  hci_send_cmd(ble, HCI_OP_DISCONNECT, cmd, 3, NULL, NULL);
}

/* A link came up that could not be served: what a failed connection
 * reports (handle 0xffff, as MicroPython's failed connects), with the
 * peer's address and Remote Device Terminated due to Low Resources. */
static void emit_refused(uvble_t *ble, uint8_t role, const uvble_addr_t *peer) {
  emit_disconnect(ble, 0xffff, role, peer, HCI_REMOTE_LOW_RESOURCES);
}

static void on_connection_failed(uvble_t *ble, uint8_t status, uint8_t role) {
  /* A failure while we initiate is that attempt's end (whatever role byte
   * the controller put in an event that carries no connection). */
  const struct conn_gap_hooks *h = &ble->conns.gap;
  if (h->initiator_failed && h->initiator_failed(ble, status)) return;
  if (role == 0x01) {
    /* An incoming connection failed (e.g. directed advertising timed out):
     * MicroPython reports CENTRAL_DISCONNECT with no address. */
    uvble_addr_t none;
    memset(&none, 0, sizeof none);
    none.type = UVBLE_ADDR_NONE;
    emit_disconnect(ble, 0xffff, CONN_ROLE_PERIPHERAL, &none, status);
    return;
  }
  ble->stats.hci_events_unexpected++;
}

/* The fields of LE (Enhanced) Connection Complete the host uses. */
struct conn_complete {
  uint8_t status, role;
  uint16_t handle, interval, latency, timeout;
  uvble_addr_t peer;
};

/* Vol 4, Part E, 7.7.65.1 and 7.7.65.10: the enhanced form adds the two
 * resolvable private addresses after the peer's. */
static bool parse_conn_complete(const uint8_t *p, size_t len, bool enhanced,
                                struct conn_complete *cc) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  cc->status = pdu_get_u8(&r);
  cc->handle = pdu_get_le16(&r) & 0x0fff;
  cc->role = pdu_get_u8(&r);
  uint8_t type = pdu_get_u8(&r), addr[6];
  pdu_get_addr(&r, addr);
  ble_addr_from_hci(&cc->peer, type, addr);
  if (enhanced) pdu_skip(&r, 12); /* local and peer RPA */
  cc->interval = pdu_get_le16(&r);
  cc->latency = pdu_get_le16(&r);
  cc->timeout = pdu_get_le16(&r);
  pdu_skip(&r, 1); /* Central_Clock_Accuracy */
  return pdu_done(&r);
}

static void on_connection_complete(uvble_t *ble, const uint8_t *p, size_t len,
                                   bool enhanced) {
  struct conn_complete cc;
  if (!parse_conn_complete(p, len, enhanced, &cc)) {
    ble->stats.hci_events_malformed++;
    return;
  }
  uint8_t status = cc.status, role = cc.role;
  uint16_t handle = cc.handle;
  uvble_addr_t peer = cc.peer;
  if (status != HCI_SUCCESS) {
    on_connection_failed(ble, status, role);
    return;
  }
  if (conn_find(ble, handle)) {
    ble->stats.hci_events_unexpected++;
    return;
  }
  const struct conn_gap_hooks *h = &ble->conns.gap;
  void *attempt = NULL;
  if (role == 0x00 && h->initiator_connected &&
      !h->initiator_connected(ble, &attempt)) {
    /* An attempt already reported failed (the controller could not cancel
     * it) or cancelled: the app does not know this link, so end it. */
    send_disconnect(ble, handle, HCI_REMOTE_USER_TERMINATED);
    return;
  }
  if (role == 0x01 && h->peripheral_connected) h->peripheral_connected(ble);
  uint8_t crole = role ? CONN_ROLE_PERIPHERAL : CONN_ROLE_CENTRAL;
  struct ble_conn *c = conn_add(ble, handle, crole, &peer);
  if (c) {
    c->interval = cc.interval;
    c->latency = cc.latency;
    c->supervision_timeout = cc.timeout;
  }
  if (!c || conn_open(ble, c) < 0) {
    /* Out of memory: the link cannot be served, so it is ended (a refused
     * entry stays on the table until its Disconnection Complete) and the
     * app hears of a connection that failed, as of any other: our own
     * attempt through its request, an incoming link as a DISCONNECT. */
    ble->stats.conn_refused++;
    send_disconnect(ble, handle, HCI_REMOTE_LOW_RESOURCES);
    if (attempt)
      h->initiator_report(ble, attempt, UVBLE_ENOMEM, NULL);
    else
      emit_refused(ble, crole, &peer);
    return;
  }
  if (ble_dead(ble)) {
    if (attempt) h->initiator_report(ble, attempt, UVBLE_ECANCELED, NULL);
    return;
  }
  if (!attempt) {
    emit_connect(ble, c);
    return;
  }
  uvble_irq_data_t d;
  connect_event_data(c, &d);
  h->initiator_report(ble, attempt, 0, &d);
}

static void on_le_connection_complete(uvble_t *ble, const uint8_t *p,
                                      size_t len) {
  on_connection_complete(ble, p, len, false);
}

static void on_le_enhanced_connection_complete(uvble_t *ble, const uint8_t *p,
                                               size_t len) {
  on_connection_complete(ble, p, len, true);
}

/* Disconnection Complete (7.7.5): status, handle, reason. */
static bool parse_disconnection(const uint8_t *p, size_t len, uint8_t *status,
                                uint16_t *handle, uint8_t *reason) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  *status = pdu_get_u8(&r);
  *handle = pdu_get_le16(&r) & 0x0fff;
  *reason = pdu_get_u8(&r);
  return pdu_done(&r);
}

static void on_disconnection_complete(uvble_t *ble, const uint8_t *p,
                                      size_t len) {
  uint8_t status, reason;
  uint16_t h;
  if (!parse_disconnection(p, len, &status, &h, &reason)) {
    ble->stats.hci_events_malformed++;
    return;
  }
  if (status != HCI_SUCCESS) return; /* the link is still up */
  struct ble_conn *c = conn_find(ble, h);
  if (!c) {
    ble->stats.hci_events_unexpected++;
    return;
  }
  /* A refused link was reported when it came up. */
  bool tell = conn_is_open(c);
  uint16_t handle = c->handle;
  uint8_t role = c->role;
  uvble_addr_t peer = c->peer;
  conn_remove(ble, c, reason);
  if (tell) emit_disconnect(ble, handle, role, &peer, reason);
  if (!ble_dead(ble)) acl_pump(ble);
}

/* Skips a link whose removal is already running further up the stack. */
static struct ble_conn *first_live(uvble_t *ble) {
  for (struct ble_conn *c = conn_first(ble); c; c = conn_next(c))
    if (!c->gone) return c;
  return NULL;
}

void conn_drop_all(uvble_t *ble) {
  struct ble_conn *c;
  while ((c = first_live(ble))) {
    bool tell = conn_is_open(c) && ble->state != BLE_CLOSING;
    uint16_t handle = c->handle;
    uint8_t role = c->role;
    uvble_addr_t peer = c->peer;
    conn_remove(ble, c, HCI_LOCAL_HOST_TERMINATED);
    if (tell)
      emit_disconnect(ble, handle, role, &peer, HCI_LOCAL_HOST_TERMINATED);
  }
}

/* uvble_close() lingers: only what it waits for matters (the layers are
 * gone). Command Complete/Status are HCI's own. */
static void on_event_lingering(uvble_t *ble, uint8_t code, const uint8_t *p,
                               size_t len) {
  switch (code) {
    case HCI_EV_NUM_COMPLETED_PACKETS:
      acl_on_completed(ble, p, len);
      break;
    case HCI_EV_DISCONNECTION_COMPLETE: {
      uint8_t status, reason;
      uint16_t h;
      if (parse_disconnection(p, len, &status, &h, &reason) &&
          status == HCI_SUCCESS)
        conn_linger_on_disconnected(ble, h);
      break;
    }
    default:
      break;
  }
  conn_linger_check(ble);
}

int conn_layer_init(uvble_t *ble) {
  int r = hci_add_event_handler(ble, HCI_EV_NUM_COMPLETED_PACKETS,
                                acl_on_completed);
  if (r == 0)
    r = hci_add_event_handler(ble, HCI_EV_DISCONNECTION_COMPLETE,
                              on_disconnection_complete);
  if (r == 0)
    r = hci_add_le_event_handler(ble, HCI_LE_CONNECTION_COMPLETE,
                                 on_le_connection_complete);
  if (r == 0)
    r = hci_add_le_event_handler(ble, HCI_LE_ENHANCED_CONNECTION_COMPLETE,
                                 on_le_enhanced_connection_complete);
  hci_set_linger_handler(ble, on_event_lingering);
  return r;
}
