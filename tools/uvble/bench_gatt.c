/* SPDX-License-Identifier: Apache-2.0 */
/* uvble bench gatt: GATT between two controllers driven by this one
 * process (on btvirt, two virtual controllers; on hardware, -t hci0 -t
 * hci1), in two modes:
 *   throughput  the server notifies --bytes in MTU-3 chunks (flow
 *               controlled: nothing is dropped); the client counts them
 *   latency     the client reads a characteristic --reads times, one
 *               after the other: round-trip time per read
 * A summary on a terminal, one JSON line when piped (or --json), as
 * bench/ does. bench/run gatt has the full suite (core API, more phases). */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"
#include "uvble/gap.h"

#define SVC_UUID "7b5e0001-7556-424c-4542-656e63680000"
#define DATA_UUID "7b5e0002-7556-424c-4542-656e63680000"

static struct gside {
  const char *transport;
  uvble_t *ble;
  uvble_async_t *a;
  uvble_connection_t *conn;
  uvble_task_t task;
  uvble_future_t f;
} G[2]; /* 0 server (peripheral), 1 client (central) */

static struct {
  bool latency, json, quitting;
  uint64_t bytes, got, sent;
  unsigned reads, i, tries;
  size_t chunk;
  uint64_t t0, t1, *rtt;
  int status;
  uvble_sched_t *sched;
  uvble_addr_t addr;
  uvble_future_t ready, done;
  uvble_service_t *svc;
  uvble_characteristic_t *data;
  uvble_client_characteristic_t *cdata;
  uint8_t buf[UVBLE_GATT_MAX_ATTR_LEN], out[UVBLE_GATT_MAX_ATTR_LEN];
  uv_timer_t quit_timer;
} GB;

static void on_quit(uv_timer_t *t) {
  for (int i = 0; i < 2; i++)
    if (G[i].a) uvble_async_close(G[i].a, NULL, NULL);
  uvble_sched_close(GB.sched, NULL, NULL);
  uv_close((uv_handle_t *)t, NULL);
}

static void finish(int status) {
  if (GB.quitting) return;
  GB.quitting = true;
  GB.status = status;
  uv_timer_start(&GB.quit_timer, on_quit, 0, 0);
}

static int server_fn(uvble_task_t *t) {
  struct gside *s = &G[0];
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&s->f, s->a, TOOL_TIMEOUT_MS), &s->f));
  if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
  uvble_config_get_mac(s->ble, &GB.addr);
  {
    uvble_uuid_t su, du;
    uvble_uuid_parse(&su, SVC_UUID);
    uvble_uuid_parse(&du, DATA_UUID);
    uvble_characteristic_opts_t o = {.flags = UVBLE_FLAG_READ | UVBLE_FLAG_NOTIFY,
                                     .initial = "uvble bench", .initial_len = 11,
                                     .max_len = UVBLE_GATT_MAX_ATTR_LEN};
    int r = uvble_service_new(s->a, &su, &GB.svc);
    if (r == 0) r = uvble_characteristic_new(GB.svc, &du, &o, &GB.data);
    if (r == 0) r = uvble_register_services(s->a, &GB.svc, 1);
    if (r < 0) UVBLE_CO_RETURN(t, r);
  }
  {
    uvble_advertise_params_t p;
    uvble_advertise_params_init(&p);
    p.interval_us = 20000;
    p.fields.name = "uvble-bench-gatt";
    uvble_advertise(&s->f, s->a, &p, TOOL_TIMEOUT_MS);
  }
  uvble_future_set(&GB.ready, 0);
  UVBLE_AWAIT(t, &s->f);
  if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
  s->conn = s->f.result.conn;
  if (GB.latency) UVBLE_CO_RETURN(t, 0); /* the reads need nothing more */
  /* Stream once the client has subscribed (it says so through ready). */
  UVBLE_AWAIT(t, &GB.done);
  GB.t0 = uv_hrtime();
  while (GB.sent < GB.bytes) {
    {
      size_t n = GB.bytes - GB.sent < GB.chunk ? (size_t)(GB.bytes - GB.sent) : GB.chunk;
      memset(GB.out, (int)(GB.sent & 0xff), n);
      uvble_characteristic_notify_wait(&s->f, GB.data, s->conn, GB.out, n, TOOL_TIMEOUT_MS);
      GB.sent += n;
    }
    UVBLE_AWAIT(t, &s->f);
    if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
  }
  UVBLE_CO_END(t);
}

