/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/ble_gap_pair_bond.py: Just Works pairing
 * started by the central with bond=True, then a read of a characteristic
 * that needs encryption. ENCRYPTION_UPDATE reports (encrypted,
 * authenticated, bonded) = (1, 0, 1) on both sides.
 * The SET_SECRET handler returns True without storing (as the original
 * does), so each side believes its keys stored: bonded 1.
 * (See pair_common.h.) */
#include "pair_common.h"

static const char *const EXP0[] = {
    "gap_advertise",
    "_IRQ_CENTRAL_CONNECT",
    "_IRQ_ENCRYPTION_UPDATE 1 0 1",
    "_IRQ_GATTS_READ_REQUEST",
    "_IRQ_CENTRAL_DISCONNECT",
    NULL,
};
static const char *const EXP1[] = {
    "gap_connect",
    "_IRQ_PERIPHERAL_CONNECT",
    "_IRQ_GATTC_CHARACTERISTIC_RESULT UUID('00000000-1111-2222-3333-444444444444')",
    "_IRQ_GATTC_CHARACTERISTIC_DONE",
    "gap_pair",
    "_IRQ_ENCRYPTION_UPDATE 1 0 1",
    "gattc_read",
    "_IRQ_GATTC_READ_RESULT b'encrypted'",
    "gap_disconnect: True",
    "_IRQ_PERIPHERAL_DISCONNECT",
    NULL,
};

TEST(ble_gap_pair_bond) { pair_scenario(true, EXP0, EXP1); }

TEST_MAIN()
