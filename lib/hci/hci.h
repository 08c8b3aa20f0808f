/* SPDX-License-Identifier: Apache-2.0 */
/* HCI core: command queue with flow control and timeouts, event parsing and
 * dispatch, the controller init sequence. Private. */
#ifndef UVBLE_HCI_H
#define UVBLE_HCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct uvble uvble_t;

/* Opcodes (OGF << 10 | OCF) used by the core. */
enum {
  HCI_OP_DISCONNECT = 0x0406,
  HCI_OP_SET_EVENT_MASK = 0x0C01,
  HCI_OP_RESET = 0x0C03,
  HCI_OP_WRITE_LE_HOST_SUPPORTED = 0x0C6D,
  HCI_OP_SET_EVENT_MASK_PAGE_2 = 0x0C63,
  HCI_OP_READ_LOCAL_VERSION = 0x1001,
  HCI_OP_READ_LOCAL_COMMANDS = 0x1002,
  HCI_OP_READ_LOCAL_FEATURES = 0x1003,
  HCI_OP_READ_BUFFER_SIZE = 0x1005,
  HCI_OP_READ_BD_ADDR = 0x1009,
  HCI_OP_LE_SET_EVENT_MASK = 0x2001,
  HCI_OP_LE_READ_BUFFER_SIZE = 0x2002,
  HCI_OP_LE_READ_LOCAL_FEATURES = 0x2003,
  HCI_OP_LE_WRITE_DEFAULT_DATA_LEN = 0x2024,
  HCI_OP_LE_READ_MAX_DATA_LEN = 0x202F,
  HCI_OP_LE_SET_DEFAULT_PHY = 0x2031,
  HCI_OP_LE_READ_BUFFER_SIZE_V2 = 0x2060,
};

/* Supported-commands bits (Vol 4, Part E, 6.27): octet, bit. */
#define HCI_CMD_LE_SET_DATA_LEN 33, 6
#define HCI_CMD_LE_WRITE_DEFAULT_DATA_LEN 34, 0
#define HCI_CMD_LE_READ_MAX_DATA_LEN 35, 3
#define HCI_CMD_LE_SET_DEFAULT_PHY 35, 5
#define HCI_CMD_LE_SET_PHY 35, 6

/* LE features (Vol 6, Part B, 4.6). */
#define HCI_LE_FEATURE_DLE 5
#define HCI_LE_FEATURE_2M_PHY 8
#define HCI_LE_FEATURE_CODED_PHY 11

/* LE Set (Default) PHY's preference bits for a UVBLE_PHY_PREF_* (7.8.48,
 * 7.8.49): all_phys, tx/rx PHYs, PHY options. False for an unknown pref. */
struct hci_phy_bits {
  uint8_t all, tx, rx;
  uint16_t options;
};
bool hci_phy_bits(const uvble_t *ble, int pref, struct hci_phy_bits *out);

/* Event codes. */
enum {
  HCI_EV_DISCONNECTION_COMPLETE = 0x05,
  HCI_EV_ENCRYPTION_CHANGE = 0x08,
  HCI_EV_COMMAND_COMPLETE = 0x0E,
  HCI_EV_COMMAND_STATUS = 0x0F,
  HCI_EV_HARDWARE_ERROR = 0x10,
  HCI_EV_NUM_COMPLETED_PACKETS = 0x13,
  HCI_EV_DATA_BUFFER_OVERFLOW = 0x1A,
  HCI_EV_ENCRYPTION_KEY_REFRESH = 0x30,
  HCI_EV_LE_META = 0x3E,
};

/* LE meta subevents. */
enum {
  HCI_LE_CONNECTION_COMPLETE = 0x01,
  HCI_LE_ADVERTISING_REPORT = 0x02,
  HCI_LE_CONNECTION_UPDATE_COMPLETE = 0x03,
  HCI_LE_READ_REMOTE_FEATURES_COMPLETE = 0x04,
  HCI_LE_LONG_TERM_KEY_REQUEST = 0x05,
  HCI_LE_REMOTE_CONN_PARAM_REQUEST = 0x06,
  HCI_LE_DATA_LENGTH_CHANGE = 0x07,
  HCI_LE_ENHANCED_CONNECTION_COMPLETE = 0x0A,
  HCI_LE_PHY_UPDATE_COMPLETE = 0x0C,
};

/* HCI status codes the core looks at. */
enum {
  HCI_SUCCESS = 0x00,
  HCI_UNKNOWN_COMMAND = 0x01,
  HCI_UNKNOWN_CONNECTION_ID = 0x02,
  HCI_CONNECTION_TIMEOUT = 0x08,
  HCI_UNSUPPORTED_FEATURE = 0x11,
  HCI_REMOTE_USER_TERMINATED = 0x13,
  HCI_REMOTE_LOW_RESOURCES = 0x14,
  HCI_POWER_OFF = 0x15,
  HCI_LOCAL_HOST_TERMINATED = 0x16,
  HCI_UNSUPPORTED_REMOTE_FEATURE = 0x1A,
  HCI_UNSPECIFIED_ERROR = 0x1F,
};

