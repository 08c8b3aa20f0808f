/* SPDX-License-Identifier: Apache-2.0 */
/* Security Manager: module hooks, PDU dispatch and sequencing, the pairing
 * feature exchange in both roles, Security Request, the SMP timeout, failure
 * and the repeated-attempts back-off, and the public API (Vol 3, Part H).
 * Phase 2 lives in smp_legacy.c / smp_sc.c, encryption and key distribution
 * in smp_enc.c (see smp_internal.h). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "pdu_reader.h"
#include "smp_internal.h"

/* PDU lengths, code included (3.5, 3.6). Anything else is refused with
 * Invalid Parameters. */
static const uint8_t pdu_len[SMP_OP_MAX + 1] = {
    [SMP_PAIRING_REQ] = 7,      [SMP_PAIRING_RSP] = 7,
    [SMP_PAIRING_CONFIRM] = 17, [SMP_PAIRING_RANDOM] = 17,
    [SMP_PAIRING_FAILED] = 2,   [SMP_ENC_INFO] = 17,
    [SMP_CENTRAL_IDENT] = 11,   [SMP_ID_INFO] = 17,
    [SMP_ID_ADDR_INFO] = 8,     [SMP_SIGN_INFO] = 17,
    [SMP_SECURITY_REQ] = 2,     [SMP_PUBLIC_KEY] = 65,
    [SMP_DHKEY_CHECK] = 17,     [SMP_KEYPRESS] = 2,
};

/* A pairing runs (from the Security Request or the feature exchange until
 * the last key is distributed). Re-encryption with a stored key is not a
 * pairing: SMP failures do not end it. */
static bool in_pairing(const struct smp_conn *s) {
  return s->p != NULL || s->phase == SMP_SEC_REQ;
}

static void drop_pairing(struct smp_conn *s) {
  if (!s->p) return;
  uvble_sm_wipe(s->p, sizeof *s->p);
  free(s->p);
  s->p = NULL;
  s->passkey = 0;
}

static void reset_procedure(struct smp_conn *s) {
  s->round = 0;
  s->passkey = 0;
  s->tk_ready = false;
  s->user_action = 0;
  s->in_display_irq = false;
  s->user_accepted = false;
  s->confirm_sent = false;
  s->have_peer_confirm = false;
  s->have_peer_check = false;
  s->pend_valid = false;
}

/* ---- timer ------------------------------------------------------------------ */
static void on_timer(uv_timer_t *t);

void smp_arm_timer(uvble_t *ble) {
  struct smp_state *st = ble->smp;
  if (!st || !st->timer_open) return;
  uint64_t first = 0;
  for (struct ble_conn *c = conn_first(ble); c; c = conn_next(c))
    if (c->smp && c->smp->deadline && (!first || c->smp->deadline < first))
      first = c->smp->deadline;
  if (!first) {
    uv_timer_stop(&st->timer);
    return;
  }
  uint64_t now = ble_now_ms(ble->loop);
  uv_timer_start(&st->timer, on_timer, first > now ? first - now : 0, 0);
}

static void start_deadline(uvble_t *ble, struct smp_conn *s) {
  s->deadline = ble_now_ms(ble->loop) + ble->smp->timeout_ms;
  smp_arm_timer(ble);
}

/* A timer is an entry from the loop: a dispatch reference (ble_ref). */
static void on_timer_run(uv_timer_t *t);

static void on_timer(uv_timer_t *t) {
  uvble_t *ble = ((struct smp_state *)t->data)->ble;
  ble_ref(ble);
  on_timer_run(t);
  ble_unref(ble);
}

static void on_timer_run(uv_timer_t *t) {
  struct smp_state *st = t->data;
  uvble_t *ble = st->ble;
  while (!ble_dead(ble)) {
    uint64_t now = ble_now_ms(ble->loop);
    struct ble_conn *c = conn_first(ble);
    while (c && !(c->smp && c->smp->deadline && c->smp->deadline <= now))
      c = conn_next(c);
    if (!c) break;
    if (c->smp->abort_due) {
      /* A cancelled pairing request: Pairing Failed, Unspecified Reason. */
      c->smp->abort_due = false;
      c->smp->req_state = SMP_REQ_ABORTING;
      smp_fail(ble, c, UVBLE_SMP_UNSPECIFIED);
      continue;
    }
    /* 3.4: after an SMP timeout no further SMP on this link. Waiting for
     * the controller to encrypt with a stored key was no SMP procedure. */
    if (c->smp->phase != SMP_REENCRYPT) c->smp->phase = SMP_DEAD;
    smp_finish(ble, c, UVBLE_ETIMEDOUT, 0);
  }
  if (!ble_dead(ble)) smp_arm_timer(ble);
}

#ifdef UVBLE_TEST_HOOKS
void smp_set_timeout_ms(uvble_t *ble, uint32_t ms) {
  if (ble->smp) ble->smp->timeout_ms = ms ? ms : SMP_TIMEOUT_MS;
}
#endif

