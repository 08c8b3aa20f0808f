/* A small MQTT client on the libuv loop: libmosquitto driven through
 * mosquitto_socket() / mosquitto_loop_read() / _write() / _misc() from a
 * uv_poll_t and a uv_timer_t, so the gateway needs no thread. Reconnects
 * with back-off (1 s doubling to 30 s) when the broker goes away and
 * resubscribes. */
#ifndef GATEWAY_MQTT_H
#define GATEWAY_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct mqtt;

/* A message on a subscribed topic; topic and payload are borrowed. */
typedef void (*mqtt_msg_cb)(const char *topic, const void *payload,
                            size_t len, void *arg);

/* Connects to url ("mqtt://[user:pass@]host[:port]", "host[:port]"; port
 * 1883 by default). status_topic gets "online" (retained) on every
 * connection and "offline" as the will and on close. Returns 0, or -1 with
 * a sentence in err (a bad URL; libmosquitto missing from the build). A
 * broker that cannot be reached yet is retried in the background. */
int mqtt_open(uv_loop_t *loop, const char *url, const char *client_id,
              const char *status_topic, mqtt_msg_cb cb, void *arg,
              struct mqtt **out, char *err, size_t errlen);
/* Publishes (QoS 0; retained if asked). Returns 0, or -1 when not connected
 * (the message is dropped: values are live readings). */
int mqtt_publish(struct mqtt *m, const char *topic, const void *payload,
                 size_t len, bool retain);
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
