/* uvble gatt-dump: connects to a device and prints its GATT database —
 * services, characteristics (properties, value handle, the value when
 * readable), descriptors (with their values) — then disconnects. */
#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"
#include "uvble/gatt.h"

#define MAX_SVC 64
#define MAX_CHR 64
#define MAX_DSC 16

static struct {
  uvble_task_t task;
  uvble_future_t f;
  uvble_client_service_t *svcs[MAX_SVC];
  uvble_client_characteristic_t *chrs[MAX_CHR];
  uvble_client_descriptor_t *dscs[MAX_DSC];
  size_t nsvc, nchr, ndsc, i, j, k;
  uint8_t buf[UVBLE_GATT_MAX_ATTR_LEN];
} D;

static const struct {
  const char *uuid, *name;
} NAMES[] = {
    {"1800", "Generic Access"}, {"1801", "Generic Attribute"},
    {"180a", "Device Information"}, {"180f", "Battery"},
    {"181a", "Environmental Sensing"}, {"2a00", "Device Name"},
    {"2a01", "Appearance"}, {"2a05", "Service Changed"},
    {"2a19", "Battery Level"}, {"2a21", "Measurement Interval"},
    {"2a24", "Model Number String"}, {"2a29", "Manufacturer Name String"},
    {"2a6e", "Temperature"}, {"2a6f", "Humidity"},
    {"2900", "Characteristic Extended Properties"},
    {"2901", "Characteristic User Description"},
    {"2902", "Client Characteristic Configuration"},
    {"6e400001-b5a3-f393-e0a9-e50e24dcca9e", "Nordic UART Service"},
    {"6e400002-b5a3-f393-e0a9-e50e24dcca9e", "NUS RX"},
    {"6e400003-b5a3-f393-e0a9-e50e24dcca9e", "NUS TX"},
};

static void uuid_line(const uvble_uuid_t *u) {
  char s[UVBLE_UUID_STR_LEN];
  uvble_uuid_to_str(u, s, sizeof s);
  printf("%s", s);
  for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
    if (!strcmp(NAMES[i].uuid, s)) printf(" %s", NAMES[i].name);
}

static void value(const uint8_t *v, size_t n) {
  bool text = n > 0;
  for (size_t i = 0; i < n; i++)
    if (!isprint(v[i])) text = false;
  printf(" =");
  if (text) {
    printf(" \"%.*s\"", (int)n, (const char *)v);
  } else {
    for (size_t i = 0; i < n && i < 64; i++) printf(" %02x", v[i]);
    if (n > 64) printf(" ... (%zu bytes)", n);
    if (!n) printf(" (empty)");
  }
}

