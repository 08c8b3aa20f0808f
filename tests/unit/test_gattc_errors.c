/* SPDX-License-Identifier: Apache-2.0 */
/* GATT client against a misbehaving or vanishing server: malformed
 * responses, transaction timeouts, the link dropping while operations are
 * pending, and the stack closed or powered down from inside an irq. */
#include "test_gattc_peer.h"

enum { OP_SVC, OP_SVC_UUID, OP_CHR, OP_DSC, OP_READ, OP_WRITE, OP_LONG_WRITE };

static const uint8_t LONG_VALUE[40] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static int start_op(int op) {
  uvble_uuid_t u = uvble_uuid16(0x180d);
  switch (op) {
    case OP_SVC: return uvble_gattc_discover_services(ble, CONN, NULL);
    case OP_SVC_UUID: return uvble_gattc_discover_services(ble, CONN, &u);
    case OP_CHR:
      return uvble_gattc_discover_characteristics(ble, CONN, 1, 0x20, NULL);
    case OP_DSC: return uvble_gattc_discover_descriptors(ble, CONN, 0, 0x10);
    case OP_READ: return uvble_gattc_read(ble, CONN, 0x0005);
    case OP_WRITE: return uvble_gattc_write(ble, CONN, 0x0005, "ab", 2, 1);
    default:
      return uvble_gattc_write(ble, CONN, 0x0005, LONG_VALUE,
                               sizeof LONG_VALUE, 1);
  }
}

static int done_event(int op) {
  switch (op) {
    case OP_SVC:
    case OP_SVC_UUID: return UVBLE_IRQ_GATTC_SERVICE_DONE;
    case OP_CHR: return UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE;
    case OP_DSC: return UVBLE_IRQ_GATTC_DESCRIPTOR_DONE;
    case OP_READ: return UVBLE_IRQ_GATTC_READ_DONE;
    default: return UVBLE_IRQ_GATTC_WRITE_DONE;
  }
}

static int done_status(const struct ev *e) {
  if (e->type == UVBLE_IRQ_GATTC_READ_DONE ||
      e->type == UVBLE_IRQ_GATTC_WRITE_DONE)
    return e->d.gatt_status.status;
  return e->d.done.status;
}

/* ---- malformed responses -------------------------------------------------- */
struct bad_case {
  const char *name;
  int op;
  uint8_t pre[24]; /* a valid first response, if pre_len */
  size_t pre_len;
  uint8_t rsp[24];
  size_t len;
};

#define B(...) {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})
#define NONE {0}, 0

