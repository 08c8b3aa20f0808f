/* SPDX-License-Identifier: Apache-2.0 */
/* A connection-open hook that fails (out of memory) unwinds the hooks that
 * already ran, all or nothing, and the link is refused cleanly. Each case
 * fails the k-th allocation (calloc, through the linker's --wrap: no hook
 * in the library) after two hosts on the in-memory controller pair
 * (memctl) are told a link came up, for k = 1, 2, ... until an allocation
 * past the open path; whichever host meets the failure must:
 *   - not raise CONNECT for the link, but the DISCONNECT event of a failed
 *     connection (handle 0xffff, the peer's address, reason 0x14 Remote
 *     Device Terminated due to Low Resources), counted in conn_refused;
 *   - end the link: the peer, which opened it, gets its DISCONNECT with
 *     reason 0x14;
 *   - leak nothing (ASan's leak check at exit) and stay usable: the next
 *     link opens on both sides and carries a GATT read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memctl.h"
#include "test.h"
#include "uvble/gatt.h"
#include "uvble/gattc.h"
#include "uvble/gatts.h"

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

static int fail_in; /* > 0: the fail_in-th calloc from now returns NULL */
static int failed_calls;

void *__wrap_calloc(size_t n, size_t size) {
  if (fail_in > 0 && --fail_in == 0) {
    failed_calls++;
    return NULL;
  }
  return __real_calloc(n, size);
}

struct host {
  uvble_t *ble;
  int connects, disconnects, failed; /* failed: DISCONNECT with 0xffff */
  uint16_t conn;
  uint8_t reason, failed_reason;
  uvble_addr_t failed_addr;
  int read_done;
};

static uv_loop_t loop;
static memctl_t *mc;
static struct host A, B;
static uint16_t vh;

static int on_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d, void *arg) {
  (void)ble;
  struct host *h = arg;
  switch (ev) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
      h->connects++;
      h->conn = d->connect.conn_handle;
      break;
    case UVBLE_IRQ_CENTRAL_DISCONNECT:
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
      if (d->connect.conn_handle == 0xffff) {
        h->failed++;
        h->failed_reason = d->connect.reason;
        h->failed_addr = d->connect.addr;
      } else {
        h->disconnects++;
        h->reason = d->connect.reason;
      }
      break;
    case UVBLE_IRQ_GATTC_READ_DONE:
      if (d->gatt_status.status == 0) h->read_done++;
      break;
    default:
      break;
  }
  return 0;
}

static void setup(void) {
  memset(&A, 0, sizeof A);
  memset(&B, 0, sizeof B);
  uv_loop_init(&loop);
  REQUIRE_EQ(memctl_bring_up(&loop, NULL, &mc, &A.ble, &B.ble), 0);
  uvble_irq(A.ble, on_irq, &A);
  uvble_irq(B.ble, on_irq, &B);
  static const uvble_gatts_characteristic_t chr = {
      .uuid = {.type = 16, .data = {0x01, 0xAB}}, .flags = UVBLE_FLAG_READ};
  static const uvble_gatts_service_t svc = {
      .uuid = {.type = 16, .data = {0xCD, 0xAB}},
      .characteristics = &chr,
      .num_characteristics = 1};
  REQUIRE_EQ(uvble_gatts_register_services(B.ble, &svc, 1, &vh, 1), 1);
}

static int closed;
static void on_closed(uvble_t *ble, void *arg) {
  (void)ble;
  (void)arg;
  closed++;
}

static bool closed_pred(void *arg) {
  (void)arg;
  return closed == 2;
}

static void teardown(void) {
  closed = 0;
  uvble_close(A.ble, on_closed, NULL);
  uvble_close(B.ble, on_closed, NULL);
  REQUIRE(run_until_pred(&loop, closed_pred, NULL, 3000));
  memctl_free(mc);
  mc = NULL;
  loop_teardown(&loop);
}

/* The link's outcome is known on both sides. */
static bool settled(void *arg) {
  (void)arg;
  bool a_done = A.failed || (A.connects && (B.connects || A.disconnects));
  bool b_done = B.failed || (B.connects && (A.connects || B.disconnects));
  bool refused = A.failed || B.failed;
  struct host *peer = A.failed ? &B : &A;
  /* After a refusal the peer hears its link end. */
  return a_done && b_done && (!refused || peer->disconnects || peer->failed);
}

static bool read_pred(void *arg) {
  (void)arg;
  return A.read_done > 0;
}

static bool both_up(void *arg) {
  (void)arg;
  return A.connects && B.connects;
}

/* Returns whether the k-th allocation refused a link. */
static bool one_case(int k) {
  setup();
  failed_calls = 0;
  int h = memctl_connect(mc);
  REQUIRE(h >= 0);
  /* The hosts take LE Connection Complete on the next loop iteration:
   * count allocations from there. */
  fail_in = k;
  bool ok = run_until_pred(&loop, settled, NULL, 2000);
  fail_in = 0;
  CHECK(ok);
  uvble_stats_t sa, sb;
  uvble_get_stats(A.ble, &sa);
  uvble_get_stats(B.ble, &sb);
  bool refused = A.failed || B.failed;
  CHECK_EQ(sa.conn_refused + sb.conn_refused, refused ? 1 : 0);
  if (refused) {
    CHECK_EQ(failed_calls, 1);
    struct host *r = A.failed ? &A : &B, *peer = A.failed ? &B : &A;
    CHECK_EQ(r->failed, 1);
    CHECK_EQ(r->connects, 0);
    CHECK_EQ(r->failed_reason, 0x14);
    CHECK(r->failed_addr.type != UVBLE_ADDR_NONE);
    /* The peer opened the link and hears it end, with the reason given. */
    if (peer->connects) {
      CHECK_EQ(peer->disconnects, 1);
      CHECK_EQ(peer->reason, 0x14);
    }
    /* Both still work: a new link, a GATT read over it. */
    A.connects = B.connects = 0;
    REQUIRE(memctl_connect(mc) >= 0);
    REQUIRE(run_until_pred(&loop, both_up, NULL, 2000));
    REQUIRE_EQ(uvble_gattc_read(A.ble, A.conn, vh), 0);
    CHECK(run_until_pred(&loop, read_pred, NULL, 2000));
  } else {
    CHECK_EQ(A.connects, 1);
    CHECK_EQ(B.connects, 1);
  }
  teardown();
  return refused;
}

TEST(every_allocation_of_the_open_path_fails_cleanly) {
  int refusals = 0, k;
  /* Past the open path the allocations fail elsewhere (not a link
   * refusal): a few in a row end the search. */
  int misses = 0;
  for (k = 1; k < 64 && misses < 4 && !test_case_failed(); k++) {
    if (one_case(k)) {
      refusals++;
      misses = 0;
    } else {
      misses++;
    }
  }
  fprintf(stderr, "  %d allocations tried, %d refused a link\n", k - 1,
          refusals);
  /* conn_add and the per-link state of gap, att, gatts, gattc, l2cap and
   * smp, on either host. */
  CHECK(refusals >= 7);
}

TEST_MAIN()
