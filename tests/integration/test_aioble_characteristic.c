/* SPDX-License-Identifier: Apache-2.0 */
/* aioble multitest ble_characteristic: read, write with response,
 * notified() (the database value and an explicit payload), indicated()
 * with an awaited indicate(), disconnect — as two tasks on btvirt. */
#include "test_aioble_common.h"

static const char *CHAR = "00000000-1111-2222-3333-444444444444";

static struct barrier ready;

struct periph {
  uvble_task_t task;
  struct inst *in;
  uvble_future_t f;
  uvble_characteristic_t *chr;
  uvble_connection_t *conn;
};

static void print_written(struct periph *p) {
  uint8_t v[64];
  int n = uvble_characteristic_read(p->chr, v, sizeof v);
  out(p->in, "written %s", pybytes(v, n > 0 ? (size_t)n : 0));
}

static int periph_fn(uvble_task_t *t) {
  struct periph *p = (struct periph *)t;
  struct inst *in = p->in;
  UVBLE_CO_BEGIN(t);
  uvble_characteristic_write(p->chr, "periph0", 7, false);
  out(in, "advertise");
  AWAIT_LOGGED(t, in, start_advertise(in, &p->f, &ready));
  p->conn = p->f.result.conn;
  out(in, "connected");

  /* A: a write, answered with a notification of the database value. */
  AWAIT_LOGGED(t, in,
               (uvble_characteristic_written(&p->f, p->chr, NULL, 0, TIMEOUT_MS),
                &p->f));
  print_written(p);
  out(in, "write");
  uvble_characteristic_write(p->chr, "periph1", 7, false);
  out(in, "notify");
  CHECK_EQ(uvble_characteristic_notify(p->chr, p->conn, NULL, 0), 0);

  /* B: answered with a value-included notification. */
  AWAIT_LOGGED(t, in,
               (uvble_characteristic_written(&p->f, p->chr, NULL, 0, TIMEOUT_MS),
                &p->f));
  print_written(p);
  out(in, "notify");
  CHECK_EQ(uvble_characteristic_notify(p->chr, p->conn, "periph2", 7), 0);

  /* C: answered with an indication, awaited. */
  AWAIT_LOGGED(t, in,
               (uvble_characteristic_written(&p->f, p->chr, NULL, 0, TIMEOUT_MS),
                &p->f));
  print_written(p);
  out(in, "write");
  uvble_characteristic_write(p->chr, "periph3", 7, false);
  UVBLE_AWAIT(t, (uvble_characteristic_indicate(&p->f, p->chr, p->conn, NULL, 0,
                                                TIMEOUT_MS),
                  &p->f));
  out(in, "indicate %d", p->f.status);

  AWAIT_LOGGED(t, in,
               (uvble_connection_disconnected(&p->f, p->conn, TIMEOUT_MS), &p->f));
  out(in, "disconnected");
  UVBLE_CO_END(t);
}

struct central {
  uvble_task_t task;
  int tries;
  struct inst *in;
  struct inst *peer;
  uvble_future_t f;
  uvble_connection_t *conn;
  uvble_client_service_t *svc;
  uvble_client_characteristic_t *chr;
  uint8_t buf[64];
};

