/* SPDX-License-Identifier: Apache-2.0 */
/* GATT server objects (aioble's server module): services, characteristics
 * and descriptors with written() (plain or capturing), on_read hooks,
 * notify and awaitable indicate. */
#include <stdlib.h>
#include <string.h>

#include "async_internal.h"
#include "uvble/gatts.h"

#define WRITABLE (UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_NO_RESPONSE)

/* ---- finding attributes --------------------------------------------------------- */
static struct sattr *attr_by_handle(uvble_async_t *a, uint16_t h) {
  if (!h) return NULL;
  for (uvble_service_t *s = a->services; s; s = s->next) {
    if (!s->registered) continue;
    for (uvble_characteristic_t *c = s->chars; c; c = c->next) {
      if (c->base.handle == h) return &c->base;
      for (uvble_descriptor_t *d = c->descs; d; d = d->next)
        if (d->base.handle == h) return &d->base;
    }
  }
  return NULL;
}

/* ---- written() ---------------------------------------------------------------------- */
static void release_conn(void *aux) {
  if (aux) aio_conn_unref(aux);
}

static const struct fut_ops written_ops = {.name = "written",
                                           .detach = fut_wait_detach,
                                           .release = release_conn,
                                           .ble = true};

/* Hands a captured write to f: the entry's connection reference moves to
 * the future (dropped after its callback ran). */
static void deliver_capture(uvble_future_t *f, qval_t *v) {
  fut_set_bytes(f, v->data, v->len);
  f->result.conn = v->conn;
  f->aux_ = v->conn;
  v->conn = NULL;
  v->attr->captured--;
  qval_free(v);
  fut_complete(f, 0);
}

/* aioble forwards captured writes one by one in global arrival order: the
 * oldest goes first, and only to its own attribute's written(). */
static void pump_capture(uvble_async_t *a) {
  while (a->cap_tail) {
    qval_t *head = a->cap_tail->next;
    struct sattr *at = head->attr;
    if (!at->written_waiters) return;
    uvble_future_t *f = fut_list_pop(&at->written_waiters);
    deliver_capture(f, qv_pop(&a->cap_tail, &a->cap_len));
  }
}

static void deliver_plain(uvble_future_t *f, struct sattr *at) {
  f->result.conn = at->last_writer;
  f->aux_ = at->last_writer;
  at->last_writer = NULL;
  at->write_seen = false;
  fut_complete(f, 0);
}

static int written(uvble_future_t *f, struct sattr *at, uint8_t *buf,
                   size_t cap, uint32_t timeout_ms) {
  if (!at) return fut_fail(f, UVBLE_EINVAL);
  if (!(at->flags & WRITABLE)) return fut_fail(f, UVBLE_EINVAL);
  uvble_async_t *a = at->a;
  int r = aio_begin(f, a, &written_ops, at, timeout_ms);
  if (r < 0) return r;
  f->buf_ = buf;
  f->cap_ = buf ? cap : 0;
  fut_list_push(&at->written_waiters, f);
  if (at->capture)
    pump_capture(a);
  else if (at->write_seen)
    deliver_plain(fut_list_pop(&at->written_waiters), at);
  return 0;
}

int uvble_characteristic_written(uvble_future_t *f, uvble_characteristic_t *c,
                                 uint8_t *buf, size_t cap,
                                 uint32_t timeout_ms) {
  return written(f, c ? &c->base : NULL, buf, cap, timeout_ms);
}

int uvble_descriptor_written(uvble_future_t *f, uvble_descriptor_t *d,
                             uint8_t *buf, size_t cap, uint32_t timeout_ms) {
  return written(f, d ? &d->base : NULL, buf, cap, timeout_ms);
}