static void outcome(const uvble_future_t *f) {
  if (f->status == UVBLE_EATT)
    printf(" (read refused: ATT error 0x%02x)", f->proto_status);
  else if (f->status)
    printf(" (read failed: %s)", uvble_strerror(f->status));
  else
    value(D.buf, f->len < sizeof D.buf ? f->len : sizeof D.buf);
  printf("\n");
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

static void props(uint8_t p) {
  static const struct {
    uint8_t bit;
    const char *name;
  } P[] = {{UVBLE_FLAG_BROADCAST, "broadcast"}, {UVBLE_FLAG_READ, "read"},
           {UVBLE_FLAG_WRITE_NO_RESPONSE, "write-without-response"},
           {UVBLE_FLAG_WRITE, "write"}, {UVBLE_FLAG_NOTIFY, "notify"},
           {UVBLE_FLAG_INDICATE, "indicate"}};
  int k = 0;
  for (size_t i = 0; i < sizeof P / sizeof P[0]; i++)
    if (p & P[i].bit) printf("%s%s", k++ ? " " : "", P[i].name);
}

#define STEP(t, what)                                                     \
  do {                                                                    \
    if (D.f.status) UVBLE_CO_RETURN(t, tool_fail("gatt-dump", what, D.f.status)); \
  } while (0)

static int dump_fn(uvble_task_t *t) {
  char addr[UVBLE_ADDR_STR_LEN];
  UVBLE_CO_BEGIN(t);
  uvble_task_spawn(TOOL.sched, &TOOL.find_task, find_fn, NULL);
  UVBLE_AWAIT(t, (uvble_task_join(&D.f, &TOOL.find_task, 0), &D.f));
  STEP(t, TOOL.address ? TOOL.address : TOOL.name);
  UVBLE_AWAIT(t, (uvble_device_connect(&D.f, TOOL.a, &TOOL.dev, NULL, TOOL_TIMEOUT_MS), &D.f));
  STEP(t, "connecting");
  TOOL.conn = D.f.result.conn;
  UVBLE_AWAIT(t, (uvble_connection_exchange_mtu(&D.f, TOOL.conn, 247, TOOL_TIMEOUT_MS), &D.f));
  printf("Device %s%s%s%s, MTU %u\n", uvble_device_addr_hex(&TOOL.dev, addr),
         TOOL.dev_name[0] ? " (" : "", TOOL.dev_name, TOOL.dev_name[0] ? ")" : "",
         uvble_connection_mtu(TOOL.conn));
  link_line(TOOL.conn);
  UVBLE_AWAIT(t, (uvble_connection_services(&D.f, TOOL.conn, NULL, D.svcs, MAX_SVC,
                                            TOOL_TIMEOUT_MS),
                  &D.f));
  STEP(t, "discovering services");
  D.nsvc = D.f.len < MAX_SVC ? D.f.len : MAX_SVC;
  for (D.i = 0; D.i < D.nsvc; D.i++) {
    printf("Service ");
    uuid_line(&D.svcs[D.i]->uuid);
    printf(" (handles 0x%04x-0x%04x)\n", D.svcs[D.i]->start_handle, D.svcs[D.i]->end_handle);
    UVBLE_AWAIT(t, (uvble_client_service_characteristics(&D.f, D.svcs[D.i], NULL, D.chrs,
                                                         MAX_CHR, TOOL_TIMEOUT_MS),
                    &D.f));
    if (D.f.status == UVBLE_ENOENT) continue;
    STEP(t, "discovering characteristics");
    D.nchr = D.f.len < MAX_CHR ? D.f.len : MAX_CHR;
    for (D.j = 0; D.j < D.nchr; D.j++) {
      printf("  Characteristic ");
      uuid_line(&D.chrs[D.j]->uuid);
      printf(" (handle 0x%04x, ", D.chrs[D.j]->value_handle);
      props(D.chrs[D.j]->properties);
      printf(")");
      if (D.chrs[D.j]->properties & UVBLE_FLAG_READ) {
        UVBLE_AWAIT(t, (uvble_client_characteristic_read(&D.f, D.chrs[D.j], D.buf,
                                                         sizeof D.buf, TOOL_TIMEOUT_MS),
                        &D.f));
        if (D.f.status == UVBLE_EDISCONNECTED) STEP(t, "reading");
        outcome(&D.f);
      } else {
        printf("\n");
      }
      UVBLE_AWAIT(t, (uvble_client_characteristic_descriptors(&D.f, D.chrs[D.j], D.dscs,
                                                              MAX_DSC, TOOL_TIMEOUT_MS),
                      &D.f));
      if (D.f.status == UVBLE_ENOENT) continue;
      STEP(t, "discovering descriptors");
      D.ndsc = D.f.len < MAX_DSC ? D.f.len : MAX_DSC;
      for (D.k = 0; D.k < D.ndsc; D.k++) {
        printf("    Descriptor ");
        uuid_line(&D.dscs[D.k]->uuid);
        printf(" (handle 0x%04x)", D.dscs[D.k]->handle);
        UVBLE_AWAIT(t, (uvble_client_descriptor_read(&D.f, D.dscs[D.k], D.buf, sizeof D.buf,
                                                     TOOL_TIMEOUT_MS),
                        &D.f));
        if (D.f.status == UVBLE_EDISCONNECTED) STEP(t, "reading");
        outcome(&D.f);
      }
    }
  }
  fflush(stdout);
  UVBLE_AWAIT(t, (uvble_connection_disconnect(&D.f, TOOL.conn, TOOL_TIMEOUT_MS), &D.f));
  tool_quit(0);
  UVBLE_CO_END(t);
}

int cmd_gatt_dump(int argc, char **argv) {
  static const struct option opts[] = {
      {"transport", required_argument, NULL, 't'},
      {"name", required_argument, NULL, 'n'},
      {"address", required_argument, NULL, 'a'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "t:n:a:h", opts, NULL)) != -1) {
    if (tool_common_opt(c, optarg)) continue;
    if (c == 'h') {
      printf("usage: uvble gatt-dump [-t T] (--name NAME | --address ADDR | ADDR)\n");
      return 0;
    }
    return 2;
  }
  if (optind < argc) TOOL.address = argv[optind++];
  if (optind != argc || (!TOOL.name && !TOOL.address)) {
    fprintf(stderr, "usage: uvble gatt-dump [-t T] (--name NAME | --address ADDR | ADDR)\n");
    return 2;
  }
  if (tool_open("gatt-dump")) return 1;
  uvble_task_spawn(TOOL.sched, &D.task, dump_fn, NULL);
  return tool_run();
}
