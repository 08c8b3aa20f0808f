/* SPDX-License-Identifier: Apache-2.0 */
/* UUIDs: MicroPython's bluetooth.UUID rules, text round trips, base-UUID
 * expansion and shrinking, bad input. */
#include <stdlib.h>

#include "test.h"
#include "uvble/error.h"
#include "uvble/uuid.h"

static const char *str(const uvble_uuid_t *u) {
  static char buf[UVBLE_UUID_STR_LEN];
  int r = uvble_uuid_to_str(u, buf, sizeof buf);
  return r < 0 ? "(error)" : buf;
}

TEST(uuid16_from_int) {
  uvble_uuid_t u = uvble_uuid16(0x180d);
  CHECK_EQ(u.type, 16);
  CHECK_EQ(u.data[0], 0x0d);
  CHECK_EQ(u.data[1], 0x18);
  CHECK_STR(str(&u), "180d");
  uvble_uuid_t z = uvble_uuid16(0);
  CHECK_STR(str(&z), "0000");
}

TEST(uuid32_from_int) {
  uvble_uuid_t u = uvble_uuid32(0x32314241);
  CHECK_EQ(u.type, 32);
  CHECK_MEM(u.data, "AB12", 4);
  CHECK_STR(str(&u), "32314241");
  uvble_uuid_t s = uvble_uuid32(0xabcd);
  CHECK_STR(str(&s), "0000abcd");
}

/* MicroPython: a buffer of length 2, 4 or 16 is raw little-endian bytes;
 * UUID("AB12") is UUID(0x32314241), as aioble's advertise test relies on. */
TEST(from_bytes_is_raw_little_endian) {
  uvble_uuid_t u;
  REQUIRE_EQ(uvble_uuid_from_bytes(&u, (const uint8_t *)"AB12", 4), 0);
  CHECK_EQ(u.type, 32);
  uvble_uuid_t want = uvble_uuid32(0x32314241);
  CHECK(uvble_uuid_equal(&u, &want));
  CHECK_STR(str(&u), "32314241");

  REQUIRE_EQ(uvble_uuid_from_bytes(&u, (const uint8_t *)"\x0d\x18", 2), 0);
  CHECK_EQ(u.type, 16);
  CHECK_STR(str(&u), "180d");

  const uint8_t nus[16] = {0x9e, 0xca, 0xdc, 0x24, 0x0e, 0xe5, 0xa9, 0xe0,
                           0x93, 0xf3, 0xa3, 0xb5, 0x01, 0x00, 0x40, 0x6e};
  REQUIRE_EQ(uvble_uuid_from_bytes(&u, nus, 16), 0);
  CHECK_EQ(u.type, 128);
  CHECK_STR(str(&u), "6e400001-b5a3-f393-e0a9-e50e24dcca9e");
}

TEST(from_bytes_bad_lengths) {
  uvble_uuid_t u;
  const uint8_t buf[17] = {0};
  size_t bad[] = {0, 1, 3, 5, 8, 15, 17};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ(uvble_uuid_from_bytes(&u, buf, bad[i]), UVBLE_EINVAL);
  CHECK_EQ(uvble_uuid_from_bytes(NULL, buf, 2), UVBLE_EINVAL);
  CHECK_EQ(uvble_uuid_from_bytes(&u, NULL, 2), UVBLE_EINVAL);
}

