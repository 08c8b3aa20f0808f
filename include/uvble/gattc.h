/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — GATT client: MicroPython's gattc_* calls.
 *
 * A call that started an operation (or queued it) returns 0; its results
 * arrive as irq events with MicroPython's payloads (uvble_irq_data_t),
 * always after the call has returned:
 *
 *   call                               events
 *   uvble_gattc_discover_services      SERVICE_RESULT* then SERVICE_DONE
 *   uvble_gattc_discover_characteristics CHARACTERISTIC_RESULT* then _DONE
 *   uvble_gattc_discover_descriptors   DESCRIPTOR_RESULT* then _DONE
 *   uvble_gattc_read                   READ_RESULT (on success) then READ_DONE
 *   uvble_gattc_write (mode 1)         WRITE_DONE
 *   uvble_gattc_write (mode 0)         none
 *   uvble_gattc_exchange_mtu           MTU_EXCHANGED (on both sides)
 *
 * Notifications and indications from the peer's server arrive as
 * UVBLE_IRQ_GATTC_NOTIFY / UVBLE_IRQ_GATTC_INDICATE (conn, value_handle,
 * data); indications are confirmed by the stack after the handler returns.
 *
 * The status of a DONE event is:
 *   0                    success; for discoveries, the server ended the
 *                        iteration normally (Attribute Not Found or the end
 *                        of the range)
 *   1..255               the ATT error code of the server's Error Response
 *                        (UVBLE_ATT_ERR_* in uvble/gatt.h), as sent
 *   UVBLE_EPROTO         the server's response was malformed: wrong length,
 *                        wrong opcode, an Error Response naming another
 *                        request, handles that go backwards, leave the
 *                        requested range or are 0, or a Prepare Write
 *                        Response that does not echo what was sent. The
 *                        operation ends there (a discovery never loops on a
 *                        misbehaving server) and stats.gattc_rsp_malformed
 *                        counts it.
 *   UVBLE_ETIMEDOUT      the server did not answer within the ATT
 *                        transaction timeout (30 s); the ATT bearer is then
 *                        unusable until the link drops (Vol 3, Part F,
 *                        3.3.3), so later operations on that connection end
 *                        with UVBLE_EIO
 *   UVBLE_EDISCONNECTED  the link dropped while the operation was pending
 *   UVBLE_ECANCELED      the stack was closed (uvble_close)
 *   UVBLE_EIO            the bearer died (an earlier transaction timed
 *                        out) before this operation's request could go out
 *
 * A request that finds the link's transmit queue full (after a burst of
 * Write Commands, say) is kept and sent when there is room, every 10 ms
 * until it fits or the link drops.
 *
 * Operations on one connection run one after another, in call order (the
 * ATT bearer allows one outstanding request). At most
 * UVBLE_GATTC_MAX_QUEUED operations may be pending per connection; beyond
 * that a call returns UVBLE_ENOBUFS. Only one discovery (services,
 * characteristics or descriptors) may be pending per connection at a time:
 * a second returns UVBLE_EBUSY, as MicroPython does. A new discovery may be
 * started from the DONE handler of the previous one.
 *
 * Common return codes: UVBLE_ENOTACTIVE (stack not active), UVBLE_ENOTCONN
 * (no such connection, or it is being disconnected), UVBLE_EINVAL (bad
 * handle range or argument), UVBLE_ENOBUFS (operation queue full),
 * UVBLE_EBUSY (a discovery is pending), UVBLE_EIO (the bearer died after a
 * transaction timeout), UVBLE_ENOMEM.
 */
#ifndef UVBLE_GATTC_H
#define UVBLE_GATTC_H

#include <stddef.h>
#include <stdint.h>

#include "uvble/uvble.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Operations that may be pending on one connection at once. */
#define UVBLE_GATTC_MAX_QUEUED 16

/* gattc_write modes (MicroPython's values). */
enum {
  UVBLE_GATTC_WRITE_NO_RESPONSE = 0,
  UVBLE_GATTC_WRITE_WITH_RESPONSE = 1,
};

/* Primary service discovery (Vol 3, Part G, 4.4). uuid NULL discovers every
 * primary service (Read By Group Type over 0x0001-0xFFFF); otherwise only
 * those of that UUID (Find By Type Value; a 32-bit UUID is sent in its
 * 128-bit form, as the spec requires). Each service arrives as
 * SERVICE_RESULT (conn, start_handle, end_handle, uuid); the UUID is given
 * in the form the server sent it (16- or 128-bit; for discovery by UUID,
 * the UUID asked for). */
