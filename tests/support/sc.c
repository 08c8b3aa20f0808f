/* SPDX-License-Identifier: Apache-2.0 */
#include "sc.h"

#include "test.h"

#include <stdlib.h>
#include <string.h>

#define SC_MAX_HANDLERS 32
#define SC_MAX_CMDS 4096
#define SC_MAX_ACL 4096

struct sc {
  uv_loop_t *loop;
  uvble_transport_t *t;
  struct sc_config cfg;
  struct {
    uint16_t opcode;
    sc_cmd_handler fn;
    void *arg;
    bool silent;
    unsigned swallowed; /* silenced commands the test has not answered */
    uint8_t fail_status;
  } handlers[SC_MAX_HANDLERS];
  int nhandlers;
  unsigned swallowed; /* over all handlers */
  struct sc_cmd_rec *cmds;
  size_t ncmds;
  struct sc_acl_rec *acl;
  size_t nacl;
  int error;
};

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static int handler_index(sc_t *sc, uint16_t opcode, bool create) {
  for (int i = 0; i < sc->nhandlers; i++)
    if (sc->handlers[i].opcode == opcode) return i;
  if (!create || sc->nhandlers == SC_MAX_HANDLERS) return -1;
  int i = sc->nhandlers++;
  memset(&sc->handlers[i], 0, sizeof sc->handlers[i]);
  sc->handlers[i].opcode = opcode;
  return i;
}

void sc_on_cmd(sc_t *sc, uint16_t opcode, sc_cmd_handler fn, void *arg) {
  int i = handler_index(sc, opcode, true);
  sc->handlers[i].fn = fn;
  sc->handlers[i].arg = arg;
}

void sc_silence(sc_t *sc, uint16_t opcode) {
  sc->handlers[handler_index(sc, opcode, true)].silent = true;
}

void sc_fail_with(sc_t *sc, uint16_t opcode, uint8_t status) {
  sc->handlers[handler_index(sc, opcode, true)].fail_status = status;
}

void sc_send_raw(sc_t *sc, uint8_t type, const void *data, size_t len) {
  uvble_iov_t iov = {data, len};
  uvble_transport_send(sc->t, type, &iov, 1);
}

void sc_send_event(sc_t *sc, uint8_t code, const void *params, size_t len) {
  uint8_t buf[2 + 255];
  buf[0] = code;
  buf[1] = (uint8_t)len;
  memcpy(buf + 2, params, len);
  sc_send_raw(sc, UVBLE_HCI_EVENT, buf, 2 + len);
}

/* The test answers a command sc swallowed (sc_silence). */
static void answered(sc_t *sc, uint16_t opcode) {
  int i = handler_index(sc, opcode, false);
  if (i < 0 || !sc->handlers[i].swallowed) return;
  sc->handlers[i].swallowed--;
  sc->swallowed--;
}

void sc_send_cc(sc_t *sc, uint16_t opcode, const void *ret, size_t len) {
  answered(sc, opcode);
  uint8_t p[255];
  p[0] = sc->cfg.ncmd;
  put16(p + 1, opcode);
  memcpy(p + 3, ret, len);
  sc_send_event(sc, 0x0E, p, 3 + len);
}

void sc_send_cs(sc_t *sc, uint16_t opcode, uint8_t status) {
  answered(sc, opcode);
  uint8_t p[4] = {status, sc->cfg.ncmd, 0, 0};
  put16(p + 2, opcode);
  sc_send_event(sc, 0x0F, p, 4);
}

void sc_send_acl(sc_t *sc, uint16_t handle, uint8_t pb, const void *data,
                 size_t len) {
  uint8_t hdr[4];
  put16(hdr, (uint16_t)(handle | (pb << 12)));
  put16(hdr + 2, (uint16_t)len);
  uvble_iov_t iov[2] = {{hdr, 4}, {data, len}};
  uvble_transport_send(sc->t, UVBLE_HCI_ACL, iov, 2);
}

void sc_send_completed(sc_t *sc, uint16_t handle, uint16_t count) {
  uint8_t p[5] = {1};
  put16(p + 1, handle);
  put16(p + 3, count);
  sc_send_event(sc, 0x13, p, 5);
}

void sc_connect(sc_t *sc, uint16_t handle, uint8_t role, const uint8_t peer[6]) {
  uint8_t p[19];
  memset(p, 0, sizeof p);
  p[0] = 0x01; /* LE Connection Complete */
  p[1] = 0;    /* status */
  put16(p + 2, handle);
  p[4] = role;
  p[5] = 0; /* public peer */
  memcpy(p + 6, peer, 6);
  put16(p + 12, 24);  /* interval 30 ms */
  put16(p + 14, 0);   /* latency */
  put16(p + 16, 72);  /* timeout 720 ms */
  p[18] = 0;
  sc_send_event(sc, 0x3E, p, sizeof p);
}

