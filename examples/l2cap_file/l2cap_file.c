/* SPDX-License-Identifier: Apache-2.0 */
/* l2cap_file: send a file over an LE credit-based L2CAP channel.
 *
 *   uvble-l2cap-file recv [-t T] [--name NAME] [--psm PSM] [-o DIR|FILE] [--once]
 *                         [--timeout S]
 *       advertises as NAME (default uvble-file), accepts channels on PSM
 *       (default 0x80) and stores each file it receives under DIR (default
 *       the current directory; or as FILE).
 *   uvble-l2cap-file send FILE [-t T] [--name NAME | --address ADDR] [--psm PSM]
 *                         [--timeout S]
 *       finds the receiver, opens a channel and sends FILE, on a link with
 *       the bulk-transfer parameters (UVBLE_CONN_PARAMS_THROUGHPUT).
 *
 * --timeout bounds each step, not the transfer: connecting, the channel
 * taking the next SDU, the next SDU arriving (default 10 s). A transfer
 * takes as long as the link needs; it breaks off only when nothing moves.
 *
 * On the channel: a header SDU ("UVBF", version 1, size as u64 LE, name
 * length u16 LE, name), the file's bytes, then its SHA-256 (32 bytes); the
 * receiver answers with one SDU, "OK" or "BAD", and the SHA-256 of what it
 * got. The channel's credits are the flow control: the receiver grants
 * them only as it reads, so a slow disk slows the sender and nothing is
 * lost. Both sides draw a progress bar on a terminal (stderr) and print
 * the throughput and the checksum; the sender exits 0 only when the
 * receiver's checksum matches. */
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "uvble/async.h"
#include "uvble/co.h"
#include "uvble/uvble.h"

#define CHAN_MTU 4096
#define CHUNK 65536
#define OP_TIMEOUT_MS 10000 /* --timeout's default */
#define FIND_S 10 /* how long the sender looks for the receiver */
#define HDR_MAX (15 + 255)

static struct app {
  uv_loop_t *loop;
  uvble_t *ble;
  uvble_async_t *a;
  uvble_sched_t *sched;
  uv_signal_t sigint, sigterm;
  uv_timer_t quit_timer;
  uvble_future_t quit_f; /* the disconnect when quitting */
  bool sender, once, quitting;
  int exit_code;
  const char *name, *address, *path, *out;
  uint16_t psm;
  uint32_t op_ms; /* --timeout */
  uvble_task_t task;
  uvble_future_t f;
  uvble_scan_t *scan;
  uvble_device_t dev;
  bool found;
  uvble_connection_t *conn;
  uvble_l2cap_channel_t *ch;
  FILE *file;
  char fname[256], outpath[4096];
  uint64_t size, done;
  uint64_t t0;
  crypto_hash_sha256_state sha;
  uint8_t digest[32], peer_digest[32];
  size_t tlen; /* trailer bytes received */
  uint8_t buf[CHUNK];
  size_t len, off;
  int last_pct;
} A;

/* ---- lifecycle -------------------------------------------------------------------- */

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static bool links_up(void) { return A.conn && uvble_connection_is_connected(A.conn); }

static void on_quit_timer(uv_timer_t *t) {
  static int waited;
  if (links_up() && waited++ < 25) return;
  uv_timer_stop(t);
  uvble_async_close(A.a, NULL, NULL);
  close_handle((uv_handle_t *)t);
}

