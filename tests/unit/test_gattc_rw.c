/* SPDX-License-Identifier: Apache-2.0 */
/* GATT client reads, writes, notifications, indications and MTU exchange
 * against a scripted server. */
#include "test_gattc_peer.h"

static void fill(uint8_t *p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + i * 7);
}

TEST(read_short_value) {
  peer_up();
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0022), 0);
  EXPECT_REQ(0x0a, 0x22, 0x00);
  PEER_SEND(0x0b, 'p', 'e', 'r', 'i', 'p', 'h', '0');
  int done = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 0, 200);
  REQUIRE_EQ(done, 1);
  CHECK_EQ(evs[0].type, UVBLE_IRQ_GATTC_READ_RESULT);
  CHECK_EQ(evs[0].d.gattc_data.conn_handle, CONN);
  CHECK_EQ(evs[0].d.gattc_data.value_handle, 0x22);
  REQUIRE_EQ(evs[0].len, 7);
  CHECK_MEM(evs[0].data, "periph0", 7);
  CHECK_EQ(evs[done].d.gatt_status.conn_handle, CONN);
  CHECK_EQ(evs[done].d.gatt_status.value_handle, 0x22);
  CHECK_EQ(evs[done].d.gatt_status.status, 0);
  CHECK(peer_quiet(10));
  peer_down();
}

TEST(client_works_in_the_peripheral_role) {
  peer_role = 1;
  peer_up();
  peer_role = 0;
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0003), 0);
  EXPECT_REQ(0x0a, 0x03, 0x00);
  PEER_SEND(0x0b, 'c', 'e', 'n', 't', 'r', 'a', 'l');
  int done = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 0, 200);
  REQUIRE_EQ(done, 1);
  CHECK_EQ(evs[0].len, 7);
  CHECK_MEM(evs[0].data, "central", 7);
  CHECK_EQ(evs[done].d.gatt_status.status, 0);
  peer_down();
}

TEST(read_empty_value) {
  peer_up();
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0022), 0);
  EXPECT_REQ(0x0a, 0x22, 0x00);
  PEER_SEND(0x0b);
  int done = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 0, 200);
  REQUIRE_EQ(done, 1);
  CHECK_EQ(evs[0].len, 0);
  CHECK_EQ(evs[done].d.gatt_status.status, 0);
  peer_down();
}

TEST(long_read_assembled_with_read_blob) {
  peer_up();
  uint8_t value[54];
  fill(value, sizeof value, 3);
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0030), 0);
  EXPECT_REQ(0x0a, 0x30, 0x00);
  uint8_t p[23];
  p[0] = 0x0b;
  memcpy(p + 1, value, 22); /* MTU 23: a full response may have more */
  peer_send(p, 23);
  EXPECT_REQ(0x0c, 0x30, 0x00, 22, 0x00);
  p[0] = 0x0d;
  memcpy(p + 1, value + 22, 22);
  peer_send(p, 23);
  EXPECT_REQ(0x0c, 0x30, 0x00, 44, 0x00);
  memcpy(p + 1, value + 44, 10);
  peer_send(p, 11);
  int done = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 0, 200);
  REQUIRE_EQ(done, 1);
  /* One READ_RESULT with the whole value. */
  REQUIRE_EQ(evs[0].type, UVBLE_IRQ_GATTC_READ_RESULT);
  REQUIRE_EQ(evs[0].len, 54);
  CHECK_MEM(evs[0].data, value, 54);
  CHECK_EQ(evs[done].d.gatt_status.status, 0);
  CHECK(peer_quiet(10));
  peer_down();
}