void sc_disconnect(sc_t *sc, uint16_t handle, uint8_t reason) {
  uint8_t p[4] = {0, 0, 0, reason};
  put16(p + 1, handle);
  sc_send_event(sc, 0x05, p, 4);
}

/* Plausible answers for the commands the init sequence sends. */
static void default_answer(sc_t *sc, const struct sc_cmd_rec *c) {
  uint8_t r[128];
  memset(r, 0, sizeof r);
  size_t n = 1; /* status 0 */
  switch (c->opcode) {
    case 0x1001: /* Read Local Version */
      r[1] = 9;  /* 5.0 */
      put16(r + 2, 0x0001);
      r[4] = 9;
      put16(r + 5, 0x05F1);
      put16(r + 7, 0x0002);
      n = 9;
      break;
    case 0x1002:
      memcpy(r + 1, sc->cfg.commands, 64);
      n = 65;
      break;
    case 0x1003:
      memcpy(r + 1, sc->cfg.features, 8);
      n = 9;
      break;
    case 0x2003:
      memcpy(r + 1, sc->cfg.le_features, 8);
      n = 9;
      break;
    case 0x2002:
      put16(r + 1, sc->cfg.acl_mtu);
      r[3] = sc->cfg.acl_pkts;
      n = 4;
      break;
    case 0x2060:
      put16(r + 1, sc->cfg.acl_mtu);
      r[3] = sc->cfg.acl_pkts;
      n = 7;
      break;
    case 0x1005:
      put16(r + 1, 1021);
      r[3] = 64;
      put16(r + 4, 8);
      n = 8;
      break;
    case 0x1009:
      memcpy(r + 1, sc->cfg.bdaddr, 6);
      n = 7;
      break;
    case 0x202F: /* LE Read Maximum Data Length: 251 octets, 17040 us */
      put16(r + 1, 251);
      put16(r + 3, 17040);
      put16(r + 5, 251);
      put16(r + 7, 17040);
      n = 9;
      break;
    case 0x203A: /* LE Read Maximum Advertising Data Length */
      put16(r + 1, sc->cfg.max_adv_data_len);
      n = 3;
      break;
    case 0x2022: /* LE Set Data Length: status, handle */
      memcpy(r + 1, c->params, 2);
      n = 3;
      break;
    case 0x2032: /* LE Set PHY: Command Status */
      sc_send_cs(sc, c->opcode, 0);
      return;
    case 0x0406: /* Disconnect: Command Status, then the event */
      sc_send_cs(sc, c->opcode, 0);
      sc_disconnect(sc, (uint16_t)(c->params[0] | (c->params[1] << 8)) & 0x0fff,
                    0x16);
      return;
    default:
      break;
  }
  sc_send_cc(sc, c->opcode, r, n);
}

static void on_packet(uvble_transport_t *t, uint8_t type, const uint8_t *d,
                      size_t len, void *arg) {
  (void)t;
  sc_t *sc = arg;
  if (type == UVBLE_HCI_ACL && len >= 4) {
    if (sc->nacl < SC_MAX_ACL) {
      struct sc_acl_rec *a = &sc->acl[sc->nacl++];
      a->handle = (uint16_t)(d[0] | (d[1] << 8)) & 0x0fff;
      a->pb = (d[1] >> 4) & 3;
      a->len = (uint16_t)(len - 4);
      memcpy(a->data, d + 4, len - 4);
      if (sc->cfg.auto_complete_acl) sc_send_completed(sc, a->handle, 1);
    }
    return;
  }
  if (type != UVBLE_HCI_COMMAND || len < 3) return;
  struct sc_cmd_rec rec;
  rec.opcode = (uint16_t)(d[0] | (d[1] << 8));
  rec.len = d[2];
  memcpy(rec.params, d + 3, len - 3 < 255 ? len - 3 : 255);
  if (sc->ncmds < SC_MAX_CMDS) sc->cmds[sc->ncmds++] = rec;
  int i = handler_index(sc, rec.opcode, false);
  if (i >= 0) {
    if (sc->handlers[i].silent) {
      sc->handlers[i].swallowed++;
      sc->swallowed++;
      return;
    }
    if (sc->handlers[i].fail_status) {
      uint8_t st = sc->handlers[i].fail_status;
      sc_send_cc(sc, rec.opcode, &st, 1);
      return;
    }
    if (sc->handlers[i].fn && sc->handlers[i].fn(sc, &rec, sc->handlers[i].arg))
      return;
  }
  default_answer(sc, &rec);
}

static void on_error(uvble_transport_t *t, int err, void *arg) {
  (void)t;
  ((sc_t *)arg)->error = err;
}

/* run_until_idle(): what sc sends goes through the in-memory transport,
 * which the idle helper sees by itself; packets are completed only when
 * the config says so (or the test sends the completions), and a silenced
 * command is answered only by the test. */
