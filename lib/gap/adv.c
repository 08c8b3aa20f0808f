/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — advertising data payloads (see include/uvble/adv.h). */
#include "uvble/adv.h"

#include <string.h>

#include "pdu_reader.h"
#include "uvble/error.h"

/* ---- low level ------------------------------------------------------------ */

int uvble_adv_append(uint8_t *buf, size_t cap, size_t *len, uint8_t type,
                     const void *data, size_t data_len) {
  if (buf == NULL || len == NULL || *len > cap) return UVBLE_EINVAL;
  if (data == NULL && data_len > 0) return UVBLE_EINVAL;
  if (data_len > UVBLE_AD_DATA_MAX) return UVBLE_EINVAL;
  if (data_len + 2 > cap - *len) return UVBLE_EMSGSIZE;
  uint8_t *p = buf + *len;
  p[0] = (uint8_t)(data_len + 1);
  p[1] = type;
  if (data_len > 0) memcpy(p + 2, data, data_len);
  *len += data_len + 2;
  return 0;
}

/* ---- builder -------------------------------------------------------------- */

typedef struct {
  uint8_t *buf[2]; /* adv, resp (may be NULL) */
  size_t len[2];
  size_t max;
} out_t;

static size_t room(const out_t *o, int i) {
  if (o->buf[i] == NULL) return 0;
  return o->max - o->len[i];
}

/* Where a structure with data_len bytes of data goes: 0 adv, 1 resp, or -1
 * if it fits in neither. */
static int pick(const out_t *o, size_t data_len) {
  if (data_len > UVBLE_AD_DATA_MAX) return -1;
  for (int i = 0; i < 2; i++)
    if (room(o, i) >= data_len + 2) return i;
  return -1;
}

/* Writes the structure header into o->buf[i] and returns where its data
 * goes. The caller has checked the room. */
static uint8_t *emit(out_t *o, int i, uint8_t type, size_t data_len) {
  uint8_t *p = o->buf[i] + o->len[i];
  p[0] = (uint8_t)(data_len + 1);
  p[1] = type;
  o->len[i] += data_len + 2;
  return p + 2;
}

static int put(out_t *o, uint8_t type, const uint8_t *data, size_t data_len) {
  int i = pick(o, data_len);
  if (i < 0) return UVBLE_EMSGSIZE;
  uint8_t *p = emit(o, i, type, data_len);
  if (data_len > 0) memcpy(p, data, data_len);
  return 0;
}

/* The longest prefix of name[0..n) of at most max bytes that does not end
 * inside a UTF-8 sequence. */
static size_t utf8_cut(const uint8_t *name, size_t n, size_t max) {
  if (n <= max) return n;
  size_t cut = max;
  /* name[cut] is the first byte left out; back off while it continues a
   * sequence started inside the prefix. A UTF-8 sequence has at most 3
   * continuation bytes; beyond that the text is not UTF-8 and any cut is
   * as good as another. */
  for (int k = 0; k < 3 && cut > 0 && (name[cut] & 0xc0) == 0x80; k++) cut--;
  if (cut > 0 && (name[cut] & 0xc0) == 0x80) cut = max;
  return cut;
}

/* How much of the name a Shortened Local Name in o->buf[i] can carry (0:
 * none). */
static size_t short_len(const out_t *o, int i, const uint8_t *name, size_t n) {
  if (room(o, i) <= 2) return 0;
  size_t max = room(o, i) - 2;
  if (max > UVBLE_AD_DATA_MAX) max = UVBLE_AD_DATA_MAX;
  return utf8_cut(name, n, max);
}

static int put_name(out_t *o, const uint8_t *name, size_t n, bool shorten) {
  if (room(o, 0) >= n + 2 && n <= UVBLE_AD_DATA_MAX)
    return put(o, UVBLE_AD_NAME_COMPLETE, name, n);
  if (shorten) {
    size_t m = short_len(o, 0, name, n);
    if (m > 0) {
      memcpy(emit(o, 0, UVBLE_AD_NAME_SHORT, m), name, m);
      return 0;
    }
  }
  if (room(o, 1) >= n + 2 && n <= UVBLE_AD_DATA_MAX) {
    memcpy(emit(o, 1, UVBLE_AD_NAME_COMPLETE, n), name, n);
    return 0;
  }
  if (shorten) {
    size_t m = short_len(o, 1, name, n);
    if (m > 0) {
      memcpy(emit(o, 1, UVBLE_AD_NAME_SHORT, m), name, m);
      return 0;
    }
  }
  return UVBLE_EMSGSIZE;
}

