/* SPDX-License-Identifier: Apache-2.0 */
/* aioble multitest ble_buffered_characteristic: a default 20-byte buffer
 * truncates remote writes; max_len=40 holds more; append=True with
 * max_len=80 concatenates two writes.
 *
 * uvble differs from aioble on purpose at MTU 23: MicroPython's client
 * truncates a write to MTU-3 bytes (so aioble's .exp shows
 * b'central2a-bbbbbbbbbb' before the MTU exchange), uvble's client writes
 * long values whole with Prepare/Execute Write, so the 40-byte buffer gets
 * all 38 bytes before the exchange too. The 20-byte buffer still cuts. */
#include "test_aioble_common.h"

static const char *CHAR1 = "00000000-1111-2222-3333-444444444444";
static const char *CHAR2 = "00000000-1111-2222-3333-555555555555";
static const char *CHAR3 = "00000000-1111-2222-3333-666666666666";

static struct barrier ready;

struct periph {
  uvble_task_t task;
  struct inst *in;
  uvble_future_t f;
  uvble_characteristic_t *c[3];
  uvble_connection_t *conn;
  int i;
};

#define WAIT_WRITTEN(t, p, k)                                         \
  do {                                                                        \
    AWAIT_LOGGED(t, (p)->in,                                                  \
                 (uvble_characteristic_written(&(p)->f, (p)->c[k], NULL, 0,   \
                                               TIMEOUT_MS),                   \
                  &(p)->f));                                                  \
  } while (0)

static void print_value(struct periph *p, int k) {
  uint8_t v[128];
  int n = uvble_characteristic_read(p->c[k], v, sizeof v);
  out(p->in, "written %s", pybytes(v, n > 0 ? (size_t)n : 0));
}

static int periph_fn(uvble_task_t *t) {
  struct periph *p = (struct periph *)t;
  struct inst *in = p->in;
  UVBLE_CO_BEGIN(t);
  out(in, "advertise");
  AWAIT_LOGGED(t, in, start_advertise(in, &p->f, &ready));
  p->conn = p->f.result.conn;
  out(in, "connected");
  /* 1: the second write, truncated to 20 bytes. */
  WAIT_WRITTEN(t, p, 0);
  WAIT_WRITTEN(t, p, 0);
  print_value(p, 0);
  /* 2a: before the MTU exchange. */
  WAIT_WRITTEN(t, p, 1);
  WAIT_WRITTEN(t, p, 1);
  print_value(p, 1);
  /* 2b: after it. */
  WAIT_WRITTEN(t, p, 1);
  WAIT_WRITTEN(t, p, 1);
  print_value(p, 1);
  /* 3: appended. */
  WAIT_WRITTEN(t, p, 2);
  WAIT_WRITTEN(t, p, 2);
  print_value(p, 2);
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
  uvble_connection_t *conn;
  uvble_client_service_t *svc;
  uvble_client_characteristic_t *c[3];
};

#define WRITE(t, c, k, text)                                                   \
  AWAIT_LOGGED(t, (c)->in,                                                     \
               (uvble_client_characteristic_write(&(c)->f, (c)->c[k], text,    \
                                                  strlen(text), 1, TIMEOUT_MS), \
                &(c)->f))

