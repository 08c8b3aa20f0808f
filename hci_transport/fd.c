/* SPDX-License-Identifier: Apache-2.0 */
/* The one fd-based transport behind unix:, tcp:, uart: and hciN.
 *
 * Reading: uv_poll_t on a non-blocking fd; each readable event reads into a
 * 64 KiB buffer, a bounded number of times, and feeds the H4 deframer, which
 * hands complete packets up in place. The HCI user channel returns exactly
 * one packet per read(), which is checked and handed up as is.
 *
 * Writing: send() writes at once (writev / sendmsg, the indicator byte as
 * the first iovec); what the device does not take goes to an output buffer
 * that is flushed when the fd becomes writable. The buffer grows to the
 * limit and stays, so the steady state does not allocate.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "h4.h"
#include "transport_internal.h"

#define RBUF_SIZE (64 * 1024)
#define READS_PER_EVENT 16 /* then let the loop run other handles */
#define MAX_IOV 16

typedef struct {
  uvble_transport_t base; /* first: freed through it */
  uv_poll_t poll;
  int fd;
  int flags;
  int events;        /* what poll is started with, 0 when stopped */
  int write_err;     /* a write failed in send(); reported from the poll callback */
  size_t limit;
  uint8_t *obuf;     /* pending output: H4 bytes [ohead, olen) */
  size_t ohead, olen, ocap;
  uvble_h4_t h4;
  uint8_t rbuf[RBUF_SIZE];
} fd_transport_t;

static void fd_update_poll(fd_transport_t *f);

static int map_io_err(int e) {
  return (e == EPIPE || e == ECONNRESET) ? UVBLE_ECONNRESET : -e;
}

static size_t fd_pending(const uvble_transport_t *t) {
  const fd_transport_t *f = (const fd_transport_t *)t;
  return f->olen - f->ohead;
}

static int fd_set_limit(uvble_transport_t *t, size_t limit) {
  ((fd_transport_t *)t)->limit = limit;
  return 0;
}

static int on_packet(void *arg, uint8_t type, const uint8_t *pkt, size_t len) {
  return uvble__transport_deliver(arg, type, pkt, len);
}

static void fd_read(fd_transport_t *f) {
  uvble_transport_t *t = &f->base;
  for (int i = 0; i < READS_PER_EVENT; i++) {
    ssize_t n = read(f->fd, f->rbuf, sizeof f->rbuf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      uvble__transport_fail(t, map_io_err(errno));
      return;
    }
    if (n == 0) {
      uvble__transport_fail(t, UVBLE_ECONNRESET);
      return;
    }
    if (f->flags & UVBLE_FD_PACKETS) {
      if (uvble_h4_check_packet(f->rbuf[0], f->rbuf + 1, (size_t)n - 1) != 0) {
        uvble__transport_fail(t, UVBLE_EPROTO);
        return;
      }
      if (uvble__transport_deliver(t, f->rbuf[0], f->rbuf + 1, (size_t)n - 1))
        return;
      continue;
    }
    int r = uvble_h4_feed(&f->h4, f->rbuf, (size_t)n);
    if (r < 0) uvble__transport_fail(t, r);
    if (r) return; /* failed, or closed from a callback */
    /* A short read almost always means the kernel has nothing more. */
    if ((size_t)n < sizeof f->rbuf) return;
  }
}

/* Writes out as much of the buffer as the device takes. */
static void fd_flush(fd_transport_t *f) {
  while (f->ohead < f->olen) {
    size_t chunk = f->olen - f->ohead;
    const uint8_t *p = f->obuf + f->ohead;
    if (f->flags & UVBLE_FD_PACKETS) /* one packet per write() */
      chunk = 1 + (size_t)uvble_h4_packet_len(p[0], p + 1);
    ssize_t n = (f->flags & UVBLE_FD_SOCKET) ? send(f->fd, p, chunk, MSG_NOSIGNAL)
                                             : write(f->fd, p, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      f->write_err = map_io_err(errno); /* the poll callback reports it */
      return;
    }
    f->ohead += (size_t)n;
  }
  if (f->ohead == f->olen) f->ohead = f->olen = 0;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  fd_transport_t *f = h->data;
  uvble_transport_t *t = &f->base;
  if (t->closing) return;
  if (status < 0) {
    uvble__transport_fail(t, status);
  } else {
    if ((events & UV_WRITABLE) && !f->write_err) fd_flush(f);
    if (f->write_err)
      uvble__transport_fail(t, f->write_err);
    else if (events & UV_READABLE)
      fd_read(f);
  }
  if (!t->closing) fd_update_poll(f);
}

static void fd_update_poll(fd_transport_t *f) {
  uvble_transport_t *t = &f->base;
  int ev = 0;
  if (!t->failed) {
    if (t->started) ev |= UV_READABLE;
    if (f->ohead < f->olen || f->write_err) ev |= UV_WRITABLE;
  }
  if (ev == f->events) return;
  f->events = ev;
  if (ev)
    uv_poll_start(&f->poll, ev, on_poll);
  else
    uv_poll_stop(&f->poll);
}

static int fd_start(uvble_transport_t *t) {
  fd_update_poll((fd_transport_t *)t);
  return 0;
}

