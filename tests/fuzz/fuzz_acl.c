/* SPDX-License-Identifier: Apache-2.0 */
/* ACL reassembly: arbitrary fragments (start, continuation, bad lengths)
 * interleaved with connection events, delivered to fixed channels that read
 * every byte. */
#include "fuzz_stack_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_feed_stack(data, size);
  return 0;
}
