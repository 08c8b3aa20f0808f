/* SPDX-License-Identifier: Apache-2.0 */
/* vm_mgmt: the kernel's side of pairing, through the management interface
 * (what bluetoothd's agent does), with a fixed passkey and output that is
 * written as it happens (btmgmt's reaches a file only when it exits, and it
 * reads its answers from a terminal).
 *
 *   vm_mgmt INDEX agent IOCAP PASSKEY SECONDS
 *       sets hciINDEX's IO capability, then for SECONDS answers every User
 *       Confirmation Request with yes and every User Passkey Request with
 *       PASSKEY, printing the pairing events
 *   vm_mgmt INDEX pair ADDR IOCAP PASSKEY
 *       pairs with LE public ADDR (Pair Device: the kernel connects if
 *       needed), answering as the agent does; exits 0 when the kernel
 *       reports success
 *
 * IOCAP: 0 DisplayOnly, 1 DisplayYesNo, 2 KeyboardOnly, 3 NoInputNoOutput,
 * 4 KeyboardDisplay. Events are printed one line each:
 *   mgmt: confirm request value 123456 hint 1
 *   mgmt: passkey request
 *   mgmt: passkey notify 123456
 *   mgmt: new long term key type 0x03 authenticated 1 enc_size 16
 *   mgmt: authentication failed status 0x05
 *   mgmt: pair complete status 0x00
 * The management protocol is BlueZ's doc/mgmt-api.txt; its definitions are
 * repeated here so the build needs no libbluetooth-dev. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define AF_BLUETOOTH_ 31
#define BTPROTO_HCI_ 1
#define HCI_CHANNEL_CONTROL_ 3
#define HCI_DEV_NONE_ 0xffff

enum {
  OP_SET_IO_CAPABILITY = 0x0018,
  OP_PAIR_DEVICE = 0x0019,
  OP_USER_CONFIRM_REPLY = 0x001C,
  OP_USER_PASSKEY_REPLY = 0x001E,
  EV_CMD_COMPLETE = 0x0001,
  EV_CMD_STATUS = 0x0002,
  EV_NEW_LONG_TERM_KEY = 0x000A,
  EV_USER_CONFIRM_REQUEST = 0x000F,
  EV_USER_PASSKEY_REQUEST = 0x0010,
  EV_AUTH_FAILED = 0x0011,
  EV_PASSKEY_NOTIFY = 0x0017,
};

struct sockaddr_hci_ {
  sa_family_t family;
  unsigned short dev;
  unsigned short channel;
};

static int sk = -1;
static uint16_t index_;
static uint32_t passkey;
static int pair_status = -1; /* set when Pair Device completes */

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int send_cmd(uint16_t op, const void *param, uint16_t len) {
  uint8_t buf[64];
  put16(buf, op);
  put16(buf + 2, index_);
  put16(buf + 4, len);
  memcpy(buf + 6, param, len);
  if (write(sk, buf, 6u + len) != 6 + len) {
    fprintf(stdout, "mgmt: write: %s\n", strerror(errno));
    return -1;
  }
  return 0;
}

