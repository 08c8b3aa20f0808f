/* SPDX-License-Identifier: Apache-2.0 */
/* Link encryption and key distribution (Vol 3, Part H, 2.4 and 3.6).
 *
 * The central hands a key to its controller with LE Enable Encryption
 * (Vol 4, Part E, 7.8.24: Command Status, then Encryption Change or, on an
 * encrypted link, Key Refresh); the peripheral's controller asks for it
 * with the LE Long Term Key Request event, answered by LTK Request Reply
 * or Negative Reply (7.8.25, 7.8.26). During a pairing the key is the STK
 * or the Secure Connections LTK with EDIV and Rand zero; afterwards it is a
 * stored one.
 *
 * Once encrypted by a pairing, the responder distributes its keys, then
 * the initiator (3.6.1), each in the order EncKey (Encryption Information,
 * Central Identification), IdKey (Identity Information, Identity Address
 * Information), SignKey (Signing Information). The pairing completes when
 * both sides have sent what they agreed; the keys are then stored when both
 * sides bond.
 */
#include <string.h>

#include "crypto.h"
#include "pdu_reader.h"
#include "smp_internal.h"

static void restart_deadline(uvble_t *ble, struct smp_conn *s) {
  s->deadline = ble_now_ms(ble->loop) + ble->smp->timeout_ms;
  smp_arm_timer(ble);
}

/* Encryption could not be set up: end the procedure with the controller's
 * status. */
static void enc_failed(uvble_t *ble, struct ble_conn *c, int status,
                       uint8_t hci_status, bool tell_peer) {
  struct smp_conn *s = c->smp;
  /* Our stored key refused (the peer lost it, or holds another): the bond
   * is stale. Reported as such; the app decides whether to forget it and
   * pair again. */
  if (s->phase == SMP_REENCRYPT &&
      (hci_status == HCI_PIN_OR_KEY_MISSING ||
       hci_status == HCI_AUTH_FAILURE)) {
    s->key_missing = true;
    ble->stats.smp_bond_rejected++;
  }
  if (tell_peer && s->p) {
    uint8_t reason = UVBLE_SMP_UNSPECIFIED;
    smp_send(ble, c, SMP_PAIRING_FAILED, &reason, 1);
  }
  smp_finish(ble, c, status, hci_status);
}

static void on_enable_status(uvble_t *ble, int err, uint8_t st,
                             const uint8_t *r, size_t n, void *arg) {
  (void)r;
  (void)n;
  if (!err || ble_dead(ble)) return;
  struct ble_conn *c = conn_find(ble, (uint16_t)(uintptr_t)arg);
  if (!c || !c->smp || !c->smp->enc_pending) return;
  c->smp->enc_pending = false;
  enc_failed(ble, c, err, err == UVBLE_EHCI ? st : 0, true);
}

int smp_enc_start(uvble_t *ble, struct ble_conn *c, const uint8_t key[16],
                  uint16_t ediv, const uint8_t rand[8]) {
  uint8_t cmd[28];
  put_le16(cmd, c->handle);
  memcpy(cmd + 2, rand, 8);
  put_le16(cmd + 10, ediv);
  memcpy(cmd + 12, key, 16);
  int r = hci_send_cmd(ble, HCI_OP_LE_ENABLE_ENCRYPTION, cmd, sizeof cmd,
                       on_enable_status, (void *)(uintptr_t)c->handle);
  uvble_sm_wipe(cmd, sizeof cmd);
  if (r == 0) c->smp->enc_pending = true;
  return r;
}

