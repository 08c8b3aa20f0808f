/* SPDX-License-Identifier: Apache-2.0 */
/* Requests (uvble/req.h): the lifecycle every layer's `_req` entry point
 * shares. Private.
 *
 * A layer starts a request with req_start (it is then ACTIVE and points at
 * the layer's record of the operation through op_ and cancel_), reports
 * intermediate results with req_result and ends it with req_complete.
 * uvble_cancel asks the layer's cancel_ hook to let go of the request (the
 * hook returns 0 once nothing of the operation will reach it again, or an
 * error when it can no longer be cancelled); the request is then queued
 * here and completed with UVBLE_ECANCELED from a zero timer, so that its
 * callback never runs inside uvble_cancel. A hook returning 1 keeps the
 * request until what it cancelled has really ended (the controller's one
 * connection attempt, a pairing) and then hands it to req_cancel_done, so
 * that the caller may start the next one from the callback. uvble_close runs what is queued
 * before the close callback (req_flush). */
#ifndef UVBLE_REQ_INTERNAL_H
#define UVBLE_REQ_INTERNAL_H

#include <stdbool.h>

#include "uvble/uvble.h"

enum { REQ_IDLE = 0, REQ_ACTIVE, REQ_CANCELLED, REQ_DONE };

/* Makes req ACTIVE for an operation of type on ble. UVBLE_EINVAL without a
 * callback, UVBLE_EBUSY while it is active or cancelled. */
int req_start(uvble_t *ble, uvble_req_t *req, uvble_req_type_t type,
              void *op, int (*cancel)(uvble_req_t *req));
/* The operation did not start after all: req is IDLE again, no callback. */
void req_unstart(uvble_req_t *req);
void req_result(uvble_req_t *req, int event, const uvble_irq_data_t *d);
/* A request whose cancel hook returned 1: complete it with UVBLE_ECANCELED
 * (from the zero timer, never inside the caller). */
void req_cancel_done(uvble_req_t *req);
/* Ends an ACTIVE request: DONE, then its callback. */
void req_complete(uvble_req_t *req, int status, const uvble_irq_data_t *d);

/* Either the request (when there is one) or the irq handler gets the
 * event: final events complete the request. */
void req_or_irq(uvble_t *ble, uvble_req_t *req, int event, bool final,
                int status, const uvble_irq_data_t *d);

/* ble.c */
int req_init(uvble_t *ble);
void req_flush(uvble_t *ble); /* completes the cancelled ones now */
void req_close(uvble_t *ble);

#endif
