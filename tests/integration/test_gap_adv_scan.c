/* SPDX-License-Identifier: Apache-2.0 */
/* Broadcaster and observer on btvirt: payloads built with the AD builder
 * travel in the advertisement and the scan response and parse back; passive
 * scans see no scan response; a scan ends with SCAN_DONE after its duration
 * or when stopped; non-connectable advertising shows as ADV_SCAN_IND; scan
 * filters; own address modes.
 *
 * btvirt sends one report per advertiser when scanning or advertising is
 * enabled and never repeats it, so every test starts the scanner first and
 * the advertiser after it. */
#include "crypto.h"
#include "gap_internal.h"
#include "test_gap_common.h"

/* Name, two service UUIDs and manufacturer data: more than 31 bytes, so the
 * builder spills into the scan response. */
static const uint8_t MFR[] = {0xde, 0xad, 0xbe, 0xef, 0x01};

static void build_payload(uint8_t *adv, size_t *adv_len, uint8_t *resp,
                          size_t *resp_len) {
  uvble_uuid_t svc[2];
  svc[0] = uvble_uuid16(0x180d);
  REQUIRE_EQ(uvble_uuid_parse(&svc[1], "6e400001-b5a3-f393-e0a9-e50e24dcca9e"),
             0);
  uvble_adv_fields_t f;
  memset(&f, 0, sizeof f);
  f.name = "uvble-sensor";
  f.services = svc;
  f.num_services = 2;
  f.has_manufacturer = true;
  f.company_id = 0x05F1;
  f.manufacturer_data = MFR;
  f.manufacturer_len = sizeof MFR;
  REQUIRE_EQ(
      uvble_adv_build(&f, UVBLE_ADV_LEGACY_MAX, adv, adv_len, resp, resp_len),
      0);
  REQUIRE(*resp_len > 0); /* something did spill */
}

TEST(active_scan_sees_advertisement_and_scan_response_and_parses_them) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h, 2);
  struct host *a = &h[0], *b = &h[1];
  uint8_t adv[31], resp[31];
  size_t adv_len, resp_len;
  build_payload(adv, &adv_len, resp, &resp_len);

  REQUIRE_EQ(uvble_gap_scan(b->ble, 0, 30000, 30000, true), 0);
  run_until_idle(&loop, 5000); /* scanning is on at the controller */
  REQUIRE_EQ(
      uvble_gap_advertise(a->ble, 100000, adv, adv_len, resp, resp_len, true),
      0);
  REQUIRE(wait_event(b, UVBLE_IRQ_SCAN_RESULT, 2, 3000));
  CHECK(uvble_gap_advertising(a->ble));
  int ia = find_result(b, &a->addr, 0); /* ADV_IND */
  int ir = find_result(b, &a->addr, 4); /* SCAN_RSP */
  REQUIRE(ia >= 0);
  REQUIRE(ir >= 0);
  CHECK(ia < ir); /* the response follows its advertisement */
  struct scan_copy *ra = &b->results[ia], *rr = &b->results[ir];
  CHECK_EQ(ra->addr.type, UVBLE_ADDR_PUBLIC);
  CHECK_EQ(ra->len, adv_len);
  CHECK_MEM(ra->data, adv, adv_len);
  CHECK_EQ(rr->len, resp_len);
  CHECK_MEM(rr->data, resp, resp_len);

  /* The parser finds every field across the two payloads. */
  char name[32];
  CHECK_EQ(uvble_adv_name_str(ra->data, ra->len, rr->data, rr->len, name,
                              sizeof name),
           12);
  CHECK_STR(name, "uvble-sensor");
  uvble_uuid_t got[4];
  REQUIRE_EQ(uvble_adv_services(ra->data, ra->len, rr->data, rr->len, got, 4),
             2);
  uvble_uuid_t want = uvble_uuid16(0x180d);
  CHECK(uvble_uuid_equal(&got[0], &want));
  CHECK_EQ(got[1].type, 128);
  uint16_t company;
  const uint8_t *md;
  size_t mlen;
  CHECK_EQ(uvble_adv_manufacturer(ra->data, ra->len, rr->data, rr->len,
                                  UVBLE_ADV_ANY_COMPANY, &company, &md, &mlen),
           0);
  CHECK_EQ(company, 0x05F1);
  CHECK_EQ(mlen, sizeof MFR);
  CHECK_MEM(md, MFR, sizeof MFR);
  uint8_t flags;
  CHECK_EQ(uvble_adv_flags(ra->data, ra->len, NULL, 0, &flags), 0);
  CHECK_EQ(flags, 0x06);

  /* Stopping advertising is quiet; the scan still needs stopping. */
  CHECK_EQ(uvble_gap_advertise(a->ble, -1, NULL, 0, NULL, 0, true), 0);
  CHECK(!uvble_gap_advertising(a->ble));
  CHECK_EQ(uvble_gap_scan_stop(b->ble), 0);
  CHECK(wait_event(b, UVBLE_IRQ_SCAN_DONE, 1, 2000));
  uvble_stats_t st;
  uvble_get_stats(b->ble, &st);
  CHECK_EQ(st.hci_events_malformed, 0);
  CHECK_EQ(st.hci_cmd_timeouts, 0);
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(a->ble, &gs);
  CHECK_EQ(gs.adv_errors, 0);
  hosts_down(h, 2);
  loop_teardown(&loop);
}

