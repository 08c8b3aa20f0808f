/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/perf_gatt_char_write.py: 40 writes
 * without response (retried while the transmit queue is full, as the
 * original retries on OSError) then 40 with response, 128 bytes each at
 * MTU 131, each carrying its sequence number in the first and last byte,
 * which the server checks. Metrics: time per write for each mode. */
#include "conformance.h"

#define NUM_WRITES 40
#define MTU_SIZE 131
#define CHAR_SIZE (MTU_SIZE - 3)

static const char *const EXP0[] = {
    "gap_advertise",
    "_IRQ_MTU_EXCHANGED: 131",
    "_IRQ_GATTS_WRITE 0",
    "_IRQ_GATTS_WRITE 10",
    "_IRQ_GATTS_WRITE 20",
    "_IRQ_GATTS_WRITE 30",
    "_IRQ_GATTS_WRITE 40",
    "_IRQ_GATTS_WRITE 50",
    "_IRQ_GATTS_WRITE 60",
    "_IRQ_GATTS_WRITE 70",
    "final packet_sequence: 80",
    NULL,
};
static const char *const EXP1[] = {
    "gap_connect",
    "_IRQ_MTU_EXCHANGED: 131",
    "gattc_write 0",
    "gattc_write 10",
    "gattc_write 20",
    "gattc_write 30",
    "gattc_write 40",
    "gattc_write 50",
    "gattc_write 60",
    "gattc_write 70",
    "gap_disconnect: True",
    NULL,
};

static uvble_uuid_t char_uuid;

struct seq {
  int packet_sequence;
};

static void irq(struct inst *i, int ev, const uvble_irq_data_t *d) {
  struct seq *s = i->ctx;
  switch (ev) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
      post_val(i, ev, d->connect.conn_handle);
      break;
    case UVBLE_IRQ_GATTS_WRITE: {
      uint8_t buf[CHAR_SIZE];
      size_t n = 0;
      CHECK_EQ(uvble_gatts_read(i->ble, d->gatts.attr_handle, buf, sizeof buf, &n), 0);
      int q = s->packet_sequence;
      if (!(n > 0 && buf[0] == (uint8_t)q && buf[n - 1] == (uint8_t)(256 - q)))
        out(i, "_IRQ_GATTS_WRITE data invalid: %d %s", q, pybytes(buf, n));
      else if (q % 10 == 0)
        out(i, "_IRQ_GATTS_WRITE %d", q);
      s->packet_sequence++;
      break;
    }
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT:
      if (!uvble_uuid_equal(&d->characteristic.uuid, &char_uuid)) {
        i->skip_post = true;
        return;
      }
      post_val(i, ev, d->characteristic.value_handle);
      break;
    case UVBLE_IRQ_MTU_EXCHANGED:
      out(i, "_IRQ_MTU_EXCHANGED: %u", d->mtu.mtu);
      break;
    default:
      break;
  }
}

static uint16_t register_service(struct inst *i) {
  uvble_gatts_characteristic_t chr = {
      .uuid = char_uuid, .flags = UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_NO_RESPONSE};
  uvble_gatts_service_t svc = {
      .uuid = parse_uuid("A5A5A5A5-FFFF-9999-1111-5A5A5A5A5A5A"),
      .characteristics = &chr,
      .num_characteristics = 1};
  uint16_t h;
  REQUIRE_EQ(uvble_gatts_register_services(i->ble, &svc, 1, &h, 1), 1);
  return h;
}

/* The central's two rounds of NUM_WRITES writes: without response (retried
 * while the stack's queue is full), then with response. */
