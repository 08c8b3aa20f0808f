/* SPDX-License-Identifier: Apache-2.0 */
/* Faults on btvirt: the transport cut under a busy host; every controller
 * vanishing at once with links up and operations pending on both sides
 * (what the hosts see when btvirt dies); a connected controller that stops
 * answering. The hosts under test reach btvirt through a unix-socket proxy
 * run by the test on the same loop, which can cut a host's connection or
 * stop passing the controller's bytes (killing btvirt itself would also
 * end with-btvirt's own check).
 *
 * Each time the failing host's fatal callback runs once with the cause,
 * every pending operation completes once with an error (the links' with
 * UVBLE_EDISCONNECTED), the stack refuses new work and closes cleanly.
 * ASan checks that nothing leaks.
 *
 * btvirt 5.66 limit: when one controller's client goes away while it has
 * links, btvirt neither ends the links for the peers nor unlinks them (the
 * peer's next packet on such a link touches freed memory and can crash
 * btvirt; BlueZ later made btdev_destroy remove the connections). So no
 * test here leaves a surviving peer on a vanished controller's link: the
 * one-sided cut happens with no link up, the "stops answering" case ends
 * its link from the peer's side first, and a peer that survives a vanished
 * one is tested on the in-memory pair (tests/unit/test_fault_peer.c). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "test.h"
#include "uvble/gap.h"
#include "uvble/gattc.h"
#include "uvble/gatts.h"

static uv_loop_t loop;

/* A watchdog: a case that hangs says where (the last step marked) and
 * aborts, instead of waiting for ctest's timeout. */
static const char *volatile step = "start";
static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "test_fault_btvirt: stuck at step: ";
  (void)!write(2, msg, sizeof msg - 1);
  (void)!write(2, step, strlen(step));
  (void)!write(2, "\n", 1);
  abort();
}
static void watchdog(unsigned secs) {
  signal(SIGALRM, on_alarm);
  alarm(secs);
}
#define STEP(s) (step = (s))

/* ---- the proxy -------------------------------------------------------------- */
struct link {
  uv_pipe_t down; /* to the host */
  uv_pipe_t up;   /* to btvirt */
  uv_connect_t creq;
  bool frozen;    /* controller -> host bytes are swallowed */
  bool cut;
  int closing;
  struct link *next;
};
static uv_pipe_t listener;
static char proxy_dir[64], proxy_path[128];
static struct link *links;
static int links_open;

static void on_alloc(uv_handle_t *h, size_t n, uv_buf_t *b) {
  (void)h;
  b->base = malloc(n);
  b->len = b->base ? n : 0;
}

static void on_written(uv_write_t *w, int status) {
  (void)status;
  free(w->data);
  free(w);
}

static void forward(uv_stream_t *to, const char *d, size_t n) {
  uv_write_t *w = malloc(sizeof *w);
  char *copy = malloc(n);
  memcpy(copy, d, n);
  w->data = copy;
  uv_buf_t b = uv_buf_init(copy, (unsigned)n);
  if (uv_write(w, to, &b, 1, on_written) != 0) {
    free(copy);
    free(w);
  }
}

static void on_link_closed(uv_handle_t *h) {
  struct link *l = h->data;
  if (--l->closing == 0) {
    struct link **p = &links;
    while (*p != l) p = &(*p)->next;
    *p = l->next;
    free(l);
    links_open--;
  }
}

static void link_cut(struct link *l) {
  if (l->cut) return;
  l->cut = true;
  l->closing = 2;
  uv_close((uv_handle_t *)&l->down, on_link_closed);
  uv_close((uv_handle_t *)&l->up, on_link_closed);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  struct link *l = s->data;
  if (n > 0 && !l->cut) {
    bool from_host = s == (uv_stream_t *)&l->down;
    if (from_host)
      forward((uv_stream_t *)&l->up, b->base, (size_t)n);
    else if (!l->frozen)
      forward((uv_stream_t *)&l->down, b->base, (size_t)n);
  } else if (n < 0) {
    link_cut(l);
  }
  free(b->base);
}

static void on_up_connected(uv_connect_t *req, int status) {
  struct link *l = req->data;
  if (l->cut) return;
  if (status < 0) {
    link_cut(l);
    return;
  }
  uv_read_start((uv_stream_t *)&l->up, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&l->down, on_alloc, on_read);
}