void aio_server_on_write(uvble_async_t *a, const uvble_evt_gatts_access_t *e) {
  struct sattr *at = attr_by_handle(a, e->attr_handle);
  if (!at) return;
  uvble_connection_t *conn = aio_conn_find(a, e->conn_handle);
  if (at->capture) {
    /* Snapshot now, as aioble: later writes must not show through. */
    uint8_t tmp[UVBLE_GATT_MAX_ATTR_LEN];
    size_t n = 0;
    if (uvble_gatts_read(a->ble, at->handle, tmp, sizeof tmp, &n) < 0) n = 0;
    qval_t *v = qval_new(tmp, n);
    if (!v) {
      a->stats.capture_overflow++;
      return;
    }
    v->conn = uvble_connection_ref(conn);
    v->attr = at;
    at->captured++;
    qv_push(&a->cap_tail, &a->cap_len, v);
    if (a->cap_len > a->cfg.capture_depth) {
      qval_t *old = qv_pop(&a->cap_tail, &a->cap_len);
      old->attr->captured--;
      qval_free(old);
      a->stats.capture_overflow++;
    }
    pump_capture(a);
    return;
  }
  if (at->last_writer) aio_conn_unref(at->last_writer);
  at->last_writer = uvble_connection_ref(conn);
  at->write_seen = true;
  if (at->written_waiters) deliver_plain(fut_list_pop(&at->written_waiters), at);
}

bool aio_server_on_read(uvble_async_t *a, const uvble_evt_gatts_access_t *e,
                    int *ret) {
  struct sattr *at = attr_by_handle(a, e->attr_handle);
  if (!at || !at->on_read) return false;
  *ret = at->on_read(at, aio_conn_find(a, e->conn_handle), at->on_read_arg);
  return true;
}

void uvble_characteristic_on_read(uvble_characteristic_t *c,
                                  uvble_attr_read_cb cb, void *arg) {
  c->base.on_read = cb;
  c->base.on_read_arg = arg;
}

void uvble_descriptor_on_read(uvble_descriptor_t *d, uvble_attr_read_cb cb,
                              void *arg) {
  d->base.on_read = cb;
  d->base.on_read_arg = arg;
}

void uvble_characteristic_on_write(uvble_characteristic_t *c,
                                   uvble_attr_write_cb cb, void *arg) {
  c->base.on_write = cb;
  c->base.on_write_arg = arg;
}

void uvble_descriptor_on_write(uvble_descriptor_t *d, uvble_attr_write_cb cb,
                               void *arg) {
  d->base.on_write = cb;
  d->base.on_write_arg = arg;
}

int aio_server_authorize(uvble_t *ble, uint16_t conn_handle,
                         uint16_t attr_handle, const uint8_t *data, size_t len,
                         void *arg) {
  (void)ble;
  uvble_async_t *a = arg;
  struct sattr *at = attr_by_handle(a, attr_handle);
  /* As the core without an authorizer: WRITE_AUTHORIZED and nobody to ask
   * is a refusal. */
  if (!at || !at->on_write)
    return UVBLE_ATT_ERR_INSUFFICIENT_AUTHORIZATION;
  return at->on_write(at, aio_conn_find(a, conn_handle), data, len,
                      at->on_write_arg);
}

/* ---- indications -------------------------------------------------------------------- */
/* Each indicate() is one core request (uvble_gatts_indicate_req); the
 * connection lists the live ones only to refuse a second one per
 * characteristic (aioble's rule). */
static void ind_unlink(struct ind *e) {
  uvble_connection_t *c = e->conn;
  if (!c) return;
  for (struct ind **p = &c->inds; *p; p = &(*p)->next) {
    if (*p == e) {
      *p = e->next;
      break;
    }
  }
  e->conn = NULL;
  e->next = NULL;
}

static void ind_detach(uvble_future_t *f, int status) {
  (void)status;
  struct ind *e = f->aux_;
  f->aux_ = NULL;
  e->f = NULL;
  ind_unlink(e);
  uvble_cancel(&e->req); /* the confirmation is the core's to swallow */
}

static const struct fut_ops indicate_ops = {
    .name = "indicate", .detach = ind_detach, .ble = true};

static void on_indicated(uvble_req_t *req, int status,
                         const uvble_irq_data_t *d, void *arg) {
  (void)req;
  struct ind *e = arg;
  uvble_future_t *f = e->f;
  ind_unlink(e);
  free(e);
  if (!f) return;
  uvble_async_t *a = ((struct sattr *)f->owner_)->a;
  f->aux_ = NULL;
  aio_complete_att(f, status);
  aio_chain_irq(a, UVBLE_IRQ_GATTS_INDICATE_DONE, d);
}

