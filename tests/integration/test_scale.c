/* SPDX-License-Identifier: Apache-2.0 */
/* Scale on btvirt: one central with 32 simultaneous connections,
 * notifications flowing on all of them in rounds, every one arriving, in
 * order, on the right connection. All hosts run in this one process on
 * one loop.
 *
 * btvirt (5.66) limits: at most 16 controllers per btvirt (btdev's
 * MAX_BTDEV_ENTRIES), so the 32 links go to 14 peripheral hosts, two or
 * three links each (a central may connect to the same peripheral again
 * once it advertises again); a scanner seeing 200 advertisers cannot be
 * built on btvirt at all and is tests/unit/test_scale_scan.c on an
 * in-memory radio instead.
 *
 * btvirt numbering quirk: each controller numbers its links from 0x002a
 * up, but a peripheral's LE Connection Complete carries its central's
 * handle (see tests/integration/test_gap_connect.c). For the central's
 * k-th link to carry the same number on the peripheral's controller, that
 * peripheral must hold exactly k links already. Before each of the
 * central's links, its peripheral therefore first connects, as a central
 * (whose own numbering is always right), to a "sink" host that does
 * nothing else, as many times as needed. The sink's host ignores the
 * duplicate handles it is told about (counted); those links carry no
 * data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "test.h"
#include "uvble/gap.h"
#include "uvble/gatts.h"

static uv_loop_t loop;

#define NLINKS 32
#define NPERIPH 14 /* 16 controllers: the central, the sink, 14 */
#define ROUNDS 20

struct host {
  uvble_t *ble;
  bool up;
  int up_status;
  uvble_addr_t addr;
  int connects;      /* PERIPHERAL_CONNECT / CENTRAL_CONNECT seen */
  int failed;        /* connect attempts that failed (DISCONNECT, 0xffff) */
  uint16_t conn;     /* the last connection's handle */
  /* central: per connection handle, notifications received and the next
   * sequence number expected */
  int notes[0x100];
  int bad_order;
  int round; /* notifications each link must have delivered by now */
};

static int host_irq(uvble_t *b, int type, const uvble_irq_data_t *d, void *arg) {
  (void)b;
  struct host *h = arg;
  switch (type) {
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
    case UVBLE_IRQ_CENTRAL_CONNECT:
      h->connects++;
      h->conn = d->connect.conn_handle;
      break;
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
      if (d->connect.conn_handle == 0xffff) h->failed++;
      break;
    case UVBLE_IRQ_GATTC_NOTIFY: {
      uint16_t c = d->gattc_data.conn_handle & 0xff;
      if (d->gattc_data.data_len != 4 || d->gattc_data.data[0] != c ||
          d->gattc_data.data[1] != (uint8_t)h->notes[c])
        h->bad_order++;
      h->notes[c]++;
      break;
    }
    default:
      break;
  }
  return 0;
}

static void on_up(uvble_t *b, int status, void *cb_arg) {
  (void)cb_arg;
  struct host *h = uvble_get_data(b);
  h->up = true;
  h->up_status = status;
}

struct many {
  struct host *h;
  int n;
};
static bool all_up_pred(void *arg) {
  struct many *m = arg;
  for (int i = 0; i < m->n; i++)
    if (!m->h[i].up) return false;
  return true;
}

/* In batches: btvirt accepts its clients with a short listen backlog, and
 * a client connecting beyond it is reset. */
#define BATCH 4
static void hosts_up_batch(struct host *h, int n, uvble_irq_cb irq);
static void hosts_up(struct host *h, int n, uvble_irq_cb irq) {
  for (int i = 0; i < n; i += BATCH) hosts_up_batch(h + i, n - i < BATCH ? n - i : BATCH, irq);
}

static void hosts_up_batch(struct host *h, int n, uvble_irq_cb irq) {
  for (int i = 0; i < n; i++) {
    memset(&h[i], 0, sizeof h[i]);
    char err[256] = "";
    int r = uvble_new(&loop, test_transport(), &h[i].ble, err, sizeof err);
    if (r) fprintf(stderr, "  uvble_new #%d: %s\n", i, err);
    REQUIRE_EQ(r, 0);
    uvble_set_data(h[i].ble, &h[i]);
    uvble_irq(h[i].ble, irq, &h[i]);
    REQUIRE_EQ(uvble_active(h[i].ble, true, on_up, NULL), 0);
  }
  struct many m = {h, n};
  REQUIRE(run_until_pred(&loop, all_up_pred, &m, 60000));
  for (int i = 0; i < n; i++) {
    REQUIRE_EQ(h[i].up_status, 0);
    REQUIRE_EQ(uvble_config_get_mac(h[i].ble, &h[i].addr), 0);
  }
}

static int closed;
static void on_closed(uvble_t *b, void *cb_arg) {
  (void)cb_arg;
  (void)b;
  closed++;
}
static bool closed_pred(void *arg) { return closed == *(int *)arg; }

static void hosts_down(struct host *h, int n) {
  closed = 0;
  for (int i = 0; i < n; i++) uvble_close(h[i].ble, on_closed, NULL);
  CHECK(run_until_pred(&loop, closed_pred, &n, 20000));
}

