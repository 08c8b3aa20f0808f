/* SPDX-License-Identifier: Apache-2.0 */
/* MicroPython tests/multi_bluetooth/ble_gap_pair.py: Just Works pairing
 * started by the central with bond=False, then a read of a characteristic
 * that needs encryption. ENCRYPTION_UPDATE reports (encrypted,
 * authenticated, bonded) = (1, 0, 0) on both sides.
 * (See pair_common.h.) */
#include "pair_common.h"

static const char *const EXP0[] = {
    "gap_advertise",
    "_IRQ_CENTRAL_CONNECT",
    "_IRQ_ENCRYPTION_UPDATE 1 0 0",
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
    "_IRQ_ENCRYPTION_UPDATE 1 0 0",
    "gattc_read",
    "_IRQ_GATTC_READ_RESULT b'encrypted'",
    "gap_disconnect: True",
    "_IRQ_PERIPHERAL_DISCONNECT",
    NULL,
};

TEST(ble_gap_pair) { pair_scenario(false, EXP0, EXP1); }

TEST_MAIN()
