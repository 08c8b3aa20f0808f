/* SPDX-License-Identifier: Apache-2.0 */
/* An in-memory "radio": any number of uvble hosts, each on its own
 * controller (one uvble_transport_mem_pair per host), all controllers in
 * this process sharing one simulated air for advertising, like btvirt's
 * but without its 16-controller limit and without connections.
 *
 * Each controller answers the init sequence like a plain LE 5.0 controller
 * listing no optional commands (so hosts use legacy advertising and
 * scanning), answers every other command with success, and does what
 * btvirt does with advertising: when a host enables advertising, every
 * scanning host gets one advertising report of it (and a scan response
 * when it scans actively and the advertising is scannable); when a host
 * enables scanning, it gets one report of every host advertising then.
 * Addresses are 00:AA:02:hh:ll:42 for host number 0xhhll (public).
 *
 * A controller never loses one of its own events: when a host's inbound
 * queue is full, the event waits (in order) and goes out as room appears,
 * ahead of anything radio_send_raw injects later.
 *
 * Used by the scale test (a scanner and 200 advertisers) and the scan
 * ingest benchmark (radio_send_raw floods one host with events). */
#ifndef UVBLE_TEST_RADIO_H
#define UVBLE_TEST_RADIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "uvble/uvble.h"

typedef struct radio radio_t;

struct radio_stats {
  uint64_t commands;     /* HCI commands answered, all controllers */
  uint64_t reports;      /* advertising reports sent */
  uint64_t delayed;      /* events that waited for room in a host's queue */
  uint64_t dropped;      /* events lost (out of memory only) */
};

radio_t *radio_new(uv_loop_t *loop);
/* Adds a controller; returns the host's end (hand it to
 * uvble_new_with_transport) or NULL. Its number is the count before. */
uvble_transport_t *radio_add(radio_t *r);
int radio_count(const radio_t *r);
/* Sends one raw packet (UVBLE_HCI_EVENT / _ACL, header included) from
 * controller i to its host. Returns 0 or the transport's error
 * (UVBLE_ENOBUFS when the host's inbound queue is full, or the controller
 * still has its own events waiting). */
int radio_send_raw(radio_t *r, int i, uint8_t type, const void *pkt, size_t len);
/* Whether host i has scanning / advertising enabled. */
bool radio_scanning(const radio_t *r, int i);
bool radio_advertising(const radio_t *r, int i);
void radio_get_stats(const radio_t *r, struct radio_stats *out);
/* Closes every controller end (hosts still open see their transport
 * reset) and frees the radio; no radio callback runs afterwards. */
void radio_free(radio_t *r);

#endif
