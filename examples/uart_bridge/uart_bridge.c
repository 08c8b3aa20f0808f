/* SPDX-License-Identifier: Apache-2.0 */
/* uart_bridge: the Nordic UART Service (NUS) in both roles.
 *
 *   uvble-uart-bridge peripheral [-t T] [--name NAME] [--link PATH]
 *       exposes NUS and bridges it to a new PTY: any serial program (screen,
 *       minicom, pyserial) opened on the PTY talks to the connected central.
 *       Prints "pty /dev/pts/N" and "advertising as ADDR (NAME)".
 *   uvble-uart-bridge central [-t T] [--name NAME | --address ADDR] [--fast]
 *                             [--linger MS]
 *       connects to a NUS device and bridges it to stdin/stdout. At the end
 *       of stdin, once every byte is written (and, by default, acknowledged)
 *       and nothing has arrived for --linger MS (default 1000), it
 *       disconnects and exits 0: `uvble-uart-bridge central < file > out`.
 *
 * NUS: service 6e400001-b5a3-f393-e0a9-e50e24dcca9e; RX 6e400002 (the
 * central writes), TX 6e400003 (the peripheral notifies or indicates).
 *
 * How no byte is lost:
 *  - MTU: every ATT payload is at most MTU-3 bytes (the central exchanges
 *    247 first), so nothing is cut;
 *  - the append buffer: RX is a 512-byte buffered characteristic in append
 *    mode, drained from the irq chain on every write (so consecutive writes
 *    never overwrite each other);
 *  - flow control: input (PTY or stdin) is read only as fast as the radio
 *    takes it (notify returns "no buffers": the reader pauses and retries);
 *    by default the central asks for indications and writes with response,
 *    so each chunk is acknowledged before the next — end to end, across a
 *    lossy link; a peripheral whose output backs up refuses writes with
 *    Insufficient Resources and the central retries. --fast uses
 *    notifications and write commands (NUS as phones use it: as fast as the
 *    link layer acknowledges). A Write Command completes once queued on the
 *    link, and the stack queues up to 256 KiB per link, far more than a
 *    slow link sends in the second a disconnect waits for it: so in --fast
 *    the central still writes with a Write Request every SYNC_BYTES (8 KiB) and
 *    whenever a chunk empties its input. The response comes after every
 *    Write Command before it (one ATT bearer, in order), which keeps the
 *    queue within SYNC_BYTES of the air and makes sure that, at the end of
 *    stdin, everything has arrived before the central disconnects.
 *
 * RX is written with Write Requests when it does not allow Write Commands,
 * whatever the mode.
 *
 * Ctrl-C exits; a central whose link drops exits with status 1. */
#define _GNU_SOURCE /* posix_openpt, ptsname, cfmakeraw */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "stream.h"
#include "uvble/async.h"
#include "uvble/co.h"
#include "uvble/gatts.h"
#include "uvble/uvble.h"

#define NUS_SERVICE "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
#define NUS_RX "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
#define NUS_TX "6e400003-b5a3-f393-e0a9-e50e24dcca9e"
#define RX_BUFFER 512
#define IN_BUFFER (256 * 1024)
#define OUT_LIMIT (8 * 1024 * 1024)
#define OP_TIMEOUT_MS 10000
#define SYNC_BYTES (8 * 1024) /* --fast: Write Commands between requests */
/* A request behind SYNC_BYTES of Write Commands waits for them to cross the
 * air: ATT's own transaction timeout (Vol 3, Part F, 3.3.3), not ours. */
#define SYNC_TIMEOUT_MS 30000

