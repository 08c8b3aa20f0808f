/* SPDX-License-Identifier: Apache-2.0 */
/* btsnoop capture writer; see btsnoop.h. */
#include "btsnoop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "uvble/error.h"

struct uvble_btsnoop {
  int fd;
};

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v) {
  put_be32(p, (uint32_t)(v >> 32));
  put_be32(p + 4, (uint32_t)v);
}

/* Writes all of v[0..n), resuming after short writes. */
static int write_all(int fd, struct iovec *v, int n) {
  while (n > 0) {
    ssize_t w = writev(fd, v, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    size_t done = (size_t)w;
    while (n > 0 && done >= v->iov_len) {
      done -= v->iov_len;
      v++;
      n--;
    }
    if (n > 0) {
      v->iov_base = (char *)v->iov_base + done;
      v->iov_len -= done;
    }
  }
  return 0;
}

int uvble_btsnoop_open(const char *path, uvble_btsnoop_t **out) {
  if (!path || !*path || !out) return UVBLE_EINVAL;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  uint8_t hdr[16];
  memcpy(hdr, "btsnoop\0", 8);
  put_be32(hdr + 8, 1);
  put_be32(hdr + 12, UVBLE_BTSNOOP_DATALINK_H4);
  struct iovec v = {hdr, sizeof hdr};
  int r = write_all(fd, &v, 1);
  if (r) {
    close(fd);
    return r;
  }
  uvble_btsnoop_t *s = malloc(sizeof *s);
  if (!s) {
    close(fd);
    return UVBLE_ENOMEM;
  }
  s->fd = fd;
  *out = s;
  return 0;
}

int uvble_btsnoop_write(uvble_btsnoop_t *s, int received, uint8_t type,
                        const uvble_iov_t *iov, int iovcnt) {
  if (!s || s->fd < 0) return UVBLE_EPIPE;
  enum { MAXV = 16 };
  uint8_t rec[25];
  uint8_t flat[UVBLE_HCI_ISO_MAX];
  struct iovec v[MAXV + 1];
  size_t len = 0;
  for (int i = 0; i < iovcnt; i++) len += iov[i].len;
  uint32_t flags = received ? UVBLE_BTSNOOP_RECEIVED : 0;
  if (type == UVBLE_HCI_COMMAND || type == UVBLE_HCI_EVENT)
    flags |= UVBLE_BTSNOOP_CMD_EVT;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u +
                UVBLE_BTSNOOP_EPOCH_DELTA;
  put_be32(rec, (uint32_t)(1 + len));  /* original length */
  put_be32(rec + 4, (uint32_t)(1 + len)); /* included length */
  put_be32(rec + 8, flags);
  put_be32(rec + 12, 0); /* cumulative drops */
  put_be64(rec + 16, us);
  rec[24] = type;
  v[0].iov_base = rec;
  v[0].iov_len = sizeof rec;
  int n = 1;
  if (iovcnt <= MAXV) {
    for (int i = 0; i < iovcnt; i++) {
      if (!iov[i].len) continue;
      v[n].iov_base = (void *)iov[i].base;
      v[n].iov_len = iov[i].len;
      n++;
    }
  } else {
    size_t off = 0;
    for (int i = 0; i < iovcnt && off < sizeof flat; i++) {
      size_t c = iov[i].len < sizeof flat - off ? iov[i].len : sizeof flat - off;
      if (c) memcpy(flat + off, iov[i].base, c);
      off += c;
    }
    v[1].iov_base = flat;
    v[1].iov_len = off;
    n = 2;
  }
  int r = write_all(s->fd, v, n);
  if (r) {
    close(s->fd);
    s->fd = -1;
  }
  return r;
}

void uvble_btsnoop_close(uvble_btsnoop_t *s) {
  if (!s) return;
  if (s->fd >= 0) close(s->fd);
  free(s);
}
