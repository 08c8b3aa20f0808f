/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — security: pairing, bonding, encryption, privacy.
 *
 * MicroPython's pairing API (gap_pair, gap_passkey, the ENCRYPTION_UPDATE,
 * GET_SECRET, SET_SECRET and PASSKEY_ACTION events and the config keys
 * "io", "mitm", "le_secure", "bond"), for both roles, plus a built-in
 * encrypted bond store.
 *
 * PAIRING. The Security Manager (Vol 3, Part H) runs over the SMP fixed
 * channel. LE Secure Connections is used when both sides support it
 * (config "le_secure", default on), legacy pairing otherwise. The method
 * follows the IO capability table (Vol 3, Part H, 2.3.5.1): Just Works,
 * Passkey Entry or (Secure Connections only) Numeric Comparison; when
 * neither side asks for MITM protection ("mitm", default off) it is Just
 * Works. As in MicroPython (NimBLE), "mitm" only asks for protection: a
 * pairing whose IO capabilities allow only Just Works still succeeds, with
 * authenticated false, and GATT attributes that need authentication stay
 * refused. Out-of-band data is not supported.
 *
 * Every procedure ends with exactly one UVBLE_IRQ_ENCRYPTION_UPDATE on each
 * side that took part: a pairing (whoever started it), encryption with a
 * stored key (both sides), a Security Request we sent. Status 0 and the new
 * link state when it succeeded; otherwise the reason in .status (see
 * uvble.h) and the link state as it is. A peer's Pairing Request refused
 * at once (invalid fields, a key size below the minimum, repeated
 * attempts) starts nothing and raises nothing, unless it answered our
 * Security Request. The link's state (encrypted, authenticated, key size,
 * bonded) is what the GATT server checks attribute permissions against.
 *
 * PASSKEY_ACTION (action, passkey):
 *   2 input    type the passkey the peer shows: answer with
 *              uvble_gap_passkey(ble, conn, 2, passkey), now or later.
 *   3 display  show .passkey (a random number 0..999999 the stack chose)
 *              to the user; no answer is needed. An app that wants its own
 *              number calls uvble_gap_passkey(ble, conn, 3, passkey) from
 *              inside the handler (MicroPython's style); once the handler
 *              has returned the number in force cannot change.
 *   4 numeric comparison  show .passkey and ask the user whether the peer
 *              shows the same: answer uvble_gap_passkey(ble, conn, 4, n)
 *              with n != 0 to accept, 0 to reject (Pairing Failed,
 *              Numeric Comparison Failed).
 * Answers may be given from inside the handler or later; the 30 s SMP
 * timeout bounds the wait.
 *
 * TIMEOUT. A pairing that stalls for 30 s fails with UVBLE_ETIMEDOUT and,
 * as the spec requires (Vol 3, Part H, 3.4), no more pairing happens on that
 * connection (uvble_gap_pair returns UVBLE_ETIMEDOUT) until a new one.
 *
 * REPEATED ATTEMPTS. After a pairing with a peer fails authentication
 * (wrong passkey, confirm or DHKey check mismatch, rejected comparison),
 * Pairing and Security Requests from that peer are refused with Repeated
 * Attempts for a waiting interval that doubles with each further failure
 * (1 s, 2 s, 4 s ... up to 64 s) and resets after a success (Vol 3,
 * Part H, 2.3.6).
 *
 * KEY SIZE. The negotiated encryption key size must reach the minimum
 * (uvble_security_set_min_key_size, default 16), else pairing fails with
 * Encryption Key Size (0x06); stored keys shorter than the minimum are
 * not used. A peer's Maximum Encryption Key Size outside 7..16 is not a
 * size at all: pairing fails with Invalid Parameters (0x0A; Vol 3, Part H,
 * 3.5.1 and 3.5.5).
 *
 * BONDING. With "bond" on (the default) and the peer bonding too, the keys
 * are distributed and stored through the secrets (below): the LTK (with
 * EDIV/Rand for legacy pairing), the identity resolving key with the
 * identity address, and a signing key (CSRK) when the peer asks for it.
 *
 * COMPLETION. A pairing completes (ENCRYPTION_UPDATE with status 0, the
 * async pair future, `bonded`, SET_SECRET and the bond store record) only
 * once the peer's keys have arrived and the controller has completed our
 * own key-distribution PDUs (Vol 3, Part H, 3.6.1): an app may disconnect
 * from that event and the peer still gets every key. A link that drops
 * before then fails the pairing (UVBLE_EDISCONNECTED) and stores nothing.
 *
 * PRIVACY. Bonds are kept under the peer's identity address (the one it
 * distributed, else the address it connected from); a peer connecting
 * from a resolvable private address is matched through the IRKs of bonded
 * peers, and uvble_resolve_peer does the same for any address (scan
 * results). Our own IRK is read from the secrets (or made and stored) when
 * a bond store is opened or at the first connection of the session, and
 * GAP makes our RPAs with it from then on.
 *
 * RECONNECTION. A central does not encrypt on its own: it calls
 * uvble_gap_pair(), which starts encryption with the stored LTK when it
 * holds a bond for the peer (no pairing exchange; ENCRYPTION_UPDATE with
 * bonded true follows), and pairs otherwise, or when the link is already
 * encrypted (re-pairing). A Security Request from the peripheral does the
 * same (encryption when bonded and the stored key is strong enough for
 * what it asks, pairing otherwise). A peripheral answers the controller's
 * LTK request from storage, or with a negative reply when it holds no
 * matching key.
 *
 * STALE BONDS. When the peer refuses the stored key (it lost the bond:
 * Encryption Change with 0x06 PIN or Key Missing, or 0x05 Authentication
 * Failure), ENCRYPTION_UPDATE says so: status UVBLE_EHCI, the HCI status,
 * and stale_bond true (the async layer: UVBLE_EHCI with the HCI status in
 * proto_status). A peripheral asked to resume a bond it does not hold
 * raises the same. Nothing re-pairs on its own — not uvble_gap_pair, not
 * a peer's Security Request: either would let an impostor replace a bond.
 * To pair again, the application forgets the bond (uvble_forget_bond_conn)
 * and calls uvble_gap_pair; a peer that merely lost its keys then bonds
 * anew. Counted in uvble_stats_t.smp_bond_rejected.
 *
 * SECRETS. Keys are (sec_type, key) -> value secrets, MicroPython's model:
 * each lookup first raises UVBLE_IRQ_GET_SECRET (a handler returning 1 and
 * filling value answers it) and each change UVBLE_IRQ_SET_SECRET (a handler
 * returning 1 has stored it); what the app does not handle goes to the
 * built-in bond store when one is open (uvble_bond_store_open), else the
 * key is not found / not stored (pairing still succeeds, bonded false).
 * Types, keys and values (opaque to the app, at most
 * UVBLE_SECRET_VALUE_MAX bytes):
 *   1  UVBLE_SECRET_OUR_SEC   key: the peer's identity address, 7 bytes
 *                             (type 0/1, then the address least
 *                             significant byte first, NimBLE's
 *                             ble_addr_t); value: the keys we gave it.
 *   2  UVBLE_SECRET_PEER_SEC  same key; value: the keys it gave us.
 *   3  UVBLE_SECRET_CCCD      same key; value: the GATT server's client
 *                             configuration for that bonded client.
 *   10 UVBLE_SECRET_OUR_IRK   key b"irk"; value: our 16-byte IRK, made
 *                             once and kept, so our RPAs stay resolvable.
 * GET_SECRET with key NULL asks for the index-th value of a type (the app
 * returns 0 past the end); the stack iterates sec_type 2 that way to
 * resolve RPAs. The handler must copy what it keeps: key and value are
 * borrowed for the call.
 */
