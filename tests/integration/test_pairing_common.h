/* SPDX-License-Identifier: Apache-2.0 */
/* Pairing on btvirt: uvble hosts on btvirt's virtual LE controllers, which
 * encrypt a link only when the central's LE Enable Encryption key and the
 * peripheral host's LTK Request Reply key are the same (and report Key
 * Missing to the central after a negative reply). Each host's app keeps
 * its secrets in memory (GET/SET_SECRET) unless a bond store is opened,
 * answers passkey actions as a user would, and records the events. */
#ifndef UVBLE_TEST_PAIRING_COMMON_H
#define UVBLE_TEST_PAIRING_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "crypto.h"
#include "secrets.h"
#include "test.h"
#include "uvble/adv.h"
#include "uvble/gap.h"
#include "uvble/security.h"

/* Helpers a test file may leave unused. */
#define PAIR_FN static __attribute__((unused))

static uv_loop_t loop;

struct host {
  uvble_t *ble;
  struct host *peer;
  uvble_addr_t addr;
  bool up_done;
  int up_status;
  uint16_t conn;
  bool connected;
  int connects, disconnects;
  bool app_secrets;
  struct secrets sec;
  int enc_events;
  uvble_evt_encryption_t enc;
  int actions;
  uint8_t action;
  uint32_t shown;
  bool shown_valid;
  bool input_pending;
  bool numcmp_accept;
  int32_t input_value;  /* >= 0: typed instead of the peer's number */
  int32_t display_own;  /* >= 0: shown instead of the stack's number */
  /* other events the tests look at */
  int reads_done;
  int read_status;
  uint8_t read_data[64];
  size_t read_len;
  uvble_addr_t last_scan_addr;
  int scan_results;
};

static inline const char *transport(void) {
  return test_transport(); /* tests/support/test.c */
}

PAIR_FN struct secret *sec_find(struct host *h, uint8_t type, const uint8_t *k,
                                size_t n) {
  return secrets_find(&h->sec, type, k, n);
}

PAIR_FN int sec_count(struct host *h, uint8_t type) {
  return secrets_count(&h->sec, type);
}

PAIR_FN int get_secret(struct host *h, const uvble_evt_get_secret_t *g) {
  return secrets_get(&h->sec, g);
}

PAIR_FN int set_secret(struct host *h, const uvble_evt_set_secret_t *e) {
  return secrets_set(&h->sec, e);
}

PAIR_FN void try_input(struct host *h) {
  if (!h->input_pending) return;
  uint32_t v;
  if (h->input_value >= 0)
    v = (uint32_t)h->input_value;
  else if (h->peer && h->peer->shown_valid &&
           h->peer->action == UVBLE_PASSKEY_ACTION_DISPLAY)
    v = h->peer->shown;
  else
    return;
  h->input_pending = false;
  CHECK_EQ(uvble_gap_passkey(h->ble, h->conn, UVBLE_PASSKEY_ACTION_INPUT, v), 0);
}

PAIR_FN void on_passkey(struct host *h, uvble_t *ble,
                       const uvble_evt_passkey_t *p) {
  h->actions++;
  h->action = p->action;
  switch (p->action) {
    case UVBLE_PASSKEY_ACTION_DISPLAY:
      h->shown = p->passkey;
      if (h->display_own >= 0) {
        h->shown = (uint32_t)h->display_own;
        CHECK_EQ(uvble_gap_passkey(ble, p->conn_handle, p->action, h->shown), 0);
      }
      h->shown_valid = true;
      if (h->peer) try_input(h->peer);
      break;
    case UVBLE_PASSKEY_ACTION_NUMCMP:
      h->shown = p->passkey;
      h->shown_valid = true;
      CHECK_EQ(uvble_gap_passkey(ble, p->conn_handle, p->action, h->numcmp_accept),
               0);
      break;
    case UVBLE_PASSKEY_ACTION_INPUT:
      h->input_pending = true;
      try_input(h);
      break;
    default:
      break;
  }
}

PAIR_FN int host_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d,
                    void *arg) {
  struct host *h = arg;
  switch (ev) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
      h->conn = d->connect.conn_handle;
      h->connected = true;
      h->connects++;
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
      return h->app_secrets ? get_secret(h, &d->get_secret) : 0;
    case UVBLE_IRQ_SET_SECRET:
      return h->app_secrets ? set_secret(h, &d->set_secret) : 0;
    case UVBLE_IRQ_PASSKEY_ACTION:
      on_passkey(h, ble, &d->passkey);
      return 0;
    case UVBLE_IRQ_GATTC_READ_RESULT:
      h->read_len = d->gattc_data.data_len < sizeof h->read_data
                        ? d->gattc_data.data_len
                        : sizeof h->read_data;
      memcpy(h->read_data, d->gattc_data.data, h->read_len);
      return 0;
    case UVBLE_IRQ_GATTC_READ_DONE:
      h->reads_done++;
      h->read_status = d->gatt_status.status;
      return 0;
    case UVBLE_IRQ_SCAN_RESULT:
      h->scan_results++;
      h->last_scan_addr = d->scan_result.addr;
      return 0;
    default:
      return 0;
  }
}

PAIR_FN void on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  struct host *h = uvble_get_data(ble);
  h->up_done = true;
  h->up_status = status;
}

