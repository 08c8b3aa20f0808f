/* SPDX-License-Identifier: Apache-2.0 */
/* MQTT over libmosquitto on the libuv loop (see mqtt.h).
 *
 * libmosquitto's "external loop" interface: we watch mosquitto_socket()
 * with a uv_poll_t (readable always, writable while mosquitto_want_write()),
 * call mosquitto_loop_read() / _write() when it is ready and
 * mosquitto_loop_misc() once a second for keep-alive.
 *
 * Nothing blocks the loop: a host name is resolved with uv_getaddrinfo
 * (libuv's thread pool) and mosquitto_connect_async() opens a non-blocking
 * socket whose connect completes under the poll handle; a connect that
 * gets no answer is given up after CONNECT_TIMEOUT_MS. For plain TCP the
 * resolved address is what libmosquitto connects to. Over TLS it must be
 * given the name itself (it checks the certificate against it and sends it
 * as SNI), so it looks the name up again; that second lookup comes right
 * after ours and is answered from the resolver's cache where there is one. */
#include "mqtt.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- URLs (needs nothing from libmosquitto: the config checks them) ---- */

static int unescape(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      unsigned v;
      if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
          !isxdigit((unsigned char)s[i + 2]) || sscanf(s + i + 1, "%2x", &v) != 1)
        return -1;
      c = (int)v;
      i += 2;
    }
    if (o + 1 >= cap || c == 0) return -1;
    out[o++] = (char)c;
  }
  out[o] = 0;
  return 0;
}

static int parse_port(const char *p, size_t n, int *port) {
  if (n == 0 || n > 5) return -1;
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)p[i])) return -1;
    v = v * 10 + (p[i] - '0');
  }
  if (v < 1 || v > 65535) return -1;
  *port = (int)v;
  return 0;
}

int mqtt_parse_url(const char *url, struct mqtt_url *u, char *err, size_t errlen) {
  static const struct {
    const char *scheme;
    bool tls;
  } schemes[] = {{"mqtt://", false}, {"tcp://", false}, {"mqtts://", true},
                 {"ssl://", true}, {"tls://", true}};
  const char *p = url;
  memset(u, 0, sizeof *u);
  if (strstr(p, "://")) {
    size_t i;
    for (i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
      if (strncmp(p, schemes[i].scheme, strlen(schemes[i].scheme)) == 0) break;
    if (i == sizeof schemes / sizeof schemes[0]) {
      snprintf(err, errlen,
               "%s: unknown scheme (mqtt://, tcp://, mqtts:// or ssl://)", url);
      return -1;
    }
    u->tls = schemes[i].tls;
    p += strlen(schemes[i].scheme);
  }
  u->port = u->tls ? 8883 : 1883;
  size_t alen = strcspn(p, "/");
  if (p[alen] == '/' && p[alen + 1] != 0) {
    snprintf(err, errlen, "%s: a broker URL has no path", url);
    return -1;
  }
  const char *end = p + alen, *at = NULL;
  for (const char *q = p; q < end; q++)
    if (*q == '@') at = q;
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *uend = colon ? colon : at;
    if (unescape(p, (size_t)(uend - p), u->user, sizeof u->user) < 0 ||
        (colon && unescape(colon + 1, (size_t)(at - colon - 1), u->password,
                           sizeof u->password) < 0)) {
      snprintf(err, errlen, "%s: bad user name or password (percent-encode '@', ':', '/')",
               url);
      return -1;
    }
    p = at + 1;
  }
  const char *hend;
  if (*p == '[') { /* [IPv6] */
    hend = memchr(p, ']', (size_t)(end - p));
    struct in6_addr a6;
    size_t hl = hend ? (size_t)(hend - p - 1) : 0;
    if (!hend || hl == 0 || hl >= sizeof u->host) goto bad_host;
    memcpy(u->host, p + 1, hl);
    u->host[hl] = 0;
    if (inet_pton(AF_INET6, u->host, &a6) != 1) goto bad_host;
    hend++;
  } else {
    hend = p;
    while (hend < end && *hend != ':') hend++;
    size_t hl = (size_t)(hend - p);
    if (hl == 0 || hl >= sizeof u->host) goto bad_host;
    memcpy(u->host, p, hl);
    u->host[hl] = 0;
    for (size_t i = 0; i < hl; i++)
      if (!isalnum((unsigned char)u->host[i]) && !strchr("-._", u->host[i]))
        goto bad_host;
  }
  if (hend < end) {
    if (*hend != ':' || parse_port(hend + 1, (size_t)(end - hend - 1), &u->port) < 0) {
      snprintf(err, errlen, "%s: bad port (1-65535)", url);
      return -1;
    }
  }
  return 0;
bad_host:
  snprintf(err, errlen,
           "%s: no broker host (mqtt://HOST[:PORT], mqtt://[IPv6]:PORT)", url);
  return -1;
}

