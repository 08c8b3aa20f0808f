/* SPDX-License-Identifier: Apache-2.0 */
/* What the gateway tells the world and what it takes from it: JSON lines
 * on stdout, MQTT topics, Home Assistant discovery, writes from /set.
 *
 *   P/<id>/status                         online / offline (the will)
 *   P/<id>/<device>/status                online / offline, retained
 *   P/<id>/<device>/<uuid>                the last value (JSON), retained
 *   P/<id>/<device>/<uuid>/set            write (see fmt_encode)
 *   P/<id>/<device>/<uuid>/result         its outcome (only here)
 *   <discovery prefix>/<component>/uvble_<device>/<uuid>/config
 *
 * P is mqtt.topic_prefix ("uvble"), <uuid> the short form for SIG UUIDs.
 * Every entity's availability lists both status topics with mode "all":
 * the gateway's will turns everything unavailable when it dies, and a
 * device's own status when its link drops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"

static void now_iso(char *buf, size_t cap) {
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, cap - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

const char *dev_label(const struct dev *d) {
  const struct device_cfg *dc = config_device(&G.cfg, d->addr);
  if (dc && dc->alias[0]) return dc->alias;
  return d->name[0] ? d->name : d->addr;
}

static void topic_of(char *out, size_t cap, const struct dev *d, const char *leaf) {
  snprintf(out, cap, "%s/%s/%s/%s", G.cfg.mqtt.topic_prefix, G.cfg.id, d->addr, leaf);
}

static struct fmt fmt_of(const struct chr *c) {
  const struct rule *r = config_rule(&G.cfg, c->dev->addr, &c->c->uuid);
  return r ? r->fmt : (struct fmt){.kind = FMT_RAW};
}

void emit(struct dev *d, const char *event, struct chr *c, const uint8_t *v,
          size_t n, cJSON *extra) {
  char ts[40], topic[512];
  cJSON *o = cJSON_CreateObject();
  now_iso(ts, sizeof ts);
  cJSON_AddStringToObject(o, "time", ts);
  cJSON_AddStringToObject(o, "gateway", G.cfg.id);
  cJSON_AddStringToObject(o, "device", d->addr);
  cJSON_AddStringToObject(o, "name", d->name);
  const struct device_cfg *dc = config_device(&G.cfg, d->addr);
  if (dc && dc->alias[0]) cJSON_AddStringToObject(o, "alias", dc->alias);
  cJSON_AddStringToObject(o, "event", event);
  if (c) {
    cJSON_AddStringToObject(o, "service", c->svc);
    cJSON_AddStringToObject(o, "characteristic", c->key);
  }
  if (c && v) {
    char *hex = malloc(2 * n + 1);
    if (hex) {
      for (size_t i = 0; i < n; i++) snprintf(hex + 2 * i, 3, "%02x", v[i]);
      hex[2 * n] = 0;
      cJSON_AddStringToObject(o, "hex", hex);
      free(hex);
    }
    const struct rule *r = config_rule(&G.cfg, c->dev->addr, &c->c->uuid);
    struct fmt f = fmt_of(c);
    fmt_decode(&f, v, n, o);
    if (r && r->unit[0] && cJSON_GetObjectItemCaseSensitive(o, "value"))
      cJSON_AddStringToObject(o, "unit", r->unit);
  }
  if (extra) {
    cJSON *item;
    while ((item = extra->child)) {
      cJSON_DetachItemViaPointer(extra, item);
      cJSON_AddItemToObject(o, item->string, item); /* copies the key first */
    }
    cJSON_Delete(extra);
  }
  char *line = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!line) return;
  printf("%s\n", line);
  fflush(stdout);
  if (c && v) {
    /* Kept for a broker that comes back without its retained messages. */
    free(c->last);
    c->last = G.cfg.mqtt.retain ? strdup(line) : NULL;
  }
  if (G.mqtt && c && v) {
    topic_of(topic, sizeof topic, d, c->key);
    mqtt_publish(G.mqtt, topic, line, strlen(line), G.cfg.mqtt.retain);
  } else if (G.mqtt && !c &&
             (!strcmp(event, "connected") || !strcmp(event, "disconnected") ||
              !strcmp(event, "gone"))) {
    const char *s = event[0] == 'c' ? "online" : "offline";
    topic_of(topic, sizeof topic, d, "status");
    mqtt_publish(G.mqtt, topic, s, strlen(s), true);
  }
  free(line);
}

