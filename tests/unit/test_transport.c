/* SPDX-License-Identifier: Apache-2.0 */
/* Transports as a user sees them: spec strings and their error sentences,
 * unix:, tcp: and uart: against real sockets and a pty, the in-memory pair,
 * closing from inside callbacks. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "test.h"
#include "transport_internal.h"
#include "uvble/error.h"
#include "uvble/transport.h"

/* ---- a receiver that records what a transport hands up ---------------- */

typedef struct {
  size_t packets, bytes;
  uint8_t types[4096];
  size_t lens[4096];
  uint8_t data[256 * 1024]; /* concatenated packets (without indicators) */
  int errors, last_err, closes, depth, max_depth;
  bool close_in_recv;    /* close the transport from the first recv_cb */
  bool close_in_error;   /* close it from error_cb */
  uvble_transport_t *echo_to; /* send every packet back out on this transport */
  size_t echo_limit;          /* ...while fewer than this many arrived (0: always) */
} rx_t;

static void on_close(uvble_transport_t *t, void *arg) {
  (void)t;
  ((rx_t *)arg)->closes++;
}

static void on_recv(uvble_transport_t *t, uint8_t type, const uint8_t *data, size_t len,
                    void *arg) {
  rx_t *r = arg;
  r->depth++;
  if (r->depth > r->max_depth) r->max_depth = r->depth;
  if (r->packets < 4096) {
    r->types[r->packets] = type;
    r->lens[r->packets] = len;
  }
  if (r->bytes + len <= sizeof r->data) memcpy(r->data + r->bytes, data, len);
  r->packets++;
  r->bytes += len;
  if (r->echo_to && (!r->echo_limit || r->packets < r->echo_limit)) {
    uvble_iov_t v = {data, len};
    CHECK_EQ(uvble_transport_send(r->echo_to, type, &v, 1), 0);
  }
  if (r->close_in_recv) {
    uvble_transport_close(t, on_close, r);
    /* Closing twice is harmless. */
    uvble_transport_close(t, on_close, r);
  }
  r->depth--;
}

static void on_error(uvble_transport_t *t, int err, void *arg) {
  rx_t *r = arg;
  r->errors++;
  r->last_err = err;
  if (r->close_in_error) uvble_transport_close(t, on_close, r);
}

static rx_t *rx_new(void) { return calloc(1, sizeof(rx_t)); }

static const uint8_t reset_cmd[] = {0x03, 0x0c, 0x00};
static const uint8_t cc_evt[] = {0x0e, 0x04, 0x01, 0x03, 0x0c, 0x00};

static int send1(uvble_transport_t *t, uint8_t type, const void *p, size_t n) {
  uvble_iov_t v = {p, n};
  return uvble_transport_send(t, type, &v, 1);
}

/* An ACL packet of n data bytes whose contents depend on seq. */
static size_t make_acl(uint8_t *buf, size_t n, unsigned seq) {
  buf[0] = 0x40;
  buf[1] = 0x00;
  buf[2] = (uint8_t)n;
  buf[3] = (uint8_t)(n >> 8);
  for (size_t i = 0; i < n; i++) buf[4 + i] = (uint8_t)(seq * 7 + i);
  return 4 + n;
}

typedef struct {
  rx_t *rx;
  size_t packets;
  int errors, closes;
} wait_t;

static bool wait_pred(void *arg) {
  wait_t *w = arg;
  return w->rx->packets >= w->packets && w->rx->errors >= w->errors &&
         w->rx->closes >= w->closes;
}

/* Runs the loop until rx has seen that many packets, errors and closes. */
static bool wait_for(uv_loop_t *loop, rx_t *rx, size_t packets, int errors, int closes) {
  wait_t w = {rx, packets, errors, closes};
  return run_until_pred(loop, wait_pred, &w, 3000);
}

/* ---- spec strings ------------------------------------------------------- */

static void expect_bad(const char *spec, const char *needle) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *t = (uvble_transport_t *)1;
  char err[256] = "untouched";
  int rc = uvble_transport_open(&loop, spec, &t, err, sizeof err);
  if (rc != UVBLE_EBADSPEC)
    test_fail(__FILE__, __LINE__, "open(\"%s\") = %d (%s), want EBADSPEC", spec ? spec : "(null)",
              rc, err);
  if (t != NULL) test_fail(__FILE__, __LINE__, "open(\"%s\") left *out set", spec);
  if (!strstr(err, needle))
    test_fail(__FILE__, __LINE__, "open(\"%s\"): \"%s\" does not mention \"%s\"",
              spec ? spec : "(null)", err, needle);
  loop_teardown(&loop);
}

