/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — GATT server: MicroPython's gatts_* calls.
 *
 *   static const uvble_gatts_characteristic_t chars[] = {
 *     {.uuid = ..., .flags = UVBLE_FLAG_READ | UVBLE_FLAG_NOTIFY},
 *     {.uuid = ..., .flags = UVBLE_FLAG_WRITE, .descriptors = descs,
 *      .num_descriptors = 1},
 *   };
 *   static const uvble_gatts_service_t svc = {
 *     .uuid = ..., .characteristics = chars, .num_characteristics = 2};
 *   uint16_t h[3];
 *   int n = uvble_gatts_register_services(ble, &svc, 1, h, 3);
 *   // n == 3: value handle of chars[0], of chars[1], of its descriptor
 *
 * The database always starts with the GAP service (0x1800: Device Name from
 * config "gap_name", Appearance) and the GATT service (0x1801: Service
 * Changed with its CCCD), handles 1 to 9; the application's services follow
 * from handle 10. Each characteristic occupies a declaration, its value, a
 * CCCD (0x2902) when it has NOTIFY or INDICATE, a Characteristic Extended
 * Properties descriptor (0x2900) when it has AUX_WRITE, then its own
 * descriptors.
 *
 * Values (MicroPython's rules): a value buffer starts empty with room for 20
 * bytes; uvble_gatts_write grows it (up to 512); a remote write longer than
 * the buffer is truncated to it, silently. uvble_gatts_set_buffer resizes
 * it and may put it in append mode (each remote write is appended, capped
 * at the buffer; uvble_gatts_read returns everything and clears it).
 * CircuitPython's rules instead, per characteristic or descriptor, when
 * max_length is non-zero: the buffer holds max_length bytes, local and
 * remote writes longer than that are refused (UVBLE_EINVAL locally, ATT
 * Invalid Attribute Value Length remotely), and with fixed_length every
 * write must be exactly max_length bytes (the value starts as max_length
 * zero bytes).
 *
 * Events: UVBLE_IRQ_GATTS_WRITE (conn, attr_handle) after a peer's write of
 * a value or descriptor was applied (not for CCCD writes, not for the GAP
 * and GATT services' attributes); UVBLE_IRQ_GATTS_READ_REQUEST (conn,
 * attr_handle) before a value or descriptor is served to a peer's read
 * (Read, Read Blob, Read By Type, Read Multiple) — a non-zero return denies
 * the read with that ATT error code (values outside 1..255 deny with
 * Unlikely Error); UVBLE_IRQ_GATTS_INDICATE_DONE (conn, value_handle,
 * status): 0 when the client confirmed, UVBLE_ETIMEDOUT (30 s; the ATT
 * bearer is then unusable), UVBLE_EIO (the bearer died before this one was
 * sent), UVBLE_EDISCONNECTED or UVBLE_ECANCELED (uvble_close).
 *
 * Permissions, checked on every peer access in this order: READ / WRITE /
 * WRITE_NO_RESPONSE (Read Not Permitted 0x02, Write Not Permitted 0x03; as
 * in NimBLE either write flag allows both Write Request and Write Command),
 * *_AUTHENTICATED (Insufficient Authentication 0x05 unless the link is
 * encrypted with an authenticated key), *_ENCRYPTED (Insufficient Encryption
 * 0x0F on an unencrypted link; a key shorter than 7 bytes gives 0x0C), then
 * *_AUTHORIZED: for reads the READ_REQUEST handler decides (with no irq
 * handler installed the read is refused with Insufficient Authorization
 * 0x08); for writes the callback of uvble_gatts_set_write_authorizer decides
 * (none installed: refused with 0x08). A CCCD is writable by anyone who may
 * read its characteristic's value (same encryption and authentication
 * requirements), so a subscription never leaks a protected value. Signed
 * writes are not supported (Signed Write Command is ignored).
 */
#ifndef UVBLE_GATTS_H
#define UVBLE_GATTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvble/gatt.h"
#include "uvble/uvble.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The first handle available to the application's services. */
#define UVBLE_GATTS_FIRST_USER_HANDLE 10
/* Handles of the built-in attributes. */
#define UVBLE_GATTS_DEVICE_NAME_HANDLE 3
#define UVBLE_GATTS_APPEARANCE_HANDLE 5
#define UVBLE_GATTS_SERVICE_CHANGED_HANDLE 8
/* A value buffer's default size and its largest (MicroPython's). */
#define UVBLE_GATTS_DEFAULT_BUFFER 20
/* Prepared writes a peer may queue per connection before Prepare Queue Full. */
#define UVBLE_GATTS_PREPARE_MAX_ENTRIES 64
#define UVBLE_GATTS_PREPARE_MAX_BYTES 4096

