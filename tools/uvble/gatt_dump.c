/* SPDX-License-Identifier: Apache-2.0 */
/* uvble gatt-dump: connects to a device and prints its whole GATT database
 * — services, characteristics (properties, value handle, the value when
 * readable, decoded by its GATT format), descriptors (with their values) —
 * then disconnects. --json prints one JSON document instead. With
 * --bond-store the link is encrypted first, so protected values read. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "gatt_fmt.h"
#include "tool.h"
#include "uvble/gatt.h"

/* One discovery's results, grown until everything fits: a server may have
 * any number of services (nothing is cut off). */
struct list {
  void **v;
  size_t n, cap;
};

struct dval {
  int status, proto;
  uint8_t *data;
  size_t len;
};

static struct {
  bool json;
  uvble_task_t task;
  uvble_future_t f;
  struct list svcs, chrs, dscs;
  size_t i, j, k;
  struct dval val, *dvals;
  uint8_t buf[UVBLE_GATT_MAX_ATTR_LEN];
  cJSON *root, *jsvcs, *jsvc, *jchrs;
  size_t nchr_total, ndsc_total;
} D;

static bool list_fits(struct list *l, size_t found) {
  if (found <= l->cap) {
    l->n = found;
    return true;
  }
  void **v = realloc(l->v, found * sizeof *v);
  if (!v) {
    l->n = l->cap; /* keep what fits; said below */
    return true;
  }
  l->v = v;
  l->cap = found;
  return false;
}

static void dval_set(struct dval *d, const uvble_future_t *f, const uint8_t *buf) {
  free(d->data);
  *d = (struct dval){.status = f->status, .proto = f->proto_status};
  if (f->status == 0) {
    d->len = f->len < UVBLE_GATT_MAX_ATTR_LEN ? f->len : UVBLE_GATT_MAX_ATTR_LEN;
    d->data = malloc(d->len ? d->len : 1);
    if (d->data) memcpy(d->data, buf, d->len);
  }
}

static void uuid_text(const uvble_uuid_t *u) {
  char s[UVBLE_UUID_STR_LEN];
  uvble_uuid_to_str(u, s, sizeof s);
  const char *name = gatt_uuid_name(u);
  printf("%s%s%s", s, name ? " " : "", name ? name : "");
}

static cJSON *uuid_json(const uvble_uuid_t *u) {
  char s[UVBLE_UUID_STR_LEN];
  cJSON *o = cJSON_CreateObject();
  uvble_uuid_to_str(u, s, sizeof s);
  cJSON_AddStringToObject(o, "uuid", s);
  const char *name = gatt_uuid_name(u);
  if (name) cJSON_AddStringToObject(o, "name", name);
  return o;
}

static const struct {
  uint8_t bit;
  const char *name;
} PROPS[] = {{UVBLE_FLAG_BROADCAST, "broadcast"}, {UVBLE_FLAG_READ, "read"},
             {UVBLE_FLAG_WRITE_NO_RESPONSE, "write-without-response"},
             {UVBLE_FLAG_WRITE, "write"}, {UVBLE_FLAG_NOTIFY, "notify"},
             {UVBLE_FLAG_INDICATE, "indicate"}};

static void value_text(const uvble_uuid_t *u, const gatt_pf_t *pf, const struct dval *d) {
  char why[160];
  if (d->status == UVBLE_EATT)
    printf(" (read refused: %s)", cli_status(d->status, d->proto, why, sizeof why));
  else if (d->status)
    printf(" (read failed: %s)", cli_status(d->status, d->proto, why, sizeof why));
  else
    gatt_print_value(u, pf, d->data, d->len);
  printf("\n");
}

static void value_json(cJSON *o, const uvble_uuid_t *u, const gatt_pf_t *pf,
                       const struct dval *d) {
  char why[160];
  if (d->status)
    cJSON_AddStringToObject(o, "error", cli_status(d->status, d->proto, why, sizeof why));
  else
    gatt_json_value(o, u, pf, d->data, d->len);
}

