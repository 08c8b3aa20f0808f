/* SPDX-License-Identifier: Apache-2.0 */
/* GAP: the link layer's state per connection. Data Length Extension (Vol 6,
 * Part B, 4.5.10; HCI Vol 4, Part E, 7.8.33, 7.7.65.7), PHY update (Vol 6,
 * Part B, 5.1.10; 7.8.49, 7.7.65.12), what the stack asks for by itself when
 * a link comes up, the connection info query and the link listeners.
 *
 * The controller owns the link: the host asks, and believes only the events
 * (a Set Data Length or Set PHY that succeeds may change nothing when the
 * peer does not take part). */
#include <string.h>

#include "gap_internal.h"
#include "pdu_reader.h"

/* A link before any Data Length Change: the LE 1M minimum (Vol 6, Part B,
 * 4.5.10). */
enum { DEFAULT_OCTETS = 27, DEFAULT_TIME = 328 };
/* HCI's ranges (7.8.33). */
enum { MIN_OCTETS = 27, MAX_OCTETS = 251, MIN_TIME = 328, MAX_TIME = 17040 };

static const uvble_gap_link_config_t DEFAULT_CONFIG = {
    .auto_data_length = true,
    .auto_phy = true,
    .default_phy = UVBLE_PHY_PREF_2M,
};

void gap_link_init(uvble_t *ble) { ble->cfg.link = DEFAULT_CONFIG; }

int uvble_gap_set_link_config(uvble_t *ble, const uvble_gap_link_config_t *c) {
  if (!ble) return UVBLE_EINVAL;
  if (!c) c = &DEFAULT_CONFIG;
  if (c->default_phy < UVBLE_PHY_PREF_ANY ||
      c->default_phy > UVBLE_PHY_PREF_CODED_S8)
    return UVBLE_EINVAL;
  ble->cfg.link = *c;
  return 0;
}

void uvble_gap_get_link_config(const uvble_t *ble,
                               uvble_gap_link_config_t *out) {
  *out = ble ? ble->cfg.link : DEFAULT_CONFIG;
}

bool gap_use_coded(uvble_t *ble, bool option) {
  return option &&
         uvble_controller_has_le_feature(ble, HCI_LE_FEATURE_CODED_PHY) &&
         gap_mode(ble) == GAP_MODE_EXTENDED;
}

/* ---- info and listeners ---------------------------------------------- */

static void fill_info(const struct ble_conn *c, uvble_conn_info_t *out) {
  memset(out, 0, sizeof *out);
  out->conn_handle = c->handle;
  out->role = c->role;
  out->interval = c->interval;
  out->latency = c->latency;
  out->supervision_timeout = c->supervision_timeout;
  const struct gap_conn *g = c->gap;
  out->tx_octets = g ? g->tx_octets : DEFAULT_OCTETS;
  out->tx_time_us = g ? g->tx_time : DEFAULT_TIME;
  out->rx_octets = g ? g->rx_octets : DEFAULT_OCTETS;
  out->rx_time_us = g ? g->rx_time : DEFAULT_TIME;
  out->tx_phy = g ? g->tx_phy : UVBLE_PHY_1M;
  out->rx_phy = g ? g->rx_phy : UVBLE_PHY_1M;
}

int uvble_gap_conn_info(const uvble_t *ble, uint16_t conn_handle,
                        uvble_conn_info_t *out) {
  if (!ble || !out) return UVBLE_EINVAL;
  struct ble_conn *c = conn_find((uvble_t *)ble, conn_handle);
  if (!c) return UVBLE_ENOTCONN;
  fill_info(c, out);
  return 0;
}

int uvble_gap_link_listen(uvble_t *ble, uvble_gap_link_cb cb, void *arg) {
  if (!ble || !ble->gap || !cb) return UVBLE_EINVAL;
  struct gap_link_listener *free_slot = NULL;
  for (int i = 0; i < UVBLE_GAP_LINK_LISTENERS; i++) {
    struct gap_link_listener *l = &ble->gap->link_listeners[i];
    if (l->cb == cb && l->arg == arg) return UVBLE_EEXIST;
    if (!l->cb && !free_slot) free_slot = l;
  }
  if (!free_slot) return UVBLE_ENOBUFS;
  free_slot->cb = cb;
  free_slot->arg = arg;
  return 0;
}

