/* SPDX-License-Identifier: Apache-2.0 */
/* L2CAP channels through the async layer on btvirt:
 *  - MicroPython's ble_l2cap scenario: 16 payloads from 400 down to 55
 *    bytes each way over a channel with MTU 450 (3640 bytes), then the
 *    central disconnects the channel;
 *  - aioble's perf_l2cap: 20 x 512 bytes from the peripheral in one send()
 *    split into SDUs of min(our_mtu * 2, peer_mtu) bytes, waiting for
 *    credits, received whole and in order;
 *  - an l2cap_connect to a PSM nobody listens on fails with UVBLE_EL2CAP
 *    and the peer's result code;
 *  - with uvble_async_l2cap_listen, a channel the central opens (and sends
 *    on) before the peripheral calls accept waits in the backlog, data
 *    included. */
#include "test_aioble_common.h"

#define PSM 22

static struct barrier ready, accepting;

static uint8_t pattern(size_t i) { return (uint8_t)(i * 7 + (i >> 8)); }

struct side {
  uvble_task_t task;
  int tries;
  struct inst *in, *peer;
  uvble_future_t f;
  uvble_connection_t *conn;
  uvble_l2cap_channel_t *ch;
  uint8_t buf[600];
  uint8_t big[20 * 512];
  size_t got;
  int i;
  bool bad;
  uint16_t mtu;
  size_t total_out;
};

static size_t payload_len(int i) { return (size_t)(400 - 23 * i); }

/* Receives total bytes, checking the pattern. */
#define RECV_ALL(t, s, total)                                                 \
  do {                                                                        \
    for ((s)->got = 0; (s)->got < (total);) {                                 \
      AWAIT_LOGGED(t, (s)->in,                                                \
                   (uvble_l2cap_channel_recvinto(&(s)->f, (s)->ch, (s)->buf,  \
                                                 sizeof(s)->buf, TIMEOUT_MS), \
                    &(s)->f));                                                \
      for (size_t k_ = 0; k_ < (s)->f.len; k_++)                              \
        if ((s)->buf[k_] != pattern((s)->got + k_)) (s)->bad = true;          \
      (s)->got += (s)->f.len;                                                 \
    }                                                                         \
  } while (0)

static int periph_fn(uvble_task_t *t) {
  struct side *s = (struct side *)t;
  struct inst *in = s->in;
  UVBLE_CO_BEGIN(t);
  AWAIT_LOGGED(t, in, start_advertise(in, &s->f, &ready));
  s->conn = s->f.result.conn;
  uvble_connection_l2cap_accept(&s->f, s->conn, PSM, s->mtu, TIMEOUT_MS);
  barrier_set(&accepting);
  AWAIT_LOGGED(t, in, &s->f);
  s->ch = s->f.result.channel;
  out(in, "accept %u %u", uvble_l2cap_channel_our_mtu(s->ch),
      uvble_l2cap_channel_peer_mtu(s->ch));
  if (s->mtu == 450) {
    RECV_ALL(t, s, 3640);
    out(in, "received %zu%s", s->got, s->bad ? " corrupt" : "");
    /* And back, from the peripheral. */
    for (s->i = 0, s->total_out = 0; s->i < 16; s->i++) {
      for (size_t k = 0; k < payload_len(s->i); k++)
        s->buf[k] = pattern(s->total_out + k);
      AWAIT_LOGGED(t, in,
                   (uvble_l2cap_channel_send(&s->f, s->ch, s->buf,
                                             payload_len(s->i), 0, TIMEOUT_MS),
                    &s->f));
      s->total_out += payload_len(s->i);
    }
  } else {
    for (size_t k = 0; k < sizeof s->big; k++) s->big[k] = pattern(k);
    AWAIT_LOGGED(t, in,
                 (uvble_l2cap_channel_send(&s->f, s->ch, s->big, sizeof s->big,
                                           0, 20000),
                  &s->f));
    out(in, "sent %zu", s->f.len);
    AWAIT_LOGGED(t, in, (uvble_l2cap_channel_flush(&s->f, s->ch, 20000), &s->f));
  }
  AWAIT_LOGGED(t, in, (uvble_l2cap_channel_disconnected(&s->f, s->ch, 20000),
                       &s->f));
  out(in, "channel disconnected %d", s->f.proto_status);
  AWAIT_LOGGED(t, in,
               (uvble_connection_disconnected(&s->f, s->conn, TIMEOUT_MS), &s->f));
  out(in, "disconnected");
  UVBLE_CO_END(t);
}

