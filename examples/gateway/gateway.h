/* SPDX-License-Identifier: Apache-2.0 */
/* The gateway's state, shared by gateway.c (devices, scanning, the
 * lifecycle) and bridge.c (what goes to stdout and MQTT, what comes back
 * from it, Home Assistant discovery). */
#ifndef GATEWAY_GATEWAY_H
#define GATEWAY_GATEWAY_H

#include <cjson/cJSON.h>

#include "config.h"
#include "mqtt.h"
#include "uvble/async.h"
#include "uvble/co.h"
#include "uvble/gatt.h"
#include "uvble/uvble.h"

#define MAX_SERVICES 32
#define MAX_CHARS 32
#define MAX_CTL CFG_MAX_TRANSPORTS
#define OP_TIMEOUT_MS 5000

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
  char svc[UVBLE_UUID_STR_LEN], key[UVBLE_UUID_STR_LEN]; /* uuid_key() */
  uvble_future_t nf; /* notified() / indicated(), re-armed by its callback */
  uvble_future_t pf; /* a poll's read */
  uint64_t poll_next; /* loop time of the next poll; 0: not polled */
  char *last;         /* the last value's JSON (retained), to publish again */
  bool indicate;
  uint8_t buf[UVBLE_GATT_MAX_ATTR_LEN], pbuf[UVBLE_GATT_MAX_ATTR_LEN];
};

struct dev {
  struct dev *next;
  uvble_device_t dev;
  struct ctl *ctl;
  char addr[UVBLE_ADDR_STR_LEN];
  char name[64]; /* as advertised */
  uvble_task_t task;
  uvble_future_t f;
  uvble_future_t quit_f; /* the disconnect when quitting */
  uvble_future_t kick_f; /* the disconnect when a reload drops the device */
  uvble_connection_t *conn;
  bool served; /* read and subscribed: discovery is published, polls run */
  unsigned backoff_ms;
  int failures, i, j;
  uvble_client_service_t *svcs[MAX_SERVICES];
  size_t nsvcs;
  uvble_client_characteristic_t *found[MAX_CHARS];
  struct chr chars[MAX_CHARS];
  size_t nchars;
  uint8_t buf[UVBLE_GATT_MAX_ATTR_LEN];
};

extern struct gw {
  uv_loop_t *loop;
  struct config cfg;
  const char *config_path;
  struct ctl ctls[MAX_CTL];
  size_t nctl;
  uvble_sched_t *sched; /* shared by every controller's context */
  uv_signal_t sigint, sigterm, sighup;
  uv_timer_t duration, quit_timer, tick;
  unsigned duration_s;
  struct mqtt *mqtt;
  bool quitting, check_only;
  int exit_code;
  struct dev *devs;
  size_t ndevices;
  uvble_task_t scan_task;
  uvble_future_t scan_f;
  uvble_scan_t *scan;
} G;

/* ---- bridge.c ---- */

/* One JSON line on stdout for an event of d ("connected", "read",
 * "notify", ...), about characteristic c (may be NULL) with value v (may
 * be NULL); extra's items (may be NULL; consumed) are added. Values and
 * device status go to MQTT too, retained (c keeps the value's line). */
void emit(struct dev *d, const char *event, struct chr *c, const uint8_t *v,
          size_t n, cJSON *extra);
/* Home Assistant discovery for d's characteristics (retained). */
void publish_discovery(struct dev *d);
/* Takes them away (a device no longer allowed). */
void remove_discovery(struct dev *d);
/* Connects to the broker the configuration names (if any). Returns 0 or
 * -1 with a sentence in err. */
int bridge_open(char *err, size_t errlen);
void bridge_close(void);
/* The device's display name: its alias, else its advertised name. */
const char *dev_label(const struct dev *d);
struct chr *find_chr(struct dev *d, const char *uuid);

#endif
