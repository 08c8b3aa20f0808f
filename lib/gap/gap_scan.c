/* SPDX-License-Identifier: Apache-2.0 */
/* GAP observer: scanning (legacy 7.8.10-11 or extended 7.8.64-65), the LE
 * (Extended) Advertising Report parsers, and CircuitPython's scan filters.
 *
 * Reports are parsed strictly: every length is checked before it is read.
 * A report that breaks the rules is counted, and it and the rest of its
 * event are dropped (the reports before it were sound and are delivered).
 */
#include <stdlib.h>
#include <string.h>

#include "gap_internal.h"
#include "pdu_reader.h"

/* Scan interval and window limits, 625 us units (7.8.10). */
#define SCAN_UNITS_MIN 0x0004
#define SCAN_UNITS_MAX 0x4000

static void on_duration(uv_timer_t *t);

int gap_scan_init(uvble_t *ble) {
  struct gap_scan *s = &ble->gap->scan;
  return gap_timer_init(ble, &s->timer, &s->timer_open);
}

void gap_scan_close(uvble_t *ble) {
  struct gap_scan *s = &ble->gap->scan;
  free(s->prefixes);
  s->prefixes = NULL;
  s->prefixes_len = 0;
  gap_timer_close(ble, &s->timer, &s->timer_open);
}

static bool emit_done(uvble_t *ble) {
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  return gap_emit(ble, UVBLE_IRQ_SCAN_DONE, &d);
}

void gap_scan_stop(uvble_t *ble) {
  struct gap_scan *s = &ble->gap->scan;
  /* The stack stops: the running scan ends, and stops whose completions
   * will now be ignored still owe their SCAN_DONE. */
  unsigned owed = s->done_owed + (s->active ? 1 : 0);
  s->active = false;
  s->done_owed = 0;
  s->frag.active = false;
  if (s->timer_open) uv_timer_stop(&s->timer);
  while (owed--)
    if (!emit_done(ble)) return;
}

/* The controller confirmed (or refused: the scan is over either way) a
 * stop. */
static void on_disable_done(uvble_t *ble, int err, uint8_t st, const uint8_t *r,
                            size_t n, void *arg) {
  (void)r;
  (void)n;
  if (!gap_tag_live(ble, arg)) return;
  struct gap_scan *s = &ble->gap->scan;
  if (err && !(err == UVBLE_EHCI && st == HCI_COMMAND_DISALLOWED))
    ble->gap->stats.scan_errors++;
  if (s->done_owed == 0) return;
  s->done_owed--;
  emit_done(ble);
}

void gap_scan_halt(uvble_t *ble) {
  struct gap_scan *s = &ble->gap->scan;
  if (!s->active) return;
  s->active = false;
  s->frag.active = false;
  if (s->timer_open) uv_timer_stop(&s->timer);
  s->done_owed++;
  uint8_t p[6] = {0};
  bool ext = gap_mode(ble) == GAP_MODE_EXTENDED;
  uint16_t op = ext ? HCI_OP_LE_SET_EXT_SCAN_ENABLE : HCI_OP_LE_SET_SCAN_ENABLE;
  int r = hci_send_cmd(ble, op, p, ext ? 6 : 2, on_disable_done,
                       gap_tag_arg(gap_new_tag(ble->gap)));
  if (r < 0) {
    /* Nothing will complete: the scan is over for the app now. */
    s->done_owed--;
    emit_done(ble);
  }
}

static void on_enable_done(uvble_t *ble, int err, uint8_t st, const uint8_t *r,
                           size_t n, void *arg) {
  (void)st;
  (void)r;
  (void)n;
  if (!err || !gap_tag_live(ble, arg)) return;
  struct gap_scan *s = &ble->gap->scan;
  ble->gap->stats.scan_errors++;
  if (!s->active || s->tag != gap_arg_tag(arg)) return;
  /* The controller would not scan: this scan is over. */
  s->active = false;
  if (s->timer_open) uv_timer_stop(&s->timer);
  emit_done(ble);
}

