/* SPDX-License-Identifier: Apache-2.0 */
/* GAP's state and the functions its role files share. Private.
 *
 *   gap_conn.c     module hooks, connection events, connection parameters
 *   gap_adv.c      broadcaster (legacy and extended advertising)
 *   gap_scan.c     observer (scanning, advertising report parsing, filters)
 *   gap_connect.c  central (create connection, timeout, cancel)
 *   gap_addr.c     own addresses (public, static random, RPA, NRPA)
 *   gap_link.c     the link layer's state per connection: data length, PHY,
 *                  connection info, the link listeners
 *   gap_linkreq.c  requests on a link: disconnect, parameters, PHY
 *
 * Commands for one operation are queued together: the HCI core sends them
 * in order, so the controller sees e.g. disable / parameters / data /
 * enable as one sequence. The host's view of what is running changes when
 * the call is made; completions only correct it when the controller refuses.
 *
 * Completions carry a tag (gap_tag): gap_stop makes every earlier tag stale,
 * so a completion arriving after a power-down or failure changes nothing.
 */
#ifndef UVBLE_GAP_INTERNAL_H
#define UVBLE_GAP_INTERNAL_H

#include <stdint.h>

#include "conn.h"
#include "uvble/adv.h"
#include "uvble/gap.h"
#include "module.h"

/* init, stop, close, conn_open, conn_closed (core/module.h) */
UVBLE_MODULE_DECLARE(gap);

struct l2cap_conn_params;

enum gap_mode { GAP_MODE_UNKNOWN = 0, GAP_MODE_LEGACY, GAP_MODE_EXTENDED };

/* The advertising set uvble uses with extended commands. */
#define GAP_ADV_HANDLE 0x00

struct gap_adv {
  bool active;       /* enabled as far as the host knows */
  uint32_t tag;      /* of the enable command in flight / in force */
  uint32_t interval; /* 625 us units */
  bool connectable;
  uint8_t data[UVBLE_ADV_EXT_MAX];
  size_t data_len;
  uint8_t resp[UVBLE_ADV_EXT_MAX];
  size_t resp_len;
  bool set_exists;    /* extended: the controller has set GAP_ADV_HANDLE */
  uint16_t set_props; /* its Advertising_Event_Properties */
  uvble_addr_t own;   /* the address it advertises with */
};

/* Extended reports may arrive in fragments (data status "more to come");
 * one chain is reassembled at a time. */
struct gap_frag {
  bool active;
  uint16_t event_type; /* without the data status bits */
  uint8_t addr_type;
  uint8_t addr[6];
  uint8_t sid;
  size_t len;
  uint8_t data[UVBLE_ADV_EXT_MAX];
};

struct gap_scan {
  bool active;        /* scanning as far as the host knows */
  uint32_t tag;       /* of the enable command of the current scan */
  unsigned done_owed; /* SCAN_DONE events owed to stops in flight */
  uv_timer_t timer;   /* the duration */
  bool timer_open;
  uint8_t *prefixes; /* filter: [len][bytes]... */
  size_t prefixes_len;
  int min_rssi;
  struct gap_frag frag;
};

enum gap_connect_state {
  GAP_CONNECT_NONE = 0,
  GAP_CONNECT_CREATING,  /* LE Create Connection issued */
  GAP_CONNECT_CANCELING, /* LE Create Connection Cancel issued */
  GAP_CONNECT_ORPHAN,    /* the controller cannot cancel: reported failed,
                            a late success is disconnected */
};

struct gap_connect {
  enum gap_connect_state state;
  /* The attempt's request (uvble/req.h), NULL in irq mode. req_cancelled:
   * uvble_cancel took it; the attempt's end is then swallowed, and a link
   * it opens anyway is ended. timed_out: scan_duration_ms ran out (a
   * request hears UVBLE_ETIMEDOUT rather than the controller's 0x02). */
  uvble_req_t *req;
  bool req_cancelled;
  bool timed_out;
  uint32_t tag;
  uvble_addr_t own; /* the address the attempt uses */
  uv_timer_t timer; /* scan duration, then the cancel guard */
  bool timer_open;
};

struct gap_addr {
  uint8_t irk[16]; /* our IRK, for RPAs */
  bool priv_valid; /* priv holds a current RPA / NRPA */
  int priv_mode;   /* the addr_mode it was made for */
  uvble_addr_t priv;
  bool ctrl_valid; /* what LE Set Random Address last set */
  uvble_addr_t ctrl;
  uint32_t rotate_s;
  uv_timer_t timer; /* RPA / NRPA rotation */
  bool timer_open;
};

