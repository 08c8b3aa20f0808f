/* SPDX-License-Identifier: Apache-2.0 */
/* ATT bearer on the LE fixed channel (CID 4): sequencing, the transaction
 * timer, MTU exchange, and routing of inbound PDUs (see att.h). */
#include <stdlib.h>
#include <string.h>

#include "att.h"
#include "conn.h"
#include "pdu_reader.h"
#include "queue.h"
#include "req.h"
#include "uvble/gatt.h"

/* Bounds of the per-connection queues (DESIGN: no unbounded queue). */
#define ATT_REQ_QUEUE_MAX 32
#define ATT_IND_QUEUE_MAX 16
/* A queued PDU the link refused is retried after this long. */
#define ATT_RETRY_MS 10

struct att_state {
  unsigned timeout_ms;
  att_server_fn server;
  att_value_fn client;
};

/* A queued request or indication, the whole PDU kept for sending. */
struct att_op {
  struct sq_node node;
  att_rsp_cb cb;
  void *arg;
  size_t len;
  uint8_t pdu[];
};

struct att_bearer {
  uvble_t *ble;
  struct ble_conn *conn;
  uint16_t mtu;
  uint16_t mtu_sent; /* Client Rx MTU of our own exchange */
  bool mtu_req_sent;  /* ours started, or the peer's was answered */
  bool dead;          /* transaction timeout fired (Vol 3, Part F, 3.3.3) */
  unsigned timeout_ms;
  /* client -> server direction: our requests */
  struct att_op *req;
  uint64_t req_deadline;
  struct sq reqq; /* att_op */
  /* server -> client direction: our indications */
  struct att_op *ind;
  uint64_t ind_deadline;
  struct sq indq; /* att_op */
  uv_timer_t timer;
  struct gatts_conn *gatts; /* the GATT server's per-connection state */
};

struct gatts_conn **att_gatts_slot(struct ble_conn *c) {
  return c->att ? &c->att->gatts : NULL;
}

uint16_t att_mtu(const struct ble_conn *c) {
  return c->att ? c->att->mtu : ATT_DEFAULT_MTU;
}

bool att_bearer_dead(const struct ble_conn *c) {
  return c->att && c->att->dead;
}

#ifdef UVBLE_TEST_HOOKS
void att_set_timeout_ms(uvble_t *ble, unsigned ms) {
  if (ble->att) ble->att->timeout_ms = ms;
}
#endif

/* ---- queues and the timer ------------------------------------------------ */
static void q_push(struct sq *q, struct att_op *op) { sq_push(q, &op->node); }

static struct att_op *q_pop(struct sq *q) {
  struct sq_node *n = sq_pop(q);
  return n ? SQ_ENTRY(n, struct att_op, node) : NULL;
}

static struct att_op *q_first(const struct sq *q) {
  return SQ_FIRST(q, struct att_op, node);
}

static int raw_send(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                    size_t len) {
  uvble_iov_t iov = {(void *)pdu, len};
  return l2cap_send_pdu(ble, c, L2CAP_CID_ATT, &iov, 1);
}

static void on_timer(uv_timer_t *t);

static void rearm(struct att_bearer *b) {
  if (b->dead) {
    uv_timer_stop(&b->timer);
    return;
  }
  uint64_t now = ble_now_ms(b->ble->loop);
  uint64_t next = UINT64_MAX;
  if (b->req && b->req_deadline < next) next = b->req_deadline;
  if (b->ind && b->ind_deadline < next) next = b->ind_deadline;
  /* Something queued but not in flight: the link refused it; retry. */
  if ((!b->req && !sq_empty(&b->reqq)) || (!b->ind && !sq_empty(&b->indq)))
    if (now + ATT_RETRY_MS < next) next = now + ATT_RETRY_MS;
  if (next == UINT64_MAX) {
    uv_timer_stop(&b->timer);
    return;
  }
  uv_timer_start(&b->timer, on_timer, next > now ? next - now : 0, 0);
}

/* Moves the next queued request / indication into flight. A PDU the link
 * refuses stays at the head of its queue; rearm() schedules a retry. */