TEST(parse_forms) {
  uvble_uuid_t u, want16 = uvble_uuid16(0x180d);
  REQUIRE_EQ(uvble_uuid_parse(&u, "180d"), 0);
  CHECK_EQ(u.type, 16);
  CHECK_MEM(u.data, want16.data, 2);
  REQUIRE_EQ(uvble_uuid_parse(&u, "0x180d"), 0);
  CHECK_EQ(u.type, 16);
  CHECK_MEM(u.data, want16.data, 2);
  REQUIRE_EQ(uvble_uuid_parse(&u, "0X180D"), 0);
  CHECK_EQ(u.type, 16);
  CHECK_MEM(u.data, want16.data, 2);
  REQUIRE_EQ(uvble_uuid_parse(&u, "180D"), 0);
  CHECK_MEM(u.data, want16.data, 2);
  REQUIRE_EQ(uvble_uuid_parse(&u, "0x1"), 0);
  CHECK_EQ(u.type, 16);
  CHECK_EQ(u.data[0], 1);
  CHECK_EQ(u.data[1], 0);

  /* 8 digits are a 32-bit UUID even when the value would fit 16 bits. */
  REQUIRE_EQ(uvble_uuid_parse(&u, "0000180d"), 0);
  CHECK_EQ(u.type, 32);
  CHECK_STR(str(&u), "0000180d");
  CHECK(uvble_uuid_equal(&u, &want16));
  REQUIRE_EQ(uvble_uuid_parse(&u, "0x12345"), 0);
  CHECK_EQ(u.type, 32);
  CHECK_STR(str(&u), "00012345");
  REQUIRE_EQ(uvble_uuid_parse(&u, "0xdeadbeef"), 0);
  CHECK_STR(str(&u), "deadbeef");
  CHECK_EQ(u.data[0], 0xef);
  CHECK_EQ(u.data[3], 0xde);

  /* 128-bit: dashed, undashed, upper case, dashes anywhere (MicroPython). */
  const char *forms[] = {
      "6e400001-b5a3-f393-e0a9-e50e24dcca9e",
      "6E400001-B5A3-F393-E0A9-E50E24DCCA9E",
      "6e400001b5a3f393e0a9e50e24dcca9e",
      "6e40-0001b5a3f393e0a9e50e24dcca9e-",
  };
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
    REQUIRE_EQ(uvble_uuid_parse(&u, forms[i]), 0);
    CHECK_EQ(u.type, 128);
    CHECK_EQ(u.data[0], 0x9e);
    CHECK_EQ(u.data[15], 0x6e);
    CHECK_STR(str(&u), "6e400001-b5a3-f393-e0a9-e50e24dcca9e");
  }
}

TEST(parse_bad) {
  uvble_uuid_t u = uvble_uuid16(0x1234), keep = u;
  const char *bad[] = {
      "",      "0x",    "18d",      "180d0",  "0000180d0", "xyz1",
      " 180d", "180d ", "0x-180d",  "0x180g", "0x123456789",
      "g80d",  "-",     "0x18-0d",
      "6e400001-b5a3-f393-e0a9-e50e24dcca9",   /* 31 digits */
      "6e400001-b5a3-f393-e0a9-e50e24dcca9e0", /* 33 digits */
      "6e400001-b5a3-f393-e0a9-e50e24dcca9z",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (uvble_uuid_parse(&u, bad[i]) != UVBLE_EINVAL)
      test_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
    CHECK_MEM(&u, &keep, sizeof u); /* untouched on error */
  }
  CHECK_EQ(uvble_uuid_parse(NULL, "180d"), UVBLE_EINVAL);
  CHECK_EQ(uvble_uuid_parse(&u, NULL), UVBLE_EINVAL);
}

TEST(to_str_buffer_sizes) {
  uvble_uuid_t u;
  REQUIRE_EQ(uvble_uuid_parse(&u, "6e400001-b5a3-f393-e0a9-e50e24dcca9e"), 0);
  char buf[UVBLE_UUID_STR_LEN];
  CHECK_EQ(uvble_uuid_to_str(&u, buf, sizeof buf), 36);
  CHECK_EQ(uvble_uuid_to_str(&u, buf, 36), UVBLE_ENOSPC);
  uvble_uuid_t s = uvble_uuid16(0xabcd);
  CHECK_EQ(uvble_uuid_to_str(&s, buf, 5), 4);
  CHECK_STR(buf, "abcd");
  CHECK_EQ(uvble_uuid_to_str(&s, buf, 4), UVBLE_ENOSPC);
  CHECK_EQ(uvble_uuid_to_str(&s, buf, 0), UVBLE_ENOSPC);
  uvble_uuid_t w = uvble_uuid32(1);
  CHECK_EQ(uvble_uuid_to_str(&w, buf, 9), 8);
  CHECK_STR(buf, "00000001");
  CHECK_EQ(uvble_uuid_to_str(&w, buf, 8), UVBLE_ENOSPC);

  uvble_uuid_t bad = s;
  bad.type = 24;
  CHECK_EQ(uvble_uuid_to_str(&bad, buf, sizeof buf), UVBLE_EINVAL);
  bad.type = 0;
  CHECK_EQ(uvble_uuid_to_str(&bad, buf, sizeof buf), UVBLE_EINVAL);
  CHECK_EQ(uvble_uuid_to_str(NULL, buf, sizeof buf), UVBLE_EINVAL);
  CHECK_EQ(uvble_uuid_to_str(&s, NULL, 10), UVBLE_EINVAL);
}

