/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — advertising data (AD) payloads: building and parsing.
 *
 * An advertising or scan response payload is a run of AD structures:
 *
 *   length (1 byte, N + 1) | AD type (1 byte) | N bytes of data
 *
 * A length byte of zero ends the significant part; what follows is padding.
 *
 * Nothing here allocates: the builder writes into caller buffers and the
 * parser hands back pointers into the payload it was given (borrowed, valid
 * as long as that payload is).
 *
 * The query helpers take an advertising payload and, optionally, a scan
 * response (NULL / 0 when there is none) and search both, advertising data
 * first, like aioble's ScanResult.
 */
#ifndef UVBLE_ADV_H
#define UVBLE_ADV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvble/uuid.h"
#include "uvble/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- AD types (Core Specification Supplement, Part A; Assigned Numbers) -- */
#define UVBLE_AD_FLAGS 0x01
#define UVBLE_AD_UUID16_INCOMPLETE 0x02
#define UVBLE_AD_UUID16_COMPLETE 0x03
#define UVBLE_AD_UUID32_INCOMPLETE 0x04
#define UVBLE_AD_UUID32_COMPLETE 0x05
#define UVBLE_AD_UUID128_INCOMPLETE 0x06
#define UVBLE_AD_UUID128_COMPLETE 0x07
#define UVBLE_AD_NAME_SHORT 0x08
#define UVBLE_AD_NAME_COMPLETE 0x09
#define UVBLE_AD_TX_POWER 0x0A
#define UVBLE_AD_CLASS_OF_DEVICE 0x0D
#define UVBLE_AD_PERIPHERAL_CONN_INTERVAL 0x12
#define UVBLE_AD_SOLICIT_UUID16 0x14
#define UVBLE_AD_SOLICIT_UUID128 0x15
#define UVBLE_AD_SERVICE_DATA16 0x16
#define UVBLE_AD_PUBLIC_TARGET_ADDR 0x17
#define UVBLE_AD_RANDOM_TARGET_ADDR 0x18
#define UVBLE_AD_APPEARANCE 0x19
#define UVBLE_AD_ADV_INTERVAL 0x1A
#define UVBLE_AD_LE_BDADDR 0x1B
#define UVBLE_AD_LE_ROLE 0x1C
#define UVBLE_AD_SOLICIT_UUID32 0x1F
#define UVBLE_AD_SERVICE_DATA32 0x20
#define UVBLE_AD_SERVICE_DATA128 0x21
#define UVBLE_AD_URI 0x24
#define UVBLE_AD_MANUFACTURER 0xFF

/* ---- bits of the Flags field --------------------------------------------- */
#define UVBLE_AD_FLAG_LE_LIMITED 0x01      /* LE Limited Discoverable Mode */
#define UVBLE_AD_FLAG_LE_GENERAL 0x02      /* LE General Discoverable Mode */
#define UVBLE_AD_FLAG_NO_BREDR 0x04        /* BR/EDR Not Supported */
#define UVBLE_AD_FLAG_LE_BREDR_CTRL 0x08   /* simultaneous LE and BR/EDR (controller) */
#define UVBLE_AD_FLAG_LE_BREDR_HOST 0x10   /* simultaneous LE and BR/EDR (host) */

/* ---- payload sizes -------------------------------------------------------- */
#define UVBLE_ADV_LEGACY_MAX 31    /* legacy advertising / scan response */
#define UVBLE_ADV_EXT_PDU_MAX 254  /* extended: what one AUX_ADV_IND carries */
#define UVBLE_ADV_EXT_MAX 1650     /* extended: the whole (chained) payload */
#define UVBLE_AD_DATA_MAX 254      /* data bytes in one AD structure */

/* ---- low level ------------------------------------------------------------ */

/* Appends one AD structure (2 + data_len bytes) to buf, whose first *len of
 * cap bytes are in use, and advances *len. Returns 0, UVBLE_EMSGSIZE if it
 * does not fit (buf and *len unchanged), or UVBLE_EINVAL (NULL buf or len,
 * *len > cap, data NULL with data_len > 0, data_len > UVBLE_AD_DATA_MAX). */
