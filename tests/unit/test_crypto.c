/* SPDX-License-Identifier: Apache-2.0 */
/* The LE security crypto toolbox against the Core Specification's sample
 * data (Vol 3, Part H, Appendix D and 2.2.3 / 2.2.4 / 2.3.5.6.1).
 *
 * The specification prints its values MSB-first; the API takes them
 * LSB-first. spec() parses a value as printed and stores it reversed, so
 * every vector below reads exactly as in the specification. */
#include <openssl/evp.h>

#include "crypto.h"
#include "test.h"
#include "uvble/error.h"

/* Parses the spec's MSB-first hex (spaces allowed) into n octets LSB-first. */
static void spec(uint8_t *out, size_t n, const char *hex) {
  size_t digits = 0;
  uint8_t tmp[256];
  REQUIRE(n <= sizeof tmp);
  for (const char *c = hex; *c; c++) {
    int v;
    if (*c == ' ') continue;
    if (*c >= '0' && *c <= '9')
      v = *c - '0';
    else if (*c >= 'a' && *c <= 'f')
      v = *c - 'a' + 10;
    else if (*c >= 'A' && *c <= 'F')
      v = *c - 'A' + 10;
    else
      REQUIRE(!"bad hex digit");
    REQUIRE(digits < 2 * n);
    if (digits % 2 == 0)
      tmp[digits / 2] = (uint8_t)(v << 4);
    else
      tmp[digits / 2] |= (uint8_t)v;
    digits++;
  }
  REQUIRE_EQ(digits, 2 * n);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
}

/* ---- D.2 - D.8 shared sample values ------------------------------------- */
/* PKax (debug public key X) */
#define SAMPLE_U                                                           \
  "20b003d2 f297be2c 5e2c83a7 e9f9a5b9 eff49111 acf4fddb cc030148 0e359de6"
#define SAMPLE_V                                                           \
  "55188b3d 32f6bb9a 900afcfb eed4e72a 59cb9ac2 f19d7cfb 6b4fdd49 f47fc5fd"
#define SAMPLE_N1 "d5cb8454 d177733e ffffb2ec 712baeab"
#define SAMPLE_N2 "a6e8e7cc 25a75f6e 216583f7 ff3dc4cf"
#define SAMPLE_DHKEY                                                       \
  "ec0234a3 57c8ad05 341010a6 0a397d9b 99796b13 b4f866f1 868d34f3 73bfa698"
#define SAMPLE_MACKEY "2965f176 a1084a02 fd3f6a20 ce636e20"
#define SAMPLE_LTK "69867911 69d7cd23 980522b5 94750a38"
#define SAMPLE_A1 "56 12 37 37 bf ce" /* type 0x00 */
#define SAMPLE_A2 "a7 13 70 2d cf c1" /* type 0x00 */
#define SAMPLE_KEY128 "ec0234a3 57c8ad05 341010a6 0a397d9b"

/* ---- AES-128 ------------------------------------------------------------ */

TEST(e_fips197) {
  uint8_t k[16], pt[16], exp[16], out[16];
  spec(k, 16, "000102030405060708090a0b0c0d0e0f");
  spec(pt, 16, "00112233445566778899aabbccddeeff");
  spec(exp, 16, "69c4e0d86a7b0430d8cdb78070b4c55a");
  CHECK_EQ(uvble_sm_e(k, pt, out), 0);
  CHECK_MEM(out, exp, 16);
  /* in place */
  CHECK_EQ(uvble_sm_e(k, pt, pt), 0);
  CHECK_MEM(pt, exp, 16);
}

TEST(e_rfc4493_subkey_l) {
  /* D.1: AES-128(K, 0) = L */
  uint8_t k[16], zero[16] = {0}, exp[16], out[16];
  spec(k, 16, "2b7e1516 28aed2a6 abf71588 09cf4f3c");
  spec(exp, 16, "7df76b0c 1ab899b3 3e42f047 b91b546f");
  CHECK_EQ(uvble_sm_e(k, zero, out), 0);
  CHECK_MEM(out, exp, 16);
}

/* ---- D.1 AES-CMAC (RFC 4493) -------------------------------------------- */

#define RFC4493_M                                                          \
  "6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51" \
  "30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710"

