/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the L2CAP fuzz harnesses: a stack that believes the init
 * sequence ran, with one connection whose layers are all set up, fed
 * L2CAP PDUs and API calls straight from the fuzzer's bytes. */
#ifndef UVBLE_FUZZ_L2CAP_COMMON_H
#define UVBLE_FUZZ_L2CAP_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "l2cap.h"
#include "uvble/l2cap.h"

#define FZ_HANDLE 0x0040

struct fz {
  uv_loop_t loop;
  uvble_transport_t *other;
  uvble_t *ble;
  struct ble_conn *c;
  int accept_ret;
  uint16_t last_cid; /* from the last CONNECT/ACCEPT event */
  bool other_closed;
  uint8_t buf[65536 + 16];
  volatile uint8_t sink;
};

static struct fz *fz_cur;

static int fz_irq(uvble_t *ble, int ev, const uvble_irq_data_t *d, void *a) {
  struct fz *f = a;
  (void)ble;
  switch (ev) {
    case UVBLE_IRQ_L2CAP_ACCEPT:
      f->last_cid = d->l2cap_connect.cid;
      return f->accept_ret;
    case UVBLE_IRQ_L2CAP_CONNECT:
      f->last_cid = d->l2cap_connect.cid;
      break;
    case UVBLE_IRQ_L2CAP_RECV: {
      /* Read half of what is there: partial reads stay exercised. */
      int n = uvble_l2cap_recvinto(f->ble, d->l2cap_io.conn_handle,
                                   d->l2cap_io.cid, NULL, 0);
      if (n > 0) {
        int r =
            uvble_l2cap_recvinto(f->ble, d->l2cap_io.conn_handle,
                                 d->l2cap_io.cid, f->buf, (size_t)(n / 2 + 1));
        if (r > 0) f->sink ^= f->buf[r - 1];
      }
      break;
    }
    default:
      break;
  }
  return 0;
}

/* A stack with one connection (role 0 central, 1 peripheral). */
static void fz_setup(struct fz *f, uint8_t role, uint16_t acl_mtu) {
  memset(f, 0, sizeof *f);
  fz_cur = f;
  uv_loop_init(&f->loop);
  uvble_transport_t *a;
  if (uvble_transport_mem_pair(&f->loop, &a, &f->other) != 0) abort();
  if (uvble_new_with_transport(&f->loop, a, &f->ble) != 0) abort();
  uvble_irq(f->ble, fz_irq, f);
  uvble_t *ble = f->ble;
  ble->state = BLE_ON;
  ble->info_valid = true;
  ble->hci.acl_mtu = acl_mtu;
  ble->hci.acl_total = ble->hci.acl_free = 4;
  uvble_addr_t peer = {0, {1, 2, 3, 4, 5, 6}};
  f->c = conn_add(ble, FZ_HANDLE,
                  role ? CONN_ROLE_PERIPHERAL : CONN_ROLE_CENTRAL, &peer);
  if (!f->c) abort();
  conn_open(ble, f->c);
}

/* Hands an L2CAP PDU on cid to the stack, as the ACL layer would. */
static void fz_pdu(struct fz *f, uint16_t cid, const uint8_t *d, size_t n) {
  if (n > 0xffff) n = 0xffff;
  uint8_t *p = malloc(n + 4); /* exact size: ASan sees the true extent */
  if (!p) abort();
  p[0] = (uint8_t)n;
  p[1] = (uint8_t)(n >> 8);
  p[2] = (uint8_t)cid;
  p[3] = (uint8_t)(cid >> 8);
  if (n) memcpy(p + 4, d, n);
  if (conn_find(f->ble, FZ_HANDLE)) {
    ble_ref(f->ble); /* a dispatch's reference (ble_ref) */
    l2cap_on_pdu(f->ble, f->c, p, n + 4);
    ble_unref(f->ble);
  }
  free(p);
}

/* The controller goes away: the next write fails inside whatever call
 * makes it, and the stack fails there and then. */
static void fz_controller_gone(struct fz *f) {
  if (f->other_closed) return;
  f->other_closed = true;
  uvble_transport_close(f->other, NULL, NULL);
}

/* The controller returned every buffer. */
static void fz_completed(struct fz *f) {
  struct ble_conn *c = conn_find(f->ble, FZ_HANDLE);
  if (!c) return;
  uint8_t p[5] = {1, (uint8_t)FZ_HANDLE, 0, 0, 0};
  p[3] = (uint8_t)c->acl_in_flight;
  p[4] = (uint8_t)(c->acl_in_flight >> 8);
  acl_on_completed(f->ble, p, sizeof p);
}

static void fz_teardown(struct fz *f) {
  uvble_close(f->ble, NULL, NULL);
  if (!f->other_closed) uvble_transport_close(f->other, NULL, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  uv_loop_close(&f->loop);
}

#endif