int uvble_gap_link_unlisten(uvble_t *ble, uvble_gap_link_cb cb, void *arg) {
  if (!ble || !ble->gap || !cb) return UVBLE_EINVAL;
  for (int i = 0; i < UVBLE_GAP_LINK_LISTENERS; i++) {
    struct gap_link_listener *l = &ble->gap->link_listeners[i];
    if (l->cb == cb && l->arg == arg) {
      l->cb = NULL;
      l->arg = NULL;
      return 0;
    }
  }
  return UVBLE_ENOENT;
}

void gap_link_notify(uvble_t *ble, const struct ble_conn *c, int what,
                     int status) {
  if (!ble->gap) return;
  uvble_conn_info_t info;
  fill_info(c, &info);
  /* A listener may remove itself or others, or close the stack: walk a
   * copy and stop once the stack is gone. */
  struct gap_link_listener ls[UVBLE_GAP_LINK_LISTENERS];
  memcpy(ls, ble->gap->link_listeners, sizeof ls);
  for (int i = 0; i < UVBLE_GAP_LINK_LISTENERS; i++) {
    if (!ls[i].cb) continue;
    if (ble_dead(ble)) return; /* closed by a listener: no more events */
    ls[i].cb(ble, what, status, &info, ls[i].arg);
  }
}

/* ---- requests -------------------------------------------------------- */

static void on_request_done(uvble_t *ble, int err, uint8_t st, const uint8_t *r,
                            size_t n, void *arg, int what) {
  (void)r;
  (void)n;
  if (!err || ble_dead(ble)) return;
  ble->stats.link_requests_refused++;
  struct ble_conn *c = conn_find(ble, (uint16_t)(uintptr_t)arg);
  if (c) gap_link_notify(ble, c, what, err == UVBLE_EHCI ? st : err);
}

static void on_set_data_len_done(uvble_t *ble, int err, uint8_t st,
                                 const uint8_t *r, size_t n, void *arg) {
  on_request_done(ble, err, st, r, n, arg, UVBLE_GAP_LINK_DATA_LENGTH);
}

static void on_set_phy_done(uvble_t *ble, int err, uint8_t st,
                            const uint8_t *r, size_t n, void *arg) {
  on_request_done(ble, err, st, r, n, arg, UVBLE_GAP_LINK_PHY);
  if (!err || ble_dead(ble)) return;
  /* A refusal ends a request for the PHY too (after the listeners). */
  struct ble_conn *c = conn_find(ble, (uint16_t)(uintptr_t)arg);
  if (c) gap_lreq_complete(ble, c, GAP_LREQ_PHY, err == UVBLE_EHCI ? st : err,
                           NULL);
}

static bool has_dle(const uvble_t *ble) {
  return uvble_controller_has_le_feature(ble, HCI_LE_FEATURE_DLE) &&
         uvble_controller_has_command(ble, HCI_CMD_LE_SET_DATA_LEN);
}

static int send_data_length(uvble_t *ble, uint16_t handle, uint16_t octets,
                            uint16_t time) {
  uint8_t p[6]; /* Connection_Handle, TX_Octets, TX_Time */
  put_le16(p, handle);
  put_le16(p + 2, octets);
  put_le16(p + 4, time);
  return hci_send_cmd(ble, HCI_OP_LE_SET_DATA_LEN, p, sizeof p,
                      on_set_data_len_done, (void *)(uintptr_t)handle);
}

/* The controller's maxima, or the LE 1M figure for 251 octets when it did
 * not say (Vol 6, Part B, 4.5.10: (251 + 14) * 8 us = 2120 us). */
static void max_data_length(const uvble_t *ble, uint16_t *octets,
                            uint16_t *time) {
  const uvble_controller_info_t *i = &ble->info;
  bool known = i->max_tx_octets >= MIN_OCTETS &&
               i->max_tx_octets <= MAX_OCTETS && i->max_tx_time >= MIN_TIME &&
               i->max_tx_time <= MAX_TIME;
  *octets = known ? i->max_tx_octets : MAX_OCTETS;
  *time = known ? i->max_tx_time : 2120;
}

