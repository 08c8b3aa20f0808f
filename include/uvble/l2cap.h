/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — L2CAP LE credit-based connection-oriented channels.
 *
 * MicroPython's l2cap_* calls, without its limit of one channel: a device
 * listens on any number of SPSMs, and any number of channels (up to the 64
 * dynamic CIDs of each connection) run at once on one connection and across
 * connections. A channel is named by its connection handle and our local
 * CID, the `cid` of every event.
 *
 * Events (uvble.h):
 *   L2CAP_ACCEPT      (conn_handle, cid, psm, our_mtu, peer_mtu) on a peer's
 *                     request; a non-zero return rejects the channel with
 *                     that L2CAP result code (UVBLE_L2CAP_RESULT_*; a value
 *                     outside 1..0xFFFF rejects with NO_RESOURCES)
 *   L2CAP_CONNECT     (conn_handle, cid, psm, our_mtu, peer_mtu): open
 *   L2CAP_DISCONNECT  (conn_handle, cid, psm, status): the channel is gone.
 *                     status 0: closed by either side, or with its link;
 *                     for a failed uvble_l2cap_connect(): the peer's result
 *                     code (e.g. 0x0002 SPSM not supported),
 *                     UVBLE_ETIMEDOUT (no response), UVBLE_ENOTSUP (the
 *                     peer rejected the command), UVBLE_EDISCONNECTED (the
 *                     link dropped first); UVBLE_EPROTO when we closed the
 *                     channel because the peer broke the protocol.
 *   L2CAP_RECV        (conn_handle, cid): an SDU arrived; read it with
 *                     uvble_l2cap_recvinto()
 *   L2CAP_SEND_READY  (conn_handle, cid, status 0): after a send() that
 *                     returned 0, the channel can take more data
 *
 * Flow control is end to end: we grant the peer credits only for receive
 * buffer space the application has freed by reading, so a slow reader
 * stalls the sender and nothing is lost or reordered.
 */
#ifndef UVBLE_L2CAP_H
#define UVBLE_L2CAP_H

#include "uvble/uvble.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Result codes of the LE Credit Based Connection Response (Core Spec
 * Vol 3, Part A, 4.23). */
enum {
  UVBLE_L2CAP_RESULT_SUCCESS = 0x0000,
  UVBLE_L2CAP_RESULT_SPSM_NOT_SUPPORTED = 0x0002,
  UVBLE_L2CAP_RESULT_NO_RESOURCES = 0x0004,
  UVBLE_L2CAP_RESULT_INSUFFICIENT_AUTHENTICATION = 0x0005,
  UVBLE_L2CAP_RESULT_INSUFFICIENT_AUTHORIZATION = 0x0006,
  UVBLE_L2CAP_RESULT_INSUFFICIENT_KEY_SIZE = 0x0007,
  UVBLE_L2CAP_RESULT_INSUFFICIENT_ENCRYPTION = 0x0008,
  UVBLE_L2CAP_RESULT_INVALID_SCID = 0x0009,
  UVBLE_L2CAP_RESULT_SCID_IN_USE = 0x000A,
  UVBLE_L2CAP_RESULT_UNACCEPTABLE_PARAMS = 0x000B,
};

#define UVBLE_L2CAP_MIN_MTU 23 /* MTU and MPS minimum on LE */

/* Accepts channels on psm (an SPSM, 0x0001..0x00FF) with our MTU mtu
 * (23..65535). Returns 0, UVBLE_EINVAL, UVBLE_EALREADY (already listening
 * on psm) or UVBLE_ENOMEM. Listeners survive power cycles. */
UVBLE_EXTERN int uvble_l2cap_listen(uvble_t *ble, uint16_t psm, uint16_t mtu);
/* Link security a listener requires before it asks its ACCEPT handler
 * (Vol 3, Part C, 10.2): a request on a weaker link is refused with
 * INSUFFICIENT_AUTHENTICATION (link not encrypted and no bond to encrypt
 * with, or encrypted without MITM protection when AUTHENTICATED is asked)
 * or INSUFFICIENT_ENCRYPTION (bonded, but not encrypted yet), the results a
 * peer answers by pairing or encrypting and retrying. */
