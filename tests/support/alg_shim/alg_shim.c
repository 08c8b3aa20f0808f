/* SPDX-License-Identifier: Apache-2.0 */
/* An LD_PRELOAD shim that emulates the two AF_ALG algorithms BlueZ's
 * src/shared/crypto.c asks the kernel for ("skcipher"/"ecb(aes)" and
 * "hash"/"cmac(aes)"), so btvirt can create LE controllers on kernels built
 * without AF_ALG.
 *
 * Activation: the first socket(AF_ALG, ...) call decides. With
 * UVBLE_ALG_SHIM_FORCE=1 the shim always emulates; otherwise it makes the real
 * call, and only if the kernel answers EAFNOSUPPORT does it emulate from then
 * on. When it does not emulate, every call passes straight through.
 *
 * Emulation: an AF_ALG "socket" is a real placeholder fd (a memfd, so fd
 * numbers stay unique and each placeholder has its own inode) plus an entry
 * in a table indexed by fd. bind() picks the algorithm, setsockopt(SOL_ALG,
 * ALG_SET_KEY) sets the key, accept()/accept4() hands out an operation fd
 * (another placeholder) carrying a copy of both. On an operation fd:
 *   ecb(aes):  sendmsg()/send()/write() queue input (the ALG_SET_OP control
 *              message chooses encrypt or decrypt, as in the kernel the
 *              default is decrypt); read()/recv()/recvmsg() return as many
 *              whole processed blocks as fit.
 *   cmac(aes): send()/sendmsg()/write() feed the MAC; without MSG_MORE the
 *              message ends and the tag is ready; read()/recv()/recvmsg()
 *              return the tag (of the empty message if nothing was sent).
 * close() drops the entry. Every other fd passes through untouched; before
 * an entry is used, fstat() confirms the fd still is the placeholder, so an
 * fd closed behind our back (close_range, a libc-internal close) and reused
 * is never mistaken for ours.
 *
 * AES comes from OpenSSL EVP (ECB without padding), CMAC from EVP_MAC "CMAC"
 * over AES-{128,192,256}-CBC. Not thread-safe: btvirt is single-threaded.
 * UVBLE_ALG_SHIM_DEBUG=1 logs every emulated call to stderr. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef SOL_ALG
#define SOL_ALG 279
#endif
#define SHIM_ALG_SET_KEY 1
#define SHIM_ALG_SET_IV 2
#define SHIM_ALG_SET_OP 3
#define SHIM_ALG_OP_DECRYPT 0
#define SHIM_ALG_OP_ENCRYPT 1

/* struct sockaddr_alg from <linux/if_alg.h>, spelled out so the shim builds
 * without kernel headers. */
struct shim_sockaddr_alg {
  uint16_t salg_family;
  uint8_t salg_type[14];
  uint32_t salg_feat;
  uint32_t salg_mask;
  uint8_t salg_name[64];
};

/* Bytes of ecb(aes) input an operation fd queues before send fails with
 * EAGAIN (the kernel's limit is the socket buffer; this is plenty). */
#define ECB_MAX_QUEUED 65536
#define MAX_TRACKED_FD 65536

/* With _GNU_SOURCE glibc declares the sockaddr arguments as transparent
 * unions; the definitions below must use the same types. */
#if defined(__USE_GNU) && !defined(__cplusplus)
#define SA_CONST_PTR(a) ((a).__sockaddr__)
#else
#define SA_CONST_PTR(a) (a)
#endif

enum alg_kind { ALG_NONE, ALG_ECB_AES, ALG_CMAC_AES };

struct alg_fd {
  bool is_op;        /* operation fd from accept(), else a bound/unbound parent */
  enum alg_kind kind;
  ino_t ino;         /* placeholder's inode, 0 if it cannot be checked */
  dev_t dev;
  uint8_t key[32];
  size_t keylen;     /* 0: no key set */
  /* ecb(aes) operation state */
  bool encrypt;
  bool more;         /* last send had MSG_MORE: the message goes on */
  uint8_t *in;
  size_t in_len;
  /* cmac(aes) operation state */
  EVP_MAC_CTX *mac;
  bool mac_started;  /* init done, updates going on */
  bool tag_ready;
  uint8_t tag[16];
};