TEST(passive_scan_sees_no_scan_response) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h, 2);
  struct host *a = &h[0], *b = &h[1];
  uint8_t adv[31], resp[31];
  size_t adv_len, resp_len;
  build_payload(adv, &adv_len, resp, &resp_len);
  /* A continuous scan: on a real radio (label ll) MicroPython's default
   * 11.25 ms window every 1.28 s can miss an advertiser for a minute. */
  REQUIRE_EQ(uvble_gap_scan(b->ble, 0, 30000, 30000, false), 0);
  run_until_idle(&loop, 5000); /* scanning is on at the controller */
  REQUIRE_EQ(uvble_gap_advertise(a->ble, 0, adv, adv_len, resp, resp_len, true),
             0);
  REQUIRE(wait_event(b, UVBLE_IRQ_SCAN_RESULT, 1, 3000));
  /* time must pass: room for a response that must not come */
  run_for(&loop, 300);
  CHECK(find_result(b, &a->addr, 0) >= 0);
  CHECK_EQ(find_result(b, &a->addr, 4), -1);
  CHECK_EQ(uvble_gap_scan(b->ble, -1, 0, 0, false), 0); /* MicroPython's None */
  CHECK(wait_event(b, UVBLE_IRQ_SCAN_DONE, 1, 2000));
  hosts_down(h, 2);
  loop_teardown(&loop);
}

/* A report of type ADV_IND from addr (with no data when empty) arrived. */
struct seen_from {
  struct host *h;
  const uvble_addr_t *addr;
  bool empty;
};

static bool seen_from_pred(void *arg) {
  struct seen_from *s = arg;
  for (int i = 0; i < s->h->nresults; i++) {
    const struct scan_copy *c = &s->h->results[i];
    if (memcmp(c->addr.val, s->addr->val, 6) == 0 && c->adv_type == 0 &&
        (!s->empty || c->len == 0))
      return true;
  }
  return false;
}

