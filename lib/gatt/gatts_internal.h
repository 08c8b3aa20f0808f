/* SPDX-License-Identifier: Apache-2.0 */
/* GATT server internals shared by gatts.c (API, subscriptions,
 * indications), gatts_db.c (the attribute database and value buffers) and
 * gatts_pdu.c (the ATT server's request handlers). Private. */
#ifndef UVBLE_GATTS_INTERNAL_H
#define UVBLE_GATTS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvble/gatts.h"
#include "uvble/uuid.h"
#include "module.h"

/* init, stop, close, conn_open, conn_closed (core/module.h) */
UVBLE_MODULE_DECLARE(gatts);

typedef struct uvble uvble_t;
struct ble_conn;

enum gatts_kind {
  GATTS_SERVICE,     /* primary service declaration (0x2800) */
  GATTS_CHR_DECL,    /* characteristic declaration (0x2803) */
  GATTS_CHR_VALUE,   /* characteristic value (stored) */
  GATTS_DESC,        /* application descriptor (stored) */
  GATTS_CCCD,        /* client configuration, per connection */
  GATTS_CEP,         /* extended properties (0x2900), constant */
  GATTS_DEVICE_NAME, /* GAP Device Name: ble->cfg.gap_name */
};

struct gatts_attr {
  uint16_t handle;
  uint8_t kind;          /* enum gatts_kind */
  bool internal;         /* GAP/GATT service: no irq for it */
  uvble_uuid_t type;     /* 16- or 128-bit (ATT carries no 32-bit UUIDs) */
  uint16_t flags;        /* UVBLE_FLAG_*; for a CCCD: its value's flags */
  uint16_t group_end;    /* SERVICE: last handle of the service */
  uint16_t value_handle; /* CHR_DECL, CCCD: the characteristic's value */
  uint16_t cccd;         /* CHR_VALUE: CCCD index + 1 (0: none);
                            CCCD: its index */
  /* Stored value (declarations, values, descriptors, CEP, Appearance). */
  uint8_t *data;
  uint16_t len, cap;
  uint16_t max_len; /* CircuitPython max_length; 0: MicroPython buffer */
  bool fixed_len;
  bool append;
};

struct gatts_db {
  struct gatts_attr *attrs; /* attrs[i].handle == i + 1 */
  uint16_t n;
  uint16_t n_cccd;
  uint16_t *cccd_value; /* CCCD index -> value handle */
};

/* The fixed GAP and GATT services (handles 1..9), see uvble/gatts.h. */
#define GATTS_FIXED_ATTRS 9
#define GATTS_FIXED_CCCDS 1
#define GATTS_SC_CCCD_INDEX 0

struct gatts_state {
  struct gatts_db db;
  uint32_t generation; /* bumped by every registration */
  uint64_t layout;     /* gatts_db_layout(db): what a client caches */
  bool bond_hooked;    /* gatts_bond_link registered with keys */
  bool (*advertising)(const uvble_t *ble); /* gatts_set_adv_query */
  uint16_t appearance;
  bool name_writable;
  uvble_gatts_authorize_cb authorize;
  void *authorize_arg;
  uvble_gatts_tx_ready_cb tx_ready;
  void *tx_ready_arg;
};

/* One queued Prepare Write (Vol 3, Part F, 3.4.6.1). */
struct gatts_prep {
  uint16_t handle, offset, len;
  uint16_t data_off; /* into gatts_prep_queue.data */
};

struct gatts_prep_queue {
  unsigned n;
  size_t bytes;
  struct gatts_prep e[UVBLE_GATTS_PREPARE_MAX_ENTRIES];
  uint8_t data[UVBLE_GATTS_PREPARE_MAX_BYTES];
};

/* Per-CCCD flags of a connection (gatts_conn.cflags). */
enum {
  GATTS_CF_DEFERRED = 0x01, /* an indication waits for the previous ack */
  GATTS_CF_WRITTEN = 0x02,  /* the client wrote this CCCD on this link */
};

/* Per connection, hung on the ATT bearer. */
struct gatts_conn {
  uint16_t *cccd;     /* by CCCD index */
  uint8_t *cflags;    /* by CCCD index: GATTS_CF_* */
  uint16_t n_cccd;
  unsigned ind_inflight; /* indications sent through the bearer, unanswered */
  struct gatts_prep_queue *prep; /* allocated on the first Prepare Write */
  /* Persistence for a bonded client (gatts_bond.c). */
  uint64_t client_layout; /* the database layout this client knows */
  bool cccd_dirty;        /* the table changed since it was last saved */
  bool bond_seen;         /* the bond hook ran on this link */
};

struct gatts_conn *gatts_conn_of(struct ble_conn *c);
/* The controller took data: links that refused a notification and have
 * room again get the tx_ready callback. */
