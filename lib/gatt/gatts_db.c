/* SPDX-License-Identifier: Apache-2.0 */
/* GATT server: the attribute database (Vol 3, Part G, 3) and its value
 * buffers with MicroPython's and CircuitPython's rules. */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "gatts_internal.h"
#include "pdu_reader.h"

/* ATT carries 16- and 128-bit UUIDs only (Vol 3, Part F, 3.2.1): a 32-bit
 * UUID, or a 128-bit one that is not a base UUID, travels as 128 bits. */
static bool att_uuid(const uvble_uuid_t *u, uvble_uuid_t *out) {
  if (u->type != 16 && u->type != 32 && u->type != 128) return false;
  uvble_uuid_t s = uvble_uuid_shrink(u);
  *out = s.type == 16 ? s : uvble_uuid_to128(u);
  return true;
}

static size_t uuid_put(uint8_t *p, const uvble_uuid_t *u) {
  size_t n = u->type / 8;
  memcpy(p, u->data, n);
  return n;
}

struct builder {
  struct gatts_db *db;
  uint16_t next; /* next handle */
  uint16_t cccd;
  uint16_t *handles;
  size_t nhandles;
};

static struct gatts_attr *add(struct builder *b, uint8_t kind, uvble_uuid_t type,
                              uint16_t flags) {
  struct gatts_attr *a = &b->db->attrs[b->next - 1];
  memset(a, 0, sizeof *a);
  a->handle = b->next++;
  a->kind = kind;
  a->type = type;
  a->flags = flags;
  return a;
}

/* Gives a an allocated buffer of cap bytes holding len bytes of init. */
static bool store(struct gatts_attr *a, const uint8_t *init, uint16_t len,
                  uint16_t cap) {
  a->data = calloc(1, cap ? cap : 1);
  if (!a->data) return false;
  if (len) memcpy(a->data, init, len);
  a->len = len;
  a->cap = cap;
  return true;
}

static struct gatts_attr *add_service(struct builder *b,
                                      const uvble_uuid_t *uuid) {
  struct gatts_attr *a = add(b, GATTS_SERVICE,
                             uvble_uuid16(UVBLE_GATT_PRIMARY_SERVICE_UUID),
                             UVBLE_FLAG_READ);
  uint8_t v[16];
  return store(a, v, (uint16_t)uuid_put(v, uuid), uuid->type / 8) ? a : NULL;
}

/* Declaration, value, then the automatic descriptors. Returns the value. */
static struct gatts_attr *add_chr(struct builder *b, const uvble_uuid_t *uuid,
                                  uint16_t flags, uint16_t max_len,
                                  bool fixed) {
  bool cep = flags & UVBLE_FLAG_AUX_WRITE;
  uint8_t v[19];
  v[0] = (uint8_t)((flags & 0x7f) | (cep ? 0x80 : 0));
  put_le16(v + 1, (uint16_t)(b->next + 1));
  size_t n = 3 + uuid_put(v + 3, uuid);
  struct gatts_attr *d = add(b, GATTS_CHR_DECL,
                             uvble_uuid16(UVBLE_GATT_CHARACTERISTIC_UUID),
                             UVBLE_FLAG_READ);
  d->value_handle = b->next;
  if (!store(d, v, (uint16_t)n, (uint16_t)n)) return NULL;
  struct gatts_attr *val = add(b, GATTS_CHR_VALUE, *uuid, flags);
  val->max_len = max_len;
  val->fixed_len = fixed;
  static const uint8_t zeros[UVBLE_GATT_MAX_ATTR_LEN];
  if (!store(val, zeros, fixed ? max_len : 0,
             max_len ? max_len : UVBLE_GATTS_DEFAULT_BUFFER))
    return NULL;
  if (flags & (UVBLE_FLAG_NOTIFY | UVBLE_FLAG_INDICATE)) {
    struct gatts_attr *c = add(b, GATTS_CCCD,
                               uvble_uuid16(UVBLE_GATT_CCCD_UUID), flags);
    c->value_handle = val->handle;
    c->cccd = b->cccd;
    b->db->cccd_value[b->cccd] = val->handle;
    val->cccd = (uint16_t)(++b->cccd);
  }
  if (cep) {
    struct gatts_attr *e = add(b, GATTS_CEP, uvble_uuid16(UVBLE_GATT_CEP_UUID),
                               UVBLE_FLAG_READ);
    e->value_handle = val->handle;
    uint8_t ep[2] = {0x02, 0x00}; /* Writable Auxiliaries */
    if (!store(e, ep, 2, 2)) return NULL;
  }
  return val;
}