static const struct bad_case bad_cases[] = {
    {"svc opcode only", OP_SVC, NONE, B(0x11)},
    {"svc no elements", OP_SVC, NONE, B(0x11, 6)},
    {"svc element length 7", OP_SVC, NONE, B(0x11, 7, 1, 0, 5, 0, 0, 0x18, 0)},
    {"svc element length 0", OP_SVC, NONE, B(0x11, 0)},
    {"svc partial element", OP_SVC, NONE,
     B(0x11, 6, 1, 0, 5, 0, 0, 0x18, 6, 0)},
    {"svc 128-bit length, 16-bit data", OP_SVC, NONE,
     B(0x11, 20, 1, 0, 5, 0, 0, 0x18)},
    {"svc handle 0", OP_SVC, NONE, B(0x11, 6, 0, 0, 5, 0, 0, 0x18)},
    {"svc end before start", OP_SVC, NONE, B(0x11, 6, 5, 0, 1, 0, 0, 0x18)},
    {"svc backwards in a page", OP_SVC, NONE,
     B(0x11, 6, 5, 0, 9, 0, 0, 0x18, 3, 0, 4, 0, 1, 0x18)},
    {"svc overlapping groups", OP_SVC, NONE,
     B(0x11, 6, 5, 0, 9, 0, 0, 0x18, 9, 0, 12, 0, 1, 0x18)},
    {"svc backwards across pages", OP_SVC, B(0x11, 6, 1, 0, 9, 0, 0, 0x18),
     B(0x11, 6, 3, 0, 4, 0, 0, 0x18)},
    {"svc same page again", OP_SVC, B(0x11, 6, 1, 0, 9, 0, 0, 0x18),
     B(0x11, 6, 1, 0, 9, 0, 0, 0x18)},
    {"svc error for another request", OP_SVC, NONE,
     B(0x01, 0x0a, 1, 0, 0x0a)},
    {"svc short error", OP_SVC, NONE, B(0x01, 0x10, 1, 0)},
    {"svc long error", OP_SVC, NONE, B(0x01, 0x10, 1, 0, 0x0a, 0)},
    {"svc error code 0", OP_SVC, NONE, B(0x01, 0x10, 1, 0, 0)},
    {"svc wrong opcode", OP_SVC, NONE, B(0x09, 7, 2, 0, 2, 3, 0, 0, 0x2a)},
    {"svc write response", OP_SVC, NONE, B(0x13)},
    {"svcu opcode only", OP_SVC_UUID, NONE, B(0x07)},
    {"svcu partial", OP_SVC_UUID, NONE, B(0x07, 1, 0, 5)},
    {"svcu handle 0", OP_SVC_UUID, NONE, B(0x07, 0, 0, 5, 0)},
    {"svcu backwards", OP_SVC_UUID, B(0x07, 5, 0, 9, 0), B(0x07, 2, 0, 3, 0)},
    {"chr length 6", OP_CHR, NONE, B(0x09, 6, 2, 0, 2, 3, 0, 0)},
    {"chr length 21, 7 bytes", OP_CHR, NONE,
     B(0x09, 21, 2, 0, 2, 3, 0, 0, 0x2a)},
    {"chr opcode and length only", OP_CHR, NONE, B(0x09, 7)},
    {"chr declaration 0", OP_CHR, NONE, B(0x09, 7, 0, 0, 2, 1, 0, 0, 0x2a)},
    {"chr above range", OP_CHR, NONE, B(0x09, 7, 0x21, 0, 2, 0x22, 0, 0, 0x2a)},
    {"chr backwards", OP_CHR, B(0x09, 7, 5, 0, 2, 6, 0, 0, 0x2a),
     B(0x09, 7, 4, 0, 2, 5, 0, 0, 0x2a)},
    {"dsc format 3", OP_DSC, NONE, B(0x05, 3, 1, 0, 0, 0x29)},
    {"dsc format 0", OP_DSC, NONE, B(0x05, 0)},
    {"dsc partial", OP_DSC, NONE, B(0x05, 1, 1, 0, 0)},
    {"dsc format 2, 16-bit data", OP_DSC, NONE, B(0x05, 2, 1, 0, 2, 0x29)},
    {"dsc handle 0", OP_DSC, NONE, B(0x05, 1, 0, 0, 2, 0x29)},
    {"dsc above range", OP_DSC, NONE, B(0x05, 1, 0x11, 0, 2, 0x29)},
    {"dsc repeated", OP_DSC, B(0x05, 1, 5, 0, 2, 0x29), B(0x05, 1, 5, 0, 2, 0x29)},
    {"read write response", OP_READ, NONE, B(0x13)},
    {"read blob response to read", OP_READ, NONE, B(0x0d, 1)},
    {"read error for another request", OP_READ, NONE,
     B(0x01, 0x12, 5, 0, 0x0a)},
    {"write response with payload", OP_WRITE, NONE, B(0x13, 0)},
    {"write read response", OP_WRITE, NONE, B(0x0b)},
    {"write error code 0", OP_WRITE, NONE, B(0x01, 0x12, 5, 0, 0)},
};


TEST(malformed_responses_end_the_operation_with_eproto) {
  peer_up();
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const struct bad_case *bc = &bad_cases[i];
    int from = nev;
    uint64_t bad0 = malformed_count();
    REQUIRE_EQ(start_op(bc->op), 0);
    uint8_t got[600];
    REQUIRE(peer_recv(got) > 0);
    if (bc->pre_len) {
      peer_send(bc->pre, bc->pre_len);
      REQUIRE(peer_recv(got) > 0);
    }
    peer_send(bc->rsp, bc->len);
    int d = wait_ev(done_event(bc->op), from, 200);
    if (d < 0 || done_status(&evs[d]) != UVBLE_EPROTO ||
        malformed_count() != bad0 + 1)
      test_fail(__FILE__, __LINE__, "case \"%s\": done %d status %d", bc->name,
                d, d >= 0 ? done_status(&evs[d]) : 0);
    /* No further request: the operation is over. */
    if (!peer_quiet(5))
      test_fail(__FILE__, __LINE__, "case \"%s\": client kept going",
                bc->name);
    acl_seen = sc_acl_count(sc);
    /* Nothing reported from a rejected page, nor the held-back
     * characteristic of a discovery the stack ended. */
    for (int k = from; k < nev; k++)
      if (evs[k].type == UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT ||
          (evs[k].type == UVBLE_IRQ_GATTC_SERVICE_RESULT && !bc->pre_len) ||
          (evs[k].type == UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT && !bc->pre_len))
        test_fail(__FILE__, __LINE__, "case \"%s\": result reported",
                  bc->name);
  }
  /* The bearer is still usable. */
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0005), 0);
  EXPECT_REQ(0x0a, 0x05, 0x00);
  int from = nev;
  PEER_SEND(0x0b, 'o', 'k');
  int d = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, from, 200);
  REQUIRE(d > 0);
  CHECK_EQ(evs[d].d.gatt_status.status, 0);
  peer_down();
}

