/* SPDX-License-Identifier: Apache-2.0 */
/* GATT client reads and writes (Core Spec Vol 3, Part G, 4.8-4.9): Read with
 * Read Blob for long values, Write Request, Prepare/Execute Write for long
 * values, Write Command. */
#include <string.h>

#include "gattc_internal.h"
#include "pdu_reader.h"

#define MAX_VALUE UVBLE_GATT_MAX_ATTR_LEN

/* ---- read (4.8.1) and read long (4.8.3) ------------------------------------ */
enum { RD_FIRST = 0, RD_BLOB };

static int read_send(struct gattc_ctx *x) {
  uint8_t pdu[5];
  size_t n = 3;
  put_le16(pdu + 1, x->op->handle);
  if (x->op->stage == RD_FIRST) {
    pdu[0] = ATT_READ_REQ;
  } else {
    pdu[0] = ATT_READ_BLOB_REQ;
    put_le16(pdu + 3, (uint16_t)x->op->len);
    n = 5;
  }
  /* A response that fills the MTU of its request may have more behind
   * it; the peer may raise the MTU meanwhile (its own exchange), so the
   * MTU is taken when the request goes out. */
  x->op->req_mtu = att_mtu(x->c);
  return gattc_request(x, pdu, n);
}

static int read_start(struct gattc_ctx *x) {
  x->op->stage = RD_FIRST;
  x->op->len = 0;
  return read_send(x);
}

static int read_on_pdu(struct gattc_ctx *x, const uint8_t *pdu, size_t len) {
  struct gattc_op *op = x->op;
  struct pdu_reader r;
  pdu_reader_init(&r, pdu, len);
  pdu_skip(&r, 1); /* opcode */
  size_t n;
  const uint8_t *part = pdu_get_rest(&r, &n);
  size_t take = n < MAX_VALUE - op->len ? n : MAX_VALUE - op->len;
  if (take) memcpy(op->buf + op->len, part, take);
  op->len += take;
  /* Part shorter than MTU-1: that was the end of the value (4.8.3).
   * 512 bytes: the longest value there is (Vol 3, Part F, 3.2.9). */
  if (n + 1 < op->req_mtu || op->len >= MAX_VALUE) return 0;
  op->stage = RD_BLOB;
  return read_send(x);
}

static int read_on_error(struct gattc_ctx *x, int status) {
  /* A value exactly MTU-1 long looks long: the server then says it is not
   * (Attribute Not Long), or that the offset is its end (Invalid Offset). */
  if (x->op->stage == RD_BLOB &&
      (status == UVBLE_ATT_ERR_ATTRIBUTE_NOT_LONG ||
       status == UVBLE_ATT_ERR_INVALID_OFFSET))
    return 0;
  return status;
}

static bool read_before_done(struct gattc_ctx *x, int status) {
  if (status != 0) return true;
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.gattc_data.conn_handle = x->gc->conn_handle;
  d.gattc_data.value_handle = x->op->handle;
  d.gattc_data.data = x->op->buf;
  d.gattc_data.data_len = x->op->len;
  return gattc_emit(x, UVBLE_IRQ_GATTC_READ_RESULT, &d);
}

const struct gattc_proc gattc_proc_read = {UVBLE_IRQ_GATTC_READ_DONE,
                                           read_start, read_on_pdu,
                                           read_on_error, read_before_done};

int uvble_gattc_read_req(uvble_req_t *req, uvble_t *ble, uint16_t conn_handle,
                         uint16_t value_handle) {
  struct ble_conn *c;
  struct gattc_conn *gc;
  int r = gattc_lookup(ble, conn_handle, &c, &gc);
  if (r < 0) return r;
  if (value_handle == 0) return UVBLE_EINVAL;
  struct gattc_op *op = gattc_op_new(GATTC_OP_READ, MAX_VALUE);
  if (!op) return UVBLE_ENOMEM;
  op->handle = value_handle;
  return gattc_submit(ble, c, gc, op, req, UVBLE_REQ_READ);
}

int uvble_gattc_read(uvble_t *ble, uint16_t conn_handle,
                     uint16_t value_handle) {
  return uvble_gattc_read_req(NULL, ble, conn_handle, value_handle);
}

/* ---- write (4.9.3) and long write (4.9.4) --------------------------------------- */
static int write_single(struct gattc_ctx *x) {
  uint8_t pdu[ATT_MAX_MTU];
  pdu[0] = ATT_WRITE_REQ;
  put_le16(pdu + 1, x->op->handle);
  if (x->op->len) memcpy(pdu + 3, x->op->buf, x->op->len);
  return gattc_request(x, pdu, 3 + x->op->len);
}

static int prepare_next(struct gattc_ctx *x) {
  struct gattc_op *op = x->op;
  uint8_t pdu[ATT_MAX_MTU];
  size_t room = (size_t)att_mtu(x->c) - 5;
  op->chunk = op->len - op->off < room ? op->len - op->off : room;
  pdu[0] = ATT_PREPARE_WRITE_REQ;
  put_le16(pdu + 1, op->handle);
  put_le16(pdu + 3, (uint16_t)op->off);
  memcpy(pdu + 5, op->buf + op->off, op->chunk);
  return gattc_request(x, pdu, 5 + op->chunk);
}

