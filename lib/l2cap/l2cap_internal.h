/* SPDX-License-Identifier: Apache-2.0 */
/* L2CAP on LE: what the signalling channel (l2cap_signal.c) and the
 * credit-based channels (l2cap_coc.c) share. Private.
 *
 * State lives in three places:
 *   ble->l2cap           listeners, options, the RTX timer, counters
 *   conn->l2cap          per connection: its channels by local CID and the
 *                        signalling requests awaiting a response
 *   struct l2cap_chan    one credit-based channel
 */
#ifndef UVBLE_L2CAP_INTERNAL_H
#define UVBLE_L2CAP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "conn.h"
#include "l2cap.h"
#include "req.h"
#include "uvble/l2cap.h"

/* Signalling command codes on the LE signalling channel (Vol 3, Part A, 4). */
enum {
  L2SIG_COMMAND_REJECT = 0x01,
  L2SIG_DISCONN_REQ = 0x06,
  L2SIG_DISCONN_RSP = 0x07,
  L2SIG_CONN_PARAM_REQ = 0x12,
  L2SIG_CONN_PARAM_RSP = 0x13,
  L2SIG_LE_CREDIT_CONN_REQ = 0x14,
  L2SIG_LE_CREDIT_CONN_RSP = 0x15,
  L2SIG_FLOW_CONTROL_CREDIT = 0x16,
};

/* Command Reject reasons (Vol 3, Part A, 4.1). */
enum {
  L2SIG_REJ_NOT_UNDERSTOOD = 0x0000,
  L2SIG_REJ_MTU_EXCEEDED = 0x0001,
  L2SIG_REJ_INVALID_CID = 0x0002,
};

/* Our MTUsig on LE: the minimum, which every command we support fits. */
#define L2SIG_MTU 23
/* Requests of ours awaiting a response, per link. Each holds an identifier
 * (one octet, 0 invalid: Vol 3, Part A, 4); one is always left for the
 * commands that are no requests (credits), so picking one never fails. */
#define L2SIG_MAX_PENDING 254

#define L2CAP_CID_DYN_MIN 0x0040
#define L2CAP_CID_DYN_MAX 0x007F
#define L2CAP_NUM_DYN (L2CAP_CID_DYN_MAX - L2CAP_CID_DYN_MIN + 1)
#define L2CAP_MAX_CREDITS 65535u
#define L2CAP_MAX_MPS 65533u

#define L2CAP_DEFAULT_CREDITS 32
#define L2CAP_DEFAULT_TX_BUFFER (64 * 1024)
#define L2CAP_DEFAULT_RTX_MS 30000
/* The credit window is cut so that a channel's receive buffer stays below
 * this (one SDU of the largest MTU always fits). */
#define L2CAP_MAX_RX_BUFFER (16u * 1024 * 1024)

enum chan_state {
  CH_CONNECTING, /* our request is out, no response yet */
  CH_OPEN,
  CH_DISCONNECTING, /* our Disconnection Request is out */
};

/* A byte ring holding records [length (2, LE)][bytes]: SDUs, whole or (at
 * the receive side's tail) being reassembled. */
struct l2cap_ring {
  uint8_t *buf;
  size_t cap;
  size_t rd;   /* where the oldest byte is */
  size_t used; /* bytes held from rd on, partial record included */
};

struct l2cap_chan {
  struct ble_conn *conn;
  enum chan_state state;
  bool outgoing;
  bool close_on_connect; /* disconnect() while connecting */
  /* uvble_l2cap_connect_req: the request hears the outcome instead of the
   * irq handler, until the channel opens. req_cancelled: uvble_cancel took
   * it; the channel is closed when the peer answers and never announced. */
  uvble_req_t *req;
  bool req_cancelled;
  int close_status;      /* L2CAP_DISCONNECT status once closed */
  uint16_t psm;
  uint16_t lcid, rcid;
  uint16_t our_mtu, our_mps;
  uint16_t peer_mtu, peer_mps;

  /* receive: ring of SDU records; each credit we grant reserves `unit`
   * bytes, the most one K-frame can add to it (Vol 3, Part A, 10.1). */
  struct l2cap_ring rx;
  size_t rx_unit;
  uint32_t rx_window;  /* credits the peer may hold at once */
  uint32_t rx_credits; /* granted and not yet used by the peer */
  size_t rx_complete;  /* bytes from rx.rd on that are whole records */
  size_t rx_head_rem;  /* unread bytes of the SDU being read */
  bool rx_head_open;   /* its length prefix was consumed */
  bool rx_in_sdu;      /* a partial SDU sits at the ring's tail */
  size_t rx_sdu_len;   /* its length */
  size_t rx_sdu_rem;   /* bytes still due for it */
  size_t rx_unread;    /* SDU payload bytes complete and unread */

  /* transmit: ring of queued SDU records, segmented as credits allow */
  struct l2cap_ring tx;
  uint32_t tx_credits; /* granted by the peer, unused */
  size_t tx_sdu_rem;   /* bytes of the SDU being segmented not yet sent */
  bool tx_in_sdu;      /* its first K-frame went out */
  size_t tx_max_sdu;   /* largest SDU send() accepts */
  size_t tx_unqueued;  /* SDU payload bytes in tx (for the info call) */
  bool stalled;        /* send() returned 0: SEND_READY owed */
  bool tx_listed;      /* counted in the connection's tx_busy */
  bool credit_owed;    /* a Credit Indication could not be queued */
};

