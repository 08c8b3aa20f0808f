/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — LE security crypto toolbox (private header).
 *
 * The functions of the Core Specification, Vol 3, Part H, 2.2 (security
 * toolbox) and the address helpers of Vol 6, Part B, 1.3, on OpenSSL 3
 * libcrypto (AES-128, AES-CMAC, P-256) and libsodium (randomness, wiping,
 * constant-time comparison). Used by SMP pairing, privacy (RPAs) and data
 * signing.
 *
 * BYTE ORDER — read this first.
 *   The specification writes every function MSB-first (most significant
 *   octet on the left) and prints its sample data that way. SMP PDUs and
 *   HCI parameters carry the same values LSB-first. Every multi-octet value
 *   in this API (keys, random numbers, confirm values, public keys, DHKeys,
 *   addresses, PDUs) is LSB-first, i.e. exactly as it travels on the air:
 *   buf[0] is the least significant octet. The functions convert internally.
 *   So a value the spec prints as 0x0102...0f10 is passed as {0x10, 0x0f,
 *   ..., 0x01}; the unit tests convert the spec's printed sample data.
 *   In particular:
 *   - Device addresses are the 6 octets in HCI order (addr[0] = least
 *     significant octet). This is the REVERSE of uvble_addr_t.val, which is
 *     display order. Address types are 0 (public) or 1 (random).
 *   - P-256 public keys are X||Y, 64 octets, each coordinate 32 octets
 *     LSB-first, as in the SMP Pairing Public Key PDU; private keys and
 *     DHKeys are 32 octets LSB-first, as in SMP / HCI LE Generate DHKey.
 *   - c1's preq/pres are the 7-octet Pairing Request / Response PDUs as
 *     received (opcode first); f6's iocap is the 3 octets IO Capability,
 *     OOB data flag, AuthReq as they appear in those PDUs.
 *   - Numbers that are plain C integers (g2's result, h6's keyID) have no
 *     byte order.
 *
 * RETURN VALUES: 0 on success; UVBLE_EIO when libcrypto fails (out of
 * memory, provider missing); UVBLE_EINVAL only for a rejected peer public
 * key (see uvble_sm_p256_dhkey); UVBLE_ERANGE for a private key that is not
 * a valid P-256 scalar. Output buffers may alias inputs unless noted.
 *
 * SECRETS: intermediate buffers are wiped with sodium_memzero before
 * returning. Callers wipe their own copies with uvble_sm_wipe() and compare
 * received confirm / check values with uvble_sm_ct_equal(), never memcmp().
 *
 * Not thread-safe: the functions share cached libcrypto objects. Call them
 * from the loop thread.
 */
#ifndef UVBLE_LIB_CRYPTO_H
#define UVBLE_LIB_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UVBLE_SM_KEY_LEN 16      /* AES-128 keys, LTK, IRK, CSRK, random */
#define UVBLE_SM_ADDR_LEN 6      /* device address, HCI order */
#define UVBLE_SM_P256_PRIV_LEN 32
#define UVBLE_SM_P256_PUB_LEN 64 /* X || Y, each LSB-first */
#define UVBLE_SM_DHKEY_LEN 32

/* ---- generic helpers ---------------------------------------------------- */

/* Fills buf with len bytes from libsodium's CSPRNG (sodium_init() is called
 * once, on first use). Returns 0, or UVBLE_EIO if libsodium cannot start. */
int uvble_sm_random(void *buf, size_t len);

/* Constant-time comparison of two buffers of len octets (sodium_memcmp):
 * true when equal. The time taken depends on len only. Use it for confirm
 * values, DHKey checks, RPA hashes and signatures. */
bool uvble_sm_ct_equal(const void *a, const void *b, size_t len);

/* Overwrites len octets with zeros in a way the compiler cannot elide
 * (sodium_memzero). */
void uvble_sm_wipe(void *p, size_t len);

/* Frees the cached libcrypto objects (cipher, MAC, curve). Optional: the
 * next call re-creates them. For tests and clean shutdown. */
void uvble_sm_crypto_cleanup(void);

/* ---- AES-128 and legacy pairing (Vol 3, Part H, 2.2.1, 2.2.3, 2.2.4) ---- */

/* e(key, plaintext): AES-128 encryption of one block. All LSB-first, as in
 * HCI_LE_Encrypt. */