static int central_fn(uvble_task_t *t) {
  struct side *s = (struct side *)t;
  struct inst *in = s->in;
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, &ready.f);
  AWAIT_CONNECT(t, in, &s->f, s->peer, s->tries);
  s->conn = s->f.result.conn;
  UVBLE_AWAIT(t, &accepting.f);
  AWAIT_LOGGED(t, in,
               (uvble_connection_l2cap_connect(&s->f, s->conn, PSM, s->mtu,
                                               TIMEOUT_MS),
                &s->f));
  s->ch = s->f.result.channel;
  out(in, "connect %u %u", uvble_l2cap_channel_our_mtu(s->ch),
      uvble_l2cap_channel_peer_mtu(s->ch));
  if (s->mtu == 450) {
    for (s->i = 0, s->total_out = 0; s->i < 16; s->i++) {
      for (size_t k = 0; k < payload_len(s->i); k++)
        s->buf[k] = pattern(s->total_out + k);
      AWAIT_LOGGED(t, in,
                   (uvble_l2cap_channel_send(&s->f, s->ch, s->buf,
                                             payload_len(s->i), 0, TIMEOUT_MS),
                    &s->f));
      s->total_out += payload_len(s->i);
    }
    RECV_ALL(t, s, 3640);
    out(in, "received %zu%s", s->got, s->bad ? " corrupt" : "");
  } else {
    RECV_ALL(t, s, sizeof s->big);
    out(in, "received %zu%s", s->got, s->bad ? " corrupt" : "");
  }
  AWAIT_LOGGED(t, in, (uvble_l2cap_channel_disconnect(&s->f, s->ch, TIMEOUT_MS),
                       &s->f));
  out(in, "channel disconnected");
  CHECK(!uvble_l2cap_channel_is_open(s->ch));
  /* A closed channel refuses I/O with the L2CAP-closed kind. */
  CHECK_EQ(uvble_l2cap_channel_recvinto(&s->f, s->ch, s->buf, 10, 0),
           UVBLE_EL2CAPCLOSED);
  AWAIT_LOGGED(t, in, (uvble_connection_disconnect(&s->f, s->conn, TIMEOUT_MS),
                       &s->f));
  out(in, "disconnected");
  UVBLE_CO_END(t);
}

static void run(uint16_t mtu, const char *exp0, const char *exp1) {
  uv_loop_init(&loop);
  static struct inst i0, i1;
  inst_up(&i0);
  inst_up(&i1);
  barrier_init(&ready, i0.s);
  barrier_init(&accepting, i0.s);
  static struct side p, c;
  memset(&p, 0, sizeof p);
  memset(&c, 0, sizeof c);
  p.in = &i0;
  c.in = &i1;
  c.peer = &i0;
  p.mtu = c.mtu = mtu;
  REQUIRE_EQ(uvble_task_spawn(i0.s, &p.task, periph_fn, NULL), 0);
  REQUIRE_EQ(uvble_task_spawn(i1.s, &c.task, central_fn, NULL), 0);
  uvble_task_t *tasks[] = {&p.task, &c.task, NULL};
  CHECK(run_tasks(tasks, 60000));
  CHECK_STR(i0.log, exp0);
  CHECK_STR(i1.log, exp1);
  uvble_l2cap_channel_free(p.ch);
  uvble_l2cap_channel_free(c.ch);
  uvble_connection_release(p.conn);
  uvble_connection_release(c.conn);
  inst_down(&i0);
  inst_down(&i1);
  loop_teardown(&loop);
}

