/* SPDX-License-Identifier: Apache-2.0 */
/* uvble-info: bring up each controller named on the command line (or
 * $UVBLE_TRANSPORT, or unix:/tmp/bt-server-le) and print what it reports:
 * address, versions, manufacturer, LE features, ACL buffers and the
 * supported commands that matter to an LE host. --json prints one JSON
 * object per controller. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "uvble/uvble.h"

/* Built twice: as uvble-info, and as `uvble info` with main renamed. */
#ifdef main
#define PROG "uvble info"
#else
#define PROG "uvble-info"
#endif

static const struct {
  int bit;
  const char *name;
} le_features[] = {
    {0, "LE Encryption"},
    {1, "Connection Parameters Request"},
    {2, "Extended Reject Indication"},
    {3, "Peripheral-initiated Features Exchange"},
    {4, "LE Ping"},
    {5, "LE Data Packet Length Extension"},
    {6, "LL Privacy"},
    {7, "Extended Scanner Filter Policies"},
    {8, "LE 2M PHY"},
    {11, "LE Coded PHY"},
    {12, "LE Extended Advertising"},
    {13, "LE Periodic Advertising"},
    {14, "Channel Selection Algorithm #2"},
    {16, "Minimum Number of Used Channels"},
};

/* Supported-commands bits (Core Spec Vol 4, Part E, 6.27). */
static const struct {
  int octet, bit;
  const char *name;
} commands[] = {
    {22, 2, "Set Event Mask Page 2"},
    {27, 6, "LE Encrypt"},
    {27, 7, "LE Rand"},
    {28, 0, "LE Enable Encryption"},
    {33, 6, "LE Set Data Length"},
    {34, 0, "LE Write Suggested Default Data Length"},
    {34, 1, "LE Read Local P-256 Public Key"},
    {34, 2, "LE Generate DHKey"},
    {34, 3, "LE Add Device To Resolving List"},
    {35, 3, "LE Read Maximum Data Length"},
    {35, 5, "LE Set Default PHY"},
    {35, 6, "LE Set PHY"},
    {36, 2, "LE Set Extended Advertising Parameters"},
    {36, 6, "LE Read Maximum Advertising Data Length"},
    {37, 5, "LE Set Extended Scan Parameters"},
    {37, 7, "LE Extended Create Connection"},
    {41, 5, "LE Read Buffer Size v2"},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct job {
  const char *spec;
  uvble_t *ble;
  int status;
  bool json;
};

static void print_info(struct job *j) {
  uvble_controller_info_t in;
  if (uvble_controller_info(j->ble, &in) != 0) return;
  char addr[UVBLE_ADDR_STR_LEN];
  uvble_addr_to_str(&in.public_addr, addr);
  const char *ver = uvble_hci_version_name(in.hci_version);
  const char *lmp = uvble_hci_version_name(in.lmp_version);
  const char *man = uvble_manufacturer_name(in.manufacturer);
  if (j->json) {
    printf("{\"transport\":\"%s\",\"address\":\"%s\",\"hci_version\":%u,"
           "\"hci_version_name\":\"%s\",\"hci_revision\":%u,\"lmp_version\":%u,"
           "\"lmp_subversion\":%u,\"manufacturer\":%u,\"manufacturer_name\":\"%s\","
           "\"acl_mtu\":%u,\"acl_buffers\":%u,\"max_tx_octets\":%u,"
           "\"max_tx_time\":%u,\"max_rx_octets\":%u,\"max_rx_time\":%u,"
           "\"le_features\":[",
           j->spec, addr, in.hci_version, ver ? ver : "?", in.hci_revision,
           in.lmp_version, in.lmp_subversion, in.manufacturer, man ? man : "?",
           in.acl_mtu, in.acl_max_pkts, in.max_tx_octets, in.max_tx_time,
           in.max_rx_octets, in.max_rx_time);
    int first = 1;
    for (size_t i = 0; i < N(le_features); i++)
      if (uvble_controller_has_le_feature(j->ble, le_features[i].bit)) {
        printf("%s\"%s\"", first ? "" : ",", le_features[i].name);
        first = 0;
      }
    printf("],\"commands\":[");
    first = 1;
    for (size_t i = 0; i < N(commands); i++)
      if (uvble_controller_has_command(j->ble, commands[i].octet, commands[i].bit)) {
        printf("%s\"%s\"", first ? "" : ",", commands[i].name);
        first = 0;
      }
    printf("]}\n");
    return;
  }
  printf("Controller on %s\n", j->spec);
  printf("  Address:       %s (public)\n", addr);
  printf("  HCI version:   %s (%u), revision 0x%04x\n", ver ? ver : "unknown",
         in.hci_version, in.hci_revision);
  printf("  LMP version:   %s (%u), subversion 0x%04x\n", lmp ? lmp : "unknown",
         in.lmp_version, in.lmp_subversion);
  printf("  Manufacturer:  %s (%u)\n", man ? man : "unknown", in.manufacturer);
  printf("  ACL buffers:   %u x %u bytes\n", in.acl_max_pkts, in.acl_mtu);
  if (in.max_tx_octets)
    printf("  Data length:   tx %u octets / %u us, rx %u octets / %u us\n",
           in.max_tx_octets, in.max_tx_time, in.max_rx_octets, in.max_rx_time);
  printf("  LE features:  ");
  int any = 0;
  for (size_t i = 0; i < N(le_features); i++)
    if (uvble_controller_has_le_feature(j->ble, le_features[i].bit)) {
      printf("%s %s", any ? "," : "", le_features[i].name);
      any = 1;
    }
  printf("%s\n", any ? "" : " none");
  printf("  Commands of note:\n");
  for (size_t i = 0; i < N(commands); i++)
    printf("    [%c] %s\n",
           uvble_controller_has_command(j->ble, commands[i].octet, commands[i].bit)
               ? 'x'
               : ' ',
           commands[i].name);
  fflush(stdout);
}

static int remaining;

static void on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  struct job *j = uvble_get_data(ble);
  j->status = status;
  if (status == 0)
    print_info(j);
  else
    fprintf(stderr, PROG ": %s: %s\n", j->spec, uvble_strerror(status));
  uvble_close(ble, NULL, NULL);
  remaining--;
}

