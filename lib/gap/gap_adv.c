/* SPDX-License-Identifier: Apache-2.0 */
/* GAP broadcaster: legacy advertising (Vol 4, Part E, 7.8.5-7.8.9) or one
 * extended advertising set (7.8.53-7.8.56), as gap_mode() decides. */
#include <string.h>

#include "gap_internal.h"
#include "pdu_reader.h"

/* Legacy Advertising_Type values. */
enum { ADV_IND = 0x00, ADV_SCAN_IND = 0x02 };

/* Advertising_Event_Properties bits (7.8.53). */
enum {
  PROP_CONNECTABLE = 0x01,
  PROP_SCANNABLE = 0x02,
  PROP_LEGACY = 0x10,
};

/* Extended data operations. */
enum { OP_INTERMEDIATE = 0, OP_FIRST = 1, OP_LAST = 2, OP_COMPLETE = 3 };
#define EXT_FRAGMENT_MAX 251 /* 255 parameter bytes less 4 of header */

static void on_cmd_done(uvble_t *ble, int err, uint8_t st, const uint8_t *r,
                        size_t n, void *arg) {
  (void)r;
  (void)n;
  if (!err || !gap_tag_live(ble, arg)) return;
  (void)st;
  ble->gap->stats.adv_errors++;
}

/* A disable that finds advertising already off is fine: the controller
 * stops on its own when a central connects. */
static void on_disable_done(uvble_t *ble, int err, uint8_t st, const uint8_t *r,
                            size_t n, void *arg) {
  (void)r;
  (void)n;
  if (!err || !gap_tag_live(ble, arg)) return;
  if (err == UVBLE_EHCI && st == HCI_COMMAND_DISALLOWED) return;
  ble->gap->stats.adv_errors++;
}

static void on_enable_done(uvble_t *ble, int err, uint8_t st, const uint8_t *r,
                           size_t n, void *arg) {
  (void)st;
  (void)r;
  (void)n;
  if (!err || !gap_tag_live(ble, arg)) return;
  struct gap_state *g = ble->gap;
  g->stats.adv_errors++;
  if (g->adv.tag == gap_arg_tag(arg)) g->adv.active = false;
}

/* Removing a set that is not there is fine. */
static void on_remove_done(uvble_t *ble, int err, uint8_t st, const uint8_t *r,
                           size_t n, void *arg) {
  (void)r;
  (void)n;
  if (!err || !gap_tag_live(ble, arg)) return;
  if (err == UVBLE_EHCI && st == HCI_UNKNOWN_ADV_ID) return;
  ble->gap->stats.adv_errors++;
}

static int adv_cmd(uvble_t *ble, uint16_t op, const void *p, size_t len,
                   hci_cmd_cb cb) {
  struct gap_state *g = ble->gap;
  return hci_send_cmd(ble, op, p, len, cb, gap_tag_arg(gap_new_tag(g)));
}

/* Queues the command that turns advertising off. */
static int queue_disable(uvble_t *ble) {
  if (gap_mode(ble) == GAP_MODE_EXTENDED) {
    uint8_t p[6] = {0x00, 1, GAP_ADV_HANDLE, 0, 0, 0};
    return adv_cmd(ble, HCI_OP_LE_SET_EXT_ADV_ENABLE, p, sizeof p,
                   on_disable_done);
  }
  uint8_t off = 0x00;
  return adv_cmd(ble, HCI_OP_LE_SET_ADV_ENABLE, &off, 1, on_disable_done);
}

/* LE Set Advertising / Scan Response Data carry 31 bytes, zero padded. */
static int queue_legacy_data(uvble_t *ble, uint16_t op, const uint8_t *d,
                             size_t len) {
  uint8_t p[32];
  memset(p, 0, sizeof p);
  p[0] = (uint8_t)len;
  if (len) memcpy(p + 1, d, len);
  return adv_cmd(ble, op, p, sizeof p, on_cmd_done);
}

