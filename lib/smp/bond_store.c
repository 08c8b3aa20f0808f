/* SPDX-License-Identifier: Apache-2.0 */
/* The built-in secret store (bond_store.h): one XChaCha20-Poly1305 file,
 * format in bond_store_internal.h.
 *
 * The whole store lives in memory (at most BOND_STORE_ENTRIES_MAX entries of
 * ~550 bytes) in sodium_malloc'd pages, so secrets sit in locked memory with
 * guard pages and are wiped when freed. Every change is serialised, sealed
 * under a fresh random nonce and written atomically before the in-memory
 * table changes: if the write fails, memory and disk still agree on the old
 * state.
 *
 * Passphrase stores derive their key with crypto_pwhash ARGON2ID13 at
 * OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE (64 MiB, a fraction of a second
 * on a gateway-class CPU, once per open); the salt is random per store and
 * kept, with the parameters, in the authenticated header. Parameters read
 * from a file are bounded (at most OPSLIMIT_SENSITIVE, MEMLIMIT_MODERATE) so
 * an altered header cannot make open allocate gigabytes before the
 * authentication check refuses it.
 *
 * One process at a time: two processes writing one store do not corrupt it
 * (each rename is atomic) but the last writer wins.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "bond_store.h"
#include "bond_store_internal.h"
#include "pdu_reader.h"
#include "uvble/error.h"

#define KEY_BYTES crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SALT_BYTES crypto_pwhash_SALTBYTES

_Static_assert(KEY_BYTES == 32, "key size");
_Static_assert(NONCE_BYTES == 24, "nonce size");
_Static_assert(SALT_BYTES == 16, "salt size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == BOND_STORE_TAG_SIZE,
               "tag size");
_Static_assert(BOND_STORE_OFF_NONCE + NONCE_BYTES == BOND_STORE_HEADER_SIZE,
               "header layout");

struct entry {
  uint8_t type;
  uint8_t key_len;
  uint16_t value_len;
  uint8_t key[BOND_STORE_KEY_MAX];
  uint8_t value[BOND_STORE_VALUE_MAX];
};

struct bond_store {
  char *path;
  char *dir;                            /* to fsync after a rename */
  uint8_t *key;                         /* sodium_malloc'd, read-only */
  uint8_t hdr[BOND_STORE_HEADER_SIZE];  /* the next write's header */
  struct entry *tab;                    /* sodium_malloc'd, cap slots */
  size_t count, cap;
};

/* A change to write: the table with entry idx replaced by e (idx == count:
 * e appended), entry idx dropped (e NULL), or nothing kept (erase). */
struct change {
  bool erase;
  size_t idx;
  const struct entry *e;
};

/* Failure injection exists only in the test build of the library
 * (UVBLE_TEST_HOOKS, the uvble_internal target): the shipped one has no
 * global switch that makes the store fail. */
#ifdef UVBLE_TEST_HOOKS
static struct bond_store_fault g_fault;

void bond_store_set_fault(const struct bond_store_fault *f) {
  if (f)
    g_fault = *f;
  else
    memset(&g_fault, 0, sizeof(g_fault));
}

/* The injected error for step, or 0. */
static int fault(enum bond_store_fault_step step) {
  return g_fault.step == step ? -g_fault.err : 0;
}

/* An injected short write: *n shrinks to what may still go out, and once
 * `after` bytes are out the write fails. */
static int fault_write(size_t done, size_t *n) {
  if (g_fault.step != BOND_STORE_FAULT_WRITE) return 0;
  if (done >= g_fault.after) return -g_fault.err;
  if (*n > g_fault.after - done) *n = g_fault.after - done;
  return 0;
}
#else
static int fault(enum bond_store_fault_step step) {
  (void)step;
  return 0;
}

static int fault_write(size_t done, size_t *n) {
  (void)done;
  (void)n;
  return 0;
}
#endif

static void seterr(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *buf, size_t len, const char *fmt, ...) {
  if (!buf || len == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, len, fmt, ap);
  va_end(ap);
}

