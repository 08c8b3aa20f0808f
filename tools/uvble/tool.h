/* The `uvble` command: shared plumbing of its subcommands (one stack on
 * one controller, Ctrl-C, finding a device by name or address). */
#ifndef UVBLE_TOOL_H
#define UVBLE_TOOL_H

#include <stdbool.h>
#include <stdio.h>

#include "uvble/async.h"
#include "uvble/co.h"
#include "uvble/uvble.h"

#define TOOL_TIMEOUT_MS 10000

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
int tool_fail(const char *cmd, const char *what, int status);

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

/* -t/--transport, -n/--name, -a/--address handling shared by the
 * subcommands: returns 1 if opt was one of them. */
int tool_common_opt(int opt, const char *arg);

int cmd_scan(int argc, char **argv);
int cmd_gatt_dump(int argc, char **argv);
int cmd_pair(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int uvble_info_main(int argc, char **argv); /* tools/uvble_info.c */

#endif
