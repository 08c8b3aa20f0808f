/* SPDX-License-Identifier: Apache-2.0 */
/* GATT client objects (aioble's client module): discovery, read, write,
 * notified/indicated with bounded queues, subscribe.
 *
 * Every request handed to the core is remembered in the connection's FIFO
 * (struct gop): the core runs a connection's requests in call order and
 * raises their events in that order (gattc.h), so each event belongs to
 * the oldest entry of its kind. A future that ends early (timeout, cancel)
 * leaves its entry behind without the future, to swallow the late events
 * without confusing them with the next request's. */
#include <stdlib.h>
#include <string.h>

#include "async_internal.h"
#include "uvble/gattc.h"

/* ---- the request FIFO --------------------------------------------------------- */
static struct gop *gop_add(uvble_connection_t *c, uint8_t kind, uint16_t handle,
                           uvble_future_t *f) {
  struct gop *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->kind = kind;
  g->handle = handle;
  g->f = f;
  if (c->gops_tail)
    c->gops_tail->next = g;
  else
    c->gops = g;
  c->gops_tail = g;
  c->ngops++;
  return g;
}

static bool gop_match(const struct gop *g, uint8_t kind, uint16_t handle) {
  if (g->kind != kind) return false;
  return (kind != GOP_READ && kind != GOP_WRITE) || g->handle == handle;
}

static struct gop *gop_peek(uvble_connection_t *c, uint8_t kind,
                            uint16_t handle) {
  for (struct gop *g = c->gops; g; g = g->next)
    if (gop_match(g, kind, handle)) return g;
  return NULL;
}

/* Unlinks the oldest entry of kind (and handle); the caller frees it. */
static struct gop *gop_take(uvble_connection_t *c, uint8_t kind,
                            uint16_t handle) {
  struct gop *prev = NULL;
  for (struct gop *g = c->gops; g; prev = g, g = g->next) {
    if (!gop_match(g, kind, handle)) continue;
    if (prev)
      prev->next = g->next;
    else
      c->gops = g->next;
    if (c->gops_tail == g) c->gops_tail = prev;
    c->ngops--;
    return g;
  }
  c->a->stats.gattc_unmatched++;
  return NULL;
}

/* Detach for read and write: the entry stays, without its future. */
static void gop_detach(uvble_future_t *f, int status) {
  (void)status;
  uvble_connection_t *c = f->owner_;
  for (struct gop *g = c->gops; g; g = g->next)
    if (g->f == f) g->f = NULL;
}

static const struct fut_ops rw_ops = {
    .name = "gattc_rw", .detach = gop_detach, .ble = true};

/* ---- objects ---------------------------------------------------------------------- */
static uvble_client_service_t *svc_get(uvble_connection_t *c, uint16_t start,
                                       uint16_t end, const uvble_uuid_t *uuid) {
  uvble_client_service_t **p = &c->services;
  for (; *p; p = &(*p)->next_)
    if ((*p)->start_handle == start) return *p;
  uvble_client_service_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->uuid = *uuid;
  s->start_handle = start;
  s->end_handle = end;
  s->connection = c;
  *p = s;
  return s;
}

static uvble_client_characteristic_t *chr_get(
    uvble_client_service_t *s, const uvble_evt_characteristic_result_t *e) {
  uvble_client_characteristic_t **p = &s->chars_;
  for (; *p; p = &(*p)->next_)
    if ((*p)->value_handle == e->value_handle) return *p;
  uvble_client_characteristic_t *ch = calloc(1, sizeof *ch);
  if (!ch) return NULL;
  ch->uuid = e->uuid;
  ch->value_handle = e->value_handle;
  /* The core gives the real end (MicroPython semantics), never below the
   * value handle; should one ever be, no descriptors are looked for rather
   * than aioble's guess of value + 2, which could leave the service. */
  ch->end_handle = e->end_handle >= e->value_handle ? e->end_handle
                                                    : e->value_handle;
  ch->properties = e->properties;
  ch->service = s;
  ch->depth_ = s->connection->a->cfg.notify_depth;
  *p = ch;
  return ch;
}