static int client_fn(uvble_task_t *t) {
  struct gside *s = &G[1];
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&s->f, s->a, TOOL_TIMEOUT_MS), &s->f));
  if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
  UVBLE_AWAIT(t, &GB.ready);
  for (GB.tries = 0; GB.tries < 30; GB.tries++) {
    {
      uvble_device_t d;
      uvble_device_init(&d, GB.addr.type, GB.addr.val);
      uvble_device_connect(&s->f, s->a, &d, NULL, TOOL_TIMEOUT_MS);
    }
    UVBLE_AWAIT(t, &s->f);
    if (!uvble_connect_retryable(&s->f)) break;
    UVBLE_AWAIT(t, (uvble_sleep(&s->f, GB.sched, 100), &s->f));
  }
  if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
  s->conn = s->f.result.conn;
  UVBLE_AWAIT(t, (uvble_connection_exchange_mtu(&s->f, s->conn, 517, TOOL_TIMEOUT_MS), &s->f));
  GB.chunk = (size_t)uvble_connection_mtu(s->conn) - 3;
  {
    uvble_uuid_t su;
    uvble_uuid_parse(&su, SVC_UUID);
    uvble_connection_service(&s->f, s->conn, &su, TOOL_TIMEOUT_MS);
  }
  UVBLE_AWAIT(t, &s->f);
  if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
  {
    uvble_uuid_t du;
    uvble_uuid_parse(&du, DATA_UUID);
    uvble_client_service_characteristic(&s->f, s->f.result.service, &du, TOOL_TIMEOUT_MS);
  }
  UVBLE_AWAIT(t, &s->f);
  if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
  GB.cdata = s->f.result.characteristic;
  if (GB.latency) {
    for (GB.i = 0; GB.i < GB.reads; GB.i++) {
      GB.rtt[GB.i] = uv_hrtime();
      UVBLE_AWAIT(t, (uvble_client_characteristic_read(&s->f, GB.cdata, GB.buf, sizeof GB.buf,
                                                       TOOL_TIMEOUT_MS),
                      &s->f));
      if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
      GB.rtt[GB.i] = uv_hrtime() - GB.rtt[GB.i];
    }
    UVBLE_CO_RETURN(t, 0);
  }
  uvble_client_characteristic_set_queue(GB.cdata, 4096);
  UVBLE_AWAIT(t, (uvble_client_characteristic_subscribe(&s->f, GB.cdata, true, false,
                                                         TOOL_TIMEOUT_MS),
                  &s->f));
  if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
  uvble_future_set(&GB.done, 0); /* the server may stream */
  while (GB.got < GB.bytes) {
    UVBLE_AWAIT(t, (uvble_client_characteristic_notified(&s->f, GB.cdata, GB.buf, sizeof GB.buf,
                                                         TOOL_TIMEOUT_MS),
                    &s->f));
    if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
    GB.got += s->f.len;
  }
  GB.t1 = uv_hrtime();
  UVBLE_CO_END(t);
}

static void on_done(uvble_task_t *t) {
  if (GB.quitting) return;
  if (t->status) {
    char why[160];
    struct gside *s = t == &G[0].task ? &G[0] : &G[1];
    fprintf(stderr, "uvble bench gatt: %s: %s\n", s == &G[0] ? "server" : "client",
            cli_status(t->status, t->status == s->f.status ? s->f.proto_status : -1, why,
                       sizeof why));
    finish(1);
  } else if (!uvble_task_running(&G[0].task) && !uvble_task_running(&G[1].task)) {
    finish(0);
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void report(void) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "bench", "uvble-gatt");
  if (GB.latency) {
    qsort(GB.rtt, GB.reads, sizeof *GB.rtt, cmp_u64);
    double sum = 0;
    for (unsigned i = 0; i < GB.reads; i++) sum += GB.rtt[i] / 1e3;
    double med = GB.rtt[GB.reads / 2] / 1e3, p99 = GB.rtt[(GB.reads * 99) / 100] / 1e3;
    double mn = GB.rtt[0] / 1e3, mx = GB.rtt[GB.reads - 1] / 1e3;
    if (!GB.json) {
      printf("GATT read latency over %u reads: median %.0f us, mean %.0f us, min %.0f us, "
             "p99 %.0f us, max %.0f us (%s -> %s)\n",
             GB.reads, med, sum / GB.reads, mn, p99, mx, G[1].transport, G[0].transport);
      cJSON_Delete(o);
      return;
    }
    cJSON_AddStringToObject(o, "metric", "read_latency");
    cJSON_AddNumberToObject(o, "value", round(med));
    cJSON_AddStringToObject(o, "unit", "us");
    cJSON_AddNumberToObject(o, "mean_us", round(sum / GB.reads));
    cJSON_AddNumberToObject(o, "min_us", round(mn));
    cJSON_AddNumberToObject(o, "p99_us", round(p99));
    cJSON_AddNumberToObject(o, "max_us", round(mx));
    cJSON_AddNumberToObject(o, "reads", GB.reads);
  } else {
    double s = (GB.t1 - GB.t0) / 1e9, kbs = s > 0 ? GB.bytes / s / 1000 : 0;
    if (!GB.json) {
      printf("GATT notification throughput: %.1f kB/s (%llu bytes in %.3f s, %zu-byte values; "
             "%s -> %s)\n",
             kbs, (unsigned long long)GB.bytes, s, GB.chunk, G[0].transport, G[1].transport);
      cJSON_Delete(o);
      return;
    }
    cJSON_AddStringToObject(o, "metric", "notify_throughput");
    cJSON_AddNumberToObject(o, "value", round(kbs * 10) / 10);
    cJSON_AddStringToObject(o, "unit", "kB/s");
    cJSON_AddNumberToObject(o, "bytes", (double)GB.bytes);
    cJSON_AddNumberToObject(o, "seconds", round(s * 1000) / 1000);
    cJSON_AddNumberToObject(o, "value_size", (double)GB.chunk);
  }
  cJSON *tr = cJSON_AddArrayToObject(o, "transports");
  cJSON_AddItemToArray(tr, cJSON_CreateString(G[0].transport));
  cJSON_AddItemToArray(tr, cJSON_CreateString(G[1].transport));
  cli_json_line(o);
}