static void on_connection(uv_stream_t *srv, int status) {
  if (status < 0) return;
  struct link *l = calloc(1, sizeof *l);
  uv_pipe_init(&loop, &l->down, 0);
  uv_pipe_init(&loop, &l->up, 0);
  l->down.data = l->up.data = l->creq.data = l;
  if (uv_accept(srv, (uv_stream_t *)&l->down) != 0) abort();
  l->next = links;
  links = l;
  links_open++;
  uv_pipe_connect(&l->creq, &l->up, getenv("UVBLE_BTVIRT_SOCKET"), on_up_connected);
}

static void proxy_start(void) {
  snprintf(proxy_dir, sizeof proxy_dir, "/tmp/uvble-proxy-XXXXXX");
  REQUIRE(mkdtemp(proxy_dir) != NULL);
  snprintf(proxy_path, sizeof proxy_path, "%s/s", proxy_dir);
  REQUIRE_EQ(uv_pipe_init(&loop, &listener, 0), 0);
  REQUIRE_EQ(uv_pipe_bind(&listener, proxy_path), 0);
  REQUIRE_EQ(uv_listen((uv_stream_t *)&listener, 64, on_connection), 0);
}

static void proxy_stop(void) {
  STEP("proxy stop");
  while (links) {
    struct link *l = links;
    link_cut(l);
    /* time must pass: a moment for the cut to reach the hosts */
    run_for(&loop, 1);
  }
  uv_close((uv_handle_t *)&listener, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  unlink(proxy_path);
  rmdir(proxy_dir);
}

/* ---- hosts ------------------------------------------------------------------ */
#define MAX_EV 256
struct host {
  uvble_t *ble;
  bool up;
  int up_status;
  int fatal_calls, fatal_status;
  uvble_addr_t addr;
  uint16_t conn;
  struct {
    int type, status;
  } ev[MAX_EV];
  int nev;
};

static int host_irq(uvble_t *b, int type, const uvble_irq_data_t *d, void *arg) {
  (void)b;
  struct host *h = arg;
  int st = 0;
  switch (type) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
      h->conn = d->connect.conn_handle;
      break;
    case UVBLE_IRQ_GATTC_SERVICE_DONE:
      st = d->done.status;
      break;
    case UVBLE_IRQ_GATTC_READ_DONE:
    case UVBLE_IRQ_GATTC_WRITE_DONE:
    case UVBLE_IRQ_GATTS_INDICATE_DONE:
      st = d->gatt_status.status;
      break;
    default:
      break;
  }
  if (h->nev < MAX_EV) {
    h->ev[h->nev].type = type;
    h->ev[h->nev].status = st;
    h->nev++;
  }
  return 0;
}

static void on_up(uvble_t *b, int status, void *cb_arg) {
  (void)cb_arg;
  struct host *h = uvble_get_data(b);
  h->up = true;
  h->up_status = status;
}

static void on_fatal(uvble_t *b, int status, void *cb_arg) {
  (void)cb_arg;
  struct host *h = uvble_get_data(b);
  h->fatal_calls++;
  h->fatal_status = status;
}

static bool up_pred(void *arg) { return ((struct host *)arg)->up; }

static void host_up(struct host *h, bool via_proxy) {
  STEP(via_proxy ? "host up via the proxy" : "host up");
  memset(h, 0, sizeof *h);
  char spec[160], err[256] = "";
  if (via_proxy)
    snprintf(spec, sizeof spec, "unix:%s", proxy_path);
  else
    snprintf(spec, sizeof spec, "%s", getenv("UVBLE_TRANSPORT"));
  int r = uvble_new(&loop, spec, &h->ble, err, sizeof err);
  if (r) fprintf(stderr, "  uvble_new: %s\n", err);
  REQUIRE_EQ(r, 0);
  uvble_set_data(h->ble, h);
  uvble_irq(h->ble, host_irq, h);
  uvble_on_fatal(h->ble, on_fatal, NULL);
  REQUIRE_EQ(uvble_active(h->ble, true, on_up, NULL), 0);
  REQUIRE(run_until_pred(&loop, up_pred, h, 10000));
  REQUIRE_EQ(h->up_status, 0);
  REQUIRE_EQ(uvble_config_get_mac(h->ble, &h->addr), 0);
}

