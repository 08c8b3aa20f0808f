/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — requests: caller-owned handles for one-shot remote operations.
 *
 * Modelled on libuv's uv_req_t + uv_cancel() and BlueZ's bt_att_send() id +
 * bt_att_cancel(). An operation that ends in one completion (connect, a GATT
 * discovery, read, write with response, MTU exchange, L2CAP connect, pair,
 * disconnect, connection parameter update, PHY update, indication) has a
 * `_req` variant taking a request as its first argument:
 *
 *   uvble_req_t req;                        // caller-owned, caller-allocated
 *   uvble_req_init(&req, on_read_done, ctx);
 *   uvble_req_on_result(&req, on_value);    // optional: partial results
 *   int r = uvble_gattc_read_req(&req, ble, conn, handle);
 *   ...
 *   uvble_cancel(&req);                     // on_read_done(..,
 * UVBLE_ECANCELED)
 *
 * With a request the operation's events go to the request, never to the irq
 * handler: the intermediate ones (SERVICE_RESULT, CHARACTERISTIC_RESULT,
 * DESCRIPTOR_RESULT, READ_RESULT) to the result callback, the final one
 * (SERVICE_DONE, READ_DONE, WRITE_DONE, MTU_EXCHANGED, CENTRAL_CONNECT,
 * L2CAP_CONNECT, ENCRYPTION_UPDATE ...) as the completion callback's status
 * and result. A NULL request is the plain call: the same irq events as
 * without requests, in the same order (MicroPython's API is an adapter over
 * requests). Later events of what the operation created (a connection's
 * DISCONNECT, an L2CAP channel's RECV) still go to the irq handler.
 *
 * Rules (as in libuv):
 *  - The request's memory must stay valid, and it must not be started
 *    again, until its completion callback has run. The callback runs exactly
 *    once per started request, never inside the call that started it, and
 *    the request may be reused or freed from inside it.
 *  - A `_req` call that returns an error did not start the request: no
 *    callback will run.
 *  - Status: 0, a protocol code exactly as the peer or controller sent it
 *    (ATT error 1..255 for GATT operations, see uvble/gattc.h; L2CAP result
 *    for L2CAP connect; SMP reason for pairing; HCI status for connection
 *    parameter and PHY updates), or a negative UVBLE_E* code:
 *    UVBLE_ECANCELED (uvble_cancel, or the stack was closed),
 *    UVBLE_EDISCONNECTED (the link dropped), UVBLE_ETIMEDOUT.
 *  - result: the payload the completing irq event would have carried (the
 *    member named after that event), valid only during the callback; NULL
 *    when the request ended without one (uvble_cancel).
 */
#ifndef UVBLE_REQ_H
#define UVBLE_REQ_H

#include <stdint.h>
#include "uvble/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uvble uvble_t;
typedef union uvble_irq_data uvble_irq_data_t;
typedef struct uvble_req uvble_req_t;

typedef enum {
  UVBLE_REQ_NONE = 0,
  UVBLE_REQ_CONNECT,                  /* uvble_gap_connect_req */
  UVBLE_REQ_DISCOVER_SERVICES,        /* uvble_gattc_discover_services_req */
  UVBLE_REQ_DISCOVER_CHARACTERISTICS, /* ..._characteristics_req */
  UVBLE_REQ_DISCOVER_DESCRIPTORS,     /* ..._descriptors_req */
  UVBLE_REQ_READ,                     /* uvble_gattc_read_req */
  UVBLE_REQ_WRITE,                    /* uvble_gattc_write_req (mode 1) */
  UVBLE_REQ_EXCHANGE_MTU,             /* uvble_gattc_exchange_mtu_req */
  UVBLE_REQ_L2CAP_CONNECT,            /* uvble_l2cap_connect_req */
  UVBLE_REQ_PAIR,                     /* uvble_gap_pair_req */
  UVBLE_REQ_DISCONNECT,               /* uvble_gap_disconnect_req */
  UVBLE_REQ_CONN_PARAMS,              /* uvble_gap_update_conn_params_req */
  UVBLE_REQ_SET_PHY,                  /* uvble_gap_set_phy_req */
  UVBLE_REQ_INDICATE,                 /* uvble_gatts_indicate_req */
} uvble_req_type_t;

/* The completion: once per started request. */
typedef void (*uvble_req_cb)(uvble_req_t *req, int status,
                             const uvble_irq_data_t *result, void *arg);
/* An intermediate result (event: the irq code it stands for). */
typedef void (*uvble_req_result_cb)(uvble_req_t *req, int event,
                                    const uvble_irq_data_t *result, void *arg);

struct uvble_req {
  void *data;            /* the caller's; untouched by the stack */
  uvble_req_type_t type; /* read-only: what the request was started as */
  /* private */
  uvble_req_cb cb_;
  uvble_req_result_cb result_cb_;
  void *arg_;
  uvble_t *ble_;
  uvble_req_t *next_;
  void *op_;                        /* the layer's record of the operation */
  int (*cancel_)(uvble_req_t *req); /* the layer's detach */
  uint8_t state_;
};

/* Prepares req (zeroes it, keeps nothing else): cb (required) runs at
 * completion with arg. Call again before reusing a request with another
 * callback; reusing it unchanged after its completion needs no init. */
UVBLE_EXTERN void uvble_req_init(uvble_req_t *req, uvble_req_cb cb, void *arg);
/* Sets the callback for intermediate results (NULL: they are dropped). */
UVBLE_EXTERN void uvble_req_on_result(uvble_req_t *req, uvble_req_result_cb cb);
/* True from a successful start until the completion callback begins. */
UVBLE_EXTERN int uvble_req_active(const uvble_req_t *req);

/* Cancels a started request: it completes with UVBLE_ECANCELED on a later
 * loop iteration (never inside this call), and nothing more of the
 * operation reaches the request or the irq handler. Returns 0, or
 * UVBLE_EINVAL (NULL or never started) or UVBLE_EALREADY (already completed
 * or cancelled, or its completion is under way): then it can no longer be
 * cancelled and its callback runs (or ran) with its own status.
 *
 * What a cancel does on the air:
 *   GATT discover/read/write, MTU exchange: a request still queued behind
 *     others is dropped unsent. One the peer already has (ATT allows one
 *     outstanding request) still gets its response, which is swallowed and
 *     counted (uvble_stats_t.req_late_responses); the connection's next
 *     operation then goes out. A long write stopped between its Prepare
 *     Writes sends Execute Write with flags 0 so that the server discards
 *     what it queued. The MTU a late Exchange MTU Response settles is still
 *     used by the bearer.
 *   connect: HCI LE Create Connection Cancel; if the controller connected
 *     meanwhile, the new link is disconnected (reason 0x13). The request
 *     completes once the controller has ended the attempt, so the next
 *     connect may start from its callback.
 *   L2CAP connect: a connection response still on its way is awaited; a
 *     channel it opens is disconnected at once.
 *   pair: an ongoing pairing fails with SMP reason 0x08 (Unspecified
 *     Reason), sent on a later loop iteration; the peer gets Pairing
 *     Failed. An encryption with a stored key runs on; its outcome is
 *     swallowed.
 *   disconnect: the link still ends (a disconnect cannot be taken back);
 *     its DISCONNECT event reaches the irq handler as always.
 *   connection parameter / PHY update: the controller's procedure runs
 *     on; its outcome is swallowed and counted (the link listeners of
 *     uvble/gap.h still hear what changed).
 *   indication: it still goes out (taking it out of the bearer's queue
 *     would reorder what the client sees); its confirmation is swallowed
 *     and counted. */
UVBLE_EXTERN int uvble_cancel(uvble_req_t *req);

#ifdef __cplusplus
}
#endif
#endif