static int start_legacy(uvble_t *ble) {
  struct gap_adv *a = &ble->gap->adv;
  uint8_t own;
  int r = gap_own_addr_prepare(ble, &own, &a->own);
  if (r < 0) return r;
  uint8_t p[15];
  memset(p, 0, sizeof p);
  put_le16(p, (uint16_t)a->interval);     /* Advertising_Interval_Min */
  put_le16(p + 2, (uint16_t)a->interval); /* Advertising_Interval_Max */
  /* MicroPython (NimBLE, general discoverable): not connectable means
   * scannable, with or without a scan response. */
  p[4] = a->connectable ? ADV_IND : ADV_SCAN_IND;
  p[5] = own;
  p[13] = 0x07; /* all three primary channels */
  p[14] = 0x00; /* no filter accept list */
  if ((r = adv_cmd(ble, HCI_OP_LE_SET_ADV_PARAMS, p, sizeof p, on_cmd_done)) <
          0 ||
      (r = queue_legacy_data(ble, HCI_OP_LE_SET_ADV_DATA, a->data,
                             a->data_len)) < 0 ||
      (r = queue_legacy_data(ble, HCI_OP_LE_SET_SCAN_RSP_DATA, a->resp,
                             a->resp_len)) < 0)
    return r;
  uint8_t on = 0x01;
  a->tag = gap_new_tag(ble->gap);
  return hci_send_cmd(ble, HCI_OP_LE_SET_ADV_ENABLE, &on, 1, on_enable_done,
                      gap_tag_arg(a->tag));
}

/* Whether the set goes out on LE Coded (long range): extended PDUs only. */
static bool adv_coded(uvble_t *ble) {
  return gap_use_coded(ble, ble->cfg.link.adv_coded);
}

/* Advertising_Event_Properties for the payloads: legacy PDUs whenever both
 * fit in 31 bytes, so legacy scanners see us (never on LE Coded: legacy
 * PDUs are LE 1M only). */
static uint16_t ext_props(const struct gap_adv *a, bool coded) {
  if (!coded && a->data_len <= UVBLE_ADV_LEGACY_MAX &&
      a->resp_len <= UVBLE_ADV_LEGACY_MAX)
    return a->connectable ? (PROP_LEGACY | PROP_CONNECTABLE | PROP_SCANNABLE)
                          : (PROP_LEGACY | PROP_SCANNABLE);
  if (a->connectable) return PROP_CONNECTABLE;
  return a->resp_len ? PROP_SCANNABLE : 0;
}

/* LE Set Extended Advertising / Scan Response Data in fragments of at most
 * 251 bytes (7.8.54). An empty payload is one complete, empty operation. */
static int queue_ext_data(uvble_t *ble, uint16_t op, const uint8_t *d,
                          size_t len) {
  size_t off = 0;
  do {
    size_t n = len - off > EXT_FRAGMENT_MAX ? EXT_FRAGMENT_MAX : len - off;
    bool first = off == 0, last = off + n == len;
    uint8_t p[4 + EXT_FRAGMENT_MAX];
    p[0] = GAP_ADV_HANDLE;
    p[1] = first && last ? OP_COMPLETE
           : first       ? OP_FIRST
           : last        ? OP_LAST
                         : OP_INTERMEDIATE;
    p[2] = 0x01; /* the controller should not fragment further */
    p[3] = (uint8_t)n;
    if (n) memcpy(p + 4, d + off, n);
    int r = adv_cmd(ble, op, p, 4 + n, on_cmd_done);
    if (r < 0) return r;
    off += n;
  } while (off < len);
  return 0;
}

