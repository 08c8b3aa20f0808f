/* gateway: finds peripherals offering given GATT services, connects to
 * several at once, reads every readable characteristic of those services,
 * subscribes to every notifying one, and emits each value as one JSON line
 * on stdout — and, with --mqtt, publishes it to a broker:
 *
 *   uvble/<gateway>/<device>/<characteristic uuid>        the value (JSON)
 *   uvble/<gateway>/<device>/status                       online / offline
 *   uvble/<gateway>/status                                online / offline
 *   uvble/<gateway>/<device>/<characteristic uuid>/set    write: hex payload
 *   uvble/<gateway>/<device>/<characteristic uuid>/result its outcome
 *
 *   uvble-gateway [-t TRANSPORT]... [-s UUID]... [--name PREFIX] [--max N]
 *                 [--duration SEC] [--mqtt URL] [--id NAME]
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
 * future callbacks that re-arm themselves (one per characteristic).
 *
 * JSON lines: {"time":..., "gateway":..., "device":"aa:bb:..", "name":..,
 * "event":"connected"|"read"|"notify"|"indicate"|"write"|"disconnected"|
 * "gone", "service":"181a", "characteristic":"2a6e", "hex":"..", "value":
 * 24.5 (known characteristics) or "text":".." (printable values)}. */
#include <ctype.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "mqtt.h"
#include "uvble/async.h"
#include "uvble/co.h"
#include "uvble/gatt.h"
#include "uvble/uvble.h"

#define MAX_FILTER 16
#define MAX_SERVICES 32
#define MAX_CHARS 32
#define MAX_ATTEMPTS 5
#define OP_TIMEOUT_MS 5000
#define CONNECT_TIMEOUT_MS 10000
#define BACKOFF_MAX_MS 30000
#define NUS_UUID "6e400001-b5a3-f393-e0a9-e50e24dcca9e"

#define MAX_CTL 8

struct dev;

/* A controller. Devices are spread over the controllers given with -t
 * (a gateway with two dongles serves twice the links); the first one also
 * scans. */
struct ctl {
  const char *transport;
  uvble_t *ble;
  uvble_async_t *a;
  size_t ndevs;
};

struct chr {
  struct dev *dev;
  uvble_client_characteristic_t *c;
  char svc[UVBLE_UUID_STR_LEN], uuid[UVBLE_UUID_STR_LEN];
  uvble_future_t nf; /* notified() / indicated(), re-armed by its callback */
  bool indicate;
  uint8_t buf[UVBLE_GATT_MAX_ATTR_LEN];
};

struct dev {
  struct dev *next;
  uvble_device_t dev;
  struct ctl *ctl;
  char addr[UVBLE_ADDR_STR_LEN];
  char name[64];
  uvble_task_t task;
  uvble_future_t f;
  uvble_future_t quit_f; /* the disconnect when quitting */
  uvble_connection_t *conn;
  unsigned backoff_ms;
  int failures, i, j;
  uvble_client_service_t *svcs[MAX_SERVICES];
  size_t nsvcs;
  uvble_client_characteristic_t *found[MAX_CHARS];
  struct chr chars[MAX_CHARS];
  size_t nchars;
  uint8_t buf[UVBLE_GATT_MAX_ATTR_LEN];
};

static struct gw {
  uv_loop_t *loop;
  struct ctl ctls[MAX_CTL];
  size_t nctl;
  uvble_sched_t *sched; /* shared by every controller's context */
  uv_signal_t sigint, sigterm;
  uv_timer_t duration, quit_timer;
  uvble_uuid_t filter[MAX_FILTER];
  size_t nfilter;
  const char *name_prefix;
  const char *id;
  size_t max_devices, ndevices;
  unsigned duration_s;
  struct mqtt *mqtt;
  bool quitting;
  int exit_code;
  struct dev *devs;
  uvble_task_t scan_task;
  uvble_future_t scan_f;
  uvble_scan_t *scan;
} G;

/* ---- output ------------------------------------------------------------------ */

static void json_str(char **p, char *end, const char *s) {
  *p += snprintf(*p, (size_t)(end - *p), "\"");
  for (; *s && *p < end - 8; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      *p += snprintf(*p, (size_t)(end - *p), "\\%c", ch);
    else if (ch < 0x20 || ch == 0x7f)
      *p += snprintf(*p, (size_t)(end - *p), "\\u%04x", ch);
    else
      *(*p)++ = (char)ch;
  }
  *p += snprintf(*p, (size_t)(end - *p), "\"");
}

