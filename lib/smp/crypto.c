/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — LE security crypto toolbox on OpenSSL 3 and libsodium.
 *
 * The API (crypto.h) is LSB-first throughout; the specification's
 * functions, AES and AES-CMAC are MSB-first. Every public function reverses
 * its inputs into MSB-first ("_be") scratch buffers, runs the primitive and
 * reverses the result back. Scratch buffers holding keys or key material
 * are wiped before returning.
 */
#include "crypto.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>
#include <sodium.h>

#include "uvble/error.h"

/* ---- constants ---------------------------------------------------------- */

const uint8_t uvble_sm_salt_tmp1[16] = {0x31, 0x70, 0x6d, 0x74};
const uint8_t uvble_sm_salt_tmp2[16] = {0x32, 0x70, 0x6d, 0x74};

/* Vol 3, Part H, 2.3.5.6.1, LSB-first. Private key (MSB-first):
 * 3f49f6d4 a3c55f38 74c9b3e3 d2103f50 4aff607b eb40b799 5899b8a6 cd3c1abd */
const uint8_t uvble_sm_p256_debug_priv[32] = {
    0xbd, 0x1a, 0x3c, 0xcd, 0xa6, 0xb8, 0x99, 0x58, 0x99, 0xb7, 0x40,
    0xeb, 0x7b, 0x60, 0xff, 0x4a, 0x50, 0x3f, 0x10, 0xd2, 0xe3, 0xb3,
    0xc9, 0x74, 0x38, 0x5f, 0xc5, 0xa3, 0xd4, 0xf6, 0x49, 0x3f,
};
/* X = 20b003d2 f297be2c 5e2c83a7 e9f9a5b9 eff49111 acf4fddb cc030148 0e359de6
 * Y = dc809c49 652aeb6d 63329abf 5a52155c 766345c2 8fed3024 741c8ed0 1589d28b */
const uint8_t uvble_sm_p256_debug_pub[64] = {
    0xe6, 0x9d, 0x35, 0x0e, 0x48, 0x01, 0x03, 0xcc, 0xdb, 0xfd, 0xf4,
    0xac, 0x11, 0x91, 0xf4, 0xef, 0xb9, 0xa5, 0xf9, 0xe9, 0xa7, 0x83,
    0x2c, 0x5e, 0x2c, 0xbe, 0x97, 0xf2, 0xd2, 0x03, 0xb0, 0x20,

    0x8b, 0xd2, 0x89, 0x15, 0xd0, 0x8e, 0x1c, 0x74, 0x24, 0x30, 0xed,
    0x8f, 0xc2, 0x45, 0x63, 0x76, 0x5c, 0x15, 0x52, 0x5a, 0xbf, 0x9a,
    0x32, 0x63, 0x6d, 0xeb, 0x2a, 0x65, 0x49, 0x9c, 0x80, 0xdc,
};

/* f5's SALT, MSB-first (2.2.7). */
static const uint8_t f5_salt_be[16] = {
    0x6c, 0x88, 0x83, 0x91, 0xaa, 0xf5, 0xa5, 0x38,
    0x60, 0x37, 0x0b, 0xdb, 0x5a, 0x60, 0x83, 0xbe,
};

/* ---- cached libcrypto objects ------------------------------------------- */

static EVP_CIPHER *g_aes;         /* AES-128-ECB */
static EVP_CIPHER_CTX *g_aes_ctx; /* reused; reset (key wiped) after each use */
static EVP_MAC *g_cmac;
static EC_GROUP *g_p256;

void uvble_sm_crypto_cleanup(void) {
  EVP_CIPHER_CTX_free(g_aes_ctx);
  g_aes_ctx = NULL;
  EVP_CIPHER_free(g_aes);
  g_aes = NULL;
  EVP_MAC_free(g_cmac);
  g_cmac = NULL;
  EC_GROUP_free(g_p256);
  g_p256 = NULL;
}

static bool aes_ready(void) {
  if (g_aes == NULL) g_aes = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
  if (g_aes_ctx == NULL) g_aes_ctx = EVP_CIPHER_CTX_new();
  return g_aes != NULL && g_aes_ctx != NULL;
}

static bool cmac_ready(void) {
  if (g_cmac == NULL) g_cmac = EVP_MAC_fetch(NULL, "CMAC", NULL);
  return g_cmac != NULL;
}

static const EC_GROUP *p256_group(void) {
  if (g_p256 == NULL) g_p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  return g_p256;
}

