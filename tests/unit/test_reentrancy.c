/* SPDX-License-Identifier: Apache-2.0 */
/* Re-entrancy, table-driven: for every irq event the core delivers, on the
 * host that receives it, the handler calls uvble_close(), disconnects the
 * link, closes the L2CAP channel or replaces (frees) the GATT services,
 * from inside the callback. Two hosts on the in-memory controller pair
 * (memctl) run one script that raises all 31 events; the action fires at
 * the first delivery of the event under test, and the case then checks
 * what the app sees (under ASan + leak checks, so a use-after-free or a
 * leak anywhere fails it):
 *   close      the close callback does not run inside the handler, runs
 *              once on a later loop turn, and no event reaches the host
 *              after uvble_close(); the peer hears the link go;
 *   disconnect the DISCONNECT event follows once for the link, and every
 *              GATT client operation pending on it completes (DONE with 0
 *              or UVBLE_EDISCONNECTED);
 *   l2cap      the channel's L2CAP_DISCONNECT follows once;
 *   services   the host goes on serving (nothing it still used is gone).
 * The async layer's future callbacks get the same treatment in
 * test_async_link.c-style cases at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memctl.h"
#include "secrets.h"
#include "test.h"
#include "uvble/async.h"
#include "uvble/gap.h"
#include "uvble/gatt.h"
#include "uvble/gattc.h"
#include "uvble/gatts.h"
#include "uvble/l2cap.h"
#include "uvble/security.h"

#define PSM 0x0081
#define NEV (UVBLE_IRQ_MAX + 1)

enum action { ACT_CLOSE, ACT_DISCONNECT, ACT_L2CAP, ACT_SERVICES, ACTIONS };
static const char *const action_names[] = {"close", "disconnect", "l2cap",
                                           "services"};

struct host {
  int idx; /* 0: A (central, client), 1: B (peripheral, server) */
  uvble_t *ble;
  struct secrets sec;
  int count[NEV];
  uint16_t conn;    /* 0xffff: none */
  uint16_t cid;     /* an open channel, 0: none */
  bool closed;      /* uvble_close() called */
  int after_close;  /* events delivered after it */
  int close_cbs;
  bool in_irq;
  int done_bad;     /* a GATT client DONE with an unexpected status */
  uint16_t svc_start, svc_end, chr_value;
  uint32_t numcmp;
};

static uv_loop_t loop;
static memctl_t *mc;
static struct host H[2];
static int target_ev, target_host;
static enum action target_act;
static bool acted;
static int act_disc_seen_before; /* DISCONNECTs before the action */
static int cid_acted;            /* the channel the l2cap action closed */
static uint16_t vh; /* B's characteristic value handle */
static uvble_characteristic_t *bchr; /* the async case's */

static bool done_pred(void *arg) { return uvble_future_done(arg); }

static const uvble_gatts_characteristic_t chars[] = {
    {.uuid = {.type = 16, .data = {0x01, 0xAB}},
     .flags = UVBLE_FLAG_READ | UVBLE_FLAG_READ_AUTHORIZED | UVBLE_FLAG_WRITE |
              UVBLE_FLAG_NOTIFY | UVBLE_FLAG_INDICATE},
};
static const uvble_gatts_service_t svc = {
    .uuid = {.type = 16, .data = {0xCD, 0xAB}},
    .characteristics = chars,
    .num_characteristics = 1};

static void on_close(uvble_t *ble, void *arg) {
  (void)arg;
  for (int i = 0; i < 2; i++)
    if (H[i].ble == ble) {
      /* Never inside a handler: a later loop turn. */
      CHECK(!H[i].in_irq);
      H[i].close_cbs++;
    }
}

static void act(struct host *h) {
  switch (target_act) {
    case ACT_CLOSE:
      h->closed = true;
      uvble_close(h->ble, on_close, NULL);
      CHECK_EQ(h->close_cbs, 0);
      break;
    case ACT_DISCONNECT:
      act_disc_seen_before =
          h->count[h->idx ? UVBLE_IRQ_CENTRAL_DISCONNECT
                          : UVBLE_IRQ_PERIPHERAL_DISCONNECT];
      uvble_gap_disconnect(h->ble, h->conn);
      break;
    case ACT_L2CAP:
      cid_acted = h->cid;
      uvble_l2cap_disconnect(h->ble, h->conn, h->cid);
      break;
    case ACT_SERVICES:
      /* Replacing the database frees the one being served. */
      uvble_gatts_register_services(h->ble, NULL, 0, NULL, 0);
      break;
    default:
      break;
  }
}

