/* SPDX-License-Identifier: Apache-2.0 */
/* GATT server integration tests: a uvble peripheral (the server under
 * test) and a uvble central (its client) on btvirt's virtual controllers.
 * Each node records every irq event with a copy of its data. */
#ifndef UVBLE_TEST_GATT_SERVER_COMMON_H
#define UVBLE_TEST_GATT_SERVER_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "test.h"
#include "uvble/gap.h"
#include "uvble/gatt.h"
#include "uvble/gattc.h"
#include "uvble/gatts.h"

#define NODE_MAX_EVENTS 512

struct gev {
  int type;
  uvble_irq_data_t d;
  uint8_t data[600];
  size_t len;
};

struct node {
  uvble_t *ble;
  bool up_done;
  int up_status;
  uvble_addr_t addr;
  uint16_t conn; /* the link to the other node */
  struct gev ev[NODE_MAX_EVENTS];
  int nev;
  int count[UVBLE_IRQ_MAX + 1];
  int read_answer; /* what READ_REQUEST returns */
  void (*hook)(struct node *n, int ev, const uvble_irq_data_t *d);
};

static uv_loop_t loop;

static inline int node_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d,
                           void *arg) {
  (void)ble;
  struct node *n = arg;
  if (ev >= 1 && ev <= UVBLE_IRQ_MAX) n->count[ev]++;
  if (n->nev < NODE_MAX_EVENTS) {
    struct gev *e = &n->ev[n->nev++];
    e->type = ev;
    e->d = *d;
    e->len = 0;
    if (ev == UVBLE_IRQ_GATTC_READ_RESULT || ev == UVBLE_IRQ_GATTC_NOTIFY ||
        ev == UVBLE_IRQ_GATTC_INDICATE) {
      e->len = d->gattc_data.data_len < 600 ? d->gattc_data.data_len : 600;
      memcpy(e->data, d->gattc_data.data, e->len);
      e->d.gattc_data.data = NULL;
    }
  }
  if (n->hook) n->hook(n, ev, d);
  return ev == UVBLE_IRQ_GATTS_READ_REQUEST ? n->read_answer : 0;
}

static inline void node_on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  struct node *n = uvble_get_data(ble);
  n->up_done = true;
  n->up_status = status;
}

static inline bool nodes_up_pred(void *arg) {
  struct node *n = arg;
  return n[0].up_done && n[1].up_done;
}

/* Two fresh btvirt controllers: n[0] the peripheral, n[1] the central. */
static inline void nodes_up(struct node *n) {
  uv_loop_init(&loop);
  for (int i = 0; i < 2; i++) {
    memset(&n[i], 0, sizeof n[i]);
    char err[256] = "";
    int r = uvble_new(&loop, test_transport(), &n[i].ble, err,
                      sizeof err);
    if (r < 0) fprintf(stderr, "  uvble_new: %s\n", err);
    REQUIRE_EQ(r, 0);
    uvble_set_data(n[i].ble, &n[i]);
    uvble_irq(n[i].ble, node_irq, &n[i]);
    REQUIRE_EQ(uvble_active(n[i].ble, true, node_on_active, NULL), 0);
  }
  REQUIRE(run_until_pred(&loop, nodes_up_pred, n, 10000));
  for (int i = 0; i < 2; i++) {
    REQUIRE_EQ(n[i].up_status, 0);
    uvble_controller_info_t info;
    REQUIRE_EQ(uvble_controller_info(n[i].ble, &info), 0);
    n[i].addr = info.public_addr;
  }
}

static int nodes_closed;
static inline void node_closed(uvble_t *ble, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  nodes_closed++;
}
static inline bool closed_pred(void *arg) { return nodes_closed == *(int *)arg; }

static inline void nodes_down(struct node *n) {
  nodes_closed = 0;
  int want = 0;
  for (int i = 0; i < 2; i++)
    if (n[i].ble) {
      uvble_close(n[i].ble, node_closed, NULL);
      want++;
    }
  CHECK(run_until_pred(&loop, closed_pred, &want, 5000));
  loop_teardown(&loop);
}

struct wait_arg {
  struct node *n;
  int ev, count;
};
static inline bool wait_pred(void *arg) {
  struct wait_arg *w = arg;
  return w->n->count[w->ev] >= w->count;
}
/* Runs until n has seen ev count times in all. */
static inline bool wait_count(struct node *n, int ev, int count) {
  struct wait_arg w = {n, ev, count};
  return run_until_pred(&loop, wait_pred, &w, 5000);
}
static inline const struct gev *last_of(const struct node *n, int ev) {
  for (int i = n->nev - 1; i >= 0; i--)
    if (n->ev[i].type == ev) return &n->ev[i];
  return NULL;
}

