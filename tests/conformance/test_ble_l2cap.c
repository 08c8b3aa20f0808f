/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/ble_l2cap.py: an LE credit-based
 * channel (SPSM 22, MTU 450 both ends): 16 SDUs of 400 down to 55 bytes
 * (3640 bytes) from central to peripheral, checked byte by byte, then the
 * same back; the central closes the channel, then the link.
 *
 * The original's receiver waits for L2CAP_RECV in its main loop while the
 * sender runs on the other device; here both run on one loop, so each
 * instance reads from inside its irq handler on L2CAP_RECV (the same
 * recvinto loop) while the other one sends. uvble allows more than one
 * channel per connection (MicroPython: one); this scenario opens one. */
#include "l2cap_common.h"

#define L2CAP_MTU 450
#define PAYLOAD_LEN (L2CAP_MTU - 50)
#define PAYLOAD_LEN_STEP (-23)
#define NUM_PAYLOADS 16
#define EXPECTED_BYTES                         \
  (PAYLOAD_LEN * NUM_PAYLOADS +                \
   PAYLOAD_LEN_STEP * NUM_PAYLOADS * (NUM_PAYLOADS - 1) / 2)

static const char *const EXP0[] = {
    "gap_advertise",
    "_IRQ_CENTRAL_CONNECT",
    "l2cap_listen",
    "_IRQ_L2CAP_ACCEPT 22 450 450",
    "_IRQ_L2CAP_CONNECT 22 450 450",
    "l2cap_recvinto 3640",
    "l2cap_send 16 400",
    "_IRQ_L2CAP_DISCONNECT 22 0",
    "received 3640 3640",
    "_IRQ_CENTRAL_DISCONNECT",
    NULL,
};
static const char *const EXP1[] = {
    "gap_connect",
    "_IRQ_PERIPHERAL_CONNECT",
    "l2cap_connect",
    "_IRQ_L2CAP_CONNECT 22 450 450",
    "l2cap_send 16 400",
    "l2cap_recvinto 3640",
    "l2cap_disconnect",
    "_IRQ_L2CAP_DISCONNECT 22 0",
    "received 3640 3640",
    "gap_disconnect: True",
    "_IRQ_PERIPHERAL_DISCONNECT",
    NULL,
};

static void irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  struct chan *ch = i->ctx;
  if (print_conn_events(i, ev, d)) return;
  switch (ev) {
    case UVBLE_IRQ_L2CAP_ACCEPT:
    case UVBLE_IRQ_L2CAP_CONNECT: {
      const uvble_evt_l2cap_connect_t *e = &d->l2cap_connect;
      out(i, "%s %u %u %u", irq_name(ev), e->psm, e->our_mtu, e->peer_mtu);
      ch->conn = e->conn_handle;
      ch->cid = e->cid;
      break;
    }
    case UVBLE_IRQ_L2CAP_DISCONNECT:
      out(i, "%s %u %d", irq_name(ev), d->l2cap_disconnect.psm,
          d->l2cap_disconnect.status);
      break;
    case UVBLE_IRQ_L2CAP_RECV:
      if (ch->receiving) chan_drain(i, ch);
      break;
    default:
      break;
  }
}

TEST(ble_l2cap) {
  uv_loop_init(&loop);
  struct chan ch0, ch1;
  memset(&ch0, 0, sizeof ch0);
  memset(&ch1, 0, sizeof ch1);
  struct inst i0 = {.name = "instance0", .handler = irq, .ctx = &ch0};
  struct inst i1 = {.name = "instance1", .handler = irq, .ctx = &ch1};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, NULL);

  uint16_t c1 = connect_steps(&i0, &i1, NULL);

  AS(&i0) {
    out(&i0, "l2cap_listen");
    REQUIRE_EQ(uvble_l2cap_listen(i0.ble, L2CAP_PSM, L2CAP_MTU), 0);
  }
  int cid = 0;
  AS(&i1) {
    out(&i1, "l2cap_connect");
    cid = uvble_l2cap_connect(i1.ble, c1, L2CAP_PSM, L2CAP_MTU);
    REQUIRE(cid > 0);
  }
  AS(&i0) {
    wait_for(&i0, UVBLE_IRQ_L2CAP_ACCEPT, CONF_TIMEOUT_MS);
    wait_for(&i0, UVBLE_IRQ_L2CAP_CONNECT, CONF_TIMEOUT_MS);
  }
  AS(&i1) {
    wait_for(&i1, UVBLE_IRQ_L2CAP_CONNECT, CONF_TIMEOUT_MS);
    CHECK_EQ(ch1.cid, cid);
  }

  /* Central -> peripheral. */
  rng_seed(&ch0);
  rng_seed(&ch1);
  ch0.expected = ch1.expected = EXPECTED_BYTES;
  AS(&i0) {
    out(&i0, "l2cap_recvinto %d", EXPECTED_BYTES);
    ch0.receiving = true;
  }
  AS(&i1) {
    out(&i1, "l2cap_send %d %d", NUM_PAYLOADS, PAYLOAD_LEN);
    chan_send(&i1, &ch1, NUM_PAYLOADS, PAYLOAD_LEN, PAYLOAD_LEN_STEP);
  }
  AS(&i0) REQUIRE(run_until_pred(&loop, chan_received_pred, &ch0, CONF_TIMEOUT_MS));

  /* Peripheral -> central. */
  AS(&i1) {
    out(&i1, "l2cap_recvinto %d", EXPECTED_BYTES);
    ch1.receiving = true;
  }
  AS(&i0) {
    out(&i0, "l2cap_send %d %d", NUM_PAYLOADS, PAYLOAD_LEN);
    chan_send(&i0, &ch0, NUM_PAYLOADS, PAYLOAD_LEN, PAYLOAD_LEN_STEP);
  }
  AS(&i1) {
    REQUIRE(run_until_pred(&loop, chan_received_pred, &ch1, CONF_TIMEOUT_MS));

    out(&i1, "l2cap_disconnect");
    REQUIRE_EQ(uvble_l2cap_disconnect(i1.ble, c1, ch1.cid), 0);
    wait_for(&i1, UVBLE_IRQ_L2CAP_DISCONNECT, CONF_TIMEOUT_MS);
  }
  AS(&i0) {
    wait_for(&i0, UVBLE_IRQ_L2CAP_DISCONNECT, CONF_TIMEOUT_MS);
    out(&i0, "received %zu %zu", ch0.recv_bytes, ch0.recv_correct);
  }
  AS(&i1) out(&i1, "received %zu %zu", ch1.recv_bytes, ch1.recv_correct);

  disconnect_steps(&i1, c1, &i0);

  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
