/* SPDX-License-Identifier: Apache-2.0 */
/* gateway: finds peripherals offering given GATT services (or the ones a
 * config file lists), connects to several at once, reads their
 * characteristics, subscribes to the notifying ones, polls the ones asked
 * for, and emits each value as one JSON line on stdout — and, with an MQTT
 * broker, publishes it, announces every device to Home Assistant (MQTT
 * discovery) and writes what arrives on .../set (bridge.c has the topics).
 *
 *   uvble-gateway [--config FILE] [-t TRANSPORT]... [-s UUID]... [--name PREFIX]
 *                 [--max N] [--duration SEC] [--mqtt URL] [--id NAME] [--check]
 *
 * The options override the file (config.h); SIGHUP reads the file again
 * and says what changed.
 *
 * Several -t spread the devices over several controllers (a gateway with
 * two dongles serves twice the links; the first controller also scans).
 * On btvirt give one per device: BlueZ 5.66's emulator hands the second
 * peripheral of a central a link handle its own controller does not know,
 * so only the first link of each central carries data there.
 *
 * Each device has its own task (the async layer's coroutines): connect,
 * exchange MTU, discover, read, subscribe, wait for the link to drop,
 * reconnect with back-off (1 s doubling to 30 s; after 5 failed attempts
 * in a row the device is forgotten until it is seen advertising again).
 * One more task scans in rounds for new devices. Values arrive through
 * future callbacks that re-arm themselves (one per characteristic); polls
 * are reads started from a once-a-second tick.
 *
 * JSON lines: {"time":..., "gateway":..., "device":"aa:bb:..", "name":..,
 * "alias":.. (when configured), "event":"connected"|"read"|"notify"|
 * "indicate"|"poll"|"write"|"subscribed"|"error"|"disconnected"|"gone",
 * "service":"181a", "characteristic":"2a6e", "hex":"..", "value": 24.5
 * and "unit" (known formats) or "text":".." (text, printable values)}. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "gateway.h"
#include "uvble/co.h"

#define MAX_ATTEMPTS 5
#define CONNECT_TIMEOUT_MS 10000
#define BACKOFF_MAX_MS 30000

struct gw G;

/* Options given on the command line: they win over the file, at start
 * and on every reload. */
static struct {
  const char *transports[MAX_CTL];
  size_t ntransports;
  const char *services[CFG_MAX_SERVICES];
  size_t nservices;
  const char *name_prefix, *mqtt_url, *id;
  size_t max_devices;
} CLI;

/* ---- lifecycle ----------------------------------------------------------------- */

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* Links are taken down before the stack closes, so the peers see a
 * disconnection (closing the transport alone would leave them hanging
 * until their supervision timeout). Waits at most 500 ms. */
static bool links_up(void) {
  for (struct dev *d = G.devs; d; d = d->next)
    if (d->conn && uvble_connection_is_connected(d->conn)) return true;
  return false;
}

static void on_quit_timer(uv_timer_t *t) {
  static int waited;
  if (links_up() && waited++ < 25) return;
  uv_timer_stop(t);
  /* Every pending future completes with UVBLE_ECANCELED inside this call
   * (device tasks emit "disconnected" and return); MQTT closes after, so
   * those last messages still go out. */
  for (size_t i = 0; i < G.nctl; i++)
    if (G.ctls[i].a) uvble_async_close(G.ctls[i].a, NULL, NULL);
  /* Tasks still waiting on the scheduler alone (sleeps) end now. */
  uvble_sched_close(G.sched, NULL, NULL);
  bridge_close();
  close_handle((uv_handle_t *)t);
}

