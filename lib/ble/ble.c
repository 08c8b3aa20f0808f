/* SPDX-License-Identifier: Apache-2.0 */
/* The stack object: lifecycle, transport plumbing, config, and the
 * teardown (failure, power-down, close) that core/stack.c runs through
 * the handlers registered here. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "modules.h"
#include "req.h"
#include "uvble/gap.h"

static void close_handles(uvble_t *ble);
static void power_down_drained(uvble_t *ble);
static void fail_now(uvble_t *ble);
static void close_now(uvble_t *ble);
static void power_down_now(uvble_t *ble);

/* What core/stack.c runs when the outermost dispatch unwinds (ble_unref). */
static const struct ble_teardown teardown = {
    .fail = fail_now,
    .power_down = power_down_now,
    .close = close_now,
};

static void on_transport_packet(uvble_transport_t *t, uint8_t type,
                                const uint8_t *data, size_t len, void *arg) {
  (void)t;
  uvble_t *ble = arg;
  if (ble_dead(ble)) {
    /* uvble_close() lingers: replies and completions still count. */
    if (ble->hci.lingering && type == UVBLE_HCI_EVENT)
      hci_on_event(ble, data, len);
    return;
  }
  switch (type) {
    case UVBLE_HCI_EVENT:
      hci_on_event(ble, data, len);
      break;
    case UVBLE_HCI_ACL:
      acl_on_packet(ble, data, len);
      break;
    default:
      /* SCO and ISO are not used by an LE host; commands never flow up. */
      ble->stats.hci_events_unhandled++;
      break;
  }
}

static void on_transport_error(uvble_transport_t *t, int err, void *arg) {
  (void)t;
  (void)err;
  uvble_t *ble = arg;
  ble->stats.transport_errors++;
  ble_ref(ble);
  if (ble->hci.lingering)
    conn_linger_abort(ble);
  else
    ble_fail(ble, UVBLE_ETRANSPORT);
  ble_unref(ble);
}

static void on_transport_closed(uvble_transport_t *t, void *arg) {
  (void)t;
  uvble_t *ble = arg;
  ble->transport = NULL;
  ble->pending_closes--;
  ble_handle_closed(ble);
}

int uvble_new_with_transport(uv_loop_t *loop, uvble_transport_t *t,
                             uvble_t **out) {
  *out = NULL;
  if (!loop || !t) {
    if (t) uvble_transport_close(t, NULL, NULL);
    return UVBLE_EINVAL;
  }
  if (sodium_init() < 0) {
    uvble_transport_close(t, NULL, NULL);
    return UVBLE_EIO;
  }
  uvble_t *ble = calloc(1, sizeof *ble);
  if (!ble) {
    uvble_transport_close(t, NULL, NULL);
    return UVBLE_ENOMEM;
  }
  ble->loop = loop;
  ble->transport = t;
  ble_set_teardown(ble, &teardown);
  ble->state = BLE_OFF;
  ble->cfg.addr_mode = UVBLE_ADDR_MODE_PUBLIC;
  ble->cfg.rxbuf = 2048;
  ble->cfg.mtu = 256; /* MicroPython's NimBLE default */
  ble->cfg.bond = true;
  ble->cfg.mitm = false;
  ble->cfg.io = UVBLE_IO_NO_INPUT_OUTPUT;
  ble->cfg.le_secure = true;
  memcpy(ble->cfg.gap_name, "uvble", 5);
  ble->cfg.gap_name_len = 5;
  /* A static random address for RANDOM mode, kept for the object's life
   * (Vol 6, Part B, 1.3.2.1: two top bits 1, rest not all 0 or all 1). */
  ble->cfg.static_addr.type = UVBLE_ADDR_RANDOM;
  do {
    randombytes_buf(ble->cfg.static_addr.val, 6);
    ble->cfg.static_addr.val[0] |= 0xc0;
  } while ((ble->cfg.static_addr.val[0] == 0xff &&
            !memcmp(ble->cfg.static_addr.val + 1, "\xff\xff\xff\xff\xff", 5)) ||
           (ble->cfg.static_addr.val[0] == 0xc0 &&
            !memcmp(ble->cfg.static_addr.val + 1, "\0\0\0\0\0", 5)));
  ble->cfg.have_static_addr = true;

  int r = hci_init(ble);
  if (r == 0) r = ble_stack_init(ble);
  if (r == 0) r = req_init(ble);
  if (r == 0) {
    r = modules_init(ble);
    ble->modules_ready = true; /* close frees whatever init allocated */
  }
  if (r == 0)
    r = uvble_transport_start(t, on_transport_packet, on_transport_error, ble);
  if (r < 0) {
    uvble_close(ble, NULL, NULL);
    return r;
  }
  *out = ble;
  return 0;
}