/* Appends bytes to the output buffer, growing it up to what is needed. */
static int obuf_reserve(fd_transport_t *f, size_t add) {
  if (f->olen + add <= f->ocap) return 0;
  if (f->ohead > 0) {
    memmove(f->obuf, f->obuf + f->ohead, f->olen - f->ohead);
    f->olen -= f->ohead;
    f->ohead = 0;
    if (f->olen + add <= f->ocap) return 0;
  }
  size_t cap = f->ocap ? f->ocap : 16 * 1024;
  while (cap < f->olen + add) cap *= 2;
  uint8_t *p = realloc(f->obuf, cap);
  if (!p) return UVBLE_ENOMEM;
  f->obuf = p;
  f->ocap = cap;
  return 0;
}

/* Queues the packet's bytes from offset skip on (the indicator is byte 0). */
static int obuf_append(fd_transport_t *f, uint8_t type, const uvble_iov_t *iov,
                       int iovcnt, size_t total, size_t skip) {
  int r = obuf_reserve(f, total - skip);
  if (r) return r;
  uint8_t *o = f->obuf + f->olen;
  size_t pos = 0;
  if (skip == 0) *o++ = type;
  pos = 1;
  for (int i = 0; i < iovcnt; i++) {
    size_t l = iov[i].len;
    const uint8_t *b = iov[i].base;
    if (pos + l <= skip) {
      pos += l;
      continue;
    }
    size_t from = skip > pos ? skip - pos : 0;
    memcpy(o, b + from, l - from);
    o += l - from;
    pos += l;
  }
  f->olen += total - skip;
  return 0;
}

static int fd_send(uvble_transport_t *t, uint8_t type, const uvble_iov_t *iov,
                   int iovcnt, size_t len) {
  fd_transport_t *f = (fd_transport_t *)t;
  size_t total = 1 + len;
  if (f->write_err) return UVBLE_EPIPE;
  if (f->ohead < f->olen || iovcnt >= MAX_IOV) {
    /* Keep order behind what is already waiting. */
    if (f->olen - f->ohead + total > f->limit) return UVBLE_ENOBUFS;
    int r = obuf_append(f, type, iov, iovcnt, total, 0);
    if (r) return r;
    if (f->ohead == 0 && f->olen == total) fd_flush(f); /* nothing was waiting */
    fd_update_poll(f);
    return 0;
  }
  struct iovec v[MAX_IOV];
  int n = 0;
  v[n].iov_base = &type;
  v[n++].iov_len = 1;
  for (int i = 0; i < iovcnt; i++) {
    if (!iov[i].len) continue;
    v[n].iov_base = (void *)iov[i].base;
    v[n++].iov_len = iov[i].len;
  }
  ssize_t w;
  do {
    if (f->flags & UVBLE_FD_SOCKET) {
      struct msghdr msg;
      memset(&msg, 0, sizeof msg);
      msg.msg_iov = v;
      msg.msg_iovlen = (size_t)n;
      w = sendmsg(f->fd, &msg, MSG_NOSIGNAL);
    } else {
      w = writev(f->fd, v, n);
    }
  } while (w < 0 && errno == EINTR);
  if (w < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      int e = errno;
      /* Reported once through error_cb from the poll callback. */
      f->write_err = map_io_err(e);
      fd_update_poll(f);
      return e == EPIPE || e == ECONNRESET ? UVBLE_EPIPE : -e;
    }
    w = 0;
  }
  if ((size_t)w == total) return 0;
  if (w == 0 && total > f->limit) return UVBLE_ENOBUFS;
  /* The device took part of it: the rest must follow, whatever the limit. */
  int r = obuf_append(f, type, iov, iovcnt, total, (size_t)w);
  if (r) return r;
  fd_update_poll(f);
  return 0;
}

static void on_poll_closed(uv_handle_t *h) {
  fd_transport_t *f = h->data;
  close(f->fd);
  free(f->obuf);
  uvble__transport_closed(&f->base);
}

static void fd_close(uvble_transport_t *t) {
  fd_transport_t *f = (fd_transport_t *)t;
  uv_close((uv_handle_t *)&f->poll, on_poll_closed);
}

static const uvble_transport_vtable_t fd_vtable = {
    .start = fd_start,
    .send = fd_send,
    .close = fd_close,
    .pending = fd_pending,
    .set_limit = fd_set_limit,
};

int uvble__fd_transport_new(uv_loop_t *loop, int fd, int flags, const char *name,
                            uvble_transport_t **out) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  fd_transport_t *f = malloc(sizeof *f);
  if (!f) {
    close(fd);
    return UVBLE_ENOMEM;
  }
  int r = uvble__transport_init(&f->base, &fd_vtable, loop, name);
  if (r == 0) r = uv_poll_init(loop, &f->poll, fd);
  if (r) {
    free(f->base.name);
    free(f);
    close(fd);
    return r;
  }
  f->poll.data = f;
  f->fd = fd;
  f->flags = flags;
  f->events = 0;
  f->write_err = 0;
  f->limit = UVBLE_TRANSPORT_DEFAULT_LIMIT;
  f->obuf = NULL;
  f->ohead = f->olen = f->ocap = 0;
  uvble_h4_init(&f->h4, on_packet, &f->base);
  if (flags & UVBLE_FD_HUNT) uvble_h4_hunt(&f->h4);
  *out = &f->base;
  return 0;
}
