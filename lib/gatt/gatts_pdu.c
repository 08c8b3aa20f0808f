/* SPDX-License-Identifier: Apache-2.0 */
/* GATT server: the ATT requests and commands a peer's client sends (Vol 3,
 * Part F, 3.4), answered from the attribute database.
 *
 * Every handler checks the PDU's length first (Invalid PDU otherwise),
 * then handles (0x0000 or start > end: Invalid Handle naming the start
 * handle), then permissions in the order of uvble/gatts.h. Application
 * callbacks (READ_REQUEST, the write authorizer) may run in the middle of a
 * request; afterwards the handler checks that the connection is still there
 * and looks attributes up again by handle. */
#include <stdlib.h>
#include <string.h>

#include "att.h"
#include "conn.h"
#include "gatts_internal.h"
#include "pdu_reader.h"

/* Encryption keys shorter than this are refused (Vol 3, Part H, 2.3.4
 * allows 7..16 bytes). */
#define GATTS_MIN_KEY_SIZE 7

static void send_rsp(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                     size_t len) {
  if (att_send_pdu(ble, c, pdu, len) < 0) ble->stats.att_tx_dropped++;
}

static void send_err(uvble_t *ble, struct ble_conn *c, uint8_t op,
                     uint16_t handle, uint8_t code) {
  if (att_send_error(ble, c, op, handle, code) < 0)
    ble->stats.att_tx_dropped++;
}

/* Vol 3, Part C, 10.3: authentication first, then encryption, then the
 * key's size. */
static uint8_t check_security(const struct ble_conn *c, bool enc, bool auth) {
  if (!enc && !auth) return 0;
  if (auth && !c->authenticated)
    return UVBLE_ATT_ERR_INSUFFICIENT_AUTHENTICATION;
  if (!c->encrypted) return UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION;
  if (c->key_size < GATTS_MIN_KEY_SIZE)
    return UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION_KEY_SIZE;
  return 0;
}

uint8_t gatts_check_read(uvble_t *ble, struct ble_conn *c,
                         const struct gatts_attr *a) {
  (void)ble;
  switch (a->kind) {
    case GATTS_SERVICE:
    case GATTS_CHR_DECL:
    case GATTS_CEP:
    case GATTS_CCCD:
      return 0; /* declarations and configuration are public (Part G, 3) */
    default:
      break;
  }
  if (!(a->flags & UVBLE_FLAG_READ)) return UVBLE_ATT_ERR_READ_NOT_PERMITTED;
  return check_security(c, a->flags & UVBLE_FLAG_READ_ENCRYPTED,
                        a->flags & UVBLE_FLAG_READ_AUTHENTICATED);
}

uint8_t gatts_check_write(uvble_t *ble, struct ble_conn *c,
                          const struct gatts_attr *a) {
  (void)ble;
  switch (a->kind) {
    case GATTS_CCCD:
      /* Subscribing needs what reading the value needs. */
      return check_security(c, a->flags & UVBLE_FLAG_READ_ENCRYPTED,
                            a->flags & UVBLE_FLAG_READ_AUTHENTICATED);
    case GATTS_CHR_VALUE:
    case GATTS_DESC:
    case GATTS_DEVICE_NAME:
      break;
    default:
      return UVBLE_ATT_ERR_WRITE_NOT_PERMITTED;
  }
  if (!(a->flags & (UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_NO_RESPONSE)))
    return UVBLE_ATT_ERR_WRITE_NOT_PERMITTED;
  return check_security(c, a->flags & UVBLE_FLAG_WRITE_ENCRYPTED,
                        a->flags & UVBLE_FLAG_WRITE_AUTHENTICATED);
}

static bool app_attr(const struct gatts_attr *a) {
  return !a->internal && (a->kind == GATTS_CHR_VALUE || a->kind == GATTS_DESC);
}

/* A range request's handles (3.4.3.1 and the like). */
static bool range_ok(uvble_t *ble, struct ble_conn *c, uint8_t op,
                     uint16_t start, uint16_t end) {
  if (start != 0 && start <= end) return true;
  send_err(ble, c, op, start, UVBLE_ATT_ERR_INVALID_HANDLE);
  return false;
}

