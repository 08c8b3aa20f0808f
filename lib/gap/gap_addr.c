/* SPDX-License-Identifier: Apache-2.0 */
/* GAP: our own address. addr_mode picks the public address, the static
 * random address, a resolvable private address (RPA, from our IRK) or a
 * non-resolvable one (NRPA); private addresses rotate on a timer (Vol 3,
 * Part C, 10.7 recommends 15 minutes). Resolving peers' RPAs is SMP's. */
#include <string.h>

#include "crypto.h"
#include "gap_internal.h"

static void on_rotate(uv_timer_t *t);

int gap_addr_init(uvble_t *ble) {
  struct gap_addr *a = &ble->gap->addr;
  a->rotate_s = UVBLE_GAP_RPA_DEFAULT_TIMEOUT_S;
  int r = uvble_sm_random(a->irk, sizeof a->irk);
  if (r < 0) return r;
  return gap_timer_init(ble, &a->timer, &a->timer_open);
}

void gap_addr_stop(uvble_t *ble) {
  struct gap_addr *a = &ble->gap->addr;
  /* The controller is reset or gone: it holds no random address. A new
   * private address is made at the next start. */
  a->ctrl_valid = false;
  a->priv_valid = false;
  if (a->timer_open) uv_timer_stop(&a->timer);
}

void gap_addr_close(uvble_t *ble) {
  struct gap_addr *a = &ble->gap->addr;
  uvble_sm_wipe(a->irk, sizeof a->irk);
  gap_timer_close(ble, &a->timer, &a->timer_open);
}

const uint8_t *gap_local_irk(uvble_t *ble) { return ble->gap->addr.irk; }

void gap_set_local_irk(uvble_t *ble, const uint8_t irk[16]) {
  struct gap_addr *a = &ble->gap->addr;
  memcpy(a->irk, irk, 16);
  if (a->priv_mode == UVBLE_ADDR_MODE_RPA) a->priv_valid = false;
}

static void arm_rotation(uvble_t *ble) {
  struct gap_addr *a = &ble->gap->addr;
  if (a->timer_open)
    uv_timer_start(&a->timer, on_rotate, (uint64_t)a->rotate_s * 1000, 0);
}

/* Makes a fresh RPA or NRPA for mode. */
static int make_private(uvble_t *ble, int mode) {
  struct gap_addr *a = &ble->gap->addr;
  uint8_t hci[6];
  int r;
  for (int tries = 0;; tries++) {
    r = mode == UVBLE_ADDR_MODE_RPA ? uvble_sm_rpa_generate(a->irk, hci)
                                    : uvble_sm_nrpa_generate(hci);
    if (r < 0) return r;
    ble_addr_from_hci(&a->priv, UVBLE_ADDR_RANDOM, hci);
    /* An NRPA must differ from our public address (Vol 6, Part B,
     * 1.3.2.2); the odds of a clash are 2^-46, but it is cheap to check. */
    if (!ble->info_valid || tries > 4 ||
        memcmp(a->priv.val, ble->info.public_addr.val, 6) != 0)
      break;
  }
  a->priv_valid = true;
  a->priv_mode = mode;
  arm_rotation(ble);
  return 0;
}

/* The random address addr_mode wants; false for PUBLIC. */
static bool want_random(uvble_t *ble, uvble_addr_t *out, int *err) {
  struct gap_addr *a = &ble->gap->addr;
  *err = 0;
  int mode = ble->cfg.addr_mode;
  switch (mode) {
    case UVBLE_ADDR_MODE_RANDOM:
      *out = ble->cfg.static_addr;
      return true;
    case UVBLE_ADDR_MODE_RPA:
    case UVBLE_ADDR_MODE_NRPA:
      if (!a->priv_valid || a->priv_mode != mode)
        *err = make_private(ble, mode);
      *out = a->priv;
      return *err == 0;
    default:
      return false;
  }
}

bool gap_own_addr_random(uvble_t *ble, uvble_addr_t *out) {
  int err;
  return want_random(ble, out, &err);
}