static void now_iso(char *buf, size_t cap) {
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, cap - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

/* Decodes the characteristics whose format the SIG defines and that the
 * demo's devices offer; anything printable is shown as text. */
static void decode(char **p, char *end, const char *uuid, const uint8_t *v,
                   size_t n) {
  if (strcmp(uuid, "2a6e") == 0 && n == 2) { /* Temperature, 0.01 degC */
    *p += snprintf(*p, (size_t)(end - *p), ",\"value\":%.2f,\"unit\":\"degC\"",
                   (int16_t)(v[0] | v[1] << 8) / 100.0);
  } else if (strcmp(uuid, "2a6f") == 0 && n == 2) { /* Humidity, 0.01 % */
    *p += snprintf(*p, (size_t)(end - *p), ",\"value\":%.2f,\"unit\":\"%%\"",
                   (v[0] | v[1] << 8) / 100.0);
  } else if (strcmp(uuid, "2a19") == 0 && n == 1) { /* Battery Level */
    *p += snprintf(*p, (size_t)(end - *p), ",\"value\":%u,\"unit\":\"%%\"", v[0]);
  } else if (strcmp(uuid, "2a21") == 0 && n == 2) { /* Measurement Interval */
    *p += snprintf(*p, (size_t)(end - *p), ",\"value\":%u,\"unit\":\"s\"",
                   v[0] | v[1] << 8);
  } else if (n > 0) {
    char text[UVBLE_GATT_MAX_ATTR_LEN + 1];
    size_t i;
    for (i = 0; i < n && (isprint(v[i]) || v[i] == '\n' || v[i] == '\r' ||
                          v[i] == '\t');
         i++)
      text[i] = (char)v[i];
    if (i == n) {
      text[n] = 0;
      *p += snprintf(*p, (size_t)(end - *p), ",\"text\":");
      json_str(p, end, text);
    }
  }
}

/* One JSON line on stdout, and on MQTT: values go to the characteristic's
 * topic, everything else to the device's events. */
static void emit(struct dev *d, const char *event, const struct chr *c,
                 const uint8_t *v, size_t n, const char *extra) {
  char line[4096], ts[40];
  char *p = line, *end = line + sizeof line;
  now_iso(ts, sizeof ts);
  p += snprintf(p, (size_t)(end - p), "{\"time\":\"%s\",\"gateway\":", ts);
  json_str(&p, end, G.id);
  p += snprintf(p, (size_t)(end - p), ",\"device\":\"%s\",\"name\":", d->addr);
  json_str(&p, end, d->name);
  p += snprintf(p, (size_t)(end - p), ",\"event\":\"%s\"", event);
  if (c) {
    p += snprintf(p, (size_t)(end - p), ",\"service\":\"%s\",\"characteristic\":\"%s\"",
                  c->svc, c->uuid);
    if (v) {
      p += snprintf(p, (size_t)(end - p), ",\"hex\":\"");
      for (size_t i = 0; i < n && p < end - 512; i++)
        p += snprintf(p, (size_t)(end - p), "%02x", v[i]);
      p += snprintf(p, (size_t)(end - p), "\"");
      decode(&p, end, c->uuid, v, n);
    }
  }
  if (extra) p += snprintf(p, (size_t)(end - p), ",%s", extra);
  p += snprintf(p, (size_t)(end - p), "}");
  printf("%s\n", line);
  fflush(stdout);
  if (!G.mqtt) return;
  char topic[256];
  if (c && v) {
    snprintf(topic, sizeof topic, "uvble/%s/%s/%s", G.id, d->addr, c->uuid);
    mqtt_publish(G.mqtt, topic, line, (size_t)(p - line), false);
  } else if (!c && (strcmp(event, "connected") == 0 ||
                    strcmp(event, "disconnected") == 0 ||
                    strcmp(event, "gone") == 0)) {
    snprintf(topic, sizeof topic, "uvble/%s/%s/status", G.id, d->addr);
    const char *s = event[0] == 'c' ? "online" : "offline";
    mqtt_publish(G.mqtt, topic, s, strlen(s), true);
  }
}

/* Device status topics are retained state: a link that came up before the
 * broker connection (or while it was away) is announced again. */
static void republish_status(void *arg) {
  (void)arg;
  for (struct dev *d = G.devs; d; d = d->next) {
    if (!d->conn || !uvble_connection_is_connected(d->conn)) continue;
    char topic[256];
    snprintf(topic, sizeof topic, "uvble/%s/%s/status", G.id, d->addr);
    mqtt_publish(G.mqtt, topic, "online", 6, true);
  }
}

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
  mqtt_close(G.mqtt);
  G.mqtt = NULL;
  close_handle((uv_handle_t *)t);
}

