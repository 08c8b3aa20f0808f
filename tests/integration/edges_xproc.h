/* SPDX-License-Identifier: Apache-2.0 */
/* "Act, then at once disconnect or close", with each host in a process of
 * its own on one btvirt (conformance.h's harness, forced across processes:
 * in one process both hosts share a loop, their queues drain before the
 * disconnect, and nothing is ever lost). The acting host queues its PDUs,
 * ends the link or the whole stack in the same breath, and the other host
 * must still receive everything (issue 14: graceful disconnect and close,
 * pairing that completes when its keys are out).
 *
 * instance0 is the peripheral (GATT server, L2CAP listener), instance1 the
 * central, as in the MicroPython scenarios. */
#ifndef UVBLE_TEST_EDGES_XPROC_H
#define UVBLE_TEST_EDGES_XPROC_H

#include "../conformance/conformance.h"
#include "secrets.h"
#include "uvble/security.h"

#define EDGE_WAIT_MS 5000

/* How the acting host ends. */
enum edge_end { END_DISCONNECT, END_CLOSE };

static inline const char *end_name(enum edge_end e) {
  return e == END_CLOSE ? "uvble_close" : "gap_disconnect";
}

/* One host's view of what arrived. */
struct edge {
  uint16_t conn;
  bool connected;
  /* GATTS_WRITE values, concatenated */
  int writes;
  uint8_t wbuf[512];
  size_t wlen;
  /* GATTC_NOTIFY / GATTC_INDICATE payloads, concatenated */
  int notifies, indicates;
  uint8_t nbuf[512];
  size_t nlen;
  /* L2CAP */
  uint16_t l2_cid;
  bool l2_open;
  uint8_t l2buf[4096];
  size_t l2_len;
  /* security */
  int enc_events;
  uvble_evt_encryption_t enc;
  uint64_t acl_tx_at_connect, acl_tx_at_enc;
  struct secrets sec;
  /* set: end the link or the stack from inside the ENCRYPTION_UPDATE
   * handler, the first moment an application learns the pairing is done */
  bool end_on_enc;
  enum edge_end end;
  bool end_done; /* our DISCONNECT event, or the close callback */
};

static inline uint64_t acl_tx(struct inst *i) {
  uvble_stats_t st;
  uvble_get_stats(i->ble, &st);
  return st.acl_tx_packets;
}

static inline void edge_closed(uvble_t *ble, void *cb_arg) {
  (void)cb_arg;
  struct inst *i = uvble_get_data(ble);
  struct edge *e = i->ctx;
  e->end_done = true;
  i->ble = NULL;
}

/* The acting host ends: HCI Disconnect, or the whole stack. */
static inline void end_now(struct inst *i) {
  struct edge *e = i->ctx;
  out(i, "%s", end_name(e->end));
  if (e->end == END_CLOSE)
    uvble_close(i->ble, edge_closed, NULL);
  else
    CHECK_EQ(uvble_gap_disconnect(i->ble, e->conn), 1);
}

static inline void append(uint8_t *buf, size_t cap, size_t *len, const void *p,
                          size_t n) {
  if (*len + n > cap) n = cap - *len;
  memcpy(buf + *len, p, n);
  *len += n;
}

static inline void edge_l2cap_drain(struct inst *i, struct edge *e) {
  uint8_t buf[1024];
  int n;
  while ((n = uvble_l2cap_recvinto(i->ble, e->conn, e->l2_cid, buf, sizeof buf)) > 0)
    append(e->l2buf, sizeof e->l2buf, &e->l2_len, buf, (size_t)n);
}

static inline void edge_irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  struct edge *e = i->ctx;
  switch (ev) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
      e->conn = d->connect.conn_handle;
      e->connected = true;
      e->acl_tx_at_connect = acl_tx(i);
      print_conn_events(i, ev, d);
      return;
    case UVBLE_IRQ_CENTRAL_DISCONNECT:
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
      e->connected = false;
      if (e->end == END_DISCONNECT) e->end_done = true;
      print_conn_events(i, ev, d);
      return;
    case UVBLE_IRQ_GATTS_WRITE: {
      uint8_t v[256];
      size_t n = 0;
      CHECK_EQ(uvble_gatts_read(i->ble, d->gatts.attr_handle, v, sizeof v, &n), 0);
      append(e->wbuf, sizeof e->wbuf, &e->wlen, v, n);
      e->writes++;
      out(i, "%s %s", irq_name(ev), pybytes(v, n));
      return;
    }
    case UVBLE_IRQ_GATTC_NOTIFY:
    case UVBLE_IRQ_GATTC_INDICATE:
      append(e->nbuf, sizeof e->nbuf, &e->nlen, d->gattc_data.data,
             d->gattc_data.data_len);
      if (ev == UVBLE_IRQ_GATTC_NOTIFY)
        e->notifies++;
      else
        e->indicates++;
      out(i, "%s %s", irq_name(ev), pybytes(d->gattc_data.data, d->gattc_data.data_len));
      return;
    case UVBLE_IRQ_L2CAP_ACCEPT:
      return;
    case UVBLE_IRQ_L2CAP_CONNECT:
      e->l2_cid = d->l2cap_connect.cid;
      e->l2_open = true;
      out(i, "%s", irq_name(ev));
      return;
    case UVBLE_IRQ_L2CAP_RECV:
      edge_l2cap_drain(i, e);
      return;
    case UVBLE_IRQ_ENCRYPTION_UPDATE:
      e->enc_events++;
      e->enc = d->encryption;
      e->acl_tx_at_enc = acl_tx(i);
      out(i, "%s status %d encrypted %d bonded %d", irq_name(ev),
          d->encryption.status, d->encryption.encrypted, d->encryption.bonded);
      if (e->end_on_enc) {
        e->end_on_enc = false;
        end_now(i);
      }
      return;
    case UVBLE_IRQ_GET_SECRET:
      i->ret = secrets_get(&e->sec, &d->get_secret);
      return;
    case UVBLE_IRQ_SET_SECRET:
      i->ret = secrets_set(&e->sec, &d->set_secret);
      return;
    default:
      return;
  }
}