static uvble_client_descriptor_t *dsc_get(uvble_client_characteristic_t *ch,
                                          uint16_t handle,
                                          const uvble_uuid_t *uuid) {
  uvble_client_descriptor_t **p = &ch->descs_;
  for (; *p; p = &(*p)->next_)
    if ((*p)->handle == handle) return *p;
  uvble_client_descriptor_t *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->uuid = *uuid;
  d->handle = handle;
  d->characteristic = ch;
  *p = d;
  uvble_uuid_t cccd = uvble_uuid16(UVBLE_GATT_CCCD_UUID);
  if (uvble_uuid_equal(uuid, &cccd)) ch->cccd_ = handle;
  return d;
}

static uvble_client_characteristic_t *chr_by_handle(uvble_connection_t *c,
                                                    uint16_t h) {
  for (uvble_client_service_t *s = c->services; s; s = s->next_)
    for (uvble_client_characteristic_t *ch = s->chars_; ch; ch = ch->next_)
      if (ch->value_handle == h) return ch;
  return NULL;
}

static uvble_connection_t *chr_conn(const uvble_client_characteristic_t *ch) {
  return ch->service->connection;
}

/* ---- discovery ---------------------------------------------------------------------- */
struct dreq {
  uint8_t kind; /* GOP_DISC_* */
  bool single;  /* the first match is the result */
  bool has_uuid;
  uvble_uuid_t uuid;
  void *parent; /* connection, client service or client characteristic */
  void **out;
  size_t cap;
  struct gop *gop; /* once handed to the core */
  /* subscribe: the CCCD write that follows */
  bool subscribe;
  uint16_t cccd_value;
};

static void disc_detach(uvble_future_t *f, int status) {
  (void)status;
  struct dreq *q = f->aux_;
  fut_unwait(f); /* still queued */
  if (q->gop) {
    q->gop->f = NULL; /* issued: its events are swallowed */
    q->gop = NULL;
  }
}

static void dreq_free(void *aux) { free(aux); }

static const struct fut_ops disc_ops = {.name = "discover",
                                        .detach = disc_detach,
                                        .release = dreq_free,
                                        .ble = true};

static int disc_issue(uvble_connection_t *c, uvble_future_t *f) {
  struct dreq *q = f->aux_;
  uvble_t *ble = c->a->ble;
  const uvble_uuid_t *u = q->has_uuid ? &q->uuid : NULL;
  int r;
  if (q->kind == GOP_DISC_SVC) {
    r = uvble_gattc_discover_services(ble, c->handle, u);
  } else if (q->kind == GOP_DISC_CHR) {
    uvble_client_service_t *s = q->parent;
    r = uvble_gattc_discover_characteristics(ble, c->handle, s->start_handle,
                                             s->end_handle, u);
  } else {
    uvble_client_characteristic_t *ch = q->parent;
    r = uvble_gattc_discover_descriptors(ble, c->handle, ch->value_handle,
                                         ch->end_handle);
  }
  if (r < 0) return r;
  q->gop = gop_add(c, q->kind, 0, f);
  return q->gop ? 0 : UVBLE_ENOMEM;
}

/* The bearer runs one discovery at a time: start the next queued one. */
static void disc_pump(uvble_connection_t *c) {
  while (!c->disc_busy && c->disc_q && c->connected) {
    uvble_future_t *f = fut_list_pop(&c->disc_q);
    int r = disc_issue(c, f);
    if (r < 0) {
      /* Pending while the link went: the core already forgot it. */
      fut_complete(f, r == UVBLE_ENOTCONN ? UVBLE_EDISCONNECTED : r);
      continue;
    }
    c->disc_busy = true;
  }
}