enum {
  UVBLE_L2CAP_SEC_NONE = 0,
  UVBLE_L2CAP_SEC_ENCRYPTED = 1,
  UVBLE_L2CAP_SEC_AUTHENTICATED = 2, /* encrypted with MITM protection */
};

/* uvble_l2cap_listen with a security requirement (UVBLE_L2CAP_SEC_*). */
UVBLE_EXTERN int uvble_l2cap_listen_secure(uvble_t *ble, uint16_t psm,
                                           uint16_t mtu, int security);

/* Stops accepting on psm (open channels stay). Returns 0 or UVBLE_ENOENT. */
UVBLE_EXTERN int uvble_l2cap_listen_stop(uvble_t *ble, uint16_t psm);

/* Opens a channel to psm on the peer. Returns our CID (> 0; the events
 * carry it) or a negative error: UVBLE_EINVAL (psm, mtu), UVBLE_ENOTCONN,
 * UVBLE_ENOSPC (all 64 dynamic CIDs in use), UVBLE_ENOMEM, UVBLE_ENOBUFS.
 * The outcome arrives as L2CAP_CONNECT or as L2CAP_DISCONNECT with a
 * non-zero status. */
UVBLE_EXTERN int uvble_l2cap_connect(uvble_t *ble, uint16_t conn_handle,
                                     uint16_t psm, uint16_t mtu);
/* The same with a request (uvble/req.h; NULL: the call above). The outcome
 * goes to req instead of the irq handler: status 0 with result->
 * l2cap_connect when the channel is open (its later RECV, SEND_READY and
 * DISCONNECT events go to the irq handler, as for any channel); otherwise
 * the status L2CAP_DISCONNECT would carry (the peer's result code, as
 * sent, or UVBLE_ETIMEDOUT, UVBLE_ENOTSUP, UVBLE_EPROTO,
 * UVBLE_EDISCONNECTED, UVBLE_ECANCELED when the stack closed or
 * uvble_l2cap_disconnect closed it first) with result->l2cap_disconnect.
 * uvble_cancel cannot withdraw the Connection Request: the peer's answer is
 * awaited (and counted in stats.req_late_responses), and a channel it
 * opens is disconnected at once, without any event. */
UVBLE_EXTERN int uvble_l2cap_connect_req(uvble_req_t *req, uvble_t *ble,
                                         uint16_t conn_handle, uint16_t psm,
                                         uint16_t mtu);

/* Closes the channel (Disconnection Request); L2CAP_DISCONNECT follows once
 * the peer answers or the response times out. Unread and unsent data is
 * dropped. On a channel still connecting, the channel is closed as soon as
 * the peer answers. Returns 0, UVBLE_ENOTCONN (no such channel) or
 * UVBLE_EALREADY (already closing). Safe from any callback, including one
 * about this channel (L2CAP_RECV, SEND_READY): the channel goes only with
 * its L2CAP_DISCONNECT event, never inside the call. */
UVBLE_EXTERN int uvble_l2cap_disconnect(uvble_t *ble, uint16_t conn_handle,
                                        uint16_t cid);

/* Queues one SDU (copied). Returns 1 when more may be sent now, 0 when the
 * channel's transmit buffer is filling up: the SDU is queued, and
 * L2CAP_SEND_READY tells when to send again. Errors: UVBLE_EINVAL (len 0,
 * len above the peer's MTU or above twice our MTU, as in MicroPython),
 * UVBLE_EAGAIN (no room for this SDU now; wait for SEND_READY),
 * UVBLE_ENOTCONN (no such open channel). */
UVBLE_EXTERN int uvble_l2cap_send(uvble_t *ble, uint16_t conn_handle,
                                  uint16_t cid, const void *buf, size_t len);

/* Copies up to cap bytes of the oldest unread SDU into buf and returns how
 * many (a read never spans two SDUs; a partly read SDU continues on the
 * next call). With buf NULL, returns the unread bytes of that SDU without
 * consuming them. 0: nothing received. UVBLE_ENOTCONN: no such channel.
 * Reading frees buffer space, which returns credits to the peer. */
UVBLE_EXTERN int uvble_l2cap_recvinto(uvble_t *ble, uint16_t conn_handle,
                                      uint16_t cid, void *buf, size_t cap);

