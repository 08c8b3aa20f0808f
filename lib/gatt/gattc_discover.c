/* SPDX-License-Identifier: Apache-2.0 */
/* GATT client discovery procedures (Core Spec Vol 3, Part G, 4.4-4.7):
 * primary services (all, or by UUID), characteristics, descriptors.
 *
 * Every response is checked whole before any of it is reported: its
 * length, its element format, and handles that must lie in the range still
 * to be discovered (op->next_handle..op->end) and increase. Each page moves
 * next_handle past its last handle, so a discovery always makes progress,
 * and a server that repeats itself, goes backwards or answers handle 0 ends
 * it with UVBLE_EPROTO instead of making it loop.
 *
 * Characteristic declarations are held to Vol 3, Part G, 3.3.1 and 3.3.2:
 * the value right after the declaration, inside the service. One that is
 * not is skipped (never reported, so never read, searched for descriptors
 * or subscribed to), counted (uvble_stats_t.gattc_decl_rejected), and the
 * discovery goes on but ends with UVBLE_EPROTO: the server's database is
 * broken, and saying so is what BlueZ does (its discovery fails); the
 * valid characteristics are still reported. No request is ever built from
 * a handle outside the range the server declared. */
#include <string.h>

#include "gattc_internal.h"
#include "pdu_reader.h"

/* Moves past handle h: the next result must lie above it. */
static void advance(struct gattc_op *op, uint16_t h) {
  if (h == 0xFFFF)
    op->range_done = true;
  else
    op->next_handle = (uint16_t)(h + 1);
}

static bool exhausted(const struct gattc_op *op) {
  return op->range_done || op->next_handle > op->end;
}

static int disc_on_error(struct gattc_ctx *x, int status) {
  return gattc_disc_status(status);
}

/* A response's list of elen-byte elements from where r is: at least one,
 * and no partial one. */
static bool whole_elements(const struct pdu_reader *r, size_t elen) {
  size_t n = pdu_left(r);
  return pdu_ok(r) && elen && n && n % elen == 0;
}

/* A response's reader, past its opcode. */
static struct pdu_reader rsp_reader(const uint8_t *pdu, size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, pdu, len);
  pdu_skip(&r, 1);
  return r;
}

/* The handles of a page, in order, must increase within the range. */
struct handle_walk {
  uint32_t next; /* lowest acceptable handle */
  uint16_t end;
};

static bool walk_ok(struct handle_walk *w, uint16_t first, uint16_t last) {
  if (first == 0 || first < w->next || last < first || last > w->end)
    return false;
  w->next = (uint32_t)last + 1;
  return true;
}

static void service_result(uvble_irq_data_t *d, uint16_t conn, uint16_t start,
                           uint16_t end) {
  memset(d, 0, sizeof *d);
  d->service.conn_handle = conn;
  d->service.start_handle = start;
  d->service.end_handle = end;
}

/* ---- all primary services (4.4.1): Read By Group Type ----------------------- */
static int svc_start(struct gattc_ctx *x) {
  uint8_t pdu[7] = {ATT_READ_BY_GROUP_TYPE_REQ};
  put_le16(pdu + 1, x->op->next_handle);
  put_le16(pdu + 3, x->op->end);
  put_le16(pdu + 5, UVBLE_GATT_PRIMARY_SERVICE_UUID);
  return gattc_request(x, pdu, sizeof pdu);
}

/* Read By Group Type Response (Vol 3, Part F, 3.4.4.10): length, then
 * elements of start, end group handle, UUID: 6 (16-bit) or 20 (128-bit). */
static bool svc_page_valid(const struct gattc_op *op, struct pdu_reader r) {
  size_t elen = pdu_get_u8(&r);
  if ((elen != 6 && elen != 20) || !whole_elements(&r, elen)) return false;
  struct handle_walk w = {op->next_handle, op->end};
  while (pdu_left(&r)) {
    struct pdu_reader e = pdu_get_sub(&r, elen);
    uint16_t start = pdu_get_le16(&e), end = pdu_get_le16(&e);
    if (!walk_ok(&w, start, end)) return false;
  }
  return true;
}

static int svc_on_pdu(struct gattc_ctx *x, const uint8_t *pdu, size_t len) {
  struct pdu_reader r = rsp_reader(pdu, len);
  if (!svc_page_valid(x->op, r)) return gattc_malformed(x);
  size_t elen = pdu_get_u8(&r);
  while (pdu_left(&r)) {
    uvble_irq_data_t d;
    struct pdu_reader e = pdu_get_sub(&r, elen);
    uint16_t start = pdu_get_le16(&e), end = pdu_get_le16(&e);
    service_result(&d, x->gc->conn_handle, start, end);
    pdu_get_uuid(&e, elen - 4, &d.service.uuid);
    advance(x->op, end);
    if (!gattc_emit(x, UVBLE_IRQ_GATTC_SERVICE_RESULT, &d))
      return GATTC_ABANDON;
  }
  return exhausted(x->op) ? 0 : svc_start(x);
}