static void cmac_case(size_t len, const char *tag) {
  uint8_t k[16], m_rev[64], rfc[64], msg[64], exp[16], out[16];
  spec(k, 16, "2b7e1516 28aed2a6 abf71588 09cf4f3c");
  spec(exp, 16, tag);
  /* The RFC's message is the first len octets of M, in RFC (MSB-first)
   * order; the API's LSB-first message is that prefix reversed. */
  spec(m_rev, 64, RFC4493_M);
  for (size_t i = 0; i < 64; i++) rfc[i] = m_rev[63 - i];
  for (size_t i = 0; i < len; i++) msg[i] = rfc[len - 1 - i];
  CHECK_EQ(uvble_sm_aes_cmac(k, len ? msg : NULL, len, out), 0);
  CHECK_MEM(out, exp, 16);
}

TEST(aes_cmac_rfc4493) {
  cmac_case(0, "bb1d6929 e9593728 7fa37d12 9b756746");
  cmac_case(16, "070a16b4 6b4d4144 f79bdd9d d04a287c");
  cmac_case(40, "dfa66747 de9ae630 30ca3261 1497c827");
  cmac_case(64, "51f0bebf 7e3b9d92 fc497417 79363cfe");
}

TEST(aes_cmac_long_messages_match_openssl) {
  /* The LSB-first CMAC feeds the message in reversed 64-octet chunks; check
   * every length across several chunk boundaries against a one-shot CMAC
   * of the reversed message. */
  static uint8_t msg[300], msg_be[300];
  uint8_t key[16], key_be[16], out[16], ref[16];
  size_t outl;
  REQUIRE_EQ(uvble_sm_random(msg, sizeof msg), 0);
  REQUIRE_EQ(uvble_sm_random(key, sizeof key), 0);
  for (int i = 0; i < 16; i++) key_be[i] = key[15 - i];
  for (size_t len = 0; len <= sizeof msg; len += 1) {
    for (size_t i = 0; i < len; i++) msg_be[i] = msg[len - 1 - i];
    REQUIRE_EQ(uvble_sm_aes_cmac(key, msg, len, out), 0);
    REQUIRE(EVP_Q_mac(NULL, "CMAC", NULL, "AES-128-CBC", NULL, key_be, 16,
                      msg_be, len, ref, sizeof ref, &outl) != NULL);
    REQUIRE_EQ(outl, 16);
    for (int i = 0; i < 16; i++) REQUIRE_EQ(out[i], ref[15 - i]);
  }
}

/* ---- legacy pairing: c1 (2.2.3), s1 (2.2.4) ----------------------------- */

TEST(c1_sample) {
  uint8_t k[16] = {0}, r[16], preq[7], pres[7], ia[6], ra[6], exp[16], out[16];
  spec(r, 16, "5783D52156AD6F0E6388274EC6702EE0");
  spec(preq, 7, "07071000000101");
  spec(pres, 7, "05000800000302");
  spec(ia, 6, "A1A2A3A4A5A6");
  spec(ra, 6, "B1B2B3B4B5B6");
  spec(exp, 16, "1e1e3fef878988ead2a74dc5bef13b86");
  /* The PDUs as they travel: opcode first. */
  CHECK_EQ(preq[0], 0x01);
  CHECK_EQ(pres[0], 0x02);
  CHECK_EQ(uvble_sm_c1(k, r, preq, pres, 1, ia, 0, ra, out), 0);
  CHECK_MEM(out, exp, 16);
  /* A different address type gives a different confirm value. */
  CHECK_EQ(uvble_sm_c1(k, r, preq, pres, 0, ia, 0, ra, out), 0);
  CHECK(memcmp(out, exp, 16) != 0);
}

TEST(s1_sample) {
  uint8_t k[16] = {0}, r1[16], r2[16], exp[16], out[16];
  spec(r1, 16, "000F0E0D0C0B0A091122334455667788");
  spec(r2, 16, "010203040506070899AABBCCDDEEFF00");
  spec(exp, 16, "9a1fe1f0e8b0f49b5b4216ae796da062");
  CHECK_EQ(uvble_sm_s1(k, r1, r2, out), 0);
  CHECK_MEM(out, exp, 16);
  /* Only the low 64 bits of each random value count. */
  r1[15] ^= 0xff;
  r2[8] ^= 0x5a;
  CHECK_EQ(uvble_sm_s1(k, r1, r2, out), 0);
  CHECK_MEM(out, exp, 16);
}

