/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes the AD payload parser, every query, and the builder.
 *
 * Parse half: the first input byte is the advertising payload's length
 * (clamped); it and the rest (the scan response) are copied into
 * exactly-sized heap buffers, so a read one past either end is an ASan
 * report. Every query runs and is cross-checked against a plain walk.
 *
 * Build half: the same bytes drive a uvble_adv_fields_t; what the builder
 * makes must parse back to what went in. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uvble/adv.h"
#include "uvble/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                    \
  do {                                                              \
    if (!(c)) {                                                     \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,        \
              __LINE__, #c);                                        \
      abort();                                                      \
    }                                                               \
  } while (0)

typedef struct {
  const uint8_t *buf[2];
  size_t len[2];
} pair_t;

/* p lies in [buf, buf + len] with n bytes after it inside one of them. */
static bool inside(const pair_t *pp, const uint8_t *p, size_t n) {
  for (int i = 0; i < 2; i++) {
    const uint8_t *b = pp->buf[i];
    if (b == NULL) continue;
    if (p >= b && p <= b + pp->len[i] && n <= (size_t)(b + pp->len[i] - p))
      return true;
  }
  return false;
}

/* Touches every byte, so ASan sees any bad pointer. */
static unsigned touch(const uint8_t *p, size_t n) {
  unsigned s = 0;
  for (size_t i = 0; i < n; i++) s += p[i];
  return s;
}

static volatile unsigned sink;

static int uuid_cb(const uvble_uuid_t *uuid, uint8_t ad_type, void *arg) {
  CHECK(ad_type >= UVBLE_AD_UUID16_INCOMPLETE &&
        ad_type <= UVBLE_AD_UUID128_COMPLETE);
  CHECK(uuid->type == 16 || uuid->type == 32 || uuid->type == 128);
  (*(int *)arg)++;
  return 0;
}

