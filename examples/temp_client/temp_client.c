/* SPDX-License-Identifier: Apache-2.0 */
/* temp_client: aioble's temp_client.py on uvble's async layer.
 *
 * Scans (active, 5 s) for a device advertising the Environmental Sensing
 * service (0x181A) under the given name, connects, finds the Temperature
 * characteristic (0x2A6E) and reads it once a second — or, with --notify,
 * subscribes and prints each notification.
 *
 *   uvble-temp-client [-t TRANSPORT] [--name NAME] [--count N] [--notify]
 *
 * Prints "found ADDR (NAME)", "connected", then "temperature 24.53" per
 * value. Exits 0 after --count values (default: until Ctrl-C), 1 when no
 * sensor was found or the link failed. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "uvble/async.h"
#include "uvble/co.h"
#include "uvble/uvble.h"

#define ESS_UUID 0x181A
#define TEMPERATURE_UUID 0x2A6E
#define TIMEOUT_MS 5000

struct client {
  uv_loop_t *loop;
  uvble_t *ble;
  uvble_async_t *a;
  uvble_sched_t *sched;
  uv_signal_t sigint, sigterm;
  uv_timer_t quit_timer;
  uvble_future_t quit_f; /* the disconnect when quitting */
  const char *name;
  long count; /* values to print; <= 0: forever */
  bool notify, quitting;
  int exit_code;

  uvble_task_t task;
  uvble_future_t f;
  uvble_scan_t *scan;
  uvble_device_t dev;
  bool found;
  uvble_connection_t *conn;
  uvble_client_characteristic_t *chr;
  uint8_t buf[32];
  long n;
};

static struct client C;

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* Links are taken down before the stack closes, so the peers see a
 * disconnection (closing the transport alone would leave them hanging
 * until their supervision timeout). Waits at most 500 ms. */
static bool links_up(void) {
  return C.conn && uvble_connection_is_connected(C.conn);
}

static void on_quit_timer(uv_timer_t *t) {
  static int waited;
  if (links_up() && waited++ < 25) return;
  uv_timer_stop(t);
  uvble_async_close(C.a, NULL, NULL);
  close_handle((uv_handle_t *)t);
}

static void quit(int code) {
  if (C.quitting) return;
  C.quitting = true;
  C.exit_code = code;
  close_handle((uv_handle_t *)&C.sigint);
  close_handle((uv_handle_t *)&C.sigterm);
  /* Closing the handles restores the default action: a second Ctrl-C
   * (timeout(1) sends one to the process and one to its group) must
   * not kill the clean shutdown that is under way. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  if (links_up()) uvble_connection_disconnect(&C.quit_f, C.conn, 500);
  uv_timer_start(&C.quit_timer, on_quit_timer, 0, 20);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  quit(0);
}

static void on_fatal(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  fprintf(stderr, "temp_client: the controller failed: %s\n",
          uvble_strerror(status));
  quit(1);
}

/* aioble's filter: the name and the service. */
static bool matches(const uvble_scan_result_t *r) {
  char name[64];
  if (uvble_scan_result_name(r, name, sizeof name) < 0) return false;
  if (strcmp(name, C.name) != 0) return false;
  uvble_uuid_t want = uvble_uuid16(ESS_UUID);
  return uvble_adv_has_service(r->adv_data, r->adv_len, r->resp_data,
                               r->resp_len, &want);
}

static int fail(uvble_task_t *t, const char *what, int status) {
  if (!C.quitting)
  {
    char why[160];
    fprintf(stderr, "temp_client: %s: %s\n", what,
            cli_status(status, C.f.proto_status, why, sizeof why));
  }
  quit(C.quitting ? C.exit_code : 1);
  t->status = status;
  return status;
}

static void print_value(const uint8_t *b, size_t n) {
  if (n < 2) {
    printf("temperature: %zu-byte value\n", n);
  } else {
    int16_t v = (int16_t)(b[0] | b[1] << 8);
    printf("temperature %.2f\n", v / 100.0);
  }
  fflush(stdout);
}

static int client_fn(uvble_task_t *t) {
  char addr[UVBLE_ADDR_STR_LEN];
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&C.f, C.a, 10000), &C.f));
  if (C.f.status) UVBLE_CO_RETURN(t, fail(t, "starting the controller", C.f.status));

  /* aioble.scan(5000, interval_us=30000, window_us=30000, active=True) */
  {
    uvble_scan_params_t p = {.duration_ms = 5000, .interval_us = 30000,
                             .window_us = 30000, .active = true};
    int r = uvble_scan_start(C.a, &p, &C.scan);
    if (r < 0) UVBLE_CO_RETURN(t, fail(t, "scanning", r));
  }
  for (;;) {
    UVBLE_AWAIT(t, (uvble_scan_next(&C.f, C.scan, 0), &C.f));
    if (C.f.status) break;
    if (matches(C.f.result.scan)) {
      C.dev = C.f.result.scan->device;
      C.found = true;
      break;
    }
  }
  uvble_scan_free(C.scan);
  C.scan = NULL;
  if (C.quitting) UVBLE_CO_RETURN(t, 0);
  if (!C.found) {
    fprintf(stderr, "temp_client: no sensor named %s found within 5 s\n", C.name);
    quit(1);
    UVBLE_CO_RETURN(t, UVBLE_ENOENT);
  }
  printf("found %s (%s)\n", uvble_device_addr_hex(&C.dev, addr), C.name);
  fflush(stdout);

  UVBLE_AWAIT(t, (uvble_device_connect(&C.f, C.a, &C.dev, NULL, TIMEOUT_MS), &C.f));
  if (C.f.status) UVBLE_CO_RETURN(t, fail(t, "connecting", C.f.status));
  C.conn = C.f.result.conn;
  printf("connected\n");
  fflush(stdout);

  {
    uvble_uuid_t u = uvble_uuid16(ESS_UUID);
    uvble_connection_service(&C.f, C.conn, &u, TIMEOUT_MS);
  }
  UVBLE_AWAIT(t, &C.f);
  if (C.f.status) UVBLE_CO_RETURN(t, fail(t, "finding the service", C.f.status));
  {
    uvble_uuid_t u = uvble_uuid16(TEMPERATURE_UUID);
    uvble_client_service_characteristic(&C.f, C.f.result.service, &u, TIMEOUT_MS);
  }
  UVBLE_AWAIT(t, &C.f);
  if (C.f.status)
    UVBLE_CO_RETURN(t, fail(t, "finding the characteristic", C.f.status));
  C.chr = C.f.result.characteristic;

  if (C.notify) {
    UVBLE_AWAIT(t, (uvble_client_characteristic_subscribe(&C.f, C.chr, true,
                                                          false, TIMEOUT_MS),
                    &C.f));
    if (C.f.status) UVBLE_CO_RETURN(t, fail(t, "subscribing", C.f.status));
  }
  for (C.n = 0; C.count <= 0 || C.n < C.count; C.n++) {
    if (C.notify) {
      UVBLE_AWAIT(t, (uvble_client_characteristic_notified(
                          &C.f, C.chr, C.buf, sizeof C.buf, 0),
                      &C.f));
    } else {
      if (C.n > 0) {
        UVBLE_AWAIT(t, (uvble_sleep(&C.f, C.sched, 1000), &C.f));
        if (C.f.status) break;
      }
      UVBLE_AWAIT(t, (uvble_client_characteristic_read(&C.f, C.chr, C.buf,
                                                       sizeof C.buf, TIMEOUT_MS),
                      &C.f));
    }
    if (C.f.status) UVBLE_CO_RETURN(t, fail(t, "reading", C.f.status));
    print_value(C.buf, C.f.len);
  }
  if (!C.quitting) {
    UVBLE_AWAIT(t, (uvble_connection_disconnect(&C.f, C.conn, TIMEOUT_MS), &C.f));
    quit(0);
  }
  UVBLE_CO_END(t);
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: uvble-temp-client [-t TRANSPORT] [--name NAME] [--count N] [--notify]\n"
          "  -t, --transport  controller (default: $UVBLE_TRANSPORT, else hci0)\n"
          "  -n, --name       the sensor's advertised name (default uvble-temp)\n"
          "  -c, --count      exit after N values (default: run until Ctrl-C)\n"
          "  -N, --notify     subscribe instead of reading every second\n"
          "  -V, --version    the version\n");
}

