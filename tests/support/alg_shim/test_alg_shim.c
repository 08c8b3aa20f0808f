/* SPDX-License-Identifier: Apache-2.0 */
/* Checks the AF_ALG shim (or the kernel's AF_ALG, run without it) through
 * the calls BlueZ's src/shared/crypto.c makes: socket/bind/setsockopt/accept,
 * then sendmsg(ALG_SET_OP)+read for ecb(aes) and send+read for cmac(aes).
 * Vectors: FIPS-197 appendix C, RFC 4493 section 4 (example 2's tag is
 * 070a16b4 6b4d4144 f79bdd9d d04a287c).
 *
 * Runs without the test framework (it is built unsanitized, linked with
 * nothing of ours). With UVBLE_ALG_SHIM_FORCE=1 it also checks that the shim
 * really is the one answering: the AF_ALG fd is a placeholder, not a socket. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef SOL_ALG
#define SOL_ALG 279
#endif
#define T_ALG_SET_KEY 1
#define T_ALG_SET_OP 3
#define T_ALG_OP_DECRYPT 0
#define T_ALG_OP_ENCRYPT 1

struct t_sockaddr_alg {
  uint16_t salg_family;
  uint8_t salg_type[14];
  uint32_t salg_feat;
  uint32_t salg_mask;
  uint8_t salg_name[64];
};

static int passed, failed;

#define EXPECT(c)                                                         \
  do {                                                                    \
    if (!(c)) {                                                           \
      fprintf(stderr, "  %s:%d: EXPECT(%s) failed (errno %d: %s)\n",      \
              __FILE__, __LINE__, #c, errno, strerror(errno));            \
      ok = false;                                                         \
    }                                                                     \
  } while (0)

static void report(const char *name, bool ok) {
  printf("[%s] %s\n", ok ? "  OK  " : " FAIL ", name);
  if (ok)
    passed++;
  else
    failed++;
}

static size_t unhex(const char *s, uint8_t *out, size_t cap) {
  size_t n = 0;
  while (*s) {
    if (*s == ' ') {
      s++;
      continue;
    }
    unsigned v;
    if (n >= cap || sscanf(s, "%2x", &v) != 1) abort();
    out[n++] = (uint8_t)v;
    s += 2;
  }
  return n;
}

static void dump(const char *what, const uint8_t *b, size_t n) {
  fprintf(stderr, "    %s:", what);
  for (size_t i = 0; i < n; i++) fprintf(stderr, " %02x", b[i]);
  fputc('\n', stderr);
}

static bool same(const uint8_t *got, const uint8_t *want, size_t n) {
  if (memcmp(got, want, n) == 0) return true;
  dump("got ", got, n);
  dump("want", want, n);
  return false;
}

/* socket + bind, as ecb_aes_setup()/cmac_aes_setup() do. -1 with errno. */
static int alg_parent(const char *type, const char *name) {
  int fd = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct t_sockaddr_alg sa;
  memset(&sa, 0, sizeof sa);
  sa.salg_family = AF_ALG;
  strcpy((char *)sa.salg_type, type);
  strcpy((char *)sa.salg_name, name);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* setsockopt(ALG_SET_KEY) + accept, as alg_new() does. */
static int alg_op(int parent, const uint8_t *key, size_t keylen) {
  if (setsockopt(parent, SOL_ALG, T_ALG_SET_KEY, key, (socklen_t)keylen) < 0)
    return -1;
  return accept(parent, NULL, 0);
}

/* sendmsg with ALG_SET_OP, as alg_encrypt() does. */
static ssize_t send_op(int fd, uint32_t op, const uint8_t *in, size_t len) {
  char cbuf[CMSG_SPACE(sizeof op)];
  struct msghdr msg;
  struct iovec iov = {(void *)in, len};
  memset(cbuf, 0, sizeof cbuf);
  memset(&msg, 0, sizeof msg);
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_ALG;
  c->cmsg_type = T_ALG_SET_OP;
  c->cmsg_len = CMSG_LEN(sizeof op);
  memcpy(CMSG_DATA(c), &op, sizeof op);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  return sendmsg(fd, &msg, 0);
}

static const char *RFC4493_KEY = "2b7e151628aed2a6abf7158809cf4f3c";
static const char *RFC4493_MSG =
    "6bc1bee22e409f96e93d7e117393172a" "ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef" "f69f2445df4f9b17ad2b417be66c3710";

static void test_placeholder_when_forced(void) {
  bool ok = true;
  const char *force = getenv("UVBLE_ALG_SHIM_FORCE");
  if (!force || strcmp(force, "1") != 0) {
    printf("[ SKIP ] placeholder_when_forced (UVBLE_ALG_SHIM_FORCE not set)\n");
    return;
  }
  int fd = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  EXPECT(fd >= 0);
  if (fd >= 0) {
    struct stat st;
    EXPECT(fstat(fd, &st) == 0);
    EXPECT(!S_ISSOCK(st.st_mode)); /* the kernel would give a socket */
    EXPECT(close(fd) == 0);
  }
  report("placeholder_when_forced", ok);
}

static void ecb_vector(const char *name, const char *key_hex, const char *pt_hex,
                       const char *ct_hex) {
  bool ok = true;
  uint8_t key[32], pt[16], ct[16], out[16];
  size_t keylen = unhex(key_hex, key, sizeof key);
  unhex(pt_hex, pt, sizeof pt);
  unhex(ct_hex, ct, sizeof ct);
  int parent = alg_parent("skcipher", "ecb(aes)");
  EXPECT(parent >= 0);
  if (parent >= 0) {
    int fd = alg_op(parent, key, keylen);
    EXPECT(fd >= 0);
    if (fd >= 0) {
      EXPECT(send_op(fd, T_ALG_OP_ENCRYPT, pt, 16) == 16);
      memset(out, 0, sizeof out);
      EXPECT(read(fd, out, 16) == 16);
      EXPECT(same(out, ct, 16));
      /* Same op fd, next message: decrypt it back. */
      EXPECT(send_op(fd, T_ALG_OP_DECRYPT, ct, 16) == 16);
      memset(out, 0, sizeof out);
      EXPECT(read(fd, out, 16) == 16);
      EXPECT(same(out, pt, 16));
      EXPECT(close(fd) == 0);
    }
    EXPECT(close(parent) == 0);
  }
  report(name, ok);
}

static void test_ecb_two_blocks_two_ops(void) {
  bool ok = true;
  uint8_t key[16], pt[32], ct[16], out[32];
  unhex("000102030405060708090a0b0c0d0e0f", key, 16);
  unhex("00112233445566778899aabbccddeeff", pt, 16);
  memcpy(pt + 16, pt, 16);
  unhex("69c4e0d86a7b0430d8cdb78070b4c55a", ct, 16);
  int parent = alg_parent("skcipher", "ecb(aes)");
  EXPECT(parent >= 0);
  if (parent >= 0) {
    /* Two op fds off one parent, as btvirt does per LE Encrypt. */
    int a = alg_op(parent, key, 16), b = accept(parent, NULL, 0);
    EXPECT(a >= 0 && b >= 0 && a != b);
    if (a >= 0 && b >= 0) {
      EXPECT(send_op(a, T_ALG_OP_ENCRYPT, pt, 32) == 32);
      EXPECT(send_op(b, T_ALG_OP_ENCRYPT, pt, 16) == 16);
      memset(out, 0, sizeof out);
      EXPECT(read(a, out, 32) == 32);
      EXPECT(same(out, ct, 16) && same(out + 16, ct, 16));
      memset(out, 0, sizeof out);
      EXPECT(recv(b, out, 16, 0) == 16);
      EXPECT(same(out, ct, 16));
    }
    if (a >= 0) close(a);
    if (b >= 0) close(b);
    close(parent);
  }
  report("ecb_two_blocks_two_ops", ok);
}

static void cmac_vector(const char *name, size_t len, const char *tag_hex,
                        int how /* 0 send, 1 write, 2 send in MSG_MORE pieces,
                                   3 read without any send */) {
  bool ok = true;
  uint8_t key[16], msg[64], tag[16], out[16];
  unhex(RFC4493_KEY, key, 16);
  unhex(RFC4493_MSG, msg, sizeof msg);
  unhex(tag_hex, tag, 16);
  int parent = alg_parent("hash", "cmac(aes)");
  EXPECT(parent >= 0);
  if (parent >= 0) {
    int fd = alg_op(parent, key, 16);
    EXPECT(fd >= 0);
    if (fd >= 0) {
      if (how == 0) {
        EXPECT(send(fd, msg, len, 0) == (ssize_t)len);
      } else if (how == 1) {
        EXPECT(write(fd, msg, len) == (ssize_t)len);
      } else if (how == 2) {
        size_t off = 0, step = 7;
        while (off < len) {
          size_t n = len - off < step ? len - off : step;
          bool last = off + n == len;
          EXPECT(send(fd, msg + off, n, last ? 0 : MSG_MORE) == (ssize_t)n);
          off += n;
          step += 5;
        }
      }
      memset(out, 0, sizeof out);
      EXPECT(read(fd, out, 16) == 16);
      EXPECT(same(out, tag, 16));
      EXPECT(close(fd) == 0);
    }
    EXPECT(close(parent) == 0);
  }
  report(name, ok);
}

static void test_cmac_op_fd_reused(void) {
  /* bt_crypto keeps one parent and accepts per operation; check that
   * consecutive messages on one op fd also start afresh. */
  bool ok = true;
  uint8_t key[16], msg[64], t16[16], t64[16], out[16];
  unhex(RFC4493_KEY, key, 16);
  unhex(RFC4493_MSG, msg, sizeof msg);
  unhex("070a16b46b4d4144f79bdd9dd04a287c", t16, 16);
  unhex("51f0bebf7e3b9d92fc49741779363cfe", t64, 16);
  int parent = alg_parent("hash", "cmac(aes)");
  int fd = parent >= 0 ? alg_op(parent, key, 16) : -1;
  EXPECT(fd >= 0);
  if (fd >= 0) {
    EXPECT(send(fd, msg, 16, 0) == 16);
    EXPECT(read(fd, out, 16) == 16);
    EXPECT(same(out, t16, 16));
    EXPECT(send(fd, msg, 64, 0) == 64);
    EXPECT(read(fd, out, 16) == 16);
    EXPECT(same(out, t64, 16));
    close(fd);
  }
  if (parent >= 0) close(parent);
  report("cmac_op_fd_reused", ok);
}

static void test_unsupported_algorithm(void) {
  bool ok = true;
  errno = 0;
  EXPECT(alg_parent("skcipher", "no-such-alg(aes)") < 0 && errno == ENOENT);
  errno = 0;
  EXPECT(alg_parent("hash", "no-such-hash") < 0 && errno == ENOENT);
  report("unsupported_algorithm", ok);
}

static void test_accept_without_key(void) {
  bool ok = true;
  int parent = alg_parent("skcipher", "ecb(aes)");
  EXPECT(parent >= 0);
  if (parent >= 0) {
    errno = 0;
    int fd = accept(parent, NULL, 0);
    EXPECT(fd < 0 && errno == ENOKEY);
    if (fd >= 0) close(fd);
    uint8_t badkey[15] = {0};
    errno = 0;
    EXPECT(setsockopt(parent, SOL_ALG, T_ALG_SET_KEY, badkey, 15) < 0);
    close(parent);
  }
  report("accept_without_key", ok);
}

static void test_closed_fd_passes_through(void) {
  /* After close, the same fd number must behave as whatever it is now. */
  bool ok = true;
  int parent = alg_parent("hash", "cmac(aes)");
  EXPECT(parent >= 0);
  if (parent >= 0) {
    int old = parent;
    EXPECT(close(parent) == 0);
    int p[2];
    EXPECT(pipe(p) == 0);
    int reused = p[0] == old || p[1] == old;
    EXPECT(reused); /* lowest free number: the one just closed */
    char buf[8] = {0};
    EXPECT(write(p[1], "abc", 3) == 3);
    EXPECT(read(p[0], buf, sizeof buf) == 3);
    EXPECT(memcmp(buf, "abc", 3) == 0);
    close(p[0]);
    close(p[1]);
  }
  report("closed_fd_passes_through", ok);
}

static void test_non_alg_sockets_untouched(void) {
  bool ok = true;
  int sv[2];
  EXPECT(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
  char buf[8] = {0};
  EXPECT(send(sv[0], "hi", 2, 0) == 2);
  EXPECT(recv(sv[1], buf, sizeof buf, 0) == 2);
  EXPECT(memcmp(buf, "hi", 2) == 0);
  close(sv[0]);
  close(sv[1]);
  report("non_alg_sockets_untouched", ok);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int probe = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (probe < 0) {
    fprintf(stderr, "socket(AF_ALG): %s: the kernel lacks AF_ALG and the "
                    "shim is not preloaded (LD_PRELOAD=libuvble_alg_shim.so)\n",
            strerror(errno));
    printf("0 passed, 1 failed\n");
    return 1;
  }
  close(probe);
  test_placeholder_when_forced();
  ecb_vector("ecb_fips197_aes128", "000102030405060708090a0b0c0d0e0f",
             "00112233445566778899aabbccddeeff",
             "69c4e0d86a7b0430d8cdb78070b4c55a");
  ecb_vector("ecb_fips197_aes256",
             "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
             "00112233445566778899aabbccddeeff",
             "8ea2b7ca516745bfeafc49904b496089");
  test_ecb_two_blocks_two_ops();
  cmac_vector("cmac_rfc4493_empty", 0, "bb1d6929e95937287fa37d129b756746", 0);
  cmac_vector("cmac_rfc4493_empty_no_send", 0,
              "bb1d6929e95937287fa37d129b756746", 3);
  cmac_vector("cmac_rfc4493_16", 16, "070a16b46b4d4144f79bdd9dd04a287c", 0);
  cmac_vector("cmac_rfc4493_40", 40, "dfa66747de9ae63030ca32611497c827", 0);
  cmac_vector("cmac_rfc4493_64", 64, "51f0bebf7e3b9d92fc49741779363cfe", 0);
  cmac_vector("cmac_rfc4493_40_write", 40, "dfa66747de9ae63030ca32611497c827", 1);
  cmac_vector("cmac_rfc4493_64_msg_more", 64,
              "51f0bebf7e3b9d92fc49741779363cfe", 2);
  test_cmac_op_fd_reused();
  test_unsupported_algorithm();
  test_accept_without_key();
  test_closed_fd_passes_through();
  test_non_alg_sockets_untouched();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