/* ---- LE Secure Connections: D.2 - D.6, D.8 ------------------------------ */

TEST(f4_sample) {
  uint8_t u[32], v[32], x[16], exp[16], out[16];
  spec(u, 32, SAMPLE_U);
  spec(v, 32, SAMPLE_V);
  spec(x, 16, SAMPLE_N1);
  spec(exp, 16, "f2c916f1 07a9bd1c f1eda1be a974872d");
  CHECK_EQ(uvble_sm_f4(u, v, x, 0x00, out), 0);
  CHECK_MEM(out, exp, 16);
  CHECK_EQ(uvble_sm_f4(u, v, x, 0x81, out), 0);
  CHECK(memcmp(out, exp, 16) != 0);
}

TEST(f5_sample) {
  uint8_t w[32], n1[16], n2[16], a1[6], a2[6], exp_mac[16], exp_ltk[16];
  uint8_t mackey[16], ltk[16];
  spec(w, 32, SAMPLE_DHKEY);
  spec(n1, 16, SAMPLE_N1);
  spec(n2, 16, SAMPLE_N2);
  spec(a1, 6, SAMPLE_A1);
  spec(a2, 6, SAMPLE_A2);
  spec(exp_mac, 16, SAMPLE_MACKEY);
  spec(exp_ltk, 16, SAMPLE_LTK);
  CHECK_EQ(uvble_sm_f5(w, n1, n2, 0, a1, 0, a2, mackey, ltk), 0);
  CHECK_MEM(mackey, exp_mac, 16);
  CHECK_MEM(ltk, exp_ltk, 16);

  memset(ltk, 0, sizeof ltk);
  CHECK_EQ(uvble_sm_f5(w, n1, n2, 0, a1, 0, a2, NULL, ltk), 0);
  CHECK_MEM(ltk, exp_ltk, 16);
  memset(mackey, 0, sizeof mackey);
  CHECK_EQ(uvble_sm_f5(w, n1, n2, 0, a1, 0, a2, mackey, NULL), 0);
  CHECK_MEM(mackey, exp_mac, 16);
  CHECK_EQ(uvble_sm_f5(w, n1, n2, 0, a1, 0, a2, NULL, NULL), UVBLE_EINVAL);

  /* The address type is part of the input. */
  CHECK_EQ(uvble_sm_f5(w, n1, n2, 1, a1, 0, a2, mackey, ltk), 0);
  CHECK(memcmp(ltk, exp_ltk, 16) != 0);
}

TEST(f6_sample) {
  uint8_t w[16], n1[16], n2[16], r[16], iocap[3], a1[6], a2[6], exp[16];
  uint8_t out[16];
  spec(w, 16, SAMPLE_MACKEY);
  spec(n1, 16, SAMPLE_N1);
  spec(n2, 16, SAMPLE_N2);
  spec(r, 16, "12a3343b b453bb54 08da42d2 0c2d0fc8");
  spec(iocap, 3, "010102");
  spec(a1, 6, SAMPLE_A1);
  spec(a2, 6, SAMPLE_A2);
  spec(exp, 16, "e3c47398 9cd0e8c5 d26c0b09 da958f61");
  /* IOcap in PDU order: IO Capability, OOB flag, AuthReq. */
  CHECK_EQ(iocap[0], 0x02);
  CHECK_EQ(iocap[2], 0x01);
  CHECK_EQ(uvble_sm_f6(w, n1, n2, r, iocap, 0, a1, 0, a2, out), 0);
  CHECK_MEM(out, exp, 16);
}

TEST(g2_sample) {
  uint8_t u[32], v[32], x[16], y[16];
  uint32_t passkey = 0;
  spec(u, 32, SAMPLE_U);
  spec(v, 32, SAMPLE_V);
  spec(x, 16, SAMPLE_N1);
  spec(y, 16, SAMPLE_N2);
  CHECK_EQ(uvble_sm_g2(u, v, x, y, &passkey), 0);
  CHECK_EQ(passkey, 0x2f9ed5bau % 1000000u);
  CHECK_EQ(passkey, 938554);
}

TEST(h6_sample) {
  uint8_t w[16], exp[16], out[16];
  spec(w, 16, SAMPLE_KEY128);
  spec(exp, 16, "2d9ae102 e76dc91c e8d3a9e2 80b16399");
  CHECK_EQ(uvble_sm_h6(w, 0x6c656272, out), 0);
  CHECK_MEM(out, exp, 16);
  CHECK_EQ(uvble_sm_h6(w, UVBLE_SM_KEYID_LEBR, out), 0);
  CHECK_MEM(out, exp, 16);
}