struct wait_conn {
  struct host *h;
  int n;
};
static bool connects_pred(void *arg) {
  struct wait_conn *w = arg;
  return w->h->connects >= w->n;
}

/* h advertises (connectable) and waits until the controller has it on. */
static bool hci_idle(void *arg) {
  struct host *h = arg;
  return !h->ble->hci.queue.head && !h->ble->hci.inflight.head;
}

static void advertise(struct host *h) {
  REQUIRE_EQ(uvble_gap_advertise(h->ble, 20000, (uint8_t[]){2, 1, 6}, 3, NULL, 0, true), 0);
  REQUIRE(run_until_pred(&loop, hci_idle, h, 3000));
}

struct attempt {
  struct host *c;
  int connects, failed;
};
static bool attempt_over(void *arg) {
  struct attempt *a = arg;
  return a->c->connects >= a->connects || a->c->failed >= a->failed;
}

/* c connects to p; returns c's handle for the link. btvirt fails a connect
 * at once when p is not advertising (yet): tried again a few times. */
static uint16_t connect_to(struct host *c, struct host *p) {
  struct attempt a = {c, c->connects + 1, 0};
  for (int n = 0; n < 5; n++) {
    advertise(p);
    a.failed = c->failed + 1;
    REQUIRE_EQ(uvble_gap_connect(c->ble, &p->addr, 0, 0, 0), 0);
    REQUIRE(run_until_pred(&loop, attempt_over, &a, 5000));
    if (c->connects >= a.connects) return c->conn;
  }
  test_fail(__FILE__, __LINE__, "no connection after 5 attempts");
  test_abort_case();
}

static bool round_pred(void *arg) {
  struct host *c = arg;
  for (int k = 0; k < NLINKS; k++)
    if (c->notes[(0x2a + k) & 0xff] < c->round) return false;
  return true;
}

TEST(one_central_with_32_connections_and_notifications_on_all) {
  uv_loop_init(&loop);
  /* 0: the central, 1: the sink, 2..: the peripherals. */
  static struct host h[2 + NPERIPH];
  hosts_up(h, 2 + NPERIPH, host_irq);
  struct host *c = &h[0], *sink = &h[1], *p = &h[2];
  uvble_gatts_characteristic_t chr = {.uuid = uvble_uuid16(0xFE01), .flags = UVBLE_FLAG_NOTIFY};
  uvble_gatts_service_t svc = {
      .uuid = uvble_uuid16(0xFE00), .characteristics = &chr, .num_characteristics = 1};
  uint16_t vh[NPERIPH];
  for (int j = 0; j < NPERIPH; j++)
    REQUIRE_EQ(uvble_gatts_register_services(p[j].ble, &svc, 1, &vh[j], 1), 1);
  int pads = 0;
  for (int k = 0; k < NLINKS; k++) {
    struct host *pj = &p[k % NPERIPH];
    /* Padding (see the top): pj holds k links before the central's k-th. */
    while ((int)pj->ble->conns.table.len < k) {
      uint16_t ph = connect_to(pj, sink);
      CHECK_EQ(ph, 0x2a + (int)pj->ble->conns.table.len - 1);
      pads++;
    }
    uint16_t hc = connect_to(c, pj);
    CHECK_EQ(hc, 0x2a + k);
    struct wait_conn w = {pj, pj->connects};
    REQUIRE(connects_pred(&w));
    CHECK_EQ(pj->conn, hc);
  }
  REQUIRE_EQ(c->ble->conns.table.len, NLINKS);
  printf("  central holds %zu links to %d peripherals (%d padding links on the sink)\n",
         c->ble->conns.table.len, NPERIPH, pads);

  /* Rounds: each link carries one notification per round; the central
   * must get all 32 before the next round. */
  uint64_t t0 = uv_hrtime();
  for (int r = 0; r < ROUNDS; r++) {
    for (int k = 0; k < NLINKS; k++) {
      struct host *pj = &p[k % NPERIPH];
      uint8_t v[4] = {(uint8_t)(0x2a + k), (uint8_t)r, 0xAB, 0xCD};
      REQUIRE_EQ(uvble_gatts_notify(pj->ble, (uint16_t)(0x2a + k), vh[k % NPERIPH], v, 4), 0);
    }
    c->round = r + 1;
    if (!run_until_pred(&loop, round_pred, c, 5000)) {
      test_fail(__FILE__, __LINE__, "round %d: not every notification arrived", r);
      break;
    }
  }
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  int total = 0;
  for (int k = 0; k < NLINKS; k++) {
    CHECK_EQ(c->notes[(0x2a + k) & 0xff], ROUNDS);
    total += c->notes[(0x2a + k) & 0xff];
  }
  CHECK_EQ(c->bad_order, 0);
  printf("  %d notifications over %d links in %.3f s\n", total, NLINKS, secs);

  /* The central ends every link; each peripheral sees its own end. */
  for (int k = 0; k < NLINKS; k++) CHECK_EQ(uvble_gap_disconnect(c->ble, 0x2a + k), 1);
  RUN_UNTIL(&loop, c->ble->conns.table.len == 0, 5000);
  CHECK_EQ(c->ble->conns.table.len, 0);
  hosts_down(h, 2 + NPERIPH);
  loop_teardown(&loop);
}

TEST_MAIN()
