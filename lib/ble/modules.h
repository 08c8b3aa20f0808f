/* SPDX-License-Identifier: Apache-2.0 */
/* The modules above the connection layer and how the stack drives them:
 * the composition root's list. Private to ble/, the top layer; each
 * module implements the contract of core/module.h and declares it in its
 * own private header, included here.
 * ble/modules.c registers them in the order of UVBLE_MODULES below
 * (closing: reverse).
 */
#ifndef UVBLE_MODULES_H
#define UVBLE_MODULES_H

#include "att.h"
#include "gap_internal.h"
#include "gattc_internal.h"
#include "gatts_internal.h"
#include "l2cap.h"
#include "smp_internal.h"

#define UVBLE_MODULES(X) X(gap) X(att) X(gatts) X(gattc) X(l2cap) X(smp)

/* Create, stop and free every layer (ble/modules.c): init also registers
 * each layer's conn_open/conn_closed hooks with the connection layer
 * (conn_add_observer), which runs them in MODULES order (closing: reverse). */
int modules_init(uvble_t *ble);
void modules_stop(uvble_t *ble, int err);
void modules_close(uvble_t *ble);

#endif