#ifndef UVBLE_SECURITY_H
#define UVBLE_SECURITY_H

#include "uvble/uvble.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PASSKEY_ACTION actions (MicroPython's values). */
enum {
  UVBLE_PASSKEY_ACTION_NONE = 0,
  UVBLE_PASSKEY_ACTION_INPUT = 2,
  UVBLE_PASSKEY_ACTION_DISPLAY = 3,
  UVBLE_PASSKEY_ACTION_NUMCMP = 4,
};

/* Secret types (GET_SECRET / SET_SECRET sec_type). */
enum {
  UVBLE_SECRET_OUR_SEC = 1,
  UVBLE_SECRET_PEER_SEC = 2,
  UVBLE_SECRET_CCCD = 3,
  UVBLE_SECRET_OUR_IRK = 10,
};

#define UVBLE_SECRET_VALUE_MAX 512

/* SMP Pairing Failed reasons (Vol 3, Part H, 3.5.5), as they appear in
 * uvble_evt_encryption_t.status. */
enum {
  UVBLE_SMP_PASSKEY_ENTRY_FAILED = 0x01,
  UVBLE_SMP_OOB_NOT_AVAILABLE = 0x02,
  UVBLE_SMP_AUTH_REQUIREMENTS = 0x03,
  UVBLE_SMP_CONFIRM_VALUE_FAILED = 0x04,
  UVBLE_SMP_PAIRING_NOT_SUPPORTED = 0x05,
  UVBLE_SMP_ENC_KEY_SIZE = 0x06,
  UVBLE_SMP_CMD_NOT_SUPPORTED = 0x07,
  UVBLE_SMP_UNSPECIFIED = 0x08,
  UVBLE_SMP_REPEATED_ATTEMPTS = 0x09,
  UVBLE_SMP_INVALID_PARAMS = 0x0A,
  UVBLE_SMP_DHKEY_CHECK_FAILED = 0x0B,
  UVBLE_SMP_NUMCMP_FAILED = 0x0C,
  UVBLE_SMP_BREDR_PAIRING_IN_PROGRESS = 0x0D,
  UVBLE_SMP_CROSS_TRANSP_NOT_ALLOWED = 0x0E,
  UVBLE_SMP_KEY_REJECTED = 0x0F,
};

