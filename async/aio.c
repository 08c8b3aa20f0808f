/* SPDX-License-Identifier: Apache-2.0 */
/* The async context (aioble's core module): the irq handler that feeds
 * every event to the waiting futures, power (start/stop), fatal errors and
 * closing. */
#include <stdlib.h>
#include <string.h>

#include "async_internal.h"
#include "uvble/gap.h"
#include "uvble/gatts.h"

/* ---- helpers shared by the operations ------------------------------------------ */
int aio_begin(uvble_future_t *f, uvble_async_t *a, const struct fut_ops *ops,
              void *owner, uint32_t timeout_ms) {
  if (!a) return fut_fail(f, UVBLE_EINVAL);
  if (f && uvble_future_pending(f)) return UVBLE_EBUSY;
  if (a->closing) return fut_fail(f, UVBLE_ECLOSING);
  return fut_begin(f, a->sched, ops, owner, timeout_ms);
}

void aio_complete_att(uvble_future_t *f, int st) {
  if (st > 0)
    fut_complete_proto(f, UVBLE_EATT, st);
  else
    fut_complete(f, st);
}

void aio_chain_irq(uvble_async_t *a, int event, const uvble_irq_data_t *d) {
  if (d && a->app_irq) a->app_irq(a->ble, event, d, a->app_irq_arg);
}

/* ---- core requests shared by futures ------------------------------------------ */
static void sreq_cb(uvble_req_t *req, int status, const uvble_irq_data_t *d,
                    void *arg) {
  (void)req;
  struct sreq *s = arg;
  uvble_connection_t *c = s->c;
  /* Cancelled (every future left): nobody waits, and the outcome is the
   * core's to swallow. */
  if (s->slot) {
    *s->slot = NULL;
    s->done(c, s->waiters, status, d);
  }
  free(s);
  aio_conn_unref(c);
}

int aio_sreq_join(uvble_future_t *f, uvble_connection_t *c, struct sreq **slot,
                  uvble_future_t **waiters, sreq_start_fn start, int arg,
                  sreq_done_fn done) {
  if (!*slot) {
    struct sreq *s = calloc(1, sizeof *s);
    if (!s) return UVBLE_ENOMEM;
    uvble_req_init(&s->req, sreq_cb, s);
    int r = start(&s->req, c->a->ble, c->handle, arg);
    if (r < 0) {
      free(s);
      return r;
    }
    s->c = uvble_connection_ref(c);
    s->slot = slot;
    s->waiters = waiters;
    s->done = done;
    s->arg = arg;
    *slot = s;
  }
  f->aux_ = *slot;
  fut_list_push(waiters, f);
  return 0;
}

void aio_sreq_detach(uvble_future_t *f, int status) {
  (void)status;
  struct sreq *s = f->aux_;
  f->aux_ = NULL;
  fut_unwait(f);
  if (!s || !s->slot || *s->waiters) return;
  /* The last future waiting for it left: the core lets go of it too. */
  *s->slot = NULL;
  s->slot = NULL;
  uvble_cancel(&s->req);
}

qval_t *qval_new(const uint8_t *data, size_t len) {
  qval_t *v = malloc(sizeof *v + (len ? len : 1));
  if (!v) return NULL;
  v->next = NULL;
  v->conn = NULL;
  v->attr = NULL;
  v->len = len;
  if (len) memcpy(v->data, data, len);
  return v;
}

void qval_free(qval_t *v) {
  if (v->conn) aio_conn_unref(v->conn);
  free(v);
}

void qv_push(qval_t **tail, size_t *len, qval_t *v) {
  if (!*tail) {
    v->next = v;
  } else {
    v->next = (*tail)->next;
    (*tail)->next = v;
  }
  *tail = v;
  (*len)++;
}

qval_t *qv_pop(qval_t **tail, size_t *len) {
  if (!*tail) return NULL;
  qval_t *head = (*tail)->next;
  if (head == *tail)
    *tail = NULL;
  else
    (*tail)->next = head->next;
  head->next = NULL;
  (*len)--;
  return head;
}

