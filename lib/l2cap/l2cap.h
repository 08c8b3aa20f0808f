/* SPDX-License-Identifier: Apache-2.0 */
/* L2CAP LE signalling (CID 5) as other layers use it. Private.
 * l2cap_signal.c implements it; gap (connection parameters) uses it. */
#ifndef UVBLE_LIB_L2CAP_H
#define UVBLE_LIB_L2CAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "module.h"

/* init, stop, close, conn_open, conn_closed (core/module.h) */
UVBLE_MODULE_DECLARE(l2cap);

typedef struct uvble uvble_t;
struct ble_conn;

struct l2cap_conn_params {
  uint16_t interval_min; /* 1.25 ms units */
  uint16_t interval_max;
  uint16_t latency;
  uint16_t timeout; /* 10 ms units */
};

/* Peripheral role: sends a Connection Parameter Update Request (Vol 3,
 * Part A, 4.20). cb runs with the central's result (0 accepted, 1
 * rejected) or a negative error (timeout, disconnect). Returns 0 or a
 * negative error (UVBLE_EINVAL when we are central). */
typedef void (*l2cap_conn_param_cb)(uvble_t *ble, struct ble_conn *c,
                                    int result, void *arg);
int l2cap_conn_param_update_request(uvble_t *ble, struct ble_conn *c,
                                    const struct l2cap_conn_params *p,
                                    l2cap_conn_param_cb cb, void *arg);

/* ---- called by the ACL layer (conn.c, acl.c) ---- */
/* A PDU on a dynamic CID (0x0040 and up), basic header stripped. Returns
 * false when no channel owns cid (the caller counts it and drops it). */
bool l2cap_dyn_rx(uvble_t *ble, struct ble_conn *c, uint16_t cid,
                  const uint8_t *data, size_t len);
/* The controller returned ACL buffers (Number Of Completed Packets): the
 * credit-based channels top up the connections' transmit queues. */
void l2cap_on_acl_completed(uvble_t *ble);

/* ---- registered by GAP (ble/modules.c) ---- */
/* Central role: a peripheral asked for new parameters. Returns true to
 * accept (GAP then issues LE Connection Update) or false to reject; with
 * no handler the request is rejected. */
typedef bool (*l2cap_conn_param_fn)(uvble_t *ble, struct ble_conn *c,
                                    const struct l2cap_conn_params *p);
void l2cap_set_conn_param_handler(uvble_t *ble, l2cap_conn_param_fn fn);

#endif