static void quit(int code) {
  if (A.quitting) return;
  A.quitting = true;
  A.exit_code = code;
  close_handle((uv_handle_t *)&A.sigint);
  close_handle((uv_handle_t *)&A.sigterm);
  /* Closing the handles restores the default action: a second Ctrl-C
   * (timeout(1) sends one to the process and one to its group) must
   * not kill the clean shutdown that is under way. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  if (links_up()) uvble_connection_disconnect(&A.quit_f, A.conn, 500);
  uv_timer_start(&A.quit_timer, on_quit_timer, 0, 20);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  quit(A.sender ? 1 : 0);
}

static void on_fatal(uvble_t *ble, int status) {
  (void)ble;
  fprintf(stderr, "l2cap_file: the controller failed: %s\n", uvble_strerror(status));
  quit(1);
}

static int failed(const char *what, int status) {
  char why[160];
  /* The protocol status (an L2CAP result, say) by name when the future
   * that failed carries one. */
  if (!A.quitting)
    fprintf(stderr, "l2cap_file: %s: %s\n", what,
            cli_status(status, status == A.f.status ? A.f.proto_status : -1, why, sizeof why));
  quit(1);
  return status ? status : 1;
}

/* ---- progress ------------------------------------------------------------------ */

static double secs(void) { return (uv_hrtime() - A.t0) / 1e9; }

static void progress(bool final) {
  if (!isatty(STDERR_FILENO) || !A.size) return;
  int pct = (int)(A.done * 100 / A.size);
  if (pct == A.last_pct && !final) return;
  A.last_pct = pct;
  char bar[41];
  int fill = pct * 40 / 100;
  for (int i = 0; i < 40; i++) bar[i] = i < fill ? '#' : '.';
  bar[40] = 0;
  double s = secs();
  fprintf(stderr, "\r[%s] %3d%% %8.1f kB/s", bar, pct, s > 0 ? A.done / s / 1000 : 0);
  if (final) fputc('\n', stderr);
}

