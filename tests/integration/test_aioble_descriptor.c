/* SPDX-License-Identifier: Apache-2.0 */
/* aioble multitest ble_descriptor: characteristic and descriptor discovery
 * (the automatic CCCD included), descriptor read and write, written() on a
 * server descriptor. */
#include "test_aioble_common.h"

static const char *CHAR1 = "00000000-1111-2222-3333-444444444444";
static const char *CHAR1_DESC1 = "00000000-1111-2222-3333-444444444445";
static const char *CHAR1_DESC2 = "00000000-1111-2222-3333-444444444446";
static const char *CHAR2 = "00000000-1111-2222-3333-555555555555";
static const char *CHAR3 = "00000000-1111-2222-3333-666666666666";
static const char *CHAR3_DESC1 = "00000000-1111-2222-3333-666666666667";

static struct barrier ready;

struct periph {
  uvble_task_t task;
  struct inst *in;
  uvble_future_t f;
  uvble_descriptor_t *desc2;
  uvble_connection_t *conn;
};

static int periph_fn(uvble_task_t *t) {
  struct periph *p = (struct periph *)t;
  struct inst *in = p->in;
  UVBLE_CO_BEGIN(t);
  out(in, "advertise");
  AWAIT_LOGGED(t, in, start_advertise(in, &p->f, &ready));
  p->conn = p->f.result.conn;
  out(in, "connected");
  AWAIT_LOGGED(t, in,
               (uvble_descriptor_written(&p->f, p->desc2, NULL, 0, TIMEOUT_MS),
                &p->f));
  {
    uint8_t v[32];
    int n = uvble_descriptor_read(p->desc2, v, sizeof v);
    out(in, "written %s", pybytes(v, n > 0 ? (size_t)n : 0));
  }
  AWAIT_LOGGED(t, in,
               (uvble_connection_disconnected(&p->f, p->conn, TIMEOUT_MS), &p->f));
  out(in, "disconnected");
  UVBLE_CO_END(t);
}

/* Python's sorted() of the UUIDs as the .exp prints them: 16-bit first. */
static int uuid_cmp(const void *x, const void *y) {
  const uvble_uuid_t *a = x, *b = y;
  if (a->type != b->type) return a->type - b->type;
  char sa[UVBLE_UUID_STR_LEN], sb[UVBLE_UUID_STR_LEN];
  uvble_uuid_to_str(a, sa, sizeof sa);
  uvble_uuid_to_str(b, sb, sizeof sb);
  return strcmp(sa, sb);
}

static void print_sorted(struct inst *in, const char *label,
                         uvble_uuid_t *u, size_t n) {
  qsort(u, n, sizeof *u, uuid_cmp);
  char line[1024];
  size_t o = (size_t)snprintf(line, sizeof line, "%s [", label);
  for (size_t i = 0; i < n; i++)
    o += (size_t)snprintf(line + o, sizeof line - o, "%s%s", i ? ", " : "",
                          pyuuid(&u[i]));
  snprintf(line + o, sizeof line - o, "]");
  out(in, "%s", line);
}

struct central {
  uvble_task_t task;
  int tries;
  struct inst *in, *peer;
  uvble_future_t f;
  uvble_connection_t *conn;
  uvble_client_service_t *svc;
  uvble_client_characteristic_t *chars[8], *ch;
  uvble_client_descriptor_t *descs[8], *d;
  uint8_t buf[64];
};

static void print_chars(struct central *c) {
  uvble_uuid_t u[8];
  size_t n = c->f.len < 8 ? c->f.len : 8;
  for (size_t i = 0; i < n; i++) u[i] = c->chars[i]->uuid;
  print_sorted(c->in, "found", u, n);
}

static void print_descs(struct central *c, const char *label) {
  uvble_uuid_t u[8];
  size_t n = c->f.len < 8 ? c->f.len : 8;
  for (size_t i = 0; i < n; i++) u[i] = c->descs[i]->uuid;
  print_sorted(c->in, label, u, n);
}

#define DESCS(t, c, label)                                                     \
  do {                                                                         \
    AWAIT_LOGGED(t, (c)->in,                                                   \
                 (uvble_client_characteristic_descriptors(&(c)->f, (c)->ch,    \
                                                          (c)->descs, 8,       \
                                                          TIMEOUT_MS),         \
                  &(c)->f));                                                   \
    print_descs(c, label);                                                     \
  } while (0)

#define DESC(t, c, text)                                                       \
  do {                                                                         \
    uvble_uuid_t u_ = uuid(text);                                              \
    AWAIT_LOGGED(t, (c)->in,                                                   \
                 (uvble_client_characteristic_descriptor(&(c)->f, (c)->ch, &u_, \
                                                         TIMEOUT_MS),          \
                  &(c)->f));                                                   \
    (c)->d = (c)->f.result.descriptor;                                         \
  } while (0)