TEST(h7_sample) {
  uint8_t salt[16], w[16], exp[16], out[16];
  spec(salt, 16, "00000000 00000000 00000000 746D7031");
  spec(w, 16, SAMPLE_KEY128);
  spec(exp, 16, "fb173597 c6a3c0ec d2998c2a 75a57011");
  CHECK_MEM(salt, uvble_sm_salt_tmp1, 16);
  CHECK_EQ(uvble_sm_h7(salt, w, out), 0);
  CHECK_MEM(out, exp, 16);
  spec(salt, 16, "00000000 00000000 00000000 746D7032");
  CHECK_MEM(salt, uvble_sm_salt_tmp2, 16);
}

/* ---- D.7 ah and addresses ----------------------------------------------- */

TEST(ah_sample) {
  uint8_t irk[16], r[3], exp[3], out[3];
  spec(irk, 16, SAMPLE_KEY128);
  spec(r, 3, "708194");
  spec(exp, 3, "0dfbaa");
  CHECK_EQ(uvble_sm_ah(irk, r, out), 0);
  CHECK_MEM(out, exp, 3);
}

TEST(rpa_sample_resolves) {
  /* The D.7 values as an address: prand || hash = 70:81:94:0d:fb:aa. */
  uint8_t irk[16], addr[6];
  spec(irk, 16, SAMPLE_KEY128);
  spec(addr, 6, "708194 0dfbaa");
  CHECK(uvble_sm_addr_is_rpa(addr));
  CHECK(uvble_sm_rpa_resolve(irk, addr));
  addr[0] ^= 0x01;
  CHECK(!uvble_sm_rpa_resolve(irk, addr));
}

TEST(rpa_generate_and_resolve) {
  uint8_t irk[16], other[16], addr[6];
  REQUIRE_EQ(uvble_sm_random(irk, 16), 0);
  REQUIRE_EQ(uvble_sm_random(other, 16), 0);
  for (int i = 0; i < 200; i++) {
    REQUIRE_EQ(uvble_sm_rpa_generate(irk, addr), 0);
    CHECK_EQ(addr[5] >> 6, 1);
    CHECK(uvble_sm_addr_is_rpa(addr));
    CHECK(!uvble_sm_addr_is_static(addr));
    CHECK(!uvble_sm_addr_is_nrpa(addr));
    /* prand's random part is neither all 0 nor all 1 */
    uint32_t rnd = addr[3] | addr[4] << 8 | (addr[5] & 0x3f) << 16;
    CHECK(rnd != 0 && rnd != 0x3fffff);
    CHECK(uvble_sm_rpa_resolve(irk, addr));
    CHECK(!uvble_sm_rpa_resolve(other, addr));
    /* every hash bit matters */
    uint8_t bad[6];
    memcpy(bad, addr, 6);
    bad[i % 3] ^= (uint8_t)(1u << (i % 8));
    CHECK(!uvble_sm_rpa_resolve(irk, bad));
  }
  /* An address that is not an RPA never resolves, whatever its hash. */
  uint8_t hash[3];
  REQUIRE_EQ(uvble_sm_rpa_generate(irk, addr), 0);
  memcpy(hash, addr, 3);
  addr[5] |= 0xc0; /* make it "static" */
  REQUIRE_EQ(uvble_sm_ah(irk, addr + 3, addr), 0);
  CHECK(!uvble_sm_rpa_resolve(irk, addr));
}

TEST(static_and_nrpa_generate) {
  uint8_t a[6], b[6];
  for (int i = 0; i < 500; i++) {
    REQUIRE_EQ(uvble_sm_static_addr_generate(a), 0);
    CHECK_EQ(a[5] >> 6, 3);
    CHECK(uvble_sm_addr_is_static(a));
    REQUIRE_EQ(uvble_sm_nrpa_generate(b), 0);
    CHECK_EQ(b[5] >> 6, 0);
    CHECK(uvble_sm_addr_is_nrpa(b));
    static const uint8_t zero[6] = {0};
    static const uint8_t ones[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x3f};
    uint8_t part[6];
    memcpy(part, a, 6);
    part[5] &= 0x3f;
    CHECK(memcmp(part, zero, 6) != 0 && memcmp(part, ones, 6) != 0);
    memcpy(part, b, 6);
    CHECK(memcmp(part, zero, 6) != 0 && memcmp(part, ones, 6) != 0);
  }
}

