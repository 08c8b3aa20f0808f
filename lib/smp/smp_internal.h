/* SPDX-License-Identifier: Apache-2.0 */
/* Security Manager internals (Vol 3, Part H). Private.
 *
 *   smp.c         module hooks, PDU dispatch and sequencing, feature
 *                 exchange (both roles), Security Request, timeout,
 *                 failure, repeated-attempts back-off, public API
 *   smp_legacy.c  legacy pairing phase 2 (c1 confirm/random, STK)
 *   smp_sc.c      LE Secure Connections phase 2 (public keys, f4 rounds,
 *                 g2, f5/f6 DHKey checks)
 *   smp_enc.c     link encryption (LE Enable Encryption, LTK requests,
 *                 Encryption Change / Key Refresh), key distribution,
 *                 bonding, re-encryption with stored keys
 *   keys.c        the secrets behind bonds (keys.h)
 *
 * Every function that may raise an irq (PASSKEY_ACTION, ENCRYPTION_UPDATE,
 * GET/SET_SECRET) can come back to a stack being closed, a link ending or
 * a pairing the handler ended (a wrong passkey): such callers ask
 * smp_still before going on. Nothing is freed under them meanwhile (the
 * dispatch or API call holds a stack reference, ble_ref).
 */
#ifndef UVBLE_SMP_INTERNAL_H
#define UVBLE_SMP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "keys.h"
#include "req.h"
#include "uvble/security.h"
#include "module.h"

/* init, stop, close, conn_open, conn_closed (core/module.h) */
UVBLE_MODULE_DECLARE(smp);

#define SMP_TIMEOUT_MS 30000
#define SMP_BACKOFF_BASE_MS 1000
#define SMP_BACKOFF_MAX_MS 64000
#define SMP_BACKOFF_ENTRIES 16
#define SMP_PASSKEY_ROUNDS 20

/* SMP PDU codes (Vol 3, Part H, 3.3). */
enum {
  SMP_PAIRING_REQ = 0x01,
  SMP_PAIRING_RSP = 0x02,
  SMP_PAIRING_CONFIRM = 0x03,
  SMP_PAIRING_RANDOM = 0x04,
  SMP_PAIRING_FAILED = 0x05,
  SMP_ENC_INFO = 0x06,
  SMP_CENTRAL_IDENT = 0x07,
  SMP_ID_INFO = 0x08,
  SMP_ID_ADDR_INFO = 0x09,
  SMP_SIGN_INFO = 0x0A,
  SMP_SECURITY_REQ = 0x0B,
  SMP_PUBLIC_KEY = 0x0C,
  SMP_DHKEY_CHECK = 0x0D,
  SMP_KEYPRESS = 0x0E,
  SMP_OP_MAX = 0x0E,
};

/* AuthReq bits (3.5.1). */
enum {
  SMP_AUTH_BONDING_MASK = 0x03,
  SMP_AUTH_BONDING = 0x01,
  SMP_AUTH_MITM = 0x04,
  SMP_AUTH_SC = 0x08,
  SMP_AUTH_KEYPRESS = 0x10,
  SMP_AUTH_CT2 = 0x20,
};

/* Key distribution bits (3.6.1). */
enum {
  SMP_DIST_ENC = 0x01,
  SMP_DIST_ID = 0x02,
  SMP_DIST_SIGN = 0x04,
  SMP_DIST_LINK = 0x08,
  SMP_DIST_ALL = SMP_DIST_ENC | SMP_DIST_ID | SMP_DIST_SIGN,
};


/* The pairing method from our side's point of view. */
enum smp_method {
  SMP_JUST_WORKS = 0,
  SMP_PASSKEY_INPUT,   /* we type the passkey */
  SMP_PASSKEY_DISPLAY, /* we show it */
  SMP_NUMCMP,          /* numeric comparison (SC only) */
};

enum smp_phase {
  SMP_IDLE = 0,
  SMP_SEC_REQ,          /* peripheral: Security Request sent */
  SMP_WAIT_PAIRING_RSP, /* central: Pairing Request sent */
  SMP_WAIT_PUBKEY,      /* SC: public keys being exchanged */
  SMP_WAIT_CONFIRM,     /* a Pairing Confirm is due from the peer (or from
                           us, once the user has answered) */
  SMP_WAIT_RANDOM,      /* a Pairing Random is due from the peer */
  SMP_WAIT_DHKEY_CHECK, /* SC: a DHKey Check is due from the peer */
  SMP_WAIT_ENCRYPTION,  /* the pairing key is with the controller */
  SMP_KEY_DIST,         /* encrypted: keys being distributed */
  SMP_REENCRYPT,        /* central: encrypting with a stored key */
  SMP_DEAD,             /* the SMP timeout fired: no SMP until reconnect */
};

/* One pairing's material; allocated at its start, wiped and freed at its
 * end. */