/* LE Set Extended Advertising Parameters [v1] (Vol 4, Part E, 7.8.53). */
static int queue_ext_params(uvble_t *ble, uint16_t props, uint8_t own,
                            bool coded) {
  struct gap_adv *a = &ble->gap->adv;
  uint8_t p[25];
  memset(p, 0, sizeof p);
  p[0] = GAP_ADV_HANDLE;
  put_le16(p + 1, props);
  p[3] = (uint8_t)a->interval; /* Primary_Advertising_Interval_Min, 3 bytes */
  p[4] = (uint8_t)(a->interval >> 8);
  p[5] = (uint8_t)(a->interval >> 16);
  p[6] = p[3]; /* ..._Max */
  p[7] = p[4];
  p[8] = p[5];
  p[9] = 0x07;  /* all three primary channels */
  p[10] = own; /* Own_Address_Type */
  /* p[11] Peer_Address_Type, p[12..17] Peer_Address: unused (undirected),
   * p[18] Advertising_Filter_Policy 0: no accept list. A filter policy here
   * makes a controller drop every connection (issue 15). */
  p[19] = 0x7F; /* Advertising_TX_Power: no preference */
  p[20] = coded ? 0x03 : 0x01; /* Primary_Advertising_PHY: LE 1M/Coded */
  p[21] = 0x00;                /* Secondary_Advertising_Max_Skip */
  p[22] = coded ? 0x03 : 0x01; /* Secondary_Advertising_PHY */
  /* p[23] Advertising_SID 0, p[24] Scan_Request_Notification_Enable 0 */
  return adv_cmd(ble, HCI_OP_LE_SET_EXT_ADV_PARAMS, p, sizeof p, on_cmd_done);
}

static int start_extended(uvble_t *ble) {
  struct gap_adv *a = &ble->gap->adv;
  bool coded = adv_coded(ble);
  uint16_t props = ext_props(a, coded);
  int r;
  /* A set keeps data that may not suit new properties (e.g. more than 31
   * bytes when switching to legacy PDUs): start from a fresh set. */
  if (a->set_exists && a->set_props != props &&
      uvble_controller_has_command(ble, HCI_CMD_LE_REMOVE_ADV_SET)) {
    uint8_t h = GAP_ADV_HANDLE;
    if ((r = adv_cmd(ble, HCI_OP_LE_REMOVE_ADV_SET, &h, 1, on_remove_done)) < 0)
      return r;
  }
  uvble_addr_t rnd;
  bool random = gap_own_addr_random(ble, &rnd);
  if (random)
    a->own = rnd;
  else
    gap_public_addr(ble, &a->own);
  if ((r = queue_ext_params(ble, props, random ? 0x01 : 0x00, coded)) < 0) return r;
  a->set_exists = true;
  a->set_props = props;
  if (random) {
    uint8_t p[7];
    p[0] = GAP_ADV_HANDLE;
    ble_addr_to_hci(&rnd, p + 1);
    if ((r = adv_cmd(ble, HCI_OP_LE_SET_ADV_SET_RANDOM_ADDR, p, 7,
                     on_cmd_done)) < 0)
      return r;
  }
  /* Scannable non-legacy sets take no advertising data; non-scannable ones
   * no scan response (7.8.54, 7.8.55). */
  bool legacy = props & PROP_LEGACY;
  if ((legacy || !(props & PROP_SCANNABLE)) &&
      (r = queue_ext_data(ble, HCI_OP_LE_SET_EXT_ADV_DATA, a->data,
                          a->data_len)) < 0)
    return r;
  if ((props & PROP_SCANNABLE) &&
      (r = queue_ext_data(ble, HCI_OP_LE_SET_EXT_SCAN_RSP_DATA, a->resp,
                          a->resp_len)) < 0)
    return r;
  uint8_t p[6] = {0x01, 1, GAP_ADV_HANDLE, 0, 0, 0}; /* no duration limit */
  a->tag = gap_new_tag(ble->gap);
  return hci_send_cmd(ble, HCI_OP_LE_SET_EXT_ADV_ENABLE, p, sizeof p,
                      on_enable_done, gap_tag_arg(a->tag));
}

/* (Re)starts advertising with what gap_adv holds. */
static int start(uvble_t *ble) {
  struct gap_adv *a = &ble->gap->adv;
  int r;
  if (a->active) {
    a->active = false;
    if ((r = queue_disable(ble)) < 0) return r;
  }
  r = gap_mode(ble) == GAP_MODE_EXTENDED ? start_extended(ble)
                                         : start_legacy(ble);
  if (r < 0) return r;
  a->active = true;
  return 0;
}

