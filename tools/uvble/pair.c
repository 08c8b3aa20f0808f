/* SPDX-License-Identifier: Apache-2.0 */
/* uvble pair: pairs with a device (bonding by default), answering passkey
 * prompts on the terminal. As a central it finds and connects to the
 * device; with --wait it is the peripheral: it advertises and accepts the
 * central that connects and pairs. With --bond-store the keys are kept in
 * uvble's encrypted bond store, so a later `uvble pair` (or read, write,
 * subscribe, gatt-dump with --bond-store) re-encrypts without pairing.
 * A stored bond the device no longer has is never replaced silently:
 * --repair removes it and pairs again, on the user's word. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"
#include "uvble/gap.h"
#include "uvble/security.h"

static struct {
  bool wait, repair;
  const char *adv_name;
  unsigned wait_s;
  uvble_task_t task;
  uvble_future_t f;
} P;

static void print_result(void) {
  printf("paired: encrypted %s, authenticated %s, bonded %s, key size %u\n",
         uvble_connection_encrypted(TOOL.conn) ? "yes" : "no",
         uvble_connection_authenticated(TOOL.conn) ? "yes" : "no",
         uvble_connection_bonded(TOOL.conn) ? "yes" : "no",
         uvble_connection_key_size(TOOL.conn));
  fflush(stdout);
}

/* The central: find, connect, (with --repair) forget the stale bond, pair. */
static int pair_fn(uvble_task_t *t) {
  char addr[UVBLE_ADDR_STR_LEN];
  uvble_addr_t id;
  UVBLE_CO_BEGIN(t);
  uvble_task_spawn(TOOL.sched, &TOOL.find_task, find_fn, NULL);
  UVBLE_AWAIT(t, (uvble_task_join(&P.f, &TOOL.find_task, 0), &P.f));
  if (P.f.status == UVBLE_ENOENT) {
    fprintf(stderr, "uvble pair: device %s not found within %d s\n",
            TOOL.address ? TOOL.address : TOOL.name, TOOL_FIND_S);
    tool_quit(1);
    UVBLE_CO_RETURN(t, 1);
  }
  if (P.f.status) UVBLE_CO_RETURN(t, tool_ffail(TOOL.address ? TOOL.address : TOOL.name, &P.f));
  if (P.repair && tool_have_bond(&id)) {
    int r = uvble_forget_bond(TOOL.ble, &id);
    if (r < 0) UVBLE_CO_RETURN(t, tool_fail("removing the stale bond", r));
    printf("removed the stored bond with %s\n", uvble_addr_to_str(&id, addr));
  }
  UVBLE_AWAIT(t, (uvble_device_connect(&P.f, TOOL.a, &TOOL.dev, NULL, TOOL_TIMEOUT_MS), &P.f));
  if (P.f.status) UVBLE_CO_RETURN(t, tool_ffail("connecting", &P.f));
  TOOL.conn = P.f.result.conn;
  printf("connected to %s\n", uvble_device_addr_hex(&TOOL.dev, addr));
  uvble_task_spawn(TOOL.sched, &TOOL.pk_task, tool_passkey_fn, NULL);
  UVBLE_AWAIT(t, (uvble_connection_pair(&P.f, TOOL.conn, &TOOL.pair_params, 35000), &P.f));
  if (P.f.status) {
    tool_pair_failed(&P.f);
    tool_quit(1);
    UVBLE_CO_RETURN(t, 1);
  }
  print_result();
  UVBLE_AWAIT(t, (uvble_connection_disconnect(&P.f, TOOL.conn, TOOL_TIMEOUT_MS), &P.f));
  tool_quit(0);
  UVBLE_CO_END(t);
}

/* The peripheral: advertise, accept one central, wait for its pairing
 * (a Security Request invites it), report, then wait for it to leave. */