static int put_services(out_t *o, const uvble_uuid_t *uuids, size_t count,
                        uint8_t bits, uint8_t type) {
  size_t each = bits / 8u, n = 0;
  for (size_t k = 0; k < count; k++)
    if (uuids[k].type == bits) n++;
  if (n == 0) return 0;
  if (n > UVBLE_AD_DATA_MAX / each) return UVBLE_EMSGSIZE;
  int i = pick(o, n * each);
  if (i < 0) return UVBLE_EMSGSIZE;
  uint8_t *p = emit(o, i, type, n * each);
  for (size_t k = 0; k < count; k++) {
    if (uuids[k].type != bits) continue;
    memcpy(p, uuids[k].data, each);
    p += each;
  }
  return 0;
}

static int build(const uvble_adv_fields_t *f, out_t *o) {
  int r;

  /* Check the arguments before writing anything. */
  if (f->services == NULL && f->num_services > 0) return UVBLE_EINVAL;
  for (size_t k = 0; k < f->num_services; k++) {
    uint8_t t = f->services[k].type;
    if (t != 16 && t != 32 && t != 128) return UVBLE_EINVAL;
  }
  if (f->has_manufacturer && f->manufacturer_data == NULL &&
      f->manufacturer_len > 0)
    return UVBLE_EINVAL;
  if (f->extra == NULL && f->extra_len > 0) return UVBLE_EINVAL;
  if (f->flags < UVBLE_ADV_FLAGS_NONE || f->flags > 0xff) return UVBLE_EINVAL;
  if (f->extra != NULL && uvble_adv_validate(f->extra, f->extra_len) < 0)
    return UVBLE_EINVAL;

  if (f->flags != UVBLE_ADV_FLAGS_NONE) {
    uint8_t flags = (uint8_t)f->flags;
    if (f->flags == UVBLE_ADV_FLAGS_AUTO)
      flags = (uint8_t)((f->limited_disc ? UVBLE_AD_FLAG_LE_LIMITED
                                         : UVBLE_AD_FLAG_LE_GENERAL) +
                        (f->br_edr ? (UVBLE_AD_FLAG_LE_BREDR_CTRL |
                                      UVBLE_AD_FLAG_LE_BREDR_HOST)
                                   : UVBLE_AD_FLAG_NO_BREDR));
    if ((r = put(o, UVBLE_AD_FLAGS, &flags, 1)) < 0) return r;
  }

  if ((r = put_services(o, f->services, f->num_services, 16,
                        UVBLE_AD_UUID16_COMPLETE)) < 0 ||
      (r = put_services(o, f->services, f->num_services, 32,
                        UVBLE_AD_UUID32_COMPLETE)) < 0 ||
      (r = put_services(o, f->services, f->num_services, 128,
                        UVBLE_AD_UUID128_COMPLETE)) < 0)
    return r;

  if (f->name != NULL && f->name[0] != '\0') {
    r = put_name(o, (const uint8_t *)f->name, strlen(f->name), f->shorten_name);
    if (r < 0) return r;
  }

  if (f->appearance != 0) {
    uint8_t a[2] = {(uint8_t)f->appearance, (uint8_t)(f->appearance >> 8)};
    if ((r = put(o, UVBLE_AD_APPEARANCE, a, 2)) < 0) return r;
  }

  if (f->has_manufacturer) {
    if (f->manufacturer_len > UVBLE_AD_DATA_MAX - 2) return UVBLE_EMSGSIZE;
    int i = pick(o, f->manufacturer_len + 2);
    if (i < 0) return UVBLE_EMSGSIZE;
    uint8_t *p = emit(o, i, UVBLE_AD_MANUFACTURER, f->manufacturer_len + 2);
    p[0] = (uint8_t)f->company_id;
    p[1] = (uint8_t)(f->company_id >> 8);
    if (f->manufacturer_len > 0)
      memcpy(p + 2, f->manufacturer_data, f->manufacturer_len);
  }

  if (f->has_tx_power) {
    uint8_t t = (uint8_t)f->tx_power;
    if ((r = put(o, UVBLE_AD_TX_POWER, &t, 1)) < 0) return r;
  }

  if (f->extra != NULL) {
    uvble_adv_iter_t it;
    uint8_t type;
    const uint8_t *data;
    size_t n;
    uvble_adv_iter_init(&it, f->extra, f->extra_len, NULL, 0);
    while (uvble_adv_iter_next(&it, &type, &data, &n) == 1)
      if ((r = put(o, type, data, n)) < 0) return r;
  }
  return 0;
}