static inline bool end_done_pred(void *arg) {
  const struct edge *e = arg;
  return e->end_done;
}

/* The acting host waits until its own end is complete. */
static inline void wait_end(struct inst *i) {
  need_local(i);
  struct edge *e = i->ctx;
  if (!run_until_pred(&loop, end_done_pred, e, EDGE_WAIT_MS)) {
    test_fail(__FILE__, __LINE__, "%s: %s did not complete", i->name,
              end_name(e->end));
    test_abort_case();
  }
}

/* After uvble_close(): the acting host brings up a new stack on a fresh
 * controller (which also shows btvirt survived the close: a reply it
 * wrote into a closed socket would have killed it with SIGPIPE). btvirt
 * gives the lowest free slot, so the new controller has the old address,
 * which a reconnection to a bonded peer relies on. */
static inline void restart(struct inst *i, void (*pre)(struct inst *)) {
  need_local(i);
  struct edge *e = i->ctx;
  uvble_addr_t old = i->addr;
  struct inst *l[] = {i, NULL};
  i->up_done = false;
  e->end_done = false;
  e->connected = false;
  inst_up(i, pre);
  if (!run_until_pred(&loop, insts_up_pred, l, 10000) || i->up_status != 0) {
    test_fail(__FILE__, __LINE__,
              "%s: a new stack after uvble_close() did not come up (%d): "
              "did btvirt die?", i->name, i->up_status);
    test_abort_case();
  }
  REQUIRE_EQ(uvble_config_get_mac(i->ble, &i->addr), 0);
  REQUIRE_EQ(memcmp(old.val, i->addr.val, 6), 0);
}

/* Forks the two hosts (instance0, instance1) with fresh state; all gets
 * the NULL-terminated list insts_down() takes. */
static inline void edges_up(struct inst *i0, struct edge *e0, struct inst *i1,
                            struct edge *e1, struct inst **all, enum edge_end end,
                            void (*pre)(struct inst *)) {
  uv_loop_init(&loop);
  conf_xproc_forced = true;
  struct inst *in[2] = {i0, i1};
  struct edge *ed[2] = {e0, e1};
  for (int k = 0; k < 2; k++) {
    memset(ed[k], 0, sizeof *ed[k]);
    ed[k]->end = end;
    memset(in[k], 0, sizeof *in[k]);
    in[k]->name = k ? "instance1" : "instance0";
    in[k]->handler = edge_irq;
    in[k]->ctx = ed[k];
    all[k] = in[k];
  }
  all[2] = NULL;
  insts_up(all, pre);
}

/* The other host closes its stack (a link it cannot end otherwise) and
 * brings up a new one with the same address. */
static inline void restart_closing(struct inst *i, void (*pre)(struct inst *)) {
  struct edge *e = i->ctx;
  need_local(i);
  enum edge_end end = e->end;
  e->end = END_CLOSE;
  end_now(i);
  wait_end(i);
  restart(i, pre);
  e->end = end;
}

/* instance0 advertises, instance1 connects; both record the handle. */
static inline void edge_connect(struct inst *i0, struct inst *i1) {
  AS(i0) advertise(i0, 20000, true);
  AS(i1) {
    REQUIRE_EQ(conf_gap_connect(i1, i0, 0), 0);
    wait_for(i1, UVBLE_IRQ_PERIPHERAL_CONNECT, EDGE_WAIT_MS);
  }
  AS(i0) wait_for(i0, UVBLE_IRQ_CENTRAL_CONNECT, EDGE_WAIT_MS);
}

static inline bool link_down_pred(void *arg) {
  const struct edge *e = arg;
  return !e->connected;
}

/* The other host: the link went down because the acting host ended it
 * (a disconnect, or a close that tells the peer: told = true fails the
 * case if the link stays up). After uvble_close() without told, a link
 * still up is only noted (close_tells_the_* check that separately) and
 * false is returned: on btvirt such a link stays up for good (it has no
 * supervision timeout) and cannot even be disconnected from this side
 * (btvirt never completes it), so only closing this stack clears it. */
static inline bool wait_link_down_at(struct inst *i, int ev, bool told,
                                     const char *file, int line) {
  struct edge *e = i->ctx;
  need_local(i);
  told = told || e->end == END_DISCONNECT;
  bool down = run_until_pred(&loop, link_down_pred, e, told ? EDGE_WAIT_MS : 500);
  if (!down && told) {
    test_fail(file, line, "%s: the link stayed up after the peer's %s", i->name,
              end_name(e->end));
    test_abort_case();
  }
  if (!down) out(i, "the link is still up after the peer's uvble_close()");
  i->posted[ev] = false;
  return down;
}
#define wait_link_down(i, ev, told) \
  wait_link_down_at((i), (ev), (told), __FILE__, __LINE__)

#endif
