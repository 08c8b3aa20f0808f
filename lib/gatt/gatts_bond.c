/* SPDX-License-Identifier: Apache-2.0 */
/* GATT server: client configuration of bonded clients across connections
 * (Core Spec Vol 3, Part G, 3.3.3.3: CCCD values persist for bonded
 * devices) and Service Changed for a bonded client that was away while
 * the database changed (7.1).
 *
 * A bonded client's table is one secret (UVBLE_SECRET_CCCD, keyed by its
 * identity, through lib/keys.h: the app's GET/SET_SECRET or the bond
 * store), versioned:
 *   [0] version (1)  [1..8] the layout the client knows (LE 64)
 *   [9..] per enabled CCCD: its characteristic's value handle (LE 16) and
 *         the CCCD bits (LE 16)
 * Saved when the link becomes bonded (a new bond), when a bonded client
 * changes a CCCD, and when it learns a new layout. Loaded when a bonded
 * client's link is encrypted with the stored key. The layout
 * (gatts_db_layout) is the one the client last discovered or was told of
 * by a confirmed Service Changed indication: when the database differs,
 * only the Service Changed subscription (fixed handle) is restored, the
 * others named handles of a database that is gone; a client subscribed to
 * Service Changed is then told, and is up to date once it confirms.
 */
#include <string.h>

#include "att.h"
#include "conn.h"
#include "gatts_internal.h"
#include "keys.h"
#include "pdu_reader.h"

#define BLOB_VERSION 1
#define BLOB_HDR 9
#define BLOB_ENTRY 4

static void put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* The table as stored: enabled CCCDs in handle order, as many as fit
 * (UVBLE_SECRET_VALUE_MAX allows 125; Service Changed comes first). */
static size_t encode(uvble_t *ble, const struct gatts_conn *gc,
                     uint8_t out[UVBLE_SECRET_VALUE_MAX]) {
  const struct gatts_db *db = &ble->gatts->db;
  out[0] = BLOB_VERSION;
  put_le64(out + 1, gc->client_layout);
  size_t n = BLOB_HDR;
  for (uint16_t i = 0; i < gc->n_cccd && i < db->n_cccd; i++) {
    if (!gc->cccd[i]) continue;
    if (n + BLOB_ENTRY > UVBLE_SECRET_VALUE_MAX) break;
    put_le16(out + n, db->cccd_value[i]);
    put_le16(out + n + 2, gc->cccd[i]);
    n += BLOB_ENTRY;
  }
  return n;
}

bool gatts_bond_flush(uvble_t *ble, struct ble_conn *c) {
  struct gatts_conn *gc = gatts_conn_of(c);
  if (!gc || !gc->cccd_dirty || !c->bonded || !c->encrypted) return true;
  uint8_t blob[UVBLE_SECRET_VALUE_MAX];
  size_t n = encode(ble, gc, blob);
  /* Once, whatever the outcome: a store that refuses (or no store at all)
   * is not retried on every PDU. */
  gc->cccd_dirty = false;
  keys_cccd_save(ble, c, blob, n);
  return gatts_conn_alive(ble, c);
}

/* The bits a characteristic can honour (what a write would have been
 * allowed to set, gatts_db_check_remote). */
static uint16_t allowed_bits(const struct gatts_attr *v) {
  return (v->flags & UVBLE_FLAG_NOTIFY ? UVBLE_CCCD_NOTIFY : 0) |
         (v->flags & UVBLE_FLAG_INDICATE ? UVBLE_CCCD_INDICATE : 0);
}

/* Applies a stored table. A CCCD the client already wrote on this link
 * keeps what it wrote (its latest word), and the table is saved again. */
static bool restore(uvble_t *ble, struct gatts_conn *gc, const uint8_t *blob,
                    size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, blob, len);
  uint8_t version = pdu_get_u8(&r);
  uint64_t layout = pdu_get_le64(&r);
  if (!pdu_ok(&r) || version != BLOB_VERSION || pdu_left(&r) % BLOB_ENTRY)
    return false; /* not ours (another version): as if absent */
  bool same = layout == ble->gatts->layout;
  while (pdu_left(&r)) {
    uint16_t vh = pdu_get_le16(&r), bits = pdu_get_le16(&r);
    /* Stale: skipped (and dropped from the store once the client knows
     * the new layout, which rewrites the table). */
    if (!same && vh != UVBLE_GATTS_SERVICE_CHANGED_HANDLE) continue;
    const struct gatts_attr *v = gatts_attr(ble, vh);
    if (!v || v->kind != GATTS_CHR_VALUE || !v->cccd ||
        v->cccd - 1 >= gc->n_cccd)
      continue;
    uint16_t idx = (uint16_t)(v->cccd - 1);
    if (gc->cflags[idx] & GATTS_CF_WRITTEN) {
      gc->cccd_dirty = true;
      continue;
    }
    gc->cccd[idx] = bits & allowed_bits(v);
  }
  gc->client_layout = layout;
  return true;
}

/* A bonded client came back: its table, then Service Changed if the
 * database moved while it was away. */
static void resume(uvble_t *ble, struct ble_conn *c) {
  uint8_t blob[UVBLE_SECRET_VALUE_MAX];
  int n = keys_cccd_load(ble, c, blob, sizeof blob);
  /* GET_SECRET may have closed the stack. */
  if (!gatts_conn_alive(ble, c)) return;
  struct gatts_conn *gc = gatts_conn_of(c);
  if (!gc) return;
  if (n < 0 || !restore(ble, gc, blob, (size_t)n))
    gc->cccd_dirty = true; /* nothing usable stored: keep what is there now */
  if (gc->client_layout != ble->gatts->layout) {
    if (gc->cccd[GATTS_SC_CCCD_INDEX] & UVBLE_CCCD_INDICATE) {
      /* Up to date once it confirms (gatts_bond_sc_confirmed). */
      gatts_service_changed(ble, c);
    } else {
      /* Not subscribed: nothing to tell it; it rediscovers on its own. */
      gc->client_layout = ble->gatts->layout;
      gc->cccd_dirty = true;
    }
  }
  gatts_bond_flush(ble, c);
}

static void on_bond_link(uvble_t *ble, struct ble_conn *c, bool resumed) {
  if (!ble->gatts) return;
  struct gatts_conn *gc = gatts_conn_of(c);
  if (!gc) return;
  if (!resumed) {
    /* A new bond: what the client configured so far becomes its table. */
    gc->bond_seen = true;
    gc->cccd_dirty = true;
    gatts_bond_flush(ble, c);
    return;
  }
  /* Once per link: a key refresh re-encrypts with the same bond, and the
   * table in memory is already the newest. */
  if (gc->bond_seen) return;
  gc->bond_seen = true;
  resume(ble, c);
}

bool gatts_bond_sc_confirmed(uvble_t *ble, struct ble_conn *c) {
  struct gatts_conn *gc = gatts_conn_of(c);
  if (!gc || gc->client_layout == ble->gatts->layout) return true;
  gc->client_layout = ble->gatts->layout;
  gc->cccd_dirty = true;
  return gatts_bond_flush(ble, c);
}

void gatts_bond_hook(uvble_t *ble) {
  if (!ble->gatts || ble->gatts->bond_hooked || !ble->smp) return;
  keys_on_bond_link(ble, on_bond_link);
  ble->gatts->bond_hooked = true;
}
