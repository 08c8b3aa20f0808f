/* SPDX-License-Identifier: Apache-2.0 */
/* Pairing and passkeys (aioble's security module). */
#include "async_internal.h"
#include "uvble/security.h"

static const struct fut_ops pair_ops = {
    .name = "pair", .detach = aio_sreq_detach, .ble = true};
static const struct fut_ops passkey_ops = {
    .name = "passkey", .detach = fut_wait_detach, .ble = true};

void uvble_pair_params_default(uvble_pair_params_t *p) {
  p->bond = true;
  p->le_secure = true;
  p->mitm = false;
  p->io = UVBLE_IO_NO_INPUT_OUTPUT;
}

static void pair_settled(uvble_connection_t *c, uvble_future_t **waiters,
                         const uvble_evt_encryption_t *e);

/* Ours: the request's outcome (d NULL: it ended without one). */
static void pair_done(uvble_connection_t *c, uvble_future_t **waiters,
                      int status, const uvble_irq_data_t *d) {
  if (d) {
    pair_settled(c, waiters, &d->encryption);
    aio_chain_irq(c->a, UVBLE_IRQ_ENCRYPTION_UPDATE, d);
    return;
  }
  uvble_future_t *f;
  while ((f = fut_list_pop(waiters)) != NULL) {
    f->aux_ = NULL;
    fut_complete(f, status ? status : UVBLE_EIO);
  }
}

static int pair_start(uvble_req_t *req, uvble_t *ble, uint16_t handle,
                      int arg) {
  (void)arg;
  return uvble_gap_pair_req(req, ble, handle);
}

int uvble_connection_pair(uvble_future_t *f, uvble_connection_t *c,
                          const uvble_pair_params_t *p, uint32_t timeout_ms) {
  if (!c) return fut_fail(f, UVBLE_EINVAL);
  if (!c->connected) return fut_fail(f, UVBLE_ENOTCONN);
  uvble_t *ble = c->a->ble;
  if (p) {
    int r = uvble_config_set_int(ble, UVBLE_CONFIG_BOND, p->bond);
    if (r == 0) r = uvble_config_set_int(ble, UVBLE_CONFIG_LE_SECURE, p->le_secure);
    if (r == 0) r = uvble_config_set_int(ble, UVBLE_CONFIG_MITM, p->mitm);
    if (r == 0) r = uvble_config_set_int(ble, UVBLE_CONFIG_IO, p->io);
    if (r < 0) return fut_fail(f, r);
  }
  int r = aio_begin(f, c->a, &pair_ops, c, timeout_ms);
  if (r < 0) return r;
  r = aio_sreq_join(f, c, &c->pair_req, &c->pair_waiters, pair_start, 0,
                    pair_done);
  /* EBUSY: the peer's attempt is under way; its ENCRYPTION_UPDATE
   * completes this one (aio_pair_on_encryption). */
  if (r == UVBLE_EBUSY) {
    fut_list_push(&c->pair_waiters, f);
    return 0;
  }
  return r < 0 ? fut_abort(f, r) : 0;
}

/* The link's security as the event reports it, and every waiter. */
static void pair_settled(uvble_connection_t *c, uvble_future_t **waiters,
                         const uvble_evt_encryption_t *e) {
  c->encrypted = e->encrypted;
  c->authenticated = e->authenticated;
  c->bonded = e->bonded;
  c->key_size = e->key_size;
  int status = e->status, proto = 0;
  if (status > 0) {
    proto = status;
    status = UVBLE_ESMP;
  } else if (status == UVBLE_EHCI) {
    proto = e->hci_status;
  }
  uvble_future_t *f;
  while ((f = fut_list_pop(waiters)) != NULL) {
    f->aux_ = NULL;
    fut_complete_proto(f, status, proto);
  }
}

/* A pairing or encryption the peer started. */
void aio_pair_on_encryption(uvble_async_t *a, const uvble_evt_encryption_t *e) {
  uvble_connection_t *c = aio_conn_find(a, e->conn_handle);
  if (c) pair_settled(c, &c->pair_waiters, e);
}

int uvble_connection_forget_bond(uvble_connection_t *c) {
  if (!c) return UVBLE_EINVAL;
  if (!c->connected) return UVBLE_ENOTCONN;
  return uvble_forget_bond_conn(c->a->ble, c->handle);
}

int uvble_connection_passkey_action(uvble_future_t *f, uvble_connection_t *c,
                                    uint32_t timeout_ms) {
  if (!c) return fut_fail(f, UVBLE_EINVAL);
  if (!c->connected) return fut_fail(f, UVBLE_ENOTCONN);
  int r = aio_begin(f, c->a, &passkey_ops, c, timeout_ms);
  if (r < 0) return r;
  fut_list_push(&c->passkey_waiters, f);
  return 0;
}

int uvble_connection_passkey(uvble_connection_t *c, int action,
                             uint32_t passkey) {
  if (!c) return UVBLE_EINVAL;
  if (!c->connected) return UVBLE_ENOTCONN;
  return uvble_gap_passkey(c->a->ble, c->handle, action, passkey);
}

void aio_pair_on_passkey(uvble_async_t *a, const uvble_evt_passkey_t *e) {
  uvble_connection_t *c = aio_conn_find(a, e->conn_handle);
  if (!c) return;
  uvble_future_t *f;
  while ((f = fut_list_pop(&c->passkey_waiters)) != NULL) {
    f->result.passkey.action = e->action;
    f->result.passkey.passkey = e->passkey;
    fut_complete(f, 0);
  }
}