static struct bridge {
  uv_loop_t *loop;
  uvble_t *ble;
  uvble_async_t *a;
  uvble_sched_t *sched;
  uv_signal_t sigint, sigterm;
  uv_timer_t quit_timer, retry;
  uvble_future_t quit_f; /* the disconnect when quitting */
  bool central, fast, quitting, interrupted;
  int exit_code;
  const char *name, *address, *link;
  struct buf in;   /* PTY or stdin, waiting to go over the air */
  struct src src;
  struct sink sink; /* to the PTY or stdout */
  uint64_t sent, received;
  uvble_task_t task;
  uvble_future_t f;
  /* peripheral */
  int master, slave;
  char pty[128];
  uvble_characteristic_t *rx, *tx;
  uvble_connection_t *conn;
  uvble_future_t ind_f;           /* the indication or notification in flight */
  uint8_t note_buf[517]; /* a notification waiting for room (MTU 517 - 3) */
  size_t inflight;
  /* central */
  uvble_scan_t *scan;
  uvble_device_t dev;
  bool found, reliable;
  uvble_client_characteristic_t *crx, *ctx;
  uvble_future_t nf, wake;
  uint8_t nbuf[UVBLE_GATT_MAX_ATTR_LEN];
  size_t chunk;
  int write_mode;       /* 1: Write Request, 0: Write Command */
  bool can_sync;        /* --fast: RX takes Write Requests too */
  size_t unsynced;      /* Write Command bytes since the last request */
  unsigned linger_ms;   /* quiet time after the end of stdin */
  char why[160];
  uint64_t last_rx_ms;  /* when the peripheral last sent something */
  bool leaving;         /* we are ending the link: its drop is no error */
} B;

/* ---- lifecycle -------------------------------------------------------------------- */

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* Links are taken down before the stack closes, so the peers see a
 * disconnection (closing the transport alone would leave them hanging
 * until their supervision timeout). Waits at most 500 ms. */
static bool links_up(void) {
  return B.conn && uvble_connection_is_connected(B.conn);
}

static void on_quit_timer(uv_timer_t *t) {
  static int waited;
  if (links_up() && waited++ < 25) return;
  uv_timer_stop(t);
  uvble_async_stats_t st;
  uvble_async_get_stats(B.a, &st);
  if (st.notify_dropped)
    fprintf(stderr, "uart_bridge: %llu values dropped: stdout did not keep up\n",
            (unsigned long long)st.notify_dropped);
  /* Queued PDUs a disconnect could not wait for: bytes that never left. */
  uvble_stats_t s;
  uvble_get_stats(B.ble, &s);
  if (s.acl_tx_dropped) {
    fprintf(stderr, "uart_bridge: %llu packets queued for the peer were never sent\n",
            (unsigned long long)s.acl_tx_dropped);
    if (!B.interrupted) B.exit_code = 1; /* Ctrl-C asked to stop anyway */
  }
  uvble_async_close(B.a, NULL, NULL);
  src_close(&B.src);
  sink_close(&B.sink);
  close_handle((uv_handle_t *)t);
}