static bool gattc_done_event(int ev) {
  return ev == UVBLE_IRQ_GATTC_SERVICE_DONE ||
         ev == UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE ||
         ev == UVBLE_IRQ_GATTC_DESCRIPTOR_DONE ||
         ev == UVBLE_IRQ_GATTC_READ_DONE || ev == UVBLE_IRQ_GATTC_WRITE_DONE;
}

static int done_status(int ev, const uvble_irq_data_t *d) {
  return ev == UVBLE_IRQ_GATTC_READ_DONE || ev == UVBLE_IRQ_GATTC_WRITE_DONE
             ? d->gatt_status.status
             : d->done.status;
}

/* What the app does anyway, to move the script along. */
static int respond(struct host *h, int ev, const uvble_irq_data_t *d) {
  switch (ev) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
      h->conn = d->connect.conn_handle;
      return 0;
    case UVBLE_IRQ_GATTC_SERVICE_RESULT:
      h->svc_start = d->service.start_handle;
      h->svc_end = d->service.end_handle;
      return 0;
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT:
      h->chr_value = d->characteristic.value_handle;
      return 0;
    case UVBLE_IRQ_L2CAP_CONNECT:
      h->cid = d->l2cap_connect.cid;
      return 0;
    case UVBLE_IRQ_L2CAP_DISCONNECT:
      if (d->l2cap_disconnect.cid == h->cid) h->cid = 0;
      return 0;
    case UVBLE_IRQ_L2CAP_RECV: {
      uint8_t buf[512];
      while (uvble_l2cap_recvinto(h->ble, d->l2cap_io.conn_handle,
                                  d->l2cap_io.cid, buf, sizeof buf) > 0) {
      }
      return 0;
    }
    case UVBLE_IRQ_GET_SECRET:
      return secrets_get(&h->sec, &d->get_secret);
    case UVBLE_IRQ_SET_SECRET:
      return secrets_set(&h->sec, &d->set_secret);
    case UVBLE_IRQ_PASSKEY_ACTION:
      h->numcmp = d->passkey.passkey;
      if (d->passkey.action == UVBLE_PASSKEY_ACTION_NUMCMP)
        uvble_gap_passkey(h->ble, d->passkey.conn_handle,
                          UVBLE_PASSKEY_ACTION_NUMCMP, 1);
      return 0;
    default:
      return 0;
  }
}

static int on_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d,
                  void *arg) {
  (void)ble;
  struct host *h = arg;
  if (h->closed) h->after_close++;
  if (ev < 1 || ev >= NEV) return 0;
  h->count[ev]++;
  if (gattc_done_event(ev)) {
    int st = done_status(ev, d);
    /* ATT errors (positive) are the peer's answers; of our own codes only
     * these two may end an operation the link took with it. */
    if (st < 0 && st != UVBLE_EDISCONNECTED && st != UVBLE_ECANCELED) {
      fprintf(stderr, "  %s on %c: status %d\n", uvble_irq_name(ev),
              'A' + h->idx, st);
      h->done_bad++;
    }
  }
  h->in_irq = true;
  int r = respond(h, ev, d);
  /* A disconnect needs the link's handle: secrets are asked for before
   * the CONNECT event too (the local IRK, as the first link opens). */
  if (!acted && ev == target_ev && h->idx == target_host &&
      (target_act != ACT_DISCONNECT || h->conn != 0xffff)) {
    acted = true;
    act(h);
  }
  h->in_irq = false;
  return r;
}

/* ---- the script --------------------------------------------------------- */
static bool settled(void) {
  /* Once the action ran, the script has nothing more to show. */
  return acted;
}

struct wait {
  struct host *h;
  int ev, n;
};

static bool wait_pred(void *arg) {
  struct wait *w = arg;
  return settled() || w->h->count[w->ev] >= w->n;
}

/* Waits for host h's n-th event ev, or for the action to have run. */
static void wait_for(struct host *h, int ev, int n, unsigned ms) {
  struct wait w = {h, ev, n};
  run_until_pred(&loop, wait_pred, &w, ms);
}

static void adv_report(void) {
  /* LE Advertising Report (Vol 4, Part E, 7.7.65.2): one ADV_IND with
   * Flags, from a random address. */
  const uint8_t ev[] = {0x02, 1,    0x00, 0x01, 1,    2,    3, 4,
                        5,    0xc6, 3,    0x02, 0x01, 0x06, 0xc0};
  memctl_send_event(mc, 0, 0x3E, ev, sizeof ev);
}

