/* SPDX-License-Identifier: Apache-2.0 */
#include "secrets.h"

#include <string.h>

struct secret *secrets_find(struct secrets *t, uint8_t type, const uint8_t *key,
                            size_t key_len) {
  for (int i = 0; i < SECRETS_MAX; i++) {
    struct secret *s = &t->s[i];
    if (s->used && s->type == type && s->klen == key_len &&
        memcmp(s->key, key, key_len) == 0)
      return s;
  }
  return NULL;
}

int secrets_count(const struct secrets *t, uint8_t type) {
  int n = 0;
  for (int i = 0; i < SECRETS_MAX; i++) n += t->s[i].used && t->s[i].type == type;
  return n;
}

int secrets_get(struct secrets *t, const uvble_evt_get_secret_t *g) {
  const struct secret *s = NULL;
  if (g->key) {
    s = secrets_find(t, g->sec_type, g->key, g->key_len);
  } else {
    for (int i = 0, n = 0; i < SECRETS_MAX && !s; i++)
      if (t->s[i].used && t->s[i].type == g->sec_type && n++ == g->index) s = &t->s[i];
  }
  if (!s || s->vlen > g->value_cap) return 0;
  memcpy(g->value, s->val, s->vlen);
  *g->value_len = s->vlen;
  return 1;
}

int secrets_set(struct secrets *t, const uvble_evt_set_secret_t *e) {
  struct secret *s = secrets_find(t, e->sec_type, e->key, e->key_len);
  if (!e->value) {
    if (s) s->used = false;
    return 1;
  }
  for (int i = 0; i < SECRETS_MAX && !s; i++)
    if (!t->s[i].used) s = &t->s[i];
  if (!s || e->key_len > sizeof s->key || e->value_len > sizeof s->val) return 0;
  s->used = true;
  s->type = e->sec_type;
  memcpy(s->key, e->key, e->key_len);
  s->klen = e->key_len;
  memcpy(s->val, e->value, e->value_len);
  s->vlen = e->value_len;
  return 1;
}