/* ---- tuning: applies to channels created afterwards ---------------------- */
typedef enum {
  /* Receive credit window: credits the peer may hold at once (1..65535,
   * default 32). The receive buffer is this many K-frames (but at most
   * 16 MiB: a larger window is cut), and at least one whole SDU of our MTU
   * plus one K-frame. */
  UVBLE_L2CAP_OPT_CREDITS = 1,
  /* Our MPS: 0 (default) picks the controller's ACL data length minus the
   * 4-byte L2CAP header, so a K-frame travels in one ACL packet; else
   * 23..65533. */
  UVBLE_L2CAP_OPT_MPS,
  /* Bytes of SDUs (plus 2 per SDU) a channel queues before send() returns
   * 0 (4096..16777216, default 65536; at least two SDUs of the largest
   * size the channel accepts). */
  UVBLE_L2CAP_OPT_TX_BUFFER,
  /* Signalling response timeout (RTX) in ms, 1000..60000, default 30000. */
  UVBLE_L2CAP_OPT_TIMEOUT_MS,
} uvble_l2cap_opt_t;

UVBLE_EXTERN int uvble_l2cap_set_opt(uvble_t *ble, int opt, int value);
UVBLE_EXTERN int uvble_l2cap_get_opt(const uvble_t *ble, int opt, int *value);

/* ---- introspection --------------------------------------------------------
 */
typedef struct {
  uint16_t psm;
  uint16_t cid; /* ours */
  uint16_t peer_cid;
  uint16_t our_mtu, our_mps;
  uint16_t peer_mtu, peer_mps;
  bool open;           /* false while connecting or closing */
  uint32_t tx_credits; /* credits the peer granted us, unused */
  uint32_t rx_credits; /* credits we granted the peer, unused */
  size_t rx_buffer;    /* receive buffer size */
  size_t rx_unread;    /* SDU bytes received and not yet read */
  size_t tx_buffer;    /* transmit buffer size */
  size_t tx_queued;    /* SDU bytes queued, not yet handed to the link */
} uvble_l2cap_chan_info_t;

UVBLE_EXTERN int uvble_l2cap_chan_info(const uvble_t *ble, uint16_t conn_handle,
                                       uint16_t cid,
                                       uvble_l2cap_chan_info_t *out);

typedef struct {
  uint64_t sig_rx;           /* signalling commands received */
  uint64_t sig_malformed;    /* wrong lengths, identifier 0, too short */
  uint64_t sig_rejects_sent; /* Command Reject sent */
  uint64_t sig_rejects_received;
  uint64_t sig_unmatched_rsp; /* responses no request of ours awaited */
  uint64_t sig_timeouts;      /* our requests that got no response */
  uint64_t chan_opened;
  uint64_t chan_refused; /* incoming requests answered with an error */
  uint64_t tx_sdus, tx_kframes, tx_bytes; /* SDU payload bytes */
  uint64_t rx_sdus, rx_kframes, rx_bytes;
  uint64_t rx_empty_sdus;   /* zero-length SDUs, dropped */
  uint64_t credits_sent;    /* Flow Control Credit Indications sent */
  uint64_t credits_ignored; /* indications for unknown CIDs or 0 credits */
  /* Violations: each closed the channel (Vol 3, Part A, 10.1). */
  uint64_t viol_kframe_over_mps;
  uint64_t viol_sdu_over_mtu;    /* announced SDU length above our MTU */
  uint64_t viol_sdu_overrun;     /* K-frames carrying more than announced */
  uint64_t viol_no_credits;      /* a K-frame beyond the credits we granted */
  uint64_t viol_credit_overflow; /* credits pushed past 65535 */
  uint64_t viol_bad_kframe;      /* first K-frame without an SDU length */
  /* Sampled when the controller returns ACL buffers: how often a buffer
   * stayed free while a channel still had data queued (credit-starved or
   * the host too slow). */
  uint64_t acl_samples;
  uint64_t acl_idle_with_data;
} uvble_l2cap_stats_t;

UVBLE_EXTERN void uvble_l2cap_get_stats(const uvble_t *ble,
                                        uvble_l2cap_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
