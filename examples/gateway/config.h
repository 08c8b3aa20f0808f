/* SPDX-License-Identifier: Apache-2.0 */
/* The gateway's configuration: a JSON file parsed with cJSON, checked
 * strictly (an unknown key, a wrong type or a value out of range is an
 * error naming the file and the key), plus the built-in knowledge of the
 * SIG characteristics it decodes. Command-line options override it.
 *
 *   {
 *     "id": "home",                       the gateway's name in topics
 *     "transports": ["hci0"],             controllers (not reloadable)
 *     "services": ["181a", "nus"],        what to look for when scanning
 *     "name_prefix": "uvble-",            only advertisers named so
 *     "max_devices": 8,
 *     "devices": [{"address": "00:aa:01:00:00:42", "alias": "Kitchen",
 *                  "characteristics": {"ff01": {"poll": 10}}}],
 *     "only_listed": true,                the devices list as an allowlist
 *     "mqtt": {"url": "mqtts://broker.lan", "username": "gw",
 *              "password_file": "/etc/uvble/mqtt.pass",   (or
 *              "password_env": "MQTT_PASSWORD"), "ca_file": ...,
 *              "cert_file": ..., "key_file": ..., "topic_prefix": "uvble",
 *              "qos": 1, "retain": true, "keepalive": 30,
 *              "discovery": true, "discovery_prefix": "homeassistant"},
 *     "characteristics": {"2a6e": {"poll": 60, "unit": "°C", ...}}
 *   }
 *
 * See README.md ("The gateway and Home Assistant") for every key. */
#ifndef GATEWAY_CONFIG_H
#define GATEWAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "format.h"
#include "uvble/uvble.h"

#define CFG_MAX_TRANSPORTS 8
#define CFG_MAX_SERVICES 16
#define CFG_MAX_DEVICES 64
#define CFG_MAX_RULES 128
#define NUS_SERVICE "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
#define NUS_RX "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
#define NUS_TX "6e400003-b5a3-f393-e0a9-e50e24dcca9e"

/* What to do with one characteristic (by UUID), and how Home Assistant
 * should show it. */
struct rule {
  uvble_uuid_t uuid;
  char addr[UVBLE_ADDR_STR_LEN]; /* one device's (devices[].characteristics); "": all */
  char key[UVBLE_UUID_STR_LEN]; /* uuid_key() */
  bool read, subscribe, ignore;
  unsigned poll_s; /* 0: no polling */
  struct fmt fmt;
  char name[64], unit[16], device_class[32], state_class[32];
  char component[16]; /* "sensor", "number", "text" or "" (no entity) */
  char command[UVBLE_UUID_STR_LEN]; /* text: the characteristic written */
  double min, max, step;            /* number */
};

struct device_cfg {
  char addr[UVBLE_ADDR_STR_LEN]; /* lower case */
  char alias[64];
};

struct mqtt_cfg {
  char url[512];
  char username[128], password[256];
  bool have_username, have_password;
  char ca_file[256], ca_path[256], cert_file[256], key_file[256];
  char topic_prefix[64], discovery_prefix[64];
  int qos, keepalive;
  bool retain, discovery;
};

struct config {
  char path[256]; /* "" without a file */
  char id[64];
  char transports[CFG_MAX_TRANSPORTS][128];
  size_t ntransports;
  uvble_uuid_t services[CFG_MAX_SERVICES];
  size_t nservices;
  char name_prefix[64];
  size_t max_devices;
  struct device_cfg devices[CFG_MAX_DEVICES];
  size_t ndevices;
  bool only_listed;
  struct mqtt_cfg mqtt;
  struct rule rules[CFG_MAX_RULES];
  size_t nrules;
  void *json; /* the parsed file (cJSON), to tell what a reload changed */
};

/* The defaults: no file, the built-in characteristics. */
void config_init(struct config *c);
/* Reads and checks path into c (initialised first). Returns 0, or -1 with
 * "PATH: KEY: what is wrong" in err; c is then freed. */
int config_load(const char *path, struct config *c, char *err, size_t errlen);
/* The same for a file's text; name is what errors call it. */
int config_parse(const char *name, const char *text, size_t n, struct config *c,
                 char *err, size_t errlen);
void config_free(struct config *c);
/* The top-level keys whose values differ, comma-separated ("" if none). */
void config_changes(const struct config *a, const struct config *b, char *out,
                    size_t cap);

/* The rule for characteristic u of the device at addr (NULL: the one for
 * every device): the device's own, else the common one, else NULL. */
const struct rule *config_rule(const struct config *c, const char *addr,
                               const uvble_uuid_t *u);
const struct device_cfg *config_device(const struct config *c, const char *addr);
/* Whether a device may be served: listed, or any when not only_listed. */
bool config_allows(const struct config *c, const char *addr);

#endif