UVBLE_EXTERN int uvble_adv_append(uint8_t *buf, size_t cap, size_t *len,
                                  uint8_t type, const void *data,
                                  size_t data_len);

/* ---- builder (aioble's advertise()) --------------------------------------- */

#define UVBLE_ADV_FLAGS_AUTO 0   /* from limited_disc and br_edr, as aioble */
#define UVBLE_ADV_FLAGS_NONE (-1) /* no Flags field at all */

typedef struct {
  /* Flags. UVBLE_ADV_FLAGS_AUTO (the zero value) gives aioble's byte:
   * (limited_disc ? 0x01 : 0x02) + (br_edr ? 0x18 : 0x04), so a zeroed
   * struct advertises 0x06. 1..255 is sent as given; UVBLE_ADV_FLAGS_NONE
   * leaves the field out (non-discoverable broadcasters). */
  int flags;
  bool limited_disc;
  bool br_edr;
  /* Complete Local Name, NUL-terminated UTF-8; NULL or "" for none. */
  const char *name;
  /* May the name be cut to a Shortened Local Name (0x08)? See below. */
  bool shorten_name;
  /* Service UUIDs, any mix of sizes; emitted as one complete list per size
   * (16-bit, then 32-bit, then 128-bit). */
  const uvble_uuid_t *services;
  size_t num_services;
  /* Appearance; 0 = none (as aioble). */
  uint16_t appearance;
  /* Manufacturer Specific Data: company id (little-endian on the air) and
   * data. */
  bool has_manufacturer;
  uint16_t company_id;
  const uint8_t *manufacturer_data;
  size_t manufacturer_len;
  /* TX Power Level in dBm. */
  bool has_tx_power;
  int8_t tx_power;
  /* Further ready-made AD structures (service data, URI, ...), copied one
   * structure at a time. The walk ends at a zero length byte; a structure
   * overrunning extra_len is UVBLE_EINVAL. */
  const uint8_t *extra;
  size_t extra_len;
} uvble_adv_fields_t;

/* Builds an advertising payload and a scan response from fields, as aioble's
 * advertise() does when given no raw data.
 *
 * Fields go in this order: flags; the 16-, 32- and 128-bit service lists;
 * name; appearance; manufacturer data; TX power; then each extra structure.
 * Each one goes into adv if it still fits there, else into resp (the scan
 * response), else the call fails with UVBLE_EMSGSIZE. Both payloads may use
 * all max_len bytes: aioble's check (`len < 31`) leaves every payload one
 * byte short of 31; this one does not.
 *
 * The name: the complete name goes into adv if it fits. If it does not and
 * shorten_name is set, the name is cut to what adv has room for (at least
 * one byte, never inside a UTF-8 sequence) and sent as a Shortened Local
 * Name. Otherwise (or if adv has no room at all) it goes to resp, complete
 * if it fits, else shortened when allowed. Without shorten_name a name that
 * fits in neither payload is UVBLE_EMSGSIZE.
 *
 * max_len is the payload limit for each of adv and resp:
 * UVBLE_ADV_LEGACY_MAX (31) for legacy advertising, up to UVBLE_ADV_EXT_MAX
 * for extended; both buffers must hold max_len bytes. resp may be NULL
 * (non-scannable advertising): nothing can spill then. resp_len may be NULL
 * when resp is.
 *
 * Returns 0 with *adv_len and *resp_len set, or a negative error:
 * UVBLE_EMSGSIZE (a field fits nowhere), UVBLE_EINVAL (NULL buffers, max_len
 * above UVBLE_ADV_EXT_MAX, a UUID of bad type, data pointers NULL with a
 * non-zero length, malformed extra). On error both lengths are 0. */
UVBLE_EXTERN int uvble_adv_build(const uvble_adv_fields_t *fields,
                                 size_t max_len, uint8_t *adv, size_t *adv_len,
                                 uint8_t *resp, size_t *resp_len);

