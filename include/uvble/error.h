/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — error codes.
 *
 * How calls and callbacks report them is written once, at the top of
 * uvble/uvble.h. The common codes are the negated errno values, so `-errno`
 * from a system call passes through unchanged; uvble's own conditions use
 * codes below -4000.
 *
 * Protocol status codes (HCI, ATT, L2CAP, SMP) are not error codes: they
 * travel in event payloads exactly as the controller or peer sent them.
 * The async layer (uvble/async.h) reports them as a kind (UVBLE_EATT,
 * UVBLE_EL2CAP, UVBLE_ESMP, UVBLE_EHCI) plus the code as sent, in the
 * future's proto_status. uvble/status.h names those codes
 * (uvble_hci_status_str(), ...): print the name beside the number.
 *
 * UVBLE_ENOENT means "not found" throughout (no bond for a peer, no such
 * AD structure, a discovery that found nothing), not only a missing file.
 */
#ifndef UVBLE_ERROR_H
#define UVBLE_ERROR_H

#include <errno.h>

#include "uvble/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UVBLE_ERRNO_MAP(XX)                                                   \
  XX(EINVAL, -EINVAL, "invalid argument")                                     \
  XX(ENOMEM, -ENOMEM, "out of memory")                                        \
  XX(EBUSY, -EBUSY, "resource busy")                                          \
  XX(EALREADY, -EALREADY, "operation already in progress")                    \
  XX(ENOTCONN, -ENOTCONN, "not connected")                                    \
  XX(ETIMEDOUT, -ETIMEDOUT, "timed out")                                      \
  XX(ECANCELED, -ECANCELED, "operation canceled")                             \
  XX(EIO, -EIO, "input/output error")                                         \
  XX(ENODEV, -ENODEV, "no such device")                                       \
  XX(ENOTSUP, -ENOTSUP, "operation not supported")                            \
  XX(EMSGSIZE, -EMSGSIZE, "message too long")                                 \
  XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                     \
  XX(EPERM, -EPERM, "operation not permitted")                                \
  XX(EACCES, -EACCES, "permission denied")                                    \
  XX(ENOENT, -ENOENT, "not found")                                            \
  XX(EPROTO, -EPROTO, "protocol error")                                       \
  XX(ENOBUFS, -ENOBUFS, "no buffer space available")                          \
  XX(ECONNREFUSED, -ECONNREFUSED, "connection refused")                       \
  XX(ECONNRESET, -ECONNRESET, "connection reset by peer")                     \
  XX(EPIPE, -EPIPE, "broken pipe")                                            \
  XX(EADDRNOTAVAIL, -EADDRNOTAVAIL, "address not available")                  \
  XX(ERANGE, -ERANGE, "result out of range")                                  \
  XX(EEXIST, -EEXIST, "already exists")                                       \
  XX(ENOSPC, -ENOSPC, "no space left")                                        \
  XX(EDISCONNECTED, -4001, "the connection dropped")                          \
  XX(ENOTACTIVE, -4002, "the stack is not active")                            \
  XX(EHCI, -4003, "the controller reported an error")                         \
  XX(ETRANSPORT, -4004, "the HCI transport failed")                           \
  XX(ECLOSING, -4005, "the stack is closing")                                 \
  XX(EBADSPEC, -4006, "bad transport specification")                          \
  XX(EUNKNOWNKEY, -4007, "unknown configuration parameter")                   \
  XX(EATT, -4008, "the peer answered with an ATT error")                      \
  XX(EL2CAP, -4009, "the peer refused the L2CAP channel")                     \
  XX(EL2CAPCLOSED, -4010, "the L2CAP channel was closed")                     \
  XX(ESMP, -4011, "pairing failed")                                           \
  XX(EOF, -4012, "end of results")

typedef enum {
#define XX(name, val, msg) UVBLE_##name = (val),
  UVBLE_ERRNO_MAP(XX)
#undef XX
} uvble_errno_t;

/* A human-readable message for an error code; never NULL. */
UVBLE_EXTERN const char *uvble_strerror(int err);
/* The code's name ("EINVAL", "EDISCONNECTED", ...); never NULL. */
UVBLE_EXTERN const char *uvble_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
