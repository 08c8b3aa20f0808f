/* SPDX-License-Identifier: Apache-2.0 */
/* Advertising data: the appender, the aioble-style builder (field order,
 * spilling into the scan response, the full 31 bytes, overflow, name
 * shortening), the bounded parser and every query. */
#include <stdlib.h>

#include "test.h"
#include "uvble/adv.h"
#include "uvble/error.h"

#define B(s) ((const uint8_t *)(s))

/* A heap copy of exactly n bytes, so ASan flags any read past the end. */
static uint8_t *exact(const void *src, size_t n) {
  uint8_t *p = calloc(n ? n : 1, 1);
  if (p && n) memcpy(p, src, n);
  return p;
}

/* ---- appender ------------------------------------------------------------- */

TEST(append) {
  uint8_t buf[8];
  size_t len = 0;
  CHECK_EQ(uvble_adv_append(buf, sizeof buf, &len, UVBLE_AD_FLAGS, "\x06", 1), 0);
  CHECK_EQ(len, 3);
  CHECK_MEM(buf, "\x02\x01\x06", 3);
  /* 3 + 2 + 3 = 8: fills it exactly. */
  CHECK_EQ(uvble_adv_append(buf, sizeof buf, &len, UVBLE_AD_NAME_COMPLETE, "abc", 3), 0);
  CHECK_EQ(len, 8);
  CHECK_MEM(buf + 3, "\x04\x09" "abc", 5);
  /* Full: EMSGSIZE, nothing changed. */
  CHECK_EQ(uvble_adv_append(buf, sizeof buf, &len, UVBLE_AD_TX_POWER, NULL, 0),
           UVBLE_EMSGSIZE);
  CHECK_EQ(len, 8);
  len = 7;
  CHECK_EQ(uvble_adv_append(buf, sizeof buf, &len, UVBLE_AD_TX_POWER, NULL, 0),
           UVBLE_EMSGSIZE);
  len = 6;
  CHECK_EQ(uvble_adv_append(buf, sizeof buf, &len, UVBLE_AD_TX_POWER, NULL, 0), 0);
  CHECK_EQ(len, 8);
  CHECK_MEM(buf + 6, "\x01\x0a", 2);

  /* Bad arguments. */
  uint8_t big[300], src[255] = {0};
  len = 0;
  CHECK_EQ(uvble_adv_append(big, sizeof big, &len, 0xff, src, 255), UVBLE_EINVAL);
  CHECK_EQ(uvble_adv_append(big, sizeof big, &len, 0xff, src, 254), 0);
  CHECK_EQ(len, 256);
  CHECK_EQ(big[0], 255);
  len = 9;
  CHECK_EQ(uvble_adv_append(buf, sizeof buf, &len, 1, "x", 1), UVBLE_EINVAL);
  len = 0;
  CHECK_EQ(uvble_adv_append(NULL, 8, &len, 1, "x", 1), UVBLE_EINVAL);
  CHECK_EQ(uvble_adv_append(buf, 8, NULL, 1, "x", 1), UVBLE_EINVAL);
  CHECK_EQ(uvble_adv_append(buf, 8, &len, 1, NULL, 1), UVBLE_EINVAL);
}

/* ---- builder -------------------------------------------------------------- */

typedef struct {
  uint8_t adv[UVBLE_ADV_EXT_MAX], resp[UVBLE_ADV_EXT_MAX];
  size_t adv_len, resp_len;
} out_t;

static int build(const uvble_adv_fields_t *f, size_t max, out_t *o) {
  memset(o, 0xee, sizeof *o);
  return uvble_adv_build(f, max, o->adv, &o->adv_len, o->resp, &o->resp_len);
}

TEST(build_default_is_flags_06) {
  uvble_adv_fields_t f = {0};
  out_t o;
  REQUIRE_EQ(build(&f, 31, &o), 0);
  CHECK_EQ(o.adv_len, 3);
  CHECK_MEM(o.adv, "\x02\x01\x06", 3);
  CHECK_EQ(o.resp_len, 0);
}

