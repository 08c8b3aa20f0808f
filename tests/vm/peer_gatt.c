/* SPDX-License-Identifier: Apache-2.0 */
/* vm_peer's GATT steps: uvble's server for BlueZ's client, uvble's client
 * for BlueZ's server.
 *
 * VALUE is hex digits ("4142") or pat:N:S, N bytes where byte i is
 * (S + i) & 0xff (a long value without a long command line; the scenario's
 * shell makes the same bytes).
 *
 * Server (the test service 12345678-1234-5678-1234-56789abc0000, its
 * characteristics ...0001 read/write/write-without-response with a 512-byte
 * buffer, ...0002 read/notify, ...0003 read/indicate; IDX is 1, 2 or 3):
 *   gatts-register         registers it (the GAP name is the advertised one)
 *   gatts-set=IDX,VALUE    sets the value, tells no one
 *   wait-write=IDX,VALUE   waits until a peer's write made the value VALUE
 *   wait-subscribed=IDX    waits until the peer wrote the CCCD
 *   notify=IDX,VALUE       sets the value and notifies it; done at once
 *   indicate=IDX,VALUE     sets the value and indicates it; done when the
 *                          client confirmed (GATTS_INDICATE_DONE status 0)
 * Client (CUUID: a characteristic's UUID):
 *   mtu                    exchanges the MTU; done at MTU_EXCHANGED
 *   discover=SUUID         finds the service, its characteristics and
 *                          descriptors (each printed)
 *   read=CUUID,VALUE       reads (long values with Read Blob); must be VALUE
 *   write=CUUID,VALUE      Write Request (long: prepared writes); WRITE_DONE 0
 *   write-cmd=CUUID,VALUE  Write Command; done at once
 *   subscribe=CUUID,N      writes N (1 notify, 2 indicate) to its CCCD
 *   wait-notify=CUUID,VALUE  waits for a notification or indication of it
 *                          carrying VALUE (one that came earlier counts)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"
#include "uvble/gattc.h"
#include "uvble/gatts.h"

const char peer_gatt_usage[] =
    "gatt steps: gatts-register gatts-set=IDX,VALUE wait-write=IDX,VALUE wait-subscribed=IDX\n"
    "  notify=IDX,VALUE indicate=IDX,VALUE mtu discover=SUUID read=CUUID,VALUE\n"
    "  write=CUUID,VALUE write-cmd=CUUID,VALUE subscribe=CUUID,N wait-notify=CUUID,VALUE\n";

#define NCHARS 3
#define MAX_FOUND 16
#define MAX_HEARD 16

static uint16_t srv_handles[NCHARS];
static bool registered;

struct found_char {
  uvble_uuid_t uuid;
  uint16_t value_handle, end_handle, cccd;
  uint8_t props;
};
static struct found_char found[MAX_FOUND];
static int nfound;
static uint16_t svc_start, svc_end;

/* Notifications and indications received, until a wait-notify takes one. */
static struct {
  uint16_t handle;
  size_t len;
  uint8_t data[512];
} heard[MAX_HEARD];
static int nheard;

/* The value of the current step, parsed. */
static uint8_t want[512];
static size_t want_len;

static bool at(struct peer *p, const char *name) {
  return p->step_active && strcmp(p->steps[p->cur].name, name) == 0;
}

static int parse_value(const char *text, uint8_t *out, size_t cap, size_t *len) {
  unsigned n, s;
  char extra;
  if (sscanf(text, "pat:%u:%u%c", &n, &s, &extra) == 2) {
    if (n > cap) return UVBLE_EINVAL;
    for (unsigned i = 0; i < n; i++) out[i] = (uint8_t)(s + i);
    *len = n;
    return 0;
  }
  size_t hex = strlen(text);
  if (hex % 2 || hex / 2 > cap) return UVBLE_EINVAL;
  for (size_t i = 0; i < hex / 2; i++) {
    char byte[3] = {text[2 * i], text[2 * i + 1], 0};
    char *end;
    unsigned long v = strtoul(byte, &end, 16);
    if (*end) return UVBLE_EINVAL;
    out[i] = (uint8_t)v;
  }
  *len = hex / 2;
  return 0;
}

static void print_value(const char *what, uint16_t handle, const uint8_t *d, size_t len) {
  printf("vm_peer: %s handle=%u len=%zu value=", what, handle, len);
  for (size_t i = 0; i < len && i < 24; i++) printf("%02x", d[i]);
  printf("%s\n", len > 24 ? "..." : "");
}

static bool is_want(const uint8_t *d, size_t len) {
  return len == want_len && memcmp(d, want, len) == 0;
}

/* ---- server -------------------------------------------------------------- */

