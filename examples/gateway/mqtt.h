/* SPDX-License-Identifier: Apache-2.0 */
/* A small MQTT client on the libuv loop: libmosquitto driven through
 * mosquitto_socket() / mosquitto_loop_read() / _write() / _misc() from a
 * uv_poll_t and a uv_timer_t, so the gateway needs no thread, and nothing
 * blocks the loop: the broker's name is resolved with uv_getaddrinfo and
 * the TCP connect is non-blocking (mosquitto_connect_async). Reconnects
 * with back-off (1 s doubling to 30 s) when the broker goes away and
 * resubscribes. */
#ifndef GATEWAY_MQTT_H
#define GATEWAY_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct mqtt;

/* A broker URL taken apart: "mqtt://", "tcp://" (plain, port 1883) or
 * "mqtts://", "ssl://" (TLS, port 8883), optional "user[:password]@"
 * (percent-encoded), a host name, IPv4 address or "[IPv6]", ":port". */
struct mqtt_url {
  bool tls;
  char host[256];
  int port;
  char user[128], password[128];
};

/* Returns 0, or -1 with a sentence naming what is wrong in err. */
int mqtt_parse_url(const char *url, struct mqtt_url *out, char *err, size_t errlen);

struct mqtt_opts {
  const char *url;
  /* Override the URL's credentials when set (from a file, the
   * environment). */
  const char *username, *password;
  /* TLS: CA file or directory (default: the system's, /etc/ssl/certs),
   * client certificate and key (optional). */
  const char *ca_file, *ca_path, *cert_file, *key_file;
  const char *client_id;
  /* Gets "online" (retained) on every connection, "offline" as the will
   * and on close. */
  const char *status_topic;
  int qos;       /* for publications and subscriptions: 0 or 1 */
  int keepalive; /* seconds; 0: 30 */
};

/* A message on a subscribed topic; topic and payload are borrowed. */
typedef void (*mqtt_msg_cb)(const char *topic, const void *payload, size_t len,
                            bool retained, void *arg);

/* Starts connecting (in the background: the call returns at once).
 * Returns 0, or -1 with a sentence in err (a bad URL, an unreadable
 * certificate, libmosquitto missing from the build). A broker that cannot
 * be reached yet is retried in the background. */
int mqtt_open(uv_loop_t *loop, const struct mqtt_opts *o, mqtt_msg_cb cb, void *arg,
              struct mqtt **out, char *err, size_t errlen);
/* Publishes at the configured QoS. Returns 0, or -1 when not connected
 * (the message is dropped: retained state is republished on connection
 * by the mqtt_on_connected callback). */
int mqtt_publish(struct mqtt *m, const char *topic, const void *payload, size_t len,
                 bool retain);
/* Subscribes to a topic filter now and after every reconnection. */
int mqtt_subscribe(struct mqtt *m, const char *filter);
bool mqtt_connected(const struct mqtt *m);
/* cb runs after every (re)connection, once the gateway's status and the
 * subscriptions are sent: the place to republish retained state that was
 * dropped while the broker was away. */
void mqtt_on_connected(struct mqtt *m, void (*cb)(void *arg), void *arg);
/* Publishes "offline", disconnects and frees m (its handles close on a
 * later loop iteration). */
void mqtt_close(struct mqtt *m);

#endif
