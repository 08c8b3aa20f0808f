/* SPDX-License-Identifier: Apache-2.0 */
/* Connection-level HCI events handed from the HCI core to GAP. Private. */
#ifndef UVBLE_GAP_EVENTS_H
#define UVBLE_GAP_EVENTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct uvble uvble_t;

/* Disconnection Complete parameters (status, handle, reason). */
void gap_on_disconnection_complete(uvble_t *ble, const uint8_t *p, size_t len);
/* An LE meta event: subevent code and its parameters. */
void gap_on_le_meta(uvble_t *ble, uint8_t subevent, const uint8_t *p,
                    size_t len);

#endif
