/* SPDX-License-Identifier: Apache-2.0 */
/* vm_peer's security steps: pairing with the kernel's SMP.
 *
 *   config=KEY,VALUE       uvble_config_set_int (io, mitm, bond, le_secure)
 *   bond-store=PATH        open the built-in bond store at PATH (key in
 *                          PATH.key, both created when absent)
 *   passkey=N              how PASSKEY_ACTION is answered from now on:
 *                          input with N, display by showing N (set from
 *                          the handler), numeric comparison accepted
 *   pair                   uvble_gap_pair on the connection; done at an
 *                          ENCRYPTION_UPDATE with status 0
 *   wait-encryption        done at an ENCRYPTION_UPDATE with status 0 (the
 *                          peer started it), at once if already encrypted
 */
#include <stdio.h>
#include <string.h>

#include "peer.h"
#include "uvble/security.h"

const char peer_smp_usage[] =
    "security steps: config=KEY,VALUE bond-store=PATH passkey=N pair wait-encryption\n";

static long passkey = -1;
static bool encrypted;

static bool at(struct peer *p, const char *name) {
  return p->step_active && strcmp(p->steps[p->cur].name, name) == 0;
}

static int step_config(struct peer *p, const struct peer_step *s) {
  if (s->nargs != 2) return UVBLE_EINVAL;
  int key = uvble_config_key(s->arg[0]);
  long v = peer_parse_num(s->arg[1]);
  if (key < 0) return key;
  if (v < 0) return UVBLE_EINVAL;
  int r = uvble_config_set_int(p->ble, key, (int)v);
  if (r == 0) peer_step_done(p);
  return r;
}

static int step_bond_store(struct peer *p, const struct peer_step *s) {
  if (s->nargs != 1) return UVBLE_EINVAL;
  char key[512], err[256] = "";
  snprintf(key, sizeof key, "%s.key", s->arg[0]);
  int r = uvble_bond_store_open(p->ble, s->arg[0], key, NULL, err, sizeof err);
  if (r < 0) {
    peer_fail(p, "bond store: %s", err[0] ? err : uvble_strerror(r));
    return 0;
  }
  peer_step_done(p);
  return 0;
}

int peer_smp_step(struct peer *p, const struct peer_step *s) {
  int r;
  if (strcmp(s->name, "config") == 0) {
    r = step_config(p, s);
  } else if (strcmp(s->name, "bond-store") == 0) {
    r = step_bond_store(p, s);
  } else if (strcmp(s->name, "passkey") == 0) {
    passkey = s->nargs ? peer_parse_num(s->arg[0]) : -1;
    r = passkey < 0 || passkey > 999999 ? UVBLE_EINVAL : 0;
    if (r == 0) peer_step_done(p);
  } else if (strcmp(s->name, "pair") == 0) {
    /* A bonded peer's Security Request may have started encryption first:
     * the call joins that procedure (0), whose ENCRYPTION_UPDATE ends this
     * step all the same. */
    r = uvble_gap_pair(p->ble, p->conn);
  } else if (strcmp(s->name, "wait-encryption") == 0) {
    r = 0;
    if (encrypted && p->connected) peer_step_done(p);
  } else {
    return 0;
  }
  if (r < 0) peer_fail(p, "%s", uvble_strerror(r));
  return 1;
}

static void on_passkey(struct peer *p, const uvble_evt_passkey_t *e) {
  printf("irq PASSKEY_ACTION handle=%u action=%u passkey=%06u\n", e->conn_handle, e->action,
         e->passkey);
  if (passkey < 0) return; /* unanswered: the pairing fails */
  int r = 0;
  if (e->action == UVBLE_PASSKEY_ACTION_INPUT || e->action == UVBLE_PASSKEY_ACTION_DISPLAY)
    r = uvble_gap_passkey(p->ble, e->conn_handle, e->action, (uint32_t)passkey);
  else if (e->action == UVBLE_PASSKEY_ACTION_NUMCMP)
    r = uvble_gap_passkey(p->ble, e->conn_handle, e->action, 1);
  if (r < 0) peer_fail(p, "gap_passkey: %s", uvble_strerror(r));
  else printf("vm_peer: answered passkey action %u with %06ld\n", e->action, passkey);
}

static void on_encryption(struct peer *p, const uvble_evt_encryption_t *e) {
  printf("irq ENCRYPTION_UPDATE handle=%u encrypted=%d authenticated=%d bonded=%d "
         "key_size=%u status=%d\n",
         e->conn_handle, e->encrypted, e->authenticated, e->bonded, e->key_size, e->status);
  if (e->conn_handle != p->conn) return;
  if (e->status == 0) encrypted = e->encrypted;
  if (!at(p, "pair") && !at(p, "wait-encryption")) return;
  if (e->status != 0)
    peer_fail(p, "pairing failed: status %d (hci 0x%02x)", e->status, e->hci_status);
  else if (e->encrypted)
    peer_step_done(p);
}

void peer_smp_irq(struct peer *p, int event, const uvble_irq_data_t *d) {
  if (event == UVBLE_IRQ_PASSKEY_ACTION) on_passkey(p, &d->passkey);
  if (event == UVBLE_IRQ_ENCRYPTION_UPDATE) on_encryption(p, &d->encryption);
  /* A new connection starts unencrypted. */
  if (event == UVBLE_IRQ_CENTRAL_CONNECT || event == UVBLE_IRQ_PERIPHERAL_CONNECT) encrypted = false;
}