static int wait_fn(uvble_task_t *t) {
  char addr[UVBLE_ADDR_STR_LEN];
  UVBLE_CO_BEGIN(t);
  UVBLE_AWAIT(t, (uvble_async_start(&P.f, TOOL.a, TOOL_TIMEOUT_MS), &P.f));
  if (P.f.status) UVBLE_CO_RETURN(t, tool_ffail("starting", &P.f));
  {
    uvble_addr_t own;
    uvble_config_get_mac(TOOL.ble, &own);
    uvble_advertise_params_t p;
    uvble_advertise_params_init(&p);
    p.interval_us = 100000;
    p.fields.name = P.adv_name;
    printf("advertising as %s (%s); waiting %u s for a central to pair\n",
           uvble_addr_to_str(&own, addr), P.adv_name, P.wait_s);
    fflush(stdout);
    uvble_advertise(&P.f, TOOL.a, &p, P.wait_s * 1000u);
  }
  UVBLE_AWAIT(t, &P.f);
  if (P.f.status == UVBLE_ETIMEDOUT) {
    fprintf(stderr, "uvble pair: no central connected within %u s\n", P.wait_s);
    tool_quit(1);
    UVBLE_CO_RETURN(t, 1);
  }
  if (P.f.status) UVBLE_CO_RETURN(t, tool_ffail("advertising", &P.f));
  TOOL.conn = P.f.result.conn;
  printf("connected from %s\n",
         uvble_device_addr_hex(uvble_connection_device(TOOL.conn), addr));
  fflush(stdout);
  uvble_task_spawn(TOOL.sched, &TOOL.pk_task, tool_passkey_fn, NULL);
  /* A quick central may have paired already (then there is nothing to
   * wait for), or may pair and leave while we wait. */
  if (!uvble_connection_encrypted(TOOL.conn)) {
    UVBLE_AWAIT(t, (uvble_connection_pair(&P.f, TOOL.conn, &TOOL.pair_params, 35000), &P.f));
    if (P.f.status && !(P.f.status == UVBLE_EDISCONNECTED &&
                        uvble_connection_encrypted(TOOL.conn))) {
      tool_pair_failed(&P.f);
      tool_quit(1);
      UVBLE_CO_RETURN(t, 1);
    }
  }
  print_result();
  /* The central decides when the link ends (its last key PDUs may still
   * be on the way); bounded. */
  UVBLE_AWAIT(t, (uvble_connection_disconnected(&P.f, TOOL.conn, 5000), &P.f));
  tool_quit(0);
  UVBLE_CO_END(t);
}

static const char *const IO_NAMES[] = {"display", "yesno", "keyboard", "none",
                                       "keyboard-display"};

static const char USAGE[] =
    "usage: uvble pair [-t T] (--name NAME | --address ADDR | ADDR)\n"
    "                  [--io display|yesno|keyboard|none|keyboard-display]\n"
    "                  [--mitm] [--legacy] [--no-bond] [--bond-store FILE] [--repair]\n"
    "       uvble pair --wait [SEC] [--adv-name NAME] [options as above]\n"
    "  --bond-store FILE  keep bonds in FILE (encrypted; its key in FILE.key)\n"
    "  --repair           the device lost our bond: remove ours and pair again\n"
    "  --wait [SEC]       be the peripheral: advertise (as --adv-name, default\n"
    "                     uvble-pair) and accept the central that pairs (default 60 s)\n";

int cmd_pair(int argc, char **argv) {
  static const struct option opts[] = {
      TOOL_COMMON_LONG,
      {"io", required_argument, NULL, 'i'},
      {"mitm", no_argument, NULL, 'm'},
      {"legacy", no_argument, NULL, 'l'},
      {"no-bond", no_argument, NULL, 'b'},
      {"repair", no_argument, NULL, 'r'},
      {"wait", optional_argument, NULL, 'w'},
      {"adv-name", required_argument, NULL, 'N'},
      {NULL, 0, NULL, 0}};
  tool_begin("pair");
  P.adv_name = "uvble-pair";
  P.wait_s = 60;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, TOOL_COMMON_SHORT "i:mlbrw::N:", opts, NULL)) != -1) {
    int r = tool_common_opt(c, optarg, USAGE);
    if (r == TOOL_OPT_EXIT) return 0;
    if (r == TOOL_OPT_BAD) return 2;
    if (r) continue;
    switch (c) {
      case 'i':
        if (cli_choice("--io", optarg, IO_NAMES, 5, &TOOL.pair_params.io) < 0) return 2;
        break;
      case 'm': TOOL.pair_params.mitm = true; break;
      case 'l': TOOL.pair_params.le_secure = false; break;
      case 'b': TOOL.pair_params.bond = false; break;
      case 'r': P.repair = true; break;
      case 'w': {
        P.wait = true;
        uint64_t s;
        /* --wait=SEC, or --wait SEC when the next word is a number */
        const char *v = optarg ? optarg
                               : (optind < argc && argv[optind][0] >= '0' &&
                                  argv[optind][0] <= '9') ? argv[optind++] : NULL;
        if (v && cli_uint("--wait", v, 1, 86400, CLI_DEC, &s) < 0) return 2;
        if (v) P.wait_s = (unsigned)s;
        break;
      }
      case 'N': P.adv_name = optarg; break;
      default: return 2;
    }
  }
  if (P.repair && !TOOL.store) {
    fprintf(stderr, "uvble pair: --repair: needs --bond-store FILE (the store that holds the stale bond)\n");
    return 2;
  }
  if (P.wait) {
    if (optind != argc || TOOL.name || TOOL.address) {
      fprintf(stderr, "uvble pair: --wait: the central comes to us; give no device\n");
      return 2;
    }
  } else {
    int r = tool_target(argc, argv, USAGE);
    if (r) return r;
  }
  if (optind != argc) {
    fprintf(stderr, "uvble pair: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (tool_open("pair")) return 1;
  if (tool_open_store()) {
    tool_quit(1);
    return tool_run();
  }
  uvble_task_spawn(TOOL.sched, &P.task, P.wait ? wait_fn : pair_fn, NULL);
  return tool_run();
}