TEST(read_of_exactly_mtu_minus_1_ends_on_attribute_not_long) {
  peer_up();
  uint8_t p[23] = {0x0b};
  fill(p + 1, 22, 9);
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0030), 0);
  EXPECT_REQ(0x0a, 0x30, 0x00);
  peer_send(p, 23);
  EXPECT_REQ(0x0c, 0x30, 0x00, 22, 0x00);
  peer_error(0x0c, 0x0030, UVBLE_ATT_ERR_ATTRIBUTE_NOT_LONG);
  int done = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 0, 200);
  REQUIRE_EQ(done, 1);
  REQUIRE_EQ(evs[0].len, 22);
  CHECK_MEM(evs[0].data, p + 1, 22);
  CHECK_EQ(evs[done].d.gatt_status.status, 0);
  /* The same with an empty blob, and with Invalid Offset. */
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0030), 0);
  EXPECT_REQ(0x0a, 0x30, 0x00);
  peer_send(p, 23);
  EXPECT_REQ(0x0c, 0x30, 0x00, 22, 0x00);
  PEER_SEND(0x0d);
  done = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 2, 200);
  REQUIRE_EQ(done, 3);
  CHECK_EQ(evs[2].len, 22);
  CHECK_EQ(evs[done].d.gatt_status.status, 0);
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0030), 0);
  EXPECT_REQ(0x0a, 0x30, 0x00);
  peer_send(p, 23);
  EXPECT_REQ(0x0c, 0x30, 0x00, 22, 0x00);
  peer_error(0x0c, 0x0030, UVBLE_ATT_ERR_INVALID_OFFSET);
  done = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 4, 200);
  REQUIRE_EQ(done, 5);
  CHECK_EQ(evs[4].len, 22);
  CHECK_EQ(evs[done].d.gatt_status.status, 0);
  peer_down();
}

TEST(long_read_stops_at_512_bytes) {
  peer_up();
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0030), 0);
  EXPECT_REQ(0x0a, 0x30, 0x00);
  uint8_t p[23] = {0x0b};
  fill(p + 1, 22, 1);
  peer_send(p, 23);
  p[0] = 0x0d;
  unsigned blobs = 0;
  uint8_t got[600];
  size_t n;
  while ((n = peer_recv(got)) == 5 && got[0] == 0x0c) {
    CHECK_EQ(got[3] | (got[4] << 8), 22 * (blobs + 1));
    blobs++;
    peer_send(p, 23);
  }
  /* 22 + 23 * 22 = 528: the request for offset 506 is the last. */
  CHECK_EQ(blobs, 23);
  int done = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 0, 200);
  REQUIRE_EQ(done, 1);
  CHECK_EQ(evs[0].len, 512);
  CHECK_EQ(evs[done].d.gatt_status.status, 0);
  peer_down();
}

TEST(read_error_gives_done_without_result) {
  peer_up();
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0022), 0);
  EXPECT_REQ(0x0a, 0x22, 0x00);
  peer_error(0x0a, 0x0022, UVBLE_ATT_ERR_READ_NOT_PERMITTED);
  int done = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 0, 200);
  REQUIRE_EQ(done, 0);
  CHECK_EQ(evs[done].d.gatt_status.status, UVBLE_ATT_ERR_READ_NOT_PERMITTED);
  CHECK_EQ(evs[done].d.gatt_status.value_handle, 0x22);
  /* A Read Blob error other than the end-of-value ones is reported too,
   * and the partial value is not. */
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0022), 0);
  EXPECT_REQ(0x0a, 0x22, 0x00);
  uint8_t p[23] = {0x0b};
  peer_send(p, 23);
  EXPECT_REQ(0x0c, 0x22, 0x00, 22, 0x00);
  peer_error(0x0c, 0x0022, UVBLE_ATT_ERR_INSUFFICIENT_AUTHORIZATION);
  done = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 1, 200);
  REQUIRE_EQ(done, 1);
  CHECK_EQ(evs[done].d.gatt_status.status,
           UVBLE_ATT_ERR_INSUFFICIENT_AUTHORIZATION);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_READ_RESULT), 0);
  peer_down();
}

TEST(operations_queue_and_run_in_order) {
  peer_up();
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0010), 0);
  REQUIRE_EQ(uvble_gattc_write(ble, CONN, 0x0011, "ab", 2, 1), 0);
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0012), 0);
  EXPECT_REQ(0x0a, 0x10, 0x00);
  CHECK(peer_quiet(10)); /* one request at a time */
  PEER_SEND(0x0b, 'x');
  EXPECT_REQ(0x12, 0x11, 0x00, 'a', 'b');
  PEER_SEND(0x13);
  EXPECT_REQ(0x0a, 0x12, 0x00);
  PEER_SEND(0x0b, 'y');
  int done = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 3, 200);
  REQUIRE_EQ(done, 4);
  CHECK_EQ(evs[0].type, UVBLE_IRQ_GATTC_READ_RESULT);
  CHECK_EQ(evs[1].type, UVBLE_IRQ_GATTC_READ_DONE);
  CHECK_EQ(evs[2].type, UVBLE_IRQ_GATTC_WRITE_DONE);
  CHECK_EQ(evs[2].d.gatt_status.value_handle, 0x11);
  CHECK_EQ(evs[2].d.gatt_status.status, 0);
  CHECK_EQ(evs[3].type, UVBLE_IRQ_GATTC_READ_RESULT);
  CHECK_EQ(evs[3].data[0], 'y');
  peer_down();
}

