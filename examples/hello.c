/* SPDX-License-Identifier: Apache-2.0 */
/* The README's core-API example (tests/readme_example checks they match). */
#include <stdio.h>
#include <stdlib.h>
#include <uvble/uvble.h>

static int on_irq(uvble_t *ble, int event, const uvble_irq_data_t *d, void *arg) {
  if (event == UVBLE_IRQ_CENTRAL_CONNECT)
    printf("connected: handle %u\n", d->connect.conn_handle);
  return 0;
}

static void on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  uvble_addr_t mac;
  if (status == 0 && uvble_config_get_mac(ble, &mac) == 0) {
    char s[UVBLE_ADDR_STR_LEN];
    printf("up as %s\n", uvble_addr_to_str(&mac, s));
  }
  uvble_close(ble, NULL, NULL);  /* completes everything pending, then frees */
}

int main(void) {
  uvble_t *ble;
  char err[256];
  const char *t = getenv("UVBLE_TRANSPORT");
  if (uvble_new(uv_default_loop(), t ? t : "hci0", &ble, err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  uvble_irq(ble, on_irq, NULL);
  uvble_active(ble, true, on_active, NULL);
  return uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}
