/* SPDX-License-Identifier: Apache-2.0 */
/* The contract every module above the connection layer implements.
 * Private. Core names no module: each layer declares its own with
 * UVBLE_MODULE_DECLARE in its private header, and only the composition
 * root (ble/modules.h, ble/modules.c) lists and calls them.
 *
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
 * X_stop and X_close must cope with X_init never having run (state NULL).
 */
#ifndef UVBLE_MODULE_H
#define UVBLE_MODULE_H

#include <stdint.h>

typedef struct uvble uvble_t;
struct ble_conn;

#define UVBLE_MODULE_DECLARE(m)                                   \
  int m##_init(uvble_t *ble);                                     \
  void m##_stop(uvble_t *ble, int err);                           \
  void m##_close(uvble_t *ble);                                   \
  int m##_conn_open(uvble_t *ble, struct ble_conn *c);            \
  void m##_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason)

#endif
