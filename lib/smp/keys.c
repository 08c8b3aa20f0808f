/* SPDX-License-Identifier: Apache-2.0 */
/* The secrets layer (keys.h): the app's GET_SECRET / SET_SECRET handler
 * first (MicroPython's model), the built-in bond store second; bond
 * records, our IRK, and the resolution of peers' RPAs against the IRKs of
 * bonded peers (cached, rebuilt when a bond is stored or erased). */
#include <stdlib.h>
#include <string.h>

#include "bond_store.h"
#include "crypto.h"
#include "pdu_reader.h"
#include "smp_internal.h"

#define KEYS_VERSION 1
#define KEYS_ITER_MAX (2 * BOND_STORE_ENTRIES_MAX)

struct irk_entry {
  uvble_addr_t id;
  uint8_t irk[16];
};

struct keys_state {
  bond_store_t *store;
  bool irk_loaded;    /* irk holds our IRK for this session */
  bool irk_persisted; /* ... and it is stored */
  uint8_t irk[16];
  bool cache_valid;
  struct irk_entry *cache;
  size_t ncache, cap;
  keys_bonded_fn bonded_fn;
  keys_bond_link_fn bond_link_fn;
};

static const uint8_t irk_key[3] = {'i', 'r', 'k'};

static struct keys_state *ks(uvble_t *ble) {
  return ble->smp ? ble->smp->keys : NULL;
}

int keys_init(uvble_t *ble) {
  struct keys_state *k = calloc(1, sizeof *k);
  if (!k) return UVBLE_ENOMEM;
  ble->smp->keys = k;
  return 0;
}

static void cache_clear(struct keys_state *k) {
  if (k->cache) uvble_sm_wipe(k->cache, k->cap * sizeof *k->cache);
  k->ncache = 0;
  k->cache_valid = false;
}

void keys_close(uvble_t *ble) {
  struct keys_state *k = ks(ble);
  if (!k) return;
  if (k->store) bond_store_close(k->store);
  cache_clear(k);
  free(k->cache);
  uvble_sm_wipe(k, sizeof *k);
  free(k);
  ble->smp->keys = NULL;
}

/* ---- raw secrets ------------------------------------------------------------- */
/* Asks the app; the value's length, or -1 when it did not answer. */
static int app_get(uvble_t *ble, uint8_t type, int index, const uint8_t *key,
                   size_t key_len, uint8_t *value, size_t cap) {
  uint8_t buf[UVBLE_SECRET_VALUE_MAX];
  size_t n = 0;
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.get_secret.sec_type = type;
  d.get_secret.index = index;
  d.get_secret.key = key;
  d.get_secret.key_len = key ? key_len : 0;
  d.get_secret.value = buf;
  d.get_secret.value_cap = sizeof buf;
  d.get_secret.value_len = &n;
  int handled = ble_irq(ble, UVBLE_IRQ_GET_SECRET, &d);
  int r = -1;
  if (handled == 1 && n <= sizeof buf && !ble_dead(ble)) {
    memcpy(value, buf, n < cap ? n : cap);
    r = (int)n;
  }
  uvble_sm_wipe(buf, sizeof buf);
  return r;
}

int keys_get(uvble_t *ble, uint8_t type, const uint8_t *key, size_t key_len,
             uint8_t *value, size_t cap) {
  int r = app_get(ble, type, 0, key, key_len, value, cap);
  if (r >= 0) return r;
  struct keys_state *k = ks(ble);
  if (!k || !k->store || ble_dead(ble)) return UVBLE_ENOENT;
  return bond_store_get(k->store, type, key, key_len, value, cap);
}