static int closed;
static void on_closed(uvble_t *b, void *cb_arg) {
  (void)cb_arg;
  (void)b;
  closed++;
}
static bool closed_pred(void *arg) { return closed == *(int *)arg; }

static void hosts_down(struct host **hs, int n) {
  STEP("hosts down");
  closed = 0;
  for (int i = 0; i < n; i++) uvble_close(hs[i]->ble, on_closed, NULL);
  CHECK(run_until_pred(&loop, closed_pred, &n, 5000));
}

static int count(const struct host *h, int type) {
  int n = 0;
  for (int i = 0; i < h->nev; i++) n += h->ev[i].type == type;
  return n;
}
static int status_of(const struct host *h, int type) {
  for (int i = 0; i < h->nev; i++)
    if (h->ev[i].type == type) return h->ev[i].status;
  return 1 << 30;
}

struct wait {
  struct host *h;
  int type, n;
};
static bool wait_pred(void *arg) {
  struct wait *w = arg;
  return count(w->h, w->type) >= w->n;
}
static bool wait_ev(struct host *h, int type, int n, unsigned ms) {
  struct wait w = {h, type, n};
  return run_until_pred(&loop, wait_pred, &w, ms);
}

static uint16_t ind_handle;

/* p serves an indicated characteristic and advertises; c connects. */
static void connect_pair(struct host *c, struct host *p) {
  STEP("connect");
  uvble_gatts_characteristic_t chr = {.uuid = uvble_uuid16(0xFE02),
                                      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_INDICATE};
  uvble_gatts_service_t svc = {
      .uuid = uvble_uuid16(0xFE00), .characteristics = &chr, .num_characteristics = 1};
  REQUIRE_EQ(uvble_gatts_register_services(p->ble, &svc, 1, &ind_handle, 1), 1);
  REQUIRE_EQ(uvble_gap_advertise(p->ble, 20000, (uint8_t[]){2, 1, 6}, 3, NULL, 0, true), 0);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(uvble_gap_connect(c->ble, &p->addr, 0, 0, 0), 0);
  REQUIRE(wait_ev(c, UVBLE_IRQ_PERIPHERAL_CONNECT, 1, 3000));
  REQUIRE(wait_ev(p, UVBLE_IRQ_CENTRAL_CONNECT, 1, 3000));
}

/* The failed host ended everything once, and refuses work. */
static void failed_cleanly(struct host *h, int cause) {
  CHECK_EQ(h->fatal_calls, 1);
  CHECK_EQ(h->fatal_status, cause);
  CHECK(!uvble_is_active(h->ble));
  CHECK_EQ(uvble_active(h->ble, true, NULL, NULL), cause);
  CHECK(uvble_gattc_read(h->ble, h->conn, 3) < 0);
}

TEST(transport_cut_under_a_busy_host) {
  watchdog(120);
  STEP("cut: start");
  uv_loop_init(&loop);
  proxy_start();
  struct host c;
  host_up(&c, true);
  /* A scan, advertising and a connect to an absent device under way. */
  REQUIRE_EQ(uvble_gap_scan(c.ble, 0, 0, 0, false), 0);
  run_until_idle(&loop, 5000);
  REQUIRE_EQ(uvble_gap_advertise(c.ble, 20000, (uint8_t[]){2, 1, 6}, 3, NULL, 0, false), 0);
  uvble_addr_t nobody = {UVBLE_ADDR_PUBLIC, {0x00, 0xaa, 0x01, 0x0e, 0x00, 0x42}};
  REQUIRE_EQ(uvble_gap_connect(c.ble, &nobody, 5000, 0, 0), 0); /* stops the scan */
  REQUIRE(links != NULL);
  STEP("cut: link cut");
  link_cut(links);
  RUN_UNTIL(&loop, c.fatal_calls >= 1, 5000);
  run_until_idle(&loop, 5000);
  failed_cleanly(&c, UVBLE_ETRANSPORT);
  CHECK_EQ(count(&c, UVBLE_IRQ_SCAN_DONE), 1);
  /* The pending connect ends as a failed one (MicroPython's event). */
  CHECK_EQ(count(&c, UVBLE_IRQ_PERIPHERAL_DISCONNECT), 1);
  CHECK(!uvble_gap_advertising(c.ble));
  struct host *all[] = {&c};
  hosts_down(all, 1);
  proxy_stop();
  STEP("teardown");
  loop_teardown(&loop);
  alarm(0);
}