static void put_le16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static bool all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

/* ---- the table ----------------------------------------------------------- */

/* Makes room for n entries. sodium_malloc pages cannot grow: copy over. */
static int table_reserve(struct bond_store *s, size_t n) {
  if (n <= s->cap) return 0;
  size_t cap = s->cap ? s->cap : 8;
  while (cap < n) cap *= 2;
  if (cap > BOND_STORE_ENTRIES_MAX) cap = BOND_STORE_ENTRIES_MAX;
  struct entry *t = sodium_malloc(cap * sizeof(*t));
  if (!t) return UVBLE_ENOMEM;
  if (s->count) memcpy(t, s->tab, s->count * sizeof(*t));
  if (s->tab) sodium_free(s->tab); /* wipes */
  s->tab = t;
  s->cap = cap;
  return 0;
}

static void table_free(struct bond_store *s) {
  if (s->tab) sodium_free(s->tab);
  s->tab = NULL;
  s->count = s->cap = 0;
}

static long find(const struct bond_store *s, uint8_t type, const uint8_t *key,
                 size_t key_len) {
  for (size_t i = 0; i < s->count; i++) {
    const struct entry *e = &s->tab[i];
    if (e->type == type && e->key_len == key_len &&
        (key_len == 0 || memcmp(e->key, key, key_len) == 0))
      return (long)i;
  }
  return -1;
}

/* Strict parse of a decrypted plaintext into s->tab (empty on entry). */
static int parse_entries(struct bond_store *s, const uint8_t *pt, size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, pt, len);
  uint32_t n = pdu_get_le32(&r);
  if (!pdu_ok(&r) || n > BOND_STORE_ENTRIES_MAX ||
      (size_t)n * BOND_STORE_ENTRY_HDR > pdu_left(&r))
    return UVBLE_EPROTO;
  int err = table_reserve(s, n);
  if (err) return err;
  for (uint32_t i = 0; i < n; i++) {
    uint8_t type = pdu_get_u8(&r);
    size_t kl = pdu_get_u8(&r);
    size_t vl = pdu_get_le16(&r);
    if (!pdu_ok(&r) || kl > BOND_STORE_KEY_MAX || vl > BOND_STORE_VALUE_MAX)
      return UVBLE_EPROTO;
    const uint8_t *key = pdu_get_bytes(&r, kl);
    const uint8_t *value = pdu_get_bytes(&r, vl);
    if (!pdu_ok(&r)) return UVBLE_EPROTO;
    if (find(s, type, key, kl) >= 0) return UVBLE_EPROTO;
    struct entry *e = &s->tab[s->count++];
    e->type = type;
    e->key_len = (uint8_t)kl;
    e->value_len = (uint16_t)vl;
    if (kl) memcpy(e->key, key, kl);
    if (vl) memcpy(e->value, value, vl);
  }
  return pdu_done(&r) ? 0 : UVBLE_EPROTO;
}

#ifdef UVBLE_TEST_HOOKS
int bond_store_parse_plaintext(const uint8_t *pt, size_t len) {
  if (sodium_init() < 0) return UVBLE_EIO;
  struct bond_store s;
  memset(&s, 0, sizeof(s));
  int err = parse_entries(&s, pt, len);
  int n = (int)s.count;
  table_free(&s);
  return err ? err : n;
}
#endif

/* ---- sealing and the atomic write ---------------------------------------- */

static size_t entry_size(const struct entry *e) {
  return BOND_STORE_ENTRY_HDR + e->key_len + e->value_len;
}

static uint8_t *put_entry(uint8_t *p, const struct entry *e) {
  p[0] = e->type;
  p[1] = e->key_len;
  put_le16(p + 2, e->value_len);
  memcpy(p + 4, e->key, e->key_len);
  memcpy(p + 4 + e->key_len, e->value, e->value_len);
  return p + entry_size(e);
}

/* The table with change c applied, serialised into a sodium_malloc'd
 * buffer (*len bytes). */