int keys_set(uvble_t *ble, uint8_t type, const uint8_t *key, size_t key_len,
             const uint8_t *value, size_t len) {
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.set_secret.sec_type = type;
  d.set_secret.key = key;
  d.set_secret.key_len = key_len;
  d.set_secret.value = value;
  d.set_secret.value_len = value ? len : 0;
  int handled = ble_irq(ble, UVBLE_IRQ_SET_SECRET, &d);
  if (ble_dead(ble)) return UVBLE_ECANCELED;
  if (handled == 1) return 0;
  struct keys_state *k = ks(ble);
  if (!k || !k->store) return UVBLE_ENOENT;
  int r = bond_store_set(k->store, type, key, key_len, value, value ? len : 0);
  if (!value && r == UVBLE_ENOENT) r = 0; /* deleting what is absent */
  return r;
}

/* Iterates the values of one type: the app's (GET_SECRET with no key,
 * index 0, 1, ... until it answers nothing), then the store's. */
struct keys_iter {
  uint8_t type;
  int app_idx;
  bool app_done;
  int store_idx;
};

static int iter_next(uvble_t *ble, struct keys_iter *it, uint8_t *value,
                     size_t cap, uint8_t *key, size_t *key_len) {
  if (key_len) *key_len = 0;
  if (!it->app_done) {
    int r = app_get(ble, it->type, it->app_idx, NULL, 0, value, cap);
    if (r >= 0 && it->app_idx < KEYS_ITER_MAX) {
      it->app_idx++;
      return r;
    }
    it->app_done = true;
  }
  struct keys_state *k = ks(ble);
  if (!k || !k->store || ble_dead(ble)) return UVBLE_ENOENT;
  uint8_t kbuf[BOND_STORE_KEY_MAX];
  size_t klen = 0;
  int r = bond_store_get_index(k->store, it->type, it->store_idx, kbuf,
                               sizeof kbuf, &klen, value, cap);
  if (r < 0) return r;
  it->store_idx++;
  if (key && key_len && klen <= BOND_STORE_KEY_MAX) {
    memcpy(key, kbuf, klen);
    *key_len = klen;
  }
  return r;
}

/* ---- bond records -------------------------------------------------------------- */
void keys_addr_key(const uvble_addr_t *a, uint8_t key[KEYS_ADDR_KEY_LEN]) {
  key[0] = a->type & 1;
  ble_addr_to_hci(a, key + 1);
}

void keys_bond_encode(const struct keys_bond *b, uint8_t out[KEYS_BOND_LEN]) {
  out[0] = KEYS_VERSION;
  out[1] = b->flags;
  out[2] = b->key_size;
  out[3] = b->id_type;
  memcpy(out + 4, b->id_addr, 6);
  put_le16(out + 10, b->ediv);
  memcpy(out + 12, b->rand, 8);
  memcpy(out + 20, b->ltk, 16);
  memcpy(out + 36, b->irk, 16);
  memcpy(out + 52, b->csrk, 16);
  put_le32(out + 68, b->sign_counter);
}

bool keys_bond_decode(struct keys_bond *b, const uint8_t *in, size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, in, len);
  memset(b, 0, sizeof *b); /* padding too: callers compare and copy it */
  uint8_t version = pdu_get_u8(&r);
  b->flags = pdu_get_u8(&r);
  b->key_size = pdu_get_u8(&r);
  b->id_type = pdu_get_u8(&r);
  pdu_get_addr(&r, b->id_addr);
  b->ediv = pdu_get_le16(&r);
  pdu_get_mem(&r, b->rand, 8);
  pdu_get_mem(&r, b->ltk, 16);
  pdu_get_mem(&r, b->irk, 16);
  pdu_get_mem(&r, b->csrk, 16);
  b->sign_counter = pdu_get_le32(&r);
  if (pdu_done(&r) && version == KEYS_VERSION && b->key_size >= 7 &&
      b->key_size <= 16 && b->id_type <= 1)
    return true;
  uvble_sm_wipe(b, sizeof *b);
  return false;
}

int keys_bond_load(uvble_t *ble, uint8_t type, const uvble_addr_t *identity,
                   struct keys_bond *out) {
  uint8_t key[KEYS_ADDR_KEY_LEN], v[KEYS_BOND_LEN + 1];
  keys_addr_key(identity, key);
  memset(out, 0, sizeof *out);
  int n = keys_get(ble, type, key, sizeof key, v, sizeof v);
  int r = UVBLE_ENOENT;
  if (n >= 0 && keys_bond_decode(out, v, (size_t)n)) r = 0;
  uvble_sm_wipe(v, sizeof v);
  return r;
}

