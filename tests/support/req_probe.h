/* SPDX-License-Identifier: Apache-2.0 */
/* A request that records its completion, for tests of the `_req` calls
 * (uvble/req.h): how often and with what it completed, whether inside the
 * call that started it (req_probe_starting is set around that call), and
 * optionally closes the stack from its callback. */
#ifndef UVBLE_TEST_REQ_PROBE_H
#define UVBLE_TEST_REQ_PROBE_H

#include <stdbool.h>
#include <string.h>
#include <uv.h>

#include "test.h"
#include "uvble/req.h"
#include "uvble/uvble.h"

struct req_probe {
  uvble_req_t req;
  int calls;
  int status;
  int in_start; /* completions that ran inside the starting call */
  bool had_result;
  uvble_irq_data_t result;
  bool close_in_cb;
};

/* Set by a test around the call that starts a request. */
static bool req_probe_starting;

static void req_probe_done(uvble_req_t *req, int status,
                           const uvble_irq_data_t *d, void *arg) {
  struct req_probe *q = arg;
  CHECK(req == &q->req);
  CHECK(!uvble_req_active(req));
  q->calls++;
  q->status = status;
  q->in_start += req_probe_starting;
  q->had_result = d != NULL;
  if (d) q->result = *d;
  if (q->close_in_cb) uvble_close(req->ble_, NULL, NULL);
}

static inline void req_probe_init(struct req_probe *q) {
  memset(q, 0, sizeof *q);
  uvble_req_init(&q->req, req_probe_done, q);
}

static inline bool req_probe_completed(void *arg) {
  return ((struct req_probe *)arg)->calls > 0;
}

/* Runs the loop until q completed or ms passed; false on the bound. */
static inline bool req_probe_wait(uv_loop_t *on, struct req_probe *q,
                                  unsigned ms) {
  return run_until_pred(on, req_probe_completed, q, ms);
}

#endif
