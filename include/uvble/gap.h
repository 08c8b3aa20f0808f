/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — GAP: advertising (broadcaster), scanning (observer), connecting
 * (central), connections and connection parameters, own addresses.
 *
 * The calls mirror MicroPython's gap_advertise / gap_scan / gap_connect /
 * gap_disconnect and raise the same irq events:
 *   UVBLE_IRQ_SCAN_RESULT, UVBLE_IRQ_SCAN_DONE          (observer)
 *   UVBLE_IRQ_PERIPHERAL_CONNECT / _DISCONNECT          (we are central)
 *   UVBLE_IRQ_CENTRAL_CONNECT / _DISCONNECT             (we are peripheral)
 *   UVBLE_IRQ_CONNECTION_UPDATE                         (either role)
 *
 * A call returns once the work is queued for the controller: its errors are
 * those found without asking it; the controller's answer arrives as an
 * event.
 *
 * Legacy or extended commands: the first GAP operation after power-up picks
 * one command set for the rest of the session, because the Core Spec (Vol 4,
 * Part E, 3.1.1) lets a controller refuse legacy advertising/scanning
 * commands once extended ones were used and vice versa. Extended commands
 * are used when the controller has the LE Extended Advertising feature and
 * lists the extended advertising, scanning and create-connection commands;
 * otherwise legacy commands. With extended commands, payloads that fit in 31
 * bytes still go out as legacy PDUs so that legacy scanners see them.
 *
 * Beyond MicroPython: the link layer (data length, PHY, connection info,
 * presets for bulk and low-power links) under "the link" below; its events
 * reach link listeners (uvble_gap_link_listen), not the irq handler, so
 * the 31 irq events keep MicroPython's numbers. By default the stack asks
 * for the longest data length and LE 2M on every new link when the
 * controller supports them (uvble_gap_set_link_config turns it off).
 */
#ifndef UVBLE_GAP_H
#define UVBLE_GAP_H

#include "uvble/uvble.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- broadcaster --------------------------------------------------------- */

#define UVBLE_GAP_ADV_DEFAULT_INTERVAL_US 500000 /* MicroPython's default */
#define UVBLE_GAP_ADV_MIN_INTERVAL_US 20000

/* Starts (or restarts, with the new settings) advertising.
 *
 * interval_us < 0 stops advertising (MicroPython's None); 0 means the
 * default 500 ms; other values are rounded down to 625 us units and raised
 * to at least 20 ms (at most 10.24 s with legacy commands).
 *
 * adv_data / resp_data NULL keeps the payload given last time; non-NULL
 * with length 0 clears it. The bytes are sent as given (build them with
 * uvble/adv.h).
 *
 * connectable: ADV_IND; otherwise ADV_SCAN_IND, as MicroPython (NimBLE in
 * general discoverable mode) does: a scanner reports adv_type 2 for it
 * whether or not there is a scan response.
 *
 * Payloads over 31 bytes need extended advertising (see above): then
 * connectable advertising carries no scan response, and non-connectable
 * advertising with a scan response carries no advertising data (Vol 4,
 * Part E, 7.8.53); other combinations are UVBLE_EINVAL. Without extended
 * advertising anything over 31 bytes is UVBLE_EMSGSIZE; with it, anything
 * over what the controller says one set holds (max_adv_data_len in
 * uvble_controller_info(), from LE Read Maximum Advertising Data Length,
 * 7.8.57; 31 on a controller without that command) is UVBLE_EMSGSIZE,
 * before anything is sent.
 *
 * The controller stops advertising when a central connects; call again to
 * restart it. Errors the controller reports later stop advertising and are
 * counted (uvble_gap_stats_t.adv_errors). */
UVBLE_EXTERN int uvble_gap_advertise(uvble_t *ble, int32_t interval_us,
                                     const uint8_t *adv_data, size_t adv_len,
                                     const uint8_t *resp_data, size_t resp_len,
                                     bool connectable);

/* Whether advertising is on, as far as the host knows. */
UVBLE_EXTERN bool uvble_gap_advertising(const uvble_t *ble);