/* ---- repeated attempts (2.3.6) ---------------------------------------------- */
static struct smp_backoff *backoff_find(uvble_t *ble, const uvble_addr_t *a) {
  struct smp_state *st = ble->smp;
  for (int i = 0; i < SMP_BACKOFF_ENTRIES; i++) {
    struct smp_backoff *b = &st->backoff[i];
    if (b->failures && (b->peer.type & 1) == (a->type & 1) &&
        memcmp(b->peer.val, a->val, 6) == 0)
      return b;
  }
  return NULL;
}

static bool backoff_blocked(uvble_t *ble, const uvble_addr_t *a) {
  struct smp_backoff *b = backoff_find(ble, a);
  return b && ble_now_ms(ble->loop) < b->until;
}

static void backoff_record(uvble_t *ble, const uvble_addr_t *a) {
  struct smp_state *st = ble->smp;
  struct smp_backoff *b = backoff_find(ble, a);
  if (!b) {
    /* A free slot, else the one whose wait ended first. */
    b = &st->backoff[0];
    for (int i = 0; i < SMP_BACKOFF_ENTRIES; i++) {
      if (!st->backoff[i].failures) {
        b = &st->backoff[i];
        break;
      }
      if (st->backoff[i].until < b->until) b = &st->backoff[i];
    }
    memset(b, 0, sizeof *b);
    b->peer = *a;
  }
  if (b->failures < 16) b->failures++;
  uint64_t wait = (uint64_t)SMP_BACKOFF_BASE_MS << (b->failures - 1);
  if (wait > SMP_BACKOFF_MAX_MS) wait = SMP_BACKOFF_MAX_MS;
  b->until = ble_now_ms(ble->loop) + wait;
}

void smp_backoff_reset(uvble_t *ble, const uvble_addr_t *a) {
  struct smp_backoff *b = backoff_find(ble, a);
  if (b) memset(b, 0, sizeof *b);
}

static bool is_auth_failure(uint8_t reason) {
  return reason == UVBLE_SMP_PASSKEY_ENTRY_FAILED ||
         reason == UVBLE_SMP_CONFIRM_VALUE_FAILED ||
         reason == UVBLE_SMP_DHKEY_CHECK_FAILED ||
         reason == UVBLE_SMP_NUMCMP_FAILED;
}

/* ---- helpers shared by the phase files ------------------------------------- */
int smp_send(uvble_t *ble, struct ble_conn *c, uint8_t op, const void *data,
             size_t len) {
  uint8_t buf[65];
  if (len > sizeof buf - 1) return UVBLE_EINVAL;
  buf[0] = op;
  if (len) memcpy(buf + 1, data, len);
  uvble_iov_t iov = {buf, len + 1};
  int r = l2cap_send_pdu(ble, c, L2CAP_CID_SMP, &iov, 1);
  uvble_sm_wipe(buf, sizeof buf);
  /* 3.4: the timer restarts whenever an SMP command is queued. */
  if (c->smp && in_pairing(c->smp) && op != SMP_PAIRING_FAILED)
    start_deadline(ble, c->smp);
  return r;
}

struct ble_conn *smp_still(uvble_t *ble, struct ble_conn *c,
                           const struct smp_pairing *p) {
  if (ble_ending(ble) || !conn_is_open(c) || !c->smp) return NULL;
  if (p && c->smp->p != p) return NULL;
  return c;
}

bool smp_finish(uvble_t *ble, struct ble_conn *c, int status,
                uint8_t hci_status) {
  struct smp_conn *s = c->smp;
  uint16_t handle = c->handle;
  drop_pairing(s);
  reset_procedure(s);
  if (s->phase != SMP_DEAD) s->phase = SMP_IDLE;
  s->deadline = 0;
  s->enc_pending = false;
  smp_arm_timer(ble);
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.encryption.conn_handle = handle;
  d.encryption.encrypted = c->encrypted;
  d.encryption.authenticated = c->encrypted && c->authenticated;
  d.encryption.bonded = c->encrypted && c->bonded;
  d.encryption.key_size = c->encrypted ? c->key_size : 0;
  d.encryption.status = status;
  d.encryption.hci_status = hci_status;
  d.encryption.stale_bond = s->key_missing;
  s->key_missing = false;
  s->abort_due = false;
  uvble_req_t *req = s->req;
  uint8_t rs = s->req_state;
  s->req = NULL;
  s->req_state = SMP_REQ_LIVE;
  if (rs == SMP_REQ_CANCELLED) ble->stats.req_late_responses++;
  if (rs == SMP_REQ_LIVE)
    req_or_irq(ble, req, UVBLE_IRQ_ENCRYPTION_UPDATE, true, status, &d);
  else
    req_cancel_done(req); /* the procedure is over: UVBLE_ECANCELED now */
  return smp_still(ble, c, NULL) != NULL;
}