static void hex(const uint8_t *d, char out[65]) {
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void summary(const char *verb, bool ok) {
  double s = secs();
  char h[65];
  hex(A.digest, h);
  printf("%s %s (%llu bytes) in %.2f s, %.1f kB/s, sha256 %s %s\n", verb, A.fname,
         (unsigned long long)A.size, s, s > 0 ? A.size / s / 1000 : 0, h,
         ok ? "OK" : "MISMATCH");
  fflush(stdout);
}

/* ---- sender --------------------------------------------------------------------------- */

static bool wanted(const uvble_scan_result_t *r) {
  if (A.address) {
    uvble_device_t d;
    return uvble_device_parse(&d, r->device.addr.type, A.address) == 0 &&
           uvble_device_equal(&d, &r->device);
  }
  char name[64];
  return uvble_scan_result_name(r, name, sizeof name) >= 0 && strcmp(name, A.name) == 0;
}

static size_t make_header(uint8_t *h) {
  const char *base = strrchr(A.path, '/');
  base = base ? base + 1 : A.path;
  size_t nl = strlen(base) > 255 ? 255 : strlen(base);
  memcpy(h, "UVBF", 4);
  h[4] = 1;
  for (int i = 0; i < 8; i++) h[5 + i] = (uint8_t)(A.size >> (8 * i));
  h[13] = (uint8_t)nl;
  h[14] = 0;
  memcpy(h + 15, base, nl);
  snprintf(A.fname, sizeof A.fname, "%.*s", (int)nl, base);
  return 15 + nl;
}


/* The most the channel sends as one SDU (uvble_l2cap_channel_send's rule:
 * the peer's MTU, at most twice ours), capped at n. */
static size_t sdu_len(size_t n) {
  size_t max = uvble_l2cap_channel_peer_mtu(A.ch);
  size_t ours = (size_t)uvble_l2cap_channel_our_mtu(A.ch) * 2;
  if (ours < max) max = ours;
  return n < max ? n : max;
}
static int send_fn(uvble_task_t *t) {
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&A.f, A.a, 10000), &A.f));
  if (A.f.status) UVBLE_CO_RETURN(t, failed("starting the controller", A.f.status));
  {
    uvble_scan_params_t p = {.duration_ms = FIND_S * 1000, .interval_us = 100000,
                             .window_us = 100000, .active = true};
    if (uvble_scan_start(A.a, &p, &A.scan) < 0) A.scan = NULL;
  }
  while (A.scan) {
    UVBLE_AWAIT(t, (uvble_scan_next(&A.f, A.scan, 0), &A.f));
    if (A.f.status) break;
    if (wanted(A.f.result.scan)) {
      A.dev = A.f.result.scan->device;
      A.found = true;
      break;
    }
  }
  if (A.scan) uvble_scan_free(A.scan);
  A.scan = NULL;
  if (A.quitting) UVBLE_CO_RETURN(t, 1);
  if (!A.found) {
    fprintf(stderr, "l2cap_file: receiver %s not found within %d s\n",
            A.address ? A.address : A.name, FIND_S);
    quit(1);
    UVBLE_CO_RETURN(t, 1);
  }
  {
    /* Short intervals with long events: many PDUs per interval. */
    uvble_connect_params_t cp = {.conn = UVBLE_CONN_PARAMS_THROUGHPUT};
    uvble_device_connect(&A.f, A.a, &A.dev, &cp, A.op_ms);
  }
  UVBLE_AWAIT(t, &A.f);
  if (A.f.status) UVBLE_CO_RETURN(t, failed("connecting", A.f.status));
  A.conn = A.f.result.conn;
  /* The receiver listens before it advertises, so the channel can open at
   * once. */
  UVBLE_AWAIT(t, (uvble_connection_l2cap_connect(&A.f, A.conn, A.psm, CHAN_MTU,
                                                 A.op_ms),
                  &A.f));
  if (A.f.status) UVBLE_CO_RETURN(t, failed("opening the channel", A.f.status));
  A.ch = A.f.result.channel;
  A.t0 = uv_hrtime();
  A.len = make_header(A.buf);
  UVBLE_AWAIT(t, (uvble_l2cap_channel_send(&A.f, A.ch, A.buf, A.len, 0, A.op_ms),
                  &A.f));
  if (A.f.status) UVBLE_CO_RETURN(t, failed("sending", A.f.status));
  crypto_hash_sha256_init(&A.sha);
  while (A.done < A.size) {
    A.len = fread(A.buf, 1, sizeof A.buf, A.file);
    if (A.len == 0) UVBLE_CO_RETURN(t, failed("reading the file", UVBLE_EIO));
    crypto_hash_sha256_update(&A.sha, A.buf, A.len);
    /* One SDU per send: the timeout then bounds how long the channel may
     * take no SDU at all (a stalled peer), not how long 64 KiB takes,
     * which on a slow link (27-byte PDUs, a busy radio) is well over 10 s.
     * The channel takes the next SDU as soon as credits allow, so the
     * link stays as busy as with one big send. */
    for (A.off = 0; A.off < A.len; A.off += A.f.len) {
      UVBLE_AWAIT(t, (uvble_l2cap_channel_send(&A.f, A.ch, A.buf + A.off, sdu_len(A.len - A.off),
                                               0, A.op_ms),
                      &A.f));
      if (A.f.status || !A.f.len)
        UVBLE_CO_RETURN(t, failed("sending", A.f.status ? A.f.status : UVBLE_EIO));
      A.done += A.f.len;
      progress(false);
    }
  }
  crypto_hash_sha256_final(&A.sha, A.digest);
  memcpy(A.buf, A.digest, 32);
  UVBLE_AWAIT(t, (uvble_l2cap_channel_send(&A.f, A.ch, A.buf, 32, 0, A.op_ms), &A.f));
  if (A.f.status) UVBLE_CO_RETURN(t, failed("sending", A.f.status));
  /* The receiver's verdict. */
  UVBLE_AWAIT(t, (uvble_l2cap_channel_recvinto(&A.f, A.ch, A.buf, sizeof A.buf,
                                                 A.op_ms > 60000 ? A.op_ms : 60000),
                  &A.f));
  if (A.f.status) UVBLE_CO_RETURN(t, failed("waiting for the receiver", A.f.status));
  progress(true);
  {
    bool ok = A.f.len >= 34 && memcmp(A.buf, "OK", 2) == 0 &&
              memcmp(A.buf + 2, A.digest, 32) == 0;
    summary("sent", ok);
    A.exit_code = ok ? 0 : 1;
  }
  UVBLE_AWAIT(t, (uvble_l2cap_channel_disconnect(&A.f, A.ch, A.op_ms), &A.f));
  UVBLE_AWAIT(t, (uvble_connection_disconnect(&A.f, A.conn, A.op_ms), &A.f));
  quit(A.exit_code);
  UVBLE_CO_END(t);
}

