/* SPDX-License-Identifier: Apache-2.0 */
/* aioble multitest ble_notify: nothing arrives while unsubscribed
 * (write with send_update honours the CCCD), subscribe(notify=True)
 * delivers, unsubscribing stops it; direct notifications and the queue.
 *
 * uvble differs from aioble on purpose in the queue: aioble keeps only the
 * latest unconsumed notification (a deque of length 1, so of three quick
 * notifications the client sees direct-2-2 only, micropython-lib#934);
 * uvble queues notify_depth values (default 16). The scenario runs twice:
 * with the queue set to 1 it must print aioble's .exp exactly; with the
 * default it sees all three. */
#include "test_aioble_common.h"

static const char *CHAR = "00000000-1111-2222-3333-444444444444";

struct sync {
  struct barrier ready, discovery, subscribed, unsubscribed, start_direct;
  struct barrier notified[5], next[5];
};
static struct sync sy;

struct periph {
  uvble_task_t task;
  struct inst *in;
  uvble_future_t f;
  uvble_characteristic_t *chr;
  uvble_connection_t *conn;
  int i, j;
};

static int periph_fn(uvble_task_t *t) {
  struct periph *p = (struct periph *)t;
  struct inst *in = p->in;
  UVBLE_CO_BEGIN(t);
  out(in, "advertise");
  AWAIT_LOGGED(t, in, start_advertise(in, &p->f, &sy.ready));
  p->conn = p->f.result.conn;
  out(in, "connected");

  UVBLE_AWAIT(t, &sy.discovery.f);
  UVBLE_AWAIT(t, (uvble_sleep(&p->f, in->s, 100), &p->f));
  uvble_characteristic_write(p->chr, "before-subscribe", 16, true);

  UVBLE_AWAIT(t, &sy.subscribed.f);
  UVBLE_AWAIT(t, (uvble_sleep(&p->f, in->s, 100), &p->f));
  uvble_characteristic_write(p->chr, "after-subscribe", 15, true);

  UVBLE_AWAIT(t, &sy.unsubscribed.f);
  UVBLE_AWAIT(t, (uvble_sleep(&p->f, in->s, 100), &p->f));
  uvble_characteristic_write(p->chr, "after-unsubscribe", 17, true);

  UVBLE_AWAIT(t, &sy.start_direct.f);
  for (p->i = 0; p->i < 5; p->i++) {
    /* One notification each time, three quick ones the third time. */
    for (p->j = 0; p->j < (p->i == 2 ? 3 : 1); p->j++) {
      if (p->j > 0) UVBLE_AWAIT(t, (uvble_sleep(&p->f, in->s, 100), &p->f));
      {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "direct-%d-%d", p->i, p->j);
        out(in, "notify %s", msg);
        CHECK_EQ(uvble_characteristic_notify(p->chr, p->conn, msg, (size_t)n),
                 0);
      }
    }
    barrier_set(&sy.notified[p->i]);
    UVBLE_AWAIT(t, &sy.next[p->i].f);
  }

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
  size_t depth; /* 0: the default */
  uvble_future_t f;
  uvble_connection_t *conn;
  uvble_client_service_t *svc;
  uvble_client_characteristic_t *chr;
  uint8_t buf[64];
  int i;
};

static int central_fn(uvble_task_t *t) {
  struct central *c = (struct central *)t;
  struct inst *in = c->in;
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, &sy.ready.f);
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
  if (c->depth) uvble_client_characteristic_set_queue(c->chr, c->depth);

  /* Not subscribed: nothing. */
  barrier_set(&sy.discovery);
  UVBLE_AWAIT(t, (uvble_client_characteristic_notified(&c->f, c->chr, c->buf,
                                                       sizeof c->buf, 500),
                  &c->f));
  if (c->f.status == UVBLE_ETIMEDOUT)
    out(in, "no notification");
  else
    out(in, "fail %s", uvble_err_name(c->f.status));

  /* Subscribed: the next write with send_update arrives. */
  AWAIT_LOGGED(t, in,
               (uvble_client_characteristic_subscribe(&c->f, c->chr, true, false,
                                                      TIMEOUT_MS),
                &c->f));
  barrier_set(&sy.subscribed);
  AWAIT_LOGGED(t, in,
               (uvble_client_characteristic_notified(&c->f, c->chr, c->buf,
                                                     sizeof c->buf, TIMEOUT_MS),
                &c->f));
  out(in, "notified %s", pybytes(c->buf, c->f.len));

  /* Unsubscribed: nothing again. */
  AWAIT_LOGGED(t, in,
               (uvble_client_characteristic_subscribe(&c->f, c->chr, false,
                                                      false, TIMEOUT_MS),
                &c->f));
  barrier_set(&sy.unsubscribed);
  UVBLE_AWAIT(t, (uvble_client_characteristic_notified(&c->f, c->chr, c->buf,
                                                       sizeof c->buf, 500),
                  &c->f));
  if (c->f.status == UVBLE_ETIMEDOUT)
    out(in, "no notification");
  else
    out(in, "fail %s", pybytes(c->buf, c->f.len));

  barrier_set(&sy.start_direct);
  for (c->i = 0; c->i < 5; c->i++) {
    UVBLE_AWAIT(t, &sy.notified[c->i].f);
    UVBLE_AWAIT(t, (uvble_sleep(&c->f, in->s, 200), &c->f));
    AWAIT_LOGGED(t, in,
                 (uvble_client_characteristic_notified(&c->f, c->chr, c->buf,
                                                       sizeof c->buf, TIMEOUT_MS),
                  &c->f));
    out(in, "notified %s", pybytes(c->buf, c->f.len));
    /* Whatever else is queued (nothing, with aioble's queue of one). */
    for (;;) {
      UVBLE_AWAIT(t, (uvble_client_characteristic_notified(
                          &c->f, c->chr, c->buf, sizeof c->buf, 100),
                      &c->f));
      if (c->f.status) break;
      out(in, c->depth == 1 ? "unexpected notify %s" : "notified %s",
          pybytes(c->buf, c->f.len));
    }
    if (c->f.status != UVBLE_ETIMEDOUT)
      out(in, "error %s", uvble_err_name(c->f.status));
    barrier_set(&sy.next[c->i]);
  }

  out(in, "disconnect");
  AWAIT_LOGGED(t, in, (uvble_connection_disconnect(&c->f, c->conn, TIMEOUT_MS),
                       &c->f));
  out(in, "disconnected");
  UVBLE_CO_END(t);
}

