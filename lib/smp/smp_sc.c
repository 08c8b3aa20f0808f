/* SPDX-License-Identifier: Apache-2.0 */
/* LE Secure Connections pairing, phase 2 (Vol 3, Part H, 2.3.5.6):
 * public key exchange with a fresh P-256 key pair per pairing,
 * authentication stage 1 (Just Works / Numeric Comparison: one f4 commit
 * by the responder; Passkey Entry: 20 rounds of f4 commits, one passkey
 * bit each) and stage 2 (f5 for MacKey and LTK, f6 DHKey checks).
 *
 * PKa/PKb, Na/Nb, Ca/Cb, Ea/Eb are the initiator's / responder's. ra and
 * rb are the passkey for Passkey Entry and zero otherwise.
 */
#include <string.h>

#include "crypto.h"
#include "smp_internal.h"

/* X coordinates of the initiator's and responder's public keys. */
static const uint8_t *pka(const struct smp_conn *s) {
  return s->initiator ? s->p->pub : s->p->peer_pub;
}
static const uint8_t *pkb(const struct smp_conn *s) {
  return s->initiator ? s->p->peer_pub : s->p->pub;
}

/* f4's Z: 0, or 0x80 | this round's passkey bit (2.3.5.6.3). */
static uint8_t round_z(const struct smp_conn *s) {
  if (s->method != SMP_PASSKEY_INPUT && s->method != SMP_PASSKEY_DISPLAY)
    return 0;
  return (uint8_t)(0x80 | ((s->passkey >> s->round) & 1));
}

static bool is_passkey(const struct smp_conn *s) {
  return s->method == SMP_PASSKEY_INPUT || s->method == SMP_PASSKEY_DISPLAY;
}

/* A fresh nonce and our commitment to it: Ca = f4(PKax, PKbx, Na, z) or
 * Cb = f4(PKbx, PKax, Nb, z). */