int uvble_sm_e(const uint8_t key[16], const uint8_t plaintext[16],
               uint8_t out[16]);

/* c1: legacy pairing confirm value.
 *   k     TK; r the 128-bit random (Mrand / Srand)
 *   preq  Pairing Request PDU, 7 octets, opcode first (as on the air)
 *   pres  Pairing Response PDU, 7 octets, opcode first
 *   iat, ia  initiating device's address type (0/1) and address
 *   rat, ra  responding device's address type (0/1) and address
 * Only the least significant bit of iat and rat is used. */
int uvble_sm_c1(const uint8_t k[16], const uint8_t r[16],
                const uint8_t preq[7], const uint8_t pres[7], uint8_t iat,
                const uint8_t ia[6], uint8_t rat, const uint8_t ra[6],
                uint8_t out[16]);

/* s1: legacy STK = e(k, r1' || r2') from the least significant 64 bits of
 * r1 (Mrand) and r2 (Srand). */
int uvble_sm_s1(const uint8_t k[16], const uint8_t r1[16],
                const uint8_t r2[16], uint8_t out[16]);

/* ---- privacy: ah and addresses (Vol 3, Part H, 2.2.2; Vol 6, B, 1.3) ---- */

/* ah(k, r) = e(k, padding || r) mod 2^24: the 24-bit RPA hash. r and out
 * are 3 octets LSB-first (prand and hash as they sit in the address). */
int uvble_sm_ah(const uint8_t irk[16], const uint8_t r[3], uint8_t out[3]);

/* Generates a resolvable private address from irk: addr[3..5] = prand
 * (two most significant bits 0b01, random part neither all 0 nor all 1),
 * addr[0..2] = ah(irk, prand). addr is HCI order; its type is random. */
int uvble_sm_rpa_generate(const uint8_t irk[16], uint8_t addr[6]);

/* True when addr (HCI order) is a resolvable private address generated
 * with irk. Compares the hash in constant time. False for anything that is
 * not an RPA (top bits not 0b01) and on internal failure (fails closed). */
bool uvble_sm_rpa_resolve(const uint8_t irk[16], const uint8_t addr[6]);

/* Address sub-type tests on the top two bits of a random address. */
bool uvble_sm_addr_is_rpa(const uint8_t addr[6]);
bool uvble_sm_addr_is_static(const uint8_t addr[6]);
bool uvble_sm_addr_is_nrpa(const uint8_t addr[6]);

/* Generates a static random address (top bits 0b11) / a non-resolvable
 * private address (top bits 0b00); in both the 46-bit random part is
 * neither all 0 nor all 1. The caller must still make sure an NRPA differs
 * from its public address (the spec requires it; this file does not know
 * the public address). */
int uvble_sm_static_addr_generate(uint8_t addr[6]);
int uvble_sm_nrpa_generate(uint8_t addr[6]);

/* ---- LE Secure Connections (Vol 3, Part H, 2.2.5 - 2.2.10) -------------- */

/* AES-CMAC (RFC 4493) in this API's byte order: key, message and MAC are
 * all LSB-first, i.e. the RFC's MSB-first key, message and tag reversed
 * octet by octet (the whole message reversed, not block by block). This is
 * what the spec's functions and data signing (2.4.5) compute on wire data.
 * msg may be NULL when len is 0. No limit on len. */
int uvble_sm_aes_cmac(const uint8_t key[16], const uint8_t *msg, size_t len,
                      uint8_t out[16]);

/* f4(U, V, X, Z) = AES-CMAC_X(U || V || Z): LE SC confirm value.
 * u, v are 256-bit (public key X coordinates), x is the 128-bit key (a
 * nonce), z is 0 for Just Works / Numeric Comparison / OOB, or
 * 0x80 | passkey bit for Passkey Entry. */
int uvble_sm_f4(const uint8_t u[32], const uint8_t v[32], const uint8_t x[16],
                uint8_t z, uint8_t out[16]);

/* f5(W, N1, N2, A1, A2): LE SC key generation. w is the DHKey, n1/n2 the
 * initiator's / responder's nonces, a1/a2 the initiator's / responder's
 * addresses with their types (0/1). Produces MacKey and LTK (both may be
 * NULL if not wanted, not both). */