static void pump(struct att_bearer *b) {
  if (b->dead) return;
  uint64_t now = ble_now_ms(b->ble->loop);
  struct att_op *op;
  if (!b->req && (op = q_first(&b->reqq)) &&
      raw_send(b->ble, b->conn, op->pdu, op->len) == 0) {
    b->req = q_pop(&b->reqq);
    b->req_deadline = now + b->timeout_ms;
  }
  if (!b->ind && (op = q_first(&b->indq)) &&
      raw_send(b->ble, b->conn, op->pdu, op->len) == 0) {
    b->ind = q_pop(&b->indq);
    b->ind_deadline = now + b->timeout_ms;
  }
}

/* Takes the next operation off the bearer: those in flight first. */
static struct att_op *take_next(struct att_bearer *b) {
  struct att_op *op;
  if ((op = b->req)) {
    b->req = NULL;
    return op;
  }
  if ((op = b->ind)) {
    b->ind = NULL;
    return op;
  }
  if ((op = q_pop(&b->reqq))) return op;
  return q_pop(&b->indq);
}

/* Vol 3, Part F, 3.3.3: a transaction not completed within 30 s has failed
 * and nothing more may be sent on the bearer. A callback that closes the
 * stack leaves the rest to att_conn_closed (UVBLE_ECANCELED), which runs
 * once this timer's dispatch unwinds. */
/* A timer is an entry from the loop: a dispatch reference (ble_ref). */
static void on_timer_run(uv_timer_t *t);

static void on_timer(uv_timer_t *t) {
  uvble_t *ble = ((struct att_bearer *)t->data)->ble;
  ble_ref(ble);
  on_timer_run(t);
  ble_unref(ble);
}

static void on_timer_run(uv_timer_t *t) {
  struct att_bearer *b = t->data;
  uvble_t *ble = b->ble;
  struct ble_conn *c = b->conn;
  uint64_t now = ble_now_ms(ble->loop);
  struct att_op *expired = NULL;
  if (b->req && b->req_deadline <= now) expired = b->req;
  else if (b->ind && b->ind_deadline <= now) expired = b->ind;
  if (!expired) {
    pump(b);
    rearm(b);
    return;
  }
  b->dead = true;
  uv_timer_stop(&b->timer);
  struct att_op *op;
  while (!ble_dead(ble) && (op = take_next(b))) {
    op->cb(ble, c, op == expired ? UVBLE_ETIMEDOUT : UVBLE_EIO, NULL, 0,
           op->arg);
    free(op);
  }
}

/* The pending request (or indication) got its answer. */
static void complete_one(struct att_bearer *b, struct att_op **slot,
                         const uint8_t *pdu, size_t len) {
  struct att_op *op = *slot;
  *slot = NULL;
  pump(b);
  rearm(b);
  op->cb(b->ble, b->conn, 0, pdu, len, op->arg);
  free(op);
}

/* ---- sending ---------------------------------------------------------------- */
/* The checks of every PDU that expects no answer; iov holds len bytes. */
static int send_iov(uvble_t *ble, struct ble_conn *c, const uvble_iov_t *iov,
                    int iovcnt, size_t len) {
  struct att_bearer *b = c->att;
  if (!b) return UVBLE_ENOTCONN;
  if (b->dead) return UVBLE_EIO;
  if (len == 0) return UVBLE_EINVAL;
  if (len > b->mtu) return UVBLE_EMSGSIZE;
  return l2cap_send_pdu(ble, c, L2CAP_CID_ATT, iov, iovcnt);
}

int att_send_pdu(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                 size_t len) {
  uvble_iov_t iov = {(void *)pdu, len};
  return send_iov(ble, c, &iov, 1, len);
}

int att_send_value(uvble_t *ble, struct ble_conn *c, uint8_t opcode,
                   uint16_t handle, const void *value, size_t len) {
  uint8_t hdr[3] = {opcode, 0, 0};
  put_le16(hdr + 1, handle);
  uvble_iov_t iov[2] = {{hdr, 3}, {value, len}};
  return send_iov(ble, c, iov, 2, 3 + len);
}

int att_send_error(uvble_t *ble, struct ble_conn *c, uint8_t req_op,
                   uint16_t handle, uint8_t code) {
  uint8_t pdu[5] = {ATT_ERROR_RSP, req_op, 0, 0, code};
  put_le16(pdu + 2, handle);
  return att_send_pdu(ble, c, pdu, sizeof pdu);
}

/* Queues op on q (after what is already there) and starts it if the
 * direction is idle. */