static int discover(uvble_future_t *f, uvble_connection_t *c, uint8_t kind,
                    void *parent, const uvble_uuid_t *uuid, bool single,
                    void **out, size_t cap, uint32_t timeout_ms) {
  if (!c->connected) return fut_fail(f, UVBLE_ENOTCONN);
  struct dreq *q = calloc(1, sizeof *q);
  if (!q) return fut_fail(f, UVBLE_ENOMEM);
  int r = aio_begin(f, c->a, &disc_ops, c, timeout_ms);
  if (r < 0) {
    free(q);
    return r;
  }
  q->kind = kind;
  q->parent = parent;
  q->single = single;
  q->out = out;
  q->cap = out ? cap : 0;
  if (uuid) {
    q->has_uuid = true;
    q->uuid = *uuid;
  }
  f->aux_ = q;
  fut_list_push(&c->disc_q, f);
  disc_pump(c);
  return 0;
}

/* One discovered object for the request f (NULL: an orphan's result). */
static void disc_found(uvble_future_t *f, void *obj, const uvble_uuid_t *uuid) {
  if (!f || !obj) return;
  struct dreq *q = f->aux_;
  if (q->single) {
    if (!f->result.ptr && (!q->has_uuid || uvble_uuid_equal(uuid, &q->uuid)))
      f->result.ptr = obj;
    return;
  }
  if (f->len < q->cap)
    q->out[f->len] = obj;
  else
    f->truncated = true;
  f->len++;
}

static void subscribe_write(uvble_connection_t *c, uvble_future_t *f);

static void disc_done(uvble_connection_t *c, uint8_t kind, int status) {
  struct gop *g = gop_take(c, kind, 0);
  c->disc_busy = false;
  uvble_future_t *f = g ? g->f : NULL;
  free(g);
  if (f) {
    struct dreq *q = f->aux_;
    q->gop = NULL;
    if (status != 0)
      aio_complete_att(f, status);
    else if (q->subscribe)
      subscribe_write(c, f);
    else if (q->single && !f->result.ptr)
      fut_complete(f, UVBLE_ENOENT);
    else
      fut_complete(f, 0);
  }
  disc_pump(c);
}

static void on_disc_result(uvble_connection_t *c, int event,
                           const uvble_irq_data_t *d) {
  uint8_t kind = event == UVBLE_IRQ_GATTC_SERVICE_RESULT ? GOP_DISC_SVC
                 : event == UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT
                     ? GOP_DISC_CHR
                     : GOP_DISC_DSC;
  struct gop *g = gop_peek(c, kind, 0);
  if (!g || !g->f) return; /* an orphan's: dropped */
  struct dreq *q = g->f->aux_;
  if (kind == GOP_DISC_SVC) {
    const uvble_evt_service_result_t *e = &d->service;
    disc_found(g->f, svc_get(c, e->start_handle, e->end_handle, &e->uuid),
               &e->uuid);
  } else if (kind == GOP_DISC_CHR) {
    const uvble_evt_characteristic_result_t *e = &d->characteristic;
    disc_found(g->f, chr_get(q->parent, e), &e->uuid);
  } else {
    const uvble_evt_descriptor_result_t *e = &d->descriptor;
    disc_found(g->f, dsc_get(q->parent, e->dsc_handle, &e->uuid), &e->uuid);
  }
}

int uvble_connection_services(uvble_future_t *f, uvble_connection_t *c,
                              const uvble_uuid_t *uuid,
                              uvble_client_service_t **out, size_t cap,
                              uint32_t timeout_ms) {
  if (!c) return fut_fail(f, UVBLE_EINVAL);
  return discover(f, c, GOP_DISC_SVC, c, uuid, false, (void **)out, cap,
                  timeout_ms);
}

int uvble_connection_service(uvble_future_t *f, uvble_connection_t *c,
                             const uvble_uuid_t *uuid, uint32_t timeout_ms) {
  if (!c || !uuid) return fut_fail(f, UVBLE_EINVAL);
  return discover(f, c, GOP_DISC_SVC, c, uuid, true, NULL, 0, timeout_ms);
}

