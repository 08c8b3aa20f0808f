/* SPDX-License-Identifier: Apache-2.0 */
/* The built-in bond store: round trips in both key modes, wrong keys,
 * altered/truncated/foreign files, key file rules, limits, and crash safety
 * (a fault at every step of the atomic write, and a writer SIGKILLed at a
 * random moment). */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "bond_store.h"
#include "bond_store_internal.h"
#include "test.h"
#include "uvble/error.h"

/* ---- helpers -------------------------------------------------------------- */

typedef struct {
  char dir[256];
  char store[300];
  char key[300];
} paths_t;

static void paths_init(paths_t *p) {
  const char *t = getenv("TMPDIR");
  snprintf(p->dir, sizeof(p->dir), "%s/uvble-bs-XXXXXX", t && *t ? t : "/tmp");
  REQUIRE(mkdtemp(p->dir) != NULL);
  snprintf(p->store, sizeof(p->store), "%s/bonds", p->dir);
  snprintf(p->key, sizeof(p->key), "%s/bonds.key", p->dir);
}

static void paths_cleanup(paths_t *p) {
  DIR *d = opendir(p->dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      unlinkat(dirfd(d), de->d_name, 0);
  closedir(d);
  rmdir(p->dir);
}

/* Files in the directory other than the store and its key. */
static int stray_files(const paths_t *p) {
  DIR *d = opendir(p->dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
        strcmp(de->d_name, "bonds") && strcmp(de->d_name, "bonds.key"))
      n++;
  closedir(d);
  return n;
}

static size_t slurp(const char *path, uint8_t *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

static void spit(const char *path, const uint8_t *buf, size_t len,
                 mode_t mode) {
  unlink(path);
  int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, mode);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, buf, len) == (ssize_t)len);
  REQUIRE(fchmod(fd, mode) == 0);
  close(fd);
}

static mode_t file_mode(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return (mode_t)-1;
  return st.st_mode & 07777;
}

static const uint8_t ADDR1[7] = {0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66};
static const uint8_t ADDR2[7] = {1, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6};

static bond_store_t *open_ok(const paths_t *p) {
  bond_store_t *s = NULL;
  char eb[256];
  int rc = bond_store_open_ex(p->store, p->key, NULL, &s, eb, sizeof(eb));
  if (rc != 0) test_fail(__FILE__, __LINE__, "open: %d: %s", rc, eb);
  REQUIRE(rc == 0 && s != NULL);
  return s;
}

static int open_rc(const paths_t *p, char *eb, size_t el) {
  bond_store_t *s = (bond_store_t *)1;
  int rc = bond_store_open_ex(p->store, p->key, NULL, &s, eb, el);
  if (rc == 0) bond_store_close(s);
  else CHECK(s == NULL);
  return rc;
}

/* A small store with two entries: 1/ADDR1 = "ltk-one", 2/ADDR2 = "peer". */
static void make_small(const paths_t *p) {
  bond_store_t *s = open_ok(p);
  REQUIRE_EQ(bond_store_set(s, 1, ADDR1, 7, (const uint8_t *)"ltk-one", 7), 0);
  REQUIRE_EQ(bond_store_set(s, 2, ADDR2, 7, (const uint8_t *)"peer", 4), 0);
  bond_store_close(s);
}

static void check_small(bond_store_t *s) {
  uint8_t v[64];
  CHECK_EQ(bond_store_count(s), 2);
  CHECK_EQ(bond_store_get(s, 1, ADDR1, 7, v, sizeof(v)), 7);
  CHECK_MEM(v, "ltk-one", 7);
  CHECK_EQ(bond_store_get(s, 2, ADDR2, 7, v, sizeof(v)), 4);
  CHECK_MEM(v, "peer", 4);
}

/* ---- round trips ------------------------------------------------------------ */

/* After round_trip_key_file's changes: everything persisted, in order;
 * then erase. */
static void check_persisted_then_erase(const paths_t *p) {
  uint8_t v[BOND_STORE_VALUE_MAX], k[BOND_STORE_KEY_MAX];
  size_t kl = 99;
  bond_store_t *s = open_ok(p);
  CHECK_EQ(bond_store_count(s), 4);
  CHECK_EQ(bond_store_get(s, 2, ADDR1, 7, v, sizeof(v)), 5);
  CHECK_MEM(v, "BBBBB", 5);
  CHECK_EQ(bond_store_get_index(s, 1, 0, k, sizeof(k), &kl, v, sizeof(v)), 2);
  CHECK_MEM(k, ADDR2, 7);
  CHECK_EQ(bond_store_get(s, 10, (const uint8_t *)"irk", 3, v, sizeof(v)), 16);
  CHECK_MEM(v, "0123456789abcdef", 16);
  CHECK_EQ(bond_store_get(s, 7, NULL, 0, v, sizeof(v)), 0);

  /* Erase leaves an empty store file behind. */
  CHECK_EQ(bond_store_erase(s), 0);
  CHECK_EQ(bond_store_count(s), 0);
  CHECK_EQ(bond_store_get(s, 2, ADDR1, 7, v, sizeof(v)), UVBLE_ENOENT);
  bond_store_close(s);
  CHECK_EQ(file_mode(p->store), 0600);
  s = open_ok(p);
  CHECK_EQ(bond_store_count(s), 0);
  bond_store_close(s);
}