/* Checks payload sizes against what the command set can carry. */
static int check_sizes(uvble_t *ble, size_t adv_len, size_t resp_len,
                       bool connectable) {
  if (adv_len > UVBLE_ADV_EXT_MAX || resp_len > UVBLE_ADV_EXT_MAX)
    return UVBLE_EMSGSIZE;
  if (adv_len <= UVBLE_ADV_LEGACY_MAX && resp_len <= UVBLE_ADV_LEGACY_MAX &&
      !adv_coded(ble))
    return 0;
  if (gap_mode(ble) != GAP_MODE_EXTENDED) return UVBLE_EMSGSIZE;
  /* What one set holds (7.8.57, read at init): the controller would
   * refuse more with Memory Capacity Exceeded (7.8.54) and the set would
   * go on without its payload. */
  if (adv_len > ble->info.max_adv_data_len ||
      resp_len > ble->info.max_adv_data_len)
    return UVBLE_EMSGSIZE;
  /* Extended PDUs: connectable means not scannable; scannable means the
   * payload travels in the scan response only. */
  if (connectable && resp_len) return UVBLE_EINVAL;
  if (!connectable && resp_len && adv_len) return UVBLE_EINVAL;
  return 0;
}

int uvble_gap_advertise(uvble_t *ble, int32_t interval_us,
                        const uint8_t *adv_data, size_t adv_len,
                        const uint8_t *resp_data, size_t resp_len,
                        bool connectable) {
  if (!ble) return UVBLE_EINVAL;
  if (ble->state != BLE_ON || !ble->gap) return UVBLE_ENOTACTIVE;
  struct gap_adv *a = &ble->gap->adv;
  if (interval_us < 0) {
    if (!a->active) return 0;
    a->active = false;
    return queue_disable(ble);
  }
  size_t new_adv = adv_data ? adv_len : a->data_len;
  size_t new_resp = resp_data ? resp_len : a->resp_len;
  int r = check_sizes(ble, new_adv, new_resp, connectable);
  if (r < 0) return r;
  uint32_t units = interval_us == 0 ? UVBLE_GAP_ADV_DEFAULT_INTERVAL_US / 625
                                    : (uint32_t)interval_us / 625;
  if (units < UVBLE_GAP_ADV_MIN_INTERVAL_US / 625)
    units = UVBLE_GAP_ADV_MIN_INTERVAL_US / 625;
  uint32_t max = gap_mode(ble) == GAP_MODE_EXTENDED ? 0xFFFFFF : 0x4000;
  if (units > max) units = max;
  if (adv_data) {
    memcpy(a->data, adv_data, adv_len);
    a->data_len = adv_len;
  }
  if (resp_data) {
    memcpy(a->resp, resp_data, resp_len);
    a->resp_len = resp_len;
  }
  a->interval = units;
  a->connectable = connectable;
  return start(ble);
}

bool uvble_gap_advertising(const uvble_t *ble) {
  return ble && ble->gap && ble->gap->adv.active;
}

void gap_adv_stop(uvble_t *ble) {
  struct gap_adv *a = &ble->gap->adv;
  /* After a reset the controller has no set and advertises nothing. The
   * payloads stay: MicroPython reuses them on the next call. */
  a->active = false;
  a->set_exists = false;
}

void gap_adv_on_peripheral_connected(uvble_t *ble) {
  ble->gap->adv.active = false;
}

/* LE Advertising Set Terminated (7.7.65.18): status, handle, connection
 * handle, completed events. */
void gap_adv_on_set_terminated(uvble_t *ble, const uint8_t *p, size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  pdu_skip(&r, 1); /* status */
  uint8_t adv_handle = pdu_get_u8(&r);
  pdu_skip(&r, 3); /* connection handle, completed events */
  if (!pdu_done(&r)) {
    ble->stats.hci_events_malformed++;
    return;
  }
  if (adv_handle != GAP_ADV_HANDLE) {
    ble->stats.hci_events_unexpected++;
    return;
  }
  ble->gap->adv.active = false;
}

void gap_adv_refresh_address(uvble_t *ble) {
  if (ble->gap->adv.active && start(ble) < 0) ble->gap->stats.adv_errors++;
}