int keys_bond_save(uvble_t *ble, uint8_t type, const uvble_addr_t *identity,
                   const struct keys_bond *b) {
  uint8_t key[KEYS_ADDR_KEY_LEN], v[KEYS_BOND_LEN];
  keys_addr_key(identity, key);
  keys_bond_encode(b, v);
  int r = keys_set(ble, type, key, sizeof key, v, sizeof v);
  uvble_sm_wipe(v, sizeof v);
  return r;
}

void keys_bond_delete(uvble_t *ble, const uvble_addr_t *identity) {
  static const uint8_t types[] = {UVBLE_SECRET_OUR_SEC, UVBLE_SECRET_PEER_SEC,
                                  UVBLE_SECRET_CCCD};
  uint8_t key[KEYS_ADDR_KEY_LEN];
  keys_addr_key(identity, key);
  for (size_t i = 0; i < sizeof types && !ble_dead(ble); i++)
    keys_set(ble, types[i], key, sizeof key, NULL, 0);
}

/* ---- peers' IRKs ----------------------------------------------------------------- */
void keys_irk_cache_invalidate(uvble_t *ble) {
  struct keys_state *k = ks(ble);
  if (k) cache_clear(k);
}

static void cache_add(struct keys_state *k, const struct keys_bond *b) {
  if (k->ncache == k->cap) {
    size_t cap = k->cap ? k->cap * 2 : 8;
    struct irk_entry *n = malloc(cap * sizeof *n);
    if (!n) return; /* resolution misses this peer; retried next rebuild */
    if (k->ncache) memcpy(n, k->cache, k->ncache * sizeof *n);
    if (k->cache) uvble_sm_wipe(k->cache, k->cap * sizeof *k->cache);
    free(k->cache);
    k->cache = n;
    k->cap = cap;
  }
  struct irk_entry *e = &k->cache[k->ncache++];
  ble_addr_from_hci(&e->id, b->id_type, b->id_addr);
  memcpy(e->irk, b->irk, 16);
}

static void cache_load(uvble_t *ble) {
  struct keys_state *k = ks(ble);
  cache_clear(k);
  struct keys_iter it = {.type = UVBLE_SECRET_PEER_SEC};
  uint8_t v[KEYS_BOND_LEN + 1];
  struct keys_bond b;
  for (int i = 0; i < KEYS_ITER_MAX; i++) {
    int n = iter_next(ble, &it, v, sizeof v, NULL, NULL);
    if (n < 0 || !(k = ks(ble))) break;
    if (keys_bond_decode(&b, v, (size_t)n) && (b.flags & KEYS_F_IRK))
      cache_add(k, &b);
  }
  uvble_sm_wipe(&b, sizeof b);
  uvble_sm_wipe(v, sizeof v);
  if ((k = ks(ble))) k->cache_valid = true;
}

/* hci: a random address in HCI order. */
static bool resolve(uvble_t *ble, const uint8_t hci[6], uvble_addr_t *out) {
  if (!uvble_sm_addr_is_rpa(hci) || !ks(ble)) return false;
  if (!ks(ble)->cache_valid) cache_load(ble);
  struct keys_state *k = ks(ble);
  if (!k) return false;
  for (size_t i = 0; i < k->ncache; i++) {
    if (uvble_sm_rpa_resolve(k->cache[i].irk, hci)) {
      *out = k->cache[i].id;
      return true;
    }
  }
  return false;
}

void keys_peer_identity(uvble_t *ble, const uvble_addr_t *peer,
                        uvble_addr_t *identity) {
  uvble_addr_t a = *peer;
  a.type &= 1; /* 2/3: identity addresses the controller resolved */
  *identity = a;
  if (peer->type != UVBLE_ADDR_RANDOM) return;
  uint8_t hci[6];
  ble_addr_to_hci(peer, hci);
  resolve(ble, hci, identity);
}

