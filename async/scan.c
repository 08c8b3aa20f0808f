/* SPDX-License-Identifier: Apache-2.0 */
/* Scanning as an iteration (aioble's scan): one result object per device,
 * merged from advertisements and scan responses, handed out again when it
 * changes. Bounded: at most scan_max_devices results per scan, and each
 * result sits in the changed-queue at most once. */
#include <stdlib.h>
#include <string.h>

#include "async_internal.h"
#include "uvble/gap.h"

#define ADV_IND 0
#define ADV_DIRECT_IND 1
#define ADV_SCAN_IND 2
#define ADV_NONCONN_IND 3
#define SCAN_RSP 4

static const struct fut_ops next_ops = {
    .name = "scan_next", .detach = fut_wait_detach, .ble = true};

static unsigned bucket_of(const uvble_addr_t *addr) {
  uint32_t h = 2166136261u ^ addr->type;
  for (int i = 0; i < 6; i++) h = (h ^ addr->val[i]) * 16777619u;
  return h % SCAN_BUCKETS;
}

static uvble_scan_result_t *find_result(uvble_scan_t *s,
                                        const uvble_addr_t *addr) {
  for (uvble_scan_result_t *r = s->buckets[bucket_of(addr)]; r; r = r->hnext_)
    if (r->device.addr.type == addr->type &&
        memcmp(r->device.addr.val, addr->val, 6) == 0)
      return r;
  return NULL;
}

static uvble_scan_result_t *new_result(uvble_scan_t *s,
                                       const uvble_addr_t *addr) {
  if (s->ndevices >= s->a->cfg.scan_max_devices) {
    s->stats.devices_dropped++;
    return NULL;
  }
  uvble_scan_result_t *r = calloc(1, sizeof *r);
  if (!r) {
    s->stats.devices_dropped++;
    return NULL;
  }
  r->device.addr = *addr;
  unsigned b = bucket_of(addr);
  r->hnext_ = s->buckets[b];
  s->buckets[b] = r;
  r->anext_ = s->all;
  s->all = r;
  s->ndevices++;
  s->stats.devices++;
  return r;
}

/* Replaces one payload of r; returns whether it changed (false also when
 * memory ran out: the old payload stays). */
static bool set_payload(uint8_t **buf, size_t *cap, const uint8_t **data,
                        size_t *len, const uint8_t *src, size_t n) {
  if (*data && *len == n && (n == 0 || memcmp(*data, src, n) == 0))
    return false;
  if (n > *cap || !*buf) {
    uint8_t *nb = realloc(*buf, n ? n : 1);
    if (!nb) return false;
    *buf = nb;
    *cap = n ? n : 1;
  }
  if (n) memcpy(*buf, src, n);
  *data = *buf;
  *len = n;
  return true;
}

/* aioble's ScanResult._update. */
static bool update(uvble_scan_t *s, uvble_scan_result_t *r,
                   const uvble_evt_scan_result_t *e) {
  bool changed = r->reports == 0;
  r->reports++;
  r->adv_type = e->adv_type;
  if (!r->have_rssi_ || r->rssi != e->rssi) {
    if (!s->params.ignore_rssi) changed = true;
    r->rssi = e->rssi;
    r->have_rssi_ = true;
  }
  switch (e->adv_type) {
    case ADV_IND:
    case ADV_NONCONN_IND:
      if (set_payload(&r->adv_buf_, &r->adv_cap_, &r->adv_data, &r->adv_len,
                      e->adv_data, e->adv_data_len))
        changed = true;
      r->connectable = e->adv_type == ADV_IND;
      break;
    case ADV_SCAN_IND:
      /* Counts as a change only once a scan response is there (aioble). */
      if (set_payload(&r->adv_buf_, &r->adv_cap_, &r->adv_data, &r->adv_len,
                      e->adv_data, e->adv_data_len) &&
          r->resp_len)
        changed = true;
      break;
    case SCAN_RSP:
      if (e->adv_data_len &&
          set_payload(&r->resp_buf_, &r->resp_cap_, &r->resp_data,
                      &r->resp_len, e->adv_data, e->adv_data_len))
        changed = true;
      break;
    default:
      break;
  }
  return changed;
}

