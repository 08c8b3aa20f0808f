/* SPDX-License-Identifier: Apache-2.0 */
/* Devices and connections (aioble's device module): connection objects
 * and their lifetime, connecting (a queue in front of the controller's one
 * attempt at a time, each attempt a core request), disconnecting and MTU
 * exchange (core requests too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "async_internal.h"
#include "uvble/gap.h"
#include "uvble/gattc.h"

#define DEFAULT_ATT_MTU 23
#define NO_CONN 0xffff

/* ---- Device ------------------------------------------------------------------ */
int uvble_device_init(uvble_device_t *d, uint8_t addr_type,
                      const uint8_t addr[6]) {
  if (!d || !addr) return UVBLE_EINVAL;
  d->addr.type = addr_type;
  memcpy(d->addr.val, addr, 6);
  return 0;
}

int uvble_device_parse(uvble_device_t *d, uint8_t addr_type, const char *text) {
  if (!d || !text) return UVBLE_EINVAL;
  uvble_addr_t a = {.type = addr_type};
  int r = uvble_addr_parse(&a, text);
  if (r < 0) return r;
  d->addr = a;
  return 0;
}

char *uvble_device_addr_hex(const uvble_device_t *d,
                            char buf[UVBLE_ADDR_STR_LEN]) {
  return uvble_addr_to_str(&d->addr, buf);
}

bool uvble_device_equal(const uvble_device_t *x, const uvble_device_t *y) {
  return x->addr.type == y->addr.type &&
         memcmp(x->addr.val, y->addr.val, 6) == 0;
}

int uvble_device_str(const uvble_device_t *d, char *buf, size_t cap) {
  char hex[UVBLE_ADDR_STR_LEN];
  return snprintf(buf, cap, "Device(%s, %s)",
                  d->addr.type == UVBLE_ADDR_PUBLIC ? "ADDR_PUBLIC"
                                                    : "ADDR_RANDOM",
                  uvble_device_addr_hex(d, hex));
}

/* ---- connection objects --------------------------------------------------------- */
uvble_connection_t *aio_conn_find(uvble_async_t *a, uint16_t handle) {
  for (uvble_connection_t *c = a->conns; c; c = c->next)
    if (c->connected && c->handle == handle) return c;
  return NULL;
}

static void conn_destroy(uvble_connection_t *c) {
  uvble_async_t *a = c->a;
  aio_chan_free_all(c);
  aio_client_free(c);
  aio_server_conn_down(c, UVBLE_ECANCELED);
  if (c->prev)
    c->prev->next = c->next;
  else
    a->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  a->stats.live_connections--;
  free(c);
}

void aio_conn_unref(uvble_connection_t *c) {
  if (--c->refs > 0) return;
  conn_destroy(c);
}

uvble_connection_t *uvble_connection_ref(uvble_connection_t *c) {
  if (c) c->refs++;
  return c;
}

void uvble_connection_release(uvble_connection_t *c) {
  if (c) aio_conn_unref(c);
}

void aio_conn_free_all(uvble_async_t *a) {
  while (a->conns) conn_destroy(a->conns);
}

uvble_connection_t *uvble_async_connection(uvble_async_t *a,
                                           uint16_t conn_handle) {
  return a ? aio_conn_find(a, conn_handle) : NULL;
}

bool uvble_connection_is_connected(const uvble_connection_t *c) {
  return c->connected;
}
uint16_t uvble_connection_handle(const uvble_connection_t *c) {
  return c->handle;
}
const uvble_device_t *uvble_connection_device(const uvble_connection_t *c) {
  return &c->device;
}
uvble_async_t *uvble_connection_async(const uvble_connection_t *c) {
  return c->a;
}
bool uvble_connection_encrypted(const uvble_connection_t *c) {
  return c->encrypted;
}
bool uvble_connection_authenticated(const uvble_connection_t *c) {
  return c->authenticated;
}
bool uvble_connection_bonded(const uvble_connection_t *c) { return c->bonded; }
uint8_t uvble_connection_key_size(const uvble_connection_t *c) {
  return c->key_size;
}
uint16_t uvble_connection_mtu(const uvble_connection_t *c) { return c->mtu; }

