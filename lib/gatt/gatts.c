/* SPDX-License-Identifier: Apache-2.0 */
/* GATT server: registration, local value access, subscriptions (CCCD state
 * per connection), notifications and indications, Service Changed. */
#include <stdlib.h>
#include <string.h>

#include "att.h"
#include "conn.h"
#include "gatts_internal.h"
#include "req.h"
#include "uvble/gap.h"
#include "uvble/gatts.h"

/* Marks the stack's own indications (Service Changed): no app event. */
#define IND_INTERNAL ((uintptr_t)0x10000)

struct gatts_conn *gatts_conn_of(struct ble_conn *c) {
  struct gatts_conn **slot = att_gatts_slot(c);
  return slot ? *slot : NULL;
}

bool gatts_conn_alive(uvble_t *ble, struct ble_conn *c) {
  return ble->state == BLE_ON && conn_is_open(c) && c->att &&
         !att_bearer_dead(c);
}

void gatts_emit_write(uvble_t *ble, uint16_t conn_handle, uint16_t handle) {
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.gatts.conn_handle = conn_handle;
  d.gatts.attr_handle = handle;
  ble_irq(ble, UVBLE_IRQ_GATTS_WRITE, &d);
}

/* An application's answer as an ATT error: 1..255 as given, anything else
 * non-zero becomes Unlikely Error. */
static uint8_t att_code(int r) {
  if (r == 0) return 0;
  return r > 0 && r <= 0xff ? (uint8_t)r : UVBLE_ATT_ERR_UNLIKELY;
}

static bool app_attr(const struct gatts_attr *a) {
  return !a->internal && (a->kind == GATTS_CHR_VALUE || a->kind == GATTS_DESC);
}

uint8_t gatts_read_request(uvble_t *ble, struct ble_conn *c,
                           const struct gatts_attr *a) {
  if (!app_attr(a)) return 0;
  /* Authorization needs someone to ask (Vol 3, Part C, 10.5). */
  if ((a->flags & UVBLE_FLAG_READ_AUTHORIZED) && !ble->irq_cb)
    return UVBLE_ATT_ERR_INSUFFICIENT_AUTHORIZATION;
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.gatts.conn_handle = c->handle;
  d.gatts.attr_handle = a->handle;
  return att_code(ble_irq(ble, UVBLE_IRQ_GATTS_READ_REQUEST, &d));
}

uint8_t gatts_authorize_write(uvble_t *ble, struct ble_conn *c,
                              const struct gatts_attr *a, const uint8_t *data,
                              size_t len) {
  if (!app_attr(a) || !(a->flags & UVBLE_FLAG_WRITE_AUTHORIZED)) return 0;
  struct gatts_state *st = ble->gatts;
  if (!st->authorize) return UVBLE_ATT_ERR_INSUFFICIENT_AUTHORIZATION;
  return att_code(
      st->authorize(ble, c->handle, a->handle, data, len, st->authorize_arg));
}

/* ---- per-connection state ----------------------------------------------------- */
static void gc_free(struct gatts_conn *gc) {
  if (!gc) return;
  free(gc->cccd);
  free(gc->cflags);
  free(gc->prep);
  free(gc);
}

static struct gatts_conn *gc_new(const struct gatts_state *st) {
  uint16_t n_cccd = st->db.n_cccd;
  struct gatts_conn *gc = calloc(1, sizeof *gc);
  if (!gc) return NULL;
  gc->cccd = calloc(n_cccd ? n_cccd : 1, sizeof *gc->cccd);
  gc->cflags = calloc(n_cccd ? n_cccd : 1, 1);
  if (!gc->cccd || !gc->cflags) {
    gc_free(gc);
    return NULL;
  }
  gc->n_cccd = n_cccd;
  /* A new client discovers what is there now; a bonded one that comes
   * back says what it knew when its bond is resumed (gatts_bond.c). */
  gc->client_layout = st->layout;
  return gc;
}

/* ---- indications --------------------------------------------------------------- */
static int send_indication(uvble_t *ble, struct ble_conn *c, uint16_t handle,
                           const uint8_t *data, size_t len, bool internal);

/* After an acknowledged indication: the oldest update MicroPython-style
 * deferred while it was outstanding goes out with the current value. */
