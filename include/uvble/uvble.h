/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — a Bluetooth Low Energy host stack on libuv.
 *
 * The core API mirrors MicroPython's `bluetooth.BLE`: one object per
 * controller, `uvble_active()`, `uvble_config_*()`, and one irq handler that
 * receives MicroPython's 31 event codes with the same payloads.
 *
 * Buffers and addresses inside an event payload are borrowed: they are valid
 * only for the duration of the irq call (as in MicroPython's sync-events
 * mode). Copy what you need to keep.
 *
 * Return values and statuses, once for every header (libuv's convention):
 *
 * - A function returning int returns 0 on success (or a non-negative
 *   value, a count, a handle or 1/0, where its comment says so) and a
 *   negative UVBLE_E* code (uvble/error.h) on failure; uvble_strerror()
 *   and uvble_err_name() name it. Where a comment lists codes, it lists
 *   those worth telling apart, not every one. A bad argument gives
 *   UVBLE_EINVAL; a call that needs the controller before uvble_active()
 *   has completed gives UVBLE_ENOTACTIVE.
 * - A call that starts an operation and returns a negative code did not
 *   start it: no callback, event or future completion follows for it.
 * - A status handed to a callback, carried by an event or left in a future
 *   is 0 for success, a negative UVBLE_E* code for what the stack found,
 *   or a positive protocol status exactly as the controller or the peer
 *   sent it (an HCI error code, an ATT error code, an L2CAP result, an SMP
 *   reason: the field's comment says which; uvble/status.h names them).
 * - Every remote operation has a timeout. A link dropping completes what
 *   is pending on it with UVBLE_EDISCONNECTED; uvble_close() completes
 *   everything pending with UVBLE_ECANCELED.
 *
 *   uvble_t *ble;
 *   char err[256];
 *   if (uvble_new(loop, "unix:/tmp/bt-server-le", &ble, err, sizeof err) < 0)
 *     fprintf(stderr, "%s\n", err);     // names the problem and its fix
 *   uvble_irq(ble, on_irq, NULL);
 *   uvble_active(ble, true, on_active, ctx); // init; on_active(ble, 0, ctx)
 *   ...
 *   uvble_close(ble, on_closed, ctx);     // completes everything pending
 */
#ifndef UVBLE_UVBLE_H
#define UVBLE_UVBLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "uvble/error.h"
#include "uvble/export.h"
#include "uvble/req.h"
#include "uvble/status.h"
#include "uvble/transport.h"
#include "uvble/uuid.h"
#include "uvble/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ---------------------------------------------------------------
 * UVBLE_VERSION_MAJOR/MINOR/PATCH/STRING (uvble/version.h, generated from
 * the build's project version) are what the application was compiled
 * against; these are the library it runs with. */
/* 0x00MMmmpp, as UVBLE_VERSION_HEX. */
UVBLE_EXTERN unsigned uvble_version(void);
/* "MAJOR.MINOR.PATCH". */
UVBLE_EXTERN const char *uvble_version_string(void);

typedef struct uvble uvble_t;

/* ---- addresses ----------------------------------------------------------
 * `val` is in display order: val[0] is the most significant byte, so
 * 00:AA:01:00:00:42 is {0x00,0xAA,0x01,0x00,0x00,0x42} (MicroPython's
 * `addr` bytes). HCI carries them reversed; the stack converts. */
enum {
  UVBLE_ADDR_PUBLIC = 0x00,
  UVBLE_ADDR_RANDOM = 0x01,
  UVBLE_ADDR_PUBLIC_ID = 0x02, /* resolved from an RPA, identity public */
  UVBLE_ADDR_RANDOM_ID = 0x03, /* resolved from an RPA, identity static */
  UVBLE_ADDR_NONE = 0xff,      /* failed connection: all-zero address */
};

typedef struct {
  uint8_t type;
  uint8_t val[6];
} uvble_addr_t;

#define UVBLE_ADDR_STR_LEN 18 /* "aa:bb:cc:dd:ee:ff" + NUL */
/* Formats "aa:bb:cc:dd:ee:ff"; returns buf. */
UVBLE_EXTERN char *uvble_addr_to_str(const uvble_addr_t *a,
                                     char buf[UVBLE_ADDR_STR_LEN]);
/* Parses "aa:bb:cc:dd:ee:ff" (or without colons) into out->val; keeps
 * out->type. Returns 0 or UVBLE_EINVAL. */
UVBLE_EXTERN int uvble_addr_parse(uvble_addr_t *out, const char *text);

/* ---- irq events (MicroPython's codes and names) ------------------------- */
typedef enum {
  UVBLE_IRQ_CENTRAL_CONNECT = 1,
  UVBLE_IRQ_CENTRAL_DISCONNECT = 2,
  UVBLE_IRQ_GATTS_WRITE = 3,
  UVBLE_IRQ_GATTS_READ_REQUEST = 4,
  UVBLE_IRQ_SCAN_RESULT = 5,
  UVBLE_IRQ_SCAN_DONE = 6,
  UVBLE_IRQ_PERIPHERAL_CONNECT = 7,
  UVBLE_IRQ_PERIPHERAL_DISCONNECT = 8,
  UVBLE_IRQ_GATTC_SERVICE_RESULT = 9,
  UVBLE_IRQ_GATTC_SERVICE_DONE = 10,
  UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT = 11,
  UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE = 12,
  UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT = 13,
  UVBLE_IRQ_GATTC_DESCRIPTOR_DONE = 14,
  UVBLE_IRQ_GATTC_READ_RESULT = 15,
  UVBLE_IRQ_GATTC_READ_DONE = 16,
  UVBLE_IRQ_GATTC_WRITE_DONE = 17,
  UVBLE_IRQ_GATTC_NOTIFY = 18,
  UVBLE_IRQ_GATTC_INDICATE = 19,
  UVBLE_IRQ_GATTS_INDICATE_DONE = 20,
  UVBLE_IRQ_MTU_EXCHANGED = 21,
  UVBLE_IRQ_L2CAP_ACCEPT = 22,
  UVBLE_IRQ_L2CAP_CONNECT = 23,
  UVBLE_IRQ_L2CAP_DISCONNECT = 24,
  UVBLE_IRQ_L2CAP_RECV = 25,
  UVBLE_IRQ_L2CAP_SEND_READY = 26,
  UVBLE_IRQ_CONNECTION_UPDATE = 27,
  UVBLE_IRQ_ENCRYPTION_UPDATE = 28,
  UVBLE_IRQ_GET_SECRET = 29,
  UVBLE_IRQ_SET_SECRET = 30,
  UVBLE_IRQ_PASSKEY_ACTION = 31,
} uvble_irq_t;

#define UVBLE_IRQ_MAX 31

/* "_IRQ_CENTRAL_CONNECT"-style name without the underscore prefix
 * ("CENTRAL_CONNECT"); "UNKNOWN" for other values. */
UVBLE_EXTERN const char *uvble_irq_name(int event);

/* One payload per event; the member to read is named after the event. */
typedef struct { /* 1, 2, 7, 8 */
  uint16_t conn_handle;
  uvble_addr_t addr; /* type UVBLE_ADDR_NONE and zeros on a failed connect */
  /* Disconnects: the HCI reason (0x08 supervision timeout, 0x13 remote user
   * terminated, 0x16 this host ended it, ...). A failed connect: the
   * controller's status (0x02 Unknown Connection Identifier when the
   * attempt was cancelled or ran out of time, 0x3E Connection Failed to be
   * Established, or the error the controller rejected it with). 0 on
   * connect events. MicroPython's payload has no such field. */
  uint8_t reason;
} uvble_evt_connect_t;

typedef struct { /* 3, 4 */
  uint16_t conn_handle;
  uint16_t attr_handle;
} uvble_evt_gatts_access_t;

typedef struct { /* 5 */
  uvble_addr_t addr;
  uint8_t adv_type; /* 0 ADV_IND, 1 DIRECT_IND, 2 SCAN_IND, 3 NONCONN_IND, 4 SCAN_RSP */
  int8_t rssi;
  const uint8_t *adv_data;
  size_t adv_data_len;
} uvble_evt_scan_result_t;

typedef struct { /* 9 */
  uint16_t conn_handle;
  uint16_t start_handle;
  uint16_t end_handle;
  uvble_uuid_t uuid;
} uvble_evt_service_result_t;

typedef struct { /* 10, 12, 14 */
  uint16_t conn_handle;
  int status; /* 0, an ATT error code, or a negative uvble error */
} uvble_evt_gattc_done_t;

typedef struct { /* 11 */
  uint16_t conn_handle;
  uint16_t end_handle;
  uint16_t value_handle;
  uint8_t properties;
  uvble_uuid_t uuid;
} uvble_evt_characteristic_result_t;

typedef struct { /* 13 */
  uint16_t conn_handle;
  uint16_t dsc_handle;
  uvble_uuid_t uuid;
} uvble_evt_descriptor_result_t;

typedef struct { /* 15, 18, 19 */
  uint16_t conn_handle;
  uint16_t value_handle;
  const uint8_t *data;
  size_t data_len;
} uvble_evt_gattc_data_t;

typedef struct { /* 16, 17, 20 */
  uint16_t conn_handle;
  uint16_t value_handle;
  int status; /* 0, an ATT error code, or a negative uvble error */
} uvble_evt_gatt_status_t;

typedef struct { /* 21 */
  uint16_t conn_handle;
  uint16_t mtu;
} uvble_evt_mtu_t;

typedef struct { /* 22, 23 */
  uint16_t conn_handle;
  uint16_t cid;
  uint16_t psm;
  uint16_t our_mtu;
  uint16_t peer_mtu;
} uvble_evt_l2cap_connect_t;

typedef struct { /* 24 */
  uint16_t conn_handle;
  uint16_t cid;
  uint16_t psm;
  int status; /* 0, an L2CAP result code of a failed connect, or negative */
} uvble_evt_l2cap_disconnect_t;

typedef struct { /* 25, 26 */
  uint16_t conn_handle;
  uint16_t cid;
  int status; /* SEND_READY: 0 all sent, 1 partial */
} uvble_evt_l2cap_io_t;

typedef struct { /* 27 */
  uint16_t conn_handle;
  uint16_t conn_interval; /* units of 1.25 ms, as HCI reports it */
  uint16_t conn_latency;
  uint16_t supervision_timeout; /* units of 10 ms */
  int status;
} uvble_evt_conn_update_t;

typedef struct { /* 28 */
  uint16_t conn_handle;
  bool encrypted;
  bool authenticated;
  bool bonded;
  uint8_t key_size;
  /* uvble's addition: why a pairing or encryption attempt ended without
   * changing the link (the other fields then show its state as it is).
   * 0: success. 1..15: the SMP Pairing Failed reason, sent or received
   * (Vol 3, Part H, 3.5.5). UVBLE_ETIMEDOUT: the 30 s SMP timeout.
   * UVBLE_EDISCONNECTED: the link dropped meanwhile (raised before the
   * DISCONNECT event). UVBLE_EHCI: the controller failed the encryption,
   * with its HCI status in hci_status (uvble_hci_status_str names it). */
  int status;
  uint8_t hci_status;
  /* A stored bond no longer works (status UVBLE_EHCI): as central, the
   * peer refused the key we hold for it (hci_status 0x06 PIN or Key
   * Missing: it lost the bond; 0x05 Authentication Failure: it holds
   * another key); as peripheral, the central asked to resume a bond we do
   * not hold (we answered with a negative reply; hci_status 0x06). The
   * stack never pairs over a bond on its own: to pair anew, forget the
   * bond (uvble_forget_bond, uvble/security.h) and call uvble_gap_pair. */
  bool stale_bond;
} uvble_evt_encryption_t;

typedef struct { /* 29: return 1 and fill value/value_len when found */
  uint8_t sec_type;
  int index;
  const uint8_t *key; /* NULL: look up by index */
  size_t key_len;
  uint8_t *value;     /* out: at most value_cap bytes */
  size_t value_cap;
  size_t *value_len;  /* out */
} uvble_evt_get_secret_t;

typedef struct { /* 30: return 1 on success */
  uint8_t sec_type;
  const uint8_t *key;
  size_t key_len;
  const uint8_t *value; /* NULL: delete */
  size_t value_len;
} uvble_evt_set_secret_t;

typedef struct { /* 31 */
  uint16_t conn_handle;
  uint8_t action; /* 0 none, 2 input, 3 display, 4 numeric comparison */
  uint32_t passkey;
} uvble_evt_passkey_t;

typedef union uvble_irq_data {
  uvble_evt_connect_t connect;
  uvble_evt_gatts_access_t gatts;
  uvble_evt_scan_result_t scan_result;
  uvble_evt_service_result_t service;
  uvble_evt_gattc_done_t done;
  uvble_evt_characteristic_result_t characteristic;
  uvble_evt_descriptor_result_t descriptor;
  uvble_evt_gattc_data_t gattc_data;
  uvble_evt_gatt_status_t gatt_status;
  uvble_evt_mtu_t mtu;
  uvble_evt_l2cap_connect_t l2cap_connect;
  uvble_evt_l2cap_disconnect_t l2cap_disconnect;
  uvble_evt_l2cap_io_t l2cap_io;
  uvble_evt_conn_update_t conn_update;
  uvble_evt_encryption_t encryption;
  uvble_evt_get_secret_t get_secret;
  uvble_evt_set_secret_t set_secret;
  uvble_evt_passkey_t passkey;
} uvble_irq_data_t;

/* The irq handler. Its return value matters for GATTS_READ_REQUEST (non-zero
 * denies the read with that ATT error), L2CAP_ACCEPT (non-zero rejects with
 * that L2CAP result), GET_SECRET and SET_SECRET (1 = handled); it is ignored
 * for every other event. The handler may call any uvble function, including
 * uvble_close(); see "lifetime" below for what it may rely on then. */
typedef int (*uvble_irq_cb)(uvble_t *ble, int event,
                            const uvble_irq_data_t *data, void *arg);

/* ---- lifetime -----------------------------------------------------------
 * The rules every callback of the core (the irq handler, status and close
 * callbacks) and of the async layer (future callbacks, tasks) may rely on,
 * as libuv's uv_close():
 *
 * - Any callback may end anything: uvble_close(), uvble_active(false),
 *   uvble_gap_disconnect(), uvble_l2cap_disconnect(), replacing the GATT
 *   services with uvble_gatts_register_services(). Nothing the stack still
 *   uses is freed inside the callback: teardown runs once the callback has
 *   returned and the stack has unwound to the loop (stack and connections
 *   are reference-counted internally; each entry from the loop holds a
 *   reference).
 * - After uvble_close() no further event reaches the irq handler, even one
 *   already being delivered to other layers. Operations pending on the
 *   stack complete with UVBLE_ECANCELED (futures, status callbacks) before
 *   the close callback. Called from inside a callback, that happens when
 *   the callback returns; called from the application's own code (no uvble
 *   callback running), inside the call.
 * - The close callback runs exactly once, on a later loop iteration, after
 *   every other callback of the object; the object is freed when it
 *   returns. Pointers the application holds into the stack (uvble_t, an
 *   async context, a connection, a channel) stay valid until their close
 *   callback or their last reference.
 * - A link that drops completes every operation pending on it with
 *   UVBLE_EDISCONNECTED, before its DISCONNECT event.
 * - A link the host cannot serve as it comes up (out of memory in one of
 *   its layers) is ended at once with reason 0x14 (Remote Device Terminated
 *   due to Low Resources): no CONNECT event; the app gets the DISCONNECT
 *   event of a failed connection (handle 0xffff, the peer's address, reason
 *   0x14) and uvble_stats_t.conn_refused counts it.
 * - A transport that fails inside a send does not fail the call: the call
 *   returns as if the data were queued, and the stack fails on a later loop
 *   iteration (the fatal or active callback, UVBLE_ETRANSPORT), completing
 *   everything pending then. */

/* ---- lifecycle -----------------------------------------------------------
 * Every callback gets the status (where there is one) and the arg given
 * with it, as in libuv. */
typedef void (*uvble_status_cb)(uvble_t *ble, int status, void *arg);
typedef void (*uvble_close_cb)(uvble_t *ble, void *arg);

/* Creates a stack on loop, opening the transport named by spec (see
 * transport.h). On failure errbuf, when given, receives a sentence naming
 * the problem. Nothing is sent until uvble_active(). */
UVBLE_EXTERN int uvble_new(uv_loop_t *loop, const char *spec, uvble_t **out,
                           char *errbuf, size_t errlen);
/* The same with a transport the caller opened; the stack takes ownership
 * (and closes it), even when this call fails. */
UVBLE_EXTERN int uvble_new_with_transport(uv_loop_t *loop, uvble_transport_t *t,
                                          uvble_t **out);

/* Closes the stack: no event reaches the irq handler any more, and every
 * pending operation completes with UVBLE_ECANCELED (inside this call when
 * called from the application's own code; from a callback, as soon as that
 * callback returns, before control goes back to the loop: see "lifetime").
 * Then, before the transport closes,
 * the stack waits for the controller: replies to HCI commands already
 * sent, queued ACL data going out (what cannot is counted in
 * uvble_stats_t.acl_tx_dropped), then an HCI Reset that stops advertising,
 * scanning and links, so the controller never writes into a closed
 * transport. The wait is bounded by config "drain_ms" and never longer
 * than 1 s. Then the transport and timers close and cb (may be NULL) runs
 * on a later loop iteration as the last callback, exactly once; the object
 * is freed when cb returns. Safe to call from any callback; later calls are
 * ignored. */
UVBLE_EXTERN void uvble_close(uvble_t *ble, uvble_close_cb cb, void *arg);

/* For layers built on the core (the async layer installs one): while a hook
 * is set, uvble_close(ble, cb, cb_arg) hands the call to hook(ble, cb,
 * cb_arg, arg) instead. The hook is cleared before it runs; it tears its
 * layer down and then calls uvble_close(ble, ...) itself, running
 * cb(ble, cb_arg) from its own close callback so that the application
 * still gets cb with ble valid. NULL clears the hook. */
typedef void (*uvble_close_hook_cb)(uvble_t *ble, uvble_close_cb cb,
                                    void *cb_arg, void *arg);
/* Returns 0, or UVBLE_EALREADY when another hook is set (one layer per
 * stack); NULL always clears. */
UVBLE_EXTERN int uvble_set_close_hook(uvble_t *ble, uvble_close_hook_cb hook,
                                      void *arg);

/* Powers the stack up (runs the controller init sequence) or down (drops
 * connections and resets the controller; what was queued on the links
 * goes out first, new sends failing with UVBLE_ENOTCONN, bounded by config
 * "drain_ms" with drops counted in acl_tx_dropped, as for
 * uvble_gap_disconnect). cb runs once with 0 or an error:
 * UVBLE_ETIMEDOUT when the controller stays silent, UVBLE_EHCI when it
 * rejects a required command. Returns UVBLE_EALREADY if a change is already
 * in progress. Powering down from inside a callback: the links end (their
 * DISCONNECT events, their operations' UVBLE_EDISCONNECTED) once the
 * callback returns, not inside this call (see "lifetime"). */
UVBLE_EXTERN int uvble_active(uvble_t *ble, bool on, uvble_status_cb cb,
                              void *arg);
UVBLE_EXTERN bool uvble_is_active(const uvble_t *ble);

/* Called when the stack fails on its own (the transport broke, or the
 * controller stopped answering): every pending operation has already been
 * completed with an error and the stack is inactive. The app closes it. */
UVBLE_EXTERN void uvble_on_fatal(uvble_t *ble, uvble_status_cb cb, void *arg);

UVBLE_EXTERN void uvble_irq(uvble_t *ble, uvble_irq_cb cb, void *arg);

UVBLE_EXTERN uv_loop_t *uvble_loop(const uvble_t *ble);
UVBLE_EXTERN void uvble_set_data(uvble_t *ble, void *data);
UVBLE_EXTERN void *uvble_get_data(const uvble_t *ble);

/* ---- config (MicroPython's keys) ----------------------------------------- */
typedef enum {
  UVBLE_CONFIG_MAC = 1,       /* read: (type, addr); write: static random addr */
  UVBLE_CONFIG_ADDR_MODE,     /* UVBLE_ADDR_MODE_* */
  UVBLE_CONFIG_GAP_NAME,      /* bytes, at most UVBLE_GAP_NAME_MAX */
  UVBLE_CONFIG_RXBUF,         /* 16..65535 */
  UVBLE_CONFIG_MTU,           /* preferred ATT MTU, 23..517 */
  UVBLE_CONFIG_BOND,          /* bool */
  UVBLE_CONFIG_MITM,          /* bool */
  UVBLE_CONFIG_IO,            /* UVBLE_IO_* */
  UVBLE_CONFIG_LE_SECURE,     /* bool */
  /* Milliseconds, 0..60000, default 1000: how long ending a link on our
   * side (uvble_gap_disconnect, the async layer's disconnects) waits for
   * the PDUs already queued on it to reach the controller and be
   * completed before HCI Disconnect goes out; past it the link is ended
   * anyway and what was not sent is counted (acl_tx_dropped). 0 ends at
   * once. uvble_close() waits the same, at most 1000 ms, for replies to
   * commands already sent and for queued data. Not a MicroPython key. */
  UVBLE_CONFIG_DRAIN_MS,
} uvble_config_key_t;

enum {
  UVBLE_ADDR_MODE_PUBLIC = 0x00,
  UVBLE_ADDR_MODE_RANDOM = 0x01,
  UVBLE_ADDR_MODE_RPA = 0x02,
  UVBLE_ADDR_MODE_NRPA = 0x03,
};

enum {
  UVBLE_IO_DISPLAY_ONLY = 0,
  UVBLE_IO_DISPLAY_YESNO = 1,
  UVBLE_IO_KEYBOARD_ONLY = 2,
  UVBLE_IO_NO_INPUT_OUTPUT = 3,
  UVBLE_IO_KEYBOARD_DISPLAY = 4,
};

#define UVBLE_GAP_NAME_MAX 248 /* Device Name characteristic's limit */

/* Maps "mac", "addr_mode", "gap_name", "rxbuf", "mtu", "bond", "mitm", "io",
 * "le_secure", "drain_ms" to a key; UVBLE_EUNKNOWNKEY otherwise. */
UVBLE_EXTERN int uvble_config_key(const char *name);

/* Integer-valued keys (all but MAC and GAP_NAME). UVBLE_EINVAL for a value
 * out of range or a key of another kind. */
UVBLE_EXTERN int uvble_config_set_int(uvble_t *ble, int key, int value);
UVBLE_EXTERN int uvble_config_get_int(const uvble_t *ble, int key, int *value);

UVBLE_EXTERN int uvble_config_set_name(uvble_t *ble, const void *name,
                                       size_t len);
/* Copies at most cap bytes, returns the full length (no NUL added). */
UVBLE_EXTERN int uvble_config_get_name(const uvble_t *ble, void *buf,
                                       size_t cap);

/* The address the stack uses: after uvble_active(), the controller's public
 * address (or the random one chosen by addr_mode). */
UVBLE_EXTERN int uvble_config_get_mac(const uvble_t *ble, uvble_addr_t *out);
/* Sets a static random address (two top bits set) to use in RANDOM mode. */
UVBLE_EXTERN int uvble_config_set_mac(uvble_t *ble, const uvble_addr_t *addr);

/* ---- controller information (filled by the init sequence) --------------- */
typedef struct {
  uint8_t hci_version;
  uint16_t hci_revision;
  uint8_t lmp_version;
  uint16_t manufacturer;
  uint16_t lmp_subversion;
  uint8_t commands[64];     /* Read Local Supported Commands bitmap */
  uint8_t features[8];      /* LMP features */
  uint8_t le_features[8];   /* LE features */
  uint16_t acl_mtu;         /* LE ACL data packet length */
  uint16_t acl_max_pkts;    /* LE ACL buffers */
  uint16_t iso_mtu;
  uint8_t iso_max_pkts;
  uvble_addr_t public_addr; /* BD_ADDR */
  /* LE Read Maximum Data Length (zeros without Data Length Extension) */
  uint16_t max_tx_octets;
  uint16_t max_tx_time;
  uint16_t max_rx_octets;
  uint16_t max_rx_time;
  /* Advertising or scan response data one set can hold (LE Read Maximum
   * Advertising Data Length, 7.8.57): 31 without extended advertising or
   * without the command, at most 1650. */
  uint16_t max_adv_data_len;
} uvble_controller_info_t;

/* Returns UVBLE_ENOTACTIVE before the init sequence has completed. */
UVBLE_EXTERN int uvble_controller_info(const uvble_t *ble,
                                       uvble_controller_info_t *out);
/* Whether the controller lists a command: octet and bit as in the Core
 * Spec's supported-commands table (Vol 4, Part E, 6.27). */
UVBLE_EXTERN bool uvble_controller_has_command(const uvble_t *ble, int octet,
                                               int bit);
/* Whether an LE feature bit (Vol 6, Part B, 4.6) is set. */
UVBLE_EXTERN bool uvble_controller_has_le_feature(const uvble_t *ble, int bit);
/* Names for display: "Bluetooth 5.2" style versions and company names of
 * the commonest manufacturers (otherwise NULL). */
UVBLE_EXTERN const char *uvble_hci_version_name(uint8_t version);
UVBLE_EXTERN const char *uvble_manufacturer_name(uint16_t company);

/* ---- counters ------------------------------------------------------------ */
typedef struct {
  uint64_t hci_cmds_sent;
  uint64_t hci_cmd_timeouts;
  uint64_t hci_events;
  uint64_t hci_events_malformed;   /* length disagrees with parameters */
  uint64_t hci_events_unexpected;  /* e.g. a Command Complete nobody awaits */
  uint64_t hci_events_unhandled;   /* valid but of no interest */
  uint64_t acl_tx_packets;
  uint64_t acl_tx_bytes;
  uint64_t acl_rx_packets;
  uint64_t acl_rx_bytes;
  uint64_t acl_rx_dropped;         /* malformed or unknown connection */
  uint64_t acl_rx_no_start;        /* continuation without a start */
  uint64_t acl_rx_overflow;        /* PDU longer than announced or allowed */
  uint64_t acl_credits_bogus;      /* completed-packet counts beyond what we sent */
  uint64_t l2cap_rx_unknown_cid;
  uint64_t l2cap_rx_pdus;
  uint64_t transport_errors;
  uint64_t gattc_rsp_malformed;    /* ATT responses the GATT client rejected */
  uint64_t att_rx_malformed;       /* ATT PDUs dropped: bad length or > MTU */
  uint64_t att_rx_unexpected;      /* responses/confirmations nobody awaits, PDUs on a dead bearer */
  uint64_t att_tx_dropped;         /* responses/notifications the link queue refused */
  uint64_t smp_rx_refused;         /* SMP PDUs answered with Pairing Failed:
                                      bad length, unknown code, out of sequence,
                                      invalid values */
  uint64_t smp_ltk_refused;        /* LTK requests answered with a Negative
                                      Reply: no bond, a wrong EDIV/Rand, or
                                      encryption started before the pairing
                                      proved itself (DHKey Check skipped) */
  uint64_t smp_bond_rejected;      /* re-encryptions with a stored key the peer
                                      refused (PIN or Key Missing,
                                      Authentication Failure): stale bonds */
  uint64_t link_data_length_changes; /* LE Data Length Change events taken */
  uint64_t link_phy_updates;         /* LE PHY Update Complete events taken */
  uint64_t link_requests_refused;    /* LE Set PHY / Set Data Length the
                                        controller refused */
  uint64_t gattc_decl_rejected;    /* characteristic declarations the GATT
                                      client skipped: value handle not the
                                      declaration's + 1, or outside the
                                      service (Vol 3, Part G, 3.3.1, 3.3.2) */
  uint64_t acl_tx_dropped;         /* outgoing PDUs never handed to the
                                      controller: a drain before disconnect
                                      or uvble_close()'s linger ran out of
                                      time (UVBLE_CONFIG_DRAIN_MS) */
  uint64_t acl_tx_pool_full;       /* sends refused (UVBLE_ENOBUFS) because
                                      the stack-wide pool of outgoing ACL
                                      packets was in use: by default four
                                      links' queues' worth */
  uint64_t req_late_responses;     /* responses (ATT, L2CAP, HCI) that
                                      arrived for a request already
                                      cancelled (uvble_cancel): swallowed */
  uint64_t conn_refused;           /* links ended as they came up because
                                      the host could not serve them (out of
                                      memory): reported as a failed
                                      connection, handle 0xffff */
} uvble_stats_t;

UVBLE_EXTERN void uvble_get_stats(const uvble_t *ble, uvble_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
