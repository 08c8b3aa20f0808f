/* SPDX-License-Identifier: Apache-2.0 */
/* Shared plumbing of the `uvble` subcommands; see tool.h. */
#include "tool.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uvble/security.h"


struct tool TOOL;
static char PROG[64] = "uvble";

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* ---- stdin, one line at a time ---------------------------------------------- */
static struct {
  union {
    uv_tty_t tty;
    uv_pipe_t pipe;
  } h;
  bool open, is_file;
  uvble_future_t *f;
  char *buf;
  size_t cap, len;
  char chunk[256];
} IN;

static void line_done(int status) {
  uvble_future_t *f = IN.f;
  IN.f = NULL;
  if (IN.open && !IN.is_file) uv_read_stop((uv_stream_t *)&IN.h);
  if (IN.buf) IN.buf[IN.len] = '\0';
  if (f) uvble_future_set(f, status);
}

static void on_in_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h;
  (void)hint;
  /* One byte at a time: what follows the newline stays unread for the
   * next prompt. */
  *b = uv_buf_init(IN.chunk, 1);
}

static void on_in_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)s;
  if (!IN.f) return;
  if (n < 0) {
    line_done(IN.len ? 0 : UVBLE_EOF);
    return;
  }
  for (ssize_t i = 0; i < n; i++) {
    if (b->base[i] == '\n') {
      line_done(0);
      return;
    }
    if (IN.len + 1 < IN.cap) IN.buf[IN.len++] = b->base[i];
  }
}

static int stdin_open(void) {
  if (IN.open) return 0;
  uv_handle_type type = uv_guess_handle(0);
  int r;
  if (type == UV_TTY) {
    r = uv_tty_init(TOOL.loop, &IN.h.tty, 0, 1);
  } else if (type == UV_NAMED_PIPE) {
    r = uv_pipe_init(TOOL.loop, &IN.h.pipe, 0);
    if (r == 0 && (r = uv_pipe_open(&IN.h.pipe, 0)) < 0)
      uv_close((uv_handle_t *)&IN.h.pipe, NULL);
  } else {
    IN.is_file = true; /* a file or /dev/null: reads never wait */
    r = 0;
  }
  if (r < 0) return UVBLE_EIO;
  IN.open = true;
  return 0;
}

static void stdin_close(void) {
  if (IN.f) line_done(UVBLE_ECANCELED);
  if (IN.open && !IN.is_file) close_handle((uv_handle_t *)&IN.h);
  IN.open = false;
}

int tool_read_line(uvble_future_t *f, char *buf, size_t cap,
                   uint32_t timeout_ms) {
  if (IN.f && !uvble_future_pending(IN.f)) line_done(0); /* timed out */
  if (!buf || cap == 0 || IN.f) return UVBLE_EINVAL;
  int r = stdin_open();
  if (r < 0) return r;
  r = uvble_future_start(f, TOOL.sched, timeout_ms);
  if (r < 0) return r;
  IN.f = f;
  IN.buf = buf;
  IN.cap = cap;
  IN.len = 0;
  buf[0] = '\0';
  if (IN.is_file) {
    int c;
    while ((c = getchar()) != EOF && c != '\n')
      if (IN.len + 1 < cap) buf[IN.len++] = (char)c;
    line_done(c == EOF && IN.len == 0 ? UVBLE_EOF : 0);
    return 0;
  }
  r = uv_read_start((uv_stream_t *)&IN.h, on_in_alloc, on_in_read);
  if (r < 0) line_done(UVBLE_EIO);
  return 0;
}

static bool links_up(void) {
  return TOOL.conn && uvble_connection_is_connected(TOOL.conn);
}

static void on_quit_timer(uv_timer_t *t) {
  static int waited;
  if (links_up() && waited++ < 25) return;
  uv_timer_stop(t);
  uvble_async_close(TOOL.a, NULL, NULL);
  close_handle((uv_handle_t *)t);
}

