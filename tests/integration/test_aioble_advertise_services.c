/* SPDX-License-Identifier: Apache-2.0 */
/* aioble multitest ble_advertise_services: advertise() builds the payload
 * from a name and four services (two 16-bit, two 32-bit), an active scan
 * iterates one result per device and its services() parse back; then
 * connect/disconnect. Also the scan iteration's other guarantees: the
 * result object of a device is the same every time, it carries the name,
 * and the iteration ends with UVBLE_EOF when the scan duration is over.
 *
 * btvirt sends one advertising report when advertising starts: the scan
 * starts first, then the peripheral advertises. */
#include "test_aioble_common.h"

static struct barrier scanning, ready;

struct periph {
  uvble_task_t task;
  struct inst *in;
  uvble_future_t f;
  uvble_connection_t *conn;
  uvble_uuid_t services[4];
};

static int periph_fn(uvble_task_t *t) {
  struct periph *p = (struct periph *)t;
  struct inst *in = p->in;
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, &scanning.f);
  out(in, "advertise");
  {
    uvble_advertise_params_t ap;
    uvble_advertise_params_init(&ap);
    ap.interval_us = 20000;
    ap.fields.name = "MPY";
    p->services[0] = uvble_uuid16(0x180F);
    p->services[1] = uvble_uuid16(0x181A);
    /* MicroPython's UUID("AB12"): 4 raw bytes, a 32-bit UUID. */
    uvble_uuid_from_bytes(&p->services[2], (const uint8_t *)"AB12", 4);
    uvble_uuid_from_bytes(&p->services[3], (const uint8_t *)"CD34", 4);
    ap.fields.services = p->services;
    ap.fields.num_services = 4;
    uvble_advertise(&p->f, in->a, &ap, TIMEOUT_MS);
    barrier_set(&ready);
  }
  AWAIT_LOGGED(t, in, &p->f);
  p->conn = p->f.result.conn;
  out(in, "connected");
  AWAIT_LOGGED(t, in,
               (uvble_connection_disconnected(&p->f, p->conn, TIMEOUT_MS), &p->f));
  out(in, "disconnected");
  UVBLE_CO_END(t);
}

struct central {
  uvble_task_t task;
  int tries;
  struct inst *in, *peer;
  uvble_future_t f;
  uvble_scan_t *scan;
  uvble_scan_result_t *first;
  uvble_connection_t *conn;
  int seen;
};

static void print_services(struct inst *in, const uvble_scan_result_t *r) {
  uvble_uuid_t u[8];
  int n = uvble_scan_result_services(r, u, 8);
  char line[512];
  size_t o = (size_t)snprintf(line, sizeof line, "[");
  for (int i = 0; i < n && i < 8; i++)
    o += (size_t)snprintf(line + o, sizeof line - o, "%s%s", i ? ", " : "",
                          pyuuid(&u[i]));
  snprintf(line + o, sizeof line - o, "]");
  out(in, "%s", line);
}

static int central_fn(uvble_task_t *t) {
  struct central *c = (struct central *)t;
  struct inst *in = c->in;
  UVBLE_CO_BEGIN(t);
  {
    uvble_scan_params_t sp = {.duration_ms = 5000,
                              .interval_us = 30000,
                              .window_us = 30000,
                              .active = true};
    CHECK_EQ(uvble_scan_start(in->a, &sp, &c->scan), 0);
  }
  UVBLE_AWAIT(t, (uvble_sleep(&c->f, in->s, 100), &c->f));
  barrier_set(&scanning);
  for (;;) {
    UVBLE_AWAIT(t, (uvble_scan_next(&c->f, c->scan, TIMEOUT_MS), &c->f));
    if (c->f.status) break;
    {
      uvble_scan_result_t *r = c->f.result.scan;
      uvble_device_t want;
      uvble_device_init(&want, c->peer->mac.type, c->peer->mac.val);
      if (!uvble_device_equal(&r->device, &want)) continue;
      /* One object per device. */
      if (!c->first) c->first = r;
      CHECK(c->first == r);
      c->seen++;
      if (uvble_scan_result_services(r, NULL, 0) > 0) {
        char name[16];
        CHECK_EQ(uvble_scan_result_name(r, name, sizeof name), 3);
        CHECK_STR(name, "MPY");
        CHECK(r->connectable);
        print_services(in, r);
        break;
      }
    }
  }
  CHECK_EQ(c->f.status, 0);
  uvble_scan_free(c->scan);
  c->scan = NULL;

  out(in, "connect");
  AWAIT_CONNECT(t, in, &c->f, c->peer, c->tries);
  c->conn = c->f.result.conn;
  out(in, "disconnect");
  AWAIT_LOGGED(t, in, (uvble_connection_disconnect(&c->f, c->conn, TIMEOUT_MS),
                       &c->f));
  UVBLE_CO_END(t);
}

