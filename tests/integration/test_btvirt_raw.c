/* SPDX-License-Identifier: Apache-2.0 */
/* Proves the btvirt harness with no uvble code in the way: plain unix
 * sockets to $UVBLE_BTVIRT_SOCKET, H4 bytes written and parsed by hand.
 *   - every connection is a controller that answers HCI Reset;
 *   - two connections are two controllers with different BD_ADDRs;
 *   - LE Encrypt works, i.e. btvirt's AES (AF_ALG, or our shim) is there.
 * LE Encrypt's key, plaintext and result are LSB-first on the wire. */
#include "test.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define H4_CMD 0x01
#define H4_ACL 0x02
#define H4_EVT 0x04
#define EVT_CMD_COMPLETE 0x0e
#define EVT_CMD_STATUS 0x0f

#define OP_RESET 0x0c03
#define OP_READ_BD_ADDR 0x1009
#define OP_LE_ENCRYPT 0x2017

#define REPLY_TIMEOUT_MS 2000

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int controller_open(void) {
  const char *path = getenv("UVBLE_BTVIRT_SOCKET");
  if (!path || !*path) {
    test_fail(__FILE__, __LINE__,
              "UVBLE_BTVIRT_SOCKET not set: run under tests/support/with-btvirt");
    return -1;
  }
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa.sun_path) {
    test_fail(__FILE__, __LINE__, "socket path too long: %s", path);
    return -1;
  }
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    test_fail(__FILE__, __LINE__, "socket: %s", strerror(errno));
    return -1;
  }
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    test_fail(__FILE__, __LINE__, "connect %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

#define NO_AES_HINT                                                    \
  "controller closed the connection (btvirt without AES: is the AF_ALG " \
  "shim preloaded?)"

static bool write_all(int fd, const uint8_t *buf, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
      test_fail(__FILE__, __LINE__, NO_AES_HINT);
      return false;
    }
    if (n <= 0) {
      test_fail(__FILE__, __LINE__, "send: %s", strerror(errno));
      return false;
    }
    buf += n;
    len -= (size_t)n;
  }
  return true;
}

/* Reads exactly len bytes before deadline (CLOCK_MONOTONIC ms). */
static bool read_all(int fd, uint8_t *buf, size_t len, uint64_t deadline) {
  while (len > 0) {
    uint64_t now = now_ms();
    if (now >= deadline) {
      test_fail(__FILE__, __LINE__, "timed out waiting for the controller");
      return false;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, (int)(deadline - now));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = read(fd, buf, len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
      test_fail(__FILE__, __LINE__, NO_AES_HINT);
      return false;
    }
    if (n < 0) {
      test_fail(__FILE__, __LINE__, "read: %s", strerror(errno));
      return false;
    }
    buf += n;
    len -= (size_t)n;
  }
  return true;
}

static bool send_cmd(int fd, uint16_t opcode, const uint8_t *params,
                     uint8_t plen) {
  uint8_t pkt[4 + 255];
  pkt[0] = H4_CMD;
  pkt[1] = (uint8_t)(opcode & 0xff);
  pkt[2] = (uint8_t)(opcode >> 8);
  pkt[3] = plen;
  if (plen) memcpy(pkt + 4, params, plen);
  return write_all(fd, pkt, 4u + plen);
}

/* Waits for the Command Complete for opcode, skipping other packets.
 * Copies its return parameters (status first) into ret; returns their
 * length, or -1 on timeout, EOF or Command Status failure. */
static int wait_complete(int fd, uint16_t opcode, uint8_t *ret, size_t cap) {
  uint64_t deadline = now_ms() + REPLY_TIMEOUT_MS;
  for (;;) {
    uint8_t type;
    if (!read_all(fd, &type, 1, deadline)) return -1;
    if (type == H4_EVT) {
      uint8_t hdr[2], p[255];
      if (!read_all(fd, hdr, 2, deadline) || !read_all(fd, p, hdr[1], deadline))
        return -1;
      if (hdr[0] == EVT_CMD_COMPLETE && hdr[1] >= 3 &&
          (p[1] | p[2] << 8) == opcode) {
        size_t n = (size_t)hdr[1] - 3;
        if (n > cap) n = cap;
        memcpy(ret, p + 3, n);
        return (int)n;
      }
      if (hdr[0] == EVT_CMD_STATUS && hdr[1] >= 4 &&
          (p[2] | p[3] << 8) == opcode) {
        test_fail(__FILE__, __LINE__, "opcode 0x%04x: Command Status 0x%02x",
                  opcode, p[0]);
        return -1;
      }
      continue; /* some other event */
    }
    if (type == H4_ACL) {
      uint8_t hdr[4], p[65535];
      if (!read_all(fd, hdr, 4, deadline) ||
          !read_all(fd, p, (size_t)(hdr[2] | hdr[3] << 8), deadline))
        return -1;
      continue;
    }
    test_fail(__FILE__, __LINE__, "unexpected H4 packet type 0x%02x", type);
    return -1;
  }
}

static bool read_bd_addr(int fd, uint8_t addr[6]) {
  uint8_t ret[7];
  if (!send_cmd(fd, OP_READ_BD_ADDR, NULL, 0)) return false;
  int n = wait_complete(fd, OP_READ_BD_ADDR, ret, sizeof ret);
  if (n != 7 || ret[0] != 0) {
    test_fail(__FILE__, __LINE__, "Read BD_ADDR: length %d status 0x%02x", n,
              n > 0 ? ret[0] : 0xff);
    return false;
  }
  memcpy(addr, ret + 1, 6);
  return true;
}

