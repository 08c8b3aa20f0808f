/* SPDX-License-Identifier: Apache-2.0 */
/* vm_peer: uvble on one controller, driven step by step from the command
 * line, so that a VM scenario (a shell script) can play it against the
 * kernel's host and check what each side saw. See vm_peer.c for the steps.
 *
 * A step starts an operation and finishes when the event it waits for
 * arrives (peer_step_done) or fails (peer_fail); each has a time limit.
 * Every irq event is printed, one line each, so the scenario's log tells
 * what happened. */
#ifndef UVBLE_VM_PEER_H
#define UVBLE_VM_PEER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "uvble/gap.h"
#include "uvble/uvble.h"

#define PEER_MAX_ARGS 8

struct peer_step {
  const char *text;            /* as given, for messages */
  char name[32];
  char *arg[PEER_MAX_ARGS];    /* the comma-separated arguments after '=' */
  int nargs;
  char *rest;                  /* everything after '=' (spawn's command) */
  char *args_buf;              /* what arg[] points into */
};

struct peer {
  uv_loop_t *loop;
  uvble_t *ble;
  const char *spec;
  struct peer_step *steps;
  int nsteps, cur;
  bool step_active;
  bool ending; /* the run is over: handles are closing */
  int failed;
  uv_timer_t step_timer; /* the current step's time limit */
  uv_timer_t sleep_timer;
  uv_timer_t poll_timer; /* wait-file */
  uvble_addr_t own;

  /* GAP */
  uvble_addr_t want;     /* scan=, connect=, wait-central= */
  char want_name[64];    /* scan=ADDR,NAME */
  bool scan_found, scan_stopping;
  uint16_t conn;         /* the connection the steps work on */
  bool connected;
  uvble_addr_t peer_addr;

  /* spawn= / reap= */
  uv_process_t *proc; /* one at a time; freed when closed */
  bool proc_started, proc_exited;
  int64_t proc_status;
  int proc_term_signal;

  /* L2CAP (peer_l2cap.c) */
  void *l2cap;
};

/* Completes the current step; the next one starts on the next loop turn. */
void peer_step_done(struct peer *p);
/* Fails the current step with a message (printf-style) and ends the run. */
void peer_fail(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses "aa:bb:cc:dd:ee:ff" (public) or "aa:...:ff/random". */
int peer_parse_addr(const char *text, uvble_addr_t *out);
/* Parses an unsigned decimal or 0x-prefixed number; -1 if it is not one. */
long peer_parse_num(const char *text);

/* L2CAP steps: returns 1 when name is one of them (started), 0 otherwise. */
int peer_l2cap_step(struct peer *p, const struct peer_step *s);
/* L2CAP events; called for every irq after it is printed. Its return value
 * is the irq handler's (L2CAP_ACCEPT: 0 accepts). */
int peer_l2cap_irq(struct peer *p, int event, const uvble_irq_data_t *d);
/* Ends the L2CAP steps' work when the run ends (closes their handles). */
void peer_l2cap_close(struct peer *p);
/* One line of usage per L2CAP step. */
extern const char peer_l2cap_usage[];

/* Security steps (peer_smp.c), as the L2CAP ones. */
int peer_smp_step(struct peer *p, const struct peer_step *s);
void peer_smp_irq(struct peer *p, int event, const uvble_irq_data_t *d);
extern const char peer_smp_usage[];

/* GATT steps (peer_gatt.c), as the L2CAP ones. */
int peer_gatt_step(struct peer *p, const struct peer_step *s);
void peer_gatt_irq(struct peer *p, int event, const uvble_irq_data_t *d);
extern const char peer_gatt_usage[];

#endif