static uint8_t *serialise(const struct bond_store *s, const struct change *c,
                          size_t *len) {
  size_t n = 0, size = 4;
  for (size_t i = 0; !c->erase && i <= s->count; i++) {
    const struct entry *e = i < s->count ? &s->tab[i] : NULL;
    if (i == c->idx) e = c->e;
    if (e) size += entry_size(e), n++;
  }
  uint8_t *pt = sodium_malloc(size);
  if (!pt) return NULL;
  uint8_t *p = pt;
  *p++ = (uint8_t)n;
  *p++ = (uint8_t)(n >> 8);
  *p++ = (uint8_t)(n >> 16);
  *p++ = (uint8_t)(n >> 24);
  for (size_t i = 0; !c->erase && i <= s->count; i++) {
    const struct entry *e = i < s->count ? &s->tab[i] : NULL;
    if (i == c->idx) e = c->e;
    if (e) p = put_entry(p, e);
  }
  *len = size;
  return pt;
}

/* hdr (its nonce is overwritten) + sealed pt, in a malloc'd buffer. */
static uint8_t *seal(const uint8_t *key, uint8_t *hdr, const uint8_t *pt,
                     size_t len, size_t *file_len) {
  size_t flen = BOND_STORE_HEADER_SIZE + len + BOND_STORE_TAG_SIZE;
  uint8_t *file = malloc(flen);
  if (!file) return NULL;
  randombytes_buf(hdr + BOND_STORE_OFF_NONCE, NONCE_BYTES);
  memcpy(file, hdr, BOND_STORE_HEADER_SIZE);
  unsigned long long clen;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      file + BOND_STORE_HEADER_SIZE, &clen, pt, len, file,
      BOND_STORE_HEADER_SIZE, NULL, hdr + BOND_STORE_OFF_NONCE, key);
  *file_len = flen;
  return file;
}

static void header_init(uint8_t *hdr, uint16_t version, uint8_t kdf) {
  memset(hdr, 0, BOND_STORE_HEADER_SIZE);
  memcpy(hdr, BOND_STORE_MAGIC, 8);
  put_le16(hdr + BOND_STORE_OFF_VERSION, version);
  hdr[BOND_STORE_OFF_KDF] = kdf;
}

#ifdef UVBLE_TEST_HOOKS
int bond_store_seal(const uint8_t key[32], uint16_t version,
                    const uint8_t *pt, size_t len, uint8_t **file,
                    size_t *file_len) {
  if (sodium_init() < 0) return UVBLE_EIO;
  uint8_t hdr[BOND_STORE_HEADER_SIZE];
  header_init(hdr, version, BOND_STORE_KDF_KEYFILE);
  *file = seal(key, hdr, pt, len, file_len);
  return *file ? 0 : UVBLE_ENOMEM;
}
#endif

static int write_all(int fd, const uint8_t *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    size_t n = len - done;
    int err = fault_write(done, &n);
    if (err) return err;
    ssize_t r = write(fd, buf + done, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    done += (size_t)r;
  }
  return 0;
}

/* fsync of a directory, so a rename or link in it survives a power loss.
 * File systems that cannot (EINVAL) have nothing more to offer. */
static int fsync_dir(const char *dir) {
  int err = fault(BOND_STORE_FAULT_DIRSYNC);
  if (err) return err;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  if (fsync(fd) < 0 && errno != EINVAL) err = -errno;
  close(fd);
  return err;
}

/* Creates "<path>.tmp.<pid>" 0600 exclusively. A leftover of that name is
 * from a dead process that had our pid (we are single-threaded per store):
 * it is removed once. */
static int create_temp(const char *tmp) {
  for (int tries = 0;; tries++) {
    int err = fault(BOND_STORE_FAULT_OPEN);
    if (err) return err;
    int fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    if (errno != EEXIST || tries > 0) return -errno;
    unlink(tmp);
  }
}

