/* SPDX-License-Identifier: Apache-2.0 */
/* uvble: the command-line tool, in the spirit of Bumble's apps and BlueZ's
 * tools.
 *
 *   uvble [--capture FILE] COMMAND [ARGS...]
 *
 *   scan       what is advertising (one line per device update)
 *   gatt-dump  services, characteristics, descriptors and readable values
 *              of a device
 *   read       read one characteristic (by UUID or handle)
 *   write      write one characteristic (hex, text or an integer)
 *   subscribe  print a characteristic's notifications or indications
 *   pair       pair with a device (and bond), answering passkey prompts, or
 *              (--wait) advertise and accept a central's pairing
 *   bonds      list or remove the bonds of a bond store
 *   bench      L2CAP or GATT throughput and latency between two controllers
 *   info       what a controller reports (as uvble-info)
 *   capture    uvble capture FILE COMMAND ARGS...: write a btsnoop capture
 *              of everything COMMAND does (read it with btmon -r FILE or
 *              Wireshark)
 *
 * Every command takes -t TRANSPORT (default $UVBLE_TRANSPORT, else hci0),
 * --help and --version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tool.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: uvble [--capture FILE] COMMAND [ARGS...]\n"
          "commands:\n"
          "  scan       [-t T] [--duration SEC] [--passive] [--json] [--raw] [--bond-store F]\n"
          "  gatt-dump  [-t T] DEVICE [--json] [--bond-store F [--pair]]\n"
          "  read       [-t T] DEVICE UUID|HANDLE [--json] [--bond-store F [--pair]]\n"
          "  write      [-t T] DEVICE UUID|HANDLE VALUE [--text | --int N | --uint N]\n"
          "             [--no-response] [--bond-store F [--pair]]\n"
          "  subscribe  [-t T] DEVICE UUID|HANDLE [--indicate] [--count N] [--duration SEC]\n"
          "             [--json] [--bond-store F [--pair]]\n"
          "  pair       [-t T] DEVICE [--io CAP] [--mitm] [--legacy] [--no-bond]\n"
          "             [--bond-store F [--repair]]   |   pair --wait [SEC] [--adv-name NAME]\n"
          "  bonds      list | remove ADDR | clear   --bond-store F\n"
          "  bench      l2cap|gatt [-t T1 -t T2] [--bytes N] [--sdu N] [--reads N] [--json]\n"
          "  info       [--json] [TRANSPORT...]\n"
          "  capture    FILE COMMAND [ARGS...]\n"
          "DEVICE: ADDR, --address ADDR or --name NAME\n"
          "TRANSPORT: hci0 | uart:/dev/ttyACM0?baud=1000000&flow=1 | unix:PATH | tcp:HOST:PORT\n"
          "(default: $UVBLE_TRANSPORT, else hci0). 'uvble COMMAND --help' for more.\n");
}

static int dispatch(int argc, char **argv) {
  const char *cmd = argv[0];
  /* getopt's own messages name "uvble CMD". */
  static char prog[64];
  snprintf(prog, sizeof prog, "uvble %s", cmd);
  argv[0] = prog;
  if (!strcmp(cmd, "scan")) return cmd_scan(argc, argv);
  if (!strcmp(cmd, "gatt-dump")) return cmd_gatt_dump(argc, argv);
  if (!strcmp(cmd, "pair")) return cmd_pair(argc, argv);
  if (!strcmp(cmd, "read")) return cmd_read(argc, argv);
  if (!strcmp(cmd, "write")) return cmd_write(argc, argv);
  if (!strcmp(cmd, "subscribe")) return cmd_subscribe(argc, argv);
  if (!strcmp(cmd, "bonds")) return cmd_bonds(argc, argv);
  if (!strcmp(cmd, "bench")) return cmd_bench(argc, argv);
  if (!strcmp(cmd, "info")) return uvble_info_main(argc, argv);
  if (!strcmp(cmd, "capture")) {
    if (argc < 3) {
      fprintf(stderr, "usage: uvble capture FILE COMMAND [ARGS...]\n");
      return 2;
    }
    /* The transport layer writes the capture for every transport this
     * process opens (FILE, then FILE.1, FILE.2, ...). */
    setenv("UVBLE_BTSNOOP", argv[1], 1);
    return dispatch(argc - 2, argv + 2);
  }
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) return cli_version();
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "uvble: unknown command '%s'\n", cmd);
  usage(stderr);
  return 2;
}

int main(int argc, char **argv) {
  cli_set_prog("uvble");
  int i = 1;
  if (i + 1 < argc && !strcmp(argv[i], "--capture")) {
    setenv("UVBLE_BTSNOOP", argv[i + 1], 1);
    i += 2;
  }
  if (i >= argc) {
    usage(stderr);
    return 2;
  }
  return dispatch(argc - i, argv + i);
}