TEST(round_trip_key_file) {
  paths_t p;
  paths_init(&p);
  bond_store_t *s = open_ok(&p);
  CHECK_EQ(file_mode(p.key), 0600);
  CHECK_EQ(file_mode(p.store), 0600);
  struct stat st;
  CHECK(stat(p.key, &st) == 0 && st.st_size == 32);
  CHECK_EQ(bond_store_count(s), 0);

  uint8_t v[BOND_STORE_VALUE_MAX], k[BOND_STORE_KEY_MAX];
  size_t kl = 99;
  CHECK_EQ(bond_store_get(s, 1, ADDR1, 7, v, sizeof(v)), UVBLE_ENOENT);
  CHECK_EQ(bond_store_set(s, 1, ADDR1, 7, (const uint8_t *)"AAAA", 4), 0);
  CHECK_EQ(bond_store_set(s, 2, ADDR1, 7, (const uint8_t *)"BBBBB", 5), 0);
  CHECK_EQ(bond_store_set(s, 1, ADDR2, 7, (const uint8_t *)"CC", 2), 0);
  CHECK_EQ(bond_store_set(s, 10, (const uint8_t *)"irk", 3,
                          (const uint8_t *)"0123456789abcdef", 16), 0);
  CHECK_EQ(bond_store_set(s, 7, NULL, 0, (const uint8_t *)"", 0), 0);
  CHECK_EQ(bond_store_count(s), 5);

  /* Same key, other type: distinct secrets. */
  CHECK_EQ(bond_store_get(s, 1, ADDR1, 7, v, sizeof(v)), 4);
  CHECK_MEM(v, "AAAA", 4);
  CHECK_EQ(bond_store_get(s, 2, ADDR1, 7, v, sizeof(v)), 5);
  CHECK_MEM(v, "BBBBB", 5);
  CHECK_EQ(bond_store_get(s, 7, NULL, 0, NULL, 0), 0);
  /* A short buffer gets a prefix; the length is still the whole. */
  memset(v, 0xee, sizeof(v));
  CHECK_EQ(bond_store_get(s, 2, ADDR1, 7, v, 2), 5);
  CHECK_MEM(v, "BB\xee", 3);
  CHECK_EQ(bond_store_get(s, 2, ADDR1, 7, NULL, 0), 5);

  /* Iteration of type 1 in insertion order, then the end. */
  CHECK_EQ(bond_store_get_index(s, 1, 0, k, sizeof(k), &kl, v, sizeof(v)), 4);
  CHECK_EQ(kl, 7);
  CHECK_MEM(k, ADDR1, 7);
  CHECK_EQ(bond_store_get_index(s, 1, 1, k, sizeof(k), &kl, v, sizeof(v)), 2);
  CHECK_MEM(k, ADDR2, 7);
  CHECK_MEM(v, "CC", 2);
  CHECK_EQ(bond_store_get_index(s, 1, 2, k, sizeof(k), &kl, v, sizeof(v)),
           UVBLE_ENOENT);
  CHECK_EQ(bond_store_get_index(s, 10, 0, k, sizeof(k), &kl, v, sizeof(v)),
           16);
  CHECK_EQ(kl, 3);
  CHECK_MEM(k, "irk", 3);
  CHECK_EQ(bond_store_get_index(s, 3, 0, k, sizeof(k), &kl, v, sizeof(v)),
           UVBLE_ENOENT);
  CHECK_EQ(bond_store_get_index(s, 1, -1, k, sizeof(k), &kl, v, sizeof(v)),
           UVBLE_EINVAL);

  /* Replacing keeps the position; deleting closes the gap. */
  CHECK_EQ(bond_store_set(s, 1, ADDR1, 7, (const uint8_t *)"aaaaaa", 6), 0);
  CHECK_EQ(bond_store_get_index(s, 1, 0, k, sizeof(k), &kl, v, sizeof(v)), 6);
  CHECK_MEM(v, "aaaaaa", 6);
  CHECK_EQ(bond_store_count(s), 5);
  CHECK_EQ(bond_store_set(s, 1, ADDR1, 7, NULL, 0), 0);
  CHECK_EQ(bond_store_set(s, 1, ADDR1, 7, NULL, 0), UVBLE_ENOENT);
  CHECK_EQ(bond_store_get(s, 1, ADDR1, 7, v, sizeof(v)), UVBLE_ENOENT);
  CHECK_EQ(bond_store_get_index(s, 1, 0, k, sizeof(k), &kl, v, sizeof(v)), 2);
  CHECK_MEM(k, ADDR2, 7);
  CHECK_EQ(bond_store_count(s), 4);
  bond_store_close(s);
  check_persisted_then_erase(&p);
  CHECK_EQ(stray_files(&p), 0);
  paths_cleanup(&p);
}

