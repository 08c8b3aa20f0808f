/* SPDX-License-Identifier: Apache-2.0 */
/* Two uvble hosts joined by the in-memory controller pair (memctl), each
 * with an app that keeps its secrets in memory (MicroPython's GET_SECRET /
 * SET_SECRET model), answers passkey actions as a user would, and records
 * what the security events said. Shared by the SMP end-to-end tests. */
#ifndef UVBLE_TEST_SMP_PAIR_COMMON_H
#define UVBLE_TEST_SMP_PAIR_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "crypto.h"
#include "memctl.h"
#include "smp_internal.h"
#include "secrets.h"
#include "test.h"
#include "uvble/gap.h"
#include "uvble/security.h"

static uv_loop_t loop;


struct host {
  uvble_t *ble;
  struct host *peer;
  uint16_t conn;
  bool connected;
  int disconnects;
  /* secrets */
  bool app_secrets; /* the handler answers GET/SET_SECRET */
  struct secrets sec;
  int gets, sets;
  /* ENCRYPTION_UPDATE */
  int enc_events;
  uvble_evt_encryption_t enc;
  /* PASSKEY_ACTION */
  int actions;
  uint8_t action;       /* the last one */
  uint32_t shown;       /* what DISPLAY / NUMCMP showed */
  bool shown_valid;
  bool input_pending;   /* INPUT asked, not answered yet */
  bool numcmp_accept;   /* the user's answer to a comparison */
  bool numcmp_silent;   /* never answers a comparison */
  bool input_silent;    /* never types */
  int32_t input_value;  /* >= 0: typed instead of the peer's number */
  int32_t display_own;  /* >= 0: shown instead of the stack's number */
};

static struct host A, B; /* A central, B peripheral */
static memctl_t *mc;

static inline struct secret *sec_find(struct host *h, uint8_t type,
                                      const uint8_t *k, size_t klen) {
  return secrets_find(&h->sec, type, k, klen);
}

static inline int sec_count(struct host *h, uint8_t type) {
  return secrets_count(&h->sec, type);
}

static int on_get_secret(struct host *h, const uvble_evt_get_secret_t *g) {
  h->gets++;
  return secrets_get(&h->sec, g);
}

static int on_set_secret(struct host *h, const uvble_evt_set_secret_t *e) {
  h->sets++;
  return secrets_set(&h->sec, e);
}

/* Types the number the peer shows, if it has shown one. */
static void try_input(struct host *h) {
  if (!h->input_pending) return;
  uint32_t v;
  if (h->input_value >= 0)
    v = (uint32_t)h->input_value;
  else if (h->peer->shown_valid && h->peer->action == UVBLE_PASSKEY_ACTION_DISPLAY)
    v = h->peer->shown;
  else
    return;
  h->input_pending = false;
  CHECK_EQ(uvble_gap_passkey(h->ble, h->conn, UVBLE_PASSKEY_ACTION_INPUT, v), 0);
}

static int on_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d, void *arg) {
  (void)ble;
  struct host *h = arg;
  switch (ev) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
      h->conn = d->connect.conn_handle;
      h->connected = true;
      return 0;
    case UVBLE_IRQ_CENTRAL_DISCONNECT:
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
      h->connected = false;
      h->disconnects++;
      return 0;
    case UVBLE_IRQ_ENCRYPTION_UPDATE:
      h->enc_events++;
      h->enc = d->encryption;
      return 0;
    case UVBLE_IRQ_GET_SECRET:
      return h->app_secrets ? on_get_secret(h, &d->get_secret) : 0;
    case UVBLE_IRQ_SET_SECRET:
      return h->app_secrets ? on_set_secret(h, &d->set_secret) : 0;
    case UVBLE_IRQ_PASSKEY_ACTION:
      h->actions++;
      h->action = d->passkey.action;
      if (d->passkey.action == UVBLE_PASSKEY_ACTION_DISPLAY) {
        h->shown = d->passkey.passkey;
        if (h->display_own >= 0) {
          h->shown = (uint32_t)h->display_own;
          CHECK_EQ(uvble_gap_passkey(ble, d->passkey.conn_handle,
                                     UVBLE_PASSKEY_ACTION_DISPLAY, h->shown),
                   0);
        }
        h->shown_valid = true;
        try_input(h->peer); /* the peer's user reads it */
      } else if (d->passkey.action == UVBLE_PASSKEY_ACTION_NUMCMP) {
        h->shown = d->passkey.passkey;
        h->shown_valid = true;
        CHECK(d->passkey.passkey <= 999999);
        if (!h->numcmp_silent)
          CHECK_EQ(uvble_gap_passkey(ble, d->passkey.conn_handle,
                                     UVBLE_PASSKEY_ACTION_NUMCMP,
                                     h->numcmp_accept),
                   0);
      } else if (d->passkey.action == UVBLE_PASSKEY_ACTION_INPUT) {
        h->input_pending = !h->input_silent;
        try_input(h);
      }
      return 0;
    default:
      return 0;
  }
}

