/* SPDX-License-Identifier: Apache-2.0 */
/* The layers above HCI and how the core drives them. Private.
 *
 * Every layer X in {gap, att, gatts, gattc, l2cap, smp} implements:
 *   int  X_init(uvble_t *ble)            at uvble_new; allocate ble->X state
 *   void X_stop(uvble_t *ble, int err)   the stack stopped being usable
 *                                        (power-down, failure, close): complete
 *                                        module-level pending operations (scan,
 *                                        connect, advertise...) with err; keep
 *                                        configuration (GATT db, listeners)
 *   void X_close(uvble_t *ble)           at uvble_close, after X_stop: free
 *                                        ble->X state
 *   int  X_conn_open(uvble_t *, struct ble_conn *)
 *                                        a connection came up (before the
 *                                        CONNECT irq): build per-conn state;
 *                                        0 or an error (UVBLE_ENOMEM), after
 *                                        which the hooks that ran are undone
 *                                        by their conn_closed (all or
 *                                        nothing) and the link is refused
 *   void X_conn_closed(uvble_t *, struct ble_conn *, uint8_t reason)
 *                                        it went down: complete the operations
 *                                        pending on it with
 *                                        UVBLE_EDISCONNECTED, free per-conn
 *                                        state (runs before the DISCONNECT
 *                                        irq; c is off the table and stays
 *                                        valid until the hooks return).
 *                                        Also undoes a conn_open that
 *                                        succeeded when a later one failed.
 * Teardown never runs inside an application callback (ble_ref): a hook or
 * a layer that called the app still holds valid state when it returns.
 * ble/modules.c registers them in the order of MODULES below (closing:
 * reverse).
 * X_stop and X_close must cope with X_init never having run (state NULL).
 */
#ifndef UVBLE_MODULES_H
#define UVBLE_MODULES_H

#include <stddef.h>
#include <stdint.h>

typedef struct uvble uvble_t;
struct ble_conn;

#define UVBLE_MODULES(X) X(gap) X(att) X(gatts) X(gattc) X(l2cap) X(smp)

#define X(m)                                                          \
  int m##_init(uvble_t *ble);                                         \
  void m##_stop(uvble_t *ble, int err);                               \
  void m##_close(uvble_t *ble);                                       \
  int m##_conn_open(uvble_t *ble, struct ble_conn *c);                \
  void m##_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason);
UVBLE_MODULES(X)
#undef X

/* Create, stop and free every layer (ble/modules.c): init also registers
 * each layer's conn_open/conn_closed hooks with the connection layer
 * (conn_add_observer), which runs them in MODULES order (closing: reverse). */
int modules_init(uvble_t *ble);
void modules_stop(uvble_t *ble, int err);
void modules_close(uvble_t *ble);

#endif