static struct alg_fd **table;
static size_t table_cap;
static int mode = -1; /* -1 undecided, 0 pass through, 1 emulate */
static int debug = -1;
static EVP_MAC *cmac_alg;

/* ---- the real functions ---------------------------------------------- */

#define REAL(name) real_##name
#define DECLARE_REAL(ret, name, ...)                                         \
  static ret (*real_##name)(__VA_ARGS__);                                    \
  static void load_##name(void) {                                            \
    if (!real_##name) {                                                      \
      *(void **)(&real_##name) = dlsym(RTLD_NEXT, #name);                    \
      if (!real_##name) {                                                    \
        static const char msg[] = "uvble alg_shim: dlsym(" #name ") failed\n"; \
        ssize_t ignored = syscall_write_stderr(msg, sizeof msg - 1);         \
        (void)ignored;                                                       \
        abort();                                                             \
      }                                                                      \
    }                                                                        \
  }

static ssize_t syscall_write_stderr(const char *s, size_t n);

DECLARE_REAL(int, socket, int, int, int)
DECLARE_REAL(int, bind, int, __CONST_SOCKADDR_ARG, socklen_t)
DECLARE_REAL(int, setsockopt, int, int, int, const void *, socklen_t)
DECLARE_REAL(int, accept, int, __SOCKADDR_ARG, socklen_t *__restrict)
DECLARE_REAL(int, accept4, int, __SOCKADDR_ARG, socklen_t *__restrict, int)
DECLARE_REAL(ssize_t, sendmsg, int, const struct msghdr *, int)
DECLARE_REAL(ssize_t, send, int, const void *, size_t, int)
DECLARE_REAL(ssize_t, write, int, const void *, size_t)
DECLARE_REAL(ssize_t, read, int, void *, size_t)
DECLARE_REAL(ssize_t, recv, int, void *, size_t, int)
DECLARE_REAL(ssize_t, recvmsg, int, struct msghdr *, int)
DECLARE_REAL(int, close, int)

static ssize_t syscall_write_stderr(const char *s, size_t n) {
  load_write();
  return REAL(write)(2, s, n);
}

static void dbg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void dbg(const char *fmt, ...) {
  if (debug < 0) {
    const char *e = getenv("UVBLE_ALG_SHIM_DEBUG");
    debug = e && *e && strcmp(e, "0") != 0;
  }
  if (!debug) return;
  int saved = errno;
  char buf[256];
  int n = snprintf(buf, sizeof buf, "uvble alg_shim[%d]: ", (int)getpid());
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (m < 0) m = 0;
  size_t len = (size_t)n + (size_t)m;
  if (len > sizeof buf - 2) len = sizeof buf - 2;
  buf[len++] = '\n';
  (void)syscall_write_stderr(buf, len);
  errno = saved;
}

/* ---- the fd table ------------------------------------------------------ */

static void entry_free(struct alg_fd *e) {
  if (!e) return;
  EVP_MAC_CTX_free(e->mac);
  if (e->in) {
    OPENSSL_cleanse(e->in, ECB_MAX_QUEUED);
    free(e->in);
  }
  OPENSSL_cleanse(e, sizeof *e);
  free(e);
}

static void table_drop(int fd) {
  if (fd < 0 || (size_t)fd >= table_cap || !table[fd]) return;
  entry_free(table[fd]);
  table[fd] = NULL;
}

/* The entry for fd, or NULL if fd is not one of ours (any more). */
static struct alg_fd *lookup(int fd) {
  if (fd < 0 || (size_t)fd >= table_cap || !table[fd]) return NULL;
  struct alg_fd *e = table[fd];
  if (e->ino != 0) {
    struct stat st;
    int saved = errno;
    if (fstat(fd, &st) != 0 || st.st_ino != e->ino || st.st_dev != e->dev) {
      /* Closed without our close() and reused: forget it. */
      table_drop(fd);
      errno = saved;
      return NULL;
    }
    errno = saved;
  }
  return e;
}

static int table_put(int fd, struct alg_fd *e) {
  if (fd < 0 || fd >= MAX_TRACKED_FD) return -1;
  if ((size_t)fd >= table_cap) {
    size_t cap = table_cap ? table_cap : 64;
    while (cap <= (size_t)fd) cap *= 2;
    struct alg_fd **t = realloc(table, cap * sizeof *t);
    if (!t) return -1;
    memset(t + table_cap, 0, (cap - table_cap) * sizeof *t);
    table = t;
    table_cap = cap;
  }
  table_drop(fd);
  table[fd] = e;
  return 0;
}

/* A fresh placeholder fd with an entry. Returns the fd or -1 with errno. */
static int new_placeholder(bool cloexec, struct alg_fd *e) {
  int fd = memfd_create("uvble-alg-shim", cloexec ? MFD_CLOEXEC : 0);
  if (fd < 0) fd = open("/dev/null", O_RDWR | (cloexec ? O_CLOEXEC : 0));
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) { /* a memfd: unique inode */
    e->ino = st.st_ino;
    e->dev = st.st_dev;
  }
  if (table_put(fd, e) != 0) {
    load_close();
    REAL(close)(fd);
    errno = EMFILE;
    return -1;
  }
  return fd;
}