TEST(non_connectable_advertising_is_reported_as_adv_scan_ind) {
  /* MicroPython's ble_gap_advertise test: adv_types {0, 2}. */
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h, 2);
  struct host *a = &h[0], *b = &h[1];
  static const uint8_t ADV[] = {0x02, 0x01, 0x06, 0x04, 0xff, 'M', 'P', 'Y'};
  REQUIRE_EQ(uvble_gap_scan(b->ble, 0, 30000, 30000, false), 0);
  run_until_idle(&loop, 5000); /* scanning is on at the controller */
  REQUIRE_EQ(
      uvble_gap_advertise(a->ble, 100000, ADV, sizeof ADV, NULL, 0, false), 0);
  REQUIRE(wait_event(b, UVBLE_IRQ_SCAN_RESULT, 1, 3000));
  int i = find_result(b, &a->addr, -1);
  REQUIRE(i >= 0);
  CHECK_EQ(b->results[i].adv_type, 2);
  CHECK_EQ(b->results[i].len, sizeof ADV);
  CHECK_MEM(b->results[i].data, ADV, sizeof ADV);
  /* Restarting with adv_data NULL keeps the payload; now connectable. A
   * real radio (label ll) reports every advertising event, so the waits
   * are for the first report of the new kind, not for the next report. */
  REQUIRE_EQ(uvble_gap_advertise(a->ble, 20000, NULL, 0, NULL, 0, true), 0);
  b->nresults = 0;
  struct seen_from sf = {b, &a->addr, 0};
  REQUIRE(run_until_pred(&loop, seen_from_pred, &sf, 3000));
  struct scan_copy *r = &b->results[find_result(b, &a->addr, 0)];
  CHECK_EQ(r->len, sizeof ADV);
  CHECK_MEM(r->data, ADV, sizeof ADV);
  /* An empty payload clears it. */
  REQUIRE_EQ(uvble_gap_advertise(a->ble, 20000, ADV, 0, NULL, 0, true), 0);
  b->nresults = 0;
  sf.empty = true;
  CHECK(run_until_pred(&loop, seen_from_pred, &sf, 3000));
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(a->ble, &gs);
  CHECK_EQ(gs.adv_errors, 0);
  hosts_down(h, 2);
  loop_teardown(&loop);
}

TEST(scan_duration_ends_with_scan_done) {
  uv_loop_init(&loop);
  struct host h[1];
  hosts_up(h, 1);
  uint64_t t0 = uv_now(&loop);
  REQUIRE_EQ(uvble_gap_scan(h[0].ble, 300, 0, 0, true), 0);
  CHECK_EQ(uvble_gap_scan(h[0].ble, 300, 0, 0, true), UVBLE_EALREADY);
  REQUIRE(wait_event(&h[0], UVBLE_IRQ_SCAN_DONE, 1, 3000));
  uint64_t took = uv_now(&loop) - t0;
  CHECK(took >= 290);
  CHECK(took < 1500);
  /* time must pass: SCAN_DONE comes once */
  run_for(&loop, 200);
  CHECK_EQ(h[0].count[UVBLE_IRQ_SCAN_DONE], 1); /* once */
  /* A new scan may start right away. */
  CHECK_EQ(uvble_gap_scan(h[0].ble, 100, 0, 0, false), 0);
  CHECK(wait_event(&h[0], UVBLE_IRQ_SCAN_DONE, 2, 3000));
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(h[0].ble, &gs);
  CHECK_EQ(gs.scan_errors, 0);
  hosts_down(h, 1);
  loop_teardown(&loop);
}

TEST(stopping_a_scan_early_ends_it_and_no_results_follow) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h, 2);
  struct host *a = &h[0], *b = &h[1];
  REQUIRE_EQ(uvble_gap_scan(b->ble, 10000, 0, 0, true), 0);
  run_until_idle(&loop, 5000); /* scanning is on at the controller */
  CHECK_EQ(uvble_gap_scan_stop(b->ble), 0);
  REQUIRE(wait_event(b, UVBLE_IRQ_SCAN_DONE, 1, 2000));
  /* An advertiser appearing now is not reported. */
  static const uint8_t ADV[] = {0x02, 0x01, 0x06};
  REQUIRE_EQ(uvble_gap_advertise(a->ble, 0, ADV, sizeof ADV, NULL, 0, true), 0);
  /* time must pass: the advertiser is not reported */
  run_for(&loop, 300);
  CHECK_EQ(b->nresults, 0);
  /* Stopping again does nothing. */
  CHECK_EQ(uvble_gap_scan_stop(b->ble), 0);
  run_until_idle(&loop, 5000);
  CHECK_EQ(b->count[UVBLE_IRQ_SCAN_DONE], 1);
  hosts_down(h, 2);
  loop_teardown(&loop);
}