static int execute(struct gattc_ctx *x, uint8_t flags) {
  uint8_t pdu[2] = {ATT_EXECUTE_WRITE_REQ, flags};
  return gattc_request(x, pdu, sizeof pdu);
}

/* Discards what the server queued, then reports status. */
static int cancel(struct gattc_ctx *x, int status) {
  x->op->stage = GATTC_WR_CANCEL;
  x->op->cancel_status = status;
  int r = execute(x, 0x00);
  /* If even the cancel cannot go out, report what went wrong first. */
  return r == GATTC_PENDING || r == GATTC_ABANDON ? r : status;
}

static int write_start(struct gattc_ctx *x) {
  if (x->op->len + 3 <= att_mtu(x->c)) {
    x->op->stage = GATTC_WR_SINGLE;
    return write_single(x);
  }
  x->op->stage = GATTC_WR_PREPARE;
  x->op->off = 0;
  return prepare_next(x);
}

/* Prepare Write Response (Vol 3, Part F, 3.4.6.2) echoes handle, offset
 * and part; a difference means the server queued something else. */
static bool prepare_echo_ok(const struct gattc_op *op, const uint8_t *pdu,
                            size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, pdu, len);
  pdu_skip(&r, 1); /* opcode */
  uint16_t handle = pdu_get_le16(&r), off = pdu_get_le16(&r);
  const uint8_t *part = pdu_get_bytes(&r, op->chunk);
  return pdu_done(&r) && handle == op->handle && off == op->off &&
         (op->chunk == 0 || memcmp(part, op->buf + op->off, op->chunk) == 0);
}

static int write_on_pdu(struct gattc_ctx *x, const uint8_t *pdu, size_t len) {
  struct gattc_op *op = x->op;
  switch (op->stage) {
    case GATTC_WR_PREPARE:
      if (!prepare_echo_ok(op, pdu, len))
        return cancel(x, gattc_malformed(x));
      op->off += op->chunk;
      if (op->off < op->len) return prepare_next(x);
      op->stage = GATTC_WR_EXECUTE;
      return execute(x, 0x01);
    case GATTC_WR_CANCEL:
      return op->cancel_status;
    default: /* Write Response, Execute Write Response: the opcode alone */
      return len == 1 ? 0 : gattc_malformed(x);
  }
}

static int write_on_error(struct gattc_ctx *x, int status) {
  struct gattc_op *op = x->op;
  switch (op->stage) {
    case GATTC_WR_PREPARE:
      /* A refused first part queued nothing; anything else may have. */
      if (op->off == 0 && status > 0) return status;
      return cancel(x, status);
    case GATTC_WR_CANCEL:
      return op->cancel_status;
    default:
      return status;
  }
}

const struct gattc_proc gattc_proc_write = {UVBLE_IRQ_GATTC_WRITE_DONE,
                                            write_start, write_on_pdu,
                                            write_on_error, NULL};

static int write_command(uvble_t *ble, struct ble_conn *c, uint16_t handle,
                         const void *data, size_t len) {
  if (len + 3 > att_mtu(c)) return UVBLE_EMSGSIZE;
  return att_send_value(ble, c, ATT_WRITE_CMD, handle, data, len);
}

int uvble_gattc_write_req(uvble_req_t *req, uvble_t *ble,
                          uint16_t conn_handle, uint16_t value_handle,
                          const void *data, size_t len, int mode) {
  struct ble_conn *c;
  struct gattc_conn *gc;
  int r = gattc_lookup(ble, conn_handle, &c, &gc);
  if (r < 0) return r;
  if (value_handle == 0 || (!data && len)) return UVBLE_EINVAL;
  /* A Write Command has no answer: nothing for a request to wait for. */
  if (mode == UVBLE_GATTC_WRITE_NO_RESPONSE)
    return req ? UVBLE_EINVAL : write_command(ble, c, value_handle, data, len);
  if (mode != UVBLE_GATTC_WRITE_WITH_RESPONSE) return UVBLE_EINVAL;
  if (len > MAX_VALUE) return UVBLE_EMSGSIZE;
  struct gattc_op *op = gattc_op_new(GATTC_OP_WRITE, len);
  if (!op) return UVBLE_ENOMEM;
  op->handle = value_handle;
  op->len = len;
  if (len) memcpy(op->buf, data, len);
  return gattc_submit(ble, c, gc, op, req, UVBLE_REQ_WRITE);
}

int uvble_gattc_write(uvble_t *ble, uint16_t conn_handle,
                      uint16_t value_handle, const void *data, size_t len,
                      int mode) {
  return uvble_gattc_write_req(NULL, ble, conn_handle, value_handle, data, len,
                               mode);
}
