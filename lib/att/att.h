/* SPDX-License-Identifier: Apache-2.0 */
/* ATT bearer on the LE fixed channel (CID 4), one per connection. Private.
 *
 * The bearer owns the protocol's sequencing rules (Core Spec Vol 3, Part F,
 * 3.3): one outstanding request and one outstanding indication per
 * direction, each with the 30 s transaction timeout after which the bearer
 * is unusable until the link drops. It routes inbound PDUs:
 *   - requests and commands (client -> server)  -> the registered server
 *   - responses and Error Response              -> the pending request's cb
 *   - notifications and indications             -> the registered client
 *                                                  (the bearer sends the
 *                                                  confirmation itself)
 *   - Handle Value Confirmation                 -> the pending indication's cb
 *   - MTU exchange                              -> handled here (both roles),
 *                                                  UVBLE_IRQ_MTU_EXCHANGED
 *
 * att.c implements this header (with gatts); gattc.c uses it.
 *
 * Details the contract leaves open, as att.c implements them:
 *   - Inbound lengths: the bearer checks the PDUs it parses itself (MTU
 *     exchange, notifications, indications, confirmations) and drops a
 *     malformed one (stats.att_rx_malformed); a response PDU is handed to
 *     the pending request's cb whatever its length or opcode (the receiver
 *     validates it); a request or command longer than the ATT_MTU is
 *     answered with Invalid PDU (commands: dropped).
 *   - A response or confirmation with nothing pending, and anything
 *     arriving on a dead bearer, is dropped (stats.att_rx_unexpected).
 *   - Requests from the peer: the server answers each one before the next
 *     PDU is read, so a client that sends a second request before our
 *     response (forbidden by Vol 3, Part F, 3.3.2) still gets one response
 *     per request, in order; nothing is dropped.
 *   - Unknown opcodes: a command (bit 6 set) is ignored, anything else gets
 *     Request Not Supported with handle 0x0000 (3.4.1.1). Signed Write
 *     Command is passed to the server, which ignores it (no CSRK support).
 *   - Timeout: the request or indication that timed out completes with
 *     UVBLE_ETIMEDOUT, every other pending or queued one with UVBLE_EIO;
 *     later sends return UVBLE_EIO. The link is not disconnected.
 *   - A queued PDU that cannot be handed to L2CAP yet (link queue full)
 *     stays queued and is retried shortly; callbacks never run inside the
 *     call that queued their request.
 *   - att_conn_closed runs after gattc_conn_closed and gatts_conn_closed
 *     (modules close in reverse order): callbacks completing with
 *     UVBLE_EDISCONNECTED (UVBLE_ECANCELED while uvble_close runs) find
 *     c->gattc already gone.
 *   - att_exchange_mtu: UVBLE_IRQ_MTU_EXCHANGED also follows an Error
 *     Response, a malformed response or a timeout (carrying the unchanged
 *     MTU), so an app waiting for it always hears back while the link is
 *     up. A peer's Exchange MTU Request is answered every time it comes
 *     (with our configured MTU), as NimBLE does; a Client Rx MTU below 23 is
 *     taken as 23.
 */
#ifndef UVBLE_ATT_H
#define UVBLE_ATT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvble/req.h"
#include "module.h"

/* init, stop, close, conn_open, conn_closed (core/module.h) */
UVBLE_MODULE_DECLARE(att);

struct ble_conn;

#define ATT_DEFAULT_MTU 23
#define ATT_MAX_MTU 517
#define ATT_TRANSACTION_TIMEOUT_MS 30000

/* Opcodes (Vol 3, Part F, 3.4.8). */
enum {
  ATT_ERROR_RSP = 0x01,
  ATT_EXCHANGE_MTU_REQ = 0x02,
  ATT_EXCHANGE_MTU_RSP = 0x03,
  ATT_FIND_INFO_REQ = 0x04,
  ATT_FIND_INFO_RSP = 0x05,
  ATT_FIND_BY_TYPE_VALUE_REQ = 0x06,
  ATT_FIND_BY_TYPE_VALUE_RSP = 0x07,
  ATT_READ_BY_TYPE_REQ = 0x08,
  ATT_READ_BY_TYPE_RSP = 0x09,
  ATT_READ_REQ = 0x0A,
  ATT_READ_RSP = 0x0B,
  ATT_READ_BLOB_REQ = 0x0C,
  ATT_READ_BLOB_RSP = 0x0D,
  ATT_READ_MULTIPLE_REQ = 0x0E,
  ATT_READ_MULTIPLE_RSP = 0x0F,
  ATT_READ_BY_GROUP_TYPE_REQ = 0x10,
  ATT_READ_BY_GROUP_TYPE_RSP = 0x11,
  ATT_WRITE_REQ = 0x12,
  ATT_WRITE_RSP = 0x13,
  ATT_PREPARE_WRITE_REQ = 0x16,
  ATT_PREPARE_WRITE_RSP = 0x17,
  ATT_EXECUTE_WRITE_REQ = 0x18,
  ATT_EXECUTE_WRITE_RSP = 0x19,
  ATT_HANDLE_VALUE_NTF = 0x1B,
  ATT_HANDLE_VALUE_IND = 0x1D,
  ATT_HANDLE_VALUE_CFM = 0x1E,
  ATT_READ_MULTIPLE_VARIABLE_REQ = 0x20,
  ATT_READ_MULTIPLE_VARIABLE_RSP = 0x21,
  ATT_MULTIPLE_HANDLE_VALUE_NTF = 0x23,
  ATT_WRITE_CMD = 0x52,
  ATT_SIGNED_WRITE_CMD = 0xD2,
};