static void host_reset(struct host *h, struct host *peer) {
  uvble_t *ble = h->ble;
  memset(h, 0, sizeof *h);
  h->ble = ble;
  h->peer = peer;
  h->app_secrets = true;
  h->numcmp_accept = true;
  h->input_value = -1;
  h->display_own = -1;
}

static void up(void) {
  uv_loop_init(&loop);
  uvble_t *a, *b;
  REQUIRE_EQ(memctl_bring_up(&loop, NULL, &mc, &a, &b), 0);
  A.ble = a;
  B.ble = b;
  host_reset(&A, &B);
  host_reset(&B, &A);
  uvble_irq(a, on_irq, &A);
  uvble_irq(b, on_irq, &B);
}

static bool both_connected(void *arg) {
  (void)arg;
  return A.connected && B.connected;
}

static void link_up(void) {
  A.connected = B.connected = false;
  A.shown_valid = B.shown_valid = false; /* numbers of an earlier pairing */
  REQUIRE(memctl_connect(mc) >= 0);
  REQUIRE(run_until_pred(&loop, both_connected, NULL, 2000));
  REQUIRE_EQ(A.conn, B.conn);
}

static bool both_down(void *arg) {
  (void)arg;
  return !A.connected && !B.connected;
}

static void link_down(void) {
  memctl_disconnect(mc, A.conn, 0x13);
  REQUIRE(run_until_pred(&loop, both_down, NULL, 2000));
}

/* Runs until both hosts heard n ENCRYPTION_UPDATE events in total each,
 * typing passkeys as they appear. */
struct want {
  int a, b;
};
static bool enc_done(void *arg) {
  const struct want *w = arg;
  try_input(&A);
  try_input(&B);
  return A.enc_events >= w->a && B.enc_events >= w->b;
}

static bool wait_enc(int a, int b, unsigned ms) {
  struct want w = {a, b};
  return run_until_pred(&loop, enc_done, &w, ms);
}

static void set_cfg(struct host *h, int io, bool mitm, bool sc, bool bond) {
  CHECK_EQ(uvble_config_set_int(h->ble, UVBLE_CONFIG_IO, io), 0);
  CHECK_EQ(uvble_config_set_int(h->ble, UVBLE_CONFIG_MITM, mitm), 0);
  CHECK_EQ(uvble_config_set_int(h->ble, UVBLE_CONFIG_LE_SECURE, sc), 0);
  CHECK_EQ(uvble_config_set_int(h->ble, UVBLE_CONFIG_BOND, bond), 0);
}

static void down(void) {
  if (A.ble) uvble_close(A.ble, NULL, NULL);
  if (B.ble) uvble_close(B.ble, NULL, NULL);
  A.ble = B.ble = NULL;
  memctl_free(mc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

static void expect_secure(const struct host *h, bool auth, bool bonded) {
  CHECK_EQ(h->enc.status, 0);
  CHECK(h->enc.encrypted);
  CHECK_EQ(h->enc.authenticated, auth);
  CHECK_EQ(h->enc.bonded, bonded);
  CHECK_EQ(h->enc.key_size, 16);
  CHECK_EQ(h->enc.conn_handle, h->conn);
}

#endif
