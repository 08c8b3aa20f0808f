/* SPDX-License-Identifier: Apache-2.0 */
/* vm_peer's L2CAP steps: LE credit-based channels against the kernel's
 * L2CAP (l2test on the other side).
 *
 *   l2cap-listen=PSM[,MTU]   accept channels on PSM (done at once)
 *   l2cap-connect=PSM[,MTU]  open a channel on the connection; done when open
 *   l2cap-accept             wait until the peer opens one to us
 *   send=BYTES[,SDU]         send BYTES in SDUs of SDU bytes (default 512,
 *                            at most the peer's MTU) in l2test's format:
 *                            sequence number (le32), SDU length (le16), then
 *                            0x7f, which `l2test -r` checks; done when the
 *                            channel has handed everything to the link
 *   recv=BYTES               receive BYTES and print their SHA-256
 *   l2cap-close              close the channel; done at L2CAP_DISCONNECT
 *   wait-l2cap-close         wait until the peer closes it
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"
#include "uvble/l2cap.h"

const char peer_l2cap_usage[] =
    "L2CAP steps: l2cap-listen=PSM[,MTU] l2cap-connect=PSM[,MTU] l2cap-accept\n"
    "  send=BYTES[,SDU] recv=BYTES l2cap-close wait-l2cap-close\n";

#define DEFAULT_MTU 1024

struct l2 {
  uint16_t cid;
  bool open;
  bool unclaimed; /* opened by the peer before an l2cap-accept step ran */
  uint16_t peer_mtu;
  uv_timer_t poll; /* send's drain check */
  bool poll_init;
  /* send= */
  size_t send_total, send_done, sdu;
  uint32_t seq;
  bool sending;
  /* recv= */
  size_t recv_total, recv_done;
  bool receiving;
  EVP_MD_CTX *sha;
  uint64_t t0;
};

static struct l2 *l2_of(struct peer *p) {
  if (!p->l2cap) {
    struct l2 *l = calloc(1, sizeof *l);
    uv_timer_init(p->loop, &l->poll);
    l->poll.data = p;
    l->poll_init = true;
    p->l2cap = l;
  }
  return p->l2cap;
}

static bool at(struct peer *p, const char *name) {
  return p->step_active && strcmp(p->steps[p->cur].name, name) == 0;
}

static double secs_since(uint64_t t0) { return (double)(uv_hrtime() - t0) / 1e9; }

/* ---- send ------------------------------------------------------------------ */

static void on_drain_poll(uv_timer_t *t);

static void send_more(struct peer *p) {
  struct l2 *l = p->l2cap;
  uint8_t buf[4096];
  while (l->sending && l->send_done < l->send_total) {
    size_t n = l->send_total - l->send_done;
    if (n > l->sdu) n = l->sdu;
    /* l2test's frame: seq (le32), length (le16), 0x7f filler. */
    memset(buf, 0x7f, n);
    uint32_t s = l->seq;
    uint8_t hdr[6] = {(uint8_t)s, (uint8_t)(s >> 8), (uint8_t)(s >> 16), (uint8_t)(s >> 24),
                      (uint8_t)n, (uint8_t)(n >> 8)};
    memcpy(buf, hdr, n < 6 ? n : 6);
    int r = uvble_l2cap_send(p->ble, p->conn, l->cid, buf, n);
    if (r == UVBLE_EAGAIN) return; /* SEND_READY resumes */
    if (r < 0) {
      peer_fail(p, "l2cap_send: %s", uvble_strerror(r));
      return;
    }
    l->seq++;
    l->send_done += n;
    if (r == 0) return; /* queued; wait for SEND_READY */
  }
  if (l->sending && l->send_done == l->send_total) {
    /* Everything queued: done once the channel has handed it all down. */
    uv_timer_start(&l->poll, on_drain_poll, 0, 20);
  }
}