/* ---- connecting ------------------------------------------------------------------ */
/* One connect: waits in a->connect_q for the controller's one initiator,
 * then is handed to the core as a request. The request outlives a future
 * that ends early (cancelled, timed out): its callback frees it. */
struct creq {
  uvble_req_t req;
  uvble_async_t *a;
  uvble_future_t *f; /* NULL once the future ended early */
  bool issued;       /* the core has it */
  uvble_addr_t addr;
  uvble_connect_params_t params;
};

static void connect_pump(uvble_async_t *a);

static void connect_detach(uvble_future_t *f, int status) {
  (void)status;
  struct creq *q = f->aux_;
  f->aux_ = NULL;
  fut_unwait(f);
  if (!q->issued) {
    free(q);
    return;
  }
  /* Stop the controller (aioble leaves it initiating: #950): the core
   * cancels the attempt, ends a link that came up meanwhile, and then
   * completes the request. */
  q->f = NULL;
  uvble_cancel(&q->req);
}

void aio_drop_conn_result(uvble_future_t *f) {
  if (f->status == 0 && f->result.conn) aio_conn_unref(f->result.conn);
  f->result.conn = NULL;
}

static const struct fut_ops connect_ops = {.name = "connect",
                                           .detach = connect_detach,
                                           .drop_result = aio_drop_conn_result,
                                           .ble = true};

/* HCI statuses a failed attempt reports (Vol 1, Part F). */
#define HCI_STATUS_UNKNOWN_CONN_ID 0x02    /* cancelled, or out of time */
#define HCI_STATUS_CONN_FAILED_TO_EST 0x3E /* the peer was lost meanwhile */

/* The future of a failed attempt, by the core's status. */
static void connect_failed(uvble_async_t *a, uvble_future_t *f, int status) {
  if (status == UVBLE_ETIMEDOUT || status == HCI_STATUS_UNKNOWN_CONN_ID)
    fut_complete(f, UVBLE_ETIMEDOUT); /* the scan duration passed */
  else if (status < 0)
    fut_complete(f, uvble_is_active(a->ble) ? status : UVBLE_ENOTACTIVE);
  else
    /* The controller refused or lost the attempt (0x3E Connection Failed
     * to be Established, 0x0C Command Disallowed, ...). */
    fut_complete_proto(f, UVBLE_EHCI, status);
}

/* The core ended the attempt: the link is up (status 0) or it failed. */
static void on_connected(uvble_req_t *req, int status,
                         const uvble_irq_data_t *d, void *arg) {
  (void)req;
  struct creq *q = arg;
  uvble_async_t *a = q->a;
  uvble_future_t *f = q->f;
  free(q);
  /* No closing check: when the context closes, its futures end first
   * (f is NULL here) and the queue is empty, so nothing below starts. */
  a->connect_busy = false;
  if (f) f->aux_ = NULL;
  if (status == 0) {
    /* The link's object, as a CONNECT event would have made it. */
    aio_conn_on_connect(a, UVBLE_IRQ_PERIPHERAL_CONNECT, &d->connect);
    uvble_connection_t *c = aio_conn_find(a, d->connect.conn_handle);
    if (f && c) {
      f->result.conn = uvble_connection_ref(c);
      fut_complete(f, 0);
    } else if (f) {
      fut_complete(f, UVBLE_ENOMEM);
    }
  } else if (f) {
    connect_failed(a, f, status);
  }
  /* The application's chained handler still sees the attempt end as the
   * irq API reports it (PERIPHERAL_CONNECT, or PERIPHERAL_DISCONNECT with
   * no address). */
  aio_chain_irq(a,
                status == 0 ? UVBLE_IRQ_PERIPHERAL_CONNECT
                            : UVBLE_IRQ_PERIPHERAL_DISCONNECT,
                d);
  connect_pump(a);
  aio_scan_pump(a);
}

