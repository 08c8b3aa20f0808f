/* SPDX-License-Identifier: Apache-2.0 */
/* Two uvble hosts on btvirt's virtual LE controllers: both come up, read
 * distinct identities and their buffer sizes; one host's traffic is
 * captured to btsnoop and decoded by btmon. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "test.h"

static uv_loop_t loop;

static const char *transport(void) {
  return test_transport(); /* tests/support/test.c */
}

struct host {
  uvble_t *ble;
  bool done;
  int status;
};

static void on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  struct host *h = uvble_get_data(ble);
  h->done = true;
  h->status = status;
}

static bool both_done(void *arg) {
  struct host *h = arg;
  return h[0].done && h[1].done;
}

static bool closed_pred(void *arg) { return *(int *)arg == 2; }
static int closed;
static void on_closed(uvble_t *ble, void *cb_arg) {
  (void)cb_arg;
  (void)ble;
  closed++;
}

TEST(two_hosts_read_identities_and_buffers) {
  uv_loop_init(&loop);
  struct host h[2];
  memset(h, 0, sizeof h);
  char snoop[] = "/tmp/uvble-identity-XXXXXX";
  int fd = mkstemp(snoop);
  REQUIRE(fd >= 0);
  close(fd);
  for (int i = 0; i < 2; i++) {
    char err[256] = "";
    int r = uvble_new(&loop, transport(), &h[i].ble, err, sizeof err);
    if (r < 0) fprintf(stderr, "  uvble_new: %s\n", err);
    REQUIRE_EQ(r, 0);
    uvble_set_data(h[i].ble, &h[i]);
  }
  REQUIRE_EQ(uvble_transport_snoop(h[0].ble->transport, snoop), 0);
  for (int i = 0; i < 2; i++)
    REQUIRE_EQ(uvble_active(h[i].ble, true, on_active, NULL), 0);
  REQUIRE(run_until_pred(&loop, both_done, h, 10000));
  uvble_controller_info_t info[2];
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(h[i].status, 0);
    REQUIRE_EQ(uvble_controller_info(h[i].ble, &info[i]), 0);
    /* btvirt's LE controllers: one 192-byte... buffer, Bluetooth 5.x. */
    CHECK(info[i].acl_mtu >= 27);
    CHECK(info[i].acl_max_pkts >= 1);
    CHECK(info[i].hci_version >= 6);
    CHECK(uvble_controller_has_le_feature(h[i].ble, 0)); /* LE Encryption */
    char a[UVBLE_ADDR_STR_LEN];
    uvble_addr_to_str(&info[i].public_addr, a);
    printf("  controller %d: %s, HCI %s, ACL %u x %u\n", i, a,
           uvble_hci_version_name(info[i].hci_version), info[i].acl_max_pkts,
           info[i].acl_mtu);
    /* btvirt's deterministic addresses: 00:aa:01:NN:00:42. */
    CHECK_EQ(info[i].public_addr.val[0], 0x00);
    CHECK_EQ(info[i].public_addr.val[1], 0xaa);
    CHECK_EQ(info[i].public_addr.val[5], 0x42);
    uvble_addr_t mac;
    CHECK_EQ(uvble_config_get_mac(h[i].ble, &mac), 0);
    CHECK_MEM(mac.val, info[i].public_addr.val, 6);
  }
  CHECK(memcmp(info[0].public_addr.val, info[1].public_addr.val, 6) != 0);
  uvble_stats_t st;
  uvble_get_stats(h[0].ble, &st);
  CHECK_EQ(st.hci_events_malformed, 0);
  CHECK_EQ(st.hci_cmd_timeouts, 0);

  closed = 0;
  for (int i = 0; i < 2; i++) uvble_close(h[i].ble, on_closed, NULL);
  REQUIRE(run_until_pred(&loop, closed_pred, &closed, 5000));

  /* The capture decodes with BlueZ's own decoder. */
  char cmd[512];
  snprintf(cmd, sizeof cmd, "btmon -r %s 2>&1", snoop);
  FILE *p = popen(cmd, "r");
  REQUIRE(p);
  char line[512];
  bool saw_reset = false, saw_bdaddr = false, saw_complete = false;
  while (fgets(line, sizeof line, p)) {
    if (strstr(line, "HCI Command: Reset")) saw_reset = true;
    if (strstr(line, "Read BD ADDR")) saw_bdaddr = true;
    if (strstr(line, "HCI Event: Command Complete")) saw_complete = true;
  }
  int rc = pclose(p);
  CHECK_EQ(rc, 0);
  CHECK(saw_reset);
  CHECK(saw_bdaddr);
  CHECK(saw_complete);
  unlink(snoop);
  loop_teardown(&loop);
}

TEST(bad_transport_strings_name_the_problem) {
  uv_loop_init(&loop);
  uvble_t *ble = NULL;
  char err[256] = "";
  CHECK(uvble_new(&loop, "bogus:thing", &ble, err, sizeof err) < 0);
  CHECK(ble == NULL);
  CHECK(strlen(err) > 0);
  err[0] = 0;
  CHECK(uvble_new(&loop, "unix:/nonexistent/socket", &ble, err, sizeof err) < 0);
  CHECK(strlen(err) > 0);
  loop_teardown(&loop);
}

TEST_MAIN()
