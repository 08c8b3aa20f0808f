/* SPDX-License-Identifier: Apache-2.0 */
/* The async layer's private contracts: future bookkeeping shared by every
 * operation, and the scheduler. Only public headers below this layer: the
 * async layer sees the core as an application does. */
#ifndef UVBLE_ASYNC_INTERNAL_H
#define UVBLE_ASYNC_INTERNAL_H

#include "uvble/async.h"
#include "uvble/co.h"

enum fut_state {
  FUT_IDLE = 0, /* never started */
  FUT_PENDING,  /* started, waiting for its source, deadline or cancel */
  FUT_READY,    /* completed, in the ready queue: callback not yet run */
  FUT_DONE,     /* handed back */
};

/* What an operation tells the scheduler about its futures. */
struct fut_ops {
  const char *name;
  /* The operation ends early (deadline, cancel, scope, close) with status:
   * unhook f from whatever would complete it (wait lists, core requests).
   * Must not complete f. May be NULL. */
  void (*detach)(uvble_future_t *f, int status);
  /* Runs after the callback and the awaiting task, with the aux_ pointer f
   * had when it completed (f itself may be gone by then): drops what the
   * future held for its result. May be NULL. */
  void (*release)(void *aux);
  /* f completed but is abandoned before its callback: give back what its
   * result holds for the caller (a connection reference). May be NULL. */
  void (*drop_result)(uvble_future_t *f);
  /* The deadline is the operation's normal end (status 0), as for sleeps. */
  bool deadline_ok;
  /* An operation of an async context: f->owner_ starts with struct aobj. */
  bool ble;
};

struct uvble_sched {
  uv_loop_t *loop;
  uv_timer_t timer;
  uv_idle_t idle;
  uvble_future_t *timed;   /* pending with a deadline, soonest first */
  uvble_future_t *untimed; /* pending without one */
  uvble_future_t *ready;   /* completed, in completion order */
  uint64_t armed;          /* deadline the timer is set for (0: stopped) */
  bool closing;
  int open_handles;
  uvble_sched_close_cb close_cb;
  void *close_arg;
  uvble_sched_stats_t stats;
};

/* ---- circular wait lists (head only; head->wprev_ is the tail) ---------- */
void fut_list_push(uvble_future_t **head, uvble_future_t *f);
void fut_list_remove(uvble_future_t **head, uvble_future_t *f);
uvble_future_t *fut_list_pop(uvble_future_t **head);
/* Completes every future in the list with status, oldest first. */
void fut_list_complete_all(uvble_future_t **head, int status);
/* Takes f out of the wait list it is in, if any. */
void fut_unwait(uvble_future_t *f);
/* A detach for operations whose only hook is a wait list. */
void fut_wait_detach(uvble_future_t *f, int status);

/* ---- lifecycle of one operation ------------------------------------------
 * fut_begin   validates f and makes it pending (0), or fails it
 *             (UVBLE_EBUSY leaves a pending f untouched; UVBLE_ECLOSING
 *             and UVBLE_EINVAL mark it done with that status).
 * fut_fail    the operation could not start: f done with err, no callback.
 * fut_abort   fut_begin succeeded but the start failed: undo it, as
 *             fut_fail.
 * fut_complete the source completes f (it has unhooked f already).
 * fut_end     f ends early with status: ops->detach, then complete. */
int fut_begin(uvble_future_t *f, uvble_sched_t *s, const struct fut_ops *ops,
              void *owner, uint32_t timeout_ms);
int fut_fail(uvble_future_t *f, int err);
int fut_abort(uvble_future_t *f, int err);
void fut_complete(uvble_future_t *f, int status);
void fut_complete_proto(uvble_future_t *f, int status, int proto_status);
void fut_end(uvble_future_t *f, int status);
/* Copies a byte result into the caller's buffer (f->buf_/cap_ set by the
 * operation): f->len = n, f->truncated when it did not fit. */
void fut_set_bytes(uvble_future_t *f, const uint8_t *data, size_t n);

static inline bool fut_pending(const uvble_future_t *f) {
  return f->state_ == FUT_PENDING;
}

/* Delivers every queued completion now (close paths). */
void aio_sched_drain(uvble_sched_t *s);

