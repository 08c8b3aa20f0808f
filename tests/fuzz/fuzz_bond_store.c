/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes the bond store's file reader and its plaintext parser.
 *
 * The first input byte picks the mode; the rest is the payload:
 *   0 (and 3)  the payload is the store file, opened with a fixed key file:
 *              header checks, size bounds, authentication;
 *   1          the payload is a decrypted plaintext, given straight to the
 *              parser (libFuzzer's buffer is exactly sized: a read past the
 *              end is an ASan report);
 *   2          the payload is a plaintext the harness seals under the fixed
 *              key, so open authenticates it and runs the parser on it — the
 *              path a tampered-but-authentic file takes.
 * Whenever open succeeds the store is walked (every type, every index, each
 * entry looked up again by its key; the walk must find bond_store_count()
 * entries), changed once, and reopened to check the change persisted.
 *
 * Seeds: valid stores under the fixed key (empty, small, largest entries,
 * IRK-style keys), headers with another version or KDF, and plaintexts,
 * both raw and sealed, that break one rule each (duplicate, oversized key or
 * value, count too high/low, trailing bytes, entry past the end).
 *
 * Files live in a private directory under /dev/shm when it exists (fsync
 * there costs nothing), removed at exit. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bond_store.h"
#include "bond_store_internal.h"
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

/* The fixed key: 0x00, 0x01, ..., 0x1f (the seeds are sealed under it). */
static uint8_t fuzz_key[32];
static char dir[128], store_path[160], key_path[160];

static void cleanup(void) {
  char tmp[200];
  snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", store_path, (long)getpid());
  unlink(tmp);
  unlink(store_path);
  unlink(key_path);
  rmdir(dir);
}

static void setup(void) {
  if (dir[0]) return;
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, sizeof(dir), "%s/uvble-fuzz-bs-XXXXXX", base);
  CHECK(mkdtemp(dir) != NULL);
  snprintf(store_path, sizeof(store_path), "%s/bonds", dir);
  snprintf(key_path, sizeof(key_path), "%s/bonds.key", dir);
  for (int i = 0; i < 32; i++) fuzz_key[i] = (uint8_t)i;
  int fd = open(key_path, O_CREAT | O_EXCL | O_WRONLY, 0600);
  CHECK(fd >= 0);
  CHECK(write(fd, fuzz_key, 32) == 32);
  close(fd);
  atexit(cleanup);
}

static void write_store(const uint8_t *buf, size_t len) {
  unlink(store_path);
  int fd = open(store_path, O_CREAT | O_EXCL | O_WRONLY, 0600);
  CHECK(fd >= 0);
  CHECK(len == 0 || write(fd, buf, len) == (ssize_t)len);
  close(fd);
}

/* Walks every type and index; returns how many entries were found. */
static size_t walk(bond_store_t *s) {
  size_t found = 0;
  for (int type = 0; type < 256; type++) {
    for (int i = 0;; i++) {
      uint8_t key[BOND_STORE_KEY_MAX], v[BOND_STORE_VALUE_MAX];
      uint8_t v2[BOND_STORE_VALUE_MAX];
      size_t kl = 0;
      int n = bond_store_get_index(s, (uint8_t)type, i, key, sizeof(key),
                                   &kl, v, sizeof(v));
      if (n == UVBLE_ENOENT) break;
      CHECK(n >= 0 && n <= BOND_STORE_VALUE_MAX);
      CHECK(kl <= BOND_STORE_KEY_MAX);
      CHECK(bond_store_get(s, (uint8_t)type, key, kl, v2, sizeof(v2)) == n);
      CHECK(memcmp(v, v2, (size_t)n) == 0);
      found++;
    }
  }
  return found;
}

static void exercise(bond_store_t *s) {
  size_t n = bond_store_count(s);
  CHECK(n <= BOND_STORE_ENTRIES_MAX);
  CHECK(walk(s) == n);
  const uint8_t *k = (const uint8_t *)"fuzz";
  bool had = bond_store_get(s, 0xee, k, 4, NULL, 0) >= 0;
  int rc = bond_store_set(s, 0xee, k, 4, (const uint8_t *)"value", 5);
  CHECK(rc == (had || n < BOND_STORE_ENTRIES_MAX ? 0 : UVBLE_ENOSPC));
  size_t want = n + (!had && rc == 0);
  CHECK(bond_store_count(s) == want);
  bond_store_t *again = NULL;
  CHECK(bond_store_open(store_path, key_path, NULL, &again) == 0);
  CHECK(bond_store_count(again) == want);
  CHECK(walk(again) == want);
  uint8_t v[8];
  CHECK(bond_store_get(again, 0xee, k, 4, v, sizeof(v)) ==
        (rc == 0 ? 5 : UVBLE_ENOENT));
  bond_store_close(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > BOND_STORE_FILE_MAX + 2) return 0;
  setup();
  uint8_t mode = data[0] & 3;
  const uint8_t *p = data + 1;
  size_t len = size - 1;
  if (mode == 1) {
    int rc = bond_store_parse_plaintext(p, len);
    CHECK(rc == UVBLE_EPROTO || (rc >= 0 && rc <= BOND_STORE_ENTRIES_MAX));
    return 0;
  }
  int expect = 1; /* unknown */
  if (mode == 2) {
    uint8_t *file;
    size_t flen;
    CHECK(bond_store_seal(fuzz_key, BOND_STORE_VERSION, p, len, &file,
                          &flen) == 0);
    write_store(file, flen);
    free(file);
    /* Authentic: open agrees with the parser exactly. */
    int n = bond_store_parse_plaintext(p, len);
    expect = n < 0 ? n : 0;
  } else {
    write_store(p, len);
  }
  bond_store_t *s = NULL;
  char eb[256];
  int rc = bond_store_open_ex(store_path, key_path, NULL, &s, eb, sizeof(eb));
  CHECK(expect == 1 || rc == expect);
  if (rc == 0) {
    exercise(s);
    bond_store_close(s);
  } else {
    CHECK(s == NULL);
    CHECK(rc == UVBLE_EPROTO || rc == UVBLE_EACCES);
    CHECK(eb[0] != '\0');
  }
  return 0;
}
