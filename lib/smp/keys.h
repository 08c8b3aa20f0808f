/* SPDX-License-Identifier: Apache-2.0 */
/* The secrets layer: bonds, our IRK, peers' IRKs, CCCD persistence. Private.
 *
 * Every secret is a (sec_type, key) -> value entry (MicroPython's model,
 * see include/uvble/security.h for the types). A lookup asks the app first
 * (UVBLE_IRQ_GET_SECRET; a handler returning 1 answers), then the built-in
 * bond store when one is open; a change goes to the app (SET_SECRET
 * returning 1) or else to the store.
 *
 * Bond records (sec_type 1 and 2) have one binary layout, versioned:
 *   [0] version (1)  [1] flags  [2] key_size  [3] identity type
 *   [4..9] identity address (HCI order)  [10..11] EDIV  [12..19] Rand
 *   [20..35] LTK  [36..51] IRK  [52..67] CSRK  [68..71] sign counter
 * A value of another length or version is ignored (treated as absent).
 */
#ifndef UVBLE_KEYS_H
#define UVBLE_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvble/security.h"

struct ble_conn;

#define KEYS_ADDR_KEY_LEN 7 /* type + address, HCI order */
#define KEYS_BOND_LEN 72

enum {
  KEYS_F_LTK = 0x01,   /* ltk, ediv, rand valid */
  KEYS_F_IRK = 0x02,   /* irk valid */
  KEYS_F_CSRK = 0x04,  /* csrk valid */
  KEYS_F_AUTH = 0x08,  /* the pairing was authenticated (MITM) */
  KEYS_F_SC = 0x10,    /* LE Secure Connections */
};

struct keys_bond {
  uint8_t flags;
  uint8_t key_size;
  uint8_t id_type;    /* 0 public, 1 random */
  uint8_t id_addr[6]; /* HCI order */
  uint16_t ediv;
  uint8_t rand[8];
  uint8_t ltk[16];
  uint8_t irk[16];
  uint8_t csrk[16];
  uint32_t sign_counter;
};

int keys_init(uvble_t *ble);
void keys_close(uvble_t *ble);

/* ---- raw secrets --------------------------------------------------------- */
/* Looks (sec_type, key) up: the value length (at most cap bytes copied) or
 * UVBLE_ENOENT. */
int keys_get(uvble_t *ble, uint8_t sec_type, const uint8_t *key,
             size_t key_len, uint8_t *value, size_t cap);
/* The index-th value of sec_type: its length or UVBLE_ENOENT past the end. */
int keys_get_index(uvble_t *ble, uint8_t sec_type, int index, uint8_t *value,
                   size_t cap);
/* Stores (value non-NULL) or deletes (NULL) a secret. 0, or UVBLE_ENOENT
 * when nobody stored it (no app handler took it and no store is open), or
 * the store's error. */
int keys_set(uvble_t *ble, uint8_t sec_type, const uint8_t *key,
             size_t key_len, const uint8_t *value, size_t len);

/* ---- bonds --------------------------------------------------------------- */
/* The 7-byte secret key for an address (uvble_addr_t type 0/1, or 2/3
 * which are taken as 0/1). */
void keys_addr_key(const uvble_addr_t *a, uint8_t key[KEYS_ADDR_KEY_LEN]);
void keys_bond_encode(const struct keys_bond *b, uint8_t out[KEYS_BOND_LEN]);
bool keys_bond_decode(struct keys_bond *b, const uint8_t *in, size_t len);
/* Loads the sec_type (1 or 2) record for identity. 0 or UVBLE_ENOENT. */
int keys_bond_load(uvble_t *ble, uint8_t sec_type, const uvble_addr_t *identity,
                   struct keys_bond *out);
int keys_bond_save(uvble_t *ble, uint8_t sec_type, const uvble_addr_t *identity,
                   const struct keys_bond *b);
/* Deletes the OUR_SEC, PEER_SEC and CCCD secrets of identity. */
void keys_bond_delete(uvble_t *ble, const uvble_addr_t *identity);

/* The identity address behind a connection's peer address: the resolved
 * identity when it is an RPA of a bonded peer, else the address itself
 * (types 0/1). */
void keys_peer_identity(uvble_t *ble, const uvble_addr_t *peer,
                        uvble_addr_t *identity);
/* The cache of peers' IRKs changed (a bond was stored or erased). */
void keys_irk_cache_invalidate(uvble_t *ble);

/* ---- our IRK ------------------------------------------------------------- */
/* Our IRK: loaded from secrets (type 10) the first time, or generated and
 * stored; handed to GAP for its RPAs. 0 or an error (the IRK is then valid
 * for this session but not persisted). */
int keys_local_irk(uvble_t *ble, uint8_t irk[16]);
/* Whether this session has settled on its IRK yet. */
bool keys_local_irk_loaded(uvble_t *ble);

/* ---- CCCD persistence (the GATT server calls these) ---------------------- */
/* Saves / loads the GATT server's CCCD table (an opaque blob of at most
 * UVBLE_SECRET_VALUE_MAX bytes) for a bonded client. save: 0, UVBLE_EPERM
 * when the client is not bonded, or the store's error. load: the blob's
 * length or UVBLE_ENOENT. The peer is identified by its identity address
 * (an RPA is resolved). */
int keys_cccd_save(uvble_t *ble, const struct ble_conn *c, const uint8_t *blob,
                   size_t len);
int keys_cccd_load(uvble_t *ble, const struct ble_conn *c, uint8_t *blob,
                   size_t cap);
/* Registers the function SMP calls when a connection becomes bonded (after
 * the keys are stored): the GATT server saves the client's current CCCDs. */
typedef void (*keys_bonded_fn)(uvble_t *ble, struct ble_conn *c);
void keys_on_bonded(uvble_t *ble, keys_bonded_fn fn);
void keys_notify_bonded(uvble_t *ble, struct ble_conn *c);
/* Registers the function SMP calls whenever a link becomes encrypted and
 * bonded, before UVBLE_IRQ_ENCRYPTION_UPDATE: after a pairing that stored
 * a bond (resumed false, after the bonded hook), and when a link is
 * encrypted with a stored bond's key (resumed true: a bonded peer came
 * back). The GATT server keeps (new) or restores (resumed) the client's
 * CCCDs there and tells it of a changed database. The function may raise
 * GET_SECRET / SET_SECRET: the caller checks its connection afterwards. */
typedef void (*keys_bond_link_fn)(uvble_t *ble, struct ble_conn *c,
                                  bool resumed);
void keys_on_bond_link(uvble_t *ble, keys_bond_link_fn fn);
void keys_notify_bond_link(uvble_t *ble, struct ble_conn *c, bool resumed);

#endif
