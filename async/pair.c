/* SPDX-License-Identifier: Apache-2.0 */
/* Pairing and passkeys (aioble's security module). */
#include "async_internal.h"
#include "uvble/security.h"

static const struct fut_ops pair_ops = {
    .name = "pair", .detach = fut_wait_detach, .ble = true};
static const struct fut_ops passkey_ops = {
    .name = "passkey", .detach = fut_wait_detach, .ble = true};

void uvble_pair_params_default(uvble_pair_params_t *p) {
  p->bond = true;
  p->le_secure = true;
  p->mitm = false;
  p->io = UVBLE_IO_NO_INPUT_OUTPUT;
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
  r = uvble_gap_pair(ble, c->handle);
  /* EBUSY: an attempt (perhaps the peer's) is under way: its outcome is
   * ours too. */
  if (r < 0 && r != UVBLE_EBUSY) return fut_abort(f, r);
  fut_list_push(&c->pair_waiters, f);
  return 0;
}

void aio_pair_on_encryption(uvble_async_t *a, const uvble_evt_encryption_t *e) {
  uvble_connection_t *c = aio_conn_find(a, e->conn_handle);
  if (!c) return;
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
  while ((f = fut_list_pop(&c->pair_waiters)) != NULL)
    fut_complete_proto(f, status, proto);
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