static void quit(int code) {
  if (B.quitting) return;
  B.quitting = true;
  B.exit_code = code;
  close_handle((uv_handle_t *)&B.sigint);
  close_handle((uv_handle_t *)&B.sigterm);
  /* Closing the handles restores the default action: a second Ctrl-C
   * (timeout(1) sends one to the process and one to its group) must
   * not kill the clean shutdown that is under way. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  close_handle((uv_handle_t *)&B.retry);
  if (links_up()) uvble_connection_disconnect(&B.quit_f, B.conn, 500);
  uv_timer_start(&B.quit_timer, on_quit_timer, 0, 20);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  B.interrupted = true;
  quit(0);
}

static void on_fatal(uvble_t *ble, int status) {
  (void)ble;
  fprintf(stderr, "uart_bridge: the controller failed: %s\n", uvble_strerror(status));
  quit(1);
}

/* Bytes from the air go to the PTY or stdout. */
static void deliver(const uint8_t *p, size_t n) {
  B.received += n;
  if (sink_write(&B.sink, p, n) < 0)
    fprintf(stderr, "uart_bridge: output stalled, %zu bytes dropped\n", n);
}

/* ---- peripheral ------------------------------------------------------------------- */

static void pump(void);

static void on_retry(uv_timer_t *t) {
  (void)t;
  pump();
}

static void retry_later(unsigned ms) {
  if (!B.quitting && !uv_is_active((uv_handle_t *)&B.retry))
    uv_timer_start(&B.retry, on_retry, ms, 0);
}

static void on_sent(uvble_future_t *f) {
  size_t n = B.inflight;
  B.inflight = 0;
  if (f->status == 0) {
    buf_consume(&B.in, n);
    B.sent += n;
    src_kick(&B.src);
  } /* else the link went: the bytes stay for the next central */
  pump();
}

/* Sends what the PTY gave, MTU-3 bytes at a time, the way the central
 * subscribed: indications one at a time, notifications until the link's
 * queue is full. Nothing is sent before a central subscribed. */
static void pump(void) {
  if (B.quitting || !B.conn || B.inflight || !B.in.len) return;
  int sub = uvble_characteristic_subscription(B.tx, B.conn);
  if (sub <= 0) {
    retry_later(20);
    return;
  }
  size_t max = (size_t)uvble_connection_mtu(B.conn) - 3;
  while (B.in.len) {
    size_t n = B.in.len < max ? B.in.len : max;
    if (!(sub & UVBLE_CCCD_NOTIFY)) {
      B.ind_f.cb = on_sent;
      int r = uvble_characteristic_indicate(&B.ind_f, B.tx, B.conn, buf_data(&B.in), n,
                                            OP_TIMEOUT_MS);
      if (r == 0) B.inflight = n;
      else retry_later(r == UVBLE_ENOBUFS || r == UVBLE_EBUSY ? 2 : 100);
      return;
    }
    int r = uvble_characteristic_notify(B.tx, B.conn, buf_data(&B.in), n);
    if (r == UVBLE_ENOBUFS) {
      /* The link's queue is full: this chunk waits for room (the core
       * says when), and the rest waits behind it. */
      memcpy(B.note_buf, buf_data(&B.in), n);
      B.ind_f.cb = on_sent;
      r = uvble_characteristic_notify_wait(&B.ind_f, B.tx, B.conn, B.note_buf, n,
                                           OP_TIMEOUT_MS);
      if (r == 0) B.inflight = n;
      else retry_later(100);
      return;
    }
    if (r < 0) {
      retry_later(100);
      return;
    }
    buf_consume(&B.in, n);
    B.sent += n;
  }
  src_kick(&B.src);
}

static void on_pty(struct src *s, int err, void *arg) {
  (void)s;
  (void)arg;
  if (err < 0) {
    fprintf(stderr, "uart_bridge: the pty: %s\n", uv_strerror(err));
    quit(1);
    return;
  }
  pump();
}

/* RX is an append buffer: take everything written so far, at once, so no
 * later write can be cut by a full buffer. */
static int bridge_irq(uvble_t *ble, int event, const uvble_irq_data_t *d, void *arg) {
  (void)ble;
  (void)arg;
  if (event == UVBLE_IRQ_GATTS_WRITE && B.rx &&
      d->gatts.attr_handle == uvble_characteristic_handle(B.rx)) {
    uint8_t tmp[RX_BUFFER];
    int n = uvble_characteristic_read(B.rx, tmp, sizeof tmp);
    if (n > 0) deliver(tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp);
  }
  return 0;
}

/* Write requests that would overflow the output are refused: the central
 * retries them (flow control from the PTY reader back to the sender). */
static int authorize(void *attr, uvble_connection_t *conn, const uint8_t *data,
                     size_t len, void *arg) {
  (void)attr, (void)conn, (void)data, (void)arg;
  if (sink_pending(&B.sink) + len > OUT_LIMIT / 2)
    return UVBLE_ATT_ERR_INSUFFICIENT_RESOURCES;
  return 0;
}

static int open_pty(void) {
  B.master = posix_openpt(O_RDWR | O_NOCTTY);
  if (B.master < 0 || grantpt(B.master) < 0 || unlockpt(B.master) < 0) return -1;
  const char *name = ptsname(B.master);
  if (!name) return -1;
  snprintf(B.pty, sizeof B.pty, "%s", name);
  /* Keep the slave open ourselves: the PTY stays usable while programs
   * open and close it, and its settings (raw: every byte passes as is, no
   * echo, no line editing, no flow-control characters) stay. */
  B.slave = open(B.pty, O_RDWR | O_NOCTTY);
  if (B.slave < 0) return -1;
  struct termios tio;
  if (tcgetattr(B.slave, &tio) < 0) return -1;
  cfmakeraw(&tio);
  if (tcsetattr(B.slave, TCSANOW, &tio) < 0) return -1;
  if (B.link) {
    unlink(B.link);
    if (symlink(B.pty, B.link) < 0) return -1;
  }
  return 0;
}

static int register_nus(void) {
  uvble_uuid_t su, ru, tu;
  uvble_uuid_parse(&su, NUS_SERVICE);
  uvble_uuid_parse(&ru, NUS_RX);
  uvble_uuid_parse(&tu, NUS_TX);
  uvble_service_t *svc;
  int r = uvble_service_new(B.a, &su, &svc);
  if (r < 0) return r;
  uvble_characteristic_opts_t ro = {
      .flags = UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_NO_RESPONSE | UVBLE_FLAG_WRITE_AUTHORIZED,
      .max_len = RX_BUFFER,
      .append = true};
  if ((r = uvble_characteristic_new(svc, &ru, &ro, &B.rx)) < 0) return r;
  uvble_characteristic_opts_t to = {.flags = UVBLE_FLAG_NOTIFY | UVBLE_FLAG_INDICATE};
  if ((r = uvble_characteristic_new(svc, &tu, &to, &B.tx)) < 0) return r;
  uvble_characteristic_on_write(B.rx, authorize, NULL);
  return uvble_register_services(B.a, &svc, 1);
}

static int peripheral_fn(uvble_task_t *t) {
  char addr[UVBLE_ADDR_STR_LEN];
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&B.f, B.a, 10000), &B.f));
  if (B.f.status) {
    fprintf(stderr, "uart_bridge: cannot start the controller: %s\n",
            uvble_strerror(B.f.status));
    quit(1);
    UVBLE_CO_RETURN(t, B.f.status);
  }
  uvble_config_set_name(B.ble, B.name, strlen(B.name));
  if (register_nus() < 0) {
    fprintf(stderr, "uart_bridge: cannot register the service\n");
    quit(1);
    UVBLE_CO_RETURN(t, 1);
  }
  while (!B.quitting) {
    {
      uvble_advertise_params_t p;
      static uvble_uuid_t svc;
      uvble_uuid_parse(&svc, NUS_SERVICE);
      uvble_advertise_params_init(&p);
      p.interval_us = 100000;
      p.fields.name = B.name;
      p.fields.services = &svc;
      p.fields.num_services = 1;
      uvble_addr_t mac;
      uvble_config_get_mac(B.ble, &mac);
      printf("advertising as %s (%s)\n", uvble_addr_to_str(&mac, addr), B.name);
      fflush(stdout);
      uvble_advertise(&B.f, B.a, &p, 0);
    }
    UVBLE_AWAIT(t, &B.f);
    if (B.f.status) {
      if (B.quitting) break;
      fprintf(stderr, "uart_bridge: advertising: %s\n", uvble_strerror(B.f.status));
      UVBLE_AWAIT(t, (uvble_sleep(&B.f, B.sched, 1000), &B.f));
      continue;
    }
    B.conn = B.f.result.conn;
    printf("connected %s\n", uvble_device_addr_hex(uvble_connection_device(B.conn), addr));
    fflush(stdout);
    pump();
    UVBLE_AWAIT(t, (uvble_connection_disconnected(&B.f, B.conn, 0), &B.f));
    printf("disconnected %s (sent %llu, received %llu bytes)\n",
           uvble_device_addr_hex(uvble_connection_device(B.conn), addr),
           (unsigned long long)B.sent, (unsigned long long)B.received);
    fflush(stdout);
    uvble_future_abandon(&B.ind_f);
    B.inflight = 0;
    uvble_connection_release(B.conn);
    B.conn = NULL;
  }
  UVBLE_CO_END(t);
}