const struct gattc_proc gattc_proc_services = {
    UVBLE_IRQ_GATTC_SERVICE_DONE, svc_start, svc_on_pdu, disc_on_error, NULL};

/* ---- primary services by UUID (4.4.2): Find By Type Value --------------------- */
static int svcu_start(struct gattc_ctx *x) {
  /* The value is the UUID as stored in the declaration: 16-bit, or
   * 128-bit (a 32-bit UUID is never stored in a declaration). */
  uvble_uuid_t u = uvble_uuid_shrink(&x->op->uuid);
  if (u.type == 32) u = uvble_uuid_to128(&u);
  uint8_t pdu[7 + 16] = {ATT_FIND_BY_TYPE_VALUE_REQ};
  put_le16(pdu + 1, x->op->next_handle);
  put_le16(pdu + 3, x->op->end);
  put_le16(pdu + 5, UVBLE_GATT_PRIMARY_SERVICE_UUID);
  memcpy(pdu + 7, u.data, u.type / 8);
  return gattc_request(x, pdu, 7 + (size_t)u.type / 8);
}

/* Find By Type Value Response (3.4.3.4): found handle, group end handle. */
static int svcu_on_pdu(struct gattc_ctx *x, const uint8_t *pdu, size_t len) {
  const struct pdu_reader list = rsp_reader(pdu, len);
  if (!whole_elements(&list, 4)) return gattc_malformed(x);
  struct handle_walk w = {x->op->next_handle, x->op->end};
  struct pdu_reader r = list;
  while (pdu_left(&r)) {
    uint16_t start = pdu_get_le16(&r), end = pdu_get_le16(&r);
    if (!walk_ok(&w, start, end)) return gattc_malformed(x);
  }
  r = list;
  while (pdu_left(&r)) {
    uvble_irq_data_t d;
    uint16_t start = pdu_get_le16(&r), end = pdu_get_le16(&r);
    service_result(&d, x->gc->conn_handle, start, end);
    d.service.uuid = x->op->uuid;
    advance(x->op, end);
    if (!gattc_emit(x, UVBLE_IRQ_GATTC_SERVICE_RESULT, &d))
      return GATTC_ABANDON;
  }
  return exhausted(x->op) ? 0 : svcu_start(x);
}

const struct gattc_proc gattc_proc_services_uuid = {
    UVBLE_IRQ_GATTC_SERVICE_DONE, svcu_start, svcu_on_pdu, disc_on_error,
    NULL};

int uvble_gattc_discover_services_req(uvble_req_t *req, uvble_t *ble,
                                      uint16_t conn_handle,
                                      const uvble_uuid_t *uuid) {
  struct ble_conn *c;
  struct gattc_conn *gc;
  int r = gattc_lookup(ble, conn_handle, &c, &gc);
  if (r < 0) return r;
  if (uuid && uuid->type != 16 && uuid->type != 32 && uuid->type != 128)
    return UVBLE_EINVAL;
  struct gattc_op *op = gattc_op_new(
      uuid ? GATTC_OP_SERVICES_UUID : GATTC_OP_SERVICES, 0);
  if (!op) return UVBLE_ENOMEM;
  op->next_handle = 0x0001;
  op->end = 0xFFFF;
  if (uuid) {
    op->has_uuid = true;
    op->uuid = *uuid;
  }
  return gattc_submit(ble, c, gc, op, req, UVBLE_REQ_DISCOVER_SERVICES);
}

int uvble_gattc_discover_services(uvble_t *ble, uint16_t conn_handle,
                                  const uvble_uuid_t *uuid) {
  return uvble_gattc_discover_services_req(NULL, ble, conn_handle, uuid);
}

/* ---- characteristics (4.6.1): Read By Type on 0x2803 --------------------------- */
static int chr_start(struct gattc_ctx *x) {
  uint8_t pdu[7] = {ATT_READ_BY_TYPE_REQ};
  put_le16(pdu + 1, x->op->next_handle);
  put_le16(pdu + 3, x->op->end);
  put_le16(pdu + 5, UVBLE_GATT_CHARACTERISTIC_UUID);
  return gattc_request(x, pdu, sizeof pdu);
}

/* Read By Type Response (3.4.4.2) for declarations: length 7 (handle,
 * properties, value handle, 16-bit UUID) or 21 (128-bit UUID). The page is
 * malformed if its declaration handles leave the range or do not increase;
 * the value handles are checked one declaration at a time (chr_decl_ok). */