static const char USAGE[] =
    "usage: uvble bench gatt [-t T1 [-t T2]] [--latency [--reads N]] [--bytes N] [--json]\n"
    "  default: notification throughput, --bytes 1..1073741824 (default 200000)\n"
    "  --latency   read round trips instead, --reads 1..1000000 (default 200)\n"
    "  a summary on a terminal; one JSON line when piped (or --json)\n";

int cmd_bench_gatt(int argc, char **argv) {
  static const struct option opts[] = {
      {"transport", required_argument, NULL, 't'}, {"bytes", required_argument, NULL, 'b'},
      {"latency", no_argument, NULL, 'l'},         {"reads", required_argument, NULL, 'r'},
      {"json", no_argument, NULL, 'j'},            {"version", no_argument, NULL, 'V'},
      {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
  cli_set_prog("uvble bench gatt");
  GB.bytes = 200000;
  GB.reads = 200;
  GB.json = !isatty(STDOUT_FILENO);
  int n = 0, c;
  uint64_t v;
  optind = 2;
  while ((c = getopt_long(argc, argv, "t:b:lr:jVh", opts, NULL)) != -1) {
    switch (c) {
      case 't':
        if (n < 2) G[n++].transport = optarg;
        break;
      case 'b':
        if (cli_uint("--bytes", optarg, 1, 1u << 30, CLI_DEC, &v) < 0) return 2;
        GB.bytes = v;
        break;
      case 'l': GB.latency = true; break;
      case 'r':
        if (cli_uint("--reads", optarg, 1, 1000000, CLI_DEC, &v) < 0) return 2;
        GB.reads = (unsigned)v;
        break;
      case 'j': GB.json = true; break;
      case 'V': return cli_version();
      case 'h': fputs(USAGE, stdout); return 0;
      default: return 2;
    }
  }
  const char *env = getenv("UVBLE_TRANSPORT");
  for (int i = n; i < 2; i++) G[i].transport = i ? G[0].transport : (env && *env ? env : "hci0");
  GB.rtt = calloc(GB.reads, sizeof *GB.rtt);
  if (!GB.rtt) return 1;
  uv_loop_t *loop = uv_default_loop();
  uvble_sched_new(loop, &GB.sched);
  for (int i = 0; i < 2 && GB.status == 0; i++)
    GB.status = bench_open(loop, GB.sched, G[i].transport, &G[i].ble, &G[i].a);
  uv_timer_init(loop, &GB.quit_timer);
  if (GB.status == 0) {
    uvble_future_start(&GB.ready, GB.sched, 0);
    uvble_future_start(&GB.done, GB.sched, 0);
    uvble_task_spawn(GB.sched, &G[0].task, server_fn, on_done);
    uvble_task_spawn(GB.sched, &G[1].task, client_fn, on_done);
  } else {
    GB.quitting = true;
    on_quit(&GB.quit_timer);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  if (GB.status == 0) report();
  free(GB.rtt);
  return GB.status;
}