static int gatts_register(struct peer *p) {
  static const char *uuids[NCHARS + 1] = {
      "12345678-1234-5678-1234-56789abc0000", "12345678-1234-5678-1234-56789abc0001",
      "12345678-1234-5678-1234-56789abc0002", "12345678-1234-5678-1234-56789abc0003"};
  static const uint16_t flags[NCHARS] = {
      UVBLE_FLAG_READ | UVBLE_FLAG_WRITE | UVBLE_FLAG_WRITE_NO_RESPONSE,
      UVBLE_FLAG_READ | UVBLE_FLAG_NOTIFY, UVBLE_FLAG_READ | UVBLE_FLAG_INDICATE};
  uvble_gatts_characteristic_t chars[NCHARS] = {0};
  uvble_gatts_service_t svc = {.characteristics = chars, .num_characteristics = NCHARS};
  int r = uvble_uuid_parse(&svc.uuid, uuids[0]);
  for (int i = 0; r == 0 && i < NCHARS; i++) {
    r = uvble_uuid_parse(&chars[i].uuid, uuids[i + 1]);
    chars[i].flags = flags[i];
  }
  if (r == 0) r = uvble_gatts_register_services(p->ble, &svc, 1, srv_handles, NCHARS);
  if (r < 0) return r;
  /* Room for the longest value a peer may write (the default is 20). */
  r = uvble_gatts_set_buffer(p->ble, srv_handles[0], 512, false);
  if (r < 0) return r;
  registered = true;
  printf("vm_peer: registered the test service, value handles %u %u %u\n", srv_handles[0],
         srv_handles[1], srv_handles[2]);
  peer_step_done(p);
  return 0;
}

static void check_written(struct peer *p, uint16_t handle) {
  uint8_t buf[512];
  size_t len = 0;
  if (uvble_gatts_read(p->ble, handle, buf, sizeof buf, &len) != 0) return;
  print_value("value now", handle, buf, len);
  if (is_want(buf, len)) peer_step_done(p);
}

static void on_subscription_poll(uv_timer_t *t) {
  struct peer *p = t->data;
  if (!at(p, "wait-subscribed")) {
    uv_timer_stop(t);
    return;
  }
  uint16_t h = srv_handles[atoi(p->steps[p->cur].arg[0]) - 1];
  int r = uvble_gatts_subscription(p->ble, p->conn, h);
  if (r <= 0) return;
  printf("vm_peer: subscribed to %u: %s%s\n", h, r & UVBLE_CCCD_NOTIFY ? "notify " : "",
         r & UVBLE_CCCD_INDICATE ? "indicate" : "");
  uv_timer_stop(t);
  peer_step_done(p);
}

static int server_step(struct peer *p, const struct peer_step *s) {
  const char *n = s->name;
  if (strcmp(n, "gatts-register") == 0) return gatts_register(p);
  int idx = s->nargs ? atoi(s->arg[0]) : 0;
  if (idx < 1 || idx > NCHARS || !registered) return UVBLE_EINVAL;
  uint16_t h = srv_handles[idx - 1];
  if (strcmp(n, "wait-subscribed") == 0)
    return uv_timer_start(&p->poll_timer, on_subscription_poll, 0, 50);
  if (s->nargs != 2) return UVBLE_EINVAL;
  int r = parse_value(s->arg[1], want, sizeof want, &want_len);
  if (r < 0) return r;
  if (strcmp(n, "wait-write") == 0) {
    check_written(p, h);
    return 0;
  }
  r = uvble_gatts_write(p->ble, h, want, want_len, false);
  if (r == 0 && strcmp(n, "notify") == 0) r = uvble_gatts_notify(p->ble, p->conn, h, NULL, 0);
  if (r == 0 && strcmp(n, "indicate") == 0) return uvble_gatts_indicate(p->ble, p->conn, h, NULL, 0);
  if (r == 0) peer_step_done(p);
  return r;
}

/* ---- client -------------------------------------------------------------- */

static struct found_char *find_char(const char *text) {
  uvble_uuid_t u;
  if (uvble_uuid_parse(&u, text) != 0) return NULL;
  for (int i = 0; i < nfound; i++)
    if (uvble_uuid_equal(&found[i].uuid, &u)) return &found[i];
  return NULL;
}

static bool take_heard(uint16_t handle) {
  for (int i = 0; i < nheard; i++) {
    if (heard[i].handle != handle || !is_want(heard[i].data, heard[i].len)) continue;
    memmove(&heard[i], &heard[i + 1], (size_t)(nheard - i - 1) * sizeof heard[0]);
    nheard--;
    return true;
  }
  return false;
}