static void quit(int code) {
  if (G.quitting) return;
  G.quitting = true;
  G.exit_code = code;
  close_handle((uv_handle_t *)&G.sigint);
  close_handle((uv_handle_t *)&G.sigterm);
  /* Closing the handles restores the default action: a second Ctrl-C
   * (timeout(1) sends one to the process and one to its group) must
   * not kill the clean shutdown that is under way. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  close_handle((uv_handle_t *)&G.duration);
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

static void on_fatal(uvble_t *ble, int status) {
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

/* The listeners' characteristics belong to the connection object: make
 * sure no future refers to them before it goes. */
static void forget_chars(struct dev *d) {
  for (size_t i = 0; i < d->nchars; i++) uvble_future_abandon(&d->chars[i].nf);
  d->nchars = 0;
}

static bool wanted(const uvble_uuid_t *u) {
  for (size_t i = 0; i < G.nfilter; i++)
    if (uvble_uuid_equal(u, &G.filter[i])) return true;
  return false;
}

static void add_chr(struct dev *d, uvble_client_service_t *s,
                    uvble_client_characteristic_t *ch) {
  if (d->nchars == MAX_CHARS) return;
  struct chr *c = &d->chars[d->nchars++];
  memset(c, 0, sizeof *c);
  c->dev = d;
  c->c = ch;
  uvble_uuid_to_str(&s->uuid, c->svc, sizeof c->svc);
  uvble_uuid_to_str(&ch->uuid, c->uuid, sizeof c->uuid);
}

static struct chr *find_chr(struct dev *d, const char *uuid) {
  uvble_uuid_t u;
  if (uvble_uuid_parse(&u, uuid) < 0) return NULL;
  for (size_t i = 0; i < d->nchars; i++)
    if (uvble_uuid_equal(&u, &d->chars[i].c->uuid)) return &d->chars[i];
  return NULL;
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
  while (!G.quitting) {
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
      if (!(d->chars[d->j].c->properties & UVBLE_FLAG_READ)) continue;
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
        if (!(props & (UVBLE_FLAG_NOTIFY | UVBLE_FLAG_INDICATE))) continue;
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
    UVBLE_AWAIT(t, (uvble_connection_disconnected(&d->f, d->conn, 0), &d->f));
    goto dropped;
  failed:
    if (!G.quitting) {
      char why[96];
      snprintf(why, sizeof why, "\"error\":\"%s\"", uvble_err_name(d->f.status));
      emit(d, "error", NULL, NULL, 0, why);
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
  forget_chars(d);
  if (d->conn) uvble_connection_release(d->conn);
  free(d);
}

/* ---- scanning for new devices ------------------------------------------------------ */

static bool interesting(const uvble_scan_result_t *r) {
  if (!r->connectable) return false;
  if (G.name_prefix) {
    char name[64];
    if (uvble_scan_result_name(r, name, sizeof name) < 0 ||
        strncmp(name, G.name_prefix, strlen(G.name_prefix)) != 0)
      return false;
  }
  for (size_t i = 0; i < G.nfilter; i++)
    if (uvble_adv_has_service(r->adv_data, r->adv_len, r->resp_data, r->resp_len,
                              &G.filter[i]))
      return true;
  return false;
}

static void consider(const uvble_scan_result_t *r) {
  if (G.ndevices >= G.max_devices || !interesting(r)) return;
  for (struct dev *d = G.devs; d; d = d->next)
    if (uvble_device_equal(&d->dev, &r->device)) return;
  struct dev *d = calloc(1, sizeof *d);
  if (!d) return;
  d->dev = r->device;
  d->ctl = &G.ctls[0];
  for (size_t i = 1; i < G.nctl; i++)
    if (G.ctls[i].ndevs < d->ctl->ndevs) d->ctl = &G.ctls[i];
  d->ctl->ndevs++;
  uvble_device_addr_hex(&d->dev, d->addr);
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
      fprintf(stderr, "gateway: %s: controller %s up as %s\n", G.id,
              G.ctls[i].transport, uvble_addr_to_str(&mac, a));
    }
  }
  while (!G.quitting) {
    if (G.ndevices >= G.max_devices) {
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

/* ---- writes from MQTT ------------------------------------------------------------- */

struct wreq {
  uvble_future_t f;
  struct dev *dev; /* only to name it: checked against G.devs */
  char topic[256], addr[UVBLE_ADDR_STR_LEN];
  uint8_t data[UVBLE_GATT_MAX_ATTR_LEN];
  size_t len;
};

static void write_result(const char *topic, const char *addr, int status) {
  char res[160], t[300];
  if (status == 0)
    snprintf(res, sizeof res, "{\"status\":\"ok\"}");
  else
    snprintf(res, sizeof res, "{\"status\":\"error\",\"error\":\"%s\"}",
             uvble_err_name(status));
  snprintf(t, sizeof t, "%s/result", topic);
  mqtt_publish(G.mqtt, t, res, strlen(res), false);
  fprintf(stderr, "gateway: write to %s: %s\n", addr,
          status ? uvble_strerror(status) : "ok");
}

static void on_write_done(uvble_future_t *f) {
  struct wreq *w = (struct wreq *)f;
  write_result(w->topic, w->addr, f->status);
  free(w);
}

static int parse_hex(const char *s, size_t n, uint8_t *out, size_t cap) {
  size_t len = 0;
  int nib = -1;
  for (size_t i = 0; i < n; i++) {
    int v;
    if (isspace((unsigned char)s[i]) || s[i] == ':') continue;
    if (s[i] >= '0' && s[i] <= '9') v = s[i] - '0';
    else if (s[i] >= 'a' && s[i] <= 'f') v = s[i] - 'a' + 10;
    else if (s[i] >= 'A' && s[i] <= 'F') v = s[i] - 'A' + 10;
    else return -1;
    if (nib < 0) {
      nib = v;
    } else {
      if (len == cap) return -1;
      out[len++] = (uint8_t)(nib << 4 | v);
      nib = -1;
    }
  }
  return nib < 0 ? (int)len : -1;
}

/* uvble/<id>/<device>/<uuid>/set, payload: the value in hex. */
static void on_mqtt_message(const char *topic, const void *payload, size_t len,
                            void *arg) {
  (void)arg;
  char addr[32], uuid[64];
  size_t idlen = strlen(G.id);
  if (strncmp(topic, "uvble/", 6) || strncmp(topic + 6, G.id, idlen) ||
      topic[6 + idlen] != '/')
    return;
  const char *rest = topic + 7 + idlen;
  if (sscanf(rest, "%31[^/]/%63[^/]/set", addr, uuid) != 2) return;
  char base[256];
  snprintf(base, sizeof base, "uvble/%s/%s/%s", G.id, addr, uuid);
  struct dev *d = G.devs;
  while (d && strcasecmp(d->addr, addr) != 0) d = d->next;
  struct chr *c = d && d->conn ? find_chr(d, uuid) : NULL;
  if (!c) {
    write_result(base, addr, d && d->conn ? UVBLE_ENOENT : UVBLE_ENOTCONN);
    return;
  }
  struct wreq *w = calloc(1, sizeof *w);
  if (!w) return;
  int n = parse_hex(payload, len, w->data, sizeof w->data);
  if (n < 0) {
    write_result(base, addr, UVBLE_EINVAL);
    free(w);
    return;
  }
  w->len = (size_t)n;
  snprintf(w->topic, sizeof w->topic, "%s", base);
  snprintf(w->addr, sizeof w->addr, "%s", d->addr);
  w->f.cb = on_write_done;
  emit(d, "write", c, w->data, w->len, NULL);
  int r = uvble_client_characteristic_write(&w->f, c->c, w->data, w->len,
                                            UVBLE_WRITE_AUTO, OP_TIMEOUT_MS);
  if (r < 0) { /* no callback follows */
    write_result(w->topic, w->addr, r);
    free(w);
  }
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(f,
          "usage: uvble-gateway [-t TRANSPORT] [-s UUID]... [--name PREFIX] [--max N]\n"
          "                     [--duration SEC] [--mqtt URL] [--id NAME]\n"
          "  -t, --transport  controller (default: $UVBLE_TRANSPORT, else hci0);\n"
          "                   repeat to spread the devices over several controllers\n"
          "  -s, --service    a service to look for (repeatable; default: 181a\n"
          "                   Environmental Sensing and the Nordic UART Service)\n"
          "  -n, --name       only devices whose name starts with PREFIX\n"
          "  -m, --max        devices to serve at once (default 8)\n"
          "  -d, --duration   stop after SEC seconds (default: run until Ctrl-C)\n"
          "  -q, --mqtt       publish to mqtt://[user:pass@]host[:port]\n"
          "  -i, --id         the gateway's name in topics (default: the host name)\n");
}

int main(int argc, char **argv) {
  const char *transport = getenv("UVBLE_TRANSPORT"), *mqtt_url = NULL;
  static const struct option opts[] = {
      {"transport", required_argument, NULL, 't'},
      {"service", required_argument, NULL, 's'},
      {"name", required_argument, NULL, 'n'},
      {"max", required_argument, NULL, 'm'},
      {"duration", required_argument, NULL, 'd'},
      {"mqtt", required_argument, NULL, 'q'},
      {"id", required_argument, NULL, 'i'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  static char host[64];
  G.max_devices = 8;
  int opt;
  while ((opt = getopt_long(argc, argv, "t:s:n:m:d:q:i:h", opts, NULL)) != -1) {
    switch (opt) {
      case 't':
        if (G.nctl == MAX_CTL) {
          fprintf(stderr, "gateway: at most %d controllers\n", MAX_CTL);
          return 2;
        }
        G.ctls[G.nctl++].transport = optarg;
        break;
      case 's':
        if (G.nfilter == MAX_FILTER || uvble_uuid_parse(&G.filter[G.nfilter++], optarg) < 0) {
          fprintf(stderr, "gateway: bad service UUID %s\n", optarg);
          return 2;
        }
        break;
      case 'n': G.name_prefix = optarg; break;
      case 'm': G.max_devices = strtoul(optarg, NULL, 0); break;
      case 'd': G.duration_s = (unsigned)strtoul(optarg, NULL, 0); break;
      case 'q': mqtt_url = optarg; break;
      case 'i': G.id = optarg; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind != argc || G.max_devices == 0) {
    usage(stderr);
    return 2;
  }
  if (!transport || !*transport) transport = "hci0";
  if (G.nctl == 0) G.ctls[G.nctl++].transport = transport;
  if (G.nfilter == 0) {
    G.filter[G.nfilter++] = uvble_uuid16(0x181A);
    uvble_uuid_parse(&G.filter[G.nfilter++], NUS_UUID);
  }
  if (!G.id) {
    if (gethostname(host, sizeof host - 1) < 0 || !host[0]) snprintf(host, sizeof host, "gateway");
    G.id = host;
  }
  if (strpbrk(G.id, "/+#")) {
    fprintf(stderr, "gateway: --id must not contain '/', '+' or '#'\n");
    return 2;
  }
  G.loop = uv_default_loop();
  char err[256] = "";
  if (mqtt_url) {
    char topic[128], client[128];
    snprintf(topic, sizeof topic, "uvble/%s/status", G.id);
    snprintf(client, sizeof client, "uvble-gateway-%s-%d", G.id, (int)getpid());
    if (mqtt_open(G.loop, mqtt_url, client, topic, on_mqtt_message, NULL, &G.mqtt,
                  err, sizeof err) < 0) {
      fprintf(stderr, "gateway: %s\n", err);
      return 2;
    }
    snprintf(topic, sizeof topic, "uvble/%s/+/+/set", G.id);
    mqtt_subscribe(G.mqtt, topic);
    mqtt_on_connected(G.mqtt, republish_status, NULL);
  }
  int r = uvble_sched_new(G.loop, &G.sched);
  for (size_t i = 0; r >= 0 && i < G.nctl; i++) {
    struct ctl *c = &G.ctls[i];
    r = uvble_new(G.loop, c->transport, &c->ble, err, sizeof err);
    if (r >= 0) r = uvble_async_new(c->ble, G.sched, NULL, &c->a);
    if (r < 0) {
      fprintf(stderr, "gateway: %s: %s\n", c->transport, err[0] ? err : uvble_strerror(r));
      if (c->ble && !c->a) uvble_close(c->ble, NULL);
      break;
    }
    uvble_async_on_fatal(c->a, on_fatal);
  }
  if (r < 0) {
    for (size_t i = 0; i < G.nctl; i++)
      if (G.ctls[i].a) uvble_async_close(G.ctls[i].a, NULL, NULL);
    if (G.sched) uvble_sched_close(G.sched, NULL, NULL);
    mqtt_close(G.mqtt);
    uv_run(G.loop, UV_RUN_DEFAULT);
    uv_loop_close(G.loop);
    return 1;
  }
  uv_timer_init(G.loop, &G.quit_timer);
  uv_timer_init(G.loop, &G.duration);
  if (G.duration_s) uv_timer_start(&G.duration, on_duration, G.duration_s * 1000ull, 0);
  uv_signal_init(G.loop, &G.sigint);
  uv_signal_init(G.loop, &G.sigterm);
  uv_signal_start(&G.sigint, on_signal, SIGINT);
  uv_signal_start(&G.sigterm, on_signal, SIGTERM);
  uvble_task_spawn(G.sched, &G.scan_task, scan_fn, NULL);
  uv_run(G.loop, UV_RUN_DEFAULT);
  uv_loop_close(G.loop);
  return G.exit_code;
}