/* ---- observer ------------------------------------------------------------ */

#define UVBLE_GAP_SCAN_DEFAULT_INTERVAL_US 1280000
#define UVBLE_GAP_SCAN_DEFAULT_WINDOW_US 11250

/* Scans for duration_ms (0: until stopped; negative: stops, like
 * uvble_gap_scan_stop). interval_us / window_us of 0 take the defaults
 * (1.28 s / 11.25 ms); values are rounded down to 625 us units and clamped
 * to 2.5 ms .. 10.24 s, the window to at most the interval. active sends
 * scan requests, so scan responses (adv_type 4) are reported too.
 *
 * Every advertising report becomes UVBLE_IRQ_SCAN_RESULT (no duplicate
 * filtering, as MicroPython), after the filters of uvble_gap_scan_filter.
 * When the duration ends, the scan is stopped, a connect stops it, or the
 * stack powers down, UVBLE_IRQ_SCAN_DONE follows once.
 *
 * Returns UVBLE_EALREADY while a scan runs, UVBLE_EBUSY while a connect is
 * pending. A scan the controller refuses to start ends with SCAN_DONE. */
UVBLE_EXTERN int uvble_gap_scan(uvble_t *ble, int32_t duration_ms,
                                int32_t interval_us, int32_t window_us,
                                bool active);

/* Stops a running scan; SCAN_DONE follows once the controller has stopped.
 * Returns 0 (also when no scan was running: then no SCAN_DONE). */
UVBLE_EXTERN int uvble_gap_scan_stop(uvble_t *ble);

/* A byte string matched against the start of one AD structure: its type
 * byte and then its data (the length byte excluded), as CircuitPython's
 * start_scan(prefixes=...) matches. */
typedef struct {
  const uint8_t *data;
  size_t len; /* 1..254 */
} uvble_gap_prefix_t;

#define UVBLE_GAP_RSSI_ANY (-128)
#define UVBLE_GAP_MAX_PREFIXES 32

/* CircuitPython's scan filters, applied to each report (advertisement and
 * scan response alike) before the irq handler sees it: the report must hold
 * an AD structure that starts with one of the prefixes (when any are given)
 * and have an RSSI of at least min_rssi (UVBLE_GAP_RSSI_ANY: no limit; an
 * RSSI the controller could not measure, 127, passes). The filters stay
 * until changed; (NULL, 0, UVBLE_GAP_RSSI_ANY) removes them. The prefixes
 * are copied. UVBLE_EINVAL for an empty or over-long prefix, more than
 * UVBLE_GAP_MAX_PREFIXES, or min_rssi outside -128..127. */
UVBLE_EXTERN int uvble_gap_scan_filter(uvble_t *ble,
                                       const uvble_gap_prefix_t *prefixes,
                                       size_t num_prefixes, int min_rssi);

/* ---- central ------------------------------------------------------------- */

#define UVBLE_GAP_CONNECT_DEFAULT_SCAN_MS 2000
#define UVBLE_GAP_CONN_DEFAULT_MIN_INTERVAL_US 30000
#define UVBLE_GAP_CONN_DEFAULT_MAX_INTERVAL_US 50000

/* Connects to addr (type UVBLE_ADDR_PUBLIC..UVBLE_ADDR_RANDOM_ID). A running
 * scan is stopped first (SCAN_DONE). The controller looks for the peer for
 * scan_duration_ms (0: 2000 ms); then the attempt is cancelled.
 * min/max_conn_interval_us of 0 take 30 ms / 50 ms; others are rounded down
 * to 1.25 ms units within 7.5 ms .. 4 s. The supervision timeout is 2.56 s,
 * or longer when the interval needs it.
 *
 * UVBLE_IRQ_PERIPHERAL_CONNECT follows on success. A failed, timed-out or
 * cancelled attempt gives UVBLE_IRQ_PERIPHERAL_DISCONNECT with conn_handle
 * 0xffff, addr type UVBLE_ADDR_NONE and an all-zero address (MicroPython's
 * documented behaviour).
 *
 * One attempt at a time: UVBLE_EALREADY while one is pending, UVBLE_EBUSY
 * while one is being cancelled. */