static void script(void) {
  struct host *a = &H[0], *b = &H[1];
  /* Scanning: a report, then the end of the duration. */
  if (uvble_gap_scan(a->ble, 200, 30000, 30000, false) == 0) {
    adv_report();
    wait_for(a, UVBLE_IRQ_SCAN_RESULT, 1, 1000);
    wait_for(a, UVBLE_IRQ_SCAN_DONE, 1, 2000);
  }
  if (settled()) return;
  int hc = memctl_connect(mc);
  REQUIRE(hc >= 0);
  wait_for(b, UVBLE_IRQ_CENTRAL_CONNECT, 1, 1000);
  wait_for(a, UVBLE_IRQ_PERIPHERAL_CONNECT, 1, 1000);
  if (settled()) return;
  uint16_t c = a->conn;
  uvble_gattc_exchange_mtu(a->ble, c);
  wait_for(a, UVBLE_IRQ_MTU_EXCHANGED, 1, 1000);
  wait_for(b, UVBLE_IRQ_MTU_EXCHANGED, 1, 1000);
  if (settled()) return;
  uvble_uuid_t su = svc.uuid;
  uvble_gattc_discover_services(a->ble, c, &su);
  wait_for(a, UVBLE_IRQ_GATTC_SERVICE_DONE, 1, 1000);
  if (settled()) return;
  uvble_gattc_discover_characteristics(a->ble, c, a->svc_start, a->svc_end,
                                       NULL);
  wait_for(a, UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, 1, 1000);
  if (settled()) return;
  uvble_gattc_discover_descriptors(a->ble, c, a->chr_value, a->svc_end);
  wait_for(a, UVBLE_IRQ_GATTC_DESCRIPTOR_DONE, 1, 1000);
  if (settled()) return;
  uvble_gattc_read(a->ble, c, vh);
  wait_for(a, UVBLE_IRQ_GATTC_READ_DONE, 1, 1000);
  if (settled()) return;
  uvble_gattc_write(a->ble, c, vh, "hi", 2, 1);
  wait_for(a, UVBLE_IRQ_GATTC_WRITE_DONE, 1, 1000);
  if (settled()) return;
  uvble_gatts_notify(b->ble, c, vh, "n", 1);
  wait_for(a, UVBLE_IRQ_GATTC_NOTIFY, 1, 1000);
  if (settled()) return;
  uvble_gatts_indicate(b->ble, c, vh, "i", 1);
  wait_for(a, UVBLE_IRQ_GATTC_INDICATE, 1, 1000);
  wait_for(b, UVBLE_IRQ_GATTS_INDICATE_DONE, 1, 1000);
  if (settled()) return;
  uvble_gap_update_params(a->ble, c, 30000, 50000, 0, 4000);
  wait_for(a, UVBLE_IRQ_CONNECTION_UPDATE, 1, 1000);
  wait_for(b, UVBLE_IRQ_CONNECTION_UPDATE, 1, 1000);
  if (settled()) return;
  uvble_l2cap_connect(a->ble, c, PSM, 512);
  wait_for(a, UVBLE_IRQ_L2CAP_CONNECT, 1, 1000);
  wait_for(b, UVBLE_IRQ_L2CAP_CONNECT, 1, 1000);
  if (settled()) return;
  /* Fill the peer's credits and A's buffer: SEND_READY once B reads. */
  uint8_t sdu[500];
  memset(sdu, 7, sizeof sdu);
  for (int i = 0; i < 200 && a->cid; i++)
    if (uvble_l2cap_send(a->ble, c, a->cid, sdu, sizeof sdu) <= 0) break;
  wait_for(b, UVBLE_IRQ_L2CAP_RECV, 1, 1000);
  wait_for(a, UVBLE_IRQ_L2CAP_SEND_READY, 1, 2000);
  if (settled()) return;
  if (a->cid) uvble_l2cap_disconnect(a->ble, c, a->cid);
  wait_for(a, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 1000);
  wait_for(b, UVBLE_IRQ_L2CAP_DISCONNECT, 1, 1000);
  if (settled()) return;
  uvble_gap_pair(a->ble, c);
  /* Key generation under ASan on a loaded machine can take a while. */
  wait_for(a, UVBLE_IRQ_ENCRYPTION_UPDATE, 1, 10000);
  wait_for(b, UVBLE_IRQ_ENCRYPTION_UPDATE, 1, 2000);
  wait_for(a, UVBLE_IRQ_SET_SECRET, 1, 1000);
  wait_for(b, UVBLE_IRQ_SET_SECRET, 1, 1000);
  if (settled()) return;
  memctl_disconnect(mc, c, 0x13);
  wait_for(a, UVBLE_IRQ_PERIPHERAL_DISCONNECT, 1, 1000);
  wait_for(b, UVBLE_IRQ_CENTRAL_DISCONNECT, 1, 1000);
}

