/* SPDX-License-Identifier: Apache-2.0 */
/* Pairing with bonding, then at once gap_disconnect() or uvble_close(),
 * across processes (see edges_xproc.h), in both roles: the central starts
 * the pairing (gap_pair), or the peripheral does (gap_pair as peripheral:
 * a Security Request). The host that started it ends the link or its
 * stack from inside its ENCRYPTION_UPDATE handler, the first moment an
 * application learns the pairing is done (what `uvble pair` does). Both
 * hosts must then be bonded: each got ENCRYPTION_UPDATE with bonded 1 and
 * stored the peer's keys (PEER_SEC) and its own (OUR_SEC). The hosts then
 * reconnect and the central's gap_pair re-encrypts with the stored LTK:
 * ENCRYPTION_UPDATE (encrypted, bonded) on both sides and no ACL packet
 * sent by either between the connection and the encryption, so no SMP
 * exchange (Vol 3, Part H, 2.4.4.1: encryption with a bonded device's
 * LTK). */
#include "edges_xproc.h"

/* ble.config(le_secure=True, bond=True) before ble.active(1); the default
 * IO capability (no input, no output): LE Secure Connections Just Works. */
static void pre(struct inst *i) {
  REQUIRE_EQ(uvble_config_set_int(i->ble, UVBLE_CONFIG_LE_SECURE, 1), 0);
  REQUIRE_EQ(uvble_config_set_int(i->ble, UVBLE_CONFIG_BOND, 1), 0);
}

/* A host's side of "bonded": the event said so and both key sets are kept. */
static void expect_bonded(struct inst *i) {
  struct edge *e = i->ctx;
  if (e->enc_events < 1) {
    test_fail(__FILE__, __LINE__, "%s: no ENCRYPTION_UPDATE", i->name);
    return;
  }
  CHECK_EQ(e->enc.status, 0);
  CHECK(e->enc.encrypted);
  CHECK(e->enc.bonded);
  if (secrets_count(&e->sec, UVBLE_SECRET_PEER_SEC) != 1 ||
      secrets_count(&e->sec, UVBLE_SECRET_OUR_SEC) != 1)
    test_fail(__FILE__, __LINE__, "%s: stored PEER_SEC %d, OUR_SEC %d (1 each expected)",
              i->name, secrets_count(&e->sec, UVBLE_SECRET_PEER_SEC),
              secrets_count(&e->sec, UVBLE_SECRET_OUR_SEC));
}

static bool enc_pred(void *arg) {
  const struct edge *e = arg;
  return e->enc_events > 0;
}

/* The host that did not start it: waits for its side of the pairing. */
static void wait_enc(struct inst *i) {
  struct edge *e = i->ctx;
  need_local(i);
  if (!run_until_pred(&loop, enc_pred, e, EDGE_WAIT_MS))
    test_fail(__FILE__, __LINE__, "%s: the pairing never completed here", i->name);
}

/* Reconnect; the central's gap_pair encrypts with the stored keys. */
static void reencrypt(struct inst *i0, struct inst *i1) {
  struct edge *e0 = i0->ctx, *e1 = i1->ctx;
  AS(i0) e0->enc_events = 0;
  AS(i1) e1->enc_events = 0;
  edge_connect(i0, i1);
  AS(i1) {
    REQUIRE_EQ(uvble_gap_pair(i1->ble, e1->conn), 0);
    wait_for(i1, UVBLE_IRQ_ENCRYPTION_UPDATE, EDGE_WAIT_MS);
  }
  AS(i0) wait_enc(i0);
  struct inst *both[] = {i0, i1};
  for (int k = 0; k < 2; k++) {
    AS(both[k]) {
      struct edge *e = both[k]->ctx;
      out(both[k], "re-encrypted: status %d encrypted %d bonded %d", e->enc.status,
          e->enc.encrypted, e->enc.bonded);
      CHECK_EQ(e->enc.status, 0);
      CHECK(e->enc.encrypted);
      CHECK(e->enc.bonded);
      if (e->acl_tx_at_enc != e->acl_tx_at_connect)
        test_fail(__FILE__, __LINE__,
                  "%s: %llu ACL packets sent before the encryption: paired again",
                  both[k]->name,
                  (unsigned long long)(e->acl_tx_at_enc - e->acl_tx_at_connect));
    }
  }
  AS(i1) {
    CHECK_EQ(uvble_gap_disconnect(i1->ble, e1->conn), 1);
    wait_for(i1, UVBLE_IRQ_PERIPHERAL_DISCONNECT, EDGE_WAIT_MS);
  }
  AS(i0) wait_link_down(i0, UVBLE_IRQ_CENTRAL_DISCONNECT, true);
}

static void bond_case(bool central_starts, enum edge_end end) {
  struct edge e0, e1;
  struct inst i0, i1, *all[3];
  edges_up(&i0, &e0, &i1, &e1, all, end, pre);
  edge_connect(&i0, &i1);

  struct inst *actor = central_starts ? &i1 : &i0;
  struct inst *peer = central_starts ? &i0 : &i1;
  AS(actor) {
    struct edge *e = actor->ctx;
    e->end_on_enc = true;
    out(actor, "gap_pair");
    REQUIRE_EQ(uvble_gap_pair(actor->ble, e->conn), 0);
    wait_end(actor);
  }
  bool peer_link_down = false;
  AS(peer) {
    wait_enc(peer);
    peer_link_down = wait_link_down(peer,
                                    central_starts ? UVBLE_IRQ_CENTRAL_DISCONNECT
                                                   : UVBLE_IRQ_PERIPHERAL_DISCONNECT,
                                    false);
    expect_bonded(peer);
  }
  AS(actor) {
    if (end == END_CLOSE) restart(actor, pre);
    expect_bonded(actor);
  }
  /* A link the closed stack left up (see wait_link_down) goes with a new
   * stack here, after the actor's: btvirt hands out the lowest free
   * controller slot, so each gets its old address back. The keys stay
   * in the test's secret table. */
  AS(peer) if (!peer_link_down) restart_closing(peer, pre);
  reencrypt(&i0, &i1);
  insts_down(all);
}

TEST(bond_started_by_central_then_disconnect) { bond_case(true, END_DISCONNECT); }
TEST(bond_started_by_central_then_close) { bond_case(true, END_CLOSE); }
TEST(bond_started_by_peripheral_then_disconnect) { bond_case(false, END_DISCONNECT); }
TEST(bond_started_by_peripheral_then_close) { bond_case(false, END_CLOSE); }

TEST_MAIN()
