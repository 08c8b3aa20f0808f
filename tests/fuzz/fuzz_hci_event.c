/* SPDX-License-Identifier: Apache-2.0 */
/* HCI event parsing and dispatch (command completion, connection events,
 * completed packets, LE meta) on arbitrary packets. */
#include "fuzz_stack_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_feed_stack(data, size);
  return 0;
}