static void reverse16(const uint8_t in[16], uint8_t out[16]) {
  for (int i = 0; i < 16; i++) out[i] = in[15 - i];
}

/* LE Encrypt with key and plaintext given MSB-first (as in FIPS-197);
 * result MSB-first too. */
static bool le_encrypt(int fd, const uint8_t key[16], const uint8_t pt[16],
                       uint8_t out[16]) {
  uint8_t params[32], ret[17];
  reverse16(key, params);
  reverse16(pt, params + 16);
  if (!send_cmd(fd, OP_LE_ENCRYPT, params, sizeof params)) return false;
  int n = wait_complete(fd, OP_LE_ENCRYPT, ret, sizeof ret);
  if (n != 17 || ret[0] != 0) {
    test_fail(__FILE__, __LINE__, "LE Encrypt: length %d status 0x%02x", n,
              n > 0 ? ret[0] : 0xff);
    return false;
  }
  reverse16(ret + 1, out);
  return true;
}

static bool unhex16(const char *s, uint8_t out[16]) {
  for (int i = 0; i < 16; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) return false;
    out[i] = (uint8_t)v;
  }
  return true;
}

TEST(reset_answers_within_2s) {
  int fd = controller_open();
  REQUIRE(fd >= 0);
  static const uint8_t reset[] = {H4_CMD, 0x03, 0x0c, 0x00};
  uint64_t t0 = now_ms();
  REQUIRE(write_all(fd, reset, sizeof reset));
  /* The very first bytes must be exactly Command Complete for Reset:
   * 04 0e 04 <ncmd> 03 0c 00. */
  uint8_t evt[7];
  bool got = read_all(fd, evt, sizeof evt, t0 + REPLY_TIMEOUT_MS);
  close(fd);
  REQUIRE(got);
  CHECK_EQ(evt[0], H4_EVT);
  CHECK_EQ(evt[1], EVT_CMD_COMPLETE);
  CHECK_EQ(evt[2], 4);
  CHECK(evt[3] >= 1);
  CHECK_EQ(evt[4], 0x03);
  CHECK_EQ(evt[5], 0x0c);
  CHECK_EQ(evt[6], 0x00);
  printf("  reset answered in %llu ms\n", (unsigned long long)(now_ms() - t0));
}

TEST(two_controllers_have_different_addresses) {
  int a = controller_open();
  REQUIRE(a >= 0);
  int b = controller_open();
  if (b < 0) close(a);
  REQUIRE(b >= 0);
  uint8_t addr_a[6] = {0}, addr_b[6] = {0}, zero[6] = {0};
  bool ok = read_bd_addr(a, addr_a) && read_bd_addr(b, addr_b);
  /* Ask again on the first: it must still be the same controller. */
  uint8_t again[6] = {0};
  ok = ok && read_bd_addr(a, again);
  close(a);
  close(b);
  REQUIRE(ok);
  printf("  controller addresses %02X:%02X:%02X:%02X:%02X:%02X and "
         "%02X:%02X:%02X:%02X:%02X:%02X\n",
         addr_a[5], addr_a[4], addr_a[3], addr_a[2], addr_a[1], addr_a[0],
         addr_b[5], addr_b[4], addr_b[3], addr_b[2], addr_b[1], addr_b[0]);
  CHECK(memcmp(addr_a, zero, 6) != 0);
  CHECK(memcmp(addr_b, zero, 6) != 0);
  CHECK(memcmp(addr_a, addr_b, 6) != 0);
  CHECK_MEM(addr_a, again, 6);
}

TEST(le_encrypt_fips197_vector) {
  /* FIPS-197 C.1, MSB-first; on the wire all three are byte-reversed. */
  uint8_t key[16], pt[16], want[16], got[16] = {0};
  REQUIRE(unhex16("000102030405060708090a0b0c0d0e0f", key));
  REQUIRE(unhex16("00112233445566778899aabbccddeeff", pt));
  REQUIRE(unhex16("69c4e0d86a7b0430d8cdb78070b4c55a", want));
  int fd = controller_open();
  REQUIRE(fd >= 0);
  uint64_t t0 = now_ms();
  bool ok = le_encrypt(fd, key, pt, got);
  uint64_t dt = now_ms() - t0;
  close(fd);
  REQUIRE(ok);
  CHECK_MEM(got, want, 16);
  printf("  LE Encrypt answered in %llu ms\n", (unsigned long long)dt);
}

TEST(le_encrypt_matches_openssl) {
  /* A few keys and blocks against OpenSSL's AES-128-ECB: the byte order
   * rule holds for every byte, not only for the one vector. */
  int fd = controller_open();
  REQUIRE(fd >= 0);
  bool ok = true;
  for (int round = 0; round < 4 && ok; round++) {
    uint8_t key[16], pt[16], want[16], got[16] = {0};
    for (int i = 0; i < 16; i++) {
      key[i] = (uint8_t)(0x11 * round + 7 * i + 1);
      pt[i] = (uint8_t)(0xa5 ^ (31 * i + round));
    }
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0;
    ok = c && EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, key, NULL) == 1 &&
         EVP_CIPHER_CTX_set_padding(c, 0) == 1 &&
         EVP_EncryptUpdate(c, want, &outl, pt, 16) == 1 && outl == 16;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
      test_fail(__FILE__, __LINE__, "OpenSSL AES-128-ECB failed");
      break;
    }
    ok = le_encrypt(fd, key, pt, got);
    if (ok) CHECK_MEM(got, want, 16);
  }
  close(fd);
  CHECK(ok);
}

TEST_MAIN()