struct gap_link_listener {
  uvble_gap_link_cb cb;
  void *arg;
};

struct gap_state {
  uvble_t *ble;
  enum gap_mode mode; /* decided at the first operation after power-up */
  uint32_t next_tag;
  uint32_t stale_below; /* tags below this are from before gap_stop */
  struct gap_adv adv;
  struct gap_scan scan;
  struct gap_connect conn;
  struct gap_addr addr;
  uvble_gap_param_bounds_t bounds;
  uvble_gap_stats_t stats;
  struct gap_link_listener link_listeners[UVBLE_GAP_LINK_LISTENERS];
  uv_timer_t lreq_timer; /* the links' request deadlines (gap_linkreq.c) */
  bool lreq_timer_open;
  unsigned lreq_timeout_ms;
  int open_handles; /* timers still closing after gap_close */
};

/* ---- gap_conn.c ---- */
/* Legacy or extended commands for this power cycle. */
enum gap_mode gap_mode(uvble_t *ble);
uint32_t gap_new_tag(struct gap_state *g);
static inline void *gap_tag_arg(uint32_t tag) { return (void *)(uintptr_t)tag; }
static inline uint32_t gap_arg_tag(void *arg) {
  return (uint32_t)(uintptr_t)arg;
}
/* Whether a completion tagged arg belongs to the current power cycle. */
bool gap_tag_live(uvble_t *ble, void *arg);
/* Emits an irq; returns false when the handler closed the stack (callers
 * must then return without touching GAP state). */
bool gap_emit(uvble_t *ble, int event, const uvble_irq_data_t *d);
/* Initialises a timer owned by GAP (closed by gap_close). */
int gap_timer_init(uvble_t *ble, uv_timer_t *t, bool *open);
void gap_timer_close(uvble_t *ble, uv_timer_t *t, bool *open);

/* A link's request slot (gap_linkreq.c): one request per kind at a time.
 * CANCELLED: uvble_cancel took the request; the procedure's outcome is
 * still due and is swallowed. */
enum { GAP_LREQ_DISCONNECT = 0, GAP_LREQ_PARAMS, GAP_LREQ_PHY, GAP_LREQ_KINDS };
enum { GAP_LREQ_IDLE = 0, GAP_LREQ_LIVE, GAP_LREQ_CANCELLED };
struct gap_lreq {
  uvble_req_t *req;
  uint8_t state;
  uint64_t deadline; /* ble_now_ms() value */
};

/* Per connection: what GAP remembers about a link. */
struct gap_conn {
  uvble_addr_t own; /* the address we used to make it (SMP's ia / ra) */
  /* As the controller last reported (gap_link.c). */
  uint16_t tx_octets, tx_time, rx_octets, rx_time;
  uint8_t tx_phy, rx_phy;
  struct gap_lreq lreq[GAP_LREQ_KINDS];
};
/* The address we used on the link c: the advertising address for links we
 * accepted, the initiating address for links we made. SMP uses it for the
 * pairing functions (c1, f5, f6 take both devices' addresses). */
int gap_conn_own_addr(uvble_t *ble, const struct ble_conn *c,
                      uvble_addr_t *out);

/* ---- gap_link.c ---- */
/* Whether an option asking for LE Coded can be honoured: the controller has
 * the PHY and extended commands are in use. */
bool gap_use_coded(uvble_t *ble, bool option);
void gap_link_init(uvble_t *ble);
/* A connection came up: its link starts at 27 octets on LE 1M; the
 * automatic data length and PHY requests go out. */
void gap_link_open(uvble_t *ble, struct ble_conn *c);
/* Tells the link listeners (what: UVBLE_GAP_LINK_*). */
void gap_link_notify(uvble_t *ble, const struct ble_conn *c, int what,
                     int status);
void gap_link_on_data_length_change(uvble_t *ble, const uint8_t *p,
                                    size_t len);
void gap_link_on_phy_update(uvble_t *ble, const uint8_t *p, size_t len);
/* Checks a uvble_gap_conn_params_t and converts it to HCI units. */
struct gap_hci_params {
  uint16_t min, max, latency, timeout, ce_min, ce_max;
};
int gap_conn_params_to_hci(const uvble_gap_conn_params_t *p,
                           struct gap_hci_params *out);
/* LE Set PHY on c for pref (checked): UVBLE_ENOTSUP without the command or
 * the PHY. */
int gap_send_set_phy(uvble_t *ble, struct ble_conn *c, int pref);

/* ---- gap_linkreq.c ---- */
int gap_lreq_init(uvble_t *ble);
void gap_lreq_close(uvble_t *ble);
/* Tests: the deadline of parameter and PHY requests (a disconnect's adds
 * drain_ms). */