int smp_reencrypt(uvble_t *ble, struct ble_conn *c, bool need_mitm) {
  uvble_addr_t id;
  keys_peer_identity(ble, &c->peer, &id);
  struct keys_bond b;
  int r = UVBLE_ECANCELED;
  if (smp_still(ble, c, NULL))
    r = keys_bond_load(ble, UVBLE_SECRET_PEER_SEC, &id, &b);
  if (!(c = smp_still(ble, c, NULL))) {
    uvble_sm_wipe(&b, sizeof b);
    return UVBLE_ECANCELED;
  }
  struct smp_conn *s = c->smp;
  if (r < 0 || !(b.flags & KEYS_F_LTK) ||
      b.key_size < ble->smp->min_key_size ||
      (need_mitm && !(b.flags & KEYS_F_AUTH))) {
    uvble_sm_wipe(&b, sizeof b);
    return 0;
  }
  if (s->phase != SMP_IDLE) {
    uvble_sm_wipe(&b, sizeof b);
    return UVBLE_EBUSY;
  }
  r = smp_enc_start(ble, c, b.ltk, b.ediv, b.rand);
  if (r == 0) {
    s->phase = SMP_REENCRYPT;
    s->pend_valid = true;
    s->pend_auth = (b.flags & KEYS_F_AUTH) != 0;
    s->pend_key_size = b.key_size;
    s->identity = id;
    s->identity_valid = true;
    restart_deadline(ble, s);
  }
  uvble_sm_wipe(&b, sizeof b);
  return r < 0 ? r : 1;
}

/* ---- peripheral: the controller asks for a key ----------------------------- */
static void ltk_reply(uvble_t *ble, uint16_t handle, const uint8_t ltk[16]) {
  uint8_t cmd[18];
  put_le16(cmd, handle);
  memcpy(cmd + 2, ltk, 16);
  hci_send_cmd(ble, HCI_OP_LE_LTK_REPLY, cmd, sizeof cmd, NULL, NULL);
  uvble_sm_wipe(cmd, sizeof cmd);
}

static void ltk_neg_reply(uvble_t *ble, uint16_t handle) {
  ble->stats.smp_ltk_refused++;
  uint8_t cmd[2];
  put_le16(cmd, handle);
  hci_send_cmd(ble, HCI_OP_LE_LTK_NEG_REPLY, cmd, sizeof cmd, NULL, NULL);
}

/* LE Long Term Key Request (Vol 4, Part E, 7.7.65.5): handle, Rand, EDIV. */
void smp_on_ltk_request(uvble_t *ble, const uint8_t *ev, size_t len) {
  struct pdu_reader rd;
  pdu_reader_init(&rd, ev, len);
  uint16_t handle = pdu_get_le16(&rd) & 0x0fff;
  uint8_t rand[8];
  pdu_get_mem(&rd, rand, sizeof rand);
  uint16_t ediv = pdu_get_le16(&rd);
  if (!pdu_done(&rd)) {
    ble->stats.hci_events_malformed++;
    return;
  }
  static const uint8_t zero[8];
  bool zero_id = ediv == 0 && memcmp(rand, zero, 8) == 0;
  struct ble_conn *c = conn_find(ble, handle);
  if (!c || !c->smp || c->role != CONN_ROLE_PERIPHERAL) {
    ltk_neg_reply(ble, handle);
    return;
  }
  struct smp_conn *s = c->smp;
  if (s->p) {
    /* During a pairing only its own key (EDIV and Rand zero) once the
     * exchange has produced it (2.4.4.1, 2.3.5.6.5). */
    if (s->phase == SMP_WAIT_ENCRYPTION && zero_id)
      ltk_reply(ble, handle, s->p->key);
    else
      ltk_neg_reply(ble, handle);
    return;
  }
  uvble_addr_t id;
  keys_peer_identity(ble, &c->peer, &id);
  struct keys_bond b;
  int r = UVBLE_ECANCELED;
  if (smp_still(ble, c, NULL))
    r = keys_bond_load(ble, UVBLE_SECRET_OUR_SEC, &id, &b);
  if (!(c = smp_still(ble, c, NULL))) {
    uvble_sm_wipe(&b, sizeof b);
    return;
  }
  s = c->smp;
  bool ok = r == 0 && (b.flags & KEYS_F_LTK) &&
            b.key_size >= ble->smp->min_key_size && !s->p &&
            ((b.flags & KEYS_F_SC)
                 ? zero_id
                 : b.ediv == ediv && memcmp(b.rand, rand, 8) == 0);
  if (ok) {
    s->pend_valid = true;
    s->pend_auth = (b.flags & KEYS_F_AUTH) != 0;
    s->pend_key_size = b.key_size;
    s->identity = id;
    s->identity_valid = true;
    ltk_reply(ble, handle, b.ltk);
  } else {
    ltk_neg_reply(ble, handle);
    /* The central wants to resume a bond we do not hold (or not with that
     * key): its controller hears PIN or Key Missing; our app hears the
     * same, as a stale bond (the controller reports nothing to us). */
    if (!s->p) {
      s->key_missing = true;
      s->ltk_refused = true;
      smp_finish(ble, c, UVBLE_EHCI, HCI_PIN_OR_KEY_MISSING);
    }
  }
  uvble_sm_wipe(&b, sizeof b);
}

