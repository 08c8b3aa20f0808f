/* SPDX-License-Identifier: Apache-2.0 */
/* Faults: the peer vanishes (the link drops, as a supervision timeout ends
 * it) while operations are pending on it: service discovery, a long read,
 * a long write, an indication, L2CAP transfers and channel requests, and a
 * pairing. Every one completes exactly once, with UVBLE_EDISCONNECTED
 * (open channels: L2CAP_DISCONNECT status 0, "closed with its link",
 * l2cap.h), before the DISCONNECT event; nothing completes twice, nothing
 * leaks (ASan), and both stacks keep working and close cleanly.
 *
 * Two stacks on the in-memory controller pair (memctl): A central (the
 * GATT client, L2CAP sender, pairing initiator), B peripheral (the GATT
 * server). The drop is made either with everything queued at once, or
 * from inside an irq at a chosen point (mid-discovery, mid-long-read,
 * mid-transfer). */
#include <stdlib.h>
#include <string.h>

#include "memctl.h"
#include "test.h"
#include "uvble/gap.h"
#include "uvble/gatt.h"
#include "uvble/gattc.h"
#include "uvble/gatts.h"
#include "uvble/l2cap.h"
#include "uvble/security.h"

static uv_loop_t loop;
static memctl_t *mc;

#define MAX_EV 1024
struct rec {
  int type;
  int status;
  uint16_t handle; /* value handle / cid */
};
struct side {
  uvble_t *ble;
  struct rec ev[MAX_EV];
  int nev;
  /* Drop the link from inside the irq handler at the n-th event of type. */
  int drop_on;
  int drop_nth;
  uint16_t conn;
};
static struct side A, B;

static int status_of(int type, const uvble_irq_data_t *d, uint16_t *h) {
  switch (type) {
    case UVBLE_IRQ_GATTC_SERVICE_DONE:
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE:
    case UVBLE_IRQ_GATTC_DESCRIPTOR_DONE:
      return d->done.status;
    case UVBLE_IRQ_GATTC_READ_DONE:
    case UVBLE_IRQ_GATTC_WRITE_DONE:
    case UVBLE_IRQ_GATTS_INDICATE_DONE:
      *h = d->gatt_status.value_handle;
      return d->gatt_status.status;
    case UVBLE_IRQ_L2CAP_DISCONNECT:
      *h = d->l2cap_disconnect.cid;
      return d->l2cap_disconnect.status;
    case UVBLE_IRQ_ENCRYPTION_UPDATE:
      return d->encryption.status;
    default:
      return 0;
  }
}

static int on_irq(uvble_t *ble, int type, const uvble_irq_data_t *d, void *arg) {
  (void)ble;
  struct side *s = arg;
  uint16_t h = 0;
  int st = status_of(type, d, &h);
  if (s->nev < MAX_EV) s->ev[s->nev++] = (struct rec){type, st, h};
  if (type == UVBLE_IRQ_PERIPHERAL_CONNECT || type == UVBLE_IRQ_CENTRAL_CONNECT)
    s->conn = d->connect.conn_handle;
  if (s->drop_on == type && --s->drop_nth == 0) {
    s->drop_on = 0;
    memctl_disconnect(mc, s->conn, 0x08); /* connection timeout */
  }
  return 0;
}

static int count(const struct side *s, int type) {
  int n = 0;
  for (int i = 0; i < s->nev; i++) n += s->ev[i].type == type;
  return n;
}

static int index_of(const struct side *s, int type, int from) {
  for (int i = from; i < s->nev; i++)
    if (s->ev[i].type == type) return i;
  return -1;
}