TEST(bad_specs_name_the_problem) {
  expect_bad("", "empty");
  expect_bad(NULL, "empty");
  expect_bad("bogus", "unknown transport \"bogus\"");
  expect_bad("serial:/dev/ttyS0", "unknown transport \"serial:\"");
  expect_bad("unix:", "missing socket path");
  expect_bad("tcp:", "missing port");
  expect_bad("tcp:localhost", "missing port");
  expect_bad("tcp:localhost:", "missing port");
  expect_bad("tcp::4000", "missing host");
  expect_bad("tcp:127.0.0.1:http", "bad port \"http\"");
  expect_bad("tcp:127.0.0.1:70000", "bad port \"70000\"");
  expect_bad("tcp:127.0.0.1:0", "bad port \"0\"");
  expect_bad("tcp:127.0.0.1:-1", "bad port \"-1\"");
  expect_bad("tcp:[::1", "tcp:[IPV6]:PORT");
  expect_bad("uart:", "missing device path");
  expect_bad("uart:?baud=115200", "missing device path");
  expect_bad("uart:/dev/ttyUSB9?baud=12345", "unsupported baud rate \"12345\"");
  expect_bad("uart:/dev/ttyUSB9?baud=", "unsupported baud rate \"\"");
  expect_bad("uart:/dev/ttyUSB9?baud=fast", "unsupported baud rate \"fast\"");
  expect_bad("uart:/dev/ttyUSB9?baud=4000001", "unsupported baud rate \"4000001\"");
  expect_bad("uart:/dev/ttyUSB9?flow=2", "bad flow value \"2\"");
  expect_bad("uart:/dev/ttyUSB9?baud=115200&parity=even", "unknown option \"parity\"");
  expect_bad("uart:/dev/ttyUSB9?rtscts", "unknown option \"rtscts\"");
  expect_bad("hci", "missing controller number");
  expect_bad("hcix", "bad controller number \"x\"");
  expect_bad("hci0x", "bad controller number \"0x\"");
  expect_bad("hci-1", "bad controller number");
  expect_bad("hci99999", "out of range");
}

TEST(hci_user_channel_gives_a_clear_error) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *t = NULL;
  char err[256] = "";
  int rc = uvble_transport_open(&loop, "hci0", &t, err, sizeof err);
  if (rc == 0) {
    /* A kernel with Bluetooth and the rights to use it: fine too. */
    CHECK_STR(uvble_transport_name(t), "hci0");
    uvble_transport_close(t, NULL, NULL);
  } else {
    printf("  hci0: %d: %s\n", rc, err);
    CHECK(strstr(err, "hci0") != NULL);
    int s = socket(31, SOCK_RAW | SOCK_CLOEXEC, 1);
    if (s < 0 && errno == EAFNOSUPPORT) {
      CHECK_EQ(rc, -EAFNOSUPPORT);
      CHECK(strstr(err, "this kernel has no Bluetooth support (AF_BLUETOOTH)") != NULL);
    } else {
      /* Privileges, busy, no such device: each comes with its fix. */
      CHECK(strstr(err, "btmgmt") || strstr(err, "CAP_NET_ADMIN") || strstr(err, ": "));
    }
    if (s >= 0) close(s);
  }
  loop_teardown(&loop);
}

TEST(hci_user_channel_errors_say_what_to_do) {
  /* What a user sees for each way opening hciN fails on a kernel that has
   * Bluetooth (this one may not, so the sentences are checked directly). */
  char err[256];
  uvble__hci_explain(err, sizeof err, "hci1", "bind", EBUSY);
  CHECK_STR(err, "hci1 is up or in use: run `btmgmt -i hci1 power off` or stop bluetoothd");
  uvble__hci_explain(err, sizeof err, "hci1", "bind", EUSERS);
  CHECK(strstr(err, "in use") != NULL);
  uvble__hci_explain(err, sizeof err, "hci0", "bind", EPERM);
  CHECK_STR(err, "hci0: needs CAP_NET_ADMIN and CAP_NET_RAW: run as root or "
                 "`setcap cap_net_admin,cap_net_raw+eip <binary>`");
  uvble__hci_explain(err, sizeof err, "hci0", "HCIDEVDOWN", EACCES);
  CHECK(strstr(err, "CAP_NET_ADMIN") != NULL);
  uvble__hci_explain(err, sizeof err, "hci7", "bind", ENODEV);
  CHECK_STR(err, "hci7: no such controller: list them with `btmgmt info`");
  uvble__hci_explain(err, sizeof err, "hci0", "socket(AF_BLUETOOTH)", EAFNOSUPPORT);
  CHECK_STR(err, "hci0: this kernel has no Bluetooth support (AF_BLUETOOTH)");
  uvble__hci_explain(err, sizeof err, "hci0", "bind", ERFKILL);
  CHECK(strstr(err, "rfkill unblock") != NULL);
  uvble__hci_explain(err, sizeof err, "hci0", "bind", EIO);
  CHECK(strstr(err, "hci0: bind: ") == err);
}

TEST(missing_socket_says_so) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *t = NULL;
  char err[256] = "";
  CHECK_EQ(uvble_transport_open(&loop, "unix:/nonexistent/uvble.sock", &t, err, sizeof err),
           -ENOENT);
  CHECK(strstr(err, "unix:/nonexistent/uvble.sock") != NULL);
  CHECK(strstr(err, "No such file") != NULL);
  CHECK_EQ(uvble_transport_open(&loop, "uart:/nonexistent/ttyUSB0?baud=1000000", &t, err,
                                sizeof err),
           -ENOENT);
  CHECK(strstr(err, "/nonexistent/ttyUSB0") != NULL);
  /* A file that is not a serial port. */
  CHECK(uvble_transport_open(&loop, "uart:/dev/null", &t, err, sizeof err) < 0);
  CHECK(strstr(err, "not a serial port") != NULL);
  loop_teardown(&loop);
}