int main(int argc, char **argv) {
  bool json = false;
  const char *specs[64];
  int n = 0;
  cli_set_prog(PROG);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      printf("usage: " PROG " [--json] [-t TRANSPORT]... [TRANSPORT...]\n"
             "  TRANSPORT: hci0 | uart:/dev/ttyACM0?baud=1000000&flow=1 |\n"
             "             unix:/tmp/bt-server-le | tcp:HOST:PORT\n"
             "  default: $UVBLE_TRANSPORT, else unix:/tmp/bt-server-le\n");
      return 0;
    } else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
      return cli_version();
    } else if (argv[i][0] == '-' && strcmp(argv[i], "-t") && strcmp(argv[i], "--transport") &&
               strncmp(argv[i], "--transport=", 12)) {
      fprintf(stderr, PROG ": unknown option '%s' (see --help)\n", argv[i]);
      return 2;
    } else {
      const char *spec = argv[i];
      if (!strncmp(spec, "--transport=", 12)) {
        spec += 12;
      } else if (spec[0] == '-') { /* -t T, --transport T */
        if (i + 1 == argc) {
          fprintf(stderr, PROG ": %s: needs a TRANSPORT\n", spec);
          return 2;
        }
        spec = argv[++i];
      }
      if (n == 64) {
        fprintf(stderr, PROG ": at most 64 transports\n");
        return 2;
      }
      specs[n++] = spec;
    }
  }
  if (n == 0) {
    const char *env = getenv("UVBLE_TRANSPORT");
    specs[n++] = env && *env ? env : "unix:/tmp/bt-server-le";
  }
  uv_loop_t *loop = uv_default_loop();
  struct job jobs[64];
  int failures = 0;
  for (int i = 0; i < n; i++) {
    jobs[i] = (struct job){specs[i], NULL, 0, json};
    char err[256] = "";
    int r = uvble_new(loop, specs[i], &jobs[i].ble, err, sizeof err);
    if (r < 0) {
      /* The transport's sentence already names the controller. */
      if (err[0])
        fprintf(stderr, PROG ": %s\n", err);
      else
        fprintf(stderr, PROG ": %s: %s\n", specs[i], uvble_strerror(r));
      failures++;
      continue;
    }
    uvble_set_data(jobs[i].ble, &jobs[i]);
    r = uvble_active(jobs[i].ble, true, on_active, NULL);
    if (r < 0) {
      fprintf(stderr, PROG ": %s: %s\n", specs[i], uvble_strerror(r));
      uvble_close(jobs[i].ble, NULL, NULL);
      failures++;
      continue;
    }
    remaining++;
  }
  uv_run(loop, UV_RUN_DEFAULT);
  for (int i = 0; i < n; i++)
    if (jobs[i].ble && jobs[i].status != 0) failures++;
  uv_loop_close(loop);
  return failures ? 1 : 0;
}