/* The link as the controller reported it so far (the automatic data
 * length and PHY requests may still be under way). */
static void link_line(const uvble_connection_t *c) {
  static const char *PHY[] = {"?", "1M", "2M", "Coded"};
  uvble_conn_info_t i;
  if (uvble_connection_info(c, &i) != 0) return;
  printf("Link: LE %s/%s, data length %u/%u octets (%u/%u us), interval %.2f ms, "
         "latency %u, timeout %u ms\n",
         PHY[i.tx_phy <= 3 ? i.tx_phy : 0], PHY[i.rx_phy <= 3 ? i.rx_phy : 0],
         i.tx_octets, i.rx_octets, i.tx_time_us, i.rx_time_us, i.interval * 1.25,
         i.latency, i.supervision_timeout * 10u);
}

/* Prints (or adds to the JSON document) the characteristic D.chrs[D.j]
 * with its value and descriptors, read before. */
static void emit_characteristic(void) {
  uvble_client_characteristic_t *c = D.chrs.v[D.j];
  gatt_pf_t pf, *pfp = NULL;
  uvble_uuid_t pf_uuid = uvble_uuid16(0x2904);
  for (size_t k = 0; k < D.dscs.n; k++) {
    uvble_client_descriptor_t *d = D.dscs.v[k];
    if (uvble_uuid_equal(&d->uuid, &pf_uuid) && D.dvals[k].status == 0 &&
        gatt_pf_parse(&pf, D.dvals[k].data, D.dvals[k].len) == 0)
      pfp = &pf;
  }
  bool readable = c->properties & UVBLE_FLAG_READ;
  if (D.json) {
    cJSON *o = uuid_json(&c->uuid);
    cJSON_AddNumberToObject(o, "handle", c->value_handle);
    cJSON *p = cJSON_AddArrayToObject(o, "properties");
    for (size_t i = 0; i < sizeof PROPS / sizeof PROPS[0]; i++)
      if (c->properties & PROPS[i].bit) cJSON_AddItemToArray(p, cJSON_CreateString(PROPS[i].name));
    if (readable) value_json(o, &c->uuid, pfp, &D.val);
    cJSON *ds = cJSON_AddArrayToObject(o, "descriptors");
    for (size_t k = 0; k < D.dscs.n; k++) {
      uvble_client_descriptor_t *d = D.dscs.v[k];
      cJSON *jd = uuid_json(&d->uuid);
      cJSON_AddNumberToObject(jd, "handle", d->handle);
      value_json(jd, &d->uuid, NULL, &D.dvals[k]);
      cJSON_AddItemToArray(ds, jd);
    }
    cJSON_AddItemToArray(D.jchrs, o);
    return;
  }
  printf("  Characteristic ");
  uuid_text(&c->uuid);
  printf(" (handle 0x%04x, ", c->value_handle);
  int n = 0;
  for (size_t i = 0; i < sizeof PROPS / sizeof PROPS[0]; i++)
    if (c->properties & PROPS[i].bit) printf("%s%s", n++ ? " " : "", PROPS[i].name);
  printf(")");
  if (readable) value_text(&c->uuid, pfp, &D.val);
  else printf("\n");
  for (size_t k = 0; k < D.dscs.n; k++) {
    uvble_client_descriptor_t *d = D.dscs.v[k];
    printf("    Descriptor ");
    uuid_text(&d->uuid);
    printf(" (handle 0x%04x)", d->handle);
    value_text(&d->uuid, NULL, &D.dvals[k]);
  }
}