int uvble_adv_build(const uvble_adv_fields_t *fields, size_t max_len,
                    uint8_t *adv, size_t *adv_len, uint8_t *resp,
                    size_t *resp_len) {
  if (adv_len != NULL) *adv_len = 0;
  if (resp_len != NULL) *resp_len = 0;
  if (fields == NULL || adv == NULL || adv_len == NULL) return UVBLE_EINVAL;
  if (resp != NULL && resp_len == NULL) return UVBLE_EINVAL;
  if (max_len > UVBLE_ADV_EXT_MAX) return UVBLE_EINVAL;

  out_t o = {{adv, resp}, {0, 0}, max_len};
  int r = build(fields, &o);
  if (r < 0) return r;
  *adv_len = o.len[0];
  if (resp_len != NULL) *resp_len = o.len[1];
  return 0;
}

/* ---- parser --------------------------------------------------------------- */

void uvble_adv_iter_init(uvble_adv_iter_t *it, const uint8_t *adv,
                         size_t adv_len, const uint8_t *resp, size_t resp_len) {
  memset(it, 0, sizeof *it);
  it->buf_[0] = adv;
  it->len_[0] = adv != NULL ? adv_len : 0;
  it->buf_[1] = resp;
  it->len_[1] = resp != NULL ? resp_len : 0;
}

int uvble_adv_iter_next(uvble_adv_iter_t *it, uint8_t *type,
                        const uint8_t **data, size_t *data_len) {
  while (it->part_ < 2) {
    struct pdu_reader r;
    pdu_reader_init(&r, it->buf_[it->part_], it->len_[it->part_]);
    pdu_skip(&r, it->off_);
    /* Each AD structure: length, then type and data (length bytes). */
    size_t l = pdu_get_u8(&r);
    if (l == 0) {
      /* The end, or the zero length byte that starts the padding. */
      it->part_++;
      it->off_ = 0;
      continue;
    }
    struct pdu_reader ad = pdu_get_sub(&r, l);
    if (!pdu_ok(&ad)) {
      /* Runs past the end: stop this payload without touching it. */
      it->truncated = true;
      it->part_++;
      it->off_ = 0;
      continue;
    }
    uint8_t t = pdu_get_u8(&ad);
    size_t n;
    const uint8_t *d = pdu_get_rest(&ad, &n);
    if (type != NULL) *type = t;
    if (data != NULL) *data = d;
    if (data_len != NULL) *data_len = n;
    it->source = it->part_;
    it->off_ = pdu_offset(&r);
    return 1;
  }
  return it->truncated ? UVBLE_EPROTO : 0;
}

int uvble_adv_iter_find(uvble_adv_iter_t *it, uint8_t type,
                        const uint8_t **data, size_t *data_len) {
  uint8_t t;
  const uint8_t *d;
  size_t n;
  int r;
  while ((r = uvble_adv_iter_next(it, &t, &d, &n)) == 1) {
    if (t != type) continue;
    if (data != NULL) *data = d;
    if (data_len != NULL) *data_len = n;
    return 1;
  }
  return r;
}

int uvble_adv_validate(const uint8_t *buf, size_t len) {
  uvble_adv_iter_t it;
  int r, count = 0;
  uvble_adv_iter_init(&it, buf, len, NULL, 0);
  while ((r = uvble_adv_iter_next(&it, NULL, NULL, NULL)) == 1) count++;
  return r < 0 ? r : count;
}

/* ---- queries -------------------------------------------------------------- */

/* The first structure of type with at least min bytes of data. */
static int find_min(const uint8_t *adv, size_t adv_len, const uint8_t *resp,
                    size_t resp_len, uint8_t type, size_t min,
                    const uint8_t **data, size_t *data_len) {
  uvble_adv_iter_t it;
  const uint8_t *d;
  size_t n;
  uvble_adv_iter_init(&it, adv, adv_len, resp, resp_len);
  while (uvble_adv_iter_find(&it, type, &d, &n) == 1) {
    if (n < min) continue;
    if (data != NULL) *data = d;
    if (data_len != NULL) *data_len = n;
    return 0;
  }
  return UVBLE_ENOENT;
}