/* Starts securing the connection (MicroPython's gap_pair): see
 * RECONNECTION above for what a central does; a peripheral sends a
 * Security Request and the central decides. The outcome arrives as
 * UVBLE_IRQ_ENCRYPTION_UPDATE. Returns 0, UVBLE_ENOTCONN (unknown handle),
 * UVBLE_EBUSY (pairing under way), UVBLE_ETIMEDOUT
 * (the SMP timeout already fired on this connection), UVBLE_ENOTACTIVE, or
 * an error from queueing. A central whose link is already being encrypted
 * with the bond's key (the peer's Security Request started it) gets 0: the
 * call joins that procedure, whose one ENCRYPTION_UPDATE ends it. */
UVBLE_EXTERN int uvble_gap_pair(uvble_t *ble, uint16_t conn_handle);
/* The same with a request (uvble/req.h; NULL: the call above): the
 * procedure's ENCRYPTION_UPDATE goes to req instead of the irq handler,
 * as status (0, an SMP Pairing Failed reason 1..15 as sent or received,
 * UVBLE_ETIMEDOUT, UVBLE_EHCI, UVBLE_EDISCONNECTED, UVBLE_ECANCELED when
 * the stack closed) and result->encryption (the link's state, hci_status,
 * stale_bond). PASSKEY_ACTION events still go to the irq handler.
 * uvble_cancel fails a pairing under way with Pairing Failed, Unspecified
 * Reason (0x08), sent on a later loop turn, and reports nothing; an
 * encryption with a stored key cannot be stopped and its outcome is
 * swallowed (stats.req_late_responses). Either way the request completes
 * with UVBLE_ECANCELED once the procedure is over, so a new pairing may
 * start from its callback. */
UVBLE_EXTERN int uvble_gap_pair_req(uvble_req_t *req, uvble_t *ble,
                                    uint16_t conn_handle);

/* Answers a PASSKEY_ACTION (see above). passkey: 0..999999 for input and
 * display, accept (non-zero) or reject (0) for numeric comparison.
 * Returns 0, UVBLE_ENOTCONN, UVBLE_EINVAL (no such action is awaited on
 * that connection, or a passkey out of range). */
