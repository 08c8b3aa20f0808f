/* SPDX-License-Identifier: Apache-2.0 */
/* Byte streams for the UART bridge, on the libuv loop: a source that reads
 * into a bounded buffer and pauses when it is full (the bridge's flow
 * control: nothing more is read from the PTY or stdin than the radio can
 * take), and a sink that writes without blocking the loop.
 *
 * Each works on whatever the fd is: a PTY master (polled non-blocking fd),
 * a pipe or terminal (libuv streams; a terminal is reopened by libuv so
 * the shell's own file description stays blocking), or a regular file
 * (the thread pool reads it; writes go straight out). */
#ifndef UART_BRIDGE_STREAM_H
#define UART_BRIDGE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct buf {
  uint8_t *d;
  size_t off, len, cap;
};

int buf_init(struct buf *b, size_t cap);
void buf_free(struct buf *b);
static inline uint8_t *buf_data(struct buf *b) { return b->d + b->off; }
/* Appends what fits; returns how many bytes were taken. */
size_t buf_append(struct buf *b, const uint8_t *p, size_t n);
void buf_consume(struct buf *b, size_t n);
static inline size_t buf_room(const struct buf *b) { return b->cap - b->len; }

enum { IO_POLL, IO_STREAM, IO_FILE };

struct src;
/* Data arrived in the buffer (err 0), the end of input (UV_EOF) or a read
 * error (negative). */
typedef void (*src_cb)(struct src *s, int err, void *arg);

struct src {
  int kind, fd;
  uv_loop_t *loop;
  struct buf *buf;
  src_cb cb;
  void *arg;
  bool paused, eof, busy, closed;
  union {
    uv_poll_t poll;
    uv_pipe_t pipe;
    uv_tty_t tty;
  } h;
  bool is_tty;
  uv_fs_t req;
  uint8_t tmp[65536];
};

/* Reads fd into buf (which the caller empties with buf_consume and then
 * calls src_kick). poll: treat fd as a pollable non-blocking fd (a PTY
 * master) whatever it looks like. */
int src_open(struct src *s, uv_loop_t *loop, int fd, bool poll,
             struct buf *buf, src_cb cb, void *arg);
/* Resumes reading if it paused for lack of room. */
void src_kick(struct src *s);
void src_close(struct src *s);

struct sink {
  int kind, fd;
  uv_loop_t *loop;
  struct buf out;      /* waiting to be written */
  struct buf inflight; /* IO_STREAM: handed to uv_write */
  size_t limit;        /* most bytes held; beyond, writes are refused */
  uint64_t written;
  bool closed, is_tty, polling;
  int error;
  union {
    uv_poll_t poll;
    uv_pipe_t pipe;
    uv_tty_t tty;
  } h;
  uv_write_t wreq;
};

int sink_open(struct sink *k, uv_loop_t *loop, int fd, bool poll, size_t limit);
/* Queues n bytes. Returns 0, or -1 when they would take the sink over its
 * limit (nothing queued) or the sink failed. */
int sink_write(struct sink *k, const uint8_t *p, size_t n);
/* Bytes accepted and not yet written. */
size_t sink_pending(const struct sink *k);
void sink_close(struct sink *k);

#endif