int uvble_adv_find(const uint8_t *adv, size_t adv_len, const uint8_t *resp,
                   size_t resp_len, uint8_t type, const uint8_t **data,
                   size_t *data_len) {
  return find_min(adv, adv_len, resp, resp_len, type, 0, data, data_len);
}

int uvble_adv_flags(const uint8_t *adv, size_t adv_len, const uint8_t *resp,
                    size_t resp_len, uint8_t *flags) {
  const uint8_t *d;
  int r = find_min(adv, adv_len, resp, resp_len, UVBLE_AD_FLAGS, 1, &d, NULL);
  if (r == 0 && flags != NULL) *flags = d[0];
  return r;
}

int uvble_adv_name(const uint8_t *adv, size_t adv_len, const uint8_t *resp,
                   size_t resp_len, const uint8_t **name, size_t *len,
                   bool *complete) {
  static const uint8_t types[2] = {UVBLE_AD_NAME_COMPLETE, UVBLE_AD_NAME_SHORT};
  for (int i = 0; i < 2; i++) {
    if (find_min(adv, adv_len, resp, resp_len, types[i], 0, name, len) == 0) {
      if (complete != NULL) *complete = i == 0;
      return 0;
    }
  }
  return UVBLE_ENOENT;
}

int uvble_adv_name_str(const uint8_t *adv, size_t adv_len, const uint8_t *resp,
                       size_t resp_len, char *buf, size_t cap) {
  const uint8_t *name;
  size_t n;
  if (buf == NULL && cap > 0) return UVBLE_EINVAL;
  int r = uvble_adv_name(adv, adv_len, resp, resp_len, &name, &n, NULL);
  if (r < 0) return r;
  if (cap == 0) return UVBLE_ENOBUFS;
  size_t m = n < cap - 1 ? n : cap - 1;
  if (m > 0) memcpy(buf, name, m);
  buf[m] = '\0';
  return m < n ? UVBLE_ENOBUFS : (int)n;
}

int uvble_adv_services_foreach(const uint8_t *adv, size_t adv_len,
                               const uint8_t *resp, size_t resp_len,
                               uvble_adv_uuid_cb cb, void *arg) {
  static const struct {
    uint8_t size, incomplete, complete;
  } kinds[3] = {
      {2, UVBLE_AD_UUID16_INCOMPLETE, UVBLE_AD_UUID16_COMPLETE},
      {4, UVBLE_AD_UUID32_INCOMPLETE, UVBLE_AD_UUID32_COMPLETE},
      {16, UVBLE_AD_UUID128_INCOMPLETE, UVBLE_AD_UUID128_COMPLETE},
  };
  int count = 0;
  for (int k = 0; k < 3; k++) {
    uvble_adv_iter_t it;
    uint8_t t;
    const uint8_t *d;
    size_t n;
    uvble_adv_iter_init(&it, adv, adv_len, resp, resp_len);
    while (uvble_adv_iter_next(&it, &t, &d, &n) == 1) {
      if (t != kinds[k].incomplete && t != kinds[k].complete) continue;
      struct pdu_reader r; /* a partial UUID at the end is ignored */
      pdu_reader_init(&r, d, n);
      while (pdu_left(&r) >= kinds[k].size) {
        uvble_uuid_t u;
        pdu_get_uuid(&r, kinds[k].size, &u);
        count++;
        if (cb != NULL && cb(&u, t, arg) != 0) return count;
      }
    }
  }
  return count;
}

typedef struct {
  uvble_uuid_t *out;
  size_t cap, n;
} collect_t;

static int collect_cb(const uvble_uuid_t *uuid, uint8_t ad_type, void *arg) {
  collect_t *c = arg;
  if (c->n < c->cap) c->out[c->n] = *uuid;
  c->n++;
  return 0;
}

int uvble_adv_services(const uint8_t *adv, size_t adv_len, const uint8_t *resp,
                       size_t resp_len, uvble_uuid_t *out, size_t cap) {
  if (out == NULL && cap > 0) return UVBLE_EINVAL;
  collect_t c = {out, cap, 0};
  return uvble_adv_services_foreach(adv, adv_len, resp, resp_len, collect_cb,
                                    &c);
}

typedef struct {
  const uvble_uuid_t *want;
  bool found;
} match_t;

static int match_cb(const uvble_uuid_t *uuid, uint8_t ad_type, void *arg) {
  match_t *m = arg;
  m->found = uvble_uuid_equal(uuid, m->want);
  return m->found;
}