/* ---- P-256 --------------------------------------------------------------- */

/* 2.3.5.6.1 sample data: device A uses the debug key. */
#define P256_S1_PRIV_B                                                     \
  "55188b3d 32f6bb9a 900afcfb eed4e72a 59cb9ac2 f19d7cfb 6b4fdd49 f47fc5fd"
#define P256_S1_PUB_B_X                                                    \
  "1ea1f0f0 1faf1d96 09592284 f19e4c00 47b58afd 8615a69f 559077b2 2faaa190"
#define P256_S1_PUB_B_Y                                                    \
  "4c55f33e 429dad37 7356703a 9ab85160 472d1130 e28e3676 5f89aff9 15b1214a"

/* Second sample set (as in BlueZ unit/test-ecc.c / Linux selftest). */
#define P256_S2_PRIV_A                                                     \
  "06a51669 3c9aa31a 6084545d 0c5db641 b48572b9 7203ddff b7ac73f7 d0457663"
#define P256_S2_PUB_A_X                                                    \
  "2c31a47b 5779809e f44cb5ea af5c3e43 d5f8faad 4a8794cb 987e9b03 745c78dd"
#define P256_S2_PUB_A_Y                                                    \
  "91951218 3898dfbe cd52e240 8e43871f d0211091 17bd3ed4 eaf84377 43715d4f"
#define P256_S2_PRIV_B                                                     \
  "529aa067 0d72cd64 97502ed4 73502b03 7e8803b5 c60829a5 a3caa219 505530ba"
#define P256_S2_PUB_B_X                                                    \
  "f465e43f f23d3f1b 9dc7dfc0 4da87581 84dbc966 204796ec cf0d6cf5 e16500cc"
#define P256_S2_PUB_B_Y                                                    \
  "0201d048 bcbbd899 eeefc424 164e33c2 01c2b010 ca6b4d43 a8a155ca d8ecb279"
#define P256_S2_DHKEY                                                      \
  "ab85843a 2f6d883f 62e5684b 38e30733 5fe6e194 5ecd1960 4105c6f2 3221eb69"

/* The debug key with its own public key. */
#define P256_DEBUG_SELF_DHKEY                                              \
  "70aad7e6 49f91c7c ae5f79fc 32992787 c38757a8 728b7b55 da7bb3cb 4800ab2d"

static void pub_from_spec(uint8_t pub[64], const char *x, const char *y) {
  spec(pub, 32, x);
  spec(pub + 32, 32, y);
}

TEST(p256_debug_key) {
  uint8_t priv[32], pub[64], x[32];
  spec(priv, 32,
       "3f49f6d4 a3c55f38 74c9b3e3 d2103f50 4aff607b eb40b799 5899b8a6 "
       "cd3c1abd");
  CHECK_MEM(priv, uvble_sm_p256_debug_priv, 32);
  spec(x, 32, SAMPLE_U);
  CHECK_MEM(uvble_sm_p256_debug_pub, x, 32); /* PKax of Appendix D */
  pub_from_spec(pub, SAMPLE_U,
                "dc809c49 652aeb6d 63329abf 5a52155c 766345c2 8fed3024 "
                "741c8ed0 1589d28b");
  CHECK_MEM(uvble_sm_p256_debug_pub, pub, 64);

  memset(pub, 0, sizeof pub);
  CHECK_EQ(uvble_sm_p256_public(uvble_sm_p256_debug_priv, pub), 0);
  CHECK_MEM(pub, uvble_sm_p256_debug_pub, 64);
  CHECK_EQ(uvble_sm_p256_check_public(pub), 0);
  CHECK(uvble_sm_p256_is_debug(pub));
}

TEST(p256_debug_key_with_itself) {
  uint8_t dh[32], exp[32];
  spec(exp, 32, P256_DEBUG_SELF_DHKEY);
  CHECK_EQ(uvble_sm_p256_dhkey(uvble_sm_p256_debug_priv,
                               uvble_sm_p256_debug_pub, dh),
           0);
  CHECK_MEM(dh, exp, 32);
}

