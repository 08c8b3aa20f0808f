/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — the async layer: futures with timeouts and the aioble surface.
 *
 * The core (uvble.h and the per-layer headers) is MicroPython's callback
 * API: one irq handler sees every event. This layer turns each remote
 * operation into a *future* that completes exactly once, so that a task
 * written with the coroutine helpers of uvble/co.h reads top to bottom, as
 * aioble code does:
 *
 *   UVBLE_AWAIT(t, (uvble_device_connect(&s->f, a, &s->dev, NULL, 5000), &s->f));
 *   if (s->f.status) UVBLE_CO_RETURN(t, s->f.status);
 *   s->conn = s->f.result.conn;
 *
 * ---- futures --------------------------------------------------------------
 * A future (uvble_future_t) is a caller-owned request struct, as libuv's
 * uv_req_t: the caller provides the memory, starts an operation on it, and
 * the library hands the future back through its callback (f->cb, optional)
 * and by resuming the task awaiting it (uvble/co.h).
 *
 * Every operation function has the shape
 *
 *   int uvble_<object>_<op>(uvble_future_t *f, <object>, <args>, uint32_t timeout_ms);
 *
 * and returns either
 *   0     the operation started: the future is pending and completes exactly
 *         once, its callback running from the loop (never inside the call),
 *         or
 *   < 0   it could not start: f->status holds the same error, the future is
 *         done at once and no callback follows (libuv's rule). UVBLE_AWAIT
 *         on such a future continues immediately.
 *
 * timeout_ms bounds the whole operation; 0 means no timeout. When a future
 * completes, f->status is
 *   0                    success; the result fields hold the result
 *   UVBLE_ETIMEDOUT      timeout_ms passed first
 *   UVBLE_EDISCONNECTED  the connection the operation runs on dropped
 *   UVBLE_ECANCELED      uvble_future_cancel(), task cancellation, or the
 *                        stack was stopped or closed (uvble_async_stop,
 *                        uvble_async_close)
 *   UVBLE_EATT           the peer answered with an ATT error: the code as
 *                        sent (UVBLE_ATT_ERR_* of uvble/gatt.h) is in
 *                        f->proto_status
 *   UVBLE_EL2CAP         the peer refused an L2CAP channel: the result code
 *                        (UVBLE_L2CAP_RESULT_*) is in f->proto_status
 *   UVBLE_EL2CAPCLOSED   the L2CAP channel was closed (by either side)
 *   UVBLE_ESMP           pairing failed: the SMP reason is in proto_status
 *   UVBLE_EHCI           the controller refused: the HCI status is in
 *                        proto_status
 *   UVBLE_EOF            an iteration (scan) has no more results
 *   other negative codes as documented per operation (UVBLE_ENOENT: a
 *                        discovery found nothing; UVBLE_EPROTO: the peer's
 *                        response was malformed; ...)
 *
 * A future may be reused once it is done (after its callback ran); starting
 * an operation on a pending future returns UVBLE_EBUSY and leaves it alone.
 * Its memory must stay valid until then, or until uvble_future_abandon()
 * returns. The callback runs from the loop (the scheduler's idle handle),
 * never inside the call that started, cancelled or completed the
 * operation; completions are delivered in the order they happened.
 *
 * Results that carry bytes (reads, notifications, captured writes, L2CAP
 * receives) go into a buffer the caller passes with the operation; f->len
 * is the full length of the value and f->truncated says whether it was cut
 * to the buffer's size. Nothing in a future is heap-allocated: a future
 * needs no cleanup.
 *
 * Object pointers in results (connections, services, characteristics, scan
 * results, channels) are owned by the async context; each operation says
 * how long they stay valid.
 *
 * ---- the scheduler ---------------------------------------------------------
 * Futures and tasks belong to a scheduler (uvble_sched_t): one libuv timer
 * for every deadline (a sorted list, so hundreds of pending timeouts cost
 * one handle) and one idle handle that delivers completions in completion
 * order. One scheduler per loop is enough; an async context (below) makes
 * its own unless it is given one. Everything runs on the loop's thread.
 */
#ifndef UVBLE_ASYNC_H
#define UVBLE_ASYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "uvble/adv.h"
#include "uvble/gap.h"
#include "uvble/gatt.h"
#include "uvble/uuid.h"
#include "uvble/uvble.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uvble_sched uvble_sched_t;
typedef struct uvble_future uvble_future_t;
typedef struct uvble_async uvble_async_t;
typedef struct uvble_connection uvble_connection_t;
typedef struct uvble_scan uvble_scan_t;
typedef struct uvble_scan_result uvble_scan_result_t;
typedef struct uvble_service uvble_service_t;
typedef struct uvble_characteristic uvble_characteristic_t;
typedef struct uvble_descriptor uvble_descriptor_t;
typedef struct uvble_client_service uvble_client_service_t;
typedef struct uvble_client_characteristic uvble_client_characteristic_t;
typedef struct uvble_client_descriptor uvble_client_descriptor_t;
typedef struct uvble_l2cap_channel uvble_l2cap_channel_t;

typedef void (*uvble_future_cb)(uvble_future_t *f);

struct uvble_future {
  /* Set by the caller before starting an operation; both optional. */
  uvble_future_cb cb;
  void *data;

  /* Results: valid once the future is done. */
  int status;       /* 0 or a negative UVBLE_E* code (see above) */
  int proto_status; /* the protocol's own code for EATT/EL2CAP/ESMP/EHCI */
  size_t len;       /* byte results: the value's full length */
  bool truncated;   /* len exceeded the caller's buffer */
  union {
    uvble_connection_t *conn;
    uvble_scan_result_t *scan;
    uvble_client_service_t *service;
    uvble_client_characteristic_t *characteristic;
    uvble_client_descriptor_t *descriptor;
    uvble_l2cap_channel_t *channel;
    uint16_t mtu;
    struct {
      uint8_t action;
      uint32_t passkey;
    } passkey;
    void *ptr;
  } result;

  /* Private: the library's bookkeeping. */
  uvble_sched_t *sched_;
  const void *ops_;
  void *owner_;
  void *aux_;
  void *waiter_;
  uvble_future_t *wprev_, *wnext_; /* the owner's wait list */
  uvble_future_t **wlist_;         /* its head */
  uvble_future_t *sprev_, *snext_; /* the scheduler's pending list */
  uvble_future_t *rprev_, *rnext_; /* the scheduler's ready queue */
  uint64_t deadline_;
  uint8_t *buf_;
  size_t cap_;
  size_t off_;
  uint32_t arg_;
  uint8_t state_;
};

/* ---- scheduler ------------------------------------------------------------ */

/* Creates a scheduler on loop. Returns 0, UVBLE_EINVAL or UVBLE_ENOMEM. */
UVBLE_EXTERN int uvble_sched_new(uv_loop_t *loop, uvble_sched_t **out);

typedef void (*uvble_sched_close_cb)(uvble_sched_t *s, void *arg);

/* Closes the scheduler: every future still pending on it completes with
 * UVBLE_ECANCELED and every completion is delivered (callbacks and task
 * resumptions run inside this call); its handles then close and cb (may be
 * NULL) runs on a later loop iteration, after which s is freed. Operations
 * started after this call return UVBLE_ECLOSING. */
UVBLE_EXTERN void uvble_sched_close(uvble_sched_t *s, uvble_sched_close_cb cb,
                                    void *arg);

UVBLE_EXTERN uv_loop_t *uvble_sched_loop(const uvble_sched_t *s);

/* Counters, for tests and monitoring. */
typedef struct {
  size_t pending;   /* futures started and not yet completed */
  size_t ready;     /* completed, callback not yet run */
  size_t timed;     /* pending futures with a deadline */
  uint64_t completed;
  uint64_t timeouts;
  uint64_t cancels;
} uvble_sched_stats_t;

UVBLE_EXTERN void uvble_sched_get_stats(const uvble_sched_t *s,
                                        uvble_sched_stats_t *out);

/* ---- future state and control -------------------------------------------- */

/* Started and not yet handed back (the callback has not run yet). */
UVBLE_EXTERN bool uvble_future_pending(const uvble_future_t *f);
/* Handed back: status and results are final. A never-started (zeroed)
 * future is neither pending nor done. */
UVBLE_EXTERN bool uvble_future_done(const uvble_future_t *f);

/* Cancels a pending future: it completes with UVBLE_ECANCELED (its
 * callback runs from the loop, as always) and the operation is detached
 * from the core — a late answer from the peer is dropped, a connect or
 * advertise is stopped. A request already sent may still take effect at
 * the peer (a write may be applied). Timeouts end operations the same way.
 * Returns 0, or UVBLE_EALREADY when the future is not pending or has
 * already completed (its callback, with the real status, may still be
 * due). */
UVBLE_EXTERN int uvble_future_cancel(uvble_future_t *f);

/* Cancels a pending future without a callback: when this returns the
 * library holds no reference to f (its memory may be freed) and a task
 * waiting on it is not resumed. Works on a future whose completion is
 * queued, too. Does nothing on a future that is not pending. */
UVBLE_EXTERN void uvble_future_abandon(uvble_future_t *f);

/* A future that completes with status 0 after ms milliseconds (0: on the
 * next loop iteration). */
UVBLE_EXTERN int uvble_sleep(uvble_future_t *f, uvble_sched_t *s, uint32_t ms);

/* A future that never completes by itself: it ends by its timeout
 * (UVBLE_ETIMEDOUT), by uvble_future_cancel, or by uvble_future_set. For
 * events of the application's own. */
UVBLE_EXTERN int uvble_future_start(uvble_future_t *f, uvble_sched_t *s,
                                    uint32_t timeout_ms);
/* Completes a future started with uvble_future_start with status. Returns
 * 0, or UVBLE_EALREADY if it is not pending, UVBLE_EINVAL if it was
 * started by another operation. */
UVBLE_EXTERN int uvble_future_set(uvble_future_t *f, int status);

/* ========================================================================== *
 * The aioble surface.                                                         *
 * ========================================================================== */

/* ---- the async context (aioble's core module) ------------------------------
 *
 * One context per stack. uvble_async_new installs the context's own irq
 * handler on ble (uvble_irq) and its fatal handler (uvble_on_fatal): from
 * then on the application must not call uvble_irq / uvble_on_fatal itself
 * but route through the context:
 *
 *   uvble_async_irq_chain(a, my_irq, arg);   // sees every event, after the
 *                                            // async layer has taken it in
 *   uvble_async_on_fatal(a, my_fatal, arg);
 *
 * Events whose return value matters (uvble.h): GATTS_READ_REQUEST on an
 * attribute with an on_read hook and L2CAP_ACCEPT on a PSM the async layer
 * listens on are answered by the async layer (the chained handler still
 * sees them; its return is ignored); for every other attribute, PSM,
 * GET_SECRET and SET_SECRET the chained handler's return value is used.
 * The context's own operations are core requests (uvble/req.h), whose
 * outcomes the core hands to the request, not to the irq handler; the
 * chained handler still hears them as the irq API raises them (the
 * CONNECT of a connect, MTU_EXCHANGED, ENCRYPTION_UPDATE, L2CAP_CONNECT or
 * L2CAP_DISCONNECT of a channel it opens, GATTS_INDICATE_DONE), right
 * after the context took them in. From uvble_async_close on it hears
 * nothing.
 *
 * The context also takes the core's close hook (uvble_set_close_hook), its
 * notification tx_ready handler (uvble_gatts_on_tx_ready) and its write
 * authorizer (uvble_gatts_set_write_authorizer; see the on_write hooks):
 * do not set those on its stack.
 *
 * Closing: uvble_async_close completes every pending operation with
 * UVBLE_ECANCELED, runs their callbacks, frees every object of the context,
 * and then closes the stack. A direct uvble_close(ble, cb, arg) on the
 * context's stack (from anywhere, the chained handler included) does the same:
 * the context installs a close hook (uvble_set_close_hook), so cb runs once the
 * context and the stack are closed, with ble still valid.
 *
 * Mixing: the async client operations assume they are the only users of
 * the GATT client on their connections (do not call uvble_gattc_* on a
 * connection the async layer reads or discovers on); everything else of the
 * core may be used alongside. */

typedef struct {
  /* Captured writes held for written() across all characteristics (aioble's
   * _WRITE_CAPTURE_QUEUE_LIMIT): when full, the oldest is dropped and
   * stats.capture_overflow counts it. Default 10. */
  size_t capture_depth;
  /* Notifications, and separately indications, held per client
   * characteristic until notified() / indicated() takes them. aioble keeps
   * only the latest (a deque of length 1; set 1 for that behaviour); when
   * full, the oldest is dropped and stats.notify_dropped counts it.
   * Default 16. */
  size_t notify_depth;
  /* Devices one scan keeps results for; reports from further devices are
   * dropped and counted (uvble_scan_stats_t.devices_dropped). Default 1024. */
  size_t scan_max_devices;
  /* Incoming L2CAP channels per connection accepted before anyone called
   * l2cap_accept for them; beyond that they are refused with No Resources.
   * Default 4. */
  size_t l2cap_backlog;
} uvble_async_config_t;

UVBLE_EXTERN void uvble_async_config_default(uvble_async_config_t *cfg);

/* Creates the context on ble. sched: the scheduler to use (NULL: the
 * context makes and owns one, see uvble_async_sched). cfg NULL: defaults;
 * otherwise start from uvble_async_config_default (zero depths and bounds
 * take the defaults, but an l2cap_backlog of 0 means no backlog).
 * Returns 0, UVBLE_EINVAL, UVBLE_EALREADY (ble has a context) or
 * UVBLE_ENOMEM. */
UVBLE_EXTERN int uvble_async_new(uvble_t *ble, uvble_sched_t *sched,
                                 const uvble_async_config_t *cfg,
                                 uvble_async_t **out);

/* aioble's config(...) is the core's configuration of this stack:
 * uvble_config_set_int(uvble_async_ble(a), UVBLE_CONFIG_MTU, 100) and so
 * on (uvble.h); exchange_mtu and pair set the keys they need. */
UVBLE_EXTERN uvble_t *uvble_async_ble(const uvble_async_t *a);
UVBLE_EXTERN uvble_sched_t *uvble_async_sched(const uvble_async_t *a);

/* The application's irq handler and fatal handler (see above). */
UVBLE_EXTERN void uvble_async_irq_chain(uvble_async_t *a, uvble_irq_cb cb,
                                        void *arg);
UVBLE_EXTERN void uvble_async_on_fatal(uvble_async_t *a, uvble_status_cb cb,
                                       void *arg);

/* aioble's ensure_active: powers the stack up (uvble_active(true)); the
 * future completes with the init sequence's status (0 at once, on the next
 * iteration, if the stack is already up). UVBLE_EBUSY while a start or stop
 * is under way. */
UVBLE_EXTERN int uvble_async_start(uvble_future_t *f, uvble_async_t *a,
                                   uint32_t timeout_ms);

/* aioble's stop(): every pending operation of the context that does not
 * run on a connection completes with UVBLE_ECANCELED (scans end, advertise
 * and connect stop, written() and l2cap_accept() waiters, the capture queue
 * is emptied), then the stack powers down (uvble_active(false)), which
 * drops every connection: operations on them complete with
 * UVBLE_EDISCONNECTED. The future completes when the stack is down.
 * Objects stay valid: services can be registered again after a start. */
UVBLE_EXTERN int uvble_async_stop(uvble_future_t *f, uvble_async_t *a,
                                  uint32_t timeout_ms);

typedef void (*uvble_async_close_cb)(uvble_async_t *a, void *arg);

/* Closes the context and its stack: every pending operation completes with
 * UVBLE_ECANCELED and its callback runs (inside this call, before anything
 * is freed); then every object of the context is freed (connections,
 * scans, services, channels: pointers to them are invalid afterwards), the
 * context's own scheduler closes, uvble_close() runs, and cb (may be NULL)
 * runs last, after the stack's close, on a later loop iteration. */
UVBLE_EXTERN void uvble_async_close(uvble_async_t *a, uvble_async_close_cb cb,
                                    void *arg);

typedef struct {
  uint64_t connections;        /* connection objects made */
  size_t live_connections;     /* connection objects alive */
  uint64_t capture_overflow;   /* captured writes dropped: queue full */
  uint64_t notify_dropped;     /* notifications/indications dropped: queue full */
  uint64_t gattc_unmatched;    /* always 0: client operations are core
                                  requests (uvble/req.h), whose events
                                  cannot go astray; kept for the ABI */
  uint64_t l2cap_refused;      /* incoming channels refused: backlog full */
  uint64_t orphan_connections; /* always 0: a connect that times out or is
                                  cancelled cancels its core request, and
                                  the core ends a link that comes up anyway
                                  (uvble_stats_t.req_late_responses) */
} uvble_async_stats_t;

UVBLE_EXTERN void uvble_async_get_stats(const uvble_async_t *a,
                                        uvble_async_stats_t *out);

/* ---- Device ------------------------------------------------------------------ */
typedef struct {
  uvble_addr_t addr; /* type and address, display order */
} uvble_device_t;

/* From 6 address bytes in display order (aioble's Device(type, bytes)). */
UVBLE_EXTERN int uvble_device_init(uvble_device_t *d, uint8_t addr_type,
                                   const uint8_t addr[6]);
/* From "aa:bb:cc:dd:ee:ff" (colons optional). 0 or UVBLE_EINVAL. */
UVBLE_EXTERN int uvble_device_parse(uvble_device_t *d, uint8_t addr_type,
                                    const char *text);
/* "aa:bb:cc:dd:ee:ff"; returns buf. */
UVBLE_EXTERN char *uvble_device_addr_hex(const uvble_device_t *d,
                                         char buf[UVBLE_ADDR_STR_LEN]);
/* Same type and address (aioble's __eq__). */
UVBLE_EXTERN bool uvble_device_equal(const uvble_device_t *x,
                                     const uvble_device_t *y);
/* "Device(ADDR_PUBLIC, aa:bb:cc:dd:ee:ff)"; returns snprintf's count. */
UVBLE_EXTERN int uvble_device_str(const uvble_device_t *d, char *buf,
                                  size_t cap);

typedef struct {
  int32_t scan_duration_ms;     /* 0: the core's default (2000) */
  int32_t min_conn_interval_us; /* 0: the core's default */
  int32_t max_conn_interval_us; /* 0: the core's default */
  /* All the link's parameters with connection event lengths (e.g.
   * UVBLE_CONN_PARAMS_THROUGHPUT, uvble/gap.h): used instead of the two
   * intervals above when conn.max_interval_us is not 0
   * (uvble_gap_connect_with). */
  uvble_gap_conn_params_t conn;
} uvble_connect_params_t;

/* Connects to d (aioble's Device.connect). Any scan of the context is
 * stopped first (its iteration ends). Attempts queue: the controller runs
 * one at a time, so a gateway may start hundreds and they go one after the
 * other, each bounded by its own timeout_ms (which includes its time in
 * the queue). A device already connected completes at once with its
 * connection.
 *
 * Result: f->result.conn, with a reference the caller owns
 * (uvble_connection_release). Status: 0; UVBLE_ETIMEDOUT — timeout_ms
 * passed, or the controller gave up (the peer was not found within the
 * scan duration) — in both cases the attempt is cancelled in the controller
 * (unlike aioble, micropython-lib#950), and a link that comes up anyway is
 * disconnected; UVBLE_EHCI with the controller's status in proto_status
 * when it refused or lost the attempt (0x3E Connection Failed to be
 * Established, 0x0C Command Disallowed, ...); UVBLE_ECANCELED;
 * UVBLE_ENOTACTIVE (the stack failed meanwhile; the fatal callback says
 * why); or the core's error. */
UVBLE_EXTERN int uvble_device_connect(uvble_future_t *f, uvble_async_t *a,
                                      const uvble_device_t *d,
                                      const uvble_connect_params_t *params,
                                      uint32_t timeout_ms);
/* Whether a completed connect failed the way a retry may cure: the peer was
 * not found in time (UVBLE_ETIMEDOUT) or the link could not be established
 * (UVBLE_EHCI with 0x3E, Connection Failed to be Established: the peer
 * stopped advertising or its first packets were lost). */
UVBLE_EXTERN bool uvble_connect_retryable(const uvble_future_t *f);

/* ---- DeviceConnection ----------------------------------------------------------
 * A connection object is made for every link of the stack. It lives as long
 * as the link is up or someone holds a reference: advertise() and
 * connect() hand the caller a reference; other pointers to a connection
 * (written(), uvble_async_connection, on_read) are borrowed — valid during
 * that callback or until the awaiting task's next await, and for as long as
 * the link is up; take uvble_connection_ref to keep one longer. After the
 * link is down the object still answers (is_connected false) until the last
 * reference goes. uvble_async_close frees them all. */
UVBLE_EXTERN uvble_connection_t *uvble_connection_ref(uvble_connection_t *c);
UVBLE_EXTERN void uvble_connection_release(uvble_connection_t *c);
/* The connection object of a link, borrowed, or NULL. */
UVBLE_EXTERN uvble_connection_t *uvble_async_connection(uvble_async_t *a,
                                                        uint16_t conn_handle);

UVBLE_EXTERN bool uvble_connection_is_connected(const uvble_connection_t *c);
UVBLE_EXTERN uint16_t uvble_connection_handle(const uvble_connection_t *c);
UVBLE_EXTERN const uvble_device_t *uvble_connection_device(
    const uvble_connection_t *c);
UVBLE_EXTERN uvble_async_t *uvble_connection_async(const uvble_connection_t *c);
/* The link's security as the last ENCRYPTION_UPDATE left it. */
UVBLE_EXTERN bool uvble_connection_encrypted(const uvble_connection_t *c);
UVBLE_EXTERN bool uvble_connection_authenticated(const uvble_connection_t *c);
UVBLE_EXTERN bool uvble_connection_bonded(const uvble_connection_t *c);
UVBLE_EXTERN uint8_t uvble_connection_key_size(const uvble_connection_t *c);
/* The ATT MTU: 23 until an exchange (either side's) completed. */
UVBLE_EXTERN uint16_t uvble_connection_mtu(const uvble_connection_t *c);

/* The link as the controller last reported it: data length, PHYs,
 * interval, latency, supervision timeout (uvble_gap_conn_info).
 * UVBLE_ENOTCONN once the link is down. */
UVBLE_EXTERN int uvble_connection_info(const uvble_connection_t *c,
                                       uvble_conn_info_t *out);
/* Asks for a PHY (uvble_gap_set_phy_req, UVBLE_PHY_PREF_*) and waits for
 * the controller's LE PHY Update Complete: status 0 (the PHYs in force are
 * in uvble_connection_info; a peer without the PHY keeps the old one), or
 * UVBLE_EHCI with the HCI status in proto_status; UVBLE_ENOTSUP /
 * UVBLE_EINVAL at once as uvble_gap_set_phy; UVBLE_EBUSY at once while a
 * set_phy with another preference waits on the link (one with the same
 * preference shares its outcome); UVBLE_ETIMEDOUT; UVBLE_EDISCONNECTED. */
UVBLE_EXTERN int uvble_connection_set_phy(uvble_future_t *f,
                                          uvble_connection_t *c, int pref,
                                          uint32_t timeout_ms);

/* Disconnects (uvble_gap_disconnect_req) and waits until the link is
 * down: status 0 (also when it already was), after the disconnected()
 * futures of the link; UVBLE_ETIMEDOUT. The link still ends when the
 * future ends early. */
UVBLE_EXTERN int uvble_connection_disconnect(uvble_future_t *f,
                                             uvble_connection_t *c,
                                             uint32_t timeout_ms);
/* Waits until the link is down (status 0; at once if it is). */
UVBLE_EXTERN int uvble_connection_disconnected(uvble_future_t *f,
                                               uvble_connection_t *c,
                                               uint32_t timeout_ms);

/* ATT MTU exchange (aioble's exchange_mtu): sets config "mtu" first when
 * mtu is non-zero (a stack-wide setting, as in aioble), then exchanges (a
 * core request, uvble_gattc_exchange_mtu_req, that futures waiting at the
 * same time share; the last one to end early cancels it). Result
 * f->result.mtu. When an exchange already ran on the link (the core allows
 * one), completes at once with the current MTU; while the peer's exchange
 * runs, waits for its MTU_EXCHANGED. */
UVBLE_EXTERN int uvble_connection_exchange_mtu(uvble_future_t *f,
                                               uvble_connection_t *c,
                                               uint16_t mtu,
                                               uint32_t timeout_ms);

/* ---- pairing (aioble's security module) ---------------------------------- */
typedef struct {
  bool bond;      /* aioble's defaults: true */
  bool le_secure; /* true */
  bool mitm;      /* false */
  int io;         /* UVBLE_IO_NO_INPUT_OUTPUT */
} uvble_pair_params_t;

UVBLE_EXTERN void uvble_pair_params_default(uvble_pair_params_t *p);

/* Pairs or encrypts (uvble_gap_pair_req, shared by the futures waiting at
 * the same time; see uvble/security.h for what a central and a peripheral
 * do). params NULL keeps the stack's config; otherwise "bond",
 * "le_secure", "mitm" and "io" are set first (stack-wide, as in aioble).
 * If the peer's attempt is already under way on the link, the future
 * waits for its ENCRYPTION_UPDATE. Status 0: the link is
 * encrypted (see uvble_connection_encrypted and friends); UVBLE_ESMP with
 * the Pairing Failed reason in proto_status; UVBLE_EHCI with the HCI status;
 * UVBLE_ETIMEDOUT; UVBLE_EDISCONNECTED. Passkeys: see
 * uvble_connection_passkey_action. A stored bond the peer no longer
 * honours ends the future with UVBLE_EHCI and proto_status 0x06 (PIN or
 * Key Missing) or 0x05 (Authentication Failure), every time: the stack
 * never pairs over a bond on its own. To pair anew, call
 * uvble_connection_forget_bond, then this again. */
UVBLE_EXTERN int uvble_connection_pair(uvble_future_t *f, uvble_connection_t *c,
                                       const uvble_pair_params_t *params,
                                       uint32_t timeout_ms);

/* Forgets the bond with the connection's peer (uvble_forget_bond_conn):
 * 0, UVBLE_ENOENT (none), UVBLE_ENOTCONN, UVBLE_EINVAL. */
UVBLE_EXTERN int uvble_connection_forget_bond(uvble_connection_t *c);

/* Waits for the next PASSKEY_ACTION on the link (aioble leaves passkeys
 * unimplemented): result f->result.passkey.action / .passkey. Answer with
 * uvble_connection_passkey. */
UVBLE_EXTERN int uvble_connection_passkey_action(uvble_future_t *f,
                                                 uvble_connection_t *c,
                                                 uint32_t timeout_ms);
/* uvble_gap_passkey on this link. */
UVBLE_EXTERN int uvble_connection_passkey(uvble_connection_t *c, int action,
                                          uint32_t passkey);

/* ---- scanning (aioble's central module) --------------------------------------
 *
 *   uvble_scan_t *s;
 *   uvble_scan_start(a, &params, &s);
 *   for (;;) { UVBLE_AWAIT(t, (uvble_scan_next(&f, s, 0), &f));
 *              if (f.status == UVBLE_EOF) break; use f.result.scan; }
 *   uvble_scan_free(s);
 *
 * One result object per device (address and type), merged as aioble's
 * ScanResult: ADV_IND / ADV_NONCONN_IND replace adv_data and set
 * connectable; ADV_SCAN_IND replaces adv_data; a non-empty SCAN_RSP
 * replaces resp_data; RSSI is kept. A result is handed out again only when
 * something changed (a new RSSI counts, as in aioble, unless
 * params.ignore_rssi) — in the order the changes happened; a result that
 * changes again before it was handed out is handed out once, with the
 * latest data. Results stay valid until uvble_scan_free. */
typedef struct {
  int32_t duration_ms; /* 0: until stopped */
  int32_t interval_us; /* 0: 1 280 000 (aioble's default) */
  int32_t window_us;   /* 0: 11 250 */
  bool active;         /* send scan requests: scan responses come in */
  bool ignore_rssi;    /* an RSSI change alone does not re-yield a result */
} uvble_scan_params_t;

struct uvble_scan_result {
  uvble_device_t device;
  uint8_t adv_type; /* of the last report */
  int8_t rssi;      /* of the last report */
  bool connectable;
  const uint8_t *adv_data; /* NULL until an advertisement arrived */
  size_t adv_len;
  const uint8_t *resp_data; /* NULL until a scan response arrived */
  size_t resp_len;
  uint64_t reports; /* reports merged into this result */

  /* Private. */
  uvble_scan_result_t *hnext_, *qnext_, *anext_;
  uint8_t *adv_buf_, *resp_buf_;
  size_t adv_cap_, resp_cap_;
  bool queued_, have_rssi_;
};

typedef struct {
  uint64_t reports;         /* advertising reports seen by this scan */
  uint64_t devices;         /* distinct devices kept */
  uint64_t devices_dropped; /* reports of devices beyond scan_max_devices */
  uint64_t yielded;         /* results handed out */
} uvble_scan_stats_t;

/* Starts scanning (aioble's `async with scan(...)`). A scan of the context
 * already running is stopped (its iteration ends with UVBLE_EOF); a connect
 * in progress makes the new scan wait for the controller. params NULL: a
 * passive scan until stopped. Returns 0, UVBLE_ECLOSING, UVBLE_ENOMEM or
 * the core's error. */
UVBLE_EXTERN int uvble_scan_start(uvble_async_t *a,
                                  const uvble_scan_params_t *params,
                                  uvble_scan_t **out);
/* The next result that changed: f->result.scan (borrowed, valid until
 * uvble_scan_free). UVBLE_EOF once the scan has ended (duration over,
 * uvble_scan_stop, a newer scan started, a connect took the controller)
 * and every change was handed out; UVBLE_ECANCELED when the context stops
 * or closes, or the scan is freed; UVBLE_ENOTACTIVE when the stack
 * fails. */
UVBLE_EXTERN int uvble_scan_next(uvble_future_t *f, uvble_scan_t *s,
                                 uint32_t timeout_ms);
/* Stops the controller's scan (aioble's cancel): the iteration ends after
 * the results already queued. Returns 0. */
UVBLE_EXTERN int uvble_scan_stop(uvble_scan_t *s);
/* Stops and frees the scan and its results; a pending next() completes
 * with UVBLE_ECANCELED. */
UVBLE_EXTERN void uvble_scan_free(uvble_scan_t *s);
UVBLE_EXTERN void uvble_scan_get_stats(const uvble_scan_t *s,
                                       uvble_scan_stats_t *out);
UVBLE_EXTERN bool uvble_scan_running(const uvble_scan_t *s);

/* aioble's ScanResult helpers, over adv_data and resp_data together
 * (uvble/adv.h has the rest). */
/* name(): the complete name, else the short one, NUL-terminated; returns
 * its length, UVBLE_ENOENT or UVBLE_ENOBUFS (see uvble_adv_name_str). */
UVBLE_EXTERN int uvble_scan_result_name(const uvble_scan_result_t *r, char *buf,
                                        size_t cap);
/* services(): every advertised service UUID into out[0..cap); returns the
 * number there are. */
UVBLE_EXTERN int uvble_scan_result_services(const uvble_scan_result_t *r,
                                            uvble_uuid_t *out, size_t cap);
/* manufacturer(filter): starts a walk; then uvble_adv_iter_manufacturer(it,
 * company or UVBLE_ADV_ANY_COMPANY, &id, &data, &len) == 1 for each. */
UVBLE_EXTERN void uvble_scan_result_iter(const uvble_scan_result_t *r,
                                         uvble_adv_iter_t *it);

/* ---- advertising (aioble's peripheral module) ---------------------------- */
typedef struct {
  int32_t interval_us; /* 0: 500 ms */
  /* Raw payloads, sent as given when either is non-NULL. */
  const uint8_t *adv_data;
  size_t adv_len;
  const uint8_t *resp_data;
  size_t resp_len;
  bool connectable;
  /* Otherwise the payloads are built from these (uvble_adv_build with the
   * 31-byte legacy limit: name, services, appearance, manufacturer, flags
   * from limited_disc / br_edr), spilling into the scan response. */
  uvble_adv_fields_t fields;
} uvble_advertise_params_t;

/* Zeroes p, then connectable = true (aioble's default). */
UVBLE_EXTERN void uvble_advertise_params_init(uvble_advertise_params_t *p);

/* Advertises until a central connects (aioble's advertise()): result
 * f->result.conn with a reference the caller owns. Timeout or cancel stops
 * advertising (UVBLE_ETIMEDOUT / UVBLE_ECANCELED). One advertise() at a
 * time per context: UVBLE_EBUSY. Non-connectable advertising runs until the
 * timeout or a cancel. Payload problems: UVBLE_EMSGSIZE (fields do not fit
 * in 2 x 31 bytes), UVBLE_EINVAL. */
UVBLE_EXTERN int uvble_advertise(uvble_future_t *f, uvble_async_t *a,
                                 const uvble_advertise_params_t *params,
                                 uint32_t timeout_ms);

/* ---- GATT server objects (aioble's server module) ----------------------------
 * Services, characteristics and descriptors are made before registration
 * and live until uvble_service_free (with their characteristics and
 * descriptors) or uvble_async_close. The initial value (opts.initial, or
 * what was written before the first registration) is written at every
 * registration, so the same objects can be registered again, e.g. after
 * uvble_async_stop and uvble_async_start. */

/* A READ_REQUEST hook (aioble's on_read): return 0 to allow the read, or an
 * ATT error code to refuse it. conn is borrowed (may be NULL for an unknown
 * link). Runs inside the irq: it may update the value (uvble_*_write). */
typedef int (*uvble_attr_read_cb)(void *attr, uvble_connection_t *conn,
                                  void *arg);
/* A write hook for attributes made with UVBLE_FLAG_WRITE_AUTHORIZED (the
 * core's write authorizer, per attribute): called before a central's write
 * is applied, with the complete value (borrowed); return 0 to accept, or
 * the ATT error to answer with, e.g. UVBLE_ATT_ERR_INSUFFICIENT_RESOURCES
 * while the application cannot take more (the central may retry). A
 * refused Write Command is dropped: ATT has no answer for it. An attribute
 * with the flag and no hook refuses every write (Insufficient
 * Authorization). */
typedef int (*uvble_attr_write_cb)(void *attr, uvble_connection_t *conn,
                                   const uint8_t *data, size_t len, void *arg);

typedef struct {
  uint16_t flags; /* UVBLE_FLAG_READ | _WRITE | _WRITE_NO_RESPONSE | _NOTIFY |
                     _INDICATE and the security flags */
  const void *initial;
  size_t initial_len;
  /* Capture (aioble's capture=True): every write is queued with its value
   * and connection, and written() hands them out in the order they arrived
   * across all capturing characteristics of the context. Without it,
   * written() only says that a write happened (writes coalesce). */
  bool capture;
  /* BufferedCharacteristic: the value buffer is max_len bytes (remote writes
   * are cut to it) and, with append, remote writes accumulate until read.
   * max_len 0: the core's default 20-byte buffer. */
  size_t max_len;
  bool append;
} uvble_characteristic_opts_t;

UVBLE_EXTERN int uvble_service_new(uvble_async_t *a, const uvble_uuid_t *uuid,
                                   uvble_service_t **out);
/* Frees the service with its characteristics and descriptors (their
 * pending written()/indicate() complete with UVBLE_ECANCELED). A registered
 * service stays in the stack's database until the next registration, but
 * its attributes are no longer routed. */
UVBLE_EXTERN void uvble_service_free(uvble_service_t *svc);

UVBLE_EXTERN int uvble_characteristic_new(
    uvble_service_t *svc, const uvble_uuid_t *uuid,
    const uvble_characteristic_opts_t *opts, uvble_characteristic_t **out);
/* A descriptor (flags: READ, WRITE, WRITE_NO_RESPONSE). */
UVBLE_EXTERN int uvble_descriptor_new(uvble_characteristic_t *chr,
                                      const uvble_uuid_t *uuid, uint16_t flags,
                                      const void *initial, size_t initial_len,
                                      bool capture, uvble_descriptor_t **out);

/* Registers the services (replacing any earlier registration, as the core
 * does) and assigns handles in declaration order. Returns 0 or the core's
 * error. */
UVBLE_EXTERN int uvble_register_services(uvble_async_t *a,
                                         uvble_service_t *const *svcs,
                                         size_t n);

UVBLE_EXTERN uint16_t
uvble_characteristic_handle(const uvble_characteristic_t *c);
UVBLE_EXTERN uint16_t uvble_descriptor_handle(const uvble_descriptor_t *d);

/* The local value (aioble's read()): copies at most cap bytes into buf,
 * returns the value's length (reading an append buffer empties it). */
UVBLE_EXTERN int uvble_characteristic_read(uvble_characteristic_t *c,
                                           uint8_t *buf, size_t cap);
/* Sets the local value (aioble's write(data, send_update)). */
UVBLE_EXTERN int uvble_characteristic_write(uvble_characteristic_t *c,
                                            const void *data, size_t len,
                                            bool send_update);
UVBLE_EXTERN int uvble_descriptor_read(uvble_descriptor_t *d, uint8_t *buf,
                                       size_t cap);
UVBLE_EXTERN int uvble_descriptor_write(uvble_descriptor_t *d, const void *data,
                                        size_t len);

/* Waits for a peer's write (aioble's written()): f->result.conn is the
 * writer (borrowed). With capture, the written value goes into buf
 * (f->len, f->truncated) — the value as it was when the write arrived —
 * and writes are handed out one by one in arrival order; without capture,
 * nothing goes into buf and several writes since the last written() count
 * as one. UVBLE_EINVAL: the attribute is not writable. */
UVBLE_EXTERN int uvble_characteristic_written(uvble_future_t *f,
                                              uvble_characteristic_t *c,
                                              uint8_t *buf, size_t cap,
                                              uint32_t timeout_ms);
UVBLE_EXTERN int uvble_descriptor_written(uvble_future_t *f,
                                          uvble_descriptor_t *d, uint8_t *buf,
                                          size_t cap, uint32_t timeout_ms);

/* The on_read hook (NULL removes it); attr is the characteristic or
 * descriptor. */
UVBLE_EXTERN void uvble_characteristic_on_read(uvble_characteristic_t *c,
                                               uvble_attr_read_cb cb,
                                               void *arg);
UVBLE_EXTERN void uvble_descriptor_on_read(uvble_descriptor_t *d,
                                           uvble_attr_read_cb cb, void *arg);
/* The write hook (NULL removes it). */
UVBLE_EXTERN void uvble_characteristic_on_write(uvble_characteristic_t *c,
                                                uvble_attr_write_cb cb,
                                                void *arg);
UVBLE_EXTERN void uvble_descriptor_on_write(uvble_descriptor_t *d,
                                            uvble_attr_write_cb cb, void *arg);

/* Notifies conn (regardless of its subscription, as aioble): data NULL
 * sends the current value. Returns 0, UVBLE_EINVAL (no NOTIFY flag or not
 * registered), UVBLE_ENOTCONN, or the core's error (UVBLE_ENOBUFS: retry
 * later). */
UVBLE_EXTERN int uvble_characteristic_notify(uvble_characteristic_t *c,
                                             uvble_connection_t *conn,
                                             const void *data, size_t len);
/* Notifies conn with flow control: when the link's transmit queue is full
 * the notification waits (in order behind others waiting on that link)
 * until the controller has taken enough, instead of failing with
 * UVBLE_ENOBUFS. Completes with 0 once the notification is handed to the
 * link, UVBLE_ETIMEDOUT, UVBLE_EDISCONNECTED, UVBLE_ECANCELED or the core's
 * error. data must stay valid until then (NULL: the value current when it
 * goes out). */
/* What conn has subscribed to on c: UVBLE_CCCD_NOTIFY and/or
 * UVBLE_CCCD_INDICATE (0: nothing, or c has no CCCD), UVBLE_EINVAL (not
 * registered), UVBLE_ENOTCONN. Lets a peripheral stream only to centrals
 * that listen, the way they asked (uvble_gatts_subscription). */
UVBLE_EXTERN int uvble_characteristic_subscription(
    const uvble_characteristic_t *c, const uvble_connection_t *conn);
UVBLE_EXTERN int uvble_characteristic_notify_wait(uvble_future_t *f,
                                                  uvble_characteristic_t *c,
                                                  uvble_connection_t *conn,
                                                  const void *data, size_t len,
                                                  uint32_t timeout_ms);
/* Indicates conn and waits for its confirmation (aioble's awaitable
 * indicate), through uvble_gatts_indicate_req: status 0 when confirmed, or
 * the request's status (UVBLE_ETIMEDOUT, UVBLE_EIO, UVBLE_EDISCONNECTED).
 * One indication per characteristic and connection at a time: UVBLE_EBUSY
 * (aioble allows one per characteristic). data NULL: the current value.
 * A future that ends early cancels its request: the indication still goes
 * out, its confirmation is swallowed. */
UVBLE_EXTERN int uvble_characteristic_indicate(uvble_future_t *f,
                                               uvble_characteristic_t *c,
                                               uvble_connection_t *conn,
                                               const void *data, size_t len,
                                               uint32_t timeout_ms);

/* ---- GATT client objects (aioble's client module) ------------------------------
 * Owned by their connection object and valid as long as it is; the same
 * service, characteristic or descriptor found twice is the same object. */
struct uvble_client_service {
  uvble_uuid_t uuid;
  uint16_t start_handle, end_handle;
  uvble_connection_t *connection;

  /* Private. */
  uvble_client_service_t *next_;
  uvble_client_characteristic_t *chars_;
};

struct uvble_client_characteristic {
  uvble_uuid_t uuid;
  uint16_t value_handle;
  uint16_t end_handle; /* the last handle before the next declaration (the
                          GATT client computes it); aioble's value_handle + 2
                          only when the server's answer is inconsistent */
  uint8_t properties;  /* UVBLE_FLAG_READ ... (the declaration's octet) */
  uvble_client_service_t *service;

  /* Private. */
  uvble_client_characteristic_t *next_;
  uvble_client_descriptor_t *descs_;
  struct uvble_qval_ *notify_q_, *indicate_q_; /* circular, tail pointers */
  size_t notify_len_, indicate_len_, depth_;
  uvble_future_t *notify_waiters_, *indicate_waiters_;
  uint16_t cccd_;
  bool registered_;
};

struct uvble_client_descriptor {
  uvble_uuid_t uuid;
  uint16_t handle;
  uvble_client_characteristic_t *characteristic;

  /* Private. */
  uvble_client_descriptor_t *next_;
};

/* Discovery (aioble's services / characteristics / descriptors iterators,
 * run to completion): the objects found go into out[0..cap) and f->len is
 * how many were found (more than cap: only cap are stored; f->truncated).
 * Discoveries on one connection queue behind each other (the bearer runs
 * one at a time; aioble raises "Discovery in progress" instead). uuid NULL:
 * all. */
UVBLE_EXTERN int uvble_connection_services(uvble_future_t *f,
                                           uvble_connection_t *c,
                                           const uvble_uuid_t *uuid,
                                           uvble_client_service_t **out,
                                           size_t cap, uint32_t timeout_ms);
/* The first service with uuid: f->result.service, or UVBLE_ENOENT. */
UVBLE_EXTERN int uvble_connection_service(uvble_future_t *f,
                                          uvble_connection_t *c,
                                          const uvble_uuid_t *uuid,
                                          uint32_t timeout_ms);
UVBLE_EXTERN int uvble_client_service_characteristics(
    uvble_future_t *f, uvble_client_service_t *s, const uvble_uuid_t *uuid,
    uvble_client_characteristic_t **out, size_t cap, uint32_t timeout_ms);
/* f->result.characteristic, or UVBLE_ENOENT. */
UVBLE_EXTERN int uvble_client_service_characteristic(uvble_future_t *f,
                                                     uvble_client_service_t *s,
                                                     const uvble_uuid_t *uuid,
                                                     uint32_t timeout_ms);
/* Descriptors between the value handle and the end handle (including the
 * CCCD). */
UVBLE_EXTERN int uvble_client_characteristic_descriptors(
    uvble_future_t *f, uvble_client_characteristic_t *c,
    uvble_client_descriptor_t **out, size_t cap, uint32_t timeout_ms);
/* f->result.descriptor, or UVBLE_ENOENT. */
UVBLE_EXTERN int uvble_client_characteristic_descriptor(
    uvble_future_t *f, uvble_client_characteristic_t *c,
    const uvble_uuid_t *uuid, uint32_t timeout_ms);

/* Reads the value (the core reads long values whole) into buf: f->len,
 * f->truncated. UVBLE_EATT with the ATT error; UVBLE_EINVAL without the
 * READ property (aioble's "Unsupported"). */
UVBLE_EXTERN int uvble_client_characteristic_read(
    uvble_future_t *f, uvble_client_characteristic_t *c, uint8_t *buf,
    size_t cap, uint32_t timeout_ms);

#define UVBLE_WRITE_AUTO (-1) /* response chosen from the properties */

/* Writes the value (copied). response: 1 Write Request (waits for the
 * response), 0 Write Command (completes once handed to the link; may fail
 * with UVBLE_ENOBUFS), or UVBLE_WRITE_AUTO: with response only when the
 * characteristic has WRITE and not WRITE_NO_RESPONSE (aioble's rule). */
UVBLE_EXTERN int uvble_client_characteristic_write(
    uvble_future_t *f, uvble_client_characteristic_t *c, const void *data,
    size_t len, int response, uint32_t timeout_ms);

/* The next notification / indication value (aioble's notified() /
 * indicated()): from the characteristic's queue (config notify_depth,
 * oldest dropped when full; aioble keeps only the latest) or the next one
 * to arrive. Values are queued from the first call of notified(),
 * indicated(), subscribe(), read() or write() on the characteristic on. */
UVBLE_EXTERN int uvble_client_characteristic_notified(
    uvble_future_t *f, uvble_client_characteristic_t *c, uint8_t *buf,
    size_t cap, uint32_t timeout_ms);
UVBLE_EXTERN int uvble_client_characteristic_indicated(
    uvble_future_t *f, uvble_client_characteristic_t *c, uint8_t *buf,
    size_t cap, uint32_t timeout_ms);
/* Overrides notify_depth for this characteristic (1..); drops the oldest
 * values already queued beyond it. */
UVBLE_EXTERN int uvble_client_characteristic_set_queue(
    uvble_client_characteristic_t *c, size_t depth);

/* Writes the CCCD (discovered first when not yet known): notify and
 * indicate bits. UVBLE_ENOENT: the characteristic has no CCCD (aioble's
 * "CCCD not found"). */
UVBLE_EXTERN int uvble_client_characteristic_subscribe(
    uvble_future_t *f, uvble_client_characteristic_t *c, bool notify,
    bool indicate, uint32_t timeout_ms);

UVBLE_EXTERN int uvble_client_descriptor_read(uvble_future_t *f,
                                              uvble_client_descriptor_t *d,
                                              uint8_t *buf, size_t cap,
                                              uint32_t timeout_ms);
/* response as for characteristics; UVBLE_WRITE_AUTO means a Write Request. */
UVBLE_EXTERN int uvble_client_descriptor_write(uvble_future_t *f,
                                               uvble_client_descriptor_t *d,
                                               const void *data, size_t len,
                                               int response,
                                               uint32_t timeout_ms);

/* ---- L2CAP channels (aioble's l2cap module) --------------------------------
 * Any number of channels per connection and of listening PSMs (aioble: one
 * channel, and no connect after a listen). A channel returned by accept or
 * connect belongs to the caller: uvble_l2cap_channel_free disconnects it if
 * needed and frees it (otherwise it lives as long as the async context). */

/* Listens on psm (once per context; the listener stays, and its MTU is
 * the one the first accept on that PSM gave) and waits for a peer on c to
 * open a channel there; a channel the peer opened before this call (up to
 * config l2cap_backlog per connection) is taken at once. Result:
 * f->result.channel. */
UVBLE_EXTERN int uvble_connection_l2cap_accept(uvble_future_t *f,
                                               uvble_connection_t *c,
                                               uint16_t psm, uint16_t mtu,
                                               uint32_t timeout_ms);
/* Listens on psm with our MTU mtu before any accept, so that a peer that
 * opens its channel as soon as the link is up (before the program got to
 * uvble_connection_l2cap_accept) lands in the backlog instead of being
 * refused with "SPSM not supported". Context-wide, for every connection;
 * the listener stays. Returns 0, UVBLE_EINVAL (psm outside 0x01..0xFF,
 * mtu < 23), UVBLE_EALREADY (the context listens on psm already),
 * UVBLE_ECANCELED (closing) or the core's error. */
UVBLE_EXTERN int uvble_async_l2cap_listen(uvble_async_t *a, uint16_t psm,
                                          uint16_t mtu);
/* Opens a channel to psm on the peer (uvble_l2cap_connect_req): result
 * f->result.channel, or UVBLE_EL2CAP with the peer's result code in
 * proto_status (e.g. 0x0002 SPSM not supported), UVBLE_ETIMEDOUT (the
 * request is cancelled: the core closes the channel if the peer still
 * accepts it, without an event), UVBLE_EDISCONNECTED. */
UVBLE_EXTERN int uvble_connection_l2cap_connect(uvble_future_t *f,
                                                uvble_connection_t *c,
                                                uint16_t psm, uint16_t mtu,
                                                uint32_t timeout_ms);

UVBLE_EXTERN uint16_t
uvble_l2cap_channel_our_mtu(const uvble_l2cap_channel_t *ch);
UVBLE_EXTERN uint16_t
uvble_l2cap_channel_peer_mtu(const uvble_l2cap_channel_t *ch);
UVBLE_EXTERN uint16_t uvble_l2cap_channel_cid(const uvble_l2cap_channel_t *ch);
UVBLE_EXTERN uvble_connection_t *uvble_l2cap_channel_connection(
    const uvble_l2cap_channel_t *ch);
UVBLE_EXTERN bool uvble_l2cap_channel_is_open(const uvble_l2cap_channel_t *ch);
/* Whether received data waits to be read (aioble's available()). */
UVBLE_EXTERN bool uvble_l2cap_channel_available(
    const uvble_l2cap_channel_t *ch);

/* Reads what has arrived (waiting for data if none): at most cap bytes of
 * one SDU into buf, f->len bytes. UVBLE_EL2CAPCLOSED once the channel is
 * closed, UVBLE_EDISCONNECTED when the link dropped. */
UVBLE_EXTERN int uvble_l2cap_channel_recvinto(uvble_future_t *f,
                                              uvble_l2cap_channel_t *ch,
                                              uint8_t *buf, size_t cap,
                                              uint32_t timeout_ms);
/* Sends buf as SDUs of at most min(our_mtu * 2, peer_mtu, chunk_size)
 * bytes (chunk_size 0: no extra limit), waiting for the channel to take
 * more whenever it stalls (credits, buffer). buf must stay valid until the
 * future completes; f->len is the bytes handed to the channel. Sends on a
 * channel queue behind each other. */
UVBLE_EXTERN int uvble_l2cap_channel_send(uvble_future_t *f,
                                          uvble_l2cap_channel_t *ch,
                                          const void *buf, size_t len,
                                          size_t chunk_size,
                                          uint32_t timeout_ms);
/* Waits until the channel can take more data (not stalled). */
UVBLE_EXTERN int uvble_l2cap_channel_flush(uvble_future_t *f,
                                           uvble_l2cap_channel_t *ch,
                                           uint32_t timeout_ms);
/* Closes the channel and waits until it is closed (status 0). */
UVBLE_EXTERN int uvble_l2cap_channel_disconnect(uvble_future_t *f,
                                                uvble_l2cap_channel_t *ch,
                                                uint32_t timeout_ms);
/* Waits until the channel is closed (status 0; proto_status: the close
 * status the core reported). */
UVBLE_EXTERN int uvble_l2cap_channel_disconnected(uvble_future_t *f,
                                                  uvble_l2cap_channel_t *ch,
                                                  uint32_t timeout_ms);
/* Disconnects the channel if open and frees it; its pending futures
 * complete with UVBLE_ECANCELED. */
UVBLE_EXTERN void uvble_l2cap_channel_free(uvble_l2cap_channel_t *ch);

#ifdef __cplusplus
}
#endif
#endif
