/* SPDX-License-Identifier: Apache-2.0 */
/* Byte sources and sinks on the libuv loop; see stream.h. */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- buffers ------------------------------------------------------------------ */

int buf_init(struct buf *b, size_t cap) {
  b->d = malloc(cap);
  b->off = b->len = 0;
  b->cap = b->d ? cap : 0;
  return b->d ? 0 : -1;
}

void buf_free(struct buf *b) {
  free(b->d);
  memset(b, 0, sizeof *b);
}

size_t buf_append(struct buf *b, const uint8_t *p, size_t n) {
  if (n > b->cap - b->len) n = b->cap - b->len;
  if (!n) return 0;
  if (b->off + b->len + n > b->cap) { /* compact */
    memmove(b->d, b->d + b->off, b->len);
    b->off = 0;
  }
  memcpy(b->d + b->off + b->len, p, n);
  b->len += n;
  return n;
}

void buf_consume(struct buf *b, size_t n) {
  if (n > b->len) n = b->len;
  b->off += n;
  b->len -= n;
  if (!b->len) b->off = 0;
}

static int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- sources ------------------------------------------------------------------- */

static void src_emit(struct src *s, int err) {
  if (s->cb) s->cb(s, err, s->arg);
}

static void on_src_poll(uv_poll_t *p, int status, int events);

static void poll_read(struct src *s) {
  while (buf_room(s->buf) > 0) {
    size_t want = buf_room(s->buf) < sizeof s->tmp ? buf_room(s->buf) : sizeof s->tmp;
    ssize_t n = read(s->fd, s->tmp, want);
    if (n > 0) {
      buf_append(s->buf, s->tmp, (size_t)n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    /* 0: end of input; EIO: a PTY whose slave side is closed. */
    s->eof = true;
    uv_poll_stop(&s->h.poll);
    src_emit(s, n == 0 || errno == EIO ? UV_EOF : -errno);
    return;
  }
  s->paused = buf_room(s->buf) == 0;
  if (s->paused) uv_poll_stop(&s->h.poll);
  src_emit(s, 0);
}

static void on_src_poll(uv_poll_t *p, int status, int events) {
  (void)events;
  struct src *s = p->data;
  if (status < 0) {
    uv_poll_stop(p);
    src_emit(s, status);
    return;
  }
  poll_read(s);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)hint;
  struct src *s = h->data;
  *b = uv_buf_init((char *)s->tmp, sizeof s->tmp);
}

static void on_stream_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  struct src *s = st->data;
  (void)b;
  if (n < 0) {
    uv_read_stop(st);
    s->eof = n == UV_EOF;
    src_emit(s, (int)n);
    return;
  }
  if (n == 0) return;
  /* The buffer keeps room for one read: we stop below before it fills. */
  buf_append(s->buf, s->tmp, (size_t)n);
  if (buf_room(s->buf) < sizeof s->tmp) {
    uv_read_stop(st);
    s->paused = true;
  }
  src_emit(s, 0);
}

static void file_read(struct src *s);

static void on_fs_read(uv_fs_t *req) {
  struct src *s = req->data;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  s->busy = false;
  if (s->closed) return;
  if (n <= 0) {
    s->eof = true;
    src_emit(s, n == 0 ? UV_EOF : (int)n);
    return;
  }
  buf_append(s->buf, s->tmp, (size_t)n);
  file_read(s);
  src_emit(s, 0);
}

static void file_read(struct src *s) {
  if (s->busy || s->eof || s->closed) return;
  if (buf_room(s->buf) < sizeof s->tmp) {
    s->paused = true;
    return;
  }
  s->paused = false;
  uv_buf_t b = uv_buf_init((char *)s->tmp, sizeof s->tmp);
  s->req.data = s;
  if (uv_fs_read(s->loop, &s->req, s->fd, &b, 1, -1, on_fs_read) == 0) s->busy = true;
}

int src_open(struct src *s, uv_loop_t *loop, int fd, bool poll,
             struct buf *buf, src_cb cb, void *arg) {
  memset(s, 0, sizeof *s);
  s->loop = loop;
  s->fd = fd;
  s->buf = buf;
  s->cb = cb;
  s->arg = arg;
  uv_handle_type t = uv_guess_handle(fd);
  int r;
  if (poll) {
    s->kind = IO_POLL;
    if (set_nonblock(fd) < 0) return -errno;
    r = uv_poll_init(loop, &s->h.poll, fd);
    if (r == 0) {
      s->h.poll.data = s;
      r = uv_poll_start(&s->h.poll, UV_READABLE, on_src_poll);
    }
    return r;
  }
  if (t == UV_FILE) {
    s->kind = IO_FILE;
    file_read(s);
    return 0;
  }
  s->kind = IO_STREAM;
  s->is_tty = t == UV_TTY;
  r = s->is_tty ? uv_tty_init(loop, &s->h.tty, fd, 1)
                : uv_pipe_init(loop, &s->h.pipe, 0);
  if (r == 0 && !s->is_tty) r = uv_pipe_open(&s->h.pipe, fd);
  if (r < 0) return r;
  s->h.pipe.data = s;
  return uv_read_start((uv_stream_t *)&s->h.pipe, on_alloc, on_stream_read);
}