/* ---- one case ------------------------------------------------------------- */
static void setup(void) {
  memset(H, 0, sizeof H);
  acted = false;
  cid_acted = 0;
  act_disc_seen_before = 0;
  uv_loop_init(&loop);
  uvble_t *a, *b;
  REQUIRE_EQ(memctl_bring_up(&loop, NULL, &mc, &a, &b), 0);
  H[0].ble = a;
  H[1].ble = b;
  for (int i = 0; i < 2; i++) {
    H[i].idx = i;
    H[i].conn = 0xffff;
    uvble_irq(H[i].ble, on_irq, &H[i]);
    /* Numeric comparison: PASSKEY_ACTION on both sides, then bonding
     * (GET/SET_SECRET). */
    REQUIRE_EQ(uvble_config_set_int(H[i].ble, UVBLE_CONFIG_IO,
                                    UVBLE_IO_DISPLAY_YESNO), 0);
    REQUIRE_EQ(uvble_config_set_int(H[i].ble, UVBLE_CONFIG_MITM, 1), 0);
  }
  uint16_t handles[1];
  REQUIRE_EQ(uvble_gatts_register_services(b, &svc, 1, handles, 1), 1);
  vh = handles[0];
  REQUIRE_EQ(uvble_l2cap_set_opt(b, UVBLE_L2CAP_OPT_CREDITS, 2), 0);
  REQUIRE_EQ(uvble_l2cap_listen(b, PSM, 512), 0);
}

static bool closes_done(void *arg) {
  (void)arg;
  return H[0].close_cbs && H[1].close_cbs;
}

static void teardown(void) {
  for (int i = 0; i < 2; i++)
    if (!H[i].closed) {
      H[i].closed = true;
      uvble_close(H[i].ble, on_close, NULL);
    }
  REQUIRE(run_until_pred(&loop, closes_done, NULL, 3000));
  memctl_free(mc);
  mc = NULL;
  loop_teardown(&loop);
}

static bool close_cb_pred(void *arg) { return ((struct host *)arg)->close_cbs; }

struct disc_wait {
  struct host *h;
  int ev, n;
};

static bool disc_pred(void *arg) {
  struct disc_wait *w = arg;
  return w->h->count[w->ev] >= w->n;
}

/* The user-visible outcome of the action. */
static void check_outcome(void) {
  struct host *h = &H[target_host], *peer = &H[!target_host];
  int disc_ev = h->idx ? UVBLE_IRQ_CENTRAL_DISCONNECT
                       : UVBLE_IRQ_PERIPHERAL_DISCONNECT;
  int peer_disc_ev = peer->idx ? UVBLE_IRQ_CENTRAL_DISCONNECT
                               : UVBLE_IRQ_PERIPHERAL_DISCONNECT;
  switch (target_act) {
    case ACT_CLOSE: {
      bool linked = h->conn != 0xffff && h->count[disc_ev] == 0;
      CHECK(run_until_pred(&loop, close_cb_pred, h, 3000));
      run_until_idle(&loop, 5000);
      CHECK_EQ(h->close_cbs, 1);
      CHECK_EQ(h->after_close, 0);
      if (linked && peer->count[peer_disc_ev] == 0) {
        /* The closing host ends its links: the peer hears it. */
        struct disc_wait w = {peer, peer_disc_ev, 1};
        CHECK(run_until_pred(&loop, disc_pred, &w, 2000));
      }
      break;
    }
    case ACT_DISCONNECT: {
      struct disc_wait w = {h, disc_ev, act_disc_seen_before + 1};
      CHECK(run_until_pred(&loop, disc_pred, &w, 3000));
      run_until_idle(&loop, 5000);
      CHECK_EQ(h->count[disc_ev], act_disc_seen_before + 1);
      /* Every client operation ended: as many DONEs as were started is
       * what the handler saw; none with a strange status. */
      CHECK_EQ(H[0].done_bad, 0);
      break;
    }
    case ACT_L2CAP: {
      struct disc_wait w = {h, UVBLE_IRQ_L2CAP_DISCONNECT,
                            h->count[UVBLE_IRQ_L2CAP_DISCONNECT] + 1};
      if (h->cid == cid_acted && cid_acted) {
        CHECK(run_until_pred(&loop, disc_pred, &w, 3000));
      }
      run_until_idle(&loop, 5000);
      break;
    }
    case ACT_SERVICES:
      run_until_idle(&loop, 5000);
      /* Still serving: the (now empty) database answers reads. */
      if (H[0].conn != 0xffff && H[0].count[UVBLE_IRQ_PERIPHERAL_DISCONNECT] == 0 &&
          !H[0].closed) {
        int before = H[0].count[UVBLE_IRQ_GATTC_READ_DONE];
        if (uvble_gattc_read(H[0].ble, H[0].conn, vh) == 0) {
          struct disc_wait w = {&H[0], UVBLE_IRQ_GATTC_READ_DONE, before + 1};
          CHECK(run_until_pred(&loop, disc_pred, &w, 2000));
        }
      }
      break;
    default:
      break;
  }
}