UVBLE_EXTERN int uvble_gap_connect(uvble_t *ble, const uvble_addr_t *addr,
                                   int32_t scan_duration_ms,
                                   int32_t min_conn_interval_us,
                                   int32_t max_conn_interval_us);

/* Cancels the pending connect (MicroPython's gap_connect(None)); the
 * PERIPHERAL_DISCONNECT above follows. UVBLE_EALREADY when no connect is
 * pending or it is already being cancelled. */
UVBLE_EXTERN int uvble_gap_connect_cancel(uvble_t *ble);

/* ---- connections --------------------------------------------------------- */

/* Ends the connection gracefully. Returns 1 if the handle was connected
 * (the DISCONNECT event follows), 0 if it was not or is already being
 * ended (MicroPython's False), or a negative error.
 *
 * What the app queued on the link before the call (writes, notifications,
 * indications, L2CAP SDUs, the last keys of a pairing) goes out first:
 * from the call on, new sends on the link fail with UVBLE_ENOTCONN, the
 * queued PDUs reach the controller and are completed (Number Of Completed
 * Packets), then HCI Disconnect (reason 0x13) is sent. The wait is bounded
 * by config "drain_ms" (UVBLE_CONFIG_DRAIN_MS, default 1000 ms); past it
 * the link is ended anyway and the PDUs never handed to the controller are
 * counted in uvble_stats_t.acl_tx_dropped. A disconnect by the peer or the
 * controller meanwhile completes everything at once, as always.
 * Signalling and SMP PDUs always go ahead of queued data on a link.
 * Safe from any callback, including one about this link: the link and
 * what is pending on it stay until the controller reports it gone (its
 * operations then complete with UVBLE_EDISCONNECTED, before the DISCONNECT
 * event). */
UVBLE_EXTERN int uvble_gap_disconnect(uvble_t *ble, uint16_t conn_handle);
/* uvble_gap_disconnect with a request (uvble/req.h): req completes when
 * the link is down, with status 0 and result->connect as the DISCONNECT
 * event carries it (conn_handle, addr, reason: 0x16 when this host ended
 * it, or the peer's or controller's reason when the link went otherwise
 * first); UVBLE_ECANCELED when the stack closed first; UVBLE_ETIMEDOUT
 * when the link is still up drain_ms + 40 s later (the LL procedure
 * response timeout, Vol 6, Part B, 5.2). The DISCONNECT event still goes
 * to the irq handler, after the callback: the link's end is news to every
 * user of it. A link already being ended is waited for. Returns 0 when
 * started, UVBLE_EINVAL (req or its callback NULL), UVBLE_EBUSY (req
 * active, or another disconnect request waits on the link),
 * UVBLE_ENOTACTIVE, UVBLE_ENOTCONN (no such connection: unlike the plain
 * call, which returns 0). */
UVBLE_EXTERN int uvble_gap_disconnect_req(uvble_req_t *req, uvble_t *ble,
                                          uint16_t conn_handle);

/* Asks for new connection parameters: interval min_us..max_us (7.5 ms ..
 * 4 s), peripheral latency (0..499), supervision timeout_ms (100 ms .. 32 s,
 * longer than (1 + latency) * max_us * 2). As central the controller is
 * asked directly (LE Connection Update); as peripheral the central is asked
 * with an L2CAP Connection Parameter Update Request.
 *
 * UVBLE_IRQ_CONNECTION_UPDATE follows when the parameters change (status
 * 0). It also reports a failed attempt, with the parameters in force and
 * status: the HCI status the controller gave, 1 when the central rejected
 * a peripheral's request, or a negative uvble error (no answer). Nothing
 * follows when the link drops meanwhile. Returns UVBLE_ENOTCONN for an
 * unknown handle, UVBLE_EINVAL for parameters out of range. */
UVBLE_EXTERN int uvble_gap_update_params(uvble_t *ble, uint16_t conn_handle,
                                         int32_t min_interval_us,
                                         int32_t max_interval_us,
                                         uint16_t latency, int32_t timeout_ms);