/* buf becomes the file at path, or the old file stays: rename(2) replaces
 * the name atomically, and the data is on disk (fsync) before it does.
 * *committed tells whether the rename happened; only the directory fsync
 * can fail after it. */
static int atomic_write(const char *path, const char *dir, const uint8_t *buf,
                        size_t len, bool *committed) {
  *committed = false;
  size_t tlen = strlen(path) + 32;
  char *tmp = malloc(tlen);
  if (!tmp) return UVBLE_ENOMEM;
  snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
  int err, fd = create_temp(tmp);
  if (fd < 0) {
    free(tmp);
    return fd;
  }
  /* The umask may have taken bits from 0600; we want exactly 0600. */
  if (fchmod(fd, 0600) < 0) err = -errno;
  else err = write_all(fd, buf, len);
  if (!err) err = fault(BOND_STORE_FAULT_FSYNC);
  if (!err && fsync(fd) < 0) err = -errno;
  if (close(fd) < 0 && !err) err = -errno;
  if (!err) err = fault(BOND_STORE_FAULT_CLOSE);
  if (!err) err = fault(BOND_STORE_FAULT_RENAME);
  if (!err && rename(tmp, path) < 0) err = -errno;
  if (err) {
    unlink(tmp);
    free(tmp);
    return err;
  }
  free(tmp);
  *committed = true;
  return fsync_dir(dir);
}

/* Writes the table with c applied. */
static int store_write(struct bond_store *s, const struct change *c,
                       bool *committed) {
  *committed = false;
  size_t len, flen;
  uint8_t *pt = serialise(s, c, &len);
  if (!pt) return UVBLE_ENOMEM;
  uint8_t *file = seal(s->key, s->hdr, pt, len, &flen);
  sodium_free(pt); /* wipes the plaintext */
  if (!file) return UVBLE_ENOMEM;
  int err = atomic_write(s->path, s->dir, file, flen, committed);
  free(file);
  return err;
}

/* ---- opening --------------------------------------------------------------- */

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

/* Reads the whole store file, bounded. UVBLE_ENOENT when absent. */
static int read_store(const char *path, uint8_t **out, size_t *out_len,
                      char *eb, size_t el) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = -errno;
    if (err != UVBLE_ENOENT) seterr(eb, el, "%s: %s", path, strerror(-err));
    return err;
  }
  struct stat st;
  int err = 0;
  uint8_t *buf = NULL;
  if (fstat(fd, &st) < 0) {
    err = -errno;
    seterr(eb, el, "%s: %s", path, strerror(-err));
  } else if (!S_ISREG(st.st_mode)) {
    err = UVBLE_EINVAL;
    seterr(eb, el, "%s is not a regular file", path);
  } else if (st.st_size < (off_t)BOND_STORE_FILE_MIN ||
             st.st_size > (off_t)BOND_STORE_FILE_MAX) {
    err = UVBLE_EPROTO;
    seterr(eb, el, "%s is not a bond store: %lld bytes, outside %zu..%zu",
           path, (long long)st.st_size, (size_t)BOND_STORE_FILE_MIN,
           (size_t)BOND_STORE_FILE_MAX);
  } else if (!(buf = malloc((size_t)st.st_size))) {
    err = UVBLE_ENOMEM;
  }
  size_t done = 0;
  while (!err && done < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + done, (size_t)st.st_size - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      err = r < 0 ? -errno : UVBLE_EPROTO;
      seterr(eb, el, "%s: reading: %s", path,
             r < 0 ? strerror(errno) : "file shrank");
    }
    done += r > 0 ? (size_t)r : 0;
  }
  close(fd);
  if (err) {
    free(buf);
    return err;
  }
  *out = buf;
  *out_len = done;
  return 0;
}

/* A header's fields up to the salt (bond_store_internal.h). */
struct header_fields {
  const uint8_t *magic;
  uint16_t version;
  uint8_t kdf, reserved;
  uint64_t ops, mem;
};

