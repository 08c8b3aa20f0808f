/* SPDX-License-Identifier: Apache-2.0 */
/* What the air allows: the goodput bound of an LE link (bench/README.md,
 * "Air-time limit"), and setting a link up for bulk transfer on a real link
 * layer. Shared by bench/l2cap.c and bench/gatt.c for their "ll" runs. */
#ifndef UVBLE_BENCH_AIR_H
#define UVBLE_BENCH_AIR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "uvble/uvble.h"

/* PHYs as HCI numbers them; 4 is LE Coded S=2, 3 LE Coded S=8. */
enum { AIR_PHY_1M = 1, AIR_PHY_2M = 2, AIR_PHY_CODED_S8 = 3, AIR_PHY_CODED_S2 = 4 };

#define AIR_T_IFS_US 150.0

typedef struct {
  int phy;              /* AIR_PHY_* of the direction that carries the data */
  unsigned octets;      /* LL payload per data PDU, that direction (27..251) */
  unsigned interval_us; /* connection interval */
  unsigned event_us;    /* time per interval the link may use */
  bool encrypted;       /* a MIC on every non-empty PDU */
} air_link_t;

/* Air time of one LL data PDU carrying `octets` of payload (Vol 6, Part B,
 * 2.1 and 2.2: preamble, access address, [coded: CI, TERM1,] header,
 * payload, MIC, CRC [, TERM2]). */
double air_pdu_us(int phy, unsigned octets, bool mic);
/* One application unit (an L2CAP SDU, an ATT PDU) on the air: its bytes,
 * the LL data PDUs it takes, and their air time, each data PDU with the
 * empty PDU back and two inter-frame spaces. A unit's last PDU may be
 * short and takes less time. */
typedef struct {
  unsigned bytes, pdus;
  double us;
} air_unit_t;

/* An L2CAP LE credit-based SDU of sdu bytes (2-byte SDU length in its
 * first K-frame, 4-byte basic header per K-frame of at most mps), each
 * K-frame cut into LL PDUs of the link's octets. */
air_unit_t air_l2cap_unit(const air_link_t *l, unsigned sdu, unsigned mps);
/* An ATT notification or write command of value_len bytes (3-byte ATT
 * header, 4-byte L2CAP header). */
air_unit_t air_att_unit(const air_link_t *l, unsigned value_len);
/* Data PDUs that fit in one connection event, at the unit's mean pair. */
unsigned air_pdus_per_event(const air_link_t *l, const air_unit_t *u);
/* The goodput bound in kbit/s. */
double air_limit_kbps(const air_link_t *l, const air_unit_t *u);

/* What a UART HCI at baud (8N1: 10 bits a byte; H4: 1 + 4 header bytes per
 * ACL packet) allows, in kbit/s of application payload, when both hosts
 * cut L2CAP PDUs into ACL packets as they do here: the sender into
 * packets of acl_send (the controller's ACL buffer size), the receiving
 * controller one packet per LL PDU of acl_recv octets. The lower of the
 * two UARTs. For an LE credit-based SDU of sdu bytes (K-frames of at most
 * mps) and for an ATT notification or write command of value_len bytes. */
double air_hci_l2cap_kbps(unsigned baud, unsigned sdu, unsigned mps,
                          unsigned acl_send, unsigned acl_recv);
double air_hci_att_kbps(unsigned baud, unsigned value_len, unsigned acl_send,
                        unsigned acl_recv);

const char *air_phy_name(int phy);

/* ---- link setup on the stack (ll runs) ------------------------------------- */
typedef struct {
  int phy;              /* AIR_PHY_1M or AIR_PHY_2M: what to ask for */
  unsigned data_length; /* 27 keeps the default; more asks for DLE */
  bool throughput;      /* connect with the throughput parameter preset */
  double time_scale;    /* wall-clock waits x this (1/rt of a slowed-down
                           simulation; 0 counts as 1) */
} air_want_t;

/* A wall-clock wait of ms stretched by w's time scale. */
double air_ms(const air_want_t *w, double ms);

/* Parses "--phy 1m|2m", "--data-length N", "--conn throughput|default",
 * "--time-scale X" (1..1000);
 * returns 1 when arg was one of them (v consumed), 0 when not, -1 with a
 * message on stderr for a bad value. */
int air_parse_opt(air_want_t *w, const char *arg, const char *v);
/* Before uvble_active: what the stack asks the controller for by itself. */
void air_configure(uvble_t *ble, const air_want_t *w);
/* Connects (as central) with the preset when asked and the API has it. */
int air_connect(uvble_t *ble, const uvble_addr_t *peer, const air_want_t *w);
/* Once connected: asks for the PHY and data length (when ask: the central
 * only, since both ends asking for a PHY at once loses the link on Zephyr
 * 4.1), runs loop until the link reports them (or 5 s), and fills tx (what we send to the peer) and
 * rx (what it sends us) from what the controller reported. Returns "" or
 * a short text saying what did not happen, for the JSON's "note". */
const char *air_settle(uv_loop_t *loop, uvble_t *ble, uint16_t conn,
                       const air_want_t *w, bool ask, air_link_t *tx,
                       air_link_t *rx);
/* The JSON members: ,"air_limit_kbps":..,"air_ratio":..,"phy":..,... */
void air_json(FILE *out, const air_link_t *l, double goodput_kbps,
              const air_unit_t *u, double hci_limit_kbps, const char *note);

#endif
