/* SPDX-License-Identifier: Apache-2.0 */
/* docs/observer.md's sketch (tests/readme_example.sh checks they match). */
#include <stdio.h>
#include <stdlib.h>
#include <uvble/adv.h>
#include <uvble/async.h>
#include <uvble/co.h>

struct app { uvble_task_t task; uvble_async_t *a; uvble_future_t f, adv; uvble_scan_t *scan; };

static int observe(uvble_task_t *t) {
  struct app *s = (struct app *)t;
  static const uint8_t beacon[] = {0x01, 0x02, 0x03};
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&s->f, s->a, 5000), &s->f));
  /* Broadcast: non-connectable, our company id and 3 bytes, for 5 s. */
  uvble_advertise_params_t p;
  uvble_advertise_params_init(&p);
  p.connectable = false;
  p.fields.has_manufacturer = true;
  p.fields.company_id = 0xffff;  /* "for testing" in the company list */
  p.fields.manufacturer_data = beacon;
  p.fields.manufacturer_len = sizeof beacon;
  uvble_advertise(&s->adv, s->a, &p, 5000);
  /* Observe: passive (no scan requests), every report, for 5 s. */
  uvble_scan_start(s->a, &(uvble_scan_params_t){.duration_ms = 5000}, &s->scan);
  for (;;) {
    UVBLE_AWAIT(t, (uvble_scan_next(&s->f, s->scan, 0), &s->f));
    if (s->f.status) break;  /* UVBLE_EOF: the 5 s are over */
    const uvble_scan_result_t *r = s->f.result.scan;
    uint16_t company;
    const uint8_t *data;
    size_t len;
    char addr[UVBLE_ADDR_STR_LEN];
    if (uvble_adv_manufacturer(r->adv_data, r->adv_len, r->resp_data, r->resp_len,
                               UVBLE_ADV_ANY_COMPANY, &company, &data, &len) == 0)
      printf("%s rssi %d company 0x%04x, %zu bytes\n",
             uvble_device_addr_hex(&r->device, addr), r->rssi, company, len);
  }
  uvble_scan_free(s->scan);
  UVBLE_AWAIT(t, &s->adv);  /* the broadcast ends with UVBLE_ETIMEDOUT */
  uvble_async_close(s->a, NULL, NULL);
  UVBLE_CO_END(t);
}

int main(void) {
  static struct app app;
  uvble_t *ble;
  char err[256];
  const char *t = getenv("UVBLE_TRANSPORT");
  if (uvble_new(uv_default_loop(), t ? t : "hci0", &ble, err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  uvble_async_new(ble, NULL, NULL, &app.a);
  uvble_task_spawn(uvble_async_sched(app.a), &app.task, observe, NULL);
  return uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}