static int add_fixed(struct builder *b, const struct gatts_state *st) {
  uvble_uuid_t gap = uvble_uuid16(UVBLE_GATT_GAP_SERVICE_UUID);
  uvble_uuid_t gatt = uvble_uuid16(UVBLE_GATT_GATT_SERVICE_UUID);
  uvble_uuid_t name = uvble_uuid16(UVBLE_GATT_DEVICE_NAME_UUID);
  uvble_uuid_t appearance = uvble_uuid16(UVBLE_GATT_APPEARANCE_UUID);
  uvble_uuid_t sc = uvble_uuid16(UVBLE_GATT_SERVICE_CHANGED_UUID);
  uint16_t name_flags =
      UVBLE_FLAG_READ | (st->name_writable ? UVBLE_FLAG_WRITE : 0);
  struct gatts_attr *s1 = add_service(b, &gap);
  struct gatts_attr *v = s1 ? add_chr(b, &name, name_flags, 0, false) : NULL;
  if (!v) return UVBLE_ENOMEM;
  /* The name lives in ble->cfg; the value attribute stores nothing. */
  free(v->data);
  v->data = NULL;
  v->cap = 0;
  v->kind = GATTS_DEVICE_NAME;
  v = add_chr(b, &appearance, UVBLE_FLAG_READ, 2, true);
  if (!v) return UVBLE_ENOMEM;
  put_le16(v->data, st->appearance);
  s1->group_end = v->handle;
  struct gatts_attr *s2 = add_service(b, &gatt);
  v = s2 ? add_chr(b, &sc, UVBLE_FLAG_INDICATE, 4, true) : NULL;
  if (!v) return UVBLE_ENOMEM;
  put_le16(v->data, UVBLE_GATTS_FIRST_USER_HANDLE);
  put_le16(v->data + 2, 0xffff);
  s2->group_end = (uint16_t)(b->next - 1);
  for (uint16_t h = 1; h < b->next; h++) b->db->attrs[h - 1].internal = true;
  return 0;
}

static bool value_opts_ok(uint16_t max_len, bool fixed) {
  return max_len <= UVBLE_GATT_MAX_ATTR_LEN && (!fixed || max_len > 0);
}

/* Validates the definition and counts attributes, CCCDs and handles. */
static int measure(const uvble_gatts_service_t *services, size_t n,
                   size_t *nattrs, size_t *ncccd, size_t *nhandles) {
  size_t attrs = GATTS_FIXED_ATTRS, cccd = GATTS_FIXED_CCCDS, handles = 0;
  uvble_uuid_t u;
  if (n && !services) return UVBLE_EINVAL;
  for (size_t i = 0; i < n; i++) {
    const uvble_gatts_service_t *s = &services[i];
    if (!att_uuid(&s->uuid, &u)) return UVBLE_EINVAL;
    if (s->num_characteristics && !s->characteristics) return UVBLE_EINVAL;
    attrs++;
    for (size_t j = 0; j < s->num_characteristics; j++) {
      const uvble_gatts_characteristic_t *ch = &s->characteristics[j];
      if (!att_uuid(&ch->uuid, &u) ||
          !value_opts_ok(ch->max_length, ch->fixed_length) ||
          (ch->num_descriptors && !ch->descriptors))
        return UVBLE_EINVAL;
      attrs += 2 + ch->num_descriptors;
      if (ch->flags & (UVBLE_FLAG_NOTIFY | UVBLE_FLAG_INDICATE)) {
        attrs++;
        cccd++;
      }
      if (ch->flags & UVBLE_FLAG_AUX_WRITE) attrs++;
      handles += 1 + ch->num_descriptors;
      for (size_t k = 0; k < ch->num_descriptors; k++) {
        const uvble_gatts_descriptor_t *d = &ch->descriptors[k];
        if (!att_uuid(&d->uuid, &u) ||
            !value_opts_ok(d->max_length, d->fixed_length))
          return UVBLE_EINVAL;
      }
      if (attrs > 0xffff) return UVBLE_ERANGE;
    }
    if (attrs > 0xffff) return UVBLE_ERANGE;
  }
  *nattrs = attrs;
  *ncccd = cccd;
  *nhandles = handles;
  return 0;
}