int uvble_gap_own_addr(uvble_t *ble, uvble_addr_t *out) {
  if (!ble || !out || !ble->gap) return UVBLE_EINVAL;
  int err;
  if (want_random(ble, out, &err)) return 0;
  if (err) return err;
  if (!ble->info_valid) return UVBLE_ENOTACTIVE;
  *out = ble->info.public_addr;
  return 0;
}

/* Whether LE Set Random Address may be sent: not while legacy advertising,
 * scanning or initiating is enabled (Vol 4, Part E, 7.8.4). Extended
 * advertising sets have their own address and do not count. */
static bool roles_idle(uvble_t *ble) {
  struct gap_state *g = ble->gap;
  bool legacy_adv = g->adv.active && g->mode != GAP_MODE_EXTENDED;
  return !legacy_adv && !g->scan.active && !gap_connect_pending(ble);
}

static void on_random_set(uvble_t *ble, int err, uint8_t st, const uint8_t *r,
                          size_t n, void *arg) {
  (void)st;
  (void)r;
  (void)n;
  if (!err || !gap_tag_live(ble, arg)) return;
  /* Refused: we do not know what the controller holds. */
  ble->gap->addr.ctrl_valid = false;
}

void gap_public_addr(const uvble_t *ble, uvble_addr_t *out) {
  memset(out, 0, sizeof *out);
  if (ble->info_valid) *out = ble->info.public_addr;
  out->type = UVBLE_ADDR_PUBLIC;
}

int gap_own_addr_prepare(uvble_t *ble, uint8_t *own_type, uvble_addr_t *used) {
  struct gap_state *g = ble->gap;
  struct gap_addr *a = &g->addr;
  uvble_addr_t want, dummy;
  int err;
  if (!used) used = &dummy;
  if (!want_random(ble, &want, &err)) {
    *own_type = 0x00;
    gap_public_addr(ble, used);
    return err;
  }
  *own_type = 0x01;
  *used = want;
  if (a->ctrl_valid && memcmp(a->ctrl.val, want.val, 6) == 0) return 0;
  if (a->ctrl_valid && !roles_idle(ble)) {
    *used = a->ctrl; /* keep it until idle */
    return 0;
  }
  uint8_t hci[6];
  ble_addr_to_hci(&want, hci);
  int r = hci_send_cmd(ble, HCI_OP_LE_SET_RANDOM_ADDRESS, hci, 6, on_random_set,
                       gap_tag_arg(gap_new_tag(g)));
  if (r < 0) return r;
  a->ctrl = want;
  a->ctrl_valid = true;
  return 0;
}

/* A timer is an entry from the loop: a dispatch reference (ble_ref). */
static void on_rotate_run(uv_timer_t *t);

static void on_rotate(uv_timer_t *t) {
  uvble_t *ble = ((struct gap_state *)t->data)->ble;
  ble_ref(ble);
  on_rotate_run(t);
  ble_unref(ble);
}

static void on_rotate_run(uv_timer_t *t) {
  struct gap_state *g = t->data;
  uvble_t *ble = g->ble;
  /* The next start makes a new one; advertising alone is restarted now so
   * that a long-running advertiser does not keep a trackable address. */
  g->addr.priv_valid = false;
  if (ble->state != BLE_ON) return;
  int mode = ble->cfg.addr_mode;
  if (mode != UVBLE_ADDR_MODE_RPA && mode != UVBLE_ADDR_MODE_NRPA) return;
  if (g->adv.active && !g->scan.active && !gap_connect_pending(ble))
    gap_adv_refresh_address(ble);
}

int uvble_gap_set_rpa_timeout(uvble_t *ble, uint32_t seconds) {
  if (!ble || !ble->gap || seconds > 41400) return UVBLE_EINVAL;
  struct gap_addr *a = &ble->gap->addr;
  a->rotate_s = seconds ? seconds : UVBLE_GAP_RPA_DEFAULT_TIMEOUT_S;
  if (a->priv_valid) arm_rotation(ble);
  return 0;
}