/* ---- small helpers ------------------------------------------------------ */

/* dst = src with the octet order reversed; dst and src may be the same
 * buffer, or disjoint. */
static void rev(uint8_t *dst, const uint8_t *src, size_t n) {
  if (dst == src) {
    for (size_t i = 0; i < n / 2; i++) {
      uint8_t t = dst[i];
      dst[i] = dst[n - 1 - i];
      dst[n - 1 - i] = t;
    }
  } else {
    for (size_t i = 0; i < n; i++) dst[i] = src[n - 1 - i];
  }
}

static bool host_is_little_endian(void) {
  const uint16_t one = 1;
  uint8_t b;
  memcpy(&b, &one, 1);
  return b == 1;
}

int uvble_sm_random(void *buf, size_t len) {
  static bool ready;
  if (!ready) {
    if (sodium_init() < 0) return UVBLE_EIO;
    ready = true;
  }
  randombytes_buf(buf, len);
  return 0;
}

bool uvble_sm_ct_equal(const void *a, const void *b, size_t len) {
  if (len == 0) return true;
  return sodium_memcmp(a, b, len) == 0;
}

void uvble_sm_wipe(void *p, size_t len) { sodium_memzero(p, len); }

/* ---- primitives, MSB-first ---------------------------------------------- */

/* One AES-128 block: out_be = AES(key_be, in_be). out_be may alias in_be. */
static int aes_be(const uint8_t key_be[16], const uint8_t in_be[16],
                  uint8_t out_be[16]) {
  uint8_t tmp[16];
  int outl = 0;
  if (!aes_ready()) return UVBLE_EIO;
  int ok = EVP_EncryptInit_ex2(g_aes_ctx, g_aes, key_be, NULL, NULL) &&
           EVP_CIPHER_CTX_set_padding(g_aes_ctx, 0) &&
           EVP_EncryptUpdate(g_aes_ctx, tmp, &outl, in_be, 16) && outl == 16;
  /* Frees the provider context, which wipes the key schedule. */
  EVP_CIPHER_CTX_reset(g_aes_ctx);
  if (!ok) {
    ERR_clear_error();
    sodium_memzero(tmp, sizeof tmp);
    return UVBLE_EIO;
  }
  memcpy(out_be, tmp, 16);
  sodium_memzero(tmp, sizeof tmp);
  return 0;
}

/* A CMAC computation in progress (key and message MSB-first). */
typedef struct {
  EVP_MAC_CTX *ctx;
  bool ok;
} cmac_t;

static void cmac_begin(cmac_t *c, const uint8_t key_be[16]) {
  char cipher[] = "AES-128-CBC";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher, 0),
      OSSL_PARAM_construct_end(),
  };
  c->ctx = cmac_ready() ? EVP_MAC_CTX_new(g_cmac) : NULL;
  c->ok = c->ctx != NULL && EVP_MAC_init(c->ctx, key_be, 16, params);
}

static void cmac_update(cmac_t *c, const uint8_t *data, size_t len) {
  if (c->ok && len > 0) c->ok = EVP_MAC_update(c->ctx, data, len);
}

/* Finishes, frees the context (which wipes it) and writes the MSB-first
 * MAC. */
static int cmac_end(cmac_t *c, uint8_t out_be[16]) {
  size_t outl = 0;
  if (c->ok) c->ok = EVP_MAC_final(c->ctx, out_be, &outl, 16) && outl == 16;
  EVP_MAC_CTX_free(c->ctx);
  c->ctx = NULL;
  if (!c->ok) {
    ERR_clear_error();
    return UVBLE_EIO;
  }
  return 0;
}

/* out_be = AES-CMAC(key_be, m_be[0..len)). */
static int cmac_be(const uint8_t key_be[16], const uint8_t *m_be, size_t len,
                   uint8_t out_be[16]) {
  cmac_t c;
  cmac_begin(&c, key_be);
  cmac_update(&c, m_be, len);
  return cmac_end(&c, out_be);
}

/* out (LSB-first) = AES-CMAC(rev(key), m_be). The pattern of f4..h7: the
 * message was assembled MSB-first by the caller. m_be is wiped. */
static int cmac_le_key_be_msg(const uint8_t key[16], uint8_t *m_be,
                              size_t len, uint8_t out[16]) {
  uint8_t key_be[16], mac[16];
  rev(key_be, key, 16);
  int rc = cmac_be(key_be, m_be, len, mac);
  if (rc == 0) rev(out, mac, 16);
  sodium_memzero(key_be, sizeof key_be);
  sodium_memzero(mac, sizeof mac);
  sodium_memzero(m_be, len);
  return rc;
}