/* ---- parser ----------------------------------------------------------------
 *
 * The iterator walks the AD structures of a payload and, when one is given,
 * of a scan response after it. It never reads outside [buf, buf + len):
 *   - a length byte of 0 ends that payload normally (the rest is padding);
 *   - a structure whose length runs past the end ends that payload and
 *     marks the walk truncated; its bytes are never handed out.
 *
 *   uvble_adv_iter_t it;
 *   uint8_t type; const uint8_t *data; size_t n;
 *   uvble_adv_iter_init(&it, adv, adv_len, NULL, 0);
 *   while ((r = uvble_adv_iter_next(&it, &type, &data, &n)) == 1) { ... }
 *   // r == 0: clean end; r == UVBLE_EPROTO: a structure was truncated
 */
typedef struct {
  /* Read-only for users. */
  bool truncated;    /* a structure overran its payload */
  uint8_t source;    /* where the last structure came from: 0 adv, 1 resp */
  /* Private. */
  const uint8_t *buf_[2];
  size_t len_[2];
  size_t off_;
  uint8_t part_;
} uvble_adv_iter_t;

/* Starts a walk over adv and then resp (either may be NULL / 0). */
UVBLE_EXTERN void uvble_adv_iter_init(uvble_adv_iter_t *it, const uint8_t *adv,
                                      size_t adv_len, const uint8_t *resp,
                                      size_t resp_len);

/* The next AD structure: returns 1 and sets *type, *data (borrowed) and
 * *data_len (any out pointer may be NULL); at the end returns 0, or
 * UVBLE_EPROTO if a structure was truncated, and keeps returning that. */
UVBLE_EXTERN int uvble_adv_iter_next(uvble_adv_iter_t *it, uint8_t *type,
                                     const uint8_t **data, size_t *data_len);

/* The next structure of the given type; returns as uvble_adv_iter_next. */
UVBLE_EXTERN int uvble_adv_iter_find(uvble_adv_iter_t *it, uint8_t type,
                                     const uint8_t **data, size_t *data_len);

/* Checks one payload: returns the number of AD structures before the end
 * (or the zero padding), or UVBLE_EPROTO if a structure overruns buf. */
UVBLE_EXTERN int uvble_adv_validate(const uint8_t *buf, size_t len);

/* ---- queries: adv and resp searched together ------------------------------
 *
 * Each looks only at well-formed structures (what the iterator hands out)
 * and skips one whose data is too short for its type. "Not present" is
 * UVBLE_ENOENT. */

/* The first structure of type; 0 or UVBLE_ENOENT. */
UVBLE_EXTERN int uvble_adv_find(const uint8_t *adv, size_t adv_len,
                                const uint8_t *resp, size_t resp_len,
                                uint8_t type, const uint8_t **data,
                                size_t *data_len);

/* The Flags byte; 0 or UVBLE_ENOENT. */
UVBLE_EXTERN int uvble_adv_flags(const uint8_t *adv, size_t adv_len,
                                 const uint8_t *resp, size_t resp_len,
                                 uint8_t *flags);

/* The device name: the Complete Local Name if either payload has one, else
 * the Shortened Local Name. Sets *name (borrowed, not NUL-terminated),
 * *len and, if complete is not NULL, whether it was the complete one.
 * Returns 0 or UVBLE_ENOENT. An empty name structure is an empty name. */
UVBLE_EXTERN int uvble_adv_name(const uint8_t *adv, size_t adv_len,
                                const uint8_t *resp, size_t resp_len,
                                const uint8_t **name, size_t *len,
                                bool *complete);

/* The same name copied into buf as a NUL-terminated string. Returns its
 * length in bytes, UVBLE_ENOENT, or UVBLE_ENOBUFS when it needs more than
 * cap - 1 bytes (buf then holds as much as fits, NUL-terminated, if cap > 0).
 * The bytes are copied as sent: a hostile peer's name may hold a NUL. */
UVBLE_EXTERN int uvble_adv_name_str(const uint8_t *adv, size_t adv_len,
                                    const uint8_t *resp, size_t resp_len,
                                    char *buf, size_t cap);