TEST(queue_is_bounded) {
  peer_up();
  for (int i = 0; i < UVBLE_GATTC_MAX_QUEUED; i++)
    REQUIRE_EQ(uvble_gattc_read(ble, CONN, (uint16_t)(0x10 + i)), 0);
  CHECK_EQ(uvble_gattc_read(ble, CONN, 0x40), UVBLE_ENOBUFS);
  CHECK_EQ(uvble_gattc_write(ble, CONN, 0x40, "a", 1, 1), UVBLE_ENOBUFS);
  CHECK_EQ(uvble_gattc_discover_services(ble, CONN, NULL), UVBLE_ENOBUFS);
  EXPECT_REQ(0x0a, 0x10, 0x00);
  PEER_SEND(0x0b, 1);
  EXPECT_REQ(0x0a, 0x11, 0x00);
  CHECK_EQ(uvble_gattc_read(ble, CONN, 0x40), 0); /* room again */
  peer_down();
}

TEST(write_request_and_response) {
  peer_up();
  REQUIRE_EQ(uvble_gattc_write(ble, CONN, 0x0025, "central0", 8, 1), 0);
  EXPECT_REQ(0x12, 0x25, 0x00, 'c', 'e', 'n', 't', 'r', 'a', 'l', '0');
  CHECK_EQ(nev, 0);
  PEER_SEND(0x13);
  int done = wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 0, 200);
  REQUIRE_EQ(done, 0);
  CHECK_EQ(evs[0].d.gatt_status.conn_handle, CONN);
  CHECK_EQ(evs[0].d.gatt_status.value_handle, 0x25);
  CHECK_EQ(evs[0].d.gatt_status.status, 0);
  /* A value of exactly MTU-3 still goes as one Write Request. */
  uint8_t v[20];
  fill(v, 20, 5);
  REQUIRE_EQ(uvble_gattc_write(ble, CONN, 0x0025, v, 20, 1), 0);
  uint8_t got[600];
  REQUIRE_EQ(peer_recv(got), 23);
  CHECK_EQ(got[0], 0x12);
  CHECK_MEM(got + 3, v, 20);
  peer_error(0x12, 0x0025, UVBLE_ATT_ERR_WRITE_NOT_PERMITTED);
  done = wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 1, 200);
  REQUIRE_EQ(done, 1);
  CHECK_EQ(evs[done].d.gatt_status.status, UVBLE_ATT_ERR_WRITE_NOT_PERMITTED);
  peer_down();
}

/* Plays the server's side of Prepare Write: echoes each part. */
static size_t echo_prepares(uint16_t handle, const uint8_t *v, size_t len,
                            size_t part) {
  uint8_t got[600];
  size_t off = 0, n;
  while (off < len) {
    n = peer_recv(got);
    size_t expect = len - off < part ? len - off : part;
    REQUIRE_EQ(n, 5 + expect);
    CHECK_EQ(got[0], 0x16);
    CHECK_EQ(got[1] | (got[2] << 8), handle);
    CHECK_EQ(got[3] | (got[4] << 8), off);
    CHECK_MEM(got + 5, v + off, expect);
    got[0] = 0x17;
    peer_send(got, n);
    off += expect;
  }
  return off;
}