void gap_set_lreq_timeout_ms(uvble_t *ble, unsigned ms);
/* Puts req in c's slot of kind (GAP_LREQ_*): UVBLE_EBUSY while a request
 * of that kind is pending there. */
int gap_lreq_start(uvble_t *ble, struct ble_conn *c, int kind,
                   uvble_req_t *req);
/* The procedure did not start after all: the slot is free, no callback. */
void gap_lreq_unstart(uvble_t *ble, struct ble_conn *c, int kind);
/* A request of kind is pending on c (a plain call then gets UVBLE_EBUSY:
 * its outcome could not be told apart). */
bool gap_lreq_pending(const struct ble_conn *c, int kind);
/* The procedure's outcome: true when a request (live, or cancelled and
 * swallowing it) took it, so that no event is due. */
bool gap_lreq_complete(uvble_t *ble, struct ble_conn *c, int kind, int status,
                       const uvble_irq_data_t *d);
void gap_lreq_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason);

/* ---- gap_addr.c ---- */
int gap_addr_init(uvble_t *ble);
void gap_addr_stop(uvble_t *ble);
void gap_addr_close(uvble_t *ble);
/* The own address type for a role about to start, queueing LE Set Random
 * Address first when the controller does not hold the wanted one (it may
 * only be changed while no legacy advertising, scanning or initiating runs:
 * otherwise the address in place is kept). used (may be NULL) receives the
 * address the role will go out with. Returns 0 or a negative error. */
int gap_own_addr_prepare(uvble_t *ble, uint8_t *own_type, uvble_addr_t *used);
/* Our public address (type UVBLE_ADDR_PUBLIC; zeros before init). */
void gap_public_addr(const uvble_t *ble, uvble_addr_t *out);
/* The random address an advertising set should use (false: public). */
bool gap_own_addr_random(uvble_t *ble, uvble_addr_t *out);
/* Our IRK (SMP distributes it; the bond store may restore it). */
const uint8_t *gap_local_irk(uvble_t *ble);
void gap_set_local_irk(uvble_t *ble, const uint8_t irk[16]);

/* ---- gap_adv.c ---- */
void gap_adv_stop(uvble_t *ble);
/* A connection came up with us as peripheral: the controller has stopped
 * advertising (Vol 6, Part B, 4.4.2). */
void gap_adv_on_peripheral_connected(uvble_t *ble);
void gap_adv_on_set_terminated(uvble_t *ble, const uint8_t *p, size_t len);
/* Restarts running advertising with the current own address. */
void gap_adv_refresh_address(uvble_t *ble);

/* ---- gap_scan.c ---- */
int gap_scan_init(uvble_t *ble);
void gap_scan_stop(uvble_t *ble);
void gap_scan_close(uvble_t *ble);
/* Stops a running scan (SCAN_DONE when the controller has stopped). */
void gap_scan_halt(uvble_t *ble);
void gap_scan_on_adv_report(uvble_t *ble, const uint8_t *p, size_t len);
void gap_scan_on_ext_adv_report(uvble_t *ble, const uint8_t *p, size_t len);
/* The filter test on one payload (exposed for tests). */
bool gap_scan_prefix_match(const uint8_t *prefixes, size_t prefixes_len,
                           const uint8_t *data, size_t len);

/* ---- gap_connect.c ---- */
int gap_connect_init(uvble_t *ble);
void gap_connect_stop(uvble_t *ble, int err);
void gap_connect_close(uvble_t *ble);
bool gap_connect_pending(const uvble_t *ble);
/* A failed LE Connection Complete: true when it ended our attempt (the
 * event was emitted). */
bool gap_connect_on_failed(uvble_t *ble, uint8_t status);
/* A central connection came up: false when it belongs to an attempt that
 * was already reported failed or was cancelled (the caller then ends it).
 * *req: the attempt's request, to complete instead of the CONNECT irq. */
bool gap_connect_on_success(uvble_t *ble, uvble_req_t **req);

/* ---- gap_conn.c ---- */
/* Central role: a peripheral asked for new parameters over L2CAP (the
 * handler GAP registers with l2cap_set_conn_param_handler). */
bool gap_on_conn_param_request(uvble_t *ble, struct ble_conn *c,
                               const struct l2cap_conn_params *p);
/* Asks for h on c: LE Connection Update as central, an L2CAP Connection
 * Parameter Update Request as peripheral. */
int gap_send_conn_params(uvble_t *ble, struct ble_conn *c,
                         const struct gap_hci_params *h);

#endif