int uvble_new(uv_loop_t *loop, const char *spec, uvble_t **out, char *errbuf,
              size_t errlen) {
  *out = NULL;
  if (!loop || !spec) return UVBLE_EINVAL;
  uvble_transport_t *t;
  int r = uvble_transport_open(loop, spec, &t, errbuf, errlen);
  if (r < 0) return r;
  return uvble_new_with_transport(loop, t, out);
}

/* ---- failure and close ---------------------------------------------------- */
static void fail_now(uvble_t *ble) {
  int status = ble->fail_status;
  hci_cancel_all(ble, status, false);
  conn_drop_all(ble);
  modules_stop(ble, status);
  if (ble->active_cb) {
    ble_active_done(ble, status);
  } else if (ble->fatal_cb && ble->state != BLE_CLOSING) {
    ble->fatal_cb(ble, status, ble->fatal_arg);
  }
}

int uvble_set_close_hook(uvble_t *ble, uvble_close_hook_cb hook, void *arg) {
  if (!ble) return UVBLE_EINVAL;
  if (hook && ble->close_hook) return UVBLE_EALREADY;
  ble->close_hook = hook;
  ble->close_hook_arg = hook ? arg : NULL;
  return 0;
}

void uvble_close(uvble_t *ble, uvble_close_cb cb, void *arg) {
  if (!ble || ble->state == BLE_CLOSING) return;
  if (ble->close_hook) {
    uvble_close_hook_cb hook = ble->close_hook;
    void *hook_arg = ble->close_hook_arg;
    ble->close_hook = NULL;
    ble->close_hook_arg = NULL;
    hook(ble, cb, arg, hook_arg);
    return;
  }
  /* From here on no event reaches the app and no new work starts; what
   * is pending completes (UVBLE_ECANCELED) once the dispatch that may be
   * running unwinds. */
  ble->close_was_started = ble->state != BLE_OFF && ble->state != BLE_FAILED;
  ble->state = BLE_CLOSING;
  ble->close_cb = cb;
  ble->close_arg = arg;
  ble_defer(ble, BLE_DEFER_CLOSE);
}

static void close_now(uvble_t *ble) {
  /* Commands the controller already has keep their place: their replies
   * are awaited below, so the controller never answers into a closed
   * transport (btvirt dies of that; a UART hands the stale reply to the
   * next user). */
  hci_cancel_all(ble, UVBLE_ECANCELED, true);
  conn_drop_all(ble); /* links with data queued are kept (conns.linger) */
  if (ble->modules_ready) {
    modules_stop(ble, UVBLE_ECANCELED);
    ble->modules_ready = false;
    modules_close(ble);
  }
  req_close(ble); /* cancelled requests' callbacks run now */
  ble_active_done(ble, UVBLE_ECANCELED);
  conn_linger(ble, ble->close_was_started, close_handles);
}

/* The linger is over: timers and the transport close. Everything
 * completes on later loop iterations; ble_handle_closed frees the
 * object when the last handle is gone. Until then ble stays valid, so callers deep in a
 * callback chain can unwind safely. */
static void close_handles(uvble_t *ble) {
  hci_close(ble);
  acl_close(ble); /* the ACL pool: HCI, below it, does not call up */
  ble_stack_close_handles(ble);
  if (ble->transport) {
    ble->pending_closes++;
    uvble_transport_close(ble->transport, on_transport_closed, ble);
  }
  if (ble->pending_closes == 0) {
    /* Nothing to wait for (only possible on creation failure). */
    ble_handle_closed(ble);
  }
}

/* ---- power ---------------------------------------------------------------- */
static void on_reset_for_off(uvble_t *ble, int err, uint8_t st,
                             const uint8_t *r, size_t n, void *arg) {
  (void)st;
  (void)r;
  (void)n;
  (void)arg;
  if (ble->state != BLE_STOPPING) return;
  ble->state = BLE_OFF;
  ble->info_valid = false;
  ble_active_done(ble, err);
}

