/* SPDX-License-Identifier: Apache-2.0 */
/* Air-time limits and bulk-link setup; see air.h and bench/README.md. */
#include "air.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "uvble/gap.h"

#define EMPTY_PDU 0

double air_pdu_us(int phy, unsigned octets, bool mic) {
  /* Header 2, CRC 3, MIC 4 on an encrypted non-empty PDU. */
  double body = 2.0 + octets + 3.0 + (mic && octets ? 4.0 : 0.0);
  switch (phy) {
    case AIR_PHY_2M: /* preamble 2 + access address 4, 4 us per octet */
      return (2.0 + 4.0 + body) * 4.0;
    case AIR_PHY_CODED_S8: /* FEC block 1: 80 + 256 + 16 + 24 us */
      return 376.0 + body * 8.0 * 8.0 + 3.0 * 8.0;
    case AIR_PHY_CODED_S2:
      return 376.0 + body * 8.0 * 2.0 + 3.0 * 2.0;
    default: /* 1M: preamble 1 + access address 4, 8 us per octet */
      return (1.0 + 4.0 + body) * 8.0;
  }
}

/* LL PDUs for one L2CAP PDU of len bytes (header included). */
static unsigned pdus(unsigned len, unsigned octets) {
  return (len + octets - 1) / octets;
}

/* Adds one L2CAP PDU of len bytes, cut into LL PDUs of the link's octets. */
static void add_l2cap_pdu(const air_link_t *l, unsigned len, air_unit_t *u) {
  double empty = air_pdu_us(l->phy, EMPTY_PDU, false);
  for (unsigned left = len; left;) {
    unsigned n = left < l->octets ? left : l->octets;
    u->us += air_pdu_us(l->phy, n, l->encrypted) + AIR_T_IFS_US + empty +
             AIR_T_IFS_US;
    u->pdus++;
    left -= n;
  }
}

air_unit_t air_l2cap_unit(const air_link_t *l, unsigned sdu, unsigned mps) {
  air_unit_t u = {sdu, 0, 0};
  unsigned left = sdu + 2; /* SDU length field in the first K-frame */
  while (left && mps) {
    unsigned k = left < mps ? left : mps;
    add_l2cap_pdu(l, 4 + k, &u);
    left -= k;
  }
  return u;
}

air_unit_t air_att_unit(const air_link_t *l, unsigned value_len) {
  air_unit_t u = {value_len, 0, 0};
  add_l2cap_pdu(l, 4 + 3 + value_len, &u);
  return u;
}

unsigned air_pdus_per_event(const air_link_t *l, const air_unit_t *u) {
  if (!u->pdus || !l->octets) return 0;
  unsigned ev = l->event_us && l->event_us < l->interval_us ? l->event_us
                                                             : l->interval_us;
  return (unsigned)floor(ev / (u->us / u->pdus));
}

double air_limit_kbps(const air_link_t *l, const air_unit_t *u) {
  if (!l->interval_us || !u->pdus) return 0;
  return air_pdus_per_event(l, u) * ((double)u->bytes / u->pdus) * 8.0 /
         l->interval_us * 1e3;
}

/* UART bytes for one L2CAP PDU of len bytes cut into ACL packets of acl. */
static double uart_bytes(unsigned len, unsigned acl) {
  return len + 5.0 * pdus(len, acl);
}

static double uart_kbps(unsigned baud, double payload, double bytes) {
  return baud / 10.0 * payload / bytes * 8.0 / 1e3;
}

double air_hci_l2cap_kbps(unsigned baud, unsigned sdu, unsigned mps,
                          unsigned acl_send, unsigned acl_recv) {
  double lim = 0;
  unsigned acls[2] = {acl_send, acl_recv};
  for (int i = 0; i < 2; i++) {
    unsigned left = sdu + 2;
    double bytes = 0;
    while (left) {
      unsigned k = left < mps ? left : mps;
      bytes += uart_bytes(4 + k, acls[i]);
      left -= k;
    }
    double v = uart_kbps(baud, sdu, bytes);
    if (i == 0 || v < lim) lim = v;
  }
  return lim;
}

double air_hci_att_kbps(unsigned baud, unsigned value_len, unsigned acl_send,
                        unsigned acl_recv) {
  unsigned a = acl_send < acl_recv ? acl_send : acl_recv;
  /* Smaller packets cost more headers: the smaller ACL size is the bound. */
  return uart_kbps(baud, value_len, uart_bytes(4 + 3 + value_len, a));
}

const char *air_phy_name(int phy) {
  switch (phy) {
    case AIR_PHY_1M: return "1M";
    case AIR_PHY_2M: return "2M";
    case AIR_PHY_CODED_S8: return "coded-s8";
    case AIR_PHY_CODED_S2: return "coded-s2";
    default: return "?";
  }
}

double air_ms(const air_want_t *w, double ms) {
  return w->time_scale > 1 ? ms * w->time_scale : ms;
}

int air_parse_opt(air_want_t *w, const char *arg, const char *v) {
  if (strcmp(arg, "--time-scale") == 0) {
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x >= 1 && x <= 1000)) {
      fprintf(stderr, "--time-scale: '%s' is not 1 .. 1000\n", v);
      return -1;
    }
    w->time_scale = x;
    return 1;
  }
  if (strcmp(arg, "--phy") == 0) {
    if (strcmp(v, "1m") == 0 || strcmp(v, "1M") == 0) {
      w->phy = AIR_PHY_1M;
    } else if (strcmp(v, "2m") == 0 || strcmp(v, "2M") == 0) {
      w->phy = AIR_PHY_2M;
    } else {
      fprintf(stderr, "--phy: '%s' is not 1m or 2m\n", v);
      return -1;
    }
    return 1;
  }
  if (strcmp(arg, "--data-length") == 0) {
    char *end;
    unsigned long n = strtoul(v, &end, 0);
    if (*end || n < 27 || n > 251) {
      fprintf(stderr, "--data-length: '%s' is not 27 .. 251\n", v);
      return -1;
    }
    w->data_length = (unsigned)n;
    return 1;
  }
  if (strcmp(arg, "--conn") == 0) {
    if (strcmp(v, "throughput") == 0) {
      w->throughput = true;
    } else if (strcmp(v, "default") == 0) {
      w->throughput = false;
    } else {
      fprintf(stderr, "--conn: '%s' is not throughput or default\n", v);
      return -1;
    }
    return 1;
  }
  return 0;
}