static void on_drain_poll(uv_timer_t *t) {
  struct peer *p = t->data;
  struct l2 *l = p->l2cap;
  uvble_l2cap_chan_info_t ci;
  if (uvble_l2cap_chan_info(p->ble, p->conn, l->cid, &ci) != 0) {
    uv_timer_stop(t);
    peer_fail(p, "the channel went away while sending");
    return;
  }
  if (ci.tx_queued > 0) return;
  uv_timer_stop(t);
  l->sending = false;
  double s = secs_since(l->t0);
  printf("vm_peer: sent %zu bytes in %u SDUs of %zu in %.2f s (%.1f kB/s)\n", l->send_done,
         (unsigned)l->seq, l->sdu, s, (double)l->send_done / 1024.0 / (s > 0 ? s : 1));
  peer_step_done(p);
}

static int start_send(struct peer *p, const struct peer_step *s) {
  struct l2 *l = l2_of(p);
  long total = s->nargs > 0 ? peer_parse_num(s->arg[0]) : -1;
  long sdu = s->nargs > 1 ? peer_parse_num(s->arg[1]) : 512;
  if (!l->open || total <= 0 || sdu < 6 || sdu > 4096) return UVBLE_EINVAL;
  if (sdu > l->peer_mtu) sdu = l->peer_mtu;
  l->send_total = (size_t)total;
  l->send_done = 0;
  l->sdu = (size_t)sdu;
  l->seq = 0;
  l->sending = true;
  l->t0 = uv_hrtime();
  send_more(p);
  return 0;
}

/* ---- receive ----------------------------------------------------------------- */