/* ---- receiver --------------------------------------------------------------------------- */

static int parse_header(const uint8_t *h, size_t n) {
  if (n < 15 || memcmp(h, "UVBF", 4) != 0 || h[4] != 1) return -1;
  A.size = 0;
  for (int i = 0; i < 8; i++) A.size |= (uint64_t)h[5 + i] << (8 * i);
  size_t nl = h[13] | (size_t)h[14] << 8;
  if (nl == 0 || nl > 255 || 15 + nl > n) return -1;
  /* Only a plain name: no directories, nothing hidden. */
  snprintf(A.fname, sizeof A.fname, "%.*s", (int)nl, (const char *)h + 15);
  for (char *p = A.fname; *p; p++)
    if (*p == '/' || *p == '\\' || (unsigned char)*p < 0x20) *p = '_';
  if (A.fname[0] == '.') A.fname[0] = '_';
  struct stat st;
  if (A.out && (stat(A.out, &st) < 0 || !S_ISDIR(st.st_mode)))
    snprintf(A.outpath, sizeof A.outpath, "%s", A.out);
  else
    snprintf(A.outpath, sizeof A.outpath, "%s/%s", A.out ? A.out : ".", A.fname);
  return 0;
}

/* Takes a received SDU: file bytes first, then the 32-byte trailer. */
static int take(const uint8_t *p, size_t n) {
  uint64_t want = A.size - A.done;
  size_t d = n < want ? n : (size_t)want;
  if (d) {
    if (fwrite(p, 1, d, A.file) != d) return UVBLE_EIO;
    crypto_hash_sha256_update(&A.sha, p, d);
    A.done += d;
    progress(false);
  }
  size_t rest = n - d;
  if (A.tlen + rest > 32) return UVBLE_EPROTO;
  memcpy(A.peer_digest + A.tlen, p + d, rest);
  A.tlen += rest;
  return 0;
}