/* Data Length Extension, PHY update and the connection parameter presets
 * came with the link API (uvble/gap.h: uvble_gap_conn_info); without it
 * the stack leaves the link at its defaults, 27 octets on LE 1M. */
#ifdef UVBLE_CONN_PARAMS_THROUGHPUT
void air_configure(uvble_t *ble, const air_want_t *w) {
  uvble_gap_link_config_t c;
  uvble_gap_get_link_config(ble, &c);
  c.auto_data_length = w->data_length > 27;
  c.auto_phy = w->phy == AIR_PHY_2M;
  c.default_phy = w->phy == AIR_PHY_2M ? UVBLE_PHY_PREF_2M : UVBLE_PHY_PREF_1M;
  uvble_gap_set_link_config(ble, &c);
}

int air_connect(uvble_t *ble, const uvble_addr_t *peer, const air_want_t *w) {
  int32_t scan_ms = (int32_t)air_ms(w, 5000);
  if (!w->throughput) return uvble_gap_connect(ble, peer, scan_ms, 0, 0);
  uvble_gap_conn_params_t p = UVBLE_CONN_PARAMS_THROUGHPUT;
  return uvble_gap_connect_with(ble, peer, scan_ms, &p);
}

static void on_tick(uv_timer_t *t) { (void)t; }

static bool settled(uvble_t *ble, uint16_t conn, const air_want_t *w,
                    uvble_conn_info_t *ci) {
  if (uvble_gap_conn_info(ble, conn, ci) < 0) return true; /* link gone */
  unsigned want = w->data_length > 27 ? w->data_length : 27;
  return ci->tx_phy == w->phy && ci->rx_phy == w->phy &&
         ci->tx_octets >= want && ci->rx_octets >= want;
}

const char *air_settle(uv_loop_t *loop, uvble_t *ble, uint16_t conn,
                       const air_want_t *w, bool ask, air_link_t *tx,
                       air_link_t *rx) {
  /* air_configure had the stack ask by itself (as central) when the link
   * came up; asking again while those procedures run lost the link on
   * Zephyr 4.1, so this only waits. */
  (void)ask;
  uv_timer_t tick;
  uv_timer_init(loop, &tick);
  uv_timer_start(&tick, on_tick, 20, 20);
  uvble_conn_info_t ci;
  uint64_t end = uv_now(loop) + (uint64_t)air_ms(w, 5000);
  while (!settled(ble, conn, w, &ci) && uv_now(loop) < end)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  *tx = (air_link_t){ci.tx_phy, ci.tx_octets, ci.interval * 1250u,
                     ci.interval * 1250u, false};
  *rx = *tx;
  rx->phy = ci.rx_phy;
  rx->octets = ci.rx_octets;
  return settled(ble, conn, w, &ci) ? "" : "the link did not reach what was asked";
}
#else
void air_configure(uvble_t *ble, const air_want_t *w) {
  (void)ble;
  (void)w;
}

int air_connect(uvble_t *ble, const uvble_addr_t *peer, const air_want_t *w) {
  return uvble_gap_connect(ble, peer, (int32_t)air_ms(w, 5000), 0, 0);
}

const char *air_settle(uv_loop_t *loop, uvble_t *ble, uint16_t conn,
                       const air_want_t *w, bool ask, air_link_t *tx,
                       air_link_t *rx) {
  (void)loop, (void)ble, (void)conn, (void)w, (void)ask;
  /* What a host that never asks gets; the interval is not known. */
  *tx = (air_link_t){AIR_PHY_1M, 27, 0, 0, false};
  *rx = *tx;
  return "this build has no DLE/PHY/connection-info API: 27 octets on 1M "
         "assumed, interval unknown";
}
#endif

void air_json(FILE *out, const air_link_t *l, double goodput_kbps,
              const air_unit_t *u, double hci_limit_kbps, const char *note) {
  double limit = air_limit_kbps(l, u);
  fprintf(out,
          ",\"air_limit_kbps\":%.1f,\"air_ratio\":%.3f,\"phy\":\"%s\","
          "\"data_length\":%u,\"interval_ms\":%.2f,\"event_ms\":%.2f,"
          "\"pdus_per_event\":%u,\"payload_per_pdu\":%.2f,"
          "\"pair_us\":%.1f",
          limit, limit > 0 ? goodput_kbps / limit : 0, air_phy_name(l->phy),
          l->octets, l->interval_us / 1e3, l->event_us / 1e3,
          l->interval_us ? air_pdus_per_event(l, u) : 0,
          u->pdus ? (double)u->bytes / u->pdus : 0,
          u->pdus ? u->us / u->pdus : 0);
  if (hci_limit_kbps > 0)
    fprintf(out, ",\"hci_limit_kbps\":%.1f,\"hci_ratio\":%.3f", hci_limit_kbps,
            goodput_kbps / hci_limit_kbps);
  if (note && *note) fprintf(out, ",\"note\":\"%s\"", note);
}
