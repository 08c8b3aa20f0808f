/* SPDX-License-Identifier: Apache-2.0 */
/* Tests across processes: one child process per instance, each with its own
 * libuv loop and its own uvble host (its own btvirt controller), kept in
 * step through the parent, as MicroPython's run-multitests.py keeps its
 * instances in step (multitest.next(), broadcast(), wait()).
 *
 * xproc_fork(n) forks n children and returns each child's index in it; the
 * parent stays in xproc_fork as the hub: it relays each child's broadcast
 * to the other children, releases a barrier when every child has reached
 * it, and reaps the children. A child that fails (exits non-zero, or dies)
 * makes the hub close every other child's channel, so the others fail at
 * their next wait ("another instance ended") instead of timing out.
 *
 * In a child, the channel to the hub is polled by the child's loop: a wait
 * runs the loop (so the child's stack keeps answering its peer) until the
 * message arrives, the deadline passes or the hub goes away.
 */
#ifndef UVBLE_TEST_XPROC_H
#define UVBLE_TEST_XPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#define XPROC_MAX_CHILDREN 4
#define XPROC_MSG_MAX 200

/* Forks n children (1..XPROC_MAX_CHILDREN). In a child: returns its index
 * (0..n-1); the child must end with xproc_child_exit(). In the parent:
 * returns -1 once every child has ended, after hub_timeout_ms at most
 * (then the children left are killed); *all_ok tells whether every child
 * exited 0, and why not is printed to stderr. */
int xproc_fork(int n, unsigned hub_timeout_ms, bool *all_ok);

/* Child: starts polling the hub channel on loop (the child's own loop;
 * call uv_loop_fork first if the loop was initialised before the fork). */
void xproc_child_start(uv_loop_t *loop);
/* Child: sends msg to every other child (multitest.broadcast()). */
bool xproc_broadcast(const char *msg);
/* Child: runs loop until a message equal to msg (or, when prefix is true,
 * starting with msg) arrives from another child; removes it and copies it
 * into out (may be NULL). False on timeout or when the hub went away. */
bool xproc_wait(uv_loop_t *loop, const char *msg, bool prefix, char *out,
                size_t out_len, unsigned timeout_ms);
/* Child: multitest.next(): returns when every child has called it as many
 * times. */
bool xproc_barrier(uv_loop_t *loop, unsigned timeout_ms);
/* Child: stops polling the channel (before the loop is torn down). */
void xproc_child_stop(void);
/* Child: ends the process: status 1 if failed, else 0 (leak checking runs
 * at exit as usual). */
void xproc_child_exit(bool failed) __attribute__((noreturn));

#endif
