/* SPDX-License-Identifier: Apache-2.0 */
/* aioble multitest ble_bond: pairing with bonding (both sides keep their
 * secrets in the built-in bond store, aioble's ble_secrets.json), then
 * reading a READ_ENCRYPTED characteristic. Beyond aioble's script: after
 * disconnecting, the central reconnects and pair() re-encrypts from the
 * stored keys (bonded stays 1). */
#include <sys/stat.h>
#include <unistd.h>

#include "test_aioble_common.h"
#include "uvble/security.h"

static const char *CHAR = "00000000-1111-2222-3333-444444444444";

static struct barrier ready, again;
static char dir[64];

struct periph {
  uvble_task_t task;
  struct inst *in;
  uvble_future_t f;
  uvble_connection_t *conn;
  int i, round;
};

static int periph_fn(uvble_task_t *t) {
  struct periph *p = (struct periph *)t;
  struct inst *in = p->in;
  UVBLE_CO_BEGIN(t);
  for (p->round = 0; p->round < 2; p->round++) {
    if (p->round == 0) out(in, "advertise");
    AWAIT_LOGGED(t, in,
                 start_advertise(in, &p->f, p->round ? &again : &ready));
    p->conn = p->f.result.conn;
    if (p->round == 0) {
      out(in, "connected");
      out(in, "wait_for_bonding");
    }
    for (p->i = 0; p->i < 50 && !uvble_connection_encrypted(p->conn); p->i++)
      UVBLE_AWAIT(t, (uvble_sleep(&p->f, in->s, 100), &p->f));
    UVBLE_AWAIT(t, (uvble_sleep(&p->f, in->s, 500), &p->f));
    if (uvble_connection_encrypted(p->conn))
      out(in, "%s encrypted=1 authenticated=%d bonded=%d",
          p->round ? "reconnected" : "bonded",
          uvble_connection_authenticated(p->conn),
          uvble_connection_bonded(p->conn));
    else
      out(in, "bonding_timeout");
    AWAIT_LOGGED(t, in, (uvble_connection_disconnected(&p->f, p->conn,
                                                       TIMEOUT_MS),
                         &p->f));
    if (p->round == 0) out(in, "disconnected");
    uvble_connection_release(p->conn);
    p->conn = NULL;
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
  uint8_t buf[32];
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
  out(in, "bond");
  {
    uvble_pair_params_t pp;
    uvble_pair_params_default(&pp); /* bond, le_secure, no mitm */
    uvble_connection_pair(&c->f, c->conn, &pp, TIMEOUT_MS);
  }
  AWAIT_LOGGED(t, in, &c->f);
  UVBLE_AWAIT(t, (uvble_sleep(&c->f, in->s, 500), &c->f));
  out(in, "bonded encrypted=%d authenticated=%d bonded=%d",
      uvble_connection_encrypted(c->conn),
      uvble_connection_authenticated(c->conn), uvble_connection_bonded(c->conn));
  out(in, "read_encrypted");
  AWAIT_LOGGED(t, in,
               (uvble_client_characteristic_read(&c->f, c->chr, c->buf,
                                                 sizeof c->buf, TIMEOUT_MS),
                &c->f));
  out(in, "read %s", pybytes(c->buf, c->f.len));
  {
    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/central.store", dir);
    out(in, "secrets_exist %s", stat(path, &st) == 0 ? "yes" : "no");
  }
  out(in, "disconnect");
  AWAIT_LOGGED(t, in, (uvble_connection_disconnect(&c->f, c->conn, TIMEOUT_MS),
                       &c->f));
  out(in, "disconnected");
  uvble_connection_release(c->conn);
  c->conn = NULL;

  /* Again: the stored keys encrypt the new link. */
  UVBLE_AWAIT(t, &again.f);
  AWAIT_CONNECT(t, in, &c->f, c->peer, c->tries);
  c->conn = c->f.result.conn;
  AWAIT_LOGGED(t, in, (uvble_connection_pair(&c->f, c->conn, NULL, TIMEOUT_MS),
                       &c->f));
  out(in, "reconnected encrypted=%d authenticated=%d bonded=%d",
      uvble_connection_encrypted(c->conn),
      uvble_connection_authenticated(c->conn), uvble_connection_bonded(c->conn));
  AWAIT_LOGGED(t, in, (uvble_connection_disconnect(&c->f, c->conn, TIMEOUT_MS),
                       &c->f));
  uvble_connection_release(c->conn);
  c->conn = NULL;
  UVBLE_CO_END(t);
}

static void open_store(struct inst *in, const char *name) {
  char path[128], key[128], err[256] = "";
  snprintf(path, sizeof path, "%s/%s.store", dir, name);
  snprintf(key, sizeof key, "%s/%s.key", dir, name);
  int r = uvble_bond_store_open(in->ble, path, key, NULL, err, sizeof err);
  if (r < 0) fprintf(stderr, "  bond store: %s\n", err);
  REQUIRE_EQ(r, 0);
}

static void rm_dir(void) {
  const char *names[] = {"central.store", "central.key", "periph.store",
                         "periph.key"};
  char path[128];
  for (int i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  rmdir(dir);
}

TEST(ble_bond) {
  snprintf(dir, sizeof dir, "/tmp/uvble-aioble-bond-XXXXXX");
  REQUIRE(mkdtemp(dir) != NULL);
  uv_loop_init(&loop);
  static struct inst i0, i1;
  inst_up(&i0);
  inst_up(&i1);
  open_store(&i0, "periph");
  open_store(&i1, "central");
  barrier_init(&ready, i0.s);
  barrier_init(&again, i0.s);
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
      .initial = "bonded_data",
      .initial_len = 11};
  REQUIRE_EQ(uvble_characteristic_new(svc, &cu, &o, &chr), 0);
  REQUIRE_EQ(uvble_register_services(i0.a, &svc, 1), 0);
  p.in = &i0;
  c.in = &i1;
  c.peer = &i0;
  REQUIRE_EQ(uvble_task_spawn(i0.s, &p.task, periph_fn, NULL), 0);
  REQUIRE_EQ(uvble_task_spawn(i1.s, &c.task, central_fn, NULL), 0);
  uvble_task_t *tasks[] = {&p.task, &c.task, NULL};
  CHECK(run_tasks(tasks, 40000));
  CHECK_STR(i0.log,
            "advertise\nconnected\nwait_for_bonding\n"
            "bonded encrypted=1 authenticated=0 bonded=1\ndisconnected\n"
            "reconnected encrypted=1 authenticated=0 bonded=1\n");
  CHECK_STR(i1.log,
            "connect\n"
            "service UUID('a5a5a5a5-ffff-9999-1111-5a5a5a5a5a5a')\n"
            "characteristic UUID('00000000-1111-2222-3333-444444444444')\n"
            "bond\n"
            "bonded encrypted=1 authenticated=0 bonded=1\n"
            "read_encrypted\n"
            "read b'bonded_data'\n"
            "secrets_exist yes\n"
            "disconnect\n"
            "disconnected\n"
            "reconnected encrypted=1 authenticated=0 bonded=1\n");
  inst_down(&i0);
  inst_down(&i1);
  loop_teardown(&loop);
  rm_dir();
}

TEST_MAIN()
