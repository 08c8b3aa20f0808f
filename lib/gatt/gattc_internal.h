/* SPDX-License-Identifier: Apache-2.0 */
/* GATT client internals: the per-connection operation queue (gattc.c) and
 * the procedures that run on it (gattc_discover.c, gattc_rw.c). Private.
 *
 * Each connection has a FIFO of operations; only its head runs, and it has
 * at most one ATT request with the bearer at a time (the bearer serialises
 * requests anyway, and a procedure's next request depends on the previous
 * response). A procedure is four functions over a gattc_ctx:
 *   start     send the first request
 *   on_pdu    a response of the expected opcode arrived (length >= 1)
 *   on_error  an Error Response for our request arrived (status = its ATT
 *             error code), or the response was malformed (status =
 *             UVBLE_EPROTO, already counted)
 *   before_done  emit what precedes DONE (held-back result, read value)
 * Each returns GATTC_PENDING (another request is with the bearer),
 * GATTC_ABANDON (the link or the stack is ending after an irq: leave the
 * op queued, its teardown completes it) or a final status (0, an ATT error code, a
 * negative UVBLE_E* code) with which gattc.c completes the operation.
 *
 * Re-entrancy: irq handlers may call anything, including uvble_close() or
 * uvble_active(false); those end the link only once the dispatch unwinds
 * (ble_ref), so ctx->c, ctx->gc and the op stay valid throughout. What
 * the procedures check after anything that may call out (gattc_emit,
 * gattc_request) is whether to go on: the stack still usable and the link
 * still open.
 */
#ifndef UVBLE_GATTC_INTERNAL_H
#define UVBLE_GATTC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "att.h"
#include "conn.h"
#include "queue.h"
#include "req.h"
#include "uvble/gatt.h"
#include "uvble/gattc.h"
#include "module.h"

/* init, stop, close, conn_open, conn_closed (core/module.h) */
UVBLE_MODULE_DECLARE(gattc);

/* How soon a request the full link refused is tried again. */
#define GATTC_RETRY_MS 10

#define GATTC_PENDING 0x10000
#define GATTC_ABANDON 0x10001

enum gattc_kind {
  GATTC_OP_SERVICES = 0,  /* Read By Group Type on 0x2800 */
  GATTC_OP_SERVICES_UUID, /* Find By Type Value on 0x2800 */
  GATTC_OP_CHARACTERISTICS,
  GATTC_OP_DESCRIPTORS,
  GATTC_OP_READ,
  GATTC_OP_WRITE,
  GATTC_OP_KINDS
};

/* Long write stages. */
enum { GATTC_WR_SINGLE = 0, GATTC_WR_PREPARE, GATTC_WR_EXECUTE,
       GATTC_WR_CANCEL };

struct gattc_op {
  struct sq_node node; /* on gattc_conn.ops */
  struct gattc_conn *gc;
  uint8_t kind;
  /* Requests (uvble/req.h): the events go to req instead of the irq
   * handler. via_req stays set after a cancel (req NULL, cancelled): the
   * op then runs to its end silently; only irq-mode discoveries count
   * for the one-discovery rule. */
  uvble_req_t *req;
  bool via_req;
  bool cancelled;
  bool has_uuid;
  uvble_uuid_t uuid; /* filter (characteristics) or the service UUID */
  uint16_t next_handle; /* discoveries: lowest handle the next result may have */
  uint16_t end;         /* discoveries: end of the query range */
  uint16_t handle;      /* read / write: the value handle */
  bool range_done;      /* a result reached 0xFFFF */

  /* Characteristic discovery: the result held back until the next
   * declaration shows where it ends. */
  bool chr_held;
  uint16_t chr_value_handle;
  uint8_t chr_props;
  uvble_uuid_t chr_uuid;
  /* Strictness (Vol 3, Part G, 3.3.1, 3.3.2): the value handle of the last
   * declaration accepted (0: none yet), how many were rejected, and
   * whether the server ended the discovery (so the held-back result is
   * reported even when the rejections turn the status into EPROTO). */
  uint16_t chr_last_value;
  unsigned chr_rejected;
  bool chr_server_ended;

  /* Read: the value collected so far. Write: the value to write. */
  uint8_t *buf;
  size_t len;
  size_t off;        /* long write: bytes prepared; */
  size_t chunk;      /* long write: length of the part in flight */
  uint16_t req_mtu;  /* read: the MTU when the request went out */
  uint8_t stage;     /* write: GATTC_WR_* */
  int cancel_status; /* long write: status to report after cancelling */
};

struct gattc_conn {
  uint16_t conn_handle;
  struct sq ops; /* gattc_op, the head running; at most
                    UVBLE_GATTC_MAX_QUEUED */
  bool discovering;  /* a discovery is queued or running */
  bool inflight;     /* a request of ours is with the bearer */
  uint8_t req_opcode;
  bool kick_pending; /* the head must be started from the deferral timer */
  uint8_t *retry_pdu; /* a request the full link refused, sent later */
  size_t retry_len;   /* 0: none */
  bool retry_due;     /* the timer should try it now */
};

struct gattc_ctx {
  uvble_t *ble;
  struct ble_conn *c;
  struct gattc_conn *gc;
  struct gattc_op *op;
};

struct gattc_proc {
  int done_event;
  int (*start)(struct gattc_ctx *x);
  int (*on_pdu)(struct gattc_ctx *x, const uint8_t *pdu, size_t len);
  int (*on_error)(struct gattc_ctx *x, int status);
  /* Returns false if an irq ended the link or the stack. */
  bool (*before_done)(struct gattc_ctx *x, int status);
};

extern const struct gattc_proc gattc_proc_services;
extern const struct gattc_proc gattc_proc_services_uuid;
extern const struct gattc_proc gattc_proc_characteristics;
extern const struct gattc_proc gattc_proc_descriptors;
extern const struct gattc_proc gattc_proc_read;
extern const struct gattc_proc gattc_proc_write;

/* gattc.c */
/* Sends a request for the running op. Returns GATTC_PENDING, GATTC_ABANDON
 * or the bearer's error. */
int gattc_request(struct gattc_ctx *x, const uint8_t *pdu, size_t len);
/* Hands a result to the op's request, or to the irq handler without one
 * (nothing after a cancel); false if that ended the link or the stack. */
bool gattc_emit(struct gattc_ctx *x, int event, const uvble_irq_data_t *d);
/* Counts a malformed response; returns UVBLE_EPROTO. */
int gattc_malformed(struct gattc_ctx *x);
/* Looks up the connection and its client state for a public call. */
int gattc_lookup(uvble_t *ble, uint16_t conn_handle, struct ble_conn **c,
                 struct gattc_conn **gc);
/* Allocates a zeroed op of kind with extra bytes of buffer. */
struct gattc_op *gattc_op_new(uint8_t kind, size_t buf_len);
void gattc_op_free(struct gattc_op *op);
/* Queues op (taking ownership) and starts it if the queue was idle; req
 * (may be NULL) takes its events, with type. Returns 0 or a negative
 * error (op freed, req not started, no event). */
int gattc_submit(uvble_t *ble, struct ble_conn *c, struct gattc_conn *gc,
                 struct gattc_op *op, uvble_req_t *req, uvble_req_type_t type);

/* Discovery result status: Attribute Not Found ends a discovery normally. */
/* A notification or indication from the peer's server (att_set_client). */
void gattc_on_value(uvble_t *ble, struct ble_conn *c, bool indication,
                    uint16_t handle, const uint8_t *value, size_t len);

static inline int gattc_disc_status(int status) {
  return status == UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND ? 0 : status;
}

#endif