#ifdef UVBLE_WITH_MQTT
#include <mosquitto.h>

#define MAX_SUBS 8
#define CONNECT_TIMEOUT_MS 10000

struct mqtt {
  uv_loop_t *loop;
  struct mosquitto *mosq;
  uv_poll_t *poll; /* heap: it may outlive m while closing */
  uv_timer_t *timer;
  uv_getaddrinfo_t *resolving; /* its callback frees it; data = m or NULL */
  struct mqtt_url url;
  int qos, keepalive;
  char *status_topic;
  char *subs[MAX_SUBS];
  int nsubs;
  mqtt_msg_cb cb;
  void *arg;
  void (*connected_cb)(void *arg);
  void *connected_arg;
  bool connected, connecting;
  unsigned backoff_ms;
  uint64_t next_try, connect_started;
};

static void free_handle(uv_handle_t *h) { free(h); }

static void poll_stop(struct mqtt *m) {
  if (!m->poll) return;
  uv_close((uv_handle_t *)m->poll, free_handle);
  m->poll = NULL;
}

static void on_poll(uv_poll_t *p, int status, int events);

/* Watches the current socket for what libmosquitto needs now. */
static void poll_update(struct mqtt *m) {
  int fd = mosquitto_socket(m->mosq);
  if (fd < 0) {
    poll_stop(m);
    return;
  }
  if (!m->poll) {
    m->poll = malloc(sizeof *m->poll);
    if (!m->poll || uv_poll_init(m->loop, m->poll, fd) < 0) {
      free(m->poll);
      m->poll = NULL;
      return;
    }
    m->poll->data = m;
  }
  /* A connect in progress reports its end as writable. */
  int ev = UV_READABLE |
           (mosquitto_want_write(m->mosq) || m->connecting ? UV_WRITABLE : 0);
  uv_poll_start(m->poll, ev, on_poll);
}

/* The link to the broker broke (or never came up): stop watching the
 * socket and try again after the back-off. */
static void lost(struct mqtt *m, const char *why) {
  poll_stop(m);
  if (m->connected || m->backoff_ms == 0)
    fprintf(stderr, "gateway: mqtt: %s:%d: %s; reconnecting\n", m->url.host,
            m->url.port, why);
  m->connected = m->connecting = false;
  m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : 1000;
  if (m->backoff_ms > 30000) m->backoff_ms = 30000;
  m->next_try = uv_now(m->loop) + m->backoff_ms;
}

/* How a non-blocking connect ended: 0, or the socket's errno. */
static int connect_error(struct mqtt *m) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(mosquitto_socket(m->mosq), SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
  return err;
}

static void on_poll(uv_poll_t *p, int status, int events) {
  struct mqtt *m = p->data;
  int rc = MOSQ_ERR_SUCCESS, err;
  if (m->connecting && (err = connect_error(m)) != 0) {
    lost(m, strerror(err)); /* refused, unreachable: say which */
    return;
  }
  if (status < 0) {
    rc = MOSQ_ERR_CONN_LOST;
  } else {
    if (events & UV_READABLE) rc = mosquitto_loop_read(m->mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS && (events & UV_WRITABLE)) {
      m->connecting = false;
      rc = mosquitto_loop_write(m->mosq, 1);
    }
  }
  if (rc != MOSQ_ERR_SUCCESS) {
    lost(m, rc == MOSQ_ERR_ERRNO ? "connection refused or lost" : mosquitto_strerror(rc));
    return;
  }
  poll_update(m);
}