/* Exactly one event of type, with status, before the DISCONNECT event. */
#define ONCE_BEFORE_DROP(s, type, st) once_before_drop(s, type, st, __LINE__)
static void once_before_drop(const struct side *s, int type, int st, int line) {
  int disc = s == &A ? UVBLE_IRQ_PERIPHERAL_DISCONNECT : UVBLE_IRQ_CENTRAL_DISCONNECT;
  int i = index_of(s, type, 0);
  if (i < 0 || count(s, type) != 1 || s->ev[i].status != st ||
      i > index_of(s, disc, 0))
    test_fail(__FILE__, line, "%s: %d event(s), first status %d, want one with %d before %s",
              uvble_irq_name(type), count(s, type), i >= 0 ? s->ev[i].status : 0, st,
              uvble_irq_name(disc));
}

struct waitc {
  const struct side *s;
  int type, n;
};
static bool waitc_pred(void *arg) {
  const struct waitc *w = arg;
  return count(w->s, w->type) >= w->n;
}
/* Runs the loop until s has seen n events of type (bounded: 10 s, for a
 * loaded machine under ASan). */
static bool wait_count(const struct side *s, int type, int n) {
  struct waitc w = {s, type, n};
  return run_until_pred(&loop, waitc_pred, &w, 10000);
}

/* Both sides have seen the link drop (the n-th time). */
static void wait_drop(int n) {
  REQUIRE(wait_count(&A, UVBLE_IRQ_PERIPHERAL_DISCONNECT, n));
  REQUIRE(wait_count(&B, UVBLE_IRQ_CENTRAL_DISCONNECT, n));
}

static uint16_t long_h, ind_h;
#define PSM 0x0080

static void setup(void) {
  uv_loop_init(&loop);
  memset(&A, 0, sizeof A);
  memset(&B, 0, sizeof B);
  REQUIRE_EQ(memctl_bring_up(&loop, NULL, &mc, &A.ble, &B.ble), 0);
  uvble_irq(A.ble, on_irq, &A);
  uvble_irq(B.ble, on_irq, &B);
  /* B's server: a 512-byte value (a long read: 23-byte MTU, 24 Read Blobs)
   * and an indicated characteristic. */
  uvble_gatts_characteristic_t chrs[2] = {
      {.uuid = uvble_uuid16(0xFE01), .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE},
      {.uuid = uvble_uuid16(0xFE02), .flags = UVBLE_FLAG_READ | UVBLE_FLAG_INDICATE},
  };
  uvble_gatts_service_t svc = {
      .uuid = uvble_uuid16(0xFE00), .characteristics = chrs, .num_characteristics = 2};
  uint16_t h[2];
  REQUIRE_EQ(uvble_gatts_register_services(B.ble, &svc, 1, h, 2), 2);
  long_h = h[0];
  ind_h = h[1];
  uint8_t v[512];
  for (int k = 0; k < 512; k++) v[k] = (uint8_t)k;
  REQUIRE_EQ(uvble_gatts_write(B.ble, long_h, v, sizeof v, false), 0);
  REQUIRE_EQ(uvble_l2cap_listen(B.ble, PSM, 512), 0);
  REQUIRE(memctl_connect(mc) >= 0);
  REQUIRE(wait_count(&A, UVBLE_IRQ_PERIPHERAL_CONNECT, 1));
  REQUIRE(wait_count(&B, UVBLE_IRQ_CENTRAL_CONNECT, 1));
}

static void teardown(void) {
  uvble_close(A.ble, NULL, NULL);
  uvble_close(B.ble, NULL, NULL);
  memctl_free(mc);
  uv_run(&loop, UV_RUN_DEFAULT);
  loop_teardown(&loop);
}

/* After the drop, each stack still works: they connect again and A reads a
 * value from B. */
static void both_still_work(void) {
  int n = count(&A, UVBLE_IRQ_GATTC_READ_DONE);
  int c = count(&A, UVBLE_IRQ_PERIPHERAL_CONNECT);
  REQUIRE(memctl_connect(mc) >= 0);
  REQUIRE(wait_count(&A, UVBLE_IRQ_PERIPHERAL_CONNECT, c + 1));
  REQUIRE_EQ(uvble_gattc_read(A.ble, A.conn, ind_h), 0);
  REQUIRE(wait_count(&A, UVBLE_IRQ_GATTC_READ_DONE, n + 1));
  CHECK_EQ(A.ev[index_of(&A, UVBLE_IRQ_GATTC_READ_DONE, A.nev - 2 > 0 ? A.nev - 2 : 0)].status, 0);
}

