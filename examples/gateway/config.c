/* SPDX-License-Identifier: Apache-2.0 */
/* The gateway's configuration file (see config.h). */
#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE (256 * 1024)

struct ctx {
  const char *path;
  char *err;
  size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int fail(struct ctx *x, const char *key,
                                                      const char *fmt, ...) {
  int n = snprintf(x->err, x->errlen, "%s: %s%s", x->path, key ? key : "", key ? ": " : "");
  if (n < 0 || (size_t)n >= x->errlen) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
  va_end(ap);
  return -1;
}

static void join(char *out, size_t cap, const char *where, const char *name) {
  snprintf(out, cap, "%s%s%s", where, where[0] ? "." : "", name);
}

/* Every key of obj must be one of allowed (a typo is an error, not a
 * silently ignored setting). */
static int check_keys(struct ctx *x, const cJSON *obj, const char *where,
                      const char *const *allowed) {
  char key[160];
  if (!cJSON_IsObject(obj)) return fail(x, where[0] ? where : NULL, "must be an object");
  for (const cJSON *it = obj->child; it; it = it->next) {
    size_t i = 0;
    while (allowed[i] && strcmp(allowed[i], it->string) != 0) i++;
    if (!allowed[i]) {
      join(key, sizeof key, where, it->string);
      return fail(x, key, "unknown key");
    }
  }
  return 0;
}

static int get_str(struct ctx *x, const cJSON *obj, const char *where, const char *name,
                   char *out, size_t cap) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
  char key[160];
  if (!v) return 0;
  join(key, sizeof key, where, name);
  if (!cJSON_IsString(v)) return fail(x, key, "must be a string");
  if (strlen(v->valuestring) >= cap)
    return fail(x, key, "longer than %zu characters", cap - 1);
  snprintf(out, cap, "%s", v->valuestring);
  return 1;
}

static int get_bool(struct ctx *x, const cJSON *obj, const char *where, const char *name,
                    bool *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
  char key[160];
  if (!v) return 0;
  join(key, sizeof key, where, name);
  if (!cJSON_IsBool(v)) return fail(x, key, "must be true or false");
  *out = cJSON_IsTrue(v);
  return 1;
}

static int get_num(struct ctx *x, const cJSON *obj, const char *where, const char *name,
                   double lo, double hi, bool integer, double *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
  char key[160];
  if (!v) return 0;
  join(key, sizeof key, where, name);
  if (!cJSON_IsNumber(v))
    return fail(x, key, "must be %s", integer ? "an integer" : "a number");
  /* The range first: converting a double beyond long long is undefined. */
  if (!(v->valuedouble >= lo && v->valuedouble <= hi))
    return fail(x, key, "must be from %g to %g", lo, hi);
  if (integer && v->valuedouble != (double)(long long)v->valuedouble)
    return fail(x, key, "must be an integer");
  *out = v->valuedouble;
  return 1;
}

static int get_int(struct ctx *x, const cJSON *obj, const char *where, const char *name,
                   long lo, long hi, long *out) {
  double d;
  int r = get_num(x, obj, where, name, (double)lo, (double)hi, true, &d);
  if (r > 0) *out = (long)d;
  return r;
}

/* ---- the built-in characteristics ----------------------------------------------- */

static struct rule *add_rule(struct config *c, const char *uuid) {
  uvble_uuid_t u;
  if (c->nrules == CFG_MAX_RULES || uvble_uuid_parse(&u, uuid) < 0) return NULL;
  struct rule *r = &c->rules[c->nrules++];
  memset(r, 0, sizeof *r);
  r->uuid = u;
  uuid_key(&u, r->key);
  r->read = r->subscribe = true;
  r->fmt.kind = FMT_RAW;
  return r;
}

/* The rule for exactly this device (addr) or for every device (NULL). */
static struct rule *find_rule(struct config *c, const char *addr, const uvble_uuid_t *u) {
  for (size_t i = 0; i < c->nrules; i++) {
    struct rule *r = &c->rules[i];
    if (uvble_uuid_equal(&r->uuid, u) && (addr ? strcmp(r->addr, addr) == 0 : !r->addr[0]))
      return r;
  }
  return NULL;
}

