/* uvble — GAP: connections (advertising, scanning and connecting arrive
 * with the GAP layer). */
#ifndef UVBLE_GAP_H
#define UVBLE_GAP_H

#include "uvble/uvble.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Asks the controller to end the connection. Returns 1 if the handle was
 * connected (the DISCONNECT event follows), 0 if it was not (MicroPython's
 * False), or a negative error. */
int uvble_gap_disconnect(uvble_t *ble, uint16_t conn_handle);

#ifdef __cplusplus
}
#endif
#endif