static void send_deferred(uvble_t *ble, struct ble_conn *c) {
  struct gatts_conn *gc = gatts_conn_of(c);
  if (!gc || gc->ind_inflight) return;
  for (uint16_t i = 0; i < gc->n_cccd; i++) {
    if (!(gc->cflags[i] & GATTS_CF_DEFERRED)) continue;
    gc->cflags[i] &= (uint8_t)~GATTS_CF_DEFERRED;
    if (!(gc->cccd[i] & UVBLE_CCCD_INDICATE)) continue;
    const struct gatts_attr *a = gatts_attr(ble, ble->gatts->db.cccd_value[i]);
    if (!a) continue;
    if (send_indication(ble, c, a->handle, a->data, a->len, a->internal) == 0)
      return;
  }
}

/* An indication ended (confirmed, timed out, link gone). Its outcome goes
 * to the app's request (or is swallowed when that was cancelled), or is
 * the INDICATE_DONE event; the stack's own (Service Changed) raise none. */
static void indication_ended(uvble_t *ble, struct ble_conn *c, int err,
                             uint16_t handle, bool internal, bool via_req,
                             uvble_req_t *req) {
  struct gatts_conn *gc = gatts_conn_of(c);
  if (gc && gc->ind_inflight) gc->ind_inflight--;
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.gatt_status.conn_handle = c->handle;
  d.gatt_status.value_handle = handle;
  d.gatt_status.status = err;
  if (req)
    req_complete(req, err, &d);
  else if (via_req && err == 0)
    ble->stats.req_late_responses++; /* cancelled: swallowed */
  else if (!internal && !via_req)
    ble_irq(ble, UVBLE_IRQ_GATTS_INDICATE_DONE, &d);
  if (err != 0 || !gatts_conn_alive(ble, c)) return;
  /* The only internal indication is Service Changed. */
  if (internal && !gatts_bond_sc_confirmed(ble, c)) return;
  send_deferred(ble, c);
}

static void on_indication_done(uvble_t *ble, struct ble_conn *c, int err,
                               const uint8_t *pdu, size_t len, void *arg) {
  (void)pdu;
  (void)len;
  uintptr_t v = (uintptr_t)arg;
  indication_ended(ble, c, err, (uint16_t)v, (v & IND_INTERNAL) != 0, false,
                   NULL);
}

/* uvble_gatts_indicate_req's record of its indication. */
struct ind_req {
  uvble_req_t *req; /* NULL once cancelled */
  uint16_t handle;
};

static void on_indication_req_done(uvble_t *ble, struct ble_conn *c, int err,
                                   const uint8_t *pdu, size_t len,
                                   void *arg) {
  (void)pdu;
  (void)len;
  struct ind_req *q = arg;
  uvble_req_t *req = q->req;
  uint16_t handle = q->handle;
  free(q);
  indication_ended(ble, c, err, handle, false, true, req);
}

/* uvble_cancel: an indication cannot be taken back from the bearer's
 * queue without reordering what the client sees; it goes out, and its
 * confirmation is swallowed. */
static int cancel_indication(uvble_req_t *req) {
  struct ind_req *q = req->op_;
  q->req = NULL;
  return 0;
}

static int queue_indication(uvble_t *ble, struct ble_conn *c, uint16_t handle,
                            const uint8_t *data, size_t len, att_rsp_cb cb,
                            void *arg) {
  size_t max = (size_t)att_mtu(c) - 3;
  if (len > max) len = max; /* MicroPython truncates to MTU-3 */
  int r = att_send_indication(ble, c, handle, data, len, cb, arg);
  struct gatts_conn *gc = gatts_conn_of(c);
  if (r == 0 && gc) gc->ind_inflight++;
  return r;
}

static int send_indication(uvble_t *ble, struct ble_conn *c, uint16_t handle,
                           const uint8_t *data, size_t len, bool internal) {
  uintptr_t arg = handle | (internal ? IND_INTERNAL : 0);
  return queue_indication(ble, c, handle, data, len, on_indication_done,
                          (void *)arg);
}

static int send_notification(uvble_t *ble, struct ble_conn *c, uint16_t handle,
                             const uint8_t *data, size_t len) {
  size_t max = (size_t)att_mtu(c) - 3;
  if (len > max) len = max;
  return att_send_value(ble, c, ATT_HANDLE_VALUE_NTF, handle, data, len);
}

/* gatts_write(send_update): notify wins over indicate; an indication waits
 * for the previous one to that peer (MicroPython / NimBLE). */