int uvble_client_service_characteristics(uvble_future_t *f,
                                         uvble_client_service_t *s,
                                         const uvble_uuid_t *uuid,
                                         uvble_client_characteristic_t **out,
                                         size_t cap, uint32_t timeout_ms) {
  if (!s) return fut_fail(f, UVBLE_EINVAL);
  return discover(f, s->connection, GOP_DISC_CHR, s, uuid, false, (void **)out,
                  cap, timeout_ms);
}

int uvble_client_service_characteristic(uvble_future_t *f,
                                        uvble_client_service_t *s,
                                        const uvble_uuid_t *uuid,
                                        uint32_t timeout_ms) {
  if (!s || !uuid) return fut_fail(f, UVBLE_EINVAL);
  return discover(f, s->connection, GOP_DISC_CHR, s, uuid, true, NULL, 0,
                  timeout_ms);
}

int uvble_client_characteristic_descriptors(uvble_future_t *f,
                                            uvble_client_characteristic_t *ch,
                                            uvble_client_descriptor_t **out,
                                            size_t cap, uint32_t timeout_ms) {
  if (!ch) return fut_fail(f, UVBLE_EINVAL);
  return discover(f, chr_conn(ch), GOP_DISC_DSC, ch, NULL, false, (void **)out,
                  cap, timeout_ms);
}

int uvble_client_characteristic_descriptor(uvble_future_t *f,
                                           uvble_client_characteristic_t *ch,
                                           const uvble_uuid_t *uuid,
                                           uint32_t timeout_ms) {
  if (!ch || !uuid) return fut_fail(f, UVBLE_EINVAL);
  return discover(f, chr_conn(ch), GOP_DISC_DSC, ch, uuid, true, NULL, 0,
                  timeout_ms);
}

/* ---- subscribe ---------------------------------------------------------------------- */
static void subscribe_write(uvble_connection_t *c, uvble_future_t *f) {
  struct dreq *q = f->aux_;
  uvble_client_characteristic_t *ch = q->parent;
  f->len = 0; /* the descriptors counted on the way are not the result */
  f->truncated = false;
  if (!ch->cccd_) {
    fut_complete(f, UVBLE_ENOENT); /* aioble's "CCCD not found" */
    return;
  }
  uint8_t v[2] = {(uint8_t)q->cccd_value, (uint8_t)(q->cccd_value >> 8)};
  int r = uvble_gattc_write(c->a->ble, c->handle, ch->cccd_, v, 2,
                            UVBLE_GATTC_WRITE_WITH_RESPONSE);
  if (r == 0) {
    q->gop = gop_add(c, GOP_WRITE, ch->cccd_, f);
    if (!q->gop) r = UVBLE_ENOMEM; /* the write goes out unobserved */
  }
  if (r < 0) fut_complete(f, r == UVBLE_ENOTCONN ? UVBLE_EDISCONNECTED : r);
}

int uvble_client_characteristic_subscribe(uvble_future_t *f,
                                          uvble_client_characteristic_t *ch,
                                          bool notify, bool indicate,
                                          uint32_t timeout_ms) {
  if (!ch) return fut_fail(f, UVBLE_EINVAL);
  uvble_connection_t *c = chr_conn(ch);
  ch->registered_ = true;
  uint16_t value = (notify ? UVBLE_CCCD_NOTIFY : 0) |
                   (indicate ? UVBLE_CCCD_INDICATE : 0);
  if (ch->cccd_) {
    if (!c->connected) return fut_fail(f, UVBLE_ENOTCONN);
    struct dreq *q = calloc(1, sizeof *q);
    if (!q) return fut_fail(f, UVBLE_ENOMEM);
    int r = aio_begin(f, c->a, &disc_ops, c, timeout_ms);
    if (r < 0) {
      free(q);
      return r;
    }
    q->subscribe = true;
    q->parent = ch;
    q->cccd_value = value;
    f->aux_ = q;
    subscribe_write(c, f);
    return 0;
  }
  int r = discover(f, c, GOP_DISC_DSC, ch, NULL, false, NULL, 0, timeout_ms);
  if (r == 0) {
    struct dreq *q = f->aux_;
    q->subscribe = true;
    q->cccd_value = value;
  }
  return r;
}