bool smp_fail(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  struct smp_conn *s = c->smp;
  if (s->phase == SMP_DEAD) return true;
  smp_send(ble, c, SMP_PAIRING_FAILED, &reason, 1);
  if (is_auth_failure(reason)) backoff_record(ble, &c->peer);
  if (!in_pairing(s)) return true;
  return smp_finish(ble, c, reason, 0);
}

bool smp_refuse(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  ble->stats.smp_rx_refused++;
  return smp_fail(ble, c, reason);
}

bool smp_ask_user(uvble_t *ble, struct ble_conn *c, uint8_t action,
                  uint32_t passkey) {
  struct smp_conn *s = c->smp;
  const struct smp_pairing *p = s->p;
  uint16_t handle = c->handle;
  s->user_action = action;
  s->in_display_irq = action == UVBLE_PASSKEY_ACTION_DISPLAY;
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.passkey.conn_handle = handle;
  d.passkey.action = action;
  d.passkey.passkey = passkey;
  ble_irq(ble, UVBLE_IRQ_PASSKEY_ACTION, &d);
  c = smp_still(ble, c, p);
  if (!c) return false;
  if (action == UVBLE_PASSKEY_ACTION_DISPLAY) {
    /* The number shown is final once the handler has returned. */
    c->smp->in_display_irq = false;
    c->smp->user_action = 0;
  }
  return true;
}

uint32_t smp_random_passkey(void) { return randombytes_uniform(1000000); }

void smp_mask_key(uint8_t key[16], uint8_t size) {
  for (unsigned i = size; i < 16; i++) key[i] = 0;
}

/* The address we use on the link: the one GAP made it with (advertising
 * or initiating address: an RPA in privacy modes), else what the config
 * says (a link GAP did not start, e.g. a controller's own). */
static void own_conn_addr(uvble_t *ble, const struct ble_conn *c,
                          uvble_addr_t *out) {
  static const uint8_t zero[6];
  const struct smp_gap_hooks *h = &ble->smp->gap;
  if (ble->gap && h->conn_own_addr && h->conn_own_addr(ble, c, out) == 0 &&
      memcmp(out->val, zero, 6) != 0) {
    out->type &= 1;
    return;
  }
  if (ble->cfg.addr_mode == UVBLE_ADDR_MODE_PUBLIC && ble->info_valid) {
    *out = ble->info.public_addr;
    out->type = UVBLE_ADDR_PUBLIC;
    return;
  }
  if (ble->cfg.addr_mode == UVBLE_ADDR_MODE_RANDOM || !ble->info_valid) {
    *out = ble->cfg.static_addr;
    out->type = UVBLE_ADDR_RANDOM;
    return;
  }
  /* RPA / NRPA without GAP's record: the public address is the best
   * guess. */
  *out = ble->info.public_addr;
  out->type = UVBLE_ADDR_PUBLIC;
}

void smp_own_identity(uvble_t *ble, uvble_addr_t *out) {
  static const uint8_t zero[6];
  if (ble->cfg.addr_mode == UVBLE_ADDR_MODE_RANDOM || !ble->info_valid ||
      memcmp(ble->info.public_addr.val, zero, 6) == 0) {
    *out = ble->cfg.static_addr;
    out->type = UVBLE_ADDR_RANDOM;
    return;
  }
  *out = ble->info.public_addr;
  out->type = UVBLE_ADDR_PUBLIC;
}

void smp_pairing_addrs(uvble_t *ble, const struct ble_conn *c, uint8_t *it,
                       uint8_t ia[6], uint8_t *rt, uint8_t ra[6]) {
  uvble_addr_t own;
  own_conn_addr(ble, c, &own);
  const uvble_addr_t *i = c->role == CONN_ROLE_CENTRAL ? &own : &c->peer;
  const uvble_addr_t *r = c->role == CONN_ROLE_CENTRAL ? &c->peer : &own;
  *it = i->type & 1;
  *rt = r->type & 1;
  ble_addr_to_hci(i, ia);
  ble_addr_to_hci(r, ra);
}

/* ---- feature exchange (2.3.1 - 2.3.5) -------------------------------------- */
static uint8_t our_authreq(uvble_t *ble) {
  return (ble->cfg.bond ? SMP_AUTH_BONDING : 0) |
         (ble->cfg.mitm ? SMP_AUTH_MITM : 0) |
         (ble->cfg.le_secure ? SMP_AUTH_SC : 0);
}

/* IO Capability, OOB flag, AuthReq, Max Key Size, Initiator / Responder
 * Key Distribution: what we offer. */
static void our_features(uvble_t *ble, uint8_t f[6]) {
  f[0] = (uint8_t)ble->cfg.io;
  f[1] = 0; /* no OOB data */
  f[2] = our_authreq(ble);
  f[3] = 16;
  f[4] = f[5] = ble->cfg.bond ? SMP_DIST_ALL : 0;
}

