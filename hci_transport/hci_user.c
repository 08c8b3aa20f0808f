/* SPDX-License-Identifier: Apache-2.0 */
/* hciN: the Linux HCI user channel. The kernel hands the controller to one
 * process exclusively; each read() returns one packet with the H4 indicator
 * first, each write() takes one. The kernel's definitions are repeated here
 * so the build needs no libbluetooth-dev. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport_internal.h"

#define UVBLE_AF_BLUETOOTH 31
#define UVBLE_BTPROTO_HCI 1
#define UVBLE_HCI_CHANNEL_USER 1
#define UVBLE_HCIDEVDOWN _IOW('H', 202, int)

struct uvble_sockaddr_hci {
  sa_family_t hci_family;
  unsigned short hci_dev;
  unsigned short hci_channel;
};

void uvble__hci_explain(char *errbuf, size_t errlen, const char *spec, const char *what,
                        int e) {
  const char *dev = spec;
  switch (e) {
    case EBUSY:
    case EUSERS: /* another process holds the user channel */
      uvble__seterr(errbuf, errlen,
                    "%s is up or in use: run `btmgmt -i %s power off` or stop bluetoothd", dev,
                    dev);
      break;
    case EPERM:
    case EACCES:
      uvble__seterr(errbuf, errlen,
                    "%s: needs CAP_NET_ADMIN and CAP_NET_RAW: run as root or "
                    "`setcap cap_net_admin,cap_net_raw+eip <binary>`",
                    dev);
      break;
    case ENODEV:
      uvble__seterr(errbuf, errlen, "%s: no such controller: list them with `btmgmt info`", dev);
      break;
#ifdef ERFKILL
    case ERFKILL:
      uvble__seterr(errbuf, errlen, "%s is blocked by rfkill: run `rfkill unblock bluetooth`",
                    dev);
      break;
#endif
    case EAFNOSUPPORT:
    case EPROTONOSUPPORT:
      uvble__seterr(errbuf, errlen, "%s: this kernel has no Bluetooth support (AF_BLUETOOTH)",
                    dev);
      break;
    default:
      uvble__seterr(errbuf, errlen, "%s: %s: %s", dev, what, strerror(e));
  }
}

int uvble__hci_open(uv_loop_t *loop, const char *spec, const char *index,
                    uvble_transport_t **out, char *errbuf, size_t errlen) {
  unsigned long dev = 0;
  size_t n = strlen(index);
  if (n == 0) {
    uvble__seterr(errbuf, errlen, "\"%s\": missing controller number (e.g. hci0)", spec);
    return UVBLE_EBADSPEC;
  }
  for (size_t i = 0; i < n; i++) {
    if (index[i] < '0' || index[i] > '9' || i >= 5) {
      uvble__seterr(errbuf, errlen, "\"%s\": bad controller number \"%s\" (expected hciN, e.g. hci0)",
                    spec, index);
      return UVBLE_EBADSPEC;
    }
    dev = dev * 10 + (unsigned long)(index[i] - '0');
  }
  if (dev > 0xfffe) {
    uvble__seterr(errbuf, errlen, "\"%s\": controller number %lu is out of range", spec, dev);
    return UVBLE_EBADSPEC;
  }

  int fd = socket(UVBLE_AF_BLUETOOTH, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
                  UVBLE_BTPROTO_HCI);
  if (fd < 0) {
    int e = errno;
    uvble__hci_explain(errbuf, errlen, spec, "socket(AF_BLUETOOTH)", e);
    return -e;
  }
  /* The user channel needs the controller down; taking it down ourselves
   * saves a step when only the kernel (not bluetoothd) brought it up. */
  if (ioctl(fd, UVBLE_HCIDEVDOWN, (int)dev) < 0) {
    int e = errno;
    if (e == EPERM || e == EACCES || e == ENODEV) {
      close(fd);
      uvble__hci_explain(errbuf, errlen, spec, "HCIDEVDOWN", e);
      return -e;
    }
    /* Anything else: bind() gives the definitive answer. */
  }
  struct uvble_sockaddr_hci sa;
  memset(&sa, 0, sizeof sa);
  sa.hci_family = UVBLE_AF_BLUETOOTH;
  sa.hci_dev = (unsigned short)dev;
  sa.hci_channel = UVBLE_HCI_CHANNEL_USER;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    uvble__hci_explain(errbuf, errlen, spec, "bind to the user channel", e);
    return -e;
  }
  int r = uvble__fd_transport_new(loop, fd, UVBLE_FD_SOCKET | UVBLE_FD_PACKETS, spec, out);
  if (r) uvble__seterr(errbuf, errlen, "%s: %s", spec, uvble_strerror(r));
  return r;
}
