/* SPDX-License-Identifier: Apache-2.0 */
/* aioble multitest ble_pair: Just Works pairing without bonding from the
 * central, then reading a READ_ENCRYPTED characteristic; the peripheral
 * watches the connection's security attributes. Also: a read of that
 * characteristic before pairing fails with the ATT error as the peer sent
 * it (UVBLE_EATT, Insufficient Encryption). */
#include "test_aioble_common.h"

static const char *CHAR = "00000000-1111-2222-3333-444444444444";

static struct barrier ready;

struct periph {
  uvble_task_t task;
  struct inst *in;
  uvble_future_t f;
  uvble_connection_t *conn;
  int i;
};

static int periph_fn(uvble_task_t *t) {
  struct periph *p = (struct periph *)t;
  struct inst *in = p->in;
  UVBLE_CO_BEGIN(t);
  out(in, "advertise");
  AWAIT_LOGGED(t, in, start_advertise(in, &p->f, &ready));
  p->conn = p->f.result.conn;
  out(in, "connected");
  out(in, "wait_for_pairing");
  for (p->i = 0; p->i < 50 && !uvble_connection_encrypted(p->conn); p->i++)
    UVBLE_AWAIT(t, (uvble_sleep(&p->f, in->s, 100), &p->f));
  UVBLE_AWAIT(t, (uvble_sleep(&p->f, in->s, 200), &p->f));
  if (uvble_connection_encrypted(p->conn))
    out(in, "paired encrypted=1 authenticated=%d bonded=%d",
        uvble_connection_authenticated(p->conn),
        uvble_connection_bonded(p->conn));
  else
    out(in, "pairing_timeout");
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
  uvble_client_characteristic_t *chr;
  uint8_t buf[64];
};

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
  AWAIT_LOGGED(t, in, start_char(&c->f, c->svc, CHAR));
  c->chr = c->f.result.characteristic;
  out(in, "characteristic %s", pyuuid(&c->chr->uuid));

  /* Not in aioble's script: unencrypted, the read is refused. */
  UVBLE_AWAIT(t, (uvble_client_characteristic_read(&c->f, c->chr, c->buf,
                                                   sizeof c->buf, TIMEOUT_MS),
                  &c->f));
  CHECK_EQ(c->f.status, UVBLE_EATT);
  CHECK_EQ(c->f.proto_status, UVBLE_ATT_ERR_INSUFFICIENT_ENCRYPTION);

  out(in, "pair");
  {
    uvble_pair_params_t pp;
    uvble_pair_params_default(&pp);
    pp.bond = false;
    uvble_connection_pair(&c->f, c->conn, &pp, TIMEOUT_MS);
  }
  AWAIT_LOGGED(t, in, &c->f);
  UVBLE_AWAIT(t, (uvble_sleep(&c->f, in->s, 200), &c->f));
  out(in, "paired encrypted=%d authenticated=%d bonded=%d",
      uvble_connection_encrypted(c->conn),
      uvble_connection_authenticated(c->conn), uvble_connection_bonded(c->conn));
  CHECK_EQ(uvble_connection_key_size(c->conn), 16);

  out(in, "read_encrypted");
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
    "wait_for_pairing\n"
    "paired encrypted=1 authenticated=0 bonded=0\n"
    "disconnected\n";

static const char EXP1[] =
    "connect\n"
    "service UUID('a5a5a5a5-ffff-9999-1111-5a5a5a5a5a5a')\n"
    "characteristic UUID('00000000-1111-2222-3333-444444444444')\n"
    "pair\n"
    "paired encrypted=1 authenticated=0 bonded=0\n"
    "read_encrypted\n"
    "read b'encrypted_data'\n"
    "disconnect\n"
    "disconnected\n";

TEST(ble_pair) {
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
  uvble_characteristic_t *chr;
  uvble_uuid_t su = uuid(SERVICE_UUID), cu = uuid(CHAR);
  REQUIRE_EQ(uvble_service_new(i0.a, &su, &svc), 0);
  uvble_characteristic_opts_t o = {
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_READ_ENCRYPTED,
      .initial = "encrypted_data",
      .initial_len = 14};
  REQUIRE_EQ(uvble_characteristic_new(svc, &cu, &o, &chr), 0);
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
