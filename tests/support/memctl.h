/* SPDX-License-Identifier: Apache-2.0 */
/* An in-memory controller pair: two uvble hosts in one process joined by a
 * tiny forwarding "controller" on two uvble_transport_mem_pair()s. It
 * answers the init sequence like a plain LE 5.0 controller, creates a
 * connection on both sides when asked (A central, B peripheral), forwards
 * ACL from one host to the other unchanged (the packet boundary flag of a
 * start becomes "automatically flushable", as controllers deliver it), and
 * returns Number Of Completed Packets for every forwarded packet. LE Enable
 * Encryption and the LTK request replies are handled as btvirt does: the
 * peripheral's host gets an LTK Request, and both sides an Encryption
 * Change (success when the two hosts' keys match, Authentication Failure
 * when not; Key Missing to the central after a negative reply). There is
 * no radio: throughput is limited only by the hosts and by the ACL buffer
 * size and count each host is told (defaults 251 bytes x 8).
 *
 * Used by the L2CAP benchmark and by end-to-end unit tests. */
#ifndef UVBLE_TEST_MEMCTL_H
#define UVBLE_TEST_MEMCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "uvble/uvble.h"

typedef struct memctl memctl_t;

struct memctl_config {
  uint16_t acl_mtu; /* LE ACL data length each host is told (27..4096) */
  uint8_t acl_pkts; /* LE ACL buffers each host is told (1..255) */
  /* Completions: 0 (default) sends one Number Of Completed Packets event
   * per forwarded packet; N > 0 gathers them and sends one event per N
   * packets or at the end of the loop turn that forwarded them, whichever
   * comes first (what real controllers do: one event for what went out in
   * a connection event). */
  unsigned completed_batch;
  /* A slow radio: N > 0 holds every completion N ms (forwarding is still
   * immediate), so a host with few buffers keeps PDUs queued as a real
   * link does. Overrides completed_batch. */
  unsigned completion_delay_ms;
};

struct memctl_stats {
  uint64_t acl_packets[2]; /* forwarded from host A (0) and B (1) */
  uint64_t acl_bytes[2];
  uint64_t acl_dropped;  /* for an unknown connection handle */
  uint64_t acl_over_mtu; /* longer than the host was told it may send */
  uint64_t
      acl_over_buffers; /* sent with no buffer free (host broke flow control) */
  uint64_t commands;
  uint64_t completed_events;
};

/* Creates the controller and the two hosts' transport ends (to hand to
 * uvble_new_with_transport). cfg may be NULL for the defaults. */
memctl_t *memctl_new(uv_loop_t *loop, const struct memctl_config *cfg,
                     uvble_transport_t **host_a, uvble_transport_t **host_b);

/* memctl_new plus two stacks brought up (uvble_active run to completion).
 * Returns 0 or the error. */
int memctl_bring_up(uv_loop_t *loop, const struct memctl_config *cfg,
                    memctl_t **m, uvble_t **a, uvble_t **b);

/* Connects the two hosts: LE Connection Complete on both (A central, B
 * peripheral); returns the handle (the same on both sides), or -1 when
 * there is no free handle. Events arrive on a later loop iteration. */
int memctl_connect(memctl_t *m);
/* Ends a connection: Disconnection Complete on both sides with reason. */
void memctl_disconnect(memctl_t *m, uint16_t handle, uint8_t reason);

/* Sends an HCI event of the test's own making to host 0 (A) or 1 (B), as
 * if the controller had (e.g. an advertising report: memctl has no radio).
 * Arrives on a later loop iteration. */
void memctl_send_event(memctl_t *m, int host, uint8_t code,
                       const void *params, size_t len);

/* Stops (true) or resumes (false) completing packets: held completions
 * go out on resume. */
void memctl_hold_completions(memctl_t *m, bool hold);

/* What the controller still has to do by itself (for run_until_idle,
 * test.h): MEMCTL_BUSY while packets are in the slow radio's air or
 * completions are not yet reported (what, in why), MEMCTL_HELD while the
 * test holds completions (memctl_hold_completions); 0 when it has nothing. */
enum { MEMCTL_BUSY = 1u << 0, MEMCTL_HELD = 1u << 1 };
unsigned memctl_pending(const memctl_t *m, char *why, size_t len);
/* The controller owning h (one of its handles on the loop), else NULL: how
 * the idle helper finds the controllers on a loop. */
memctl_t *memctl_of_handle(const uv_handle_t *h);

void memctl_get_stats(const memctl_t *m, struct memctl_stats *out);
/* Closes the controller's transport ends; the hosts see their transport
 * reset. Safe after the hosts were closed. */
void memctl_free(memctl_t *m);

#endif
