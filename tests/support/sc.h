/* SPDX-License-Identifier: Apache-2.0 */
/* A scripted controller for unit tests: the far end of an in-memory
 * transport that answers HCI commands (by default like a plain LE 5.0
 * controller, or as each test scripts), records what the host sent, and
 * injects events and ACL data. */
#ifndef UVBLE_TEST_SC_H
#define UVBLE_TEST_SC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "uvble/uvble.h"

typedef struct sc sc_t;

struct sc_cmd_rec {
  uint16_t opcode;
  uint8_t len;
  uint8_t params[255];
};

struct sc_acl_rec {
  uint16_t handle;
  uint8_t pb;
  uint16_t len;
  uint8_t data[UVBLE_HCI_ACL_MAX_DATA];
};

/* Return true when the handler answered (or chose not to); false lets the
 * default answer go out. */
typedef bool (*sc_cmd_handler)(sc_t *sc, const struct sc_cmd_rec *cmd,
                               void *arg);

struct sc_config {
  uint16_t acl_mtu;        /* LE Read Buffer Size */
  uint8_t acl_pkts;
  uint8_t ncmd;            /* Num_HCI_Command_Packets in every answer */
  uint8_t bdaddr[6];       /* HCI order (LSB first) */
  uint8_t commands[64];
  uint8_t le_features[8];
  uint8_t features[8];
  uint16_t max_adv_data_len; /* LE Read Maximum Advertising Data Length */
  bool auto_complete_acl;  /* send Number Of Completed Packets per packet */
};

/* Creates the controller and the host's end of the pair. */
sc_t *sc_new(uv_loop_t *loop, uvble_transport_t **host_end);
/* Closes the controller's end and frees the recorder. */
void sc_free(sc_t *sc);
struct sc_config *sc_config(sc_t *sc);

void sc_on_cmd(sc_t *sc, uint16_t opcode, sc_cmd_handler fn, void *arg);
/* Never answer this opcode (for timeout tests, or the test answers it
 * itself with sc_send_cc/cs). While such a command is unanswered,
 * run_until_idle() does not wait for the stack's commands. */
void sc_silence(sc_t *sc, uint16_t opcode);
/* Answer this opcode with a status other than success. */
void sc_fail_with(sc_t *sc, uint16_t opcode, uint8_t status);

void sc_send_raw(sc_t *sc, uint8_t type, const void *data, size_t len);
void sc_send_event(sc_t *sc, uint8_t code, const void *params, size_t len);
/* Command Complete with the return parameters given (status first). */
void sc_send_cc(sc_t *sc, uint16_t opcode, const void *ret, size_t len);
void sc_send_cs(sc_t *sc, uint16_t opcode, uint8_t status);
void sc_send_acl(sc_t *sc, uint16_t handle, uint8_t pb, const void *data,
                 size_t len);
void sc_send_completed(sc_t *sc, uint16_t handle, uint16_t count);
/* LE Connection Complete (role 0 central, 1 peripheral), peer in HCI order. */
void sc_connect(sc_t *sc, uint16_t handle, uint8_t role, const uint8_t peer[6]);
void sc_disconnect(sc_t *sc, uint16_t handle, uint8_t reason);

size_t sc_cmd_count(const sc_t *sc);
const struct sc_cmd_rec *sc_cmd(const sc_t *sc, size_t i);
/* Index of the n-th (0-based) command with opcode, or -1. */
int sc_find_cmd(const sc_t *sc, uint16_t opcode, int n);
size_t sc_acl_count(const sc_t *sc);
const struct sc_acl_rec *sc_acl(const sc_t *sc, size_t i);
void sc_clear(sc_t *sc);
/* Transport errors seen on the controller's end. */
int sc_error(const sc_t *sc);

/* Brings a stack up on a fresh scripted controller: uvble_new_with_transport
 * plus uvble_active(true) run to completion. Returns 0 or the error. */
int sc_bring_up(uv_loop_t *loop, sc_t **sc, uvble_t **ble);
/* The same on a controller with acl_mtu x acl_pkts LE ACL buffers (LE Read
 * Buffer Size), then run until idle. */
int sc_bring_up_acl(uv_loop_t *loop, uint16_t acl_mtu, uint8_t acl_pkts,
                    sc_t **sc, uvble_t **ble);
/* Closes the stack and the controller and runs the loop dry. */
void sc_tear_down(uv_loop_t *loop, sc_t *sc, uvble_t *ble);

#endif