static void on_params_done(uvble_t *ble, int err, uint8_t st, const uint8_t *r,
                           size_t n, void *arg) {
  (void)st;
  (void)r;
  (void)n;
  if (err && gap_tag_live(ble, arg)) ble->gap->stats.scan_errors++;
}

static uint16_t scan_units(int32_t us, int32_t dflt) {
  int32_t u = (us > 0 ? us : dflt) / 625;
  if (u < SCAN_UNITS_MIN) u = SCAN_UNITS_MIN;
  if (u > SCAN_UNITS_MAX) u = SCAN_UNITS_MAX;
  return (uint16_t)u;
}

static int queue_start(uvble_t *ble, uint16_t interval, uint16_t window,
                       bool active) {
  struct gap_state *g = ble->gap;
  uint8_t own;
  int r = gap_own_addr_prepare(ble, &own, NULL);
  if (r < 0) return r;
  uint32_t ptag = gap_new_tag(g);
  g->scan.tag = gap_new_tag(g);
  if (gap_mode(ble) == GAP_MODE_EXTENDED) {
    /* Own_Address_Type, Scanning_Filter_Policy, Scanning_PHYs, then per
     * PHY bit set Scan_Type, Scan_Interval, Scan_Window (7.8.64). */
    bool coded = gap_use_coded(ble, ble->cfg.link.scan_coded);
    uint8_t p[3 + 2 * 5] = {own, 0x00, coded ? 0x05 : 0x01};
    for (int i = 0; i < (coded ? 2 : 1); i++) {
      p[3 + 5 * i] = active ? 0x01 : 0x00;
      put_le16(p + 4 + 5 * i, interval);
      put_le16(p + 6 + 5 * i, window);
    }
    r = hci_send_cmd(ble, HCI_OP_LE_SET_EXT_SCAN_PARAMS, p, coded ? 13 : 8,
                     on_params_done, gap_tag_arg(ptag));
    if (r < 0) return r;
    /* No duplicate filtering (MicroPython), no controller duration: the
     * host times the scan. */
    uint8_t e[6] = {0x01, 0x00, 0, 0, 0, 0};
    return hci_send_cmd(ble, HCI_OP_LE_SET_EXT_SCAN_ENABLE, e, sizeof e,
                        on_enable_done, gap_tag_arg(g->scan.tag));
  }
  uint8_t p[7] = {active ? 0x01 : 0x00};
  put_le16(p + 1, interval);
  put_le16(p + 3, window);
  p[5] = own;
  p[6] = 0x00; /* accept all advertisements */
  r = hci_send_cmd(ble, HCI_OP_LE_SET_SCAN_PARAMS, p, sizeof p, on_params_done,
                   gap_tag_arg(ptag));
  if (r < 0) return r;
  uint8_t e[2] = {0x01, 0x00};
  return hci_send_cmd(ble, HCI_OP_LE_SET_SCAN_ENABLE, e, sizeof e,
                      on_enable_done, gap_tag_arg(g->scan.tag));
}

int uvble_gap_scan(uvble_t *ble, int32_t duration_ms, int32_t interval_us,
                   int32_t window_us, bool active) {
  if (!ble) return UVBLE_EINVAL;
  if (ble->state != BLE_ON || !ble->gap) return UVBLE_ENOTACTIVE;
  if (duration_ms < 0) return uvble_gap_scan_stop(ble);
  struct gap_scan *s = &ble->gap->scan;
  if (s->active) return UVBLE_EALREADY;
  if (gap_connect_pending(ble)) return UVBLE_EBUSY;
  uint16_t interval =
      scan_units(interval_us, UVBLE_GAP_SCAN_DEFAULT_INTERVAL_US);
  uint16_t window = scan_units(window_us, UVBLE_GAP_SCAN_DEFAULT_WINDOW_US);
  if (window > interval) window = interval;
  int r = queue_start(ble, interval, window, active);
  if (r < 0) return r;
  s->active = true;
  s->frag.active = false;
  if (duration_ms > 0 && s->timer_open)
    uv_timer_start(&s->timer, on_duration, (uint64_t)duration_ms, 0);
  return 0;
}