/* ---- unix: -------------------------------------------------------------- */

typedef struct {
  char dir[64];
  char path[128];
  char spec[160];
  int lfd; /* listening */
  int cfd; /* accepted, non-blocking */
} server_t;

static void server_listen_unix(server_t *s) {
  strcpy(s->dir, "/tmp/uvble-transport-XXXXXX");
  REQUIRE(mkdtemp(s->dir) != NULL);
  snprintf(s->path, sizeof s->path, "%s/hci.sock", s->dir);
  snprintf(s->spec, sizeof s->spec, "unix:%s", s->path);
  s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(s->lfd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strcpy(sa.sun_path, s->path);
  REQUIRE(bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
  REQUIRE(listen(s->lfd, 4) == 0);
  s->cfd = -1;
}

static void server_accept(server_t *s) {
  s->cfd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  REQUIRE(s->cfd >= 0);
}

static void server_close(server_t *s) {
  if (s->cfd >= 0) close(s->cfd);
  if (s->lfd >= 0) close(s->lfd);
  s->cfd = s->lfd = -1;
  if (s->path[0]) unlink(s->path);
  if (s->dir[0]) rmdir(s->dir);
}

static void write_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EAGAIN) {
      usleep(1000);
      continue;
    }
    REQUIRE(w > 0);
    b += w;
    n -= (size_t)w;
  }
}

typedef struct {
  int fd;
  uint8_t *buf;
  size_t have, want;
} reader_t;

static bool read_some(void *arg) {
  reader_t *r = arg;
  while (r->have < r->want) {
    ssize_t n = read(r->fd, r->buf + r->have, r->want - r->have);
    if (n <= 0) break;
    r->have += (size_t)n;
  }
  return r->have >= r->want;
}

/* Sends a mixed stream into the transport and the transport's packets back. */
static void exchange(uv_loop_t *loop, uvble_transport_t *t, int peer_fd) {
  rx_t *rx = rx_new();
  REQUIRE_EQ(uvble_transport_start(t, on_recv, on_error, rx), 0);
  /* Controller to host: an event split over writes, an ACL packet, bytes
   * that a tty in cooked mode would mangle (CR, LF, ^C, XON/XOFF, DEL). */
  const uint8_t in[] = {0x04, 0x0e, 0x04, 0x01, 0x03, 0x0c, 0x00,
                        0x02, 0x01, 0x20, 0x08, 0x00, 0x0d, 0x0a, 0x03, 0x11, 0x13, 0x7f, 0x00, 0xff};
  write_all(peer_fd, in, 3);
  run_until_idle(loop, 5000);
  CHECK_EQ(rx->packets, 0);
  write_all(peer_fd, in + 3, sizeof in - 3);
  CHECK(wait_for(loop, rx, 2, 0, 0));
  REQUIRE_EQ(rx->packets, 2);
  CHECK_EQ(rx->types[0], UVBLE_HCI_EVENT);
  CHECK_EQ(rx->lens[0], 6);
  CHECK_MEM(rx->data, cc_evt, 6);
  CHECK_EQ(rx->types[1], UVBLE_HCI_ACL);
  CHECK_EQ(rx->lens[1], 12);
  CHECK_MEM(rx->data + 6, in + 8, 12);
  /* Host to controller: a command and an ACL packet from two iovecs. */
  CHECK_EQ(send1(t, UVBLE_HCI_COMMAND, reset_cmd, sizeof reset_cmd), 0);
  const uint8_t acl_hdr[] = {0x01, 0x00, 0x05, 0x00};
  const uint8_t acl_data[] = {0x0d, 0x0a, 0x11, 0x13, 0x03};
  uvble_iov_t v[2] = {{acl_hdr, 4}, {acl_data, 5}};
  CHECK_EQ(uvble_transport_send(t, UVBLE_HCI_ACL, v, 2), 0);
  uint8_t out[14];
  reader_t rd = {peer_fd, out, 0, sizeof out};
  CHECK(run_until_pred(loop, read_some, &rd, 2000));
  CHECK_MEM(out, "\x01\x03\x0c\x00\x02\x01\x00\x05\x00\x0d\x0a\x11\x13\x03", 14);
  CHECK_EQ(uvble_transport_pending(t), 0);
  /* Malformed sends are refused and nothing is written. */
  CHECK_EQ(send1(t, UVBLE_HCI_COMMAND, reset_cmd, 2), UVBLE_EINVAL);
  CHECK_EQ(send1(t, 0x09, reset_cmd, 3), UVBLE_EINVAL);
  CHECK_EQ(rx->errors, 0);
  uvble_transport_close(t, on_close, rx);
  CHECK_EQ(rx->closes, 0); /* never inside close() */
  CHECK(wait_for(loop, rx, 0, 0, 1));
  free(rx);
}