struct smp_pairing {
  uint8_t preq[7], pres[7];  /* the PDUs as sent (c1, f6 IOcap) */
  uint8_t tk[16];            /* legacy TK; SC passkey as r (ra = rb) */
  uint8_t local_rand[16];    /* Mrand/Srand, Na/Nb (this round's) */
  uint8_t peer_rand[16];
  uint8_t peer_confirm[16];
  uint8_t key[16];           /* STK or SC LTK, masked to the key size */
  uint8_t priv[32], pub[64]; /* SC: our key pair for this pairing */
  uint8_t peer_pub[64];
  uint8_t dhkey[32];
  uint8_t mackey[16];
  uint8_t peer_check[16];    /* SC responder: Ea held while the user
                                decides a numeric comparison */
  struct keys_bond peer_keys; /* what the peer distributed */
  struct keys_bond our_keys;  /* what we distributed */
  bool have_identity;         /* peer_keys.id_* came from the peer */
  uint8_t local_dist;         /* keys we still send */
  uint8_t remote_dist;        /* keys we still expect */
  bool got_enc_info, got_id_info;
  /* Our key PDUs are queued (keys_mark: the last of them): the pairing
   * completes once the controller has completed them too, so that a
   * disconnect right after cannot drop them (3.6.1). */
  bool keys_queued;
  uint64_t keys_mark;
  /* Initiator: key PDUs that overtook our controller's Encryption Change
   * (events and data may travel on different paths, e.g. USB endpoints);
   * replayed once the link is encrypted, dropped if it never is. */
  uint8_t early[5][17];
  uint8_t n_early;
};

/* A cancelled uvble_gap_pair_req: the procedure's end is swallowed;
 * counted as a late answer unless it is our own abort. */
enum { SMP_REQ_LIVE = 0, SMP_REQ_CANCELLED, SMP_REQ_ABORTING };

struct smp_conn {
  enum smp_phase phase;
  /* uvble_gap_pair_req: the procedure's end goes to req instead of the irq
   * handler; once cancelled, req completes with UVBLE_ECANCELED when the
   * procedure is over. abort_due: a cancelled pairing is failed (0x08)
   * from the timer, never inside uvble_cancel. */
  uvble_req_t *req;
  uint8_t req_state; /* SMP_REQ_* */
  bool abort_due;
  struct smp_pairing *p; /* during a pairing */
  bool initiator;        /* we are central */
  bool sc;
  bool bonding;          /* both sides asked for bonding */
  enum smp_method method;
  uint8_t key_size;      /* negotiated */
  uint8_t round;         /* SC passkey: 0..19 */
  uint32_t passkey;
  bool tk_ready;         /* the passkey (or Just Works TK) is known */
  uint8_t user_action;   /* the PASSKEY_ACTION awaited, 0 when none */
  bool in_display_irq;   /* the DISPLAY irq is running */
  bool user_accepted;    /* numeric comparison accepted */
  bool confirm_sent;     /* our confirm of this round is out */
  bool have_peer_confirm;
  bool have_peer_check;
  uint64_t deadline;     /* SMP timer (ble_now_ms based), 0 when not running */
  bool enc_pending;      /* LE Enable Encryption issued, no result yet */
  /* Security of the key the controller is encrypting with (stored keys):
   * applied to the link when Encryption Change arrives. */
  bool pend_valid;
  bool pend_auth;
  uint8_t pend_key_size;
  /* The outcome being reported is a stale bond: the peer refused our
   * stored key, or (peripheral) asked for one we do not hold. Reported in
   * ENCRYPTION_UPDATE's stale_bond by smp_finish, which clears it. */
  bool key_missing;
  bool ltk_refused;      /* we answered an LTK request negatively and said so */
  bool identity_valid;   /* identity below is known for this link */
  uvble_addr_t identity;
};

struct keys_state;

/* What SMP asks GAP, which sits above it (registered by ble/modules.c):
 * the local IRK GAP makes RPAs with (and replacing it with a stored one),
 * and the own address GAP made a link with (0, or an error when GAP has
 * none for it). */
struct smp_gap_hooks {
  const uint8_t *(*local_irk)(uvble_t *ble);
  void (*set_local_irk)(uvble_t *ble, const uint8_t irk[16]);
  int (*conn_own_addr)(uvble_t *ble, const struct ble_conn *c,
                       uvble_addr_t *out);
};
void smp_set_gap_hooks(uvble_t *ble, const struct smp_gap_hooks *h);

struct smp_backoff {
  uvble_addr_t peer;
  uint8_t failures;
  uint64_t until; /* ble_now_ms() before which requests are refused */
};

struct smp_state {
  uvble_t *ble;
  uv_timer_t timer;
  bool timer_open;
  uint32_t timeout_ms;
  uint8_t min_key_size;
  struct smp_backoff backoff[SMP_BACKOFF_ENTRIES];
  struct keys_state *keys;
  struct smp_gap_hooks gap;
};

/* ---- smp.c ---- */
/* Sends one SMP PDU (op then payload) and restarts the SMP timer while a
 * procedure runs. The payload copy is wiped. */
int smp_send(uvble_t *ble, struct ble_conn *c, uint8_t op, const void *data,
             size_t len);
/* Sends Pairing Failed with reason, counts authentication failures for the
 * back-off, ends the pairing with status reason. Returns false when the
 * irq handler closed the stack or the connection is gone. */