int uvble_gap_scan_stop(uvble_t *ble) {
  if (!ble) return UVBLE_EINVAL;
  if (ble->state != BLE_ON || !ble->gap) return UVBLE_ENOTACTIVE;
  gap_scan_halt(ble);
  return 0;
}

/* A timer is an entry from the loop: a dispatch reference (ble_ref). */
static void on_duration_run(uv_timer_t *t);

static void on_duration(uv_timer_t *t) {
  uvble_t *ble = ((struct gap_state *)t->data)->ble;
  ble_ref(ble);
  on_duration_run(t);
  ble_unref(ble);
}

static void on_duration_run(uv_timer_t *t) {
  struct gap_state *g = t->data;
  if (g->ble->state == BLE_ON) gap_scan_halt(g->ble);
}

/* ---- filters --------------------------------------------------------- */

int uvble_gap_scan_filter(uvble_t *ble, const uvble_gap_prefix_t *prefixes,
                          size_t num_prefixes, int min_rssi) {
  if (!ble || !ble->gap || (!prefixes && num_prefixes) ||
      num_prefixes > UVBLE_GAP_MAX_PREFIXES || min_rssi < -128 ||
      min_rssi > 127)
    return UVBLE_EINVAL;
  size_t total = 0;
  for (size_t i = 0; i < num_prefixes; i++) {
    if (!prefixes[i].data || prefixes[i].len == 0 ||
        prefixes[i].len > UVBLE_AD_DATA_MAX)
      return UVBLE_EINVAL;
    total += 1 + prefixes[i].len;
  }
  uint8_t *buf = NULL;
  if (total) {
    buf = malloc(total);
    if (!buf) return UVBLE_ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < num_prefixes; i++) {
      buf[off++] = (uint8_t)prefixes[i].len;
      memcpy(buf + off, prefixes[i].data, prefixes[i].len);
      off += prefixes[i].len;
    }
  }
  struct gap_scan *s = &ble->gap->scan;
  free(s->prefixes);
  s->prefixes = buf;
  s->prefixes_len = total;
  s->min_rssi = min_rssi;
  return 0;
}

bool gap_scan_prefix_match(const uint8_t *prefixes, size_t prefixes_len,
                           const uint8_t *data, size_t len) {
  struct pdu_reader pr;
  pdu_reader_init(&pr, prefixes, prefixes_len);
  while (pdu_left(&pr)) {
    size_t plen = pdu_get_u8(&pr);
    const uint8_t *prefix = pdu_get_bytes(&pr, plen);
    if (!prefix) break;
    /* Each AD structure: length, then type and data (length bytes). A
     * zero length ends the payload; one running past it is not read. */
    struct pdu_reader ad;
    pdu_reader_init(&ad, data, len);
    while (pdu_left(&ad)) {
      size_t slen = pdu_get_u8(&ad);
      const uint8_t *s = pdu_get_bytes(&ad, slen);
      if (slen == 0 || !s) break;
      if (slen >= plen && memcmp(s, prefix, plen) == 0) return true;
    }
  }
  return false;
}

/* ---- reports --------------------------------------------------------- */

static void deliver(uvble_t *ble, uint8_t addr_type, const uint8_t *addr_hci,
                    uint8_t adv_type, int8_t rssi, const uint8_t *data,
                    size_t len) {
  struct gap_state *g = ble->gap;
  struct gap_scan *s = &g->scan;
  if (rssi < s->min_rssi ||
      (s->prefixes_len &&
       !gap_scan_prefix_match(s->prefixes, s->prefixes_len, data, len))) {
    g->stats.adv_reports_filtered++;
    return;
  }
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  ble_addr_from_hci(&d.scan_result.addr, addr_type, addr_hci);
  d.scan_result.adv_type = adv_type;
  d.scan_result.rssi = rssi;
  d.scan_result.adv_data = data;
  d.scan_result.adv_data_len = len;
  ble_irq(ble, UVBLE_IRQ_SCAN_RESULT, &d);
}

