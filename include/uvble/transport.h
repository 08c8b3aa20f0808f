/* SPDX-License-Identifier: Apache-2.0 */
/* uvble — HCI transports.
 *
 * A transport moves whole HCI packets between the host and a controller.
 * Each is selected by one string:
 *
 *   hci0                                 Linux HCI user channel (device index 0)
 *   uart:/dev/ttyACM0?baud=1000000&flow=1 H4 over a UART (termios raw mode, RTS/CTS)
 *   unix:/tmp/bt-server-le               H4 over a unix stream socket
 *   tcp:127.0.0.1:4000                   H4 over TCP
 *
 * plus an in-memory pair for tests and benchmarks (uvble_transport_mem_pair).
 * All I/O runs on the libuv loop; there are no threads.
 *
 * uart: options default to baud=115200 and flow=0 (any standard rate from
 * 50 to 4000000); tcp: also takes [IPV6]:PORT and host names.
 *
 * Received packets are handed up complete, one call per packet, through
 * recv_cb; the bytes are borrowed and valid only during the call. A framing
 * error (unknown H4 packet type, a length above the type's maximum), a read
 * or write failure, or the peer closing is reported once through error_cb;
 * after that the transport delivers nothing more and the owner closes it.
 */
#ifndef UVBLE_TRANSPORT_H
#define UVBLE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "uvble/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* H4 packet indicators (Core Spec Vol 4, Part A, 2). */
enum {
  UVBLE_HCI_COMMAND = 0x01,
  UVBLE_HCI_ACL = 0x02,
  UVBLE_HCI_SCO = 0x03,
  UVBLE_HCI_EVENT = 0x04,
  UVBLE_HCI_ISO = 0x05,
};

/* Largest packets (header included) each type can carry. ACL is bounded by
 * UVBLE_HCI_ACL_MAX_DATA, far above any controller's buffer, so a corrupt
 * length cannot make the host buffer megabytes. */
#define UVBLE_HCI_CMD_MAX (3 + 255)
#define UVBLE_HCI_EVT_MAX (2 + 255)
#define UVBLE_HCI_SCO_MAX (3 + 255)
#define UVBLE_HCI_ACL_MAX_DATA 4096
#define UVBLE_HCI_ACL_MAX (4 + UVBLE_HCI_ACL_MAX_DATA)
#define UVBLE_HCI_ISO_MAX (4 + 16383)

typedef struct uvble_transport uvble_transport_t;

typedef struct {
  const void *base;
  size_t len;
} uvble_iov_t;

/* type is one of UVBLE_HCI_*; data starts at the packet header (no H4 byte). */
typedef void (*uvble_transport_recv_cb)(uvble_transport_t *t, uint8_t type,
                                        const uint8_t *data, size_t len,
                                        void *arg);
/* err is negative (UVBLE_EPROTO for framing errors, -errno for I/O,
 * UVBLE_ECONNRESET when the other end went away). */
typedef void (*uvble_transport_error_cb)(uvble_transport_t *t, int err,
                                         void *arg);
typedef void (*uvble_transport_close_cb)(uvble_transport_t *t, void *arg);

/* Opens the transport named by spec. On failure returns a negative code and,
 * when errbuf is given, writes a sentence naming what is wrong (the part of
 * the string, or the system error and the usual fix). */
UVBLE_EXTERN int uvble_transport_open(uv_loop_t *loop, const char *spec,
                                      uvble_transport_t **out, char *errbuf,
                                      size_t errlen);

/* Two connected in-memory transports: what is sent on one arrives on the
 * other, packet by packet, in the loop's idle phase, never inside send()
 * (never re-entrantly). One pass of it also hands up, in turns, what the
 * receivers send meanwhile, to either end or to another pair's end (a
 * controller model forwarding between hosts), until nothing is left or a
 * bound is reached; the rest follows on the next loop iteration. */
UVBLE_EXTERN int uvble_transport_mem_pair(uv_loop_t *loop,
                                          uvble_transport_t **a,
                                          uvble_transport_t **b);

/* Sets the callbacks and starts reading. */
UVBLE_EXTERN int uvble_transport_start(uvble_transport_t *t,
                                       uvble_transport_recv_cb recv_cb,
                                       uvble_transport_error_cb error_cb,
                                       void *arg);

/* Sends one packet made of the concatenation of iov[0..iovcnt). The bytes are
 * copied or written before return; the caller keeps ownership. Returns 0 or
 * a negative error (UVBLE_EINVAL for a bad type or length, UVBLE_ENOBUFS
 * when the transport's output buffer limit is reached, UVBLE_EPIPE after an
 * error or close). */
UVBLE_EXTERN int uvble_transport_send(uvble_transport_t *t, uint8_t type,
                                      const uvble_iov_t *iov, int iovcnt);

/* Bytes accepted by send() but not yet written to the device. */
UVBLE_EXTERN size_t uvble_transport_pending(const uvble_transport_t *t);

/* Sets the most bytes a transport holds for sending: the output buffer of
 * an fd transport (bytes the device has not taken yet), or for a mem pair
 * end the queue towards its peer (each queued packet also costs 4 bytes of
 * bookkeeping). A send that does not fit fails with UVBLE_ENOBUFS and
 * changes nothing. The default is 1 MiB. Returns 0, UVBLE_EINVAL for 0, or
 * UVBLE_EBUSY for a mem pair end whose queue is not empty. */
UVBLE_EXTERN int uvble_transport_set_limit(uvble_transport_t *t, size_t bytes);

/* Starts writing a btsnoop capture (version 1, datalink 1002, both
 * directions, microsecond timestamps) of every packet to path; NULL stops.
 * uvble_transport_open() also starts one when UVBLE_BTSNOOP names a file
 * (the first transport opened writes to that file, later ones in the same
 * process to FILE.1, FILE.2, ...). Returns 0 or -errno from creating it. */
UVBLE_EXTERN int uvble_transport_snoop(uvble_transport_t *t, const char *path);

/* Closes the transport; close_cb (may be NULL) runs on a later loop
 * iteration, after which t is freed. No callbacks run after close. */
UVBLE_EXTERN void uvble_transport_close(uvble_transport_t *t,
                                        uvble_transport_close_cb cb, void *arg);

/* The spec string the transport was opened with ("mem" for the pair). */
UVBLE_EXTERN const char *uvble_transport_name(const uvble_transport_t *t);

#ifdef __cplusplus
}
#endif
#endif