TEST(unix_both_directions) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  server_t s;
  server_listen_unix(&s);
  uvble_transport_t *t = NULL;
  char err[256] = "";
  REQUIRE_EQ(uvble_transport_open(&loop, s.spec, &t, err, sizeof err), 0);
  CHECK_STR(uvble_transport_name(t), s.spec);
  server_accept(&s);
  exchange(&loop, t, s.cfd);
  /* A packet made of many iovecs (more than one writev takes at once). */
  REQUIRE_EQ(uvble_transport_open(&loop, s.spec, &t, err, sizeof err), 0);
  close(s.cfd);
  server_accept(&s);
  uint8_t hdr[4] = {0x02, 0x00, 40, 0}, bytes[40];
  uvble_iov_t v[41];
  v[0].base = hdr;
  v[0].len = 4;
  for (int i = 0; i < 40; i++) {
    bytes[i] = (uint8_t)(i * 3);
    v[1 + i].base = &bytes[i];
    v[1 + i].len = 1;
  }
  CHECK_EQ(uvble_transport_send(t, UVBLE_HCI_ACL, v, 41), 0);
  CHECK_EQ(uvble_transport_send(t, UVBLE_HCI_ACL, v, 41), 0);
  uint8_t out[2 * 45];
  reader_t rd = {s.cfd, out, 0, sizeof out};
  CHECK(run_until_pred(&loop, read_some, &rd, 2000));
  for (int k = 0; k < 2; k++) {
    CHECK_MEM(out + 45 * k, "\x02\x02\x00\x28\x00", 5);
    CHECK_MEM(out + 45 * k + 5, bytes, 40);
  }
  CHECK_EQ(uvble_transport_pending(t), 0);
  uvble_transport_close(t, NULL, NULL);
  server_close(&s);
  loop_teardown(&loop);
}

TEST(unix_backpressure_partial_writes_and_enobufs) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  server_t s;
  server_listen_unix(&s);
  uvble_transport_t *t = NULL;
  REQUIRE_EQ(uvble_transport_open(&loop, s.spec, &t, NULL, 0), 0);
  server_accept(&s);
  int small = 4096;
  setsockopt(s.cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  rx_t *rx = rx_new();
  REQUIRE_EQ(uvble_transport_start(t, on_recv, on_error, rx), 0);
  /* The peer reads nothing: the socket fills, sends go to the buffer. */
  enum { N = 200, DATA = 4000 };
  REQUIRE_EQ(uvble_transport_set_limit(t, 4 << 20), 0);
  static uint8_t pkt[4 + DATA];
  size_t sent = 0;
  for (unsigned i = 0; i < N; i++) {
    size_t len = make_acl(pkt, DATA, i);
    REQUIRE_EQ(send1(t, UVBLE_HCI_ACL, pkt, len), 0);
    sent += 1 + len;
  }
  size_t pend = uvble_transport_pending(t);
  printf("  pending after %zu bytes: %zu\n", sent, pend);
  CHECK(pend > 0);
  CHECK(pend < sent);
  /* Over the limit: refused, and nothing of it is queued. */
  REQUIRE_EQ(uvble_transport_set_limit(t, pend + 100), 0);
  size_t len = make_acl(pkt, DATA, 9999);
  CHECK_EQ(send1(t, UVBLE_HCI_ACL, pkt, len), UVBLE_ENOBUFS);
  CHECK_EQ(uvble_transport_pending(t), pend);
  REQUIRE_EQ(uvble_transport_set_limit(t, 1 << 20), 0);
  /* The peer drains; everything arrives in order. */
  uint8_t *all = malloc(sent);
  reader_t rd = {s.cfd, all, 0, sent};
  CHECK(run_until_pred(&loop, read_some, &rd, 10000));
  REQUIRE_EQ(rd.have, sent);
  size_t off = 0;
  for (unsigned i = 0; i < N; i++) {
    size_t l = make_acl(pkt, DATA, i);
    CHECK_EQ(all[off], UVBLE_HCI_ACL);
    if (memcmp(all + off + 1, pkt, l) != 0) {
      test_fail(__FILE__, __LINE__, "packet %u differs", i);
      break;
    }
    off += 1 + l;
  }
  CHECK_EQ(uvble_transport_pending(t), 0);
  /* Sending works directly again once the buffer is empty. */
  CHECK_EQ(send1(t, UVBLE_HCI_COMMAND, reset_cmd, 3), 0);
  uint8_t four[4];
  reader_t rd2 = {s.cfd, four, 0, 4};
  CHECK(run_until_pred(&loop, read_some, &rd2, 2000));
  CHECK_MEM(four, "\x01\x03\x0c\x00", 4);
  CHECK_EQ(rx->errors, 0);
  free(all);
  uvble_transport_close(t, on_close, rx);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rx->closes, 1);
  free(rx);
  server_close(&s);
  loop_teardown(&loop);
}