static const char EXP0[] = "advertise\nconnected\ndisconnected\n";
static const char EXP1[] =
    "[UUID(0x180f), UUID(0x181a), UUID(0x32314241), UUID(0x34334443)]\n"
    "connect\n"
    "disconnect\n";

TEST(ble_advertise_services) {
  uv_loop_init(&loop);
  static struct inst i0, i1;
  inst_up(&i0);
  inst_up(&i1);
  barrier_init(&scanning, i0.s);
  barrier_init(&ready, i0.s);
  static struct periph p;
  static struct central c;
  memset(&p, 0, sizeof p);
  memset(&c, 0, sizeof c);
  p.in = &i0;
  c.in = &i1;
  c.peer = &i0;
  REQUIRE_EQ(uvble_task_spawn(i0.s, &p.task, periph_fn, NULL), 0);
  REQUIRE_EQ(uvble_task_spawn(i1.s, &c.task, central_fn, NULL), 0);
  uvble_task_t *tasks[] = {&p.task, &c.task, NULL};
  CHECK(run_tasks(tasks, 30000));
  CHECK_STR(i0.log, EXP0);
  CHECK_STR(i1.log, EXP1);
  uvble_connection_release(p.conn);
  uvble_connection_release(c.conn);
  inst_down(&i0);
  inst_down(&i1);
  loop_teardown(&loop);
}

/* A scan whose duration ends: the iteration ends with UVBLE_EOF once, and
 * every later next() says so at once. */
struct ender {
  uvble_task_t task;
  struct inst *in;
  uvble_future_t f;
  uvble_scan_t *scan;
  int results, eof;
  uint64_t t0, t_end;
};

static int ender_fn(uvble_task_t *t) {
  struct ender *e = (struct ender *)t;
  UVBLE_CO_BEGIN(t);
  {
    uvble_scan_params_t sp = {.duration_ms = 300, .active = false};
    CHECK_EQ(uvble_scan_start(e->in->a, &sp, &e->scan), 0);
  }
  e->t0 = uv_now(&loop);
  for (;;) {
    UVBLE_AWAIT(t, (uvble_scan_next(&e->f, e->scan, 3000), &e->f));
    if (e->f.status) break;
    e->results++;
  }
  e->t_end = uv_now(&loop);
  CHECK_EQ(e->f.status, UVBLE_EOF);
  CHECK(!uvble_scan_running(e->scan));
  UVBLE_AWAIT(t, (uvble_scan_next(&e->f, e->scan, 3000), &e->f));
  CHECK_EQ(e->f.status, UVBLE_EOF);
  uvble_scan_free(e->scan);
  UVBLE_CO_END(t);
}

TEST(a_scan_ends_with_eof_when_its_duration_is_over) {
  uv_loop_init(&loop);
  static struct inst i0;
  inst_up(&i0);
  static struct ender e;
  memset(&e, 0, sizeof e);
  e.in = &i0;
  REQUIRE_EQ(uvble_task_spawn(i0.s, &e.task, ender_fn, NULL), 0);
  uvble_task_t *tasks[] = {&e.task, NULL};
  CHECK(run_tasks(tasks, 5000));
  CHECK(e.t_end - e.t0 >= 300);
  CHECK(e.t_end - e.t0 < 2000);
  inst_down(&i0);
  loop_teardown(&loop);
}

TEST_MAIN()