/* Completion of a request or an indication.
 * err: 0 with the peer's response PDU in pdu/len (opcode first; it may be
 *      an Error Response: the caller decodes it), or UVBLE_ETIMEDOUT,
 *      UVBLE_EDISCONNECTED, UVBLE_ECANCELED with pdu NULL. */
typedef void (*att_rsp_cb)(uvble_t *ble, struct ble_conn *c, int err,
                           const uint8_t *pdu, size_t len, void *arg);

/* The bearer's current MTU (23 until an exchange completes). */
uint16_t att_mtu(const struct ble_conn *c);

/* Queues a request PDU (opcode first). Requests go out one at a time; cb
 * runs exactly once. Returns 0, UVBLE_EMSGSIZE (longer than the MTU),
 * UVBLE_ENOTCONN, UVBLE_EIO (bearer dead after a timeout) or UVBLE_ENOBUFS
 * (the per-connection request queue is full). */
int att_send_request(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                     size_t len, att_rsp_cb cb, void *arg);

/* Sends a PDU that expects no answer: a command, a notification, or (from
 * the server) a response. Returns 0, UVBLE_EMSGSIZE, UVBLE_ENOTCONN,
 * UVBLE_EIO (bearer dead after a timeout) or UVBLE_ENOBUFS (link transmit
 * queue full: retry later). */
int att_send_pdu(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                 size_t len);
/* The same for opcode + attribute handle + value (a notification, a write
 * command): the value goes from the caller's buffer straight into the
 * link's ACL packets, no PDU built in between. */
int att_send_value(uvble_t *ble, struct ble_conn *c, uint8_t opcode,
                   uint16_t handle, const void *value, size_t len);

/* Sends a Handle Value Indication; cb runs on the confirmation, timeout or
 * disconnect. One indication is outstanding at a time; later ones queue. */
int att_send_indication(uvble_t *ble, struct ble_conn *c, uint16_t handle,
                        const uint8_t *value, size_t len, att_rsp_cb cb,
                        void *arg);

/* Starts an MTU exchange with the preferred MTU from config. Both sides get
 * UVBLE_IRQ_MTU_EXCHANGED when it completes. Returns 0 or a negative error
 * (UVBLE_EALREADY if an exchange already ran on this bearer, started by
 * either side). */
int att_exchange_mtu(uvble_t *ble, struct ble_conn *c);
/* The same with a request (may be NULL) that takes the completion instead
 * of the irq handler: status 0 (or the ATT error of an Error Response, or
 * UVBLE_ETIMEDOUT / UVBLE_EIO / UVBLE_EDISCONNECTED / UVBLE_ECANCELED),
 * result.mtu. */
int att_exchange_mtu_req(uvble_t *ble, struct ble_conn *c, uvble_req_t *req);

/* ---- additions (att.c) ---- */
/* Sends an Error Response (Vol 3, Part F, 3.4.1.1) to the peer's request
 * req_op about handle. Same returns as att_send_pdu. */
int att_send_error(uvble_t *ble, struct ble_conn *c, uint8_t req_op,
                   uint16_t handle, uint8_t code);

/* True once the bearer's transaction timer expired: nothing more is sent or
 * received on it until the link drops (Vol 3, Part F, 3.3.3). False too
 * when the connection has no bearer. */
bool att_bearer_dead(const struct ble_conn *c);

/* The test build only (UVBLE_TEST_HOOKS): the transaction timeout of
 * bearers opened from now on (default ATT_TRANSACTION_TIMEOUT_MS). */
#ifdef UVBLE_TEST_HOOKS
void att_set_timeout_ms(uvble_t *ble, unsigned ms);
#endif

/* The bearer's slot for the GATT server's per-connection state (NULL when
 * the connection has no bearer); the bearer only holds it. */
struct gatts_conn;
struct gatts_conn **att_gatts_slot(struct ble_conn *c);

/* ---- registered by the layers above (ble/modules.c) ---- */
/* The GATT server: a request or command from the peer's client. The server
 * answers through att_send_pdu (response or Error Response) or stays
 * silent (commands). Without one, requests get Request Not Supported. */
typedef void (*att_server_fn)(uvble_t *ble, struct ble_conn *c,
                              const uint8_t *pdu, size_t len);
/* The GATT client: a Handle Value Notification or Indication from the
 * peer's server (the bearer has validated the length and will confirm an
 * indication). */
typedef void (*att_value_fn)(uvble_t *ble, struct ble_conn *c, bool indication,
                             uint16_t handle, const uint8_t *value,
                             size_t len);
void att_set_server(uvble_t *ble, att_server_fn fn);
void att_set_client(uvble_t *ble, att_value_fn fn);

#endif