int uvble_gap_set_data_length(uvble_t *ble, uint16_t conn_handle,
                              uint16_t tx_octets, uint16_t tx_time_us) {
  if (!ble) return UVBLE_EINVAL;
  if (ble->state != BLE_ON) return UVBLE_ENOTACTIVE;
  if (!conn_find(ble, conn_handle)) return UVBLE_ENOTCONN;
  if (!has_dle(ble)) return UVBLE_ENOTSUP;
  if (tx_octets == 0 && tx_time_us == 0)
    max_data_length(ble, &tx_octets, &tx_time_us);
  if (tx_octets < MIN_OCTETS || tx_octets > MAX_OCTETS ||
      tx_time_us < MIN_TIME || tx_time_us > MAX_TIME)
    return UVBLE_EINVAL;
  return send_data_length(ble, conn_handle, tx_octets, tx_time_us);
}

static int send_phy(uvble_t *ble, uint16_t handle,
                    const struct hci_phy_bits *b) {
  /* Connection_Handle, All_PHYs, TX_PHYs, RX_PHYs, PHY_Options */
  uint8_t p[7];
  put_le16(p, handle);
  p[2] = b->all;
  p[3] = b->tx;
  p[4] = b->rx;
  put_le16(p + 5, b->options);
  return hci_send_cmd(ble, HCI_OP_LE_SET_PHY, p, sizeof p, on_set_phy_done,
                      (void *)(uintptr_t)handle);
}

int gap_send_set_phy(uvble_t *ble, struct ble_conn *c, int pref) {
  struct hci_phy_bits b;
  if (!uvble_controller_has_command(ble, HCI_CMD_LE_SET_PHY) ||
      !hci_phy_bits(ble, pref, &b))
    return UVBLE_ENOTSUP;
  return send_phy(ble, c->handle, &b);
}

int uvble_gap_set_phy(uvble_t *ble, uint16_t conn_handle, int pref) {
  if (!ble) return UVBLE_EINVAL;
  if (pref < UVBLE_PHY_PREF_ANY || pref > UVBLE_PHY_PREF_CODED_S8)
    return UVBLE_EINVAL;
  if (ble->state != BLE_ON) return UVBLE_ENOTACTIVE;
  struct ble_conn *c = conn_find(ble, conn_handle);
  if (!c) return UVBLE_ENOTCONN;
  if (gap_lreq_pending(c, GAP_LREQ_PHY)) return UVBLE_EBUSY;
  return gap_send_set_phy(ble, c, pref);
}

void gap_link_open(uvble_t *ble, struct ble_conn *c) {
  if (c->gap) {
    c->gap->tx_octets = c->gap->rx_octets = DEFAULT_OCTETS;
    c->gap->tx_time = c->gap->rx_time = DEFAULT_TIME;
    c->gap->tx_phy = c->gap->rx_phy = UVBLE_PHY_1M;
  }
  const uvble_gap_link_config_t *cfg = &ble->cfg.link;
  /* Both are link layer procedures the controller queues; a refusal is
   * counted and reported to the link listeners, the link works anyway. */
  if (cfg->auto_data_length && has_dle(ble)) {
    uint16_t octets, time;
    max_data_length(ble, &octets, &time);
    send_data_length(ble, c->handle, octets, time);
  }
  /* The PHY only as central: when both ends start a PHY update at once
   * (LL_PHY_REQ crossing, Vol 6, Part B, 5.1.10), Zephyr 4.1's controller
   * loses the link (the peripheral ends it with 0x24, the central sees a
   * supervision timeout; tests/ll, label ll). The central's request covers
   * both directions; a peripheral can still ask with uvble_gap_set_phy. */
  struct hci_phy_bits b;
  if (cfg->auto_phy && c->role == CONN_ROLE_CENTRAL &&
      cfg->default_phy != UVBLE_PHY_PREF_ANY &&
      cfg->default_phy != UVBLE_PHY_PREF_1M &&
      uvble_controller_has_command(ble, HCI_CMD_LE_SET_PHY) &&
      hci_phy_bits(ble, cfg->default_phy, &b))
    send_phy(ble, c->handle, &b);
}

/* ---- events ---------------------------------------------------------- */

/* LE Data Length Change (Vol 4, Part E, 7.7.65.7): Connection_Handle,
 * Max_TX_Octets, Max_TX_Time, Max_RX_Octets, Max_RX_Time. */