static int client_step(struct peer *p, const struct peer_step *s) {
  const char *n = s->name;
  if (strcmp(n, "mtu") == 0) return uvble_gattc_exchange_mtu(p->ble, p->conn);
  if (strcmp(n, "discover") == 0) {
    uvble_uuid_t u;
    if (s->nargs != 1 || uvble_uuid_parse(&u, s->arg[0]) != 0) return UVBLE_EINVAL;
    nfound = 0;
    svc_start = svc_end = 0;
    return uvble_gattc_discover_services(p->ble, p->conn, &u);
  }
  if (s->nargs != 2) return UVBLE_EINVAL;
  struct found_char *c = find_char(s->arg[0]);
  if (!c) {
    peer_fail(p, "no characteristic %s was discovered", s->arg[0]);
    return 0;
  }
  if (strcmp(n, "subscribe") == 0) {
    long v = peer_parse_num(s->arg[1]);
    uint8_t cccd[2] = {(uint8_t)v, 0};
    if (v < 0 || v > 3 || !c->cccd) return UVBLE_EINVAL;
    return uvble_gattc_write(p->ble, p->conn, c->cccd, cccd, 2, UVBLE_GATTC_WRITE_WITH_RESPONSE);
  }
  int r = parse_value(s->arg[1], want, sizeof want, &want_len);
  if (r < 0) return r;
  if (strcmp(n, "read") == 0) return uvble_gattc_read(p->ble, p->conn, c->value_handle);
  if (strcmp(n, "write") == 0)
    return uvble_gattc_write(p->ble, p->conn, c->value_handle, want, want_len,
                             UVBLE_GATTC_WRITE_WITH_RESPONSE);
  if (strcmp(n, "write-cmd") == 0) {
    r = uvble_gattc_write(p->ble, p->conn, c->value_handle, want, want_len,
                          UVBLE_GATTC_WRITE_NO_RESPONSE);
    if (r == 0) peer_step_done(p);
    return r;
  }
  if (strcmp(n, "wait-notify") == 0) {
    if (take_heard(c->value_handle)) peer_step_done(p);
    return 0;
  }
  return UVBLE_EINVAL;
}

int peer_gatt_step(struct peer *p, const struct peer_step *s) {
  static const char *server[] = {"gatts-register", "gatts-set", "wait-write",
                                 "wait-subscribed", "notify", "indicate"};
  static const char *client[] = {"mtu", "discover", "read", "write", "write-cmd",
                                 "subscribe", "wait-notify"};
  int r = 1;
  for (size_t i = 0; i < sizeof server / sizeof *server; i++)
    if (strcmp(s->name, server[i]) == 0) r = server_step(p, s);
  for (size_t i = 0; i < sizeof client / sizeof *client; i++)
    if (strcmp(s->name, client[i]) == 0) r = client_step(p, s);
  if (r == 1) return 0;
  if (r < 0) peer_fail(p, "%s", uvble_strerror(r));
  return 1;
}

/* ---- events -------------------------------------------------------------- */

static void on_discovery(struct peer *p, int event, const uvble_irq_data_t *d) {
  char u[UVBLE_UUID_STR_LEN];
  int r = 0;
  switch (event) {
    case UVBLE_IRQ_GATTC_SERVICE_RESULT:
      uvble_uuid_to_str(&d->service.uuid, u, sizeof u);
      printf("vm_peer: service %s handles %u-%u\n", u, d->service.start_handle,
             d->service.end_handle);
      svc_start = d->service.start_handle;
      svc_end = d->service.end_handle;
      break;
    case UVBLE_IRQ_GATTC_SERVICE_DONE:
      if (d->done.status != 0 || !svc_start) {
        peer_fail(p, "service discovery: status %d, %s", d->done.status,
                  svc_start ? "found" : "not found");
        return;
      }
      r = uvble_gattc_discover_characteristics(p->ble, p->conn, svc_start, svc_end, NULL);
      break;
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT:
      if (nfound == MAX_FOUND) break;
      found[nfound] = (struct found_char){.uuid = d->characteristic.uuid,
                                          .value_handle = d->characteristic.value_handle,
                                          .end_handle = d->characteristic.end_handle,
                                          .props = d->characteristic.properties};
      uvble_uuid_to_str(&d->characteristic.uuid, u, sizeof u);
      printf("vm_peer: characteristic %s value handle %u end %u properties 0x%02x\n", u,
             d->characteristic.value_handle, d->characteristic.end_handle,
             d->characteristic.properties);
      nfound++;
      break;
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE:
      if (d->done.status != 0) {
        peer_fail(p, "characteristic discovery: status %d", d->done.status);
        return;
      }
      r = uvble_gattc_discover_descriptors(p->ble, p->conn, svc_start, svc_end);
      break;
    case UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT: {
      uvble_uuid_t cccd = uvble_uuid16(0x2902);
      if (!uvble_uuid_equal(&d->descriptor.uuid, &cccd)) break;
      for (int i = 0; i < nfound; i++)
        if (d->descriptor.dsc_handle > found[i].value_handle &&
            d->descriptor.dsc_handle <= found[i].end_handle) {
          found[i].cccd = d->descriptor.dsc_handle;
          printf("vm_peer: CCCD %u of value handle %u\n", found[i].cccd, found[i].value_handle);
        }
      break;
    }
    case UVBLE_IRQ_GATTC_DESCRIPTOR_DONE:
      if (d->done.status != 0)
        peer_fail(p, "descriptor discovery: status %d", d->done.status);
      else
        peer_step_done(p);
      return;
  }
  if (r < 0) peer_fail(p, "discovery: %s", uvble_strerror(r));
}

