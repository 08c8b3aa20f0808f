/* SPDX-License-Identifier: Apache-2.0 */
/* ATT bearer on the LE fixed channel (CID 4): sequencing, the transaction
 * timer, MTU exchange, and routing of inbound PDUs (see att.h). */
#include <stdlib.h>
#include <string.h>

#include "att.h"
#include "ble_internal.h"
#include "gatts_internal.h"
#include "uvble/gatt.h"

/* Bounds of the per-connection queues (DESIGN: no unbounded queue). */
#define ATT_REQ_QUEUE_MAX 32
#define ATT_IND_QUEUE_MAX 16
/* A queued PDU the link refused is retried after this long. */
#define ATT_RETRY_MS 10

struct att_state {
  unsigned timeout_ms;
};

/* A queued request or indication, the whole PDU kept for sending. */
struct att_op {
  struct att_op *next;
  att_rsp_cb cb;
  void *arg;
  size_t len;
  uint8_t pdu[];
};

struct att_queue {
  struct att_op *head, *tail;
  unsigned len;
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
  struct att_queue reqq;
  /* server -> client direction: our indications */
  struct att_op *ind;
  uint64_t ind_deadline;
  struct att_queue indq;
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

void att_set_timeout_ms(uvble_t *ble, unsigned ms) {
  if (ble->att) ble->att->timeout_ms = ms;
}

/* ---- queues and the timer ------------------------------------------------ */
static void q_push(struct att_queue *q, struct att_op *op) {
  op->next = NULL;
  if (q->tail)
    q->tail->next = op;
  else
    q->head = op;
  q->tail = op;
  q->len++;
}

static struct att_op *q_pop(struct att_queue *q) {
  struct att_op *op = q->head;
  if (!op) return NULL;
  q->head = op->next;
  if (!q->head) q->tail = NULL;
  q->len--;
  op->next = NULL;
  return op;
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
  if ((!b->req && b->reqq.head) || (!b->ind && b->indq.head))
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
  if (!b->req && b->reqq.head &&
      raw_send(b->ble, b->conn, b->reqq.head->pdu, b->reqq.head->len) == 0) {
    b->req = q_pop(&b->reqq);
    b->req_deadline = now + b->timeout_ms;
  }
  if (!b->ind && b->indq.head &&
      raw_send(b->ble, b->conn, b->indq.head->pdu, b->indq.head->len) == 0) {
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
int att_send_pdu(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                 size_t len) {
  struct att_bearer *b = c->att;
  if (!b) return UVBLE_ENOTCONN;
  if (b->dead) return UVBLE_EIO;
  if (len == 0) return UVBLE_EINVAL;
  if (len > b->mtu) return UVBLE_EMSGSIZE;
  return raw_send(ble, c, pdu, len);
}

int att_send_error(uvble_t *ble, struct ble_conn *c, uint8_t req_op,
                   uint16_t handle, uint8_t code) {
  uint8_t pdu[5] = {ATT_ERROR_RSP, req_op, 0, 0, code};
  put_le16(pdu + 2, handle);
  return att_send_pdu(ble, c, pdu, sizeof pdu);
}

/* Queues op on q (after what is already there) and starts it if the
 * direction is idle. */
static int enqueue(struct att_bearer *b, struct att_queue *q,
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
  if (!inflight && !q->head) {
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

static void emit_mtu(uvble_t *ble, struct ble_conn *c, uint16_t mtu) {
  uvble_irq_data_t d;
  memset(&d, 0, sizeof d);
  d.mtu.conn_handle = c->handle;
  d.mtu.mtu = mtu;
  ble_irq(ble, UVBLE_IRQ_MTU_EXCHANGED, &d);
}

static void on_mtu_rsp(uvble_t *ble, struct ble_conn *c, int err,
                       const uint8_t *pdu, size_t len, void *arg) {
  (void)arg;
  if (err == UVBLE_EDISCONNECTED || err == UVBLE_ECANCELED) return;
  struct att_bearer *b = c->att;
  if (!b) return;
  if (err == 0 && len == 3 && pdu[0] == ATT_EXCHANGE_MTU_RSP) {
    uint16_t server = get_le16(pdu + 1);
    if (server < ATT_DEFAULT_MTU) server = ATT_DEFAULT_MTU;
    b->mtu = server < b->mtu_sent ? server : b->mtu_sent;
  } else if (err == 0 && pdu[0] != ATT_ERROR_RSP) {
    ble->stats.att_rx_malformed++;
  }
  emit_mtu(ble, c, b->mtu);
}

int att_exchange_mtu(uvble_t *ble, struct ble_conn *c) {
  struct att_bearer *b = c->att;
  if (!b) return UVBLE_ENOTCONN;
  if (b->dead) return UVBLE_EIO;
  if (b->mtu_req_sent) return UVBLE_EALREADY;
  uint8_t pdu[3] = {ATT_EXCHANGE_MTU_REQ, 0, 0};
  uint16_t mtu = our_rx_mtu(ble);
  put_le16(pdu + 1, mtu);
  int r = att_send_request(ble, c, pdu, sizeof pdu, on_mtu_rsp, NULL);
  if (r == 0) {
    b->mtu_req_sent = true;
    b->mtu_sent = mtu;
  }
  return r;
}

static void on_mtu_req(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                       size_t len) {
  struct att_bearer *b = c->att;
  if (len != 3) {
    att_send_error(ble, c, ATT_EXCHANGE_MTU_REQ, 0,
                   UVBLE_ATT_ERR_INVALID_PDU);
    return;
  }
  uint16_t client = get_le16(pdu + 1);
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
  emit_mtu(ble, c, b->mtu);
}

/* ---- receiving ---------------------------------------------------------------- */
/* After an application callback: should this bearer go on? The callback
 * may have closed the stack, powered it down or timed the bearer out;
 * nothing is freed before the dispatch unwinds (ble_ref), so this asks
 * about state, not memory. */
static bool still_open(uvble_t *ble, struct att_bearer *b) {
  return ble->state == BLE_ON && conn_is_open(b->conn) && !b->dead;
}

static void on_value(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                     size_t len) {
  struct att_bearer *b = c->att;
  bool ind = pdu[0] == ATT_HANDLE_VALUE_IND;
  if (len < 3 || get_le16(pdu + 1) == 0) {
    ble->stats.att_rx_malformed++;
    return;
  }
  gattc_on_value(ble, c, ind, get_le16(pdu + 1), pdu + 3, len - 3);
  if (!ind || !still_open(ble, b)) return;
  static const uint8_t cfm = ATT_HANDLE_VALUE_CFM;
  if (att_send_pdu(ble, c, &cfm, 1) < 0) ble->stats.att_tx_dropped++;
}

/* Multiple Handle Value Notification (3.4.7.4): tuples of handle, length,
 * value. The whole PDU is validated before any value is delivered. */
static void on_multi_value(uvble_t *ble, struct ble_conn *c,
                           const uint8_t *pdu, size_t len) {
  size_t off = 1;
  unsigned n = 0;
  while (off < len) {
    if (len - off < 4 || get_le16(pdu + off) == 0 ||
        get_le16(pdu + off + 2) > len - off - 4) {
      ble->stats.att_rx_malformed++;
      return;
    }
    off += 4 + get_le16(pdu + off + 2);
    n++;
  }
  if (n == 0) {
    ble->stats.att_rx_malformed++;
    return;
  }
  struct att_bearer *b = c->att;
  for (off = 1; off < len;) {
    uint16_t h = get_le16(pdu + off), vlen = get_le16(pdu + off + 2);
    gattc_on_value(ble, c, false, h, pdu + off + 4, vlen);
    if (!still_open(ble, b)) return;
    off += 4 + (size_t)vlen;
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
  } else if (is_server_pdu(op)) {
    gatts_on_pdu(ble, c, pdu, len);
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
  ble->fixed_rx[L2CAP_CID_ATT] = att_on_rx;
  return 0;
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
  ble->fixed_rx[L2CAP_CID_ATT] = NULL;
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
  struct att_queue list;
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