void qv_clear(qval_t **tail, size_t *len) {
  qval_t *v;
  while ((v = qv_pop(tail, len)) != NULL) qval_free(v);
}

/* ---- irq dispatch ------------------------------------------------------------ */
static int on_irq(uvble_t *ble, int event, const uvble_irq_data_t *d,
                  void *arg) {
  uvble_async_t *a = arg;
  int ret = 0;
  bool decided = false;
  /* No closing check: uvble_async_close detaches this handler before it
   * ends anything, and the core emits nothing after uvble_close. */
  switch (event) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
      aio_conn_on_connect(a, event, &d->connect);
      break;
    case UVBLE_IRQ_CENTRAL_DISCONNECT:
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
      aio_conn_on_disconnect(a, event, &d->connect);
      break;
    case UVBLE_IRQ_GATTS_WRITE:
      aio_server_on_write(a, &d->gatts);
      break;
    case UVBLE_IRQ_GATTS_READ_REQUEST:
      decided = aio_server_on_read(a, &d->gatts, &ret);
      break;
    case UVBLE_IRQ_SCAN_RESULT:
      aio_scan_on_result(a, &d->scan_result);
      break;
    case UVBLE_IRQ_SCAN_DONE:
      aio_scan_on_done(a);
      break;
    /* Exchanges and pairings the peer started (ours are requests). */
    case UVBLE_IRQ_MTU_EXCHANGED:
      aio_conn_on_mtu(a, &d->mtu);
      break;
    case UVBLE_IRQ_ENCRYPTION_UPDATE:
      aio_pair_on_encryption(a, &d->encryption);
      break;
    case UVBLE_IRQ_PASSKEY_ACTION:
      aio_pair_on_passkey(a, &d->passkey);
      break;
    case UVBLE_IRQ_L2CAP_ACCEPT:
    case UVBLE_IRQ_L2CAP_CONNECT:
    case UVBLE_IRQ_L2CAP_DISCONNECT:
    case UVBLE_IRQ_L2CAP_RECV:
    case UVBLE_IRQ_L2CAP_SEND_READY:
      decided = aio_chan_on_event(a, event, d, &ret);
      break;
    default:
      if (event >= UVBLE_IRQ_GATTC_SERVICE_RESULT &&
          event <= UVBLE_IRQ_GATTC_INDICATE)
        aio_client_on_event(a, event, d);
      break;
  }
  /* A hook of ours (on_read) may have closed the context: that cleared
   * app_irq, so the event is over for the application too. */
  int app = a->app_irq ? a->app_irq(ble, event, d, a->app_irq_arg) : 0;
  if (!decided) ret = app;
  /* The link's reference goes last, so that the chained handler could
   * still look the connection up. Kept: a handler that closed the context
   * left every connection to close_done, which frees them all. */
  if (!a->closing && (event == UVBLE_IRQ_CENTRAL_DISCONNECT ||
                      event == UVBLE_IRQ_PERIPHERAL_DISCONNECT))
    aio_conn_after_disconnect(a, d->connect.conn_handle);
  return ret;
}

/* Pending operations of the context that are not tied to a connection. */
static void stop_everything(uvble_async_t *a, int status) {
  aio_scan_stop_all(a, status);
  aio_adv_cancel(a, status);
  aio_connect_cancel_all(a, status);
  aio_server_stop(a, status);
  aio_chan_stop(a, status);
}

static void on_fatal(uvble_t *ble, int status, void *arg) {
  uvble_async_t *a = arg;
  /* The core already dropped the links (their operations got
   * EDISCONNECTED); what is left waits for a stack that is gone. (A
   * closing context no longer hears this: detach_from_core.) */
  stop_everything(a, status);
  if (a->power_f) {
    uvble_future_t *f = a->power_f;
    a->power_f = NULL;
    fut_complete(f, status);
  }
  if (a->app_fatal) a->app_fatal(ble, status, a->app_fatal_arg);
}

static void on_direct_close(uvble_t *ble, uvble_close_cb cb, void *cb_arg,
                            void *arg);

