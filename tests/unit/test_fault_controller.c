/* SPDX-License-Identifier: Apache-2.0 */
/* Faults from the controller and the transport, against the scripted
 * controller:
 *  - each command of the init sequence in turn answered with an error
 *    status (Unknown Command, Command Disallowed, Hardware Failure), and in
 *    turn never answered: uvble_active completes once, with 0 (an optional
 *    command the stack does without) or UVBLE_EHCI / UVBLE_ETIMEDOUT (a
 *    required one), never hangs, and the stack closes cleanly;
 *  - a controller that stops answering in the middle of a session;
 *  - the transport closing under a busy stack.
 * In the last two every pending operation completes with an error (the
 * link's with UVBLE_EDISCONNECTED, the stack's own with the failure
 * status), the fatal callback runs once with the cause, and the stack then
 * refuses work until it is closed; ASan checks that nothing leaks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "sc.h"
#include "test.h"
#include "uvble/gap.h"
#include "uvble/gattc.h"
#include "uvble/gatts.h"
#include "uvble/l2cap.h"

static uv_loop_t loop;
static const uint8_t PEER[6] = {1, 2, 3, 4, 5, 6};
#define H 0x0040

struct result {
  int calls;
  int status;
};

static void on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  struct result *r = uvble_get_data(ble);
  r->calls++;
  r->status = status;
}

static bool called_pred(void *arg) { return ((struct result *)arg)->calls > 0; }

static bool closed;
static void on_closed(uvble_t *ble, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  closed = true;
}

/* Brings a stack up on sc; returns the active callback's status. */
static int start(sc_t *sc, uvble_transport_t *host, uvble_t **out,
                 unsigned cmd_timeout_ms) {
  (void)sc;
  uvble_t *ble;
  REQUIRE_EQ(uvble_new_with_transport(&loop, host, &ble), 0);
  if (cmd_timeout_ms) ble->hci.cmd_timeout_ms = cmd_timeout_ms;
  static struct result r;
  memset(&r, 0, sizeof r);
  uvble_set_data(ble, &r);
  REQUIRE_EQ(uvble_active(ble, true, on_active, NULL), 0);
  REQUIRE(run_until_pred(&loop, called_pred, &r, 5000));
  run_until_idle(&loop, 5000);
  CHECK_EQ(r.calls, 1); /* once, whatever happened */
  *out = ble;
  return r.status;
}

static void close_all(sc_t *sc, uvble_t *ble) {
  closed = false;
  uvble_close(ble, on_closed, NULL);
  CHECK(run_until(&loop, &closed, 2000));
  sc_free(sc);
  uv_run(&loop, UV_RUN_DEFAULT);
}

/* Two controllers: variant 0 a plain LE controller listing no optional
 * commands; variant 1 a dual-mode one listing every command (so the init
 * also sends the optional ones: LE Read Buffer Size v2, Set Event Mask
 * Page 2, Write LE Host Supported, ...). */
static int variant;
static sc_t *new_sc(uvble_transport_t **host) {
  sc_t *sc = sc_new(&loop, host);
  if (variant == 1) {
    memset(sc_config(sc)->commands, 0xff, 64);
    sc_config(sc)->features[4] = 0x00; /* BR/EDR supported */
    sc_config(sc)->features[6] = 0x40; /* simultaneous LE and BR/EDR */
    memset(sc_config(sc)->le_features, 0xff, 8);
  }
  return sc;
}

/* The opcodes a clean init sends, in order, without repeats. */
static int init_opcodes(uint16_t *ops, int cap) {
  uvble_transport_t *host;
  sc_t *sc = new_sc(&host);
  uvble_t *ble;
  REQUIRE_EQ(start(sc, host, &ble, 0), 0);
  int n = 0;
  for (size_t i = 0; i < sc_cmd_count(sc); i++) {
    uint16_t op = sc_cmd(sc, i)->opcode;
    bool seen = false;
    for (int k = 0; k < n; k++) seen |= ops[k] == op;
    if (!seen && n < cap) ops[n++] = op;
  }
  close_all(sc, ble);
  return n;
}