/* Whether socket(AF_ALG) must be emulated. Decided once. */
static bool emulating(int domain, int type, int protocol, int *real_fd) {
  *real_fd = -1;
  if (mode >= 0) return mode == 1;
  const char *force = getenv("UVBLE_ALG_SHIM_FORCE");
  if (force && strcmp(force, "1") == 0) {
    mode = 1;
    dbg("forced on (UVBLE_ALG_SHIM_FORCE=1)");
    return true;
  }
  load_socket();
  int fd = REAL(socket)(domain, type, protocol);
  if (fd >= 0) {
    mode = 0;
    *real_fd = fd;
    dbg("kernel has AF_ALG: passing through");
    return false;
  }
  if (errno == EAFNOSUPPORT) {
    mode = 1;
    dbg("kernel lacks AF_ALG: emulating ecb(aes) and cmac(aes)");
    return true;
  }
  /* Some other failure (EMFILE, bad type...): report it, decide later. */
  *real_fd = -2;
  return false;
}

/* ---- crypto -------------------------------------------------------------- */

static const EVP_CIPHER *ecb_cipher(size_t keylen) {
  switch (keylen) {
  case 16: return EVP_aes_128_ecb();
  case 24: return EVP_aes_192_ecb();
  case 32: return EVP_aes_256_ecb();
  default: return NULL;
  }
}

static const char *cbc_name(size_t keylen) {
  switch (keylen) {
  case 16: return "AES-128-CBC";
  case 24: return "AES-192-CBC";
  case 32: return "AES-256-CBC";
  default: return NULL;
  }
}

/* Processes n bytes (a multiple of 16) of e->in into out. 0 or -1. */
static int ecb_process(struct alg_fd *e, uint8_t *out, size_t n) {
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int ok = c != NULL;
  int outl = 0;
  ok = ok && EVP_CipherInit_ex(c, ecb_cipher(e->keylen), NULL, e->key, NULL,
                               e->encrypt ? 1 : 0) == 1;
  ok = ok && EVP_CIPHER_CTX_set_padding(c, 0) == 1;
  ok = ok && EVP_CipherUpdate(c, out, &outl, e->in, (int)n) == 1;
  ok = ok && (size_t)outl == n;
  EVP_CIPHER_CTX_free(c);
  return ok ? 0 : -1;
}

static int mac_begin(struct alg_fd *e) {
  if (!cmac_alg) cmac_alg = EVP_MAC_fetch(NULL, "CMAC", NULL);
  if (!cmac_alg) return -1;
  if (!e->mac) e->mac = EVP_MAC_CTX_new(cmac_alg);
  if (!e->mac) return -1;
  OSSL_PARAM params[2];
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
                                               (char *)cbc_name(e->keylen), 0);
  params[1] = OSSL_PARAM_construct_end();
  if (EVP_MAC_init(e->mac, e->key, e->keylen, params) != 1) return -1;
  e->mac_started = true;
  e->tag_ready = false;
  return 0;
}

