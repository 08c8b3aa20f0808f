/* SPDX-License-Identifier: Apache-2.0 */
/* The stack object and what its layers share. Private. The services
 * declared here (events to the app, dispatch references, failure, close
 * completion) are core's (core/stack.c): every layer may call them. */
#ifndef UVBLE_BLE_INTERNAL_H
#define UVBLE_BLE_INTERNAL_H

#include "uvble/gap.h"
#include "uvble/uvble.h"

#include "conn_state.h"
#include "hci_state.h"
#include "module.h"

enum ble_state {
  BLE_OFF = 0,      /* created, or powered down */
  BLE_STARTING,     /* init sequence running */
  BLE_ON,           /* ready */
  BLE_STOPPING,     /* active(false) running */
  BLE_FAILED,       /* transport or controller failure; only close remains */
  BLE_CLOSING,      /* uvble_close called */
};

struct ble_config {
  int addr_mode;
  uint8_t gap_name[UVBLE_GAP_NAME_MAX];
  size_t gap_name_len;
  int rxbuf;
  int mtu;
  bool bond;
  bool mitm;
  int io;
  bool le_secure;
  bool have_static_addr;
  uvble_addr_t static_addr; /* RANDOM mode's address */
  uvble_gap_link_config_t link; /* DLE / PHY requests (gap_link.c) */
};

struct uvble {
  uv_loop_t *loop;
  uvble_transport_t *transport;
  enum ble_state state;
  int fail_status;

  uvble_irq_cb irq_cb;
  void *irq_arg;
  uvble_status_cb active_cb;
  void *active_arg;
  uvble_status_cb fatal_cb;
  void *fatal_arg;
  uvble_close_cb close_cb;
  void *close_arg;
  uvble_close_hook_cb close_hook;
  void *close_hook_arg;
  void *data;

  struct ble_config cfg;
  uvble_stats_t stats;
  uvble_controller_info_t info;
  bool info_valid;

  struct hci hci;
  struct ble_conns conns;

  /* Each layer's own state, owned and allocated by that layer's init
   * (core/module.h) and freed by its close. */
  struct gap_state *gap;
  struct att_state *att;
  struct gatts_state *gatts;
  struct gattc_state *gattc;
  struct l2cap_state *l2cap;
  struct smp_state *smp;

  bool modules_ready;  /* modules_init ran: close must run modules_close */
  /* Dispatch references (ble_ref): while any is held, the stack is inside
   * a call from the loop and an application callback may be on the stack
   * below some layer's frame. Teardown asked for meanwhile (uvble_close,
   * a failure, power-down) is recorded in `deferred` and runs when the
   * last reference goes, with nothing of the core's on the C stack. */
  int refs;
  unsigned deferred;      /* BLE_DEFER_* */
  bool close_was_started; /* the state uvble_close() found: was it up? */
  void *defer_state;  /* stack.c's deferred-callback timers */
  const struct ble_teardown *teardown; /* ble_set_teardown */
  struct req_state *req_state; /* req.c: cancelled requests due */
  int pending_closes; /* libuv handles and the transport still closing */
};

/* Takes the pending uvble_active() callback and runs it (if any) with
 * status: it runs once. */
void ble_active_done(uvble_t *ble, int status);
/* The same on the next loop iteration (never inside the caller's call). */
void ble_active_later(uvble_t *ble, int status);

/* Teardown that waits for the outermost dispatch to unwind (ble_unref). */
enum {
  BLE_DEFER_FAIL = 1u << 0,       /* ble_fail: complete, drop, stop */
  BLE_DEFER_POWER_DOWN = 1u << 1, /* active(false): links drained */
  BLE_DEFER_CLOSE = 1u << 2,      /* uvble_close */
};

/* What each deferred step does to the layers: the top layer's (ble/),
 * registered at uvble_new. Core runs one step per BLE_DEFER_* bit, with a
 * dispatch reference held, failure first, then power-down, then close. */