static inline bool hci_idle_pred(void *arg) {
  const uvble_t *ble = arg;
  return !ble->hci.queue.head && !ble->hci.inflight.head;
}

static inline bool connected_pred(void *arg) {
  struct node *n = arg;
  return n[1].count[UVBLE_IRQ_PERIPHERAL_CONNECT] > 0 ||
         n[1].count[UVBLE_IRQ_PERIPHERAL_DISCONNECT] > 0;
}

/* The central (n[1]) connects to the advertising peripheral (n[0]).
 * btvirt completes LE Create Connection at once, failing it when the
 * peer's advertising is not enabled yet: the peripheral's commands are
 * let through first, and a failed attempt is retried. */
static inline void nodes_connect(struct node *n) {
  static const uint8_t adv[] = {0x02, 0x01, 0x06};
  REQUIRE_EQ(n[0].count[UVBLE_IRQ_CENTRAL_CONNECT], 0);
  for (int attempt = 0; attempt < 5; attempt++) {
    REQUIRE_EQ(uvble_gap_advertise(n[0].ble, 20000, adv, sizeof adv, NULL, 0,
                                   true),
               0);
    REQUIRE(run_until_idle(&loop, 2000));
    n[1].count[UVBLE_IRQ_PERIPHERAL_DISCONNECT] = 0;
    REQUIRE_EQ(uvble_gap_connect(n[1].ble, &n[0].addr, 0, 0, 0), 0);
    REQUIRE(run_until_pred(&loop, connected_pred, n, 5000));
    if (n[1].count[UVBLE_IRQ_PERIPHERAL_CONNECT]) break;
    run_until_idle(&loop, 5000);
  }
  REQUIRE(wait_count(&n[1], UVBLE_IRQ_PERIPHERAL_CONNECT, 1));
  REQUIRE(wait_count(&n[0], UVBLE_IRQ_CENTRAL_CONNECT, 1));
  n[1].conn = last_of(&n[1], UVBLE_IRQ_PERIPHERAL_CONNECT)->d.connect.conn_handle;
  n[0].conn = last_of(&n[0], UVBLE_IRQ_CENTRAL_CONNECT)->d.connect.conn_handle;
  run_until_idle(&loop, 5000);
}

/* ---- client-side steps, each waiting for its completion ---- */
static inline int c_read(struct node *c, uint16_t h, uint8_t *out,
                         size_t *len) {
  int before = c->count[UVBLE_IRQ_GATTC_READ_DONE];
  int results = c->count[UVBLE_IRQ_GATTC_READ_RESULT];
  REQUIRE_EQ(uvble_gattc_read(c->ble, c->conn, h), 0);
  REQUIRE(wait_count(c, UVBLE_IRQ_GATTC_READ_DONE, before + 1));
  const struct gev *d = last_of(c, UVBLE_IRQ_GATTC_READ_DONE);
  *len = 0;
  if (c->count[UVBLE_IRQ_GATTC_READ_RESULT] > results) {
    const struct gev *r = last_of(c, UVBLE_IRQ_GATTC_READ_RESULT);
    CHECK_EQ(r->d.gattc_data.value_handle, h);
    memcpy(out, r->data, r->len);
    *len = r->len;
  }
  return d->d.gatt_status.status;
}

static inline int c_write(struct node *c, uint16_t h, const void *v,
                          size_t len) {
  int before = c->count[UVBLE_IRQ_GATTC_WRITE_DONE];
  REQUIRE_EQ(uvble_gattc_write(c->ble, c->conn, h, v, len,
                               UVBLE_GATTC_WRITE_WITH_RESPONSE),
             0);
  REQUIRE(wait_count(c, UVBLE_IRQ_GATTC_WRITE_DONE, before + 1));
  const struct gev *d = last_of(c, UVBLE_IRQ_GATTC_WRITE_DONE);
  CHECK_EQ(d->d.gatt_status.value_handle, h);
  return d->d.gatt_status.status;
}

/* A value the server holds. */
static inline size_t s_value(struct node *p, uint16_t h, uint8_t *out) {
  size_t len = 0;
  CHECK_EQ(uvble_gatts_read(p->ble, h, out, 600, &len), 0);
  return len;
}

#endif