TEST(scan_filters_drop_reports_before_the_handler) {
  uv_loop_init(&loop);
  struct host h[3];
  hosts_up(h, 3);
  struct host *a = &h[0], *c = &h[1], *b = &h[2];
  static const uint8_t ADV_A[] = {0x02, 0x01, 0x06, 0x05, 0xff,
                                  0xf1, 0x05, 1,    2};
  static const uint8_t ADV_C[] = {0x02, 0x01, 0x06, 0x03, 0x03, 0x0d, 0x18};
  /* Only manufacturer data of company 0x05F1 (type 0xff, id LE). */
  static const uint8_t PFX[] = {0xff, 0xf1, 0x05};
  uvble_gap_prefix_t pf = {PFX, sizeof PFX};
  REQUIRE_EQ(uvble_gap_scan_filter(b->ble, &pf, 1, UVBLE_GAP_RSSI_ANY), 0);
  REQUIRE_EQ(uvble_gap_scan(b->ble, 0, 30000, 30000, false), 0);
  run_until_idle(&loop, 5000); /* scanning is on at the controller */
  REQUIRE_EQ(uvble_gap_advertise(c->ble, 0, ADV_C, sizeof ADV_C, NULL, 0, true),
             0);
  REQUIRE_EQ(uvble_gap_advertise(a->ble, 0, ADV_A, sizeof ADV_A, NULL, 0, true),
             0);
  REQUIRE(wait_event(b, UVBLE_IRQ_SCAN_RESULT, 1, 3000));
  /* time must pass: room for reports that must be filtered out */
  run_for(&loop, 300);
  /* btvirt reports each advertiser once: one result, one filtered. A real
   * radio (label ll) reports every advertising event: A several times, C
   * filtered as often as it was heard. Either way every report is either
   * delivered or counted as filtered, and only A's are delivered. */
  REQUIRE(b->nresults >= 1);
  for (int i = 0; i < b->nresults; i++)
    CHECK_MEM(b->results[i].addr.val, a->addr.val, 6);
  CHECK_EQ(find_result(b, &c->addr, -1), -1);
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(b->ble, &gs);
  CHECK(gs.adv_reports_filtered >= 1);
  CHECK_EQ(gs.adv_reports, (uint64_t)b->nresults + gs.adv_reports_filtered);
  if (!getenv("UVBLE_LL_TRANSPORTS")) {
    CHECK_EQ(b->nresults, 1);
    CHECK_EQ(gs.adv_reports_filtered, 1);
  }
  REQUIRE_EQ(uvble_gap_scan_stop(b->ble), 0);
  REQUIRE(wait_event(b, UVBLE_IRQ_SCAN_DONE, 1, 2000));
  /* btvirt reports RSSI 127 (not available), which a limit lets through;
   * a real radio (label ll) about -60 dBm, above this limit. Removing the
   * prefixes lets C through too. */
  REQUIRE_EQ(uvble_gap_scan_filter(b->ble, NULL, 0, -100), 0);
  REQUIRE_EQ(uvble_gap_scan(b->ble, 0, 30000, 30000, false), 0);
  run_until_idle(&loop, 5000); /* scanning is on at the controller */
  REQUIRE_EQ(uvble_gap_advertise(c->ble, 0, NULL, 0, NULL, 0, true), 0);
  /* Until C is seen: on a real radio A's reports come in between. */
  struct seen_from sf = {b, &c->addr, false};
  CHECK(run_until_pred(&loop, seen_from_pred, &sf, 3000));
  hosts_down(h, 3);
  loop_teardown(&loop);
}