TEST(round_trip_passphrase) {
  paths_t p;
  paths_init(&p);
  bond_store_t *s = NULL;
  char eb[256];
  REQUIRE_EQ(bond_store_open(p.store, NULL, "correct horse", &s), 0);
  CHECK_EQ(bond_store_set(s, 1, ADDR1, 7, (const uint8_t *)"secret", 6), 0);
  bond_store_close(s);
  CHECK_EQ(access(p.key, F_OK), -1); /* no key file in this mode */
  CHECK_EQ(file_mode(p.store), 0600);

  uint8_t f[4096];
  size_t n = slurp(p.store, f, sizeof(f));
  REQUIRE(n >= BOND_STORE_FILE_MIN);
  CHECK_EQ(f[BOND_STORE_OFF_KDF], BOND_STORE_KDF_ARGON2ID13);
  uint8_t zero[16] = {0};
  CHECK(memcmp(f + BOND_STORE_OFF_SALT, zero, 16) != 0);
  CHECK(memmem(f, n, "secret", 6) == NULL);

  REQUIRE_EQ(bond_store_open(p.store, NULL, "correct horse", &s), 0);
  uint8_t v[16];
  CHECK_EQ(bond_store_get(s, 1, ADDR1, 7, v, sizeof(v)), 6);
  CHECK_MEM(v, "secret", 6);
  /* A write keeps the salt (the key stays valid) but changes the nonce. */
  CHECK_EQ(bond_store_set(s, 2, ADDR1, 7, (const uint8_t *)"x", 1), 0);
  bond_store_close(s);
  uint8_t g[4096];
  size_t m = slurp(p.store, g, sizeof(g));
  REQUIRE(m > BOND_STORE_HEADER_SIZE);
  CHECK_MEM(f, g, BOND_STORE_OFF_NONCE);
  CHECK(memcmp(f + BOND_STORE_OFF_NONCE, g + BOND_STORE_OFF_NONCE, 24) != 0);

  s = (bond_store_t *)1;
  CHECK_EQ(bond_store_open_ex(p.store, NULL, "correct hors", &s, eb,
                              sizeof(eb)),
           UVBLE_EACCES);
  CHECK(s == NULL);
  CHECK(strstr(eb, "authentication failed") != NULL);
  CHECK(strstr(eb, "passphrase") != NULL);
  /* A passphrase store opened with a key file: refused, file untouched. */
  CHECK_EQ(bond_store_open_ex(p.store, p.key, NULL, &s, eb, sizeof(eb)),
           UVBLE_EACCES);
  CHECK(strstr(eb, "protected by a passphrase") != NULL);
  CHECK_EQ(access(p.key, F_OK), -1);

  REQUIRE_EQ(bond_store_open(p.store, NULL, "correct horse", &s), 0);
  CHECK_EQ(bond_store_count(s), 2);
  bond_store_close(s);
  paths_cleanup(&p);
}

TEST(two_stores_have_different_salts) {
  paths_t a, b;
  paths_init(&a);
  paths_init(&b);
  bond_store_t *s;
  REQUIRE_EQ(bond_store_open(a.store, NULL, "pw", &s), 0);
  bond_store_close(s);
  REQUIRE_EQ(bond_store_open(b.store, NULL, "pw", &s), 0);
  bond_store_close(s);
  uint8_t fa[256], fb[256];
  REQUIRE(slurp(a.store, fa, sizeof(fa)) >= BOND_STORE_FILE_MIN);
  REQUIRE(slurp(b.store, fb, sizeof(fb)) >= BOND_STORE_FILE_MIN);
  CHECK(memcmp(fa + BOND_STORE_OFF_SALT, fb + BOND_STORE_OFF_SALT, 16) != 0);
  paths_cleanup(&a);
  paths_cleanup(&b);
}

TEST(bad_arguments) {
  paths_t p;
  paths_init(&p);
  bond_store_t *s = (bond_store_t *)1;
  CHECK_EQ(bond_store_open(p.store, NULL, NULL, &s), UVBLE_EINVAL);
  CHECK(s == NULL);
  CHECK_EQ(bond_store_open(p.store, p.key, "pw", &s), UVBLE_EINVAL);
  CHECK_EQ(bond_store_open(p.store, NULL, "", &s), UVBLE_EINVAL);
  CHECK_EQ(bond_store_open(NULL, p.key, NULL, &s), UVBLE_EINVAL);
  CHECK_EQ(bond_store_open(p.store, p.key, NULL, NULL), UVBLE_EINVAL);
  CHECK_EQ(stray_files(&p), 0);
  CHECK_EQ(access(p.store, F_OK), -1);
  bond_store_close(NULL);
  CHECK_EQ(bond_store_count(NULL), 0);
  paths_cleanup(&p);
}

/* ---- keys ---------------------------------------------------------------------- */

TEST(wrong_key_file) {
  paths_t p;
  paths_init(&p);
  make_small(&p);
  uint8_t before[4096], after[4096], key[32];
  size_t n = slurp(p.store, before, sizeof(before));
  randombytes_buf(key, sizeof(key));
  spit(p.key, key, sizeof(key), 0600);
  char eb[256];
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EACCES);
  CHECK(strstr(eb, "authentication failed") != NULL);
  CHECK_EQ(slurp(p.store, after, sizeof(after)), n);
  CHECK_MEM(before, after, n);
  paths_cleanup(&p);
}

TEST(key_file_rules) {
  paths_t p;
  paths_init(&p);
  make_small(&p);
  uint8_t key[40];
  REQUIRE_EQ(slurp(p.key, key, sizeof(key)), 32);
  char eb[256];

  static const mode_t bad_modes[] = {0644, 0640, 0604, 0660, 0602, 0610};
  for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
    REQUIRE_EQ(chmod(p.key, bad_modes[i]), 0);
    CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EACCES);
    CHECK(strstr(eb, "group or others") != NULL);
    CHECK(strstr(eb, "chmod 600") != NULL);
  }
  REQUIRE_EQ(chmod(p.key, 0400), 0); /* owner read-only is fine */
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), 0);
  REQUIRE_EQ(chmod(p.key, 0600), 0);
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), 0);

  spit(p.key, key, 31, 0600);
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EACCES);
  CHECK(strstr(eb, "holds 31 bytes") != NULL);
  key[32] = 0;
  spit(p.key, key, 33, 0600);
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EACCES);
  CHECK(strstr(eb, "exactly 32") != NULL);
  spit(p.key, key, 0, 0600);
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EACCES);

  unlink(p.key);
  REQUIRE_EQ(mkdir(p.key, 0700), 0);
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EACCES);
  CHECK(strstr(eb, "not a regular file") != NULL);
  rmdir(p.key);

  /* The store exists, its key is gone: no new key is made up. */
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_ENOENT);
  CHECK(strstr(eb, "missing") != NULL);
  CHECK_EQ(access(p.key, F_OK), -1);

  spit(p.key, key, 32, 0600);
  bond_store_t *s = open_ok(&p);
  check_small(s);
  bond_store_close(s);
  paths_cleanup(&p);
}

