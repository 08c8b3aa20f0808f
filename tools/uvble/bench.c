/* SPDX-License-Identifier: Apache-2.0 */
/* uvble bench l2cap: throughput of an LE credit-based channel between two
 * controllers driven by this one process (on btvirt, two virtual
 * controllers; on hardware, two dongles: -t hci0 -t hci1). Prints one JSON
 * line, as the benchmarks of bench/ do; bench/run has the full suite. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"
#include "uvble/gap.h"

#define PSM 0x81

static struct side {
  const char *transport;
  uvble_t *ble;
  uvble_async_t *a;
  uvble_connection_t *conn;
  uvble_l2cap_channel_t *ch;
  uvble_task_t task;
  uvble_future_t f;
  int tries;
} S[2]; /* 0 receives, 1 sends */

static struct {
  uvble_sched_t *sched;
  uvble_addr_t rx_addr;
  uvble_future_t rx_ready;
  uint64_t bytes, got;
  size_t sdu;
  uint64_t t0, t1;
  uint8_t *buf;
  bool quitting;
  int status;
  uv_timer_t quit_timer;
} BN;

static void on_quit(uv_timer_t *t);

int bench_open(uv_loop_t *loop, uvble_sched_t *sched, const char *spec, uvble_t **ble,
               uvble_async_t **a) {
  char err[256] = "";
  int r = uvble_new(loop, spec, ble, err, sizeof err);
  if (r >= 0) r = uvble_async_new(*ble, sched, NULL, a);
  if (r < 0) {
    fprintf(stderr, "%s: %s: %s\n", cli_prog(), spec, err[0] ? err : uvble_strerror(r));
    if (*ble && !*a) uvble_close(*ble, NULL, NULL);
    return 1;
  }
  return 0;
}

/* Closing waits for the next loop iteration: not from inside a task. */
static void finish(int status) {
  if (BN.quitting) return;
  BN.quitting = true;
  BN.status = status;
  uv_timer_start(&BN.quit_timer, on_quit, 0, 0);
}

static int rx_fn(uvble_task_t *t) {
  struct side *s = &S[0];
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&s->f, s->a, TOOL_TIMEOUT_MS), &s->f));
  if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
  uvble_config_get_mac(s->ble, &BN.rx_addr);
  {
    int r = uvble_async_l2cap_listen(s->a, PSM, 65535);
    if (r < 0) UVBLE_CO_RETURN(t, r);
  }
  {
    uvble_advertise_params_t p;
    uvble_advertise_params_init(&p);
    p.interval_us = 20000;
    p.fields.name = "uvble-bench";
    uvble_advertise(&s->f, s->a, &p, TOOL_TIMEOUT_MS);
  }
  uvble_future_set(&BN.rx_ready, 0);
  UVBLE_AWAIT(t, &s->f);
  if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
  s->conn = s->f.result.conn;
  UVBLE_AWAIT(t, (uvble_connection_l2cap_accept(&s->f, s->conn, PSM, 65535, TOOL_TIMEOUT_MS),
                  &s->f));
  if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
  s->ch = s->f.result.channel;
  while (BN.got < BN.bytes) {
    UVBLE_AWAIT(t, (uvble_l2cap_channel_recvinto(&s->f, s->ch, BN.buf, 65536,
                                                 TOOL_TIMEOUT_MS),
                    &s->f));
    if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
    BN.got += s->f.len;
  }
  BN.t1 = uv_hrtime();
  UVBLE_CO_END(t);
}

static int tx_fn(uvble_task_t *t) {
  struct side *s = &S[1];
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&s->f, s->a, TOOL_TIMEOUT_MS), &s->f));
  if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
  UVBLE_AWAIT(t, &BN.rx_ready);
  for (s->tries = 0; s->tries < 30; s->tries++) {
    {
      uvble_device_t d;
      uvble_device_init(&d, BN.rx_addr.type, BN.rx_addr.val);
      uvble_device_connect(&s->f, s->a, &d, NULL, TOOL_TIMEOUT_MS);
    }
    UVBLE_AWAIT(t, &s->f);
    if (!uvble_connect_retryable(&s->f)) break;
    UVBLE_AWAIT(t, (uvble_sleep(&s->f, BN.sched, 100), &s->f));
  }
  if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
  s->conn = s->f.result.conn;
  for (s->tries = 0;; s->tries++) {
    UVBLE_AWAIT(t, (uvble_connection_l2cap_connect(&s->f, s->conn, PSM, 65535,
                                                   TOOL_TIMEOUT_MS),
                    &s->f));
    if (s->f.status != UVBLE_EL2CAP || s->f.proto_status != 2 || s->tries == 30) break;
    UVBLE_AWAIT(t, (uvble_sleep(&s->f, BN.sched, 100), &s->f));
  }
  if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
  s->ch = s->f.result.channel;
  BN.t0 = uv_hrtime();
  UVBLE_AWAIT(t, (uvble_l2cap_channel_send(&s->f, s->ch, BN.buf + 65536, (size_t)BN.bytes,
                                           BN.sdu, 0),
                  &s->f));
  UVBLE_CO_RETURN(t, s->f.status);
  UVBLE_CO_END(t);
}