/* Whether reports should reach the app: a scan runs and the stack is up. A
 * handler may stop the scan or close the stack between two reports. */
static bool scanning(uvble_t *ble) {
  return ble->state == BLE_ON && ble->gap && ble->gap->scan.active;
}

static void malformed(uvble_t *ble) {
  ble->gap->stats.adv_reports_malformed++;
  ble->stats.hci_events_malformed++;
}

/* LE Advertising Report (7.7.65.2): Num_Reports, then per report
 * Event_Type, Address_Type, Address (6), Data_Length, Data, RSSI. */
void gap_scan_on_adv_report(uvble_t *ble, const uint8_t *p, size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  unsigned num = pdu_get_u8(&r);
  if (!pdu_ok(&r) || num < 1 || num > 0x19) {
    malformed(ble);
    return;
  }
  for (unsigned i = 0; i < num; i++) {
    uint8_t evt = pdu_get_u8(&r), addr_type = pdu_get_u8(&r);
    const uint8_t *addr = pdu_get_bytes(&r, 6);
    size_t dlen = pdu_get_u8(&r);
    const uint8_t *data = pdu_get_bytes(&r, dlen);
    int8_t rssi = (int8_t)pdu_get_u8(&r);
    if (!pdu_ok(&r) || evt > 0x04 || dlen > UVBLE_ADV_LEGACY_MAX) {
      malformed(ble);
      return;
    }
    ble->gap->stats.adv_reports++;
    if (!scanning(ble)) continue;
    /* Event types 0..4 are MicroPython's adv_type values. */
    deliver(ble, addr_type, addr, evt, rssi, data, dlen);
    if (!ble->gap) return;
  }
  if (!pdu_done(&r)) malformed(ble); /* trailing bytes */
}

/* Extended report Event_Type bits (7.7.65.13). */
enum {
  EVT_CONNECTABLE = 0x01,
  EVT_SCANNABLE = 0x02,
  EVT_DIRECTED = 0x04,
  EVT_SCAN_RSP = 0x08,
  EVT_LEGACY = 0x10,
  EVT_STATUS_MASK = 0x60,
  EVT_STATUS_MORE = 0x20,
  EVT_STATUS_TRUNCATED = 0x40,
};

/* MicroPython's adv_type for an extended report's event type, or -1 for a
 * combination no legacy PDU has. */
static int ext_adv_type(uint16_t t) {
  t &= ~EVT_STATUS_MASK;
  if (t & EVT_LEGACY) {
    switch (t) {
      case 0x13:
        return 0; /* ADV_IND */
      case 0x15:
        return 1; /* ADV_DIRECT_IND */
      case 0x12:
        return 2; /* ADV_SCAN_IND */
      case 0x10:
        return 3; /* ADV_NONCONN_IND */
      case 0x1B:  /* SCAN_RSP to ADV_IND */
      case 0x1A:
        return 4; /* SCAN_RSP to ADV_SCAN_IND */
      default:
        return -1;
    }
  }
  if (t & EVT_SCAN_RSP) return 4;
  if ((t & (EVT_CONNECTABLE | EVT_DIRECTED)) ==
      (EVT_CONNECTABLE | EVT_DIRECTED))
    return 1;
  if (t & EVT_CONNECTABLE) return 0;
  if (t & EVT_SCANNABLE) return 2;
  return 3;
}

/* The fields of one extended report the host uses (7.7.65.13). */
struct ext_report {
  uint16_t type;
  uint8_t addr_type, sid;
  int8_t rssi;
  const uint8_t *addr; /* 6 bytes, HCI order */
  const uint8_t *data;
  size_t dlen;
};

/* Event_Type (2), Address_Type, Address (6), Primary_PHY, Secondary_PHY,
 * Advertising_SID, TX_Power, RSSI, Periodic_Advertising_Interval (2),
 * Direct_Address_Type, Direct_Address (6), Data_Length, Data. */