static void update_subscribers(uvble_t *ble, const struct gatts_attr *a) {
  uint16_t idx = (uint16_t)(a->cccd - 1);
  for (struct ble_conn *c = conn_first(ble); c; c = conn_next(c)) {
    struct gatts_conn *gc = gatts_conn_of(c);
    if (!gc || idx >= gc->n_cccd || att_bearer_dead(c)) continue;
    uint16_t cfg = gc->cccd[idx];
    if (cfg & UVBLE_CCCD_NOTIFY) {
      if (send_notification(ble, c, a->handle, a->data, a->len) < 0)
        ble->stats.att_tx_dropped++;
    } else if (cfg & UVBLE_CCCD_INDICATE) {
      if (gc->ind_inflight ||
          send_indication(ble, c, a->handle, a->data, a->len, a->internal) < 0)
        gc->cflags[idx] |= GATTS_CF_DEFERRED;
    }
  }
}

/* ---- registration ----------------------------------------------------------------- */

/* Gives every connection CCCD arrays for the new database (subscriptions
 * to the fixed services kept, the rest cleared) and drops queued prepared
 * writes: their handles mean nothing any more. All or nothing. */
static int resize_conns(uvble_t *ble, uint16_t n_cccd) {
  size_t n = ble->conns.table.len, i = 0;
  void **mem = calloc(2 * (size_t)(n ? n : 1), sizeof *mem);
  if (!mem) return UVBLE_ENOMEM;
  bool ok = true;
  for (i = 0; i < 2 * n && ok; i++) {
    mem[i] = calloc(n_cccd ? n_cccd : 1, i % 2 ? 1 : sizeof(uint16_t));
    ok = mem[i] != NULL;
  }
  if (!ok) {
    for (i = 0; i < 2 * n; i++) free(mem[i]);
    free(mem);
    return UVBLE_ENOMEM;
  }
  i = 0;
  for (struct ble_conn *c = conn_first(ble); c && i < n;
       c = conn_next(c), i++) {
    struct gatts_conn *gc = gatts_conn_of(c);
    uint16_t *cccd = mem[2 * i];
    uint8_t *cflags = mem[2 * i + 1];
    if (!gc) {
      free(cccd);
      free(cflags);
      continue;
    }
    for (uint16_t k = 0; k < GATTS_FIXED_CCCDS && k < gc->n_cccd; k++) {
      cccd[k] = gc->cccd[k];
      cflags[k] = gc->cflags[k];
    }
    free(gc->cccd);
    free(gc->cflags);
    gc->cccd = cccd;
    gc->cflags = cflags;
    gc->n_cccd = n_cccd;
    free(gc->prep);
    gc->prep = NULL;
  }
  free(mem);
  return 0;
}

/* Service Changed (Vol 3, Part G, 7.1), affected range: every handle
 * after the fixed services. Bonded clients that are not connected hear it
 * when they come back (gatts_bond.c). */
void gatts_service_changed(uvble_t *ble, struct ble_conn *c) {
  const struct gatts_attr *sc =
      gatts_attr(ble, UVBLE_GATTS_SERVICE_CHANGED_HANDLE);
  struct gatts_conn *gc = gatts_conn_of(c);
  if (!sc || !gc || !(gc->cccd[GATTS_SC_CCCD_INDEX] & UVBLE_CCCD_INDICATE) ||
      att_bearer_dead(c))
    return;
  if (gc->ind_inflight ||
      send_indication(ble, c, sc->handle, sc->data, sc->len, true) < 0)
    gc->cflags[GATTS_SC_CCCD_INDEX] |= GATTS_CF_DEFERRED;
}

/* After a registration: every connected client's subscriptions to the
 * application's characteristics are gone (saved for a bonded one at its
 * next request). One that enabled Service Changed is told, and knows the
 * new layout once it confirms; the others have nobody to tell them, so
 * what they configure from now on belongs to the new layout. */
static void indicate_service_changed(uvble_t *ble) {
  for (struct ble_conn *c = conn_first(ble); c; c = conn_next(c)) {
    struct gatts_conn *gc = gatts_conn_of(c);
    if (!gc) continue;
    gc->cccd_dirty = true;
    if (gc->cccd[GATTS_SC_CCCD_INDEX] & UVBLE_CCCD_INDICATE)
      gatts_service_changed(ble, c);
    else
      gc->client_layout = ble->gatts->layout;
  }
}

void gatts_set_adv_query(uvble_t *ble, bool (*advertising)(const uvble_t *)) {
  if (ble->gatts) ble->gatts->advertising = advertising;
}