/* ---- central ------------------------------------------------------------------------ */

static void wake(void) {
  if (uvble_future_pending(&B.wake)) uvble_future_set(&B.wake, 0);
}

static void on_stdin(struct src *s, int err, void *arg) {
  (void)s;
  (void)arg;
  if (err < 0 && err != UV_EOF) fprintf(stderr, "uart_bridge: stdin: %s\n", uv_strerror(err));
  wake();
}

static void arm_listener(void);

static void on_value(uvble_future_t *f) {
  if (f->status) {
    if (!B.quitting && !B.leaving && f->status == UVBLE_EDISCONNECTED) {
      fprintf(stderr, "uart_bridge: the link dropped\n");
      quit(1);
    }
    return;
  }
  deliver(B.nbuf, f->len < sizeof B.nbuf ? f->len : sizeof B.nbuf);
  B.last_rx_ms = uv_now(B.loop);
  arm_listener();
}

static void arm_listener(void) {
  B.nf.cb = on_value;
  if (B.reliable)
    uvble_client_characteristic_indicated(&B.nf, B.ctx, B.nbuf, sizeof B.nbuf, 0);
  else
    uvble_client_characteristic_notified(&B.nf, B.ctx, B.nbuf, sizeof B.nbuf, 0);
}

static bool wanted(const uvble_scan_result_t *r) {
  uvble_uuid_t nus;
  uvble_uuid_parse(&nus, NUS_SERVICE);
  if (B.address) {
    uvble_device_t d;
    return uvble_device_parse(&d, r->device.addr.type, B.address) == 0 &&
           uvble_device_equal(&d, &r->device);
  }
  if (!uvble_adv_has_service(r->adv_data, r->adv_len, r->resp_data, r->resp_len, &nus))
    return false;
  if (!B.name) return true;
  char name[64];
  return uvble_scan_result_name(r, name, sizeof name) >= 0 && strcmp(name, B.name) == 0;
}