void tool_quit(int code) {
  if (TOOL.quitting) return;
  TOOL.quitting = true;
  TOOL.exit_code = code;
  close_handle((uv_handle_t *)&TOOL.sigint);
  close_handle((uv_handle_t *)&TOOL.sigterm);
  stdin_close();
  /* Closing the handles restores the default action: a second Ctrl-C
   * (timeout(1) sends one to the process and one to its group) must
   * not kill the clean shutdown that is under way. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  if (links_up()) uvble_connection_disconnect(&TOOL.quit_f, TOOL.conn, 500);
  uv_timer_start(&TOOL.quit_timer, on_quit_timer, 0, 20);
}

int tool_fail(const char *what, int status) {
  char why[160];
  if (!TOOL.quitting)
    fprintf(stderr, "%s: %s: %s\n", PROG, what,
            cli_status(status, -1, why, sizeof why));
  tool_quit(1);
  return status ? status : 1;
}

int tool_ffail(const char *what, const uvble_future_t *f) {
  char why[160];
  if (!TOOL.quitting) fprintf(stderr, "%s: %s: %s\n", PROG, what, cli_fstatus(f, why, sizeof why));
  tool_quit(1);
  return f->status ? f->status : 1;
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  tool_quit(signum == SIGINT ? 130 : 143);
}

static void on_fatal(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  fprintf(stderr, "uvble: the controller failed: %s\n", uvble_strerror(status));
  tool_quit(1);
}

int tool_open(const char *cmd) {
  if (!TOOL.transport || !*TOOL.transport) TOOL.transport = getenv("UVBLE_TRANSPORT");
  if (!TOOL.transport || !*TOOL.transport) TOOL.transport = "hci0";
  TOOL.loop = uv_default_loop();
  char err[256] = "";
  int r = uvble_new(TOOL.loop, TOOL.transport, &TOOL.ble, err, sizeof err);
  if (r >= 0) r = uvble_async_new(TOOL.ble, NULL, NULL, &TOOL.a);
  if (r < 0) {
    fprintf(stderr, "uvble %s: %s: %s\n", cmd, TOOL.transport,
            err[0] ? err : uvble_strerror(r));
    if (TOOL.ble) uvble_close(TOOL.ble, NULL, NULL);
    uv_run(TOOL.loop, UV_RUN_DEFAULT);
    return 1;
  }
  TOOL.sched = uvble_async_sched(TOOL.a);
  uvble_async_on_fatal(TOOL.a, on_fatal, NULL);
  uv_timer_init(TOOL.loop, &TOOL.quit_timer);
  uv_signal_init(TOOL.loop, &TOOL.sigint);
  uv_signal_init(TOOL.loop, &TOOL.sigterm);
  uv_signal_start(&TOOL.sigint, on_signal, SIGINT);
  uv_signal_start(&TOOL.sigterm, on_signal, SIGTERM);
  return 0;
}

int tool_run(void) {
  uv_run(TOOL.loop, UV_RUN_DEFAULT);
  uv_loop_close(TOOL.loop);
  return TOOL.exit_code;
}

void tool_begin(const char *cmd) {
  snprintf(PROG, sizeof PROG, "uvble %s", cmd);
  cli_set_prog(PROG);
  uvble_pair_params_default(&TOOL.pair_params);
}

int tool_common_opt(int opt, const char *arg, const char *usage) {
  switch (opt) {
    case 't': TOOL.transport = arg; return 1;
    case 'n': TOOL.name = arg; return 1;
    case 'a':
      if (cli_addr("--address", arg, &TOOL.want) < 0) return TOOL_OPT_BAD;
      TOOL.address = arg;
      return 1;
    case 'S': TOOL.store = arg; return 1;
    case 'P': TOOL.pair_first = true; return 1;
    case 'V': cli_version(); return TOOL_OPT_EXIT;
    case 'h': fputs(usage, stdout); return TOOL_OPT_EXIT;
    case '?': return TOOL_OPT_BAD; /* getopt named the option */
    default: return 0;
  }
}

int tool_target(int argc, char **argv, const char *usage) {
  if (optind < argc && !TOOL.address && !TOOL.name) {
    if (cli_addr("ADDR", argv[optind], &TOOL.want) < 0) return 2;
    TOOL.address = argv[optind++];
  }
  if (!TOOL.name && !TOOL.address) {
    fprintf(stderr, "%s: which device? give ADDR, --address ADDR or --name NAME\n%s",
            PROG, usage);
    return 2;
  }
  if (TOOL.pair_first && !TOOL.store) {
    fprintf(stderr, "%s: --pair: needs --bond-store FILE to keep the bond in\n", PROG);
    return 2;
  }
  return 0;
}

int tool_open_store(void) {
  if (!TOOL.store) return 0;
  char key[4096], err[256] = "";
  snprintf(key, sizeof key, "%s.key", TOOL.store);
  int r = uvble_bond_store_open(TOOL.ble, TOOL.store, key, NULL, err, sizeof err);
  if (r < 0) {
    fprintf(stderr, "%s: --bond-store %s: %s\n", PROG, TOOL.store,
            err[0] ? err : uvble_strerror(r));
    return 1;
  }
  return 0;
}