static void parse_all(const uint8_t *adv, size_t alen, const uint8_t *resp,
                      size_t rlen) {
  pair_t pp = {{adv, resp}, {alen, rlen}};
  uvble_adv_iter_t it;
  uint8_t type;
  const uint8_t *d;
  size_t n;
  int r;

  /* The plain walk: counts per type, bounds of every structure. */
  size_t per_type[256] = {0};
  size_t total = 0, bytes[2] = {0, 0};
  const uint8_t *first_d[256] = {0};
  size_t first_n[256] = {0};
  uvble_adv_iter_init(&it, adv, alen, resp, rlen);
  while ((r = uvble_adv_iter_next(&it, &type, &d, &n)) == 1) {
    CHECK(n <= UVBLE_AD_DATA_MAX);
    CHECK(inside(&pp, d, n));
    CHECK(d[-1] == type && d[-2] == n + 1);
    sink += touch(d, n);
    if (per_type[type]++ == 0) {
      first_d[type] = d;
      first_n[type] = n;
    }
    bytes[it.source] += n + 2;
    total++;
  }
  CHECK(r == 0 || r == UVBLE_EPROTO);
  CHECK((r == UVBLE_EPROTO) == it.truncated);
  CHECK(uvble_adv_iter_next(&it, &type, &d, &n) == r); /* sticky */
  CHECK(bytes[0] <= alen && bytes[1] <= rlen);

  int va = uvble_adv_validate(adv, alen), vr = uvble_adv_validate(resp, rlen);
  CHECK(va >= 0 || va == UVBLE_EPROTO);
  CHECK(vr >= 0 || vr == UVBLE_EPROTO);
  CHECK((va == UVBLE_EPROTO || vr == UVBLE_EPROTO) == (r == UVBLE_EPROTO));
  if (va >= 0 && vr >= 0) CHECK((size_t)va + (size_t)vr == total);

  /* find agrees with the walk for every type. */
  for (int t = 0; t < 256; t++) {
    r = uvble_adv_find(adv, alen, resp, rlen, (uint8_t)t, &d, &n);
    if (per_type[t] == 0) {
      CHECK(r == UVBLE_ENOENT);
    } else {
      CHECK(r == 0 && d == first_d[t] && n == first_n[t]);
    }
  }

  uint8_t flags;
  r = uvble_adv_flags(adv, alen, resp, rlen, &flags);
  CHECK(r == 0 || r == UVBLE_ENOENT);
  if (per_type[UVBLE_AD_FLAGS] == 0) CHECK(r == UVBLE_ENOENT);

  bool complete = false;
  r = uvble_adv_name(adv, alen, resp, rlen, &d, &n, &complete);
  if (r == 0) {
    CHECK(inside(&pp, d, n));
    sink += touch(d, n);
    CHECK(complete ? per_type[UVBLE_AD_NAME_COMPLETE] > 0
                   : per_type[UVBLE_AD_NAME_COMPLETE] == 0 &&
                         per_type[UVBLE_AD_NAME_SHORT] > 0);
    char small[5], big[256];
    int s = uvble_adv_name_str(adv, alen, resp, rlen, small, sizeof small);
    CHECK(s == (n < sizeof small ? (int)n : UVBLE_ENOBUFS));
    CHECK(memchr(small, 0, sizeof small) != NULL);
    s = uvble_adv_name_str(adv, alen, resp, rlen, big, sizeof big);
    CHECK(s == (int)n && memcmp(big, d, n) == 0 && big[n] == '\0');
  } else {
    CHECK(r == UVBLE_ENOENT);
    CHECK(per_type[UVBLE_AD_NAME_COMPLETE] + per_type[UVBLE_AD_NAME_SHORT] == 0);
  }

  int count = 0;
  int nsvc = uvble_adv_services_foreach(adv, alen, resp, rlen, uuid_cb, &count);
  CHECK(nsvc == count);
  uvble_uuid_t uuids[64];
  CHECK(uvble_adv_services(adv, alen, resp, rlen, uuids, 64) == nsvc);
  CHECK(uvble_adv_services(adv, alen, resp, rlen, NULL, 0) == nsvc);
  for (int i = 0; i < nsvc && i < 64; i++)
    CHECK(uvble_adv_has_service(adv, alen, resp, rlen, &uuids[i]));

  uint16_t id;
  int nm = 0;
  uvble_adv_iter_init(&it, adv, alen, resp, rlen);
  while (uvble_adv_iter_manufacturer(&it, UVBLE_ADV_ANY_COMPANY, &id, &d, &n) == 1) {
    CHECK(inside(&pp, d, n));
    sink += touch(d, n);
    CHECK((uint16_t)(d[-2] | d[-1] << 8) == id);
    /* The first with this id is what the filtered query finds. */
    const uint8_t *d2;
    size_t n2;
    uint16_t id2;
    CHECK(uvble_adv_manufacturer(adv, alen, resp, rlen, id, &id2, &d2, &n2) == 0);
    CHECK(id2 == id);
    nm++;
  }
  CHECK((size_t)nm <= per_type[UVBLE_AD_MANUFACTURER]);
  r = uvble_adv_manufacturer(adv, alen, resp, rlen, UVBLE_ADV_ANY_COMPANY, &id,
                             &d, &n);
  CHECK(r == (nm > 0 ? 0 : UVBLE_ENOENT));

  uint16_t app;
  r = uvble_adv_appearance(adv, alen, resp, rlen, &app);
  CHECK(r == 0 || r == UVBLE_ENOENT);
  int8_t tx;
  r = uvble_adv_tx_power(adv, alen, resp, rlen, &tx);
  CHECK(r == 0 || r == UVBLE_ENOENT);

  uvble_uuid_t u;
  int nsd = 0;
  uvble_adv_iter_init(&it, adv, alen, resp, rlen);
  while (uvble_adv_iter_service_data(&it, NULL, &u, &d, &n) == 1) {
    CHECK(inside(&pp, d, n));
    sink += touch(d, n);
    const uint8_t *d2;
    CHECK(uvble_adv_service_data(adv, alen, resp, rlen, &u, NULL, &d2, NULL) == 0);
    nsd++;
  }
  CHECK((size_t)nsd <= per_type[0x16] + per_type[0x20] + per_type[0x21]);
}

/* ---- build, then parse back -------------------------------------------- */

typedef struct {
  const uint8_t *p;
  size_t n, i;
} reader_t;

static uint8_t get(reader_t *r) { return r->i < r->n ? r->p[r->i++] : 0; }

static bool builder_type(uint8_t t) {
  return (t >= UVBLE_AD_FLAGS && t <= UVBLE_AD_TX_POWER) ||
         t == UVBLE_AD_APPEARANCE || t == UVBLE_AD_MANUFACTURER;
}

#define MAX_EXTRA 12