/* ---- Home Assistant discovery ------------------------------------------------------ */

static void compact(const char *in, char *out, size_t cap) {
  size_t o = 0;
  for (; *in && o + 1 < cap; in++)
    if (*in != ':') out[o++] = *in;
  out[o] = 0;
}

static cJSON *ha_device(const struct dev *d, const char *node) {
  cJSON *dev = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(dev, "identifiers");
  cJSON *conns = cJSON_AddArrayToObject(dev, "connections"), *pair = cJSON_CreateArray();
  cJSON_AddItemToArray(ids, cJSON_CreateString(node));
  cJSON_AddItemToArray(pair, cJSON_CreateString("bluetooth"));
  cJSON_AddItemToArray(pair, cJSON_CreateString(d->addr));
  cJSON_AddItemToArray(conns, pair);
  cJSON_AddStringToObject(dev, "name", dev_label(d));
  if (d->name[0]) cJSON_AddStringToObject(dev, "model", d->name);
  return dev;
}

/* One entity's config payload, or NULL when the rule shows none. */
static cJSON *ha_entity(const struct dev *d, const struct chr *c, const struct rule *r,
                        const char *node) {
  char topic[512], uid[128];
  const char *comp = r->component;
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "name", r->name[0] ? r->name : c->key);
  snprintf(uid, sizeof uid, "%s_%s", node, c->key);
  cJSON_AddStringToObject(e, "unique_id", uid);
  topic_of(topic, sizeof topic, d, c->key);
  cJSON_AddStringToObject(e, "state_topic", topic);
  cJSON_AddStringToObject(e, "value_template", r->fmt.kind == FMT_UINT || r->fmt.kind == FMT_SINT
                                                   ? "{{ value_json.value }}"
                                                   : "{{ value_json.text }}");
  if (r->device_class[0]) cJSON_AddStringToObject(e, "device_class", r->device_class);
  if (r->unit[0]) cJSON_AddStringToObject(e, "unit_of_measurement", r->unit);
  if (!strcmp(comp, "sensor") && r->state_class[0])
    cJSON_AddStringToObject(e, "state_class", r->state_class);
  if (!strcmp(comp, "number") || !strcmp(comp, "text")) {
    const char *target = r->command[0] ? r->command : c->key;
    snprintf(topic, sizeof topic, "%s/%s/%s/%s/set", G.cfg.mqtt.topic_prefix, G.cfg.id,
             d->addr, target);
    cJSON_AddStringToObject(e, "command_topic", topic);
  }
  if (!strcmp(comp, "number")) {
    if (r->min != 0 || r->max != 0) {
      cJSON_AddNumberToObject(e, "min", r->min);
      cJSON_AddNumberToObject(e, "max", r->max);
    }
    if (r->step) cJSON_AddNumberToObject(e, "step", r->step);
    cJSON_AddStringToObject(e, "mode", "box");
  }
  if (!strcmp(comp, "text")) cJSON_AddNumberToObject(e, "max", 200); /* one NUS write */
  cJSON *av = cJSON_AddArrayToObject(e, "availability"), *a;
  snprintf(topic, sizeof topic, "%s/%s/status", G.cfg.mqtt.topic_prefix, G.cfg.id);
  cJSON_AddItemToArray(av, a = cJSON_CreateObject());
  cJSON_AddStringToObject(a, "topic", topic);
  topic_of(topic, sizeof topic, d, "status");
  cJSON_AddItemToArray(av, a = cJSON_CreateObject());
  cJSON_AddStringToObject(a, "topic", topic);
  cJSON_AddStringToObject(e, "availability_mode", "all");
  cJSON_AddNumberToObject(e, "qos", G.cfg.mqtt.qos);
  cJSON_AddItemToObject(e, "device", ha_device(d, node));
  cJSON *origin = cJSON_AddObjectToObject(e, "origin");
  cJSON_AddStringToObject(origin, "name", "uvble-gateway");
  return e;
}

/* Announces d's entities, or (remove) takes them away again: an empty
 * retained config deletes an entity in Home Assistant. */