static bool read_ext_report(struct pdu_reader *r, struct ext_report *e) {
  e->type = pdu_get_le16(r);
  e->addr_type = pdu_get_u8(r);
  e->addr = pdu_get_bytes(r, 6);
  pdu_skip(r, 2); /* PHYs */
  e->sid = pdu_get_u8(r);
  pdu_skip(r, 1); /* TX_Power */
  e->rssi = (int8_t)pdu_get_u8(r);
  pdu_skip(r, 2 + 1 + 6); /* periodic interval, direct address */
  e->dlen = pdu_get_u8(r);
  e->data = pdu_get_bytes(r, e->dlen);
  return pdu_ok(r);
}

/* Adds one fragment of an extended report; returns the complete payload
 * (or NULL while more is to come or when the chain was abandoned). */
static const uint8_t *reassemble(uvble_t *ble, const struct ext_report *e,
                                 size_t *out_len) {
  struct gap_state *g = ble->gap;
  struct gap_frag *f = &g->scan.frag;
  const uint8_t *data = e->data;
  size_t dlen = e->dlen;
  uint16_t status = e->type & EVT_STATUS_MASK;
  uint16_t base = e->type & ~EVT_STATUS_MASK;
  bool same = f->active && f->event_type == base &&
              f->addr_type == e->addr_type &&
              memcmp(f->addr, e->addr, 6) == 0 && f->sid == e->sid;
  if (f->active && !same) {
    /* Another advertiser's chain interleaved: one buffer, so the older
     * chain is given up. */
    g->stats.adv_fragments_dropped++;
    f->active = false;
  }
  if (!f->active) {
    if (status == 0 || status == EVT_STATUS_TRUNCATED) {
      *out_len = dlen; /* whole in one report */
      return data;
    }
    f->active = true;
    f->event_type = base;
    f->addr_type = e->addr_type;
    memcpy(f->addr, e->addr, 6);
    f->sid = e->sid;
    f->len = 0;
  }
  if (dlen > sizeof f->data - f->len) {
    g->stats.adv_fragments_dropped++;
    f->active = false;
    return NULL;
  }
  memcpy(f->data + f->len, data, dlen);
  f->len += dlen;
  if (status == EVT_STATUS_MORE) return NULL;
  f->active = false;
  *out_len = f->len;
  return f->data;
}

/* LE Extended Advertising Report (7.7.65.13): Num_Reports, then the
 * reports (read_ext_report). */
void gap_scan_on_ext_adv_report(uvble_t *ble, const uint8_t *p, size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  unsigned num = pdu_get_u8(&r);
  if (!pdu_ok(&r) || num < 1 || num > 0x0A) {
    malformed(ble);
    return;
  }
  for (unsigned i = 0; i < num; i++) {
    struct ext_report e;
    if (!read_ext_report(&r, &e)) {
      malformed(ble);
      return;
    }
    uint16_t type = e.type;
    size_t dlen = e.dlen;
    int adv_type = ext_adv_type(type);
    bool legacy = type & EVT_LEGACY;
    if (adv_type < 0 || (type & EVT_STATUS_MASK) == EVT_STATUS_MASK ||
        (legacy &&
         (dlen > UVBLE_ADV_LEGACY_MAX || (type & EVT_STATUS_MASK) != 0))) {
      malformed(ble);
      return;
    }
    ble->gap->stats.adv_reports++;
    if ((type & EVT_STATUS_MASK) == EVT_STATUS_TRUNCATED)
      ble->gap->stats.adv_reports_truncated++;
    if (!scanning(ble)) continue;
    size_t total;
    const uint8_t *data = reassemble(ble, &e, &total);
    if (!data) continue;
    deliver(ble, e.addr_type, e.addr, (uint8_t)adv_type, e.rssi, data, total);
    if (!ble->gap) return;
  }
  if (!pdu_done(&r)) malformed(ble);
}