TEST(malformed_prepare_response_cancels_the_queued_write) {
  peer_up();
  REQUIRE_EQ(start_op(OP_LONG_WRITE), 0);
  uint8_t got[600];
  REQUIRE_EQ(peer_recv(got), 23);
  PEER_SEND(0x13); /* a Write Response to a Prepare Write */
  EXPECT_REQ(0x18, 0x00);
  PEER_SEND(0x19);
  int d = wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 0, 200);
  REQUIRE_EQ(d, 0);
  CHECK_EQ(evs[d].d.gatt_status.status, UVBLE_EPROTO);
  /* A short echo too. */
  REQUIRE_EQ(start_op(OP_LONG_WRITE), 0);
  REQUIRE_EQ(peer_recv(got), 23);
  got[0] = 0x17;
  peer_send(got, 10);
  EXPECT_REQ(0x18, 0x00);
  PEER_SEND(0x19);
  d = wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 1, 200);
  REQUIRE_EQ(d, 1);
  CHECK_EQ(evs[d].d.gatt_status.status, UVBLE_EPROTO);
  /* An echo naming another offset. */
  REQUIRE_EQ(start_op(OP_LONG_WRITE), 0);
  REQUIRE_EQ(peer_recv(got), 23);
  got[0] = 0x17;
  got[3] = 1;
  peer_send(got, 23);
  EXPECT_REQ(0x18, 0x00);
  PEER_SEND(0x19);
  d = wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 2, 200);
  REQUIRE_EQ(d, 2);
  CHECK_EQ(evs[d].d.gatt_status.status, UVBLE_EPROTO);
  peer_down();
}

/* ---- timeouts -------------------------------------------------------------- */
TEST(transaction_timeout_ends_operation_and_bearer) {
  peer_up_timeout(100);
  REQUIRE_EQ(start_op(OP_SVC), 0);
  REQUIRE_EQ(start_op(OP_READ), 0);
  REQUIRE_EQ(start_op(OP_WRITE), 0);
  uint8_t got[600];
  REQUIRE(peer_recv(got) > 0);
  uint64_t t0 = uv_now(&loop);
  int d = wait_ev(UVBLE_IRQ_GATTC_SERVICE_DONE, 0, 2000);
  REQUIRE_EQ(d, 0);
  CHECK(uv_now(&loop) - t0 >= 90);
  CHECK_EQ(evs[d].d.done.status, UVBLE_ETIMEDOUT);
  /* The bearer is unusable (Vol 3, Part F, 3.3.3): what was queued ends. */
  int r = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 0, 200);
  int w = wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 0, 200);
  REQUIRE(r > 0 && w > r);
  CHECK_EQ(evs[r].d.gatt_status.status, UVBLE_EIO);
  CHECK_EQ(evs[w].d.gatt_status.status, UVBLE_EIO);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_READ_RESULT), 0);
  CHECK(peer_quiet(10));
  /* New operations are refused at once. */
  CHECK_EQ(start_op(OP_READ), UVBLE_EIO);
  CHECK_EQ(start_op(OP_CHR), UVBLE_EIO);
  /* The slot of the failed discovery is free: the error is the bearer's. */
  CHECK_EQ(start_op(OP_DSC), UVBLE_EIO);
  run_until_idle(&loop, 5000);
  CHECK_EQ(nev, 3);
  peer_down();
}

TEST(timeout_in_the_middle_of_procedures) {
  /* Characteristic discovery: the held-back result is not reported. */
  peer_up_timeout(60);
  REQUIRE_EQ(start_op(OP_CHR), 0);
  uint8_t got[600];
  REQUIRE(peer_recv(got) > 0);
  PEER_SEND(0x09, 7, 2, 0, 2, 3, 0, 0, 0x2a);
  REQUIRE(peer_recv(got) > 0);
  int d = wait_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, 0, 2000);
  REQUIRE_EQ(d, 0);
  CHECK_EQ(evs[d].d.done.status, UVBLE_ETIMEDOUT);
  peer_down();
  /* Long write between prepares. */
  peer_up_timeout(60);
  REQUIRE_EQ(start_op(OP_LONG_WRITE), 0);
  REQUIRE_EQ(peer_recv(got), 23);
  got[0] = 0x17;
  peer_send(got, 23);
  REQUIRE_EQ(peer_recv(got), 23);
  d = wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 0, 2000);
  REQUIRE_EQ(d, 0);
  CHECK_EQ(evs[d].d.gatt_status.status, UVBLE_ETIMEDOUT);
  CHECK(peer_quiet(10));
  peer_down();
  /* Long read between blobs. */
  peer_up_timeout(60);
  REQUIRE_EQ(start_op(OP_READ), 0);
  REQUIRE(peer_recv(got) > 0);
  uint8_t p[23] = {0x0b};
  peer_send(p, 23);
  EXPECT_REQ(0x0c, 0x05, 0x00, 22, 0x00);
  d = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 0, 2000);
  REQUIRE_EQ(d, 0);
  CHECK_EQ(evs[d].d.gatt_status.status, UVBLE_ETIMEDOUT);
  peer_down();
}