TEST(unix_peer_close_is_econnreset_once) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  server_t s;
  server_listen_unix(&s);
  uvble_transport_t *t = NULL;
  REQUIRE_EQ(uvble_transport_open(&loop, s.spec, &t, NULL, 0), 0);
  server_accept(&s);
  rx_t *rx = rx_new();
  REQUIRE_EQ(uvble_transport_start(t, on_recv, on_error, rx), 0);
  /* A packet, then half of one, then the peer goes away. */
  write_all(s.cfd, "\x04\x0e\x04\x01\x03\x0c\x00\x04\x0e", 9);
  close(s.cfd);
  s.cfd = -1;
  CHECK(wait_for(&loop, rx, 1, 1, 0));
  CHECK_EQ(rx->packets, 1);
  CHECK_EQ(rx->errors, 1);
  CHECK_EQ(rx->last_err, UVBLE_ECONNRESET);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rx->errors, 1);
  /* After an error, sends are refused. */
  CHECK_EQ(send1(t, UVBLE_HCI_COMMAND, reset_cmd, 3), UVBLE_EPIPE);
  uvble_transport_close(t, on_close, rx);
  run_until_idle(&loop, 5000);
  CHECK_EQ(rx->closes, 1);
  CHECK_EQ(rx->errors, 1);
  free(rx);
  server_close(&s);
  loop_teardown(&loop);
}

TEST(unix_framing_error_is_eproto_and_close_in_error_cb) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  server_t s;
  server_listen_unix(&s);
  uvble_transport_t *t = NULL;
  REQUIRE_EQ(uvble_transport_open(&loop, s.spec, &t, NULL, 0), 0);
  server_accept(&s);
  rx_t *rx = rx_new();
  rx->close_in_error = true;
  REQUIRE_EQ(uvble_transport_start(t, on_recv, on_error, rx), 0);
  /* A good event, an unknown indicator, another good event. */
  write_all(s.cfd, "\x04\x0e\x00\x09\x04\x0e\x00", 7);
  CHECK(wait_for(&loop, rx, 1, 1, 1));
  CHECK_EQ(rx->packets, 1);
  CHECK_EQ(rx->errors, 1);
  CHECK_EQ(rx->last_err, UVBLE_EPROTO);
  CHECK_EQ(rx->closes, 1);
  free(rx);
  server_close(&s);
  loop_teardown(&loop);
}

TEST(unix_close_inside_recv_cb) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  server_t s;
  server_listen_unix(&s);
  uvble_transport_t *t = NULL;
  REQUIRE_EQ(uvble_transport_open(&loop, s.spec, &t, NULL, 0), 0);
  server_accept(&s);
  rx_t *rx = rx_new();
  rx->close_in_recv = true;
  REQUIRE_EQ(uvble_transport_start(t, on_recv, on_error, rx), 0);
  /* Three packets in one read, then EOF: only the first is handed up, and
   * neither the others nor the EOF are reported after close. */
  write_all(s.cfd, "\x04\x0e\x00\x04\x0e\x00\x04\x0e\x00", 9);
  close(s.cfd);
  s.cfd = -1;
  CHECK(wait_for(&loop, rx, 1, 0, 1));
  run_until_idle(&loop, 5000);
  CHECK_EQ(rx->packets, 1);
  CHECK_EQ(rx->errors, 0);
  CHECK_EQ(rx->closes, 1);
  free(rx);
  server_close(&s);
  loop_teardown(&loop);
}

/* ---- tcp: --------------------------------------------------------------- */

TEST(tcp_loopback) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(lfd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  REQUIRE(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0);
  REQUIRE(listen(lfd, 4) == 0);
  REQUIRE(getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
  char spec[64];
  snprintf(spec, sizeof spec, "tcp:127.0.0.1:%u", ntohs(sa.sin_port));
  uvble_transport_t *t = NULL;
  char err[256] = "";
  REQUIRE_EQ(uvble_transport_open(&loop, spec, &t, err, sizeof err), 0);
  CHECK_STR(uvble_transport_name(t), spec);
  int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  REQUIRE(cfd >= 0);
  exchange(&loop, t, cfd);
  close(cfd);
  /* By name, too. */
  snprintf(spec, sizeof spec, "tcp:localhost:%u", ntohs(sa.sin_port));
  REQUIRE_EQ(uvble_transport_open(&loop, spec, &t, err, sizeof err), 0);
  cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  REQUIRE(cfd >= 0);
  exchange(&loop, t, cfd);
  close(cfd);
  close(lfd);
  /* Nobody listening any more. */
  snprintf(spec, sizeof spec, "tcp:127.0.0.1:%u", ntohs(sa.sin_port));
  CHECK_EQ(uvble_transport_open(&loop, spec, &t, err, sizeof err), -ECONNREFUSED);
  CHECK(strstr(err, spec) && strstr(err, "refused"));
  CHECK(uvble_transport_open(&loop, "tcp:no-such-host.invalid:4000", &t, err, sizeof err) < 0);
  CHECK(strstr(err, "no-such-host.invalid") != NULL);
  loop_teardown(&loop);
}

/* ---- uart: -------------------------------------------------------------- */

static int open_pty(char *name, size_t n) {
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, name, n)) return -1;
  fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
  return m;
}