TEST(to_str_parse_round_trip) {
  srand(12345);
  for (int n = 0; n < 2000; n++) {
    uvble_uuid_t u;
    memset(&u, 0, sizeof u);
    static const uint8_t types[3] = {16, 32, 128};
    u.type = types[n % 3];
    for (int i = 0; i < u.type / 8; i++) u.data[i] = (uint8_t)rand();
    char buf[UVBLE_UUID_STR_LEN];
    int len = uvble_uuid_to_str(&u, buf, sizeof buf);
    REQUIRE_EQ(len, u.type == 16 ? 4 : u.type == 32 ? 8 : 36);
    REQUIRE_EQ(strlen(buf), (size_t)len);
    for (int i = 0; i < len; i++)
      CHECK(buf[i] == '-' || (buf[i] >= '0' && buf[i] <= '9') ||
            (buf[i] >= 'a' && buf[i] <= 'f'));
    uvble_uuid_t back;
    REQUIRE_EQ(uvble_uuid_parse(&back, buf), 0);
    CHECK_EQ(back.type, u.type);
    CHECK_MEM(back.data, u.data, 16);
    /* and through bytes */
    REQUIRE_EQ(uvble_uuid_from_bytes(&back, u.data, u.type / 8u), 0);
    CHECK_MEM(&back, &u, sizeof u);
  }
}

TEST(to128_and_equal) {
  uvble_uuid_t u = uvble_uuid16(0x180d);
  uvble_uuid_t full = uvble_uuid_to128(&u);
  CHECK_EQ(full.type, 128);
  CHECK_STR(str(&full), "0000180d-0000-1000-8000-00805f9b34fb");
  CHECK(uvble_uuid_equal(&u, &full));
  CHECK(uvble_uuid_equal(&full, &u));

  uvble_uuid_t w = uvble_uuid32(0x12345678);
  uvble_uuid_t wf = uvble_uuid_to128(&w);
  CHECK_STR(str(&wf), "12345678-0000-1000-8000-00805f9b34fb");
  CHECK(uvble_uuid_equal(&w, &wf));

  uvble_uuid_t w16 = uvble_uuid32(0x180d);
  CHECK(uvble_uuid_equal(&w16, &u));
  uvble_uuid_t other = uvble_uuid16(0x180f);
  CHECK(!uvble_uuid_equal(&u, &other));

  uvble_uuid_t nus;
  REQUIRE_EQ(uvble_uuid_parse(&nus, "6e400001-b5a3-f393-e0a9-e50e24dcca9e"), 0);
  uvble_uuid_t nus2 = uvble_uuid_to128(&nus);
  CHECK_MEM(&nus2, &nus, sizeof nus);
  CHECK(!uvble_uuid_equal(&nus, &u));

  uvble_uuid_t bad = u;
  bad.type = 7;
  CHECK(!uvble_uuid_equal(&bad, &bad));
  CHECK(!uvble_uuid_equal(&bad, &u));
  CHECK_EQ(uvble_uuid_to128(&bad).type, 0);
}

TEST(shrink) {
  uvble_uuid_t u;
  REQUIRE_EQ(uvble_uuid_parse(&u, "0000180d-0000-1000-8000-00805f9b34fb"), 0);
  uvble_uuid_t s = uvble_uuid_shrink(&u);
  CHECK_EQ(s.type, 16);
  CHECK_STR(str(&s), "180d");

  REQUIRE_EQ(uvble_uuid_parse(&u, "12345678-0000-1000-8000-00805F9B34FB"), 0);
  s = uvble_uuid_shrink(&u);
  CHECK_EQ(s.type, 32);
  CHECK_STR(str(&s), "12345678");

  uvble_uuid_t w = uvble_uuid32(0x2a00);
  s = uvble_uuid_shrink(&w);
  CHECK_EQ(s.type, 16);
  CHECK_STR(str(&s), "2a00");

  uvble_uuid_t h = uvble_uuid16(0x2a00);
  s = uvble_uuid_shrink(&h);
  CHECK_MEM(&s, &h, sizeof h);

  /* Not on the base UUID (one bit off): stays 128-bit. */
  REQUIRE_EQ(uvble_uuid_parse(&u, "0000180d-0000-1000-8000-00805f9b34fa"), 0);
  s = uvble_uuid_shrink(&u);
  CHECK_EQ(s.type, 128);
  CHECK_MEM(&s, &u, sizeof u);
}

TEST_MAIN()
