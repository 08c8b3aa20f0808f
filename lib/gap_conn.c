/* GAP: connection establishment and teardown events from the controller. */
#include <string.h>

#include "ble_internal.h"
#include "gap_events.h"
#include "l2cap.h"
#include "uvble/gap.h"

static void emit_connect(uvble_t *ble, const struct ble_conn *c) {
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.connect.conn_handle = c->handle;
  d.connect.addr = c->peer;
  ble_irq(ble, c->role == CONN_ROLE_CENTRAL ? UVBLE_IRQ_PERIPHERAL_CONNECT
                                            : UVBLE_IRQ_CENTRAL_CONNECT,
          &d);
}

static void emit_disconnect(uvble_t *ble, uint16_t handle, uint8_t role,
                            const uvble_addr_t *peer) {
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.connect.conn_handle = handle;
  d.connect.addr = *peer;
  ble_irq(ble, role == CONN_ROLE_CENTRAL ? UVBLE_IRQ_PERIPHERAL_DISCONNECT
                                         : UVBLE_IRQ_CENTRAL_DISCONNECT,
          &d);
}

/* LE (Enhanced) Connection Complete: the common fields, Vol 4, Part E,
 * 7.7.65.1 and 7.7.65.10. */
static void on_connection_complete(uvble_t *ble, const uint8_t *p, size_t len,
                                   bool enhanced) {
  size_t need = enhanced ? 30 : 18;
  if (len != need) {
    ble->stats.hci_events_malformed++;
    return;
  }
  uint8_t status = p[0];
  uint16_t handle = get_le16(p + 1) & 0x0fff;
  uint8_t role = p[3];
  uvble_addr_t peer;
  ble_addr_from_hci(&peer, p[4] & 0x01, p + 5);
  if (status != HCI_SUCCESS) {
    /* The GAP issue routes failed connects to the pending request; until
     * then a failed central connect reports the MicroPython way. */
    uvble_addr_t none;
    memset(&none, 0, sizeof none);
    none.type = UVBLE_ADDR_NONE;
    emit_disconnect(ble, 0xffff, role, &none);
    return;
  }
  if (conn_find(ble, handle)) {
    ble->stats.hci_events_unexpected++;
    return;
  }
  const uint8_t *q = p + 11 + (enhanced ? 12 : 0);
  struct ble_conn *c = conn_add(ble, handle,
                                role ? CONN_ROLE_PERIPHERAL : CONN_ROLE_CENTRAL,
                                &peer);
  if (!c) {
    /* Out of memory: the link cannot be served, so end it. */
    uint8_t cmd[3];
    put_le16(cmd, handle);
    cmd[2] = HCI_REMOTE_LOW_RESOURCES;
    hci_send_cmd(ble, HCI_OP_DISCONNECT, cmd, 3, NULL, NULL);
    return;
  }
  c->interval = get_le16(q);
  c->latency = get_le16(q + 2);
  c->supervision_timeout = get_le16(q + 4);
  modules_conn_open(ble, c);
  if (ble_dead(ble)) return;
  emit_connect(ble, c);
}

void gap_on_le_meta(uvble_t *ble, uint8_t subevent, const uint8_t *p,
                    size_t len) {
  switch (subevent) {
    case HCI_LE_CONNECTION_COMPLETE:
      on_connection_complete(ble, p, len, false);
      break;
    case HCI_LE_ENHANCED_CONNECTION_COMPLETE:
      on_connection_complete(ble, p, len, true);
      break;
    case HCI_LE_LONG_TERM_KEY_REQUEST:
      smp_on_ltk_request(ble, p, len);
      break;
    default:
      ble->stats.hci_events_unhandled++;
      break;
  }
}

void gap_on_disconnection_complete(uvble_t *ble, const uint8_t *p, size_t len) {
  if (len != 4) {
    ble->stats.hci_events_malformed++;
    return;
  }
  if (p[0] != HCI_SUCCESS) return; /* the link is still up */
  struct ble_conn *c = conn_find(ble, get_le16(p + 1) & 0x0fff);
  if (!c) {
    ble->stats.hci_events_unexpected++;
    return;
  }
  uint16_t handle = c->handle;
  uint8_t role = c->role;
  uvble_addr_t peer = c->peer;
  conn_remove(ble, c, p[3]);
  emit_disconnect(ble, handle, role, &peer);
  if (!ble_dead(ble)) acl_pump(ble);
}

void conn_drop_all(uvble_t *ble) {
  while (ble->conns.head) {
    struct ble_conn *c = ble->conns.head;
    uint16_t handle = c->handle;
    uint8_t role = c->role;
    uvble_addr_t peer = c->peer;
    conn_remove(ble, c, HCI_LOCAL_HOST_TERMINATED);
    if (ble->state != BLE_CLOSING) emit_disconnect(ble, handle, role, &peer);
  }
}

int uvble_gap_disconnect(uvble_t *ble, uint16_t conn_handle) {
  if (ble->state != BLE_ON) return UVBLE_ENOTACTIVE;
  struct ble_conn *c = conn_find(ble, conn_handle);
  if (!c || c->disconnecting) return 0;
  uint8_t cmd[3];
  put_le16(cmd, conn_handle);
  cmd[2] = HCI_REMOTE_USER_TERMINATED;
  int r = hci_send_cmd(ble, HCI_OP_DISCONNECT, cmd, 3, NULL, NULL);
  if (r < 0) return r;
  c->disconnecting = true;
  return 1;
}

/* ---- module hooks (the GAP layer fills these in) ---- */
int gap_init(uvble_t *ble) {
  (void)ble;
  return 0;
}
void gap_stop(uvble_t *ble, int err) {
  (void)ble;
  (void)err;
}
void gap_close(uvble_t *ble) { (void)ble; }
void gap_conn_open(uvble_t *ble, struct ble_conn *c) {
  (void)ble;
  (void)c;
}
void gap_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  (void)ble;
  (void)c;
  (void)reason;
}
bool gap_on_conn_param_request(uvble_t *ble, struct ble_conn *c,
                               const struct l2cap_conn_params *p) {
  (void)ble;
  (void)c;
  (void)p;
  return false;
}