TEST(random_and_private_own_addresses_are_what_scanners_see) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h, 2);
  struct host *a = &h[0], *b = &h[1];
  static const uint8_t ADV[] = {0x02, 0x01, 0x06};
  REQUIRE_EQ(uvble_gap_scan(b->ble, 0, 30000, 30000, false), 0);
  run_until_idle(&loop, 5000); /* scanning is on at the controller */

  /* Static random. */
  uvble_addr_t stat = {UVBLE_ADDR_RANDOM, {0xc1, 0x22, 0x33, 0x44, 0x55, 0x66}};
  REQUIRE_EQ(uvble_config_set_mac(a->ble, &stat), 0);
  REQUIRE_EQ(uvble_config_set_int(a->ble, UVBLE_CONFIG_ADDR_MODE,
                                  UVBLE_ADDR_MODE_RANDOM),
             0);
  REQUIRE_EQ(uvble_gap_advertise(a->ble, 0, ADV, sizeof ADV, NULL, 0, true), 0);
  REQUIRE(wait_event(b, UVBLE_IRQ_SCAN_RESULT, 1, 3000));
  struct scan_copy *r = &b->results[b->nresults - 1];
  CHECK_EQ(r->addr.type, UVBLE_ADDR_RANDOM);
  CHECK_MEM(r->addr.val, stat.val, 6);

  /* Resolvable private: the scanner sees an RPA that resolves with A's
   * IRK; A reports it as its own address. */
  REQUIRE_EQ(
      uvble_config_set_int(a->ble, UVBLE_CONFIG_ADDR_MODE, UVBLE_ADDR_MODE_RPA),
      0);
  REQUIRE_EQ(uvble_gap_advertise(a->ble, 0, NULL, 0, NULL, 0, true), 0);
  REQUIRE(wait_event(b, UVBLE_IRQ_SCAN_RESULT, 2, 3000));
  r = &b->results[b->nresults - 1];
  CHECK_EQ(r->addr.type, UVBLE_ADDR_RANDOM);
  uint8_t hci[6];
  ble_addr_to_hci(&r->addr, hci);
  CHECK(uvble_sm_addr_is_rpa(hci));
  CHECK(uvble_sm_rpa_resolve(gap_local_irk(a->ble), hci));
  uvble_addr_t own;
  REQUIRE_EQ(uvble_gap_own_addr(a->ble, &own), 0);
  CHECK_MEM(own.val, r->addr.val, 6);

  /* Non-resolvable private. */
  REQUIRE_EQ(uvble_config_set_int(a->ble, UVBLE_CONFIG_ADDR_MODE,
                                  UVBLE_ADDR_MODE_NRPA),
             0);
  REQUIRE_EQ(uvble_gap_advertise(a->ble, 0, NULL, 0, NULL, 0, false), 0);
  REQUIRE(wait_event(b, UVBLE_IRQ_SCAN_RESULT, 3, 3000));
  r = &b->results[b->nresults - 1];
  ble_addr_to_hci(&r->addr, hci);
  CHECK_EQ(r->addr.type, UVBLE_ADDR_RANDOM);
  CHECK(uvble_sm_addr_is_nrpa(hci));
  uvble_gap_stats_t gs;
  uvble_gap_get_stats(a->ble, &gs);
  CHECK_EQ(gs.adv_errors, 0);
  hosts_down(h, 2);
  loop_teardown(&loop);
}

/* LE Read Maximum Advertising Data Length (Vol 4, Part E, 7.8.57): the
 * longest payload one set may carry; 0 when unanswered. */
struct max_len {
  bool done;
  int err;
  uint16_t len;
};

static void on_max_len(uvble_t *ble, int err, uint8_t st, const uint8_t *r,
                       size_t n, void *arg) {
  (void)ble;
  (void)st;
  struct max_len *m = arg;
  m->done = true;
  m->err = err;
  /* Return parameters after Status: Max_Advertising_Data_Length (2). */
  if (!err && n == 2) m->len = (uint16_t)(r[0] | r[1] << 8);
}

static bool max_len_pred(void *arg) { return ((struct max_len *)arg)->done; }

static uint16_t read_max_adv_len(uvble_t *ble) {
  struct max_len m = {0};
  REQUIRE_EQ(hci_send_cmd(ble, 0x203A, NULL, 0, on_max_len, &m), 0);
  REQUIRE(run_until_pred(&loop, max_len_pred, &m, 3000));
  CHECK_EQ(m.err, 0);
  return m.len;
}