static void builtin(struct config *c, const char *uuid, const char *fmt, int exponent,
                    const char *name, const char *unit, const char *device_class,
                    const char *component) {
  struct rule *r = add_rule(c, uuid);
  if (!r) return;
  fmt_parse(fmt, &r->fmt);
  r->fmt.exponent = exponent;
  snprintf(r->name, sizeof r->name, "%s", name);
  snprintf(r->unit, sizeof r->unit, "%s", unit);
  snprintf(r->device_class, sizeof r->device_class, "%s", device_class);
  snprintf(r->component, sizeof r->component, "%s", component);
  if (strcmp(component, "sensor") == 0)
    snprintf(r->state_class, sizeof r->state_class, "measurement");
}

void config_init(struct config *c) {
  memset(c, 0, sizeof *c);
  c->max_devices = 8;
  snprintf(c->mqtt.topic_prefix, sizeof c->mqtt.topic_prefix, "uvble");
  snprintf(c->mqtt.discovery_prefix, sizeof c->mqtt.discovery_prefix, "homeassistant");
  c->mqtt.retain = c->mqtt.discovery = true;
  c->mqtt.keepalive = 30;
  /* Formats from the GATT Specification Supplement. */
  builtin(c, "2a6e", "sint16", -2, "Temperature", "°C", "temperature", "sensor");
  builtin(c, "2a6f", "uint16", -2, "Humidity", "%", "humidity", "sensor");
  builtin(c, "2a19", "uint8", 0, "Battery", "%", "battery", "sensor");
  builtin(c, "2a6d", "uint32", -1, "Pressure", "Pa", "pressure", "sensor");
  struct rule *r;
  builtin(c, "2a21", "uint16", 0, "Measurement interval", "s", "duration", "number");
  if ((r = find_rule(c, NULL, &(uvble_uuid_t){.type = 16, .data = {0x21, 0x2a}}))) {
    r->min = 1;
    r->max = 65535;
    r->step = 1;
  }
  /* The Nordic UART Service: TX (notify) shown as text, written through
   * RX. */
  builtin(c, NUS_TX, "utf8", 0, "UART", "", "", "text");
  if ((r = &c->rules[c->nrules - 1])) snprintf(r->command, sizeof r->command, "%s", NUS_RX);
  builtin(c, NUS_RX, "utf8", 0, "UART RX", "", "", "");
}

/* ---- the file ------------------------------------------------------------------ */

/* One "characteristics" entry; for one device (addr) or all (NULL). A
 * device's entry starts from what holds for every device. */