_Static_assert(BOND_STORE_OFF_KDF == BOND_STORE_OFF_VERSION + 2 &&
                   BOND_STORE_OFF_RESERVED == BOND_STORE_OFF_KDF + 1 &&
                   BOND_STORE_OFF_OPSLIMIT == BOND_STORE_OFF_RESERVED + 1 &&
                   BOND_STORE_OFF_MEMLIMIT == BOND_STORE_OFF_OPSLIMIT + 8,
               "read_header reads the header's fields in this order");

static void read_header(const uint8_t *h, struct header_fields *f) {
  struct pdu_reader r;
  pdu_reader_init(&r, h, BOND_STORE_HEADER_SIZE);
  f->magic = pdu_get_bytes(&r, BOND_STORE_OFF_VERSION);
  f->version = pdu_get_le16(&r);
  f->kdf = pdu_get_u8(&r);
  f->reserved = pdu_get_u8(&r);
  f->ops = pdu_get_le64(&r);
  f->mem = pdu_get_le64(&r);
}

/* Checks a header's fixed fields and KDF parameters. */
static int check_header(const uint8_t *h, const char *path, char *eb,
                        size_t el) {
  struct header_fields f;
  read_header(h, &f);
  if (memcmp(f.magic, BOND_STORE_MAGIC, 8) != 0) {
    seterr(eb, el, "%s is not a uvble bond store (bad magic)", path);
    return UVBLE_EPROTO;
  }
  uint16_t v = f.version;
  if (v != BOND_STORE_VERSION) {
    seterr(eb, el, "%s has bond store format version %u; this build reads %u",
           path, v, BOND_STORE_VERSION);
    return UVBLE_EPROTO;
  }
  uint8_t kdf = f.kdf;
  uint64_t ops = f.ops, mem = f.mem;
  bool ok = f.reserved == 0;
  if (kdf == BOND_STORE_KDF_KEYFILE)
    ok = ok && all_zero(h + BOND_STORE_OFF_OPSLIMIT,
                        BOND_STORE_OFF_NONCE - BOND_STORE_OFF_OPSLIMIT);
  else if (kdf == BOND_STORE_KDF_ARGON2ID13)
    ok = ok && ops >= crypto_pwhash_argon2id_OPSLIMIT_MIN &&
         ops <= crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE &&
         mem >= crypto_pwhash_argon2id_MEMLIMIT_MIN &&
         mem <= crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
  else
    ok = false;
  if (!ok) {
    seterr(eb, el, "%s: corrupt bond store header (KDF fields)", path);
    return UVBLE_EPROTO;
  }
  return 0;
}

