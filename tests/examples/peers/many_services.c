/* SPDX-License-Identifier: Apache-2.0 */
/* A peripheral with a large GATT database, for `uvble gatt-dump`'s test:
 *
 *   uvble-test-many-services N
 *
 * registers N primary services (UUID 0xA000 + i), each with one readable
 * characteristic (0xB000 + i) whose value is i as a uint16, advertises as
 * "uvble-many" (printing "advertising as ADDR"), serves one central and
 * exits 0 when it disconnects (or on SIGINT). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "uvble/async.h"
#include "uvble/co.h"

#define MAX_N 1000

static struct {
  uvble_async_t *a;
  uvble_task_t task;
  uvble_future_t f;
  uvble_service_t *svcs[MAX_N];
  uint8_t values[MAX_N][2];
  unsigned n;
  uv_signal_t sigint;
} M;

static int serve(uvble_task_t *t) {
  char addr[UVBLE_ADDR_STR_LEN];
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&M.f, M.a, 10000), &M.f));
  if (M.f.status) UVBLE_CO_RETURN(t, M.f.status);
  for (unsigned i = 0; i < M.n; i++) {
    uvble_uuid_t su = uvble_uuid16((uint16_t)(0xA000 + i)), cu = uvble_uuid16((uint16_t)(0xB000 + i));
    uvble_characteristic_t *c;
    M.values[i][0] = (uint8_t)i;
    M.values[i][1] = (uint8_t)(i >> 8);
    uvble_characteristic_opts_t o = {.flags = UVBLE_FLAG_READ, .initial = M.values[i],
                                     .initial_len = 2};
    if (uvble_service_new(M.a, &su, &M.svcs[i]) < 0 ||
        uvble_characteristic_new(M.svcs[i], &cu, &o, &c) < 0)
      UVBLE_CO_RETURN(t, UVBLE_ENOMEM);
  }
  {
    int r = uvble_register_services(M.a, M.svcs, M.n);
    if (r < 0) UVBLE_CO_RETURN(t, r);
    uvble_addr_t own;
    uvble_config_get_mac(uvble_async_ble(M.a), &own);
    uvble_advertise_params_t p;
    uvble_advertise_params_init(&p);
    p.interval_us = 100000;
    p.fields.name = "uvble-many";
    printf("advertising as %s (uvble-many, %u services)\n", uvble_addr_to_str(&own, addr), M.n);
    fflush(stdout);
    uvble_advertise(&M.f, M.a, &p, 0);
  }
  UVBLE_AWAIT(t, &M.f);
  if (M.f.status) UVBLE_CO_RETURN(t, M.f.status);
  UVBLE_AWAIT(t, (uvble_connection_disconnected(&M.f, M.f.result.conn, 0), &M.f));
  UVBLE_CO_RETURN(t, 0);
  UVBLE_CO_END(t);
}

static void on_done(uvble_task_t *t) {
  if (t->status) fprintf(stderr, "many_services: %s\n", uvble_strerror(t->status));
  uv_close((uv_handle_t *)&M.sigint, NULL);
  uvble_async_close(M.a, NULL, NULL);
}

static void on_sigint(uv_signal_t *h, int s) {
  (void)s;
  uvble_task_cancel(&M.task);
  (void)h;
}

int main(int argc, char **argv) {
  M.n = argc > 1 ? (unsigned)atoi(argv[1]) : 154;
  if (M.n == 0 || M.n > MAX_N) return 2;
  const char *t = getenv("UVBLE_TRANSPORT");
  uvble_t *ble;
  char err[256];
  if (uvble_new(uv_default_loop(), t ? t : "hci0", &ble, err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  uvble_async_new(ble, NULL, NULL, &M.a);
  uv_signal_init(uv_default_loop(), &M.sigint);
  uv_signal_start(&M.sigint, on_sigint, SIGINT);
  uvble_task_spawn(uvble_async_sched(M.a), &M.task, serve, on_done);
  uv_run(uv_default_loop(), UV_RUN_DEFAULT);
  return M.task.status ? 1 : 0;
}