TEST(p256_sample_1) {
  uint8_t priv_b[32], pub_b[64], pub[64], dh[32], exp[32];
  spec(priv_b, 32, P256_S1_PRIV_B);
  pub_from_spec(pub_b, P256_S1_PUB_B_X, P256_S1_PUB_B_Y);
  spec(exp, 32, SAMPLE_DHKEY); /* the W of D.3 */

  CHECK_EQ(uvble_sm_p256_public(priv_b, pub), 0);
  CHECK_MEM(pub, pub_b, 64);
  CHECK(!uvble_sm_p256_is_debug(pub_b));

  CHECK_EQ(uvble_sm_p256_dhkey(uvble_sm_p256_debug_priv, pub_b, dh), 0);
  CHECK_MEM(dh, exp, 32);
  memset(dh, 0, sizeof dh);
  CHECK_EQ(uvble_sm_p256_dhkey(priv_b, uvble_sm_p256_debug_pub, dh), 0);
  CHECK_MEM(dh, exp, 32);
}

TEST(p256_sample_2) {
  uint8_t priv_a[32], priv_b[32], pub_a[64], pub_b[64], pub[64], dh[32];
  uint8_t exp[32];
  spec(priv_a, 32, P256_S2_PRIV_A);
  spec(priv_b, 32, P256_S2_PRIV_B);
  pub_from_spec(pub_a, P256_S2_PUB_A_X, P256_S2_PUB_A_Y);
  pub_from_spec(pub_b, P256_S2_PUB_B_X, P256_S2_PUB_B_Y);
  spec(exp, 32, P256_S2_DHKEY);

  CHECK_EQ(uvble_sm_p256_public(priv_a, pub), 0);
  CHECK_MEM(pub, pub_a, 64);
  CHECK_EQ(uvble_sm_p256_public(priv_b, pub), 0);
  CHECK_MEM(pub, pub_b, 64);

  CHECK_EQ(uvble_sm_p256_dhkey(priv_a, pub_b, dh), 0);
  CHECK_MEM(dh, exp, 32);
  CHECK_EQ(uvble_sm_p256_dhkey(priv_b, pub_a, dh), 0);
  CHECK_MEM(dh, exp, 32);
}

TEST(p256_generate_round_trip) {
  uint8_t priv_a[32], pub_a[64], priv_b[32], pub_b[64], pub[64];
  uint8_t dh_a[32], dh_b[32];
  for (int i = 0; i < 4; i++) {
    REQUIRE_EQ(uvble_sm_p256_generate(priv_a, pub_a), 0);
    REQUIRE_EQ(uvble_sm_p256_generate(priv_b, pub_b), 0);
    CHECK(memcmp(priv_a, priv_b, 32) != 0);
    CHECK_EQ(uvble_sm_p256_check_public(pub_a), 0);
    CHECK_EQ(uvble_sm_p256_check_public(pub_b), 0);
    CHECK_EQ(uvble_sm_p256_public(priv_a, pub), 0);
    CHECK_MEM(pub, pub_a, 64);
    CHECK_EQ(uvble_sm_p256_dhkey(priv_a, pub_b, dh_a), 0);
    CHECK_EQ(uvble_sm_p256_dhkey(priv_b, pub_a, dh_b), 0);
    CHECK(uvble_sm_ct_equal(dh_a, dh_b, 32));
  }
  uvble_sm_wipe(priv_a, 32);
  uvble_sm_wipe(priv_b, 32);
}

static void expect_rejected(const uint8_t bad[64]) {
  uint8_t dh[32];
  memset(dh, 0xa5, sizeof dh);
  CHECK_EQ(uvble_sm_p256_check_public(bad), UVBLE_EINVAL);
  CHECK_EQ(uvble_sm_p256_dhkey(uvble_sm_p256_debug_priv, bad, dh),
           UVBLE_EINVAL);
  for (int i = 0; i < 32; i++) CHECK_EQ(dh[i], 0xa5); /* untouched */
}

TEST(p256_rejects_off_curve) {
  uint8_t bad[64];
  memcpy(bad, uvble_sm_p256_debug_pub, 64);
  bad[32] ^= 0x01; /* Y + 1: off the curve */
  expect_rejected(bad);
  memcpy(bad, uvble_sm_p256_debug_pub, 64);
  bad[0] ^= 0x01; /* X changed, Y kept */
  expect_rejected(bad);
  /* The CVE-2018-5383 attack: X kept, Y zeroed. */
  memcpy(bad, uvble_sm_p256_debug_pub, 64);
  memset(bad + 32, 0, 32);
  expect_rejected(bad);
}