/* What a peer may ask for. A request (a peripheral's L2CAP Connection
 * Parameter Update Request, or the controller's LE Remote Connection
 * Parameter Request) is accepted when its interval range overlaps
 * [min_interval_us, max_interval_us] (the overlap is used), its latency is
 * at most max_latency and its timeout lies in [min_timeout_ms,
 * max_timeout_ms] and exceeds (1 + latency) * interval * 2. */
typedef struct {
  int32_t min_interval_us; /* default 7500 */
  int32_t max_interval_us; /* default 4000000 */
  uint16_t max_latency;    /* default 499 */
  int32_t min_timeout_ms;  /* default 100 */
  int32_t max_timeout_ms;  /* default 32000 */
} uvble_gap_param_bounds_t;

/* Sets the bounds (NULL restores the defaults). UVBLE_EINVAL when they lie
 * outside the Core Spec's ranges or min > max. */
UVBLE_EXTERN int uvble_gap_set_param_bounds(
    uvble_t *ble, const uvble_gap_param_bounds_t *bounds);
UVBLE_EXTERN void uvble_gap_get_param_bounds(const uvble_t *ble,
                                             uvble_gap_param_bounds_t *out);

/* ---- connection parameter presets ----------------------------------------
 * A connection's parameters in one struct, for a connect (uvble_gap_connect_
 * with) or an update (uvble_gap_update_conn_params). The connection event
 * length (CE, Vol 6, Part B, 4.5.1) is a hint to the controller for how long
 * each event may run: a long one lets it move many PDUs per interval, which
 * is what a bulk link needs; a short one saves power. */
typedef struct {
  int32_t min_interval_us; /* 7500 .. 4000000, rounded down to 1.25 ms */
  int32_t max_interval_us;
  uint16_t latency;        /* peripheral latency, 0 .. 499 events */
  int32_t timeout_ms;      /* supervision timeout, 100 .. 32000 ms */
  int32_t min_ce_us;       /* connection event length hint, 0 .. 40959375 us */
  int32_t max_ce_us;       /* (0.625 ms units on the wire; 0: no preference) */
} uvble_gap_conn_params_t;

/* A bulk-transfer link: 15..30 ms interval, no latency, and events as long
 * as the interval so the controller may fill every interval with PDUs.
 * bench/ uses it for the air-time figures. */
#define UVBLE_CONN_PARAMS_THROUGHPUT                                        \
  ((uvble_gap_conn_params_t){.min_interval_us = 15000,                    \
                             .max_interval_us = 30000,                    \
                             .latency = 0,                                \
                             .timeout_ms = 4000,                          \
                             .min_ce_us = 15000,                          \
                             .max_ce_us = 30000})
/* A low-power link: 100..200 ms interval, the peripheral may skip 4
 * events, short connection events. */
#define UVBLE_CONN_PARAMS_LOW_POWER                                         \
  ((uvble_gap_conn_params_t){.min_interval_us = 100000,                   \
                             .max_interval_us = 200000,                   \
                             .latency = 4,                                \
                             .timeout_ms = 6000,                          \
                             .min_ce_us = 0,                              \
                             .max_ce_us = 1250})

/* uvble_gap_connect with the parameters and CE lengths of p (NULL: the
 * defaults of uvble_gap_connect). UVBLE_EINVAL names nothing: the checks
 * are those of uvble_gap_update_conn_params. */
UVBLE_EXTERN int uvble_gap_connect_with(uvble_t *ble, const uvble_addr_t *addr,
                                        int32_t scan_duration_ms,
                                        const uvble_gap_conn_params_t *p);
