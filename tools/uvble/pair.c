/* uvble pair: connects to a device and pairs (bonding by default),
 * answering passkey prompts on the terminal; with --bond-store the keys
 * are kept in uvble's encrypted bond store, so a later `uvble pair` with
 * the same store re-encrypts without pairing again. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"
#include "uvble/security.h"

static struct {
  uvble_pair_params_t params;
  const char *store;
  uvble_task_t task, pk_task;
  uvble_future_t f, pk, line_f;
  char line[64];
} P;

static bool yes(const char *s) { return s[0] == 'y' || s[0] == 'Y'; }

/* Passkey prompts. The answer is read from stdin while the loop runs on
 * (the link and its timers stay served); the SMP timeout (30 s) is the
 * user's limit. */
static int passkey_fn(uvble_task_t *t) {
  UVBLE_CO_BEGIN(t);
  for (;;) {
    UVBLE_AWAIT(t, (uvble_connection_passkey_action(&P.pk, TOOL.conn, 0), &P.pk));
    if (P.pk.status) break;
    if (P.pk.result.passkey.action == UVBLE_PASSKEY_ACTION_DISPLAY) {
      printf("passkey: %06u (type it on the device)\n", P.pk.result.passkey.passkey);
      fflush(stdout);
      continue;
    }
    if (P.pk.result.passkey.action == UVBLE_PASSKEY_ACTION_INPUT)
      printf("enter the passkey the device shows: ");
    else if (P.pk.result.passkey.action == UVBLE_PASSKEY_ACTION_NUMCMP)
      printf("does the device show %06u? [y/n] ", P.pk.result.passkey.passkey);
    else
      continue;
    fflush(stdout);
    UVBLE_AWAIT(t, (tool_read_line(&P.line_f, P.line, sizeof P.line, 30000), &P.line_f));
    if (P.line_f.status == UVBLE_ECANCELED) break;
    if (!isatty(0)) putchar('\n'); /* a terminal echoed the user's own */
    if (P.pk.result.passkey.action == UVBLE_PASSKEY_ACTION_INPUT) {
      if (P.line_f.status) /* end of input or no answer in time */
        UVBLE_CO_RETURN(t, tool_fail("pair", "reading the passkey", P.line_f.status));
      uvble_connection_passkey(TOOL.conn, UVBLE_PASSKEY_ACTION_INPUT,
                               (uint32_t)strtoul(P.line, NULL, 10));
    } else {
      uvble_connection_passkey(TOOL.conn, UVBLE_PASSKEY_ACTION_NUMCMP,
                               P.line_f.status == 0 && yes(P.line));
    }
  }
  UVBLE_CO_END(t);
}

static int pair_fn(uvble_task_t *t) {
  char addr[UVBLE_ADDR_STR_LEN];
  UVBLE_CO_BEGIN(t);
  uvble_task_spawn(TOOL.sched, &TOOL.find_task, find_fn, NULL);
  UVBLE_AWAIT(t, (uvble_task_join(&P.f, &TOOL.find_task, 0), &P.f));
  if (P.f.status)
    UVBLE_CO_RETURN(t, tool_fail("pair", TOOL.address ? TOOL.address : TOOL.name, P.f.status));
  UVBLE_AWAIT(t, (uvble_device_connect(&P.f, TOOL.a, &TOOL.dev, NULL, TOOL_TIMEOUT_MS), &P.f));
  if (P.f.status) UVBLE_CO_RETURN(t, tool_fail("pair", "connecting", P.f.status));
  TOOL.conn = P.f.result.conn;
  printf("connected to %s\n", uvble_device_addr_hex(&TOOL.dev, addr));
  uvble_task_spawn(TOOL.sched, &P.pk_task, passkey_fn, NULL);
  UVBLE_AWAIT(t, (uvble_connection_pair(&P.f, TOOL.conn, &P.params, 35000), &P.f));
  if (P.f.status == UVBLE_ESMP) {
    printf("pairing failed: SMP reason 0x%02x\n", P.f.proto_status);
    tool_quit(1);
    UVBLE_CO_RETURN(t, 1);
  }
  if (P.f.status) UVBLE_CO_RETURN(t, tool_fail("pair", "pairing", P.f.status));
  printf("paired: encrypted %s, authenticated %s, bonded %s, key size %u\n",
         uvble_connection_encrypted(TOOL.conn) ? "yes" : "no",
         uvble_connection_authenticated(TOOL.conn) ? "yes" : "no",
         uvble_connection_bonded(TOOL.conn) ? "yes" : "no",
         uvble_connection_key_size(TOOL.conn));
  fflush(stdout);
  UVBLE_AWAIT(t, (uvble_connection_disconnect(&P.f, TOOL.conn, TOOL_TIMEOUT_MS), &P.f));
  tool_quit(0);
  UVBLE_CO_END(t);
}

static const char *IO_NAMES[] = {"display", "yesno", "keyboard", "none", "keyboard-display"};

int cmd_pair(int argc, char **argv) {
  static const struct option opts[] = {
      {"transport", required_argument, NULL, 't'},
      {"name", required_argument, NULL, 'n'},
      {"address", required_argument, NULL, 'a'},
      {"io", required_argument, NULL, 'i'},
      {"mitm", no_argument, NULL, 'm'},
      {"legacy", no_argument, NULL, 'l'},
      {"no-bond", no_argument, NULL, 'b'},
      {"bond-store", required_argument, NULL, 's'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  static const char *usage =
      "usage: uvble pair [-t T] (--name NAME | --address ADDR | ADDR)\n"
      "                  [--io display|yesno|keyboard|none|keyboard-display]\n"
      "                  [--mitm] [--legacy] [--no-bond] [--bond-store FILE]\n"
      "  --bond-store FILE  keep bonds in FILE (encrypted; its key in FILE.key)\n";
  uvble_pair_params_default(&P.params);
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "t:n:a:i:mlbs:h", opts, NULL)) != -1) {
    if (tool_common_opt(c, optarg)) continue;
    switch (c) {
      case 'i': {
        int k = -1;
        for (int j = 0; j < 5; j++)
          if (!strcmp(optarg, IO_NAMES[j])) k = j;
        if (k < 0) {
          fputs(usage, stderr);
          return 2;
        }
        P.params.io = k;
        break;
      }
      case 'm': P.params.mitm = true; break;
      case 'l': P.params.le_secure = false; break;
      case 'b': P.params.bond = false; break;
      case 's': P.store = optarg; break;
      case 'h': fputs(usage, stdout); return 0;
      default: fputs(usage, stderr); return 2;
    }
  }
  if (optind < argc) TOOL.address = argv[optind++];
  if (optind != argc || (!TOOL.name && !TOOL.address)) {
    fputs(usage, stderr);
    return 2;
  }
  if (tool_open("pair")) return 1;
  if (P.store) {
    char key[4096], err[256] = "";
    snprintf(key, sizeof key, "%s.key", P.store);
    if (uvble_bond_store_open(TOOL.ble, P.store, key, NULL, err, sizeof err) < 0) {
      fprintf(stderr, "uvble pair: %s\n", err);
      tool_quit(1);
      return tool_run();
    }
  }
  uvble_task_spawn(TOOL.sched, &P.task, pair_fn, NULL);
  return tool_run();
}