static void emit_service(void) {
  uvble_client_service_t *s = D.svcs.v[D.i];
  if (D.json) {
    D.jsvc = uuid_json(&s->uuid);
    cJSON_AddNumberToObject(D.jsvc, "start_handle", s->start_handle);
    cJSON_AddNumberToObject(D.jsvc, "end_handle", s->end_handle);
    D.jchrs = cJSON_AddArrayToObject(D.jsvc, "characteristics");
    cJSON_AddItemToArray(D.jsvcs, D.jsvc);
    return;
  }
  printf("Service ");
  uuid_text(&s->uuid);
  printf(" (handles 0x%04x-0x%04x)\n", s->start_handle, s->end_handle);
}

static void emit_device(void) {
  char addr[UVBLE_ADDR_STR_LEN];
  uvble_device_addr_hex(&TOOL.dev, addr);
  if (D.json) {
    D.root = cJSON_CreateObject();
    cJSON_AddStringToObject(D.root, "address", addr);
    if (TOOL.dev_name[0]) cJSON_AddStringToObject(D.root, "name", TOOL.dev_name);
    cJSON_AddNumberToObject(D.root, "mtu", uvble_connection_mtu(TOOL.conn));
    cJSON_AddBoolToObject(D.root, "encrypted", uvble_connection_encrypted(TOOL.conn));
    D.jsvcs = cJSON_AddArrayToObject(D.root, "services");
    return;
  }
  printf("Device %s%s%s%s, MTU %u%s\n", addr, TOOL.dev_name[0] ? " (" : "", TOOL.dev_name,
         TOOL.dev_name[0] ? ")" : "", uvble_connection_mtu(TOOL.conn),
         uvble_connection_encrypted(TOOL.conn) ? ", encrypted" : "");
  link_line(TOOL.conn);
}

#define STEP(t, what)                                                   \
  do {                                                                  \
    if (D.f.status) UVBLE_CO_RETURN(t, tool_ffail(what, &D.f));         \
  } while (0)

static int dump_fn(uvble_task_t *t) {
  UVBLE_CO_BEGIN(t);
  uvble_task_spawn(TOOL.sched, &TOOL.conn_task, tool_connect_fn, NULL);
  UVBLE_AWAIT(t, (uvble_task_join(&D.f, &TOOL.conn_task, 0), &D.f));
  if (D.f.status || !TOOL.conn) UVBLE_CO_RETURN(t, 1); /* said why */
  emit_device();
  do {
    UVBLE_AWAIT(t, (uvble_connection_services(&D.f, TOOL.conn, NULL,
                                              (uvble_client_service_t **)D.svcs.v,
                                              D.svcs.cap, TOOL_TIMEOUT_MS),
                    &D.f));
    STEP(t, "discovering services");
  } while (!list_fits(&D.svcs, D.f.len));
  for (D.i = 0; D.i < D.svcs.n; D.i++) {
    emit_service();
    do {
      UVBLE_AWAIT(t, (uvble_client_service_characteristics(
                          &D.f, D.svcs.v[D.i], NULL,
                          (uvble_client_characteristic_t **)D.chrs.v, D.chrs.cap,
                          TOOL_TIMEOUT_MS),
                      &D.f));
      if (D.f.status == UVBLE_ENOENT) D.f.len = 0, D.f.status = 0;
      STEP(t, "discovering characteristics");
    } while (!list_fits(&D.chrs, D.f.len));
    for (D.j = 0; D.j < D.chrs.n; D.j++) {
      D.nchr_total++;
      if (((uvble_client_characteristic_t *)D.chrs.v[D.j])->properties & UVBLE_FLAG_READ) {
        UVBLE_AWAIT(t, (uvble_client_characteristic_read(&D.f, D.chrs.v[D.j], D.buf,
                                                         sizeof D.buf, TOOL_TIMEOUT_MS),
                        &D.f));
        if (D.f.status == UVBLE_EDISCONNECTED) STEP(t, "reading");
        dval_set(&D.val, &D.f, D.buf);
      }
      do {
        UVBLE_AWAIT(t, (uvble_client_characteristic_descriptors(
                            &D.f, D.chrs.v[D.j], (uvble_client_descriptor_t **)D.dscs.v,
                            D.dscs.cap, TOOL_TIMEOUT_MS),
                        &D.f));
        if (D.f.status == UVBLE_ENOENT) D.f.len = 0, D.f.status = 0;
        STEP(t, "discovering descriptors");
      } while (!list_fits(&D.dscs, D.f.len));
      {
        struct dval *v = realloc(D.dvals, (D.dscs.n ? D.dscs.n : 1) * sizeof *v);
        if (!v) UVBLE_CO_RETURN(t, tool_fail("descriptors", UVBLE_ENOMEM));
        D.dvals = v;
        memset(D.dvals, 0, (D.dscs.n ? D.dscs.n : 1) * sizeof *v);
      }
      for (D.k = 0; D.k < D.dscs.n; D.k++) {
        D.ndsc_total++;
        UVBLE_AWAIT(t, (uvble_client_descriptor_read(&D.f, D.dscs.v[D.k], D.buf, sizeof D.buf,
                                                     TOOL_TIMEOUT_MS),
                        &D.f));
        if (D.f.status == UVBLE_EDISCONNECTED) STEP(t, "reading");
        dval_set(&D.dvals[D.k], &D.f, D.buf);
      }
      emit_characteristic();
      for (D.k = 0; D.k < D.dscs.n; D.k++) {
        free(D.dvals[D.k].data);
        D.dvals[D.k].data = NULL;
      }
    }
  }
  if (D.json) {
    cli_json_line(D.root);
    D.root = NULL;
  } else {
    printf("%zu services, %zu characteristics, %zu descriptors\n", D.svcs.n, D.nchr_total,
           D.ndsc_total);
  }
  fflush(stdout);
  UVBLE_AWAIT(t, (uvble_connection_disconnect(&D.f, TOOL.conn, TOOL_TIMEOUT_MS), &D.f));
  tool_quit(0);
  UVBLE_CO_END(t);
}