static int mac_finish(struct alg_fd *e) {
  size_t outl = 0;
  if (!e->mac_started && mac_begin(e) != 0) return -1;
  e->mac_started = false;
  if (EVP_MAC_final(e->mac, e->tag, &outl, sizeof e->tag) != 1 || outl != 16)
    return -1;
  e->tag_ready = true;
  return 0;
}

/* ---- emulated operations ---------------------------------------------- */

static ssize_t op_send(int fd, struct alg_fd *e, const struct iovec *iov, size_t iovcnt,
                       int flags, int op /* -1: none given */) {
  if (!e->is_op) {
    errno = e->kind == ALG_NONE ? EINVAL : EOPNOTSUPP;
    return -1;
  }
  size_t total = 0;
  for (size_t i = 0; i < iovcnt; i++) total += iov[i].iov_len;
  bool more = (flags & MSG_MORE) != 0;

  if (e->kind == ALG_CMAC_AES) {
    if (!e->mac_started && mac_begin(e) != 0) {
      errno = EIO;
      return -1;
    }
    for (size_t i = 0; i < iovcnt; i++)
      if (iov[i].iov_len &&
          EVP_MAC_update(e->mac, iov[i].iov_base, iov[i].iov_len) != 1) {
        e->mac_started = false;
        errno = EIO;
        return -1;
      }
    if (!more && mac_finish(e) != 0) {
      errno = EIO;
      return -1;
    }
    dbg("fd %d cmac: send %zu bytes%s", fd, total, more ? " (MSG_MORE)" : "");
    return (ssize_t)total;
  }

  /* ecb(aes) */
  if (!e->more) /* a new message: its first sendmsg sets the operation */
    e->encrypt = op == SHIM_ALG_OP_ENCRYPT;
  if (!e->in && !(e->in = malloc(ECB_MAX_QUEUED))) {
    errno = ENOMEM;
    return -1;
  }
  size_t room = ECB_MAX_QUEUED - e->in_len, done = 0;
  for (size_t i = 0; i < iovcnt && done < room; i++) {
    size_t n = iov[i].iov_len < room - done ? iov[i].iov_len : room - done;
    memcpy(e->in + e->in_len + done, iov[i].iov_base, n);
    done += n;
  }
  if (done == 0 && total > 0) {
    errno = EAGAIN;
    return -1;
  }
  e->in_len += done;
  e->more = more;
  dbg("fd %d ecb: send %zu bytes, %s%s", fd, done, e->encrypt ? "encrypt" : "decrypt",
      more ? " (MSG_MORE)" : "");
  return (ssize_t)done;
}

/* Reads up to len bytes of output into buf; *trunc set if output was cut. */
static ssize_t op_recv(int fd, struct alg_fd *e, void *buf, size_t len, bool *trunc) {
  *trunc = false;
  if (!e->is_op) {
    errno = e->kind == ALG_NONE ? EINVAL : EOPNOTSUPP;
    return -1;
  }
  if (e->kind == ALG_CMAC_AES) {
    if ((e->mac_started || !e->tag_ready) && mac_finish(e) != 0) {
      errno = EIO;
      return -1;
    }
    size_t n = len < 16 ? len : 16;
    memcpy(buf, e->tag, n);
    *trunc = n < 16;
    dbg("fd %d cmac: read %zu of 16 tag bytes", fd, n);
    return (ssize_t)n;
  }
  /* ecb(aes) */
  if (e->in_len == 0) {
    if (e->more) { /* the kernel would wait for more input; don't hang */
      errno = EAGAIN;
      return -1;
    }
    return 0;
  }
  size_t n = (len < e->in_len ? len : e->in_len) & ~(size_t)15;
  if (n == 0) {
    errno = EINVAL; /* less than one block: the kernel refuses too */
    return -1;
  }
  if (ecb_process(e, buf, n) != 0) {
    errno = EIO;
    return -1;
  }
  memmove(e->in, e->in + n, e->in_len - n);
  e->in_len -= n;
  dbg("fd %d ecb: read %zu bytes", fd, n);
  return (ssize_t)n;
}

/* ---- the interposed functions ------------------------------------------ */