int uvble_gatts_register_services(uvble_t *ble,
                                  const uvble_gatts_service_t *services,
                                  size_t n, uint16_t *handles_out,
                                  size_t handles_cap) {
  struct gatts_state *st = ble ? ble->gatts : NULL;
  if (!st) return UVBLE_EINVAL;
  if (st->advertising && st->advertising(ble)) return UVBLE_EBUSY;
  struct gatts_db db;
  size_t nh = 0;
  int r = gatts_db_build(&db, st, services, n, handles_out, handles_cap, &nh);
  if (r < 0) return r;
  r = resize_conns(ble, db.n_cccd);
  if (r < 0) {
    gatts_db_free(&db);
    return r;
  }
  gatts_db_free(&st->db);
  st->db = db;
  st->generation++;
  st->layout = gatts_db_layout(&st->db);
  indicate_service_changed(ble);
  return (int)nh;
}

/* ---- local access --------------------------------------------------------------------- */
int uvble_gatts_read(uvble_t *ble, uint16_t value_handle, uint8_t *buf,
                     size_t cap, size_t *len) {
  struct gatts_attr *a = gatts_value_attr(ble, value_handle);
  if (!a || !len) return UVBLE_EINVAL;
  *len = a->len;
  if (cap < a->len) return UVBLE_ENOSPC;
  if (a->len) memcpy(buf, a->data, a->len);
  if (a->append) a->len = 0; /* MicroPython: reading an append buffer drains it */
  return 0;
}

int uvble_gatts_write(uvble_t *ble, uint16_t value_handle, const void *data,
                      size_t len, bool send_update) {
  struct gatts_attr *a = gatts_value_attr(ble, value_handle);
  if (!a || (len && !data)) return UVBLE_EINVAL;
  int r = gatts_db_local_write(a, data, len);
  if (r < 0) return r;
  if (send_update && a->cccd) update_subscribers(ble, a);
  return 0;
}

int uvble_gatts_subscription(uvble_t *ble, uint16_t conn_handle,
                             uint16_t value_handle) {
  const struct gatts_attr *a = gatts_value_attr(ble, value_handle);
  if (!a) return UVBLE_EINVAL;
  struct ble_conn *c = conn_find(ble, conn_handle);
  if (!c) return UVBLE_ENOTCONN;
  struct gatts_conn *gc = gatts_conn_of(c);
  uint16_t idx = (uint16_t)(a->cccd - 1);
  if (!a->cccd || !gc || idx >= gc->n_cccd) return 0;
  return gc->cccd[idx] & (UVBLE_CCCD_NOTIFY | UVBLE_CCCD_INDICATE);
}

static int value_for_send(uvble_t *ble, uint16_t conn_handle, uint16_t handle,
                          const void **data, size_t *len,
                          struct ble_conn **c) {
  if (ble->state != BLE_ON) return UVBLE_ENOTACTIVE;
  *c = conn_find(ble, conn_handle);
  if (!*c) return UVBLE_ENOTCONN;
  const struct gatts_attr *a = gatts_value_attr(ble, handle);
  if (!a) return UVBLE_EINVAL;
  if (!*data) {
    *data = a->data;
    *len = a->len;
  }
  return 0;
}

int uvble_gatts_notify(uvble_t *ble, uint16_t conn_handle,
                       uint16_t value_handle, const void *data, size_t len) {
  struct ble_conn *c;
  int r = value_for_send(ble, conn_handle, value_handle, &data, &len, &c);
  if (r < 0) return r;
  r = send_notification(ble, c, value_handle, data, len);
  if (r == UVBLE_ENOBUFS) c->notify_refused = true;
  return r;
}

void uvble_gatts_on_tx_ready(uvble_t *ble, uvble_gatts_tx_ready_cb cb,
                             void *arg) {
  if (!ble || !ble->gatts) return;
  ble->gatts->tx_ready = cb;
  ble->gatts->tx_ready_arg = cb ? arg : NULL;
}

void gatts_on_acl_completed(uvble_t *ble) {
  if (ble_dead(ble) || !ble->gatts || !ble->gatts->tx_ready) return;
  /* Half the queue free: room for more than one more notification, so a
   * sender woken here does not meet a full queue again at once. */
  size_t room_at = ble->hci.conn_txq_max / 2;
  /* No link leaves the table before this dispatch unwinds (ble_ref); a
   * callback may close the stack or stop listening. */
  for (struct ble_conn *c = conn_first(ble);
       c && !ble_dead(ble) && ble->gatts->tx_ready; c = conn_next(c)) {
    if (c->notify_refused && c->txq_bytes <= room_at) {
      c->notify_refused = false;
      ble->gatts->tx_ready(ble, c->handle, ble->gatts->tx_ready_arg);
    }
  }
}