static int central_fn(uvble_task_t *t) {
  struct central *c = (struct central *)t;
  struct inst *in = c->in;
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, &ready.f);
  UVBLE_AWAIT(t, (uvble_sleep(&c->f, in->s, 100), &c->f));
  out(in, "connect");
  AWAIT_CONNECT(t, in, &c->f, c->peer, c->tries);
  c->conn = c->f.result.conn;

  AWAIT_LOGGED(t, in, start_service(&c->f, c->conn, SERVICE_UUID));
  c->svc = c->f.result.service;
  out(in, "service %s", pyuuid(&c->svc->uuid));
  AWAIT_LOGGED(t, in, start_char(&c->f, c->svc, CHAR));
  c->chr = c->f.result.characteristic;
  out(in, "characteristic %s", pyuuid(&c->chr->uuid));

  AWAIT_LOGGED(t, in,
               (uvble_client_characteristic_read(&c->f, c->chr, c->buf,
                                                 sizeof c->buf, TIMEOUT_MS),
                &c->f));
  out(in, "read %s", pybytes(c->buf, c->f.len));

  /* A */
  out(in, "write");
  AWAIT_LOGGED(t, in,
               (uvble_client_characteristic_write(&c->f, c->chr, "central0", 8, 1,
                                                  TIMEOUT_MS),
                &c->f));
  AWAIT_LOGGED(t, in,
               (uvble_client_characteristic_notified(&c->f, c->chr, c->buf,
                                                     sizeof c->buf, TIMEOUT_MS),
                &c->f));
  out(in, "notified %s", pybytes(c->buf, c->f.len));
  AWAIT_LOGGED(t, in,
               (uvble_client_characteristic_read(&c->f, c->chr, c->buf,
                                                 sizeof c->buf, TIMEOUT_MS),
                &c->f));
  out(in, "read %s", pybytes(c->buf, c->f.len));

  /* B */
  out(in, "write");
  AWAIT_LOGGED(t, in,
               (uvble_client_characteristic_write(&c->f, c->chr, "central1", 8, 1,
                                                  TIMEOUT_MS),
                &c->f));
  AWAIT_LOGGED(t, in,
               (uvble_client_characteristic_notified(&c->f, c->chr, c->buf,
                                                     sizeof c->buf, TIMEOUT_MS),
                &c->f));
  out(in, "notified %s", pybytes(c->buf, c->f.len));
  AWAIT_LOGGED(t, in,
               (uvble_client_characteristic_read(&c->f, c->chr, c->buf,
                                                 sizeof c->buf, TIMEOUT_MS),
                &c->f));
  out(in, "read %s", pybytes(c->buf, c->f.len));

  /* C */
  out(in, "write");
  AWAIT_LOGGED(t, in,
               (uvble_client_characteristic_write(&c->f, c->chr, "central2", 8, 1,
                                                  TIMEOUT_MS),
                &c->f));
  AWAIT_LOGGED(t, in,
               (uvble_client_characteristic_indicated(&c->f, c->chr, c->buf,
                                                      sizeof c->buf, TIMEOUT_MS),
                &c->f));
  out(in, "indicated %s", pybytes(c->buf, c->f.len));
  AWAIT_LOGGED(t, in,
               (uvble_client_characteristic_read(&c->f, c->chr, c->buf,
                                                 sizeof c->buf, TIMEOUT_MS),
                &c->f));
  out(in, "read %s", pybytes(c->buf, c->f.len));

  out(in, "disconnect");
  AWAIT_LOGGED(t, in, (uvble_connection_disconnect(&c->f, c->conn, TIMEOUT_MS),
                       &c->f));
  out(in, "disconnected");
  UVBLE_CO_END(t);
}

static const char EXP0[] =
    "advertise\n"
    "connected\n"
    "written b'central0'\n"
    "write\n"
    "notify\n"
    "written b'central1'\n"
    "notify\n"
    "written b'central2'\n"
    "write\n"
    "indicate 0\n"
    "disconnected\n";

static const char EXP1[] =
    "connect\n"
    "service UUID('a5a5a5a5-ffff-9999-1111-5a5a5a5a5a5a')\n"
    "characteristic UUID('00000000-1111-2222-3333-444444444444')\n"
    "read b'periph0'\n"
    "write\n"
    "notified b'periph1'\n"
    "read b'periph1'\n"
    "write\n"
    "notified b'periph2'\n"
    "read b'central1'\n"
    "write\n"
    "indicated b'periph3'\n"
    "read b'periph3'\n"
    "disconnect\n"
    "disconnected\n";

TEST(ble_characteristic) {
  uv_loop_init(&loop);
  static struct inst i0, i1;
  inst_up(&i0);
  inst_up(&i1);
  barrier_init(&ready, i0.s);

  uvble_service_t *svc;
  uvble_uuid_t su = uuid(SERVICE_UUID), cu = uuid(CHAR);
  REQUIRE_EQ(uvble_service_new(i0.a, &su, &svc), 0);
  uvble_characteristic_opts_t o = {.flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE |
                                            UVBLE_FLAG_NOTIFY |
                                            UVBLE_FLAG_INDICATE};
  static struct periph p;
  static struct central c;
  memset(&p, 0, sizeof p);
  memset(&c, 0, sizeof c);
  REQUIRE_EQ(uvble_characteristic_new(svc, &cu, &o, &p.chr), 0);
  REQUIRE_EQ(uvble_register_services(i0.a, &svc, 1), 0);

  p.in = &i0;
  c.in = &i1;
  c.peer = &i0;
  REQUIRE_EQ(uvble_task_spawn(i0.s, &p.task, periph_fn, NULL), 0);
  REQUIRE_EQ(uvble_task_spawn(i1.s, &c.task, central_fn, NULL), 0);
  uvble_task_t *tasks[] = {&p.task, &c.task, NULL};
  CHECK(run_tasks(tasks, 20000));
  CHECK_STR(i0.log, EXP0);
  CHECK_STR(i1.log, EXP1);
  CHECK_EQ(p.task.status, 0);
  CHECK_EQ(c.task.status, 0);
  uvble_connection_release(p.conn);
  uvble_connection_release(c.conn);
  inst_down(&i0);
  inst_down(&i1);
  loop_teardown(&loop);
}

TEST_MAIN()