#define CHECK_STEP(t, what)                                                  \
  do {                                                                       \
    if (B.f.status) {                                                        \
      if (!B.quitting)                                                       \
        fprintf(stderr, "uart_bridge: %s: %s\n", what,                       \
                cli_fstatus(&B.f, B.why, sizeof B.why));                     \
      quit(1);                                                               \
      UVBLE_CO_RETURN(t, B.f.status);                                        \
    }                                                                        \
  } while (0)

static int central_fn(uvble_task_t *t) {
  char addr[UVBLE_ADDR_STR_LEN];
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&B.f, B.a, 10000), &B.f));
  CHECK_STEP(t, "starting the controller");
  {
    uvble_scan_params_t p = {.duration_ms = 10000, .interval_us = 100000,
                             .window_us = 100000, .active = true};
    if (uvble_scan_start(B.a, &p, &B.scan) < 0) B.scan = NULL;
  }
  while (B.scan) {
    UVBLE_AWAIT(t, (uvble_scan_next(&B.f, B.scan, 0), &B.f));
    if (B.f.status) break;
    if (wanted(B.f.result.scan)) {
      B.dev = B.f.result.scan->device;
      B.found = true;
      break;
    }
  }
  if (B.scan) uvble_scan_free(B.scan);
  B.scan = NULL;
  if (B.quitting) UVBLE_CO_RETURN(t, 0);
  if (!B.found) {
    fprintf(stderr, "uart_bridge: no Nordic UART Service device%s%s found within 10 s\n",
            B.address || B.name ? " " : "", B.address ? B.address : B.name ? B.name : "");
    quit(1);
    UVBLE_CO_RETURN(t, UVBLE_ENOENT);
  }
  UVBLE_AWAIT(t, (uvble_device_connect(&B.f, B.a, &B.dev, NULL, OP_TIMEOUT_MS), &B.f));
  CHECK_STEP(t, "connecting");
  B.conn = B.f.result.conn;
  UVBLE_AWAIT(t, (uvble_connection_exchange_mtu(&B.f, B.conn, 247, OP_TIMEOUT_MS), &B.f));
  {
    uvble_uuid_t u;
    uvble_uuid_parse(&u, NUS_SERVICE);
    uvble_connection_service(&B.f, B.conn, &u, OP_TIMEOUT_MS);
  }
  UVBLE_AWAIT(t, &B.f);
  CHECK_STEP(t, "finding the service");
  {
    uvble_uuid_t u;
    uvble_uuid_parse(&u, NUS_RX);
    uvble_client_service_characteristic(&B.f, B.f.result.service, &u, OP_TIMEOUT_MS);
  }
  UVBLE_AWAIT(t, &B.f);
  CHECK_STEP(t, "finding RX");
  B.crx = B.f.result.characteristic;
  {
    uvble_uuid_t u;
    uvble_uuid_parse(&u, NUS_TX);
    uvble_client_service_characteristic(&B.f, B.crx->service, &u, OP_TIMEOUT_MS);
  }
  UVBLE_AWAIT(t, &B.f);
  CHECK_STEP(t, "finding TX");
  B.ctx = B.f.result.characteristic;
  B.reliable = !B.fast && (B.ctx->properties & UVBLE_FLAG_INDICATE) &&
               (B.crx->properties & UVBLE_FLAG_WRITE);
  if (!B.reliable && !(B.ctx->properties & UVBLE_FLAG_NOTIFY)) B.reliable = true;
  /* Write Commands only where RX allows them (a peer may refuse or drop
   * what its properties do not permit). */
  B.write_mode = B.reliable || !(B.crx->properties & UVBLE_FLAG_WRITE_NO_RESPONSE) ? 1 : 0;
  B.can_sync = !B.write_mode && (B.crx->properties & UVBLE_FLAG_WRITE);
  /* Values arriving while stdout is busy wait here, never dropped. */
  uvble_client_characteristic_set_queue(B.ctx, 1024);
  arm_listener();
  UVBLE_AWAIT(t, (uvble_client_characteristic_subscribe(&B.f, B.ctx, !B.reliable,
                                                        B.reliable, OP_TIMEOUT_MS),
                  &B.f));
  CHECK_STEP(t, "subscribing");
  B.chunk = (size_t)uvble_connection_mtu(B.conn) - 3;
  fprintf(stderr, "uart_bridge: connected to %s, MTU %u, %s\n",
          uvble_device_addr_hex(&B.dev, addr), uvble_connection_mtu(B.conn),
          B.reliable ? "acknowledged (indications, write requests)"
          : B.write_mode ? "fast (notifications; write requests: RX allows no write commands)"
                         : "fast (notifications, write commands)");
  B.last_rx_ms = uv_now(B.loop);
  /* stdin -> RX, one chunk at a time. */
  while (!B.quitting) {
    if (!B.in.len) {
      if (B.src.eof) {
        /* Everything is written (and acknowledged, with write requests):
         * wait until the peripheral has been quiet for linger_ms, then
         * end the link (queued PDUs go out first) and exit. */
        uv_update_time(B.loop);
        if (uv_now(B.loop) < B.last_rx_ms + B.linger_ms) {
          UVBLE_AWAIT(t, (uvble_sleep(&B.f, B.sched,
                                      (uint32_t)(B.last_rx_ms + B.linger_ms - uv_now(B.loop))),
                          &B.f));
          continue;
        }
        B.leaving = true;
        UVBLE_AWAIT(t, (uvble_connection_disconnect(&B.f, B.conn, OP_TIMEOUT_MS), &B.f));
        quit(0);
        break;
      }
      UVBLE_AWAIT(t, (uvble_future_start(&B.wake, B.sched, 0), &B.wake));
      continue;
    }
    {
      size_t n = B.in.len < B.chunk ? B.in.len : B.chunk;
      int mode = B.write_mode;
      if (B.can_sync && (n == B.in.len || B.unsynced + n >= SYNC_BYTES)) mode = 1;
      uvble_client_characteristic_write(&B.f, B.crx, buf_data(&B.in), n, mode,
                                        mode && B.can_sync ? SYNC_TIMEOUT_MS : OP_TIMEOUT_MS);
      B.inflight = n;
      B.unsynced = mode ? 0 : B.unsynced + n;
    }
    UVBLE_AWAIT(t, &B.f);
    if (B.f.status == 0) {
      buf_consume(&B.in, B.inflight);
      B.sent += B.inflight;
      src_kick(&B.src);
    } else if (B.f.status == UVBLE_ENOBUFS) {
      UVBLE_AWAIT(t, (uvble_sleep(&B.f, B.sched, 2), &B.f));
    } else if (B.f.status == UVBLE_EATT &&
               B.f.proto_status == UVBLE_ATT_ERR_INSUFFICIENT_RESOURCES) {
      UVBLE_AWAIT(t, (uvble_sleep(&B.f, B.sched, 20), &B.f)); /* peer busy */
    } else {
      CHECK_STEP(t, "writing");
    }
  }
  UVBLE_CO_END(t);
}