int uvble_gatts_indicate(uvble_t *ble, uint16_t conn_handle,
                         uint16_t value_handle, const void *data, size_t len) {
  return uvble_gatts_indicate_req(NULL, ble, conn_handle, value_handle, data,
                                  len);
}

int uvble_gatts_indicate_req(uvble_req_t *req, uvble_t *ble,
                             uint16_t conn_handle, uint16_t value_handle,
                             const void *data, size_t len) {
  if (!ble) return UVBLE_EINVAL;
  if (req && !req->cb_) return UVBLE_EINVAL;
  if (req && uvble_req_active(req)) return UVBLE_EBUSY;
  struct ble_conn *c;
  int r = value_for_send(ble, conn_handle, value_handle, &data, &len, &c);
  if (r < 0) return r;
  if (!req) return send_indication(ble, c, value_handle, data, len, false);
  struct ind_req *q = calloc(1, sizeof *q);
  if (!q) return UVBLE_ENOMEM;
  q->handle = value_handle;
  if ((r = req_start(ble, req, UVBLE_REQ_INDICATE, q, cancel_indication)) < 0) {
    free(q);
    return r;
  }
  r = queue_indication(ble, c, value_handle, data, len, on_indication_req_done,
                       q);
  if (r < 0) {
    req_unstart(req);
    free(q);
    return r;
  }
  q->req = req;
  return 0;
}

int uvble_gatts_set_buffer(uvble_t *ble, uint16_t value_handle, size_t len,
                           bool append) {
  struct gatts_attr *a = gatts_value_attr(ble, value_handle);
  if (!a) return UVBLE_EINVAL;
  return gatts_db_set_buffer(a, len, append);
}

int uvble_gatts_set_appearance(uvble_t *ble, uint16_t appearance) {
  if (!ble || !ble->gatts) return UVBLE_EINVAL;
  ble->gatts->appearance = appearance;
  struct gatts_attr *a = gatts_attr(ble, UVBLE_GATTS_APPEARANCE_HANDLE);
  if (a && a->data) put_le16(a->data, appearance);
  return 0;
}

int uvble_gatts_set_name_writable(uvble_t *ble, bool writable) {
  if (!ble || !ble->gatts) return UVBLE_EINVAL;
  ble->gatts->name_writable = writable;
  return 0;
}

void uvble_gatts_set_write_authorizer(uvble_t *ble,
                                      uvble_gatts_authorize_cb cb, void *arg) {
  if (!ble || !ble->gatts) return;
  ble->gatts->authorize = cb;
  ble->gatts->authorize_arg = arg;
}

/* ---- module hooks ---------------------------------------------------------------------- */
int gatts_init(uvble_t *ble) {
  struct gatts_state *st = calloc(1, sizeof *st);
  if (!st) return UVBLE_ENOMEM;
  size_t nh;
  int r = gatts_db_build(&st->db, st, NULL, 0, NULL, 0, &nh);
  if (r < 0) {
    free(st);
    return r;
  }
  st->layout = gatts_db_layout(&st->db);
  ble->gatts = st;
  return 0;
}

void gatts_stop(uvble_t *ble, int err) {
  /* Indications are per connection (the bearer completes them); the
   * database and its values are configuration and stay. */
  (void)ble;
  (void)err;
}

void gatts_close(uvble_t *ble) {
  if (!ble->gatts) return;
  gatts_db_free(&ble->gatts->db);
  free(ble->gatts);
  ble->gatts = NULL;
}

int gatts_conn_open(uvble_t *ble, struct ble_conn *c) {
  struct gatts_conn **slot = att_gatts_slot(c);
  if (!slot || !ble->gatts) return 0;
  *slot = gc_new(ble->gatts);
  if (!*slot) return UVBLE_ENOMEM;
  /* The secrets layer exists once every module's init ran: the first
   * connection is the first moment to register with it. */
  gatts_bond_hook(ble);
  return 0;
}

void gatts_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  (void)ble;
  (void)reason;
  struct gatts_conn **slot = att_gatts_slot(c);
  if (!slot) return;
  gc_free(*slot);
  *slot = NULL;
}