static int connect_issue(uvble_async_t *a, struct creq *q) {
  uvble_req_init(&q->req, on_connected, q);
  uvble_gap_conn_params_t p = q->params.conn;
  if (!p.max_interval_us) {
    int r = uvble_gap_conn_params_for(&p, q->params.min_conn_interval_us,
                                      q->params.max_conn_interval_us);
    if (r < 0) return r;
  }
  return uvble_gap_connect_req(&q->req, a->ble, &q->addr,
                               q->params.scan_duration_ms, &p);
}

static void connect_pump(uvble_async_t *a) {
  while (!a->connect_busy && a->connect_q) {
    uvble_future_t *f = fut_list_pop(&a->connect_q);
    struct creq *q = f->aux_;
    int r = connect_issue(a, q);
    if (r < 0) {
      f->aux_ = NULL;
      free(q);
      fut_complete(f, r);
      continue;
    }
    q->issued = true;
    q->f = f;
    a->connect_busy = true;
  }
}

bool uvble_connect_retryable(const uvble_future_t *f) {
  if (!f) return false;
  return f->status == UVBLE_ETIMEDOUT ||
         (f->status == UVBLE_EHCI &&
          f->proto_status == HCI_STATUS_CONN_FAILED_TO_EST);
}

void aio_connect_cancel_all(uvble_async_t *a, int status) {
  /* Those still waiting; the one the core runs ends with the stack (or is
   * cancelled by its future's end). */
  while (a->connect_q) fut_end(a->connect_q, status);
}

int uvble_device_connect(uvble_future_t *f, uvble_async_t *a,
                         const uvble_device_t *d,
                         const uvble_connect_params_t *params,
                         uint32_t timeout_ms) {
  if (!d) return fut_fail(f, UVBLE_EINVAL);
  int r = aio_begin(f, a, &connect_ops, a, timeout_ms);
  if (r < 0) return r;
  for (uvble_connection_t *c = a->conns; c; c = c->next) {
    if (c->connected && uvble_device_equal(&c->device, d)) {
      f->result.conn = uvble_connection_ref(c);
      fut_complete(f, 0);
      return 0;
    }
  }
  struct creq *q = calloc(1, sizeof *q);
  if (!q) return fut_abort(f, UVBLE_ENOMEM);
  q->a = a;
  q->addr = d->addr;
  if (params) q->params = *params;
  f->aux_ = q;
  fut_list_push(&a->connect_q, f);
  connect_pump(a);
  return 0;
}

/* ---- link events --------------------------------------------------------------- */
void aio_conn_on_connect(uvble_async_t *a, int event, const uvble_evt_connect_t *e) {
  uvble_connection_t *old = aio_conn_find(a, e->conn_handle);
  if (old) {
    /* The core never reuses a live handle; if it ever did, the old link is
     * gone: end it rather than keep a connection nothing can reach. */
    uvble_evt_connect_t gone = {.conn_handle = e->conn_handle,
                                .addr = old->device.addr};
    aio_conn_on_disconnect(a, UVBLE_IRQ_CENTRAL_DISCONNECT, &gone);
    aio_conn_after_disconnect(a, e->conn_handle);
  }
  uvble_connection_t *c = calloc(1, sizeof *c);
  if (!c) {
    /* Without an object nothing can be routed: refuse the link. */
    uvble_gap_disconnect(a->ble, e->conn_handle);
    return;
  }
  c->a = a;
  c->refs = 1; /* the link's */
  c->link_ref = true;
  c->handle = e->conn_handle;
  c->device.addr = e->addr;
  c->connected = true;
  c->we_are_central = event == UVBLE_IRQ_PERIPHERAL_CONNECT;
  c->mtu = DEFAULT_ATT_MTU;
  c->next = a->conns;
  if (a->conns) a->conns->prev = c;
  a->conns = c;
  a->stats.connections++;
  a->stats.live_connections++;
  /* Our own connects come back through their requests (connect_done). */
  if (event == UVBLE_IRQ_CENTRAL_CONNECT) aio_adv_on_connect(a, c);
}