/* ---- read and write --------------------------------------------------------------- */
static int start_read(uvble_future_t *f, uvble_connection_t *c, uint16_t h,
                      uint8_t *buf, size_t cap, uint32_t timeout_ms) {
  if (!c->connected) return fut_fail(f, UVBLE_ENOTCONN);
  int r = aio_begin(f, c->a, &rw_ops, c, timeout_ms);
  if (r < 0) return r;
  f->buf_ = buf;
  f->cap_ = buf ? cap : 0;
  r = uvble_gattc_read(c->a->ble, c->handle, h);
  if (r < 0) return fut_abort(f, r);
  if (!gop_add(c, GOP_READ, h, f)) return fut_abort(f, UVBLE_ENOMEM);
  return 0;
}

static int start_write(uvble_future_t *f, uvble_connection_t *c, uint16_t h,
                       const void *data, size_t len, bool response,
                       uint32_t timeout_ms) {
  if (!c->connected) return fut_fail(f, UVBLE_ENOTCONN);
  if (len && !data) return fut_fail(f, UVBLE_EINVAL);
  int r = aio_begin(f, c->a, &rw_ops, c, timeout_ms);
  if (r < 0) return r;
  r = uvble_gattc_write(c->a->ble, c->handle, h, data, len,
                        response ? UVBLE_GATTC_WRITE_WITH_RESPONSE
                                 : UVBLE_GATTC_WRITE_NO_RESPONSE);
  if (r < 0) return fut_abort(f, r);
  f->len = len;
  if (!response) {
    fut_complete(f, 0); /* handed to the link: nothing more will come */
    return 0;
  }
  if (!gop_add(c, GOP_WRITE, h, f)) return fut_abort(f, UVBLE_ENOMEM);
  return 0;
}

int uvble_client_characteristic_read(uvble_future_t *f,
                                     uvble_client_characteristic_t *ch,
                                     uint8_t *buf, size_t cap,
                                     uint32_t timeout_ms) {
  if (!ch || !(ch->properties & UVBLE_FLAG_READ))
    return fut_fail(f, UVBLE_EINVAL);
  ch->registered_ = true;
  return start_read(f, chr_conn(ch), ch->value_handle, buf, cap, timeout_ms);
}

int uvble_client_characteristic_write(uvble_future_t *f,
                                      uvble_client_characteristic_t *ch,
                                      const void *data, size_t len,
                                      int response, uint32_t timeout_ms) {
  if (!ch) return fut_fail(f, UVBLE_EINVAL);
  uint8_t p = ch->properties;
  if (!(p & (UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_NO_RESPONSE)))
    return fut_fail(f, UVBLE_EINVAL);
  if (response == UVBLE_WRITE_AUTO)
    response = (p & UVBLE_FLAG_WRITE) && !(p & UVBLE_FLAG_WRITE_NO_RESPONSE);
  ch->registered_ = true;
  return start_write(f, chr_conn(ch), ch->value_handle, data, len, response != 0,
                     timeout_ms);
}

int uvble_client_descriptor_read(uvble_future_t *f,
                                 uvble_client_descriptor_t *d, uint8_t *buf,
                                 size_t cap, uint32_t timeout_ms) {
  if (!d) return fut_fail(f, UVBLE_EINVAL);
  return start_read(f, chr_conn(d->characteristic), d->handle, buf, cap,
                    timeout_ms);
}

