/* Shared plumbing of the `uvble` subcommands; see tool.h. */
#include "tool.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>


struct tool TOOL;

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

int tool_fail(const char *cmd, const char *what, int status) {
  if (!TOOL.quitting)
    fprintf(stderr, "uvble %s: %s: %s\n", cmd, what, uvble_strerror(status));
  tool_quit(1);
  return status ? status : 1;
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  tool_quit(signum == SIGINT ? 130 : 143);
}

static void on_fatal(uvble_t *ble, int status) {
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
    if (TOOL.ble) uvble_close(TOOL.ble, NULL);
    uv_run(TOOL.loop, UV_RUN_DEFAULT);
    return 1;
  }
  TOOL.sched = uvble_async_sched(TOOL.a);
  uvble_async_on_fatal(TOOL.a, on_fatal);
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

int tool_common_opt(int opt, const char *arg) {
  switch (opt) {
    case 't': TOOL.transport = arg; return 1;
    case 'n': TOOL.name = arg; return 1;
    case 'a': TOOL.address = arg; return 1;
    default: return 0;
  }
}

static bool wanted(const uvble_scan_result_t *r) {
  if (TOOL.address) {
    uvble_device_t d;
    return uvble_device_parse(&d, r->device.addr.type, TOOL.address) == 0 &&
           uvble_device_equal(&d, &r->device);
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
    uvble_scan_params_t p = {.duration_ms = 10000, .interval_us = 100000,
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