void gap_link_on_data_length_change(uvble_t *ble, const uint8_t *p,
                                    size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  uint16_t handle = pdu_get_le16(&r) & 0x0fff;
  uint16_t v[4];
  for (int i = 0; i < 4; i++) v[i] = pdu_get_le16(&r);
  if (!pdu_done(&r)) {
    ble->stats.hci_events_malformed++;
    return;
  }
  /* Octets 0x001B..0x00FB, times 0x0148..0x4290 each way. */
  for (int i = 0; i < 4; i += 2)
    if (v[i] < MIN_OCTETS || v[i] > MAX_OCTETS || v[i + 1] < MIN_TIME ||
        v[i + 1] > MAX_TIME) {
      ble->stats.hci_events_malformed++;
      return;
    }
  struct ble_conn *c = conn_find(ble, handle);
  if (!c) {
    ble->stats.hci_events_unexpected++;
    return;
  }
  ble->stats.link_data_length_changes++;
  if (c->gap) {
    c->gap->tx_octets = v[0];
    c->gap->tx_time = v[1];
    c->gap->rx_octets = v[2];
    c->gap->rx_time = v[3];
  }
  gap_link_notify(ble, c, UVBLE_GAP_LINK_DATA_LENGTH, 0);
}

/* LE PHY Update Complete (7.7.65.12): Status, Connection_Handle, TX_PHY,
 * RX_PHY. */
void gap_link_on_phy_update(uvble_t *ble, const uint8_t *p, size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  uint8_t st = pdu_get_u8(&r);
  uint16_t handle = pdu_get_le16(&r) & 0x0fff;
  uint8_t tx = pdu_get_u8(&r), rx = pdu_get_u8(&r);
  if (!pdu_done(&r)) {
    ble->stats.hci_events_malformed++;
    return;
  }
  if (st == HCI_SUCCESS &&
      (tx < UVBLE_PHY_1M || tx > UVBLE_PHY_CODED || rx < UVBLE_PHY_1M ||
       rx > UVBLE_PHY_CODED)) {
    ble->stats.hci_events_malformed++;
    return;
  }
  struct ble_conn *c = conn_find(ble, handle);
  if (!c) {
    ble->stats.hci_events_unexpected++;
    return;
  }
  ble->stats.link_phy_updates++;
  if (st == HCI_SUCCESS && c->gap) {
    c->gap->tx_phy = tx;
    c->gap->rx_phy = rx;
  }
  gap_link_notify(ble, c, UVBLE_GAP_LINK_PHY, st);
  /* c stays valid whatever a listener did (ble_ref): a request for the
   * PHY ends with the controller's status, as sent. */
  if (!ble_dead(ble)) gap_lreq_complete(ble, c, GAP_LREQ_PHY, st, NULL);
}

/* ---- connection parameters in HCI units ------------------------------ */

int gap_conn_params_to_hci(const uvble_gap_conn_params_t *p,
                           struct gap_hci_params *out) {
  if (!p) return UVBLE_EINVAL;
  /* Ranges of LE Connection Update (7.8.18): interval 7.5 ms .. 4 s,
   * latency 0..499, timeout 100 ms .. 32 s, CE lengths 0..0xFFFF. */
  if (p->min_interval_us < 7500 || p->max_interval_us > 4000000 ||
      p->min_interval_us > p->max_interval_us || p->latency > 499 ||
      p->timeout_ms < 100 || p->timeout_ms > 32000 || p->min_ce_us < 0 ||
      p->max_ce_us < p->min_ce_us || p->max_ce_us / 625 > 0xFFFF)
    return UVBLE_EINVAL;
  out->min = (uint16_t)(p->min_interval_us / 1250);
  out->max = (uint16_t)(p->max_interval_us / 1250);
  out->latency = p->latency;
  out->timeout = (uint16_t)(p->timeout_ms / 10);
  out->ce_min = (uint16_t)(p->min_ce_us / 625);
  out->ce_max = (uint16_t)(p->max_ce_us / 625);
  /* Supervision timeout > (1 + latency) * interval * 2 (Vol 6, Part B,
   * 4.5.2), in microseconds. */
  if ((uint64_t)out->timeout * 10000u <=
      (1u + out->latency) * (uint64_t)out->max * 2500u)
    return UVBLE_EINVAL;
  return 0;
}