/* Reads the key file into s->key. */
static int load_key_file(struct bond_store *s, const char *kf, char *eb,
                         size_t el) {
  int fd = open(kf, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = -errno;
    seterr(eb, el, "key file %s: %s", kf, strerror(errno));
    return err;
  }
  struct stat st;
  int err = 0;
  if (fstat(fd, &st) < 0) {
    err = -errno;
    seterr(eb, el, "key file %s: %s", kf, strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    err = UVBLE_EACCES;
    seterr(eb, el, "key file %s is not a regular file", kf);
  } else if (st.st_mode & 077) {
    err = UVBLE_EACCES;
    seterr(eb, el,
           "key file %s is accessible by group or others (mode %04o): "
           "`chmod 600 %s`", kf, (unsigned)(st.st_mode & 07777), kf);
  } else if (st.st_size != KEY_BYTES) {
    err = UVBLE_EACCES;
    seterr(eb, el, "key file %s holds %lld bytes; it must hold exactly %d "
           "raw bytes", kf, (long long)st.st_size, KEY_BYTES);
  }
  size_t done = 0;
  while (!err && done < KEY_BYTES) {
    ssize_t r = read(fd, s->key + done, KEY_BYTES - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      err = r < 0 ? -errno : UVBLE_EACCES;
      seterr(eb, el, "key file %s: short read", kf);
    }
    done += r > 0 ? (size_t)r : 0;
  }
  close(fd);
  return err;
}

/* Creates the key file with random bytes, atomically: written under a
 * temporary name then linked, so no half-written key file is ever seen and
 * a key file that appeared meanwhile is kept. */
static int create_key_file(const char *kf, char *eb, size_t el) {
  size_t tlen = strlen(kf) + 32;
  char *tmp = malloc(tlen);
  uint8_t *key = sodium_malloc(KEY_BYTES);
  char *dir = dir_of(kf);
  int err = 0, fd = -1;
  if (!tmp || !key || !dir) err = UVBLE_ENOMEM;
  if (!err) {
    snprintf(tmp, tlen, "%s.tmp.%ld", kf, (long)getpid());
    randombytes_buf(key, KEY_BYTES);
    fd = create_temp(tmp);
    if (fd < 0) err = fd;
  }
  if (!err && fchmod(fd, 0600) < 0) err = -errno;
  if (!err) err = write_all(fd, key, KEY_BYTES);
  if (!err && fsync(fd) < 0) err = -errno;
  if (fd >= 0 && close(fd) < 0 && !err) err = -errno;
  if (!err && link(tmp, kf) < 0 && errno != EEXIST) {
    /* File systems without hard links: rename (a racing creator loses). */
    if (errno != EPERM && errno != ENOTSUP && errno != ENOSYS) err = -errno;
    else if (rename(tmp, kf) < 0) err = -errno;
  }
  if (!err) err = fsync_dir(dir);
  if (err) seterr(eb, el, "creating key file %s: %s", kf, strerror(-err));
  if (fd >= 0) unlink(tmp);
  free(tmp);
  free(dir);
  if (key) sodium_free(key);
  return err;
}

/* s->key from the key file or the passphrase and s->hdr's KDF fields. */
static int derive_key(struct bond_store *s, const char *kf, const char *pass,
                      char *eb, size_t el) {
  s->key = sodium_malloc(KEY_BYTES);
  if (!s->key) return UVBLE_ENOMEM;
  int err = 0;
  if (kf) {
    err = load_key_file(s, kf, eb, el);
  } else {
    struct header_fields f;
    read_header(s->hdr, &f);
    if (crypto_pwhash(s->key, KEY_BYTES, pass, strlen(pass),
                      s->hdr + BOND_STORE_OFF_SALT, f.ops, (size_t)f.mem,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
      err = UVBLE_ENOMEM;
      seterr(eb, el, "deriving the key from the passphrase: out of memory");
    }
  }
  sodium_mprotect_readonly(s->key);
  return err;
}

/* A new store: a key (created if need be), a salt, an empty file. */
static int create_store(struct bond_store *s, const char *kf, const char *pass,
                        char *eb, size_t el) {
  if (kf) {
    header_init(s->hdr, BOND_STORE_VERSION, BOND_STORE_KDF_KEYFILE);
    if (access(kf, F_OK) < 0 && errno == ENOENT) {
      int err = create_key_file(kf, eb, el);
      if (err) return err;
    }
  } else {
    header_init(s->hdr, BOND_STORE_VERSION, BOND_STORE_KDF_ARGON2ID13);
    put_le64(s->hdr + BOND_STORE_OFF_OPSLIMIT,
             crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
    put_le64(s->hdr + BOND_STORE_OFF_MEMLIMIT,
             crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);
    randombytes_buf(s->hdr + BOND_STORE_OFF_SALT, SALT_BYTES);
  }
  int err = derive_key(s, kf, pass, eb, el);
  if (err) return err;
  struct change c = {.erase = true};
  bool committed;
  err = store_write(s, &c, &committed);
  if (err) seterr(eb, el, "creating %s: %s", s->path, strerror(-err));
  return committed ? 0 : err; /* a failed directory fsync is not fatal */
}

/* An existing store: check, key, decrypt, parse. */
static int load_store(struct bond_store *s, const uint8_t *file, size_t len,
                      const char *kf, const char *pass, char *eb, size_t el) {
  int err = check_header(file, s->path, eb, el);
  if (err) return err;
  uint8_t kdf = file[BOND_STORE_OFF_KDF];
  if ((kdf == BOND_STORE_KDF_KEYFILE) != (kf != NULL)) {
    seterr(eb, el, "%s is protected by a %s, not a %s", s->path,
           kf ? "passphrase" : "key file", kf ? "key file" : "passphrase");
    return UVBLE_EACCES;
  }
  if (kf && access(kf, F_OK) < 0 && errno == ENOENT) {
    seterr(eb, el, "key file %s is missing; the store %s needs the key it "
           "was written with", kf, s->path);
    return UVBLE_ENOENT;
  }
  memcpy(s->hdr, file, BOND_STORE_HEADER_SIZE);
  err = derive_key(s, kf, pass, eb, el);
  if (err) return err;
  size_t clen = len - BOND_STORE_HEADER_SIZE;
  size_t plen = clen - BOND_STORE_TAG_SIZE;
  uint8_t *pt = sodium_malloc(plen ? plen : 1);
  if (!pt) return UVBLE_ENOMEM;
  unsigned long long got;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          pt, &got, NULL, file + BOND_STORE_HEADER_SIZE, clen, file,
          BOND_STORE_HEADER_SIZE, file + BOND_STORE_OFF_NONCE, s->key) != 0) {
    seterr(eb, el, "%s: authentication failed: wrong %s, or the file was "
           "altered", s->path, kf ? "key file" : "passphrase");
    err = UVBLE_EACCES;
  } else if ((err = parse_entries(s, pt, plen)) != 0) {
    seterr(eb, el, "%s: corrupt bond store contents", s->path);
  }
  sodium_free(pt); /* wipes */
  return err;
}

/* Removes "<path>.tmp.<pid>" files left by dead processes (a crash between
 * creating the temporary file and the rename). */
static void remove_stale_temps(const struct bond_store *s) {
  const char *slash = strrchr(s->path, '/');
  const char *base = slash ? slash + 1 : s->path;
  size_t blen = strlen(base);
  DIR *d = opendir(s->dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *n = de->d_name;
    if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp.", 5) != 0)
      continue;
    const char *digits = n + blen + 5;
    size_t nd = strspn(digits, "0123456789");
    if (nd == 0 || nd > 9 || digits[nd] != '\0') continue;
    long pid = strtol(digits, NULL, 10);
    if (pid <= 0 || pid == (long)getpid()) continue;
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) unlinkat(dirfd(d), n, 0);
  }
  closedir(d);
}

