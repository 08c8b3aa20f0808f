/* SPDX-License-Identifier: Apache-2.0 */
/* Advertising until a central connects (aioble's peripheral module). */
#include <string.h>

#include "async_internal.h"
#include "uvble/gap.h"

static void adv_detach(uvble_future_t *f, int status) {
  (void)status;
  uvble_async_t *a = f->owner_;
  if (a->adv_f != f) return;
  a->adv_f = NULL;
  /* Timed out or cancelled: stop advertising (aioble: gap_advertise(None)). */
  uvble_gap_advertise(a->ble, -1, NULL, 0, NULL, 0, false);
}

static const struct fut_ops adv_ops = {.name = "advertise",
                                       .detach = adv_detach,
                                       .drop_result = aio_drop_conn_result,
                                       .ble = true};

void uvble_advertise_params_init(uvble_advertise_params_t *p) {
  memset(p, 0, sizeof *p);
  p->connectable = true;
}

int uvble_advertise(uvble_future_t *f, uvble_async_t *a,
                    const uvble_advertise_params_t *p, uint32_t timeout_ms) {
  if (!a || !p) return fut_fail(f, UVBLE_EINVAL);
  if (a->adv_f) return fut_fail(f, UVBLE_EBUSY);
  uint8_t adv[UVBLE_ADV_LEGACY_MAX], resp[UVBLE_ADV_LEGACY_MAX];
  const uint8_t *ad = p->adv_data, *rd = p->resp_data;
  size_t alen = p->adv_len, rlen = p->resp_len;
  if (!ad && !rd) {
    int r = uvble_adv_build(&p->fields, UVBLE_ADV_LEGACY_MAX, adv, &alen, resp,
                            &rlen);
    if (r < 0) return fut_fail(f, r);
    ad = adv;
    /* An empty scan response is cleared rather than kept from before. */
    rd = resp;
  }
  int r = aio_begin(f, a, &adv_ops, a, timeout_ms);
  if (r < 0) return r;
  r = uvble_gap_advertise(a->ble, p->interval_us, ad ? ad : (const uint8_t *)"",
                          ad ? alen : 0, rd ? rd : (const uint8_t *)"",
                          rd ? rlen : 0, p->connectable);
  if (r < 0) return fut_abort(f, r);
  a->adv_f = f;
  return 0;
}

void aio_adv_on_connect(uvble_async_t *a, uvble_connection_t *c) {
  uvble_future_t *f = a->adv_f;
  if (!f) return;
  a->adv_f = NULL;
  f->result.conn = uvble_connection_ref(c);
  fut_complete(f, 0);
}

void aio_adv_cancel(uvble_async_t *a, int status) {
  if (a->adv_f) fut_end(a->adv_f, status);
}