/* An address info: 6 bytes little-endian, then the type (1: LE public). */
static int parse_addr(const char *text, uint8_t out[7]) {
  unsigned b[6];
  if (sscanf(text, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
    return -1;
  for (int i = 0; i < 6; i++) out[i] = (uint8_t)b[5 - i];
  out[6] = 1;
  return 0;
}

static void on_event(uint16_t ev, const uint8_t *p, uint16_t len) {
  uint8_t reply[11];
  switch (ev) {
    case EV_USER_CONFIRM_REQUEST:
      if (len < 12) break;
      printf("mgmt: confirm request value %06u hint %u\n", get32(p + 8), p[7]);
      memcpy(reply, p, 7);
      send_cmd(OP_USER_CONFIRM_REPLY, reply, 7);
      break;
    case EV_USER_PASSKEY_REQUEST:
      if (len < 7) break;
      printf("mgmt: passkey request\n");
      memcpy(reply, p, 7);
      for (int i = 0; i < 4; i++) reply[7 + i] = (uint8_t)(passkey >> (8 * i));
      send_cmd(OP_USER_PASSKEY_REPLY, reply, 11);
      break;
    case EV_PASSKEY_NOTIFY:
      if (len >= 11) printf("mgmt: passkey notify %06u\n", get32(p + 7));
      break;
    case EV_NEW_LONG_TERM_KEY:
      /* store_hint, addr info (7), type, central, enc_size, ... */
      if (len >= 11)
        printf("mgmt: new long term key type 0x%02x authenticated %d enc_size %u\n", p[8],
               p[8] == 0x01 || p[8] == 0x03, p[10]);
      break;
    case EV_AUTH_FAILED:
      if (len >= 8) printf("mgmt: authentication failed status 0x%02x\n", p[7]);
      break;
    case EV_CMD_COMPLETE:
    case EV_CMD_STATUS:
      if (len < 3) break;
      if (get16(p) == OP_PAIR_DEVICE && (ev == EV_CMD_COMPLETE || p[2] != 0)) {
        pair_status = p[2];
        printf("mgmt: pair complete status 0x%02x\n", p[2]);
      } else if (p[2] != 0) {
        printf("mgmt: command 0x%04x failed status 0x%02x\n", get16(p), p[2]);
      }
      break;
  }
  fflush(stdout);
}

/* Reads and handles events until the deadline, or until the pairing
 * completed when pairing. */
static void run(int seconds, int until_paired) {
  time_t end = time(NULL) + seconds;
  uint8_t buf[1024];
  while (time(NULL) < end && !(until_paired && pair_status >= 0)) {
    struct pollfd pfd = {.fd = sk, .events = POLLIN};
    if (poll(&pfd, 1, 200) <= 0) continue;
    ssize_t n = read(sk, buf, sizeof buf);
    if (n < 6) continue;
    uint16_t ev = get16(buf), idx = get16(buf + 2), len = get16(buf + 4);
    if ((size_t)n < 6u + len || (idx != index_ && idx != HCI_DEV_NONE_)) continue;
    on_event(ev, buf + 6, len);
  }
}

int main(int argc, char **argv) {
  if (argc < 6 || (strcmp(argv[2], "agent") != 0 && strcmp(argv[2], "pair") != 0)) {
    fprintf(stderr, "usage: vm_mgmt INDEX agent IOCAP PASSKEY SECONDS\n"
                    "       vm_mgmt INDEX pair ADDR IOCAP PASSKEY\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  index_ = (uint16_t)atoi(argv[1]);
  sk = socket(AF_BLUETOOTH_, SOCK_RAW | SOCK_CLOEXEC, BTPROTO_HCI_);
  struct sockaddr_hci_ sa = {.family = AF_BLUETOOTH_, .dev = HCI_DEV_NONE_,
                             .channel = HCI_CHANNEL_CONTROL_};
  if (sk < 0 || bind(sk, (struct sockaddr *)&sa, sizeof sa) < 0) {
    printf("mgmt: control socket: %s\n", strerror(errno));
    return 1;
  }
  int pairing = strcmp(argv[2], "pair") == 0;
  uint8_t iocap = (uint8_t)atoi(argv[pairing ? 4 : 3]);
  passkey = (uint32_t)strtoul(argv[pairing ? 5 : 4], NULL, 10);
  send_cmd(OP_SET_IO_CAPABILITY, &iocap, 1);
  if (!pairing) {
    run(atoi(argv[5]), 0);
    return 0;
  }
  uint8_t cp[8];
  if (parse_addr(argv[3], cp) != 0) {
    fprintf(stderr, "vm_mgmt: bad address %s\n", argv[3]);
    return 2;
  }
  cp[7] = iocap;
  send_cmd(OP_PAIR_DEVICE, cp, sizeof cp);
  run(60, 1);
  return pair_status == 0 ? 0 : 1;
}