TEST(existing_key_file_for_a_new_store) {
  paths_t p;
  paths_init(&p);
  uint8_t key[32];
  randombytes_buf(key, sizeof(key));
  spit(p.key, key, sizeof(key), 0600);
  bond_store_t *s = open_ok(&p);
  bond_store_close(s);
  uint8_t now[64];
  REQUIRE_EQ(slurp(p.key, now, sizeof(now)), 32);
  CHECK_MEM(now, key, 32); /* used, not replaced */

  /* A readable-by-others key file is refused for a new store too. */
  unlink(p.store);
  REQUIRE_EQ(chmod(p.key, 0644), 0);
  char eb[256];
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EACCES);
  paths_cleanup(&p);
}

/* Exactly 0600 whatever the umask: neither wider (umask 0) nor narrower
 * (umask 0277 would leave 0400). */
TEST(modes_ignore_umask) {
  static const mode_t masks[] = {0, 0277, 0022};
  for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
    paths_t p;
    paths_init(&p);
    mode_t old = umask(masks[i]);
    bond_store_t *s = open_ok(&p);
    CHECK_EQ(file_mode(p.store), 0600);
    CHECK_EQ(file_mode(p.key), 0600);
    CHECK_EQ(bond_store_set(s, 1, ADDR1, 7, (const uint8_t *)"v", 1), 0);
    bond_store_close(s);
    umask(old);
    CHECK_EQ(file_mode(p.store), 0600);
    paths_cleanup(&p);
  }
}

/* ---- hostile files ------------------------------------------------------------- */

/* Flips bit `bit` of every byte of the small store in turn: open fails with
 * EACCES or EPROTO each time. */
TEST(tampered_file_every_byte) {
  paths_t p;
  paths_init(&p);
  make_small(&p);
  uint8_t orig[4096], f[4096];
  size_t n = slurp(p.store, orig, sizeof(orig));
  REQUIRE(n > BOND_STORE_FILE_MIN && n < sizeof(orig));
  char eb[256];
  int eacces = 0, eproto = 0;
  for (int bit = 0; bit < 8; bit += 7) {
    for (size_t i = 0; i < n; i++) {
      memcpy(f, orig, n);
      f[i] ^= (uint8_t)(1u << bit);
      spit(p.store, f, n, 0600);
      eb[0] = '\0';
      int rc = open_rc(&p, eb, sizeof(eb));
      if (rc != UVBLE_EACCES && rc != UVBLE_EPROTO)
        test_fail(__FILE__, __LINE__, "byte %zu bit %d: open gave %d", i, bit,
                  rc);
      CHECK(eb[0] != '\0');
      eacces += rc == UVBLE_EACCES;
      eproto += rc == UVBLE_EPROTO;
      /* Open never writes a file it refused. */
      uint8_t back[4096];
      CHECK_EQ(slurp(p.store, back, sizeof(back)), n);
      CHECK_MEM(back, f, n);
    }
  }
  /* Header fields are rejected as corrupt before any key is tried; the
   * nonce, ciphertext and tag by the authentication check. */
  CHECK_EQ(eproto, 2 * BOND_STORE_OFF_NONCE);
  CHECK_EQ(eacces, 2 * (n - BOND_STORE_OFF_NONCE));
  spit(p.store, orig, n, 0600);
  bond_store_t *s = open_ok(&p);
  check_small(s);
  bond_store_close(s);
  paths_cleanup(&p);
}

/* Passphrase stores authenticate their KDF fields too. Salt and parameter
 * changes inside the accepted range give another key (EACCES); outside it
 * the header is refused before any Argon2 run (EPROTO). */
TEST(tampered_passphrase_header) {
  paths_t p;
  paths_init(&p);
  bond_store_t *s;
  REQUIRE_EQ(bond_store_open(p.store, NULL, "pw", &s), 0);
  bond_store_close(s);
  uint8_t orig[256], f[256];
  size_t n = slurp(p.store, orig, sizeof(orig));
  REQUIRE(n >= BOND_STORE_FILE_MIN);
  static const struct {
    size_t off;
    uint8_t x;
    int want;
  } cases[] = {
      {BOND_STORE_OFF_SALT, 0x01, UVBLE_EACCES},
      {BOND_STORE_OFF_SALT + 15, 0x80, UVBLE_EACCES},
      {BOND_STORE_OFF_OPSLIMIT, 0x01, UVBLE_EACCES},     /* 2 -> 3 */
      {BOND_STORE_OFF_OPSLIMIT, 0x02, UVBLE_EPROTO},     /* 2 -> 0 */
      {BOND_STORE_OFF_OPSLIMIT + 7, 0x80, UVBLE_EPROTO}, /* huge */
      {BOND_STORE_OFF_MEMLIMIT + 7, 0x01, UVBLE_EPROTO}, /* huge */
      {BOND_STORE_OFF_MEMLIMIT + 3, 0x04, UVBLE_EPROTO}, /* 64 -> 0 MiB */
      {BOND_STORE_OFF_KDF, 0x03, UVBLE_EPROTO},          /* KDF 2 */
      {BOND_STORE_OFF_KDF, 0x01, UVBLE_EPROTO},          /* KDF 0, fields */
      {BOND_STORE_OFF_RESERVED, 0x01, UVBLE_EPROTO},
      {BOND_STORE_OFF_NONCE + 5, 0x10, UVBLE_EACCES},
      {BOND_STORE_HEADER_SIZE + 1, 0x01, UVBLE_EACCES},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    memcpy(f, orig, n);
    f[cases[i].off] ^= cases[i].x;
    spit(p.store, f, n, 0600);
    s = (bond_store_t *)1;
    int rc = bond_store_open(p.store, NULL, "pw", &s);
    if (rc != cases[i].want)
      test_fail(__FILE__, __LINE__, "case %zu: %d, want %d", i, rc,
                cases[i].want);
    if (rc == 0) bond_store_close(s);
  }
  paths_cleanup(&p);
}