/* ---- tasks (task.c) ------------------------------------------------------ */
/* The scheduler resumes a task whose awaited future was handed back. */
void aio_task_resume(uvble_task_t *t, uvble_future_t *f);

/* ======================================================================== *
 * The BLE side.                                                             *
 * ======================================================================== */

/* Every object that owns futures of an async context starts with a pointer
 * to it, so that close and stop can find what belongs to whom. */
struct aobj {
  uvble_async_t *a;
};
#define AOBJ_CTX(owner) (((struct aobj *)(owner))->a)

/* A core request (uvble/req.h) whose outcome several futures of one
 * connection may wait for (exchange_mtu, pair, set_phy): the first future
 * starts it, later ones join its wait list, and the last one to leave
 * early cancels it. Its memory lives until the core completes it. */
struct sreq;
typedef void (*sreq_done_fn)(uvble_connection_t *c, uvble_future_t **waiters,
                             int status, const uvble_irq_data_t *d);
typedef int (*sreq_start_fn)(uvble_req_t *req, uvble_t *ble,
                             uint16_t conn_handle, int arg);
struct sreq {
  uvble_req_t req;
  uvble_connection_t *c;    /* a reference, until the request ends */
  struct sreq **slot;       /* where c keeps it; NULL once cancelled */
  uvble_future_t **waiters; /* c's wait list for the outcome */
  sreq_done_fn done;
  int arg; /* what start was given */
};

/* An indication we sent (server.c): its request, and its place in the
 * connection's list of live ones (one per characteristic at a time). */
struct ind {
  uvble_req_t req;
  struct ind *next;
  uvble_connection_t *conn;
  uint16_t handle;
  uvble_future_t *f; /* NULL once its future ended early */
};

/* A queued value: notifications, indications, captured writes. Queues are
 * circular singly-linked lists held by their tail (tail->next is the head)
 * and a length. */
struct uvble_qval_ {
  struct uvble_qval_ *next;
  uvble_connection_t *conn; /* captured writes: the writer (a reference) */
  struct sattr *attr;       /* captured writes: the attribute written */
  size_t len;
  uint8_t data[];
};
typedef struct uvble_qval_ qval_t;

struct uvble_connection {
  uvble_async_t *a; /* struct aobj */
  uvble_connection_t *prev, *next;
  int refs;
  uint16_t handle;
  uvble_device_t device;
  bool connected;
  bool link_ref; /* the link's reference is still held */
  bool we_are_central;
  bool encrypted, authenticated, bonded;
  uint8_t key_size;
  uint16_t mtu;
  bool mtu_exchanged;
  uvble_future_t *down_waiters; /* disconnected() */
  uvble_future_t *mtu_waiters;
  uvble_future_t *pair_waiters;
  uvble_future_t *passkey_waiters;
  uvble_future_t *phy_waiters;
  struct sreq *mtu_req, *pair_req, *phy_req; /* in flight (struct sreq) */
  /* GATT client (its operations are core requests, see client.c) */
  uvble_client_service_t *services;
  /* GATT server */
  struct ind *inds; /* live indicate() futures */
  uvble_future_t *notify_waiters; /* notify_wait()s waiting for room */
  /* L2CAP */
  uvble_l2cap_channel_t *chans;
  uvble_future_t *accept_waiters;
};

/* Server attribute: a characteristic or a descriptor (aioble's
 * BaseCharacteristic). */
struct sattr {
  uvble_async_t *a; /* struct aobj */
  uvble_uuid_t uuid;
  uint16_t flags;
  uint16_t handle; /* value handle once registered, else 0 */
  bool is_descriptor;
  bool capture;
  uint8_t *initial; /* value until registration */
  size_t initial_len;
  uvble_attr_read_cb on_read;
  void *on_read_arg;
  uvble_attr_write_cb on_write;
  void *on_write_arg;
  uvble_future_t *written_waiters;
  bool write_seen;          /* non-capture: written since the last written() */
  uvble_connection_t *last_writer; /* its connection (a reference) */
  size_t captured;          /* entries of the capture queue for this attr */
};

struct uvble_descriptor {
  struct sattr base;
  uvble_characteristic_t *chr;
  uvble_descriptor_t *next;
};

