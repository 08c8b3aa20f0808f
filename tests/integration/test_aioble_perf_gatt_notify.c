/* SPDX-License-Identifier: Apache-2.0 */
/* aioble multitest perf_gatt_notify: 50 notifications ping-ponged between
 * two devices that are each GATT server and client of the other. Every
 * echo must carry the ping it answers; the metric is printed as aioble's
 * OUTPUT_METRIC line (stderr, not compared). */
#include "test_aioble_common.h"

static const char *CHAR = "00000000-1111-2222-3333-444444444444";
#define N 50

static struct barrier ready;

struct side {
  uvble_task_t task;
  int tries;
  struct inst *in, *peer;
  uvble_future_t f;
  uvble_characteristic_t *server;
  uvble_connection_t *conn;
  uvble_client_service_t *svc;
  uvble_client_characteristic_t *client;
  uint8_t buf[64];
  int i, mismatches;
  uint64_t t0, t1;
};

static int periph_fn(uvble_task_t *t) {
  struct side *s = (struct side *)t;
  struct inst *in = s->in;
  UVBLE_CO_BEGIN(t);
  AWAIT_LOGGED(t, in, start_advertise(in, &s->f, &ready));
  s->conn = s->f.result.conn;
  AWAIT_LOGGED(t, in, start_service(&s->f, s->conn, SERVICE_UUID));
  s->svc = s->f.result.service;
  AWAIT_LOGGED(t, in, start_char(&s->f, s->svc, CHAR));
  s->client = s->f.result.characteristic;
  UVBLE_AWAIT(t, (uvble_sleep(&s->f, in->s, 500), &s->f));
  s->t0 = uv_now(&loop);
  for (s->i = 0; s->i < N; s->i++) {
    {
      char v[32];
      int n = snprintf(v, sizeof v, "peripheral%d", s->i);
      CHECK_EQ(uvble_characteristic_notify(s->server, s->conn, v, (size_t)n), 0);
    }
    AWAIT_LOGGED(t, in,
                 (uvble_client_characteristic_notified(&s->f, s->client, s->buf,
                                                       sizeof s->buf, TIMEOUT_MS),
                  &s->f));
    {
      char want[40];
      int n = snprintf(want, sizeof want, "centralperipheral%d", s->i);
      if (s->f.len != (size_t)n || memcmp(s->buf, want, (size_t)n) != 0)
        s->mismatches++;
    }
  }
  uv_update_time(&loop);
  s->t1 = uv_now(&loop);
  out(in, "acknowledged %d notifications, %d mismatched", N, s->mismatches);
  fprintf(stderr,
          "perf_gatt_notify: Acknowledged %d notifications in %llu ms. %llu "
          "ms/notification.\n",
          N, (unsigned long long)(s->t1 - s->t0),
          (unsigned long long)((s->t1 - s->t0) / N));
  AWAIT_LOGGED(t, in, (uvble_connection_disconnect(&s->f, s->conn, TIMEOUT_MS),
                       &s->f));
  UVBLE_CO_END(t);
}

static int central_fn(uvble_task_t *t) {
  struct side *s = (struct side *)t;
  struct inst *in = s->in;
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, &ready.f);
  AWAIT_CONNECT(t, in, &s->f, s->peer, s->tries);
  s->conn = s->f.result.conn;
  AWAIT_LOGGED(t, in, start_service(&s->f, s->conn, SERVICE_UUID));
  s->svc = s->f.result.service;
  AWAIT_LOGGED(t, in, start_char(&s->f, s->svc, CHAR));
  s->client = s->f.result.characteristic;
  for (s->i = 0; s->i < N; s->i++) {
    AWAIT_LOGGED(t, in,
                 (uvble_client_characteristic_notified(&s->f, s->client, s->buf,
                                                       sizeof s->buf, TIMEOUT_MS),
                  &s->f));
    {
      uint8_t v[80];
      memcpy(v, "central", 7);
      memcpy(v + 7, s->buf, s->f.len);
      CHECK_EQ(uvble_characteristic_notify(s->server, s->conn, v, 7 + s->f.len),
               0);
    }
  }
  AWAIT_LOGGED(t, in,
               (uvble_connection_disconnected(&s->f, s->conn, 20000), &s->f));
  out(in, "done");
  UVBLE_CO_END(t);
}

static void register_server(struct inst *in, uvble_characteristic_t **out_chr) {
  uvble_service_t *svc;
  uvble_uuid_t su = uuid(SERVICE_UUID), cu = uuid(CHAR);
  REQUIRE_EQ(uvble_service_new(in->a, &su, &svc), 0);
  uvble_characteristic_opts_t o = {.flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE |
                                            UVBLE_FLAG_NOTIFY |
                                            UVBLE_FLAG_INDICATE};
  REQUIRE_EQ(uvble_characteristic_new(svc, &cu, &o, out_chr), 0);
  REQUIRE_EQ(uvble_register_services(in->a, &svc, 1), 0);
}

TEST(perf_gatt_notify) {
  uv_loop_init(&loop);
  static struct inst i0, i1;
  inst_up(&i0);
  inst_up(&i1);
  barrier_init(&ready, i0.s);
  static struct side p, c;
  memset(&p, 0, sizeof p);
  memset(&c, 0, sizeof c);
  register_server(&i0, &p.server);
  register_server(&i1, &c.server);
  p.in = &i0;
  c.in = &i1;
  c.peer = &i0;
  REQUIRE_EQ(uvble_task_spawn(i0.s, &p.task, periph_fn, NULL), 0);
  REQUIRE_EQ(uvble_task_spawn(i1.s, &c.task, central_fn, NULL), 0);
  uvble_task_t *tasks[] = {&p.task, &c.task, NULL};
  CHECK(run_tasks(tasks, 60000));
  CHECK_STR(i0.log, "acknowledged 50 notifications, 0 mismatched\n");
  CHECK_STR(i1.log, "done\n");
  uvble_connection_release(p.conn);
  uvble_connection_release(c.conn);
  inst_down(&i0);
  inst_down(&i1);
  loop_teardown(&loop);
}

TEST_MAIN()