TEST(truncated_and_extended_files) {
  paths_t p;
  paths_init(&p);
  make_small(&p);
  uint8_t orig[4096];
  size_t n = slurp(p.store, orig, sizeof(orig));
  char eb[256];
  size_t cuts[] = {0, 1, 7, 8, 20, BOND_STORE_HEADER_SIZE - 1,
                   BOND_STORE_HEADER_SIZE, BOND_STORE_FILE_MIN - 1};
  for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
    spit(p.store, orig, cuts[i], 0600);
    CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EPROTO);
  }
  /* Long enough to be a store: cut ciphertext fails authentication. */
  for (size_t len = BOND_STORE_FILE_MIN; len < n; len++) {
    spit(p.store, orig, len, 0600);
    CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EACCES);
  }
  uint8_t longer[4097];
  memcpy(longer, orig, n);
  longer[n] = 0;
  spit(p.store, longer, n + 1, 0600);
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EACCES);

  /* Larger than any store can be: refused unread. */
  int fd = open(p.store, O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE_EQ(ftruncate(fd, (off_t)BOND_STORE_FILE_MAX + 1), 0);
  close(fd);
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EPROTO);
  CHECK(strstr(eb, "not a bond store") != NULL);

  /* Not a file at all. */
  unlink(p.store);
  REQUIRE_EQ(mkdir(p.store, 0700), 0);
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EINVAL);
  rmdir(p.store);
  paths_cleanup(&p);
}

static void read_key(const paths_t *p, uint8_t key[32]) {
  REQUIRE_EQ(slurp(p->key, key, 32), 32);
}

/* Seals plaintext pt as the store under the store's own key file. */
static void write_sealed(const paths_t *p, uint16_t version,
                         const uint8_t *pt, size_t len) {
  uint8_t key[32];
  read_key(p, key);
  uint8_t *file;
  size_t flen;
  REQUIRE_EQ(bond_store_seal(key, version, pt, len, &file, &flen), 0);
  spit(p->store, file, flen, 0600);
  free(file);
}

TEST(unknown_version_and_magic) {
  paths_t p;
  paths_init(&p);
  make_small(&p);
  uint8_t f[4096];
  size_t n = slurp(p.store, f, sizeof(f));
  char eb[256];
  f[BOND_STORE_OFF_VERSION] = 2;
  spit(p.store, f, n, 0600);
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EPROTO);
  CHECK(strstr(eb, "version 2") != NULL);

  /* Validly sealed under the right key, but a version we do not know. */
  static const uint8_t empty[4] = {0};
  write_sealed(&p, 2, empty, sizeof(empty));
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EPROTO);
  write_sealed(&p, 0, empty, sizeof(empty));
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EPROTO);
  write_sealed(&p, 0x0101, empty, sizeof(empty));
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EPROTO);
  write_sealed(&p, 1, empty, sizeof(empty));
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), 0);

  memcpy(f, "SQLite f", 8);
  spit(p.store, f, n, 0600);
  CHECK_EQ(open_rc(&p, eb, sizeof(eb)), UVBLE_EPROTO);
  CHECK(strstr(eb, "bad magic") != NULL);
  paths_cleanup(&p);
}

/* Appends one plaintext entry. */
static size_t pt_entry(uint8_t *p, uint8_t type, size_t kl, size_t vl,
                       uint8_t fill) {
  p[0] = type;
  p[1] = (uint8_t)kl;
  p[2] = (uint8_t)vl;
  p[3] = (uint8_t)(vl >> 8);
  memset(p + 4, fill, kl + vl);
  return 4 + kl + vl;
}

static void pt_count(uint8_t *p, uint32_t n) {
  p[0] = (uint8_t)n;
  p[1] = (uint8_t)(n >> 8);
  p[2] = (uint8_t)(n >> 16);
  p[3] = (uint8_t)(n >> 24);
}

/* The parser on an exactly-sized heap copy: a read past the end is an ASan
 * report, not a silent read of the caller's spare buffer. */
static int parse_exact(const uint8_t *pt, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  REQUIRE(copy != NULL);
  if (len) memcpy(copy, pt, len);
  int rc = bond_store_parse_plaintext(copy, len);
  free(copy);
  return rc;
}

/* Authentic files whose plaintext breaks a rule: every one is refused with
 * EPROTO, through open and through the parser directly. */