int bond_store_open_ex(const char *path, const char *key_file,
                       const char *passphrase, bond_store_t **out,
                       char *errbuf, size_t errlen) {
  if (errbuf && errlen) errbuf[0] = '\0';
  if (!out) return UVBLE_EINVAL;
  *out = NULL;
  if (!path || !*path || (key_file == NULL) == (passphrase == NULL) ||
      (key_file && !*key_file) || (passphrase && !*passphrase)) {
    seterr(errbuf, errlen, "bond store: give a path and exactly one of a key "
           "file or a non-empty passphrase");
    return UVBLE_EINVAL;
  }
  if (sodium_init() < 0) return UVBLE_EIO;
  struct bond_store *s = calloc(1, sizeof(*s));
  if (!s) return UVBLE_ENOMEM;
  s->path = strdup(path);
  s->dir = dir_of(path);
  if (!s->path || !s->dir) {
    bond_store_close(s);
    return UVBLE_ENOMEM;
  }
  uint8_t *file = NULL;
  size_t len = 0;
  int err = read_store(path, &file, &len, errbuf, errlen);
  if (err == UVBLE_ENOENT)
    err = create_store(s, key_file, passphrase, errbuf, errlen);
  else if (err == 0)
    err = load_store(s, file, len, key_file, passphrase, errbuf, errlen);
  free(file);
  if (err) {
    bond_store_close(s);
    return err;
  }
  remove_stale_temps(s);
  *out = s;
  return 0;
}