static void connect_to(struct mqtt *m, const char *host) {
  m->connecting = true;
  m->connect_started = uv_now(m->loop);
  int rc = mosquitto_connect_async(m->mosq, host, m->url.port, m->keepalive);
  if (rc != MOSQ_ERR_SUCCESS) {
    lost(m, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
    return;
  }
  poll_update(m);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  struct mqtt *m = req->data;
  char num[INET6_ADDRSTRLEN] = "";
  if (m && status == 0 && res) {
    const void *a = res->ai_family == AF_INET6
                        ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                        : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
    inet_ntop(res->ai_family, a, num, sizeof num);
  }
  uv_freeaddrinfo(res);
  free(req);
  if (!m) return; /* closed meanwhile */
  m->resolving = NULL;
  if (!num[0]) {
    lost(m, status ? uv_strerror(status) : "no address");
    return;
  }
  connect_to(m, m->url.tls ? m->url.host : num);
}

static void try_connect(struct mqtt *m) {
  unsigned char buf[sizeof(struct in6_addr)];
  if (inet_pton(AF_INET, m->url.host, buf) == 1 ||
      inet_pton(AF_INET6, m->url.host, buf) == 1) {
    connect_to(m, m->url.host);
    return;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
  m->resolving = malloc(sizeof *m->resolving);
  if (!m->resolving) return;
  m->resolving->data = m;
  int r = uv_getaddrinfo(m->loop, m->resolving, on_resolved, m->url.host, NULL, &hints);
  if (r < 0) {
    free(m->resolving);
    m->resolving = NULL;
    lost(m, uv_strerror(r));
  }
}

static void on_timer(uv_timer_t *t) {
  struct mqtt *m = t->data;
  if (m->resolving) return;
  if (m->connecting && uv_now(m->loop) - m->connect_started > CONNECT_TIMEOUT_MS) {
    lost(m, "no answer");
  } else if (m->poll) {
    int rc = mosquitto_loop_misc(m->mosq);
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
      lost(m, mosquitto_strerror(rc));
      return;
    }
    poll_update(m);
  } else if (uv_now(m->loop) >= m->next_try) {
    try_connect(m);
  }
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc) {
  struct mqtt *m = obj;
  if (rc != 0) {
    fprintf(stderr, "gateway: mqtt: the broker refused: %s\n",
            mosquitto_connack_string(rc));
    return;
  }
  m->connected = true;
  m->connecting = false;
  m->backoff_ms = 0;
  fprintf(stderr, "gateway: mqtt: connected to %s:%d%s\n", m->url.host, m->url.port,
          m->url.tls ? " (TLS)" : "");
  mosquitto_publish(mosq, NULL, m->status_topic, 6, "online", 1, true);
  for (int i = 0; i < m->nsubs; i++) mosquitto_subscribe(mosq, NULL, m->subs[i], m->qos);
  if (m->connected_cb) m->connected_cb(m->connected_arg);
}

void mqtt_on_connected(struct mqtt *m, void (*cb)(void *arg), void *arg) {
  m->connected_cb = cb;
  m->connected_arg = arg;
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc) {
  (void)mosq;
  (void)rc;
  ((struct mqtt *)obj)->connected = false;
}

static void on_message(struct mosquitto *mosq, void *obj,
                       const struct mosquitto_message *msg) {
  (void)mosq;
  struct mqtt *m = obj;
  if (m->cb && msg->topic)
    m->cb(msg->topic, msg->payload, msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0,
          msg->retain, m->arg);
}

static int setup_tls(struct mqtt *m, const struct mqtt_opts *o, char *err, size_t errlen) {
  const char *ca_path = o->ca_path;
  if (!o->ca_file && !ca_path) ca_path = "/etc/ssl/certs";
  int rc = mosquitto_tls_set(m->mosq, o->ca_file, ca_path, o->cert_file, o->key_file, NULL);
  if (rc != MOSQ_ERR_SUCCESS) {
    snprintf(err, errlen, "mqtt: TLS setup (ca_file %s, ca_path %s, cert_file %s, key_file %s): %s",
             o->ca_file ? o->ca_file : "-", ca_path ? ca_path : "-",
             o->cert_file ? o->cert_file : "-", o->key_file ? o->key_file : "-",
             mosquitto_strerror(rc));
    return -1;
  }
  return 0;
}

int mqtt_open(uv_loop_t *loop, const struct mqtt_opts *o, mqtt_msg_cb cb, void *arg,
              struct mqtt **out, char *err, size_t errlen) {
  struct mqtt *m = calloc(1, sizeof *m);
  if (!m) return -1;
  if (mqtt_parse_url(o->url, &m->url, err, errlen) < 0) {
    free(m);
    return -1;
  }
  mosquitto_lib_init();
  m->loop = loop;
  m->cb = cb;
  m->arg = arg;
  m->qos = o->qos == 1 ? 1 : 0;
  m->keepalive = o->keepalive > 0 ? o->keepalive : 30;
  m->status_topic = strdup(o->status_topic);
  m->mosq = mosquitto_new(o->client_id, true, m);
  m->timer = malloc(sizeof *m->timer);
  if (!m->mosq || !m->status_topic || !m->timer) {
    snprintf(err, errlen, "mqtt: out of memory");
    goto fail;
  }
  const char *user = o->username ? o->username : m->url.user;
  const char *pass = o->password ? o->password : m->url.password;
  if (user[0]) mosquitto_username_pw_set(m->mosq, user, pass[0] ? pass : NULL);
  if (m->url.tls && setup_tls(m, o, err, errlen) < 0) goto fail;
  mosquitto_will_set(m->mosq, m->status_topic, 7, "offline", 1, true);
  mosquitto_connect_callback_set(m->mosq, on_connect);
  mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
  mosquitto_message_callback_set(m->mosq, on_message);
  uv_timer_init(loop, m->timer);
  m->timer->data = m;
  uv_timer_start(m->timer, on_timer, 250, 250);
  try_connect(m);
  *out = m;
  return 0;
fail:
  if (m->mosq) mosquitto_destroy(m->mosq);
  free(m->status_topic);
  free(m->timer);
  free(m);
  mosquitto_lib_cleanup();
  return -1;
}

int mqtt_publish(struct mqtt *m, const char *topic, const void *payload, size_t len,
                 bool retain) {
  if (!m || !m->connected) return -1;
  int rc = mosquitto_publish(m->mosq, NULL, topic, (int)len, payload, m->qos, retain);
  if (rc != MOSQ_ERR_SUCCESS) return -1;
  poll_update(m);
  return 0;
}

int mqtt_subscribe(struct mqtt *m, const char *filter) {
  if (m->nsubs == MAX_SUBS) return -1;
  m->subs[m->nsubs] = strdup(filter);
  if (!m->subs[m->nsubs]) return -1;
  m->nsubs++;
  if (m->connected) {
    mosquitto_subscribe(m->mosq, NULL, filter, m->qos);
    poll_update(m);
  }
  return 0;
}

bool mqtt_connected(const struct mqtt *m) { return m && m->connected; }

void mqtt_close(struct mqtt *m) {
  if (!m) return;
  if (m->connected) {
    /* Written at once: libmosquitto sends queued packets directly when
     * called outside its own callbacks. */
    mosquitto_publish(m->mosq, NULL, m->status_topic, 7, "offline", 1, true);
    mosquitto_disconnect(m->mosq);
  }
  if (m->resolving) {
    m->resolving->data = NULL;
    uv_cancel((uv_req_t *)m->resolving);
  }
  poll_stop(m);
  uv_close((uv_handle_t *)m->timer, free_handle);
  mosquitto_destroy(m->mosq);
  mosquitto_lib_cleanup();
  for (int i = 0; i < m->nsubs; i++) free(m->subs[i]);
  free(m->status_topic);
  free(m);
}

#else /* !UVBLE_WITH_MQTT */

int mqtt_open(uv_loop_t *loop, const struct mqtt_opts *o, mqtt_msg_cb cb, void *arg,
              struct mqtt **out, char *err, size_t errlen) {
  (void)loop, (void)o, (void)cb, (void)arg, (void)out;
  snprintf(err, errlen,
           "this gateway was built without libmosquitto: install it "
           "(Debian: apt-get install libmosquitto-dev) and rebuild");
  return -1;
}
int mqtt_publish(struct mqtt *m, const char *topic, const void *payload, size_t len,
                 bool retain) {
  (void)m, (void)topic, (void)payload, (void)len, (void)retain;
  return -1;
}
int mqtt_subscribe(struct mqtt *m, const char *filter) {
  (void)m, (void)filter;
  return -1;
}
bool mqtt_connected(const struct mqtt *m) {
  (void)m;
  return false;
}
void mqtt_on_connected(struct mqtt *m, void (*cb)(void *arg), void *arg) {
  (void)m, (void)cb, (void)arg;
}
void mqtt_close(struct mqtt *m) { (void)m; }

#endif
