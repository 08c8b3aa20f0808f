/* SPDX-License-Identifier: Apache-2.0 */
/* The gateway example's parsers, each with what it must accept and what it
 * must refuse (with an error naming what is wrong): /set payloads
 * (fmt_encode), value decoders (fmt_decode), short UUIDs in topics
 * (uuid_key), broker URLs (mqtt_parse_url) and the config file
 * (config_parse). Registered by examples/gateway/CMakeLists.txt. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "format.h"
#include "mqtt.h"

static int failures;

#define CHECK(c)                                                   \
  do {                                                             \
    if (!(c)) {                                                    \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c); \
      failures++;                                                  \
    }                                                              \
  } while (0)

static struct fmt F(const char *name, int exponent) {
  struct fmt f = {0};
  CHECK(fmt_parse(name, &f) == 0);
  f.exponent = exponent;
  return f;
}

/* Encodes p with f; expects the bytes in hex (or NULL: an error whose text
 * contains want_err). */
static void enc(struct fmt f, const char *p, const char *want_hex, const char *want_err) {
  uint8_t out[16];
  char err[200] = "", hex[40] = "";
  int n = fmt_encode(&f, p, strlen(p), out, sizeof out, err, sizeof err);
  for (int i = 0; i < n && i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", out[i]);
  if (want_hex ? (n < 0 || strcmp(hex, want_hex) != 0) : (n >= 0 || !strstr(err, want_err))) {
    fprintf(stderr, "fmt_encode(%s): got %d '%s' '%s', want %s\n", p, n, hex, err,
            want_hex ? want_hex : want_err);
    failures++;
  }
}

static void test_encode(void) {
  struct fmt t = F("sint16", -2), u16 = F("uint16", 0), u8 = F("uint8", 0),
             txt = F("utf8", 0), raw = F("hex", 0);
  enc(t, "21.5", "6608", NULL);         /* 2150 */
  enc(t, "-0.01", "ffff", NULL);
  enc(t, " 21.5\n", "6608", NULL);      /* mosquitto_pub -l leaves a newline */
  enc(t, "327.68", NULL, "out of range for sint16 (-327.68 to 327.67)");
  enc(u16, "5", "0500", NULL);
  enc(u16, "0500", "0500", NULL);       /* not JSON (leading zero): hex */
  enc(u16, "{\"value\":7}", "0700", NULL);
  enc(u16, "{\"hex\":\"0a0b\"}", "0a0b", NULL);
  enc(u16, "hex:0a 0b", "0a0b", NULL);
  enc(u16, "70000", NULL, "out of range");
  enc(u8, "-1", NULL, "out of range for uint8 (0 to 255)");
  enc(u8, "1e2", "64", NULL);
  enc(u16, "{\"hex\":\"zz\"}", NULL, "not hex");
  enc(u16, "{\"nothing\":1}", NULL, "needs \"hex\", \"value\"");
  enc(u16, "{broken", NULL, "not valid JSON");
  enc(u16, "0x10", NULL, "not hex");
  enc(u16, "abc", NULL, "not hex");         /* odd digit count */
  enc(u16, "", NULL, "not hex");
  enc(u16, "0a:0", NULL, "not hex");
  enc(raw, "21", "21", NULL);               /* no numeric format: hex */
  enc(raw, "2.5", NULL, "send hex");
  enc(txt, "hello", "68656c6c6f", NULL);    /* text as it comes */
  enc(txt, "42", "3432", NULL);
  enc(txt, "{\"text\":\"hi\"}", "6869", NULL);
  enc(txt, "hex:00ff", "00ff", NULL);
  char longtext[40];
  memset(longtext, 'x', sizeof longtext - 1);
  longtext[sizeof longtext - 1] = 0;
  enc(txt, longtext, NULL, "longer than 16 bytes");
  struct fmt bad;
  CHECK(fmt_parse("int16", &bad) < 0);
}

static void dec(struct fmt f, const uint8_t *v, size_t n, const char *want) {
  cJSON *o = cJSON_CreateObject();
  fmt_decode(&f, v, n, o);
  char *s = cJSON_PrintUnformatted(o);
  if (strcmp(s, want) != 0) {
    fprintf(stderr, "fmt_decode: got %s, want %s\n", s, want);
    failures++;
  }
  free(s);
  cJSON_Delete(o);
}

static void test_decode(void) {
  dec(F("sint16", -2), (const uint8_t[]){0xc2, 0x09}, 2, "{\"value\":24.98}");
  dec(F("sint16", -2), (const uint8_t[]){0xff, 0xff}, 2, "{\"value\":-0.01}");
  dec(F("uint8", 0), (const uint8_t[]){100}, 1, "{\"value\":100}");
  dec(F("uint8", 0), (const uint8_t[]){100, 1}, 2, "{}"); /* wrong length */
  dec(F("sint24", 0), (const uint8_t[]){0x00, 0x00, 0x80}, 3, "{\"value\":-8388608}");
  dec(F("uint32", 1), (const uint8_t[]){1, 0, 0, 0}, 4, "{\"value\":10}");
  dec(F("hex", 0), (const uint8_t[]){'o', 'k'}, 2, "{\"text\":\"ok\"}");
  dec(F("hex", 0), (const uint8_t[]){0, 1}, 2, "{}");
  dec(F("utf8", 0), (const uint8_t[]){'a', 0, 'b'}, 3, "{\"text\":\"a b\"}");
}

static void test_uuid_key(void) {
  char k[UVBLE_UUID_STR_LEN];
  uvble_uuid_t u;
  CHECK(uvble_uuid_parse(&u, "00002a6e-0000-1000-8000-00805f9b34fb") == 0);
  uuid_key(&u, k);
  CHECK(strcmp(k, "2a6e") == 0);
  CHECK(uvble_uuid_parse(&u, "12345678-0000-1000-8000-00805f9b34fb") == 0);
  uuid_key(&u, k);
  CHECK(strcmp(k, "12345678") == 0);
  CHECK(uvble_uuid_parse(&u, "6e400003-b5a3-f393-e0a9-e50e24dcca9e") == 0);
  uuid_key(&u, k);
  CHECK(strcmp(k, "6e400003-b5a3-f393-e0a9-e50e24dcca9e") == 0);
}

static void url(const char *s, bool tls, const char *host, int port, const char *user,
                const char *pass) {
  struct mqtt_url u;
  char err[200];
  if (mqtt_parse_url(s, &u, err, sizeof err) < 0 || u.tls != tls || strcmp(u.host, host) ||
      u.port != port || strcmp(u.user, user) || strcmp(u.password, pass)) {
    fprintf(stderr, "mqtt_parse_url(%s) wrong\n", s);
    failures++;
  }
}

static void bad_url(const char *s, const char *want) {
  struct mqtt_url u;
  char err[200] = "";
  if (mqtt_parse_url(s, &u, err, sizeof err) == 0 || !strstr(err, want)) {
    fprintf(stderr, "mqtt_parse_url(%s): '%s', want '%s'\n", s, err, want);
    failures++;
  }
}

static void test_urls(void) {
  url("mqtt://broker", false, "broker", 1883, "", "");
  url("broker.lan:1884", false, "broker.lan", 1884, "", "");
  url("tcp://10.0.0.1/", false, "10.0.0.1", 1883, "", "");
  url("mqtts://h", true, "h", 8883, "", "");
  url("ssl://u@h:8884", true, "h", 8884, "u", "");
  url("mqtt://u:p%40ss%3a@[::1]:1884", false, "::1", 1884, "u", "p@ss:");
  url("mqtt://[fe80::1]", false, "fe80::1", 1883, "", "");
  bad_url("ftp://h", "unknown scheme");
  bad_url("mqtt://", "no broker host");
  bad_url("mqtt://:1883", "no broker host");
  bad_url("mqtt://[::1", "no broker host");
  bad_url("mqtt://[nothex]:1", "no broker host");
  bad_url("mqtt://h:0", "bad port");
  bad_url("mqtt://h:65536", "bad port");
  bad_url("mqtt://h:", "bad port");
  bad_url("mqtt://h:12a", "bad port");
  bad_url("mqtt://h/topic", "no path");
  bad_url("mqtt://u:%zz@h", "bad user name");
  bad_url("mqtt://h h", "no broker host");
}

static void cfg_ok(const char *text) {
  struct config c;
  char err[300];
  if (config_parse("t.json", text, strlen(text), &c, err, sizeof err) < 0) {
    fprintf(stderr, "config_parse(%s): %s\n", text, err);
    failures++;
    return;
  }
  config_free(&c);
}

static void cfg_bad(const char *text, const char *want) {
  struct config c;
  char err[300] = "";
  if (config_parse("t.json", text, strlen(text), &c, err, sizeof err) == 0) {
    config_free(&c);
    fprintf(stderr, "config_parse(%s) accepted, want '%s'\n", text, want);
    failures++;
  } else if (strncmp(err, "t.json: ", 8) != 0 || !strstr(err, want)) {
    fprintf(stderr, "config_parse(%s): '%s', want '%s'\n", text, err, want);
    failures++;
  }
}

static void test_config(void) {
  struct config c;
  char err[300];
  const char *t = "{\"id\":\"g\",\"devices\":[{\"address\":\"00:AA:01:00:00:42\",\"alias\":\"K\","
                  "\"characteristics\":{\"2a6e\":{\"poll\":5,\"name\":\"Inside\"}}}],"
                  "\"mqtt\":{\"qos\":1,\"retain\":false},"
                  "\"characteristics\":{\"0x2A6E\":{\"poll\":60},\"ff01\":{\"unit\":\"%\","
                  "\"format\":\"uint16\",\"exponent\":-1}}}";
  CHECK(config_parse("t.json", t, strlen(t), &c, err, sizeof err) == 0);
  CHECK(c.only_listed && config_allows(&c, "00:aa:01:00:00:42") &&
        !config_allows(&c, "00:aa:01:00:00:43"));
  CHECK(strcmp(config_device(&c, "00:AA:01:00:00:42")->alias, "K") == 0);
  CHECK(c.mqtt.qos == 1 && !c.mqtt.retain && c.mqtt.discovery);
  uvble_uuid_t u = uvble_uuid16(0x2a6e);
  const struct rule *r = config_rule(&c, NULL, &u);
  CHECK(r && r->poll_s == 60 && r->fmt.kind == FMT_SINT && strcmp(r->unit, "°C") == 0);
  /* A device's own rule starts from the common one. */
  r = config_rule(&c, "00:aa:01:00:00:42", &u);
  CHECK(r && r->poll_s == 5 && r->fmt.kind == FMT_SINT && !strcmp(r->unit, "°C") &&
        !strcmp(r->name, "Inside"));
  r = config_rule(&c, "00:AA:01:00:00:43", &u);
  CHECK(r && r->poll_s == 60 && !strcmp(r->name, "Temperature"));
  u = uvble_uuid16(0xff01);
  r = config_rule(&c, NULL, &u);
  CHECK(r && r->fmt.exponent == -1 && !strcmp(r->component, "sensor"));
  struct config d;
  const char *t2 = "{\"id\":\"g\",\"mqtt\":{\"qos\":1}}";
  CHECK(config_parse("t.json", t2, strlen(t2), &d, err, sizeof err) == 0);
  char changed[200];
  config_changes(&c, &d, changed, sizeof changed);
  CHECK(strcmp(changed, "devices, mqtt, characteristics") == 0);
  config_free(&c);
  config_free(&d);

  cfg_ok("{}");
  cfg_ok("{\"services\":[\"nus\",\"181a\"],\"transports\":[\"hci0\",\"hci1\"]}");
  cfg_bad("[]", "must be an object");
  cfg_bad("{\"idd\":1}", "idd: unknown key");
  cfg_bad("{\"id\":\"a/b\"}", "id: must not contain");
  cfg_bad("{\"id\":5}", "id: must be a string");
  cfg_bad("{\n\"id\":\"x\",\n}", "not valid JSON (line 3)");
  cfg_bad("{\"max_devices\":0}", "max_devices: must be from 1 to 64");
  cfg_bad("{\"max_devices\":1.5}", "max_devices: must be an integer");
  cfg_bad("{\"only_listed\":true}", "only_listed: true, but");
  cfg_bad("{\"devices\":{}}", "devices: must be a list");
  cfg_bad("{\"devices\":[{\"alias\":\"x\"}]}", "devices[0]: needs \"address\"");
  cfg_bad("{\"devices\":[{\"address\":\"zz\"}]}", "devices[0].address: \"zz\" is not");
  cfg_bad("{\"devices\":[{\"address\":\"00:11:22:33:44:55\",\"x\":1}]}", "devices[0].x: unknown key");
  cfg_bad("{\"devices\":[{\"address\":\"00:11:22:33:44:55\",\"characteristics\":"
          "{\"2a6e\":{\"poll\":\"x\"}}}]}",
          "devices[0].characteristics.2a6e.poll: must be an integer");
  cfg_bad("{\"services\":[\"nope\"]}", "services: \"nope\" is not a UUID");
  cfg_bad("{\"services\":[5]}", "services: an item is not a UUID");
  cfg_bad("{\"transports\":[\"\"]}", "transports: must be a list of strings");
  cfg_bad("{\"mqtt\":{\"qos\":2}}", "mqtt.qos: must be from 0 to 1");
  cfg_bad("{\"mqtt\":{\"retain\":1}}", "mqtt.retain: must be true or false");
  cfg_bad("{\"mqtt\":{\"topic_prefix\":\"a/\"}}", "mqtt.topic_prefix: must be non-empty");
  cfg_bad("{\"mqtt\":{\"cert_file\":\"c\"}}", "mqtt.key_file: a client certificate needs");
  cfg_bad("{\"mqtt\":{\"password_env\":\"UVBLE_TEST_SURELY_UNSET\"}}",
          "mqtt.password_env: $UVBLE_TEST_SURELY_UNSET is not set");
  cfg_bad("{\"mqtt\":{\"password_file\":\"/nonexistent/pw\"}}",
          "mqtt.password_file: /nonexistent/pw: No such file");
  cfg_bad("{\"characteristics\":[]}", "characteristics: must be an object");
  cfg_bad("{\"characteristics\":{\"xyz\":{}}}", "characteristics.xyz: not a UUID");
  cfg_bad("{\"characteristics\":{\"2a6e\":{\"pol\":1}}}", "characteristics.2a6e.pol: unknown key");
  cfg_bad("{\"characteristics\":{\"2a6e\":{\"poll\":-1}}}", "characteristics.2a6e.poll: must be from 0");
  cfg_bad("{\"characteristics\":{\"2a6e\":{\"format\":\"f\"}}}", "characteristics.2a6e.format: \"f\": one of");
  cfg_bad("{\"characteristics\":{\"2a6e\":{\"component\":\"light\"}}}",
          "characteristics.2a6e.component: \"light\": one of");
  cfg_bad("{\"characteristics\":{\"2a6e\":{\"command\":\"q\"}}}",
          "characteristics.2a6e.command: \"q\" is not a UUID");
  cfg_bad("{\"characteristics\":{\"2a6e\":{\"exponent\":10}}}",
          "characteristics.2a6e.exponent: must be from -9 to 9");
}

int main(void) {
  test_encode();
  test_decode();
  test_uuid_key();
  test_urls();
  test_config();
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("gateway parsers: ok\n");
  return 0;
}