static uint16_t last_handle(uvble_t *ble, uint16_t end) {
  return end < ble->gatts->db.n ? end : ble->gatts->db.n;
}

/* A discovery request's opcode and handle range (3.4.3.1 and the like);
 * the reader is left at the fields that follow. */
static struct pdu_reader read_range(const uint8_t *p, size_t len,
                                    uint16_t *start, uint16_t *end) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  pdu_skip(&r, 1);
  *start = pdu_get_le16(&r);
  *end = pdu_get_le16(&r);
  return r;
}

/* The rest of the request is the attribute type, 2 or 16 bytes. */
static bool read_type(struct pdu_reader *r, uvble_uuid_t *out) {
  size_t n = pdu_left(r);
  return (n == 2 || n == 16) && pdu_get_uuid(r, n, out) && pdu_done(r);
}

/* Read checks plus the READ_REQUEST irq. Returns 0 or an ATT error, or -1
 * when the irq ended the link or the stack (gatts_conn_alive). *a is
 * looked up again: the database may be new. */
static int access_read(uvble_t *ble, struct ble_conn *c, uint16_t handle,
                       struct gatts_attr **a) {
  *a = gatts_attr(ble, handle);
  if (!*a) return UVBLE_ATT_ERR_INVALID_HANDLE;
  uint8_t e = gatts_check_read(ble, c, *a);
  if (e) return e;
  e = gatts_read_request(ble, c, *a);
  if (!gatts_conn_alive(ble, c)) return -1;
  *a = gatts_attr(ble, handle);
  if (!*a) return UVBLE_ATT_ERR_INVALID_HANDLE;
  return e;
}