int socket(int domain, int type, int protocol) {
  load_socket();
  if (domain != AF_ALG) return REAL(socket)(domain, type, protocol);
  int real_fd;
  if (!emulating(domain, type, protocol, &real_fd)) {
    if (real_fd >= 0) return real_fd;
    if (real_fd == -2) return -1; /* errno from the probe */
    return REAL(socket)(domain, type, protocol);
  }
  int base = type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (base != SOCK_SEQPACKET) {
    errno = ESOCKTNOSUPPORT;
    return -1;
  }
  if (protocol != 0) {
    errno = EPROTONOSUPPORT;
    return -1;
  }
  struct alg_fd *e = calloc(1, sizeof *e);
  if (!e) {
    errno = ENOMEM;
    return -1;
  }
  int fd = new_placeholder((type & SOCK_CLOEXEC) != 0, e);
  if (fd < 0) {
    int saved = errno;
    free(e);
    errno = saved;
    return -1;
  }
  dbg("socket(AF_ALG) -> placeholder fd %d", fd);
  return fd;
}

int bind(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len) {
  load_bind();
  struct alg_fd *e = lookup(fd);
  if (!e) return REAL(bind)(fd, addr, len);
  const struct shim_sockaddr_alg *sa =
      (const struct shim_sockaddr_alg *)(const void *)SA_CONST_PTR(addr);
  if (e->is_op || e->kind != ALG_NONE) {
    errno = EINVAL;
    return -1;
  }
  if (!sa || len < sizeof *sa || sa->salg_family != AF_ALG) {
    errno = EINVAL;
    return -1;
  }
  char type[sizeof sa->salg_type + 1], name[sizeof sa->salg_name + 1];
  memcpy(type, sa->salg_type, sizeof sa->salg_type);
  type[sizeof sa->salg_type] = 0;
  memcpy(name, sa->salg_name, sizeof sa->salg_name);
  name[sizeof sa->salg_name] = 0;
  if (strcmp(type, "skcipher") == 0 && strcmp(name, "ecb(aes)") == 0)
    e->kind = ALG_ECB_AES;
  else if (strcmp(type, "hash") == 0 && strcmp(name, "cmac(aes)") == 0)
    e->kind = ALG_CMAC_AES;
  else {
    dbg("bind(fd %d, %s/%s): not emulated -> ENOENT", fd, type, name);
    errno = ENOENT;
    return -1;
  }
  dbg("bind(fd %d, %s/%s)", fd, type, name);
  return 0;
}

int setsockopt(int fd, int level, int optname, const void *optval,
               socklen_t optlen) {
  load_setsockopt();
  struct alg_fd *e = lookup(fd);
  if (!e) return REAL(setsockopt)(fd, level, optname, optval, optlen);
  if (level != SOL_ALG || optname != SHIM_ALG_SET_KEY) {
    errno = ENOPROTOOPT;
    return -1;
  }
  if (e->is_op || e->kind == ALG_NONE) {
    errno = EINVAL;
    return -1;
  }
  if (!optval || (optlen != 16 && optlen != 24 && optlen != 32)) {
    errno = EINVAL;
    return -1;
  }
  memcpy(e->key, optval, optlen);
  e->keylen = optlen;
  dbg("setsockopt(fd %d, ALG_SET_KEY, %u bytes)", fd, (unsigned)optlen);
  return 0;
}

static int do_accept(int fd, struct alg_fd *parent, int flags) {
  if (parent->is_op || parent->kind == ALG_NONE) {
    errno = EINVAL;
    return -1;
  }
  if (parent->keylen == 0) {
    errno = ENOKEY;
    return -1;
  }
  struct alg_fd *e = calloc(1, sizeof *e);
  if (!e) {
    errno = ENOMEM;
    return -1;
  }
  e->is_op = true;
  e->kind = parent->kind;
  memcpy(e->key, parent->key, parent->keylen);
  e->keylen = parent->keylen;
  int op = new_placeholder((flags & SOCK_CLOEXEC) != 0, e);
  if (op < 0) {
    int saved = errno;
    entry_free(e);
    errno = saved;
    return -1;
  }
  dbg("accept(fd %d) -> op fd %d", fd, op);
  return op;
}

int accept(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len) {
  load_accept();
  struct alg_fd *e = lookup(fd);
  if (!e) return REAL(accept)(fd, addr, len);
  return do_accept(fd, e, 0);
}