void src_kick(struct src *s) {
  if (s->closed || s->eof || !s->paused) return;
  switch (s->kind) {
    case IO_POLL:
      if (buf_room(s->buf) > 0) {
        s->paused = false;
        uv_poll_start(&s->h.poll, UV_READABLE, on_src_poll);
      }
      break;
    case IO_STREAM:
      if (buf_room(s->buf) >= sizeof s->tmp) {
        s->paused = false;
        uv_read_start((uv_stream_t *)&s->h.pipe, on_alloc, on_stream_read);
      }
      break;
    default:
      file_read(s);
  }
}

void src_close(struct src *s) {
  if (s->closed) return;
  s->closed = true;
  if (s->kind == IO_FILE) {
    if (s->busy) uv_cancel((uv_req_t *)&s->req);
    return;
  }
  if (!uv_is_closing((uv_handle_t *)&s->h.pipe)) uv_close((uv_handle_t *)&s->h.pipe, NULL);
}

/* ---- sinks ---------------------------------------------------------------------- */

static void sink_flush(struct sink *k);

static void on_sink_poll(uv_poll_t *p, int status, int events) {
  (void)events;
  struct sink *k = p->data;
  if (status < 0) {
    k->error = status;
    uv_poll_stop(p);
    k->polling = false;
    return;
  }
  sink_flush(k);
}

static void on_written(uv_write_t *w, int status) {
  struct sink *k = w->data;
  k->written += k->inflight.len;
  buf_consume(&k->inflight, k->inflight.len);
  if (status < 0) k->error = status;
  if (!k->closed && !k->error) sink_flush(k);
}

static void sink_flush(struct sink *k) {
  if (k->error) return;
  if (k->kind == IO_STREAM) {
    if (k->inflight.len || !k->out.len) return;
    /* The written bytes must stay put until the callback: swap buffers. */
    struct buf t = k->inflight;
    k->inflight = k->out;
    k->out = t;
    uv_buf_t b = uv_buf_init((char *)buf_data(&k->inflight), (unsigned)k->inflight.len);
    k->wreq.data = k;
    int r = uv_write(&k->wreq, (uv_stream_t *)&k->h.pipe, &b, 1, on_written);
    if (r < 0) k->error = r;
    return;
  }
  while (k->out.len) {
    ssize_t n = write(k->fd, buf_data(&k->out), k->out.len);
    if (n > 0) {
      buf_consume(&k->out, (size_t)n);
      k->written += (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && k->kind == IO_POLL) {
      if (!k->polling) uv_poll_start(&k->h.poll, UV_WRITABLE, on_sink_poll);
      k->polling = true;
      return;
    }
    k->error = n < 0 ? -errno : UV_EIO;
    return;
  }
  if (k->polling) uv_poll_stop(&k->h.poll);
  k->polling = false;
}

int sink_open(struct sink *k, uv_loop_t *loop, int fd, bool poll, size_t limit) {
  memset(k, 0, sizeof *k);
  k->loop = loop;
  k->fd = fd;
  k->limit = limit;
  if (buf_init(&k->out, limit) < 0) return UV_ENOMEM;
  uv_handle_type t = uv_guess_handle(fd);
  int r = 0;
  if (poll) {
    k->kind = IO_POLL;
    if (set_nonblock(fd) < 0) return -errno;
    r = uv_poll_init(loop, &k->h.poll, fd);
    k->h.poll.data = k;
  } else if (t == UV_FILE) {
    k->kind = IO_FILE;
  } else {
    k->kind = IO_STREAM;
    if (buf_init(&k->inflight, limit) < 0) return UV_ENOMEM;
    k->is_tty = t == UV_TTY;
    r = k->is_tty ? uv_tty_init(loop, &k->h.tty, fd, 0)
                  : uv_pipe_init(loop, &k->h.pipe, 0);
    if (r == 0 && !k->is_tty) r = uv_pipe_open(&k->h.pipe, fd);
    k->h.pipe.data = k;
  }
  return r;
}

int sink_write(struct sink *k, const uint8_t *p, size_t n) {
  if (k->error || k->closed) return -1;
  if (sink_pending(k) + n > k->limit || buf_room(&k->out) < n) return -1;
  buf_append(&k->out, p, n);
  sink_flush(k);
  return 0;
}

size_t sink_pending(const struct sink *k) { return k->out.len + k->inflight.len; }

static void on_sink_closed(uv_handle_t *h) {
  struct sink *k = h->data;
  buf_free(&k->out);
  buf_free(&k->inflight);
}

void sink_close(struct sink *k) {
  if (k->closed) return;
  k->closed = true;
  if (k->kind == IO_FILE) {
    buf_free(&k->out);
    return;
  }
  if (k->kind == IO_STREAM && k->is_tty) uv_tty_reset_mode();
  uv_close((uv_handle_t *)&k->h.pipe, on_sink_closed);
}