int main(int argc, char **argv) {
  const char *transport = getenv("UVBLE_TRANSPORT");
  static const struct option opts[] = {
      {"transport", required_argument, NULL, 't'},
      {"name", required_argument, NULL, 'n'},
      {"count", required_argument, NULL, 'c'},
      {"notify", no_argument, NULL, 'N'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  cli_set_prog("uvble-temp-client");
  C.name = "uvble-temp";
  int c;
  uint64_t v;
  while ((c = getopt_long(argc, argv, "t:n:c:NhV", opts, NULL)) != -1) {
    switch (c) {
      case 't': transport = optarg; break;
      case 'n': C.name = optarg; break;
      case 'c':
        if (cli_uint("--count", optarg, 1, 1000000000, CLI_DEC, &v) < 0) return 2;
        C.count = (long)v;
        break;
      case 'N': C.notify = true; break;
      case 'h': usage(stdout); return 0;
      case 'V': return cli_version();
      default: return 2; /* getopt named the option */
    }
  }
  if (optind != argc) {
    fprintf(stderr, "uvble-temp-client: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (!transport || !*transport) transport = "hci0";
  C.loop = uv_default_loop();
  char err[256] = "";
  int r = uvble_new(C.loop, transport, &C.ble, err, sizeof err);
  if (r < 0) {
    fprintf(stderr, "temp_client: %s: %s\n", transport,
            err[0] ? err : uvble_strerror(r));
    return 1;
  }
  r = uvble_async_new(C.ble, NULL, NULL, &C.a);
  if (r < 0) {
    fprintf(stderr, "temp_client: %s\n", uvble_strerror(r));
    uvble_close(C.ble, NULL, NULL);
    uv_run(C.loop, UV_RUN_DEFAULT);
    return 1;
  }
  C.sched = uvble_async_sched(C.a);
  uvble_async_on_fatal(C.a, on_fatal, NULL);
  uv_timer_init(C.loop, &C.quit_timer);
  uv_signal_init(C.loop, &C.sigint);
  uv_signal_init(C.loop, &C.sigterm);
  uv_signal_start(&C.sigint, on_signal, SIGINT);
  uv_signal_start(&C.sigterm, on_signal, SIGTERM);
  uvble_task_spawn(C.sched, &C.task, client_fn, NULL);
  uv_run(C.loop, UV_RUN_DEFAULT);
  uv_loop_close(C.loop);
  return C.exit_code;
}
