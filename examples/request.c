/* SPDX-License-Identifier: Apache-2.0 */
/* The README's request example (tests/readme_example checks they match). */
/* Connects to ADDR with a caller-owned request (scanning for it up to
 * 10 s), gives up after 5 s with uvble_cancel, and disconnects with a
 * second request. */
#include <stdio.h>
#include <stdlib.h>
#include <uvble/gap.h>
#include <uvble/req.h>
#include <uvble/status.h>
#include <uvble/uvble.h>

static uvble_addr_t peer;
static uvble_req_t connect_req, disconnect_req;
static uv_timer_t give_up;

static void on_disconnected(uvble_req_t *req, int status,
                            const uvble_irq_data_t *d, void *arg) {
  uvble_t *ble = arg;
  (void)req;
  if (status == 0) printf("disconnected: reason 0x%02x\n", d->connect.reason);
  uvble_close(ble, NULL, NULL);
}

static void on_connected(uvble_req_t *req, int status,
                         const uvble_irq_data_t *d, void *arg) {
  uvble_t *ble = arg;
  (void)req;
  uv_close((uv_handle_t *)&give_up, NULL);
  if (status != 0) { /* the controller's HCI status, or UVBLE_ECANCELED */
    printf("not connected: %s\n", status > 0
                                      ? uvble_hci_status_str((uint8_t)status)
                                      : uvble_strerror(status));
    uvble_close(ble, NULL, NULL);
    return;
  }
  printf("connected: handle %u\n", d->connect.conn_handle);
  uvble_req_init(&disconnect_req, on_disconnected, ble);
  if (uvble_gap_disconnect_req(&disconnect_req, ble, d->connect.conn_handle) <
      0)
    uvble_close(ble, NULL, NULL);
}

static void on_give_up(uv_timer_t *t) {
  (void)t;
  uvble_cancel(&connect_req); /* on_connected runs with UVBLE_ECANCELED */
}

static void on_active(uvble_t *ble, int status, void *arg) {
  (void)arg;
  uvble_req_init(&connect_req, on_connected, ble);
  if (status < 0 ||
      uvble_gap_connect_req(&connect_req, ble, &peer, 10000, NULL) < 0) {
    uv_close((uv_handle_t *)&give_up, NULL);
    uvble_close(ble, NULL, NULL);
    return;
  }
  uv_timer_start(&give_up, on_give_up, 5000, 0);
}

int main(int argc, char **argv) {
  uvble_t *ble;
  char err[256];
  const char *t = getenv("UVBLE_TRANSPORT");
  if (argc < 2 || argc > 3 || uvble_addr_parse(&peer, argv[1]) < 0) {
    fprintf(stderr, "usage: %s AA:BB:CC:DD:EE:FF [random]\n", argv[0]);
    return 2;
  }
  if (argc == 3) peer.type = UVBLE_ADDR_RANDOM;
  if (uvble_new(uv_default_loop(), t ? t : "hci0", &ble, err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  uv_timer_init(uv_default_loop(), &give_up);
  uvble_active(ble, true, on_active, NULL);
  return uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}
