/* SPDX-License-Identifier: Apache-2.0 */
/* Data, then at once gap_disconnect() or uvble_close(), across processes
 * (see edges_xproc.h): write commands, a write request, notifications, an
 * indication and an L2CAP SDU, each queued by one host which ends the link
 * (or its whole stack) right after, without waiting for anything; the
 * other host must have received every byte, and see the link go down.
 * The write request and the indication are queued behind a burst of write
 * commands or notifications, so they are still in the host's queue (not
 * yet in the controller) when the host ends the link. */
#include "edges_xproc.h"

#define PSM 0x80
#define L2_MTU 2048
#define L2_SDU 2000 /* many K-frames and ACL fragments */
#define BURST 5     /* write commands / notifications queued at once */

enum act { WRITE_REQ, WRITE_CMD, NOTIFY, INDICATE, L2CAP_SDU };

/* what the receiver is missing, in a failure message */
static const char *const ACT_NAME[] = {"write commands and request", "write commands",
                                       "notifications", "notifications and indication",
                                       "L2CAP SDU"};

/* What the acting host sends: payload k of the burst. */
static size_t payload(enum act a, int k, uint8_t *buf) {
  if (a == L2CAP_SDU) {
    for (int j = 0; j < L2_SDU; j++) buf[j] = (uint8_t)(j * 7 + j / 251);
    return L2_SDU;
  }
  return (size_t)snprintf((char *)buf, 32, "%s-%d", a == WRITE_REQ || a == WRITE_CMD ? "central" : "periph", k);
}

static int burst(enum act a) { return a == L2CAP_SDU ? 1 : BURST; }

/* Everything the receiver must end up with, concatenated. */
static size_t expected(enum act a, uint8_t *buf) {
  size_t n = 0;
  for (int k = 0; k < burst(a); k++) n += payload(a, k, buf + n);
  return n;
}

static void act(struct inst *i, enum act a, uint16_t h) {
  struct edge *e = i->ctx;
  uint8_t buf[L2_SDU];
  for (int k = 0; k < burst(a); k++) {
    size_t n = payload(a, k, buf);
    switch (a) {
      case WRITE_REQ:
      case WRITE_CMD: {
        /* the write request last, behind the write commands */
        bool req = a == WRITE_REQ && k == BURST - 1;
        REQUIRE_EQ(uvble_gattc_write(i->ble, e->conn, h, buf, n, req), 0);
        break;
      }
      case NOTIFY:
      case INDICATE:
        /* the indication last, behind the notifications */
        if (a == INDICATE && k == BURST - 1)
          REQUIRE_EQ(uvble_gatts_indicate(i->ble, e->conn, h, buf, n), 0);
        else
          REQUIRE_EQ(uvble_gatts_notify(i->ble, e->conn, h, buf, n), 0);
        break;
      case L2CAP_SDU:
        REQUIRE(uvble_l2cap_send(i->ble, e->conn, e->l2_cid, buf, n) >= 0);
        break;
    }
    bool last = k == burst(a) - 1;
    out(i, "%s %d queued", a == L2CAP_SDU                ? "L2CAP SDU"
                           : a == WRITE_REQ && last      ? "write request"
                           : a == WRITE_REQ || a == WRITE_CMD ? "write command"
                           : a == INDICATE && last       ? "indication"
                                                         : "notification",
        k);
  }
}

struct arrived {
  struct edge *e;
  enum act a;
  size_t want;
};
static size_t got_len(const struct arrived *w) {
  switch (w->a) {
    case WRITE_REQ:
    case WRITE_CMD:
      return w->e->wlen;
    case NOTIFY:
    case INDICATE:
      return w->e->nlen;
    default:
      return w->e->l2_len;
  }
}
static bool arrived_pred(void *arg) {
  const struct arrived *w = arg;
  return got_len(w) >= w->want;
}