static void build_round_trip(const uint8_t *data, size_t size) {
  reader_t rd = {data, size, 0};
  uvble_adv_fields_t f;
  memset(&f, 0, sizeof f);

  static const size_t sizes[4] = {UVBLE_ADV_LEGACY_MAX, UVBLE_ADV_EXT_PDU_MAX,
                                  UVBLE_ADV_EXT_MAX, 0};
  uint8_t b = get(&rd);
  size_t max = sizes[b & 3];
  if (max == 0) max = get(&rd) % 48;
  bool with_resp = (b & 4) == 0;

  b = get(&rd);
  if ((b & 3) == 1) f.flags = UVBLE_ADV_FLAGS_NONE;
  else if ((b & 3) == 2) f.flags = get(&rd) | 1;
  f.limited_disc = b & 4;
  f.br_edr = b & 8;
  f.shorten_name = b & 16;
  bool want_name = b & 32;
  f.has_tx_power = b & 64;
  f.has_manufacturer = b & 128;

  char name[301];
  size_t name_len = 0;
  if (want_name) {
    name_len = get(&rd);
    if (name_len & 0x80) name_len = (name_len & 0x7f) * 3; /* up to 381 */
    if (name_len > 300) name_len = 300;
    for (size_t i = 0; i < name_len; i++) {
      uint8_t c = get(&rd);
      name[i] = (char)(c ? c : 'a');
    }
  }
  name[name_len] = '\0';
  f.name = name;

  uvble_uuid_t svc[24];
  size_t nsvc = get(&rd) % 25;
  for (size_t k = 0; k < nsvc; k++) {
    static const uint8_t types[3] = {16, 32, 128};
    memset(&svc[k], 0, sizeof svc[k]);
    svc[k].type = types[get(&rd) % 3];
    for (int i = 0; i < svc[k].type / 8; i++) svc[k].data[i] = get(&rd);
  }
  f.services = svc;
  f.num_services = nsvc;

  f.appearance = get(&rd);
  f.appearance |= (uint16_t)(get(&rd) << 8);
  f.company_id = get(&rd);
  f.company_id |= (uint16_t)(get(&rd) << 8);
  uint8_t mfr[300];
  f.manufacturer_len = get(&rd);
  if (f.manufacturer_len & 0x80) f.manufacturer_len = (f.manufacturer_len & 0x7f) * 2;
  for (size_t i = 0; i < f.manufacturer_len; i++) mfr[i] = get(&rd);
  f.manufacturer_data = mfr;
  f.tx_power = (int8_t)get(&rd);

  /* Extras: well-formed structures of types the builder does not make. */
  uint8_t extra[MAX_EXTRA * 34 + 4];
  size_t extra_len = 0, nextra = get(&rd) % (MAX_EXTRA + 1);
  const uint8_t *ex_p[MAX_EXTRA];
  for (size_t k = 0; k < nextra; k++) {
    uint8_t t = get(&rd), n = get(&rd) % 33;
    if (builder_type(t)) t = UVBLE_AD_URI;
    ex_p[k] = extra + extra_len;
    extra[extra_len++] = (uint8_t)(n + 1);
    extra[extra_len++] = t;
    for (int i = 0; i < n; i++) extra[extra_len++] = get(&rd);
  }
  if (get(&rd) & 1) { /* sometimes padding after them */
    memset(extra + extra_len, 0, 3);
    extra_len += 3;
  }
  f.extra = extra_len ? extra : NULL;
  f.extra_len = extra_len;

  uint8_t *adv = malloc(max ? max : 1), *resp = malloc(max ? max : 1);
  CHECK(adv && resp);
  size_t alen = 77, rlen = 77;
  int r = uvble_adv_build(&f, max, adv, &alen, with_resp ? resp : NULL,
                          with_resp ? &rlen : NULL);
  if (!with_resp) rlen = 0;
  if (r != 0) {
    CHECK(r == UVBLE_EMSGSIZE);
    CHECK(alen == 0 && rlen == 0);
    free(adv);
    free(resp);
    return;
  }
  CHECK(alen <= max && rlen <= max);
  const uint8_t *rp = with_resp ? resp : NULL;
  parse_all(adv, alen, rp, rlen);

  /* Structure count: nothing lost, nothing invented, nothing truncated. */
  size_t groups = 0;
  for (uint8_t bits = 16; bits != 0; bits = bits == 32 ? 128 : bits == 16 ? 32 : 0) {
    for (size_t k = 0; k < nsvc; k++)
      if (svc[k].type == bits) {
        groups++;
        break;
      }
  }
  size_t want = (f.flags != UVBLE_ADV_FLAGS_NONE) + groups + (name_len > 0) +
                (f.appearance != 0) + f.has_manufacturer + f.has_tx_power + nextra;
  int va = uvble_adv_validate(adv, alen), vr = uvble_adv_validate(rp, rlen);
  CHECK(va >= 0 && vr >= 0);
  CHECK((size_t)va + (size_t)vr == want);

  uint8_t flags;
  r = uvble_adv_flags(adv, alen, rp, rlen, &flags);
  if (f.flags == UVBLE_ADV_FLAGS_NONE) {
    CHECK(r == UVBLE_ENOENT);
  } else {
    uint8_t w = f.flags ? (uint8_t)f.flags
                        : (uint8_t)((f.limited_disc ? 1 : 2) + (f.br_edr ? 0x18 : 4));
    CHECK(r == 0 && flags == w);
    /* Flags come first, so always in adv at offset 0. */
    CHECK(alen >= 3 && adv[0] == 2 && adv[1] == 1 && adv[2] == w);
  }

  uvble_uuid_t got[24];
  CHECK(uvble_adv_services(adv, alen, rp, rlen, got, 24) == (int)nsvc);
  size_t gi = 0;
  for (uint8_t bits = 16; bits != 0; bits = bits == 32 ? 128 : bits == 16 ? 32 : 0)
    for (size_t k = 0; k < nsvc; k++)
      if (svc[k].type == bits) {
        CHECK(got[gi].type == bits);
        CHECK(memcmp(got[gi].data, svc[k].data, bits / 8) == 0);
        gi++;
      }

  const uint8_t *d;
  size_t n;
  bool complete;
  r = uvble_adv_name(adv, alen, rp, rlen, &d, &n, &complete);
  if (name_len == 0) {
    CHECK(r == UVBLE_ENOENT);
  } else {
    CHECK(r == 0);
    if (complete) {
      CHECK(n == name_len && memcmp(d, name, n) == 0);
    } else {
      CHECK(f.shorten_name && n >= 1 && n < name_len && memcmp(d, name, n) == 0);
      /* Never cut inside a UTF-8 sequence: the first byte left out does
       * not continue one, unless the text is not UTF-8 there (more than 3
       * continuation bytes in a row), when the cut is wherever room ends. */
#define CONT(i) (((uint8_t)name[i] & 0xc0) == 0x80)
      CHECK(!CONT(n) || (n >= 3 && CONT(n - 1) && CONT(n - 2) && CONT(n - 3)));
#undef CONT
    }
  }

  uint16_t app;
  r = uvble_adv_appearance(adv, alen, rp, rlen, &app);
  CHECK(f.appearance ? r == 0 && app == f.appearance : r == UVBLE_ENOENT);

  int8_t tx;
  r = uvble_adv_tx_power(adv, alen, rp, rlen, &tx);
  CHECK(f.has_tx_power ? r == 0 && tx == f.tx_power : r == UVBLE_ENOENT);

  uint16_t id;
  uvble_adv_iter_t it;
  uvble_adv_iter_init(&it, adv, alen, rp, rlen);
  int nm = 0;
  while (uvble_adv_iter_manufacturer(&it, UVBLE_ADV_ANY_COMPANY, &id, &d, &n) == 1) {
    CHECK(id == f.company_id && n == f.manufacturer_len);
    CHECK(n == 0 || memcmp(d, mfr, n) == 0);
    nm++;
  }
  CHECK(nm == (f.has_manufacturer ? 1 : 0));

  /* Extras: each in order, in adv or in resp (adv only grows, so once one
   * spilled, an identical later one spilled too). */
  const uint8_t *in_adv[MAX_EXTRA], *in_resp[MAX_EXTRA];
  size_t na = 0, nr = 0;
  uint8_t type;
  uvble_adv_iter_init(&it, adv, alen, rp, rlen);
  while (uvble_adv_iter_next(&it, &type, &d, &n) == 1) {
    if (builder_type(type)) continue;
    CHECK(na + nr < MAX_EXTRA);
    if (it.source == 0) in_adv[na++] = d - 2;
    else in_resp[nr++] = d - 2;
  }
  CHECK(na + nr == nextra);
  size_t ia = 0, ir = 0;
  for (size_t k = 0; k < nextra; k++) {
    size_t sz = (size_t)ex_p[k][0] + 1;
    if (ia < na && in_adv[ia][0] == ex_p[k][0] && memcmp(in_adv[ia], ex_p[k], sz) == 0) ia++;
    else if (ir < nr && in_resp[ir][0] == ex_p[k][0] && memcmp(in_resp[ir], ex_p[k], sz) == 0) ir++;
    else CHECK(!"extra structure lost or reordered");
  }

  free(adv);
  free(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t alen = 0;
  const uint8_t *rest = data;
  size_t rest_len = size;
  if (size > 0) {
    alen = data[0];
    rest = data + 1;
    rest_len = size - 1;
    if (alen > rest_len) alen = rest_len;
  }
  uint8_t *adv = malloc(alen ? alen : 1);
  uint8_t *resp = malloc(rest_len - alen ? rest_len - alen : 1);
  if (!adv || !resp) abort();
  if (alen) memcpy(adv, rest, alen);
  if (rest_len - alen) memcpy(resp, rest + alen, rest_len - alen);
  parse_all(adv, alen, resp, rest_len - alen);
  parse_all(adv, alen, NULL, 0);
  parse_all(resp, rest_len - alen, adv, alen);
  free(adv);
  free(resp);

  build_round_trip(data, size);
  return 0;
}