TEST(uart_over_a_pty) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  char pts[128], spec[256], err[256] = "";
  int m = open_pty(pts, sizeof pts);
  REQUIRE(m >= 0);
  snprintf(spec, sizeof spec, "uart:%s?baud=1000000&flow=1", pts);
  uvble_transport_t *t = NULL;
  REQUIRE_EQ(uvble_transport_open(&loop, spec, &t, err, sizeof err), 0);
  CHECK_STR(uvble_transport_name(t), spec);
  /* The line is raw, at the rate asked, with RTS/CTS. */
  int sfd = open(pts, O_RDWR | O_NOCTTY | O_CLOEXEC);
  REQUIRE(sfd >= 0);
  struct termios tio;
  REQUIRE(tcgetattr(sfd, &tio) == 0);
  CHECK_EQ(cfgetospeed(&tio), B1000000);
  CHECK_EQ(cfgetispeed(&tio), B1000000);
  CHECK(tio.c_cflag & CRTSCTS);
  CHECK(!(tio.c_lflag & (ICANON | ECHO | ISIG)));
  CHECK(!(tio.c_iflag & (IXON | ICRNL)));
  CHECK(!(tio.c_oflag & OPOST));
  close(sfd);
  exchange(&loop, t, m);
  close(m);
  loop_teardown(&loop);
}

TEST(uart_every_standard_baud_and_flow_off) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  static const unsigned long rates[] = {
      50,     75,     110,    134,    150,     200,     300,     600,     1200,    1800,
      2400,   4800,   9600,   19200,  38400,   57600,   115200,  230400,  460800,  500000,
      576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000};
  char pts[128], spec[256], err[256];
  int m = open_pty(pts, sizeof pts);
  REQUIRE(m >= 0);
  for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
    snprintf(spec, sizeof spec, "uart:%s?flow=0&baud=%lu", pts, rates[i]);
    uvble_transport_t *t = NULL;
    err[0] = '\0';
    int rc = uvble_transport_open(&loop, spec, &t, err, sizeof err);
    if (rc != 0) {
      test_fail(__FILE__, __LINE__, "%s: %d %s", spec, rc, err);
      continue;
    }
    int sfd = open(pts, O_RDWR | O_NOCTTY | O_CLOEXEC);
    struct termios tio;
    CHECK(sfd >= 0 && tcgetattr(sfd, &tio) == 0);
    CHECK(!(tio.c_cflag & CRTSCTS));
    if (sfd >= 0) close(sfd);
    uvble_transport_close(t, NULL, NULL);
    run_until_idle(&loop, 5000);
  }
  /* Default when no options: 115200. */
  snprintf(spec, sizeof spec, "uart:%s", pts);
  uvble_transport_t *t = NULL;
  REQUIRE_EQ(uvble_transport_open(&loop, spec, &t, err, sizeof err), 0);
  int sfd = open(pts, O_RDWR | O_NOCTTY | O_CLOEXEC);
  struct termios tio;
  CHECK(sfd >= 0 && tcgetattr(sfd, &tio) == 0);
  CHECK_EQ(cfgetospeed(&tio), B115200);
  if (sfd >= 0) close(sfd);
  uvble_transport_close(t, NULL, NULL);
  close(m);
  loop_teardown(&loop);
}

/* ---- the in-memory pair ------------------------------------------------- */

TEST(mem_pair_order_and_not_reentrant) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *a, *b;
  REQUIRE_EQ(uvble_transport_mem_pair(&loop, &a, &b), 0);
  CHECK_STR(uvble_transport_name(a), "mem");
  rx_t *ra = rx_new(), *rb = rx_new();
  REQUIRE_EQ(uvble_transport_start(a, on_recv, on_error, ra), 0);
  REQUIRE_EQ(uvble_transport_start(b, on_recv, on_error, rb), 0);
  static uint8_t pkt[4 + 300];
  size_t total = 0;
  for (unsigned i = 0; i < 200; i++) {
    size_t len = make_acl(pkt, i + 1, i);
    REQUIRE_EQ(send1(a, UVBLE_HCI_ACL, pkt, len), 0);
    total += 1 + len;
  }
  CHECK_EQ(send1(a, UVBLE_HCI_EVENT, cc_evt, sizeof cc_evt), 0);
  total += 7;
  /* Nothing is delivered inside send(). */
  CHECK_EQ(rb->packets, 0);
  CHECK_EQ(uvble_transport_pending(a), total);
  CHECK_EQ(uvble_transport_pending(b), 0);
  /* One loop iteration delivers everything that was queued, in order. */
  uv_run(&loop, UV_RUN_NOWAIT);
  REQUIRE_EQ(rb->packets, 201);
  CHECK_EQ(uvble_transport_pending(a), 0);
  size_t off = 0;
  for (unsigned i = 0; i < 200; i++) {
    size_t len = make_acl(pkt, i + 1, i);
    CHECK_EQ(rb->types[i], UVBLE_HCI_ACL);
    CHECK_EQ(rb->lens[i], len);
    CHECK_MEM(rb->data + off, pkt, len);
    off += len;
  }
  CHECK_EQ(rb->types[200], UVBLE_HCI_EVENT);
  CHECK_MEM(rb->data + off, cc_evt, sizeof cc_evt);
  CHECK_EQ(ra->packets, 0);
  /* Ping-pong: b echoes to a from inside its recv_cb; the echo is not
   * delivered until a later iteration, so callbacks never nest. */
  rb->echo_to = b;
  for (unsigned i = 0; i < 1000; i++) {
    size_t len = make_acl(pkt, 10, i);
    REQUIRE_EQ(send1(a, UVBLE_HCI_ACL, pkt, len), 0);
  }
  /* Two iterations: b gets all 1000 in one, a all the echoes in the next. */
  for (int i = 0; i < 2; i++) uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ(ra->packets, 1000);
  CHECK_EQ(ra->max_depth, 1);
  CHECK_EQ(rb->max_depth, 1);
  for (unsigned i = 0; i < 1000 && i < ra->packets; i++) {
    size_t len = make_acl(pkt, 10, i);
    if (memcmp(ra->data + i * len, pkt, len) != 0) {
      test_fail(__FILE__, __LINE__, "echo %u out of order", i);
      break;
    }
  }
  uvble_transport_close(a, on_close, ra);
  uvble_transport_close(b, on_close, rb);
  loop_teardown(&loop);
  CHECK_EQ(ra->closes, 1);
  CHECK_EQ(rb->closes, 1);
  /* Closing both at once: neither reports the other's close. */
  CHECK_EQ(ra->errors, 0);
  CHECK_EQ(rb->errors, 0);
  free(ra);
  free(rb);
}