static void quit(int code) {
  if (G.quitting) return;
  G.quitting = true;
  G.exit_code = code;
  close_handle((uv_handle_t *)&G.sigint);
  close_handle((uv_handle_t *)&G.sigterm);
  close_handle((uv_handle_t *)&G.sighup);
  /* Closing the handles restores the default action: a second Ctrl-C
   * (timeout(1) sends one to the process and one to its group) must
   * not kill the clean shutdown that is under way. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  close_handle((uv_handle_t *)&G.duration);
  close_handle((uv_handle_t *)&G.tick);
  for (struct dev *d = G.devs; d; d = d->next)
    if (d->conn && uvble_connection_is_connected(d->conn))
      uvble_connection_disconnect(&d->quit_f, d->conn, 500);
  uv_timer_start(&G.quit_timer, on_quit_timer, 0, 20);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  quit(0);
}

static void on_duration(uv_timer_t *t) {
  (void)t;
  quit(0);
}

static void on_fatal(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  const char *name = "?";
  for (size_t i = 0; i < G.nctl; i++)
    if (G.ctls[i].ble == ble) name = G.ctls[i].transport;
  fprintf(stderr, "gateway: controller %s failed: %s\n", name, uvble_strerror(status));
  quit(1);
}

/* ---- values -------------------------------------------------------------------- */

static void arm(struct chr *c);

static void on_value(uvble_future_t *f) {
  struct chr *c = f->data;
  if (f->status) return; /* the link dropped, or closing: not re-armed */
  emit(c->dev, c->indicate ? "indicate" : "notify", c, c->buf,
       f->len < sizeof c->buf ? f->len : sizeof c->buf, NULL);
  arm(c);
}

static void arm(struct chr *c) {
  c->nf.cb = on_value;
  c->nf.data = c;
  if (c->indicate)
    uvble_client_characteristic_indicated(&c->nf, c->c, c->buf, sizeof c->buf, 0);
  else
    uvble_client_characteristic_notified(&c->nf, c->c, c->buf, sizeof c->buf, 0);
}

static void on_polled(uvble_future_t *f) {
  struct chr *c = f->data;
  if (f->status) return;
  emit(c->dev, "poll", c, c->pbuf, f->len < sizeof c->pbuf ? f->len : sizeof c->pbuf, NULL);
}

/* When each characteristic of d is next read (the rules may have changed:
 * called when d is served and after a reload). */
static void schedule_polls(struct dev *d) {
  for (size_t i = 0; i < d->nchars; i++) {
    struct chr *c = &d->chars[i];
    const struct rule *r = config_rule(&G.cfg, c->dev->addr, &c->c->uuid);
    c->poll_next = r && r->poll_s && (c->c->properties & UVBLE_FLAG_READ)
                       ? uv_now(G.loop) + r->poll_s * 1000ull
                       : 0;
  }
}

/* Once a second: the polls that are due. */
static void on_tick(uv_timer_t *t) {
  uint64_t now = uv_now(t->loop);
  for (struct dev *d = G.devs; d; d = d->next) {
    if (!d->served) continue;
    for (size_t i = 0; i < d->nchars; i++) {
      struct chr *c = &d->chars[i];
      if (!c->poll_next || now < c->poll_next || uvble_future_pending(&c->pf)) continue;
      const struct rule *r = config_rule(&G.cfg, c->dev->addr, &c->c->uuid);
      c->poll_next = r && r->poll_s ? now + r->poll_s * 1000ull : 0;
      c->pf.cb = on_polled;
      c->pf.data = c;
      uvble_client_characteristic_read(&c->pf, c->c, c->pbuf, sizeof c->pbuf, OP_TIMEOUT_MS);
    }
  }
}

/* The listeners' characteristics belong to the connection object: make
 * sure no future refers to them before it goes. */
static void forget_chars(struct dev *d) {
  d->served = false;
  for (size_t i = 0; i < d->nchars; i++) {
    uvble_future_abandon(&d->chars[i].nf);
    uvble_future_abandon(&d->chars[i].pf);
    free(d->chars[i].last);
    d->chars[i].last = NULL;
  }
  d->nchars = 0;
}

static bool wanted(const uvble_uuid_t *u) {
  for (size_t i = 0; i < G.cfg.nservices; i++)
    if (uvble_uuid_equal(u, &G.cfg.services[i])) return true;
  return false;
}

static void add_chr(struct dev *d, uvble_client_service_t *s,
                    uvble_client_characteristic_t *ch) {
  const struct rule *r = config_rule(&G.cfg, d->addr, &ch->uuid);
  if (d->nchars == MAX_CHARS || (r && r->ignore)) return;
  struct chr *c = &d->chars[d->nchars++];
  memset(c, 0, sizeof *c);
  c->dev = d;
  c->c = ch;
  uuid_key(&s->uuid, c->svc);
  uuid_key(&ch->uuid, c->key);
}

static bool to_read(const struct chr *c) {
  const struct rule *r = config_rule(&G.cfg, c->dev->addr, &c->c->uuid);
  return (c->c->properties & UVBLE_FLAG_READ) && (!r || r->read);
}

static bool to_subscribe(const struct chr *c) {
  const struct rule *r = config_rule(&G.cfg, c->dev->addr, &c->c->uuid);
  return (c->c->properties & (UVBLE_FLAG_NOTIFY | UVBLE_FLAG_INDICATE)) &&
         (!r || r->subscribe);
}

/* ---- one task per device --------------------------------------------------------- */

/* Connected: discover, read, subscribe. Returns 0 or the failed step's
 * status (the caller disconnects). */
#define STEP(t, d, fexpr)                                              \
  do {                                                                 \
    UVBLE_AWAIT(t, fexpr);                                             \
    if ((d)->f.status) goto failed;                                    \
  } while (0)

static int dev_fn(uvble_task_t *t) {
  struct dev *d = t->data;
  UVBLE_CO_BEGIN(t);
  while (!G.quitting && config_allows(&G.cfg, d->addr)) {
    UVBLE_AWAIT(t, (uvble_device_connect(&d->f, d->ctl->a, &d->dev, NULL,
                                         CONNECT_TIMEOUT_MS),
                    &d->f));
    if (d->f.status) {
      if (G.quitting) break;
      if (++d->failures >= MAX_ATTEMPTS) break;
      goto backoff;
    }
    d->conn = d->f.result.conn;
    d->failures = 0;
    emit(d, "connected", NULL, NULL, 0, NULL);

    /* A larger MTU carries whole values in notifications; failing is fine. */
    UVBLE_AWAIT(t, (uvble_connection_exchange_mtu(&d->f, d->conn, 247, OP_TIMEOUT_MS),
                    &d->f));
    STEP(t, d, (uvble_connection_services(&d->f, d->conn, NULL, d->svcs,
                                          MAX_SERVICES, OP_TIMEOUT_MS),
                &d->f));
    d->nsvcs = d->f.len < MAX_SERVICES ? d->f.len : MAX_SERVICES;
    for (d->i = 0; d->i < (int)d->nsvcs; d->i++) {
      if (!wanted(&d->svcs[d->i]->uuid)) continue;
      STEP(t, d, (uvble_client_service_characteristics(
                      &d->f, d->svcs[d->i], NULL, d->found, MAX_CHARS, OP_TIMEOUT_MS),
                  &d->f));
      for (size_t k = 0; k < d->f.len && k < MAX_CHARS; k++)
        add_chr(d, d->svcs[d->i], d->found[k]);
    }
    for (d->j = 0; d->j < (int)d->nchars; d->j++) {
      if (!to_read(&d->chars[d->j])) continue;
      STEP(t, d, (uvble_client_characteristic_read(&d->f, d->chars[d->j].c, d->buf,
                                                   sizeof d->buf, OP_TIMEOUT_MS),
                  &d->f));
      emit(d, "read", &d->chars[d->j], d->buf,
           d->f.len < sizeof d->buf ? d->f.len : sizeof d->buf, NULL);
    }
    for (d->j = 0; d->j < (int)d->nchars; d->j++) {
      {
        struct chr *c = &d->chars[d->j];
        uint8_t props = c->c->properties;
        if (!to_subscribe(c)) continue;
        c->indicate = !(props & UVBLE_FLAG_NOTIFY);
        /* Listen first: values are queued from the first call on. */
        arm(c);
        uvble_client_characteristic_subscribe(&d->f, c->c, !c->indicate,
                                              c->indicate, OP_TIMEOUT_MS);
      }
      STEP(t, d, &d->f);
      emit(d, "subscribed", &d->chars[d->j], NULL, 0, NULL);
    }
    /* Served: the next drop starts the back-off from its first step. */
    d->backoff_ms = 0;
    d->served = true;
    publish_discovery(d);
    schedule_polls(d);
    UVBLE_AWAIT(t, (uvble_connection_disconnected(&d->f, d->conn, 0), &d->f));
    goto dropped;
  failed:
    if (!G.quitting) {
      {
        cJSON *why = cJSON_CreateObject();
        cJSON_AddStringToObject(why, "error", uvble_err_name(d->f.status));
        emit(d, "error", NULL, NULL, 0, why);
      }
      UVBLE_AWAIT(t, (uvble_connection_disconnect(&d->f, d->conn, OP_TIMEOUT_MS),
                      &d->f));
    }
  dropped:
    forget_chars(d);
    emit(d, "disconnected", NULL, NULL, 0, NULL);
    uvble_connection_release(d->conn);
    d->conn = NULL;
    if (G.quitting) break;
  backoff:
    d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : 1000;
    if (d->backoff_ms > BACKOFF_MAX_MS) d->backoff_ms = BACKOFF_MAX_MS;
    UVBLE_AWAIT(t, (uvble_sleep(&d->f, G.sched, d->backoff_ms), &d->f));
  }
  UVBLE_CO_END(t);
}

static void on_dev_done(uvble_task_t *t) {
  struct dev *d = t->data;
  struct dev **pp = &G.devs;
  while (*pp != d) pp = &(*pp)->next;
  *pp = d->next;
  G.ndevices--;
  d->ctl->ndevs--;
  if (!G.quitting) emit(d, "gone", NULL, NULL, 0, NULL);
  /* The quit disconnect may still be queued: d's memory goes now. */
  uvble_future_abandon(&d->quit_f);
  uvble_future_abandon(&d->kick_f);
  forget_chars(d);
  if (d->conn) uvble_connection_release(d->conn);
  free(d);
}

/* ---- scanning for new devices ------------------------------------------------------ */

static bool interesting(const uvble_scan_result_t *r, const char *addr) {
  if (!r->connectable || !config_allows(&G.cfg, addr)) return false;
  /* A listed device needs no further test. */
  if (config_device(&G.cfg, addr)) return true;
  if (G.cfg.name_prefix[0]) {
    char name[64];
    if (uvble_scan_result_name(r, name, sizeof name) < 0 ||
        strncmp(name, G.cfg.name_prefix, strlen(G.cfg.name_prefix)) != 0)
      return false;
  }
  for (size_t i = 0; i < G.cfg.nservices; i++)
    if (uvble_adv_has_service(r->adv_data, r->adv_len, r->resp_data, r->resp_len,
                              &G.cfg.services[i]))
      return true;
  return false;
}

static void consider(const uvble_scan_result_t *r) {
  char addr[UVBLE_ADDR_STR_LEN];
  uvble_device_addr_hex(&r->device, addr);
  if (G.ndevices >= G.cfg.max_devices || !interesting(r, addr)) return;
  for (struct dev *d = G.devs; d; d = d->next)
    if (uvble_device_equal(&d->dev, &r->device)) return;
  struct dev *d = calloc(1, sizeof *d);
  if (!d) return;
  d->dev = r->device;
  d->ctl = &G.ctls[0];
  for (size_t i = 1; i < G.nctl; i++)
    if (G.ctls[i].ndevs < d->ctl->ndevs) d->ctl = &G.ctls[i];
  d->ctl->ndevs++;
  memcpy(d->addr, addr, sizeof addr);
  if (uvble_scan_result_name(r, d->name, sizeof d->name) < 0) d->name[0] = 0;
  d->task.data = d;
  d->next = G.devs;
  G.devs = d;
  G.ndevices++;
  uvble_task_spawn(G.sched, &d->task, dev_fn, on_dev_done);
}

static int scan_fn(uvble_task_t *t) {
  static size_t i;
  UVBLE_CO_BEGIN(t);
  for (i = 0; i < G.nctl; i++) {
    UVBLE_AWAIT(t, (uvble_async_start(&G.scan_f, G.ctls[i].a, 10000), &G.scan_f));
    if (G.scan_f.status) {
      fprintf(stderr, "gateway: cannot start %s: %s\n", G.ctls[i].transport,
              uvble_strerror(G.scan_f.status));
      quit(1);
      UVBLE_CO_RETURN(t, G.scan_f.status);
    }
    {
      uvble_addr_t mac;
      char a[UVBLE_ADDR_STR_LEN];
      uvble_config_get_mac(G.ctls[i].ble, &mac);
      fprintf(stderr, "gateway: %s: controller %s up as %s\n", G.cfg.id,
              G.ctls[i].transport, uvble_addr_to_str(&mac, a));
    }
  }
  while (!G.quitting) {
    if (G.ndevices >= G.cfg.max_devices) {
      UVBLE_AWAIT(t, (uvble_sleep(&G.scan_f, G.sched, 1000), &G.scan_f));
      continue;
    }
    {
      /* Rounds of 5 s; a connect ends a round early (the controller does
       * one thing at a time) and the next round starts after it. */
      uvble_scan_params_t p = {.duration_ms = 5000, .interval_us = 100000,
                               .window_us = 100000, .active = true,
                               .ignore_rssi = true};
      if (uvble_scan_start(G.ctls[0].a, &p, &G.scan) < 0) G.scan = NULL;
    }
    while (G.scan) {
      UVBLE_AWAIT(t, (uvble_scan_next(&G.scan_f, G.scan, 0), &G.scan_f));
      if (G.scan_f.status) break;
      consider(G.scan_f.result.scan);
    }
    if (G.scan) uvble_scan_free(G.scan);
    G.scan = NULL;
    if (G.quitting) break;
    UVBLE_AWAIT(t, (uvble_sleep(&G.scan_f, G.sched, 200), &G.scan_f));
  }
  UVBLE_CO_END(t);
}

/* ---- configuration ------------------------------------------------------------------ */

/* The command line over the file; defaults where neither says. Returns 0
 * or -1 with a sentence in err. */
static int apply_cli(struct config *c, char *err, size_t errlen) {
  static char host[64];
  if (CLI.ntransports) {
    c->ntransports = 0;
    for (size_t i = 0; i < CLI.ntransports; i++)
      snprintf(c->transports[c->ntransports++], sizeof c->transports[0], "%s",
               CLI.transports[i]);
  }
  if (!c->ntransports) {
    const char *t = getenv("UVBLE_TRANSPORT");
    snprintf(c->transports[c->ntransports++], sizeof c->transports[0], "%s",
             t && *t ? t : "hci0");
  }
  if (CLI.nservices) {
    c->nservices = 0;
    for (size_t i = 0; i < CLI.nservices; i++) {
      const char *s = strcasecmp(CLI.services[i], "nus") ? CLI.services[i] : NUS_SERVICE;
      if (uvble_uuid_parse(&c->services[c->nservices++], s) < 0) {
        snprintf(err, errlen, "--service %s: not a UUID (\"181a\", \"nus\", 128-bit)",
                 CLI.services[i]);
        return -1;
      }
    }
  }
  if (!c->nservices) {
    c->services[c->nservices++] = uvble_uuid16(0x181A);
    uvble_uuid_parse(&c->services[c->nservices++], NUS_SERVICE);
  }
  if (CLI.name_prefix) snprintf(c->name_prefix, sizeof c->name_prefix, "%s", CLI.name_prefix);
  if (CLI.max_devices) c->max_devices = CLI.max_devices;
  if (CLI.mqtt_url) snprintf(c->mqtt.url, sizeof c->mqtt.url, "%s", CLI.mqtt_url);
  if (CLI.id) snprintf(c->id, sizeof c->id, "%s", CLI.id);
  if (!c->id[0]) {
    if (gethostname(host, sizeof host - 1) < 0 || !host[0]) snprintf(host, sizeof host, "gateway");
    snprintf(c->id, sizeof c->id, "%s", host);
  }
  if (strpbrk(c->id, "/+#")) {
    snprintf(err, errlen, "--id %s: must not contain '/', '+' or '#'", c->id);
    return -1;
  }
  struct mqtt_url u;
  if (c->mqtt.url[0] && mqtt_parse_url(c->mqtt.url, &u, err, errlen) < 0) return -1;
  return 0;
}

/* SIGHUP: read the file again; a bad file changes nothing. */
static void reload(void) {
  struct config n;
  char err[600], changed[300];
  if (!G.config_path) {
    fprintf(stderr, "gateway: SIGHUP: no --config file to reload\n");
    return;
  }
  if (config_load(G.config_path, &n, err, sizeof err) < 0 ||
      apply_cli(&n, err, sizeof err) < 0) {
    fprintf(stderr, "gateway: reload failed, the running configuration stays: %s\n", err);
    if (n.json) config_free(&n);
    return;
  }
  config_changes(&G.cfg, &n, changed, sizeof changed);
  bool broker = memcmp(&n.mqtt, &G.cfg.mqtt, sizeof n.mqtt) != 0 || strcmp(n.id, G.cfg.id);
  bool transports = n.ntransports != G.cfg.ntransports ||
                    memcmp(n.transports, G.cfg.transports, sizeof n.transports) != 0;
  config_free(&G.cfg);
  G.cfg = n;
  fprintf(stderr, "gateway: reloaded %s: %s%s\n", G.config_path,
          changed[0] ? "changed: " : "nothing changed", changed);
  if (transports) fprintf(stderr, "gateway: transports: a restart takes the new ones\n");
  if (broker) {
    bridge_close();
    if (bridge_open(err, sizeof err) < 0) fprintf(stderr, "gateway: mqtt: %s\n", err);
  }
  for (struct dev *d = G.devs; d; d = d->next) {
    bool up = d->conn && uvble_connection_is_connected(d->conn);
    if (up && !config_allows(&G.cfg, d->addr)) {
      fprintf(stderr, "gateway: %s is no longer allowed: disconnecting\n", d->addr);
      remove_discovery(d);
      uvble_connection_disconnect(&d->kick_f, d->conn, OP_TIMEOUT_MS);
    } else if (up && d->served) {
      schedule_polls(d);
      if (!broker) publish_discovery(d); /* names, units */
    }
  }
}

static void on_sighup(uv_signal_t *h, int signum) {
  (void)h;
  (void)signum;
  reload();
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(f,
          "usage: uvble-gateway [-c FILE] [-t TRANSPORT]... [-s UUID]... [--name PREFIX]\n"
          "                     [--max N] [--duration SEC] [--mqtt URL] [--id NAME] [--check]\n"
          "  -c, --config     a JSON configuration file (README: \"The gateway and\n"
          "                   Home Assistant\"); SIGHUP reloads it; options override it\n"
          "  -t, --transport  controller (default: $UVBLE_TRANSPORT, else hci0);\n"
          "                   repeat to spread the devices over several controllers\n"
          "  -s, --service    a service to look for (repeatable; default: 181a\n"
          "                   Environmental Sensing and nus, the Nordic UART Service)\n"
          "  -n, --name       only devices whose name starts with PREFIX\n"
          "  -m, --max        devices to serve at once (1-64; default 8)\n"
          "  -d, --duration   stop after SEC seconds (default: run until Ctrl-C)\n"
          "  -q, --mqtt       publish to mqtt://[user:pass@]host[:port] (also tcp://,\n"
          "                   mqtts:// for TLS, [IPv6]); credentials also from\n"
          "                   $UVBLE_MQTT_USERNAME / $UVBLE_MQTT_PASSWORD\n"
          "  -i, --id         the gateway's name in topics (default: the host name)\n"
          "      --check      check the configuration (file and options) and exit\n"
          "      --version    print the version and exit\n");
}

/* A whole decimal number in [lo, hi], or -1 after saying what is wrong. */
static long number_arg(const char *opt, const char *s, long lo, long hi) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < lo || v > hi) {
    fprintf(stderr, "gateway: %s %s: a whole number from %ld to %ld\n", opt, s, lo, hi);
    return -1;
  }
  return v;
}