static void recv_finish(struct peer *p) {
  struct l2 *l = p->l2cap;
  unsigned char md[32];
  unsigned mdlen = 0;
  EVP_DigestFinal_ex(l->sha, md, &mdlen);
  EVP_MD_CTX_free(l->sha);
  l->sha = NULL;
  l->receiving = false;
  char hex[65];
  for (unsigned i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  double s = secs_since(l->t0);
  printf("vm_peer: received %zu bytes in %.2f s (%.1f kB/s) sha256 %s\n", l->recv_done, s,
         (double)l->recv_done / 1024.0 / (s > 0 ? s : 1), hex);
  peer_step_done(p);
}

static void recv_some(struct peer *p) {
  struct l2 *l = p->l2cap;
  uint8_t buf[4096];
  while (l->receiving) {
    int n = uvble_l2cap_recvinto(p->ble, p->conn, l->cid, buf, sizeof buf);
    if (n < 0) {
      peer_fail(p, "l2cap_recvinto: %s", uvble_strerror(n));
      return;
    }
    if (n == 0) return;
    if (l->recv_done + (size_t)n > l->recv_total) {
      peer_fail(p, "received more than %zu bytes", l->recv_total);
      return;
    }
    EVP_DigestUpdate(l->sha, buf, (size_t)n);
    l->recv_done += (size_t)n;
    if (l->recv_done == l->recv_total) recv_finish(p);
  }
}

static int start_recv(struct peer *p, const struct peer_step *s) {
  struct l2 *l = l2_of(p);
  long total = s->nargs > 0 ? peer_parse_num(s->arg[0]) : -1;
  if (!l->open || total <= 0) return UVBLE_EINVAL;
  l->recv_total = (size_t)total;
  l->recv_done = 0;
  l->sha = EVP_MD_CTX_new();
  if (!l->sha || !EVP_DigestInit_ex(l->sha, EVP_sha256(), NULL)) return UVBLE_ENOMEM;
  l->receiving = true;
  l->t0 = uv_hrtime();
  recv_some(p); /* SDUs may have arrived before this step */
  return 0;
}

/* ---- the rest ----------------------------------------------------------------- */

static int step_channel(struct peer *p, const struct peer_step *s) {
  struct l2 *l = l2_of(p);
  long psm = s->nargs > 0 ? peer_parse_num(s->arg[0]) : -1;
  long mtu = s->nargs > 1 ? peer_parse_num(s->arg[1]) : DEFAULT_MTU;
  if (strcmp(s->name, "l2cap-listen") == 0) {
    int r = uvble_l2cap_listen(p->ble, (uint16_t)psm, (uint16_t)mtu);
    if (r == 0) peer_step_done(p);
    return r;
  }
  if (strcmp(s->name, "l2cap-connect") == 0) {
    if (psm < 0 || mtu < 0 || mtu > 0xffff) return UVBLE_EINVAL;
    int r = uvble_l2cap_connect(p->ble, p->conn, (uint16_t)psm, (uint16_t)mtu);
    if (r > 0) l->cid = (uint16_t)r;
    return r > 0 ? 0 : r;
  }
  if (strcmp(s->name, "l2cap-accept") == 0) {
    /* The peer may have been quicker than the steps before this one. */
    if (l->open && l->unclaimed) {
      l->unclaimed = false;
      peer_step_done(p);
    }
    return 0;
  }
  if (strcmp(s->name, "l2cap-close") == 0) {
    if (!l->open) return UVBLE_ENOTCONN;
    return uvble_l2cap_disconnect(p->ble, p->conn, l->cid);
  }
  if (strcmp(s->name, "wait-l2cap-close") == 0) {
    if (!l->open) peer_step_done(p); /* already closed by the peer */
    return 0;
  }
  return 1;
}

int peer_l2cap_step(struct peer *p, const struct peer_step *s) {
  int r = step_channel(p, s);
  if (r == 1) {
    if (strcmp(s->name, "send") == 0)
      r = start_send(p, s);
    else if (strcmp(s->name, "recv") == 0)
      r = start_recv(p, s);
    else
      return 0;
  }
  if (r < 0) peer_fail(p, "%s", uvble_strerror(r));
  return 1;
}

static void on_l2cap_connect(struct peer *p, const uvble_evt_l2cap_connect_t *e) {
  printf("irq L2CAP_CONNECT handle=%u cid=%u psm=%u our_mtu=%u peer_mtu=%u\n", e->conn_handle,
         e->cid, e->psm, e->our_mtu, e->peer_mtu);
  if (p->ending) return;
  struct l2 *l = l2_of(p);
  l->cid = e->cid;
  l->open = true;
  l->peer_mtu = e->peer_mtu;
  l->unclaimed = !at(p, "l2cap-connect") && !at(p, "l2cap-accept");
  if (!l->unclaimed) peer_step_done(p);
}

static void on_l2cap_disconnect(struct peer *p, const uvble_evt_l2cap_disconnect_t *e) {
  printf("irq L2CAP_DISCONNECT handle=%u cid=%u psm=%u status=%d\n", e->conn_handle, e->cid,
         e->psm, e->status);
  if (p->ending) return;
  struct l2 *l = l2_of(p);
  if (e->cid != l->cid) return;
  l->open = false;
  if (at(p, "l2cap-close") || at(p, "wait-l2cap-close"))
    peer_step_done(p);
  else if (at(p, "l2cap-connect"))
    peer_fail(p, "the channel was refused (status %d)", e->status);
  else if (l->sending || l->receiving)
    peer_fail(p, "the channel closed at %zu of %zu bytes", l->sending ? l->send_done : l->recv_done,
              l->sending ? l->send_total : l->recv_total);
}

int peer_l2cap_irq(struct peer *p, int event, const uvble_irq_data_t *d) {
  switch (event) {
    case UVBLE_IRQ_L2CAP_ACCEPT:
      printf("irq L2CAP_ACCEPT handle=%u cid=%u psm=%u peer_mtu=%u\n", d->l2cap_connect.conn_handle,
             d->l2cap_connect.cid, d->l2cap_connect.psm, d->l2cap_connect.peer_mtu);
      return 0;
    case UVBLE_IRQ_L2CAP_CONNECT:
      on_l2cap_connect(p, &d->l2cap_connect);
      break;
    case UVBLE_IRQ_L2CAP_DISCONNECT:
      on_l2cap_disconnect(p, &d->l2cap_disconnect);
      break;
    case UVBLE_IRQ_L2CAP_RECV:
      if (p->l2cap && ((struct l2 *)p->l2cap)->receiving) recv_some(p);
      break;
    case UVBLE_IRQ_L2CAP_SEND_READY:
      if (p->l2cap && ((struct l2 *)p->l2cap)->sending) send_more(p);
      break;
  }
  return 0;
}

static void on_l2_closed(uv_handle_t *h) {
  struct l2 *l = h->data;
  EVP_MD_CTX_free(l->sha);
  free(l);
}

void peer_l2cap_close(struct peer *p) {
  struct l2 *l = p->l2cap;
  if (!l) return;
  p->l2cap = NULL;
  l->poll.data = l;
  uv_close((uv_handle_t *)&l->poll, on_l2_closed);
}