/* Which host receives each event in the script. */
static bool delivered_to(int ev, int host) {
  switch (ev) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_CENTRAL_DISCONNECT:
    case UVBLE_IRQ_GATTS_WRITE:
    case UVBLE_IRQ_GATTS_READ_REQUEST:
    case UVBLE_IRQ_GATTS_INDICATE_DONE:
    case UVBLE_IRQ_L2CAP_ACCEPT:
    case UVBLE_IRQ_L2CAP_RECV:
      return host == 1;
    case UVBLE_IRQ_SCAN_RESULT:
    case UVBLE_IRQ_SCAN_DONE:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
    case UVBLE_IRQ_GATTC_SERVICE_RESULT:
    case UVBLE_IRQ_GATTC_SERVICE_DONE:
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT:
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE:
    case UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT:
    case UVBLE_IRQ_GATTC_DESCRIPTOR_DONE:
    case UVBLE_IRQ_GATTC_READ_RESULT:
    case UVBLE_IRQ_GATTC_READ_DONE:
    case UVBLE_IRQ_GATTC_WRITE_DONE:
    case UVBLE_IRQ_GATTC_NOTIFY:
    case UVBLE_IRQ_GATTC_INDICATE:
    case UVBLE_IRQ_L2CAP_SEND_READY:
      return host == 0;
    default: /* MTU, L2CAP_CONNECT/DISCONNECT, CONNECTION_UPDATE,
                ENCRYPTION_UPDATE, GET/SET_SECRET, PASSKEY_ACTION */
      return true;
  }
}

static bool applicable(int ev, int host, enum action act) {
  if (!delivered_to(ev, host)) return false;
  switch (act) {
    case ACT_DISCONNECT:
      /* Needs a link: not before it exists, not after it went. B, the
       * responder, asks for no secret once the link is up (only for the
       * local IRK as it opens). */
      if (ev == UVBLE_IRQ_GET_SECRET && host == 1) return false;
      return ev != UVBLE_IRQ_SCAN_RESULT && ev != UVBLE_IRQ_SCAN_DONE &&
             ev != UVBLE_IRQ_CENTRAL_DISCONNECT &&
             ev != UVBLE_IRQ_PERIPHERAL_DISCONNECT;
    case ACT_L2CAP:
      /* Needs an open channel on this host. */
      return ev == UVBLE_IRQ_L2CAP_CONNECT || ev == UVBLE_IRQ_L2CAP_RECV ||
             ev == UVBLE_IRQ_L2CAP_SEND_READY;
    case ACT_SERVICES:
      return host == 1;
    default:
      return true;
  }
}

TEST(every_irq_event_times_every_action) {
  int cases = 0, fired = 0;
  const char *only = getenv("REENTRANCY_ONLY"); /* "EV:HOST:ACT" to debug */
  for (int ev = 1; ev <= UVBLE_IRQ_MAX; ev++)
    for (int host = 0; host < 2; host++)
      for (int act = 0; act < ACTIONS; act++) {
        if (!applicable(ev, host, (enum action)act)) continue;
        if (only) {
          int oe, oh, oa;
          if (sscanf(only, "%d:%d:%d", &oe, &oh, &oa) != 3 || oe != ev ||
              oh != host || oa != act)
            continue;
        }
        target_ev = ev;
        target_host = host;
        target_act = (enum action)act;
        if (getenv("REENTRANCY_VERBOSE"))
          fprintf(stderr, "  %d:%d:%d %s on %c, %s\n", ev, host, act,
                  uvble_irq_name(ev), 'A' + host, action_names[act]);
        setup();
        script();
        cases++;
        if (acted) {
          fired++;
          check_outcome();
        } else {
          fprintf(stderr, "  %s on %c, %s: the event never came\n",
                  uvble_irq_name(ev), 'A' + host, action_names[act]);
        }
        teardown();
      }
  fprintf(stderr, "  %d combinations, %d fired\n", cases, fired);
  /* Every event of the script came and was acted on. */
  CHECK_EQ(fired, cases);
  CHECK(cases > 80);
}

