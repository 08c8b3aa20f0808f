/* SPDX-License-Identifier: Apache-2.0 */
/* The HCI layer's state, embedded in the stack object (ble_internal.h):
 * the command queue, the controller's ACL buffers and the edges' timers.
 * Only the HCI and connection layers touch it; hci/hci.h is their API.
 * Private. */
#ifndef UVBLE_HCI_STATE_H
#define UVBLE_HCI_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "queue.h"

typedef struct uvble uvble_t;
struct ble_conn;

/* An event's parameters (after the event header; for an LE meta event,
 * after the subevent code). */
typedef void (*hci_event_fn)(uvble_t *ble, const uint8_t *p, size_t len);
/* While uvble_close() lingers the layers are gone: every event but Command
 * Complete/Status (which HCI handles itself, first) goes to one handler. */
typedef void (*hci_linger_fn)(uvble_t *ble, uint8_t code, const uint8_t *p,
                              size_t len);

#define HCI_EVENT_CODES 0x40    /* codes below this can be registered */
#define HCI_LE_SUBEVENT_CODES 0x40

/* Blocks for outgoing ACL packets (acl.c): taken when a PDU is queued,
 * back when the controller completes them. At most `max` in use over all
 * links (past it a send is refused, counted in acl_tx_pool_full); freed
 * ones are kept for reuse, a few times the controller's buffers' worth,
 * so a steady stream allocates nothing. */
struct acl_pool {
  struct sq free;
  uint16_t frag_cap; /* payload room of the kept blocks (the ACL MTU) */
  size_t in_use;
  size_t max;        /* 0: four links' queues (4 x conn_txq_max) */
  size_t keep;       /* free blocks kept for reuse */
  bool closed;       /* the stack is going: blocks are freed, not kept */
};

struct hci {
  struct sq queue;    /* hci_cmd not yet sent, at most max_queued */
  struct sq inflight; /* hci_cmd sent, oldest first, at most 255 (hci.c) */
  unsigned cmd_credits;       /* Num_HCI_Command_Packets */
  unsigned cmd_timeout_ms;
  unsigned max_queued;
  uv_timer_t cmd_timer;
  bool timer_open;
  /* Marks each pass of the loop over its I/O (the check phase follows
   * the poll): a command is timed out only after the loop has had the
   * chance to read an answer that came in before its deadline. */
  uv_check_t io_check;
  bool io_check_open;
  uint64_t io_pass_at; /* ble_now_ms() at the last pass, 0 before any */

  /* LE ACL buffers (Core Spec Vol 4, Part E, 4.1.1) */
  uint16_t acl_mtu;
  uint16_t acl_total;
  uint16_t acl_free;
  struct ble_conn *rr_next; /* round-robin cursor */
  size_t l2cap_rx_max_pdu;  /* largest L2CAP PDU reassembled (header incl.) */
  size_t conn_txq_max;      /* bytes queued per connection before refusing */
  struct acl_pool acl_pool;
  uint8_t *rx_spare;        /* a reassembly buffer kept for the next PDU */
  size_t rx_spare_cap;
  void (*tx_done_obs[4])(uvble_t *ble); /* acl_on_tx_done observers */

  /* The edges (conn_edge.c): one timer bounds both the drains of links
   * being ended and uvble_close()'s linger. */
  uv_timer_t edge_timer;
  bool edge_timer_open;
  unsigned drain_ms;         /* UVBLE_CONFIG_DRAIN_MS */
  bool lingering;            /* uvble_close() waits for the controller */
  bool linger_reset;         /* its last command, HCI Reset, is sent */
  uint64_t linger_deadline;
  void (*linger_done)(uvble_t *ble);
  uint64_t stop_deadline;    /* uvble_active(false) drains the links */
  void (*stop_done)(uvble_t *ble);

  /* init sequence */
  int init_step;

  /* What the layers above registered (hci_add_event_handler). */
  hci_event_fn ev_fn[HCI_EVENT_CODES];
  hci_event_fn le_fn[HCI_LE_SUBEVENT_CODES];
  hci_linger_fn linger_fn;
};

#endif
