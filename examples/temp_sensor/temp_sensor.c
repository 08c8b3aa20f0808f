/* SPDX-License-Identifier: Apache-2.0 */
/* temp_sensor: aioble's temp_sensor.py on uvble's async layer.
 *
 * A peripheral with the Environmental Sensing service (0x181A): a
 * Temperature characteristic (0x2A6E, read + notify, sint16 in hundredths
 * of a degree Celsius) updated every second with a random walk and sent to
 * a subscribed central, and — uvble's addition, so that a gateway has
 * something to write — a Measurement Interval characteristic (0x2A21,
 * read + write, uint16 seconds) that changes the update period.
 *
 * As in aioble, it advertises (name, service, appearance 768 "Generic
 * Thermometer") until a central connects, waits for the disconnect, and
 * advertises again.
 *
 *   uvble-temp-sensor [-t TRANSPORT] [--name NAME] [--interval MS] [-v] [-p]
 *
 * Output on stdout, one line per event: "advertising as ADDR (NAME)",
 * "connected ADDR", "interval N s (written by ADDR)", "disconnected ADDR";
 * with -v every temperature too. Ctrl-C (or SIGTERM) exits cleanly.
 * With --passkey, pairing must be authenticated: the sensor has a display
 * only, and prints "passkey NNNNNN" for the central's user to type in.
 * SIGHUP drops the current central, as a sensor carried out of range would,
 * and advertises again: how a gateway's reconnection is exercised. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "uvble/async.h"
#include "uvble/co.h"
#include "uvble/gatts.h"
#include "uvble/security.h"
#include "uvble/uvble.h"

#define ESS_UUID 0x181A
#define TEMPERATURE_UUID 0x2A6E
#define INTERVAL_UUID 0x2A21
#define APPEARANCE_THERMOMETER 768

struct sensor {
  uv_loop_t *loop;
  uvble_t *ble;
  uvble_async_t *a;
  uvble_sched_t *sched;
  uvble_characteristic_t *temp, *interval;
  uv_signal_t sigint, sigterm, sighup;
  uvble_future_t drop_f; /* SIGHUP's disconnect */
  uvble_future_t quit_f; /* the disconnect when quitting */
  bool passkey;          /* --passkey: pairing needs MITM, we display */
  uvble_task_t pk_task;
  uvble_future_t pk_f;
  uv_timer_t update, quit_timer;
  const char *name;
  unsigned interval_ms;
  bool verbose, quitting;
  int exit_code;
  double temp_c;
  /* Tasks: the advertise/connect loop and the interval writer. */
  uvble_task_t adv_task;
  uvble_future_t adv_f;
  uvble_connection_t *conn;
  uvble_task_t write_task;
  uvble_future_t write_f;
  uint8_t wbuf[8];
  char why[160]; /* a status in words */
};

static struct sensor S;

static void on_async_closed(uvble_async_t *a, void *arg) {
  (void)a;
  (void)arg;
}

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* Links are taken down before the stack closes, so the peers see a
 * disconnection (closing the transport alone would leave them hanging
 * until their supervision timeout). Waits at most 500 ms. */
static bool links_up(void) {
  return S.conn && uvble_connection_is_connected(S.conn);
}

static void on_quit_timer(uv_timer_t *t) {
  static int waited;
  if (links_up() && waited++ < 25) return;
  uv_timer_stop(t);
  (void)t;
  /* Outside any stack callback: closing here completes every pending
   * future (the tasks see UVBLE_ECANCELED and return), then frees it all. */
  uvble_async_close(S.a, on_async_closed, NULL);
  close_handle((uv_handle_t *)&S.quit_timer);
}