/* Completion of one command.
 * err: 0 when the controller answered with status 0; UVBLE_EHCI when it
 *      answered with another status (in hci_status); UVBLE_ETIMEDOUT,
 *      UVBLE_ECANCELED or UVBLE_ECLOSING when it never answered.
 * ret/ret_len: Command Complete's return parameters after the status byte
 *      (empty for Command Status). */
typedef void (*hci_cmd_cb)(uvble_t *ble, int err, uint8_t hci_status,
                           const uint8_t *ret, size_t ret_len, void *arg);

struct hci_cmd;

struct hci {
  struct hci_cmd *queue_head, *queue_tail; /* not yet sent */
  struct hci_cmd *inflight_head, *inflight_tail;
  unsigned queued;
  unsigned cmd_credits;       /* Num_HCI_Command_Packets */
  unsigned cmd_timeout_ms;
  unsigned max_queued;
  uv_timer_t cmd_timer;
  bool timer_open;
  /* Marks each pass of the loop over its I/O (the check phase follows
   * the poll): a command is timed out only after the loop has had the
   * chance to read an answer that came in before its deadline. */
  uv_check_t io_check;
  bool io_check_open;
  uint64_t io_pass_at; /* ble_now_ms() at the last pass, 0 before any */

  /* LE ACL buffers (Core Spec Vol 4, Part E, 4.1.1) */
  uint16_t acl_mtu;
  uint16_t acl_total;
  uint16_t acl_free;
  struct ble_conn *rr_next; /* round-robin cursor */
  size_t l2cap_rx_max_pdu;  /* largest L2CAP PDU reassembled (header incl.) */
  size_t conn_txq_max;      /* bytes queued per connection before refusing */
  void (*tx_done_obs[4])(uvble_t *ble); /* acl_on_tx_done observers */

  /* The edges (conn_edge.c): one timer bounds both the drains of links
   * being ended and uvble_close()'s linger. */
  uv_timer_t edge_timer;
  bool edge_timer_open;
  unsigned drain_ms;         /* UVBLE_CONFIG_DRAIN_MS */
  bool lingering;            /* uvble_close() waits for the controller */
  bool linger_reset;         /* its last command, HCI Reset, is sent */
  uint64_t linger_deadline;
  void (*linger_done)(uvble_t *ble);
  uint64_t stop_deadline;    /* uvble_active(false) drains the links */
  void (*stop_done)(uvble_t *ble);

  /* init sequence */
  int init_step;
};

int hci_init(uvble_t *ble);
/* Every queued and in-flight command completes with err. With keep_sent,
 * commands the controller already has stay in flight, their callbacks
 * gone, so their replies are still recognised (uvble_close lingers for
 * them); hci_inflight() says whether any remain. */
void hci_cancel_all(uvble_t *ble, int err, bool keep_sent);
bool hci_inflight(const uvble_t *ble);
/* Starts closing the timers and frees what is left. */
void hci_close(uvble_t *ble);

/* Queues a command. Returns 0, UVBLE_EINVAL (params over 255 bytes),
 * UVBLE_ENOBUFS (queue full) or UVBLE_ENOTACTIVE (stack failed/closing). */
int hci_send_cmd(uvble_t *ble, uint16_t opcode, const void *params,
                 size_t len, hci_cmd_cb cb, void *arg);

/* An event packet from the transport (header included). */
void hci_on_event(uvble_t *ble, const uint8_t *pkt, size_t len);

/* Runs the init sequence; completes through ble->active_cb. */
void hci_start_init(uvble_t *ble);

/* ACL data path (acl.c). */
void acl_on_packet(uvble_t *ble, const uint8_t *pkt, size_t len);
void acl_on_completed(uvble_t *ble, const uint8_t *params, size_t len);
/* Sends whatever the controller has buffer space for. */
void acl_pump(uvble_t *ble);

/* uvble_close()'s linger (conn_edge.c): waits, at most the drain timeout
 * and never more than 1 s, for the replies to commands already sent and
 * for the kept links' data to be completed, resets a controller that was
 * started (was_started) so it goes quiet, then calls done. */
void conn_linger(uvble_t *ble, bool was_started, void (*done)(uvble_t *ble));
/* uvble_active(false) (conn_edge.c): refuses new sends on every link and
 * lets what is queued reach the controller and be completed, bounded by
 * the drain timeout (drops counted), then calls done. */
void conn_drain_all(uvble_t *ble, void (*done)(uvble_t *ble));
/* A link went or made progress: ends conn_drain_all once all are idle. */
void conn_drain_all_check(uvble_t *ble);
/* Progress during the linger: ends it once nothing is left. */
void conn_linger_check(uvble_t *ble);
/* Disconnection Complete during the linger. */
void conn_linger_on_disconnected(uvble_t *ble, uint16_t handle);
/* The transport failed during the linger: stop waiting. */
void conn_linger_abort(uvble_t *ble);

#endif