/* ---- AES-128 and legacy pairing ----------------------------------------- */

int uvble_sm_e(const uint8_t key[16], const uint8_t plaintext[16],
               uint8_t out[16]) {
  uint8_t key_be[16], blk[16];
  rev(key_be, key, 16);
  rev(blk, plaintext, 16);
  int rc = aes_be(key_be, blk, blk);
  if (rc == 0) rev(out, blk, 16);
  sodium_memzero(key_be, sizeof key_be);
  sodium_memzero(blk, sizeof blk);
  return rc;
}

int uvble_sm_c1(const uint8_t k[16], const uint8_t r[16],
                const uint8_t preq[7], const uint8_t pres[7], uint8_t iat,
                const uint8_t ia[6], uint8_t rat, const uint8_t ra[6],
                uint8_t out[16]) {
  /* p1 = pres || preq || rat' || iat' and p2 = padding || ia || ra
   * (MSB-first), so LSB-first: */
  uint8_t p1[16], p2[16], t[16];
  p1[0] = iat & 1;
  p1[1] = rat & 1;
  memcpy(p1 + 2, preq, 7);
  memcpy(p1 + 9, pres, 7);
  memcpy(p2, ra, 6);
  memcpy(p2 + 6, ia, 6);
  memset(p2 + 12, 0, 4);

  for (int i = 0; i < 16; i++) t[i] = r[i] ^ p1[i];
  int rc = uvble_sm_e(k, t, t);
  if (rc == 0) {
    for (int i = 0; i < 16; i++) t[i] ^= p2[i];
    rc = uvble_sm_e(k, t, t);
  }
  if (rc == 0) memcpy(out, t, 16);
  sodium_memzero(t, sizeof t);
  return rc;
}

int uvble_sm_s1(const uint8_t k[16], const uint8_t r1[16],
                const uint8_t r2[16], uint8_t out[16]) {
  /* r' = r1' || r2' (MSB-first): r2's low half is the low half of r'. */
  uint8_t rp[16];
  memcpy(rp, r2, 8);
  memcpy(rp + 8, r1, 8);
  int rc = uvble_sm_e(k, rp, rp);
  if (rc == 0) memcpy(out, rp, 16);
  sodium_memzero(rp, sizeof rp);
  return rc;
}

/* ---- privacy ------------------------------------------------------------ */

int uvble_sm_ah(const uint8_t irk[16], const uint8_t r[3], uint8_t out[3]) {
  uint8_t rp[16] = {0};
  memcpy(rp, r, 3);
  int rc = uvble_sm_e(irk, rp, rp);
  if (rc == 0) memcpy(out, rp, 3);
  sodium_memzero(rp, sizeof rp);
  return rc;
}

bool uvble_sm_addr_is_rpa(const uint8_t addr[6]) {
  return (addr[5] & 0xc0) == 0x40;
}

bool uvble_sm_addr_is_static(const uint8_t addr[6]) {
  return (addr[5] & 0xc0) == 0xc0;
}

bool uvble_sm_addr_is_nrpa(const uint8_t addr[6]) {
  return (addr[5] & 0xc0) == 0x00;
}

/* The random part of buf[0..n): every bit but the top two of buf[n-1].
 * True when it is all 0 or all 1 (forbidden by Vol 6, Part B, 1.3.2). */
static bool random_part_degenerate(const uint8_t *buf, size_t n) {
  bool zeros = (buf[n - 1] & 0x3f) == 0x00;
  bool ones = (buf[n - 1] & 0x3f) == 0x3f;
  for (size_t i = 0; i + 1 < n; i++) {
    zeros = zeros && buf[i] == 0x00;
    ones = ones && buf[i] == 0xff;
  }
  return zeros || ones;
}

/* Random value of n octets whose top two bits are `top` (0..3). */
static int random_with_top_bits(uint8_t *buf, size_t n, uint8_t top) {
  do {
    int rc = uvble_sm_random(buf, n);
    if (rc) return rc;
    buf[n - 1] = (uint8_t)((buf[n - 1] & 0x3f) | (top << 6));
  } while (random_part_degenerate(buf, n));
  return 0;
}

int uvble_sm_rpa_generate(const uint8_t irk[16], uint8_t addr[6]) {
  uint8_t a[6];
  int rc = random_with_top_bits(a + 3, 3, 1);
  if (rc == 0) rc = uvble_sm_ah(irk, a + 3, a);
  if (rc == 0) memcpy(addr, a, 6);
  return rc;
}

