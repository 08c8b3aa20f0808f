/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — Bluetooth UUIDs, as MicroPython's bluetooth.UUID.
 *
 * A UUID is 16, 32 or 128 bits. Bytes are kept little-endian, as they
 * travel on the air; the text form is the usual big-endian one
 * ("180d", "6e400001-b5a3-f393-e0a9-e50e24dcca9e").
 */
#ifndef UVBLE_UUID_H
#define UVBLE_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uvble/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint8_t type;      /* 16, 32 or 128 */
  uint8_t data[16];  /* little-endian, first type/8 bytes used */
} uvble_uuid_t;

/* Longest text form plus the NUL: 36 characters for 128-bit. */
#define UVBLE_UUID_STR_LEN 37

/* A 16-bit UUID from an integer (MicroPython's UUID(0x180d)). */
UVBLE_EXTERN uvble_uuid_t uvble_uuid16(uint16_t v);
/* A 32-bit UUID from an integer. */
UVBLE_EXTERN uvble_uuid_t uvble_uuid32(uint32_t v);

/* Raw little-endian bytes of length 2, 4 or 16 (MicroPython's rule for a
 * buffer argument). Returns 0 or UVBLE_EINVAL. */
UVBLE_EXTERN int uvble_uuid_from_bytes(uvble_uuid_t *out, const uint8_t *buf,
                                       size_t len);

/* Parses text: "0x180d", "180d", "0000180d", or the 36-character dashed
 * 128-bit form (dashes optional, hex case ignored). Returns 0 or UVBLE_EINVAL. */
UVBLE_EXTERN int uvble_uuid_parse(uvble_uuid_t *out, const char *text);

/* Writes the text form ("180d", "0000abcd" for 32-bit, dashed 128-bit,
 * lower case) into buf; returns the string length or UVBLE_EINVAL /
 * UVBLE_ENOSPC. */
UVBLE_EXTERN int uvble_uuid_to_str(const uvble_uuid_t *u, char *buf,
                                   size_t len);

/* The 128-bit form (16- and 32-bit UUIDs expanded with the Bluetooth base
 * UUID 0000xxxx-0000-1000-8000-00805f9b34fb). */
UVBLE_EXTERN uvble_uuid_t uvble_uuid_to128(const uvble_uuid_t *u);

/* Equal as UUIDs: a 16-bit UUID equals its 128-bit expansion. */
UVBLE_EXTERN bool uvble_uuid_equal(const uvble_uuid_t *a,
                                   const uvble_uuid_t *b);

/* The smallest form that represents u (a base-UUID 128-bit shrinks to 16 or
 * 32 bits). */
UVBLE_EXTERN uvble_uuid_t uvble_uuid_shrink(const uvble_uuid_t *u);

#ifdef __cplusplus
}
#endif
#endif