TEST(long_write_with_prepare_and_execute) {
  peer_up();
  uint8_t v[50];
  fill(v, sizeof v, 11);
  REQUIRE_EQ(uvble_gattc_write(ble, CONN, 0x0031, v, sizeof v, 1), 0);
  CHECK_EQ(echo_prepares(0x31, v, sizeof v, 18), 50);
  EXPECT_REQ(0x18, 0x01);
  CHECK_EQ(nev, 0);
  PEER_SEND(0x19);
  int done = wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 0, 200);
  REQUIRE_EQ(done, 0);
  CHECK_EQ(evs[done].d.gatt_status.value_handle, 0x31);
  CHECK_EQ(evs[done].d.gatt_status.status, 0);
  /* The largest value: 512 bytes. */
  uint8_t big[512];
  fill(big, sizeof big, 1);
  REQUIRE_EQ(uvble_gattc_write(ble, CONN, 0x0031, big, sizeof big, 1), 0);
  CHECK_EQ(echo_prepares(0x31, big, sizeof big, 18), 512);
  EXPECT_REQ(0x18, 0x01);
  PEER_SEND(0x19);
  CHECK_EQ(wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 1, 500), 1);
  CHECK_EQ(uvble_gattc_write(ble, CONN, 0x0031, big, 513, 1), UVBLE_EMSGSIZE);
  peer_down();
}

TEST(long_write_echo_mismatch_cancels) {
  peer_up();
  uint8_t v[40];
  fill(v, sizeof v, 21);
  uint64_t bad0 = malformed_count();
  REQUIRE_EQ(uvble_gattc_write(ble, CONN, 0x0031, v, sizeof v, 1), 0);
  uint8_t got[600];
  REQUIRE_EQ(peer_recv(got), 23);
  got[0] = 0x17;
  peer_send(got, 23);
  REQUIRE_EQ(peer_recv(got), 23);
  got[0] = 0x17;
  got[10] ^= 0xff; /* the server queued something else */
  peer_send(got, 23);
  EXPECT_REQ(0x18, 0x00); /* cancel */
  CHECK_EQ(nev, 0);
  PEER_SEND(0x19);
  int done = wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 0, 200);
  REQUIRE_EQ(done, 0);
  CHECK_EQ(evs[done].d.gatt_status.status, UVBLE_EPROTO);
  CHECK_EQ(malformed_count(), bad0 + 1);
  CHECK(peer_quiet(10));
  peer_down();
}

TEST(long_write_prepare_errors) {
  peer_up();
  uint8_t v[40];
  fill(v, sizeof v, 2);
  /* The first part refused: nothing queued, nothing to cancel. */
  REQUIRE_EQ(uvble_gattc_write(ble, CONN, 0x0031, v, sizeof v, 1), 0);
  uint8_t got[600];
  REQUIRE_EQ(peer_recv(got), 23);
  peer_error(0x16, 0x0031, UVBLE_ATT_ERR_WRITE_NOT_PERMITTED);
  int done = wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 0, 200);
  REQUIRE_EQ(done, 0);
  CHECK_EQ(evs[done].d.gatt_status.status, UVBLE_ATT_ERR_WRITE_NOT_PERMITTED);
  CHECK(peer_quiet(10));
  /* A later part refused (queue full): cancel, then the server's code. */
  REQUIRE_EQ(uvble_gattc_write(ble, CONN, 0x0031, v, sizeof v, 1), 0);
  REQUIRE_EQ(peer_recv(got), 23);
  got[0] = 0x17;
  peer_send(got, 23);
  REQUIRE_EQ(peer_recv(got), 23);
  peer_error(0x16, 0x0031, UVBLE_ATT_ERR_PREPARE_QUEUE_FULL);
  EXPECT_REQ(0x18, 0x00);
  CHECK_EQ(nev, 1);
  /* Even if the cancel itself fails, the first error is what counts. */
  peer_error(0x18, 0x0000, UVBLE_ATT_ERR_UNLIKELY);
  done = wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 1, 200);
  REQUIRE_EQ(done, 1);
  CHECK_EQ(evs[done].d.gatt_status.status, UVBLE_ATT_ERR_PREPARE_QUEUE_FULL);
  /* Execute refused. */
  REQUIRE_EQ(uvble_gattc_write(ble, CONN, 0x0031, v, sizeof v, 1), 0);
  CHECK_EQ(echo_prepares(0x31, v, sizeof v, 18), 40);
  EXPECT_REQ(0x18, 0x01);
  peer_error(0x18, 0x0031, UVBLE_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH);
  done = wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 2, 200);
  REQUIRE_EQ(done, 2);
  CHECK_EQ(evs[done].d.gatt_status.status,
           UVBLE_ATT_ERR_INVALID_ATTRIBUTE_VALUE_LENGTH);
  peer_down();
}