int uvble_sm_f5(const uint8_t w[32], const uint8_t n1[16],
                const uint8_t n2[16], uint8_t a1_type, const uint8_t a1[6],
                uint8_t a2_type, const uint8_t a2[6], uint8_t mackey[16],
                uint8_t ltk[16]);

/* f6(W, N1, N2, R, IOcap, A1, A2) = AES-CMAC_W(N1||N2||R||IOcap||A1||A2):
 * LE SC DHKey check value. w is MacKey; iocap is 3 octets: IO Capability,
 * OOB data flag, AuthReq (the order of the Pairing Request/Response PDU). */
int uvble_sm_f6(const uint8_t w[16], const uint8_t n1[16],
                const uint8_t n2[16], const uint8_t r[16],
                const uint8_t iocap[3], uint8_t a1_type, const uint8_t a1[6],
                uint8_t a2_type, const uint8_t a2[6], uint8_t out[16]);

/* g2(U, V, X, Y) = AES-CMAC_X(U || V || Y) mod 2^32; *passkey receives that
 * value mod 10^6, the six-digit number shown for Numeric Comparison. */
int uvble_sm_g2(const uint8_t u[32], const uint8_t v[32], const uint8_t x[16],
                const uint8_t y[16], uint32_t *passkey);

/* h6(W, keyID) = AES-CMAC_W(keyID): link key conversion. key_id is the
 * 32-bit number, e.g. UVBLE_SM_KEYID_LEBR. */
int uvble_sm_h6(const uint8_t w[16], uint32_t key_id, uint8_t out[16]);

/* h7(SALT, W) = AES-CMAC_SALT(W): link key conversion with a salt (CT2). */
int uvble_sm_h7(const uint8_t salt[16], const uint8_t w[16], uint8_t out[16]);

/* keyIDs for h6 ("tmp1", "lebr", "tmp2", "brle" in ASCII, MSB first). */
#define UVBLE_SM_KEYID_TMP1 0x746d7031u
#define UVBLE_SM_KEYID_LEBR 0x6c656272u
#define UVBLE_SM_KEYID_TMP2 0x746d7032u
#define UVBLE_SM_KEYID_BRLE 0x62726c65u
/* SALTs for h7, LSB-first: 0x00..00746D7031 ("tmp1") / ..746D7032 ("tmp2"). */
extern const uint8_t uvble_sm_salt_tmp1[16];
extern const uint8_t uvble_sm_salt_tmp2[16];

/* ---- P-256 (Vol 3, Part H, 2.3.5.6) ------------------------------------- */

/* Generates a P-256 key pair. priv (32 octets LSB-first) is secret: keep it
 * only as long as the pairing needs it and uvble_sm_wipe() it after. pub
 * is X||Y for the Pairing Public Key PDU. */
int uvble_sm_p256_generate(uint8_t priv[32], uint8_t pub[64]);

/* Computes the public key priv * G. UVBLE_ERANGE when priv is 0 or >= n. */
int uvble_sm_p256_public(const uint8_t priv[32], uint8_t pub[64]);

/* Validates a peer's public key: both coordinates < p, the point lies on
 * the curve and is not the point at infinity. 0 or UVBLE_EINVAL.
 * (CVE-2018-5383: an invalid key must fail pairing.) */
int uvble_sm_p256_check_public(const uint8_t pub[64]);

/* ECDH: dhkey = X coordinate of priv * peer_pub, 32 octets LSB-first.
 * Validates peer_pub first: UVBLE_EINVAL when it is invalid (the caller
 * must then fail pairing with "DHKey Check Failed"), UVBLE_ERANGE for a bad
 * priv, UVBLE_EIO on internal failure. dhkey is untouched on error.
 * The caller should also reject a peer key equal to its own public key. */
int uvble_sm_p256_dhkey(const uint8_t priv[32], const uint8_t peer_pub[64],
                        uint8_t dhkey[32]);

/* The specification's debug key pair (Vol 3, Part H, 2.3.5.6.1), LSB-first.
 * Only for tests and an explicit debug mode: a peer presenting the debug
 * public key means the link is not secret (see uvble_sm_p256_is_debug). */
extern const uint8_t uvble_sm_p256_debug_priv[32];
extern const uint8_t uvble_sm_p256_debug_pub[64];
bool uvble_sm_p256_is_debug(const uint8_t pub[64]);

#endif
