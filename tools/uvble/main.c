/* uvble: the command-line tool, in the spirit of Bumble's apps and BlueZ's
 * tools.
 *
 *   uvble [--capture FILE] COMMAND [ARGS...]
 *
 *   scan       what is advertising (one line per device update)
 *   gatt-dump  services, characteristics, descriptors and readable values
 *              of a device
 *   pair       pair with a device (and bond), answering passkey prompts
 *   bench      L2CAP throughput between two controllers
 *   info       what a controller reports (as uvble-info)
 *   capture    uvble capture FILE COMMAND ARGS...: write a btsnoop capture
 *              of everything COMMAND does (read it with btmon -r FILE or
 *              Wireshark)
 *
 * Every command takes -t TRANSPORT (default $UVBLE_TRANSPORT, else hci0)
 * and --help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: uvble [--capture FILE] COMMAND [ARGS...]\n"
          "commands:\n"
          "  scan       [-t T] [--duration SEC] [--passive] [--json]\n"
          "  gatt-dump  [-t T] (--name NAME | --address ADDR | ADDR)\n"
          "  pair       [-t T] (--name NAME | --address ADDR | ADDR) [--io CAP] [--mitm]\n"
          "             [--legacy] [--no-bond] [--bond-store FILE]\n"
          "  bench      l2cap [-t T1 -t T2] [--bytes N] [--sdu N]\n"
          "  info       [--json] [TRANSPORT...]\n"
          "  capture    FILE COMMAND [ARGS...]\n"
          "TRANSPORT: hci0 | uart:/dev/ttyACM0?baud=1000000&flow=1 | unix:PATH | tcp:HOST:PORT\n"
          "(default: $UVBLE_TRANSPORT, else hci0). 'uvble COMMAND --help' for more.\n");
}

static int dispatch(int argc, char **argv) {
  const char *cmd = argv[0];
  if (!strcmp(cmd, "scan")) return cmd_scan(argc, argv);
  if (!strcmp(cmd, "gatt-dump")) return cmd_gatt_dump(argc, argv);
  if (!strcmp(cmd, "pair")) return cmd_pair(argc, argv);
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
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "uvble: unknown command '%s'\n", cmd);
  usage(stderr);
  return 2;
}

int main(int argc, char **argv) {
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