TEST(p256_rejects_zero_point) {
  /* (0, 0): the usual encoding of the point at infinity; not on P-256. */
  uint8_t zero[64] = {0};
  expect_rejected(zero);
}

TEST(p256_rejects_coordinate_ge_p) {
  /* (0, y) is a point of P-256; (p, y) names it too, unreduced. */
  uint8_t pub[64];
  const char *p =
      "ffffffff 00000001 00000000 00000000 00000000 ffffffff ffffffff "
      "ffffffff";
  const char *y =
      "66485c78 0e2f83d7 2433bd5d 84a06bb6 541c2af3 1dae8717 28bf856a "
      "174f93f4";
  pub_from_spec(pub,
                "00000000 00000000 00000000 00000000 00000000 00000000 "
                "00000000 00000000",
                y);
  CHECK_EQ(uvble_sm_p256_check_public(pub), 0); /* the control */
  pub_from_spec(pub, p, y);
  expect_rejected(pub);
  /* Y = 2^256 - 1 with a valid X. */
  memcpy(pub, uvble_sm_p256_debug_pub, 32);
  memset(pub + 32, 0xff, 32);
  expect_rejected(pub);
}

TEST(p256_rejects_bad_private_key) {
  uint8_t zero[32] = {0}, n[32], pub[64], dh[32];
  spec(n, 32,
       "ffffffff 00000000 ffffffff ffffffff bce6faad a7179e84 f3b9cac2 "
       "fc632551");
  CHECK_EQ(uvble_sm_p256_public(zero, pub), UVBLE_ERANGE);
  CHECK_EQ(uvble_sm_p256_public(n, pub), UVBLE_ERANGE);
  CHECK_EQ(uvble_sm_p256_dhkey(zero, uvble_sm_p256_debug_pub, dh),
           UVBLE_ERANGE);
  CHECK_EQ(uvble_sm_p256_dhkey(n, uvble_sm_p256_debug_pub, dh), UVBLE_ERANGE);
  /* n - 1 is the largest valid scalar. */
  n[0] -= 1;
  CHECK_EQ(uvble_sm_p256_public(n, pub), 0);
  CHECK_EQ(uvble_sm_p256_check_public(pub), 0);
}

/* ---- helpers ------------------------------------------------------------ */

TEST(ct_equal_and_wipe) {
  uint8_t a[16], b[16];
  memset(a, 0x42, sizeof a);
  memcpy(b, a, sizeof b);
  CHECK(uvble_sm_ct_equal(a, b, 16));
  b[15] ^= 0x80;
  CHECK(!uvble_sm_ct_equal(a, b, 16));
  CHECK(uvble_sm_ct_equal(a, b, 15));
  CHECK(uvble_sm_ct_equal(a, b, 0));
  uvble_sm_wipe(a, sizeof a);
  for (int i = 0; i < 16; i++) CHECK_EQ(a[i], 0);
}

TEST(random_bytes) {
  uint8_t a[32] = {0}, b[32] = {0};
  CHECK_EQ(uvble_sm_random(a, sizeof a), 0);
  CHECK_EQ(uvble_sm_random(b, sizeof b), 0);
  CHECK(memcmp(a, b, sizeof a) != 0);
  CHECK_EQ(uvble_sm_random(a, 0), 0);
}

TEST(cleanup_then_reuse) {
  uint8_t irk[16], r[3], exp[3], out[3], dh[32], dh_exp[32];
  uvble_sm_crypto_cleanup();
  uvble_sm_crypto_cleanup(); /* idempotent */
  spec(irk, 16, SAMPLE_KEY128);
  spec(r, 3, "708194");
  spec(exp, 3, "0dfbaa");
  CHECK_EQ(uvble_sm_ah(irk, r, out), 0);
  CHECK_MEM(out, exp, 3);
  spec(dh_exp, 32, P256_DEBUG_SELF_DHKEY);
  CHECK_EQ(uvble_sm_p256_dhkey(uvble_sm_p256_debug_priv,
                               uvble_sm_p256_debug_pub, dh),
           0);
  CHECK_MEM(dh, dh_exp, 32);
  uvble_sm_crypto_cleanup();
}

TEST_MAIN()