int uvble_characteristic_indicate(uvble_future_t *f, uvble_characteristic_t *c,
                                  uvble_connection_t *conn, const void *data,
                                  size_t len, uint32_t timeout_ms) {
  if (!c || !conn) return fut_fail(f, UVBLE_EINVAL);
  if (!(c->base.flags & UVBLE_FLAG_INDICATE) || !c->base.handle)
    return fut_fail(f, UVBLE_EINVAL);
  if (!conn->connected) return fut_fail(f, UVBLE_ENOTCONN);
  for (struct ind *e = conn->inds; e; e = e->next)
    if (e->handle == c->base.handle) return fut_fail(f, UVBLE_EBUSY);
  struct ind *e = calloc(1, sizeof *e);
  if (!e) return fut_fail(f, UVBLE_ENOMEM);
  int r = aio_begin(f, c->base.a, &indicate_ops, &c->base, timeout_ms);
  if (r < 0) {
    free(e);
    return r;
  }
  uvble_req_init(&e->req, on_indicated, e);
  r = uvble_gatts_indicate_req(&e->req, c->base.a->ble, conn->handle,
                               c->base.handle, data, len);
  if (r < 0) {
    free(e);
    return fut_abort(f, r);
  }
  e->handle = c->base.handle;
  e->f = f;
  e->conn = conn;
  e->next = conn->inds;
  conn->inds = e;
  f->aux_ = e;
  return 0;
}

/* The core ended the link's indications (EDISCONNECTED) before its
 * DISCONNECT event: only the notify_wait()s are left. */
void aio_server_conn_down(uvble_connection_t *c, int status) {
  while (c->inds) ind_unlink(c->inds); /* (conn_destroy, when closing) */
  fut_list_complete_all(&c->notify_waiters, status);
}

int uvble_characteristic_notify(uvble_characteristic_t *c,
                                uvble_connection_t *conn, const void *data,
                                size_t len) {
  if (!c || !conn) return UVBLE_EINVAL;
  if (!(c->base.flags & UVBLE_FLAG_NOTIFY) || !c->base.handle)
    return UVBLE_EINVAL;
  if (!conn->connected) return UVBLE_ENOTCONN;
  return uvble_gatts_notify(c->base.a->ble, conn->handle, c->base.handle, data,
                            len);
}

int uvble_characteristic_subscription(const uvble_characteristic_t *c,
                                      const uvble_connection_t *conn) {
  if (!c || !conn || !c->base.handle) return UVBLE_EINVAL;
  if (!conn->connected) return UVBLE_ENOTCONN;
  return uvble_gatts_subscription(c->base.a->ble, conn->handle, c->base.handle);
}

/* ---- notifications with flow control ---------------------------------------------- */
static void notify_wait_detach(uvble_future_t *f, int status) {
  (void)status;
  fut_unwait(f);
}

static const struct fut_ops notify_wait_ops = {
    .name = "notify_wait", .detach = notify_wait_detach, .ble = true};

/* One try: 0 sent, 1 the queue is full, < 0 an error. */
static int notify_try(uvble_future_t *f, uvble_connection_t *conn) {
  uvble_characteristic_t *c = f->owner_;
  int r = uvble_gatts_notify(c->base.a->ble, conn->handle, c->base.handle,
                             f->buf_, f->cap_);
  return r == UVBLE_ENOBUFS ? 1 : r;
}

int uvble_characteristic_notify_wait(uvble_future_t *f,
                                     uvble_characteristic_t *c,
                                     uvble_connection_t *conn,
                                     const void *data, size_t len,
                                     uint32_t timeout_ms) {
  if (!c || !conn) return fut_fail(f, UVBLE_EINVAL);
  if (!(c->base.flags & UVBLE_FLAG_NOTIFY) || !c->base.handle)
    return fut_fail(f, UVBLE_EINVAL);
  if (!conn->connected) return fut_fail(f, UVBLE_ENOTCONN);
  int r = aio_begin(f, c->base.a, &notify_wait_ops, &c->base, timeout_ms);
  if (r < 0) return r;
  f->buf_ = (uint8_t *)(uintptr_t)data;
  f->cap_ = data ? len : 0;
  f->aux_ = conn;
  /* Behind notifications already waiting on this link: order is kept. */
  r = conn->notify_waiters ? 1 : notify_try(f, conn);
  if (r < 0) return fut_abort(f, r);
  if (r == 0)
    fut_complete(f, 0);
  else
    fut_list_push(&conn->notify_waiters, f);
  return 0;
}