TEST(hostile_plaintexts) {
  paths_t p;
  paths_init(&p);
  make_small(&p);
  static uint8_t pt[8192];
  char eb[256];
  struct {
    const char *what;
    uint32_t count;
    size_t n_entries;
    size_t kl[3], vl[3];
    uint8_t type[3];
    int extra; /* bytes appended (> 0) or cut off the end (< 0) */
    int want;
  } cases[] = {
      {"valid", 2, 2, {7, 0}, {16, 512}, {1, 2}, 0, 2},
      {"empty", 0, 0, {0}, {0}, {0}, 0, 0},
      {"trailing byte", 1, 1, {7}, {16}, {1}, 1, UVBLE_EPROTO},
      {"count too high", 2, 1, {7}, {16}, {1}, 0, UVBLE_EPROTO},
      {"value past the end", 1, 1, {7}, {16}, {1}, -6, UVBLE_EPROTO},
      {"count too low", 1, 2, {7, 7}, {16, 16}, {1, 2}, 0, UVBLE_EPROTO},
      {"duplicate", 2, 2, {7, 7}, {16, 3}, {1, 1}, 0, UVBLE_EPROTO},
      {"key too long", 1, 1, {33}, {16}, {1}, 0, UVBLE_EPROTO},
      {"value too long", 1, 1, {7}, {513}, {1}, 0, UVBLE_EPROTO},
      {"count over max", BOND_STORE_ENTRIES_MAX + 1, 1, {7}, {1}, {1}, 0,
       UVBLE_EPROTO},
      {"huge count", 0xffffffffu, 1, {7}, {1}, {1}, 0, UVBLE_EPROTO},
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    size_t len = 4;
    pt_count(pt, cases[c].count);
    for (size_t i = 0; i < cases[c].n_entries; i++)
      len += pt_entry(pt + len, cases[c].type[i], cases[c].kl[i],
                      cases[c].vl[i], 0x5a);
    if (cases[c].extra > 0) memset(pt + len, 0, (size_t)cases[c].extra);
    len = (size_t)((long)len + cases[c].extra);
    int rc = parse_exact(pt, len);
    if (rc != cases[c].want)
      test_fail(__FILE__, __LINE__, "%s: parse %d", cases[c].what, rc);
    write_sealed(&p, 1, pt, len);
    rc = open_rc(&p, eb, sizeof(eb));
    if (rc != (cases[c].want < 0 ? cases[c].want : 0))
      test_fail(__FILE__, __LINE__, "%s: open %d", cases[c].what, rc);
    /* Every strict prefix of a valid plaintext is refused. */
    for (size_t cut = 0; cases[c].want >= 0 && cut < len; cut++)
      CHECK_EQ(parse_exact(pt, cut), UVBLE_EPROTO);
  }
  CHECK_EQ(bond_store_parse_plaintext(NULL, 0), UVBLE_EPROTO);
  CHECK_EQ(parse_exact(pt, 3), UVBLE_EPROTO);
  paths_cleanup(&p);
}

/* ---- limits ---------------------------------------------------------------- */

TEST(size_limits) {
  paths_t p;
  paths_init(&p);
  bond_store_t *s = open_ok(&p);
  static uint8_t big[BOND_STORE_VALUE_MAX + 1], k[BOND_STORE_KEY_MAX + 1];
  memset(big, 0xab, sizeof(big));
  memset(k, 0xcd, sizeof(k));
  CHECK_EQ(bond_store_set(s, 1, k, 33, big, 1), UVBLE_EINVAL);
  CHECK_EQ(bond_store_set(s, 1, k, 1, big, 513), UVBLE_EINVAL);
  CHECK_EQ(bond_store_set(s, 1, NULL, 3, big, 1), UVBLE_EINVAL);
  CHECK_EQ(bond_store_set(NULL, 1, k, 1, big, 1), UVBLE_EINVAL);
  CHECK_EQ(bond_store_get(s, 1, k, 33, big, 1), UVBLE_EINVAL);
  CHECK_EQ(bond_store_get(s, 1, k, 1, NULL, 4), UVBLE_EINVAL);
  CHECK_EQ(bond_store_count(s), 0);
  CHECK_EQ(bond_store_set(s, 1, k, 32, big, 512), 0);
  uint8_t v[BOND_STORE_VALUE_MAX];
  CHECK_EQ(bond_store_get(s, 1, k, 32, v, sizeof(v)), 512);
  CHECK_MEM(v, big, 512);
  bond_store_close(s);
  s = open_ok(&p);
  CHECK_EQ(bond_store_get(s, 1, k, 32, v, sizeof(v)), 512);
  bond_store_close(s);
  paths_cleanup(&p);
}

/* A store of BOND_STORE_ENTRIES_MAX largest entries (built sealed, not by
 * a thousand fsyncs): the largest file; one more secret is ENOSPC, but
 * replacing or deleting one works. */
TEST(entry_limit) {
  paths_t p;
  paths_init(&p);
  make_small(&p);
  uint8_t *pt = malloc(BOND_STORE_PLAINTEXT_MAX);
  REQUIRE(pt != NULL);
  size_t len = 4;
  pt_count(pt, BOND_STORE_ENTRIES_MAX);
  for (int i = 0; i < BOND_STORE_ENTRIES_MAX; i++) {
    len += pt_entry(pt + len, 1, 32, 512, 0x11);
    pt[len - 512 - 32] = (uint8_t)i; /* distinct keys */
    pt[len - 512 - 31] = (uint8_t)(i >> 8);
  }
  REQUIRE_EQ(len, BOND_STORE_PLAINTEXT_MAX);
  write_sealed(&p, 1, pt, len);
  free(pt);
  struct stat st;
  REQUIRE_EQ(stat(p.store, &st), 0);
  CHECK_EQ(st.st_size, BOND_STORE_FILE_MAX);

  bond_store_t *s = open_ok(&p);
  CHECK_EQ(bond_store_count(s), BOND_STORE_ENTRIES_MAX);
  uint8_t k[32];
  memset(k, 0x11, sizeof(k));
  k[0] = 0xff;
  k[1] = 0xff;
  CHECK_EQ(bond_store_set(s, 1, k, 32, (const uint8_t *)"x", 1), UVBLE_ENOSPC);
  CHECK_EQ(bond_store_set(s, 9, NULL, 0, (const uint8_t *)"x", 1),
           UVBLE_ENOSPC);
  CHECK_EQ(bond_store_count(s), BOND_STORE_ENTRIES_MAX);
  k[0] = 5;
  k[1] = 0;
  CHECK_EQ(bond_store_set(s, 1, k, 32, (const uint8_t *)"y", 1), 0);
  k[0] = 6;
  CHECK_EQ(bond_store_set(s, 1, k, 32, NULL, 0), 0);
  CHECK_EQ(bond_store_count(s), BOND_STORE_ENTRIES_MAX - 1);
  CHECK_EQ(bond_store_set(s, 9, NULL, 0, (const uint8_t *)"x", 1), 0);
  bond_store_close(s);
  s = open_ok(&p);
  CHECK_EQ(bond_store_count(s), BOND_STORE_ENTRIES_MAX);
  uint8_t v[8];
  k[0] = 5;
  CHECK_EQ(bond_store_get(s, 1, k, 32, v, sizeof(v)), 1);
  CHECK_EQ(v[0], 'y');
  k[0] = 6;
  CHECK_EQ(bond_store_get(s, 1, k, 32, v, sizeof(v)), UVBLE_ENOENT);
  bond_store_close(s);
  paths_cleanup(&p);
}

