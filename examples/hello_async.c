/* SPDX-License-Identifier: Apache-2.0 */
/* The README's async-layer example (tests/examples/test_readme_async.sh checks they match). */
#include <stdio.h>
#include <stdlib.h>
#include <uvble/async.h>
#include <uvble/co.h>

struct app { uvble_task_t task; uvble_async_t *a; uvble_future_t f; uvble_scan_t *scan; };

static int scan_names(uvble_task_t *t) {  /* a task: reads top to bottom */
  struct app *s = (struct app *)t;
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&s->f, s->a, 5000), &s->f));
  uvble_scan_start(s->a, &(uvble_scan_params_t){.duration_ms = 3000, .active = true}, &s->scan);
  for (;;) {
    UVBLE_AWAIT(t, (uvble_scan_next(&s->f, s->scan, 0), &s->f));
    if (s->f.status) break;  /* UVBLE_EOF once the 3 s are over */
    char addr[UVBLE_ADDR_STR_LEN], name[32] = "";
    uvble_scan_result_name(s->f.result.scan, name, sizeof name);
    printf("%s %s\n", uvble_device_addr_hex(&s->f.result.scan->device, addr), name);
  }
  uvble_async_close(s->a, NULL, NULL);  /* frees everything, then the stack */
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
  uvble_task_spawn(uvble_async_sched(app.a), &app.task, scan_names, NULL);
  return uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}