typedef struct {
  uvble_uuid_t uuid;
  uint16_t flags;      /* UVBLE_FLAG_READ, _WRITE, _WRITE_NO_RESPONSE and the
                          security flags; others are ignored */
  uint16_t max_length; /* 0: MicroPython buffer; else CircuitPython's */
  bool fixed_length;   /* needs max_length */
} uvble_gatts_descriptor_t;

typedef struct {
  uvble_uuid_t uuid;
  uint16_t flags; /* UVBLE_FLAG_* */
  const uvble_gatts_descriptor_t *descriptors;
  size_t num_descriptors;
  uint16_t max_length; /* 0: MicroPython buffer; else CircuitPython's */
  bool fixed_length;   /* needs max_length */
} uvble_gatts_characteristic_t;

typedef struct {
  uvble_uuid_t uuid; /* a primary service */
  const uvble_gatts_characteristic_t *characteristics;
  size_t num_characteristics;
} uvble_gatts_service_t;

/* Replaces the application's services (not additive: every value and
 * handle of a previous registration is gone; the GAP and GATT services
 * stay). Writes the value handles to handles_out in MicroPython's flattened
 * order: each characteristic's value handle followed by its descriptors'
 * handles, service after service (automatic CCCD and Extended Properties
 * descriptors are not listed). Returns the number of handles written, or
 * UVBLE_EINVAL (bad UUID, max_length over 512, fixed_length without
 * max_length, NULL arrays with non-zero counts), UVBLE_ENOSPC (handles_cap
 * too small; nothing changed), UVBLE_ERANGE (more than 65535 attributes),
 * UVBLE_EBUSY (advertising: stop it first), UVBLE_ENOMEM.
 * Connected clients that enabled indications on Service Changed are told
 * that handles from UVBLE_GATTS_FIRST_USER_HANDLE on changed; their other
 * subscriptions and queued prepared writes are dropped. A bonded client
 * that is not connected is told when it comes back (once its link is
 * encrypted with the bond's key), if the database differs from the one it
 * last knew; registering the same services again changes nothing for it.
 * Safe from any callback, also while a peer's request is being served
 * (GATTS_READ_REQUEST, GATTS_WRITE): that request is answered from the new
 * database (an attribute gone: an ATT error), never from freed memory. */
UVBLE_EXTERN int uvble_gatts_register_services(
    uvble_t *ble, const uvble_gatts_service_t *services, size_t n,
    uint16_t *handles_out, size_t handles_cap);

/* Copies the value of a characteristic or descriptor into buf. *len gets
 * the value's length. Returns 0, UVBLE_ENOSPC when cap < *len (nothing
 * copied, an append buffer is not cleared; pass cap 0 to ask the length)
 * or UVBLE_EINVAL (no such value handle). In append mode a successful read
 * clears the value. */
UVBLE_EXTERN int uvble_gatts_read(uvble_t *ble, uint16_t value_handle,
                                  uint8_t *buf, size_t cap, size_t *len);

/* Sets a value (the buffer grows as needed, up to 512 bytes: UVBLE_EMSGSIZE
 * beyond; CircuitPython's limits give UVBLE_EINVAL). With send_update, each
 * connected client subscribed through the CCCD is notified (when it enabled
 * notifications, even if it also enabled indications) or indicated — an
 * indication waits while another indication to that client is outstanding,
 * and then carries the value current at that time. Payloads are truncated
 * to MTU-3. Returns 0 or UVBLE_EINVAL (not a value handle). */
UVBLE_EXTERN int uvble_gatts_write(uvble_t *ble, uint16_t value_handle,
                                   const void *data, size_t len,
                                   bool send_update);

/* Sends a notification / indication to one client regardless of its CCCD
 * (MicroPython). data NULL sends the current value (len ignored); the
 * payload is truncated to MTU-3. Returns 0, UVBLE_ENOTACTIVE,
 * UVBLE_ENOTCONN, UVBLE_EINVAL (not a value handle), UVBLE_ENOBUFS (transmit
 * queue full: retry after a later event; for indications, 16 already
 * queued), UVBLE_EIO (the ATT bearer timed out). Indications complete with
 * UVBLE_IRQ_GATTS_INDICATE_DONE. */
UVBLE_EXTERN int uvble_gatts_notify(uvble_t *ble, uint16_t conn_handle,
                                    uint16_t value_handle, const void *data,
                                    size_t len);