static const char USAGE[] =
    "usage: uvble gatt-dump [-t T] (--name NAME | --address ADDR | ADDR) [--json]\n"
    "                       [--bond-store FILE [--pair]]\n"
    "  --json              one JSON document (services, characteristics, descriptors)\n"
    "  --bond-store FILE   encrypt with the bond stored in FILE first (protected values)\n"
    "  --pair              no bond yet: pair (and store the bond) first\n";

int cmd_gatt_dump(int argc, char **argv) {
  static const struct option opts[] = {
      TOOL_COMMON_LONG, {"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
  tool_begin("gatt-dump");
  D.svcs.cap = D.chrs.cap = D.dscs.cap = 64;
  D.svcs.v = malloc(64 * sizeof(void *));
  D.chrs.v = malloc(64 * sizeof(void *));
  D.dscs.v = malloc(64 * sizeof(void *));
  if (!D.svcs.v || !D.chrs.v || !D.dscs.v) return 1;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, TOOL_COMMON_SHORT "j", opts, NULL)) != -1) {
    int r = tool_common_opt(c, optarg, USAGE);
    if (r == TOOL_OPT_EXIT) return 0;
    if (r == TOOL_OPT_BAD) return 2;
    if (r) continue;
    if (c == 'j') D.json = true;
    else return 2;
  }
  int r = tool_target(argc, argv, USAGE);
  if (r) return r;
  if (optind != argc) {
    fprintf(stderr, "uvble gatt-dump: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (tool_open("gatt-dump")) return 1;
  if (tool_open_store()) {
    tool_quit(1);
    return tool_run();
  }
  uvble_task_spawn(TOOL.sched, &D.task, dump_fn, NULL);
  r = tool_run();
  free(D.val.data);
  for (size_t k = 0; D.dvals && k < D.dscs.n; k++) free(D.dvals[k].data);
  free(D.dvals);
  free(D.svcs.v);
  free(D.chrs.v);
  free(D.dscs.v);
  cJSON_Delete(D.root);
  return r;
}
