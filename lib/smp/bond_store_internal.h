/* SPDX-License-Identifier: Apache-2.0 */
/* The bond store's file format and test hooks. Private to bond_store.c, its
 * unit test and its fuzz harness; nothing else includes this.
 *
 * File format, version 1 (all integers little-endian):
 *
 *   offset size  header (authenticated as associated data, never encrypted)
 *        0    8  magic "UVBLEBND"
 *        8    2  format version (1)
 *       10    1  KDF: 0 = key file (raw 32-byte key), 1 = crypto_pwhash
 *                ARGON2ID13 over a passphrase
 *       11    1  reserved, 0
 *       12    8  opslimit  } KDF 1 only; 0 with KDF 0. We write
 *       20    8  memlimit  } OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE
 *       28   16  salt      (random per store; zeros with KDF 0)
 *       44   24  nonce     (random per write)
 *       68       XChaCha20-Poly1305-IETF ciphertext of the plaintext, then
 *                its 16-byte tag
 *
 *   plaintext
 *        0    4  entry count (<= BOND_STORE_ENTRIES_MAX)
 *        4       count x { u8 sec_type, u8 key_len (<= 32),
 *                          u16 value_len (<= 512), key, value }
 *                and nothing after the last entry; no (sec_type, key) twice.
 */
#ifndef UVBLE_BOND_STORE_INTERNAL_H
#define UVBLE_BOND_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "bond_store.h"

#define BOND_STORE_MAGIC "UVBLEBND"
#define BOND_STORE_VERSION 1
#define BOND_STORE_KDF_KEYFILE 0
#define BOND_STORE_KDF_ARGON2ID13 1

#define BOND_STORE_OFF_VERSION 8
#define BOND_STORE_OFF_KDF 10
#define BOND_STORE_OFF_RESERVED 11
#define BOND_STORE_OFF_OPSLIMIT 12
#define BOND_STORE_OFF_MEMLIMIT 20
#define BOND_STORE_OFF_SALT 28
#define BOND_STORE_OFF_NONCE 44
#define BOND_STORE_HEADER_SIZE 68
#define BOND_STORE_TAG_SIZE 16
#define BOND_STORE_ENTRY_HDR 4
#define BOND_STORE_PLAINTEXT_MAX                                          \
  (4 + (size_t)BOND_STORE_ENTRIES_MAX *                                   \
           (BOND_STORE_ENTRY_HDR + BOND_STORE_KEY_MAX + BOND_STORE_VALUE_MAX))
/* No store file is larger: open refuses bigger ones unread. */
#define BOND_STORE_FILE_MAX \
  (BOND_STORE_HEADER_SIZE + BOND_STORE_PLAINTEXT_MAX + BOND_STORE_TAG_SIZE)
#define BOND_STORE_FILE_MIN \
  (BOND_STORE_HEADER_SIZE + 4 + BOND_STORE_TAG_SIZE)

/* ---- the test build only (UVBLE_TEST_HOOKS: the uvble_internal target) -- */
#ifdef UVBLE_TEST_HOOKS
/* Parses a decrypted plaintext the way open does (strictly: every length
 * checked before it is read). Returns the number of entries or UVBLE_EPROTO
 * (UVBLE_ENOMEM). For the fuzz harness and tests. */
int bond_store_parse_plaintext(const uint8_t *pt, size_t len);

/* Encrypts plaintext pt under key as a key-file (KDF 0) store file with the
 * given format version and a random nonce, without checking pt. *file is
 * malloc'd (free() it). Returns 0 or UVBLE_ENOMEM / UVBLE_EIO. Lets tests and
 * seeds build validly encrypted files of hostile content. */
int bond_store_seal(const uint8_t key[32], uint16_t version,
                    const uint8_t *pt, size_t len, uint8_t **file,
                    size_t *file_len);
#endif /* UVBLE_TEST_HOOKS */

/* Failure injection into the atomic write (temporary file, write, fsync,
 * close, rename, fsync of the directory). The fault stays armed until
 * cleared with NULL; err is a positive errno value. */
enum bond_store_fault_step {
  BOND_STORE_FAULT_NONE = 0,
  BOND_STORE_FAULT_OPEN,    /* creating the temporary file */
  BOND_STORE_FAULT_WRITE,   /* once `after` bytes of the file are written */
  BOND_STORE_FAULT_FSYNC,   /* fsync of the temporary file */
  BOND_STORE_FAULT_CLOSE,   /* close of the temporary file */
  BOND_STORE_FAULT_RENAME,  /* rename over the store */
  BOND_STORE_FAULT_DIRSYNC, /* fsync of the directory, after the rename */
};
struct bond_store_fault {
  enum bond_store_fault_step step;
  size_t after;
  int err;
};
#ifdef UVBLE_TEST_HOOKS
void bond_store_set_fault(const struct bond_store_fault *f);
#endif

#endif