/* Called for each advertised service UUID; ad_type is the list it came
 * from (UVBLE_AD_UUID16_INCOMPLETE ... UVBLE_AD_UUID128_COMPLETE). Return
 * non-zero to stop. */
typedef int (*uvble_adv_uuid_cb)(const uvble_uuid_t *uuid, uint8_t ad_type,
                                 void *arg);

/* Visits the UUIDs of all six service list types, as aioble's services():
 * every 16-bit one first, then 32-bit, then 128-bit; within a size, in
 * payload order (adv, then resp). Bytes left over at the end of a list
 * (length not a multiple of the UUID size) are ignored. Returns the number
 * of UUIDs passed to cb (including one where cb stopped the walk). */
UVBLE_EXTERN int uvble_adv_services_foreach(const uint8_t *adv, size_t adv_len,
                                            const uint8_t *resp,
                                            size_t resp_len,
                                            uvble_adv_uuid_cb cb, void *arg);

/* The same UUIDs in that order into out[0..cap). Returns how many there
 * are, which may be more than cap (only cap are written). */
UVBLE_EXTERN int uvble_adv_services(const uint8_t *adv, size_t adv_len,
                                    const uint8_t *resp, size_t resp_len,
                                    uvble_uuid_t *out, size_t cap);

/* Whether uuid is among the advertised services (uvble_uuid_equal: a 16-bit
 * UUID matches its 128-bit expansion). */
UVBLE_EXTERN bool uvble_adv_has_service(const uint8_t *adv, size_t adv_len,
                                        const uint8_t *resp, size_t resp_len,
                                        const uvble_uuid_t *uuid);

#define UVBLE_ADV_ANY_COMPANY (-1)

/* Manufacturer Specific Data with company id company (or
 * UVBLE_ADV_ANY_COMPANY): the next one on an iterator (returns 1, or the
 * iterator's end code), or the first one (returns 0 or UVBLE_ENOENT). Sets
 * *id to the company id and *data / *len to the bytes after it. Structures
 * shorter than the 2-byte id are skipped. Out pointers may be NULL. */
UVBLE_EXTERN int uvble_adv_iter_manufacturer(uvble_adv_iter_t *it, int company,
                                             uint16_t *id, const uint8_t **data,
                                             size_t *len);
UVBLE_EXTERN int uvble_adv_manufacturer(const uint8_t *adv, size_t adv_len,
                                        const uint8_t *resp, size_t resp_len,
                                        int company, uint16_t *id,
                                        const uint8_t **data, size_t *len);

/* Appearance (little-endian uint16); 0 or UVBLE_ENOENT. */
UVBLE_EXTERN int uvble_adv_appearance(const uint8_t *adv, size_t adv_len,
                                      const uint8_t *resp, size_t resp_len,
                                      uint16_t *appearance);

/* TX Power Level in dBm; 0 or UVBLE_ENOENT. */
UVBLE_EXTERN int uvble_adv_tx_power(const uint8_t *adv, size_t adv_len,
                                    const uint8_t *resp, size_t resp_len,
                                    int8_t *dbm);

/* Service Data (types 0x16, 0x20, 0x21) for filter (NULL: any UUID; compared
 * with uvble_uuid_equal): the next one on an iterator (returns 1, or the
 * iterator's end code), or the first one (returns 0 or UVBLE_ENOENT). Sets
 * *uuid to the UUID as sent and *data / *len to the bytes after it. Out
 * pointers may be NULL. */
UVBLE_EXTERN int uvble_adv_iter_service_data(uvble_adv_iter_t *it,
                                             const uvble_uuid_t *filter,
                                             uvble_uuid_t *uuid,
                                             const uint8_t **data, size_t *len);
UVBLE_EXTERN int uvble_adv_service_data(const uint8_t *adv, size_t adv_len,
                                        const uint8_t *resp, size_t resp_len,
                                        const uvble_uuid_t *filter,
                                        uvble_uuid_t *uuid,
                                        const uint8_t **data, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