static int recv_fn(uvble_task_t *t) {
  char addr[UVBLE_ADDR_STR_LEN];
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&A.f, A.a, 10000), &A.f));
  if (A.f.status) UVBLE_CO_RETURN(t, failed("starting the controller", A.f.status));
  uvble_config_set_name(A.ble, A.name, strlen(A.name));
  {
    /* Listening before advertising: a sender may open its channel as soon
     * as the link is up. */
    int r = uvble_async_l2cap_listen(A.a, A.psm, CHAN_MTU);
    if (r < 0) UVBLE_CO_RETURN(t, failed("listening", r));
  }
  while (!A.quitting) {
    {
      uvble_advertise_params_t p;
      uvble_advertise_params_init(&p);
      p.interval_us = 100000;
      p.fields.name = A.name;
      uvble_addr_t mac;
      uvble_config_get_mac(A.ble, &mac);
      printf("advertising as %s (%s), PSM 0x%02x\n", uvble_addr_to_str(&mac, addr), A.name,
             A.psm);
      fflush(stdout);
      uvble_advertise(&A.f, A.a, &p, 0);
    }
    UVBLE_AWAIT(t, &A.f);
    if (A.f.status) break;
    A.conn = A.f.result.conn;
    UVBLE_AWAIT(t, (uvble_connection_l2cap_accept(&A.f, A.conn, A.psm, CHAN_MTU, 0), &A.f));
    if (A.f.status) goto next;
    A.ch = A.f.result.channel;
    UVBLE_AWAIT(t, (uvble_l2cap_channel_recvinto(&A.f, A.ch, A.buf, sizeof A.buf,
                                                 A.op_ms),
                    &A.f));
    if (A.f.status || parse_header(A.buf, A.f.len) < 0) {
      fprintf(stderr, "l2cap_file: no valid header\n");
      goto next;
    }
    A.file = fopen(A.outpath, "wb");
    if (!A.file) {
      perror(A.outpath);
      goto next;
    }
    A.t0 = uv_hrtime();
    A.done = A.tlen = 0;
    A.last_pct = -1;
    crypto_hash_sha256_init(&A.sha);
    while (A.done < A.size || A.tlen < 32) {
      UVBLE_AWAIT(t, (uvble_l2cap_channel_recvinto(&A.f, A.ch, A.buf, sizeof A.buf,
                                                   A.op_ms),
                      &A.f));
      if (A.f.status || take(A.buf, A.f.len) < 0) break;
    }
    fclose(A.file);
    A.file = NULL;
    if (A.done < A.size || A.tlen < 32) {
      fprintf(stderr, "l2cap_file: transfer of %s broken off after %llu bytes: %s\n",
              A.fname, (unsigned long long)A.done,
              A.f.status ? uvble_strerror(A.f.status) : "protocol error");
      goto next;
    }
    crypto_hash_sha256_final(&A.sha, A.digest);
    progress(true);
    {
      bool ok = memcmp(A.digest, A.peer_digest, 32) == 0;
      summary("received", ok);
      printf("saved as %s\n", A.outpath);
      fflush(stdout);
      memcpy(A.buf, ok ? "OK" : "NO", 2);
      memcpy(A.buf + 2, A.digest, 32);
    }
    UVBLE_AWAIT(t, (uvble_l2cap_channel_send(&A.f, A.ch, A.buf, 34, 0, A.op_ms), &A.f));
    /* The sender closes the channel and the link once it has the verdict. */
    UVBLE_AWAIT(t, (uvble_connection_disconnected(&A.f, A.conn, A.op_ms), &A.f));
  next:
    if (A.ch) uvble_l2cap_channel_free(A.ch);
    A.ch = NULL;
    if (A.file) fclose(A.file);
    A.file = NULL;
    if (links_up()) {
      UVBLE_AWAIT(t, (uvble_connection_disconnect(&A.f, A.conn, A.op_ms), &A.f));
    }
    uvble_connection_release(A.conn);
    A.conn = NULL;
    if (A.once) {
      quit(A.exit_code);
      break;
    }
  }
  UVBLE_CO_END(t);
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(FILE *f) {
  fprintf(f,
          "usage: uvble-l2cap-file recv [-t T] [--name NAME] [--psm PSM] [-o DIR|FILE] [--once]\n"
          "                             [--timeout S]\n"
          "       uvble-l2cap-file send FILE [-t T] [--name NAME | --address ADDR] [--psm PSM]\n"
          "                             [--timeout S]\n"
          "  -t, --transport  controller (default: $UVBLE_TRANSPORT, else hci0)\n"
          "  -n, --name       the receiver's advertised name (default uvble-file)\n"
          "  -a, --address    send: connect to this address instead\n"
          "  -p, --psm        the channel's SPSM (default 0x80)\n"
          "  -o, --output     recv: directory (default .) or file to write\n"
          "  -1, --once       recv: exit after one file\n"
          "  -T, --timeout    seconds any one step may wait: connecting, the channel\n"
          "                   taking or delivering the next SDU (1..3600, default 10)\n"
          "  -V, --version    the version\n");
}

