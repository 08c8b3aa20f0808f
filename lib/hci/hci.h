/* SPDX-License-Identifier: Apache-2.0 */
/* HCI core: command queue with flow control and timeouts, event parsing and
 * dispatch, the controller init sequence. Private. */
#ifndef UVBLE_HCI_H
#define UVBLE_HCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ble_internal.h"
#include "hci_defs.h"
#include "queue.h"

/* LE Set (Default) PHY's preference bits for a UVBLE_PHY_PREF_* (7.8.48,
 * 7.8.49): all_phys, tx/rx PHYs, PHY options. False for an unknown pref. */
struct hci_phy_bits {
  uint8_t all, tx, rx;
  uint16_t options;
};
bool hci_phy_bits(const uvble_t *ble, int pref, struct hci_phy_bits *out);

/* Completion of one command.
 * err: 0 when the controller answered with status 0; UVBLE_EHCI when it
 *      answered with another status (in hci_status); UVBLE_ETIMEDOUT,
 *      UVBLE_ECANCELED or UVBLE_ECLOSING when it never answered.
 * ret/ret_len: Command Complete's return parameters after the status byte
 *      (empty for Command Status). */
typedef void (*hci_cmd_cb)(uvble_t *ble, int err, uint8_t hci_status,
                           const uint8_t *ret, size_t ret_len, void *arg);


int hci_init(uvble_t *ble);
/* Every queued and in-flight command completes with err. With keep_sent,
 * commands the controller already has stay in flight, their callbacks
 * gone, so their replies are still recognised (uvble_close lingers for
 * them); hci_inflight() says whether any remain. */
void hci_cancel_all(uvble_t *ble, int err, bool keep_sent);
bool hci_inflight(const uvble_t *ble);
/* Starts closing the timers and frees what is left. */
void hci_close(uvble_t *ble);

/* Queues a command. Returns 0, UVBLE_EINVAL (params over 255 bytes),
 * UVBLE_ENOBUFS (queue full) or UVBLE_ENOTACTIVE (stack failed/closing). */
int hci_send_cmd(uvble_t *ble, uint16_t opcode, const void *params,
                 size_t len, hci_cmd_cb cb, void *arg);

/* An event packet from the transport (header included). */
void hci_on_event(uvble_t *ble, const uint8_t *pkt, size_t len);

/* Runs the init sequence; completes through ble->active_cb. */
void hci_start_init(uvble_t *ble);

/* Upper layers register here for the events they handle, one handler per
 * event code or LE subevent (as BTstack's hci_add_event_handler and
 * Zephyr's event tables); HCI itself handles Command Complete/Status,
 * Hardware Error and LE meta demultiplexing. An event nobody registered
 * is counted in hci_events_unhandled. Returns 0, UVBLE_EINVAL (a code
 * out of range or one HCI keeps) or UVBLE_EBUSY (already taken). */
int hci_add_event_handler(uvble_t *ble, uint8_t code, hci_event_fn fn);
int hci_add_le_event_handler(uvble_t *ble, uint8_t subevent, hci_event_fn fn);
/* The handler for events during uvble_close()'s linger (conn_edge.c). */
void hci_set_linger_handler(uvble_t *ble, hci_linger_fn fn);

#endif