void aio_conn_on_disconnect(uvble_async_t *a, int event,
                        const uvble_evt_connect_t *e) {
  (void)event;
  /* A failed connect attempt (gap.h) was not ours: ours are requests. */
  if (e->addr.type == UVBLE_ADDR_NONE || e->conn_handle == NO_CONN) return;
  uvble_connection_t *c = aio_conn_find(a, e->conn_handle);
  if (!c) return;
  c->connected = false;
  /* Operations the core did not already end (it completes its own with
   * EDISCONNECTED before this event) end here. */
  aio_client_conn_down(c, UVBLE_EDISCONNECTED);
  aio_server_conn_down(c, UVBLE_EDISCONNECTED);
  aio_chan_conn_down(c, UVBLE_EDISCONNECTED);
  /* MTU, pair and PHY requests ended before this event (the core
   * completes them with EDISCONNECTED); those lists can only hold futures
   * waiting for an exchange or pairing the peer started. */
  fut_list_complete_all(&c->mtu_waiters, UVBLE_EDISCONNECTED);
  fut_list_complete_all(&c->pair_waiters, UVBLE_EDISCONNECTED);
  fut_list_complete_all(&c->passkey_waiters, UVBLE_EDISCONNECTED);
  fut_list_complete_all(&c->accept_waiters, UVBLE_EDISCONNECTED);
  fut_list_complete_all(&c->down_waiters, 0);
}

void aio_conn_after_disconnect(uvble_async_t *a, uint16_t handle) {
  if (handle == NO_CONN) return;
  for (uvble_connection_t *c = a->conns; c; c = c->next) {
    if (!c->connected && c->link_ref && c->handle == handle) {
      c->link_ref = false;
      aio_conn_unref(c);
      return;
    }
  }
}

/* The MTU settled: every future waiting for it. */
static void mtu_settled(uvble_connection_t *c, uvble_future_t **waiters,
                        int status, uint16_t mtu) {
  if (status == 0) {
    c->mtu = mtu;
    c->mtu_exchanged = true;
  }
  uvble_future_t *f;
  while ((f = fut_list_pop(waiters)) != NULL) {
    f->aux_ = NULL;
    f->result.mtu = c->mtu;
    aio_complete_att(f, status);
  }
}

/* An exchange the peer started. */
void aio_conn_on_mtu(uvble_async_t *a, const uvble_evt_mtu_t *e) {
  uvble_connection_t *c = aio_conn_find(a, e->conn_handle);
  if (c) mtu_settled(c, &c->mtu_waiters, 0, e->mtu);
}

/* Ours: the request's outcome. */
static void mtu_done(uvble_connection_t *c, uvble_future_t **waiters,
                     int status, const uvble_irq_data_t *d) {
  /* With a result the MTU is settled, also after an Error Response (the
   * MTU_EXCHANGED event reports 23 then, and futures always took it). */
  if (d)
    mtu_settled(c, waiters, 0, d->mtu.mtu);
  else
    mtu_settled(c, waiters, status ? status : UVBLE_EIO, 0);
  aio_chain_irq(c->a, UVBLE_IRQ_MTU_EXCHANGED, d);
}

static int mtu_start(uvble_req_t *req, uvble_t *ble, uint16_t handle,
                     int arg) {
  (void)arg;
  return uvble_gattc_exchange_mtu_req(req, ble, handle);
}

/* ---- operations on a connection --------------------------------------------------- */
/* disconnect(): its own request (uvble_gap_disconnect_req), which ends
 * when the link is down; a second one on the link waits for the same end
 * in down_waiters, as disconnected() does. */
struct dreq {
  uvble_req_t req;
  uvble_connection_t *c; /* a reference, until the request ends */
  uvble_future_t *f;     /* NULL once the future ended early */
};