static int enqueue(struct att_bearer *b, struct sq *q,
                   struct att_op *inflight, unsigned max, att_rsp_cb cb,
                   void *arg, const uint8_t *hdr, size_t hlen,
                   const uint8_t *body, size_t blen) {
  if (q->len >= max) return UVBLE_ENOBUFS;
  struct att_op *op = malloc(sizeof *op + hlen + blen);
  if (!op) return UVBLE_ENOMEM;
  op->cb = cb;
  op->arg = arg;
  op->len = hlen + blen;
  memcpy(op->pdu, hdr, hlen);
  if (blen) memcpy(op->pdu + hlen, body, blen);
  if (!inflight && sq_empty(q)) {
    /* Idle: send now, so a failure is reported to the caller. */
    int r = raw_send(b->ble, b->conn, op->pdu, op->len);
    if (r < 0) {
      free(op);
      return r;
    }
    uint64_t deadline = ble_now_ms(b->ble->loop) + b->timeout_ms;
    if (q == &b->reqq) {
      b->req = op;
      b->req_deadline = deadline;
    } else {
      b->ind = op;
      b->ind_deadline = deadline;
    }
  } else {
    q_push(q, op);
  }
  rearm(b);
  return 0;
}

int att_send_request(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                     size_t len, att_rsp_cb cb, void *arg) {
  (void)ble;
  struct att_bearer *b = c->att;
  if (!b) return UVBLE_ENOTCONN;
  if (b->dead) return UVBLE_EIO;
  if (len == 0 || !cb) return UVBLE_EINVAL;
  if (len > b->mtu) return UVBLE_EMSGSIZE;
  return enqueue(b, &b->reqq, b->req, ATT_REQ_QUEUE_MAX, cb, arg, pdu, len,
                 NULL, 0);
}

int att_send_indication(uvble_t *ble, struct ble_conn *c, uint16_t handle,
                        const uint8_t *value, size_t len, att_rsp_cb cb,
                        void *arg) {
  (void)ble;
  struct att_bearer *b = c->att;
  if (!b) return UVBLE_ENOTCONN;
  if (b->dead) return UVBLE_EIO;
  if (!cb || (len && !value)) return UVBLE_EINVAL;
  if (3 + len > b->mtu) return UVBLE_EMSGSIZE;
  uint8_t hdr[3] = {ATT_HANDLE_VALUE_IND, 0, 0};
  put_le16(hdr + 1, handle);
  return enqueue(b, &b->indq, b->ind, ATT_IND_QUEUE_MAX, cb, arg, hdr, 3,
                 value, len);
}

/* ---- MTU exchange (Vol 3, Part F, 3.4.2) ------------------------------------ */
static uint16_t our_rx_mtu(const uvble_t *ble) {
  int m = ble->cfg.mtu;
  if (m < ATT_DEFAULT_MTU) m = ATT_DEFAULT_MTU;
  if (m > ATT_MAX_MTU) m = ATT_MAX_MTU;
  return (uint16_t)m;
}

static void emit_mtu(uvble_t *ble, struct ble_conn *c, uint16_t mtu,
                     uvble_req_t *req, int status) {
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.mtu.conn_handle = c->handle;
  d.mtu.mtu = mtu;
  req_or_irq(ble, req, UVBLE_IRQ_MTU_EXCHANGED, true, status, &d);
}

/* Our exchange, when it carries a request: uvble_cancel detaches it. */
struct mtu_req {
  uvble_req_t *req;
  bool cancelled;
};

static int cancel_mtu(uvble_req_t *req) {
  struct mtu_req *m = req->op_;
  m->req = NULL;
  m->cancelled = true;
  return 0;
}

/* The status a request gets: an Error Response's code as sent. */
static int mtu_status(int err, const uint8_t *pdu, size_t len) {
  if (err < 0) return err;
  struct pdu_reader r;
  pdu_reader_init(&r, pdu, len);
  uint8_t op = pdu_get_u8(&r);
  pdu_skip(&r, 3); /* request opcode, handle */
  uint8_t code = pdu_get_u8(&r);
  return pdu_done(&r) && op == ATT_ERROR_RSP ? code : 0;
}

