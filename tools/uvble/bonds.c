/* SPDX-License-Identifier: Apache-2.0 */
/* uvble bonds: what a bond store holds, and forgetting bonds.
 *
 *   uvble bonds list   --bond-store FILE [--json]
 *   uvble bonds remove ADDR --bond-store FILE
 *   uvble bonds clear  --bond-store FILE
 *
 * No controller is needed: the stack runs over an in-memory transport
 * that is never started. */
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"
#include "uvble/security.h"

static const char USAGE[] =
    "usage: uvble bonds list [--json] --bond-store FILE\n"
    "       uvble bonds remove ADDR --bond-store FILE\n"
    "       uvble bonds clear --bond-store FILE\n"
    "  FILE: the store `uvble pair --bond-store FILE` wrote (its key in FILE.key)\n";

static void on_closed(uvble_transport_t *t, void *arg) {
  (void)t;
  (void)arg;
}

static int list(uvble_t *ble, bool json) {
  uvble_bond_info_t b[256];
  int n = uvble_bond_list(ble, b, 256);
  if (n < 0) {
    fprintf(stderr, "uvble bonds: listing: %s\n", uvble_strerror(n));
    return 1;
  }
  cJSON *arr = json ? cJSON_CreateArray() : NULL;
  for (int i = 0; i < n && i < 256; i++) {
    char a[UVBLE_ADDR_STR_LEN];
    uvble_addr_to_str(&b[i].identity, a);
    const char *type = b[i].identity.type ? "random" : "public";
    if (json) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "address", a);
      cJSON_AddStringToObject(o, "type", type);
      cJSON_AddNumberToObject(o, "key_size", b[i].key_size);
      cJSON_AddBoolToObject(o, "authenticated", b[i].authenticated);
      cJSON_AddBoolToObject(o, "secure_connections", b[i].secure_connections);
      cJSON_AddBoolToObject(o, "irk", b[i].peer_irk);
      cJSON_AddItemToArray(arr, o);
    } else {
      printf("%s %-6s key size %u, %s, %s%s\n", a, type, b[i].key_size,
             b[i].secure_connections ? "LE Secure Connections" : "legacy",
             b[i].authenticated ? "authenticated" : "unauthenticated",
             b[i].peer_irk ? ", IRK (private addresses resolve)" : "");
    }
  }
  if (json) cli_json_line(arr);
  else if (n == 0) printf("no bonds\n");
  if (n > 256) fprintf(stderr, "uvble bonds: %d more not shown\n", n - 256);
  return 0;
}

int cmd_bonds(int argc, char **argv) {
  static const struct option opts[] = {{"bond-store", required_argument, NULL, 'S'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"version", no_argument, NULL, 'V'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  cli_set_prog("uvble bonds");
  const char *store = NULL;
  bool json = false;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "S:jVh", opts, NULL)) != -1) {
    switch (c) {
      case 'S': store = optarg; break;
      case 'j': json = true; break;
      case 'V': return cli_version();
      case 'h': fputs(USAGE, stdout); return 0;
      default: return 2;
    }
  }
  static const char *const SUBS[] = {"list", "remove", "clear"};
  int sub;
  if (optind == argc) {
    fprintf(stderr, "uvble bonds: list, remove ADDR or clear?\n%s", USAGE);
    return 2;
  }
  if (cli_choice("COMMAND", argv[optind++], SUBS, 3, &sub) < 0) return 2;
  uvble_addr_t addr = {0};
  if (sub == 1) {
    if (optind == argc) {
      fprintf(stderr, "uvble bonds remove: which ADDR?\n");
      return 2;
    }
    if (cli_addr("ADDR", argv[optind++], &addr) < 0) return 2;
  }
  if (optind != argc) {
    fprintf(stderr, "uvble bonds: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (!store) {
    fprintf(stderr, "uvble bonds: --bond-store FILE: which store?\n");
    return 2;
  }
  if (access(store, F_OK) != 0) {
    fprintf(stderr, "uvble bonds: --bond-store %s: no such store (uvble pair --bond-store %s "
                    "makes one)\n", store, store);
    return 1;
  }
  uv_loop_t *loop = uv_default_loop();
  uvble_transport_t *a, *b;
  uvble_t *ble = NULL;
  int r = uvble_transport_mem_pair(loop, &a, &b);
  if (r == 0) r = uvble_new_with_transport(loop, a, &ble);
  int code = 1;
  char key[4096], err[256] = "";
  snprintf(key, sizeof key, "%s.key", store);
  if (r < 0) {
    fprintf(stderr, "uvble bonds: %s\n", uvble_strerror(r));
  } else if ((r = uvble_bond_store_open(ble, store, key, NULL, err, sizeof err)) < 0) {
    fprintf(stderr, "uvble bonds: --bond-store %s: %s\n", store, err[0] ? err : uvble_strerror(r));
  } else if (sub == 0) {
    code = list(ble, json);
  } else if (sub == 1) {
    /* The identity is public or static random: try both types. */
    addr.type = UVBLE_ADDR_PUBLIC;
    r = uvble_forget_bond(ble, &addr);
    if (r == UVBLE_ENOENT) {
      addr.type = UVBLE_ADDR_RANDOM;
      r = uvble_forget_bond(ble, &addr);
    }
    char s[UVBLE_ADDR_STR_LEN];
    if (r == UVBLE_ENOENT)
      fprintf(stderr, "uvble bonds: no bond with %s in %s\n", uvble_addr_to_str(&addr, s), store);
    else if (r < 0)
      fprintf(stderr, "uvble bonds: removing: %s\n", uvble_strerror(r));
    else
      printf("removed the bond with %s\n", uvble_addr_to_str(&addr, s));
    code = r < 0;
  } else {
    int n = uvble_bond_list(ble, NULL, 0);
    r = uvble_erase_bonding(ble);
    if (r < 0) fprintf(stderr, "uvble bonds: clearing: %s\n", uvble_strerror(r));
    else printf("removed %d bond%s\n", n, n == 1 ? "" : "s");
    code = r < 0;
  }
  if (ble) uvble_close(ble, NULL, NULL);
  if (b) uvble_transport_close(b, on_closed, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return code;
}