TEST(mem_pair_close_gives_peer_econnreset_after_queued_packets) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *a, *b;
  REQUIRE_EQ(uvble_transport_mem_pair(&loop, &a, &b), 0);
  rx_t *rb = rx_new();
  REQUIRE_EQ(uvble_transport_start(b, on_recv, on_error, rb), 0);
  CHECK_EQ(send1(a, UVBLE_HCI_EVENT, cc_evt, sizeof cc_evt), 0);
  CHECK_EQ(send1(a, UVBLE_HCI_EVENT, cc_evt, sizeof cc_evt), 0);
  uvble_transport_close(a, NULL, NULL);
  CHECK_EQ(rb->errors, 0); /* not inside close() either */
  for (int i = 0; i < 10; i++) uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ(rb->packets, 2);
  CHECK_EQ(rb->errors, 1);
  CHECK_EQ(rb->last_err, UVBLE_ECONNRESET);
  CHECK_EQ(send1(b, UVBLE_HCI_COMMAND, reset_cmd, 3), UVBLE_EPIPE);
  CHECK_EQ(uvble_transport_pending(b), 0);
  uvble_transport_close(b, NULL, NULL);
  loop_teardown(&loop);
  free(rb);

  /* A peer that starts only after the close still hears about it. */
  uv_loop_init(&loop);
  REQUIRE_EQ(uvble_transport_mem_pair(&loop, &a, &b), 0);
  rb = rx_new();
  uvble_transport_close(a, NULL, NULL);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(uvble_transport_start(b, on_recv, on_error, rb), 0);
  CHECK_EQ(rb->errors, 0);
  for (int i = 0; i < 10; i++) uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ(rb->errors, 1);
  CHECK_EQ(rb->last_err, UVBLE_ECONNRESET);
  uvble_transport_close(b, NULL, NULL);
  loop_teardown(&loop);
  free(rb);
}

TEST(mem_pair_enobufs_when_full) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *a, *b;
  REQUIRE_EQ(uvble_transport_mem_pair(&loop, &a, &b), 0);
  rx_t *rb = rx_new();
  REQUIRE_EQ(uvble_transport_set_limit(a, 10000), 0);
  CHECK_EQ(uvble_transport_set_limit(a, 0), UVBLE_EINVAL);
  static uint8_t pkt[4 + 1000];
  size_t len = make_acl(pkt, 1000, 1);
  /* 1004-byte packets cost 1008 bytes of queue each: 9 fit in 10000. */
  int ok = 0, rc;
  while ((rc = send1(a, UVBLE_HCI_ACL, pkt, len)) == 0) ok++;
  CHECK_EQ(rc, UVBLE_ENOBUFS);
  CHECK_EQ(ok, 9);
  CHECK_EQ(uvble_transport_pending(a), 9 * (1 + len));
  /* Changing the limit while packets wait is refused. */
  CHECK_EQ(uvble_transport_set_limit(a, 1 << 20), UVBLE_EBUSY);
  /* The other direction is independent. */
  CHECK_EQ(send1(b, UVBLE_HCI_COMMAND, reset_cmd, 3), 0);
  REQUIRE_EQ(uvble_transport_start(b, on_recv, on_error, rb), 0);
  for (int i = 0; i < 5; i++) uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ(rb->packets, 9);
  CHECK_EQ(uvble_transport_pending(a), 0);
  /* Room again, and wrapping around the buffer keeps packets whole. */
  for (unsigned round = 0; round < 50; round++) {
    for (unsigned i = 0; i < 5; i++) {
      len = make_acl(pkt, 200 + round * 7 + i, round + i);
      REQUIRE_EQ(send1(a, UVBLE_HCI_ACL, pkt, len), 0);
    }
    size_t before = rb->packets;
    rb->bytes = 0; /* keep only this round's packets */
    uv_run(&loop, UV_RUN_NOWAIT);
    REQUIRE_EQ(rb->packets, before + 5);
    size_t off = 0;
    for (unsigned i = 0; i < 5; i++) {
      len = make_acl(pkt, 200 + round * 7 + i, round + i);
      CHECK_MEM(rb->data + off, pkt, len);
      off += len;
    }
  }
  CHECK_EQ(uvble_transport_set_limit(a, 1 << 20), 0);
  uvble_transport_close(a, NULL, NULL);
  uvble_transport_close(b, NULL, NULL);
  loop_teardown(&loop);
  free(rb);
}

