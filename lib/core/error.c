/* SPDX-License-Identifier: Apache-2.0 */
#include "uvble/error.h"

const char *uvble_strerror(int err) {
  switch (err) {
#define XX(name, val, msg) \
  case (val):              \
    return msg;
    UVBLE_ERRNO_MAP(XX)
#undef XX
    case 0:
      return "success";
    default:
      return "unknown error";
  }
}

const char *uvble_err_name(int err) {
  switch (err) {
#define XX(name, val, msg) \
  case (val):              \
    return #name;
    UVBLE_ERRNO_MAP(XX)
#undef XX
    case 0:
      return "OK";
    default:
      return "UNKNOWN";
  }
}
