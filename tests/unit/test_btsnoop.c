/* SPDX-License-Identifier: Apache-2.0 */
/* btsnoop captures: the file, byte by byte, and what btmon (BlueZ) makes
 * of it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "uvble/error.h"
#include "uvble/transport.h"

#define EPOCH_DELTA 0x00dcddb30f2f8000ULL

typedef struct {
  int packets;
  uint8_t type;
  uint8_t data[64];
  size_t len;
  bool reply; /* answer HCI_Reset with Command Complete */
} ctl_t;

static void on_recv(uvble_transport_t *t, uint8_t type, const uint8_t *data, size_t len,
                    void *arg) {
  ctl_t *c = arg;
  c->packets++;
  c->type = type;
  c->len = len < sizeof c->data ? len : sizeof c->data;
  memcpy(c->data, data, c->len);
  if (c->reply && type == UVBLE_HCI_COMMAND && data[0] == 0x03 && data[1] == 0x0c) {
    const uint8_t cc[] = {0x0e, 0x04, 0x01, 0x03, 0x0c, 0x00};
    uvble_iov_t v = {cc, sizeof cc};
    CHECK_EQ(uvble_transport_send(t, UVBLE_HCI_EVENT, &v, 1), 0);
  }
}

static void on_error(uvble_transport_t *t, int err, void *arg) {
  (void)t;
  (void)arg;
  test_fail(__FILE__, __LINE__, "unexpected transport error %s", uvble_err_name(err));
}

static uint64_t now_btsnoop_us(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec + EPOCH_DELTA;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = malloc(1 << 20);
  *len = fread(buf, 1, 1 << 20, f);
  fclose(f);
  return buf;
}

static char tmpdir[64];

static void make_tmpdir(void) {
  strcpy(tmpdir, "/tmp/uvble-btsnoop-XXXXXX");
  REQUIRE(mkdtemp(tmpdir) != NULL);
}

static void rm_tmpdir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  CHECK_EQ(system(cmd), 0);
}

static bool got(void *arg) { return ((ctl_t *)arg)->packets > 0; }

static const uint8_t reset_cmd[] = {0x03, 0x0c, 0x00};
/* ATT Read Request for handle 1, and its response. */
static const uint8_t acl_out[] = {0x40, 0x00, 0x07, 0x00, 0x03, 0x00,
                                  0x04, 0x00, 0x0a, 0x01, 0x00};
static const uint8_t acl_in[] = {0x40, 0x20, 0x07, 0x00, 0x03, 0x00, 0x04, 0x00,
                                 0x0b, 0x01, 0x00};

/* Host on a, controller on b: Reset / Command Complete, an ACL packet each
 * way. The capture is on the host's end. */
static void capture(const char *path, uint64_t *t0, uint64_t *t1) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *host, *ctl;
  REQUIRE_EQ(uvble_transport_mem_pair(&loop, &host, &ctl), 0);
  ctl_t h = {0}, c = {.reply = true};
  REQUIRE_EQ(uvble_transport_start(host, on_recv, on_error, &h), 0);
  REQUIRE_EQ(uvble_transport_start(ctl, on_recv, on_error, &c), 0);
  *t0 = now_btsnoop_us();
  REQUIRE_EQ(uvble_transport_snoop(host, path), 0);
  uvble_iov_t v = {reset_cmd, sizeof reset_cmd};
  REQUIRE_EQ(uvble_transport_send(host, UVBLE_HCI_COMMAND, &v, 1), 0);
  REQUIRE(run_until_pred(&loop, got, &h, 2000));
  CHECK_EQ(h.type, UVBLE_HCI_EVENT);
  uvble_iov_t a[2] = {{acl_out, 4}, {acl_out + 4, sizeof acl_out - 4}};
  REQUIRE_EQ(uvble_transport_send(host, UVBLE_HCI_ACL, a, 2), 0);
  c.packets = 0;
  REQUIRE(run_until_pred(&loop, got, &c, 2000));
  v.base = acl_in;
  v.len = sizeof acl_in;
  h.packets = 0;
  REQUIRE_EQ(uvble_transport_send(ctl, UVBLE_HCI_ACL, &v, 1), 0);
  REQUIRE(run_until_pred(&loop, got, &h, 2000));
  *t1 = now_btsnoop_us();
  /* Stop the capture; traffic after it is not recorded. */
  REQUIRE_EQ(uvble_transport_snoop(host, NULL), 0);
  v.base = reset_cmd;
  v.len = sizeof reset_cmd;
  REQUIRE_EQ(uvble_transport_send(host, UVBLE_HCI_COMMAND, &v, 1), 0);
  run_until_idle(&loop, 5000);
  uvble_transport_close(host, NULL, NULL);
  uvble_transport_close(ctl, NULL, NULL);
  loop_teardown(&loop);
}