/* The peer's fields, after the code. 0 or a Pairing Failed reason. */
static uint8_t check_features(uvble_t *ble, const uint8_t f[6]) {
  if (f[0] > UVBLE_IO_KEYBOARD_DISPLAY || f[1] > 1) return UVBLE_SMP_INVALID_PARAMS;
  /* Maximum Encryption Key Size is 7..16 (3.5.1): a value outside that
   * range is a bad parameter (3.5.5 Invalid Parameters); Encryption Key
   * Size is for a valid size too short for our own minimum. */
  if (f[3] < 7 || f[3] > 16) return UVBLE_SMP_INVALID_PARAMS;
  if (f[3] < ble->smp->min_key_size) return UVBLE_SMP_ENC_KEY_SIZE;
  return 0;
}

/* Table 2.8 (legacy) and 2.9 (Secure Connections) of 2.3.5.1, by
 * initiator (row) and responder (column) IO capability. */
enum { JW, NC, IDISP /* initiator shows, responder types */,
       RDISP /* responder shows, initiator types */, BOTH /* both type */ };
static const uint8_t method_legacy[5][5] = {
    {JW, JW, IDISP, JW, IDISP},       {JW, JW, IDISP, JW, IDISP},
    {RDISP, RDISP, BOTH, JW, RDISP},  {JW, JW, JW, JW, JW},
    {RDISP, RDISP, IDISP, JW, RDISP},
};
static const uint8_t method_sc[5][5] = {
    {JW, JW, IDISP, JW, IDISP},       {JW, NC, IDISP, JW, NC},
    {RDISP, RDISP, BOTH, JW, RDISP},  {JW, JW, JW, JW, JW},
    {RDISP, NC, IDISP, JW, NC},
};

static enum smp_method select_method(bool sc, bool mitm, uint8_t init_io,
                                     uint8_t resp_io, bool initiator) {
  if (!mitm) return SMP_JUST_WORKS;
  uint8_t m = (sc ? method_sc : method_legacy)[init_io][resp_io];
  switch (m) {
    case NC: return SMP_NUMCMP;
    case BOTH: return SMP_PASSKEY_INPUT;
    case IDISP: return initiator ? SMP_PASSKEY_DISPLAY : SMP_PASSKEY_INPUT;
    case RDISP: return initiator ? SMP_PASSKEY_INPUT : SMP_PASSKEY_DISPLAY;
    default: return SMP_JUST_WORKS;
  }
}

/* Both PDUs known: settles the protocol, method, key size and keys.
 * 0 or a Pairing Failed reason. */
static uint8_t negotiate(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = s->p;
  const uint8_t *req = p->preq + 1, *rsp = p->pres + 1;
  s->sc = (req[2] & SMP_AUTH_SC) && (rsp[2] & SMP_AUTH_SC);
  s->bonding = (req[2] & SMP_AUTH_BONDING_MASK) == SMP_AUTH_BONDING &&
               (rsp[2] & SMP_AUTH_BONDING_MASK) == SMP_AUTH_BONDING;
  s->key_size = req[3] < rsp[3] ? req[3] : rsp[3];
  if (s->key_size < ble->smp->min_key_size) return UVBLE_SMP_ENC_KEY_SIZE;
  /* We never hold OOB data: a Secure Connections peer that claims to have
   * ours wants a method we cannot run (2.3.5.1). */
  if (s->sc && (req[1] || rsp[1])) return UVBLE_SMP_OOB_NOT_AVAILABLE;
  bool mitm = ((req[2] | rsp[2]) & SMP_AUTH_MITM) != 0;
  s->method = select_method(s->sc, mitm, req[0], rsp[0], s->initiator);
  uint8_t mask = s->sc ? (SMP_DIST_ID | SMP_DIST_SIGN) : SMP_DIST_ALL;
  uint8_t idist = req[4] & rsp[4] & mask, rdist = req[5] & rsp[5] & mask;
  p->local_dist = s->initiator ? idist : rdist;
  p->remote_dist = s->initiator ? rdist : idist;
  return 0;
}

static void start_phase2(uvble_t *ble, struct ble_conn *c) {
  if (c->smp->sc)
    smp_sc_start(ble, c);
  else
    smp_legacy_start(ble, c);
}

int smp_start_pairing(uvble_t *ble, struct ble_conn *c) {
  struct smp_conn *s = c->smp;
  struct smp_pairing *p = calloc(1, sizeof *p);
  if (!p) return UVBLE_ENOMEM;
  s->p = p;
  reset_procedure(s);
  s->initiator = true;
  p->preq[0] = SMP_PAIRING_REQ;
  our_features(ble, p->preq + 1);
  s->phase = SMP_WAIT_PAIRING_RSP;
  int r = smp_send(ble, c, SMP_PAIRING_REQ, p->preq + 1, 6);
  if (r < 0) {
    drop_pairing(s);
    s->phase = SMP_IDLE;
    s->deadline = 0;
    smp_arm_timer(ble);
  }
  return r;
}