int uvble_active(uvble_t *ble, bool on, uvble_status_cb cb, void *arg) {
  if (!ble) return UVBLE_EINVAL;
  if (ble->state == BLE_CLOSING) return UVBLE_ECLOSING;
  if (ble->state == BLE_FAILED) return ble->fail_status;
  if (ble->state == BLE_STARTING || ble->state == BLE_STOPPING ||
      ble->active_cb)
    return UVBLE_EALREADY;
  ble->active_cb = cb;
  ble->active_arg = arg;
  if (on) {
    if (ble->state == BLE_ON) {
      ble_active_later(ble, 0);
      return 0;
    }
    ble->state = BLE_STARTING;
    hci_start_init(ble);
    return 0;
  }
  if (ble->state == BLE_OFF) {
    ble_active_later(ble, 0);
    return 0;
  }
  ble->state = BLE_STOPPING;
  /* What is queued on the links goes out first (bounded by drain_ms). */
  conn_drain_all(ble, power_down_drained);
  return 0;
}

/* Power-down, once the links' queued data is out: links end, layers stop,
 * the controller is reset. The drain may end inside a dispatch (the last
 * completion came in) or inside uvble_active() itself: either way the
 * links go when it unwinds. */
static void power_down_drained(uvble_t *ble) {
  if (ble->state != BLE_STOPPING) return;
  ble_defer(ble, BLE_DEFER_POWER_DOWN);
}

static void power_down_now(uvble_t *ble) {
  if (ble->state != BLE_STOPPING) return; /* closed or failed meanwhile */
  conn_drop_all(ble);
  modules_stop(ble, UVBLE_ENOTACTIVE);
  if (ble->state != BLE_STOPPING) return; /* closed from a callback */
  int r = hci_send_cmd(ble, HCI_OP_RESET, NULL, 0, on_reset_for_off, NULL);
  if (r < 0) {
    ble->state = BLE_OFF;
    ble_active_done(ble, r);
  }
}

bool uvble_is_active(const uvble_t *ble) {
  return ble && ble->state == BLE_ON;
}

void uvble_on_fatal(uvble_t *ble, uvble_status_cb cb, void *arg) {
  ble->fatal_cb = cb;
  ble->fatal_arg = arg;
}

void uvble_irq(uvble_t *ble, uvble_irq_cb cb, void *arg) {
  ble->irq_cb = cb;
  ble->irq_arg = arg;
}

uv_loop_t *uvble_loop(const uvble_t *ble) { return ble->loop; }
void uvble_set_data(uvble_t *ble, void *data) { ble->data = data; }
void *uvble_get_data(const uvble_t *ble) { return ble->data; }

void uvble_get_stats(const uvble_t *ble, uvble_stats_t *out) {
  *out = ble->stats;
}

/* ---- controller info ------------------------------------------------------- */
int uvble_controller_info(const uvble_t *ble, uvble_controller_info_t *out) {
  if (!ble->info_valid) return UVBLE_ENOTACTIVE;
  *out = ble->info;
  return 0;
}

unsigned uvble_version(void) { return UVBLE_VERSION_HEX; }

const char *uvble_version_string(void) { return UVBLE_VERSION_STRING; }

const char *uvble_hci_version_name(uint8_t v) {
  static const char *names[] = {"1.0b", "1.1", "1.2", "2.0", "2.1", "3.0",
                                "4.0",  "4.1", "4.2", "5.0", "5.1", "5.2",
                                "5.3",  "5.4", "6.0"};
  return v < sizeof names / sizeof names[0] ? names[v] : NULL;
}

const char *uvble_manufacturer_name(uint16_t company) {
  switch (company) {
    case 0x0002: return "Intel Corp.";
    case 0x000A: return "Qualcomm Technologies International (CSR)";
    case 0x000D: return "Texas Instruments Inc.";
    case 0x000F: return "Broadcom Corporation";
    case 0x001D: return "Qualcomm";
    case 0x0030: return "ST Microelectronics";
    case 0x003F: return "Bluetooth SIG, Inc.";
    case 0x0046: return "MediaTek, Inc.";
    case 0x0059: return "Nordic Semiconductor ASA";
    case 0x005D: return "Realtek Semiconductor Corporation";
    case 0x0131: return "Cypress Semiconductor";
    case 0x02E5: return "Espressif Systems";
    case 0x05F1: return "The Linux Foundation";
    case 0xFFFF: return "internal use / unassigned";
    default: return NULL;
  }
}