/* What a payload over 31 bytes does depends on the controller: a legacy
 * one (btvirt, Zephyr's stock and dle builds) cannot carry it and the call
 * says so; one with extended advertising carries it as far as its LE Read
 * Maximum Advertising Data Length allows, and past that (Zephyr's full
 * build: 31) the call says so too. */
TEST(payload_over_31_bytes_needs_extended_advertising) {
  uv_loop_init(&loop);
  struct host h[2];
  hosts_up(h, 2);
  struct host *a = &h[0], *b = &h[1];
  uint8_t big[40];
  memset(big, 0, sizeof big);
  big[0] = 39;
  big[1] = 0xff;
  bool ext = uvble_controller_has_le_feature(a->ble, HCI_LE_FEATURE_EXT_ADV);
  CHECK_EQ(gap_mode(a->ble) == GAP_MODE_EXTENDED, ext);
  if (!ext) {
    CHECK_EQ(uvble_gap_advertise(a->ble, 0, big, sizeof big, NULL, 0, true),
             UVBLE_EMSGSIZE);
    CHECK(!uvble_gap_advertising(a->ble));
    CHECK_EQ(uvble_gap_advertise(a->ble, 0, big, 31, NULL, 0, true), 0);
    run_until_idle(&loop, 5000);
  } else {
    uint16_t max = read_max_adv_len(a->ble);
    fprintf(stderr, "  extended advertising, at most %u bytes per set\n",
            max);
    CHECK(max >= 31);
    /* The stack read the same at init (or assumed 31 without the
     * command). */
    uvble_controller_info_t info;
    REQUIRE_EQ(uvble_controller_info(a->ble, &info), 0);
    if (uvble_controller_has_command(a->ble, HCI_CMD_LE_READ_MAX_ADV_DATA_LEN))
      CHECK_EQ(info.max_adv_data_len, max);
    else
      CHECK_EQ(info.max_adv_data_len, 31);
    REQUIRE_EQ(uvble_gap_scan(b->ble, 0, 30000, 30000, false), 0);
    run_until_idle(&loop, 5000); /* scanning is on at the controller */
    /* Extended PDUs: connectable, no scan response. */
    int r = uvble_gap_advertise(a->ble, 100000, big, sizeof big, NULL, 0,
                                true);
    if (info.max_adv_data_len >= sizeof big) {
      REQUIRE_EQ(r, 0);
      struct seen_from sf = {b, &a->addr, false};
      REQUIRE(run_until_pred(&loop, seen_from_pred, &sf, 3000));
      int i = find_result(b, &a->addr, 0);
      REQUIRE(i >= 0);
      CHECK_EQ(b->results[i].len, sizeof big);
      CHECK_MEM(b->results[i].data, big, sizeof big);
    } else {
      /* More than the controller holds (Zephyr's full build: 31 bytes):
       * the call refuses it before sending anything, so no set goes on
       * without its payload and the controller refuses nothing. */
      CHECK_EQ(r, UVBLE_EMSGSIZE);
      CHECK(!uvble_gap_advertising(a->ble));
      run_until_idle(&loop, 5000);
      uvble_gap_stats_t gs = {0};
      uvble_gap_get_stats(a->ble, &gs);
      CHECK_EQ(gs.adv_errors, 0);
      for (int i = 0; i < b->nresults; i++)
        CHECK(b->results[i].len < sizeof big);
    }
    /* 31 bytes always fit, as legacy PDUs that every scanner sees. */
    REQUIRE_EQ(uvble_gap_advertise(a->ble, 100000, big, 31, NULL, 0, true), 0);
    struct seen_from sf = {b, &a->addr, false};
    b->nresults = 0;
    CHECK(run_until_pred(&loop, seen_from_pred, &sf, 3000));
  }
  CHECK(uvble_gap_advertising(a->ble));
  hosts_down(h, 2);
  loop_teardown(&loop);
}

TEST_MAIN()
