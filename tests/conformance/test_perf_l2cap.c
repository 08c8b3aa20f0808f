/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/perf_l2cap.py: 20 SDUs of 512 bytes
 * (MTU 512) from peripheral to central as fast as the channel allows,
 * checked against the seeded sequence. The original prints nothing (its
 * .exp has empty sections); the figure is an OUTPUT_METRIC line. The
 * receiver reads from inside its irq handler (see ble_l2cap). */
#include "l2cap_common.h"

#define L2CAP_MTU 512
#define PAYLOAD_LEN L2CAP_MTU
#define NUM_PAYLOADS 20

static const char *const EXP0[] = {NULL};
static const char *const EXP1[] = {NULL};

static void irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  struct chan *ch = i->ctx;
  switch (ev) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
      post_val(i, ev, d->connect.conn_handle);
      break;
    case UVBLE_IRQ_L2CAP_ACCEPT:
    case UVBLE_IRQ_L2CAP_CONNECT:
      ch->conn = d->l2cap_connect.conn_handle;
      ch->cid = d->l2cap_connect.cid;
      break;
    case UVBLE_IRQ_L2CAP_RECV:
      if (ch->receiving) chan_drain(i, ch);
      break;
    default:
      break;
  }
}

TEST(perf_l2cap) {
  uv_loop_init(&loop);
  struct chan ch0, ch1;
  memset(&ch0, 0, sizeof ch0);
  memset(&ch1, 0, sizeof ch1);
  struct inst i0 = {.name = "instance0", .handler = irq, .ctx = &ch0};
  struct inst i1 = {.name = "instance1", .handler = irq, .ctx = &ch1};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, NULL);

  AS(&i0) advertise(&i0, 20000, true);
  uint16_t c1 = 0;
  AS(&i1) {
    REQUIRE_EQ(conf_gap_connect(&i1, &i0, 0), 0);
    c1 = (uint16_t)wait_for(&i1, UVBLE_IRQ_PERIPHERAL_CONNECT, CONF_TIMEOUT_MS);
  }
  AS(&i0) {
    wait_for(&i0, UVBLE_IRQ_CENTRAL_CONNECT, CONF_TIMEOUT_MS);
    REQUIRE_EQ(uvble_l2cap_listen(i0.ble, L2CAP_PSM, L2CAP_MTU), 0);
  }
  AS(&i1) REQUIRE(uvble_l2cap_connect(i1.ble, c1, L2CAP_PSM, L2CAP_MTU) > 0);
  AS(&i0) {
    wait_for(&i0, UVBLE_IRQ_L2CAP_ACCEPT, CONF_TIMEOUT_MS);
    wait_for(&i0, UVBLE_IRQ_L2CAP_CONNECT, CONF_TIMEOUT_MS);
  }
  AS(&i1) wait_for(&i1, UVBLE_IRQ_L2CAP_CONNECT, CONF_TIMEOUT_MS);

  rng_seed(&ch0);
  rng_seed(&ch1);
  ch1.expected = PAYLOAD_LEN * NUM_PAYLOADS;
  ch1.receiving = true;
  AS(&i0) chan_send(&i0, &ch0, NUM_PAYLOADS, PAYLOAD_LEN, 0);
  AS(&i1) {
    REQUIRE(run_until_pred(&loop, chan_received_pred, &ch1, 10000));
    REQUIRE_EQ(uvble_l2cap_disconnect(i1.ble, c1, ch1.cid), 0);
    wait_for(&i1, UVBLE_IRQ_L2CAP_DISCONNECT, CONF_TIMEOUT_MS);
  }
  AS(&i0) wait_for(&i0, UVBLE_IRQ_L2CAP_DISCONNECT, CONF_TIMEOUT_MS);
  AS(&i1) {
    uint64_t us = (ch1.t_last - ch1.t_first) / 1000;
    if (us == 0) us = 1;
    metric("perf_l2cap: Received %zu/%zu bytes in %.3f ms. %llu B/s", ch1.recv_bytes,
           ch1.recv_correct, us / 1000.0,
           (unsigned long long)(ch1.recv_bytes * 1000000 / us));
    CHECK_EQ(ch1.recv_bytes, PAYLOAD_LEN * NUM_PAYLOADS);
    CHECK_EQ(ch1.recv_correct, PAYLOAD_LEN * NUM_PAYLOADS);

    CHECK_EQ(uvble_gap_disconnect(i1.ble, c1), 1);
    wait_for(&i1, UVBLE_IRQ_PERIPHERAL_DISCONNECT, CONF_TIMEOUT_MS);
  }
  AS(&i0) wait_for(&i0, UVBLE_IRQ_CENTRAL_DISCONNECT, CONF_TIMEOUT_MS);

  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