/* ---- main ------------------------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(f,
          "usage: uvble-uart-bridge peripheral [-t TRANSPORT] [--name NAME] [--link PATH]\n"
          "       uvble-uart-bridge central [-t TRANSPORT] [--name NAME | --address ADDR] [--fast]\n"
          "  -t, --transport  controller (default: $UVBLE_TRANSPORT, else hci0)\n"
          "  -n, --name       peripheral: the advertised name (default uvble-uart);\n"
          "                   central: connect to the NUS device of this name\n"
          "  -a, --address    central: connect to this address\n"
          "  -l, --link       peripheral: also make PATH a symlink to the PTY\n"
          "  -f, --fast       central: notifications and write commands, no\n"
          "                   end-to-end acknowledgement\n"
          "  -L, --linger     central: after the end of stdin, exit once nothing\n"
          "                   arrived for MS milliseconds (0..600000, default 1000)\n"
          "  -V, --version    the version\n");
}

int main(int argc, char **argv) {
  const char *transport = getenv("UVBLE_TRANSPORT");
  static const struct option opts[] = {
      {"transport", required_argument, NULL, 't'},
      {"name", required_argument, NULL, 'n'},
      {"address", required_argument, NULL, 'a'},
      {"link", required_argument, NULL, 'l'},
      {"fast", no_argument, NULL, 'f'},
      {"linger", required_argument, NULL, 'L'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  cli_set_prog("uvble-uart-bridge");
  if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")))
    return cli_version();
  B.linger_ms = 1000;
  if (argc < 2 || (strcmp(argv[1], "peripheral") && strcmp(argv[1], "central"))) {
    usage(argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
    return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
  }
  B.central = argv[1][0] == 'c';
  optind = 2;
  int c;
  uint64_t v;
  uvble_addr_t check;
  while ((c = getopt_long(argc, argv, "t:n:a:l:fL:hV", opts, NULL)) != -1) {
    switch (c) {
      case 't': transport = optarg; break;
      case 'n': B.name = optarg; break;
      case 'a':
        if (cli_addr("--address", optarg, &check) < 0) return 2;
        B.address = optarg;
        break;
      case 'l': B.link = optarg; break;
      case 'f': B.fast = true; break;
      case 'L':
        if (cli_uint("--linger", optarg, 0, 600000, CLI_DEC, &v) < 0) return 2;
        B.linger_ms = (unsigned)v;
        break;
      case 'h': usage(stdout); return 0;
      case 'V': return cli_version();
      default: return 2; /* getopt named the option */
    }
  }
  if (optind != argc) {
    fprintf(stderr, "uvble-uart-bridge: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (!B.central && !B.name) B.name = "uvble-uart";
  if (!transport || !*transport) transport = "hci0";
  B.loop = uv_default_loop();
  signal(SIGPIPE, SIG_IGN);
  if (buf_init(&B.in, IN_BUFFER) < 0) return 1;
  int r;
  if (B.central) {
    r = sink_open(&B.sink, B.loop, STDOUT_FILENO, false, OUT_LIMIT);
    if (r == 0) r = src_open(&B.src, B.loop, STDIN_FILENO, false, &B.in, on_stdin, NULL);
  } else {
    if (open_pty() < 0) {
      perror("uart_bridge: pty");
      return 1;
    }
    r = sink_open(&B.sink, B.loop, dup(B.master), true, OUT_LIMIT);
    if (r == 0) r = src_open(&B.src, B.loop, B.master, true, &B.in, on_pty, NULL);
    printf("pty %s\n", B.pty);
    fflush(stdout);
  }
  if (r < 0) {
    fprintf(stderr, "uart_bridge: %s\n", uv_strerror(r));
    return 1;
  }
  char err[256] = "";
  r = uvble_new(B.loop, transport, &B.ble, err, sizeof err);
  if (r >= 0) r = uvble_async_new(B.ble, NULL, NULL, &B.a);
  if (r < 0) {
    fprintf(stderr, "uart_bridge: %s: %s\n", transport, err[0] ? err : uvble_strerror(r));
    if (B.ble) uvble_close(B.ble, NULL);
    src_close(&B.src);
    sink_close(&B.sink);
    uv_run(B.loop, UV_RUN_DEFAULT);
    return 1;
  }
  B.sched = uvble_async_sched(B.a);
  uvble_async_on_fatal(B.a, on_fatal);
  if (!B.central) uvble_async_irq_chain(B.a, bridge_irq, NULL);
  uv_timer_init(B.loop, &B.quit_timer);
  uv_timer_init(B.loop, &B.retry);
  uv_signal_init(B.loop, &B.sigint);
  uv_signal_init(B.loop, &B.sigterm);
  uv_signal_start(&B.sigint, on_signal, SIGINT);
  uv_signal_start(&B.sigterm, on_signal, SIGTERM);
  uvble_task_spawn(B.sched, &B.task, B.central ? central_fn : peripheral_fn, NULL);
  uv_run(B.loop, UV_RUN_DEFAULT);
  uv_loop_close(B.loop);
  if (!B.central) {
    if (B.link) unlink(B.link);
    close(B.slave);
    close(B.master);
    close(B.sink.fd);
  }
  buf_free(&B.in);
  if (B.central)
    fprintf(stderr, "uart_bridge: sent %llu, received %llu bytes\n",
            (unsigned long long)B.sent, (unsigned long long)B.received);
  return B.exit_code;
}