int main(int argc, char **argv) {
  const char *transport = getenv("UVBLE_TRANSPORT");
  static const struct option opts[] = {
      {"transport", required_argument, NULL, 't'}, {"name", required_argument, NULL, 'n'},
      {"address", required_argument, NULL, 'a'},   {"psm", required_argument, NULL, 'p'},
      {"output", required_argument, NULL, 'o'},    {"once", no_argument, NULL, '1'},
      {"timeout", required_argument, NULL, 'T'},   {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  cli_set_prog("uvble-l2cap-file");
  if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")))
    return cli_version();
  if (argc < 2 || (strcmp(argv[1], "send") && strcmp(argv[1], "recv"))) {
    bool help = argc >= 2 && !strcmp(argv[1], "--help");
    usage(help ? stdout : stderr);
    return help ? 0 : 2;
  }
  A.sender = argv[1][0] == 's';
  A.name = "uvble-file";
  A.psm = 0x80;
  A.op_ms = OP_TIMEOUT_MS;
  optind = 2;
  int c;
  uint64_t v;
  uvble_addr_t check;
  while ((c = getopt_long(argc, argv, "t:n:a:p:o:1T:hV", opts, NULL)) != -1) {
    switch (c) {
      case 't': transport = optarg; break;
      case 'n': A.name = optarg; break;
      case 'a':
        if (cli_addr("--address", optarg, &check) < 0) return 2;
        A.address = optarg;
        break;
      case 'p':
        if (cli_uint("--psm", optarg, 0x01, 0xff, CLI_HEX, &v) < 0) return 2;
        A.psm = (uint16_t)v;
        break;
      case 'o': A.out = optarg; break;
      case '1': A.once = true; break;
      case 'T':
        if (cli_uint("--timeout", optarg, 1, 3600, CLI_DEC, &v) < 0) return 2;
        A.op_ms = (uint32_t)v * 1000;
        break;
      case 'h': usage(stdout); return 0;
      case 'V': return cli_version();
      default: return 2; /* getopt named the option */
    }
  }
  if (A.sender) {
    if (optind + 1 != argc) {
      usage(stderr);
      return 2;
    }
    A.path = argv[optind];
    A.file = fopen(A.path, "rb");
    struct stat st;
    if (!A.file || fstat(fileno(A.file), &st) < 0 || !S_ISREG(st.st_mode)) {
      fprintf(stderr, "l2cap_file: %s: not a readable file\n", A.path);
      return 2;
    }
    A.size = (uint64_t)st.st_size;
  } else if (optind != argc) {
    usage(stderr);
    return 2;
  }
  if (sodium_init() < 0) return 1;
  if (!transport || !*transport) transport = "hci0";
  A.loop = uv_default_loop();
  char err[256] = "";
  int r = uvble_new(A.loop, transport, &A.ble, err, sizeof err);
  if (r >= 0) r = uvble_async_new(A.ble, NULL, NULL, &A.a);
  if (r < 0) {
    fprintf(stderr, "l2cap_file: %s: %s\n", transport, err[0] ? err : uvble_strerror(r));
    if (A.ble) uvble_close(A.ble, NULL);
    uv_run(A.loop, UV_RUN_DEFAULT);
    return 1;
  }
  A.sched = uvble_async_sched(A.a);
  uvble_async_on_fatal(A.a, on_fatal);
  uv_timer_init(A.loop, &A.quit_timer);
  uv_signal_init(A.loop, &A.sigint);
  uv_signal_init(A.loop, &A.sigterm);
  uv_signal_start(&A.sigint, on_signal, SIGINT);
  uv_signal_start(&A.sigterm, on_signal, SIGTERM);
  uvble_task_spawn(A.sched, &A.task, A.sender ? send_fn : recv_fn, NULL);
  uv_run(A.loop, UV_RUN_DEFAULT);
  uv_loop_close(A.loop);
  if (A.file) fclose(A.file);
  return A.exit_code;
}