static void quit(int code) {
  if (S.quitting) return;
  S.quitting = true;
  S.exit_code = code;
  close_handle((uv_handle_t *)&S.sigint);
  close_handle((uv_handle_t *)&S.sigterm);
  close_handle((uv_handle_t *)&S.sighup);
  /* Closing the handles restores the default action: a second Ctrl-C
   * (timeout(1) sends one to the process and one to its group) must
   * not kill the clean shutdown that is under way. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  close_handle((uv_handle_t *)&S.update);
  if (links_up()) uvble_connection_disconnect(&S.quit_f, S.conn, 500);
  uv_timer_start(&S.quit_timer, on_quit_timer, 0, 20);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  quit(0);
}

static void on_hangup(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  if (S.quitting || !S.conn || !uvble_connection_is_connected(S.conn) ||
      uvble_future_pending(&S.drop_f))
    return;
  uvble_connection_disconnect(&S.drop_f, S.conn, 2000);
}

static void on_fatal(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  fprintf(stderr, "temp_sensor: the controller failed: %s\n",
          uvble_strerror(status));
  quit(1);
}

/* Every interval: a small random walk, like aioble's example; the write
 * with send_update notifies every subscribed central. */
static void on_update(uv_timer_t *t) {
  (void)t;
  S.temp_c += (rand() % 21 - 10) / 100.0;
  if (S.temp_c < 15) S.temp_c = 15;
  if (S.temp_c > 35) S.temp_c = 35;
  int16_t v = (int16_t)(S.temp_c * 100 + (S.temp_c >= 0 ? 0.5 : -0.5));
  uint8_t le[2] = {(uint8_t)(v & 0xff), (uint8_t)((uint16_t)v >> 8)};
  uvble_characteristic_write(S.temp, le, sizeof le, true);
  if (S.verbose) {
    printf("temperature %.2f\n", v / 100.0);
    fflush(stdout);
  }
}

static void set_interval(unsigned ms) {
  S.interval_ms = ms;
  uv_timer_start(&S.update, on_update, ms, ms);
  uint16_t s = (uint16_t)((ms + 999) / 1000);
  uint8_t le[2] = {(uint8_t)(s & 0xff), (uint8_t)(s >> 8)};
  uvble_characteristic_write(S.interval, le, sizeof le, false);
}

static int register_services(void) {
  uvble_uuid_t ess = uvble_uuid16(ESS_UUID), tu = uvble_uuid16(TEMPERATURE_UUID),
               iu = uvble_uuid16(INTERVAL_UUID);
  uvble_service_t *svc;
  int r = uvble_service_new(S.a, &ess, &svc);
  if (r < 0) return r;
  uvble_characteristic_opts_t o = {.flags = UVBLE_FLAG_READ | UVBLE_FLAG_NOTIFY};
  r = uvble_characteristic_new(svc, &tu, &o, &S.temp);
  if (r < 0) return r;
  /* Captured, so each written value reaches the writer task intact. */
  uvble_characteristic_opts_t w = {.flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE,
                                   .capture = true};
  r = uvble_characteristic_new(svc, &iu, &w, &S.interval);
  if (r < 0) return r;
  return uvble_register_services(S.a, &svc, 1);
}

static const char *peer(uvble_connection_t *c, char buf[UVBLE_ADDR_STR_LEN]) {
  if (!c) return "?";
  return uvble_device_addr_hex(uvble_connection_device(c), buf);
}

/* Applies what centrals write to the Measurement Interval. */
static int write_fn(uvble_task_t *t) {
  UVBLE_CO_BEGIN(t);
  while (!S.quitting) {
    UVBLE_AWAIT(t, (uvble_characteristic_written(&S.write_f, S.interval, S.wbuf,
                                                 sizeof S.wbuf, 0),
                    &S.write_f));
    if (S.write_f.status) break; /* closing */
    if (S.write_f.len == 2) {
      unsigned s = S.wbuf[0] | (unsigned)S.wbuf[1] << 8;
      char a[UVBLE_ADDR_STR_LEN];
      if (s == 0) s = 1;
      if (s > 3600) s = 3600;
      set_interval(s * 1000);
      printf("interval %u s (written by %s)\n", s, peer(S.write_f.result.conn, a));
    } else {
      printf("ignored a %zu-byte write to the measurement interval\n",
             S.write_f.len);
      set_interval(S.interval_ms); /* put the value back */
    }
    fflush(stdout);
  }
  UVBLE_CO_END(t);
}

/* Shows the passkeys of this link's pairings until the link goes. */
static int passkey_fn(uvble_task_t *t) {
  UVBLE_CO_BEGIN(t);
  while (S.conn) {
    UVBLE_AWAIT(t, (uvble_connection_passkey_action(&S.pk_f, S.conn, 0), &S.pk_f));
    if (S.pk_f.status) break;
    if (S.pk_f.result.passkey.action == UVBLE_PASSKEY_ACTION_DISPLAY) {
      printf("passkey %06u\n", S.pk_f.result.passkey.passkey);
      fflush(stdout);
    }
  }
  UVBLE_CO_END(t);
}

static int adv_fn(uvble_task_t *t) {
  char addr[UVBLE_ADDR_STR_LEN];
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&S.adv_f, S.a, 10000), &S.adv_f));
  if (S.adv_f.status) {
    fprintf(stderr, "temp_sensor: cannot start the controller: %s\n",
            cli_fstatus(&S.adv_f, S.why, sizeof S.why));
    quit(1);
    UVBLE_CO_RETURN(t, S.adv_f.status);
  }
  uvble_config_set_name(S.ble, S.name, strlen(S.name));
  /* GAP's Appearance characteristic says what the advertising says. */
  uvble_gatts_set_appearance(S.ble, APPEARANCE_THERMOMETER);
  if (S.passkey) {
    uvble_config_set_int(S.ble, UVBLE_CONFIG_IO, UVBLE_IO_DISPLAY_ONLY);
    uvble_config_set_int(S.ble, UVBLE_CONFIG_MITM, 1);
  }
  {
    int r = register_services();
    if (r < 0) {
      fprintf(stderr, "temp_sensor: registering services: %s\n",
              uvble_strerror(r));
      quit(1);
      UVBLE_CO_RETURN(t, r);
    }
  }
  set_interval(S.interval_ms);
  on_update(NULL); /* a first value for early readers */
  uvble_task_spawn(S.sched, &S.write_task, write_fn, NULL);
  while (!S.quitting) {
    {
      uvble_advertise_params_t p;
      static uvble_uuid_t svc;
      svc = uvble_uuid16(ESS_UUID);
      uvble_advertise_params_init(&p);
      p.interval_us = 250000; /* aioble's example: 250 ms */
      p.fields.name = S.name;
      p.fields.services = &svc;
      p.fields.num_services = 1;
      p.fields.appearance = APPEARANCE_THERMOMETER;
      uvble_addr_t mac;
      uvble_config_get_mac(S.ble, &mac);
      printf("advertising as %s (%s)\n", uvble_addr_to_str(&mac, addr), S.name);
      fflush(stdout);
      uvble_advertise(&S.adv_f, S.a, &p, 0);
    }
    UVBLE_AWAIT(t, &S.adv_f);
    if (S.adv_f.status) {
      if (S.quitting || S.adv_f.status == UVBLE_ECANCELED) break;
      fprintf(stderr, "temp_sensor: advertising: %s\n",
              cli_fstatus(&S.adv_f, S.why, sizeof S.why));
      UVBLE_AWAIT(t, (uvble_sleep(&S.adv_f, S.sched, 1000), &S.adv_f));
      continue;
    }
    S.conn = S.adv_f.result.conn;
    printf("connected %s\n", peer(S.conn, addr));
    fflush(stdout);
    if (S.passkey) uvble_task_spawn(S.sched, &S.pk_task, passkey_fn, NULL);
    UVBLE_AWAIT(t, (uvble_connection_disconnected(&S.adv_f, S.conn, 0), &S.adv_f));
    printf("disconnected %s\n", peer(S.conn, addr));
    fflush(stdout);
    uvble_connection_release(S.conn);
    S.conn = NULL;
  }
  UVBLE_CO_END(t);
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: uvble-temp-sensor [-t TRANSPORT] [--name NAME] [--interval MS] [-v] [-p]\n"
          "  -t, --transport  hci0 | uart:/dev/ttyACM0?baud=1000000&flow=1 |\n"
          "                   unix:/tmp/bt-server-le | tcp:HOST:PORT\n"
          "                   (default: $UVBLE_TRANSPORT, else hci0)\n"
          "  -n, --name       advertised name (default uvble-temp)\n"
          "  -i, --interval   update period in ms (default 1000)\n"
          "  -s, --seed       random seed of the simulated temperature\n"
          "  -v, --verbose    print every value\n"
          "  -p, --passkey    pairing needs MITM protection: show a passkey\n"
          "  -V, --version    the version\n");
}