static void down_detach(uvble_future_t *f, int status) {
  (void)status;
  struct dreq *q = f->aux_;
  f->aux_ = NULL;
  fut_unwait(f);
  if (!q) return;
  q->f = NULL;
  uvble_cancel(&q->req); /* the link still ends: it cannot be taken back */
}

static const struct fut_ops down_ops = {
    .name = "disconnected", .detach = down_detach, .ble = true};
static const struct fut_ops mtu_ops = {
    .name = "exchange_mtu", .detach = aio_sreq_detach, .ble = true};

static void on_down(uvble_req_t *req, int status, const uvble_irq_data_t *d,
                    void *arg) {
  (void)req;
  (void)d;
  struct dreq *q = arg;
  uvble_connection_t *c = q->c;
  uvble_future_t *f = q->f;
  free(q);
  /* The link is down (its DISCONNECT event follows): those who waited
   * for that before this future did hear it first, in order. */
  if (status == 0) fut_list_complete_all(&c->down_waiters, 0);
  if (f) {
    f->aux_ = NULL;
    fut_complete(f, status);
  }
  aio_conn_unref(c);
}

static int start_disconnect(uvble_future_t *f, uvble_connection_t *c) {
  struct dreq *q = calloc(1, sizeof *q);
  if (!q) return UVBLE_ENOMEM;
  uvble_req_init(&q->req, on_down, q);
  int r = uvble_gap_disconnect_req(&q->req, c->a->ble, c->handle);
  if (r < 0) {
    free(q);
    /* Another disconnect() waits on the link, or the core has let go of
     * it already: its DISCONNECT event is what is left to wait for. */
    if (r != UVBLE_EBUSY && r != UVBLE_ENOTCONN) return r;
    fut_list_push(&c->down_waiters, f);
    return 0;
  }
  q->c = uvble_connection_ref(c);
  q->f = f;
  f->aux_ = q;
  return 0;
}

static int wait_down(uvble_future_t *f, uvble_connection_t *c, bool disconnect,
                     uint32_t timeout_ms) {
  if (!c) return fut_fail(f, UVBLE_EINVAL);
  int r = aio_begin(f, c->a, &down_ops, c, timeout_ms);
  if (r < 0) return r;
  if (!c->connected) {
    fut_complete(f, 0);
    return 0;
  }
  if (!disconnect) {
    fut_list_push(&c->down_waiters, f);
    return 0;
  }
  r = start_disconnect(f, c);
  return r < 0 ? fut_abort(f, r) : 0;
}

int uvble_connection_disconnect(uvble_future_t *f, uvble_connection_t *c,
                                uint32_t timeout_ms) {
  return wait_down(f, c, true, timeout_ms);
}

int uvble_connection_disconnected(uvble_future_t *f, uvble_connection_t *c,
                                  uint32_t timeout_ms) {
  return wait_down(f, c, false, timeout_ms);
}

int uvble_connection_exchange_mtu(uvble_future_t *f, uvble_connection_t *c,
                                  uint16_t mtu, uint32_t timeout_ms) {
  if (!c) return fut_fail(f, UVBLE_EINVAL);
  if (!c->connected) return fut_fail(f, UVBLE_ENOTCONN);
  if (mtu) {
    int r = uvble_config_set_int(c->a->ble, UVBLE_CONFIG_MTU, mtu);
    if (r < 0) return fut_fail(f, r);
  }
  int r = aio_begin(f, c->a, &mtu_ops, c, timeout_ms);
  if (r < 0) return r;
  if (c->mtu_exchanged) {
    f->result.mtu = c->mtu;
    fut_complete(f, 0);
    return 0;
  }
  r = aio_sreq_join(f, c, &c->mtu_req, &c->mtu_waiters, mtu_start, 0,
                    mtu_done);
  /* EALREADY: the peer's exchange is under way; its MTU_EXCHANGED
   * completes this one (aio_conn_on_mtu). */
  if (r == UVBLE_EALREADY) {
    fut_list_push(&c->mtu_waiters, f);
    return 0;
  }
  return r < 0 ? fut_abort(f, r) : 0;
}