static void on_mtu_rsp(uvble_t *ble, struct ble_conn *c, int err,
                       const uint8_t *pdu, size_t len, void *arg) {
  struct mtu_req *m = arg;
  uvble_req_t *req = m ? m->req : NULL;
  bool cancelled = m && m->cancelled;
  free(m);
  struct att_bearer *b = c->att;
  if (err == UVBLE_EDISCONNECTED || err == UVBLE_ECANCELED || !b) {
    /* The irq API says nothing here: the DISCONNECT event follows. */
    if (req) req_complete(req, err < 0 ? err : UVBLE_EDISCONNECTED, NULL);
    return;
  }
  struct pdu_reader r;
  pdu_reader_init(&r, pdu, err == 0 ? len : 0);
  uint8_t op = pdu_get_u8(&r);
  uint16_t server = pdu_get_le16(&r);
  if (err == 0 && op == ATT_EXCHANGE_MTU_RSP && pdu_done(&r)) {
    if (server < ATT_DEFAULT_MTU) server = ATT_DEFAULT_MTU;
    b->mtu = server < b->mtu_sent ? server : b->mtu_sent;
  } else if (err == 0 && op != ATT_ERROR_RSP) {
    ble->stats.att_rx_malformed++;
  }
  if (cancelled) {
    if (err == 0) ble->stats.req_late_responses++;
    return;
  }
  emit_mtu(ble, c, b->mtu, req, mtu_status(err, pdu, len));
}

int att_exchange_mtu_req(uvble_t *ble, struct ble_conn *c, uvble_req_t *req) {
  struct att_bearer *b = c->att;
  if (!b) return UVBLE_ENOTCONN;
  if (b->dead) return UVBLE_EIO;
  if (b->mtu_req_sent) return UVBLE_EALREADY;
  struct mtu_req *m = NULL;
  if (req) {
    if (!(m = calloc(1, sizeof *m))) return UVBLE_ENOMEM;
    int r = req_start(ble, req, UVBLE_REQ_EXCHANGE_MTU, m, cancel_mtu);
    if (r < 0) {
      free(m);
      return r;
    }
    m->req = req;
  }
  uint8_t pdu[3] = {ATT_EXCHANGE_MTU_REQ, 0, 0};
  uint16_t mtu = our_rx_mtu(ble);
  put_le16(pdu + 1, mtu);
  int r = att_send_request(ble, c, pdu, sizeof pdu, on_mtu_rsp, m);
  if (r == 0) {
    b->mtu_req_sent = true;
    b->mtu_sent = mtu;
  } else if (m) {
    req_unstart(req);
    free(m);
  }
  return r;
}

int att_exchange_mtu(uvble_t *ble, struct ble_conn *c) {
  return att_exchange_mtu_req(ble, c, NULL);
}

static void on_mtu_req(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                       size_t len) {
  struct att_bearer *b = c->att;
  struct pdu_reader r;
  pdu_reader_init(&r, pdu, len);
  pdu_skip(&r, 1); /* opcode */
  uint16_t client = pdu_get_le16(&r);
  if (!pdu_done(&r)) {
    att_send_error(ble, c, ATT_EXCHANGE_MTU_REQ, 0,
                   UVBLE_ATT_ERR_INVALID_PDU);
    return;
  }
  if (client < ATT_DEFAULT_MTU) client = ATT_DEFAULT_MTU;
  uint16_t server = our_rx_mtu(ble);
  uint8_t rsp[3] = {ATT_EXCHANGE_MTU_RSP, 0, 0};
  put_le16(rsp + 1, server);
  if (att_send_pdu(ble, c, rsp, sizeof rsp) < 0) {
    ble->stats.att_tx_dropped++;
    return;
  }
  /* The new ATT_MTU applies once the response is sent (3.4.2.2). Both
   * Rx MTUs are now known: like NimBLE, a later att_exchange_mtu from our
   * side answers UVBLE_EALREADY. */
  b->mtu = client < server ? client : server;
  b->mtu_req_sent = true;
  emit_mtu(ble, c, b->mtu, NULL, 0);
}

/* ---- receiving ---------------------------------------------------------------- */
/* After an application callback: should this bearer go on? The callback
 * may have closed the stack, powered it down or timed the bearer out;
 * nothing is freed before the dispatch unwinds (ble_ref), so this asks
 * about state, not memory. */
static bool still_open(uvble_t *ble, struct att_bearer *b) {
  return ble->state == BLE_ON && conn_is_open(b->conn) && !b->dead;
}