void gatts_on_acl_completed(uvble_t *ble);
/* A request or command from the peer's client (att_set_server). */
void gatts_on_pdu(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                  size_t len);
/* Registration changes the database under the advertising data's feet:
 * refused while this says advertising runs (GAP's, ble/modules.c). */
void gatts_set_adv_query(uvble_t *ble, bool (*advertising)(const uvble_t *));

/* ---- gatts_db.c ---- */
/* Builds a database: the fixed services then the application's. handles
 * receives the value handles (MicroPython's order); *nhandles their count.
 * Returns 0 or UVBLE_EINVAL / UVBLE_ENOSPC / UVBLE_ERANGE / UVBLE_ENOMEM. */
int gatts_db_build(struct gatts_db *db, const struct gatts_state *st,
                   const uvble_gatts_service_t *services, size_t n,
                   uint16_t *handles, size_t handles_cap, size_t *nhandles);
void gatts_db_free(struct gatts_db *db);
struct gatts_attr *gatts_attr(uvble_t *ble, uint16_t handle);
/* A stored characteristic value or application descriptor, else NULL. */
struct gatts_attr *gatts_value_attr(uvble_t *ble, uint16_t handle);
/* The attribute's current value as this connection sees it; tmp holds
 * values computed on the fly. */
const uint8_t *gatts_attr_value(uvble_t *ble, struct ble_conn *c,
                                const struct gatts_attr *a, uint8_t tmp[2],
                                size_t *len);
/* A local write (uvble_gatts_write). Returns 0 or a negative error. */
int gatts_db_local_write(struct gatts_attr *a, const uint8_t *data,
                         size_t len);
/* Checks a peer's write of the complete value (offset 0); returns 0 or the
 * ATT error. Prepared writes are assembled first. */
uint8_t gatts_db_check_remote(uvble_t *ble, const struct gatts_attr *a,
                              const uint8_t *data, size_t len);
/* Applies a peer's write already checked: stored values follow MicroPython
 * (truncate, or append), the Device Name replaces config gap_name, a CCCD
 * is set for this connection. */
void gatts_db_remote_write(uvble_t *ble, struct ble_conn *c,
                           struct gatts_attr *a, const uint8_t *data,
                           size_t len);
int gatts_db_set_buffer(struct gatts_attr *a, size_t len, bool append);
/* A 64-bit digest of what a client caches of the database: every handle
 * and attribute type, and the declarations' values (service UUIDs,
 * characteristic properties, value handles and UUIDs, extended
 * properties). Equal layouts keep handles meaning the same thing. */
uint64_t gatts_db_layout(const struct gatts_db *db);

/* ---- gatts_pdu.c ---- */
/* Permission checks for a peer's access (0 or the ATT error). */
uint8_t gatts_check_read(uvble_t *ble, struct ble_conn *c,
                         const struct gatts_attr *a);
uint8_t gatts_check_write(uvble_t *ble, struct ble_conn *c,
                          const struct gatts_attr *a);

/* ---- gatts.c ---- */
/* The irq and authorizer calls made while serving a PDU: after one, the
 * link may be ending (the app closed or powered down the stack; nothing is
 * freed before the dispatch unwinds, see ble_ref) and the database may
 * have been replaced (handles stay valid, attribute pointers do not). */
bool gatts_conn_alive(uvble_t *ble, struct ble_conn *c);
void gatts_emit_write(uvble_t *ble, uint16_t conn_handle, uint16_t handle);
/* Raises READ_REQUEST for an application value; 0 or the ATT error. */
uint8_t gatts_read_request(uvble_t *ble, struct ble_conn *c,
                           const struct gatts_attr *a);
/* Asks the write authorizer when the attribute needs it. */
uint8_t gatts_authorize_write(uvble_t *ble, struct ble_conn *c,
                              const struct gatts_attr *a, const uint8_t *data,
                              size_t len);
/* Indicates Service Changed (Vol 3, Part G, 7.1) to c if it enabled it,
 * or defers it behind the indication in flight. */
void gatts_service_changed(uvble_t *ble, struct ble_conn *c);

/* ---- gatts_bond.c: CCCDs of bonded clients (Vol 3, Part G, 3.3.3.3) ---- */
/* Registers gatts_bond_link with the secrets layer (once per stack). */
void gatts_bond_hook(uvble_t *ble);
/* Saves c's CCCD table with its bond when it changed and the link is
 * bonded. Returns whether c is still usable (saving may raise SET_SECRET,
 * whose handler may close the stack). */
bool gatts_bond_flush(uvble_t *ble, struct ble_conn *c);
/* c confirmed a Service Changed indication: it knows the current layout.
 * Returns whether c is still usable. */
bool gatts_bond_sc_confirmed(uvble_t *ble, struct ble_conn *c);

#endif