bool smp_fail(uvble_t *ble, struct ble_conn *c, uint8_t reason);
/* smp_fail for a PDU of the peer's that is malformed, out of sequence or
 * carries invalid values: also counted (uvble_stats_t.smp_rx_refused). */
bool smp_refuse(uvble_t *ble, struct ble_conn *c, uint8_t reason);
/* Ends whatever procedure runs on c (wiping its secrets, stopping the
 * timer) and raises ENCRYPTION_UPDATE with the link's state and status.
 * Returns false as smp_fail. */
bool smp_finish(uvble_t *ble, struct ble_conn *c, int status,
                uint8_t hci_status);
/* c if the stack is usable, the link open and still in the procedure p
 * (NULL: any); else NULL. */
struct ble_conn *smp_still(uvble_t *ble, struct ble_conn *c,
                           const struct smp_pairing *p);
/* Raises PASSKEY_ACTION. Returns false as smp_fail. */
bool smp_ask_user(uvble_t *ble, struct ble_conn *c, uint8_t action,
                  uint32_t passkey);
/* A fresh passkey 0..999999, uniformly. */
uint32_t smp_random_passkey(void);
/* Initiator / responder address and type as the pairing functions take
 * them (HCI order). */
void smp_pairing_addrs(uvble_t *ble, const struct ble_conn *c, uint8_t *it,
                       uint8_t ia[6], uint8_t *rt, uint8_t ra[6]);
/* Our identity address (what Identity Address Information carries). */
void smp_own_identity(uvble_t *ble, uvble_addr_t *out);
void smp_arm_timer(uvble_t *ble);
void smp_backoff_reset(uvble_t *ble, const uvble_addr_t *peer);
/* Masks a key to the negotiated size (3.5.1: the most significant octets
 * are zeroed). */
void smp_mask_key(uint8_t key[16], uint8_t size);
/* The test build only (UVBLE_TEST_HOOKS): the SMP timeout in milliseconds
 * (0 restores 30 s). */
#ifdef UVBLE_TEST_HOOKS
void smp_set_timeout_ms(uvble_t *ble, uint32_t ms);
#endif
/* Starts a pairing as central (Pairing Request). */
int smp_start_pairing(uvble_t *ble, struct ble_conn *c);

/* ---- smp_legacy.c ---- */
/* After the feature exchange: decides the TK (asking the user if needed)
 * and, as initiator, sends the first confirm. */
void smp_legacy_start(uvble_t *ble, struct ble_conn *c);
void smp_legacy_passkey_ready(uvble_t *ble, struct ble_conn *c);
void smp_legacy_on_confirm(uvble_t *ble, struct ble_conn *c,
                           const uint8_t v[16]);
void smp_legacy_on_random(uvble_t *ble, struct ble_conn *c,
                          const uint8_t v[16]);

/* ---- smp_sc.c ---- */
void smp_sc_start(uvble_t *ble, struct ble_conn *c);
void smp_sc_passkey_ready(uvble_t *ble, struct ble_conn *c);
void smp_sc_numcmp_answer(uvble_t *ble, struct ble_conn *c, bool accept);
void smp_sc_on_public_key(uvble_t *ble, struct ble_conn *c,
                          const uint8_t pk[64]);
void smp_sc_on_confirm(uvble_t *ble, struct ble_conn *c, const uint8_t v[16]);
void smp_sc_on_random(uvble_t *ble, struct ble_conn *c, const uint8_t v[16]);
void smp_sc_on_dhkey_check(uvble_t *ble, struct ble_conn *c,
                           const uint8_t v[16]);

/* ---- smp_enc.c ---- */
/* Central: has the controller encrypt with key (LE Enable Encryption).
 * 0 or the queueing error. */
int smp_enc_start(uvble_t *ble, struct ble_conn *c, const uint8_t key[16],
                  uint16_t ediv, const uint8_t rand[8]);
/* Central: encrypts with the stored key for the peer if there is one good
 * enough (need_mitm: only an authenticated key). 1 when started, 0 when
 * there is none, or a negative error. */
int smp_reencrypt(uvble_t *ble, struct ble_conn *c, bool need_mitm);
/* A key distribution PDU (Encryption Information .. Signing Information). */
void smp_keydist_on_pdu(uvble_t *ble, struct ble_conn *c, uint8_t op,
                        const uint8_t *d, size_t len);
/* Initiator waiting for Encryption Change: keeps a key PDU for later.
 * False when there is no room (the caller fails the pairing). */
bool smp_keydist_hold(struct smp_conn *s, uint8_t op, const uint8_t *d,
                      size_t len);
/* The controller completed outgoing packets (acl_on_tx_done observer):
 * pairings whose keys are now out complete. */
void smp_keydist_on_tx_done(uvble_t *ble);

/* Security events from the controller (registered with HCI by smp_init). */
void smp_on_encryption_change(uvble_t *ble, const uint8_t *p, size_t len);
void smp_on_key_refresh(uvble_t *ble, const uint8_t *p, size_t len);
void smp_on_ltk_request(uvble_t *ble, const uint8_t *p, size_t len);

#endif