/* To the GATT client registered with att_set_client. */
static void deliver_value(uvble_t *ble, struct ble_conn *c, bool ind,
                          uint16_t handle, const uint8_t *v, size_t n) {
  if (ble->att->client) ble->att->client(ble, c, ind, handle, v, n);
}

static void on_value(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                     size_t len) {
  struct att_bearer *b = c->att;
  struct pdu_reader r;
  pdu_reader_init(&r, pdu, len);
  bool ind = pdu_get_u8(&r) == ATT_HANDLE_VALUE_IND;
  uint16_t handle = pdu_get_le16(&r);
  size_t n;
  const uint8_t *v = pdu_get_rest(&r, &n);
  if (!pdu_ok(&r) || handle == 0) {
    ble->stats.att_rx_malformed++;
    return;
  }
  deliver_value(ble, c, ind, handle, v, n);
  if (!ind || !still_open(ble, b)) return;
  static const uint8_t cfm = ATT_HANDLE_VALUE_CFM;
  if (att_send_pdu(ble, c, &cfm, 1) < 0) ble->stats.att_tx_dropped++;
}

/* Multiple Handle Value Notification (3.4.7.4): tuples of handle, length,
 * value. The whole PDU is validated before any value is delivered. */
static void on_multi_value(uvble_t *ble, struct ble_conn *c,
                           const uint8_t *pdu, size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, pdu, len);
  pdu_skip(&r, 1); /* opcode */
  bool bad = pdu_left(&r) == 0;
  while (!bad && pdu_left(&r)) {
    bad = pdu_get_le16(&r) == 0;
    pdu_skip(&r, pdu_get_le16(&r));
    bad = bad || !pdu_ok(&r);
  }
  if (bad) {
    ble->stats.att_rx_malformed++;
    return;
  }
  struct att_bearer *b = c->att;
  pdu_reader_init(&r, pdu, len);
  pdu_skip(&r, 1);
  while (pdu_left(&r)) {
    uint16_t h = pdu_get_le16(&r), vlen = pdu_get_le16(&r);
    deliver_value(ble, c, false, h, pdu_get_bytes(&r, vlen), vlen);
    if (!still_open(ble, b)) return;
  }
}

static bool is_response(uint8_t op) {
  switch (op) {
    case ATT_ERROR_RSP:
    case ATT_EXCHANGE_MTU_RSP:
    case ATT_FIND_INFO_RSP:
    case ATT_FIND_BY_TYPE_VALUE_RSP:
    case ATT_READ_BY_TYPE_RSP:
    case ATT_READ_RSP:
    case ATT_READ_BLOB_RSP:
    case ATT_READ_MULTIPLE_RSP:
    case ATT_READ_BY_GROUP_TYPE_RSP:
    case ATT_WRITE_RSP:
    case ATT_PREPARE_WRITE_RSP:
    case ATT_EXECUTE_WRITE_RSP:
    case ATT_READ_MULTIPLE_VARIABLE_RSP:
      return true;
    default:
      return false;
  }
}

static bool is_server_pdu(uint8_t op) {
  switch (op) {
    case ATT_FIND_INFO_REQ:
    case ATT_FIND_BY_TYPE_VALUE_REQ:
    case ATT_READ_BY_TYPE_REQ:
    case ATT_READ_REQ:
    case ATT_READ_BLOB_REQ:
    case ATT_READ_MULTIPLE_REQ:
    case ATT_READ_BY_GROUP_TYPE_REQ:
    case ATT_WRITE_REQ:
    case ATT_PREPARE_WRITE_REQ:
    case ATT_EXECUTE_WRITE_REQ:
    case ATT_READ_MULTIPLE_VARIABLE_REQ:
    case ATT_WRITE_CMD:
    case ATT_SIGNED_WRITE_CMD:
      return true;
    default:
      return false;
  }
}

#define ATT_CMD_FLAG 0x40 /* opcode bit 6: command, never answered */

