/* MQTT over libmosquitto on the libuv loop (see mqtt.h).
 *
 * libmosquitto's "external loop" interface: we watch mosquitto_socket()
 * with a uv_poll_t (readable always, writable while mosquitto_want_write()),
 * call mosquitto_loop_read() / _write() when it is ready and
 * mosquitto_loop_misc() once a second for keep-alive. mosquitto_connect()
 * does the TCP connect synchronously (instant on a LAN; a broker that does
 * not answer at all stalls the loop for the kernel's connect timeout —
 * point the gateway at a reachable broker). */
#include "mqtt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef UVBLE_WITH_MQTT
#include <mosquitto.h>

#define MAX_SUBS 8

struct mqtt {
  uv_loop_t *loop;
  struct mosquitto *mosq;
  uv_poll_t *poll; /* heap: it may outlive m while closing */
  uv_timer_t *timer;
  char host[256];
  int port;
  char *status_topic;
  char *subs[MAX_SUBS];
  int nsubs;
  mqtt_msg_cb cb;
  void *arg;
  void (*connected_cb)(void *arg);
  void *connected_arg;
  bool connected, closing;
  unsigned backoff_ms;
  uint64_t next_try;
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
  int ev = UV_READABLE | (mosquitto_want_write(m->mosq) ? UV_WRITABLE : 0);
  uv_poll_start(m->poll, ev, on_poll);
}

/* The link to the broker broke: libmosquitto has closed the socket; stop
 * watching it and try again after the back-off. */
static void lost(struct mqtt *m, int rc) {
  poll_stop(m);
  if (m->connected || m->backoff_ms == 0)
    fprintf(stderr, "gateway: mqtt: %s; reconnecting\n", mosquitto_strerror(rc));
  m->connected = false;
  m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : 1000;
  if (m->backoff_ms > 30000) m->backoff_ms = 30000;
  m->next_try = uv_now(m->loop) + m->backoff_ms;
}

static void on_poll(uv_poll_t *p, int status, int events) {
  struct mqtt *m = p->data;
  int rc = MOSQ_ERR_SUCCESS;
  if (status < 0) {
    rc = MOSQ_ERR_CONN_LOST;
  } else {
    if (events & UV_READABLE) rc = mosquitto_loop_read(m->mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS && (events & UV_WRITABLE))
      rc = mosquitto_loop_write(m->mosq, 1);
  }
  if (rc != MOSQ_ERR_SUCCESS) {
    lost(m, rc);
    return;
  }
  poll_update(m);
}

static void try_connect(struct mqtt *m, bool first) {
  int rc = first ? mosquitto_connect(m->mosq, m->host, m->port, 30)
                 : mosquitto_reconnect(m->mosq);
  if (rc != MOSQ_ERR_SUCCESS) {
    lost(m, rc);
    return;
  }
  poll_update(m);
}

static void on_timer(uv_timer_t *t) {
  struct mqtt *m = t->data;
  if (mosquitto_socket(m->mosq) >= 0) {
    int rc = mosquitto_loop_misc(m->mosq);
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
      lost(m, rc);
      return;
    }
    poll_update(m);
  } else if (uv_now(m->loop) >= m->next_try) {
    try_connect(m, false);
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
  m->backoff_ms = 0;
  fprintf(stderr, "gateway: mqtt: connected to %s:%d\n", m->host, m->port);
  mosquitto_publish(mosq, NULL, m->status_topic, 6, "online", 1, true);
  for (int i = 0; i < m->nsubs; i++)
    mosquitto_subscribe(mosq, NULL, m->subs[i], 1);
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
          m->arg);
}