/* uvble_gap_connect_with with a request (uvble/req.h; NULL: the same
 * call). The attempt's end goes to req instead of the irq handler:
 * status 0 and result->connect (conn_handle, addr) when the link is up;
 * otherwise the HCI status that ended it (as sent; result->connect.reason
 * too), UVBLE_ETIMEDOUT when scan_duration_ms ran out, UVBLE_ECANCELED /
 * UVBLE_ENOTACTIVE when the stack closed or powered down. The link's later
 * DISCONNECT still goes to the irq handler. uvble_cancel sends LE Create
 * Connection Cancel; a link the controller opened meanwhile is ended
 * (reason 0x13) and counted in stats.req_late_responses; the request
 * completes (UVBLE_ECANCELED) once the controller has ended the attempt,
 * so that the next connect may start from its callback. */
/* The parameters uvble_gap_connect uses for min/max_conn_interval_us (0:
 * its defaults), for uvble_gap_connect_req: the intervals rounded down to
 * 1.25 ms, latency 0, its supervision timeout, no CE preference. */
UVBLE_EXTERN int uvble_gap_conn_params_for(uvble_gap_conn_params_t *out,
                                           int32_t min_us, int32_t max_us);
UVBLE_EXTERN int uvble_gap_connect_req(uvble_req_t *req, uvble_t *ble,
                                       const uvble_addr_t *addr,
                                       int32_t scan_duration_ms,
                                       const uvble_gap_conn_params_t *p);
/* uvble_gap_update_params with CE lengths. As central they go in LE
 * Connection Update; as peripheral the L2CAP Connection Parameter Update
 * Request has no field for them (the central picks). UVBLE_EINVAL when a
 * value is out of range, min > max, or the timeout is not longer than
 * (1 + latency) * max_interval * 2. */
UVBLE_EXTERN int uvble_gap_update_conn_params(uvble_t *ble,
                                              uint16_t conn_handle,
                                              const uvble_gap_conn_params_t *p);
/* uvble_gap_update_conn_params with a request (uvble/req.h): the outcome
 * goes to req instead of UVBLE_IRQ_CONNECTION_UPDATE, with result->
 * conn_update as that event carries it (the parameters in force) and its
 * status: 0, the HCI status the controller gave (as sent), 1 when the
 * central rejected our L2CAP request, or UVBLE_ETIMEDOUT (no outcome within
 * 40 s: the LL procedure response timeout, or the L2CAP RTX),
 * UVBLE_EDISCONNECTED, UVBLE_ECANCELED. The link's next LE Connection
 * Update Complete completes it (the controller runs one update procedure
 * at a time); the link listeners still hear UVBLE_GAP_LINK_PARAMS. One
 * request per link: UVBLE_EBUSY while one is pending, for the plain calls
 * too. Errors as the plain call's, and UVBLE_EINVAL for a NULL req or
 * callback. */
UVBLE_EXTERN int uvble_gap_update_conn_params_req(
    uvble_req_t *req, uvble_t *ble, uint16_t conn_handle,
    const uvble_gap_conn_params_t *p);

/* ---- the link: data length, PHY, connection info ---------------------------
 * PHYs as HCI numbers them (Vol 4, Part E, 7.7.65.12). */
enum { UVBLE_PHY_1M = 1, UVBLE_PHY_2M = 2, UVBLE_PHY_CODED = 3 };

/* What to ask the controller for (LE Set PHY / LE Set Default PHY). */
enum {
  UVBLE_PHY_PREF_ANY = 0,      /* no preference: the controllers choose */
  UVBLE_PHY_PREF_1M = 1,
  UVBLE_PHY_PREF_2M = 2,       /* twice the bit rate, a little less range */
  UVBLE_PHY_PREF_CODED = 3,    /* long range, either coding */
  UVBLE_PHY_PREF_CODED_S2 = 4, /* long range, 500 kbit/s */
  UVBLE_PHY_PREF_CODED_S8 = 5, /* longest range, 125 kbit/s */
};

/* A connection as the controller last reported it. Units as HCI carries
 * them: interval 1.25 ms, supervision_timeout 10 ms, times microseconds. */
typedef struct {
  uint16_t conn_handle;
  uint8_t role;          /* 0 central, 1 peripheral */
  uint16_t interval;
  uint16_t latency;
  uint16_t supervision_timeout;
  uint16_t tx_octets;    /* LL payload per PDU (27 .. 251), each way */
  uint16_t tx_time_us;
  uint16_t rx_octets;
  uint16_t rx_time_us;
  uint8_t tx_phy;        /* UVBLE_PHY_* */
  uint8_t rx_phy;
} uvble_conn_info_t;