int main(int argc, char **argv) {
  const char *transport = getenv("UVBLE_TRANSPORT");
  static const struct option opts[] = {
      {"transport", required_argument, NULL, 't'},
      {"name", required_argument, NULL, 'n'},
      {"interval", required_argument, NULL, 'i'},
      {"seed", required_argument, NULL, 's'},
      {"verbose", no_argument, NULL, 'v'},
      {"passkey", no_argument, NULL, 'p'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  cli_set_prog("uvble-temp-sensor");
  S.name = "uvble-temp";
  S.interval_ms = 1000;
  unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  int c;
  uint64_t v;
  while ((c = getopt_long(argc, argv, "t:n:i:s:vphV", opts, NULL)) != -1) {
    switch (c) {
      case 't': transport = optarg; break;
      case 'n': S.name = optarg; break;
      case 'i':
        if (cli_uint("--interval", optarg, 100, 3600000, CLI_DEC, &v) < 0) return 2;
        S.interval_ms = (unsigned)v;
        break;
      case 's':
        if (cli_uint("--seed", optarg, 0, UINT32_MAX, CLI_DEC, &v) < 0) return 2;
        seed = (unsigned)v;
        break;
      case 'v': S.verbose = true; break;
      case 'p': S.passkey = true; break;
      case 'h': usage(stdout); return 0;
      case 'V': return cli_version();
      default: return 2; /* getopt named the option */
    }
  }
  if (optind != argc) {
    fprintf(stderr, "uvble-temp-sensor: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (!transport || !*transport) transport = "hci0";
  srand(seed);
  S.temp_c = 24.5 + (rand() % 100) / 100.0;

  S.loop = uv_default_loop();
  char err[256] = "";
  int r = uvble_new(S.loop, transport, &S.ble, err, sizeof err);
  if (r < 0) {
    fprintf(stderr, "temp_sensor: %s: %s\n", transport,
            err[0] ? err : uvble_strerror(r));
    return 1;
  }
  r = uvble_async_new(S.ble, NULL, NULL, &S.a);
  if (r < 0) {
    fprintf(stderr, "temp_sensor: %s\n", uvble_strerror(r));
    uvble_close(S.ble, NULL, NULL);
    uv_run(S.loop, UV_RUN_DEFAULT);
    return 1;
  }
  S.sched = uvble_async_sched(S.a);
  uvble_async_on_fatal(S.a, on_fatal, NULL);
  uv_timer_init(S.loop, &S.update);
  uv_timer_init(S.loop, &S.quit_timer);
  uv_signal_init(S.loop, &S.sigint);
  uv_signal_init(S.loop, &S.sigterm);
  uv_signal_start(&S.sigint, on_signal, SIGINT);
  uv_signal_start(&S.sigterm, on_signal, SIGTERM);
  uv_signal_init(S.loop, &S.sighup);
  uv_signal_start(&S.sighup, on_hangup, SIGHUP);
  uvble_task_spawn(S.sched, &S.adv_task, adv_fn, NULL);
  uv_run(S.loop, UV_RUN_DEFAULT);
  uv_loop_close(S.loop);
  return S.exit_code;
}