/* ---- crash safety ------------------------------------------------------------ */

typedef enum { OP_ADD, OP_REPLACE, OP_DELETE, OP_ERASE } op_t;

static int do_op(bond_store_t *s, op_t op) {
  switch (op) {
    case OP_ADD:
      return bond_store_set(s, 3, (const uint8_t *)"new", 3,
                            (const uint8_t *)"fresh", 5);
    case OP_REPLACE:
      return bond_store_set(s, 1, ADDR1, 7, (const uint8_t *)"ltk-two", 7);
    case OP_DELETE:
      return bond_store_set(s, 2, ADDR2, 7, NULL, 0);
    case OP_ERASE:
      return bond_store_erase(s);
  }
  return 0;
}

/* A fault at each step before the rename: the call fails with the injected
 * error, no temporary file remains, and both the handle and the file still
 * hold the old store; the handle keeps working afterwards. */
TEST(fault_at_each_write_step) {
  paths_t p;
  paths_init(&p);
  make_small(&p);
  uint8_t f[4096];
  size_t n = slurp(p.store, f, sizeof(f));
  struct bond_store_fault faults[] = {
      {BOND_STORE_FAULT_OPEN, 0, EMFILE},
      {BOND_STORE_FAULT_WRITE, 0, ENOSPC},
      {BOND_STORE_FAULT_WRITE, 1, ENOSPC},
      {BOND_STORE_FAULT_WRITE, BOND_STORE_HEADER_SIZE - 1, EIO},
      {BOND_STORE_FAULT_WRITE, BOND_STORE_HEADER_SIZE, EDQUOT},
      {BOND_STORE_FAULT_WRITE, 80, EIO},
      {BOND_STORE_FAULT_WRITE, BOND_STORE_FILE_MIN - 1, EIO}, /* tag */
      {BOND_STORE_FAULT_FSYNC, 0, EIO},
      {BOND_STORE_FAULT_CLOSE, 0, EIO},
      {BOND_STORE_FAULT_RENAME, 0, EXDEV},
  };
  for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
    for (op_t op = OP_ADD; op <= OP_ERASE; op++) {
      bond_store_t *s = open_ok(&p);
      bond_store_set_fault(&faults[i]);
      int rc = do_op(s, op);
      bond_store_set_fault(NULL);
      if (rc != -faults[i].err)
        test_fail(__FILE__, __LINE__, "fault %zu op %d: %d", i, (int)op, rc);
      CHECK_EQ(stray_files(&p), 0);
      check_small(s); /* memory unchanged */
      uint8_t now[4096];
      CHECK_EQ(slurp(p.store, now, sizeof(now)), n);
      CHECK_MEM(now, f, n); /* file byte for byte unchanged */
      bond_store_t *s2 = open_ok(&p);
      check_small(s2);
      bond_store_close(s2);
      /* Nothing is stuck: the same change now goes through. */
      CHECK_EQ(do_op(s, op), 0);
      bond_store_close(s);
      spit(p.store, f, n, 0600);
    }
  }
  /* A write fault longer than the file never fires. */
  struct bond_store_fault late = {BOND_STORE_FAULT_WRITE, 100000, EIO};
  bond_store_t *s = open_ok(&p);
  bond_store_set_fault(&late);
  CHECK_EQ(do_op(s, OP_ADD), 0);
  bond_store_set_fault(NULL);
  bond_store_close(s);
  paths_cleanup(&p);
}

/* After the rename only the directory fsync can fail: the change is in the
 * file and in memory, and the error is reported. */
TEST(fault_at_directory_fsync) {
  paths_t p;
  paths_init(&p);
  make_small(&p);
  bond_store_t *s = open_ok(&p);
  struct bond_store_fault fd = {BOND_STORE_FAULT_DIRSYNC, 0, EIO};
  bond_store_set_fault(&fd);
  CHECK_EQ(do_op(s, OP_REPLACE), UVBLE_EIO);
  bond_store_set_fault(NULL);
  uint8_t v[16];
  CHECK_EQ(bond_store_get(s, 1, ADDR1, 7, v, sizeof(v)), 7);
  CHECK_MEM(v, "ltk-two", 7);
  CHECK_EQ(stray_files(&p), 0);
  bond_store_t *s2 = open_ok(&p);
  CHECK_EQ(bond_store_get(s2, 1, ADDR1, 7, v, sizeof(v)), 7);
  CHECK_MEM(v, "ltk-two", 7);
  bond_store_close(s2);
  bond_store_close(s);
  paths_cleanup(&p);
}