bool uvble_resolve_peer(uvble_t *ble, const uvble_addr_t *rpa,
                        uvble_addr_t *identity) {
  if (!ble || !rpa || !identity || ble_dead(ble)) return false;
  if ((rpa->type & 1) != UVBLE_ADDR_RANDOM) return false;
  uint8_t hci[6];
  ble_addr_to_hci(rpa, hci);
  return resolve(ble, hci, identity);
}

/* ---- our IRK ----------------------------------------------------------------------- */
bool keys_local_irk_loaded(uvble_t *ble) {
  struct keys_state *k = ks(ble);
  return !k || k->irk_loaded;
}

int keys_local_irk(uvble_t *ble, uint8_t irk[16]) {
  struct keys_state *k = ks(ble);
  if (!k) return UVBLE_ECANCELED;
  if (!k->irk_loaded) {
    uint8_t v[17];
    int n = keys_get(ble, UVBLE_SECRET_OUR_IRK, irk_key, sizeof irk_key, v,
                     sizeof v);
    if (!(k = ks(ble))) return UVBLE_ECANCELED;
    if (n == 16) {
      memcpy(k->irk, v, 16);
      k->irk_persisted = true;
    } else if (ble->gap && ble->smp->gap.local_irk) {
      /* None stored: keep the one GAP made its RPAs with, so they stay
       * resolvable. */
      memcpy(k->irk, ble->smp->gap.local_irk(ble), 16);
    } else if (uvble_sm_random(k->irk, 16) < 0) {
      uvble_sm_wipe(v, sizeof v);
      return UVBLE_EIO;
    }
    uvble_sm_wipe(v, sizeof v);
    k->irk_loaded = true;
    /* GAP makes the next RPA with it (a stored IRK replaces the one it
     * started with). */
    const struct smp_gap_hooks *h = &ble->smp->gap;
    if (ble->gap && h->local_irk && h->set_local_irk &&
        memcmp(h->local_irk(ble), k->irk, 16) != 0)
      h->set_local_irk(ble, k->irk);
  }
  int r = 0;
  if (!k->irk_persisted) {
    /* Made here (or not stored before): keep it, so the RPAs it makes
     * resolve after a restart. Retried at the next use on failure. */
    r = keys_set(ble, UVBLE_SECRET_OUR_IRK, irk_key, sizeof irk_key, k->irk,
                 16);
    if (!(k = ks(ble))) return UVBLE_ECANCELED;
    k->irk_persisted = r == 0;
  }
  memcpy(irk, k->irk, 16);
  return r;
}

/* ---- CCCD persistence --------------------------------------------------------------- */
static void conn_identity(uvble_t *ble, const struct ble_conn *c,
                          uvble_addr_t *id) {
  if (c->smp && c->smp->identity_valid)
    *id = c->smp->identity;
  else
    keys_peer_identity(ble, &c->peer, id);
}

int keys_cccd_save(uvble_t *ble, const struct ble_conn *c, const uint8_t *blob,
                   size_t len) {
  if (!c->bonded) return UVBLE_EPERM;
  if (len > UVBLE_SECRET_VALUE_MAX) return UVBLE_EMSGSIZE;
  uvble_addr_t id;
  conn_identity(ble, c, &id);
  uint8_t key[KEYS_ADDR_KEY_LEN];
  keys_addr_key(&id, key);
  /* An empty table is no table: nothing to restore. */
  return keys_set(ble, UVBLE_SECRET_CCCD, key, sizeof key, len ? blob : NULL,
                  len);
}

int keys_cccd_load(uvble_t *ble, const struct ble_conn *c, uint8_t *blob,
                   size_t cap) {
  uvble_addr_t id;
  conn_identity(ble, c, &id);
  uint8_t key[KEYS_ADDR_KEY_LEN];
  keys_addr_key(&id, key);
  return keys_get(ble, UVBLE_SECRET_CCCD, key, sizeof key, blob, cap);
}