static int central_fn(uvble_task_t *t) {
  struct central *c = (struct central *)t;
  struct inst *in = c->in;
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, &ready.f);
  out(in, "connect");
  AWAIT_CONNECT(t, in, &c->f, c->peer, c->tries);
  c->conn = c->f.result.conn;
  AWAIT_LOGGED(t, in, start_service(&c->f, c->conn, SERVICE_UUID));
  c->svc = c->f.result.service;
  out(in, "service %s", pyuuid(&c->svc->uuid));
  AWAIT_LOGGED(t, in, start_char(&c->f, c->svc, CHAR1));
  c->c[0] = c->f.result.characteristic;
  out(in, "characteristic1 %s", pyuuid(&c->c[0]->uuid));
  AWAIT_LOGGED(t, in, start_char(&c->f, c->svc, CHAR2));
  c->c[1] = c->f.result.characteristic;
  out(in, "characteristic2 %s", pyuuid(&c->c[1]->uuid));
  AWAIT_LOGGED(t, in, start_char(&c->f, c->svc, CHAR3));
  c->c[2] = c->f.result.characteristic;
  out(in, "characteristic3 %s", pyuuid(&c->c[2]->uuid));

  out(in, "write1");
  WRITE(t, c, 0, "central1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  WRITE(t, c, 0, "central1-bbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  out(in, "write2a");
  WRITE(t, c, 1, "central2a-aaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  WRITE(t, c, 1, "central2a-bbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  out(in, "exchange mtu");
  AWAIT_LOGGED(t, in,
               (uvble_connection_exchange_mtu(&c->f, c->conn, 100, TIMEOUT_MS),
                &c->f));
  CHECK_EQ(c->f.result.mtu, 100);
  CHECK_EQ(uvble_connection_mtu(c->conn), 100);
  out(in, "write2b");
  WRITE(t, c, 1, "central2b-aaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  WRITE(t, c, 1, "central2b-bbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  out(in, "write3");
  WRITE(t, c, 2, "central3-aaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  WRITE(t, c, 2, "central3-bbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  out(in, "disconnect");
  AWAIT_LOGGED(t, in, (uvble_connection_disconnect(&c->f, c->conn, TIMEOUT_MS),
                       &c->f));
  out(in, "disconnected");
  UVBLE_CO_END(t);
}

static const char EXP0[] =
    "advertise\n"
    "connected\n"
    "written b'central1-bbbbbbbbbbb'\n"
    "written b'central2a-bbbbbbbbbbbbbbbbbbbbbbbbbbbb'\n" /* aioble: cut at 20 */
    "written b'central2b-bbbbbbbbbbbbbbbbbbbbbbbbbbbb'\n"
    "written b'central3-aaaaaaaaaaaaaaaaaaaaaaaaaaaaacentral3-"
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbb'\n"
    "disconnected\n";

static const char EXP1[] =
    "connect\n"
    "service UUID('a5a5a5a5-ffff-9999-1111-5a5a5a5a5a5a')\n"
    "characteristic1 UUID('00000000-1111-2222-3333-444444444444')\n"
    "characteristic2 UUID('00000000-1111-2222-3333-555555555555')\n"
    "characteristic3 UUID('00000000-1111-2222-3333-666666666666')\n"
    "write1\n"
    "write2a\n"
    "exchange mtu\n"
    "write2b\n"
    "write3\n"
    "disconnect\n"
    "disconnected\n";

TEST(ble_buffered_characteristic) {
  uv_loop_init(&loop);
  static struct inst i0, i1;
  inst_up(&i0);
  inst_up(&i1);
  barrier_init(&ready, i0.s);
  static struct periph p;
  static struct central c;
  memset(&p, 0, sizeof p);
  memset(&c, 0, sizeof c);
  uvble_service_t *svc;
  uvble_uuid_t su = uuid(SERVICE_UUID);
  REQUIRE_EQ(uvble_service_new(i0.a, &su, &svc), 0);
  const char *uuids[3] = {CHAR1, CHAR2, CHAR3};
  /* BufferedCharacteristic(write=True), (max_len=40), (max_len=80,
   * append=True); aioble's default max_len is 20. */
  uvble_characteristic_opts_t o[3] = {
      {.flags = UVBLE_FLAG_WRITE, .max_len = 20},
      {.flags = UVBLE_FLAG_WRITE, .max_len = 40},
      {.flags = UVBLE_FLAG_WRITE, .max_len = 80, .append = true},
  };
  for (int k = 0; k < 3; k++) {
    uvble_uuid_t u = uuid(uuids[k]);
    REQUIRE_EQ(uvble_characteristic_new(svc, &u, &o[k], &p.c[k]), 0);
  }
  REQUIRE_EQ(uvble_register_services(i0.a, &svc, 1), 0);
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

TEST_MAIN()