/* A pid that is certainly dead: a child we reaped. */
static pid_t dead_pid(void) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  REQUIRE(pid > 0);
  REQUIRE_EQ(waitpid(pid, NULL, 0), pid);
  return pid;
}

TEST(stale_temporary_files) {
  paths_t p;
  paths_init(&p);
  make_small(&p);
  char dead[400], live[400], mine[400], other[400];
  snprintf(dead, sizeof(dead), "%s.tmp.%ld", p.store, (long)dead_pid());
  snprintf(live, sizeof(live), "%s.tmp.%ld", p.store, (long)getppid());
  snprintf(mine, sizeof(mine), "%s.tmp.%ld", p.store, (long)getpid());
  snprintf(other, sizeof(other), "%s.tmp.x1", p.store);
  spit(dead, (const uint8_t *)"half", 4, 0600);
  spit(live, (const uint8_t *)"busy", 4, 0600);
  spit(other, (const uint8_t *)"user", 4, 0600);
  bond_store_t *s = open_ok(&p);
  CHECK_EQ(access(dead, F_OK), -1);  /* a crashed writer's: removed */
  CHECK_EQ(access(live, F_OK), 0);   /* a live process's: kept */
  CHECK_EQ(access(other, F_OK), 0);  /* not ours: kept */
  unlink(live);
  unlink(other);
  /* Our own pid's leftover (a dead process that had our pid) does not
   * block writing. */
  spit(mine, (const uint8_t *)"old", 3, 0600);
  CHECK_EQ(do_op(s, OP_ADD), 0);
  CHECK_EQ(stray_files(&p), 0);
  bond_store_close(s);
  paths_cleanup(&p);
}

#define KILL_ENTRIES 6

/* Value of entry k in generation gen: self-describing, so a torn or mixed
 * value is detected. */
static void gen_value(uint8_t v[64], uint32_t gen, uint32_t k) {
  memcpy(v, &gen, 4);
  memcpy(v + 4, &k, 4);
  for (int i = 8; i < 64; i++) v[i] = (uint8_t)(gen * 31 + k * 7 + (unsigned)i);
}

static uint8_t kill_key(int k) { return (uint8_t)('A' + k); }

/* The child: rewrites every entry, generation after generation, reporting
 * each write on the pipe, until killed. */
static void __attribute__((noreturn)) writer_child(const paths_t *p, int wfd) {
  bond_store_t *s;
  if (bond_store_open(p->store, p->key, NULL, &s) != 0) _exit(2);
  for (uint32_t gen = 1;; gen++) {
    for (int k = 0; k < KILL_ENTRIES; k++) {
      uint8_t v[64], key = kill_key(k);
      gen_value(v, gen, (uint32_t)k);
      if (bond_store_set(s, 1, &key, 1, v, sizeof(v)) != 0) _exit(3);
      if (write(wfd, "w", 1) != 1) _exit(4);
    }
  }
}

/* The store after the kill: every entry present and well-formed, entries
 * 0..j-1 of generation g and j.. of g-1 (the writes are in key order). */
static void check_generations(bond_store_t *s, int round) {
  CHECK_EQ(bond_store_count(s), KILL_ENTRIES);
  uint32_t g0 = 0;
  bool older_seen = false;
  for (int k = 0; k < KILL_ENTRIES; k++) {
    uint8_t v[64], want[64], key = kill_key(k);
    REQUIRE_EQ(bond_store_get(s, 1, &key, 1, v, sizeof(v)), 64);
    uint32_t gen;
    memcpy(&gen, v, 4);
    gen_value(want, gen, (uint32_t)k);
    CHECK_MEM(v, want, 64);
    if (k == 0) g0 = gen;
    if (gen == g0 && !older_seen) continue;
    if (gen + 1 == g0) {
      older_seen = true;
      continue;
    }
    test_fail(__FILE__, __LINE__, "round %d: entry %d gen %u after gen %u",
              round, k, gen, g0);
  }
}

/* A writer SIGKILLed at a different moment each round: the parent then
 * opens the store, finds old-or-new for every entry, and no temporary file
 * survives the open. */
TEST(sigkill_during_writes) {
  for (int round = 0; round < 8; round++) {
    paths_t p;
    paths_init(&p);
    bond_store_t *s = open_ok(&p);
    for (int k = 0; k < KILL_ENTRIES; k++) {
      uint8_t v[64], key = kill_key(k);
      gen_value(v, 0, (uint32_t)k);
      REQUIRE_EQ(bond_store_set(s, 1, &key, 1, v, sizeof(v)), 0);
    }
    bond_store_close(s);
    int pfd[2];
    REQUIRE_EQ(pipe(pfd), 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(pfd[0]);
      writer_child(&p, pfd[1]);
    }
    close(pfd[1]);
    /* Let it get some writes in (a varying number), then kill it at a
     * varying moment within the next write. */
    int writes = 1 + (round * 5) % (2 * KILL_ENTRIES);
    char c;
    for (int i = 0; i < writes; i++) REQUIRE_EQ(read(pfd[0], &c, 1), 1);
    usleep((useconds_t)(randombytes_uniform(3000)));
    REQUIRE_EQ(kill(pid, SIGKILL), 0);
    int status;
    REQUIRE_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(pfd[0]);

    REQUIRE_EQ(access(p.store, F_OK), 0); /* never missing, even briefly */
    s = open_ok(&p);
    check_generations(s, round);
    CHECK_EQ(stray_files(&p), 0);
    bond_store_close(s);
    paths_cleanup(&p);
  }
}

TEST_MAIN()
