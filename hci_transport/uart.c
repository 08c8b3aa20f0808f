/* SPDX-License-Identifier: Apache-2.0 */
/* uart:DEVICE?baud=N&flow=0|1: H4 over a serial port in termios raw mode. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "transport_internal.h"

#define UART_DEFAULT_BAUD 115200

static const struct {
  unsigned long rate;
  speed_t code;
} bauds[] = {
    {50, B50},           {75, B75},           {110, B110},         {134, B134},
    {150, B150},         {200, B200},         {300, B300},         {600, B600},
    {1200, B1200},       {1800, B1800},       {2400, B2400},       {4800, B4800},
    {9600, B9600},       {19200, B19200},     {38400, B38400},     {57600, B57600},
    {115200, B115200},   {230400, B230400},
#ifdef B460800
    {460800, B460800},
#endif
#ifdef B500000
    {500000, B500000},
#endif
#ifdef B576000
    {576000, B576000},
#endif
#ifdef B921600
    {921600, B921600},
#endif
#ifdef B1000000
    {1000000, B1000000},
#endif
#ifdef B1152000
    {1152000, B1152000},
#endif
#ifdef B1500000
    {1500000, B1500000},
#endif
#ifdef B2000000
    {2000000, B2000000},
#endif
#ifdef B2500000
    {2500000, B2500000},
#endif
#ifdef B3000000
    {3000000, B3000000},
#endif
#ifdef B3500000
    {3500000, B3500000},
#endif
#ifdef B4000000
    {4000000, B4000000},
#endif
};

static int baud_code(unsigned long rate, speed_t *code) {
  for (size_t i = 0; i < sizeof bauds / sizeof bauds[0]; i++)
    if (bauds[i].rate == rate) {
      *code = bauds[i].code;
      return 0;
    }
  return -1;
}

/* Parses a decimal number that is the whole of s[0..n). */
static int parse_num(const char *s, size_t n, unsigned long *out) {
  if (n == 0 || n > 9) return -1;
  unsigned long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (unsigned long)(s[i] - '0');
  }
  *out = v;
  return 0;
}

int uvble__uart_open(uv_loop_t *loop, const char *spec, const char *rest,
                     uvble_transport_t **out, char *errbuf, size_t errlen) {
  size_t plen = strcspn(rest, "?");
  if (plen == 0) {
    uvble__seterr(errbuf, errlen, "\"%s\": missing device path after \"uart:\" (e.g. uart:/dev/ttyACM0)",
                  spec);
    return UVBLE_EBADSPEC;
  }
  char path[4096];
  if (plen >= sizeof path) {
    uvble__seterr(errbuf, errlen, "\"%s\": device path is too long", spec);
    return UVBLE_EBADSPEC;
  }
  memcpy(path, rest, plen);
  path[plen] = '\0';

  unsigned long baud = UART_DEFAULT_BAUD;
  int flow = 0;
  const char *q = rest[plen] == '?' ? rest + plen + 1 : NULL;
  while (q && *q) {
    size_t n = strcspn(q, "&");
    const char *eq = memchr(q, '=', n);
    size_t klen = eq ? (size_t)(eq - q) : n;
    const char *val = eq ? eq + 1 : q + n;
    size_t vlen = eq ? n - klen - 1 : 0;
    unsigned long v;
    if (klen == 4 && memcmp(q, "baud", 4) == 0) {
      speed_t unused;
      if (parse_num(val, vlen, &v) || baud_code(v, &unused)) {
        uvble__seterr(errbuf, errlen,
                      "\"%s\": unsupported baud rate \"%.*s\" (standard rates from 50 to 4000000, "
                      "e.g. 115200, 1000000, 3000000)",
                      spec, (int)vlen, val);
        return UVBLE_EBADSPEC;
      }
      baud = v;
    } else if (klen == 4 && memcmp(q, "flow", 4) == 0) {
      if (parse_num(val, vlen, &v) || v > 1) {
        uvble__seterr(errbuf, errlen, "\"%s\": bad flow value \"%.*s\" (expected flow=0 or flow=1)",
                      spec, (int)vlen, val);
        return UVBLE_EBADSPEC;
      }
      flow = (int)v;
    } else if (n > 0) {
      uvble__seterr(errbuf, errlen, "\"%s\": unknown option \"%.*s\" (expected baud=N or flow=0|1)",
                    spec, (int)klen, q);
      return UVBLE_EBADSPEC;
    }
    q += n;
    if (*q == '&') q++;
  }

  int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == EACCES)
      uvble__seterr(errbuf, errlen,
                    "%s: permission denied: add yourself to the device's group (usually "
                    "`dialout`) or run as root",
                    spec);
    else
      uvble__seterr(errbuf, errlen, "%s: cannot open %s: %s", spec, path, strerror(e));
    return -e;
  }
  struct termios tio;
  speed_t code = B115200;
  baud_code(baud, &code);
  if (tcgetattr(fd, &tio) < 0) {
    int e = errno;
    close(fd);
    uvble__seterr(errbuf, errlen, "%s: %s is not a serial port: %s", spec, path, strerror(e));
    return -e;
  }
  cfmakeraw(&tio);
  tio.c_cflag |= CLOCAL | CREAD;
  tio.c_cflag &= ~(tcflag_t)(CSTOPB | PARENB);
  if (flow)
    tio.c_cflag |= CRTSCTS;
  else
    tio.c_cflag &= ~(tcflag_t)CRTSCTS;
  tio.c_cc[VMIN] = 1;
  tio.c_cc[VTIME] = 0;
  if (cfsetispeed(&tio, code) < 0 || cfsetospeed(&tio, code) < 0 ||
      tcsetattr(fd, TCSANOW, &tio) < 0) {
    int e = errno;
    close(fd);
    uvble__seterr(errbuf, errlen, "%s: cannot set %lu baud%s: %s", spec, baud,
                  flow ? " with RTS/CTS flow control" : "", strerror(e));
    return -e;
  }
  /* Whatever arrived before we were listening goes; but a controller still
   * talking to a previous host may be mid-packet, so the deframer also
   * skips to the answer to our first command (h4.h, uvble_h4_hunt). */
  tcflush(fd, TCIOFLUSH);
  int r = uvble__fd_transport_new(loop, fd, UVBLE_FD_STREAM | UVBLE_FD_HUNT, spec, out);
  if (r) uvble__seterr(errbuf, errlen, "%s: %s", spec, uvble_strerror(r));
  return r;
}
