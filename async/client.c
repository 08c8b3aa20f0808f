/* SPDX-License-Identifier: Apache-2.0 */
/* GATT client objects (aioble's client module): discovery, read, write,
 * notified/indicated with bounded queues, subscribe.
 *
 * Each operation hands the core one request (uvble/req.h) that carries its
 * results straight back: no queue mirrors the core's, and nothing has to
 * guess which event belongs to whom. A future that ends early (timeout,
 * cancel) cancels its request; the request's memory (struct gop) lives
 * until the core has completed it, and its callback then frees it. */
#include <stdlib.h>
#include <string.h>

#include "async_internal.h"
#include "uvble/gattc.h"

/* ---- one core request per operation ------------------------------------------ */
enum { GOP_READ = 1, GOP_WRITE, GOP_DISC_SVC, GOP_DISC_CHR, GOP_DISC_DSC };

struct gop {
  uvble_req_t req;
  uvble_future_t *f; /* NULL once the future ended early */
  uvble_connection_t *c;
  uint8_t kind;      /* GOP_* */
  /* discoveries */
  bool single;       /* the first match is the result */
  bool has_uuid;
  uvble_uuid_t uuid;
  void *parent;      /* connection, client service or client characteristic */
  void **out;
  size_t cap;
  /* subscribe: the CCCD write that follows the descriptor discovery */
  bool subscribe;
  uint16_t cccd_value;
};

static void gop_done(uvble_req_t *req, int status, const uvble_irq_data_t *d,
                     void *arg);
static void gop_result(uvble_req_t *req, int event, const uvble_irq_data_t *d,
                       void *arg);

static struct gop *gop_new(uvble_connection_t *c, uint8_t kind) {
  struct gop *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  uvble_req_init(&q->req, gop_done, q);
  uvble_req_on_result(&q->req, gop_result);
  q->c = c;
  q->kind = kind;
  return q;
}

/* The future ends early: its request is cancelled (the core swallows what
 * the server still sends) and freed when the core completes it. */
static void gop_detach(uvble_future_t *f, int status) {
  (void)status;
  struct gop *q = f->aux_;
  f->aux_ = NULL;
  q->f = NULL;
  uvble_cancel(&q->req);
}

static const struct fut_ops gop_ops = {
    .name = "gattc", .detach = gop_detach, .ble = true};

/* Ties q to f once the core took the request; frees q when it did not. */
static int gop_started(uvble_future_t *f, struct gop *q, int r) {
  if (r < 0) {
    free(q);
    return fut_abort(f, r);
  }
  q->f = f;
  f->aux_ = q;
  return 0;
}

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
static int disc_issue(struct gop *q) {
  uvble_connection_t *c = q->c;
  uvble_t *ble = c->a->ble;
  const uvble_uuid_t *u = q->has_uuid ? &q->uuid : NULL;
  if (q->kind == GOP_DISC_SVC)
    return uvble_gattc_discover_services_req(&q->req, ble, c->handle, u);
  if (q->kind == GOP_DISC_CHR) {
    uvble_client_service_t *s = q->parent;
    return uvble_gattc_discover_characteristics_req(
        &q->req, ble, c->handle, s->start_handle, s->end_handle, u);
  }
  uvble_client_characteristic_t *ch = q->parent;
  return uvble_gattc_discover_descriptors_req(&q->req, ble, c->handle,
                                              ch->value_handle, ch->end_handle);
}

/* Starts discovery f of kind; the core queues discoveries that carry a
 * request like any other operation. */
static int discover(uvble_future_t *f, uvble_connection_t *c, uint8_t kind,
                    void *parent, const uvble_uuid_t *uuid, bool single,
                    void **out, size_t cap, uint32_t timeout_ms) {
  if (!c->connected) return fut_fail(f, UVBLE_ENOTCONN);
  struct gop *q = gop_new(c, kind);
  if (!q) return fut_fail(f, UVBLE_ENOMEM);
  int r = aio_begin(f, c->a, &gop_ops, c, timeout_ms);
  if (r < 0) {
    free(q);
    return r;
  }
  q->parent = parent;
  q->single = single;
  q->out = out;
  q->cap = out ? cap : 0;
  if (uuid) {
    q->has_uuid = true;
    q->uuid = *uuid;
  }
  return gop_started(f, q, disc_issue(q));
}