#define READ_DESC(t, c)                                                        \
  do {                                                                         \
    AWAIT_LOGGED(t, (c)->in,                                                   \
                 (uvble_client_descriptor_read(&(c)->f, (c)->d, (c)->buf,      \
                                               sizeof(c)->buf, TIMEOUT_MS),    \
                  &(c)->f));                                                   \
    out((c)->in, "read %s", pybytes((c)->buf, (c)->f.len));                    \
  } while (0)

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
  AWAIT_LOGGED(t, in,
               (uvble_client_service_characteristics(&c->f, c->svc, NULL, c->chars,
                                                     8, TIMEOUT_MS),
                &c->f));
  print_chars(c);

  AWAIT_LOGGED(t, in, start_char(&c->f, c->svc, CHAR1));
  c->ch = c->f.result.characteristic;
  out(in, "char1 %s", pyuuid(&c->ch->uuid));
  DESCS(t, c, "char1 descs");
  DESC(t, c, CHAR1_DESC1);
  out(in, "char1 desc1 %s", pyuuid(&c->d->uuid));
  READ_DESC(t, c);
  DESC(t, c, CHAR1_DESC2);
  out(in, "char1 desc2 %s", pyuuid(&c->d->uuid));
  READ_DESC(t, c);
  out(in, "write");
  AWAIT_LOGGED(t, in,
               (uvble_client_descriptor_write(&c->f, c->d, "update", 6, 0,
                                              TIMEOUT_MS),
                &c->f));

  AWAIT_LOGGED(t, in, start_char(&c->f, c->svc, CHAR2));
  c->ch = c->f.result.characteristic;
  out(in, "char2 %s", pyuuid(&c->ch->uuid));
  DESCS(t, c, "char2 descs");

  AWAIT_LOGGED(t, in, start_char(&c->f, c->svc, CHAR3));
  c->ch = c->f.result.characteristic;
  out(in, "char3 %s", pyuuid(&c->ch->uuid));
  DESCS(t, c, "char3 descs");
  DESC(t, c, CHAR3_DESC1);
  out(in, "char3 desc1 %s", pyuuid(&c->d->uuid));
  READ_DESC(t, c);

  out(in, "disconnect");
  AWAIT_LOGGED(t, in, (uvble_connection_disconnect(&c->f, c->conn, TIMEOUT_MS),
                       &c->f));
  out(in, "disconnected");
  UVBLE_CO_END(t);
}

static const char EXP0[] =
    "advertise\nconnected\nwritten b'update'\ndisconnected\n";

static const char EXP1[] =
    "connect\n"
    "service UUID('a5a5a5a5-ffff-9999-1111-5a5a5a5a5a5a')\n"
    "found [UUID('00000000-1111-2222-3333-444444444444'), "
    "UUID('00000000-1111-2222-3333-555555555555'), "
    "UUID('00000000-1111-2222-3333-666666666666')]\n"
    "char1 UUID('00000000-1111-2222-3333-444444444444')\n"
    "char1 descs [UUID(0x2902), UUID('00000000-1111-2222-3333-444444444445'), "
    "UUID('00000000-1111-2222-3333-444444444446')]\n"
    "char1 desc1 UUID('00000000-1111-2222-3333-444444444445')\n"
    "read b'char1_desc1'\n"
    "char1 desc2 UUID('00000000-1111-2222-3333-444444444446')\n"
    "read b'char1_desc2'\n"
    "write\n"
    "char2 UUID('00000000-1111-2222-3333-555555555555')\n"
    "char2 descs [UUID(0x2902)]\n"
    "char3 UUID('00000000-1111-2222-3333-666666666666')\n"
    "char3 descs [UUID(0x2902), UUID('00000000-1111-2222-3333-666666666667')]\n"
    "char3 desc1 UUID('00000000-1111-2222-3333-666666666667')\n"
    "read b'char3_desc1'\n"
    "disconnect\n"
    "disconnected\n";

TEST(ble_descriptor) {
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
  uint16_t all = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE | UVBLE_FLAG_NOTIFY |
                 UVBLE_FLAG_INDICATE;
  uvble_characteristic_opts_t o = {.flags = all};
  uvble_characteristic_t *c1, *c2, *c3;
  uvble_descriptor_t *d;
  uvble_uuid_t u;
  u = uuid(CHAR1);
  REQUIRE_EQ(uvble_characteristic_new(svc, &u, &o, &c1), 0);
  u = uuid(CHAR1_DESC1);
  REQUIRE_EQ(uvble_descriptor_new(c1, &u, UVBLE_FLAG_READ, NULL, 0, false, &d),
             0);
  REQUIRE_EQ(uvble_descriptor_write(d, "char1_desc1", 11), 0);
  u = uuid(CHAR1_DESC2);
  REQUIRE_EQ(uvble_descriptor_new(c1, &u, UVBLE_FLAG_READ | UVBLE_FLAG_WRITE,
                                  NULL, 0, false, &p.desc2),
             0);
  REQUIRE_EQ(uvble_descriptor_write(p.desc2, "char1_desc2", 11), 0);
  u = uuid(CHAR2);
  REQUIRE_EQ(uvble_characteristic_new(svc, &u, &o, &c2), 0);
  u = uuid(CHAR3);
  REQUIRE_EQ(uvble_characteristic_new(svc, &u, &o, &c3), 0);
  u = uuid(CHAR3_DESC1);
  REQUIRE_EQ(uvble_descriptor_new(c3, &u, UVBLE_FLAG_READ, "char3_desc1", 11,
                                  false, &d),
             0);
  REQUIRE_EQ(uvble_register_services(i0.a, &svc, 1), 0);
  /* Handles in declaration order: value, descriptors, next value... */
  CHECK(uvble_characteristic_handle(c1) < uvble_descriptor_handle(p.desc2));
  CHECK(uvble_descriptor_handle(p.desc2) < uvble_characteristic_handle(c2));
  CHECK(uvble_characteristic_handle(c3) < uvble_descriptor_handle(d));

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