TEST(link_drops_with_every_kind_of_operation_pending) {
  setup();
  /* A: discovery in flight, a long read and a long write queued behind it,
   * a channel being requested and a pairing started. */
  REQUIRE_EQ(uvble_gattc_discover_services(A.ble, A.conn, NULL), 0);
  REQUIRE_EQ(uvble_gattc_read(A.ble, A.conn, long_h), 0);
  uint8_t big[300];
  memset(big, 0x5A, sizeof big);
  REQUIRE_EQ(uvble_gattc_write(A.ble, A.conn, long_h, big, sizeof big, 1), 0);
  int cid = uvble_l2cap_connect(A.ble, A.conn, PSM, 512);
  REQUIRE(cid > 0);
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  /* B: an indication waiting for its confirmation. */
  REQUIRE_EQ(uvble_gatts_indicate(B.ble, B.conn, ind_h, NULL, 0), 0);
  /* The peer vanishes before any of it completes. */
  memctl_disconnect(mc, A.conn, 0x08);
  wait_drop(1);
  run_until_idle(&loop, 5000);

  REQUIRE_EQ(count(&A, UVBLE_IRQ_PERIPHERAL_DISCONNECT), 1);
  REQUIRE_EQ(count(&B, UVBLE_IRQ_CENTRAL_DISCONNECT), 1);
  ONCE_BEFORE_DROP(&A, UVBLE_IRQ_GATTC_SERVICE_DONE, UVBLE_EDISCONNECTED);
  ONCE_BEFORE_DROP(&A, UVBLE_IRQ_GATTC_READ_DONE, UVBLE_EDISCONNECTED);
  ONCE_BEFORE_DROP(&A, UVBLE_IRQ_GATTC_WRITE_DONE, UVBLE_EDISCONNECTED);
  ONCE_BEFORE_DROP(&A, UVBLE_IRQ_L2CAP_DISCONNECT, UVBLE_EDISCONNECTED);
  ONCE_BEFORE_DROP(&A, UVBLE_IRQ_ENCRYPTION_UPDATE, UVBLE_EDISCONNECTED);
  ONCE_BEFORE_DROP(&B, UVBLE_IRQ_GATTS_INDICATE_DONE, UVBLE_EDISCONNECTED);
  CHECK_EQ(count(&A, UVBLE_IRQ_GATTC_READ_RESULT), 0);
  CHECK_EQ(count(&A, UVBLE_IRQ_L2CAP_CONNECT), 0);
  /* The handle is gone: calls on it are refused, not queued. */
  CHECK_EQ(uvble_gattc_read(A.ble, A.conn, long_h), UVBLE_ENOTCONN);
  CHECK_EQ(uvble_gatts_indicate(B.ble, B.conn, ind_h, NULL, 0), UVBLE_ENOTCONN);
  both_still_work();
  teardown();
}

TEST(link_drops_in_the_middle_of_discovery) {
  setup();
  /* Dropped from inside the first SERVICE_RESULT: the discovery has more
   * pages to fetch. */
  A.drop_on = UVBLE_IRQ_GATTC_SERVICE_RESULT;
  A.drop_nth = 1;
  REQUIRE_EQ(uvble_gattc_discover_services(A.ble, A.conn, NULL), 0);
  wait_drop(1);
  ONCE_BEFORE_DROP(&A, UVBLE_IRQ_GATTC_SERVICE_DONE, UVBLE_EDISCONNECTED);
  both_still_work();
  teardown();
}