bool uvble_adv_has_service(const uint8_t *adv, size_t adv_len,
                           const uint8_t *resp, size_t resp_len,
                           const uvble_uuid_t *uuid) {
  if (uuid == NULL) return false;
  match_t m = {uuid, false};
  uvble_adv_services_foreach(adv, adv_len, resp, resp_len, match_cb, &m);
  return m.found;
}

int uvble_adv_iter_manufacturer(uvble_adv_iter_t *it, int company,
                                uint16_t *id, const uint8_t **data,
                                size_t *len) {
  const uint8_t *d;
  size_t n;
  int r;
  while ((r = uvble_adv_iter_find(it, UVBLE_AD_MANUFACTURER, &d, &n)) == 1) {
    struct pdu_reader rd;
    pdu_reader_init(&rd, d, n);
    uint16_t cid = pdu_get_le16(&rd);
    size_t rest;
    const uint8_t *v = pdu_get_rest(&rd, &rest);
    if (!pdu_ok(&rd)) continue;
    if (company != UVBLE_ADV_ANY_COMPANY && cid != company) continue;
    if (id != NULL) *id = cid;
    if (data != NULL) *data = v;
    if (len != NULL) *len = rest;
    return 1;
  }
  return r;
}

int uvble_adv_manufacturer(const uint8_t *adv, size_t adv_len,
                           const uint8_t *resp, size_t resp_len, int company,
                           uint16_t *id, const uint8_t **data, size_t *len) {
  uvble_adv_iter_t it;
  uvble_adv_iter_init(&it, adv, adv_len, resp, resp_len);
  return uvble_adv_iter_manufacturer(&it, company, id, data, len) == 1
             ? 0
             : UVBLE_ENOENT;
}

int uvble_adv_appearance(const uint8_t *adv, size_t adv_len,
                         const uint8_t *resp, size_t resp_len,
                         uint16_t *appearance) {
  const uint8_t *d = NULL;
  size_t n = 0;
  int r = find_min(adv, adv_len, resp, resp_len, UVBLE_AD_APPEARANCE, 2, &d,
                   &n);
  struct pdu_reader rd;
  pdu_reader_init(&rd, d, n);
  uint16_t v = pdu_get_le16(&rd);
  if (r == 0 && appearance != NULL) *appearance = v;
  return r;
}

int uvble_adv_tx_power(const uint8_t *adv, size_t adv_len,
                       const uint8_t *resp, size_t resp_len, int8_t *dbm) {
  const uint8_t *d;
  int r = find_min(adv, adv_len, resp, resp_len, UVBLE_AD_TX_POWER, 1, &d,
                   NULL);
  if (r == 0 && dbm != NULL) *dbm = (int8_t)d[0];
  return r;
}

int uvble_adv_iter_service_data(uvble_adv_iter_t *it,
                                const uvble_uuid_t *filter, uvble_uuid_t *uuid,
                                const uint8_t **data, size_t *len) {
  uint8_t t;
  const uint8_t *d;
  size_t n, size;
  int r;
  while ((r = uvble_adv_iter_next(it, &t, &d, &n)) == 1) {
    if (t == UVBLE_AD_SERVICE_DATA16) size = 2;
    else if (t == UVBLE_AD_SERVICE_DATA32) size = 4;
    else if (t == UVBLE_AD_SERVICE_DATA128) size = 16;
    else continue;
    struct pdu_reader rd;
    pdu_reader_init(&rd, d, n);
    uvble_uuid_t u;
    if (!pdu_get_uuid(&rd, size, &u)) continue;
    if (filter != NULL && !uvble_uuid_equal(&u, filter)) continue;
    size_t rest;
    const uint8_t *v = pdu_get_rest(&rd, &rest);
    if (uuid != NULL) *uuid = u;
    if (data != NULL) *data = v;
    if (len != NULL) *len = rest;
    return 1;
  }
  return r;
}

int uvble_adv_service_data(const uint8_t *adv, size_t adv_len,
                           const uint8_t *resp, size_t resp_len,
                           const uvble_uuid_t *filter, uvble_uuid_t *uuid,
                           const uint8_t **data, size_t *len) {
  uvble_adv_iter_t it;
  uvble_adv_iter_init(&it, adv, adv_len, resp, resp_len);
  return uvble_adv_iter_service_data(&it, filter, uuid, data, len) == 1
             ? 0
             : UVBLE_ENOENT;
}