struct uvble_characteristic {
  struct sattr base;
  uvble_service_t *svc;
  uvble_characteristic_t *next;
  uvble_descriptor_t *descs;
  size_t max_len;
  bool append;
  bool buffered;
};

struct uvble_service {
  uvble_async_t *a; /* struct aobj */
  uvble_uuid_t uuid;
  uvble_service_t *prev, *next;
  uvble_characteristic_t *chars;
  bool registered;
};

/* Scanner. */
enum scan_state { SCAN_WAIT_START, SCAN_RUNNING, SCAN_STOPPING, SCAN_DONE };

#define SCAN_BUCKETS 64
struct uvble_scan {
  uvble_async_t *a; /* struct aobj */
  uvble_scan_t *prev, *next; /* every scan of the context */
  enum scan_state state;
  uvble_scan_params_t params;
  uvble_scan_result_t *buckets[SCAN_BUCKETS];
  uvble_scan_result_t *all;
  uvble_scan_result_t *qhead, *qtail;
  size_t ndevices;
  uvble_future_t *waiters;
  uvble_scan_stats_t stats;
};

/* L2CAP channel. */
struct uvble_l2cap_channel {
  uvble_async_t *a; /* struct aobj */
  uvble_connection_t *conn; /* a reference */
  uvble_l2cap_channel_t *next; /* in conn->chans */
  uint16_t cid, psm, our_mtu, peer_mtu;
  bool open;      /* L2CAP_CONNECT seen, no DISCONNECT yet */
  bool closed;    /* DISCONNECT seen (or never opened) */
  bool incoming;
  bool claimed;   /* handed to the application */
  bool stalled;   /* the last send returned 0: wait for SEND_READY */
  int close_status;
  bool close_deferred; /* waiting to learn whether the link went too */
  uvble_l2cap_channel_t *dnext;
  uvble_future_t *recv_waiters, *send_q, *flush_waiters, *down_waiters;
  uvble_future_t *connect_f; /* the l2cap_connect future, while connecting */
  struct chreq *creq;        /* its core request (channel.c) */
};

struct uvble_async {
  uvble_async_t *self; /* struct aobj */
  uvble_t *ble;
  uvble_sched_t *sched;
  bool own_sched;
  uvble_async_config_t cfg;
  uvble_async_stats_t stats;
  uvble_irq_cb app_irq;
  void *app_irq_arg;
  uvble_status_cb app_fatal;
  void *app_fatal_arg;
  /* lifecycle */
  bool closing;
  int close_pending;
  uvble_async_close_cb close_cb;
  void *close_arg;
  uvble_close_cb ble_close_cb; /* the app closed the stack with uvble_close */
  void *ble_close_arg;
  uvble_future_t *power_f; /* start or stop under way */
  bool power_on;
  /* connections */
  uvble_connection_t *conns;
  /* central */
  uvble_scan_t *scans;     /* every scan not yet freed */
  uvble_scan_t *scan;      /* the scanner the controller runs (or NULL) */
  uvble_scan_t *scan_next; /* waiting for the previous scan to stop */
  int scan_done_owed;      /* SCAN_DONEs of scans already ended here */
  uvble_future_t *connect_q; /* connects waiting for the initiator */
  bool connect_busy;         /* the core runs one of ours (a request) */
  /* peripheral */
  uvble_future_t *adv_f;
  /* server */
  uvble_service_t *services;
  qval_t *cap_tail; /* the capture queue */
  size_t cap_len;
  /* L2CAP */
  uint8_t listening[32]; /* bitmap of SPSMs 0x01..0xFF we listen on */
  uvble_l2cap_channel_t *deferred; /* channels closed, link state unknown */
  uvble_future_t defer_f;          /* resolves them after the event burst */
};

/* ---- shared helpers (aio.c) ---------------------------------------------- */
/* Starts an operation of context a (checks closing). */
int aio_begin(uvble_future_t *f, uvble_async_t *a, const struct fut_ops *ops,
              void *owner, uint32_t timeout_ms);
/* A done status from the core: 0, an ATT error (1..255) or negative. */
void aio_complete_att(uvble_future_t *f, int core_status);
/* The application's chained irq handler hears what a request of ours
 * completed with, as the irq API would have raised it (d NULL: nothing). */
