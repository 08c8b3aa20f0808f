/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — constants shared by the GATT server and client.
 *
 * Characteristic and descriptor flags keep MicroPython's values (the
 * `_FLAG_*` constants of the bluetooth module docs): the low byte is the
 * characteristic properties octet of the Characteristic Declaration (Core
 * Spec Vol 3, Part G, 3.3.1.1); the bits above are uvble/MicroPython
 * permissions that the server enforces and never puts on the air.
 *
 * ATT error codes (Vol 3, Part F, 3.4.1.1) travel in event payloads (status
 * of GATTC_*_DONE, the return of a GATTS_READ_REQUEST handler) as the peer
 * sent them.
 */
#ifndef UVBLE_GATT_H
#define UVBLE_GATT_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- characteristic / descriptor flags (MicroPython's values) ----------- */
#define UVBLE_FLAG_BROADCAST 0x0001
#define UVBLE_FLAG_READ 0x0002
#define UVBLE_FLAG_WRITE_NO_RESPONSE 0x0004
#define UVBLE_FLAG_WRITE 0x0008
#define UVBLE_FLAG_NOTIFY 0x0010
#define UVBLE_FLAG_INDICATE 0x0020
#define UVBLE_FLAG_AUTHENTICATED_SIGNED_WRITE 0x0040
/* Writable Auxiliaries (Extended Properties; NimBLE's BLE_GATT_CHR_F_AUX_WRITE):
 * the peer may write the Characteristic User Description. */
#define UVBLE_FLAG_AUX_WRITE 0x0100
#define UVBLE_FLAG_READ_ENCRYPTED 0x0200
#define UVBLE_FLAG_READ_AUTHENTICATED 0x0400
#define UVBLE_FLAG_READ_AUTHORIZED 0x0800
#define UVBLE_FLAG_WRITE_ENCRYPTED 0x1000
#define UVBLE_FLAG_WRITE_AUTHENTICATED 0x2000
#define UVBLE_FLAG_WRITE_AUTHORIZED 0x4000

/* ---- well-known attribute types (16-bit UUIDs) --------------------------- */
#define UVBLE_GATT_PRIMARY_SERVICE_UUID 0x2800
#define UVBLE_GATT_SECONDARY_SERVICE_UUID 0x2801
#define UVBLE_GATT_INCLUDE_UUID 0x2802
#define UVBLE_GATT_CHARACTERISTIC_UUID 0x2803
#define UVBLE_GATT_CEP_UUID 0x2900  /* Characteristic Extended Properties */
#define UVBLE_GATT_CUD_UUID 0x2901  /* Characteristic User Description */
#define UVBLE_GATT_CCCD_UUID 0x2902 /* Client Characteristic Configuration */
#define UVBLE_GATT_GAP_SERVICE_UUID 0x1800
#define UVBLE_GATT_GATT_SERVICE_UUID 0x1801
#define UVBLE_GATT_DEVICE_NAME_UUID 0x2A00
#define UVBLE_GATT_APPEARANCE_UUID 0x2A01
#define UVBLE_GATT_SERVICE_CHANGED_UUID 0x2A05

/* CCCD value bits (Vol 3, Part G, 3.3.3.3). */
#define UVBLE_CCCD_NOTIFY 0x0001
#define UVBLE_CCCD_INDICATE 0x0002

/* ---- ATT error codes (Vol 3, Part F, 3.4.1.1) ---------------------------- */
#define UVBLE_ATT_ERR_INVALID_HANDLE 0x01
#define UVBLE_ATT_ERR_READ_NOT_PERMITTED 0x02
#define UVBLE_ATT_ERR_WRITE_NOT_PERMITTED 0x03
#define UVBLE_ATT_ERR_INVALID_PDU 0x04
#define UVBLE_ATT_ERR_INSUFFICIENT_AUTHENTICATION 0x05
#define UVBLE_ATT_ERR_REQUEST_NOT_SUPPORTED 0x06
#define UVBLE_ATT_ERR_INVALID_OFFSET 0x07
#define UVBLE_ATT_ERR_INSUFFICIENT_AUTHORIZATION 0x08
#define UVBLE_ATT_ERR_PREPARE_QUEUE_FULL 0x09
#define UVBLE_ATT_ERR_ATTRIBUTE_NOT_FOUND 0x0A
#define UVBLE_ATT_ERR_ATTRIBUTE_NOT_LONG 0x0B
#define UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION_KEY_SIZE 0x0C
#define UVBLE_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH 0x0D
#define UVBLE_ATT_ERR_UNLIKELY 0x0E
#define UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION 0x0F
#define UVBLE_ATT_ERR_UNSUPPORTED_GROUP_TYPE 0x10
#define UVBLE_ATT_ERR_INSUFFICIENT_RESOURCES 0x11
#define UVBLE_ATT_ERR_DATABASE_OUT_OF_SYNC 0x12
#define UVBLE_ATT_ERR_VALUE_NOT_ALLOWED 0x13
/* 0x80-0x9F: application errors; 0xE0-0xFF: common profile errors
 * (Core Specification Supplement, Part B, 1.2). */
#define UVBLE_ATT_ERR_APPLICATION_MIN 0x80
#define UVBLE_ATT_ERR_APPLICATION_MAX 0x9F
#define UVBLE_ATT_ERR_WRITE_REQUEST_REJECTED 0xFC
#define UVBLE_ATT_ERR_CCCD_IMPROPERLY_CONFIGURED 0xFD
#define UVBLE_ATT_ERR_PROCEDURE_IN_PROGRESS 0xFE
#define UVBLE_ATT_ERR_OUT_OF_RANGE 0xFF

/* The longest attribute value (Vol 3, Part F, 3.2.9). */
#define UVBLE_GATT_MAX_ATTR_LEN 512

#ifdef __cplusplus
}
#endif
#endif