/* ---- the async layer: every future callback kind --------------------------- */
enum fkind {
  F_SERVICE, F_CHARACTERISTIC, F_READ, F_WRITE, F_WRITTEN, F_NOTIFIED,
  F_INDICATE, F_MTU, F_ACCEPT, F_CONNECT, F_SEND, F_RECV, F_PAIR, F_SLEEP,
  F_DISCONNECT, F_DISCONNECTED, FKINDS
};
static const char *const fkind_names[] = {
    "service", "characteristic", "read", "write", "written", "notified",
    "indicate", "mtu", "accept", "l2cap_connect", "send", "recvinto", "pair",
    "sleep", "disconnect", "disconnected"};
/* The side each kind runs on: 0 A (central, client), 1 B (server). */
static const int fkind_host[FKINDS] = {0, 0, 0, 0, 1, 0, 1, 0,
                                       1, 0, 0, 1, 0, 0, 0, 1};

enum aaction { AA_ASYNC_CLOSE, AA_CORE_CLOSE, AA_DISCONNECT, AACTIONS };
static const char *const aaction_names[] = {"uvble_async_close", "uvble_close",
                                            "disconnect"};

struct actx {
  uvble_async_t *a;
  uvble_t *ble;
  uvble_connection_t *conn; /* borrowed: the link's */
  bool closing;
  bool sentinel_was_pending; /* when the close was asked for */
  int close_cbs;
  bool in_cb;
  int cbs_after_close; /* future callbacks after the close callback */
  uvble_future_t sentinel; /* pending until the link or context ends */
  uint8_t sbuf[16];
};

static struct actx X[2];
static int fk_target;
static enum aaction fk_act;
static bool fk_acted;
static int fk_side;
static uvble_future_t fk_disc; /* the disconnect the action starts */

static void on_async_closed(uvble_async_t *a, void *arg) {
  (void)a;
  struct actx *x = arg;
  CHECK(!x->in_cb && !X[0].in_cb && !X[1].in_cb);
  x->close_cbs++;
  /* Everything pending completed before this, with ECANCELED. */
  CHECK(uvble_future_done(&x->sentinel));
  if (x->sentinel_was_pending) CHECK_EQ(x->sentinel.status, UVBLE_ECANCELED);
}

static void on_core_closed(uvble_t *ble, void *arg) {
  (void)arg;
  for (int i = 0; i < 2; i++)
    if (X[i].ble == ble) {
      CHECK(!X[0].in_cb && !X[1].in_cb);
      X[i].close_cbs++;
      CHECK(uvble_future_done(&X[i].sentinel));
      if (X[i].sentinel_was_pending)
        CHECK_EQ(X[i].sentinel.status, UVBLE_ECANCELED);
    }
}

static void fut_cb(uvble_future_t *f) {
  struct actx *x = &X[fkind_host[(intptr_t)f->data]];
  if (x->close_cbs) x->cbs_after_close++;
  if (fk_acted || (intptr_t)f->data != fk_target) return;
  fk_acted = true;
  fk_side = fkind_host[fk_target];
  x->in_cb = true;
  x->sentinel_was_pending = uvble_future_pending(&x->sentinel);
  switch (fk_act) {
    case AA_ASYNC_CLOSE:
      x->closing = true;
      uvble_async_close(x->a, on_async_closed, x);
      break;
    case AA_CORE_CLOSE:
      x->closing = true;
      uvble_close(x->ble, on_core_closed, NULL);
      break;
    case AA_DISCONNECT:
      uvble_connection_disconnect(&fk_disc, x->conn, 2000);
      break;
    default:
      break;
  }
  CHECK_EQ(x->close_cbs, 0);
  x->in_cb = false;
}

static void sentinel_cb(uvble_future_t *f) {
  struct actx *x = f->data;
  if (x->close_cbs) x->cbs_after_close++;
}