static bool chr_page_valid(const struct gattc_op *op, struct pdu_reader r) {
  size_t elen = pdu_get_u8(&r);
  if ((elen != 7 && elen != 21) || !whole_elements(&r, elen)) return false;
  struct handle_walk w = {op->next_handle, op->end};
  while (pdu_left(&r)) {
    struct pdu_reader e = pdu_get_sub(&r, elen);
    uint16_t decl = pdu_get_le16(&e);
    if (!walk_ok(&w, decl, decl)) return false;
  }
  return true;
}

/* A characteristic definition is its declaration, then at once its value
 * (Vol 3, Part G, 3.3.2: "shall exist immediately following"), inside its
 * service (3.3.1), whose range is the query's. */
static bool chr_decl_ok(const struct gattc_op *op, uint16_t decl,
                        uint16_t value) {
  return (uint32_t)decl + 1 == value && value <= op->end;
}

/* A declaration the client will not use: not reported, never read or
 * searched for descriptors; counted, and the discovery ends with
 * UVBLE_EPROTO once the server has no more. */
static void chr_reject(struct gattc_ctx *x) {
  x->op->chr_rejected++;
  x->ble->stats.gattc_decl_rejected++;
}

/* Reports the held-back characteristic, which ends at end. */
static bool chr_flush(struct gattc_ctx *x, uint16_t end) {
  if (!x->op->chr_held) return true;
  x->op->chr_held = false;
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.characteristic.conn_handle = x->gc->conn_handle;
  d.characteristic.end_handle = end;
  d.characteristic.value_handle = x->op->chr_value_handle;
  d.characteristic.properties = x->op->chr_props;
  d.characteristic.uuid = x->op->chr_uuid;
  return gattc_emit(x, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT, &d);
}

/* The server has no more: 0, or UVBLE_EPROTO if declarations were
 * rejected on the way. */
static int chr_end_status(struct gattc_ctx *x, int status) {
  x->op->chr_server_ended = true;
  return status == 0 && x->op->chr_rejected ? UVBLE_EPROTO : status;
}

static int chr_on_pdu(struct gattc_ctx *x, const uint8_t *pdu, size_t len) {
  struct pdu_reader r = rsp_reader(pdu, len);
  if (!chr_page_valid(x->op, r)) return gattc_malformed(x);
  struct gattc_op *op = x->op;
  size_t elen = pdu_get_u8(&r);
  while (pdu_left(&r)) {
    struct pdu_reader e = pdu_get_sub(&r, elen);
    uint16_t decl = pdu_get_le16(&e);
    uint8_t props = pdu_get_u8(&e);
    uint16_t value = pdu_get_le16(&e);
    /* A declaration where the last one put its value: that one had no
     * value attribute after all. */
    if (op->chr_last_value && decl == op->chr_last_value) {
      op->chr_last_value = 0;
      if (op->chr_held && op->chr_value_handle == decl) op->chr_held = false;
      chr_reject(x);
    }
    /* This declaration ends the previous characteristic (MicroPython's
     * end_handle: one before the next definition). */
    if (!chr_flush(x, (uint16_t)(decl - 1))) return GATTC_ABANDON;
    advance(op, decl);
    if (!chr_decl_ok(op, decl, value)) {
      chr_reject(x);
      continue;
    }
    op->chr_last_value = value;
    uvble_uuid_t u;
    pdu_get_uuid(&e, pdu_left(&e), &u);
    /* The filter applies to what is reported, after the end handles: a
     * skipped characteristic still ends the one before it. */
    if (!op->has_uuid || uvble_uuid_equal(&u, &op->uuid)) {
      op->chr_held = true;
      op->chr_props = props;
      op->chr_value_handle = value;
      op->chr_uuid = u;
    }
  }
  return exhausted(op) ? chr_end_status(x, 0) : chr_start(x);
}

static int chr_on_error(struct gattc_ctx *x, int status) {
  if (status < 0) return status; /* malformed: the stack ends it */
  return chr_end_status(x, gattc_disc_status(status));
}

/* The last characteristic ends at the end of the query. Reported when the
 * server ended the discovery (as MicroPython does, whatever its ATT error);
 * not when the stack did. */
static bool chr_before_done(struct gattc_ctx *x, int status) {
  if (status < 0 && !x->op->chr_server_ended) return true;
  return chr_flush(x, x->op->end);
}

const struct gattc_proc gattc_proc_characteristics = {
    UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, chr_start, chr_on_pdu, chr_on_error,
    chr_before_done};