static int load_rule(struct ctx *x, struct config *c, const cJSON *item, const char *addr,
                     const char *prefix) {
  static const char *const keys[] = {"read", "subscribe", "poll", "ignore", "format",
                                     "exponent", "name", "unit", "device_class",
                                     "state_class", "component", "command", "min",
                                     "max", "step", NULL};
  char where[160], s[64];
  uvble_uuid_t u;
  snprintf(where, sizeof where, "%scharacteristics.%s", prefix, item->string);
  if (uvble_uuid_parse(&u, item->string) < 0)
    return fail(x, where, "not a UUID (\"2a6e\", \"0x2A6E\" or the 128-bit form)");
  if (check_keys(x, item, where, keys) < 0) return -1;
  struct rule *r = find_rule(c, addr, &u);
  if (!r) {
    const struct rule *base = config_rule(c, NULL, &u);
    char key[UVBLE_UUID_STR_LEN];
    uuid_key(&u, key);
    if (!(r = add_rule(c, key)))
      return fail(x, where, "at most %d characteristic rules", CFG_MAX_RULES);
    if (base) *r = *base;
    if (addr) snprintf(r->addr, sizeof r->addr, "%s", addr);
  }
  long l;
  double d;
  int got;
  if (get_bool(x, item, where, "read", &r->read) < 0 ||
      get_bool(x, item, where, "subscribe", &r->subscribe) < 0 ||
      get_bool(x, item, where, "ignore", &r->ignore) < 0)
    return -1;
  if ((got = get_int(x, item, where, "poll", 0, 86400, &l)) < 0) return -1;
  if (got) r->poll_s = (unsigned)l;
  if ((got = get_str(x, item, where, "format", s, sizeof s)) < 0) return -1;
  if (got && fmt_parse(s, &r->fmt) < 0) {
    snprintf(where + strlen(where), sizeof where - strlen(where), ".format");
    return fail(x, where, "\"%s\": one of uint8, uint16, uint24, uint32, sint8, sint16, "
                "sint24, sint32, utf8, hex", s);
  }
  if ((got = get_int(x, item, where, "exponent", -9, 9, &l)) < 0) return -1;
  if (got) r->fmt.exponent = (int)l;
  if (get_str(x, item, where, "name", r->name, sizeof r->name) < 0 ||
      get_str(x, item, where, "unit", r->unit, sizeof r->unit) < 0 ||
      get_str(x, item, where, "device_class", r->device_class, sizeof r->device_class) < 0 ||
      get_str(x, item, where, "state_class", r->state_class, sizeof r->state_class) < 0)
    return -1;
  if ((got = get_str(x, item, where, "component", s, sizeof s)) < 0) return -1;
  if (got) {
    if (strcmp(s, "sensor") && strcmp(s, "number") && strcmp(s, "text") && strcmp(s, "none")) {
      snprintf(where + strlen(where), sizeof where - strlen(where), ".component");
      return fail(x, where, "\"%s\": one of sensor, number, text, none", s);
    }
    snprintf(r->component, sizeof r->component, "%.15s", strcmp(s, "none") ? s : "");
  } else if (!r->component[0] && (r->unit[0] || r->device_class[0] || r->name[0])) {
    snprintf(r->component, sizeof r->component, "sensor"); /* asked to be shown */
  }
  if ((got = get_str(x, item, where, "command", s, sizeof s)) < 0) return -1;
  if (got) {
    if (uvble_uuid_parse(&u, s) < 0) {
      snprintf(where + strlen(where), sizeof where - strlen(where), ".command");
      return fail(x, where, "\"%s\" is not a UUID", s);
    }
    uuid_key(&u, r->command);
  }
  if (get_num(x, item, where, "min", -1e12, 1e12, false, &d) > 0) r->min = d;
  if (get_num(x, item, where, "max", -1e12, 1e12, false, &d) > 0) r->max = d;
  if (get_num(x, item, where, "step", 1e-9, 1e12, false, &d) > 0) r->step = d;
  if (x->err[0]) return -1;
  return 0;
}

static int load_devices(struct ctx *x, struct config *c, const cJSON *list) {
  static const char *const keys[] = {"address", "alias", "characteristics", NULL};
  if (!cJSON_IsArray(list)) return fail(x, "devices", "must be a list of objects");
  const cJSON *it;
  cJSON_ArrayForEach(it, list) {
    char where[32], addr[64] = "";
    snprintf(where, sizeof where, "devices[%zu]", c->ndevices);
    if (c->ndevices == CFG_MAX_DEVICES) return fail(x, where, "at most %d devices", CFG_MAX_DEVICES);
    if (check_keys(x, it, where, keys) < 0) return -1;
    struct device_cfg *d = &c->devices[c->ndevices];
    if (get_str(x, it, where, "address", addr, sizeof addr) <= 0) {
      if (!x->err[0]) fail(x, where, "needs \"address\"");
      return -1;
    }
    uvble_addr_t a;
    if (uvble_addr_parse(&a, addr) < 0) {
      snprintf(where + strlen(where), sizeof where - strlen(where), ".address");
      return fail(x, where, "\"%s\" is not a Bluetooth address (aa:bb:cc:dd:ee:ff)", addr);
    }
    uvble_addr_to_str(&a, d->addr); /* one spelling: lower case, colons */
    if (get_str(x, it, where, "alias", d->alias, sizeof d->alias) < 0) return -1;
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(it, "characteristics"), *r;
    if (rules) {
      char prefix[40];
      snprintf(prefix, sizeof prefix, "%s.", where);
      if (!cJSON_IsObject(rules))
        return fail(x, where, "characteristics: must be an object keyed by UUID");
      cJSON_ArrayForEach(r, rules) if (load_rule(x, c, r, d->addr, prefix) < 0) return -1;
    }
    c->ndevices++;
  }
  return 0;
}