TEST(every_controller_vanishes_at_once) {
  watchdog(120);
  STEP("vanish: start");
  uv_loop_init(&loop);
  proxy_start();
  struct host c, p;
  host_up(&c, true);
  host_up(&p, true);
  connect_pair(&c, &p);
  REQUIRE_EQ(uvble_gattc_read(c.ble, c.conn, 3), 0);
  REQUIRE_EQ(uvble_gatts_indicate(p.ble, p.conn, ind_handle, NULL, 0), 0);
  REQUIRE_EQ(links_open, 2);
  STEP("vanish: links cut");
  for (struct link *l = links; l; l = l->next) link_cut(l);
  REQUIRE(wait_ev(&c, UVBLE_IRQ_PERIPHERAL_DISCONNECT, 1, 3000));
  REQUIRE(wait_ev(&p, UVBLE_IRQ_CENTRAL_DISCONNECT, 1, 3000));
  failed_cleanly(&c, UVBLE_ETRANSPORT);
  failed_cleanly(&p, UVBLE_ETRANSPORT);
  CHECK_EQ(count(&c, UVBLE_IRQ_GATTC_READ_DONE), 1);
  CHECK_EQ(status_of(&c, UVBLE_IRQ_GATTC_READ_DONE), UVBLE_EDISCONNECTED);
  CHECK_EQ(count(&p, UVBLE_IRQ_GATTS_INDICATE_DONE), 1);
  CHECK_EQ(status_of(&p, UVBLE_IRQ_GATTS_INDICATE_DONE), UVBLE_EDISCONNECTED);
  struct host *all[] = {&c, &p};
  hosts_down(all, 2);
  proxy_stop();
  STEP("teardown");
  loop_teardown(&loop);
  alarm(0);
}

TEST(controller_stops_answering) {
  watchdog(120);
  STEP("silent: start");
  uv_loop_init(&loop);
  proxy_start();
  struct host c, p;
  host_up(&c, true);
  host_up(&p, false);
  connect_pair(&c, &p);
  c.ble->hci.cmd_timeout_ms = 300;
  REQUIRE_EQ(uvble_gattc_read(c.ble, c.conn, 3), 0);
  RUN_UNTIL(&loop, count(&c, UVBLE_IRQ_GATTC_READ_DONE) >= 1, 5000);
  REQUIRE_EQ(count(&c, UVBLE_IRQ_GATTC_READ_DONE), 1); /* served normally */
  /* The controller goes silent (its bytes stop reaching the host), with a
   * read pending and then a command. */
  STEP("silent: frozen");
  links->frozen = true;
  REQUIRE_EQ(uvble_gattc_read(c.ble, c.conn, 3), 0);
  REQUIRE_EQ(uvble_gap_scan(c.ble, 0, 0, 0, false), 0);
  RUN_UNTIL(&loop, c.ble->stats.hci_cmd_timeouts >= 1, 5000); /* 300 ms */
  run_until_idle(&loop, 5000);
  CHECK_EQ(c.ble->stats.hci_cmd_timeouts, 1);
  failed_cleanly(&c, UVBLE_ETIMEDOUT);
  /* The read sent before the silence got no answer: it ended with the
   * link the failure took down. */
  CHECK_EQ(count(&c, UVBLE_IRQ_GATTC_READ_DONE), 2);
  int last_read = -1;
  for (int i = 0; i < c.nev; i++)
    if (c.ev[i].type == UVBLE_IRQ_GATTC_READ_DONE) last_read = i;
  REQUIRE(last_read >= 0);
  CHECK_EQ(c.ev[last_read].status, UVBLE_EDISCONNECTED);
  CHECK_EQ(count(&c, UVBLE_IRQ_SCAN_DONE), 1);
  CHECK_EQ(count(&c, UVBLE_IRQ_PERIPHERAL_DISCONNECT), 1);
  /* The peer ends the link (the silent controller still takes part), then
   * both close. */
  CHECK_EQ(uvble_gap_disconnect(p.ble, p.conn), 1);
  CHECK(wait_ev(&p, UVBLE_IRQ_CENTRAL_DISCONNECT, 1, 3000));
  struct host *all[] = {&c, &p};
  hosts_down(all, 2);
  proxy_stop();
  STEP("teardown");
  loop_teardown(&loop);
  alarm(0);
}

TEST_MAIN()