TEST(write_command_goes_at_once_without_event) {
  peer_up();
  REQUIRE_EQ(uvble_gattc_write(ble, CONN, 0x0025, "central1", 8, 0), 0);
  EXPECT_REQ(0x52, 0x25, 0x00, 'c', 'e', 'n', 't', 'r', 'a', 'l', '1');
  uint8_t v[21];
  fill(v, sizeof v, 0);
  CHECK_EQ(uvble_gattc_write(ble, CONN, 0x0025, v, 20, 0), 0);
  uint8_t got[600];
  CHECK_EQ(peer_recv(got), 23);
  /* Longer than MTU-3: refused (MicroPython would truncate silently). */
  CHECK_EQ(uvble_gattc_write(ble, CONN, 0x0025, v, 21, 0), UVBLE_EMSGSIZE);
  /* A Write Command goes out even while a request waits. */
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0010), 0);
  EXPECT_REQ(0x0a, 0x10, 0x00);
  REQUIRE_EQ(uvble_gattc_write(ble, CONN, 0x0025, "z", 1, 0), 0);
  EXPECT_REQ(0x52, 0x25, 0x00, 'z');
  run_until_idle(&loop, 5000);
  CHECK_EQ(nev, 0);
  peer_down();
}

TEST(write_command_refused_when_link_queue_full) {
  peer_up();
  /* No credits come back: the link queue fills up. */
  sc_config(sc)->auto_complete_acl = false;
  uint8_t v[20];
  fill(v, sizeof v, 0);
  int r = 0, sent = 0;
  for (int i = 0; i < 100000 && r == 0; i++) {
    r = uvble_gattc_write(ble, CONN, 0x0025, v, sizeof v, 0);
    if (r == 0) sent++;
  }
  CHECK_EQ(r, UVBLE_ENOBUFS);
  CHECK(sent > 0);
  peer_down();
}

TEST(request_waits_for_room_when_link_queue_is_full) {
  peer_up();
  sc_config(sc)->auto_complete_acl = false;
  ble->hci.conn_txq_max = 600;
  uint8_t v[20];
  fill(v, sizeof v, 0);
  while (uvble_gattc_write(ble, CONN, 0x0025, v, sizeof v, 0) == 0) {
  }
  /* A request is kept, not refused, and goes out once there is room. */
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0010), 0);
  REQUIRE_EQ(uvble_gattc_write(ble, CONN, 0x0011, "q", 1, 1), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(nev, 0);
  sc_config(sc)->auto_complete_acl = true;
  sc_send_completed(sc, CONN, 8);
  uint8_t got[600];
  size_t n;
  int commands = 0;
  while ((n = peer_recv(got)) > 0 && got[0] == 0x52) commands++;
  CHECK(commands > 0);
  REQUIRE_EQ(n, 3);
  CHECK_EQ(got[0], 0x0a);
  PEER_SEND(0x0b, 'r');
  EXPECT_REQ(0x12, 0x11, 0x00, 'q');
  PEER_SEND(0x13);
  int w = wait_ev(UVBLE_IRQ_GATTC_WRITE_DONE, 0, 200);
  REQUIRE_EQ(w, 2);
  CHECK_EQ(evs[1].d.gatt_status.status, 0);
  CHECK_EQ(evs[w].d.gatt_status.status, 0);
  peer_down();
}

TEST(link_drop_while_a_request_waits_for_room) {
  peer_up();
  sc_config(sc)->auto_complete_acl = false;
  ble->hci.conn_txq_max = 600;
  uint8_t v[20] = {0};
  while (uvble_gattc_write(ble, CONN, 0x0025, v, sizeof v, 0) == 0) {
  }
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x0010), 0);
  run_until_idle(&loop, 5000);
  sc_disconnect(sc, CONN, 0x08);
  int d = wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 0, 200);
  REQUIRE_EQ(d, 0);
  CHECK_EQ(evs[d].d.gatt_status.status, UVBLE_EDISCONNECTED);
  /* time must pass: the retry timer finds nothing to do */
  run_for(&loop, 30);
  CHECK_EQ(count_ev(UVBLE_IRQ_GATTC_READ_DONE), 1);
  peer_down();
}