/* A signalling request of ours awaiting its response. */
struct l2cap_req {
  struct sq_node node; /* on l2cap_conn.reqs */
  uint8_t ident;
  uint8_t code; /* the request's code */
  uint64_t deadline;
  uint16_t lcid;                /* channel requests */
  l2cap_conn_param_cb param_cb; /* Connection Parameter Update */
  void *param_arg;
};

struct l2cap_conn {
  struct l2cap_chan *chans[L2CAP_NUM_DYN]; /* by local CID - 0x40 */
  unsigned nchans;
  unsigned hi;      /* chans[hi..] are all free */
  unsigned tx_busy; /* channels with data to segment */
  unsigned rr;      /* round-robin start among channels */
  struct sq reqs; /* l2cap_req awaiting a response, newest first; at most
                     L2SIG_MAX_PENDING */
  uint8_t next_ident;
  bool closing;   /* l2cap_conn_closed runs (c->l2cap is NULL already) */
  bool attention; /* a channel may be stalled or owe credits */
};

struct l2cap_listener {
  uint16_t psm;
  uint16_t mtu;
  int security; /* UVBLE_L2CAP_SEC_* */
};

struct l2cap_state {
  uvble_t *ble;
  l2cap_conn_param_fn conn_param_fn; /* GAP's (l2cap.h) */
  struct l2cap_listener *listeners;
  size_t nlisteners, listeners_cap;
  uint32_t opt_credits;
  uint16_t opt_mps;
  size_t opt_tx_buffer;
  unsigned rtx_ms;
  uv_timer_t rtx_timer;
  bool timer_open;
  uint64_t timer_due; /* 0: not armed */
  uvble_l2cap_stats_t stats;
};

/* ---- l2cap_signal.c ---- */
/* Sends a command that expects no response (a response with the request's
 * ident, or an indication with ident 0: a fresh one is picked).
 * A send never frees anything: a transport that fails fails the stack on
 * a later loop turn (ble_fail_later). */
int l2sig_send(uvble_t *ble, struct ble_conn *c, uint8_t code, uint8_t ident,
               const uint8_t *data, size_t len);
/* Sends a request and tracks it: fills req's ident and deadline and owns
 * req from then on (success) or not at all (error; UVBLE_ENOBUFS when
 * L2SIG_MAX_PENDING are pending). */
int l2sig_send_request(uvble_t *ble, struct ble_conn *c, struct l2cap_req *req,
                       const uint8_t *data, size_t len);
/* Sends Command Reject with the reason (and its data). */
void l2sig_reject(uvble_t *ble, struct ble_conn *c, uint8_t ident,
                  uint16_t reason, const uint8_t *data, size_t len);
/* Drops the pending requests of channel lcid (it is gone). */
void l2sig_forget_chan(struct l2cap_conn *lc, uint16_t lcid);

/* ---- l2cap_coc.c: signalling handlers (lengths already checked) ---- */
void coc_on_conn_req(uvble_t *ble, struct ble_conn *c, uint8_t ident,
                     const uint8_t *p);
void coc_on_conn_rsp(uvble_t *ble, struct ble_conn *c, struct l2cap_req *req,
                     const uint8_t *p);
void coc_on_credit(uvble_t *ble, struct ble_conn *c, const uint8_t *p);
void coc_on_disconn_req(uvble_t *ble, struct ble_conn *c, uint8_t ident,
                        const uint8_t *p);
/* Returns false when the CIDs are not those of req's channel. */
bool coc_on_disconn_rsp(uvble_t *ble, struct ble_conn *c, struct l2cap_req *req,
                        const uint8_t *p);
/* Our request for channel req->lcid failed: status is UVBLE_ETIMEDOUT or
 * UVBLE_ENOTSUP (Command Reject). req is already unlinked; caller frees. */
void coc_on_req_failed(uvble_t *ble, struct ble_conn *c, struct l2cap_req *req,
                       int status);
/* The link is gone: every channel closes with an L2CAP_DISCONNECT event;
 * lc is already detached from its connection (conn must not be touched
 * after an event: the handler may have closed the stack). */
void coc_conn_closed(uvble_t *ble, struct l2cap_conn *lc, uint16_t handle);

/* ---- l2cap_chan.c ---- */
/* Sends our Disconnection Request (Vol 3, Part A, 4.6): the channel drops
 * its queued data and waits for the response. 0 or a negative error (then
 * nothing changed). */
int chan_close(uvble_t *ble, struct ble_conn *c, struct l2cap_chan *ch,
               int status);
/* Frees the channel, then emits L2CAP_DISCONNECT with status. */
void chan_finish(uvble_t *ble, struct l2cap_conn *lc, uint16_t handle,
                 struct l2cap_chan *ch, int status);

/* ---- l2cap_coc.c ---- */
/* Fills the ACL queue from the channels, retries owed credits, then emits
 * SEND_READY to unstalled senders (whose handlers free nothing: c and its
 * channels stay). */
void coc_conn_service(uvble_t *ble, struct ble_conn *c);

static inline void set_busy(struct l2cap_conn *lc, struct l2cap_chan *ch,
                            bool on) {
  if (ch->tx_listed == on) return;
  ch->tx_listed = on;
  if (on)
    lc->tx_busy++;
  else
    lc->tx_busy--;
}

static inline struct l2cap_chan *chan_by_lcid(struct l2cap_conn *lc,
                                              uint16_t cid) {
  unsigned i = (unsigned)cid - L2CAP_CID_DYN_MIN;
  return i < L2CAP_NUM_DYN ? lc->chans[i] : NULL;
}

#endif