/* ---- the link drops -------------------------------------------------------- */
/* Brings op to a state with a request pending (after a first response for
 * the multi-step procedures when mid is set). */
static void op_to_pending(int op, bool mid) {
  REQUIRE_EQ(start_op(op), 0);
  uint8_t got[600];
  size_t n = peer_recv(got);
  REQUIRE(n > 0);
  if (!mid) return;
  switch (op) {
    case OP_SVC: PEER_SEND(0x11, 6, 1, 0, 4, 0, 0, 0x18); break;
    case OP_SVC_UUID: PEER_SEND(0x07, 1, 0, 4, 0); break;
    case OP_CHR: PEER_SEND(0x09, 7, 2, 0, 2, 3, 0, 0, 0x2a); break;
    case OP_DSC: PEER_SEND(0x05, 1, 1, 0, 0, 0x28); break;
    case OP_READ: {
      uint8_t p[23] = {0x0b};
      peer_send(p, 23);
      break;
    }
    case OP_LONG_WRITE:
      got[0] = 0x17;
      peer_send(got, n);
      break;
    default: return;
  }
  REQUIRE(peer_recv(got) > 0);
}

TEST(disconnect_while_pending_completes_every_kind) {
  for (int op = OP_SVC; op <= OP_LONG_WRITE; op++) {
    for (int mid = 0; mid < 2; mid++) {
      peer_up();
      op_to_pending(op, mid);
      REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0077), 0); /* queued behind */
      int from = nev;
      sc_disconnect(sc, CONN, 0x08);
      int d = wait_ev(done_event(op), from, 200);
      int q = wait_ev(UVBLE_IRQ_GATTC_READ_DONE,
                      op == OP_READ ? d + 1 : from, 200);
      int disc = wait_ev(UVBLE_IRQ_PERIPHERAL_DISCONNECT, from, 200);
      if (d < 0 || done_status(&evs[d]) != UVBLE_EDISCONNECTED || q < 0 ||
          evs[q].d.gatt_status.value_handle != 0x77 ||
          done_status(&evs[q]) != UVBLE_EDISCONNECTED || disc < d ||
          disc < q)
        test_fail(__FILE__, __LINE__, "op %d mid %d: done %d queued %d disc %d",
                  op, mid, d, q, disc);
      /* Exactly one DONE each, nothing else. */
      CHECK_EQ(count_ev(done_event(op)), op == OP_READ ? 2 : 1);
      CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_READ_RESULT), 0);
      CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT), 0);
      CHECK_EQ(start_op(op), UVBLE_ENOTCONN);
      peer_down();
    }
  }
}

TEST(close_with_operations_pending) {
  peer_up();
  REQUIRE_EQ(start_op(OP_SVC), 0);
  REQUIRE_EQ(start_op(OP_READ), 0);
  REQUIRE_EQ(start_op(OP_LONG_WRITE), 0);
  uint8_t got[600];
  REQUIRE(peer_recv(got) > 0);
  /* The events are not delivered once uvble_close runs; nothing leaks. */
  int from = nev;
  peer_down();
  CHECK_EQ(nev, from);
}

/* ---- the stack closed or powered down from inside an irq ---------------------- */
static int close_after;
static int close_hook(int ev, const uvble_irq_data_t *d) {
  (void)d;
  if ((ev == UVBLE_IRQ_GATTC_SERVICE_RESULT ||
       ev == UVBLE_IRQ_GATTC_READ_DONE) &&
      --close_after == 0) {
    uvble_close(ble, NULL, NULL);
    ble = NULL;
  }
  return 0;
}