static void write_burst(struct inst *i1, struct seq *s1, uint16_t c1, uint16_t vh) {
  uint8_t data[CHAR_SIZE];
  for (int k = 0; k < CHAR_SIZE; k++) data[k] = (uint8_t)('A' + k % 64);
  for (int mode = 0; mode < 2; mode++) {
    uint64_t t0 = uv_hrtime();
    int retries = 0;
    for (int k = 0; k < NUM_WRITES; k++) {
      int q = s1->packet_sequence;
      data[0] = (uint8_t)q;
      data[CHAR_SIZE - 1] = (uint8_t)(256 - q);
      if (q % 10 == 0) out(i1, "gattc_write %d", q);
      if (mode == 0) {
        int r;
        /* while True: try: gattc_write(...); break / except OSError: pass */
        while ((r = uvble_gattc_write(i1->ble, c1, vh, data, sizeof data, 0)) ==
               UVBLE_ENOBUFS) {
          retries++;
          uv_run(&loop, UV_RUN_ONCE);
        }
        REQUIRE_EQ(r, 0);
      } else {
        REQUIRE_EQ(uvble_gattc_write(i1->ble, c1, vh, data, sizeof data, 1), 0);
        wait_for(i1, UVBLE_IRQ_GATTC_WRITE_DONE, 2000);
      }
      s1->packet_sequence++;
    }
    uint64_t us = (uv_hrtime() - t0) / 1000;
    if (us == 0) us = 1;
    metric("perf_gatt_char_write: Did %d writes in %.3f ms. %.3f ms/write, %llu bytes/sec "
           "(mode %d, %d retries)",
           NUM_WRITES, us / 1000.0, us / 1000.0 / NUM_WRITES,
           (unsigned long long)((uint64_t)NUM_WRITES * CHAR_SIZE * 1000000 / us), mode,
           retries);
    run_for(&loop, 100);
  }
}

TEST(perf_gatt_char_write) {
  uv_loop_init(&loop);
  char_uuid = parse_uuid("00000000-1111-2222-3333-444444444444");
  struct seq s0 = {0}, s1 = {0};
  struct inst i0 = {.name = "instance0", .handler = irq, .ctx = &s0};
  struct inst i1 = {.name = "instance1", .handler = irq, .ctx = &s1};
  struct inst *all[] = {&i0, &i1, NULL};
  insts_up(all, NULL);

  AS(&i0) {
    uint16_t h0 = register_service(&i0);
    REQUIRE_EQ(uvble_gatts_set_buffer(i0.ble, h0, CHAR_SIZE, false), 0);
    out(&i0, "gap_advertise");
    advertise(&i0, 20000, true);
  }
  uint16_t c1 = 0, vh = 0;
  AS(&i1) {
    register_service(&i1);

    out(&i1, "gap_connect");
    REQUIRE_EQ(uvble_config_set_int(i1.ble, UVBLE_CONFIG_MTU, MTU_SIZE), 0);
    REQUIRE_EQ(conf_gap_connect(&i1, &i0, 0), 0);
    c1 = (uint16_t)wait_for(&i1, UVBLE_IRQ_PERIPHERAL_CONNECT, 2000);
  }
  AS(&i0) wait_for(&i0, UVBLE_IRQ_CENTRAL_CONNECT, 2000);
  AS(&i1) {
    REQUIRE_EQ(uvble_gattc_exchange_mtu(i1.ble, c1), 0);
    REQUIRE_EQ(uvble_gattc_discover_characteristics(i1.ble, c1, 1, 0xffff, NULL), 0);
    vh = (uint16_t)wait_for(&i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT, 2000);
    wait_for(&i1, UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE, 2000);
    write_burst(&i1, &s1, c1, vh);
    out(&i1, "gap_disconnect: %s", pybool(uvble_gap_disconnect(i1.ble, c1)));
    wait_for(&i1, UVBLE_IRQ_PERIPHERAL_DISCONNECT, 20000);
  }
  AS(&i0) {
    wait_for(&i0, UVBLE_IRQ_CENTRAL_DISCONNECT, 30000);
    out(&i0, "final packet_sequence: %d", s0.packet_sequence);
  }

  expect_lines(&i0, EXP0);
  expect_lines(&i1, EXP1);
  insts_down(all);
}

TEST_MAIN()