int uvble_client_descriptor_write(uvble_future_t *f,
                                  uvble_client_descriptor_t *d,
                                  const void *data, size_t len, int response,
                                  uint32_t timeout_ms) {
  if (!d) return fut_fail(f, UVBLE_EINVAL);
  return start_write(f, chr_conn(d->characteristic), d->handle, data, len,
                     response != 0, timeout_ms);
}

static void on_read_result(uvble_connection_t *c,
                           const uvble_evt_gattc_data_t *e) {
  struct gop *g = gop_peek(c, GOP_READ, e->value_handle);
  if (g && g->f) fut_set_bytes(g->f, e->data, e->data_len);
}

static void on_rw_done(uvble_connection_t *c, uint8_t kind,
                       const uvble_evt_gatt_status_t *e) {
  struct gop *g = gop_take(c, kind, e->value_handle);
  if (!g) return;
  uvble_future_t *f = g->f;
  free(g);
  if (!f) return;
  if (f->ops_ == &disc_ops) ((struct dreq *)f->aux_)->gop = NULL;
  aio_complete_att(f, e->status);
}

/* ---- notified / indicated -------------------------------------------------------- */
static const struct fut_ops notified_ops = {
    .name = "notified", .detach = fut_wait_detach, .ble = true};

static void deliver_value(uvble_future_t *f, qval_t *v) {
  fut_set_bytes(f, v->data, v->len);
  qval_free(v);
  fut_complete(f, 0);
}

static int wait_value(uvble_future_t *f, uvble_client_characteristic_t *ch,
                      bool indication, uint8_t *buf, size_t cap,
                      uint32_t timeout_ms) {
  if (!ch) return fut_fail(f, UVBLE_EINVAL);
  uint8_t need = indication ? UVBLE_FLAG_INDICATE : UVBLE_FLAG_NOTIFY;
  if (!(ch->properties & need)) return fut_fail(f, UVBLE_EINVAL);
  uvble_connection_t *c = chr_conn(ch);
  ch->registered_ = true;
  qval_t **q = indication ? &ch->indicate_q_ : &ch->notify_q_;
  size_t *qlen = indication ? &ch->indicate_len_ : &ch->notify_len_;
  if (!*q && !c->connected) return fut_fail(f, UVBLE_ENOTCONN);
  int r = aio_begin(f, c->a, &notified_ops, c, timeout_ms);
  if (r < 0) return r;
  f->buf_ = buf;
  f->cap_ = buf ? cap : 0;
  if (*q)
    deliver_value(f, qv_pop(q, qlen));
  else
    fut_list_push(indication ? &ch->indicate_waiters_ : &ch->notify_waiters_, f);
  return 0;
}

int uvble_client_characteristic_notified(uvble_future_t *f,
                                         uvble_client_characteristic_t *ch,
                                         uint8_t *buf, size_t cap,
                                         uint32_t timeout_ms) {
  return wait_value(f, ch, false, buf, cap, timeout_ms);
}

int uvble_client_characteristic_indicated(uvble_future_t *f,
                                          uvble_client_characteristic_t *ch,
                                          uint8_t *buf, size_t cap,
                                          uint32_t timeout_ms) {
  return wait_value(f, ch, true, buf, cap, timeout_ms);
}

static void trim(qval_t **q, size_t *len, size_t depth, uvble_async_t *a) {
  while (*len > depth) {
    qval_free(qv_pop(q, len));
    a->stats.notify_dropped++;
  }
}

int uvble_client_characteristic_set_queue(uvble_client_characteristic_t *ch,
                                          size_t depth) {
  if (!ch || depth == 0) return UVBLE_EINVAL;
  uvble_async_t *a = chr_conn(ch)->a;
  ch->depth_ = depth;
  trim(&ch->notify_q_, &ch->notify_len_, depth, a);
  trim(&ch->indicate_q_, &ch->indicate_len_, depth, a);
  return 0;
}