bool uvble_sm_rpa_resolve(const uint8_t irk[16], const uint8_t addr[6]) {
  uint8_t hash[3];
  if (!uvble_sm_addr_is_rpa(addr)) return false;
  if (uvble_sm_ah(irk, addr + 3, hash) != 0) return false;
  return uvble_sm_ct_equal(hash, addr, 3);
}

int uvble_sm_static_addr_generate(uint8_t addr[6]) {
  return random_with_top_bits(addr, 6, 3);
}

int uvble_sm_nrpa_generate(uint8_t addr[6]) {
  return random_with_top_bits(addr, 6, 0);
}

/* ---- LE Secure Connections ---------------------------------------------- */

int uvble_sm_aes_cmac(const uint8_t key[16], const uint8_t *msg, size_t len,
                      uint8_t out[16]) {
  /* The RFC's message is msg reversed: feed it from the end, a chunk at a
   * time, each chunk reversed. */
  uint8_t key_be[16], chunk[64], mac[16];
  cmac_t c;
  rev(key_be, key, 16);
  cmac_begin(&c, key_be);
  size_t left = len;
  while (left > 0) {
    size_t n = left < sizeof chunk ? left : sizeof chunk;
    rev(chunk, msg + left - n, n);
    cmac_update(&c, chunk, n);
    left -= n;
  }
  int rc = cmac_end(&c, mac);
  if (rc == 0) rev(out, mac, 16);
  sodium_memzero(key_be, sizeof key_be);
  sodium_memzero(chunk, sizeof chunk);
  sodium_memzero(mac, sizeof mac);
  return rc;
}

int uvble_sm_f4(const uint8_t u[32], const uint8_t v[32], const uint8_t x[16],
                uint8_t z, uint8_t out[16]) {
  uint8_t m[65]; /* U || V || Z */
  rev(m, u, 32);
  rev(m + 32, v, 32);
  m[64] = z;
  return cmac_le_key_be_msg(x, m, sizeof m, out);
}

/* Writes A (56 bits: type octet, then the address), MSB-first. */
static void put_addr_be(uint8_t *dst, uint8_t type, const uint8_t a[6]) {
  dst[0] = type & 1;
  rev(dst + 1, a, 6);
}

int uvble_sm_f5(const uint8_t w[32], const uint8_t n1[16],
                const uint8_t n2[16], uint8_t a1_type, const uint8_t a1[6],
                uint8_t a2_type, const uint8_t a2[6], uint8_t mackey[16],
                uint8_t ltk[16]) {
  /* T = AES-CMAC_SALT(W); then AES-CMAC_T(Counter || keyID || N1 || N2 ||
   * A1 || A2 || Length) with Counter 0 (MacKey) and 1 (LTK). */
  uint8_t w_be[32], t[16], m[53], mac[16];
  int rc;

  if (mackey == NULL && ltk == NULL) return UVBLE_EINVAL;
  rev(w_be, w, 32);
  rc = cmac_be(f5_salt_be, w_be, 32, t);
  sodium_memzero(w_be, sizeof w_be);
  if (rc) goto out;

  m[0] = 0;
  m[1] = 0x62; /* keyID "btle" */
  m[2] = 0x74;
  m[3] = 0x6c;
  m[4] = 0x65;
  rev(m + 5, n1, 16);
  rev(m + 21, n2, 16);
  put_addr_be(m + 37, a1_type, a1);
  put_addr_be(m + 44, a2_type, a2);
  m[51] = 0x01; /* Length = 256 */
  m[52] = 0x00;

  if (mackey != NULL) {
    m[0] = 0;
    rc = cmac_be(t, m, sizeof m, mac);
    if (rc) goto out;
    rev(mackey, mac, 16);
  }
  if (ltk != NULL) {
    m[0] = 1;
    rc = cmac_be(t, m, sizeof m, mac);
    if (rc) goto out;
    rev(ltk, mac, 16);
  }
out:
  sodium_memzero(t, sizeof t);
  sodium_memzero(m, sizeof m);
  sodium_memzero(mac, sizeof mac);
  return rc;
}