TEST(mem_pair_queue_wraps_around_with_packets_whole) {
  /* b's recv_cb sends a copy of each packet it gets back towards itself, so
   * the queue always holds a few packets while its head moves: records get
   * written at the end of the buffer, then wrap to the front. */
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *a, *b;
  REQUIRE_EQ(uvble_transport_mem_pair(&loop, &a, &b), 0);
  REQUIRE_EQ(uvble_transport_set_limit(a, 10000), 0);
  rx_t *rb = rx_new();
  rb->echo_to = a;
  rb->echo_limit = 3000;
  static uint8_t pkt[4 + 1000];
  enum { K = 7 };
  for (unsigned i = 0; i < K; i++) {
    size_t len = make_acl(pkt, 100 + i * 131, i);
    REQUIRE_EQ(send1(a, UVBLE_HCI_ACL, pkt, len), 0);
  }
  REQUIRE_EQ(uvble_transport_start(b, on_recv, on_error, rb), 0);
  CHECK(wait_for(&loop, rb, 3000 + K - 1, 0, 0));
  CHECK_EQ(rb->errors, 0);
  /* The stream is the first K packets over and over. */
  size_t off = 0;
  for (size_t i = 0; i < 4096 && i < rb->packets; i++) {
    size_t len = make_acl(pkt, 100 + (i % K) * 131, (unsigned)(i % K));
    if (rb->lens[i] != len) {
      test_fail(__FILE__, __LINE__, "packet %zu: length %zu, want %zu", i, rb->lens[i], len);
      break;
    }
    if (off + len > sizeof rb->data) break;
    if (memcmp(rb->data + off, pkt, len) != 0) {
      test_fail(__FILE__, __LINE__, "packet %zu differs", i);
      break;
    }
    off += len;
  }
  uvble_transport_close(a, NULL, NULL);
  uvble_transport_close(b, NULL, NULL);
  loop_teardown(&loop);
  free(rb);
}

TEST(mem_pair_close_inside_recv_cb) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *a, *b;
  REQUIRE_EQ(uvble_transport_mem_pair(&loop, &a, &b), 0);
  rx_t *ra = rx_new(), *rb = rx_new();
  rb->close_in_recv = true;
  REQUIRE_EQ(uvble_transport_start(a, on_recv, on_error, ra), 0);
  REQUIRE_EQ(uvble_transport_start(b, on_recv, on_error, rb), 0);
  for (int i = 0; i < 5; i++) CHECK_EQ(send1(a, UVBLE_HCI_EVENT, cc_evt, sizeof cc_evt), 0);
  for (int i = 0; i < 10; i++) uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_EQ(rb->packets, 1);
  CHECK_EQ(rb->closes, 1);
  CHECK_EQ(rb->errors, 0);
  /* a learns that b went away. */
  CHECK_EQ(ra->errors, 1);
  CHECK_EQ(ra->last_err, UVBLE_ECONNRESET);
  CHECK_EQ(send1(a, UVBLE_HCI_EVENT, cc_evt, sizeof cc_evt), UVBLE_EPIPE);
  uvble_transport_close(a, on_close, ra);
  /* Calls after close are refused, not crashes. */
  CHECK_EQ(send1(a, UVBLE_HCI_EVENT, cc_evt, sizeof cc_evt), UVBLE_EPIPE);
  CHECK_EQ(uvble_transport_pending(a), 0);
  loop_teardown(&loop);
  CHECK_EQ(ra->closes, 1);
  free(ra);
  free(rb);
}

TEST(mem_pair_send_validation) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvble_transport_t *a, *b;
  REQUIRE_EQ(uvble_transport_mem_pair(&loop, &a, &b), 0);
  static uint8_t big[5000];
  memset(big, 0, sizeof big);
  CHECK_EQ(send1(a, 0x00, reset_cmd, 3), UVBLE_EINVAL);
  CHECK_EQ(send1(a, 0x06, reset_cmd, 3), UVBLE_EINVAL);
  CHECK_EQ(send1(a, UVBLE_HCI_COMMAND, reset_cmd, 2), UVBLE_EINVAL);  /* short header */
  CHECK_EQ(send1(a, UVBLE_HCI_EVENT, cc_evt, 5), UVBLE_EINVAL);       /* length mismatch */
  big[2] = 0x01;
  big[3] = 0x10; /* ACL data length 4097 */
  CHECK_EQ(send1(a, UVBLE_HCI_ACL, big, 4 + 4097), UVBLE_EINVAL);
  CHECK_EQ(uvble_transport_send(a, UVBLE_HCI_ACL, NULL, 1), UVBLE_EINVAL);
  CHECK_EQ(uvble_transport_start(a, NULL, NULL, NULL), UVBLE_EINVAL);
  CHECK_EQ(uvble_transport_pending(a), 0);
  /* A zero-length payload is fine. */
  CHECK_EQ(send1(a, UVBLE_HCI_COMMAND, reset_cmd, 3), 0);
  uvble_transport_close(a, NULL, NULL);
  uvble_transport_close(b, NULL, NULL);
  loop_teardown(&loop);
}

TEST_MAIN()