TEST(notifications_and_indications) {
  peer_up();
  PEER_SEND(0x1b, 0x25, 0x00, 'p', 'e', 'r', 'i', 'p', 'h', '1');
  int n = wait_ev(UVBLE_IRQ_GATTC_NOTIFY, 0, 200);
  REQUIRE_EQ(n, 0);
  CHECK_EQ(evs[n].d.gattc_data.conn_handle, CONN);
  CHECK_EQ(evs[n].d.gattc_data.value_handle, 0x25);
  REQUIRE_EQ(evs[n].len, 7);
  CHECK_MEM(evs[n].data, "periph1", 7);
  CHECK(peer_quiet(10)); /* no confirmation for a notification */
  PEER_SEND(0x1d, 0x25, 0x00, 'p', 'e', 'r', 'i', 'p', 'h', '3');
  int i = wait_ev(UVBLE_IRQ_GATTC_INDICATE, 0, 200);
  REQUIRE_EQ(i, 1);
  CHECK_EQ(evs[i].d.gattc_data.value_handle, 0x25);
  REQUIRE_EQ(evs[i].len, 7);
  CHECK_MEM(evs[i].data, "periph3", 7);
  EXPECT_REQ(0x1e); /* confirmed by the stack */
  /* An empty notification is still an event. */
  PEER_SEND(0x1b, 0x26, 0x00);
  n = wait_ev(UVBLE_IRQ_GATTC_NOTIFY, 2, 200);
  REQUIRE_EQ(n, 2);
  CHECK_EQ(evs[n].len, 0);
  CHECK_EQ(evs[n].d.gattc_data.value_handle, 0x26);
  peer_down();
}

TEST(mtu_exchange_and_its_effect_on_reads_and_writes) {
  peer_up();
  REQUIRE_EQ(uvble_gattc_exchange_mtu(ble, CONN), 0);
  EXPECT_REQ(0x02, 0x00, 0x01); /* config mtu default 256 */
  PEER_SEND(0x03, 100, 0x00);
  int m = wait_ev(UVBLE_IRQ_MTU_EXCHANGED, 0, 200);
  REQUIRE_EQ(m, 0);
  CHECK_EQ(evs[m].d.mtu.conn_handle, CONN);
  CHECK_EQ(evs[m].d.mtu.mtu, 100);
  CHECK_EQ(uvble_gattc_exchange_mtu(ble, CONN), UVBLE_EALREADY);
  /* 97 bytes now fit one Write Request; 98 need a long write. */
  uint8_t v[98];
  fill(v, sizeof v, 4);
  REQUIRE_EQ(uvble_gattc_write(ble, CONN, 0x25, v, 97, 1), 0);
  uint8_t got[600];
  REQUIRE_EQ(peer_recv(got), 100);
  CHECK_EQ(got[0], 0x12);
  PEER_SEND(0x13);
  REQUIRE_EQ(uvble_gattc_write(ble, CONN, 0x25, v, 98, 1), 0);
  CHECK_EQ(echo_prepares(0x25, v, 98, 95), 98);
  EXPECT_REQ(0x18, 0x01);
  PEER_SEND(0x19);
  /* A 22-byte read response is no longer "full". */
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x30), 0);
  EXPECT_REQ(0x0a, 0x30, 0x00);
  uint8_t p[100] = {0x0b};
  peer_send(p, 23);
  CHECK(wait_ev(UVBLE_IRQ_GATTC_READ_DONE, 0, 200) > 0);
  CHECK(peer_quiet(10));
  /* A 99-byte one is. */
  int before = nev;
  REQUIRE_EQ(uvble_gattc_read(ble, CONN, 0x30), 0);
  EXPECT_REQ(0x0a, 0x30, 0x00);
  peer_send(p, 100);
  EXPECT_REQ(0x0c, 0x30, 0x00, 99, 0x00);
  PEER_SEND(0x0d, 1, 2, 3);
  int last = wait_ev(UVBLE_IRQ_GATTC_READ_RESULT, before, 200);
  REQUIRE(last >= before);
  CHECK_EQ(evs[last].len, 102);
  /* Write commands now take MTU-3. */
  CHECK_EQ(uvble_gattc_write(ble, CONN, 0x25, v, 97, 0), 0);
  CHECK_EQ(uvble_gattc_write(ble, CONN, 0x25, v, 98, 0), UVBLE_EMSGSIZE);
  peer_down();
}

TEST_MAIN()