int bond_store_open(const char *path, const char *key_file,
                    const char *passphrase, bond_store_t **out) {
  return bond_store_open_ex(path, key_file, passphrase, out, NULL, 0);
}

void bond_store_close(bond_store_t *s) {
  if (!s) return;
  table_free(s);
  if (s->key) sodium_free(s->key); /* wipes */
  free(s->path);
  free(s->dir);
  free(s);
}

/* ---- queries and changes --------------------------------------------------- */

static bool key_ok(const uint8_t *key, size_t key_len) {
  return key_len <= BOND_STORE_KEY_MAX && (key || key_len == 0);
}

int bond_store_get(bond_store_t *s, uint8_t sec_type, const uint8_t *key,
                   size_t key_len, uint8_t *value, size_t cap) {
  if (!s || !key_ok(key, key_len) || (!value && cap)) return UVBLE_EINVAL;
  long i = find(s, sec_type, key, key_len);
  if (i < 0) return UVBLE_ENOENT;
  const struct entry *e = &s->tab[i];
  if (value) memcpy(value, e->value, cap < e->value_len ? cap : e->value_len);
  return e->value_len;
}

int bond_store_get_index(bond_store_t *s, uint8_t sec_type, int index,
                         uint8_t *key, size_t key_cap, size_t *key_len,
                         uint8_t *value, size_t cap) {
  if (!s || index < 0 || (!key && key_cap) || (!value && cap))
    return UVBLE_EINVAL;
  for (size_t i = 0; i < s->count; i++) {
    const struct entry *e = &s->tab[i];
    if (e->type != sec_type || index-- > 0) continue;
    if (key) memcpy(key, e->key, key_cap < e->key_len ? key_cap : e->key_len);
    if (key_len) *key_len = e->key_len;
    if (value)
      memcpy(value, e->value, cap < e->value_len ? cap : e->value_len);
    return e->value_len;
  }
  return UVBLE_ENOENT;
}

/* Writes c; once the file holds it, memory does too. */
static int commit(bond_store_t *s, const struct change *c) {
  bool committed;
  int err = store_write(s, c, &committed);
  if (!committed) return err;
  if (c->erase) {
    sodium_memzero(s->tab, s->count * sizeof(*s->tab));
    s->count = 0;
  } else if (!c->e) {
    memmove(&s->tab[c->idx], &s->tab[c->idx + 1],
            (s->count - c->idx - 1) * sizeof(*s->tab));
    sodium_memzero(&s->tab[--s->count], sizeof(*s->tab));
  } else {
    s->tab[c->idx] = *c->e;
    if (c->idx == s->count) s->count++;
  }
  return err; /* non-zero only when the directory fsync failed */
}

int bond_store_set(bond_store_t *s, uint8_t sec_type, const uint8_t *key,
                   size_t key_len, const uint8_t *value, size_t value_len) {
  if (!s || !key_ok(key, key_len) || value_len > BOND_STORE_VALUE_MAX)
    return UVBLE_EINVAL;
  long i = find(s, sec_type, key, key_len);
  struct change c = {.idx = i < 0 ? s->count : (size_t)i};
  if (!value) {
    if (i < 0) return UVBLE_ENOENT;
    return commit(s, &c);
  }
  if (i < 0) {
    if (s->count >= BOND_STORE_ENTRIES_MAX) return UVBLE_ENOSPC;
    int err = table_reserve(s, s->count + 1);
    if (err) return err;
  }
  struct entry e = {.type = sec_type,
                    .key_len = (uint8_t)key_len,
                    .value_len = (uint16_t)value_len};
  if (key_len) memcpy(e.key, key, key_len);
  if (value_len) memcpy(e.value, value, value_len);
  c.e = &e;
  int err = commit(s, &c);
  sodium_memzero(&e, sizeof(e));
  return err;
}

int bond_store_erase(bond_store_t *s) {
  if (!s) return UVBLE_EINVAL;
  struct change c = {.erase = true};
  return commit(s, &c);
}

size_t bond_store_count(const bond_store_t *s) { return s ? s->count : 0; }
