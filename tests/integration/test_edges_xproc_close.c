/* SPDX-License-Identifier: Apache-2.0 */
/* uvble_close() with a link up, across processes (see edges_xproc.h): the
 * peer must learn the link is gone. */
#include "edges_xproc.h"

/* A stack that closes ends its links first, so the peer learns at once
 * (HCI Disconnect, Vol 4, Part E, 7.1.6, with reason 0x15, Remote Device
 * Terminated Connection due to Power Off, one of the reasons that command
 * allows; what Linux does on power-off) instead of
 * waiting for a supervision timeout, or on btvirt, which has none, forever
 * (and a UART controller left alone keeps the link up for good). */
static void close_tells_peer(bool central_closes) {
  struct edge e0, e1;
  struct inst i0, i1, *all[3];
  edges_up(&i0, &e0, &i1, &e1, all, END_CLOSE, NULL);
  edge_connect(&i0, &i1);
  struct inst *actor = central_closes ? &i1 : &i0;
  struct inst *peer = central_closes ? &i0 : &i1;
  AS(actor) {
    end_now(actor);
    wait_end(actor);
  }
  AS(peer) wait_link_down(peer, central_closes ? UVBLE_IRQ_CENTRAL_DISCONNECT
                                               : UVBLE_IRQ_PERIPHERAL_DISCONNECT,
                          true);
  insts_down(all);
}

TEST(close_tells_the_peripheral) { close_tells_peer(true); }
TEST(close_tells_the_central) { close_tells_peer(false); }

TEST_MAIN()
