/* SPDX-License-Identifier: Apache-2.0 */
/* What every uvble program shares on its command line (the `uvble` command,
 * uvble-info and the examples): --version, strict option values that name
 * the option and the accepted range when they are wrong, protocol statuses
 * by name, and the one JSON schema of a scan result. */
#ifndef UVBLE_CLI_H
#define UVBLE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "uvble/async.h"
#include "uvble/uvble.h"

/* The program's name in messages ("uvble scan", "uvble-scanner"). */
void cli_set_prog(const char *prog);
const char *cli_prog(void);

/* Prints "PROG (uvble) X.Y.Z" (library version) to stdout; returns 0. */
int cli_version(void);

/* Option values. Each returns 0, or prints one line naming the option, the
 * value and what is accepted ("uvble scan: --duration: 'abc' is not a whole
 * number from 0 to 86400") and returns -1. Numbers are decimal ("010" is
 * ten); CLI_HEX also accepts 0x-prefixed hex (company ids, handles, PSMs). */
enum { CLI_DEC = 0, CLI_HEX = 1 };
int cli_uint(const char *opt, const char *text, uint64_t min, uint64_t max,
             int flags, uint64_t *out);
int cli_int(const char *opt, const char *text, int64_t min, int64_t max,
            int64_t *out);
/* A Bluetooth address "aa:bb:cc:dd:ee:ff" (or 12 hex digits); type is
 * kept. */
int cli_addr(const char *opt, const char *text, uvble_addr_t *out);
int cli_uuid(const char *opt, const char *text, uvble_uuid_t *out);
/* One of names[0..n): *out is its index. */
int cli_choice(const char *opt, const char *text, const char *const *names,
               size_t n, int *out);
/* A value that is wrong for another reason: "PROG: OPT: 'text' WHY". -1. */
int cli_bad(const char *opt, const char *text, const char *why);

/* What a failed operation's status means, protocol code and name included:
 * "the peer answered with ATT error 0x05 (Insufficient Authentication)".
 * proto_status -1: not known (the status's own message). */
const char *cli_status(int status, int proto_status, char *buf, size_t cap);
/* The same for a future. */
const char *cli_fstatus(const uvble_future_t *f, char *buf, size_t cap);

/* ---- JSON (cJSON) ------------------------------------------------------------ */
/* Prints o as one line on stdout, flushes, and deletes it. */
void cli_json_line(cJSON *o);
/* Adds "key":"hex of data". */
cJSON *cli_json_hex(cJSON *o, const char *key, const uint8_t *data, size_t len);
/* An ISO 8601 UTC timestamp with milliseconds into buf (>= 32 bytes). */
const char *cli_timestamp(char *buf, size_t cap);
/* "public", "random", "public-id", "random-id". */
const char *cli_addr_type(uint8_t type);

/* The scan result schema of `uvble scan --json` and uvble-scanner:
 *   {"time","address","type","rssi" (null: not available),"connectable",
 *    "adv_type","name"?,"services"?:[uuid...],
 *    "manufacturer"?:[{"id","data"(hex)}],"tx_power"?,"appearance"?,
 *    "identity"?:{"address","type"} (an RPA resolved through a bond),
 *    "ad"?:[{"type","data"(hex)}] (raw AD structures, when raw),
 *    "reports"} */
cJSON *cli_scan_json(const uvble_scan_result_t *r, const uvble_addr_t *identity,
                     bool raw);

#endif