static void send_commit(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  const uint8_t *u = s->initiator ? pka(s) : pkb(s);
  const uint8_t *v = s->initiator ? pkb(s) : pka(s);
  uint8_t conf[16];
  if (uvble_sm_random(p->local_rand, 16) < 0 ||
      uvble_sm_f4(u, v, p->local_rand, round_z(s), conf) < 0) {
    smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  s->confirm_sent = true;
  if (!s->initiator) s->phase = SMP_WAIT_RANDOM;
  smp_send(ble, c, SMP_PAIRING_CONFIRM, conf, 16);
}

void smp_sc_start(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  if (uvble_sm_p256_generate(p->priv, p->pub) < 0) {
    smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  if (s->initiator) smp_send(ble, c, SMP_PUBLIC_KEY, p->pub, 64);
}

static void passkey_to_r(struct smp_conn *s) {
  memset(s->p->tk, 0, 16);
  put_le32(s->p->tk, s->passkey);
  s->tk_ready = true;
}

/* Stage 1 begins once both public keys are known. */
static void stage1(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  s->round = 0;
  s->phase = SMP_WAIT_CONFIRM;
  switch (s->method) {
    case SMP_PASSKEY_DISPLAY:
      s->passkey = smp_random_passkey();
      if (!smp_ask_user(ble, c, UVBLE_PASSKEY_ACTION_DISPLAY, s->passkey))
        return;
      passkey_to_r(s);
      if (s->initiator) send_commit(ble, c);
      return;
    case SMP_PASSKEY_INPUT:
      smp_ask_user(ble, c, UVBLE_PASSKEY_ACTION_INPUT, 0);
      return; /* smp_sc_passkey_ready continues */
    default:
      /* Just Works / Numeric Comparison: only the responder commits. */
      memset(s->p->tk, 0, 16);
      s->tk_ready = true;
      if (!s->initiator) send_commit(ble, c);
      return;
  }
}

void smp_sc_passkey_ready(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  passkey_to_r(s);
  if (s->initiator || s->have_peer_confirm) send_commit(ble, c);
}

void smp_sc_on_public_key(uvble_t *ble, struct ble_conn *c,
                          const uint8_t pk[64]) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  memcpy(p->peer_pub, pk, 64);
  /* Our own key reflected (or its mirror image, same X) would make the
   * DHKey predictable: refused as BlueZ and Zephyr do. */
  if (memcmp(pk, p->pub, 32) == 0) {
    smp_refuse(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  /* An invalid point (off the curve, infinity) fails with DHKey Check
   * Failed (CVE-2018-5383; NimBLE and Zephyr's reason). */
  int r = uvble_sm_p256_dhkey(p->priv, p->peer_pub, p->dhkey);
  if (r < 0) {
    /* An invalid key is the peer's doing: counted as a refused PDU. */
    if (r == UVBLE_EINVAL)
      smp_refuse(ble, c, UVBLE_SMP_DHKEY_CHECK_FAILED);
    else
      smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  uvble_sm_wipe(p->priv, sizeof p->priv); /* no longer needed */
  if (!s->initiator) smp_send(ble, c, SMP_PUBLIC_KEY, p->pub, 64);
  stage1(ble, c);
}

void smp_sc_on_confirm(uvble_t *ble, struct ble_conn *c, const uint8_t v[16]) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  bool ok;
  if (s->initiator)
    /* Just Works / NC: the responder's commitment comes first; Passkey:
     * ours of this round must be out. */
    ok = is_passkey(s) ? s->confirm_sent : true;
  else
    ok = is_passkey(s) && !s->have_peer_confirm;
  if (!ok) {
    smp_refuse(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  memcpy(p->peer_confirm, v, 16);
  s->have_peer_confirm = true;
  if (s->initiator) {
    if (!is_passkey(s) && uvble_sm_random(p->local_rand, 16) < 0) {
      smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
      return;
    }
    s->phase = SMP_WAIT_RANDOM;
    smp_send(ble, c, SMP_PAIRING_RANDOM, p->local_rand, 16);
    return;
  }
  if (s->tk_ready) send_commit(ble, c);
}

/* Checks the peer's commitment against the nonce it just revealed. */
static bool peer_commit_ok(struct smp_conn *s) {
  struct smp_pairing *p = s->p;
  const uint8_t *u = s->initiator ? pkb(s) : pka(s);
  const uint8_t *v = s->initiator ? pka(s) : pkb(s);
  uint8_t expect[16];
  if (uvble_sm_f4(u, v, p->peer_rand, round_z(s), expect) < 0) return false;
  bool ok = uvble_sm_ct_equal(expect, p->peer_confirm, 16);
  uvble_sm_wipe(expect, sizeof expect);
  return ok;
}

/* f5 then f6 for our side (out) or the peer's (expected check). */
static int derive_checks(uvble_t *ble, struct ble_conn *c, uint8_t ea[16],
                         uint8_t eb[16]) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  uint8_t at, a[6], bt, b[6];
  smp_pairing_addrs(ble, c, &at, a, &bt, b);
  const uint8_t *na = s->initiator ? p->local_rand : p->peer_rand;
  const uint8_t *nb = s->initiator ? p->peer_rand : p->local_rand;
  int r = uvble_sm_f5(p->dhkey, na, nb, at, a, bt, b, p->mackey, p->key);
  if (r == 0)
    r = uvble_sm_f6(p->mackey, na, nb, p->tk, p->preq + 1, at, a, bt, b, ea);
  if (r == 0)
    r = uvble_sm_f6(p->mackey, nb, na, p->tk, p->pres + 1, bt, b, at, a, eb);
  smp_mask_key(p->key, s->key_size);
  return r;
}

/* Initiator, stage 2: Ea goes out, Eb is awaited. */
static void initiator_stage2(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  uint8_t ea[16], eb[16];
  if (derive_checks(ble, c, ea, eb) < 0) {
    smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  uvble_sm_wipe(eb, sizeof eb);
  s->phase = SMP_WAIT_DHKEY_CHECK;
  smp_send(ble, c, SMP_DHKEY_CHECK, ea, 16);
  uvble_sm_wipe(ea, sizeof ea);
}

/* Responder, stage 2: checks Ea (held in peer_check), answers Eb. */
static void responder_stage2(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  uint8_t ea[16], eb[16];
  if (derive_checks(ble, c, ea, eb) < 0) {
    smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  bool ok = uvble_sm_ct_equal(ea, p->peer_check, 16);
  uvble_sm_wipe(ea, sizeof ea);
  if (!ok) {
    uvble_sm_wipe(eb, sizeof eb);
    smp_fail(ble, c, UVBLE_SMP_DHKEY_CHECK_FAILED);
    return;
  }
  s->phase = SMP_WAIT_ENCRYPTION; /* the central encrypts with the LTK */
  smp_send(ble, c, SMP_DHKEY_CHECK, eb, 16);
  uvble_sm_wipe(eb, sizeof eb);
}

/* Numeric comparison: Va = Vb = g2(PKax, PKbx, Na, Nb), shown to the user. */
static void ask_numcmp(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  const uint8_t *na = s->initiator ? p->local_rand : p->peer_rand;
  const uint8_t *nb = s->initiator ? p->peer_rand : p->local_rand;
  uint32_t value;
  if (uvble_sm_g2(pka(s), pkb(s), na, nb, &value) < 0) {
    smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  smp_ask_user(ble, c, UVBLE_PASSKEY_ACTION_NUMCMP, value);
}

void smp_sc_numcmp_answer(uvble_t *ble, struct ble_conn *c, bool accept) {
  struct smp_conn *s = c->smp;
  if (!accept) {
    smp_fail(ble, c, UVBLE_SMP_NUMCMP_FAILED);
    return;
  }
  s->user_accepted = true;
  if (s->initiator)
    initiator_stage2(ble, c);
  else if (s->have_peer_check)
    responder_stage2(ble, c);
}

static void initiator_on_random(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  if (!peer_commit_ok(s)) {
    smp_fail(ble, c, UVBLE_SMP_CONFIRM_VALUE_FAILED);
    return;
  }
  if (is_passkey(s) && ++s->round < SMP_PASSKEY_ROUNDS) {
    s->confirm_sent = false;
    s->have_peer_confirm = false;
    s->phase = SMP_WAIT_CONFIRM;
    send_commit(ble, c);
    return;
  }
  if (s->method == SMP_NUMCMP) {
    s->phase = SMP_WAIT_DHKEY_CHECK; /* nothing is due until we send Ea */
    ask_numcmp(ble, c);
    return;
  }
  initiator_stage2(ble, c);
}

static void responder_on_random(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  if (is_passkey(s) && !peer_commit_ok(s)) {
    smp_fail(ble, c, UVBLE_SMP_CONFIRM_VALUE_FAILED);
    return;
  }
  bool more = is_passkey(s) && s->round + 1 < SMP_PASSKEY_ROUNDS;
  s->phase = more ? SMP_WAIT_CONFIRM : SMP_WAIT_DHKEY_CHECK;
  smp_send(ble, c, SMP_PAIRING_RANDOM, p->local_rand, 16);
  if (is_passkey(s)) {
    if (more) {
      s->round++;
      s->confirm_sent = false;
      s->have_peer_confirm = false;
    }
    return;
  }
  if (s->method == SMP_NUMCMP) ask_numcmp(ble, c);
}

void smp_sc_on_random(uvble_t *ble, struct ble_conn *c, const uint8_t v[16]) {
  struct smp_conn *s = c->smp;
  memcpy(s->p->peer_rand, v, 16);
  if (s->initiator)
    initiator_on_random(ble, c);
  else
    responder_on_random(ble, c);
}

void smp_sc_on_dhkey_check(uvble_t *ble, struct ble_conn *c,
                           const uint8_t v[16]) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  if (!s->initiator) {
    if (s->have_peer_check) {
      smp_refuse(ble, c, UVBLE_SMP_UNSPECIFIED);
      return;
    }
    memcpy(p->peer_check, v, 16);
    s->have_peer_check = true;
    /* Held until the user has accepted the numbers (2.3.5.6.2). */
    if (s->method != SMP_NUMCMP || s->user_accepted) responder_stage2(ble, c);
    return;
  }
  /* Initiator: Eb may only follow our Ea. */
  if (s->method == SMP_NUMCMP && !s->user_accepted) {
    smp_refuse(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  uint8_t ea[16], eb[16];
  if (derive_checks(ble, c, ea, eb) < 0) {
    smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  bool ok = uvble_sm_ct_equal(eb, v, 16);
  uvble_sm_wipe(ea, sizeof ea);
  uvble_sm_wipe(eb, sizeof eb);
  if (!ok) {
    smp_fail(ble, c, UVBLE_SMP_DHKEY_CHECK_FAILED);
    return;
  }
  s->phase = SMP_WAIT_ENCRYPTION;
  static const uint8_t zero_rand[8];
  if (smp_enc_start(ble, c, p->key, 0, zero_rand) < 0)
    smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
}