static void on_quit(uv_timer_t *t) {
  for (int i = 0; i < 2; i++)
    if (S[i].a) uvble_async_close(S[i].a, NULL, NULL);
  uvble_sched_close(BN.sched, NULL, NULL);
  uv_close((uv_handle_t *)t, NULL);
}

static void on_task_done(uvble_task_t *t) {
  if (BN.quitting) return;
  if (t->status) {
    char why[160];
    const struct side *s = t == &S[0].task ? &S[0] : &S[1];
    fprintf(stderr, "uvble bench: %s side: %s\n", t == &S[0].task ? "receiving" : "sending",
            cli_status(t->status, t->status == s->f.status ? s->f.proto_status : -1, why,
                       sizeof why));
    finish(1);
  } else if (!uvble_task_running(&S[0].task) && !uvble_task_running(&S[1].task)) {
    finish(0);
  }
}

int cmd_bench(int argc, char **argv) {
  static const struct option opts[] = {
      {"transport", required_argument, NULL, 't'},
      {"bytes", required_argument, NULL, 'b'},
      {"sdu", required_argument, NULL, 's'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  static const char *usage =
      "usage: uvble bench l2cap [-t T1 [-t T2]] [--bytes N (default 2000000)] [--sdu N]\n"
      "       uvble bench gatt --help\n";
  if (argc >= 2 && !strcmp(argv[1], "gatt")) return cmd_bench_gatt(argc, argv);
  if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) return cli_version();
  if (argc < 2 || strcmp(argv[1], "l2cap")) {
    fputs(usage, argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
    return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
  }
  BN.bytes = 2000000;
  cli_set_prog("uvble bench l2cap");
  int n = 0, c;
  uint64_t v;
  optind = 2;
  while ((c = getopt_long(argc, argv, "t:b:s:h", opts, NULL)) != -1) {
    switch (c) {
      case 't':
        if (n < 2) S[n++].transport = optarg;
        break;
      case 'b':
        if (cli_uint("--bytes", optarg, 1, 1u << 30, CLI_DEC, &v) < 0) return 2;
        BN.bytes = v;
        break;
      case 's':
        if (cli_uint("--sdu", optarg, 1, 1u << 30, CLI_DEC, &v) < 0) return 2;
        BN.sdu = (size_t)v;
        break;
      case 'h': fputs(usage, stdout); return 0;
      default: return 2; /* getopt named the option */
    }
  }
  const char *env = getenv("UVBLE_TRANSPORT");
  for (int i = n; i < 2; i++) S[i].transport = i ? S[0].transport : (env && *env ? env : "hci0");
  if (!BN.bytes || BN.bytes > (1u << 30)) {
    fputs(usage, stderr);
    return 2;
  }
  BN.buf = malloc(65536 + BN.bytes);
  if (!BN.buf) return 1;
  for (uint64_t i = 0; i < BN.bytes; i++) BN.buf[65536 + i] = (uint8_t)(i * 31 + 7);
  uv_loop_t *loop = uv_default_loop();
  uvble_sched_new(loop, &BN.sched);
  for (int i = 0; i < 2 && BN.status == 0; i++)
    BN.status = bench_open(loop, BN.sched, S[i].transport, &S[i].ble, &S[i].a);
  uv_timer_init(loop, &BN.quit_timer);
  if (BN.status == 0) {
    uvble_future_start(&BN.rx_ready, BN.sched, 0);
    uvble_task_spawn(BN.sched, &S[0].task, rx_fn, on_task_done);
    uvble_task_spawn(BN.sched, &S[1].task, tx_fn, on_task_done);
    uv_run(loop, UV_RUN_DEFAULT);
  } else {
    BN.quitting = true;
    on_quit(&BN.quit_timer);
    uv_run(loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(loop);
  if (BN.status == 0 && BN.got >= BN.bytes) {
    double s = (BN.t1 - BN.t0) / 1e9;
    printf("{\"bench\":\"uvble-l2cap\",\"metric\":\"throughput\",\"value\":%.1f,"
           "\"unit\":\"kB/s\",\"bytes\":%llu,\"seconds\":%.3f,\"sdu\":%zu,"
           "\"transports\":[\"%s\",\"%s\"]}\n",
           s > 0 ? BN.bytes / s / 1000 : 0, (unsigned long long)BN.bytes, s, BN.sdu,
           S[0].transport, S[1].transport);
  }
  free(BN.buf);
  return BN.status;
}