UVBLE_EXTERN int uvble_gap_passkey(uvble_t *ble, uint16_t conn_handle,
                                   int action, uint32_t passkey);

/* Opens the built-in bond store at path (created if absent, mode 0600),
 * encrypted under a 32-byte key read from key_file (created with random
 * bytes if absent, together with a new store) or derived from passphrase:
 * give exactly one. Replaces a store opened before. Our IRK is taken from
 * the store (or put there). Returns 0 or a negative error (UVBLE_EACCES: a
 * wrong key or passphrase, or a tampered file; UVBLE_EPROTO: not a store
 * of a known version); errbuf, when given, receives a sentence naming the
 * problem and its fix. The store is closed with the stack. */
UVBLE_EXTERN int uvble_bond_store_open(uvble_t *ble, const char *path,
                                       const char *key_file,
                                       const char *passphrase, char *errbuf,
                                       size_t errlen);

/* Forgets every bond: deletes the OUR_SEC, PEER_SEC and CCCD secrets of
 * every peer (through SET_SECRET with value NULL for each one found, and
 * by emptying the built-in store). Our own IRK is kept. Connections stay as
 * they are. Returns 0 or the first error. */
UVBLE_EXTERN int uvble_erase_bonding(uvble_t *ble);

/* Forgets the bond with one peer: deletes its OUR_SEC, PEER_SEC and CCCD
 * secrets (as uvble_erase_bonding does for all). peer: its identity
 * address, or a resolvable private address of it (resolved through the
 * bonded peers' IRKs). For a stale bond (ENCRYPTION_UPDATE with
 * stale_bond): forget it, then uvble_gap_pair pairs anew — the stack
 * never does so on its own. Returns 0, UVBLE_ENOENT (no bond with that
 * peer), UVBLE_EINVAL (NULL, a bad address type, or no secrets support). */
UVBLE_EXTERN int uvble_forget_bond(uvble_t *ble, const uvble_addr_t *peer);
/* uvble_forget_bond for the peer of a connection (the identity the stack
 * would re-encrypt with). Also UVBLE_ENOTCONN for an unknown handle. The
 * connection stays as it is. */
UVBLE_EXTERN int uvble_forget_bond_conn(uvble_t *ble, uint16_t conn_handle);

/* One bond, as uvble_bond_list reports it (no keys). */
typedef struct {
  uvble_addr_t identity; /* type UVBLE_ADDR_PUBLIC or UVBLE_ADDR_RANDOM */
  uint8_t key_size;      /* 7..16 */
  bool authenticated;    /* the pairing had MITM protection */
  bool secure_connections;
  bool peer_irk;         /* the peer gave its IRK: its RPAs resolve */
} uvble_bond_info_t;

/* The bonds held (by the app's GET_SECRET handler or the built-in store):
 * fills out[0..cap) and returns how many there are (more than cap: only
 * cap are filled), or UVBLE_EINVAL. */
UVBLE_EXTERN int uvble_bond_list(uvble_t *ble, uvble_bond_info_t *out,
                                 size_t cap);

/* Sets the smallest encryption key size (in octets) pairing accepts:
 * 7..16 (default 16). UVBLE_EINVAL outside that range. */
UVBLE_EXTERN int uvble_security_set_min_key_size(uvble_t *ble, int octets);
UVBLE_EXTERN int uvble_security_get_min_key_size(const uvble_t *ble);

/* Resolves a resolvable private address against the IRKs of bonded peers:
 * true and *identity (type UVBLE_ADDR_PUBLIC or UVBLE_ADDR_RANDOM, the
 * identity address the peer distributed) when one matches; false for an
 * address that is not an RPA or that no bonded peer's IRK generated. */
UVBLE_EXTERN bool uvble_resolve_peer(uvble_t *ble, const uvble_addr_t *rpa,
                                     uvble_addr_t *identity);

#ifdef __cplusplus
}
#endif
#endif