static int add_user(struct builder *b, const uvble_gatts_service_t *s) {
  uvble_uuid_t u;
  att_uuid(&s->uuid, &u);
  struct gatts_attr *svc = add_service(b, &u);
  if (!svc) return UVBLE_ENOMEM;
  for (size_t j = 0; j < s->num_characteristics; j++) {
    const uvble_gatts_characteristic_t *ch = &s->characteristics[j];
    att_uuid(&ch->uuid, &u);
    struct gatts_attr *v = add_chr(b, &u, ch->flags, ch->max_length,
                                   ch->fixed_length);
    if (!v) return UVBLE_ENOMEM;
    b->handles[b->nhandles++] = v->handle;
    for (size_t k = 0; k < ch->num_descriptors; k++) {
      const uvble_gatts_descriptor_t *dd = &ch->descriptors[k];
      att_uuid(&dd->uuid, &u);
      struct gatts_attr *d = add(b, GATTS_DESC, u, dd->flags);
      d->value_handle = v->handle;
      d->max_len = dd->max_length;
      d->fixed_len = dd->fixed_length;
      static const uint8_t zeros[UVBLE_GATT_MAX_ATTR_LEN];
      if (!store(d, zeros, d->fixed_len ? d->max_len : 0,
                 d->max_len ? d->max_len : UVBLE_GATTS_DEFAULT_BUFFER))
        return UVBLE_ENOMEM;
      b->handles[b->nhandles++] = d->handle;
    }
  }
  svc->group_end = (uint16_t)(b->next - 1);
  return 0;
}

int gatts_db_build(struct gatts_db *db, const struct gatts_state *st,
                   const uvble_gatts_service_t *services, size_t n,
                   uint16_t *handles, size_t handles_cap, size_t *nhandles) {
  size_t nattrs, ncccd, nh;
  memset(db, 0, sizeof *db);
  int r = measure(services, n, &nattrs, &ncccd, &nh);
  if (r < 0) return r;
  if (nh > handles_cap || (nh && !handles)) return UVBLE_ENOSPC;
  db->attrs = calloc(nattrs, sizeof *db->attrs);
  db->cccd_value = calloc(ncccd, sizeof *db->cccd_value);
  if (!db->attrs || !db->cccd_value) {
    gatts_db_free(db);
    return UVBLE_ENOMEM;
  }
  struct builder b = {db, 1, 0, handles, 0};
  r = add_fixed(&b, st);
  for (size_t i = 0; r == 0 && i < n; i++) r = add_user(&b, &services[i]);
  /* Every slot up to b.next was initialised; free what was stored. */
  db->n = (uint16_t)(b.next - 1);
  db->n_cccd = b.cccd;
  if (r < 0) {
    gatts_db_free(db);
    return r;
  }
  *nhandles = b.nhandles;
  return 0;
}

void gatts_db_free(struct gatts_db *db) {
  for (uint16_t i = 0; db->attrs && i < db->n; i++) free(db->attrs[i].data);
  free(db->attrs);
  free(db->cccd_value);
  memset(db, 0, sizeof *db);
}

struct gatts_attr *gatts_attr(uvble_t *ble, uint16_t handle) {
  if (!ble->gatts || handle == 0 || handle > ble->gatts->db.n) return NULL;
  return &ble->gatts->db.attrs[handle - 1];
}

struct gatts_attr *gatts_value_attr(uvble_t *ble, uint16_t handle) {
  struct gatts_attr *a = gatts_attr(ble, handle);
  if (!a || a->internal) return NULL;
  return a->kind == GATTS_CHR_VALUE || a->kind == GATTS_DESC ? a : NULL;
}

const uint8_t *gatts_attr_value(uvble_t *ble, struct ble_conn *c,
                                const struct gatts_attr *a, uint8_t tmp[2],
                                size_t *len) {
  if (a->kind == GATTS_CCCD) {
    struct gatts_conn *gc = c ? gatts_conn_of(c) : NULL;
    uint16_t v = gc && a->cccd < gc->n_cccd ? gc->cccd[a->cccd] : 0;
    put_le16(tmp, v);
    *len = 2;
    return tmp;
  }
  if (a->kind == GATTS_DEVICE_NAME) {
    *len = ble->cfg.gap_name_len;
    return ble->cfg.gap_name;
  }
  *len = a->len;
  return a->data;
}

int gatts_db_local_write(struct gatts_attr *a, const uint8_t *data,
                         size_t len) {
  if (len > UVBLE_GATT_MAX_ATTR_LEN) return UVBLE_EMSGSIZE;
  if (a->max_len && (len > a->max_len || (a->fixed_len && len != a->max_len)))
    return UVBLE_EINVAL;
  if (len > a->cap) {
    /* MicroPython grows the buffer on a local write. */
    uint8_t *p = realloc(a->data, len);
    if (!p) return UVBLE_ENOMEM;
    a->data = p;
    a->cap = (uint16_t)len;
  }
  if (len) memcpy(a->data, data, len);
  a->len = (uint16_t)len;
  return 0;
}