UVBLE_EXTERN int uvble_gattc_discover_services(uvble_t *ble,
                                               uint16_t conn_handle,
                                               const uvble_uuid_t *uuid);

/* Characteristic discovery in [start_handle, end_handle] (Vol 3, Part G,
 * 4.6.1, Read By Type on 0x2803). As in MicroPython, each result is held
 * back until the next declaration is seen, so that its end_handle (the last
 * handle before the next declaration) is known; the last one gets
 * end_handle = the query's end_handle. uuid, when given, filters the results
 * on the client side (the end handles still account for every
 * characteristic). The held-back result is delivered before DONE when the
 * server ended the discovery (status 0 or an ATT error, as MicroPython
 * does), not when the stack did (malformed response, timeout, disconnect).
 * Handles 0 or start > end: UVBLE_EINVAL.
 *
 * Strict (Vol 3, Part G, 3.3.1, 3.3.2; pass a service's range): a
 * declaration whose value handle is not its own handle + 1, lies past
 * end_handle, or is taken by the next declaration is not reported (so the
 * application never reads, searches or subscribes outside what the server
 * declared), is counted in stats.gattc_decl_rejected, and the discovery
 * goes on; DONE then reports UVBLE_EPROTO instead of 0 (an ATT error that
 * ends it is reported as such). The sound characteristics are reported as
 * usual, and each end_handle is >= its value_handle. */
UVBLE_EXTERN int uvble_gattc_discover_characteristics(uvble_t *ble,
                                                      uint16_t conn_handle,
                                                      uint16_t start_handle,
                                                      uint16_t end_handle,
                                                      const uvble_uuid_t *uuid);

/* Descriptor discovery with Find Information (Vol 3, Part G, 4.7.1) over
 * the handles after start_handle up to end_handle, MicroPython's (start,
 * end] semantics: pass a characteristic's value handle and end handle to
 * get its descriptors; over a whole service the characteristic
 * declarations and values are reported too. Each attribute arrives as
 * DESCRIPTOR_RESULT (conn, dsc_handle, uuid). start_handle == end_handle (a
 * characteristic without descriptors) completes with DONE status 0 and no
 * results. Handle 0 or start > end: UVBLE_EINVAL. */
UVBLE_EXTERN int uvble_gattc_discover_descriptors(uvble_t *ble,
                                                  uint16_t conn_handle,
                                                  uint16_t start_handle,
                                                  uint16_t end_handle);

/* Reads an attribute value. Unlike MicroPython (which issues a single Read
 * and truncates at MTU-1 bytes), a value that fills the Read Response is
 * fetched completely with Read Blob requests (Vol 3, Part G, 4.8.3), up to
 * the ATT maximum of 512 bytes; READ_RESULT carries the whole value, once.
 * A server answering Read Blob with Attribute Not Long (or Invalid Offset at
 * the value's end) ends the read successfully with what was read. */
UVBLE_EXTERN int uvble_gattc_read(uvble_t *ble, uint16_t conn_handle,
                                  uint16_t value_handle);

/* Writes an attribute value.
 * mode 0 (Write Command): sent at once, ahead of queued operations, with no
 *   event; len must be at most MTU-3 (UVBLE_EMSGSIZE otherwise: MicroPython
 *   truncates silently, uvble refuses). UVBLE_ENOBUFS when the link's
 *   transmit queue is full: retry after a later event (MicroPython raises
 *   OSError there too).
 * mode 1 (Write Request): WRITE_DONE (conn, value_handle, status). A value
 *   longer than MTU-3 is written with Prepare Write / Execute Write (Vol 3,
 *   Part G, 4.9.4) where MicroPython truncates; each Prepare Write Response
 *   must echo the part sent, otherwise the queued write is cancelled
 *   (Execute Write with flags 0) and WRITE_DONE reports UVBLE_EPROTO. An
 *   Error Response to a Prepare Write cancels what was queued and is
 *   reported as its ATT error code. At most 512 bytes (UVBLE_EMSGSIZE).
 * The data is copied; the caller's buffer may be reused at once. */
UVBLE_EXTERN int uvble_gattc_write(uvble_t *ble, uint16_t conn_handle,
                                   uint16_t value_handle, const void *data,
                                   size_t len, int mode);

/* Starts an ATT MTU exchange with the preferred MTU (config "mtu"). Both
 * sides get UVBLE_IRQ_MTU_EXCHANGED. UVBLE_EALREADY if an exchange already
 * ran on this connection. */
UVBLE_EXTERN int uvble_gattc_exchange_mtu(uvble_t *ble, uint16_t conn_handle);

#ifdef __cplusplus
}
#endif
#endif