void aio_chain_irq(uvble_async_t *a, int event, const uvble_irq_data_t *d);
/* Shared requests (struct sreq). aio_sreq_join: f waits for c's request
 * in *slot, starting it with start(req, ble, handle, arg) when there is
 * none; returns 0, or start's error (nothing started, f untouched). */
int aio_sreq_join(uvble_future_t *f, uvble_connection_t *c, struct sreq **slot,
                  uvble_future_t **waiters, sreq_start_fn start, int arg,
                  sreq_done_fn done);
/* The fut_ops detach of futures that may wait on a shared request. */
void aio_sreq_detach(uvble_future_t *f, int status);
qval_t *qval_new(const uint8_t *data, size_t len);
void qval_free(qval_t *v); /* drops its connection reference */
void qv_push(qval_t **tail, size_t *len, qval_t *v);
qval_t *qv_pop(qval_t **tail, size_t *len);
void qv_clear(qval_t **tail, size_t *len);

/* ---- connections (device.c) ---------------------------------------------- */
uvble_connection_t *aio_conn_find(uvble_async_t *a, uint16_t handle);
void aio_conn_on_connect(uvble_async_t *a, int event, const uvble_evt_connect_t *e);
void aio_conn_on_disconnect(uvble_async_t *a, int event,
                        const uvble_evt_connect_t *e);
void aio_conn_after_disconnect(uvble_async_t *a, uint16_t handle);
void aio_conn_on_mtu(uvble_async_t *a, const uvble_evt_mtu_t *e);
void aio_conn_free_all(uvble_async_t *a);
void aio_conn_unref(uvble_connection_t *c);
/* drop_result of operations that hand the caller a connection reference. */
void aio_drop_conn_result(uvble_future_t *f);
void aio_connect_cancel_all(uvble_async_t *a, int status);

/* ---- central (scan.c) ----------------------------------------------------- */
void aio_scan_on_result(uvble_async_t *a, const uvble_evt_scan_result_t *e);
void aio_scan_on_done(uvble_async_t *a);
void aio_scan_stop_all(uvble_async_t *a, int status);
void aio_scan_pump(uvble_async_t *a);
/* The controller was reset: no SCAN_DONE is owed any more. */
void aio_scan_reset(uvble_async_t *a);

/* ---- peripheral (advertise.c) ------------------------------------------------ */
/* A central connected: the pending advertise() takes c. */
void aio_adv_on_connect(uvble_async_t *a, uvble_connection_t *c);
void aio_adv_cancel(uvble_async_t *a, int status);

/* ---- GATT client (client.c) ------------------------------------------------ */
void aio_client_on_event(uvble_async_t *a, int event, const uvble_irq_data_t *d);
void aio_client_conn_down(uvble_connection_t *c, int status);
void aio_client_free(uvble_connection_t *c);

/* ---- GATT server (server.c) ------------------------------------------------ */
void aio_server_on_write(uvble_async_t *a, const uvble_evt_gatts_access_t *e);
bool aio_server_on_read(uvble_async_t *a, const uvble_evt_gatts_access_t *e,
                    int *ret);
void aio_server_conn_down(uvble_connection_t *c, int status);
/* The core's write authorizer: the written attribute's on_write hook. */
int aio_server_authorize(uvble_t *ble, uint16_t conn_handle,
                         uint16_t attr_handle, const uint8_t *data, size_t len,
                         void *arg);
/* The core's tx_ready for a link (uvble_gatts_on_tx_ready). */
void aio_server_on_tx_ready(uvble_t *ble, uint16_t conn_handle, void *arg);
void aio_server_stop(uvble_async_t *a, int status);
void aio_server_free_all(uvble_async_t *a);

/* ---- L2CAP (channel.c) ------------------------------------------------------ */
bool aio_chan_on_event(uvble_async_t *a, int event, const uvble_irq_data_t *d,
                   int *ret);
void aio_chan_conn_down(uvble_connection_t *c, int status);
void aio_chan_free_all(uvble_connection_t *c);
void aio_chan_stop(uvble_async_t *a, int status);

/* ---- security (pair.c) ---------------------------------------------------------- */
void aio_pair_on_encryption(uvble_async_t *a, const uvble_evt_encryption_t *e);
void aio_pair_on_passkey(uvble_async_t *a, const uvble_evt_passkey_t *e);

#endif
