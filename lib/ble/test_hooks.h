/* SPDX-License-Identifier: Apache-2.0 */
/* What the test build of the library (UVBLE_TEST_HOOKS, the uvble_internal
 * target) tells the tests about a stack's own pending work, so a test can
 * run the loop until the stack has settled (tests/support/idle.h) instead
 * of sleeping. Never in libuvble. Private. */
#ifndef UVBLE_TEST_HOOKS_H
#define UVBLE_TEST_HOOKS_H

#ifdef UVBLE_TEST_HOOKS
#include <stddef.h>
#include <uv.h>

#include "uvble/uvble.h"

/* Work of the stack's own that the loop will finish (or time out). */
enum {
  UVBLE_TEST_BUSY_CMD_QUEUED = 1u << 0,   /* HCI commands not yet sent */
  UVBLE_TEST_BUSY_CMD_INFLIGHT = 1u << 1, /* sent, answer awaited */
  UVBLE_TEST_BUSY_ACL_QUEUED = 1u << 2,   /* ACL fragments not yet written */
  UVBLE_TEST_BUSY_ACL_INFLIGHT = 1u << 3, /* written, not yet completed */
  UVBLE_TEST_BUSY_TX_PENDING = 1u << 4,   /* the transport's unflushed bytes */
  UVBLE_TEST_BUSY_DEFERRED = 1u << 5,     /* teardown, closes, linger */
};

/* The UVBLE_TEST_BUSY_* bits of what ble still has to do; when why is not
 * NULL, what they are in words ("1 HCI command(s) queued; an HCI command
 * awaits its answer") is written to it (len bytes at most, terminated). */
unsigned uvble_test_busy(const uvble_t *ble, char *why, size_t len);

/* The stack owning h, when h is the check handle every stack keeps on its
 * loop while open; NULL otherwise. It lets a test find, with uv_walk(),
 * every stack on a loop without having been told of them. */
uvble_t *uvble_test_stack_of_handle(const uv_handle_t *h);
#endif

#endif