static void on_data(struct peer *p, int event, const uvble_evt_gattc_data_t *e) {
  const char *what = event == UVBLE_IRQ_GATTC_READ_RESULT ? "read"
                     : event == UVBLE_IRQ_GATTC_NOTIFY    ? "notified"
                                                          : "indicated";
  print_value(what, e->value_handle, e->data, e->data_len);
  if (event == UVBLE_IRQ_GATTC_READ_RESULT) {
    if (!at(p, "read")) return;
    if (is_want(e->data, e->data_len))
      peer_step_done(p);
    else
      peer_fail(p, "read %zu bytes, not the %zu expected", e->data_len, want_len);
    return;
  }
  if (nheard == MAX_HEARD) memmove(&heard[0], &heard[1], (MAX_HEARD - 1) * sizeof heard[0]);
  if (nheard == MAX_HEARD) nheard--;
  heard[nheard].handle = e->value_handle;
  heard[nheard].len = e->data_len < 512 ? e->data_len : 512;
  memcpy(heard[nheard].data, e->data, heard[nheard].len);
  nheard++;
  if (at(p, "wait-notify")) {
    const struct found_char *c = find_char(p->steps[p->cur].arg[0]);
    if (c && take_heard(c->value_handle)) peer_step_done(p);
  }
}

static void on_status(struct peer *p, int event, const uvble_evt_gatt_status_t *e) {
  const char *name = uvble_irq_name(event);
  printf("irq %s handle=%u status=%d\n", name, e->value_handle, e->status);
  bool ours = event == UVBLE_IRQ_GATTS_INDICATE_DONE
                  ? at(p, "indicate")
                  : event == UVBLE_IRQ_GATTC_READ_DONE ? at(p, "read")
                                                       : at(p, "write") || at(p, "subscribe");
  if (!ours) return;
  if (e->status != 0)
    peer_fail(p, "%s status %d", name, e->status);
  else if (event != UVBLE_IRQ_GATTC_READ_DONE)
    peer_step_done(p); /* a read is done at its READ_RESULT */
}

void peer_gatt_irq(struct peer *p, int event, const uvble_irq_data_t *d) {
  switch (event) {
    case UVBLE_IRQ_GATTS_WRITE:
      printf("irq GATTS_WRITE handle=%u attr=%u\n", d->gatts.conn_handle, d->gatts.attr_handle);
      if (at(p, "wait-write") &&
          d->gatts.attr_handle == srv_handles[atoi(p->steps[p->cur].arg[0]) - 1])
        check_written(p, d->gatts.attr_handle);
      break;
    case UVBLE_IRQ_GATTC_SERVICE_RESULT:
    case UVBLE_IRQ_GATTC_SERVICE_DONE:
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT:
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_DONE:
    case UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT:
    case UVBLE_IRQ_GATTC_DESCRIPTOR_DONE:
      if (at(p, "discover")) on_discovery(p, event, d);
      break;
    case UVBLE_IRQ_GATTC_READ_RESULT:
    case UVBLE_IRQ_GATTC_NOTIFY:
    case UVBLE_IRQ_GATTC_INDICATE:
      on_data(p, event, &d->gattc_data);
      break;
    case UVBLE_IRQ_GATTC_READ_DONE:
    case UVBLE_IRQ_GATTC_WRITE_DONE:
    case UVBLE_IRQ_GATTS_INDICATE_DONE:
      on_status(p, event, &d->gatt_status);
      break;
    case UVBLE_IRQ_MTU_EXCHANGED:
      printf("irq MTU_EXCHANGED handle=%u mtu=%u\n", d->mtu.conn_handle, d->mtu.mtu);
      if (at(p, "mtu")) peer_step_done(p);
      break;
  }
}