static bool fut_settled(void *arg) {
  return fk_acted || uvble_future_done((uvble_future_t *)arg);
}

/* Starts op (its return value r) as kind k and waits for it. */
static bool run_op(uvble_future_t *f, int r, unsigned ms) {
  if (r != 0) return false;
  run_until_pred(&loop, fut_settled, f, ms);
  return !fk_acted && uvble_future_done(f) && f->status == 0;
}

#define FUT(k) (uvble_future_t){.cb = fut_cb, .data = (void *)(intptr_t)(k)}

static uvble_future_t fs[FKINDS];
static uint8_t rbuf[64];

static void async_script(void) {
  struct actx *a = &X[0], *b = &X[1];
  uvble_uuid_t su = svc.uuid, u1 = chars[0].uuid;
  for (int k = 0; k < FKINDS; k++) fs[k] = FUT(k);
  if (!run_op(&fs[F_SERVICE], uvble_connection_service(&fs[F_SERVICE], a->conn,
                                                       &su, 2000), 2000))
    return;
  uvble_client_service_t *cs = fs[F_SERVICE].result.service;
  if (!run_op(&fs[F_CHARACTERISTIC],
              uvble_client_service_characteristic(&fs[F_CHARACTERISTIC], cs,
                                                  &u1, 2000),
              2000))
    return;
  uvble_client_characteristic_t *cc = fs[F_CHARACTERISTIC].result.characteristic;
  if (!run_op(&fs[F_READ], uvble_client_characteristic_read(
                               &fs[F_READ], cc, rbuf, sizeof rbuf, 2000),
              2000))
    return;
  /* B waits for the write while A makes it. */
  uvble_characteristic_written(&fs[F_WRITTEN], bchr, rbuf, sizeof rbuf, 2000);
  if (!run_op(&fs[F_WRITE], uvble_client_characteristic_write(
                                &fs[F_WRITE], cc, "w", 1, 1, 2000),
              2000))
    return;
  if (!run_op(&fs[F_WRITTEN], 0, 2000)) return;
  uvble_client_characteristic_notified(&fs[F_NOTIFIED], cc, rbuf, sizeof rbuf,
                                       2000);
  uvble_characteristic_notify(bchr, b->conn, "n", 1);
  if (!run_op(&fs[F_NOTIFIED], 0, 2000)) return;
  if (!run_op(&fs[F_INDICATE], uvble_characteristic_indicate(
                                   &fs[F_INDICATE], bchr, b->conn, "i", 1, 2000),
              2000))
    return;
  if (!run_op(&fs[F_MTU],
              uvble_connection_exchange_mtu(&fs[F_MTU], a->conn, 200, 2000),
              2000))
    return;
  uvble_connection_l2cap_accept(&fs[F_ACCEPT], b->conn, PSM, 512, 2000);
  if (!run_op(&fs[F_CONNECT], uvble_connection_l2cap_connect(
                                  &fs[F_CONNECT], a->conn, PSM, 512, 2000),
              2000))
    return;
  if (!run_op(&fs[F_ACCEPT], 0, 2000)) return;
  uvble_l2cap_channel_t *cha = fs[F_CONNECT].result.channel,
                        *chb = fs[F_ACCEPT].result.channel;
  uvble_l2cap_channel_recvinto(&fs[F_RECV], chb, rbuf, sizeof rbuf, 2000);
  if (!run_op(&fs[F_SEND], uvble_l2cap_channel_send(&fs[F_SEND], cha, "data",
                                                    4, 0, 2000),
              2000))
    return;
  if (!run_op(&fs[F_RECV], 0, 2000)) return;
  if (!run_op(&fs[F_PAIR], uvble_connection_pair(&fs[F_PAIR], a->conn, NULL,
                                                 10000),
              10000))
    return;
  if (!run_op(&fs[F_SLEEP], uvble_sleep(&fs[F_SLEEP], uvble_async_sched(a->a),
                                        5),
              1000))
    return;
  uvble_connection_disconnected(&fs[F_DISCONNECTED], b->conn, 2000);
  if (!run_op(&fs[F_DISCONNECT],
              uvble_connection_disconnect(&fs[F_DISCONNECT], a->conn, 2000),
              2000))
    return;
  run_op(&fs[F_DISCONNECTED], 0, 2000);
}

static uint16_t async_handle;
static bool async_up(void *arg) {
  (void)arg;
  return uvble_async_connection(X[0].a, async_handle) &&
         uvble_async_connection(X[1].a, async_handle);
}

