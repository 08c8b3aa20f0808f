/* SPDX-License-Identifier: Apache-2.0 */
/* aioble multitest ble_shutdown: three cycles of register -> advertise ->
 * connect -> three L2CAP channels (accept / connect, send, recvinto,
 * disconnect) -> disconnect -> stop (aioble.stop()), then start again; the
 * state must reset cleanly each time. */
#include "test_aioble_common.h"

static const char *CHAR = "00000000-1111-2222-3333-444444444444";
#define PSM 22
#define MTU 128

struct sync {
  struct barrier connect[3], connected[3], recv[3][3];
};
static struct sync sy;

struct periph {
  uvble_task_t task;
  struct inst *in;
  uvble_future_t f;
  uvble_service_t *svc;
  uvble_characteristic_t *chr;
  uvble_connection_t *conn;
  uvble_l2cap_channel_t *ch;
  uint8_t buf[10];
  int i, j;
};

static int periph_fn(uvble_task_t *t) {
  struct periph *p = (struct periph *)t;
  struct inst *in = p->in;
  UVBLE_CO_BEGIN(t);
  for (p->i = 0; p->i < 3; p->i++) {
    {
      /* New objects each cycle, as aioble's script makes. */
      uvble_uuid_t su = uuid(SERVICE_UUID), cu = uuid(CHAR);
      if (p->svc) uvble_service_free(p->svc);
      CHECK_EQ(uvble_service_new(in->a, &su, &p->svc), 0);
      uvble_characteristic_opts_t o = {.flags = UVBLE_FLAG_READ};
      CHECK_EQ(uvble_characteristic_new(p->svc, &cu, &o, &p->chr), 0);
      CHECK_EQ(uvble_register_services(in->a, &p->svc, 1), 0);
      char v[16];
      int n = snprintf(v, sizeof v, "periph%d", p->i);
      uvble_characteristic_write(p->chr, v, (size_t)n, false);
    }
    out(in, "advertise");
    AWAIT_LOGGED(t, in, start_advertise(in, &p->f, &sy.connect[p->i]));
    p->conn = p->f.result.conn;
    out(in, "connected");
    barrier_set(&sy.connected[p->i]);
    for (p->j = 0; p->j < 3; p->j++) {
      AWAIT_LOGGED(t, in,
                   (uvble_connection_l2cap_accept(&p->f, p->conn, PSM, MTU,
                                                  TIMEOUT_MS),
                    &p->f));
      p->ch = p->f.result.channel;
      out(in, "channel accepted");
      CHECK_EQ(uvble_l2cap_channel_our_mtu(p->ch), MTU);
      AWAIT_LOGGED(t, in,
                   (uvble_l2cap_channel_recvinto(&p->f, p->ch, p->buf,
                                                 sizeof p->buf, TIMEOUT_MS),
                    &p->f));
      out(in, "recv %zu bytearray(%s)", p->f.len, pybytes(p->buf, p->f.len));
      barrier_set(&sy.recv[p->i][p->j]);
      AWAIT_LOGGED(t, in,
                   (uvble_l2cap_channel_disconnected(&p->f, p->ch, 5000), &p->f));
      out(in, "channel disconnected");
      uvble_l2cap_channel_free(p->ch);
      p->ch = NULL;
    }
    AWAIT_LOGGED(t, in,
                 (uvble_connection_disconnected(&p->f, p->conn, TIMEOUT_MS),
                  &p->f));
    out(in, "disconnected");
    uvble_connection_release(p->conn);
    p->conn = NULL;
    out(in, "shutdown");
    AWAIT_LOGGED(t, in, (uvble_async_stop(&p->f, in->a, TIMEOUT_MS), &p->f));
    CHECK(!uvble_is_active(in->ble));
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
  uvble_client_characteristic_t *chr;
  uvble_l2cap_channel_t *ch;
  uint8_t buf[32];
  char msg[16];
  int i, j;
};

static int central_fn(uvble_task_t *t) {
  struct central *c = (struct central *)t;
  struct inst *in = c->in;
  UVBLE_CO_BEGIN(t);
  for (c->i = 0; c->i < 3; c->i++) {
    UVBLE_AWAIT(t, &sy.connect[c->i].f);
    out(in, "connect");
    AWAIT_CONNECT(t, in, &c->f, c->peer, c->tries);
    c->conn = c->f.result.conn;
    UVBLE_AWAIT(t, &sy.connected[c->i].f);
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
    for (c->j = 0; c->j < 3; c->j++) {
      out(in, "connecting channel");
      AWAIT_LOGGED(t, in,
                   (uvble_connection_l2cap_connect(&c->f, c->conn, PSM, MTU,
                                                   TIMEOUT_MS),
                    &c->f));
      c->ch = c->f.result.channel;
      out(in, "channel connected");
      snprintf(c->msg, sizeof c->msg, "l2cap-%d-%d", c->i, c->j);
      AWAIT_LOGGED(t, in,
                   (uvble_l2cap_channel_send(&c->f, c->ch, c->msg,
                                             strlen(c->msg), 0, TIMEOUT_MS),
                    &c->f));
      AWAIT_LOGGED(t, in,
                   (uvble_l2cap_channel_flush(&c->f, c->ch, TIMEOUT_MS), &c->f));
      UVBLE_AWAIT(t, &sy.recv[c->i][c->j].f);
      out(in, "disconnecting channel");
      AWAIT_LOGGED(t, in,
                   (uvble_l2cap_channel_disconnect(&c->f, c->ch, TIMEOUT_MS),
                    &c->f));
      out(in, "channel disconnected");
      uvble_l2cap_channel_free(c->ch);
      c->ch = NULL;
      UVBLE_AWAIT(t, (uvble_sleep(&c->f, in->s, 100), &c->f));
    }
    out(in, "disconnect");
    AWAIT_LOGGED(t, in, (uvble_connection_disconnect(&c->f, c->conn, TIMEOUT_MS),
                         &c->f));
    out(in, "disconnected");
    uvble_connection_release(c->conn);
    c->conn = NULL;
    out(in, "shutdown");
    AWAIT_LOGGED(t, in, (uvble_async_stop(&c->f, in->a, TIMEOUT_MS), &c->f));
    AWAIT_LOGGED(t, in, (uvble_async_start(&c->f, in->a, TIMEOUT_MS), &c->f));
  }
  UVBLE_CO_END(t);
}

TEST(ble_shutdown) {
  uv_loop_init(&loop);
  static struct inst i0, i1;
  inst_up(&i0);
  inst_up(&i1);
  memset(&sy, 0, sizeof sy);
  for (int i = 0; i < 3; i++) {
    barrier_init(&sy.connect[i], i0.s);
    barrier_init(&sy.connected[i], i0.s);
    for (int j = 0; j < 3; j++) barrier_init(&sy.recv[i][j], i0.s);
  }
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
  CHECK(run_tasks(tasks, 60000));

  char exp0[4096] = "", exp1[4096] = "";
  size_t o0 = 0, o1 = 0;
  for (int i = 0; i < 3; i++) {
    o0 += (size_t)snprintf(exp0 + o0, sizeof exp0 - o0, "advertise\nconnected\n");
    o1 += (size_t)snprintf(
        exp1 + o1, sizeof exp1 - o1,
        "connect\nservice UUID('a5a5a5a5-ffff-9999-1111-5a5a5a5a5a5a')\n"
        "characteristic UUID('00000000-1111-2222-3333-444444444444')\n"
        "read b'periph%d'\n",
        i);
    for (int j = 0; j < 3; j++) {
      o0 += (size_t)snprintf(exp0 + o0, sizeof exp0 - o0,
                             "channel accepted\n"
                             "recv 9 bytearray(b'l2cap-%d-%d')\n"
                             "channel disconnected\n",
                             i, j);
      o1 += (size_t)snprintf(exp1 + o1, sizeof exp1 - o1,
                             "connecting channel\nchannel connected\n"
                             "disconnecting channel\nchannel disconnected\n");
    }
    o0 += (size_t)snprintf(exp0 + o0, sizeof exp0 - o0, "disconnected\nshutdown\n");
    o1 += (size_t)snprintf(exp1 + o1, sizeof exp1 - o1,
                           "disconnect\ndisconnected\nshutdown\n");
  }
  CHECK_STR(i0.log, exp0);
  CHECK_STR(i1.log, exp1);
  /* Everything of the three cycles is gone (the last service stays). */
  uvble_async_stats_t st;
  uvble_async_get_stats(i0.a, &st);
  CHECK_EQ(st.connections, 3);
  CHECK_EQ(st.live_connections, 0);
  uvble_async_get_stats(i1.a, &st);
  CHECK_EQ(st.live_connections, 0);
  inst_down(&i0);
  inst_down(&i1);
  loop_teardown(&loop);
}

TEST_MAIN()