/* ---- key distribution -------------------------------------------------------- */
static bool send_keys(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  struct keys_bond *o = &p->our_keys;
  uint8_t buf[16];
  if (p->local_dist & SMP_DIST_ENC) {
    if (uvble_sm_random(o->ltk, 16) < 0 || uvble_sm_random(buf, 10) < 0) {
      smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
      return false;
    }
    smp_mask_key(o->ltk, s->key_size);
    o->ediv = get_le16(buf);
    memcpy(o->rand, buf + 2, 8);
    o->flags |= KEYS_F_LTK;
    smp_send(ble, c, SMP_ENC_INFO, o->ltk, 16);
    smp_send(ble, c, SMP_CENTRAL_IDENT, buf, 10);
  }
  if (p->local_dist & SMP_DIST_ID) {
    keys_local_irk(ble, buf); /* may ask the app for it */
    if (!(c = smp_still(ble, c, p))) {
      uvble_sm_wipe(buf, sizeof buf);
      return false;
    }
    smp_send(ble, c, SMP_ID_INFO, buf, 16);
    uvble_addr_t me;
    smp_own_identity(ble, &me);
    uint8_t ai[7];
    ai[0] = me.type & 1;
    ble_addr_to_hci(&me, ai + 1);
    smp_send(ble, c, SMP_ID_ADDR_INFO, ai, 7);
  }
  if (p->local_dist & SMP_DIST_SIGN) {
    if (uvble_sm_random(o->csrk, 16) < 0) {
      smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
      return false;
    }
    o->flags |= KEYS_F_CSRK;
    smp_send(ble, c, SMP_SIGN_INFO, o->csrk, 16);
  }
  uvble_sm_wipe(buf, sizeof buf);
  p->local_dist = 0;
  p->keys_mark = acl_tx_mark(c, L2CAP_CID_SMP);
  return true;
}

/* Stores the bond (both sides bonding) and ends the pairing. */
static void pairing_complete(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  uvble_addr_t id = c->peer;
  id.type &= 1;
  if (p->have_identity)
    ble_addr_from_hci(&id, p->peer_keys.id_type, p->peer_keys.id_addr);
  s->identity = id;
  s->identity_valid = true;
  s->key_missing = false;
  bool bonded = false;
  if (s->bonding) {
    struct keys_bond *peer = &p->peer_keys, *ours = &p->our_keys;
    uint8_t common = (s->method != SMP_JUST_WORKS ? KEYS_F_AUTH : 0) |
                     (s->sc ? KEYS_F_SC : 0);
    if (s->sc) {
      /* One LTK, used in both roles (2.3.5.6.5). */
      memcpy(peer->ltk, p->key, 16);
      memcpy(ours->ltk, p->key, 16);
      peer->flags |= KEYS_F_LTK;
      ours->flags |= KEYS_F_LTK;
    }
    for (int i = 0; i < 2; i++) {
      struct keys_bond *b = i ? ours : peer;
      b->key_size = s->key_size;
      b->id_type = id.type;
      ble_addr_to_hci(&id, b->id_addr);
    }
    /* A bond with no key in it (legacy pairing that distributed nothing)
     * could never be used: nothing is stored. */
    const uint8_t any = KEYS_F_LTK | KEYS_F_IRK | KEYS_F_CSRK;
    if ((peer->flags | ours->flags) & any) {
      peer->flags |= common;
      ours->flags |= common;
      int r1 = keys_bond_save(ble, UVBLE_SECRET_PEER_SEC, &id, peer);
      if (!(c = smp_still(ble, c, p))) return;
      int r2 = keys_bond_save(ble, UVBLE_SECRET_OUR_SEC, &id, ours);
      if (!(c = smp_still(ble, c, p))) return;
      bonded = r1 == 0 && r2 == 0;
      keys_irk_cache_invalidate(ble);
    }
  }
  smp_backoff_reset(ble, &c->peer);
  c->bonded = bonded;
  if (bonded) {
    keys_notify_bonded(ble, c);
    if (!(c = smp_still(ble, c, p))) return;
    keys_notify_bond_link(ble, c, false);
    if (!(c = smp_still(ble, c, p))) return;
  }
  smp_finish(ble, c, 0, 0);
}