TEST(capture_file_byte_by_byte) {
  make_tmpdir();
  char path[128];
  snprintf(path, sizeof path, "%s/cap.btsnoop", tmpdir);
  uint64_t t0, t1;
  capture(path, &t0, &t1);
  size_t n = 0;
  uint8_t *f = read_file(path, &n);
  REQUIRE(f != NULL);
  /* Header: magic, version 1, datalink 1002 (H4). */
  REQUIRE(n >= 16);
  CHECK_MEM(f, "btsnoop\0", 8);
  CHECK_EQ(be32(f + 8), 1);
  CHECK_EQ(be32(f + 12), 1002);
  const struct {
    uint32_t flags;
    const uint8_t *pkt;
    size_t len;
    uint8_t type;
  } want[] = {
      {0x02, reset_cmd, sizeof reset_cmd, 0x01},                                   /* sent command */
      {0x03, (const uint8_t *)"\x0e\x04\x01\x03\x0c\x00", 6, 0x04},               /* received event */
      {0x00, acl_out, sizeof acl_out, 0x02},                                       /* sent data */
      {0x01, acl_in, sizeof acl_in, 0x02},                                         /* received data */
  };
  size_t off = 16;
  uint64_t prev = t0;
  for (size_t i = 0; i < 4; i++) {
    REQUIRE(off + 24 <= n);
    const uint8_t *r = f + off;
    CHECK_EQ(be32(r), 1 + want[i].len);     /* original length */
    CHECK_EQ(be32(r + 4), 1 + want[i].len); /* included length */
    CHECK_EQ(be32(r + 8), want[i].flags);
    CHECK_EQ(be32(r + 12), 0); /* cumulative drops */
    uint64_t ts = (uint64_t)be32(r + 16) << 32 | be32(r + 20);
    if (ts < prev || ts > t1 + 1000)
      test_fail(__FILE__, __LINE__, "record %zu: timestamp %llu outside [%llu, %llu]", i,
                (unsigned long long)ts, (unsigned long long)prev, (unsigned long long)t1);
    prev = ts;
    REQUIRE(off + 24 + 1 + want[i].len <= n);
    CHECK_EQ(r[24], want[i].type); /* the H4 indicator leads the data */
    CHECK_MEM(r + 25, want[i].pkt, want[i].len);
    off += 24 + 1 + want[i].len;
  }
  CHECK_EQ(off, n); /* nothing after the capture was stopped */
  free(f);

  /* And BlueZ's own reader agrees. */
  if (system("command -v btmon >/dev/null 2>&1") != 0) {
    /* Not a skip: the test command installs bluez. */
    test_fail(__FILE__, __LINE__, "btmon is not on PATH: install the bluez package");
    test_abort_case();
  }
  char cmd[256];
  snprintf(cmd, sizeof cmd, "btmon -r '%s' 2>&1", path);
  FILE *p = popen(cmd, "r");
  REQUIRE(p != NULL);
  static char out[65536];
  size_t got_n = fread(out, 1, sizeof out - 1, p);
  out[got_n] = '\0';
  int st = pclose(p);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  if (!strstr(out, "HCI Command: Reset") || !strstr(out, "HCI Event: Command Complete") ||
      !strstr(out, "ACL Data TX") || !strstr(out, "ACL Data RX") ||
      !strstr(out, "ATT: Read Request") || !strstr(out, "ATT: Read Response"))
    test_fail(__FILE__, __LINE__, "btmon output lacks the packets:\n%s", out);
  /* Direction: commands go out (<), events come in (>). */
  CHECK(strstr(out, "< HCI Command: Reset") != NULL);
  CHECK(strstr(out, "> HCI Event: Command Complete") != NULL);
  rm_tmpdir();
}