void keys_on_bonded(uvble_t *ble, keys_bonded_fn fn) {
  struct keys_state *k = ks(ble);
  if (k) k->bonded_fn = fn;
}

void keys_notify_bonded(uvble_t *ble, struct ble_conn *c) {
  struct keys_state *k = ks(ble);
  if (k && k->bonded_fn) k->bonded_fn(ble, c);
}

void keys_on_bond_link(uvble_t *ble, keys_bond_link_fn fn) {
  struct keys_state *k = ks(ble);
  if (k) k->bond_link_fn = fn;
}

void keys_notify_bond_link(uvble_t *ble, struct ble_conn *c, bool resumed) {
  struct keys_state *k = ks(ble);
  if (k && k->bond_link_fn) k->bond_link_fn(ble, c, resumed);
}

/* ---- public API ----------------------------------------------------------------------- */
int uvble_bond_store_open(uvble_t *ble, const char *path, const char *key_file,
                          const char *passphrase, char *errbuf, size_t errlen) {
  if (!ble || !path) return UVBLE_EINVAL;
  struct keys_state *k = ks(ble);
  if (!k || ble_dead(ble)) return UVBLE_ECLOSING;
  bond_store_t *s;
  int r = bond_store_open_ex(path, key_file, passphrase, &s, errbuf, errlen);
  if (r < 0) return r;
  if (k->store) bond_store_close(k->store);
  k->store = s;
  cache_clear(k);
  /* Our IRK may be in the store: take it (or put ours there). */
  k->irk_loaded = false;
  k->irk_persisted = false;
  uint8_t irk[16];
  keys_local_irk(ble, irk);
  uvble_sm_wipe(irk, sizeof irk);
  return 0;
}

/* Identities of every bond record of one type, appended to ids (deduped). */
static void collect_ids(uvble_t *ble, uint8_t type, uvble_addr_t *ids,
                        size_t *n, size_t cap) {
  struct keys_iter it = {.type = type};
  uint8_t v[KEYS_BOND_LEN + 1];
  struct keys_bond b;
  for (int i = 0; i < KEYS_ITER_MAX && *n < cap; i++) {
    int len = iter_next(ble, &it, v, sizeof v, NULL, NULL);
    if (len < 0 || ble_dead(ble)) break;
    if (!keys_bond_decode(&b, v, (size_t)len)) continue;
    uvble_addr_t id;
    ble_addr_from_hci(&id, b.id_type, b.id_addr);
    size_t j = 0;
    while (j < *n && (ids[j].type != id.type || memcmp(ids[j].val, id.val, 6)))
      j++;
    if (j == *n) ids[(*n)++] = id;
  }
  uvble_sm_wipe(&b, sizeof b);
  uvble_sm_wipe(v, sizeof v);
}

/* The bond of one peer, by identity. */
static int forget_identity(uvble_t *ble, const uvble_addr_t *id) {
  struct keys_bond b;
  bool found = keys_bond_load(ble, UVBLE_SECRET_PEER_SEC, id, &b) == 0;
  if (!ble_dead(ble) && !found)
    found = keys_bond_load(ble, UVBLE_SECRET_OUR_SEC, id, &b) == 0;
  uvble_sm_wipe(&b, sizeof b);
  if (ble_dead(ble)) return UVBLE_ECANCELED;
  if (!found) return UVBLE_ENOENT;
  keys_bond_delete(ble, id);
  struct keys_state *k = ks(ble);
  if (k) cache_clear(k); /* its IRK resolves no more */
  return ble_dead(ble) ? UVBLE_ECANCELED : 0;
}

int uvble_forget_bond(uvble_t *ble, const uvble_addr_t *peer) {
  if (!ble || !peer || !ks(ble) || ble_dead(ble)) return UVBLE_EINVAL;
  if (peer->type > UVBLE_ADDR_RANDOM_ID) return UVBLE_EINVAL;
  uvble_addr_t id;
  keys_peer_identity(ble, peer, &id); /* an RPA: the identity behind it */
  return forget_identity(ble, &id);
}