int uvble_sm_f6(const uint8_t w[16], const uint8_t n1[16],
                const uint8_t n2[16], const uint8_t r[16],
                const uint8_t iocap[3], uint8_t a1_type, const uint8_t a1[6],
                uint8_t a2_type, const uint8_t a2[6], uint8_t out[16]) {
  uint8_t m[65]; /* N1 || N2 || R || IOcap || A1 || A2 */
  rev(m, n1, 16);
  rev(m + 16, n2, 16);
  rev(m + 32, r, 16);
  rev(m + 48, iocap, 3);
  put_addr_be(m + 51, a1_type, a1);
  put_addr_be(m + 58, a2_type, a2);
  return cmac_le_key_be_msg(w, m, sizeof m, out);
}

int uvble_sm_g2(const uint8_t u[32], const uint8_t v[32], const uint8_t x[16],
                const uint8_t y[16], uint32_t *passkey) {
  uint8_t m[80], mac[16]; /* U || V || Y */
  rev(m, u, 32);
  rev(m + 32, v, 32);
  rev(m + 64, y, 16);
  int rc = cmac_le_key_be_msg(x, m, sizeof m, mac);
  if (rc == 0) {
    /* mod 2^32: the least significant four octets (mac is LSB-first). */
    uint32_t val = (uint32_t)mac[0] | (uint32_t)mac[1] << 8 |
                   (uint32_t)mac[2] << 16 | (uint32_t)mac[3] << 24;
    *passkey = val % 1000000u;
  }
  sodium_memzero(mac, sizeof mac);
  return rc;
}

int uvble_sm_h6(const uint8_t w[16], uint32_t key_id, uint8_t out[16]) {
  uint8_t m[4] = {(uint8_t)(key_id >> 24), (uint8_t)(key_id >> 16),
                  (uint8_t)(key_id >> 8), (uint8_t)key_id};
  return cmac_le_key_be_msg(w, m, sizeof m, out);
}

int uvble_sm_h7(const uint8_t salt[16], const uint8_t w[16], uint8_t out[16]) {
  uint8_t m[16];
  rev(m, w, 16);
  return cmac_le_key_be_msg(salt, m, sizeof m, out);
}

/* ---- P-256 -------------------------------------------------------------- */

/* Reads the private scalar; UVBLE_ERANGE unless 1 <= d < n. *out is a
 * constant-time BIGNUM the caller frees with BN_clear_free. */
static int load_priv(const uint8_t priv[32], BIGNUM **out) {
  const EC_GROUP *g = p256_group();
  if (g == NULL) return UVBLE_EIO;
  BIGNUM *d = BN_lebin2bn(priv, 32, NULL);
  if (d == NULL) return UVBLE_EIO;
  BN_set_flags(d, BN_FLG_CONSTTIME);
  if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(g)) >= 0) {
    BN_clear_free(d);
    return UVBLE_ERANGE;
  }
  *out = d;
  return 0;
}

int uvble_sm_p256_check_public(const uint8_t pub[64]) {
  const EC_GROUP *g = p256_group();
  BN_CTX *bn = BN_CTX_new();
  EC_POINT *pt = g != NULL ? EC_POINT_new(g) : NULL;
  BIGNUM *x = BN_lebin2bn(pub, 32, NULL);
  BIGNUM *y = BN_lebin2bn(pub + 32, 32, NULL);
  int rc;

  if (g == NULL || bn == NULL || pt == NULL || x == NULL || y == NULL) {
    rc = UVBLE_EIO;
  } else if (BN_cmp(x, EC_GROUP_get0_field(g)) >= 0 ||
             BN_cmp(y, EC_GROUP_get0_field(g)) >= 0) {
    rc = UVBLE_EINVAL; /* coordinate not reduced mod p */
  } else if (!EC_POINT_set_affine_coordinates(g, pt, x, y, bn) ||
             EC_POINT_is_on_curve(g, pt, bn) != 1 ||
             EC_POINT_is_at_infinity(g, pt)) {
    rc = UVBLE_EINVAL; /* not on the curve (the all-zero point included) */
  } else {
    rc = 0;
  }
  ERR_clear_error();
  BN_free(x);
  BN_free(y);
  EC_POINT_free(pt);
  BN_CTX_free(bn);
  return rc;
}

bool uvble_sm_p256_is_debug(const uint8_t pub[64]) {
  return memcmp(pub, uvble_sm_p256_debug_pub, 64) == 0;
}