static void enqueue(uvble_scan_t *s, uvble_scan_result_t *r) {
  if (r->queued_) return;
  r->queued_ = true;
  r->qnext_ = NULL;
  if (s->qtail)
    s->qtail->qnext_ = r;
  else
    s->qhead = r;
  s->qtail = r;
}

static uvble_scan_result_t *dequeue(uvble_scan_t *s) {
  uvble_scan_result_t *r = s->qhead;
  if (!r) return NULL;
  s->qhead = r->qnext_;
  if (!s->qhead) s->qtail = NULL;
  r->qnext_ = NULL;
  r->queued_ = false;
  s->stats.yielded++;
  return r;
}

/* Hands queued results to waiters; once the scan is over, the waiters left
 * over get status. */
static void serve(uvble_scan_t *s, int end_status) {
  while (s->waiters && s->qhead) {
    uvble_future_t *f = fut_list_pop(&s->waiters);
    f->result.scan = dequeue(s);
    fut_complete(f, 0);
  }
  if (s->state == SCAN_DONE) {
    uvble_future_t *f;
    while ((f = fut_list_pop(&s->waiters)) != NULL) fut_complete(f, end_status);
  }
}

void aio_scan_on_result(uvble_async_t *a, const uvble_evt_scan_result_t *e) {
  uvble_scan_t *s = a->scan;
  if (!s || s->state == SCAN_DONE) return;
  s->stats.reports++;
  uvble_scan_result_t *r = find_result(s, &e->addr);
  if (!r && !(r = new_result(s, &e->addr))) return;
  if (update(s, r, e)) {
    enqueue(s, r);
    serve(s, UVBLE_EOF);
  }
}

static int try_start(uvble_scan_t *s) {
  uvble_async_t *a = s->a;
  int r = uvble_gap_scan(a->ble, s->params.duration_ms, s->params.interval_us,
                         s->params.window_us, s->params.active);
  if (r == 0) {
    a->scan = s;
    s->state = SCAN_RUNNING;
    return 0;
  }
  if (r == UVBLE_EALREADY || r == UVBLE_EBUSY) {
    /* The previous scan is still stopping, or a connect holds the
     * controller: start when it is free. */
    a->scan_next = s;
    s->state = SCAN_WAIT_START;
    return 0;
  }
  return r;
}

/* The controller is free again: start the scan that waits for it. */
void aio_scan_pump(uvble_async_t *a) {
  if (a->scan || !a->scan_next) return;
  uvble_scan_t *s = a->scan_next;
  a->scan_next = NULL;
  int r = try_start(s);
  if (r < 0) {
    s->state = SCAN_DONE;
    serve(s, r);
  }
}

void aio_scan_on_done(uvble_async_t *a) {
  if (a->scan_done_owed > 0) {
    /* The end of a scan this layer already closed (replaced, freed). */
    a->scan_done_owed--;
  } else if (a->scan) {
    uvble_scan_t *s = a->scan;
    a->scan = NULL;
    s->state = SCAN_DONE;
    /* Ended by the stack going down (it failed): not a normal end. */
    serve(s, uvble_is_active(a->ble) ? UVBLE_EOF : UVBLE_ENOTACTIVE);
  }
  aio_scan_pump(a);
}

/* Lets go of the scan the controller runs for us: it ends here and now,
 * and the SCAN_DONE the core still owes for it will be ignored. */
static void detach_running(uvble_async_t *a) {
  uvble_scan_t *s = a->scan;
  if (!s) return;
  if (s->state == SCAN_RUNNING) uvble_gap_scan_stop(a->ble);
  a->scan_done_owed++;
  a->scan = NULL;
}

static void end_scan(uvble_scan_t *s, int status) {
  uvble_async_t *a = s->a;
  if (a->scan == s) detach_running(a);
  if (a->scan_next == s) a->scan_next = NULL;
  s->state = SCAN_DONE;
  serve(s, status);
}

