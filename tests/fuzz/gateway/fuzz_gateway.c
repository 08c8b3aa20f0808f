/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes the gateway example's parsers (registered by
 * examples/gateway/CMakeLists.txt). The first input byte picks one; the
 * rest is its input, in a buffer of exactly its size:
 *   0  a /set payload, encoded for each format (fmt_encode): the result
 *      fits the output buffer and a success never comes with a message
 *   1  a broker URL (mqtt_parse_url), NUL-terminated
 *   2  a config file (config_parse): an error names the file; a success
 *      is freed again
 *   3  a value decoded in each format (fmt_decode) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "format.h"
#include "mqtt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const FORMATS[] = {"uint8", "uint16", "uint24", "uint32", "sint8",
                                      "sint16", "sint24", "sint32", "utf8", "hex"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0] % 4;
  size_t n = size - 1;
  char *in = malloc(n + 1);
  if (!in) return 0;
  memcpy(in, data + 1, n);
  in[n] = 0;
  char err[300];
  if (mode == 0 || mode == 3) {
    for (size_t i = 0; i < sizeof FORMATS / sizeof FORMATS[0]; i++) {
      struct fmt f;
      uint8_t out[64];
      fmt_parse(FORMATS[i], &f);
      f.exponent = (int)(n % 19) - 9;
      if (mode == 0) {
        err[0] = 0;
        int r = fmt_encode(&f, in, n, out, sizeof out, err, sizeof err);
        if (r > (int)sizeof out || (r < 0 && !err[0])) abort();
      } else {
        cJSON *o = cJSON_CreateObject();
        fmt_decode(&f, (const uint8_t *)in, n, o);
        free(cJSON_PrintUnformatted(o));
        cJSON_Delete(o);
      }
    }
  } else if (mode == 1) {
    struct mqtt_url u;
    if (mqtt_parse_url(in, &u, err, sizeof err) == 0 &&
        (u.port < 1 || u.port > 65535 || !u.host[0]))
      abort();
  } else {
    struct config c;
    if (config_parse("fuzz.json", in, n, &c, err, sizeof err) == 0) config_free(&c);
    else if (strncmp(err, "fuzz.json: ", 11) != 0) abort();
  }
  free(in);
  return 0;
}