/* A regular file only: a FIFO or a device would block the loop. */
static int read_secret(struct ctx *x, const char *key, const char *file, char *out,
                       size_t cap) {
  struct stat st;
  int fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail(x, key, "%s: %s", file, strerror(errno));
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return fail(x, key, "%s: not a regular file", file);
  }
  ssize_t n = read(fd, out, cap - 1);
  close(fd);
  if (n < 0) return fail(x, key, "%s: %s", file, strerror(errno));
  out[n] = 0;
  out[strcspn(out, "\r\n")] = 0; /* the first line */
  return 0;
}

static int load_mqtt(struct ctx *x, struct mqtt_cfg *m, const cJSON *o) {
  static const char *const keys[] = {"url", "username", "username_env", "password_file",
                                     "password_env", "ca_file", "ca_path", "cert_file",
                                     "key_file", "topic_prefix", "qos", "retain",
                                     "keepalive", "discovery", "discovery_prefix", NULL};
  char file[256] = "", env[64] = "";
  long l;
  int got;
  if (check_keys(x, o, "mqtt", keys) < 0) return -1;
  if (get_str(x, o, "mqtt", "url", m->url, sizeof m->url) < 0) return -1;
  if ((got = get_str(x, o, "mqtt", "username", m->username, sizeof m->username)) < 0) return -1;
  m->have_username = got > 0;
  if ((got = get_str(x, o, "mqtt", "username_env", env, sizeof env)) < 0) return -1;
  if (got) {
    const char *v = getenv(env);
    if (!v) return fail(x, "mqtt.username_env", "$%s is not set", env);
    snprintf(m->username, sizeof m->username, "%s", v);
    m->have_username = true;
  }
  if ((got = get_str(x, o, "mqtt", "password_file", file, sizeof file)) < 0) return -1;
  if (got && read_secret(x, "mqtt.password_file", file, m->password, sizeof m->password) < 0)
    return -1;
  m->have_password = got > 0;
  if ((got = get_str(x, o, "mqtt", "password_env", env, sizeof env)) < 0) return -1;
  if (got) {
    const char *v = getenv(env);
    if (!v) return fail(x, "mqtt.password_env", "$%s is not set", env);
    if (m->have_password) return fail(x, "mqtt.password_env", "give password_file or password_env, not both");
    snprintf(m->password, sizeof m->password, "%s", v);
    m->have_password = true;
  }
  if (get_str(x, o, "mqtt", "ca_file", m->ca_file, sizeof m->ca_file) < 0 ||
      get_str(x, o, "mqtt", "ca_path", m->ca_path, sizeof m->ca_path) < 0 ||
      get_str(x, o, "mqtt", "cert_file", m->cert_file, sizeof m->cert_file) < 0 ||
      get_str(x, o, "mqtt", "key_file", m->key_file, sizeof m->key_file) < 0 ||
      get_str(x, o, "mqtt", "topic_prefix", m->topic_prefix, sizeof m->topic_prefix) < 0 ||
      get_str(x, o, "mqtt", "discovery_prefix", m->discovery_prefix,
              sizeof m->discovery_prefix) < 0 ||
      get_bool(x, o, "mqtt", "retain", &m->retain) < 0 ||
      get_bool(x, o, "mqtt", "discovery", &m->discovery) < 0)
    return -1;
  if (!m->cert_file[0] != !m->key_file[0])
    return fail(x, m->cert_file[0] ? "mqtt.key_file" : "mqtt.cert_file",
                "a client certificate needs both cert_file and key_file");
  if ((got = get_int(x, o, "mqtt", "qos", 0, 1, &l)) < 0) return -1;
  if (got) m->qos = (int)l;
  if ((got = get_int(x, o, "mqtt", "keepalive", 5, 3600, &l)) < 0) return -1;
  if (got) m->keepalive = (int)l;
  if (!m->topic_prefix[0] || strpbrk(m->topic_prefix, "+#") ||
      m->topic_prefix[strlen(m->topic_prefix) - 1] == '/')
    return fail(x, "mqtt.topic_prefix", "must be non-empty, without '+', '#' or a trailing '/'");
  if (!m->discovery_prefix[0] || strpbrk(m->discovery_prefix, "+#"))
    return fail(x, "mqtt.discovery_prefix", "must be non-empty, without '+' or '#'");
  return 0;
}