/* One discovered object for f. */
static void disc_found(uvble_future_t *f, struct gop *q, void *obj,
                       const uvble_uuid_t *uuid) {
  if (!obj) return;
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

/* Discovery results and a read's value, as the core hands them over. */
static void gop_result(uvble_req_t *req, int event, const uvble_irq_data_t *d,
                       void *arg) {
  (void)req;
  struct gop *q = arg;
  uvble_future_t *f = q->f;
  if (!f) return;
  uvble_connection_t *c = q->c;
  if (event == UVBLE_IRQ_GATTC_SERVICE_RESULT) {
    const uvble_evt_service_result_t *e = &d->service;
    disc_found(f, q, svc_get(c, e->start_handle, e->end_handle, &e->uuid),
               &e->uuid);
  } else if (event == UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT) {
    const uvble_evt_characteristic_result_t *e = &d->characteristic;
    disc_found(f, q, chr_get(q->parent, e), &e->uuid);
  } else if (event == UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT) {
    const uvble_evt_descriptor_result_t *e = &d->descriptor;
    disc_found(f, q, dsc_get(q->parent, e->dsc_handle, &e->uuid), &e->uuid);
  } else if (event == UVBLE_IRQ_GATTC_READ_RESULT) {
    fut_set_bytes(f, d->gattc_data.data, d->gattc_data.data_len);
  }
}

static bool subscribe_write(struct gop *q);

/* The core completed the request: the future (if still waiting) ends with
 * its status; then the request's memory goes, unless it carries on. */
static void gop_done(uvble_req_t *req, int status, const uvble_irq_data_t *d,
                     void *arg) {
  (void)req;
  (void)d;
  struct gop *q = arg;
  uvble_future_t *f = q->f;
  if (f && status == 0 && q->kind == GOP_DISC_DSC && q->subscribe &&
      subscribe_write(q))
    return; /* the same request goes on as the CCCD write */
  if (f) {
    f->aux_ = NULL;
    if (status != 0)
      aio_complete_att(f, status);
    else if (q->single && !f->result.ptr)
      fut_complete(f, UVBLE_ENOENT);
    else
      fut_complete(f, 0);
  }
  free(q);
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
/* Writes the CCCD of q's characteristic with q's request. 0: started. */
static int cccd_write(struct gop *q) {
  uvble_client_characteristic_t *ch = q->parent;
  uvble_connection_t *c = q->c;
  if (!ch->cccd_) return UVBLE_ENOENT; /* aioble's "CCCD not found" */
  uint8_t v[2] = {(uint8_t)q->cccd_value, (uint8_t)(q->cccd_value >> 8)};
  q->kind = GOP_WRITE;
  return uvble_gattc_write_req(&q->req, c->a->ble, c->handle, ch->cccd_, v, 2,
                               UVBLE_GATTC_WRITE_WITH_RESPONSE);
}

/* The descriptors are known: on to the CCCD write (from the completion of
 * the discovery, with the same request). False when it could not start:
 * the future then ends with why. */
static bool subscribe_write(struct gop *q) {
  uvble_future_t *f = q->f;
  f->len = 0; /* the descriptors counted on the way are not the result */
  f->truncated = false;
  int r = cccd_write(q);
  if (r == 0) return true;
  f->aux_ = NULL;
  fut_complete(f, r == UVBLE_ENOTCONN ? UVBLE_EDISCONNECTED : r);
  q->f = NULL;
  return false;
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
    struct gop *q = gop_new(c, GOP_WRITE);
    if (!q) return fut_fail(f, UVBLE_ENOMEM);
    int r = aio_begin(f, c->a, &gop_ops, c, timeout_ms);
    if (r < 0) {
      free(q);
      return r;
    }
    q->parent = ch;
    q->cccd_value = value;
    return gop_started(f, q, cccd_write(q));
  }
  int r = discover(f, c, GOP_DISC_DSC, ch, NULL, false, NULL, 0, timeout_ms);
  if (r == 0) {
    struct gop *q = f->aux_;
    q->subscribe = true;
    q->cccd_value = value;
  }
  return r;
}

/* ---- read and write --------------------------------------------------------------- */
static int start_read(uvble_future_t *f, uvble_connection_t *c, uint16_t h,
                      uint8_t *buf, size_t cap, uint32_t timeout_ms) {
  if (!c->connected) return fut_fail(f, UVBLE_ENOTCONN);
  struct gop *q = gop_new(c, GOP_READ);
  if (!q) return fut_fail(f, UVBLE_ENOMEM);
  int r = aio_begin(f, c->a, &gop_ops, c, timeout_ms);
  if (r < 0) {
    free(q);
    return r;
  }
  f->buf_ = buf;
  f->cap_ = buf ? cap : 0;
  return gop_started(f, q,
                     uvble_gattc_read_req(&q->req, c->a->ble, c->handle, h));
}

static int start_write(uvble_future_t *f, uvble_connection_t *c, uint16_t h,
                       const void *data, size_t len, bool response,
                       uint32_t timeout_ms) {
  if (!c->connected) return fut_fail(f, UVBLE_ENOTCONN);
  if (len && !data) return fut_fail(f, UVBLE_EINVAL);
  struct gop *q = response ? gop_new(c, GOP_WRITE) : NULL;
  if (response && !q) return fut_fail(f, UVBLE_ENOMEM);
  int r = aio_begin(f, c->a, &gop_ops, c, timeout_ms);
  if (r < 0) {
    free(q);
    return r;
  }
  f->len = len;
  if (!response) {
    /* Handed to the link: nothing more will come. */
    r = uvble_gattc_write(c->a->ble, c->handle, h, data, len,
                          UVBLE_GATTC_WRITE_NO_RESPONSE);
    if (r < 0) return fut_abort(f, r);
    fut_complete(f, 0);
    return 0;
  }
  return gop_started(f, q,
                     uvble_gattc_write_req(&q->req, c->a->ble, c->handle, h,
                                           data, len,
                                           UVBLE_GATTC_WRITE_WITH_RESPONSE));
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
  /* Only the server's values come as irq events: the operations' results
   * come back through their requests. */
  if (event != UVBLE_IRQ_GATTC_NOTIFY && event != UVBLE_IRQ_GATTC_INDICATE)
    return;
  uvble_connection_t *c = aio_conn_find(a, d->gattc_data.conn_handle);
  if (c) on_value(c, event == UVBLE_IRQ_GATTC_INDICATE, &d->gattc_data);
}

void aio_client_conn_down(uvble_connection_t *c, int status) {
  /* The core completed the link's requests (their futures) already. */
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