static void discovery(struct dev *d, bool remove) {
  if (!G.mqtt || !G.cfg.mqtt.discovery) return;
  char node[32], addr[16], topic[512];
  compact(d->addr, addr, sizeof addr);
  snprintf(node, sizeof node, "uvble_%s", addr);
  for (size_t i = 0; i < d->nchars; i++) {
    const struct chr *c = &d->chars[i];
    const struct rule *r = config_rule(&G.cfg, c->dev->addr, &c->c->uuid);
    if (!r || r->ignore || !r->component[0]) continue;
    char *payload = NULL;
    if (!remove) {
      cJSON *e = ha_entity(d, c, r, node);
      payload = cJSON_PrintUnformatted(e);
      cJSON_Delete(e);
      if (!payload) continue;
    }
    snprintf(topic, sizeof topic, "%s/%s/%s/%s/config", G.cfg.mqtt.discovery_prefix,
             r->component, node, c->key);
    mqtt_publish(G.mqtt, topic, payload ? payload : "", payload ? strlen(payload) : 0, true);
    free(payload);
  }
}

void publish_discovery(struct dev *d) { discovery(d, false); }

void remove_discovery(struct dev *d) { discovery(d, true); }

/* ---- writes from MQTT ------------------------------------------------------------- */

struct wreq {
  uvble_future_t f;
  char base[512], addr[UVBLE_ADDR_STR_LEN], key[UVBLE_UUID_STR_LEN];
  uint8_t data[UVBLE_GATT_MAX_ATTR_LEN];
  size_t len;
};

/* The outcome goes to .../result only: a failed write never reaches the
 * value topic (a Home Assistant sensor would record it). */
static void write_result(const char *base, const char *addr, int status, const char *why) {
  char t[600];
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "status", status ? "error" : "ok");
  if (status) {
    cJSON_AddStringToObject(o, "error", uvble_err_name(status));
    cJSON_AddStringToObject(o, "message", why ? why : uvble_strerror(status));
  }
  char *res = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  snprintf(t, sizeof t, "%s/result", base);
  if (res) mqtt_publish(G.mqtt, t, res, strlen(res), false);
  free(res);
  fprintf(stderr, "gateway: write to %s: %s\n", addr,
          status ? (why ? why : uvble_strerror(status)) : "ok");
}

static struct dev *find_dev(const char *addr) {
  struct dev *d = G.devs;
  while (d && strcasecmp(d->addr, addr) != 0) d = d->next;
  return d;
}

struct chr *find_chr(struct dev *d, const char *uuid) {
  uvble_uuid_t u;
  if (uvble_uuid_parse(&u, uuid) < 0) return NULL;
  for (size_t i = 0; i < d->nchars; i++)
    if (uvble_uuid_equal(&u, &d->chars[i].c->uuid)) return &d->chars[i];
  return NULL;
}

static void on_write_done(uvble_future_t *f) {
  struct wreq *w = (struct wreq *)f;
  write_result(w->base, w->addr, f->status, NULL);
  struct dev *d = f->status ? NULL : find_dev(w->addr);
  struct chr *c = d && d->conn ? find_chr(d, w->key) : NULL;
  /* Written: that is the characteristic's value now (a number entity
   * shows what it was set to). */
  if (c) emit(d, "write", c, w->data, w->len, NULL);
  free(w);
}

static void on_set(const char *addr, const char *uuid, const char *payload, size_t len) {
  char base[512], why[200];
  struct dev *d = find_dev(addr);
  snprintf(base, sizeof base, "%s/%s/%s/%s", G.cfg.mqtt.topic_prefix, G.cfg.id, addr, uuid);
  struct chr *c = d && d->conn ? find_chr(d, uuid) : NULL;
  if (!c) {
    write_result(base, addr, d && d->conn ? UVBLE_ENOENT : UVBLE_ENOTCONN, NULL);
    return;
  }
  if (!(c->c->properties & (UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_NO_RESPONSE))) {
    write_result(base, addr, UVBLE_ENOTSUP, "this characteristic does not allow writing");
    return;
  }
  struct wreq *w = calloc(1, sizeof *w);
  if (!w) return;
  struct fmt f = fmt_of(c);
  int n = fmt_encode(&f, payload, len, w->data, sizeof w->data, why, sizeof why);
  if (n < 0) {
    write_result(base, addr, UVBLE_EINVAL, why);
    free(w);
    return;
  }
  w->len = (size_t)n;
  snprintf(w->base, sizeof w->base, "%s", base);
  snprintf(w->addr, sizeof w->addr, "%s", d->addr);
  snprintf(w->key, sizeof w->key, "%s", c->key);
  w->f.cb = on_write_done;
  int r = uvble_client_characteristic_write(&w->f, c->c, w->data, w->len, UVBLE_WRITE_AUTO,
                                            OP_TIMEOUT_MS);
  if (r < 0) { /* no callback follows */
    write_result(base, addr, r, NULL);
    free(w);
  }
}