/* ---- the context ----------------------------------------------------------------- */
void uvble_async_config_default(uvble_async_config_t *cfg) {
  cfg->capture_depth = 10;
  cfg->notify_depth = 16;
  cfg->scan_max_devices = 1024;
  cfg->l2cap_backlog = 4;
}

int uvble_async_new(uvble_t *ble, uvble_sched_t *sched,
                    const uvble_async_config_t *cfg, uvble_async_t **out) {
  if (!out) return UVBLE_EINVAL;
  *out = NULL;
  if (!ble) return UVBLE_EINVAL;
  uvble_async_t *a = calloc(1, sizeof *a);
  if (!a) return UVBLE_ENOMEM;
  /* The close hook is the stack's one slot for a layer on top. */
  if (uvble_set_close_hook(ble, on_direct_close, a) < 0) {
    free(a);
    return UVBLE_EALREADY;
  }
  a->self = a;
  a->ble = ble;
  uvble_async_config_default(&a->cfg);
  if (cfg) {
    if (cfg->capture_depth) a->cfg.capture_depth = cfg->capture_depth;
    if (cfg->notify_depth) a->cfg.notify_depth = cfg->notify_depth;
    if (cfg->scan_max_devices) a->cfg.scan_max_devices = cfg->scan_max_devices;
    a->cfg.l2cap_backlog = cfg->l2cap_backlog;
  }
  if (sched) {
    a->sched = sched;
  } else {
    int r = uvble_sched_new(uvble_loop(ble), &a->sched);
    if (r < 0) {
      uvble_set_close_hook(ble, NULL, NULL);
      free(a);
      return r;
    }
    a->own_sched = true;
  }
  uvble_irq(ble, on_irq, a);
  uvble_on_fatal(ble, on_fatal, a);
  uvble_gatts_on_tx_ready(ble, aio_server_on_tx_ready, a);
  uvble_gatts_set_write_authorizer(ble, aio_server_authorize, a);
  *out = a;
  return 0;
}

uvble_t *uvble_async_ble(const uvble_async_t *a) { return a->ble; }
uvble_sched_t *uvble_async_sched(const uvble_async_t *a) { return a->sched; }

void uvble_async_irq_chain(uvble_async_t *a, uvble_irq_cb cb, void *arg) {
  a->app_irq = cb;
  a->app_irq_arg = arg;
}

void uvble_async_on_fatal(uvble_async_t *a, uvble_status_cb cb, void *arg) {
  a->app_fatal = cb;
  a->app_fatal_arg = arg;
}

void uvble_async_get_stats(const uvble_async_t *a, uvble_async_stats_t *out) {
  *out = a->stats;
}

/* ---- power --------------------------------------------------------------------- */
static void power_detach(uvble_future_t *f, int status) {
  (void)status;
  uvble_async_t *a = f->owner_;
  /* The core's transition goes on; its callback finds nobody waiting. */
  if (a->power_f == f) a->power_f = NULL;
}

static const struct fut_ops power_ops = {
    .name = "power", .detach = power_detach, .ble = true};

static void on_power(uvble_t *ble, int status, void *arg) {
  (void)ble;
  uvble_async_t *a = arg;
  aio_scan_reset(a); /* a reset controller owes no SCAN_DONE */
  if (!a->power_f) return;
  uvble_future_t *f = a->power_f;
  a->power_f = NULL;
  fut_complete(f, status);
}

static int power(uvble_future_t *f, uvble_async_t *a, bool on,
                 uint32_t timeout_ms) {
  if (a && a->power_f) return fut_fail(f, UVBLE_EBUSY);
  int r = aio_begin(f, a, &power_ops, a, timeout_ms);
  if (r < 0) return r;
  a->power_f = f;
  a->power_on = on;
  if (!on) stop_everything(a, UVBLE_ECANCELED);
  r = uvble_active(a->ble, on, on_power, a);
  if (r < 0) {
    a->power_f = NULL;
    return fut_abort(f, r);
  }
  return 0;
}