/* Distribution is over when the peer's keys are in and ours are out:
 * queued is not enough, the controller must have completed them (a
 * disconnect right after the pairing would otherwise lose them, and the
 * peer would keep no bond while we keep one). */
static void maybe_complete(uvble_t *ble, struct ble_conn *c) {
  struct smp_pairing *p = c->smp->p;
  if (p->remote_dist) return; /* more keys are due */
  if (c->smp->initiator && p->local_dist && !send_keys(ble, c)) return;
  p->keys_queued = true;
  if (!acl_tx_done(c, p->keys_mark)) return; /* smp_keydist_on_tx_done */
  pairing_complete(ble, c);
}

void smp_keydist_on_tx_done(uvble_t *ble) {
  /* Completing a pairing raises irqs that may end links or the stack:
   * look again from the start after each. */
  bool again = true;
  while (again && !ble_dead(ble)) {
    again = false;
    for (struct ble_conn *c = conn_first(ble); c; c = conn_next(c)) {
      struct smp_conn *s = c->smp;
      if (!s || !s->p || s->phase != SMP_KEY_DIST || !s->p->keys_queued ||
          !acl_tx_done(c, s->p->keys_mark))
        continue;
      pairing_complete(ble, c);
      again = true;
      break;
    }
  }
}

bool smp_keydist_hold(struct smp_conn *s, uint8_t op, const uint8_t *d,
                      size_t len) {
  struct smp_pairing *p = s->p;
  if (p->n_early >= sizeof p->early / sizeof p->early[0] || len > 16)
    return false;
  p->early[p->n_early][0] = op;
  memcpy(p->early[p->n_early] + 1, d, len);
  p->n_early++;
  return true;
}

static void keydist_start(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  s->phase = SMP_KEY_DIST;
  restart_deadline(ble, s);
  if (!s->initiator && !send_keys(ble, c)) return;
  /* Keys that arrived ahead of the Encryption Change, in order. */
  for (uint8_t i = 0; i < p->n_early; i++) {
    uint8_t op = p->early[i][0];
    smp_keydist_on_pdu(ble, c, op, p->early[i] + 1,
                       op == SMP_CENTRAL_IDENT ? 10
                       : op == SMP_ID_ADDR_INFO ? 7
                                                : 16);
    if (!(c = smp_still(ble, c, p)) || c->smp->phase != SMP_KEY_DIST)
      return;
  }
  maybe_complete(ble, c);
}

static uint8_t next_expected(const struct smp_pairing *p) {
  if (p->remote_dist & SMP_DIST_ENC)
    return p->got_enc_info ? SMP_CENTRAL_IDENT : SMP_ENC_INFO;
  if (p->remote_dist & SMP_DIST_ID)
    return p->got_id_info ? SMP_ID_ADDR_INFO : SMP_ID_INFO;
  if (p->remote_dist & SMP_DIST_SIGN) return SMP_SIGN_INFO;
  return 0;
}