void aio_scan_stop_all(uvble_async_t *a, int status) {
  if (a->scan_next) end_scan(a->scan_next, status);
  if (a->scan) end_scan(a->scan, status);
}

void aio_scan_reset(uvble_async_t *a) { a->scan_done_owed = 0; }

int uvble_scan_start(uvble_async_t *a, const uvble_scan_params_t *params,
                     uvble_scan_t **out) {
  if (!a || !out) return UVBLE_EINVAL;
  *out = NULL;
  if (a->closing) return UVBLE_ECLOSING;
  uvble_scan_t *s = calloc(1, sizeof *s);
  if (!s) return UVBLE_ENOMEM;
  s->a = a;
  if (params) s->params = *params;
  s->next = a->scans;
  if (a->scans) a->scans->prev = s;
  a->scans = s;
  /* Only one scan of the context runs (aioble's _cancel_pending). */
  if (a->scan_next) end_scan(a->scan_next, UVBLE_EOF);
  if (a->scan) end_scan(a->scan, UVBLE_EOF);
  int r = try_start(s);
  if (r < 0) {
    uvble_scan_free(s);
    return r;
  }
  *out = s;
  return 0;
}

int uvble_scan_next(uvble_future_t *f, uvble_scan_t *s, uint32_t timeout_ms) {
  if (!s) return fut_fail(f, UVBLE_EINVAL);
  int r = aio_begin(f, s->a, &next_ops, s, timeout_ms);
  if (r < 0) return r;
  if (s->qhead) {
    f->result.scan = dequeue(s);
    fut_complete(f, 0);
  } else if (s->state == SCAN_DONE) {
    fut_complete(f, UVBLE_EOF);
  } else {
    fut_list_push(&s->waiters, f);
  }
  return 0;
}

int uvble_scan_stop(uvble_scan_t *s) {
  if (!s) return UVBLE_EINVAL;
  uvble_async_t *a = s->a;
  if (s->state == SCAN_WAIT_START) {
    end_scan(s, UVBLE_EOF);
  } else if (s->state == SCAN_RUNNING) {
    uvble_gap_scan_stop(a->ble);
    s->state = SCAN_STOPPING;
  }
  return 0;
}

void uvble_scan_free(uvble_scan_t *s) {
  if (!s) return;
  uvble_async_t *a = s->a;
  if (a->scan_next == s) a->scan_next = NULL;
  if (a->scan == s) detach_running(a);
  uvble_future_t *f;
  while ((f = fut_list_pop(&s->waiters)) != NULL)
    fut_complete(f, UVBLE_ECANCELED);
  if (s->prev)
    s->prev->next = s->next;
  else
    a->scans = s->next;
  if (s->next) s->next->prev = s->prev;
  uvble_scan_result_t *r = s->all;
  while (r) {
    uvble_scan_result_t *n = r->anext_;
    free(r->adv_buf_);
    free(r->resp_buf_);
    free(r);
    r = n;
  }
  free(s);
}

void uvble_scan_get_stats(const uvble_scan_t *s, uvble_scan_stats_t *out) {
  *out = s->stats;
}

bool uvble_scan_running(const uvble_scan_t *s) {
  return s && s->state != SCAN_DONE;
}

int uvble_scan_result_name(const uvble_scan_result_t *r, char *buf,
                           size_t cap) {
  return uvble_adv_name_str(r->adv_data, r->adv_len, r->resp_data,
                            r->resp_len, buf, cap);
}

int uvble_scan_result_services(const uvble_scan_result_t *r, uvble_uuid_t *out,
                               size_t cap) {
  return uvble_adv_services(r->adv_data, r->adv_len, r->resp_data, r->resp_len,
                            out, cap);
}

void uvble_scan_result_iter(const uvble_scan_result_t *r, uvble_adv_iter_t *it) {
  uvble_adv_iter_init(it, r->adv_data, r->adv_len, r->resp_data, r->resp_len);
}