static void att_on_rx(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                      size_t len) {
  struct att_bearer *b = c->att;
  if (!b || len == 0) {
    ble->stats.att_rx_malformed++;
    return;
  }
  if (b->dead) {
    ble->stats.att_rx_unexpected++;
    return;
  }
  uint8_t op = pdu[0];
  if (len > b->mtu) {
    /* Longer than the ATT_MTU both sides agreed on (3.2.8). */
    ble->stats.att_rx_malformed++;
    if (!(op & ATT_CMD_FLAG) && (is_server_pdu(op) ||
                                 op == ATT_EXCHANGE_MTU_REQ))
      att_send_error(ble, c, op, 0, UVBLE_ATT_ERR_INVALID_PDU);
    return;
  }
  switch (op) {
    case ATT_EXCHANGE_MTU_REQ:
      on_mtu_req(ble, c, pdu, len);
      return;
    case ATT_HANDLE_VALUE_NTF:
    case ATT_HANDLE_VALUE_IND:
      on_value(ble, c, pdu, len);
      return;
    case ATT_MULTIPLE_HANDLE_VALUE_NTF:
      on_multi_value(ble, c, pdu, len);
      return;
    case ATT_HANDLE_VALUE_CFM:
      if (len != 1) {
        ble->stats.att_rx_malformed++;
      } else if (!b->ind) {
        ble->stats.att_rx_unexpected++;
      } else {
        complete_one(b, &b->ind, pdu, len);
      }
      return;
    default:
      break;
  }
  if (is_response(op)) {
    if (!b->req) {
      ble->stats.att_rx_unexpected++;
      return;
    }
    complete_one(b, &b->req, pdu, len);
  } else if (is_server_pdu(op) && ble->att->server) {
    ble->att->server(ble, c, pdu, len);
  } else if (!(op & ATT_CMD_FLAG)) {
    /* Unknown request (or a PDU we never expect, e.g. a stray opcode):
     * 3.4.1.1 says Request Not Supported, handle 0. */
    att_send_error(ble, c, op, 0, UVBLE_ATT_ERR_REQUEST_NOT_SUPPORTED);
  }
}

/* ---- module hooks ------------------------------------------------------------------ */
int att_init(uvble_t *ble) {
  ble->att = calloc(1, sizeof *ble->att);
  if (!ble->att) return UVBLE_ENOMEM;
  ble->att->timeout_ms = ATT_TRANSACTION_TIMEOUT_MS;
  return l2cap_register_fixed(ble, L2CAP_CID_ATT, att_on_rx);
}

void att_set_server(uvble_t *ble, att_server_fn fn) {
  if (ble->att) ble->att->server = fn;
}

void att_set_client(uvble_t *ble, att_value_fn fn) {
  if (ble->att) ble->att->client = fn;
}

void att_stop(uvble_t *ble, int err) {
  /* Everything the bearer holds is per connection; the connections have
   * been dropped (att_conn_closed) before the stack stops. */
  (void)ble;
  (void)err;
}

void att_close(uvble_t *ble) {
  free(ble->att);
  ble->att = NULL;
  l2cap_register_fixed(ble, L2CAP_CID_ATT, NULL);
}

int att_conn_open(uvble_t *ble, struct ble_conn *c) {
  struct att_bearer *b = calloc(1, sizeof *b);
  if (!b) return UVBLE_ENOMEM;
  int r = uv_timer_init(ble->loop, &b->timer);
  if (r != 0) {
    free(b);
    return r;
  }
  b->timer.data = b;
  b->ble = ble;
  b->conn = c;
  b->mtu = ATT_DEFAULT_MTU;
  b->timeout_ms = ble->att ? ble->att->timeout_ms : ATT_TRANSACTION_TIMEOUT_MS;
  c->att = b;
  return 0;
}

static void on_timer_closed(uv_handle_t *h) {
  struct att_bearer *b = h->data;
  uvble_t *ble = b->ble;
  free(b);
  ble->pending_closes--;
  ble_handle_closed(ble);
}

void att_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  (void)reason;
  struct att_bearer *b = c->att;
  if (!b) return;
  c->att = NULL; /* sends from the callbacks below get UVBLE_ENOTCONN */
  struct sq list;
  memset(&list, 0, sizeof list);
  struct att_op *op;
  while ((op = take_next(b))) q_push(&list, op);
  /* gatts_conn_closed ran first and released its state. */
  b->gatts = NULL;
  uv_timer_stop(&b->timer);
  ble->pending_closes++;
  uv_close((uv_handle_t *)&b->timer, on_timer_closed);
  int err = ble->state == BLE_CLOSING ? UVBLE_ECANCELED : UVBLE_EDISCONNECTED;
  /* conn_remove holds c for as long as these run (struct ble_conn). */
  while ((op = q_pop(&list))) {
    op->cb(ble, c, err, NULL, 0, op->arg);
    free(op);
  }
}