void smp_keydist_on_pdu(uvble_t *ble, struct ble_conn *c, uint8_t op,
                        const uint8_t *d, size_t len) {
  struct pdu_reader r; /* len fits op: the dispatcher checked */
  pdu_reader_init(&r, d, len);
  struct smp_pairing *p = c->smp->p;
  struct keys_bond *k = &p->peer_keys;
  if (op != next_expected(p)) {
    smp_refuse(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  switch (op) {
    case SMP_ENC_INFO:
      pdu_get_mem(&r, k->ltk, 16);
      p->got_enc_info = true;
      return;
    case SMP_CENTRAL_IDENT:
      k->ediv = pdu_get_le16(&r);
      pdu_get_mem(&r, k->rand, 8);
      k->flags |= KEYS_F_LTK;
      p->remote_dist &= (uint8_t)~SMP_DIST_ENC;
      break;
    case SMP_ID_INFO:
      pdu_get_mem(&r, k->irk, 16);
      p->got_id_info = true;
      return;
    case SMP_ID_ADDR_INFO: {
      uint8_t type = pdu_get_u8(&r), addr[6];
      /* An identity address is public or static random (3.6.5). */
      if (!pdu_get_addr(&r, addr) || type > 1 ||
          (type == 1 && !uvble_sm_addr_is_static(addr))) {
        smp_refuse(ble, c, UVBLE_SMP_INVALID_PARAMS);
        return;
      }
      k->id_type = type;
      memcpy(k->id_addr, addr, 6);
      k->flags |= KEYS_F_IRK;
      p->have_identity = true;
      p->remote_dist &= (uint8_t)~SMP_DIST_ID;
      break;
    }
    case SMP_SIGN_INFO:
      pdu_get_mem(&r, k->csrk, 16);
      k->flags |= KEYS_F_CSRK;
      p->remote_dist &= (uint8_t)~SMP_DIST_SIGN;
      break;
    default:
      return;
  }
  maybe_complete(ble, c);
}

/* ---- Encryption Change / Key Refresh ---------------------------------------- */
static void on_encrypted(uvble_t *ble, struct ble_conn *c, uint8_t status,
                         bool on) {
  struct smp_conn *s = c->smp;
  s->enc_pending = false;
  bool reported = s->ltk_refused;
  s->ltk_refused = false;
  /* A controller that also reports the failure our negative reply caused:
   * already told. */
  if (reported && status != HCI_SUCCESS && !s->p) return;
  if (status != HCI_SUCCESS || !on) {
    c->encrypted = false;
    c->authenticated = false;
    c->bonded = false;
    c->key_size = 0;
    s->pend_valid = false;
    if (status != HCI_SUCCESS)
      enc_failed(ble, c, UVBLE_EHCI, status, false);
    else if (!s->p)
      smp_finish(ble, c, 0, 0);
    return;
  }
  c->encrypted = true;
  if (s->p && s->phase == SMP_WAIT_ENCRYPTION) {
    c->key_size = s->key_size;
    c->authenticated = s->method != SMP_JUST_WORKS;
    c->bonded = false;
    keydist_start(ble, c);
    return;
  }
  if (s->pend_valid) {
    c->key_size = s->pend_key_size;
    c->authenticated = s->pend_auth;
    c->bonded = true;
    s->pend_valid = false;
    /* A bonded peer is back: the GATT server restores its CCCDs. */
    keys_notify_bond_link(ble, c, true);
    if (!(c = smp_still(ble, c, NULL))) return;
    s = c->smp;
  }
  /* Not in the middle of a pairing: the change is the outcome of our
   * re-encryption, of the peer's, or of a Security Request. */
  if (!s->p) smp_finish(ble, c, 0, 0);
}

/* Encryption Change (Vol 4, Part E, 7.7.8): status, handle, enabled. */
void smp_on_encryption_change(uvble_t *ble, const uint8_t *ev, size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, ev, len);
  uint8_t status = pdu_get_u8(&r);
  uint16_t handle = pdu_get_le16(&r) & 0x0fff;
  uint8_t enabled = pdu_get_u8(&r);
  if (!pdu_done(&r)) {
    ble->stats.hci_events_malformed++;
    return;
  }
  struct ble_conn *c = conn_find(ble, handle);
  if (!c || !c->smp) {
    ble->stats.hci_events_unexpected++;
    return;
  }
  on_encrypted(ble, c, status, enabled != 0);
}

/* Encryption Key Refresh Complete (7.7.39): status, handle. A re-encrypted
 * link reports this instead of Encryption Change. */
void smp_on_key_refresh(uvble_t *ble, const uint8_t *ev, size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, ev, len);
  uint8_t status = pdu_get_u8(&r);
  uint16_t handle = pdu_get_le16(&r) & 0x0fff;
  if (!pdu_done(&r)) {
    ble->stats.hci_events_malformed++;
    return;
  }
  struct ble_conn *c = conn_find(ble, handle);
  if (!c || !c->smp) {
    ble->stats.hci_events_unexpected++;
    return;
  }
  on_encrypted(ble, c, status, true);
}