/* ---- config ------------------------------------------------------------------ */
static const struct {
  const char *name;
  int key;
} config_keys[] = {
    {"mac", UVBLE_CONFIG_MAC},     {"addr_mode", UVBLE_CONFIG_ADDR_MODE},
    {"gap_name", UVBLE_CONFIG_GAP_NAME}, {"rxbuf", UVBLE_CONFIG_RXBUF},
    {"mtu", UVBLE_CONFIG_MTU},     {"bond", UVBLE_CONFIG_BOND},
    {"mitm", UVBLE_CONFIG_MITM},   {"io", UVBLE_CONFIG_IO},
    {"le_secure", UVBLE_CONFIG_LE_SECURE},
    {"drain_ms", UVBLE_CONFIG_DRAIN_MS},
};

int uvble_config_key(const char *name) {
  if (!name) return UVBLE_EINVAL;
  for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++)
    if (strcmp(config_keys[i].name, name) == 0) return config_keys[i].key;
  return UVBLE_EUNKNOWNKEY;
}

int uvble_config_set_int(uvble_t *ble, int key, int v) {
  if (!ble) return UVBLE_EINVAL;
  switch (key) {
    case UVBLE_CONFIG_ADDR_MODE:
      if (v < UVBLE_ADDR_MODE_PUBLIC || v > UVBLE_ADDR_MODE_NRPA)
        return UVBLE_EINVAL;
      ble->cfg.addr_mode = v;
      return 0;
    case UVBLE_CONFIG_RXBUF:
      if (v < 16 || v > 65535) return UVBLE_EINVAL;
      ble->cfg.rxbuf = v;
      return 0;
    case UVBLE_CONFIG_MTU:
      if (v < 23 || v > 517) return UVBLE_EINVAL;
      ble->cfg.mtu = v;
      return 0;
    case UVBLE_CONFIG_BOND:
    case UVBLE_CONFIG_MITM:
    case UVBLE_CONFIG_LE_SECURE:
      if (v != 0 && v != 1) return UVBLE_EINVAL;
      if (key == UVBLE_CONFIG_BOND) ble->cfg.bond = v;
      if (key == UVBLE_CONFIG_MITM) ble->cfg.mitm = v;
      if (key == UVBLE_CONFIG_LE_SECURE) ble->cfg.le_secure = v;
      return 0;
    case UVBLE_CONFIG_IO:
      if (v < UVBLE_IO_DISPLAY_ONLY || v > UVBLE_IO_KEYBOARD_DISPLAY)
        return UVBLE_EINVAL;
      ble->cfg.io = v;
      return 0;
    case UVBLE_CONFIG_DRAIN_MS:
      if (v < 0 || v > 60000) return UVBLE_EINVAL;
      ble->hci.drain_ms = (unsigned)v;
      return 0;
    case UVBLE_CONFIG_MAC:
    case UVBLE_CONFIG_GAP_NAME:
      return UVBLE_EINVAL; /* not integers */
    default:
      return UVBLE_EUNKNOWNKEY;
  }
}

int uvble_config_get_int(const uvble_t *ble, int key, int *v) {
  if (!ble || !v) return UVBLE_EINVAL;
  switch (key) {
    case UVBLE_CONFIG_ADDR_MODE: *v = ble->cfg.addr_mode; return 0;
    case UVBLE_CONFIG_RXBUF: *v = ble->cfg.rxbuf; return 0;
    case UVBLE_CONFIG_MTU: *v = ble->cfg.mtu; return 0;
    case UVBLE_CONFIG_BOND: *v = ble->cfg.bond; return 0;
    case UVBLE_CONFIG_MITM: *v = ble->cfg.mitm; return 0;
    case UVBLE_CONFIG_IO: *v = ble->cfg.io; return 0;
    case UVBLE_CONFIG_LE_SECURE: *v = ble->cfg.le_secure; return 0;
    case UVBLE_CONFIG_DRAIN_MS: *v = (int)ble->hci.drain_ms; return 0;
    case UVBLE_CONFIG_MAC:
    case UVBLE_CONFIG_GAP_NAME:
      return UVBLE_EINVAL;
    default:
      return UVBLE_EUNKNOWNKEY;
  }
}

int uvble_config_set_name(uvble_t *ble, const void *name, size_t len) {
  if (!ble || (!name && len)) return UVBLE_EINVAL;
  if (len > UVBLE_GAP_NAME_MAX) return UVBLE_EMSGSIZE;
  if (len) memcpy(ble->cfg.gap_name, name, len);
  ble->cfg.gap_name_len = len;
  return 0;
}