static void async_setup(void) {
  memset(X, 0, sizeof X);
  fk_acted = false;
  memset(&fk_disc, 0, sizeof fk_disc);
  uv_loop_init(&loop);
  uvble_t *ba, *bb;
  REQUIRE_EQ(memctl_bring_up(&loop, NULL, &mc, &ba, &bb), 0);
  X[0].ble = ba;
  X[1].ble = bb;
  for (int i = 0; i < 2; i++)
    REQUIRE_EQ(uvble_async_new(X[i].ble, NULL, NULL, &X[i].a), 0);
  uvble_uuid_t su = svc.uuid, u1 = chars[0].uuid;
  uvble_service_t *s;
  REQUIRE_EQ(uvble_service_new(X[1].a, &su, &s), 0);
  uvble_characteristic_opts_t o = {
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE | UVBLE_FLAG_NOTIFY |
               UVBLE_FLAG_INDICATE,
      .initial = "v0",
      .initial_len = 2};
  REQUIRE_EQ(uvble_characteristic_new(s, &u1, &o, &bchr), 0);
  REQUIRE_EQ(uvble_register_services(X[1].a, &s, 1), 0);
  int h = memctl_connect(mc);
  REQUIRE(h >= 0);
  async_handle = (uint16_t)h;
  REQUIRE(run_until_pred(&loop, async_up, NULL, 1000));
  for (int i = 0; i < 2; i++) {
    X[i].conn = uvble_async_connection(X[i].a, async_handle);
    X[i].sentinel.cb = sentinel_cb;
    X[i].sentinel.data = &X[i];
    /* Pending for good: ends with the link or the context. */
    REQUIRE_EQ(uvble_connection_disconnected(&X[i].sentinel, X[i].conn, 0), 0);
  }
}

static bool async_closed(void *arg) {
  (void)arg;
  return X[0].close_cbs && X[1].close_cbs;
}

static void async_teardown(void) {
  for (int i = 0; i < 2; i++)
    if (!X[i].closing) {
      X[i].closing = true;
      X[i].sentinel_was_pending = uvble_future_pending(&X[i].sentinel);
      uvble_async_close(X[i].a, on_async_closed, &X[i]);
    }
  REQUIRE(run_until_pred(&loop, async_closed, NULL, 3000));
  memctl_free(mc);
  mc = NULL;
  run_until_idle(&loop, 5000);
  loop_teardown(&loop);
}

static bool side_closed(void *arg) { return ((struct actx *)arg)->close_cbs; }

static void async_check(void) {
  struct actx *x = &X[fk_side];
  if (fk_act == AA_DISCONNECT) {
    /* The link ends: both sentinels (disconnected()) complete with 0. */
    CHECK(run_until_pred(&loop, done_pred, &X[0].sentinel, 2000));
    CHECK(run_until_pred(&loop, done_pred, &X[1].sentinel, 2000));
    CHECK_EQ(X[0].sentinel.status, 0);
    CHECK_EQ(X[1].sentinel.status, 0);
    return;
  }
  CHECK(run_until_pred(&loop, side_closed, x, 3000));
  run_until_idle(&loop, 5000);
  CHECK_EQ(x->close_cbs, 1);
  CHECK_EQ(x->cbs_after_close, 0);
  /* The peer hears the link end. */
  struct actx *peer = &X[!fk_side];
  CHECK(run_until_pred(&loop, done_pred, &peer->sentinel, 2000));
  CHECK_EQ(peer->sentinel.status, 0);
}

TEST(every_future_callback_kind_times_every_action) {
  int cases = 0, fired = 0;
  for (int k = 0; k < FKINDS; k++)
    for (int act = 0; act < AACTIONS; act++) {
      if (getenv("REENTRANCY_VERBOSE"))
        fprintf(stderr, "  %s on %c, %s\n", fkind_names[k],
                'A' + fkind_host[k], aaction_names[act]);
      fk_target = k;
      fk_act = (enum aaction)act;
      async_setup();
      async_script();
      cases++;
      if (fk_acted) {
        fired++;
        async_check();
      } else {
        fprintf(stderr, "  %s, %s: the callback never came\n", fkind_names[k],
                aaction_names[act]);
      }
      async_teardown();
    }
  fprintf(stderr, "  %d combinations, %d fired\n", cases, fired);
  CHECK_EQ(fired, cases);
}

TEST_MAIN()