static int load_lists(struct ctx *x, struct config *c, const cJSON *root) {
  const cJSON *v, *it;
  if ((v = cJSON_GetObjectItemCaseSensitive(root, "transports"))) {
    if (!cJSON_IsArray(v)) return fail(x, "transports", "must be a list of strings");
    cJSON_ArrayForEach(it, v) {
      if (!cJSON_IsString(it) || !it->valuestring[0] ||
          strlen(it->valuestring) >= sizeof c->transports[0])
        return fail(x, "transports", "must be a list of strings (\"hci0\", \"uart:/dev/ttyACM0\")");
      if (c->ntransports == CFG_MAX_TRANSPORTS)
        return fail(x, "transports", "at most %d controllers", CFG_MAX_TRANSPORTS);
      snprintf(c->transports[c->ntransports++], sizeof c->transports[0], "%s", it->valuestring);
    }
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(root, "services"))) {
    if (!cJSON_IsArray(v)) return fail(x, "services", "must be a list of UUIDs");
    cJSON_ArrayForEach(it, v) {
      const char *s = cJSON_IsString(it) ? it->valuestring : "";
      if (strcasecmp(s, "nus") == 0) s = NUS_SERVICE;
      if (c->nservices == CFG_MAX_SERVICES)
        return fail(x, "services", "at most %d services", CFG_MAX_SERVICES);
      if (uvble_uuid_parse(&c->services[c->nservices], s) < 0)
        return fail(x, "services", "%s%s%s is not a UUID (\"181a\", \"nus\", 128-bit)",
                    cJSON_IsString(it) ? "\"" : "", cJSON_IsString(it) ? s : "an item",
                    cJSON_IsString(it) ? "\"" : "");
      c->nservices++;
    }
  }
  return 0;
}

static int load_root(struct ctx *x, struct config *c, const cJSON *root) {
  static const char *const keys[] = {"id", "transports", "services", "name_prefix",
                                     "max_devices", "devices", "only_listed", "mqtt",
                                     "characteristics", NULL};
  const cJSON *v, *it;
  long l;
  int got;
  if (check_keys(x, root, "", keys) < 0) return -1;
  if (get_str(x, root, "", "id", c->id, sizeof c->id) < 0) return -1;
  if (strpbrk(c->id, "/+#")) return fail(x, "id", "must not contain '/', '+' or '#'");
  if (load_lists(x, c, root) < 0) return -1;
  if (get_str(x, root, "", "name_prefix", c->name_prefix, sizeof c->name_prefix) < 0) return -1;
  if ((got = get_int(x, root, "", "max_devices", 1, 64, &l)) < 0) return -1;
  if (got) c->max_devices = (size_t)l;
  /* For every device first: a device's own rules start from these. */
  if ((v = cJSON_GetObjectItemCaseSensitive(root, "characteristics"))) {
    if (!cJSON_IsObject(v)) return fail(x, "characteristics", "must be an object keyed by UUID");
    cJSON_ArrayForEach(it, v) if (load_rule(x, c, it, NULL, "") < 0) return -1;
  }
  if ((v = cJSON_GetObjectItemCaseSensitive(root, "devices")) && load_devices(x, c, v) < 0)
    return -1;
  c->only_listed = c->ndevices > 0;
  if (get_bool(x, root, "", "only_listed", &c->only_listed) < 0) return -1;
  if (c->only_listed && c->ndevices == 0)
    return fail(x, "only_listed", "true, but \"devices\" lists none");
  if ((v = cJSON_GetObjectItemCaseSensitive(root, "mqtt")) && load_mqtt(x, &c->mqtt, v) < 0)
    return -1;
  return 0;
}

