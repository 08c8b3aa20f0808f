/* SPDX-License-Identifier: Apache-2.0 */
/* The stack object's services to every layer: events to the application
 * (ble_irq), dispatch references and the teardown they defer, failure,
 * deferred callbacks, and the close that completes once every handle is
 * gone. What failing, powering down and closing do to the layers is the
 * top layer's business: ble/ registers it at uvble_new (ble_set_teardown),
 * so no layer calls one above it by name (docs/architecture.md). */
#include <sodium.h>
#include <stdlib.h>

#include "ble_internal.h"

/* ---- the application's irq handler ----------------------------------------- */
int ble_irq(uvble_t *ble, int event, const uvble_irq_data_t *data) {
  if (!ble->irq_cb || ble->state == BLE_CLOSING) return 0;
  return ble->irq_cb(ble, event, data, ble->irq_arg);
}

void ble_active_done(uvble_t *ble, int status) {
  uvble_status_cb cb = ble->active_cb;
  void *arg = ble->active_arg;
  ble->active_cb = NULL;
  ble->active_arg = NULL;
  if (cb) cb(ble, status, arg);
}

/* ---- deferred callbacks -----------------------------------------------------
 * Callbacks never run inside the call that requested them: an active(true)
 * on an active stack completes on the next loop iteration. */
struct defer {
  uv_timer_t timer;
  int status;
  uv_timer_t fail_timer; /* ble_fail_later */
  int fail_status;
  bool open;
};

static struct defer *defer_of(uvble_t *ble) {
  return (struct defer *)ble->defer_state;
}

static void on_defer_closed(uv_handle_t *h) {
  uvble_t *ble = h->data;
  ble->pending_closes--;
  ble_handle_closed(ble);
}

int ble_stack_init(uvble_t *ble) {
  struct defer *d = calloc(1, sizeof *d);
  if (!d) return UVBLE_ENOMEM;
  if (uv_timer_init(ble->loop, &d->timer) != 0) {
    free(d);
    return UVBLE_ENOMEM;
  }
  d->timer.data = ble;
  ble->defer_state = d;
  if (uv_timer_init(ble->loop, &d->fail_timer) != 0) {
    /* The first timer is registered with the loop: it must be closed. */
    ble->pending_closes++;
    uv_close((uv_handle_t *)&d->timer, on_defer_closed);
    return UVBLE_ENOMEM;
  }
  d->fail_timer.data = ble;
  d->open = true;
  return 0;
}

void ble_stack_close_handles(uvble_t *ble) {
  struct defer *d = defer_of(ble);
  if (d && d->open) {
    d->open = false;
    ble->pending_closes += 2;
    uv_close((uv_handle_t *)&d->timer, on_defer_closed);
    uv_close((uv_handle_t *)&d->fail_timer, on_defer_closed);
  }
}

static void on_defer(uv_timer_t *t) {
  uvble_t *ble = t->data;
  ble_ref(ble);
  ble_active_done(ble, defer_of(ble)->status);
  ble_unref(ble);
}

void ble_active_later(uvble_t *ble, int status) {
  defer_of(ble)->status = status;
  uv_timer_start(&defer_of(ble)->timer, on_defer, 0, 0);
}

/* ---- dispatch references and deferred teardown ----------------------------- */
void ble_set_teardown(uvble_t *ble, const struct ble_teardown *ops) {
  ble->teardown = ops;
}

void ble_ref(uvble_t *ble) { ble->refs++; }

/* Runs the teardown step the top layer registered for one BLE_DEFER_* bit
 * (none registered: the bit is only dropped). */
static void run_deferred(uvble_t *ble, unsigned what) {
  const struct ble_teardown *ops = ble->teardown;
  void (*fn)(uvble_t *) = NULL;
  if (ops && what == BLE_DEFER_FAIL) fn = ops->fail;
  if (ops && what == BLE_DEFER_POWER_DOWN) fn = ops->power_down;
  if (ops && what == BLE_DEFER_CLOSE) fn = ops->close;
  if (fn) fn(ble);
}

void ble_unref(uvble_t *ble) {
  if (ble->refs > 1) {
    ble->refs--;
    return;
  }
  /* The outermost dispatch is unwinding: run the teardown asked for. The
   * reference stays held meanwhile, so what the callbacks run by the
   * teardown ask for in turn is deferred again and picked up here. */
  while (ble->deferred) {
    unsigned what = (ble->deferred & BLE_DEFER_FAIL)         ? BLE_DEFER_FAIL
                    : (ble->deferred & BLE_DEFER_POWER_DOWN) ? BLE_DEFER_POWER_DOWN
                                                             : BLE_DEFER_CLOSE;
    ble->deferred &= ~what;
    run_deferred(ble, what);
  }
  ble->refs--;
  ble_handle_closed(ble); /* only if everything closed already */
}

void ble_defer(uvble_t *ble, unsigned what) {
  ble->deferred |= what;
  if (ble->refs == 0) {
    /* Called from outside any dispatch (the app's own code): nothing of
     * the core is on the stack, so the teardown runs now. */
    ble_ref(ble);
    ble_unref(ble);
  }
}

/* ---- failure ------------------------------------------------------------------ */
void ble_fail(uvble_t *ble, int status) {
  if (ble_dead(ble)) return;
  ble->state = BLE_FAILED;
  ble->fail_status = status;
  ble_defer(ble, BLE_DEFER_FAIL);
}

static void on_fail_later(uv_timer_t *t) {
  uvble_t *ble = t->data;
  ble_ref(ble);
  ble_fail(ble, defer_of(ble)->fail_status);
  ble_unref(ble);
}

void ble_fail_later(uvble_t *ble, int status) {
  struct defer *d = defer_of(ble);
  if (ble_dead(ble) || !d || !d->open || d->fail_status) return;
  d->fail_status = status;
  uv_timer_start(&d->fail_timer, on_fail_later, 0, 0);
}

/* ---- the end ------------------------------------------------------------------ */
void ble_handle_closed(uvble_t *ble) {
  if (ble->state != BLE_CLOSING || ble->pending_closes > 0 ||
      ble->hci.lingering || ble->refs > 0 || ble->deferred)
    return;
  /* The callback sees the object one last time (uvble_get_data() still
   * works, so the app can free what it hung on it); then it is gone. */
  if (ble->close_cb) ble->close_cb(ble, ble->close_arg);
  free(ble->defer_state);
  sodium_memzero(ble, sizeof *ble);
  free(ble);
}