PAIR_FN bool up_pred(void *arg) {
  struct host *h = arg;
  return h[0].up_done && h[1].up_done;
}

/* Two hosts on fresh btvirt controllers: h[0] central, h[1] peripheral. */
PAIR_FN void hosts_up(struct host *h) {
  for (int i = 0; i < 2; i++) {
    memset(&h[i], 0, sizeof h[i]);
    h[i].peer = &h[!i];
    h[i].app_secrets = true;
    h[i].numcmp_accept = true;
    h[i].input_value = -1;
    h[i].display_own = -1;
    char err[256] = "";
    int r = uvble_new(&loop, transport(), &h[i].ble, err, sizeof err);
    if (r < 0) fprintf(stderr, "  uvble_new: %s\n", err);
    REQUIRE_EQ(r, 0);
    uvble_set_data(h[i].ble, &h[i]);
    uvble_irq(h[i].ble, host_irq, &h[i]);
    REQUIRE_EQ(uvble_active(h[i].ble, true, on_active, NULL), 0);
  }
  REQUIRE(run_until_pred(&loop, up_pred, h, 10000));
  for (int i = 0; i < 2; i++) {
    REQUIRE_EQ(h[i].up_status, 0);
    REQUIRE_EQ(uvble_config_get_mac(h[i].ble, &h[i].addr), 0);
  }
}

static int closed;
PAIR_FN void on_closed(uvble_t *ble, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  closed++;
}
PAIR_FN bool closed_pred(void *arg) {
  (void)arg;
  return closed == 2;
}

PAIR_FN void hosts_down(struct host *h) {
  closed = 0;
  for (int i = 0; i < 2; i++) uvble_close(h[i].ble, on_closed, NULL);
  CHECK(run_until_pred(&loop, closed_pred, NULL, 5000));
  h[0].ble = h[1].ble = NULL;
  /* Both closed: their controllers serve the next pair of hosts. */
  test_transport_release();
}

PAIR_FN bool both_connected(void *arg) {
  struct host *h = arg;
  return h[0].connected && h[1].connected;
}

static const uint8_t ADV[] = {0x02, 0x01, 0x06};

/* h[1] advertises, h[0] connects. */
PAIR_FN void link_up(struct host *h) {
  h[0].shown_valid = h[1].shown_valid = false;
  /* After a blocking call (opening a bond store: Argon2, fsync) the loop's
   * clock is stale: refresh it before arming the waits below. */
  uv_update_time(&loop);
  REQUIRE_EQ(uvble_gap_advertise(h[1].ble, 20000, ADV, sizeof ADV, NULL, 0,
                                 true),
             0);
  run_until_idle(&loop, 5000); /* advertising is on at the controller */
  REQUIRE_EQ(uvble_gap_connect(h[0].ble, &h[1].addr, 0, 0, 0), 0);
  if (!run_until_pred(&loop, both_connected, h, 3000)) {
    fprintf(stderr, "  link_up: connected %d/%d, disconnects %d/%d\n",
            h[0].connected, h[1].connected, h[0].disconnects, h[1].disconnects);
    REQUIRE(false);
  }
}

PAIR_FN bool both_down(void *arg) {
  struct host *h = arg;
  return !h[0].connected && !h[1].connected;
}

PAIR_FN void link_down(struct host *h) {
  REQUIRE_EQ(uvble_gap_disconnect(h[0].ble, h[0].conn), 1);
  REQUIRE(run_until_pred(&loop, both_down, h, 3000));
}

struct enc_want {
  struct host *h;
  int a, b;
};
PAIR_FN bool enc_pred(void *arg) {
  struct enc_want *w = arg;
  try_input(&w->h[0]);
  try_input(&w->h[1]);
  return w->h[0].enc_events >= w->a && w->h[1].enc_events >= w->b;
}
PAIR_FN bool wait_enc(struct host *h, int a, int b) {
  struct enc_want w = {h, a, b};
  return run_until_pred(&loop, enc_pred, &w, 10000);
}

PAIR_FN void set_cfg(struct host *h, int io, bool mitm, bool sc, bool bond) {
  CHECK_EQ(uvble_config_set_int(h->ble, UVBLE_CONFIG_IO, io), 0);
  CHECK_EQ(uvble_config_set_int(h->ble, UVBLE_CONFIG_MITM, mitm), 0);
  CHECK_EQ(uvble_config_set_int(h->ble, UVBLE_CONFIG_LE_SECURE, sc), 0);
  CHECK_EQ(uvble_config_set_int(h->ble, UVBLE_CONFIG_BOND, bond), 0);
}

PAIR_FN void expect_secure(const struct host *h, bool auth, bool bonded) {
  CHECK_EQ(h->enc.status, 0);
  CHECK(h->enc.encrypted);
  CHECK_EQ(h->enc.authenticated, auth);
  CHECK_EQ(h->enc.bonded, bonded);
  CHECK_EQ(h->enc.key_size, 16);
  CHECK_EQ(h->enc.conn_handle, h->conn);
}

/* gap_pair from the central, both sides' outcome awaited. */
PAIR_FN void pair(struct host *h) {
  int a = h[0].enc_events, b = h[1].enc_events;
  REQUIRE_EQ(uvble_gap_pair(h[0].ble, h[0].conn), 0);
  REQUIRE(wait_enc(h, a + 1, b + 1));
}

#endif