/* Fills out for the connection. UVBLE_ENOTCONN for an unknown handle. Before
 * any change is reported a link has 27 octets / 328 us and LE 1M. */
UVBLE_EXTERN int uvble_gap_conn_info(const uvble_t *ble, uint16_t conn_handle,
                                     uvble_conn_info_t *out);

/* What changed, for the link callbacks. */
enum {
  UVBLE_GAP_LINK_DATA_LENGTH = 1, /* LE Data Length Change, or a refused
                                     LE Set Data Length (status != 0) */
  UVBLE_GAP_LINK_PHY = 2,         /* LE PHY Update Complete, or a refused
                                     LE Set PHY */
  UVBLE_GAP_LINK_PARAMS = 3,      /* LE Connection Update Complete (also
                                     UVBLE_IRQ_CONNECTION_UPDATE) */
};
/* status: 0, or the HCI status the controller reported (the info then holds
 * what is still in force). info is borrowed for the call. Runs from the
 * loop, never inside the call that asked; the handler may call anything. */
typedef void (*uvble_gap_link_cb)(uvble_t *ble, int what, int status,
                                  const uvble_conn_info_t *info, void *arg);

#define UVBLE_GAP_LINK_LISTENERS 4
/* Adds a listener (at most UVBLE_GAP_LINK_LISTENERS: UVBLE_ENOBUFS; the
 * same cb and arg twice: UVBLE_EEXIST). These are beyond MicroPython's 31
 * irq events, which keep their numbers. */
UVBLE_EXTERN int uvble_gap_link_listen(uvble_t *ble, uvble_gap_link_cb cb,
                                       void *arg);
/* Removes it (UVBLE_ENOENT when not there). */
UVBLE_EXTERN int uvble_gap_link_unlisten(uvble_t *ble, uvble_gap_link_cb cb,
                                         void *arg);

/* Asks for a PHY on the link (LE Set PHY, Vol 4, Part E, 7.8.49); a
 * UVBLE_GAP_LINK_PHY event follows when the controllers have agreed (the
 * peer may keep a PHY it lacks; the event then reports the old one) or
 * refused. UVBLE_ENOTSUP when the controller lacks the PHY or the command,
 * UVBLE_ENOTCONN for an unknown handle, UVBLE_EINVAL for an unknown pref. */
UVBLE_EXTERN int uvble_gap_set_phy(uvble_t *ble, uint16_t conn_handle,
                                   int pref);
/* uvble_gap_set_phy with a request (uvble/req.h): req completes on the
 * link's next LE PHY Update Complete (Vol 4, Part E, 7.7.65.12) with its
 * status (0, or the HCI status as sent), or on the controller's refusal of
 * LE Set PHY with that HCI status; result is NULL (uvble_gap_conn_info
 * has the PHYs, already updated in the callback). UVBLE_ETIMEDOUT when
 * nothing came within 40 s (the LL procedure response timeout),
 * UVBLE_EDISCONNECTED, UVBLE_ECANCELED. The link listeners still hear
 * UVBLE_GAP_LINK_PHY, before the callback. One request per link:
 * UVBLE_EBUSY while one is pending, for uvble_gap_set_phy too. */
UVBLE_EXTERN int uvble_gap_set_phy_req(uvble_req_t *req, uvble_t *ble,
                                       uint16_t conn_handle, int pref);
/* Asks for LL payloads of tx_octets (27 .. 251) taking at most tx_time_us
 * (328 .. 17040) on the link (LE Set Data Length, 7.8.33); 0, 0 asks for
 * the controller's maxima. UVBLE_GAP_LINK_DATA_LENGTH follows when the
 * peer's answer changes the link. UVBLE_ENOTSUP without Data Length
 * Extension. */