int config_parse(const char *name, const char *text, size_t n, struct config *c,
                 char *err, size_t errlen) {
  struct ctx x = {name, err, errlen};
  err[0] = 0;
  config_init(c);
  snprintf(c->path, sizeof c->path, "%s", name);
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, false);
  if (!root) {
    size_t off = end && end >= text ? (size_t)(end - text) : 0, line = 1;
    const char *e = cJSON_GetErrorPtr();
    if (e && e >= text && e <= text + n) off = (size_t)(e - text);
    for (size_t i = 0; i < off && i < n; i++) line += text[i] == '\n';
    return fail(&x, NULL, "not valid JSON (line %zu)", line);
  }
  c->json = root;
  if (load_root(&x, c, root) < 0) {
    config_free(c);
    return -1;
  }
  return 0;
}

int config_load(const char *path, struct config *c, char *err, size_t errlen) {
  struct ctx x = {path, err, errlen};
  err[0] = 0;
  config_init(c);
  FILE *f = fopen(path, "r");
  if (!f) return fail(&x, NULL, "%s", strerror(errno));
  char *text = malloc(MAX_FILE + 1);
  size_t n = text ? fread(text, 1, MAX_FILE + 1, f) : 0;
  fclose(f);
  if (!text) return fail(&x, NULL, "out of memory");
  if (n > MAX_FILE) {
    free(text);
    return fail(&x, NULL, "larger than %d bytes", MAX_FILE);
  }
  int r = config_parse(path, text, n, c, err, errlen);
  free(text);
  return r;
}

void config_free(struct config *c) {
  cJSON_Delete(c->json);
  c->json = NULL;
}

void config_changes(const struct config *a, const struct config *b, char *out, size_t cap) {
  static const char *const keys[] = {"id", "transports", "services", "name_prefix",
                                     "max_devices", "devices", "only_listed", "mqtt",
                                     "characteristics", NULL};
  size_t o = 0;
  out[0] = 0;
  for (size_t i = 0; keys[i]; i++) {
    const cJSON *x = a->json ? cJSON_GetObjectItemCaseSensitive(a->json, keys[i]) : NULL;
    const cJSON *y = b->json ? cJSON_GetObjectItemCaseSensitive(b->json, keys[i]) : NULL;
    if ((!x && !y) || (x && y && cJSON_Compare(x, y, true))) continue;
    int n = snprintf(out + o, cap - o, "%s%s", o ? ", " : "", keys[i]);
    if (n < 0 || (size_t)n >= cap - o) break;
    o += (size_t)n;
  }
}

const struct rule *config_rule(const struct config *c, const char *addr,
                               const uvble_uuid_t *u) {
  const struct rule *all = NULL;
  for (size_t i = 0; i < c->nrules; i++) {
    const struct rule *r = &c->rules[i];
    if (!uvble_uuid_equal(&r->uuid, u)) continue;
    if (!r->addr[0]) all = r;
    else if (addr && strcasecmp(r->addr, addr) == 0) return r;
  }
  return all;
}

const struct device_cfg *config_device(const struct config *c, const char *addr) {
  for (size_t i = 0; i < c->ndevices; i++)
    if (strcasecmp(c->devices[i].addr, addr) == 0) return &c->devices[i];
  return NULL;
}

bool config_allows(const struct config *c, const char *addr) {
  return !c->only_listed || config_device(c, addr) != NULL;
}