void aio_server_on_tx_ready(uvble_t *ble, uint16_t conn_handle, void *arg) {
  (void)ble;
  uvble_async_t *a = arg;
  uvble_connection_t *conn = aio_conn_find(a, conn_handle);
  if (!conn) return;
  while (conn->notify_waiters) {
    uvble_future_t *f = conn->notify_waiters;
    int r = notify_try(f, conn);
    if (r == 1) return; /* full again: the next tx_ready resumes */
    fut_list_remove(&conn->notify_waiters, f);
    fut_complete(f, r);
  }
}

/* ---- values ---------------------------------------------------------------------- */
static int attr_read(struct sattr *at, uint8_t *buf, size_t cap) {
  if (!at->handle) {
    size_t n = at->initial_len < cap ? at->initial_len : cap;
    if (n) memcpy(buf, at->initial, n);
    return (int)at->initial_len;
  }
  uint8_t tmp[UVBLE_GATT_MAX_ATTR_LEN];
  size_t len = 0;
  int r = uvble_gatts_read(at->a->ble, at->handle, tmp, sizeof tmp, &len);
  if (r < 0) return r;
  size_t n = len < cap ? len : cap;
  if (n) memcpy(buf, tmp, n);
  return (int)len;
}

static int attr_write(struct sattr *at, const void *data, size_t len,
                      bool send_update) {
  if (len && !data) return UVBLE_EINVAL;
  if (at->handle)
    return uvble_gatts_write(at->a->ble, at->handle, data, len, send_update);
  if (len > UVBLE_GATT_MAX_ATTR_LEN) return UVBLE_EMSGSIZE;
  uint8_t *v = malloc(len ? len : 1);
  if (!v) return UVBLE_ENOMEM;
  if (len) memcpy(v, data, len);
  free(at->initial);
  at->initial = v;
  at->initial_len = len;
  return 0;
}

int uvble_characteristic_read(uvble_characteristic_t *c, uint8_t *buf,
                              size_t cap) {
  return c ? attr_read(&c->base, buf, cap) : UVBLE_EINVAL;
}
int uvble_characteristic_write(uvble_characteristic_t *c, const void *data,
                               size_t len, bool send_update) {
  return c ? attr_write(&c->base, data, len, send_update) : UVBLE_EINVAL;
}
int uvble_descriptor_read(uvble_descriptor_t *d, uint8_t *buf, size_t cap) {
  return d ? attr_read(&d->base, buf, cap) : UVBLE_EINVAL;
}
int uvble_descriptor_write(uvble_descriptor_t *d, const void *data,
                           size_t len) {
  return d ? attr_write(&d->base, data, len, false) : UVBLE_EINVAL;
}
uint16_t uvble_characteristic_handle(const uvble_characteristic_t *c) {
  return c->base.handle;
}
uint16_t uvble_descriptor_handle(const uvble_descriptor_t *d) {
  return d->base.handle;
}

/* ---- making objects ------------------------------------------------------------------ */
static int attr_init(struct sattr *at, uvble_async_t *a,
                     const uvble_uuid_t *uuid, uint16_t flags,
                     const void *initial, size_t initial_len, bool capture) {
  at->a = a;
  at->uuid = *uuid;
  at->flags = flags;
  at->capture = capture && (flags & WRITABLE);
  if (initial || initial_len) return attr_write(at, initial, initial_len, false);
  return 0;
}

int uvble_service_new(uvble_async_t *a, const uvble_uuid_t *uuid,
                      uvble_service_t **out) {
  if (!a || !uuid || !out) return UVBLE_EINVAL;
  if (a->closing) return UVBLE_ECLOSING;
  uvble_service_t *s = calloc(1, sizeof *s);
  if (!s) return UVBLE_ENOMEM;
  s->a = a;
  s->uuid = *uuid;
  s->next = a->services;
  if (a->services) a->services->prev = s;
  a->services = s;
  *out = s;
  return 0;
}