TEST(build_flags) {
  struct {
    int flags;
    bool limited, br_edr;
    int want; /* -1: no flags field */
  } cases[] = {
      {UVBLE_ADV_FLAGS_AUTO, false, false, 0x06},
      {UVBLE_ADV_FLAGS_AUTO, true, false, 0x05},
      {UVBLE_ADV_FLAGS_AUTO, false, true, 0x1a},
      {UVBLE_ADV_FLAGS_AUTO, true, true, 0x19},
      {UVBLE_AD_FLAG_NO_BREDR, true, true, 0x04},
      {0xff, false, false, 0xff},
      {UVBLE_ADV_FLAGS_NONE, false, false, -1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uvble_adv_fields_t f = {0};
    f.flags = cases[i].flags;
    f.limited_disc = cases[i].limited;
    f.br_edr = cases[i].br_edr;
    out_t o;
    REQUIRE_EQ(build(&f, 31, &o), 0);
    uint8_t got = 0;
    if (cases[i].want < 0) {
      CHECK_EQ(o.adv_len, 0);
      CHECK_EQ(uvble_adv_flags(o.adv, o.adv_len, NULL, 0, &got), UVBLE_ENOENT);
    } else {
      CHECK_EQ(o.adv_len, 3);
      CHECK_EQ(uvble_adv_flags(o.adv, o.adv_len, NULL, 0, &got), 0);
      CHECK_EQ(got, cases[i].want);
    }
  }
  uvble_adv_fields_t f = {0};
  out_t o;
  f.flags = 256;
  CHECK_EQ(build(&f, 31, &o), UVBLE_EINVAL);
  f.flags = -2;
  CHECK_EQ(build(&f, 31, &o), UVBLE_EINVAL);
}

/* aioble's temp_sensor.py: advertise(name="mpy-temp", services=[0x181A],
 * appearance=768). Field order flags, services, name, appearance. */
TEST(build_temp_sensor_exact_bytes) {
  uvble_uuid_t svc = uvble_uuid16(0x181a);
  uvble_adv_fields_t f = {0};
  f.name = "mpy-temp";
  f.services = &svc;
  f.num_services = 1;
  f.appearance = 768;
  out_t o;
  REQUIRE_EQ(build(&f, UVBLE_ADV_LEGACY_MAX, &o), 0);
  static const uint8_t want[] = {0x02, 0x01, 0x06, 0x03, 0x03, 0x1a, 0x18,
                                 0x09, 0x09, 'm',  'p',  'y',  '-',  't',
                                 'e',  'm',  'p',  0x03, 0x19, 0x00, 0x03};
  CHECK_EQ(o.adv_len, sizeof want);
  CHECK_MEM(o.adv, want, sizeof want);
  CHECK_EQ(o.resp_len, 0);
}

/* aioble's ble_advertise_services multitest: two 16-bit and two 32-bit
 * services (the 32-bit ones made from the 4-byte strings "AB12", "CD34")
 * parse back as [0x180f, 0x181a, 0x32314241, 0x34334443]. */
TEST(build_aioble_services_round_trip) {
  uvble_uuid_t svc[4];
  svc[0] = uvble_uuid16(0x180f);
  REQUIRE_EQ(uvble_uuid_from_bytes(&svc[1], B("AB12"), 4), 0);
  svc[2] = uvble_uuid16(0x181a);
  REQUIRE_EQ(uvble_uuid_from_bytes(&svc[3], B("CD34"), 4), 0);
  uvble_adv_fields_t f = {0};
  f.name = "MPY";
  f.services = svc;
  f.num_services = 4;
  out_t o;
  REQUIRE_EQ(build(&f, 31, &o), 0);
  /* flags 3 + 16-bit list 6 + 32-bit list 10 + name 5 */
  CHECK_EQ(o.adv_len, 24);
  CHECK_MEM(o.adv + 3, "\x05\x03\x0f\x18\x1a\x18", 6);
  CHECK_MEM(o.adv + 9, "\x09\x05" "AB12" "CD34", 10);
  CHECK_MEM(o.adv + 19, "\x04\x09" "MPY", 5);

  uvble_uuid_t got[8];
  REQUIRE_EQ(uvble_adv_services(o.adv, o.adv_len, o.resp, o.resp_len, got, 8), 4);
  uvble_uuid_t want[4] = {uvble_uuid16(0x180f), uvble_uuid16(0x181a),
                          uvble_uuid32(0x32314241), uvble_uuid32(0x34334443)};
  for (int i = 0; i < 4; i++) {
    CHECK_EQ(got[i].type, want[i].type);
    CHECK(uvble_uuid_equal(&got[i], &want[i]));
  }
  char name[16];
  CHECK_EQ(uvble_adv_name_str(o.adv, o.adv_len, NULL, 0, name, sizeof name), 3);
  CHECK_STR(name, "MPY");
}

/* Flags (3) + a complete name of 26 bytes (28) = exactly 31: all of it in
 * the advertising payload (aioble's `< 31` would have spilled it). */
TEST(build_exactly_31_fits) {
  uvble_adv_fields_t f = {0};
  f.name = "abcdefghijklmnopqrstuvwxyz"; /* 26 */
  out_t o;
  REQUIRE_EQ(build(&f, UVBLE_ADV_LEGACY_MAX, &o), 0);
  CHECK_EQ(o.adv_len, 31);
  CHECK_EQ(o.resp_len, 0);
  CHECK_MEM(o.adv + 3, "\x1b\x09" "abcdefghijklmnopqrstuvwxyz", 28);
  CHECK_EQ(uvble_adv_validate(o.adv, o.adv_len), 2);

  /* One byte more spills the name into the scan response. */
  f.name = "abcdefghijklmnopqrstuvwxyz0"; /* 27 */
  REQUIRE_EQ(build(&f, UVBLE_ADV_LEGACY_MAX, &o), 0);
  CHECK_EQ(o.adv_len, 3);
  CHECK_EQ(o.resp_len, 29);
  CHECK_MEM(o.resp, "\x1c\x09" "abcdefghijklmnopqrstuvwxyz0", 29);

  /* A 29-byte name fills the scan response exactly: 31 bytes. */
  f.name = "abcdefghijklmnopqrstuvwxyz012";
  REQUIRE_EQ(build(&f, UVBLE_ADV_LEGACY_MAX, &o), 0);
  CHECK_EQ(o.adv_len, 3);
  CHECK_EQ(o.resp_len, 31);
}

/* Each field is tried in adv first: a later, smaller field goes back into
 * the advertising payload after a large one spilled (aioble's behaviour). */
TEST(build_spills_field_by_field) {
  uvble_uuid_t svc = uvble_uuid16(0x180d);
  uint8_t mfr[20];
  memset(mfr, 0xab, sizeof mfr);
  uvble_adv_fields_t f = {0};
  f.services = &svc;
  f.num_services = 1;
  f.name = "a-fairly-long-device-name"; /* 25 -> 27 bytes */
  f.appearance = 0x0340;
  f.has_manufacturer = true;
  f.company_id = 0x004c;
  f.manufacturer_data = mfr;
  f.manufacturer_len = sizeof mfr; /* 2 + 2 + 20 = 24 bytes */
  f.has_tx_power = true;
  f.tx_power = -8;
  out_t o;
  /* adv: flags 3 + service 4; the 27-byte name spills to resp; appearance
   * (4) returns to adv; the 24-byte manufacturer data then fits in neither
   * (adv 11 + 24, resp 27 + 24). */
  CHECK_EQ(build(&f, 31, &o), UVBLE_EMSGSIZE);
  /* Without it: adv = flags, service, appearance, TX power; resp = name. */
  f.has_manufacturer = false;
  REQUIRE_EQ(build(&f, 31, &o), 0);
  static const uint8_t adv[] = {0x02, 0x01, 0x06, 0x03, 0x03, 0x0d, 0x18,
                                0x03, 0x19, 0x40, 0x03, 0x02, 0x0a, 0xf8};
  CHECK_EQ(o.adv_len, sizeof adv);
  CHECK_MEM(o.adv, adv, sizeof adv);
  CHECK_EQ(o.resp_len, 27);
  CHECK_EQ(o.resp[1], UVBLE_AD_NAME_COMPLETE);

  /* Everything is found again across both payloads. */
  char name[32];
  CHECK_EQ(uvble_adv_name_str(o.adv, o.adv_len, o.resp, o.resp_len, name,
                              sizeof name),
           25);
  CHECK_STR(name, "a-fairly-long-device-name");
  uint16_t app = 0;
  CHECK_EQ(uvble_adv_appearance(o.adv, o.adv_len, o.resp, o.resp_len, &app), 0);
  CHECK_EQ(app, 0x0340);
  int8_t tx = 0;
  CHECK_EQ(uvble_adv_tx_power(o.adv, o.adv_len, o.resp, o.resp_len, &tx), 0);
  CHECK_EQ(tx, -8);
  CHECK(uvble_adv_has_service(o.adv, o.adv_len, o.resp, o.resp_len, &svc));
}

TEST(build_manufacturer_spills_then_overflows) {
  uint8_t mfr[25];
  memset(mfr, 0x11, sizeof mfr);
  uvble_adv_fields_t f = {0};
  f.has_manufacturer = true;
  f.company_id = 0x0059;
  f.manufacturer_data = mfr;
  f.manufacturer_len = 26 - 2 - 2; /* 26 bytes: fits adv after flags */
  out_t o;
  REQUIRE_EQ(build(&f, 31, &o), 0);
  CHECK_EQ(o.adv_len, 3 + 26);
  CHECK_MEM(o.adv + 3, "\x19\xff\x59\x00", 4);
  f.manufacturer_len = 25; /* 29 bytes: spills */
  REQUIRE_EQ(build(&f, 31, &o), 0);
  CHECK_EQ(o.adv_len, 3);
  CHECK_EQ(o.resp_len, 29);
  uint16_t id;
  const uint8_t *d;
  size_t n;
  CHECK_EQ(uvble_adv_manufacturer(o.adv, o.adv_len, o.resp, o.resp_len,
                                  UVBLE_ADV_ANY_COMPANY, &id, &d, &n),
           0);
  CHECK_EQ(id, 0x0059);
  CHECK_EQ(n, 25);
  CHECK_MEM(d, mfr, 25);

  /* 28 data bytes: 32 bytes, fits nowhere. */
  uint8_t big[28] = {0};
  f.manufacturer_data = big;
  f.manufacturer_len = 28;
  CHECK_EQ(build(&f, 31, &o), UVBLE_EMSGSIZE);
  CHECK_EQ(o.adv_len, 0);
  CHECK_EQ(o.resp_len, 0);
  /* 27 fits the scan response exactly. */
  f.manufacturer_len = 27;
  REQUIRE_EQ(build(&f, 31, &o), 0);
  CHECK_EQ(o.resp_len, 31);
}

TEST(build_overflow) {
  uvble_adv_fields_t f = {0};
  out_t o;
  f.name = "abcdefghijklmnopqrstuvwxyz0123"; /* 30 -> 32 bytes */
  CHECK_EQ(build(&f, 31, &o), UVBLE_EMSGSIZE);
  CHECK_EQ(o.adv_len, 0);
  CHECK_EQ(o.resp_len, 0);

  /* Without a scan response buffer nothing can spill. */
  f.name = "abcdefghijklmnopqrstuvwxyz0"; /* 27: would need resp */
  uint8_t adv[31];
  size_t adv_len = 99;
  CHECK_EQ(uvble_adv_build(&f, 31, adv, &adv_len, NULL, NULL), UVBLE_EMSGSIZE);
  CHECK_EQ(adv_len, 0);
  f.name = "abcdefghijklmnopqrstuvwxyz";
  CHECK_EQ(uvble_adv_build(&f, 31, adv, &adv_len, NULL, NULL), 0);
  CHECK_EQ(adv_len, 31);

  /* Both payloads full: the third field fails. */
  uvble_adv_fields_t g = {0};
  uint8_t mfr[27] = {0};
  g.name = "abcdefghijklmnopqrstuvwxyz"; /* adv: 3 + 28 = 31 */
  g.has_manufacturer = true;
  g.manufacturer_data = mfr;
  g.manufacturer_len = 27; /* resp: 31 */
  REQUIRE_EQ(build(&g, 31, &o), 0);
  CHECK_EQ(o.adv_len, 31);
  CHECK_EQ(o.resp_len, 31);
  g.has_tx_power = true;
  CHECK_EQ(build(&g, 31, &o), UVBLE_EMSGSIZE);

  /* max_len 0: even the flags do not fit; no fields at all is fine. */
  uvble_adv_fields_t h = {0};
  CHECK_EQ(build(&h, 0, &o), UVBLE_EMSGSIZE);
  h.flags = UVBLE_ADV_FLAGS_NONE;
  CHECK_EQ(build(&h, 0, &o), 0);
  CHECK_EQ(o.adv_len, 0);
  CHECK_EQ(o.resp_len, 0);
}

TEST(build_128bit_services) {
  uvble_uuid_t svc[3];
  REQUIRE_EQ(uvble_uuid_parse(&svc[0], "6e400001-b5a3-f393-e0a9-e50e24dcca9e"), 0);
  REQUIRE_EQ(uvble_uuid_parse(&svc[1], "a5a5a5a5-0000-1111-2222-333344445555"), 0);
  svc[2] = uvble_uuid16(0x180d);
  uvble_adv_fields_t f = {0};
  f.services = svc;
  f.num_services = 1;
  out_t o;
  REQUIRE_EQ(build(&f, 31, &o), 0);
  CHECK_EQ(o.adv_len, 3 + 18);
  CHECK_EQ(o.adv[3], 17);
  CHECK_EQ(o.adv[4], UVBLE_AD_UUID128_COMPLETE);
  CHECK_MEM(o.adv + 5, svc[0].data, 16);

  /* Two 128-bit UUIDs make a 34-byte list: too big for legacy. */
  f.num_services = 2;
  CHECK_EQ(build(&f, 31, &o), UVBLE_EMSGSIZE);
  /* ... but fine in one extended PDU. */
  REQUIRE_EQ(build(&f, UVBLE_ADV_EXT_PDU_MAX, &o), 0);
  CHECK_EQ(o.adv_len, 3 + 34);
  CHECK_EQ(o.resp_len, 0);

  /* Mixed: the 16-bit list comes first whatever the input order. */
  uvble_uuid_t mixed[2] = {svc[0], svc[2]};
  f.services = mixed;
  f.num_services = 2;
  REQUIRE_EQ(build(&f, 31, &o), 0);
  CHECK_EQ(o.adv_len, 3 + 4 + 18);
  CHECK_MEM(o.adv + 3, "\x03\x03\x0d\x18", 4);
  uvble_uuid_t got[2];
  REQUIRE_EQ(uvble_adv_services(o.adv, o.adv_len, NULL, 0, got, 2), 2);
  CHECK(uvble_uuid_equal(&got[0], &svc[2]));
  CHECK(uvble_uuid_equal(&got[1], &svc[0]));
  CHECK_EQ(got[1].type, 128);

  /* A UUID of no valid size. */
  uvble_uuid_t bad = svc[2];
  bad.type = 24;
  f.services = &bad;
  f.num_services = 1;
  CHECK_EQ(build(&f, 31, &o), UVBLE_EINVAL);
  f.services = NULL;
  CHECK_EQ(build(&f, 31, &o), UVBLE_EINVAL);
}

TEST(build_name_shortening) {
  uvble_adv_fields_t f = {0};
  f.name = "a-device-name-that-is-far-too-long-for-legacy"; /* 45 */
  out_t o;
  CHECK_EQ(build(&f, 31, &o), UVBLE_EMSGSIZE);
  f.shorten_name = true;
  REQUIRE_EQ(build(&f, 31, &o), 0);
  CHECK_EQ(o.adv_len, 31);
  CHECK_EQ(o.resp_len, 0);
  CHECK_EQ(o.adv[3], 27);
  CHECK_EQ(o.adv[4], UVBLE_AD_NAME_SHORT);
  CHECK_MEM(o.adv + 5, f.name, 26);
  const uint8_t *name;
  size_t n;
  bool complete = true;
  CHECK_EQ(uvble_adv_name(o.adv, o.adv_len, NULL, 0, &name, &n, &complete), 0);
  CHECK(!complete);
  CHECK_EQ(n, 26);

  /* With shortening allowed, a name that would fit the scan response
   * whole is still shortened into the advertising payload. */
  f.name = "abcdefghijklmnopqrstuvwxyz0"; /* 27 */
  REQUIRE_EQ(build(&f, 31, &o), 0);
  CHECK_EQ(o.adv_len, 31);
  CHECK_EQ(o.adv[4], UVBLE_AD_NAME_SHORT);
  CHECK_EQ(o.resp_len, 0);

  /* Less room in adv: the name is cut to what is left there, and a later
   * field that no longer fits adv goes to the scan response. */
  uint8_t mfr[24] = {0};
  uvble_adv_fields_t g = {0};
  uvble_uuid_t svc[6];
  for (int i = 0; i < 6; i++) svc[i] = uvble_uuid16((uint16_t)(0x1800 + i));
  g.services = svc;
  g.num_services = 6; /* 14 bytes: adv 17 */
  g.has_manufacturer = true;
  g.manufacturer_data = mfr;
  g.manufacturer_len = 0;
  g.name = "abcdefghijklmnopqrstuvwxyz01234567"; /* 34 */
  g.shorten_name = true;
  /* adv: 3 + 14 = 17, room 14 -> short name of 12 bytes. */
  REQUIRE_EQ(build(&g, 31, &o), 0);
  CHECK_EQ(o.adv[17], 13);
  CHECK_EQ(o.adv[18], UVBLE_AD_NAME_SHORT);
  CHECK_MEM(o.adv + 19, "abcdefghijkl", 12);
  CHECK_EQ(o.adv_len, 31);
  CHECK_EQ(o.resp_len, 4); /* manufacturer id only */

  /* adv full: the name goes to resp (shortened to 29 bytes there). */
  uvble_uuid_t svc13[13];
  for (int i = 0; i < 13; i++) svc13[i] = uvble_uuid16((uint16_t)(0x1800 + i));
  g.services = svc13;
  g.num_services = 13; /* list of 28 bytes: adv 3 + 28 = 31, full */
  g.has_manufacturer = false;
  REQUIRE_EQ(build(&g, 31, &o), 0);
  CHECK_EQ(o.adv_len, 31);
  CHECK_EQ(o.resp_len, 31);
  CHECK_EQ(o.resp[1], UVBLE_AD_NAME_SHORT);
  CHECK_MEM(o.resp + 2, g.name, 29);
  g.num_services = 12; /* adv 29: room 2, too little for any name byte */
  REQUIRE_EQ(build(&g, 31, &o), 0);
  CHECK_EQ(o.adv_len, 29);
  CHECK_EQ(o.resp[1], UVBLE_AD_NAME_SHORT);
  g.name = "short";
  REQUIRE_EQ(build(&g, 31, &o), 0);
  CHECK_EQ(o.adv_len, 29);
  CHECK_EQ(o.resp_len, 7);
  CHECK_EQ(o.resp[1], UVBLE_AD_NAME_COMPLETE);
}

TEST(build_name_shortening_respects_utf8) {
  uvble_adv_fields_t f = {0};
  /* 25 ASCII bytes then U+00E9 (2 bytes) then more: the cut at 26 bytes
   * would split the é, so it backs off to 25. */
  f.name = "abcdefghijklmnopqrstuvwxy\xc3\xa9zzzz";
  f.shorten_name = true;
  out_t o;
  REQUIRE_EQ(build(&f, 31, &o), 0);
  CHECK_EQ(o.adv[3], 26);
  CHECK_EQ(o.adv[4], UVBLE_AD_NAME_SHORT);
  CHECK_EQ(o.adv_len, 30);
  /* A 3-byte sequence (U+20AC €) straddling the cut. */
  f.name = "abcdefghijklmnopqrstuvwx\xe2\x82\xac-tail";
  REQUIRE_EQ(build(&f, 31, &o), 0);
  CHECK_EQ(o.adv[3], 25); /* 24 bytes of name */
  /* Ending exactly after the sequence is kept whole. */
  f.name = "abcdefghijklmnopqrstuvw\xe2\x82\xac-tail"; /* 23 + 3 */
  REQUIRE_EQ(build(&f, 31, &o), 0);
  CHECK_EQ(o.adv[3], 27);
  CHECK_MEM(o.adv + 5 + 23, "\xe2\x82\xac", 3);
}

TEST(build_extended_limits) {
  char name[301];
  memset(name, 'n', 300);
  name[300] = '\0';
  uvble_adv_fields_t f = {0};
  f.name = name;
  out_t o;
  /* No AD structure carries more than 254 data bytes. */
  CHECK_EQ(build(&f, UVBLE_ADV_EXT_MAX, &o), UVBLE_EMSGSIZE);
  f.shorten_name = true;
  REQUIRE_EQ(build(&f, UVBLE_ADV_EXT_MAX, &o), 0);
  CHECK_EQ(o.adv_len, 3 + 256);
  CHECK_EQ(o.adv[3], 255);
  name[254] = '\0';
  f.shorten_name = false;
  REQUIRE_EQ(build(&f, UVBLE_ADV_EXT_MAX, &o), 0);
  CHECK_EQ(o.adv[4], UVBLE_AD_NAME_COMPLETE);
  CHECK_EQ(uvble_adv_build(&f, UVBLE_ADV_EXT_MAX + 1, o.adv, &o.adv_len, o.resp,
                           &o.resp_len),
           UVBLE_EINVAL);

  uint8_t mfr[253] = {0};
  uvble_adv_fields_t g = {0};
  g.has_manufacturer = true;
  g.manufacturer_data = mfr;
  g.manufacturer_len = 252;
  REQUIRE_EQ(build(&g, UVBLE_ADV_EXT_MAX, &o), 0);
  CHECK_EQ(o.adv[3], 255);
  g.manufacturer_len = 253;
  CHECK_EQ(build(&g, UVBLE_ADV_EXT_MAX, &o), UVBLE_EMSGSIZE);
}

TEST(build_extra_structures) {
  /* Eddystone-URL service data and a URI, added after the built fields. */
  static const uint8_t extra[] = {
      0x03, 0x03, 0xaa, 0xfe,                               /* list FEAA */
      0x0a, 0x16, 0xaa, 0xfe, 0x10, 0xeb, 0x03, 'a', 'b', 'c', 0x07,
      0x00, 0x00, 0x00,                                     /* padding */
  };
  uvble_adv_fields_t f = {0};
  f.extra = extra;
  f.extra_len = sizeof extra;
  out_t o;
  REQUIRE_EQ(build(&f, 31, &o), 0);
  CHECK_EQ(o.adv_len, 3 + 4 + 11);
  CHECK_MEM(o.adv + 3, extra, 15);
  CHECK_EQ(uvble_adv_validate(o.adv, o.adv_len), 3);
  uvble_uuid_t feaa = uvble_uuid16(0xfeaa), u;
  const uint8_t *d;
  size_t n;
  CHECK_EQ(uvble_adv_service_data(o.adv, o.adv_len, NULL, 0, &feaa, &u, &d, &n), 0);
  CHECK_EQ(n, 7);
  CHECK_EQ(d[0], 0x10);

  /* Malformed extra: EINVAL. */
  static const uint8_t bad[] = {0x03, 0x03, 0xaa, 0xfe, 0x05, 0x16, 0xaa};
  f.extra = bad;
  f.extra_len = sizeof bad;
  CHECK_EQ(build(&f, 31, &o), UVBLE_EINVAL);
  f.extra = NULL;
  f.extra_len = 3;
  CHECK_EQ(build(&f, 31, &o), UVBLE_EINVAL);

  /* Bad arguments. */
  uvble_adv_fields_t g = {0};
  size_t len;
  uint8_t buf[31];
  CHECK_EQ(uvble_adv_build(NULL, 31, buf, &len, NULL, NULL), UVBLE_EINVAL);
  CHECK_EQ(uvble_adv_build(&g, 31, NULL, &len, NULL, NULL), UVBLE_EINVAL);
  CHECK_EQ(uvble_adv_build(&g, 31, buf, NULL, NULL, NULL), UVBLE_EINVAL);
  CHECK_EQ(uvble_adv_build(&g, 31, buf, &len, buf, NULL), UVBLE_EINVAL);
  g.has_manufacturer = true;
  g.manufacturer_len = 2;
  CHECK_EQ(uvble_adv_build(&g, 31, buf, &len, NULL, NULL), UVBLE_EINVAL);
}

/* ---- parser --------------------------------------------------------------- */

/* MicroPython's ble_gap_advertise test advertises b'\x02\x01\x06\x04\xffMPY':
 * Flags 0x06 (LE General Discoverable, BR/EDR not supported) and one
 * Manufacturer Specific Data structure of 3 bytes, "MPY". Its first two
 * bytes are the company id, little-endian: 'M' 0x4d, 'P' 0x50 -> 0x504d;
 * the manufacturer's data is the one byte "Y". */
TEST(parse_micropython_advertise_payload) {
  uint8_t *p = exact("\x02\x01\x06\x04\xffMPY", 8);
  REQUIRE(p != NULL);
  uvble_adv_iter_t it;
  uint8_t type;
  const uint8_t *d;
  size_t n;
  uvble_adv_iter_init(&it, p, 8, NULL, 0);
  REQUIRE_EQ(uvble_adv_iter_next(&it, &type, &d, &n), 1);
  CHECK_EQ(type, UVBLE_AD_FLAGS);
  CHECK_EQ(n, 1);
  CHECK_EQ(d[0], 0x06);
  REQUIRE_EQ(uvble_adv_iter_next(&it, &type, &d, &n), 1);
  CHECK_EQ(type, UVBLE_AD_MANUFACTURER);
  CHECK_EQ(n, 3);
  CHECK_MEM(d, "MPY", 3);
  CHECK_EQ(uvble_adv_iter_next(&it, &type, &d, &n), 0);
  CHECK_EQ(uvble_adv_iter_next(&it, &type, &d, &n), 0);
  CHECK(!it.truncated);

  uint8_t flags = 0;
  CHECK_EQ(uvble_adv_flags(p, 8, NULL, 0, &flags), 0);
  CHECK_EQ(flags, 0x06);
  uint16_t id = 0;
  CHECK_EQ(uvble_adv_manufacturer(p, 8, NULL, 0, UVBLE_ADV_ANY_COMPANY, &id, &d, &n), 0);
  CHECK_EQ(id, 0x504d);
  CHECK_EQ(n, 1);
  CHECK_EQ(d[0], 'Y');
  CHECK_EQ(uvble_adv_manufacturer(p, 8, NULL, 0, 0x504d, NULL, NULL, NULL), 0);
  CHECK_EQ(uvble_adv_manufacturer(p, 8, NULL, 0, 0x4d50, NULL, NULL, NULL),
           UVBLE_ENOENT);
  CHECK_EQ(uvble_adv_name(p, 8, NULL, 0, &d, &n, NULL), UVBLE_ENOENT);
  CHECK_EQ(uvble_adv_services(p, 8, NULL, 0, NULL, 0), 0);
  CHECK_EQ(uvble_adv_appearance(p, 8, NULL, 0, NULL), UVBLE_ENOENT);
  CHECK_EQ(uvble_adv_tx_power(p, 8, NULL, 0, NULL), UVBLE_ENOENT);
  CHECK_EQ(uvble_adv_validate(p, 8), 2);

  /* The builder makes the same bytes from flags + manufacturer. */
  uvble_adv_fields_t f = {0};
  f.has_manufacturer = true;
  f.company_id = 0x504d;
  f.manufacturer_data = B("Y");
  f.manufacturer_len = 1;
  out_t o;
  REQUIRE_EQ(build(&f, 31, &o), 0);
  CHECK_EQ(o.adv_len, 8);
  CHECK_MEM(o.adv, p, 8);
  free(p);
}

TEST(parse_zero_length_stops_walk) {
  /* flags, then a zero length byte, then what looks like a name: the name
   * is padding and must not be seen. */
  static const uint8_t raw[] = {0x02, 0x01, 0x06, 0x00, 0x04, 0x09, 'a', 'b', 'c'};
  uint8_t *p = exact(raw, sizeof raw);
  uvble_adv_iter_t it;
  uint8_t type;
  uvble_adv_iter_init(&it, p, sizeof raw, NULL, 0);
  CHECK_EQ(uvble_adv_iter_next(&it, &type, NULL, NULL), 1);
  CHECK_EQ(uvble_adv_iter_next(&it, &type, NULL, NULL), 0); /* normal end */
  CHECK(!it.truncated);
  CHECK_EQ(uvble_adv_name(p, sizeof raw, NULL, 0, NULL, NULL, NULL), UVBLE_ENOENT);
  CHECK_EQ(uvble_adv_validate(p, sizeof raw), 1);
  /* Legacy payloads zero-padded to 31 bytes parse normally. */
  uint8_t padded[31] = {0x02, 0x01, 0x06, 0x03, 0x19, 0x40, 0x03};
  CHECK_EQ(uvble_adv_validate(padded, 31), 2);
  uint16_t app;
  CHECK_EQ(uvble_adv_appearance(padded, 31, NULL, 0, &app), 0);
  CHECK_EQ(app, 0x0340);
  /* Zero length first: nothing at all. */
  CHECK_EQ(uvble_adv_validate(B("\x00\x02\x01\x06"), 4), 0);
  free(p);
}

TEST(parse_overrun_stops_without_reading_past) {
  /* The name claims 5 bytes (type + 4) but only 3 remain. Exactly-sized
   * heap buffer: under ASan any read past the end aborts. */
  static const uint8_t raw[] = {0x02, 0x01, 0x06, 0x05, 0x09, 'a', 'b'};
  uint8_t *p = exact(raw, sizeof raw);
  uvble_adv_iter_t it;
  uint8_t type;
  uvble_adv_iter_init(&it, p, sizeof raw, NULL, 0);
  CHECK_EQ(uvble_adv_iter_next(&it, &type, NULL, NULL), 1);
  CHECK_EQ(type, UVBLE_AD_FLAGS);
  CHECK_EQ(uvble_adv_iter_next(&it, &type, NULL, NULL), UVBLE_EPROTO);
  CHECK(it.truncated);
  CHECK_EQ(uvble_adv_iter_next(&it, &type, NULL, NULL), UVBLE_EPROTO);
  CHECK_EQ(uvble_adv_validate(p, sizeof raw), UVBLE_EPROTO);
  CHECK_EQ(uvble_adv_name(p, sizeof raw, NULL, 0, NULL, NULL, NULL), UVBLE_ENOENT);
  uint8_t flags;
  CHECK_EQ(uvble_adv_flags(p, sizeof raw, NULL, 0, &flags), 0);
  CHECK_EQ(flags, 6);
  free(p);

  /* A lone length byte at the end (no room even for the type). */
  p = exact("\x02\x01\x06\x01", 4);
  CHECK_EQ(uvble_adv_validate(p, 4), UVBLE_EPROTO);
  free(p);
  p = exact("\xff", 1);
  CHECK_EQ(uvble_adv_validate(p, 1), UVBLE_EPROTO);
  free(p);

  /* Every strict prefix of a real payload, each in an exactly-sized heap
   * buffer, through every query: truncated or shorter, never out of bounds. */
  static const uint8_t full[] = {
      0x02, 0x01, 0x06, 0x05, 0x03, 0x0d, 0x18, 0x0f, 0x18, 0x05, 0x09,
      'h',  'r',  'm',  '1', 0x03, 0x19, 0x40, 0x03, 0x02, 0x0a, 0xf4,
      0x05, 0x16, 0x0d, 0x18, 0x01, 0x02, 0x05, 0xff, 0x59, 0x00, 0xaa, 0xbb};
  for (size_t len = 0; len <= sizeof full; len++) {
    uint8_t *q = exact(full, len);
    int v = uvble_adv_validate(q, len);
    CHECK(v >= 0 || v == UVBLE_EPROTO);
    const uint8_t *d;
    size_t n;
    uvble_uuid_t uuids[4], u;
    char name[8];
    uvble_adv_find(q, len, NULL, 0, 0x19, &d, &n);
    uvble_adv_flags(q, len, NULL, 0, NULL);
    uvble_adv_name(q, len, NULL, 0, &d, &n, NULL);
    uvble_adv_name_str(q, len, NULL, 0, name, sizeof name);
    uvble_adv_services(q, len, NULL, 0, uuids, 4);
    uvble_adv_manufacturer(q, len, NULL, 0, UVBLE_ADV_ANY_COMPANY, NULL, &d, &n);
    uvble_adv_appearance(q, len, NULL, 0, NULL);
    uvble_adv_tx_power(q, len, NULL, 0, NULL);
    uvble_adv_service_data(q, len, NULL, 0, NULL, &u, &d, &n);
    /* also as the scan response half */
    uvble_adv_services(NULL, 0, q, len, uuids, 4);
    uvble_adv_manufacturer(NULL, 0, q, len, 0x59, NULL, &d, &n);
    free(q);
  }
  CHECK_EQ(uvble_adv_validate(full, sizeof full), 7);
}

TEST(parse_overrun_in_adv_still_walks_resp) {
  uint8_t *adv = exact("\x02\x01\x06\x09\x09" "ab", 7);
  uint8_t *resp = exact("\x04\x09" "xyz", 5);
  char name[8];
  CHECK_EQ(uvble_adv_name_str(adv, 7, resp, 5, name, sizeof name), 3);
  CHECK_STR(name, "xyz");
  uvble_adv_iter_t it;
  uvble_adv_iter_init(&it, adv, 7, resp, 5);
  CHECK_EQ(uvble_adv_iter_next(&it, NULL, NULL, NULL), 1);
  CHECK_EQ(it.source, 0);
  CHECK_EQ(uvble_adv_iter_next(&it, NULL, NULL, NULL), 1);
  CHECK_EQ(it.source, 1);
  CHECK_EQ(uvble_adv_iter_next(&it, NULL, NULL, NULL), UVBLE_EPROTO);
  free(adv);
  free(resp);
}

TEST(parse_empty) {
  uint8_t *p = exact("", 0);
  uvble_adv_iter_t it;
  uvble_adv_iter_init(&it, p, 0, NULL, 0);
  CHECK_EQ(uvble_adv_iter_next(&it, NULL, NULL, NULL), 0);
  uvble_adv_iter_init(&it, NULL, 0, NULL, 0);
  CHECK_EQ(uvble_adv_iter_next(&it, NULL, NULL, NULL), 0);
  uvble_adv_iter_init(&it, NULL, 5, NULL, 7); /* NULL with a length: empty */
  CHECK_EQ(uvble_adv_iter_next(&it, NULL, NULL, NULL), 0);
  CHECK_EQ(uvble_adv_validate(p, 0), 0);
  CHECK_EQ(uvble_adv_validate(NULL, 0), 0);
  const uint8_t *d;
  size_t n;
  char name[4] = "zz";
  CHECK_EQ(uvble_adv_find(p, 0, NULL, 0, 1, &d, &n), UVBLE_ENOENT);
  CHECK_EQ(uvble_adv_flags(p, 0, p, 0, NULL), UVBLE_ENOENT);
  CHECK_EQ(uvble_adv_name(p, 0, NULL, 0, &d, &n, NULL), UVBLE_ENOENT);
  CHECK_EQ(uvble_adv_name_str(p, 0, NULL, 0, name, sizeof name), UVBLE_ENOENT);
  CHECK_STR(name, "zz");
  CHECK_EQ(uvble_adv_services(p, 0, NULL, 0, NULL, 0), 0);
  CHECK_EQ(uvble_adv_manufacturer(p, 0, NULL, 0, -1, NULL, NULL, NULL), UVBLE_ENOENT);
  CHECK_EQ(uvble_adv_appearance(p, 0, NULL, 0, NULL), UVBLE_ENOENT);
  CHECK_EQ(uvble_adv_tx_power(p, 0, NULL, 0, NULL), UVBLE_ENOENT);
  CHECK_EQ(uvble_adv_service_data(p, 0, NULL, 0, NULL, NULL, NULL, NULL), UVBLE_ENOENT);
  uvble_uuid_t u = uvble_uuid16(0x180d);
  CHECK(!uvble_adv_has_service(p, 0, NULL, 0, &u));
  free(p);
}

TEST(name_across_adv_and_resp) {
  /* Short name in adv, complete in the scan response: complete wins. */
  const uint8_t *adv = B("\x02\x01\x06\x05\x08" "sens");
  const uint8_t *resp = B("\x0b\x09" "sensor-one");
  const uint8_t *d;
  size_t n;
  bool complete = false;
  REQUIRE_EQ(uvble_adv_name(adv, 9, resp, 12, &d, &n, &complete), 0);
  CHECK(complete);
  CHECK_EQ(n, 10);
  CHECK_MEM(d, "sensor-one", 10);
  /* Without the scan response: the short one. */
  REQUIRE_EQ(uvble_adv_name(adv, 9, NULL, 0, &d, &n, &complete), 0);
  CHECK(!complete);
  CHECK_EQ(n, 4);
  CHECK_MEM(d, "sens", 4);
  /* Only in the scan response. */
  REQUIRE_EQ(uvble_adv_name(B("\x02\x01\x06"), 3, resp, 12, &d, &n, NULL), 0);
  CHECK_EQ(n, 10);
  /* Complete in adv beats short in resp. */
  REQUIRE_EQ(uvble_adv_name(resp, 12, adv, 9, &d, &n, &complete), 0);
  CHECK(complete);
  CHECK_MEM(d, "sensor-one", 10);
  /* Empty complete name: found, empty. */
  REQUIRE_EQ(uvble_adv_name(B("\x01\x09"), 2, NULL, 0, &d, &n, &complete), 0);
  CHECK_EQ(n, 0);
  char buf[16];
  CHECK_EQ(uvble_adv_name_str(B("\x01\x09"), 2, NULL, 0, buf, sizeof buf), 0);
  CHECK_STR(buf, "");

  /* name_str buffer sizes. */
  CHECK_EQ(uvble_adv_name_str(adv, 9, resp, 12, buf, 11), 10);
  CHECK_STR(buf, "sensor-one");
  CHECK_EQ(uvble_adv_name_str(adv, 9, resp, 12, buf, 10), UVBLE_ENOBUFS);
  CHECK_STR(buf, "sensor-on");
  CHECK_EQ(uvble_adv_name_str(adv, 9, resp, 12, buf, 1), UVBLE_ENOBUFS);
  CHECK_STR(buf, "");
  CHECK_EQ(uvble_adv_name_str(adv, 9, resp, 12, NULL, 0), UVBLE_ENOBUFS);
  CHECK_EQ(uvble_adv_name_str(adv, 9, resp, 12, NULL, 4), UVBLE_EINVAL);
}

static int count_cb(const uvble_uuid_t *uuid, uint8_t ad_type, void *arg) {
  int *seen = arg;
  seen[0]++;
  seen[1] |= 1 << (ad_type - 2);
  return seen[0] == seen[2]; /* stop after seen[2] */
}

TEST(services_all_list_types) {
  /* Incomplete and complete lists of every size across both payloads, one
   * with a stray trailing byte (ignored). */
  static const uint8_t adv[] = {
      0x05, 0x02, 0x01, 0x18, 0x02, 0x18,       /* incomplete 16: 1801 1802 */
      0x06, 0x05, 0x44, 0x33, 0x22, 0x11, 0x99, /* complete 32: 11223344 + stray */
      0x11, 0x06, 0x9e, 0xca, 0xdc, 0x24, 0x0e, 0xe5, 0xa9, 0xe0,
      0x93, 0xf3, 0xa3, 0xb5, 0x01, 0x00, 0x40, 0x6e, /* incomplete 128: NUS */
  };
  static const uint8_t resp[] = {
      0x03, 0x03, 0x0d, 0x18,             /* complete 16: 180d */
      0x05, 0x04, 0x0d, 0x18, 0x00, 0x00, /* incomplete 32: 0000180d */
      0x11, 0x07, 0xfb, 0x34, 0x9b, 0x5f, 0x80, 0x00, 0x00, 0x80, 0x00, 0x10,
      0x00, 0x00, 0x0f, 0x18, 0x00, 0x00, /* complete 128: base 180f */
      0x02, 0x03, 0x01,                   /* 16-bit list with 1 byte: none */
  };
  uvble_uuid_t got[16];
  int n = uvble_adv_services(adv, sizeof adv, resp, sizeof resp, got, 16);
  REQUIRE_EQ(n, 7);
  const char *want[7] = {"1801", "1802", "180d", "11223344", "0000180d",
                         "6e400001-b5a3-f393-e0a9-e50e24dcca9e",
                         "0000180f-0000-1000-8000-00805f9b34fb"};
  for (int i = 0; i < 7; i++) {
    char s[UVBLE_UUID_STR_LEN];
    REQUIRE(uvble_uuid_to_str(&got[i], s, sizeof s) > 0);
    CHECK_STR(s, want[i]);
  }
  /* Fewer slots than UUIDs: the count is still the total. */
  uvble_uuid_t two[2];
  CHECK_EQ(uvble_adv_services(adv, sizeof adv, resp, sizeof resp, two, 2), 7);
  CHECK_MEM(&two[1], &got[1], sizeof two[1]);
  CHECK_EQ(uvble_adv_services(adv, sizeof adv, resp, sizeof resp, NULL, 2), UVBLE_EINVAL);

  int seen[3] = {0, 0, 100};
  CHECK_EQ(uvble_adv_services_foreach(adv, sizeof adv, resp, sizeof resp,
                                      count_cb, seen), 7);
  CHECK_EQ(seen[1], 0x3f); /* all six list types */
  int stop[3] = {0, 0, 3};
  CHECK_EQ(uvble_adv_services_foreach(adv, sizeof adv, resp, sizeof resp,
                                      count_cb, stop), 3);
  CHECK_EQ(stop[0], 3);

  /* has_service compares as UUIDs: 16-bit 180f matches the base 128-bit
   * form, 32-bit 0000180d matches 180d. */
  uvble_uuid_t q = uvble_uuid16(0x180f);
  CHECK(uvble_adv_has_service(adv, sizeof adv, resp, sizeof resp, &q));
  CHECK(!uvble_adv_has_service(adv, sizeof adv, NULL, 0, &q));
  q = uvble_uuid16(0x180d);
  CHECK(uvble_adv_has_service(adv, sizeof adv, resp, sizeof resp, &q));
  q = uvble_uuid32(0x11223344);
  CHECK(uvble_adv_has_service(adv, sizeof adv, NULL, 0, &q));
  q = uvble_uuid16(0x1803);
  CHECK(!uvble_adv_has_service(adv, sizeof adv, resp, sizeof resp, &q));
  CHECK(!uvble_adv_has_service(adv, sizeof adv, resp, sizeof resp, NULL));
}

TEST(manufacturer_iterate_and_filter) {
  static const uint8_t adv[] = {
      0x02, 0x01, 0x06,
      0x05, 0xff, 0x4c, 0x00, 0x01, 0x02, /* Apple: 01 02 */
      0x02, 0xff, 0x59,                   /* too short for an id: skipped */
      0x03, 0xff, 0x59, 0x00,             /* Nordic, no data */
  };
  static const uint8_t resp[] = {0x04, 0xff, 0x4c, 0x00, 0x03};
  uvble_adv_iter_t it;
  uint16_t id;
  const uint8_t *d;
  size_t n;
  uint16_t ids[4];
  size_t lens[4];
  int k = 0;
  uvble_adv_iter_init(&it, adv, sizeof adv, resp, sizeof resp);
  while (k < 4 && uvble_adv_iter_manufacturer(&it, UVBLE_ADV_ANY_COMPANY, &id, &d, &n) == 1) {
    ids[k] = id;
    lens[k] = n;
    k++;
  }
  REQUIRE_EQ(k, 3);
  CHECK_EQ(ids[0], 0x004c);
  CHECK_EQ(lens[0], 2);
  CHECK_EQ(ids[1], 0x0059);
  CHECK_EQ(lens[1], 0);
  CHECK_EQ(ids[2], 0x004c);
  CHECK_EQ(lens[2], 1);
  CHECK_EQ(uvble_adv_iter_manufacturer(&it, UVBLE_ADV_ANY_COMPANY, &id, &d, &n), 0);

  k = 0;
  uvble_adv_iter_init(&it, adv, sizeof adv, resp, sizeof resp);
  while (uvble_adv_iter_manufacturer(&it, 0x004c, &id, &d, &n) == 1) {
    CHECK_EQ(id, 0x004c);
    k++;
  }
  CHECK_EQ(k, 2);
  CHECK_EQ(uvble_adv_manufacturer(adv, sizeof adv, resp, sizeof resp, 0x0059,
                                  &id, &d, &n), 0);
  CHECK_EQ(n, 0);
  CHECK_EQ(uvble_adv_manufacturer(adv, sizeof adv, resp, sizeof resp, 0x0006,
                                  &id, &d, &n), UVBLE_ENOENT);
}

TEST(ibeacon) {
  static const uint8_t raw[30] = {
      0x02, 0x01, 0x06, 0x1a, 0xff, 0x4c, 0x00, 0x02, 0x15,
      0xe2, 0xc5, 0x6d, 0xb5, 0xdf, 0xfb, 0x48, 0xd2, 0xb0, 0x60,
      0xd0, 0xf5, 0xa7, 0x10, 0x96, 0xe0, /* proximity UUID */
      0x00, 0x01, 0x00, 0x02,             /* major, minor */
      0xc5,                               /* measured power -59 */
  };
  uint8_t *p = exact(raw, sizeof raw);
  uint16_t id;
  const uint8_t *d;
  size_t n;
  REQUIRE_EQ(uvble_adv_manufacturer(p, 30, NULL, 0, 0x004c, &id, &d, &n), 0);
  CHECK_EQ(n, 23);
  CHECK_EQ(d[0], 0x02);
  CHECK_EQ(d[1], 0x15);
  CHECK_EQ((int8_t)d[22], -59);
  CHECK_EQ(uvble_adv_validate(p, 30), 2);
  free(p);
}

TEST(service_data_and_tx_power) {
  static const uint8_t adv[] = {
      0x02, 0x0a, 0x7f,                         /* TX power +127 */
      0x01, 0x0a,                               /* empty TX power: skipped */
      0x03, 0x19, 0x00, 0x03,                   /* appearance 0x0300 */
      0x02, 0x19, 0x01,                         /* too short appearance */
      0x05, 0x16, 0x1a, 0x18, 0xe8, 0x03,       /* 181a: e8 03 */
      0x07, 0x20, 0x44, 0x33, 0x22, 0x11, 0x01, 0x02,  /* 11223344: 01 02 */
      0x02, 0x16, 0x1a,                         /* too short: skipped */
      0x12, 0x21, 0x9e, 0xca, 0xdc, 0x24, 0x0e, 0xe5, 0xa9, 0xe0, 0x93, 0xf3,
      0xa3, 0xb5, 0x01, 0x00, 0x40, 0x6e, 0x42, /* NUS: 42 */
  };
  int8_t tx;
  REQUIRE_EQ(uvble_adv_tx_power(adv, sizeof adv, NULL, 0, &tx), 0);
  CHECK_EQ(tx, 127);
  uint16_t app;
  REQUIRE_EQ(uvble_adv_appearance(adv, sizeof adv, NULL, 0, &app), 0);
  CHECK_EQ(app, 0x0300);

  uvble_adv_iter_t it;
  uvble_uuid_t u;
  const uint8_t *d;
  size_t n;
  uvble_adv_iter_init(&it, adv, sizeof adv, NULL, 0);
  REQUIRE_EQ(uvble_adv_iter_service_data(&it, NULL, &u, &d, &n), 1);
  CHECK_EQ(u.type, 16);
  CHECK_EQ(n, 2);
  CHECK_MEM(d, "\xe8\x03", 2);
  REQUIRE_EQ(uvble_adv_iter_service_data(&it, NULL, &u, &d, &n), 1);
  CHECK_EQ(u.type, 32);
  CHECK_EQ(n, 2);
  REQUIRE_EQ(uvble_adv_iter_service_data(&it, NULL, &u, &d, &n), 1);
  CHECK_EQ(u.type, 128);
  CHECK_EQ(n, 1);
  CHECK_EQ(d[0], 0x42);
  CHECK_EQ(uvble_adv_iter_service_data(&it, NULL, &u, &d, &n), 0);

  /* Filter by UUID; a 128-bit base form finds the 16-bit service data. */
  uvble_uuid_t want;
  REQUIRE_EQ(uvble_uuid_parse(&want, "0000181a-0000-1000-8000-00805f9b34fb"), 0);
  REQUIRE_EQ(uvble_adv_service_data(adv, sizeof adv, NULL, 0, &want, &u, &d, &n), 0);
  CHECK_EQ(u.type, 16);
  CHECK_MEM(d, "\xe8\x03", 2);
  want = uvble_uuid32(0x11223344);
  REQUIRE_EQ(uvble_adv_service_data(adv, sizeof adv, NULL, 0, &want, NULL, &d, &n), 0);
  CHECK_MEM(d, "\x01\x02", 2);
  want = uvble_uuid16(0x180d);
  CHECK_EQ(uvble_adv_service_data(adv, sizeof adv, NULL, 0, &want, NULL, &d, &n),
           UVBLE_ENOENT);

  /* find and iter_find */
  CHECK_EQ(uvble_adv_find(adv, sizeof adv, NULL, 0, UVBLE_AD_TX_POWER, &d, &n), 0);
  CHECK_EQ(n, 1);
  uvble_adv_iter_init(&it, adv, sizeof adv, NULL, 0);
  int count = 0;
  while (uvble_adv_iter_find(&it, UVBLE_AD_TX_POWER, &d, &n) == 1) count++;
  CHECK_EQ(count, 2);
}

TEST(flags_empty_structure_skipped) {
  /* A Flags structure with no data is skipped; the next one is used. */
  uint8_t f = 0;
  CHECK_EQ(uvble_adv_flags(B("\x01\x01\x02\x01\x05"), 5, NULL, 0, &f), 0);
  CHECK_EQ(f, 5);
  CHECK_EQ(uvble_adv_flags(B("\x01\x01"), 2, NULL, 0, &f), UVBLE_ENOENT);
}

TEST_MAIN()