TEST(close_from_inside_a_result_irq) {
  peer_up();
  irq_hook = close_hook;
  close_after = 2;
  REQUIRE_EQ(start_op(OP_SVC), 0);
  uint8_t got[600];
  REQUIRE(peer_recv(got) > 0);
  PEER_SEND(0x11, 6, 1, 0, 4, 0, 0, 0x18, 5, 0, 8, 0, 1, 0x18, 9, 0, 12, 0,
            0x0d, 0x18);
  run_until_idle(&loop, 5000);
  CHECK(ble == NULL);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_SERVICE_RESULT), 2);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_SERVICE_DONE), 0);
  peer_down();
}

TEST(close_from_inside_done_with_more_queued) {
  peer_up();
  irq_hook = close_hook;
  close_after = 1;
  REQUIRE_EQ(start_op(OP_READ), 0);
  REQUIRE_EQ(start_op(OP_WRITE), 0);
  REQUIRE_EQ(start_op(OP_READ), 0);
  uint8_t got[600];
  REQUIRE(peer_recv(got) > 0);
  PEER_SEND(0x0b, 1);
  run_until_idle(&loop, 5000);
  CHECK(ble == NULL);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_READ_DONE), 1);
  peer_down();
}

static int off_hook(int ev, const uvble_irq_data_t *d) {
  (void)d;
  if (ev == UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT && --close_after == 0)
    uvble_active(ble, false, NULL, NULL);
  return 0;
}

TEST(power_down_from_inside_a_result_irq) {
  peer_up();
  irq_hook = off_hook;
  close_after = 1;
  REQUIRE_EQ(start_op(OP_CHR), 0);
  REQUIRE_EQ(start_op(OP_READ), 0);
  uint8_t got[600];
  REQUIRE(peer_recv(got) > 0);
  /* Three declarations: the first result is reported after the second is
   * seen; the handler powers the stack down right there. */
  PEER_SEND(0x09, 7, 2, 0, 2, 3, 0, 0, 0x2a, 4, 0, 2, 5, 0, 1, 0x2a, 6, 0, 2,
            7, 0, 4, 0x2a);
  run_until_idle(&loop, 5000);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT), 1);
  int d = wait_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, 0, 100);
  REQUIRE(d > 0);
  CHECK_EQ(evs[d].d.done.status, UVBLE_EDISCONNECTED);
  int r = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 0, 100);
  REQUIRE(r > d);
  CHECK_EQ(evs[r].d.gatt_status.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE), 1);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_READ_DONE), 1);
  CHECK(!uvble_is_active(ble));
  CHECK_EQ(start_op(OP_READ), UVBLE_ENOTACTIVE);
  peer_down();
}

static int close_on_disconnected_hook(int ev, const uvble_irq_data_t *d) {
  if (ev == UVBLE_IRQ_GATTC_READ_DONE &&
      d->gatt_status.status == UVBLE_EDISCONNECTED && ble) {
    uvble_close(ble, NULL, NULL);
    ble = NULL;
  }
  return 0;
}

TEST(close_from_a_done_raised_by_the_link_dropping) {
  /* The DONE comes from inside the connection's removal; closing the stack
   * there removes the same connection again. */
  peer_up();
  irq_hook = close_on_disconnected_hook;
  REQUIRE_EQ(start_op(OP_READ), 0);
  REQUIRE_EQ(start_op(OP_SVC), 0);
  uint8_t got[600];
  REQUIRE(peer_recv(got) > 0);
  sc_disconnect(sc, CONN, 0x08);
  run_until_idle(&loop, 5000);
  CHECK(ble == NULL);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_READ_DONE), 1);
  peer_down();
}

static int off_on_disconnected_hook(int ev, const uvble_irq_data_t *d) {
  if (ev == UVBLE_IRQ_GATTC_READ_DONE &&
      d->gatt_status.status == UVBLE_EDISCONNECTED)
    uvble_active(ble, false, NULL, NULL);
  return 0;
}

TEST(power_down_from_a_done_raised_by_the_link_dropping) {
  peer_up();
  irq_hook = off_on_disconnected_hook;
  REQUIRE_EQ(start_op(OP_READ), 0);
  REQUIRE_EQ(start_op(OP_WRITE), 0);
  uint8_t got[600];
  REQUIRE(peer_recv(got) > 0);
  sc_disconnect(sc, CONN, 0x08);
  run_until_idle(&loop, 5000);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_READ_DONE), 1);
  int w = wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 0, 100);
  REQUIRE(w > 0);
  CHECK_EQ(evs[w].d.gatt_status.status, UVBLE_EDISCONNECTED);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_WRITE_DONE), 1);
  CHECK(!uvble_is_active(ble));
  CHECK(conn_find(ble, CONN) == NULL);
  peer_down();
}

TEST_MAIN()