int uvble_characteristic_new(uvble_service_t *svc, const uvble_uuid_t *uuid,
                             const uvble_characteristic_opts_t *o,
                             uvble_characteristic_t **out) {
  if (!svc || !uuid || !o || !out) return UVBLE_EINVAL;
  if (o->max_len > UVBLE_GATT_MAX_ATTR_LEN) return UVBLE_EINVAL;
  uvble_characteristic_t *c = calloc(1, sizeof *c);
  if (!c) return UVBLE_ENOMEM;
  int r = attr_init(&c->base, svc->a, uuid, o->flags, o->initial,
                    o->initial_len, o->capture);
  if (r < 0) {
    free(c);
    return r;
  }
  c->svc = svc;
  c->max_len = o->max_len;
  c->append = o->append;
  c->buffered = o->max_len > 0 || o->append;
  /* Declaration order is registration order: append. */
  uvble_characteristic_t **p = &svc->chars;
  while (*p) p = &(*p)->next;
  *p = c;
  *out = c;
  return 0;
}

int uvble_descriptor_new(uvble_characteristic_t *chr, const uvble_uuid_t *uuid,
                         uint16_t flags, const void *initial,
                         size_t initial_len, bool capture,
                         uvble_descriptor_t **out) {
  if (!chr || !uuid || !out) return UVBLE_EINVAL;
  uvble_descriptor_t *d = calloc(1, sizeof *d);
  if (!d) return UVBLE_ENOMEM;
  int r = attr_init(&d->base, chr->base.a, uuid, flags, initial, initial_len,
                    capture);
  if (r < 0) {
    free(d);
    return r;
  }
  d->base.is_descriptor = true;
  d->chr = chr;
  uvble_descriptor_t **p = &chr->descs;
  while (*p) p = &(*p)->next;
  *p = d;
  *out = d;
  return 0;
}

/* ---- registration ------------------------------------------------------------------ */
struct reg_arrays {
  uvble_gatts_service_t *svcs;
  uvble_gatts_characteristic_t *chars;
  uvble_gatts_descriptor_t *descs;
  uint16_t *handles;
  size_t nhandles;
};

static int build_arrays(uvble_service_t *const *svcs, size_t n,
                        struct reg_arrays *ra) {
  size_t nc = 0, nd = 0;
  for (size_t i = 0; i < n; i++)
    for (uvble_characteristic_t *c = svcs[i]->chars; c; c = c->next) {
      nc++;
      for (uvble_descriptor_t *d = c->descs; d; d = d->next) nd++;
    }
  ra->svcs = calloc(n ? n : 1, sizeof *ra->svcs);
  ra->chars = calloc(nc ? nc : 1, sizeof *ra->chars);
  ra->descs = calloc(nd ? nd : 1, sizeof *ra->descs);
  ra->nhandles = nc + nd;
  ra->handles = calloc(ra->nhandles ? ra->nhandles : 1, sizeof *ra->handles);
  if (!ra->svcs || !ra->chars || !ra->descs || !ra->handles) return UVBLE_ENOMEM;
  size_t ci = 0, di = 0;
  for (size_t i = 0; i < n; i++) {
    ra->svcs[i].uuid = svcs[i]->uuid;
    ra->svcs[i].characteristics = &ra->chars[ci];
    for (uvble_characteristic_t *c = svcs[i]->chars; c; c = c->next) {
      uvble_gatts_characteristic_t *gc = &ra->chars[ci++];
      gc->uuid = c->base.uuid;
      gc->flags = c->base.flags;
      gc->descriptors = &ra->descs[di];
      for (uvble_descriptor_t *d = c->descs; d; d = d->next) {
        ra->descs[di].uuid = d->base.uuid;
        ra->descs[di].flags = d->base.flags;
        di++;
        gc->num_descriptors++;
      }
      ra->svcs[i].num_characteristics++;
    }
  }
  return 0;
}

/* The initial value is kept for the object's life: registering the same
 * objects again (after a stop and start, aioble's ble_reregister) starts
 * from it again, as the stack's database was replaced. */
static void attr_registered(struct sattr *at, uint16_t handle) {
  at->handle = handle;
  if (at->initial)
    uvble_gatts_write(at->a->ble, handle, at->initial, at->initial_len, false);
}