/* A stack that came up must work: advertising commands complete. */
static void works(uvble_t *ble) {
  CHECK(uvble_is_active(ble));
  uint64_t t0 = ble->stats.hci_cmd_timeouts;
  uint8_t adv[3] = {2, 1, 6};
  CHECK_EQ(uvble_gap_advertise(ble, 0, adv, 3, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(ble->stats.hci_cmd_timeouts, t0);
  CHECK(uvble_gap_advertising(ble));
}

/* Each init command of the variant's sequence, answered in turn with
 * Unknown Command, Command Disallowed and Hardware Failure. Only Unknown
 * Command to an optional command may be tolerated (Vol 4, Part E, 4.5:
 * the host does without what the controller lacks); any other error, or
 * any error to a required command, fails the init with UVBLE_EHCI. */
static void fail_each_in_turn(void) {
  printf("  controller variant %d\n", variant);
  uint16_t ops[64];
  int n = init_opcodes(ops, 64);
  REQUIRE(n >= 8);
  static const uint8_t statuses[] = {0x01, 0x0C, 0x03};
  int optional = 0;
  for (int k = 0; k < n; k++) {
    bool tolerated = false;
    for (size_t s = 0; s < sizeof statuses; s++) {
      uvble_transport_t *host;
      sc_t *sc = new_sc(&host);
      sc_fail_with(sc, ops[k], statuses[s]);
      uvble_t *ble;
      int r = start(sc, host, &ble, 0);
      if (r != 0 && r != UVBLE_EHCI)
        test_fail(__FILE__, __LINE__, "opcode 0x%04x status 0x%02x: %s", ops[k],
                  statuses[s], uvble_err_name(r));
      if (statuses[s] == 0x01) {
        tolerated = r == 0;
      } else if (r == 0) {
        test_fail(__FILE__, __LINE__, "opcode 0x%04x: status 0x%02x ignored", ops[k],
                  statuses[s]);
      }
      if (r == 0) {
        works(ble);
      } else {
        CHECK(!uvble_is_active(ble));
        CHECK(uvble_gap_advertise(ble, 0, NULL, 0, NULL, 0, true) < 0);
      }
      close_all(sc, ble);
    }
    printf("  0x%04x: %s\n", ops[k],
           tolerated ? "optional (Unknown Command tolerated)" : "required (EHCI)");
    optional += tolerated;
  }
  /* Reset, the reads and the event masks can never be done without. */
  CHECK(n - optional >= 8);
  printf("  %d init commands: %d required, %d optional\n", n, n - optional, optional);
}

TEST(each_init_command_answered_with_an_error_in_turn) {
  uv_loop_init(&loop);
  for (variant = 0; variant < 2; variant++) fail_each_in_turn();
  loop_teardown(&loop);
}

/* Each init command of the variant's sequence never answered: the command
 * timeout ends the init with UVBLE_ETIMEDOUT. */
static void silence_each_in_turn(void) {
  uint16_t ops[64];
  int n = init_opcodes(ops, 64);
  for (int k = 0; k < n; k++) {
    uvble_transport_t *host;
    sc_t *sc = new_sc(&host);
    sc_silence(sc, ops[k]);
    uvble_t *ble;
    int r = start(sc, host, &ble, 100);
    CHECK_EQ(r, UVBLE_ETIMEDOUT);
    CHECK_EQ(ble->stats.hci_cmd_timeouts, 1);
    CHECK(!uvble_is_active(ble));
    /* A failed stack answers with its failure until it is closed. */
    CHECK_EQ(uvble_active(ble, true, on_active, NULL), UVBLE_ETIMEDOUT);
    close_all(sc, ble);
  }
}

TEST(each_init_command_never_answered_in_turn) {
  uv_loop_init(&loop);
  for (variant = 0; variant < 2; variant++) silence_each_in_turn();
  loop_teardown(&loop);
}

/* ---- failing in the middle of a session ---- */
#define MAX_EV 256
static struct {
  int type, status;
} evs[MAX_EV];
static int nev;
static int fatal_calls, fatal_status;

static int rec_irq(uvble_t *b, int type, const uvble_irq_data_t *d, void *arg) {
  (void)b;
  (void)arg;
  int st = 0;
  switch (type) {
    case UVBLE_IRQ_GATTC_SERVICE_DONE:
      st = d->done.status;
      break;
    case UVBLE_IRQ_GATTC_READ_DONE:
    case UVBLE_IRQ_GATTS_INDICATE_DONE:
      st = d->gatt_status.status;
      break;
    case UVBLE_IRQ_L2CAP_DISCONNECT:
      st = d->l2cap_disconnect.status;
      break;
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
    case UVBLE_IRQ_CENTRAL_DISCONNECT:
      st = d->connect.conn_handle;
      break;
    default:
      break;
  }
  if (nev < MAX_EV) evs[nev].type = type, evs[nev].status = st, nev++;
  return 0;
}

static void on_fatal(uvble_t *b, int status, void *cb_arg) {
  (void)cb_arg;
  (void)b;
  fatal_calls++;
  fatal_status = status;
}

static int count(int type) {
  int n = 0;
  for (int i = 0; i < nev; i++) n += evs[i].type == type;
  return n;
}
static int status_of(int type) {
  for (int i = 0; i < nev; i++)
    if (evs[i].type == type) return evs[i].status;
  return 1 << 30;
}

/* A stack with a central link (handle H) and a peripheral link (H + 1), a
 * scan running, a discovery and a read pending on H, an indication pending
 * on H + 1 and a channel request pending on H. */
static uvble_t *busy_stack(sc_t **scp, unsigned cmd_timeout_ms) {
  uvble_transport_t *host;
  sc_t *sc = sc_new(&loop, &host);
  sc_config(sc)->acl_mtu = 251;
  sc_config(sc)->acl_pkts = 8;
  sc_config(sc)->auto_complete_acl = true;
  uvble_t *ble;
  REQUIRE_EQ(start(sc, host, &ble, cmd_timeout_ms), 0);
  nev = 0;
  fatal_calls = 0;
  uvble_irq(ble, rec_irq, NULL);
  uvble_on_fatal(ble, on_fatal, NULL);
  uvble_gatts_characteristic_t chr = {.uuid = uvble_uuid16(0xFE02),
                                      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_INDICATE};
  uvble_gatts_service_t svc = {
      .uuid = uvble_uuid16(0xFE00), .characteristics = &chr, .num_characteristics = 1};
  uint16_t vh;
  REQUIRE_EQ(uvble_gatts_register_services(ble, &svc, 1, &vh, 1), 1);
  sc_connect(sc, H, 0, PEER);
  sc_connect(sc, H + 1, 1, PEER);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(uvble_gap_scan(ble, 0, 0, 0, false), 0);
  REQUIRE_EQ(uvble_gattc_discover_services(ble, H, NULL), 0);
  REQUIRE_EQ(uvble_gattc_read(ble, H, 3), 0);
  REQUIRE_EQ(uvble_gatts_indicate(ble, H + 1, vh, NULL, 0), 0);
  REQUIRE(uvble_l2cap_connect(ble, H, 0x80, 100) > 0);
  run_until_idle(&loop, 5000);
  *scp = sc;
  return ble;
}

/* Every pending operation ended with an error, once, and both links with
 * their DISCONNECT event; the stack refuses new work. */
static void everything_ended(uvble_t *ble, int cause) {
  CHECK_EQ(fatal_calls, 1);
  CHECK_EQ(fatal_status, cause);
  CHECK_EQ(count(UVBLE_IRQ_GATTC_SERVICE_DONE), 1);
  CHECK_EQ(status_of(UVBLE_IRQ_GATTC_SERVICE_DONE), UVBLE_EDISCONNECTED);
  CHECK_EQ(count(UVBLE_IRQ_GATTC_READ_DONE), 1);
  CHECK_EQ(status_of(UVBLE_IRQ_GATTC_READ_DONE), UVBLE_EDISCONNECTED);
  CHECK_EQ(count(UVBLE_IRQ_GATTS_INDICATE_DONE), 1);
  CHECK_EQ(status_of(UVBLE_IRQ_GATTS_INDICATE_DONE), UVBLE_EDISCONNECTED);
  CHECK_EQ(count(UVBLE_IRQ_L2CAP_DISCONNECT), 1);
  CHECK_EQ(status_of(UVBLE_IRQ_L2CAP_DISCONNECT), UVBLE_EDISCONNECTED);
  CHECK_EQ(count(UVBLE_IRQ_SCAN_DONE), 1);
  CHECK_EQ(count(UVBLE_IRQ_PERIPHERAL_DISCONNECT), 1);
  CHECK_EQ(count(UVBLE_IRQ_CENTRAL_DISCONNECT), 1);
  CHECK(!uvble_is_active(ble));
  CHECK_EQ(ble->conns.table.len, 0);
  CHECK(uvble_gap_scan(ble, 0, 0, 0, false) < 0);
  CHECK(uvble_gattc_read(ble, H, 3) < 0);
  CHECK_EQ(uvble_active(ble, true, NULL, NULL), cause);
}

TEST(controller_stops_answering_mid_session) {
  uv_loop_init(&loop);
  sc_t *sc;
  uvble_t *ble = busy_stack(&sc, 200);
  /* From now on, no command is answered (LE Set Advertising Parameters
   * first): the 200 ms command timeout ends the stack. */
  for (uint16_t op = 0x2006; op <= 0x200A; op++) sc_silence(sc, op);
  REQUIRE_EQ(uvble_gap_advertise(ble, 0, (uint8_t[]){2, 1, 6}, 3, NULL, 0, true), 0);
  RUN_UNTIL(&loop, ble->stats.hci_cmd_timeouts >= 1, 5000);
  run_until_idle(&loop, 5000);
  CHECK_EQ(ble->stats.hci_cmd_timeouts, 1);
  everything_ended(ble, UVBLE_ETIMEDOUT);
  close_all(sc, ble);
  loop_teardown(&loop);
}

TEST(transport_closes_under_a_busy_stack) {
  uv_loop_init(&loop);
  sc_t *sc;
  uvble_t *ble = busy_stack(&sc, 0);
  /* The controller's end goes away (a USB dongle pulled, a socket reset). */
  sc_free(sc);
  run_until_idle(&loop, 5000);
  CHECK_EQ(ble->stats.transport_errors, 1);
  everything_ended(ble, UVBLE_ETRANSPORT);
  closed = false;
  uvble_close(ble, on_closed, NULL);
  CHECK(run_until(&loop, &closed, 2000));
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

static void close_in_fatal(uvble_t *b, int status, void *cb_arg) {
  (void)cb_arg;
  on_fatal(b, status, NULL);
  uvble_close(b, on_closed, NULL);
  uvble_close(b, on_closed, NULL); /* later calls are ignored */
}

TEST(closing_from_the_fatal_callback) {
  uv_loop_init(&loop);
  sc_t *sc;
  uvble_t *ble = busy_stack(&sc, 0);
  /* The app closes the stack from inside the fatal callback (what most
   * apps do): the close callback runs once, later, and nothing leaks. */
  uvble_on_fatal(ble, close_in_fatal, NULL);
  closed = false;
  sc_free(sc);
  CHECK(run_until(&loop, &closed, 2000));
  CHECK_EQ(fatal_calls, 1);
  CHECK_EQ(fatal_status, UVBLE_ETRANSPORT);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

TEST_MAIN()