/* A retained "online" for a device that is not connected is left from a
 * gateway that died (its will covers only its own status): correct it. */
static void on_status(const char *addr, const char *payload, size_t len, bool retained) {
  struct dev *d = find_dev(addr);
  if (!retained || len != 6 || memcmp(payload, "online", 6) != 0) return;
  if (d && d->conn && uvble_connection_is_connected(d->conn)) return;
  char topic[512];
  snprintf(topic, sizeof topic, "%s/%s/%s/status", G.cfg.mqtt.topic_prefix, G.cfg.id, addr);
  mqtt_publish(G.mqtt, topic, "offline", 7, true);
}

static void on_mqtt_message(const char *topic, const void *payload, size_t len,
                            bool retained, void *arg) {
  (void)arg;
  char addr[32], uuid[64], leaf[8], base[200];
  snprintf(base, sizeof base, "%s/%s/", G.cfg.mqtt.topic_prefix, G.cfg.id);
  if (strncmp(topic, base, strlen(base)) != 0) return;
  const char *rest = topic + strlen(base);
  int n = 0;
  if (sscanf(rest, "%31[^/]/%63[^/]/%7[^/]%n", addr, uuid, leaf, &n) == 3 &&
      !rest[n] && !strcmp(leaf, "set")) {
    /* A retained command would be carried out again on every
     * reconnection: only live ones are. */
    if (retained)
      fprintf(stderr, "gateway: %s: retained, ignored (publish commands without -r)\n", topic);
    else
      on_set(addr, uuid, payload, len);
  }
  else if (sscanf(rest, "%31[^/]/%7[^/]%n", addr, leaf, &n) == 2 && !rest[n] &&
           !strcmp(leaf, "status"))
    on_status(addr, payload, len, retained);
}

/* Device status, discovery and last values are retained state: what
 * happened while the broker was away, or what a broker restarted without
 * persistence forgot, is published again. */
static void on_connected(void *arg) {
  (void)arg;
  for (struct dev *d = G.devs; d; d = d->next) {
    bool up = d->conn && uvble_connection_is_connected(d->conn);
    char topic[512];
    topic_of(topic, sizeof topic, d, "status");
    mqtt_publish(G.mqtt, topic, up ? "online" : "offline", up ? 6 : 7, true);
    if (!up || !d->served) continue;
    publish_discovery(d);
    for (size_t i = 0; i < d->nchars; i++) {
      if (!d->chars[i].last) continue;
      topic_of(topic, sizeof topic, d, d->chars[i].key);
      mqtt_publish(G.mqtt, topic, d->chars[i].last, strlen(d->chars[i].last), true);
    }
  }
}

int bridge_open(char *err, size_t errlen) {
  const struct mqtt_cfg *m = &G.cfg.mqtt;
  if (!m->url[0]) return 0;
  char status[300], client[128], filter[300];
  snprintf(status, sizeof status, "%s/%s/status", m->topic_prefix, G.cfg.id);
  snprintf(client, sizeof client, "uvble-gateway-%s-%d", G.cfg.id, (int)getpid());
  struct mqtt_opts o = {
      .url = m->url,
      .username = m->have_username ? m->username : getenv("UVBLE_MQTT_USERNAME"),
      .password = m->have_password ? m->password : getenv("UVBLE_MQTT_PASSWORD"),
      .ca_file = m->ca_file[0] ? m->ca_file : NULL,
      .ca_path = m->ca_path[0] ? m->ca_path : NULL,
      .cert_file = m->cert_file[0] ? m->cert_file : NULL,
      .key_file = m->key_file[0] ? m->key_file : NULL,
      .client_id = client,
      .status_topic = status,
      .qos = m->qos,
      .keepalive = m->keepalive,
  };
  if (mqtt_open(G.loop, &o, on_mqtt_message, NULL, &G.mqtt, err, errlen) < 0) return -1;
  snprintf(filter, sizeof filter, "%s/%s/+/+/set", m->topic_prefix, G.cfg.id);
  mqtt_subscribe(G.mqtt, filter);
  snprintf(filter, sizeof filter, "%s/%s/+/status", m->topic_prefix, G.cfg.id);
  mqtt_subscribe(G.mqtt, filter);
  mqtt_on_connected(G.mqtt, on_connected, NULL);
  return 0;
}

void bridge_close(void) {
  mqtt_close(G.mqtt);
  G.mqtt = NULL;
}