struct ble_teardown {
  void (*fail)(uvble_t *ble);       /* ble->fail_status says why */
  void (*power_down)(uvble_t *ble); /* links drained, state STOPPING */
  void (*close)(uvble_t *ble);      /* uvble_close: stop and free layers */
};
void ble_set_teardown(uvble_t *ble, const struct ble_teardown *ops);

/* Asks for the teardown steps in `what` (BLE_DEFER_*): they run at the
 * outermost ble_unref, or now when no dispatch is running. */
void ble_defer(uvble_t *ble, unsigned what);

/* Creates the deferred-callback timers (ble_active_later, ble_fail_later);
 * ble_stack_close_handles starts closing them (ble->pending_closes). */
int ble_stack_init(uvble_t *ble);
void ble_stack_close_handles(uvble_t *ble);

/* A dispatch reference, held for the duration of every entry from the
 * loop into the core (transport packets and errors, the core's timers).
 * Nothing the core frees goes while one is held: uvble_close(), a failure
 * or a power-down asked for from inside an application callback only
 * marks the stack (uvble_close: no more events) and the teardown runs at
 * the last ble_unref, where no layer holds a pointer into it. The object
 * itself is freed only on a later loop turn, once its handles closed. */
void ble_ref(uvble_t *ble);
void ble_unref(uvble_t *ble);

/* A send to the transport failed: the stack fails on a later loop turn
 * (the transport itself reports most errors that way too), never inside
 * the call that was sending. */
void ble_fail_later(uvble_t *ble, int status);

/* Calls the application's irq handler; returns its result (0 when none). */
int ble_irq(uvble_t *ble, int event, const uvble_irq_data_t *data);

/* The stack failed on its own (transport error, controller silent): every
 * pending operation completes with status, the stack becomes inactive and
 * the app hears about it through the active or fatal callback. */
void ble_fail(uvble_t *ble, int status);

/* A libuv handle owned by a layer finished closing (its owner decremented
 * ble->pending_closes): once the stack is closing and nothing is pending,
 * the close callback runs and the object is freed. */
void ble_handle_closed(uvble_t *ble);

/* The current time in milliseconds, for arming deadlines: the loop's
 * cached time is refreshed first, so a deadline armed after the loop was
 * held up (a slow callback, setup before uv_run) is not already past, and
 * the uv timer armed with it counts from the same fresh time. Timer
 * callbacks still compare ble_now_ms() with their deadlines and re-arm
 * when woken early. */
static inline uint64_t ble_now_ms(uv_loop_t *loop) {
  uv_update_time(loop);
  return uv_now(loop);
}

/* True once uvble_close() has been called or the stack failed: no new work
 * starts (nothing is freed until the dispatch unwinds, see ble_ref). */
static inline bool ble_dead(const uvble_t *ble) {
  return ble->state == BLE_CLOSING || ble->state == BLE_FAILED;
}

/* ble_dead, or a power-down whose links end when the dispatch unwinds:
 * what would have ended inside the callback before teardown was deferred
 * (a procedure going on after an irq asks this). */
static inline bool ble_ending(const uvble_t *ble) {
  return ble_dead(ble) || (ble->deferred & BLE_DEFER_POWER_DOWN);
}

/* Address byte order: HCI carries BD_ADDRs least significant byte first;
 * uvble_addr_t holds them in display order. */
static inline void ble_addr_from_hci(uvble_addr_t *a, uint8_t type,
                                     const uint8_t *hci) {
  a->type = type;
  for (int i = 0; i < 6; i++) a->val[i] = hci[5 - i];
}
static inline void ble_addr_to_hci(const uvble_addr_t *a, uint8_t *hci) {
  for (int i = 0; i < 6; i++) hci[i] = a->val[5 - i];
}

static inline uint16_t get_le16(const uint8_t *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t get_le24(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
}
static inline uint32_t get_le32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}
static inline void put_le16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void put_le32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

#endif
