/* SPDX-License-Identifier: Apache-2.0 */
/* aioble multitest ble_reregister: the same service objects registered
 * again across three stop/start cycles keep their initial values. */
#include "test_aioble_common.h"

static const char *CHAR_INITIAL = "00000000-1111-2222-3333-444444444444";
static const char *CHAR_WRITE = "00000000-1111-2222-3333-555555555555";

static struct barrier connect_b[3];

struct periph {
  uvble_task_t task;
  struct inst *in;
  uvble_future_t f;
  uvble_service_t *svc;
  uvble_characteristic_t *wr;
  uvble_connection_t *conn;
  int i;
};

static int periph_fn(uvble_task_t *t) {
  struct periph *p = (struct periph *)t;
  struct inst *in = p->in;
  UVBLE_CO_BEGIN(t);
  for (p->i = 0; p->i < 3; p->i++) {
    CHECK_EQ(uvble_register_services(in->a, &p->svc, 1), 0);
    {
      char v[16];
      int n = snprintf(v, sizeof v, "periph%d", p->i);
      uvble_characteristic_write(p->wr, v, (size_t)n, false);
    }
    out(in, "advertise %d", p->i);
    AWAIT_LOGGED(t, in, start_advertise(in, &p->f, &connect_b[p->i]));
    p->conn = p->f.result.conn;
    out(in, "connected %d", p->i);
    AWAIT_LOGGED(t, in,
                 (uvble_characteristic_written(&p->f, p->wr, NULL, 0, TIMEOUT_MS),
                  &p->f));
    out(in, "written %d", p->i);
    AWAIT_LOGGED(t, in,
                 (uvble_connection_disconnected(&p->f, p->conn, TIMEOUT_MS),
                  &p->f));
    out(in, "disconnected %d", p->i);
    uvble_connection_release(p->conn);
    p->conn = NULL;
    out(in, "shutdown %d", p->i);
    AWAIT_LOGGED(t, in, (uvble_async_stop(&p->f, in->a, TIMEOUT_MS), &p->f));
    UVBLE_AWAIT(t, (uvble_sleep(&p->f, in->s, 100), &p->f));
    AWAIT_LOGGED(t, in, (uvble_async_start(&p->f, in->a, TIMEOUT_MS), &p->f));
  }
  UVBLE_CO_END(t);
}

struct central {
  uvble_task_t task;
  int tries;
  struct inst *in, *peer;
  uvble_future_t f;
  uvble_connection_t *conn;
  uvble_client_service_t *svc;
  uvble_client_characteristic_t *ini, *wr;
  uint8_t buf[32];
  char v[16];
  int i;
};

static int central_fn(uvble_task_t *t) {
  struct central *c = (struct central *)t;
  struct inst *in = c->in;
  UVBLE_CO_BEGIN(t);
  for (c->i = 0; c->i < 3; c->i++) {
    UVBLE_AWAIT(t, &connect_b[c->i].f);
    out(in, "connect %d", c->i);
    AWAIT_CONNECT(t, in, &c->f, c->peer, c->tries);
    c->conn = c->f.result.conn;
    AWAIT_LOGGED(t, in, start_service(&c->f, c->conn, SERVICE_UUID));
    c->svc = c->f.result.service;
    AWAIT_LOGGED(t, in, start_char(&c->f, c->svc, CHAR_INITIAL));
    c->ini = c->f.result.characteristic;
    AWAIT_LOGGED(t, in, start_char(&c->f, c->svc, CHAR_WRITE));
    c->wr = c->f.result.characteristic;
    AWAIT_LOGGED(t, in,
                 (uvble_client_characteristic_read(&c->f, c->ini, c->buf,
                                                   sizeof c->buf, TIMEOUT_MS),
                  &c->f));
    out(in, "read initial %s", pybytes(c->buf, c->f.len));
    AWAIT_LOGGED(t, in,
                 (uvble_client_characteristic_read(&c->f, c->wr, c->buf,
                                                   sizeof c->buf, TIMEOUT_MS),
                  &c->f));
    out(in, "read written %s", pybytes(c->buf, c->f.len));
    out(in, "write %d", c->i);
    snprintf(c->v, sizeof c->v, "central%d", c->i);
    AWAIT_LOGGED(t, in,
                 (uvble_client_characteristic_write(&c->f, c->wr, c->v,
                                                    strlen(c->v), 1, TIMEOUT_MS),
                  &c->f));
    out(in, "disconnect %d", c->i);
    AWAIT_LOGGED(t, in, (uvble_connection_disconnect(&c->f, c->conn, TIMEOUT_MS),
                         &c->f));
    out(in, "disconnected %d", c->i);
    uvble_connection_release(c->conn);
    c->conn = NULL;
    AWAIT_LOGGED(t, in, (uvble_async_stop(&c->f, in->a, TIMEOUT_MS), &c->f));
    UVBLE_AWAIT(t, (uvble_sleep(&c->f, in->s, 100), &c->f));
    AWAIT_LOGGED(t, in, (uvble_async_start(&c->f, in->a, TIMEOUT_MS), &c->f));
  }
  UVBLE_CO_END(t);
}

TEST(ble_reregister) {
  uv_loop_init(&loop);
  static struct inst i0, i1;
  inst_up(&i0);
  inst_up(&i1);
  for (int i = 0; i < 3; i++) barrier_init(&connect_b[i], i0.s);
  static struct periph p;
  static struct central c;
  memset(&p, 0, sizeof p);
  memset(&c, 0, sizeof c);
  /* The objects are made once (aioble's singleton pattern). */
  uvble_uuid_t su = uuid(SERVICE_UUID), u1 = uuid(CHAR_INITIAL),
               u2 = uuid(CHAR_WRITE);
  REQUIRE_EQ(uvble_service_new(i0.a, &su, &p.svc), 0);
  uvble_characteristic_t *ini;
  uvble_characteristic_opts_t o1 = {
      .flags = UVBLE_FLAG_READ, .initial = "hello", .initial_len = 5};
  uvble_characteristic_opts_t o2 = {.flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE};
  REQUIRE_EQ(uvble_characteristic_new(p.svc, &u1, &o1, &ini), 0);
  REQUIRE_EQ(uvble_characteristic_new(p.svc, &u2, &o2, &p.wr), 0);
  p.in = &i0;
  c.in = &i1;
  c.peer = &i0;
  REQUIRE_EQ(uvble_task_spawn(i0.s, &p.task, periph_fn, NULL), 0);
  REQUIRE_EQ(uvble_task_spawn(i1.s, &c.task, central_fn, NULL), 0);
  uvble_task_t *tasks[] = {&p.task, &c.task, NULL};
  CHECK(run_tasks(tasks, 60000));
  char exp0[1024] = "", exp1[1024] = "";
  size_t o0 = 0, ox = 0;
  for (int i = 0; i < 3; i++) {
    o0 += (size_t)snprintf(exp0 + o0, sizeof exp0 - o0,
                           "advertise %d\nconnected %d\nwritten %d\n"
                           "disconnected %d\nshutdown %d\n",
                           i, i, i, i, i);
    ox += (size_t)snprintf(exp1 + ox, sizeof exp1 - ox,
                           "connect %d\nread initial b'hello'\n"
                           "read written b'periph%d'\nwrite %d\n"
                           "disconnect %d\ndisconnected %d\n",
                           i, i, i, i, i);
  }
  CHECK_STR(i0.log, exp0);
  CHECK_STR(i1.log, exp1);
  inst_down(&i0);
  inst_down(&i1);
  loop_teardown(&loop);
}

TEST_MAIN()