static int parse_args(int argc, char **argv) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'},
      {"transport", required_argument, NULL, 't'},
      {"service", required_argument, NULL, 's'},
      {"name", required_argument, NULL, 'n'},
      {"max", required_argument, NULL, 'm'},
      {"duration", required_argument, NULL, 'd'},
      {"mqtt", required_argument, NULL, 'q'},
      {"id", required_argument, NULL, 'i'},
      {"check", no_argument, NULL, 'C'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  int opt;
  long v;
  while ((opt = getopt_long(argc, argv, "c:t:s:n:m:d:q:i:h", opts, NULL)) != -1) {
    switch (opt) {
      case 'c': G.config_path = optarg; break;
      case 't':
        if (CLI.ntransports == MAX_CTL) {
          fprintf(stderr, "gateway: --transport: at most %d controllers\n", MAX_CTL);
          return 2;
        }
        CLI.transports[CLI.ntransports++] = optarg;
        break;
      case 's':
        if (CLI.nservices == CFG_MAX_SERVICES) {
          fprintf(stderr, "gateway: --service: at most %d\n", CFG_MAX_SERVICES);
          return 2;
        }
        CLI.services[CLI.nservices++] = optarg;
        break;
      case 'n': CLI.name_prefix = optarg; break;
      case 'm':
        if ((v = number_arg("--max", optarg, 1, 64)) < 0) return 2;
        CLI.max_devices = (size_t)v;
        break;
      case 'd':
        if ((v = number_arg("--duration", optarg, 1, 10 * 365 * 86400L)) < 0) return 2;
        G.duration_s = (unsigned)v;
        break;
      case 'q': CLI.mqtt_url = optarg; break;
      case 'i': CLI.id = optarg; break;
      case 'C': G.check_only = true; break;
      case 'h': usage(stdout); return 0;
      case 'V': return cli_version();
      default: usage(stderr); return 2;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "gateway: unexpected argument %s\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  return -1;
}

/* The controllers keep these names across reloads (a reload cannot
 * change them). */
static char TRANSPORTS[MAX_CTL][128];

static int open_controllers(char *err, size_t errlen) {
  int r = uvble_sched_new(G.loop, &G.sched);
  G.nctl = G.cfg.ntransports;
  memcpy(TRANSPORTS, G.cfg.transports, sizeof TRANSPORTS);
  for (size_t i = 0; r >= 0 && i < G.nctl; i++) {
    struct ctl *c = &G.ctls[i];
    c->transport = TRANSPORTS[i];
    r = uvble_new(G.loop, c->transport, &c->ble, err, errlen);
    if (r >= 0) r = uvble_async_new(c->ble, G.sched, NULL, &c->a);
    if (r < 0) {
      fprintf(stderr, "gateway: %s: %s\n", c->transport, err[0] ? err : uvble_strerror(r));
      if (c->ble && !c->a) uvble_close(c->ble, NULL, NULL);
      return r;
    }
    uvble_async_on_fatal(c->a, on_fatal, NULL);
  }
  return r;
}

int main(int argc, char **argv) {
  char err[600] = "";
  cli_set_prog("uvble-gateway");
  int rc = parse_args(argc, argv);
  if (rc >= 0) return rc;
  if (G.config_path) {
    if (config_load(G.config_path, &G.cfg, err, sizeof err) < 0) {
      fprintf(stderr, "gateway: %s\n", err);
      return 2;
    }
  } else {
    config_init(&G.cfg);
  }
  if (apply_cli(&G.cfg, err, sizeof err) < 0) {
    fprintf(stderr, "gateway: %s\n", err);
    config_free(&G.cfg);
    return 2;
  }
  if (G.check_only) {
    printf("%s: ok\n", G.config_path ? G.config_path : "options");
    config_free(&G.cfg);
    return 0;
  }
  G.loop = uv_default_loop();
  if (bridge_open(err, sizeof err) < 0) {
    fprintf(stderr, "gateway: %s\n", err);
    config_free(&G.cfg);
    return 2;
  }
  err[0] = 0;
  if (open_controllers(err, sizeof err) < 0) {
    for (size_t i = 0; i < G.nctl; i++)
      if (G.ctls[i].a) uvble_async_close(G.ctls[i].a, NULL, NULL);
    if (G.sched) uvble_sched_close(G.sched, NULL, NULL);
    bridge_close();
    uv_run(G.loop, UV_RUN_DEFAULT);
    uv_loop_close(G.loop);
    config_free(&G.cfg);
    return 1;
  }
  uv_timer_init(G.loop, &G.quit_timer);
  uv_timer_init(G.loop, &G.duration);
  uv_timer_init(G.loop, &G.tick);
  uv_timer_start(&G.tick, on_tick, 1000, 1000);
  if (G.duration_s) uv_timer_start(&G.duration, on_duration, G.duration_s * 1000ull, 0);
  uv_signal_init(G.loop, &G.sigint);
  uv_signal_init(G.loop, &G.sigterm);
  uv_signal_init(G.loop, &G.sighup);
  uv_signal_start(&G.sigint, on_signal, SIGINT);
  uv_signal_start(&G.sigterm, on_signal, SIGTERM);
  uv_signal_start(&G.sighup, on_sighup, SIGHUP);
  uvble_task_spawn(G.sched, &G.scan_task, scan_fn, NULL);
  uv_run(G.loop, UV_RUN_DEFAULT);
  uv_loop_close(G.loop);
  config_free(&G.cfg);
  return G.exit_code;
}