TEST(ble_l2cap_sixteen_payloads_each_way) {
  run(450,
      "accept 450 450\nreceived 3640\nchannel disconnected 0\ndisconnected\n",
      "connect 450 450\nreceived 3640\nchannel disconnected\ndisconnected\n");
}

TEST(perf_l2cap_ten_kilobytes_in_one_send) {
  run(512,
      "accept 512 512\nsent 10240\nchannel disconnected 0\ndisconnected\n",
      "connect 512 512\nreceived 10240\nchannel disconnected\ndisconnected\n");
}

/* ---- refused ------------------------------------------------------------------ */
struct refused {
  uvble_task_t task;
  int tries;
  struct inst *in, *peer;
  uvble_future_t f;
  uvble_connection_t *conn;
};

static int refused_periph_fn(uvble_task_t *t) {
  struct refused *r = (struct refused *)t;
  UVBLE_CO_BEGIN(t);
  AWAIT_LOGGED(t, r->in, start_advertise(r->in, &r->f, &ready));
  r->conn = r->f.result.conn;
  AWAIT_LOGGED(t, r->in,
               (uvble_connection_disconnected(&r->f, r->conn, TIMEOUT_MS), &r->f));
  UVBLE_CO_END(t);
}

static int refused_central_fn(uvble_task_t *t) {
  struct refused *r = (struct refused *)t;
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, &ready.f);
  AWAIT_CONNECT(t, r->in, &r->f, r->peer, r->tries);
  r->conn = r->f.result.conn;
  UVBLE_AWAIT(t, (uvble_connection_l2cap_connect(&r->f, r->conn, 0x55, 100,
                                                 TIMEOUT_MS),
                  &r->f));
  out(r->in, "l2cap_connect %s %d", uvble_err_name(r->f.status),
      r->f.proto_status);
  AWAIT_LOGGED(t, r->in, (uvble_connection_disconnect(&r->f, r->conn, TIMEOUT_MS),
                          &r->f));
  UVBLE_CO_END(t);
}

TEST(l2cap_connect_to_a_psm_nobody_listens_on) {
  uv_loop_init(&loop);
  static struct inst i0, i1;
  inst_up(&i0);
  inst_up(&i1);
  barrier_init(&ready, i0.s);
  static struct refused p, c;
  memset(&p, 0, sizeof p);
  memset(&c, 0, sizeof c);
  p.in = &i0;
  c.in = &i1;
  c.peer = &i0;
  REQUIRE_EQ(uvble_task_spawn(i0.s, &p.task, refused_periph_fn, NULL), 0);
  REQUIRE_EQ(uvble_task_spawn(i1.s, &c.task, refused_central_fn, NULL), 0);
  uvble_task_t *tasks[] = {&p.task, &c.task, NULL};
  CHECK(run_tasks(tasks, 20000));
  /* 0x0002: SPSM not supported. */
  CHECK_STR(i1.log, "l2cap_connect EL2CAP 2\n");
  uvble_connection_release(p.conn);
  uvble_connection_release(c.conn);
  inst_down(&i0);
  inst_down(&i1);
  loop_teardown(&loop);
}

/* ---- listen before accept ------------------------------------------------------- */
static struct barrier sent;