static bool wanted(const uvble_scan_result_t *r) {
  if (TOOL.address) {
    if (!memcmp(r->device.addr.val, TOOL.want.val, 6)) return true;
    /* An RPA of a bonded peer named by its identity address. */
    uvble_addr_t id;
    return TOOL.store && uvble_resolve_peer(TOOL.ble, &r->device.addr, &id) &&
           !memcmp(id.val, TOOL.want.val, 6);
  }
  char name[64];
  return uvble_scan_result_name(r, name, sizeof name) >= 0 &&
         strcmp(name, TOOL.name) == 0;
}

int find_fn(uvble_task_t *t) {
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&TOOL.find_f, TOOL.a, TOOL_TIMEOUT_MS), &TOOL.find_f));
  if (TOOL.find_f.status) UVBLE_CO_RETURN(t, TOOL.find_f.status);
  {
    uvble_scan_params_t p = {.duration_ms = TOOL_FIND_S * 1000, .interval_us = 100000,
                             .window_us = 100000, .active = true};
    int r = uvble_scan_start(TOOL.a, &p, &TOOL.scan);
    if (r < 0) UVBLE_CO_RETURN(t, r);
  }
  for (;;) {
    UVBLE_AWAIT(t, (uvble_scan_next(&TOOL.find_f, TOOL.scan, 0), &TOOL.find_f));
    if (TOOL.find_f.status) break;
    if (wanted(TOOL.find_f.result.scan)) {
      TOOL.dev = TOOL.find_f.result.scan->device;
      if (uvble_scan_result_name(TOOL.find_f.result.scan, TOOL.dev_name,
                                 sizeof TOOL.dev_name) < 0)
        TOOL.dev_name[0] = 0;
      TOOL.found = true;
      break;
    }
  }
  uvble_scan_free(TOOL.scan);
  TOOL.scan = NULL;
  UVBLE_CO_RETURN(t, TOOL.found ? 0 : UVBLE_ENOENT);
  UVBLE_CO_END(t);
}

/* ---- connecting and securing ------------------------------------------------ */
bool tool_have_bond(uvble_addr_t *identity) {
  if (!TOOL.store) return false;
  uvble_addr_t id = TOOL.dev.addr;
  uvble_addr_t resolved;
  if (uvble_resolve_peer(TOOL.ble, &id, &resolved)) id = resolved;
  id.type &= 1;
  uvble_bond_info_t b[64];
  int n = uvble_bond_list(TOOL.ble, b, 64);
  for (int i = 0; i < n && i < 64; i++)
    if (b[i].identity.type == id.type && !memcmp(b[i].identity.val, id.val, 6)) {
      if (identity) *identity = id;
      return true;
    }
  if (identity) *identity = id;
  return false;
}

void tool_pair_failed(const uvble_future_t *f) {
  char why[160];
  cli_fstatus(f, why, sizeof why);
  /* A bond the peer no longer has: the controller's Encryption Change
   * says PIN or Key Missing (0x06) or Authentication Failure (0x05).
   * Pairing again would replace the bond: only on the user's word. */
  if (f->status == UVBLE_EHCI && (f->proto_status == 0x06 || f->proto_status == 0x05))
    fprintf(stderr,
            "%s: the stored bond no longer works (%s): the device has lost "
            "it; pair again with: uvble pair --repair --bond-store %s %s\n",
            PROG, why, TOOL.store ? TOOL.store : "FILE",
            TOOL.address ? TOOL.address : "ADDR");
  else
    fprintf(stderr, "%s: securing the link: %s\n", PROG, why);
}

/* Passkey prompts. The answer is read from stdin while the loop runs on
 * (the link and its timers stay served); the SMP timeout (30 s) is the
 * user's limit. */
