/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — protocol status codes by name.
 *
 * The statuses the stack reports as they were sent (an HCI error code in a
 * disconnect reason or a future's proto_status, an ATT error in a GATT
 * done event, an SMP Pairing Failed reason, an L2CAP result) have names in
 * the Core Specification. These return them, so a tool prints
 * "0x06 PIN or Key Missing" instead of a bare number:
 *
 *   printf("pairing failed: 0x%02x %s\n", f.proto_status,
 *          uvble_smp_reason_str(f.proto_status));
 *
 * Every function returns a static string and never NULL. A value the
 * specification reserves or does not assign gets a fixed generic string
 * ("Unknown HCI status", ...) — print the number beside it. The names are
 * the specification's, letter for letter, except that its en dash
 * ("Connection refused – ...") is written as an ASCII hyphen.
 */
#ifndef UVBLE_STATUS_H
#define UVBLE_STATUS_H

#include <stdint.h>

#include "uvble/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An HCI error code (Core Spec Vol 1, Part F, 1.3), 0x00 "Success" to
 * 0x45 "Packet Too Long"; reserved codes (0x2B, 0x31, 0x33) and codes
 * above 0x45 give "Unknown HCI status". */
UVBLE_EXTERN const char *uvble_hci_status_str(uint8_t status);

/* An ATT Error Response code (Vol 3, Part F, 3.4.1.1, Table 3.4), with
 * the common profile and service error codes 0xFC..0xFF (Core Spec
 * Supplement, Part B). 0x80..0x9F give "Application Error"; the other
 * reserved values "Unknown ATT error". 0x00 is no error: "Success". */
UVBLE_EXTERN const char *uvble_att_error_str(uint8_t code);

/* A Pairing Failed reason (Vol 3, Part H, 3.5.5, Table 3.7), 0x01..0x0F;
 * anything else gives "Unknown SMP reason". */
UVBLE_EXTERN const char *uvble_smp_reason_str(uint8_t reason);

/* The result of an LE Credit Based Connection Response (Vol 3, Part A,
 * 4.23): 0x0000..0x000B; 0x000C..0x000F as the (enhanced) Credit Based
 * Connection Response names them (4.26). Others: "Unknown L2CAP result". */
UVBLE_EXTERN const char *uvble_l2cap_result_str(uint16_t result);

/* The reason of an L2CAP Command Reject (Vol 3, Part A, 4.1): 0x0000
 * "Command not understood", 0x0001 "Signaling MTU exceeded", 0x0002
 * "Invalid CID in request"; others "Unknown L2CAP reject reason". */
UVBLE_EXTERN const char *uvble_l2cap_reject_str(uint16_t reason);

#ifdef __cplusplus
}
#endif
#endif