static const char EXP0[] =
    "advertise\n"
    "connected\n"
    "notify direct-0-0\n"
    "notify direct-1-0\n"
    "notify direct-2-0\n"
    "notify direct-2-1\n"
    "notify direct-2-2\n"
    "notify direct-3-0\n"
    "notify direct-4-0\n"
    "disconnected\n";

static const char EXP1_HEAD[] =
    "connect\n"
    "service UUID('a5a5a5a5-ffff-9999-1111-5a5a5a5a5a5a')\n"
    "characteristic UUID('00000000-1111-2222-3333-444444444444')\n"
    "no notification\n"
    "notified b'after-subscribe'\n"
    "no notification\n"
    "notified b'direct-0-0'\n"
    "notified b'direct-1-0'\n";

static const char EXP1_AIOBLE[] =
    "notified b'direct-2-2'\n"
    "notified b'direct-3-0'\n"
    "notified b'direct-4-0'\n"
    "disconnect\n"
    "disconnected\n";

static const char EXP1_QUEUED[] =
    "notified b'direct-2-0'\n"
    "notified b'direct-2-1'\n"
    "notified b'direct-2-2'\n"
    "notified b'direct-3-0'\n"
    "notified b'direct-4-0'\n"
    "disconnect\n"
    "disconnected\n";

static void run_scenario(size_t depth, const char *exp1_tail) {
  uv_loop_init(&loop);
  static struct inst i0, i1;
  inst_up(&i0);
  inst_up(&i1);
  memset(&sy, 0, sizeof sy);
  struct barrier *all[] = {&sy.ready, &sy.discovery, &sy.subscribed,
                           &sy.unsubscribed, &sy.start_direct};
  for (int k = 0; k < 5; k++) barrier_init(all[k], i0.s);
  for (int k = 0; k < 5; k++) {
    barrier_init(&sy.notified[k], i0.s);
    barrier_init(&sy.next[k], i0.s);
  }

  static struct periph p;
  static struct central c;
  memset(&p, 0, sizeof p);
  memset(&c, 0, sizeof c);
  uvble_service_t *svc;
  uvble_uuid_t su = uuid(SERVICE_UUID), cu = uuid(CHAR);
  REQUIRE_EQ(uvble_service_new(i0.a, &su, &svc), 0);
  uvble_characteristic_opts_t o = {.flags =
                                       UVBLE_FLAG_READ | UVBLE_FLAG_NOTIFY};
  REQUIRE_EQ(uvble_characteristic_new(svc, &cu, &o, &p.chr), 0);
  REQUIRE_EQ(uvble_register_services(i0.a, &svc, 1), 0);

  p.in = &i0;
  c.in = &i1;
  c.peer = &i0;
  c.depth = depth;
  REQUIRE_EQ(uvble_task_spawn(i0.s, &p.task, periph_fn, NULL), 0);
  REQUIRE_EQ(uvble_task_spawn(i1.s, &c.task, central_fn, NULL), 0);
  uvble_task_t *tasks[] = {&p.task, &c.task, NULL};
  CHECK(run_tasks(tasks, 30000));
  CHECK_STR(i0.log, EXP0);
  char exp1[1024];
  snprintf(exp1, sizeof exp1, "%s%s", EXP1_HEAD, exp1_tail);
  CHECK_STR(i1.log, exp1);
  uvble_connection_release(p.conn);
  uvble_connection_release(c.conn);
  inst_down(&i0);
  inst_down(&i1);
  loop_teardown(&loop);
}

TEST(ble_notify_with_aiobles_latest_only_queue) { run_scenario(1, EXP1_AIOBLE); }

TEST(ble_notify_with_the_default_queue_keeps_every_value) {
  run_scenario(0, EXP1_QUEUED);
}

TEST_MAIN()