int uvble_config_get_name(const uvble_t *ble, void *buf, size_t cap) {
  if (!ble || (!buf && cap)) return UVBLE_EINVAL;
  size_t n = ble->cfg.gap_name_len < cap ? ble->cfg.gap_name_len : cap;
  if (n) memcpy(buf, ble->cfg.gap_name, n);
  return (int)ble->cfg.gap_name_len;
}

int uvble_config_get_mac(const uvble_t *ble, uvble_addr_t *out) {
  if (!ble || !out) return UVBLE_EINVAL;
  if (ble->cfg.addr_mode == UVBLE_ADDR_MODE_RANDOM) {
    *out = ble->cfg.static_addr;
    return 0;
  }
  if (ble->cfg.addr_mode == UVBLE_ADDR_MODE_RPA ||
      ble->cfg.addr_mode == UVBLE_ADDR_MODE_NRPA) {
    /* The private address in use now; GAP makes one on first use (a cache,
     * hence the cast: reading the config does not change what it says). */
    return uvble_gap_own_addr((uvble_t *)ble, out);
  }
  if (!ble->info_valid) return UVBLE_ENOTACTIVE;
  *out = ble->info.public_addr;
  return 0;
}

int uvble_config_set_mac(uvble_t *ble, const uvble_addr_t *a) {
  if (!ble || !a || a->type != UVBLE_ADDR_RANDOM) return UVBLE_EINVAL;
  /* Static random: top two bits 11, random part neither all 0 nor all 1. */
  if ((a->val[0] & 0xc0) != 0xc0) return UVBLE_EINVAL;
  bool zeros = (a->val[0] & 0x3f) == 0, ones = (a->val[0] & 0x3f) == 0x3f;
  for (int i = 1; i < 6; i++) {
    zeros = zeros && a->val[i] == 0;
    ones = ones && a->val[i] == 0xff;
  }
  if (zeros || ones) return UVBLE_EINVAL;
  ble->cfg.static_addr = *a;
  ble->cfg.have_static_addr = true;
  return 0;
}

/* ---- addresses and names ------------------------------------------------------ */
char *uvble_addr_to_str(const uvble_addr_t *a, char buf[UVBLE_ADDR_STR_LEN]) {
  snprintf(buf, UVBLE_ADDR_STR_LEN, "%02x:%02x:%02x:%02x:%02x:%02x", a->val[0],
           a->val[1], a->val[2], a->val[3], a->val[4], a->val[5]);
  return buf;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int uvble_addr_parse(uvble_addr_t *out, const char *s) {
  if (!out || !s) return UVBLE_EINVAL;
  uint8_t v[6];
  size_t len = strlen(s);
  bool colons = len == 17;
  if (len != 17 && len != 12) return UVBLE_EINVAL;
  for (int i = 0; i < 6; i++) {
    const char *p = s + i * (colons ? 3 : 2);
    int hi = hexval(p[0]), lo = hexval(p[1]);
    if (hi < 0 || lo < 0) return UVBLE_EINVAL;
    if (colons && i < 5 && p[2] != ':') return UVBLE_EINVAL;
    v[i] = (uint8_t)(hi << 4 | lo);
  }
  memcpy(out->val, v, 6);
  return 0;
}

const char *uvble_irq_name(int event) {
  static const char *names[] = {
      "UNKNOWN",
      "CENTRAL_CONNECT", "CENTRAL_DISCONNECT", "GATTS_WRITE",
      "GATTS_READ_REQUEST", "SCAN_RESULT", "SCAN_DONE",
      "PERIPHERAL_CONNECT", "PERIPHERAL_DISCONNECT",
      "GATTC_SERVICE_RESULT", "GATTC_SERVICE_DONE",
      "GATTC_CHARACTERISTIC_RESULT", "GATTC_CHARACTERISTIC_DONE",
      "GATTC_DESCRIPTOR_RESULT", "GATTC_DESCRIPTOR_DONE",
      "GATTC_READ_RESULT", "GATTC_READ_DONE", "GATTC_WRITE_DONE",
      "GATTC_NOTIFY", "GATTC_INDICATE", "GATTS_INDICATE_DONE",
      "MTU_EXCHANGED", "L2CAP_ACCEPT", "L2CAP_CONNECT", "L2CAP_DISCONNECT",
      "L2CAP_RECV", "L2CAP_SEND_READY", "CONNECTION_UPDATE",
      "ENCRYPTION_UPDATE", "GET_SECRET", "SET_SECRET", "PASSKEY_ACTION",
  };
  if (event < 1 || event > UVBLE_IRQ_MAX) return names[0];
  return names[event];
}