static unsigned idle_source(void *arg, char *why, size_t len) {
  (void)why;
  (void)len;
  const sc_t *sc = arg;
  return (sc->cfg.auto_complete_acl ? 0 : TEST_IDLE_NO_COMPLETIONS) |
         (sc->swallowed ? TEST_IDLE_NO_ANSWERS : 0);
}

sc_t *sc_new(uv_loop_t *loop, uvble_transport_t **host_end) {
  sc_t *sc = calloc(1, sizeof *sc);
  sc->loop = loop;
  sc->cmds = calloc(SC_MAX_CMDS, sizeof *sc->cmds);
  sc->acl = calloc(SC_MAX_ACL, sizeof *sc->acl);
  sc->cfg.acl_mtu = 27;
  sc->cfg.acl_pkts = 4;
  sc->cfg.ncmd = 1;
  memcpy(sc->cfg.bdaddr, "\x42\x00\x00\x01\xaa\x00", 6);
  memset(sc->cfg.commands, 0, 64);
  sc->cfg.features[4] = 0x60; /* LE supported (controller), BR/EDR not supported */
  sc->cfg.le_features[0] = 0x01; /* LE encryption */
  sc->cfg.max_adv_data_len = 1650; /* all extended advertising can carry */
  if (uvble_transport_mem_pair(loop, host_end, &sc->t) != 0) abort();
  uvble_transport_start(sc->t, on_packet, on_error, sc);
  test_idle_add(loop, idle_source, sc);
  return sc;
}

void sc_free(sc_t *sc) {
  if (!sc) return;
  test_idle_remove(sc);
  uvble_transport_close(sc->t, NULL, NULL);
  free(sc->cmds);
  free(sc->acl);
  free(sc);
}

struct sc_config *sc_config(sc_t *sc) { return &sc->cfg; }
size_t sc_cmd_count(const sc_t *sc) { return sc->ncmds; }
const struct sc_cmd_rec *sc_cmd(const sc_t *sc, size_t i) {
  return i < sc->ncmds ? &sc->cmds[i] : NULL;
}
int sc_find_cmd(const sc_t *sc, uint16_t opcode, int n) {
  for (size_t i = 0; i < sc->ncmds; i++)
    if (sc->cmds[i].opcode == opcode && n-- == 0) return (int)i;
  return -1;
}
size_t sc_acl_count(const sc_t *sc) { return sc->nacl; }
const struct sc_acl_rec *sc_acl(const sc_t *sc, size_t i) {
  return i < sc->nacl ? &sc->acl[i] : NULL;
}
void sc_clear(sc_t *sc) {
  sc->ncmds = 0;
  sc->nacl = 0;
}
int sc_error(const sc_t *sc) { return sc->error; }

struct bring_up {
  bool done;
  int status;
};

static void on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  struct bring_up *b = uvble_get_data(ble);
  b->done = true;
  b->status = status;
}

static bool done_pred(void *arg) { return ((struct bring_up *)arg)->done; }

static int bring_up_on(uv_loop_t *loop, sc_t *sc, uvble_transport_t *host,
                       sc_t **scp, uvble_t **blep) {
  uvble_t *ble;
  int r = uvble_new_with_transport(loop, host, &ble);
  *scp = sc;
  *blep = NULL;
  if (r < 0) return r;
  struct bring_up b = {false, 0};
  uvble_set_data(ble, &b);
  r = uvble_active(ble, true, on_active, NULL);
  if (r < 0) {
    *blep = ble;
    return r;
  }
  /* Bounded: the stack's own command timeout ends a silent init. */
  run_until_pred(loop, done_pred, &b, 10000);
  uvble_set_data(ble, NULL);
  *blep = ble;
  return b.done ? b.status : UVBLE_ETIMEDOUT;
}

int sc_bring_up(uv_loop_t *loop, sc_t **scp, uvble_t **blep) {
  uvble_transport_t *host;
  sc_t *sc = sc_new(loop, &host);
  return bring_up_on(loop, sc, host, scp, blep);
}

int sc_bring_up_acl(uv_loop_t *loop, uint16_t acl_mtu, uint8_t acl_pkts,
                    sc_t **scp, uvble_t **blep) {
  uvble_transport_t *host;
  sc_t *sc = sc_new(loop, &host);
  sc->cfg.acl_mtu = acl_mtu;
  sc->cfg.acl_pkts = acl_pkts;
  int r = bring_up_on(loop, sc, host, scp, blep);
  if (r == 0) run_until_idle(loop, 5000); /* what init set going settles */
  return r;
}

void sc_tear_down(uv_loop_t *loop, sc_t *sc, uvble_t *ble) {
  if (ble) uvble_close(ble, NULL, NULL);
  sc_free(sc);
  uv_run(loop, UV_RUN_DEFAULT);
}
