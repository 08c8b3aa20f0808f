/* SPDX-License-Identifier: Apache-2.0 */
/* An application's secret store kept in memory, as a test's irq handler
 * answers GET_SECRET / SET_SECRET (MicroPython's model: (sec_type, key) ->
 * value; see uvble/security.h, SECRETS). */
#ifndef UVBLE_TEST_SECRETS_H
#define UVBLE_TEST_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvble/security.h"
#include "uvble/uvble.h"

#define SECRETS_MAX 32

struct secret {
  bool used;
  uint8_t type, key[32], val[UVBLE_SECRET_VALUE_MAX];
  size_t klen, vlen;
};

struct secrets {
  struct secret s[SECRETS_MAX];
};

struct secret *secrets_find(struct secrets *t, uint8_t type, const uint8_t *key,
                            size_t key_len);
int secrets_count(const struct secrets *t, uint8_t type);
/* GET_SECRET: by key, or the index-th of its type when key is NULL.
 * Returns what the handler returns: 1 found (value copied), 0 not. */
int secrets_get(struct secrets *t, const uvble_evt_get_secret_t *g);
/* SET_SECRET: stores, replaces, or (value NULL) deletes. Returns 1 when
 * done, 0 when the table is full or the key or value too long. */
int secrets_set(struct secrets *t, const uvble_evt_set_secret_t *e);

#endif