int uvble_register_services(uvble_async_t *a, uvble_service_t *const *svcs,
                            size_t n) {
  if (!a || (n && !svcs)) return UVBLE_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!svcs[i] || svcs[i]->a != a) return UVBLE_EINVAL;
  struct reg_arrays ra = {0};
  int r = build_arrays(svcs, n, &ra);
  if (r == 0)
    r = uvble_gatts_register_services(a->ble, ra.svcs, n, ra.handles,
                                      ra.nhandles);
  if (r >= 0) {
    /* The registration replaced every earlier one. */
    for (uvble_service_t *s = a->services; s; s = s->next) {
      s->registered = false;
      for (uvble_characteristic_t *c = s->chars; c; c = c->next) {
        c->base.handle = 0;
        for (uvble_descriptor_t *d = c->descs; d; d = d->next)
          d->base.handle = 0;
      }
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
      svcs[i]->registered = true;
      for (uvble_characteristic_t *c = svcs[i]->chars; c; c = c->next) {
        uint16_t h = ra.handles[k++];
        /* The buffer first: set_buffer empties it, and the initial value
         * must survive (aioble loses it for BufferedCharacteristic). */
        if (c->buffered)
          uvble_gatts_set_buffer(a->ble, h,
                                 c->max_len ? c->max_len
                                            : UVBLE_GATTS_DEFAULT_BUFFER,
                                 c->append);
        attr_registered(&c->base, h);
        for (uvble_descriptor_t *d = c->descs; d; d = d->next)
          attr_registered(&d->base, ra.handles[k++]);
      }
    }
    r = 0;
  }
  free(ra.svcs);
  free(ra.chars);
  free(ra.descs);
  free(ra.handles);
  return r;
}

/* ---- stopping and freeing ---------------------------------------------------------- */
static void attr_stop(struct sattr *at, int status) {
  uvble_future_t *f;
  while ((f = fut_list_pop(&at->written_waiters)) != NULL)
    fut_complete(f, status);
  if (at->last_writer) aio_conn_unref(at->last_writer);
  at->last_writer = NULL;
  at->write_seen = false;
}

/* Drops the capture entries of at (all when at is NULL). */
static void capture_drop(uvble_async_t *a, struct sattr *at) {
  size_t n = a->cap_len;
  for (size_t i = 0; i < n; i++) {
    qval_t *v = qv_pop(&a->cap_tail, &a->cap_len);
    if (!at || v->attr == at) {
      v->attr->captured--;
      qval_free(v);
    } else {
      qv_push(&a->cap_tail, &a->cap_len, v);
    }
  }
}

void aio_server_stop(uvble_async_t *a, int status) {
  capture_drop(a, NULL);
  for (uvble_service_t *s = a->services; s; s = s->next)
    for (uvble_characteristic_t *c = s->chars; c; c = c->next) {
      attr_stop(&c->base, status);
      for (uvble_descriptor_t *d = c->descs; d; d = d->next)
        attr_stop(&d->base, status);
    }
}

/* Ends the indications c still waits for, on every connection. */
static void chr_indications_end(uvble_characteristic_t *c) {
  if (!c->base.handle) return;
  for (uvble_connection_t *conn = c->base.a->conns; conn; conn = conn->next)
    for (struct ind *e = conn->inds; e; e = e->next)
      if (e->handle == c->base.handle && e->f) fut_end(e->f, UVBLE_ECANCELED);
}

static void attr_free(struct sattr *at) {
  attr_stop(at, UVBLE_ECANCELED);
  capture_drop(at->a, at);
  free(at->initial);
}

void uvble_service_free(uvble_service_t *s) {
  if (!s) return;
  uvble_async_t *a = s->a;
  uvble_characteristic_t *c = s->chars;
  while (c) {
    uvble_characteristic_t *cn = c->next;
    chr_indications_end(c);
    uvble_descriptor_t *d = c->descs;
    while (d) {
      uvble_descriptor_t *dn = d->next;
      attr_free(&d->base);
      free(d);
      d = dn;
    }
    attr_free(&c->base);
    free(c);
    c = cn;
  }
  if (s->prev)
    s->prev->next = s->next;
  else
    a->services = s->next;
  if (s->next) s->next->prev = s->prev;
  free(s);
}

void aio_server_free_all(uvble_async_t *a) {
  while (a->services) uvble_service_free(a->services);
  capture_drop(a, NULL);
}