UVBLE_EXTERN int uvble_gap_set_data_length(uvble_t *ble, uint16_t conn_handle,
                                           uint16_t tx_octets,
                                           uint16_t tx_time_us);

/* What the stack asks of the controller by itself. Defaults: every field
 * true / UVBLE_PHY_PREF_2M except the coded options (false).
 *
 * At power-up, when the controller supports LE Data Packet Length Extension
 * (LE feature bit 5) the stack reads its maxima (LE Read Maximum Data
 * Length) and suggests them as the default for new links (LE Write
 * Suggested Default Data Length); when it supports LE 2M or Coded it sets
 * default_phy (LE Set Default PHY). After every connection comes up it asks
 * for the maximum data length (auto_data_length) and for default_phy
 * (auto_phy: as central only, when default_phy is 2M or coded and the
 * controller has it; both ends asking at once makes Zephyr 4.1 lose the
 * link), as BlueZ and Zephyr do. The coded options put extended advertising (primary
 * and secondary LE Coded; non-legacy PDUs, so a connectable set carries no
 * scan response), extended scanning and extended connecting (LE 1M and LE
 * Coded) on the long-range PHY when the controller supports it; they take
 * effect from the next start. Set it before uvble_active for power-up. */
typedef struct {
  bool auto_data_length;
  bool auto_phy;
  int default_phy; /* UVBLE_PHY_PREF_* */
  bool adv_coded;
  bool scan_coded;
  bool connect_coded;
} uvble_gap_link_config_t;

/* UVBLE_EINVAL for an unknown default_phy. NULL restores the defaults. */
UVBLE_EXTERN int uvble_gap_set_link_config(uvble_t *ble,
                                           const uvble_gap_link_config_t *c);
UVBLE_EXTERN void uvble_gap_get_link_config(const uvble_t *ble,
                                            uvble_gap_link_config_t *out);

/* ---- own address ----------------------------------------------------------
 * addr_mode (uvble_config_set_int(UVBLE_CONFIG_ADDR_MODE)) picks the address
 * advertising, scanning and connecting use, from their next start on:
 *   PUBLIC  the controller's public address;
 *   RANDOM  the static random address (uvble_config_set_mac, or the one
 *           generated when the stack was created);
 *   RPA     a resolvable private address made from the stack's own IRK;
 *   NRPA    a non-resolvable private address.
 * RPAs and NRPAs are replaced every rotation period (default 15 minutes);
 * the new one is used from the next start, and advertising running alone is
 * restarted with it. */
#define UVBLE_GAP_RPA_DEFAULT_TIMEOUT_S 900

/* Sets the rotation period in seconds (1 .. 41400, the controller limit of
 * Vol 4, Part E, 7.8.45; 0 restores the default). */
UVBLE_EXTERN int uvble_gap_set_rpa_timeout(uvble_t *ble, uint32_t seconds);

/* The address the current addr_mode uses (an RPA or NRPA is made now if
 * none exists yet). UVBLE_ENOTACTIVE in PUBLIC mode before the controller's
 * address is known. */
UVBLE_EXTERN int uvble_gap_own_addr(uvble_t *ble, uvble_addr_t *out);

/* ---- counters ------------------------------------------------------------ */
typedef struct {
  uint64_t adv_reports;           /* reports parsed, legacy and extended */
  uint64_t adv_reports_malformed; /* broke the length rules: they and the
                                     rest of their event were dropped */
  uint64_t adv_reports_filtered;  /* dropped by uvble_gap_scan_filter */
  uint64_t adv_reports_truncated; /* extended data the controller cut short
                                     (delivered as far as received) */
  uint64_t adv_fragments_dropped; /* extended report chains abandoned */
  uint64_t adv_errors;            /* advertising commands the controller
                                     refused */
  uint64_t scan_errors;           /* scan commands it refused */
  uint64_t conn_param_accepted;   /* peer requests accepted */
  uint64_t conn_param_rejected;   /* peer requests outside the bounds */
} uvble_gap_stats_t;

UVBLE_EXTERN void uvble_gap_get_stats(const uvble_t *ble,
                                      uvble_gap_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
