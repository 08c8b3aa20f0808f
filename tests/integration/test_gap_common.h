/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the GAP integration tests: uvble hosts on btvirt's virtual
 * controllers, each recording the irq events it receives (with copies of
 * their borrowed payloads). */
#ifndef UVBLE_TEST_GAP_COMMON_H
#define UVBLE_TEST_GAP_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "test.h"
#include "uvble/adv.h"
#include "uvble/gap.h"

#define HOST_MAX_RESULTS 64
#define HOST_MAX_EVENTS 256

struct scan_copy {
  uvble_addr_t addr;
  uint8_t adv_type;
  int8_t rssi;
  uint8_t data[UVBLE_ADV_EXT_MAX];
  size_t len;
};

struct host {
  uvble_t *ble;
  bool up_done;
  int up_status;
  uvble_addr_t addr; /* controller's public address */
  int events[HOST_MAX_EVENTS];
  int nevents;
  int count[UVBLE_IRQ_MAX + 1];
  uvble_evt_connect_t connect[UVBLE_IRQ_MAX + 1]; /* last of 1, 2, 7, 8 */
  uvble_evt_conn_update_t update;
  struct scan_copy results[HOST_MAX_RESULTS];
  int nresults;
  /* Optional hook run inside the irq handler (after recording). */
  void (*hook)(struct host *h, int ev, const uvble_irq_data_t *d);
};

static uv_loop_t loop;

static inline const char *transport(void) {
  return test_transport(); /* tests/support/test.c */
}

static inline int host_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d,
                           void *arg) {
  (void)ble;
  struct host *h = arg;
  if (h->nevents < HOST_MAX_EVENTS) h->events[h->nevents++] = ev;
  if (ev >= 1 && ev <= UVBLE_IRQ_MAX) h->count[ev]++;
  switch (ev) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_CENTRAL_DISCONNECT:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
      h->connect[ev] = d->connect;
      break;
    case UVBLE_IRQ_CONNECTION_UPDATE:
      h->update = d->conn_update;
      break;
    case UVBLE_IRQ_SCAN_RESULT:
      if (h->nresults < HOST_MAX_RESULTS) {
        struct scan_copy *c = &h->results[h->nresults++];
        c->addr = d->scan_result.addr;
        c->adv_type = d->scan_result.adv_type;
        c->rssi = d->scan_result.rssi;
        c->len = d->scan_result.adv_data_len;
        memcpy(c->data, d->scan_result.adv_data, c->len);
      }
      break;
    default:
      break;
  }
  if (h->hook) h->hook(h, ev, d);
  return 0;
}

static inline void host_on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  struct host *h = uvble_get_data(ble);
  h->up_done = true;
  h->up_status = status;
}

static inline bool hosts_up_pred(void *arg) {
  struct host **hs = arg;
  for (int i = 0; hs[i]; i++)
    if (!hs[i]->up_done) return false;
  return true;
}

/* Brings up n hosts (each a fresh btvirt controller). */
static inline void hosts_up(struct host *h, int n) {
  struct host *list[9] = {0};
  REQUIRE(n <= 8);
  for (int i = 0; i < n; i++) {
    memset(&h[i], 0, sizeof h[i]);
    char err[256] = "";
    int r = uvble_new(&loop, transport(), &h[i].ble, err, sizeof err);
    if (r < 0) fprintf(stderr, "  uvble_new: %s\n", err);
    REQUIRE_EQ(r, 0);
    uvble_set_data(h[i].ble, &h[i]);
    uvble_irq(h[i].ble, host_irq, &h[i]);
    REQUIRE_EQ(uvble_active(h[i].ble, true, host_on_active, NULL), 0);
    list[i] = &h[i];
  }
  REQUIRE(run_until_pred(&loop, hosts_up_pred, list, 10000));
  for (int i = 0; i < n; i++) {
    REQUIRE_EQ(h[i].up_status, 0);
    uvble_controller_info_t info;
    REQUIRE_EQ(uvble_controller_info(h[i].ble, &info), 0);
    h[i].addr = info.public_addr;
  }
}

static int closed_count;
static inline void host_closed(uvble_t *ble, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  closed_count++;
}
static inline bool closed_pred(void *arg) {
  return closed_count == *(int *)arg;
}

static inline void hosts_down(struct host *h, int n) {
  closed_count = 0;
  for (int i = 0; i < n; i++)
    if (h[i].ble) uvble_close(h[i].ble, host_closed, NULL);
  CHECK(run_until_pred(&loop, closed_pred, &n, 5000));
  for (int i = 0; i < n; i++) h[i].ble = NULL;
}

struct wait_ev {
  struct host *h;
  int ev;
  int n;
};
static inline bool wait_ev_pred(void *arg) {
  struct wait_ev *w = arg;
  return w->h->count[w->ev] >= w->n;
}
/* Runs the loop until h has seen event ev at least n times in all. */
static inline bool wait_event(struct host *h, int ev, int n,
                              unsigned timeout_ms) {
  struct wait_ev w = {h, ev, n};
  return run_until_pred(&loop, wait_ev_pred, &w, timeout_ms);
}

/* Index of the first scan result from addr with adv_type, or -1. */
static inline int find_result(const struct host *h, const uvble_addr_t *addr,
                              int adv_type) {
  for (int i = 0; i < h->nresults; i++)
    if (memcmp(h->results[i].addr.val, addr->val, 6) == 0 &&
        (adv_type < 0 || h->results[i].adv_type == adv_type))
      return i;
  return -1;
}

/* Position of event ev in h's log (from index from), or -1. */
static inline int event_index(const struct host *h, int ev, int from) {
  for (int i = from; i < h->nevents; i++)
    if (h->events[i] == ev) return i;
  return -1;
}

#endif