int uvble_async_start(uvble_future_t *f, uvble_async_t *a,
                      uint32_t timeout_ms) {
  return power(f, a, true, timeout_ms);
}

int uvble_async_stop(uvble_future_t *f, uvble_async_t *a, uint32_t timeout_ms) {
  return power(f, a, false, timeout_ms);
}

/* ---- close ------------------------------------------------------------------------ */
static void close_done(uvble_async_t *a) {
  if (--a->close_pending > 0) return;
  /* Connections go last: uvble_async_close may have been called from a
   * future's callback, and the scheduler drops the reference that future
   * held once the callback returns. */
  aio_conn_free_all(a);
  if (a->close_cb) a->close_cb(a, a->close_arg);
  free(a);
}

static void on_ble_closed(uvble_t *ble, void *arg) {
  uvble_async_t *a = arg;
  if (a->ble_close_cb) a->ble_close_cb(ble, a->ble_close_arg);
  close_done(a);
}

/* The application called uvble_close() on the context's stack: close the
 * context the same way, and give the application its callback when the
 * stack is gone. */
static void on_direct_close(uvble_t *ble, uvble_close_cb cb, void *cb_arg,
                            void *arg) {
  (void)ble;
  uvble_async_t *a = arg;
  a->ble_close_cb = cb;
  a->ble_close_arg = cb_arg;
  uvble_async_close(a, NULL, NULL);
}

static void on_sched_closed(uvble_sched_t *s, void *arg) {
  (void)s;
  close_done(arg);
}

/* Ends every pending future of context a on its scheduler. */
static void cancel_context_futures(uvble_async_t *a) {
  uvble_sched_t *s = a->sched;
  uvble_future_t *lists[2] = {s->timed, s->untimed};
  bool again = true;
  while (again) {
    again = false;
    lists[0] = s->timed;
    lists[1] = s->untimed;
    for (int i = 0; i < 2 && !again; i++) {
      uvble_future_t *f = lists[i];
      if (!f) continue;
      do {
        const struct fut_ops *ops = f->ops_;
        if (ops && ops->ble && f->owner_ && AOBJ_CTX(f->owner_) == a) {
          s->stats.cancels++;
          fut_end(f, UVBLE_ECANCELED);
          again = true; /* the list changed: walk again */
          break;
        }
        f = f->snext_;
      } while (f != lists[i]);
    }
  }
}

/* The core hears nothing more from the context, and the context nothing
 * more from the core: what the handlers used to re-check (a->closing)
 * cannot reach them. */
static void detach_from_core(uvble_async_t *a) {
  uvble_irq(a->ble, NULL, NULL);
  uvble_on_fatal(a->ble, NULL, NULL);
  uvble_set_close_hook(a->ble, NULL, NULL);
  uvble_gatts_on_tx_ready(a->ble, NULL, NULL);
  uvble_gatts_set_write_authorizer(a->ble, NULL, NULL);
  a->app_irq = NULL; /* the chained handler: nothing after close */
}

void uvble_async_close(uvble_async_t *a, uvble_async_close_cb cb, void *arg) {
  if (!a || a->closing) return;
  a->close_cb = cb;
  a->close_arg = arg;
  detach_from_core(a);
  /* 1. Everything pending completes with ECANCELED, and its callbacks run
   *    while every object is still there. */
  stop_everything(a, UVBLE_ECANCELED);
  cancel_context_futures(a);
  a->closing = true;
  aio_sched_drain(a->sched);
  /* A shared scheduler outlives the context: nothing of it may stay. */
  uvble_future_abandon(&a->defer_f);
  /* 2. Free the objects (connections when the close completes);
   * 3. close the scheduler and the stack. */
  aio_server_free_all(a); /* drops its connection references */
  while (a->scans) uvble_scan_free(a->scans);
  a->close_pending = 1;
  if (a->own_sched) {
    a->close_pending++;
    uvble_sched_close(a->sched, on_sched_closed, a);
  }
  uvble_close(a->ble, on_ble_closed, a);
}