static void data_case(enum act a, enum edge_end end) {
  struct edge e0, e1;
  struct inst i0, i1, *all[3];
  edges_up(&i0, &e0, &i1, &e1, all, end, NULL);

  uvble_gatts_characteristic_t chr = {
      .uuid = parse_uuid("00000000-1111-2222-3333-444444444444"),
      .flags = UVBLE_FLAG_READ | UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_NO_RESPONSE |
               UVBLE_FLAG_NOTIFY | UVBLE_FLAG_INDICATE};
  uvble_gatts_service_t svc = {
      .uuid = parse_uuid("A5A5A5A5-FFFF-9999-1111-5A5A5A5A5A5A"),
      .characteristics = &chr,
      .num_characteristics = 1};
  uint16_t h = 0;
  AS(&i0) {
    REQUIRE_EQ(uvble_gatts_register_services(i0.ble, &svc, 1, &h, 1), 1);
    REQUIRE_EQ(uvble_l2cap_listen(i0.ble, PSM, L2_MTU), 0);
  }
  SHARE(&i0, h);
  edge_connect(&i0, &i1);
  if (a == L2CAP_SDU) {
    AS(&i1) {
      REQUIRE(uvble_l2cap_connect(i1.ble, e1.conn, PSM, L2_MTU) > 0);
      wait_for(&i1, UVBLE_IRQ_L2CAP_CONNECT, EDGE_WAIT_MS);
    }
    AS(&i0) wait_for(&i0, UVBLE_IRQ_L2CAP_CONNECT, EDGE_WAIT_MS);
  }

  /* The central writes and sends on L2CAP; the peripheral notifies. */
  bool central_acts = a == WRITE_REQ || a == WRITE_CMD || a == L2CAP_SDU;
  struct inst *actor = central_acts ? &i1 : &i0;
  struct inst *peer = central_acts ? &i0 : &i1;
  AS(actor) {
    act(actor, a, h);
    end_now(actor);
    wait_end(actor);
    if (end == END_CLOSE) restart(actor, NULL);
  }
  AS(peer) {
    static uint8_t want[L2_SDU * BURST];
    struct arrived w = {peer->ctx, a, expected(a, want)};
    bool ok = run_until_pred(&loop, arrived_pred, &w, EDGE_WAIT_MS);
    if (!ok)
      test_fail(__FILE__, __LINE__, "%s: %zu of %zu bytes of the %s arrived before %s",
                peer->name, got_len(&w), w.want, ACT_NAME[a], end_name(end));
    const uint8_t *got = a == L2CAP_SDU                   ? w.e->l2buf
                         : (a == NOTIFY || a == INDICATE) ? w.e->nbuf
                                                          : w.e->wbuf;
    if (ok) CHECK_MEM(got, want, w.want);
    wait_link_down(peer,
                   central_acts ? UVBLE_IRQ_CENTRAL_DISCONNECT
                                : UVBLE_IRQ_PERIPHERAL_DISCONNECT,
                   false);
  }
  insts_down(all);
}

TEST(write_request_then_disconnect) { data_case(WRITE_REQ, END_DISCONNECT); }
TEST(write_request_then_close) { data_case(WRITE_REQ, END_CLOSE); }
TEST(write_commands_then_disconnect) { data_case(WRITE_CMD, END_DISCONNECT); }
TEST(write_commands_then_close) { data_case(WRITE_CMD, END_CLOSE); }
TEST(notifications_then_disconnect) { data_case(NOTIFY, END_DISCONNECT); }
TEST(notifications_then_close) { data_case(NOTIFY, END_CLOSE); }
TEST(indication_then_disconnect) { data_case(INDICATE, END_DISCONNECT); }
TEST(indication_then_close) { data_case(INDICATE, END_CLOSE); }
TEST(l2cap_sdu_then_disconnect) { data_case(L2CAP_SDU, END_DISCONNECT); }
TEST(l2cap_sdu_then_close) { data_case(L2CAP_SDU, END_CLOSE); }

TEST_MAIN()
