/* SPDX-License-Identifier: Apache-2.0 */
/* LE legacy pairing, phase 2 (Vol 3, Part H, 2.3.5.2 - 2.3.5.5): the TK
 * from Just Works (zero) or Passkey Entry, the c1 confirm / random
 * exchange, and the STK = s1(TK, Srand, Mrand) the link is encrypted with.
 *
 * Initiator: Mconfirm ->, <- Sconfirm, Mrand ->, <- Srand, check, encrypt.
 * Responder: <- Mconfirm (held until the TK is known), Sconfirm ->,
 *            <- Mrand, check, Srand ->, answer the LTK request with STK.
 */
#include <string.h>

#include "crypto.h"
#include "smp_internal.h"

static void tk_from_passkey(struct smp_conn *s) {
  memset(s->p->tk, 0, 16);
  put_le32(s->p->tk, s->passkey); /* 2.3.5.3: the passkey as a 128-bit TK */
  s->tk_ready = true;
}

/* c1 over rand with this pairing's PDUs and addresses. */
static int confirm_value(uvble_t *ble, struct ble_conn *c,
                         const uint8_t rand[16], uint8_t out[16]) {
  struct smp_pairing *p = c->smp->p;
  uint8_t it, ia[6], rt, ra[6];
  smp_pairing_addrs(ble, c, &it, ia, &rt, ra);
  return uvble_sm_c1(p->tk, rand, p->preq, p->pres, it, ia, rt, ra, out);
}

/* A fresh random and its confirm value, sent. */
static void send_confirm(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  uint8_t conf[16];
  if (uvble_sm_random(p->local_rand, 16) < 0 ||
      confirm_value(ble, c, p->local_rand, conf) < 0) {
    smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  s->confirm_sent = true;
  /* The responder answers the initiator's confirm with its own and then
   * waits for the initiator's random. */
  if (!s->initiator) s->phase = SMP_WAIT_RANDOM;
  smp_send(ble, c, SMP_PAIRING_CONFIRM, conf, 16);
}

void smp_legacy_start(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  switch (s->method) {
    case SMP_PASSKEY_DISPLAY: {
      s->passkey = smp_random_passkey();
      if (!smp_ask_user(ble, c, UVBLE_PASSKEY_ACTION_DISPLAY, s->passkey))
        return;
      tk_from_passkey(s);
      break;
    }
    case SMP_PASSKEY_INPUT:
      smp_ask_user(ble, c, UVBLE_PASSKEY_ACTION_INPUT, 0);
      return; /* smp_legacy_passkey_ready continues */
    default:
      /* Just Works: TK is zero (2.3.5.2). Numeric comparison does not
       * exist in legacy pairing. */
      memset(s->p->tk, 0, 16);
      s->tk_ready = true;
      break;
  }
  if (s->initiator) send_confirm(ble, c);
}

void smp_legacy_passkey_ready(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  tk_from_passkey(s);
  if (s->initiator || s->have_peer_confirm) send_confirm(ble, c);
}

void smp_legacy_on_confirm(uvble_t *ble, struct ble_conn *c,
                           const uint8_t v[16]) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  /* The initiator speaks first; a second confirm is out of sequence. */
  if ((s->initiator && !s->confirm_sent) || s->have_peer_confirm) {
    smp_refuse(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  memcpy(p->peer_confirm, v, 16);
  s->have_peer_confirm = true;
  if (s->initiator) {
    s->phase = SMP_WAIT_RANDOM;
    smp_send(ble, c, SMP_PAIRING_RANDOM, p->local_rand, 16);
    return;
  }
  if (s->tk_ready) send_confirm(ble, c);
}

void smp_legacy_on_random(uvble_t *ble, struct ble_conn *c,
                          const uint8_t v[16]) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  uint8_t expect[16];
  memcpy(p->peer_rand, v, 16);
  if (confirm_value(ble, c, p->peer_rand, expect) < 0) {
    smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  bool ok = uvble_sm_ct_equal(expect, p->peer_confirm, 16);
  uvble_sm_wipe(expect, sizeof expect);
  if (!ok) {
    smp_fail(ble, c, UVBLE_SMP_CONFIRM_VALUE_FAILED);
    return;
  }
  const uint8_t *srand = s->initiator ? p->peer_rand : p->local_rand;
  const uint8_t *mrand = s->initiator ? p->local_rand : p->peer_rand;
  if (uvble_sm_s1(p->tk, srand, mrand, p->key) < 0) {
    smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  smp_mask_key(p->key, s->key_size);
  s->phase = SMP_WAIT_ENCRYPTION;
  if (!s->initiator) {
    /* The central now encrypts with the STK; its LTK request finds it. */
    smp_send(ble, c, SMP_PAIRING_RANDOM, p->local_rand, 16);
    return;
  }
  static const uint8_t zero_rand[8];
  int r = smp_enc_start(ble, c, p->key, 0, zero_rand);
  if (r < 0) smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
}
