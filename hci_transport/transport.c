/* SPDX-License-Identifier: Apache-2.0 */
/* The public transport API: spec parsing, the shared object header, delivery
 * and error reporting, btsnoop taps. The backends live in fd.c (every
 * fd-based transport), sock.c (unix:, tcp:), uart.c, hci_user.c and mem.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h4.h"
#include "transport_internal.h"

void uvble__seterr(char *errbuf, size_t errlen, const char *fmt, ...) {
  if (!errbuf || errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, errlen, fmt, ap);
  va_end(ap);
}

int uvble__transport_init(uvble_transport_t *t, const uvble_transport_vtable_t *vt,
                          uv_loop_t *loop, const char *name) {
  memset(t, 0, sizeof *t);
  t->vt = vt;
  t->loop = loop;
  t->name = strdup(name);
  return t->name ? 0 : UVBLE_ENOMEM;
}

int uvble__transport_deliver(uvble_transport_t *t, uint8_t type,
                             const uint8_t *pkt, size_t len) {
  if (t->failed || t->closing) return 1;
  if (t->snoop) {
    uvble_iov_t v = {pkt, len};
    uvble_btsnoop_write(t->snoop, 1, type, &v, 1);
  }
  t->recv_cb(t, type, pkt, len, t->arg);
  return t->failed || t->closing;
}

void uvble__transport_fail(uvble_transport_t *t, int err) {
  if (t->failed || t->closing) return;
  t->failed = 1;
  t->err = err;
  if (t->started && t->error_cb) t->error_cb(t, err, t->arg);
}

void uvble__transport_closed(uvble_transport_t *t) {
  if (t->close_cb) t->close_cb(t, t->close_arg);
  free(t->name);
  free(t);
}

/* UVBLE_BTSNOOP names the capture of the first transport opened; later ones
 * in the same process get PATH.1, PATH.2, ... so none overwrites another. */
static int env_snoop(uvble_transport_t *t, char *errbuf, size_t errlen) {
  static unsigned opened;
  const char *path = getenv("UVBLE_BTSNOOP");
  if (!path || !*path) return 0;
  char buf[4096];
  if (opened == 0)
    snprintf(buf, sizeof buf, "%s", path);
  else
    snprintf(buf, sizeof buf, "%s.%u", path, opened);
  opened++;
  int r = uvble_transport_snoop(t, buf);
  if (r)
    uvble__seterr(errbuf, errlen, "UVBLE_BTSNOOP=%s: cannot create the capture file %s: %s",
                  path, buf, strerror(-r));
  return r;
}

#define SPEC_FORMS "hciN, uart:DEVICE[?baud=N&flow=0|1], unix:PATH or tcp:HOST:PORT"

int uvble_transport_open(uv_loop_t *loop, const char *spec,
                         uvble_transport_t **out, char *errbuf, size_t errlen) {
  if (errbuf && errlen) errbuf[0] = '\0';
  if (out) *out = NULL;
  if (!loop || !out) {
    uvble__seterr(errbuf, errlen, "uvble_transport_open needs a loop and an out pointer");
    return UVBLE_EINVAL;
  }
  if (!spec || !*spec) {
    uvble__seterr(errbuf, errlen, "empty transport specification: expected " SPEC_FORMS);
    return UVBLE_EBADSPEC;
  }
  uvble_transport_t *t = NULL;
  int r;
  if (strncmp(spec, "unix:", 5) == 0)
    r = uvble__unix_open(loop, spec, spec + 5, &t, errbuf, errlen);
  else if (strncmp(spec, "tcp:", 4) == 0)
    r = uvble__tcp_open(loop, spec, spec + 4, &t, errbuf, errlen);
  else if (strncmp(spec, "uart:", 5) == 0)
    r = uvble__uart_open(loop, spec, spec + 5, &t, errbuf, errlen);
  else if (strncmp(spec, "hci", 3) == 0 && !strchr(spec, ':'))
    r = uvble__hci_open(loop, spec, spec + 3, &t, errbuf, errlen);
  else {
    size_t n = strcspn(spec, ":");
    if (spec[n] == ':')
      uvble__seterr(errbuf, errlen, "unknown transport \"%.*s:\" in \"%s\": expected " SPEC_FORMS,
                    (int)n, spec, spec);
    else
      uvble__seterr(errbuf, errlen, "unknown transport \"%s\": expected " SPEC_FORMS, spec);
    return UVBLE_EBADSPEC;
  }
  if (r) return r;
  r = env_snoop(t, errbuf, errlen);
  if (r) {
    uvble_transport_close(t, NULL, NULL);
    return r;
  }
  *out = t;
  return 0;
}

int uvble_transport_start(uvble_transport_t *t, uvble_transport_recv_cb recv_cb,
                          uvble_transport_error_cb error_cb, void *arg) {
  if (!t || !recv_cb) return UVBLE_EINVAL;
  if (t->closing) return UVBLE_EPIPE;
  t->recv_cb = recv_cb;
  t->error_cb = error_cb;
  t->arg = arg;
  if (t->started) return 0;
  t->started = 1;
  /* Failed before anyone listened (a write error): say so now. */
  if (t->failed) return t->err;
  return t->vt->start(t);
}

int uvble_transport_send(uvble_transport_t *t, uint8_t type,
                         const uvble_iov_t *iov, int iovcnt) {
  if (!t) return UVBLE_EINVAL;
  if (t->closing || t->failed) return UVBLE_EPIPE;
  size_t len;
  int r = uvble_h4_check_iov(type, iov, iovcnt, &len);
  if (r) return r;
  r = t->vt->send(t, type, iov, iovcnt, len);
  if (r == 0 && t->snoop) uvble_btsnoop_write(t->snoop, 0, type, iov, iovcnt);
  return r;
}

size_t uvble_transport_pending(const uvble_transport_t *t) {
  return t && !t->closing ? t->vt->pending(t) : 0;
}

int uvble_transport_set_limit(uvble_transport_t *t, size_t bytes) {
  if (!t || bytes == 0) return UVBLE_EINVAL;
  if (t->closing) return UVBLE_EPIPE;
  return t->vt->set_limit ? t->vt->set_limit(t, bytes) : UVBLE_ENOTSUP;
}

int uvble_transport_snoop(uvble_transport_t *t, const char *path) {
  if (!t) return UVBLE_EINVAL;
  if (t->closing) return UVBLE_EPIPE;
  uvble_btsnoop_t *s = NULL;
  if (path) {
    int r = uvble_btsnoop_open(path, &s);
    if (r) return r;
  }
  uvble_btsnoop_close(t->snoop);
  t->snoop = s;
  return 0;
}

void uvble_transport_close(uvble_transport_t *t, uvble_transport_close_cb cb,
                           void *arg) {
  if (!t || t->closing) return;
  t->closing = 1;
  t->close_cb = cb;
  t->close_arg = arg;
  uvble_btsnoop_close(t->snoop);
  t->snoop = NULL;
  t->vt->close(t);
}

const char *uvble_transport_name(const uvble_transport_t *t) {
  return t ? t->name : NULL;
}
