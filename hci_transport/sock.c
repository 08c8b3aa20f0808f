/* SPDX-License-Identifier: Apache-2.0 */
/* unix:PATH and tcp:HOST:PORT: H4 over a stream socket. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "transport_internal.h"

#define CONNECT_TIMEOUT_MS 10000

int uvble__unix_open(uv_loop_t *loop, const char *spec, const char *path,
                     uvble_transport_t **out, char *errbuf, size_t errlen) {
  struct sockaddr_un sa;
  if (!*path) {
    uvble__seterr(errbuf, errlen, "\"%s\": missing socket path after \"unix:\"", spec);
    return UVBLE_EBADSPEC;
  }
  if (strlen(path) >= sizeof sa.sun_path) {
    uvble__seterr(errbuf, errlen, "\"%s\": socket path is longer than %zu bytes", spec,
                  sizeof sa.sun_path - 1);
    return UVBLE_EBADSPEC;
  }
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  memcpy(sa.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    uvble__seterr(errbuf, errlen, "%s: socket: %s", spec, strerror(e));
    return -e;
  }
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    if (e == ENOENT || e == ECONNREFUSED)
      uvble__seterr(errbuf, errlen, "%s: %s (is the server, e.g. `btvirt -s`, running?)",
                    spec, strerror(e));
    else
      uvble__seterr(errbuf, errlen, "%s: connect: %s", spec, strerror(e));
    return -e;
  }
  int r = uvble__fd_transport_new(loop, fd, UVBLE_FD_SOCKET, spec, out);
  if (r) uvble__seterr(errbuf, errlen, "%s: %s", spec, uvble_strerror(r));
  return r;
}

/* Connects fd to sa, giving up after the timeout. Returns 0 or an errno. */
static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len) {
  if (connect(fd, sa, len) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  int n;
  do n = poll(&p, 1, CONNECT_TIMEOUT_MS);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  if (n == 0) return ETIMEDOUT;
  int err = 0;
  socklen_t el = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) return errno;
  return err;
}

int uvble__tcp_open(uv_loop_t *loop, const char *spec, const char *hostport,
                    uvble_transport_t **out, char *errbuf, size_t errlen) {
  char host[256];
  const char *port;
  if (hostport[0] == '[') { /* [v6addr]:port */
    const char *end = strchr(hostport, ']');
    if (!end || end[1] != ':') {
      uvble__seterr(errbuf, errlen,
                    "\"%s\": expected tcp:[IPV6]:PORT (a ']' then ':' and the port)", spec);
      return UVBLE_EBADSPEC;
    }
    if ((size_t)(end - hostport - 1) >= sizeof host) goto long_host;
    memcpy(host, hostport + 1, (size_t)(end - hostport - 1));
    host[end - hostport - 1] = '\0';
    port = end + 2;
  } else {
    const char *colon = strrchr(hostport, ':');
    if (!colon) {
      uvble__seterr(errbuf, errlen, "\"%s\": missing port: expected tcp:HOST:PORT", spec);
      return UVBLE_EBADSPEC;
    }
    if ((size_t)(colon - hostport) >= sizeof host) goto long_host;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    port = colon + 1;
  }
  if (!*host) {
    uvble__seterr(errbuf, errlen, "\"%s\": missing host: expected tcp:HOST:PORT", spec);
    return UVBLE_EBADSPEC;
  }
  if (!*port) {
    uvble__seterr(errbuf, errlen, "\"%s\": missing port number after the last ':'", spec);
    return UVBLE_EBADSPEC;
  }
  char *end;
  errno = 0;
  unsigned long pn = strtoul(port, &end, 10);
  if (*end || port[0] < '0' || port[0] > '9' || errno || pn == 0 || pn > 65535) {
    uvble__seterr(errbuf, errlen, "\"%s\": bad port \"%s\" (expected 1 to 65535)", spec, port);
    return UVBLE_EBADSPEC;
  }

  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int g = getaddrinfo(host, port, &hints, &res);
  if (g != 0) {
    uvble__seterr(errbuf, errlen, "%s: cannot resolve host \"%s\": %s", spec, host,
                  gai_strerror(g));
    return UVBLE_EADDRNOTAVAIL;
  }
  int fd = -1, e = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                ai->ai_protocol);
    if (fd < 0) {
      e = errno;
      continue;
    }
    e = connect_timeout(fd, ai->ai_addr, ai->ai_addrlen);
    if (e == 0) break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    uvble__seterr(errbuf, errlen, "%s: connect: %s", spec, strerror(e ? e : ECONNREFUSED));
    return e ? -e : UVBLE_ECONNREFUSED;
  }
  int one = 1; /* HCI is request/response: no Nagle delay */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int r = uvble__fd_transport_new(loop, fd, UVBLE_FD_SOCKET, spec, out);
  if (r) uvble__seterr(errbuf, errlen, "%s: %s", spec, uvble_strerror(r));
  return r;

long_host:
  uvble__seterr(errbuf, errlen, "\"%s\": host name is too long", spec);
  return UVBLE_EBADSPEC;
}