/* Refuses a Pairing Request. A pairing the app asked for (our Security
 * Request) ends with the reason; otherwise none had begun for the app. */
static void refuse_request(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  struct smp_conn *s = c->smp;
  if (s->phase != SMP_SEC_REQ) {
    drop_pairing(s);
    reset_procedure(s);
  }
  if (reason == UVBLE_SMP_REPEATED_ATTEMPTS)
    smp_fail(ble, c, reason); /* a valid request, refused for its timing */
  else
    smp_refuse(ble, c, reason);
}

static void on_pairing_req(uvble_t *ble, struct ble_conn *c, const uint8_t *d) {
  struct smp_conn *s = c->smp;
  if (c->role != CONN_ROLE_PERIPHERAL) {
    smp_refuse(ble, c, UVBLE_SMP_CMD_NOT_SUPPORTED);
    return;
  }
  if (s->phase != SMP_IDLE && s->phase != SMP_SEC_REQ) {
    smp_refuse(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  uint8_t reason = backoff_blocked(ble, &c->peer)
                       ? UVBLE_SMP_REPEATED_ATTEMPTS
                       : check_features(ble, d + 1);
  if (reason) {
    refuse_request(ble, c, reason);
    return;
  }
  struct smp_pairing *p = calloc(1, sizeof *p);
  if (!p) {
    refuse_request(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  s->p = p;
  reset_procedure(s);
  s->initiator = false;
  memcpy(p->preq, d, 7);
  p->pres[0] = SMP_PAIRING_RSP;
  our_features(ble, p->pres + 1);
  /* Keys are distributed only when both sides bond (3.6.1); the response
   * may only narrow what was asked for. */
  bool bond = (d[3] & SMP_AUTH_BONDING_MASK) == SMP_AUTH_BONDING && ble->cfg.bond;
  uint8_t mask = SMP_DIST_ALL;
  if ((d[3] & SMP_AUTH_SC) && ble->cfg.le_secure) mask &= (uint8_t)~SMP_DIST_ENC;
  p->pres[5] = bond ? (d[5] & mask) : 0;
  p->pres[6] = bond ? (d[6] & mask) : 0;
  reason = negotiate(ble, c);
  if (reason) {
    refuse_request(ble, c, reason);
    return;
  }
  s->phase = s->sc ? SMP_WAIT_PUBKEY : SMP_WAIT_CONFIRM;
  smp_send(ble, c, SMP_PAIRING_RSP, p->pres + 1, 6);
  start_phase2(ble, c);
}

static void on_pairing_rsp(uvble_t *ble, struct ble_conn *c, const uint8_t *d) {
  struct smp_conn *s = c->smp;
  if (c->role != CONN_ROLE_CENTRAL) {
    smp_refuse(ble, c, UVBLE_SMP_CMD_NOT_SUPPORTED);
    return;
  }
  if (s->phase != SMP_WAIT_PAIRING_RSP) {
    smp_refuse(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  struct smp_pairing *p = s->p;
  uint8_t reason = check_features(ble, d + 1);
  /* The responder may only drop keys from our request. */
  if (!reason && ((d[5] & ~p->preq[5]) || (d[6] & ~p->preq[6])))
    reason = UVBLE_SMP_INVALID_PARAMS;
  if (!reason) {
    memcpy(p->pres, d, 7);
    reason = negotiate(ble, c);
  }
  if (reason) {
    smp_refuse(ble, c, reason);
    return;
  }
  s->phase = s->sc ? SMP_WAIT_PUBKEY : SMP_WAIT_CONFIRM;
  start_phase2(ble, c);
}

/* We are central and the peripheral asks for security (2.4.6). */
static void on_security_req(uvble_t *ble, struct ble_conn *c, uint8_t auth) {
  struct smp_conn *s = c->smp;
  if (c->role != CONN_ROLE_CENTRAL) {
    smp_refuse(ble, c, UVBLE_SMP_CMD_NOT_SUPPORTED);
    return;
  }
  if (s->phase != SMP_IDLE) return; /* a procedure already runs */
  if (backoff_blocked(ble, &c->peer)) {
    smp_fail(ble, c, UVBLE_SMP_REPEATED_ATTEMPTS);
    return;
  }
  bool mitm = (auth & SMP_AUTH_MITM) != 0;
  if (c->encrypted && (!mitm || c->authenticated)) return; /* as asked */
  /* Bonded: always the stored key, even after the peer refused it. Pairing
   * anew over a bond is the application's decision (uvble_forget_bond),
   * never the peer's: that would let an impostor replace the bond. */
  int r = smp_reencrypt(ble, c, mitm);
  if (r != 0) return;
  if (!(c = smp_still(ble, c, NULL))) return;
  if (smp_start_pairing(ble, c) < 0)
    smp_send(ble, c, SMP_PAIRING_FAILED, (uint8_t[]){UVBLE_SMP_UNSPECIFIED}, 1);
}

static void on_pairing_failed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  if (!in_pairing(c->smp)) return;
  /* 0 is no reason (reserved); never report it as success. */
  smp_finish(ble, c, reason ? reason : UVBLE_SMP_UNSPECIFIED, 0);
}

/* ---- receive ---------------------------------------------------------------- */
/* Whether a phase-bound PDU is what the procedure waits for. */
static bool expected(const struct smp_conn *s, uint8_t op) {
  switch (op) {
    case SMP_PAIRING_CONFIRM: return s->phase == SMP_WAIT_CONFIRM;
    case SMP_PAIRING_RANDOM: return s->phase == SMP_WAIT_RANDOM;
    case SMP_PUBLIC_KEY: return s->phase == SMP_WAIT_PUBKEY && s->sc;
    case SMP_DHKEY_CHECK: return s->phase == SMP_WAIT_DHKEY_CHECK && s->sc;
    default: return s->phase == SMP_KEY_DIST; /* key distribution */
  }
}

static void smp_rx(uvble_t *ble, struct ble_conn *c, const uint8_t *d,
                   size_t len) {
  struct smp_conn *s = c->smp;
  struct pdu_reader r;
  pdu_reader_init(&r, d, len);
  uint8_t op = pdu_get_u8(&r);
  if (!s) {
    /* No state (allocation failed at connection): refuse politely. */
    if (pdu_ok(&r) && op != SMP_PAIRING_FAILED) {
      uint8_t pdu[2] = {SMP_PAIRING_FAILED, UVBLE_SMP_UNSPECIFIED};
      uvble_iov_t iov = {pdu, 2};
      l2cap_send_pdu(ble, c, L2CAP_CID_SMP, &iov, 1);
    }
    return;
  }
  if (s->phase == SMP_DEAD) return; /* 3.4 */
  if (!pdu_ok(&r)) {
    smp_refuse(ble, c, UVBLE_SMP_INVALID_PARAMS);
    return;
  }
  if (op == 0 || op > SMP_OP_MAX) {
    smp_refuse(ble, c, UVBLE_SMP_CMD_NOT_SUPPORTED);
    return;
  }
  /* The parameters, whose size each opcode fixes: the handlers below read
   * them as fixed arrays. */
  const uint8_t *v = pdu_get_bytes(&r, pdu_len[op] - 1u);
  if (!pdu_done(&r)) {
    /* Never answer a failure with a failure. */
    if (op == SMP_PAIRING_FAILED)
      on_pairing_failed(ble, c, UVBLE_SMP_INVALID_PARAMS);
    else
      smp_refuse(ble, c, UVBLE_SMP_INVALID_PARAMS);
    return;
  }
  switch (op) {
    case SMP_PAIRING_FAILED: on_pairing_failed(ble, c, v[0]); return;
    case SMP_KEYPRESS: return; /* informative only; we never ask for them */
    case SMP_PAIRING_REQ: on_pairing_req(ble, c, d); return;
    case SMP_PAIRING_RSP: on_pairing_rsp(ble, c, d); return;
    case SMP_SECURITY_REQ: on_security_req(ble, c, v[0]); return;
    default: break;
  }
  if (op >= SMP_ENC_INFO && op <= SMP_SIGN_INFO &&
      s->phase == SMP_WAIT_ENCRYPTION && s->initiator && s->enc_pending &&
      smp_keydist_hold(s, op, v, len - 1))
    return;
  if (!expected(s, op)) {
    smp_refuse(ble, c, UVBLE_SMP_UNSPECIFIED);
    return;
  }
  switch (op) {
    case SMP_PAIRING_CONFIRM:
      if (s->sc)
        smp_sc_on_confirm(ble, c, v);
      else
        smp_legacy_on_confirm(ble, c, v);
      break;
    case SMP_PAIRING_RANDOM:
      if (s->sc)
        smp_sc_on_random(ble, c, v);
      else
        smp_legacy_on_random(ble, c, v);
      break;
    case SMP_PUBLIC_KEY: smp_sc_on_public_key(ble, c, v); break;
    case SMP_DHKEY_CHECK: smp_sc_on_dhkey_check(ble, c, v); break;
    default: smp_keydist_on_pdu(ble, c, op, v, len - 1); break;
  }
}

/* ---- module hooks ------------------------------------------------------------ */
int smp_init(uvble_t *ble) {
  struct smp_state *st = calloc(1, sizeof *st);
  if (!st) return UVBLE_ENOMEM;
  st->ble = ble;
  st->timeout_ms = SMP_TIMEOUT_MS;
  st->min_key_size = 16;
  int r = uv_timer_init(ble->loop, &st->timer);
  if (r) {
    free(st);
    return r;
  }
  st->timer.data = st;
  st->timer_open = true;
  ble->smp = st;
  l2cap_register_fixed(ble, L2CAP_CID_SMP, smp_rx);
  r = hci_add_event_handler(ble, HCI_EV_ENCRYPTION_CHANGE,
                            smp_on_encryption_change);
  if (r == 0)
    r = hci_add_event_handler(ble, HCI_EV_ENCRYPTION_KEY_REFRESH,
                              smp_on_key_refresh);
  if (r == 0)
    r = hci_add_le_event_handler(ble, HCI_LE_LONG_TERM_KEY_REQUEST,
                                 smp_on_ltk_request);
  if (r < 0) return r;
  /* Key distribution ends when our key PDUs are completed (smp_enc.c). */
  r = acl_on_tx_done(ble, smp_keydist_on_tx_done);
  if (r < 0) return r;
  return keys_init(ble);
}

void smp_set_gap_hooks(uvble_t *ble, const struct smp_gap_hooks *h) {
  if (ble->smp) ble->smp->gap = *h;
}

void smp_stop(uvble_t *ble, int err) {
  (void)err;
  /* The connections are gone already; nothing else is pending. */
  if (ble->smp && ble->smp->timer_open) uv_timer_stop(&ble->smp->timer);
}

static void on_timer_closed(uv_handle_t *h) {
  struct smp_state *st = h->data;
  uvble_t *ble = st->ble;
  sodium_memzero(st, sizeof *st);
  free(st);
  ble->pending_closes--;
  ble_handle_closed(ble);
}

void smp_close(uvble_t *ble) {
  struct smp_state *st = ble->smp;
  if (!st) return;
  keys_close(ble);
  ble->smp = NULL;
  l2cap_register_fixed(ble, L2CAP_CID_SMP, NULL);
  if (!st->timer_open) {
    free(st);
    return;
  }
  st->timer_open = false;
  ble->pending_closes++;
  uv_close((uv_handle_t *)&st->timer, on_timer_closed);
}

int smp_conn_open(uvble_t *ble, struct ble_conn *c) {
  c->smp = calloc(1, sizeof *c->smp);
  if (!c->smp) return UVBLE_ENOMEM;
  /* The first link of a session settles our IRK (restoring the stored
   * one, which GAP then uses for its RPAs), before the peer can pair. */
  if (!keys_local_irk_loaded(ble)) {
    uint8_t irk[16];
    keys_local_irk(ble, irk);
    uvble_sm_wipe(irk, sizeof irk);
  }
  return 0;
}

void smp_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  (void)reason;
  struct smp_conn *s = c->smp;
  if (!s) return;
  bool pending = in_pairing(s) || s->phase == SMP_REENCRYPT;
  uvble_req_t *req = s->req;
  if (s->req_state != SMP_REQ_LIVE) {
    req_cancel_done(req); /* cancelled: silent, and over */
    pending = false;
  }
  drop_pairing(s);
  uvble_sm_wipe(s, sizeof *s);
  free(s);
  c->smp = NULL;
  smp_arm_timer(ble);
  if (!pending) return;
  /* The procedure the app waits for completes (DESIGN: EDISCONNECTED). */
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.encryption.conn_handle = c->handle;
  d.encryption.status = UVBLE_EDISCONNECTED;
  req_or_irq(ble, req, UVBLE_IRQ_ENCRYPTION_UPDATE, true,
             ble->state == BLE_CLOSING ? UVBLE_ECANCELED : UVBLE_EDISCONNECTED,
             &d);
}

/* ---- public API --------------------------------------------------------------- */
/* uvble_cancel: the procedure's end is swallowed; a pairing under way is
 * failed with Unspecified Reason from the timer (the caller may be deep in
 * SMP code), an encryption with a stored key runs on. */
static int cancel_pair(uvble_req_t *req) {
  uvble_t *ble = req->ble_;
  struct smp_conn *s = req->op_;
  s->req_state = SMP_REQ_CANCELLED;
  if (in_pairing(s)) {
    s->abort_due = true;
    s->deadline = ble_now_ms(ble->loop);
    smp_arm_timer(ble);
  }
  return 1; /* completed (req_cancel_done) when the procedure is over */
}

static int gap_pair(uvble_t *ble, uint16_t conn_handle);
static int gap_passkey(uvble_t *ble, uint16_t conn_handle, int action,
                       uint32_t passkey);

int uvble_gap_pair(uvble_t *ble, uint16_t conn_handle) {
  return uvble_gap_pair_req(NULL, ble, conn_handle);
}

static int attach_pair_req(uvble_req_t *req, uvble_t *ble,
                           uint16_t conn_handle);

/* Both may raise irqs inside the call (GET_SECRET, ENCRYPTION_UPDATE):
 * like a dispatch, they hold a stack reference, so a handler that closes
 * the stack frees nothing under them (ble_ref). */
int uvble_gap_pair_req(uvble_req_t *req, uvble_t *ble, uint16_t conn_handle) {
  if (!ble) return UVBLE_EINVAL;
  if (req && !req->cb_) return UVBLE_EINVAL;
  if (req && uvble_req_active(req)) return UVBLE_EBUSY;
  ble_ref(ble);
  int r = gap_pair(ble, conn_handle);
  if (r >= 0 && req) r = attach_pair_req(req, ble, conn_handle);
  ble_unref(ble);
  return r;
}

static int attach_pair_req(uvble_req_t *req, uvble_t *ble,
                           uint16_t conn_handle) {
  /* Started: the procedure runs on c (it never ends inside the call). */
  struct ble_conn *c = conn_find(ble, conn_handle);
  if (ble_ending(ble) || !c || !conn_is_open(c) || !c->smp)
    return UVBLE_ECANCELED;
  /* Ended at once (reported to the irq handler already): nothing to wait
   * for. */
  if (c->smp->phase == SMP_IDLE || c->smp->phase == SMP_DEAD) return UVBLE_EIO;
  c->smp->req = req;
  c->smp->req_state = SMP_REQ_LIVE;
  req_start(ble, req, UVBLE_REQ_PAIR, c->smp, cancel_pair);
  return 0;
}

int uvble_gap_passkey(uvble_t *ble, uint16_t conn_handle, int action,
                      uint32_t passkey) {
  if (!ble) return UVBLE_EINVAL;
  ble_ref(ble);
  int r = gap_passkey(ble, conn_handle, action, passkey);
  ble_unref(ble);
  return r;
}

static int gap_pair(uvble_t *ble, uint16_t conn_handle) {
  if (ble->state != BLE_ON) return UVBLE_ENOTACTIVE;
  struct ble_conn *c = conn_find(ble, conn_handle);
  if (!c || !c->smp) return UVBLE_ENOTCONN;
  struct smp_conn *s = c->smp;
  if (s->phase == SMP_DEAD) return UVBLE_ETIMEDOUT;
  /* As central, encryption from the bond is already under way (the peer's
   * Security Request started it): it is what pairing would start here, so
   * the call joins it and its ENCRYPTION_UPDATE ends both, as Zephyr's
   * bt_conn_set_security does. */
  if (s->phase == SMP_REENCRYPT) return 0;
  if (s->phase != SMP_IDLE) return UVBLE_EBUSY;
  if (c->role == CONN_ROLE_PERIPHERAL) {
    uint8_t auth = our_authreq(ble);
    reset_procedure(s);
    s->phase = SMP_SEC_REQ;
    int r = smp_send(ble, c, SMP_SECURITY_REQ, &auth, 1);
    if (r < 0) {
      s->phase = SMP_IDLE;
      s->deadline = 0;
      smp_arm_timer(ble);
    }
    return r;
  }
  if (!c->encrypted) {
    int r = smp_reencrypt(ble, c, false);
    if (r != 0) return r < 0 ? r : 0;
    if (!(c = smp_still(ble, c, NULL))) return UVBLE_ECANCELED;
    if (c->smp->phase != SMP_IDLE) return UVBLE_EBUSY;
  }
  return smp_start_pairing(ble, c);
}

static int gap_passkey(uvble_t *ble, uint16_t conn_handle, int action,
                       uint32_t passkey) {
  if (ble->state != BLE_ON) return UVBLE_ENOTACTIVE;
  struct ble_conn *c = conn_find(ble, conn_handle);
  if (!c || !c->smp) return UVBLE_ENOTCONN;
  struct smp_conn *s = c->smp;
  if (!s->p || !s->user_action || s->user_action != action)
    return UVBLE_EINVAL;
  switch (action) {
    case UVBLE_PASSKEY_ACTION_DISPLAY:
      if (passkey > 999999) return UVBLE_EINVAL;
      s->passkey = passkey; /* shown instead of ours (inside the irq) */
      return 0;
    case UVBLE_PASSKEY_ACTION_INPUT:
      if (passkey > 999999) return UVBLE_EINVAL;
      s->user_action = 0;
      s->passkey = passkey;
      if (s->sc)
        smp_sc_passkey_ready(ble, c);
      else
        smp_legacy_passkey_ready(ble, c);
      return 0;
    case UVBLE_PASSKEY_ACTION_NUMCMP:
      s->user_action = 0;
      smp_sc_numcmp_answer(ble, c, passkey != 0);
      return 0;
    default:
      return UVBLE_EINVAL;
  }
}

int uvble_security_set_min_key_size(uvble_t *ble, int octets) {
  if (!ble || !ble->smp || octets < 7 || octets > 16) return UVBLE_EINVAL;
  ble->smp->min_key_size = (uint8_t)octets;
  return 0;
}

int uvble_security_get_min_key_size(const uvble_t *ble) {
  if (!ble || !ble->smp) return UVBLE_EINVAL;
  return ble->smp->min_key_size;
}