int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len, int flags) {
  load_accept4();
  struct alg_fd *e = lookup(fd);
  if (!e) return REAL(accept4)(fd, addr, len, flags);
  return do_accept(fd, e, flags);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
  load_sendmsg();
  struct alg_fd *e = lookup(fd);
  if (!e) return REAL(sendmsg)(fd, msg, flags);
  int op = -1;
  if (msg->msg_controllen) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)msg); c;
         c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
      if (c->cmsg_level != SOL_ALG) continue;
      if (c->cmsg_type == SHIM_ALG_SET_OP) {
        uint32_t v;
        if (c->cmsg_len < CMSG_LEN(sizeof v)) {
          errno = EINVAL;
          return -1;
        }
        memcpy(&v, CMSG_DATA(c), sizeof v);
        if (v != SHIM_ALG_OP_ENCRYPT && v != SHIM_ALG_OP_DECRYPT) {
          errno = EINVAL;
          return -1;
        }
        op = (int)v;
      } else if (c->cmsg_type != SHIM_ALG_SET_IV) {
        errno = EINVAL;
        return -1;
      }
    }
  }
  return op_send(fd, e, msg->msg_iov, msg->msg_iovlen, flags, op);
}

ssize_t send(int fd, const void *buf, size_t len, int flags) {
  load_send();
  struct alg_fd *e = lookup(fd);
  if (!e) return REAL(send)(fd, buf, len, flags);
  struct iovec iov = {(void *)buf, len};
  return op_send(fd, e, &iov, 1, flags, -1);
}

ssize_t write(int fd, const void *buf, size_t len) {
  load_write();
  struct alg_fd *e = lookup(fd);
  if (!e) return REAL(write)(fd, buf, len);
  struct iovec iov = {(void *)buf, len};
  return op_send(fd, e, &iov, 1, 0, -1);
}

ssize_t read(int fd, void *buf, size_t len) {
  load_read();
  struct alg_fd *e = lookup(fd);
  if (!e) return REAL(read)(fd, buf, len);
  bool trunc;
  return op_recv(fd, e, buf, len, &trunc);
}

ssize_t recv(int fd, void *buf, size_t len, int flags) {
  load_recv();
  struct alg_fd *e = lookup(fd);
  if (!e) return REAL(recv)(fd, buf, len, flags);
  bool trunc;
  return op_recv(fd, e, buf, len, &trunc);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
  load_recvmsg();
  struct alg_fd *e = lookup(fd);
  if (!e) return REAL(recvmsg)(fd, msg, flags);
  /* Gather into a bounce buffer, then scatter over the iovecs. */
  size_t cap = 0;
  for (size_t i = 0; i < msg->msg_iovlen; i++) cap += msg->msg_iov[i].iov_len;
  if (cap > ECB_MAX_QUEUED) cap = ECB_MAX_QUEUED;
  uint8_t *tmp = malloc(cap ? cap : 1);
  if (!tmp) {
    errno = ENOMEM;
    return -1;
  }
  bool trunc;
  ssize_t n = op_recv(fd, e, tmp, cap, &trunc);
  if (n > 0) {
    size_t off = 0;
    for (size_t i = 0; i < msg->msg_iovlen && off < (size_t)n; i++) {
      size_t k = msg->msg_iov[i].iov_len;
      if (k > (size_t)n - off) k = (size_t)n - off;
      memcpy(msg->msg_iov[i].iov_base, tmp + off, k);
      off += k;
    }
  }
  if (n >= 0) {
    msg->msg_controllen = 0;
    msg->msg_flags = trunc ? MSG_TRUNC : 0;
  }
  free(tmp);
  return n;
}

int close(int fd) {
  load_close();
  if (fd >= 0 && (size_t)fd < table_cap && table[fd]) {
    dbg("close(fd %d)", fd);
    table_drop(fd);
  }
  return REAL(close)(fd);
}

__attribute__((destructor)) static void shim_fini(void) {
  for (size_t i = 0; i < table_cap; i++) table_drop((int)i);
  free(table);
  table = NULL;
  table_cap = 0;
  EVP_MAC_free(cmac_alg);
  cmac_alg = NULL;
}