static void on_value(uvble_connection_t *c, bool indication,
                     const uvble_evt_gattc_data_t *e) {
  uvble_client_characteristic_t *ch = chr_by_handle(c, e->value_handle);
  if (!ch || !ch->registered_) return;
  uvble_future_t **w = indication ? &ch->indicate_waiters_ : &ch->notify_waiters_;
  qval_t *v = qval_new(e->data, e->data_len);
  if (!v) {
    c->a->stats.notify_dropped++;
    return;
  }
  if (*w) {
    deliver_value(fut_list_pop(w), v);
    return;
  }
  qval_t **q = indication ? &ch->indicate_q_ : &ch->notify_q_;
  size_t *qlen = indication ? &ch->indicate_len_ : &ch->notify_len_;
  qv_push(q, qlen, v);
  trim(q, qlen, ch->depth_, c->a);
}

/* ---- events and teardown ------------------------------------------------------------ */
void aio_client_on_event(uvble_async_t *a, int event, const uvble_irq_data_t *d) {
  /* Every GATTC payload starts with the connection handle. */
  uvble_connection_t *c = aio_conn_find(a, d->done.conn_handle);
  if (!c) return;
  switch (event) {
    case UVBLE_IRQ_GATTC_SERVICE_RESULT:
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT:
    case UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT:
      on_disc_result(c, event, d);
      break;
    case UVBLE_IRQ_GATTC_SERVICE_DONE:
      disc_done(c, GOP_DISC_SVC, d->done.status);
      break;
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE:
      disc_done(c, GOP_DISC_CHR, d->done.status);
      break;
    case UVBLE_IRQ_GATTC_DESCRIPTOR_DONE:
      disc_done(c, GOP_DISC_DSC, d->done.status);
      break;
    case UVBLE_IRQ_GATTC_READ_RESULT:
      on_read_result(c, &d->gattc_data);
      break;
    case UVBLE_IRQ_GATTC_READ_DONE:
      on_rw_done(c, GOP_READ, &d->gatt_status);
      break;
    case UVBLE_IRQ_GATTC_WRITE_DONE:
      on_rw_done(c, GOP_WRITE, &d->gatt_status);
      break;
    case UVBLE_IRQ_GATTC_NOTIFY:
      on_value(c, false, &d->gattc_data);
      break;
    case UVBLE_IRQ_GATTC_INDICATE:
      on_value(c, true, &d->gattc_data);
      break;
    default:
      break;
  }
}

void aio_client_conn_down(uvble_connection_t *c, int status) {
  while (c->gops) {
    struct gop *g = c->gops;
    c->gops = g->next;
    if (g->f) {
      if (g->f->ops_ == &disc_ops) ((struct dreq *)g->f->aux_)->gop = NULL;
      fut_complete(g->f, status);
    }
    free(g);
  }
  c->gops_tail = NULL;
  c->ngops = 0;
  c->disc_busy = false;
  fut_list_complete_all(&c->disc_q, status);
  for (uvble_client_service_t *s = c->services; s; s = s->next_)
    for (uvble_client_characteristic_t *ch = s->chars_; ch; ch = ch->next_) {
      fut_list_complete_all(&ch->notify_waiters_, status);
      fut_list_complete_all(&ch->indicate_waiters_, status);
    }
}

void aio_client_free(uvble_connection_t *c) {
  aio_client_conn_down(c, UVBLE_ECANCELED);
  uvble_client_service_t *s = c->services;
  while (s) {
    uvble_client_service_t *sn = s->next_;
    uvble_client_characteristic_t *ch = s->chars_;
    while (ch) {
      uvble_client_characteristic_t *cn = ch->next_;
      uvble_client_descriptor_t *d = ch->descs_;
      while (d) {
        uvble_client_descriptor_t *dn = d->next_;
        free(d);
        d = dn;
      }
      qv_clear(&ch->notify_q_, &ch->notify_len_);
      qv_clear(&ch->indicate_q_, &ch->indicate_len_);
      free(ch);
      ch = cn;
    }
    free(s);
    s = sn;
  }
  c->services = NULL;
}