/* ---- discovery ------------------------------------------------------------- */
static void find_info(uvble_t *ble, struct ble_conn *c, const uint8_t *p,
                      size_t len) {
  uint16_t start, end;
  struct pdu_reader r = read_range(p, len, &start, &end);
  if (!pdu_done(&r)) {
    send_err(ble, c, p[0], 0, UVBLE_ATT_ERR_INVALID_PDU);
    return;
  }
  if (!range_ok(ble, c, p[0], start, end)) return;
  uint8_t rsp[ATT_MAX_MTU];
  size_t mtu = att_mtu(c), off = 2;
  rsp[0] = ATT_FIND_INFO_RSP;
  for (uint32_t h = start; h <= last_handle(ble, end); h++) {
    const struct gatts_attr *a = gatts_attr(ble, (uint16_t)h);
    uint8_t fmt = a->type.type == 16 ? 1 : 2;
    size_t n = a->type.type / 8;
    if (off == 2) rsp[1] = fmt;
    if (fmt != rsp[1] || off + 2 + n > mtu) break;
    put_le16(rsp + off, (uint16_t)h);
    memcpy(rsp + off + 2, a->type.data, n);
    off += 2 + n;
  }
  if (off == 2)
    send_err(ble, c, p[0], start, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  else
    send_rsp(ble, c, rsp, off);
}

/* Find By Type Value compares values readable without asking anyone:
 * service UUIDs as UUIDs (so 16-bit and 128-bit forms match), other
 * values as bytes. */
static bool value_matches(uvble_t *ble, struct ble_conn *c,
                          const struct gatts_attr *a, const uint8_t *v,
                          size_t vlen) {
  if (a->kind == GATTS_SERVICE) {
    uvble_uuid_t want, have;
    return (vlen == 2 || vlen == 4 || vlen == 16) &&
           uvble_uuid_from_bytes(&want, v, vlen) == 0 &&
           uvble_uuid_from_bytes(&have, a->data, a->len) == 0 &&
           uvble_uuid_equal(&want, &have);
  }
  if (gatts_check_read(ble, c, a) != 0 ||
      (a->flags & UVBLE_FLAG_READ_AUTHORIZED))
    return false;
  uint8_t tmp[2];
  size_t n;
  const uint8_t *val = gatts_attr_value(ble, c, a, tmp, &n);
  return n == vlen && (n == 0 || memcmp(val, v, n) == 0);
}

static void find_by_type_value(uvble_t *ble, struct ble_conn *c,
                               const uint8_t *p, size_t len) {
  uint16_t start, end;
  struct pdu_reader r = read_range(p, len, &start, &end);
  uvble_uuid_t type = uvble_uuid16(pdu_get_le16(&r));
  size_t vlen;
  const uint8_t *value = pdu_get_rest(&r, &vlen);
  if (!pdu_ok(&r)) {
    send_err(ble, c, p[0], 0, UVBLE_ATT_ERR_INVALID_PDU);
    return;
  }
  if (!range_ok(ble, c, p[0], start, end)) return;
  uint8_t rsp[ATT_MAX_MTU];
  size_t mtu = att_mtu(c), off = 1;
  rsp[0] = ATT_FIND_BY_TYPE_VALUE_RSP;
  for (uint32_t h = start; h <= last_handle(ble, end); h++) {
    const struct gatts_attr *a = gatts_attr(ble, (uint16_t)h);
    if (!uvble_uuid_equal(&a->type, &type) ||
        !value_matches(ble, c, a, value, vlen))
      continue;
    if (off + 4 > mtu) break;
    uint16_t group_end = a->kind == GATTS_SERVICE ? a->group_end : (uint16_t)h;
    put_le16(rsp + off, (uint16_t)h);
    put_le16(rsp + off + 2, group_end);
    off += 4;
    if (a->kind == GATTS_SERVICE) h = group_end;
  }
  if (off == 1)
    send_err(ble, c, p[0], start, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  else
    send_rsp(ble, c, rsp, off);
}

static void read_by_type(uvble_t *ble, struct ble_conn *c, const uint8_t *p,
                         size_t len) {
  uvble_uuid_t type;
  uint16_t start, end;
  struct pdu_reader r = read_range(p, len, &start, &end);
  if (!read_type(&r, &type)) {
    send_err(ble, c, p[0], 0, UVBLE_ATT_ERR_INVALID_PDU);
    return;
  }
  if (!range_ok(ble, c, p[0], start, end)) return;
  uint8_t rsp[ATT_MAX_MTU];
  size_t mtu = att_mtu(c), off = 2;
  size_t maxv = mtu - 4 < 253 ? mtu - 4 : 253; /* Length is one octet */
  rsp[0] = ATT_READ_BY_TYPE_RSP;
  for (uint32_t h = start; ble->gatts && h <= last_handle(ble, end); h++) {
    struct gatts_attr *a = gatts_attr(ble, (uint16_t)h);
    if (!uvble_uuid_equal(&a->type, &type)) continue;
    int e = access_read(ble, c, (uint16_t)h, &a);
    if (e < 0) return;
    if (e) {
      /* An error only when the first match fails (3.4.4.1). */
      if (off == 2) {
        send_err(ble, c, p[0], (uint16_t)h, (uint8_t)e);
        return;
      }
      break;
    }
    uint8_t tmp[2];
    size_t n;
    const uint8_t *v = gatts_attr_value(ble, c, a, tmp, &n);
    if (n > maxv) n = maxv;
    if (off == 2) rsp[1] = (uint8_t)(2 + n);
    if (rsp[1] != 2 + n || off + 2 + n > mtu) break;
    put_le16(rsp + off, (uint16_t)h);
    if (n) memcpy(rsp + off + 2, v, n);
    off += 2 + n;
  }
  if (off == 2)
    send_err(ble, c, p[0], start, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  else
    send_rsp(ble, c, rsp, off);
}

static void read_by_group_type(uvble_t *ble, struct ble_conn *c,
                               const uint8_t *p, size_t len) {
  uvble_uuid_t type;
  uint16_t start, end;
  struct pdu_reader r = read_range(p, len, &start, &end);
  if (!read_type(&r, &type)) {
    send_err(ble, c, p[0], 0, UVBLE_ATT_ERR_INVALID_PDU);
    return;
  }
  if (!range_ok(ble, c, p[0], start, end)) return;
  uvble_uuid_t primary = uvble_uuid16(UVBLE_GATT_PRIMARY_SERVICE_UUID);
  uvble_uuid_t secondary = uvble_uuid16(UVBLE_GATT_SECONDARY_SERVICE_UUID);
  /* The grouping types are the two service declarations (Part G, 2.5.3);
   * uvble registers primary services only, so 0x2801 finds nothing. */
  if (!uvble_uuid_equal(&type, &primary) &&
      !uvble_uuid_equal(&type, &secondary)) {
    send_err(ble, c, p[0], start, UVBLE_ATT_ERR_UNSUPPORTED_GROUP_TYPE);
    return;
  }
  uint8_t rsp[ATT_MAX_MTU];
  size_t mtu = att_mtu(c), off = 2;
  rsp[0] = ATT_READ_BY_GROUP_TYPE_RSP;
  for (uint32_t h = start; h <= last_handle(ble, end); h++) {
    const struct gatts_attr *a = gatts_attr(ble, (uint16_t)h);
    if (a->kind != GATTS_SERVICE || !uvble_uuid_equal(&a->type, &type))
      continue;
    size_t n = a->len; /* 2 or 16: always fits MTU-6 */
    if (off == 2) rsp[1] = (uint8_t)(4 + n);
    if (rsp[1] != 4 + n || off + 4 + n > mtu) break;
    put_le16(rsp + off, (uint16_t)h);
    put_le16(rsp + off + 2, a->group_end);
    memcpy(rsp + off + 4, a->data, n);
    off += 4 + n;
    h = a->group_end;
  }
  if (off == 2)
    send_err(ble, c, p[0], start, UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND);
  else
    send_rsp(ble, c, rsp, off);
}

/* ---- reads ------------------------------------------------------------------- */
static void read_value(uvble_t *ble, struct ble_conn *c, const uint8_t *p,
                       size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  bool blob = pdu_get_u8(&r) == ATT_READ_BLOB_REQ;
  uint16_t handle = pdu_get_le16(&r);
  uint16_t offset = blob ? pdu_get_le16(&r) : 0;
  if (!pdu_done(&r)) {
    send_err(ble, c, p[0], 0, UVBLE_ATT_ERR_INVALID_PDU);
    return;
  }
  struct gatts_attr *a;
  int e = access_read(ble, c, handle, &a);
  if (e < 0) return;
  uint8_t tmp[2];
  size_t n = 0;
  const uint8_t *v = e ? NULL : gatts_attr_value(ble, c, a, tmp, &n);
  if (!e && offset > n) e = UVBLE_ATT_ERR_INVALID_OFFSET;
  if (e) {
    send_err(ble, c, p[0], handle, (uint8_t)e);
    return;
  }
  uint8_t rsp[ATT_MAX_MTU];
  size_t room = (size_t)att_mtu(c) - 1;
  n -= offset;
  if (n > room) n = room;
  rsp[0] = blob ? ATT_READ_BLOB_RSP : ATT_READ_RSP;
  if (n) memcpy(rsp + 1, v + offset, n);
  send_rsp(ble, c, rsp, 1 + n);
}

static void put_trunc(uint8_t *rsp, size_t *off, size_t max,
                      const uint8_t *src, size_t n) {
  size_t room = max - *off;
  if (n > room) n = room;
  if (n) memcpy(rsp + *off, src, n);
  *off += n;
}

/* Read Multiple (3.4.4.7) and Read Multiple Variable (3.4.4.11): every
 * handle must be readable; the response is cut at ATT_MTU-1 octets (for
 * the variable form, each Value Length gives the value's full length). */
static void read_multiple(uvble_t *ble, struct ble_conn *c, const uint8_t *p,
                          size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  bool var = pdu_get_u8(&r) == ATT_READ_MULTIPLE_VARIABLE_REQ;
  if (pdu_left(&r) < 4 || pdu_left(&r) % 2) { /* two handles or more */
    send_err(ble, c, p[0], 0, UVBLE_ATT_ERR_INVALID_PDU);
    return;
  }
  uint8_t rsp[ATT_MAX_MTU];
  size_t mtu = att_mtu(c), off = 1;
  rsp[0] = var ? ATT_READ_MULTIPLE_VARIABLE_RSP : ATT_READ_MULTIPLE_RSP;
  while (pdu_left(&r)) {
    uint16_t handle = pdu_get_le16(&r);
    struct gatts_attr *a;
    int e = access_read(ble, c, handle, &a);
    if (e < 0) return;
    if (e) {
      send_err(ble, c, p[0], handle, (uint8_t)e);
      return;
    }
    uint8_t tmp[2], vl[2];
    size_t n;
    const uint8_t *v = gatts_attr_value(ble, c, a, tmp, &n);
    if (var) {
      put_le16(vl, (uint16_t)n);
      put_trunc(rsp, &off, mtu, vl, 2);
    }
    put_trunc(rsp, &off, mtu, v, n);
  }
  send_rsp(ble, c, rsp, off);
}

/* ---- writes ------------------------------------------------------------------ */
/* Checks and applies a peer's write of a complete value. Returns 0, an ATT
 * error, or -1 when the authorizer ended the link or the stack. *notify:
 * the application hears of it (GATTS_WRITE). */
static int do_write(uvble_t *ble, struct ble_conn *c, uint16_t handle,
                    const uint8_t *data, size_t len, bool *notify) {
  *notify = false;
  struct gatts_attr *a = gatts_attr(ble, handle);
  if (!a) return UVBLE_ATT_ERR_INVALID_HANDLE;
  uint8_t e = gatts_check_write(ble, c, a);
  if (!e) e = gatts_db_check_remote(ble, a, data, len);
  if (e) return e;
  e = gatts_authorize_write(ble, c, a, data, len);
  if (!gatts_conn_alive(ble, c)) return -1;
  a = gatts_attr(ble, handle);
  if (!a) return UVBLE_ATT_ERR_INVALID_HANDLE;
  if (!e) e = gatts_db_check_remote(ble, a, data, len); /* db may be new */
  if (e) return e;
  gatts_db_remote_write(ble, c, a, data, len);
  *notify = app_attr(a);
  return 0;
}

static void write_value(uvble_t *ble, struct ble_conn *c, const uint8_t *p,
                        size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  bool cmd = pdu_get_u8(&r) == ATT_WRITE_CMD;
  uint16_t handle = pdu_get_le16(&r), conn_handle = c->handle;
  size_t vlen;
  const uint8_t *value = pdu_get_rest(&r, &vlen);
  if (!pdu_ok(&r)) {
    if (cmd)
      ble->stats.att_rx_malformed++;
    else
      send_err(ble, c, p[0], 0, UVBLE_ATT_ERR_INVALID_PDU);
    return;
  }
  bool notify;
  int e = do_write(ble, c, handle, value, vlen, &notify);
  if (e < 0) return;
  if (!cmd) {
    static const uint8_t ok = ATT_WRITE_RSP;
    if (e)
      send_err(ble, c, p[0], handle, (uint8_t)e);
    else
      send_rsp(ble, c, &ok, 1);
  }
  if (!e && notify) gatts_emit_write(ble, conn_handle, handle);
}

static void prepare_write(uvble_t *ble, struct ble_conn *c, const uint8_t *p,
                          size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  pdu_skip(&r, 1); /* opcode */
  uint16_t handle = pdu_get_le16(&r);
  uint16_t offset = pdu_get_le16(&r);
  size_t vlen;
  const uint8_t *value = pdu_get_rest(&r, &vlen);
  if (!pdu_ok(&r)) {
    send_err(ble, c, p[0], 0, UVBLE_ATT_ERR_INVALID_PDU);
    return;
  }
  const struct gatts_attr *a = gatts_attr(ble, handle);
  uint8_t e = a ? gatts_check_write(ble, c, a) : UVBLE_ATT_ERR_INVALID_HANDLE;
  struct gatts_conn *gc = gatts_conn_of(c);
  if (!e && !gc) e = UVBLE_ATT_ERR_INSUFFICIENT_RESOURCES;
  if (!e && !gc->prep) {
    gc->prep = calloc(1, sizeof *gc->prep);
    if (!gc->prep) e = UVBLE_ATT_ERR_INSUFFICIENT_RESOURCES;
  }
  if (!e && (gc->prep->n >= UVBLE_GATTS_PREPARE_MAX_ENTRIES ||
             gc->prep->bytes + vlen > UVBLE_GATTS_PREPARE_MAX_BYTES))
    e = UVBLE_ATT_ERR_PREPARE_QUEUE_FULL;
  if (e) {
    send_err(ble, c, p[0], handle, e);
    return;
  }
  struct gatts_prep_queue *q = gc->prep;
  struct gatts_prep *ent = &q->e[q->n++];
  ent->handle = handle;
  ent->offset = offset;
  ent->len = (uint16_t)vlen;
  ent->data_off = (uint16_t)q->bytes;
  if (vlen) memcpy(q->data + q->bytes, value, vlen);
  q->bytes += vlen;
  /* The response echoes the request (3.4.6.2). */
  uint8_t rsp[ATT_MAX_MTU];
  memcpy(rsp, p, len);
  rsp[0] = ATT_PREPARE_WRITE_RSP;
  send_rsp(ble, c, rsp, len);
}

/* The value the prepared writes to handle make: the current value up to
 * the first offset, then each part, which must follow the previous one
 * (as NimBLE requires). Returns 0 or the ATT error. */
static uint8_t assemble(uvble_t *ble, struct ble_conn *c,
                        const struct gatts_prep_queue *q, uint16_t handle,
                        uint8_t *out, size_t *out_len) {
  const struct gatts_attr *a = gatts_attr(ble, handle);
  if (!a) return UVBLE_ATT_ERR_INVALID_HANDLE;
  uint8_t tmp[2];
  size_t cur;
  const uint8_t *v = gatts_attr_value(ble, c, a, tmp, &cur);
  bool first = true;
  size_t end = 0;
  for (unsigned k = 0; k < q->n; k++) {
    const struct gatts_prep *e = &q->e[k];
    if (e->handle != handle) continue;
    if (first ? e->offset > cur : e->offset != end)
      return UVBLE_ATT_ERR_INVALID_OFFSET;
    if (first && e->offset) memcpy(out, v, e->offset);
    first = false;
    end = e->offset;
    if (end + e->len > UVBLE_GATT_MAX_ATTR_LEN)
      return UVBLE_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH;
    memcpy(out + end, q->data + e->data_off, e->len);
    end += e->len;
  }
  *out_len = end;
  return gatts_db_check_remote(ble, a, out, end);
}

static bool first_of_handle(const struct gatts_prep_queue *q, unsigned k) {
  for (unsigned j = 0; j < k; j++)
    if (q->e[j].handle == q->e[k].handle) return false;
  return true;
}

/* Validates every handle's assembled value, then asks the authorizer.
 * Returns 0, an ATT error (*bad: its handle) or -1 (connection gone). */
static int execute_check(uvble_t *ble, struct ble_conn *c,
                         const struct gatts_prep_queue *q, uint16_t *bad) {
  uint8_t val[UVBLE_GATT_MAX_ATTR_LEN];
  size_t n;
  for (unsigned k = 0; k < q->n; k++) {
    *bad = q->e[k].handle;
    if (!first_of_handle(q, k)) continue;
    uint8_t e = assemble(ble, c, q, q->e[k].handle, val, &n);
    if (e) return e;
  }
  uint32_t gen = ble->gatts->generation;
  for (unsigned k = 0; k < q->n; k++) {
    *bad = q->e[k].handle;
    if (!first_of_handle(q, k)) continue;
    if (assemble(ble, c, q, q->e[k].handle, val, &n) != 0)
      return UVBLE_ATT_ERR_UNLIKELY;
    uint8_t e = gatts_authorize_write(ble, c, gatts_attr(ble, *bad), val, n);
    if (!gatts_conn_alive(ble, c)) return -1;
    if (ble->gatts->generation != gen) return UVBLE_ATT_ERR_UNLIKELY;
    if (e) return e;
  }
  return 0;
}

static void execute_write(uvble_t *ble, struct ble_conn *c, const uint8_t *p,
                          size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  pdu_skip(&r, 1); /* opcode */
  uint8_t flags = pdu_get_u8(&r);
  if (!pdu_done(&r) || flags > 0x01) {
    send_err(ble, c, p[0], 0, UVBLE_ATT_ERR_INVALID_PDU);
    return;
  }
  struct gatts_conn *gc = gatts_conn_of(c);
  struct gatts_prep_queue *q = gc ? gc->prep : NULL;
  static const uint8_t ok = ATT_EXECUTE_WRITE_RSP;
  if (gc) gc->prep = NULL; /* the queue ends here, whatever happens */
  if (!q || flags == 0x00) {
    free(q);
    send_rsp(ble, c, &ok, 1);
    return;
  }
  uint16_t bad = 0, conn_handle = c->handle;
  int e = execute_check(ble, c, q, &bad);
  if (e) {
    if (e > 0) send_err(ble, c, p[0], bad, (uint8_t)e);
    free(q);
    return;
  }
  uint8_t val[UVBLE_GATT_MAX_ATTR_LEN];
  size_t n;
  for (unsigned k = 0; k < q->n; k++) {
    if (!first_of_handle(q, k)) continue;
    if (assemble(ble, c, q, q->e[k].handle, val, &n) == 0)
      gatts_db_remote_write(ble, c, gatts_attr(ble, q->e[k].handle), val, n);
  }
  send_rsp(ble, c, &ok, 1);
  for (unsigned k = 0; k < q->n; k++) {
    const struct gatts_attr *a = gatts_attr(ble, q->e[k].handle);
    if (!first_of_handle(q, k) || !a || !app_attr(a)) continue;
    gatts_emit_write(ble, conn_handle, q->e[k].handle);
    if (!gatts_conn_alive(ble, c)) break;
  }
  free(q);
}

void gatts_on_pdu(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                  size_t len) {
  if (!ble->gatts || len == 0) return;
  switch (pdu[0]) {
    case ATT_FIND_INFO_REQ:
      find_info(ble, c, pdu, len);
      break;
    case ATT_FIND_BY_TYPE_VALUE_REQ:
      find_by_type_value(ble, c, pdu, len);
      break;
    case ATT_READ_BY_TYPE_REQ:
      read_by_type(ble, c, pdu, len);
      break;
    case ATT_READ_BY_GROUP_TYPE_REQ:
      read_by_group_type(ble, c, pdu, len);
      break;
    case ATT_READ_REQ:
    case ATT_READ_BLOB_REQ:
      read_value(ble, c, pdu, len);
      break;
    case ATT_READ_MULTIPLE_REQ:
    case ATT_READ_MULTIPLE_VARIABLE_REQ:
      read_multiple(ble, c, pdu, len);
      break;
    case ATT_WRITE_REQ:
    case ATT_WRITE_CMD:
      write_value(ble, c, pdu, len);
      break;
    case ATT_PREPARE_WRITE_REQ:
      prepare_write(ble, c, pdu, len);
      break;
    case ATT_EXECUTE_WRITE_REQ:
      execute_write(ble, c, pdu, len);
      break;
    case ATT_SIGNED_WRITE_CMD:
      /* No CSRK support: a command cannot be refused, so it is dropped. */
      ble->stats.att_rx_unexpected++;
      break;
    default:
      if (!(pdu[0] & 0x40))
        send_err(ble, c, pdu[0], 0, UVBLE_ATT_ERR_REQUEST_NOT_SUPPORTED);
      break;
  }
  /* A bonded client's new CCCD values go to its bond once it has its
   * answer (Vol 3, Part G, 3.3.3.3: persistent across connections). */
  if (gatts_conn_alive(ble, c)) gatts_bond_flush(ble, c);
}