int uvble_gattc_discover_characteristics_req(uvble_req_t *req, uvble_t *ble,
                                             uint16_t conn_handle,
                                             uint16_t start_handle,
                                             uint16_t end_handle,
                                             const uvble_uuid_t *uuid) {
  struct ble_conn *c;
  struct gattc_conn *gc;
  int r = gattc_lookup(ble, conn_handle, &c, &gc);
  if (r < 0) return r;
  if (start_handle == 0 || start_handle > end_handle) return UVBLE_EINVAL;
  if (uuid && uuid->type != 16 && uuid->type != 32 && uuid->type != 128)
    return UVBLE_EINVAL;
  struct gattc_op *op = gattc_op_new(GATTC_OP_CHARACTERISTICS, 0);
  if (!op) return UVBLE_ENOMEM;
  op->next_handle = start_handle;
  op->end = end_handle;
  if (uuid) {
    op->has_uuid = true;
    op->uuid = *uuid;
  }
  return gattc_submit(ble, c, gc, op, req,
                      UVBLE_REQ_DISCOVER_CHARACTERISTICS);
}

int uvble_gattc_discover_characteristics(uvble_t *ble, uint16_t conn_handle,
                                         uint16_t start_handle,
                                         uint16_t end_handle,
                                         const uvble_uuid_t *uuid) {
  return uvble_gattc_discover_characteristics_req(NULL, ble, conn_handle,
                                                  start_handle, end_handle,
                                                  uuid);
}

/* ---- descriptors (4.7.1): Find Information ---------------------------------------- */
static int dsc_start(struct gattc_ctx *x) {
  if (exhausted(x->op)) return 0; /* empty range: nothing to find */
  uint8_t pdu[5] = {ATT_FIND_INFO_REQ};
  put_le16(pdu + 1, x->op->next_handle);
  put_le16(pdu + 3, x->op->end);
  return gattc_request(x, pdu, sizeof pdu);
}

/* Find Information Response (3.4.3.2): format 1 (handle, 16-bit UUID) or 2
 * (handle, 128-bit UUID). */
static int dsc_on_pdu(struct gattc_ctx *x, const uint8_t *pdu, size_t len) {
  struct pdu_reader list = rsp_reader(pdu, len);
  uint8_t format = pdu_get_u8(&list);
  size_t elen = format == 1 ? 4 : format == 2 ? 18 : 0;
  if (!whole_elements(&list, elen)) return gattc_malformed(x);
  struct handle_walk w = {x->op->next_handle, x->op->end};
  struct pdu_reader r = list;
  while (pdu_left(&r)) {
    uint16_t h = pdu_get_le16(&r);
    pdu_skip(&r, elen - 2);
    if (!walk_ok(&w, h, h)) return gattc_malformed(x);
  }
  r = list;
  while (pdu_left(&r)) {
    uvble_irq_data_t d;
    memset(&d, 0, sizeof d);
    d.descriptor.conn_handle = x->gc->conn_handle;
    d.descriptor.dsc_handle = pdu_get_le16(&r);
    pdu_get_uuid(&r, elen - 2, &d.descriptor.uuid);
    advance(x->op, d.descriptor.dsc_handle);
    if (!gattc_emit(x, UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT, &d))
      return GATTC_ABANDON;
  }
  return dsc_start(x);
}

const struct gattc_proc gattc_proc_descriptors = {
    UVBLE_IRQ_GATTC_DESCRIPTOR_DONE, dsc_start, dsc_on_pdu, disc_on_error,
    NULL};

int uvble_gattc_discover_descriptors_req(uvble_req_t *req, uvble_t *ble,
                                         uint16_t conn_handle,
                                         uint16_t start_handle,
                                         uint16_t end_handle) {
  struct ble_conn *c;
  struct gattc_conn *gc;
  int r = gattc_lookup(ble, conn_handle, &c, &gc);
  if (r < 0) return r;
  if (end_handle == 0 || start_handle > end_handle) return UVBLE_EINVAL;
  struct gattc_op *op = gattc_op_new(GATTC_OP_DESCRIPTORS, 0);
  if (!op) return UVBLE_ENOMEM;
  /* MicroPython's (start, end]: the attribute at start (the characteristic
   * value) is not one of its descriptors. */
  if (start_handle == 0xFFFF)
    op->range_done = true;
  else
    op->next_handle = (uint16_t)(start_handle + 1);
  op->end = end_handle;
  return gattc_submit(ble, c, gc, op, req, UVBLE_REQ_DISCOVER_DESCRIPTORS);
}

int uvble_gattc_discover_descriptors(uvble_t *ble, uint16_t conn_handle,
                                     uint16_t start_handle,
                                     uint16_t end_handle) {
  return uvble_gattc_discover_descriptors_req(NULL, ble, conn_handle,
                                              start_handle, end_handle);
}
