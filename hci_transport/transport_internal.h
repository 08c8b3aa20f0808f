/* SPDX-License-Identifier: Apache-2.0 */
/* What every transport shares: the object header, the vtable behind it, and
 * the helpers a backend calls to hand packets and errors up. */
#ifndef UVBLE_HCI_TRANSPORT_INTERNAL_H
#define UVBLE_HCI_TRANSPORT_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "btsnoop.h"
#include "uvble/error.h"
#include "uvble/transport.h"

/* Output buffer / queue limit when none is set. */
#define UVBLE_TRANSPORT_DEFAULT_LIMIT (1u << 20)

typedef struct uvble_transport_vtable {
  /* Reading begins (callbacks are already set). */
  int (*start)(uvble_transport_t *t);
  /* One validated packet of len bytes (indicator not counted). */
  int (*send)(uvble_transport_t *t, uint8_t type, const uvble_iov_t *iov,
              int iovcnt, size_t len);
  /* Stops everything and closes the backend's handles; once they are closed
   * the backend calls uvble__transport_closed(). Never calls back itself. */
  void (*close)(uvble_transport_t *t);
  size_t (*pending)(const uvble_transport_t *t);
  /* Optional: a new output limit (bytes). */
  int (*set_limit)(uvble_transport_t *t, size_t limit);
} uvble_transport_vtable_t;

struct uvble_transport {
  const uvble_transport_vtable_t *vt;
  uv_loop_t *loop;
  char *name;
  uvble_transport_recv_cb recv_cb;
  uvble_transport_error_cb error_cb;
  void *arg;
  uvble_transport_close_cb close_cb;
  void *close_arg;
  uvble_btsnoop_t *snoop;
  int err;          /* the error reported (or to report on start), 0 if none */
  unsigned started : 1;
  unsigned failed : 1;  /* an error happened: nothing more is delivered */
  unsigned closing : 1; /* uvble_transport_close() was called */
};

/* Sets up the header; name is copied. Returns 0 or UVBLE_ENOMEM. */
int uvble__transport_init(uvble_transport_t *t, const uvble_transport_vtable_t *vt,
                          uv_loop_t *loop, const char *name);
/* Hands one received packet up (snoop, then recv_cb). Returns non-zero when
 * the caller must stop delivering: the transport failed or is closing. */
int uvble__transport_deliver(uvble_transport_t *t, uint8_t type,
                             const uint8_t *pkt, size_t len);
/* Reports err once through error_cb (or at start if not started yet); after
 * it nothing more is delivered. No-op once failed or closing. */
void uvble__transport_fail(uvble_transport_t *t, int err);
/* Called by the backend when its handles are closed: runs close_cb and frees
 * t (which must be the first member of the backend's allocation). */
void uvble__transport_closed(uvble_transport_t *t);

/* "What is wrong" sentences for uvble_transport_open. */
void uvble__seterr(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Backends of uvble_transport_open. spec is the whole string, rest the part
 * after the scheme. Each returns 0 and a transport or a negative error with
 * a sentence in errbuf. */
int uvble__unix_open(uv_loop_t *loop, const char *spec, const char *path,
                     uvble_transport_t **out, char *errbuf, size_t errlen);
int uvble__tcp_open(uv_loop_t *loop, const char *spec, const char *hostport,
                    uvble_transport_t **out, char *errbuf, size_t errlen);
int uvble__uart_open(uv_loop_t *loop, const char *spec, const char *rest,
                     uvble_transport_t **out, char *errbuf, size_t errlen);
int uvble__hci_open(uv_loop_t *loop, const char *spec, const char *index,
                    uvble_transport_t **out, char *errbuf, size_t errlen);

/* The sentence for errno e from step `what` of opening HCI user channel spec
 * ("hci0"): the usual cause and its fix. */
void uvble__hci_explain(char *errbuf, size_t errlen, const char *spec, const char *what,
                        int e);

/* The shared fd transport (fd.c). Takes ownership of fd (closed on error
 * too), makes it non-blocking. */
enum {
  UVBLE_FD_STREAM = 0,      /* an H4 byte stream (socket, tty) */
  UVBLE_FD_SOCKET = 1,      /* flag: use send() with MSG_NOSIGNAL */
  UVBLE_FD_PACKETS = 2,     /* flag: one H4 packet per read()/write() (HCI user channel) */
  UVBLE_FD_HUNT = 4,        /* flag: skip input up to the first Command
                               Complete/Status (uvble_h4_hunt; serial ports) */
};
int uvble__fd_transport_new(uv_loop_t *loop, int fd, int flags, const char *name,
                            uvble_transport_t **out);

#endif