int tool_passkey_fn(uvble_task_t *t) {
  UVBLE_CO_BEGIN(t);
  for (;;) {
    UVBLE_AWAIT(t, (uvble_connection_passkey_action(&TOOL.pk_f, TOOL.conn, 0), &TOOL.pk_f));
    if (TOOL.pk_f.status) break;
    if (TOOL.pk_f.result.passkey.action == UVBLE_PASSKEY_ACTION_DISPLAY) {
      printf("passkey: %06u (type it on the device)\n", TOOL.pk_f.result.passkey.passkey);
      fflush(stdout);
      continue;
    }
    if (TOOL.pk_f.result.passkey.action == UVBLE_PASSKEY_ACTION_INPUT)
      printf("enter the passkey the device shows: ");
    else if (TOOL.pk_f.result.passkey.action == UVBLE_PASSKEY_ACTION_NUMCMP)
      printf("does the device show %06u? [y/n] ", TOOL.pk_f.result.passkey.passkey);
    else
      continue;
    fflush(stdout);
    UVBLE_AWAIT(t, (tool_read_line(&TOOL.line_f, TOOL.line, sizeof TOOL.line, 30000),
                    &TOOL.line_f));
    if (TOOL.line_f.status == UVBLE_ECANCELED) break;
    if (!isatty(0)) putchar('\n'); /* a terminal echoed the user's own */
    if (TOOL.pk_f.result.passkey.action == UVBLE_PASSKEY_ACTION_INPUT) {
      uint64_t pk;
      if (TOOL.line_f.status) /* end of input or no answer in time */
        UVBLE_CO_RETURN(t, tool_fail("reading the passkey", TOOL.line_f.status));
      if (cli_uint("passkey", TOOL.line, 0, 999999, CLI_DEC, &pk) < 0) pk = 1000000;
      uvble_connection_passkey(TOOL.conn, UVBLE_PASSKEY_ACTION_INPUT, (uint32_t)pk);
    } else {
      uvble_connection_passkey(TOOL.conn, UVBLE_PASSKEY_ACTION_NUMCMP,
                               TOOL.line_f.status == 0 &&
                                   (TOOL.line[0] == 'y' || TOOL.line[0] == 'Y'));
    }
  }
  UVBLE_CO_END(t);
}

static const char *target(void) { return TOOL.address ? TOOL.address : TOOL.name; }

static int fail_find(int status) {
  if (status == UVBLE_ENOENT) {
    fprintf(stderr, "%s: device %s not found within %d s (is it advertising%s?)\n",
            PROG, target(), TOOL_FIND_S, TOOL.address ? "" : " under that name");
    tool_quit(1);
    return 1;
  }
  return tool_fail(target(), status);
}

int tool_connect_fn(uvble_task_t *t) {
  UVBLE_CO_BEGIN(t);
  uvble_task_spawn(TOOL.sched, &TOOL.find_task, find_fn, NULL);
  UVBLE_AWAIT(t, (uvble_task_join(&TOOL.conn_f, &TOOL.find_task, 0), &TOOL.conn_f));
  if (TOOL.conn_f.status) UVBLE_CO_RETURN(t, fail_find(TOOL.conn_f.status));
  if (TOOL.store && !TOOL.pair_first && !tool_have_bond(NULL)) {
    char a[UVBLE_ADDR_STR_LEN];
    fprintf(stderr, "%s: no bond with %s in %s: add --pair to pair first\n", PROG,
            uvble_device_addr_hex(&TOOL.dev, a), TOOL.store);
    tool_quit(1);
    UVBLE_CO_RETURN(t, 1);
  }
  UVBLE_AWAIT(t, (uvble_device_connect(&TOOL.conn_f, TOOL.a, &TOOL.dev, NULL, TOOL_TIMEOUT_MS),
                  &TOOL.conn_f));
  if (TOOL.conn_f.status) UVBLE_CO_RETURN(t, tool_ffail("connecting", &TOOL.conn_f));
  TOOL.conn = TOOL.conn_f.result.conn;
  UVBLE_AWAIT(t, (uvble_connection_exchange_mtu(&TOOL.conn_f, TOOL.conn, 247, TOOL_TIMEOUT_MS),
                  &TOOL.conn_f));
  if (TOOL.store) {
    /* With a bond: encryption with its LTK (no pairing). Without one
     * (only with --pair): pairing, and the bond goes into the store. */
    uvble_task_spawn(TOOL.sched, &TOOL.pk_task, tool_passkey_fn, NULL);
    UVBLE_AWAIT(t, (uvble_connection_pair(&TOOL.conn_f, TOOL.conn, &TOOL.pair_params, 35000),
                    &TOOL.conn_f));
    if (TOOL.conn_f.status) {
      tool_pair_failed(&TOOL.conn_f);
      tool_quit(1);
      UVBLE_CO_RETURN(t, 1);
    }
  }
  UVBLE_CO_RETURN(t, 0);
  UVBLE_CO_END(t);
}