UVBLE_EXTERN int uvble_gatts_indicate(uvble_t *ble, uint16_t conn_handle,
                                      uint16_t value_handle, const void *data,
                                      size_t len);
/* uvble_gatts_indicate with a request (uvble/req.h; NULL: the call above).
 * req completes instead of UVBLE_IRQ_GATTS_INDICATE_DONE, with that
 * event's status and result->gatt_status: 0 on the client's Handle Value
 * Confirmation, UVBLE_ETIMEDOUT (30 s ATT transaction timeout; the bearer
 * is then dead), UVBLE_EDISCONNECTED, UVBLE_ECANCELED (the stack closed).
 * Indications to one client go out one at a time, in call order. Errors
 * as the plain call's, and UVBLE_EINVAL for a request without callback,
 * UVBLE_EBUSY for an active one. */
UVBLE_EXTERN int uvble_gatts_indicate_req(uvble_req_t *req, uvble_t *ble,
                                          uint16_t conn_handle,
                                          uint16_t value_handle,
                                          const void *data, size_t len);

/* Flow control for notifications (NimBLE's BLE_GAP_EVENT_NOTIFY_TX, Zephyr's
 * bt_gatt_notify_cb): after uvble_gatts_notify returned UVBLE_ENOBUFS for
 * conn_handle, cb runs once for that link when its transmit queue has
 * drained to half, so a sender can stream without polling. One handler per
 * stack; NULL removes it. MicroPython has no such event (its notify just
 * fails). */
typedef void (*uvble_gatts_tx_ready_cb)(uvble_t *ble, uint16_t conn_handle,
                                        void *arg);
UVBLE_EXTERN void uvble_gatts_on_tx_ready(uvble_t *ble,
                                          uvble_gatts_tx_ready_cb cb,
                                          void *arg);

/* The client configuration the peer on conn_handle has written for a
 * value: UVBLE_CCCD_NOTIFY and/or UVBLE_CCCD_INDICATE (0: not subscribed,
 * or the characteristic has no CCCD), UVBLE_ENOTCONN or UVBLE_EINVAL (not a
 * value handle). Lets a peripheral start streaming once a central listens
 * and pick notifications or indications as it asked (NimBLE's subscribe
 * event, Zephyr's ccc_changed).
 * A bonded client's configuration persists with its bond (secret type
 * UVBLE_SECRET_CCCD, see uvble/security.h): it is saved whenever the client
 * changes it and restored when the client's link is encrypted with the
 * bond's key, before UVBLE_IRQ_ENCRYPTION_UPDATE (what the client wrote on
 * the new link before that is kept). Until then a reconnected client reads
 * as not subscribed. */
UVBLE_EXTERN int uvble_gatts_subscription(uvble_t *ble, uint16_t conn_handle,
                                          uint16_t value_handle);
/* Resizes a value buffer to len bytes (at most 512), empties it and sets
 * append mode (MicroPython's gatts_set_buffer). A characteristic registered
 * with max_length switches to MicroPython's truncating rules. Returns 0 or
 * UVBLE_EINVAL. */
UVBLE_EXTERN int uvble_gatts_set_buffer(uvble_t *ble, uint16_t value_handle,
                                        size_t len, bool append);

/* The GAP service: the Appearance value (default 0x0000, applies at once)
 * and whether peers may write the Device Name (default no; applies at the
 * next uvble_gatts_register_services). A written name replaces config
 * "gap_name" (truncated to UVBLE_GAP_NAME_MAX). */
UVBLE_EXTERN int uvble_gatts_set_appearance(uvble_t *ble, uint16_t appearance);
UVBLE_EXTERN int uvble_gatts_set_name_writable(uvble_t *ble, bool writable);

/* Decides writes to attributes with UVBLE_FLAG_WRITE_AUTHORIZED: return 0
 * to allow, or the ATT error to answer with (e.g.
 * UVBLE_ATT_ERR_INSUFFICIENT_AUTHORIZATION). data is the complete value
 * (prepared writes: the assembled value) and is borrowed. NULL removes it
 * (such writes are then refused). */
typedef int (*uvble_gatts_authorize_cb)(uvble_t *ble, uint16_t conn_handle,
                                        uint16_t attr_handle,
                                        const uint8_t *data, size_t len,
                                        void *arg);
UVBLE_EXTERN void uvble_gatts_set_write_authorizer(uvble_t *ble,
                                                   uvble_gatts_authorize_cb cb,
                                                   void *arg);

#ifdef __cplusplus
}
#endif
#endif