TEST(link_drops_in_the_middle_of_a_long_read_and_a_long_write) {
  setup();
  /* B raises READ_REQUEST for each Read and Read Blob: drop at the 3rd. */
  B.drop_on = UVBLE_IRQ_GATTS_READ_REQUEST;
  B.drop_nth = 3;
  REQUIRE_EQ(uvble_gattc_read(A.ble, A.conn, long_h), 0);
  wait_drop(1);
  ONCE_BEFORE_DROP(&A, UVBLE_IRQ_GATTC_READ_DONE, UVBLE_EDISCONNECTED);
  CHECK_EQ(count(&A, UVBLE_IRQ_GATTC_READ_RESULT), 0);
  CHECK_EQ(count(&B, UVBLE_IRQ_GATTS_READ_REQUEST), 3);

  /* A long write (300 bytes: Prepare Writes): run the loop only until the
   * first Prepare Write is on its way, then drop. B has queued a part and
   * never executes it: no GATTS_WRITE. */
  REQUIRE(memctl_connect(mc) >= 0);
  REQUIRE(wait_count(&A, UVBLE_IRQ_PERIPHERAL_CONNECT, 2));
  uint8_t big[300];
  memset(big, 0xA5, sizeof big);
  int before = A.nev;
  REQUIRE_EQ(uvble_gattc_write(A.ble, A.conn, long_h, big, sizeof big, 1), 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_run(&loop, UV_RUN_NOWAIT);
  memctl_disconnect(mc, A.conn, 0x08);
  wait_drop(2);
  int i = index_of(&A, UVBLE_IRQ_GATTC_WRITE_DONE, before);
  REQUIRE(i >= 0);
  CHECK_EQ(A.ev[i].status, UVBLE_EDISCONNECTED);
  CHECK_EQ(count(&B, UVBLE_IRQ_GATTS_WRITE), 0);
  /* B's value is untouched. */
  uint8_t v[512];
  size_t n = 0;
  REQUIRE_EQ(uvble_gatts_read(B.ble, long_h, v, sizeof v, &n), 0);
  CHECK_EQ(n, 512);
  CHECK_EQ(v[0], 0);
  both_still_work();
  teardown();
}

/* A sends as fast as its channel lets it; B reads from its irq. */
struct xfer {
  uint16_t a_cid, b_cid;
  size_t sent, received;
};
static struct xfer X;

static void pump_send(void) {
  uint8_t sdu[500];
  memset(sdu, 0x33, sizeof sdu);
  for (;;) {
    int r = uvble_l2cap_send(A.ble, A.conn, X.a_cid, sdu, sizeof sdu);
    if (r < 0) return;
    X.sent += sizeof sdu;
    if (r == 0) return;
  }
}

static int xfer_irq(uvble_t *ble, int type, const uvble_irq_data_t *d, void *arg) {
  struct side *s = arg;
  if (s == &B && type == UVBLE_IRQ_L2CAP_RECV) {
    uint8_t buf[600];
    int n;
    while ((n = uvble_l2cap_recvinto(ble, d->l2cap_io.conn_handle, d->l2cap_io.cid, buf,
                                     sizeof buf)) > 0)
      X.received += (size_t)n;
    if (X.received >= 20000 && s->conn) {
      memctl_disconnect(mc, s->conn, 0x08);
      s->conn = 0;
    }
  }
  if (s == &A && type == UVBLE_IRQ_L2CAP_SEND_READY) pump_send();
  if (type == UVBLE_IRQ_L2CAP_CONNECT) {
    if (s == &A) X.a_cid = d->l2cap_connect.cid;
    if (s == &B) X.b_cid = d->l2cap_connect.cid;
  }
  return on_irq(ble, type, d, arg);
}

TEST(link_drops_in_the_middle_of_an_l2cap_transfer) {
  setup();
  memset(&X, 0, sizeof X);
  uvble_irq(A.ble, xfer_irq, &A);
  uvble_irq(B.ble, xfer_irq, &B);
  REQUIRE(uvble_l2cap_connect(A.ble, A.conn, PSM, 512) > 0);
  REQUIRE(wait_count(&A, UVBLE_IRQ_L2CAP_CONNECT, 1));
  REQUIRE(wait_count(&B, UVBLE_IRQ_L2CAP_CONNECT, 1));
  REQUIRE(X.a_cid && X.b_cid);
  /* A second request still pending when the link drops. */
  int pending_cid = uvble_l2cap_connect(A.ble, A.conn, PSM + 1, 100);
  REQUIRE(pending_cid > 0);
  pump_send();
  wait_drop(1);
  run_until_idle(&loop, 5000);
  CHECK(X.received >= 20000);
  CHECK(X.sent > X.received); /* data was still queued */
  REQUIRE_EQ(count(&A, UVBLE_IRQ_PERIPHERAL_DISCONNECT), 1);
  /* The open channel ends with its link (status 0) on both sides; the
   * request to PSM + 1 (nobody listens there) either got its refusal
   * before the drop or ends with EDISCONNECTED: one event each way. */
  int open_done = 0, pending_done = 0;
  for (int i = 0; i < A.nev; i++) {
    if (A.ev[i].type != UVBLE_IRQ_L2CAP_DISCONNECT) continue;
    if (A.ev[i].handle == X.a_cid) {
      open_done++;
      CHECK_EQ(A.ev[i].status, 0);
    } else if (A.ev[i].handle == pending_cid) {
      pending_done++;
      CHECK(A.ev[i].status == UVBLE_EDISCONNECTED ||
            A.ev[i].status == UVBLE_L2CAP_RESULT_SPSM_NOT_SUPPORTED);
    }
  }
  CHECK_EQ(open_done, 1);
  CHECK_EQ(pending_done, 1);
  CHECK_EQ(count(&B, UVBLE_IRQ_L2CAP_DISCONNECT), 1);
  CHECK_EQ(uvble_l2cap_send(A.ble, A.conn, X.a_cid, "x", 1), UVBLE_ENOTCONN);
  uvble_irq(A.ble, on_irq, &A);
  uvble_irq(B.ble, on_irq, &B);
  both_still_work();
  teardown();
}

static bool asked_pred(void *arg) {
  (void)arg;
  return count(&A, UVBLE_IRQ_PASSKEY_ACTION) > 0 && count(&B, UVBLE_IRQ_PASSKEY_ACTION) > 0;
}

TEST(link_drops_while_the_peer_is_asked_to_confirm_a_passkey) {
  setup();
  /* Numeric comparison: both sides display and wait for their user. */
  for (int k = 0; k < 2; k++) {
    uvble_t *b = k ? B.ble : A.ble;
    REQUIRE_EQ(uvble_config_set_int(b, UVBLE_CONFIG_IO, UVBLE_IO_DISPLAY_YESNO), 0);
    REQUIRE_EQ(uvble_config_set_int(b, UVBLE_CONFIG_MITM, 1), 0);
  }
  REQUIRE_EQ(uvble_gap_pair(A.ble, A.conn), 0);
  /* Key generation under ASan on a busy machine can take a while. */
  REQUIRE(run_until_pred(&loop, asked_pred, NULL, 10000));
  REQUIRE_EQ(count(&A, UVBLE_IRQ_PASSKEY_ACTION), 1);
  memctl_disconnect(mc, A.conn, 0x13);
  wait_drop(1);
  ONCE_BEFORE_DROP(&A, UVBLE_IRQ_ENCRYPTION_UPDATE, UVBLE_EDISCONNECTED);
  ONCE_BEFORE_DROP(&B, UVBLE_IRQ_ENCRYPTION_UPDATE, UVBLE_EDISCONNECTED);
  /* The late answer is refused: nothing waits for it any more. */
  CHECK_EQ(uvble_gap_passkey(A.ble, A.conn, UVBLE_PASSKEY_ACTION_NUMCMP, 1),
           UVBLE_ENOTCONN);
  both_still_work();
  teardown();
}

TEST_MAIN()