TEST(snoop_errors) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *a, *b;
  REQUIRE_EQ(uvble_transport_mem_pair(&loop, &a, &b), 0);
  CHECK_EQ(uvble_transport_snoop(a, "/nonexistent/dir/cap.btsnoop"), -ENOENT);
  CHECK_EQ(uvble_transport_snoop(a, NULL), 0); /* stopping when not capturing */
  uvble_transport_close(a, NULL, NULL);
  uvble_transport_close(b, NULL, NULL);
  loop_teardown(&loop);
}

/* UVBLE_BTSNOOP makes uvble_transport_open capture by itself. */
TEST(env_variable_starts_a_capture) {
  make_tmpdir();
  char sock[128], spec[160], cap[128], cap1[140];
  snprintf(sock, sizeof sock, "%s/hci.sock", tmpdir);
  snprintf(spec, sizeof spec, "unix:%s", sock);
  snprintf(cap, sizeof cap, "%s/env.btsnoop", tmpdir);
  snprintf(cap1, sizeof cap1, "%s.1", cap);
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strcpy(sa.sun_path, sock);
  REQUIRE(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
  REQUIRE(listen(lfd, 4) == 0);

  setenv("UVBLE_BTSNOOP", cap, 1);
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *t1, *t2;
  char err[256] = "";
  REQUIRE_EQ(uvble_transport_open(&loop, spec, &t1, err, sizeof err), 0);
  int c1 = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  /* A second transport in the same process does not overwrite the first's. */
  REQUIRE_EQ(uvble_transport_open(&loop, spec, &t2, err, sizeof err), 0);
  int c2 = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  REQUIRE(c1 >= 0 && c2 >= 0);
  ctl_t h = {0};
  REQUIRE_EQ(uvble_transport_start(t1, on_recv, on_error, &h), 0);
  CHECK_EQ(write(c1, "\x04\x0e\x04\x01\x03\x0c\x00", 7), 7);
  REQUIRE(run_until_pred(&loop, got, &h, 2000));
  uvble_iov_t v = {reset_cmd, sizeof reset_cmd};
  CHECK_EQ(uvble_transport_send(t2, UVBLE_HCI_COMMAND, &v, 1), 0);
  uvble_transport_close(t1, NULL, NULL);
  uvble_transport_close(t2, NULL, NULL);
  loop_teardown(&loop);
  close(c1);
  close(c2);

  size_t n1 = 0, n2 = 0;
  uint8_t *f1 = read_file(cap, &n1), *f2 = read_file(cap1, &n2);
  REQUIRE(f1 && f2);
  CHECK_EQ(n1, 16 + 24 + 7);
  CHECK_EQ(n2, 16 + 24 + 4);
  CHECK_MEM(f1, "btsnoop\0", 8);
  CHECK_MEM(f2, "btsnoop\0", 8);
  if (n1 == 47) {
    CHECK_EQ(be32(f1 + 16 + 8), 0x03);
    CHECK_MEM(f1 + 40, "\x04\x0e\x04\x01\x03\x0c\x00", 7);
  }
  if (n2 == 44) {
    CHECK_EQ(be32(f2 + 16 + 8), 0x02);
    CHECK_MEM(f2 + 40, "\x01\x03\x0c\x00", 4);
  }
  free(f1);
  free(f2);

  /* A capture that cannot be created fails the open, saying why. */
  char bad[160];
  snprintf(bad, sizeof bad, "%s/no/such/dir/cap", tmpdir);
  setenv("UVBLE_BTSNOOP", bad, 1);
  uv_loop_init(&loop);
  uvble_transport_t *t3 = NULL;
  CHECK(uvble_transport_open(&loop, spec, &t3, err, sizeof err) < 0);
  CHECK(t3 == NULL);
  CHECK(strstr(err, "UVBLE_BTSNOOP") != NULL);
  loop_teardown(&loop);
  unsetenv("UVBLE_BTSNOOP");
  close(lfd);
  rm_tmpdir();
}

TEST_MAIN()