int uvble_sm_p256_public(const uint8_t priv[32], uint8_t pub[64]) {
  const EC_GROUP *g = p256_group();
  BIGNUM *d = NULL;
  int rc = load_priv(priv, &d);
  if (rc) return rc;

  BN_CTX *bn = BN_CTX_new();
  EC_POINT *pt = EC_POINT_new(g);
  BIGNUM *x = BN_new(), *y = BN_new();
  uint8_t tmp[64];
  rc = UVBLE_EIO;
  if (bn != NULL && pt != NULL && x != NULL && y != NULL &&
      EC_POINT_mul(g, pt, d, NULL, NULL, bn) &&
      EC_POINT_get_affine_coordinates(g, pt, x, y, bn) &&
      BN_bn2lebinpad(x, tmp, 32) == 32 && BN_bn2lebinpad(y, tmp + 32, 32) == 32) {
    memcpy(pub, tmp, 64);
    rc = 0;
  }
  ERR_clear_error();
  BN_clear_free(d);
  BN_free(x);
  BN_free(y);
  EC_POINT_clear_free(pt);
  BN_CTX_free(bn);
  return rc;
}

int uvble_sm_p256_generate(uint8_t priv[32], uint8_t pub[64]) {
  EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  BIGNUM *d = NULL;
  uint8_t tmp[32];
  int rc = UVBLE_EIO;

  if (key != NULL && EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) &&
      BN_bn2lebinpad(d, tmp, 32) == 32) {
    rc = uvble_sm_p256_public(tmp, pub);
    if (rc == 0) memcpy(priv, tmp, 32);
  }
  ERR_clear_error();
  sodium_memzero(tmp, sizeof tmp);
  BN_clear_free(d);
  EVP_PKEY_free(key);
  return rc;
}

/* An EVP_PKEY on P-256 from parameters (a private scalar, or a public
 * point), via the EC provider's import. */
static EVP_PKEY *pkey_from_params(int selection, OSSL_PARAM *params) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  EVP_PKEY *pkey = NULL;
  if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
      EVP_PKEY_fromdata(ctx, &pkey, selection, params) <= 0)
    pkey = NULL;
  EVP_PKEY_CTX_free(ctx);
  return pkey;
}

int uvble_sm_p256_dhkey(const uint8_t priv[32], const uint8_t peer_pub[64],
                        uint8_t dhkey[32]) {
  char group[] = SN_X9_62_prime256v1;
  uint8_t d_native[32], q_oct[65], secret[32];
  BIGNUM *d = NULL;
  EVP_PKEY *own = NULL, *peer = NULL;
  EVP_PKEY_CTX *dctx = NULL;
  size_t len = sizeof secret;
  int rc;

  /* The peer's key first: an invalid one is the error pairing must see. */
  rc = uvble_sm_p256_check_public(peer_pub);
  if (rc) return rc;
  rc = load_priv(priv, &d);
  if (rc) return rc;
  BN_clear_free(d);

  /* Our key: the scalar in host byte order, as OSSL_PARAM wants it. */
  if (host_is_little_endian())
    memcpy(d_native, priv, 32);
  else
    rev(d_native, priv, 32);
  OSSL_PARAM own_params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, d_native,
                              sizeof d_native),
      OSSL_PARAM_construct_end(),
  };
  own = pkey_from_params(EVP_PKEY_KEYPAIR, own_params);
  sodium_memzero(d_native, sizeof d_native);

  /* The peer's key: uncompressed point 04 || X || Y, MSB-first. */
  q_oct[0] = 0x04;
  rev(q_oct + 1, peer_pub, 32);
  rev(q_oct + 33, peer_pub + 32, 32);
  OSSL_PARAM peer_params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, q_oct,
                                        sizeof q_oct),
      OSSL_PARAM_construct_end(),
  };
  peer = pkey_from_params(EVP_PKEY_PUBLIC_KEY, peer_params);

  rc = UVBLE_EIO;
  if (own != NULL && peer != NULL) {
    dctx = EVP_PKEY_CTX_new_from_pkey(NULL, own, NULL);
    /* validate_peer = 1: libcrypto's own public key check, on top of ours. */
    if (dctx != NULL && EVP_PKEY_derive_init(dctx) > 0) {
      if (EVP_PKEY_derive_set_peer_ex(dctx, peer, 1) <= 0)
        rc = UVBLE_EINVAL;
      else if (EVP_PKEY_derive(dctx, secret, &len) > 0 && len == 32)
        rc = 0;
    }
  }
  if (rc == 0) rev(dhkey, secret, 32);

  ERR_clear_error();
  sodium_memzero(secret, sizeof secret);
  EVP_PKEY_CTX_free(dctx);
  EVP_PKEY_free(own);
  EVP_PKEY_free(peer);
  return rc;
}