/* "mqtt://user:pass@host:port" -> its parts. */
static int parse_url(struct mqtt *m, const char *url, char *user, char *pass,
                     size_t cap, char *err, size_t errlen) {
  const char *p = url;
  if (strncmp(p, "mqtts://", 8) == 0) {
    snprintf(err, errlen, "%s: TLS (mqtts://) is not supported by this example", url);
    return -1;
  }
  if (strncmp(p, "mqtt://", 7) == 0) p += 7;
  user[0] = pass[0] = 0;
  const char *at = strrchr(p, '@');
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    size_t ul = (size_t)((colon ? colon : at) - p);
    if (ul >= cap) ul = cap - 1;
    memcpy(user, p, ul);
    user[ul] = 0;
    if (colon) {
      size_t pl = (size_t)(at - colon - 1);
      if (pl >= cap) pl = cap - 1;
      memcpy(pass, colon + 1, pl);
      pass[pl] = 0;
    }
    p = at + 1;
  }
  size_t hl = strcspn(p, ":/");
  if (hl == 0 || hl >= sizeof m->host) {
    snprintf(err, errlen, "%s: no broker host (mqtt://HOST[:PORT])", url);
    return -1;
  }
  memcpy(m->host, p, hl);
  m->host[hl] = 0;
  m->port = 1883;
  if (p[hl] == ':') {
    char *end;
    long port = strtol(p + hl + 1, &end, 10);
    if (port <= 0 || port > 65535 || (*end && *end != '/')) {
      snprintf(err, errlen, "%s: bad port", url);
      return -1;
    }
    m->port = (int)port;
  }
  return 0;
}

int mqtt_open(uv_loop_t *loop, const char *url, const char *client_id,
              const char *status_topic, mqtt_msg_cb cb, void *arg,
              struct mqtt **out, char *err, size_t errlen) {
  struct mqtt *m = calloc(1, sizeof *m);
  char user[128], pass[128];
  if (!m) return -1;
  if (parse_url(m, url, user, pass, sizeof user, err, errlen) < 0) {
    free(m);
    return -1;
  }
  mosquitto_lib_init();
  m->loop = loop;
  m->cb = cb;
  m->arg = arg;
  m->status_topic = strdup(status_topic);
  m->mosq = mosquitto_new(client_id, true, m);
  m->timer = malloc(sizeof *m->timer);
  if (!m->mosq || !m->status_topic || !m->timer) {
    snprintf(err, errlen, "mqtt: out of memory");
    goto fail;
  }
  if (user[0]) mosquitto_username_pw_set(m->mosq, user, pass[0] ? pass : NULL);
  mosquitto_will_set(m->mosq, status_topic, 7, "offline", 1, true);
  mosquitto_connect_callback_set(m->mosq, on_connect);
  mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
  mosquitto_message_callback_set(m->mosq, on_message);
  uv_timer_init(loop, m->timer);
  m->timer->data = m;
  uv_timer_start(m->timer, on_timer, 1000, 1000);
  try_connect(m, true);
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

int mqtt_publish(struct mqtt *m, const char *topic, const void *payload,
                 size_t len, bool retain) {
  if (!m || !m->connected) return -1;
  int rc = mosquitto_publish(m->mosq, NULL, topic, (int)len, payload, 0, retain);
  if (rc != MOSQ_ERR_SUCCESS) return -1;
  poll_update(m);
  return 0;
}

int mqtt_subscribe(struct mqtt *m, const char *filter) {
  if (m->nsubs == MAX_SUBS) return -1;
  m->subs[m->nsubs++] = strdup(filter);
  if (m->connected) {
    mosquitto_subscribe(m->mosq, NULL, filter, 1);
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
  poll_stop(m);
  uv_close((uv_handle_t *)m->timer, free_handle);
  mosquitto_destroy(m->mosq);
  mosquitto_lib_cleanup();
  for (int i = 0; i < m->nsubs; i++) free(m->subs[i]);
  free(m->status_topic);
  free(m);
}

#else /* !UVBLE_WITH_MQTT */

int mqtt_open(uv_loop_t *loop, const char *url, const char *client_id,
              const char *status_topic, mqtt_msg_cb cb, void *arg,
              struct mqtt **out, char *err, size_t errlen) {
  (void)loop, (void)url, (void)client_id, (void)status_topic, (void)cb,
      (void)arg, (void)out;
  snprintf(err, errlen,
           "this gateway was built without libmosquitto: install it "
           "(Debian: apt-get install libmosquitto-dev) and rebuild");
  return -1;
}
int mqtt_publish(struct mqtt *m, const char *topic, const void *payload,
                 size_t len, bool retain) {
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
void mqtt_close(struct mqtt *m) { (void)m; }

#endif
