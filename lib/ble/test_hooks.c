/* SPDX-License-Identifier: Apache-2.0 */
/* The test build's view of a stack's pending work (test_hooks.h). It only
 * reads the layers' state; compiled without UVBLE_TEST_HOOKS (libuvble)
 * it is empty. */
#include "test_hooks.h"

#ifdef UVBLE_TEST_HOOKS
#include <stdarg.h>
#include <stdio.h>

#include "ble_internal.h"
#include "conn.h"
#include "hci.h"

struct why {
  char *buf;
  size_t len, used;
};

static void add(struct why *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add(struct why *w, const char *fmt, ...) {
  if (!w->buf || w->used + 1 >= w->len) return;
  const char *sep = w->used ? "; " : "";
  int n = snprintf(w->buf + w->used, w->len - w->used, "%s", sep);
  if (n > 0 && (size_t)n < w->len - w->used) w->used += (size_t)n;
  va_list ap;
  va_start(ap, fmt);
  n = vsnprintf(w->buf + w->used, w->len - w->used, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  w->used += (size_t)n < w->len - w->used ? (size_t)n : w->len - w->used - 1;
}

/* Fragments not yet written, over the links on the table and those
 * uvble_close() keeps until their data is out. */
static size_t acl_queued(const uvble_t *ble, unsigned *links) {
  size_t n = 0;
  *links = 0;
  const struct sq *lists[2] = {&ble->conns.table, &ble->conns.linger};
  for (int l = 0; l < 2; l++)
    for (const struct ble_conn *c = conn_of(lists[l]->head); c;
         c = conn_next(c)) {
      size_t q = 0;
      for (int k = 0; k < ACL_CLASSES; k++) q += c->txq[k].len;
      if (q) (*links)++;
      n += q;
    }
  return n;
}

unsigned uvble_test_busy(const uvble_t *ble, char *buf, size_t len) {
  struct why w = {buf, len, 0};
  unsigned busy = 0;
  if (buf && len) buf[0] = 0;
  if (!ble) return 0;
  if (ble->hci.queue.len) {
    busy |= UVBLE_TEST_BUSY_CMD_QUEUED;
    add(&w, "%zu HCI command(s) queued", ble->hci.queue.len);
  }
  if (hci_inflight(ble)) {
    busy |= UVBLE_TEST_BUSY_CMD_INFLIGHT;
    add(&w, "an HCI command awaits its answer");
  }
  unsigned links;
  size_t q = acl_queued(ble, &links);
  if (q) {
    busy |= UVBLE_TEST_BUSY_ACL_QUEUED;
    add(&w, "%zu ACL fragment(s) queued on %u link(s)", q, links);
  }
  if (ble->hci.acl_free < ble->hci.acl_total) {
    busy |= UVBLE_TEST_BUSY_ACL_INFLIGHT;
    add(&w, "%u ACL packet(s) not completed by the controller",
        (unsigned)(ble->hci.acl_total - ble->hci.acl_free));
  }
  size_t tx = ble->transport ? uvble_transport_pending(ble->transport) : 0;
  if (tx) {
    busy |= UVBLE_TEST_BUSY_TX_PENDING;
    add(&w, "%zu byte(s) written to the transport, not yet taken", tx);
  }
  if (ble->deferred || ble->refs || ble->hci.lingering ||
      ble->pending_closes) {
    busy |= UVBLE_TEST_BUSY_DEFERRED;
    add(&w, "teardown pending (deferred 0x%x, refs %d, linger %d, "
        "%d handle(s) closing)", ble->deferred, ble->refs,
        (int)ble->hci.lingering, ble->pending_closes);
  }
  return busy;
}

uvble_t *uvble_test_stack_of_handle(const uv_handle_t *h) {
  if (!h || h->type != UV_CHECK) return NULL;
  /* Only pointer arithmetic: the candidate is not read unless h->data
   * names it, which nothing but a stack's own check handle does. */
  uvble_t *cand =
      (uvble_t *)(void *)((char *)h - offsetof(uvble_t, hci.io_check));
  return h->data == cand ? cand : NULL;
}
#else
/* ISO C wants a declaration in every translation unit. */
typedef int uvble_test_hooks_absent;
#endif