int uvble_forget_bond_conn(uvble_t *ble, uint16_t conn_handle) {
  if (!ble || !ks(ble) || ble_dead(ble)) return UVBLE_EINVAL;
  struct ble_conn *c = conn_find(ble, conn_handle);
  if (!c) return UVBLE_ENOTCONN;
  uvble_addr_t id;
  /* The identity the stack re-encrypts under (smp_reencrypt). */
  keys_peer_identity(ble, &c->peer, &id);
  return forget_identity(ble, &id);
}

int uvble_erase_bonding(uvble_t *ble) {
  if (!ble || !ks(ble) || ble_dead(ble)) return UVBLE_EINVAL;
  size_t cap = KEYS_ITER_MAX, n = 0;
  uvble_addr_t *ids = malloc(cap * sizeof *ids);
  if (!ids) return UVBLE_ENOMEM;
  collect_ids(ble, UVBLE_SECRET_OUR_SEC, ids, &n, cap);
  collect_ids(ble, UVBLE_SECRET_PEER_SEC, ids, &n, cap);
  for (size_t i = 0; i < n && !ble_dead(ble); i++) keys_bond_delete(ble, &ids[i]);
  free(ids);
  /* What the store still holds of those types (records we could not
   * decode, CCCDs of peers without a record) goes too. */
  struct keys_state *k = ks(ble);
  int err = 0;
  static const uint8_t types[] = {UVBLE_SECRET_OUR_SEC, UVBLE_SECRET_PEER_SEC,
                                  UVBLE_SECRET_CCCD};
  for (size_t t = 0; k && k->store && t < sizeof types; t++) {
    uint8_t key[BOND_STORE_KEY_MAX], v[UVBLE_SECRET_VALUE_MAX];
    size_t klen;
    for (int guard = 0; guard < BOND_STORE_ENTRIES_MAX; guard++) {
      if (bond_store_get_index(k->store, types[t], 0, key, sizeof key, &klen,
                               v, sizeof v) < 0)
        break;
      int r = bond_store_set(k->store, types[t], key, klen, NULL, 0);
      if (r < 0) {
        if (!err) err = r;
        break;
      }
    }
    uvble_sm_wipe(v, sizeof v);
  }
  if ((k = ks(ble))) cache_clear(k);
  return err;
}

int uvble_bond_list(uvble_t *ble, uvble_bond_info_t *out, size_t cap) {
  if (!ble || (!out && cap) || !ks(ble) || ble_dead(ble)) return UVBLE_EINVAL;
  size_t n = 0;
  uvble_addr_t *ids = malloc(KEYS_ITER_MAX * sizeof *ids);
  if (!ids) return UVBLE_ENOMEM;
  collect_ids(ble, UVBLE_SECRET_PEER_SEC, ids, &n, KEYS_ITER_MAX);
  collect_ids(ble, UVBLE_SECRET_OUR_SEC, ids, &n, KEYS_ITER_MAX);
  for (size_t i = 0; i < n && i < cap; i++) {
    struct keys_bond peer, ours;
    bool have_peer = keys_bond_load(ble, UVBLE_SECRET_PEER_SEC, &ids[i], &peer) == 0;
    bool have_ours = keys_bond_load(ble, UVBLE_SECRET_OUR_SEC, &ids[i], &ours) == 0;
    const struct keys_bond *b = have_peer ? &peer : &ours;
    out[i] = (uvble_bond_info_t){
        .identity = ids[i],
        .key_size = have_peer || have_ours ? b->key_size : 0,
        .authenticated = (have_peer || have_ours) && (b->flags & KEYS_F_AUTH),
        .secure_connections = (have_peer || have_ours) && (b->flags & KEYS_F_SC),
        .peer_irk = have_peer && (peer.flags & KEYS_F_IRK),
    };
    uvble_sm_wipe(&peer, sizeof peer);
    uvble_sm_wipe(&ours, sizeof ours);
  }
  free(ids);
  return (int)n;
}