static int early_periph_fn(uvble_task_t *t) {
  struct side *s = (struct side *)t;
  struct inst *in = s->in;
  UVBLE_CO_BEGIN(t);
  CHECK_EQ(uvble_async_l2cap_listen(in->a, PSM, 200), 0);
  CHECK_EQ(uvble_async_l2cap_listen(in->a, PSM, 200), UVBLE_EALREADY);
  CHECK_EQ(uvble_async_l2cap_listen(in->a, 0x100, 200), UVBLE_EINVAL);
  AWAIT_LOGGED(t, in, start_advertise(in, &s->f, &ready));
  s->conn = s->f.result.conn;
  /* Accept only once the central's channel is open and its data sent. */
  UVBLE_AWAIT(t, &sent.f);
  AWAIT_LOGGED(t, in, (uvble_connection_l2cap_accept(&s->f, s->conn, PSM, 200,
                                                     TIMEOUT_MS),
                       &s->f));
  s->ch = s->f.result.channel;
  out(in, "accept %u %u", uvble_l2cap_channel_our_mtu(s->ch),
      uvble_l2cap_channel_peer_mtu(s->ch));
  RECV_ALL(t, s, 300);
  out(in, "received %zu%s", s->got, s->bad ? " corrupt" : "");
  AWAIT_LOGGED(t, in,
               (uvble_connection_disconnected(&s->f, s->conn, TIMEOUT_MS), &s->f));
  out(in, "disconnected");
  UVBLE_CO_END(t);
}

static int early_central_fn(uvble_task_t *t) {
  struct side *s = (struct side *)t;
  struct inst *in = s->in;
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, &ready.f);
  AWAIT_CONNECT(t, in, &s->f, s->peer, s->tries);
  s->conn = s->f.result.conn;
  /* At once: no wait for the peripheral's accept. */
  AWAIT_LOGGED(t, in,
               (uvble_connection_l2cap_connect(&s->f, s->conn, PSM, 200,
                                               TIMEOUT_MS),
                &s->f));
  s->ch = s->f.result.channel;
  out(in, "connect %u %u", uvble_l2cap_channel_our_mtu(s->ch),
      uvble_l2cap_channel_peer_mtu(s->ch));
  for (size_t k = 0; k < 300; k++) s->buf[k] = pattern(k);
  AWAIT_LOGGED(t, in, (uvble_l2cap_channel_send(&s->f, s->ch, s->buf, 300, 0,
                                                TIMEOUT_MS),
                       &s->f));
  AWAIT_LOGGED(t, in, (uvble_l2cap_channel_flush(&s->f, s->ch, TIMEOUT_MS),
                       &s->f));
  /* Let the data reach the peer before it accepts. */
  UVBLE_AWAIT(t, (uvble_sleep(&s->f, in->s, 200), &s->f));
  barrier_set(&sent);
  UVBLE_AWAIT(t, (uvble_sleep(&s->f, in->s, 500), &s->f));
  AWAIT_LOGGED(t, in, (uvble_connection_disconnect(&s->f, s->conn, TIMEOUT_MS),
                       &s->f));
  out(in, "disconnected");
  UVBLE_CO_END(t);
}

TEST(a_channel_opened_before_accept_waits_in_the_backlog) {
  uv_loop_init(&loop);
  static struct inst i0, i1;
  inst_up(&i0);
  inst_up(&i1);
  barrier_init(&ready, i0.s);
  barrier_init(&sent, i0.s);
  static struct side p, c;
  memset(&p, 0, sizeof p);
  memset(&c, 0, sizeof c);
  p.in = &i0;
  c.in = &i1;
  c.peer = &i0;
  REQUIRE_EQ(uvble_task_spawn(i0.s, &p.task, early_periph_fn, NULL), 0);
  REQUIRE_EQ(uvble_task_spawn(i1.s, &c.task, early_central_fn, NULL), 0);
  uvble_task_t *tasks[] = {&p.task, &c.task, NULL};
  CHECK(run_tasks(tasks, 30000));
  CHECK_STR(i0.log, "accept 200 200\nreceived 300\ndisconnected\n");
  CHECK_STR(i1.log, "connect 200 200\ndisconnected\n");
  uvble_l2cap_channel_free(p.ch);
  uvble_l2cap_channel_free(c.ch);
  uvble_connection_release(p.conn);
  uvble_connection_release(c.conn);
  inst_down(&i0);
  inst_down(&i1);
  loop_teardown(&loop);
}

TEST_MAIN()