uint8_t gatts_db_check_remote(uvble_t *ble, const struct gatts_attr *a,
                              const uint8_t *data, size_t len) {
  (void)ble;
  switch (a->kind) {
    case GATTS_CCCD: {
      struct pdu_reader r;
      pdu_reader_init(&r, data, len);
      uint16_t bits = pdu_get_le16(&r);
      if (!pdu_done(&r)) return UVBLE_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH;
      uint16_t allowed = (a->flags & UVBLE_FLAG_NOTIFY ? UVBLE_CCCD_NOTIFY : 0) |
                         (a->flags & UVBLE_FLAG_INDICATE ? UVBLE_CCCD_INDICATE : 0);
      /* Bits the characteristic cannot honour (BlueZ answers the same). */
      if (bits & ~allowed)
        return UVBLE_ATT_ERR_CCCD_IMPROPERLY_CONFIGURED;
      return 0;
    }
    case GATTS_DEVICE_NAME:
      return len > UVBLE_GAP_NAME_MAX
                 ? UVBLE_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH
                 : 0;
    case GATTS_CHR_VALUE:
    case GATTS_DESC:
      if (len > UVBLE_GATT_MAX_ATTR_LEN ||
          (a->max_len &&
           (len > a->max_len || (a->fixed_len && len != a->max_len))))
        return UVBLE_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH;
      return 0;
    default:
      return UVBLE_ATT_ERR_WRITE_NOT_PERMITTED;
  }
}

void gatts_db_remote_write(uvble_t *ble, struct ble_conn *c,
                           struct gatts_attr *a, const uint8_t *data,
                           size_t len) {
  if (a->kind == GATTS_CCCD) {
    struct gatts_conn *gc = gatts_conn_of(c);
    if (!gc || a->cccd >= gc->n_cccd) return;
    struct pdu_reader r; /* 2 bytes: gatts_db_check_remote said so */
    pdu_reader_init(&r, data, len);
    uint16_t v = pdu_get_le16(&r);
    if (v != gc->cccd[a->cccd]) gc->cccd_dirty = true; /* saved if bonded */
    gc->cccd[a->cccd] = v;
    gc->cflags[a->cccd] |= GATTS_CF_WRITTEN;
    if (!(v & UVBLE_CCCD_INDICATE))
      gc->cflags[a->cccd] &= (uint8_t)~GATTS_CF_DEFERRED;
    return;
  }
  if (a->kind == GATTS_DEVICE_NAME) {
    memcpy(ble->cfg.gap_name, data, len);
    ble->cfg.gap_name_len = len;
    return;
  }
  if (a->append) {
    /* MicroPython: appended at the end, the overflow dropped. */
    size_t room = (size_t)a->cap - a->len;
    size_t n = len < room ? len : room;
    if (n) memcpy(a->data + a->len, data, n);
    a->len = (uint16_t)(a->len + n);
    return;
  }
  size_t n = len < a->cap ? len : a->cap; /* MicroPython truncates */
  if (n) memcpy(a->data, data, n);
  a->len = (uint16_t)n;
}

/* FNV-1a, 64 bits: a change detector, not a security measure. */
static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t gatts_db_layout(const struct gatts_db *db) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint16_t i = 0; i < db->n; i++) {
    const struct gatts_attr *a = &db->attrs[i];
    uint8_t hdr[4] = {(uint8_t)a->handle, (uint8_t)(a->handle >> 8), a->kind,
                      (uint8_t)a->type.type};
    h = fnv(h, hdr, sizeof hdr);
    h = fnv(h, a->type.data, a->type.type / 8);
    bool decl = a->kind == GATTS_SERVICE || a->kind == GATTS_CHR_DECL ||
                a->kind == GATTS_CEP;
    if (decl && a->data) h = fnv(h, a->data, a->len);
  }
  return h;
}

int gatts_db_set_buffer(struct gatts_attr *a, size_t len, bool append) {
  if (len > UVBLE_GATT_MAX_ATTR_LEN) return UVBLE_EINVAL;
  uint8_t *p = realloc(a->data, len ? len : 1);
  if (!p) return UVBLE_ENOMEM;
  a->data = p;
  a->cap = (uint16_t)len;
  a->len = 0;
  a->append = append;
  a->max_len = 0;
  a->fixed_len = false;
  return 0;
}
