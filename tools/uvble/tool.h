/* SPDX-License-Identifier: Apache-2.0 */
/* The `uvble` command: shared plumbing of its subcommands (one stack on
 * one controller, Ctrl-C, finding a device by name or address, connecting
 * and securing the link with a stored bond). */
#ifndef UVBLE_TOOL_H
#define UVBLE_TOOL_H

#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "uvble/async.h"
#include "uvble/co.h"
#include "uvble/uvble.h"

#define TOOL_TIMEOUT_MS 10000
#define TOOL_FIND_S 10 /* how long find_fn scans */

/* Long options every device command takes (and their short letters in
 * TOOL_COMMON_SHORT): -t, -n, -a, --bond-store, --pair, --version, --help. */
#define TOOL_COMMON_LONG                                  \
  {"transport", required_argument, NULL, 't'},            \
      {"name", required_argument, NULL, 'n'},             \
      {"address", required_argument, NULL, 'a'},          \
      {"bond-store", required_argument, NULL, 'S'},       \
      {"pair", no_argument, NULL, 'P'},                   \
      {"version", no_argument, NULL, 'V'},                \
      {"help", no_argument, NULL, 'h'}
#define TOOL_COMMON_SHORT "t:n:a:S:PVh"

struct tool {
  uv_loop_t *loop;
  const char *transport; /* -t, else $UVBLE_TRANSPORT, else hci0 */
  uvble_t *ble;
  uvble_async_t *a;
  uvble_sched_t *sched;
  uv_signal_t sigint, sigterm;
  uv_timer_t quit_timer;
  uvble_future_t quit_f; /* the disconnect when quitting */
  bool quitting;
  int exit_code;
  uvble_connection_t *conn; /* taken down before closing */
  /* find_fn: the device to look for, and what it found */
  const char *name, *address;
  uvble_addr_t want; /* address parsed (checked before anything starts) */
  /* --bond-store FILE (with FILE.key), --pair: secure the link first */
  const char *store;
  bool pair_first;
  uvble_pair_params_t pair_params;
  uvble_task_t conn_task, pk_task;
  uvble_future_t conn_f, pk_f, line_f;
  char line[64];
  uvble_task_t find_task;
  uvble_future_t find_f;
  uvble_scan_t *scan;
  uvble_device_t dev;
  char dev_name[64];
  bool found;
};

extern struct tool TOOL;

/* Opens the stack and its async context on TOOL.transport, with Ctrl-C
 * handling. Returns 0, or prints why and returns 1. */
int tool_open(const char *cmd);
/* Ends the program with code (links are disconnected first). */
void tool_quit(int code);
/* Runs the loop until the end; returns the exit code. */
int tool_run(void);
/* Prints "uvble CMD: WHAT: error" and quits with 1. Returns status. */
int tool_fail(const char *what, int status);
/* The same for a future: its protocol status by code and name. */
int tool_ffail(const char *what, const uvble_future_t *f);

/* A task: powers the stack up, scans (active, 10 s) for TOOL.name or
 * TOOL.address, sets TOOL.dev / dev_name / found. Status 0 or an error. */
int find_fn(uvble_task_t *t);

/* Reads one line from stdin without holding the loop (a TTY or a pipe is
 * read through libuv; a regular file directly): f completes with 0 and the
 * line, without its newline, in buf (cut at cap - 1 bytes), UVBLE_EOF at
 * the end of input, UVBLE_ETIMEDOUT after timeout_ms (0: none) or
 * UVBLE_ECANCELED when the program quits. One read at a time. */
int tool_read_line(uvble_future_t *f, char *buf, size_t cap,
                   uint32_t timeout_ms);

/* Sets the program name for messages ("uvble CMD"). */
void tool_begin(const char *cmd);
/* The options of TOOL_COMMON_LONG: 1 if opt was one of them, 0 if not,
 * TOOL_OPT_EXIT (--help printed usage, --version the version: exit 0) or
 * TOOL_OPT_BAD (a value was wrong, or getopt's '?'; one line naming it
 * was printed: exit 2). */
enum { TOOL_OPT_EXIT = 2, TOOL_OPT_BAD = -1 };
int tool_common_opt(int opt, const char *arg, const char *usage);
/* After getopt: an optional positional ADDR, then the device must be
 * named. Returns 0 or 2 (after saying what is missing). */
int tool_target(int argc, char **argv, const char *usage);
/* Opens the bond store (--bond-store FILE, key in FILE.key). 0 or 1 after
 * saying why. */
int tool_open_store(void);

/* A task: find_fn, connect, exchange the MTU, then (with --bond-store or
 * --pair) encrypt with the stored bond or pair. Sets TOOL.conn. Status 0,
 * or non-zero after printing why and quitting (exit 1). */
int tool_connect_fn(uvble_task_t *t);
/* A task answering passkey prompts on the terminal while TOOL.conn lives. */
int tool_passkey_fn(uvble_task_t *t);
/* Whether a stored bond exists for the peer (its identity when TOOL.dev is
 * an RPA a bond resolves). */
bool tool_have_bond(uvble_addr_t *identity);
/* Prints why a failed pairing/encryption failed, with the fix when a
 * stored bond stopped working. */
void tool_pair_failed(const uvble_future_t *f);

int cmd_scan(int argc, char **argv);
int cmd_gatt_dump(int argc, char **argv);
int cmd_pair(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_bench_gatt(int argc, char **argv); /* uvble bench gatt */
/* The benchmarks' stacks: a stack and its async context on spec, sharing
 * sched. 0, or 1 after saying why. */
int bench_open(uv_loop_t *loop, uvble_sched_t *sched, const char *spec, uvble_t **ble,
               uvble_async_t **a);
int cmd_read(int argc, char **argv);
int cmd_write(int argc, char **argv);
int cmd_subscribe(int argc, char **argv);
int cmd_bonds(int argc, char **argv);
int uvble_info_main(int argc, char **argv); /* tools/uvble_info.c */

#endif
