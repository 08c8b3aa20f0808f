/* SPDX-License-Identifier: Apache-2.0 */
/* The built-in secret store: what MicroPython's GET_SECRET / SET_SECRET
 * handlers keep, in one encrypted file. Private.
 *
 * The model is MicroPython's: secrets are (sec_type, key) -> value, where
 * sec_type is 1 (our keys for a peer), 2 (the peer's keys), 10 (our IRK) or
 * any other small type a layer defines (e.g. CCCD values), key is a short
 * byte string (typically the peer's 7-byte type+address) and value is up to
 * BOND_STORE_VALUE_MAX bytes.
 *
 * On disk: one file, XChaCha20-Poly1305 (libsodium) under a 32-byte key
 * taken from a key file or derived from a passphrase with crypto_pwhash
 * (salt stored in the header), versioned format, mode 0600, every change
 * written atomically (temporary file, fsync, rename, fsync of the
 * directory): a crash leaves the old or the new store, never a broken one.
 */
#ifndef UVBLE_BOND_STORE_H
#define UVBLE_BOND_STORE_H

#include <stddef.h>
#include <stdint.h>

#define BOND_STORE_KEY_MAX 32
#define BOND_STORE_VALUE_MAX 512
#define BOND_STORE_ENTRIES_MAX 1024

typedef struct bond_store bond_store_t;

/* Opens (creating if absent) the store at path. Exactly one of key_file
 * (a file holding 32 raw bytes, created with random bytes and mode 0600 if
 * absent) or passphrase is given. Returns 0, UVBLE_EINVAL, UVBLE_EACCES
 * (wrong key/passphrase or tampered file: authentication failed),
 * UVBLE_EPROTO (unknown format version or corrupt header), or -errno. */
int bond_store_open(const char *path, const char *key_file,
                    const char *passphrase, bond_store_t **out);
/* As bond_store_open; on failure, when errbuf is given, writes a sentence
 * naming what is wrong and the fix (a key file readable by others, of the
 * wrong size, missing while the store exists; a store protected by the
 * other kind of key; a file that is not a store or of another version).
 * An existing key file must be a regular file of exactly 32 bytes with no
 * group/other permission bits, else UVBLE_EACCES; a missing key file is
 * created only with a new store (UVBLE_ENOENT if the store exists). */
int bond_store_open_ex(const char *path, const char *key_file,
                       const char *passphrase, bond_store_t **out,
                       char *errbuf, size_t errlen);
void bond_store_close(bond_store_t *s);

/* Looks a secret up by (sec_type, key). Returns the value length (copying
 * at most cap bytes) or UVBLE_ENOENT. */
int bond_store_get(bond_store_t *s, uint8_t sec_type, const uint8_t *key,
                   size_t key_len, uint8_t *value, size_t cap);
/* The index-th secret of sec_type (for iteration, as GET_SECRET with no
 * key): copies its key and value; returns the value length or UVBLE_ENOENT
 * past the end. */
int bond_store_get_index(bond_store_t *s, uint8_t sec_type, int index,
                         uint8_t *key, size_t key_cap, size_t *key_len,
                         uint8_t *value, size_t cap);
/* Stores (value non-NULL) or deletes (value NULL) a secret and writes the
 * file atomically before returning. Returns 0, UVBLE_EINVAL (sizes),
 * UVBLE_ENOSPC (entry limit), UVBLE_ENOENT (deleting what is absent) or
 * -errno (the file on disk is then unchanged). One exception: when only
 * the fsync of the directory after the rename fails, the change is made
 * (file and memory agree) but may not survive a power loss; its -errno is
 * returned so the caller can report it. */
int bond_store_set(bond_store_t *s, uint8_t sec_type, const uint8_t *key,
                   size_t key_len, const uint8_t *value, size_t value_len);
/* Deletes every secret (the file remains, empty). */
int bond_store_erase(bond_store_t *s);
/* How many secrets are held. */
size_t bond_store_count(const bond_store_t *s);

#endif
