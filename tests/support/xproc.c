/* SPDX-License-Identifier: Apache-2.0 */
/* One process per instance, kept in step through the parent (xproc.h).
 *
 * The channels are SOCK_SEQPACKET socketpairs, so a message is one packet:
 * a kind byte and up to XPROC_MSG_MAX - 1 bytes of text. 'M' is a
 * broadcast (relayed by the hub to the other children), 'B' a child
 * reaching a barrier, 'G' the hub releasing it. */
#include "xproc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#define CHILD_QUEUE 32

static bool send_kind(int fd, char kind, const char *text) {
  char buf[XPROC_MSG_MAX + 1];
  size_t n = text ? strlen(text) : 0;
  if (n >= XPROC_MSG_MAX) return false;
  buf[0] = kind;
  if (n) memcpy(buf + 1, text, n);
  ssize_t r;
  do {
    r = send(fd, buf, n + 1, MSG_NOSIGNAL);
  } while (r < 0 && errno == EINTR);
  return r == (ssize_t)(n + 1);
}

/* ---- the parent: the hub ---- */

struct hub {
  int n;
  pid_t pid[XPROC_MAX_CHILDREN];
  int fd[XPROC_MAX_CHILDREN]; /* -1 once the child's channel closed */
  bool at_barrier[XPROC_MAX_CHILDREN];
  bool ok;
};

static void hub_close_all(struct hub *h) {
  for (int k = 0; k < h->n; k++)
    if (h->fd[k] >= 0) {
      close(h->fd[k]);
      h->fd[k] = -1;
    }
}

/* A barrier is released when every child still running has reached it. */
static void hub_check_barrier(struct hub *h) {
  int waiting = 0;
  for (int k = 0; k < h->n; k++) {
    if (h->fd[k] < 0) continue;
    if (!h->at_barrier[k]) return;
    waiting++;
  }
  if (!waiting) return;
  for (int k = 0; k < h->n; k++)
    if (h->fd[k] >= 0) {
      h->at_barrier[k] = false;
      send_kind(h->fd[k], 'G', NULL);
    }
}

static void hub_child_ended(struct hub *h, int k) {
  int st = 0;
  close(h->fd[k]);
  h->fd[k] = -1;
  while (waitpid(h->pid[k], &st, 0) < 0 && errno == EINTR) {
  }
  h->pid[k] = -1;
  bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  if (ok) {
    hub_check_barrier(h);
    return;
  }
  if (WIFSIGNALED(st))
    fprintf(stderr, "  xproc: instance %d killed by signal %d\n", k, WTERMSIG(st));
  else
    fprintf(stderr, "  xproc: instance %d exited with status %d\n", k,
            WEXITSTATUS(st));
  if (h->ok) hub_close_all(h); /* the others fail at their next wait */
  h->ok = false;
}

static void hub_read(struct hub *h, int k) {
  char buf[XPROC_MSG_MAX + 1];
  ssize_t r = recv(h->fd[k], buf, sizeof buf - 1, 0);
  if (r < 0 && errno == EINTR) return;
  if (r <= 0) {
    hub_child_ended(h, k);
    return;
  }
  buf[r] = '\0';
  if (buf[0] == 'M') {
    for (int j = 0; j < h->n; j++)
      if (j != k && h->fd[j] >= 0) send_kind(h->fd[j], 'M', buf + 1);
  } else if (buf[0] == 'B') {
    h->at_barrier[k] = true;
    hub_check_barrier(h);
  }
}

static void hub_run(struct hub *h, unsigned timeout_ms) {
  uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
  for (;;) {
    struct pollfd p[XPROC_MAX_CHILDREN];
    int idx[XPROC_MAX_CHILDREN], np = 0;
    for (int k = 0; k < h->n; k++)
      if (h->fd[k] >= 0) {
        p[np].fd = h->fd[k];
        p[np].events = POLLIN;
        idx[np++] = k;
      }
    if (!np) break;
    uint64_t now = uv_hrtime();
    if (now >= deadline) {
      fprintf(stderr, "  xproc: instances still running after %u ms: killed\n",
              timeout_ms);
      h->ok = false;
      hub_close_all(h);
      break;
    }
    int r = poll(p, (nfds_t)np, (int)((deadline - now) / 1000000u) + 1);
    if (r < 0 && errno != EINTR) {
      perror("  xproc: poll");
      h->ok = false;
      hub_close_all(h);
      break;
    }
    for (int q = 0; q < np && r > 0; q++)
      if (p[q].revents && h->fd[idx[q]] >= 0) hub_read(h, idx[q]);
  }
  /* Children whose channel the hub closed: give them a moment to notice,
   * then kill what is left. */
  for (int k = 0; k < h->n; k++) {
    if (h->pid[k] < 0) continue;
    int st = 0;
    for (int t = 0; t < 300 && waitpid(h->pid[k], &st, WNOHANG) == 0; t++)
      usleep(10000);
    if (waitpid(h->pid[k], &st, WNOHANG) == 0) {
      kill(h->pid[k], SIGKILL);
      waitpid(h->pid[k], &st, 0);
      fprintf(stderr, "  xproc: instance %d did not end: killed\n", k);
      h->ok = false;
    } else if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
      fprintf(stderr, "  xproc: instance %d ended with status 0x%x\n", k, st);
      h->ok = false;
    }
    h->pid[k] = -1;
  }
}

/* ---- a child ---- */

static struct {
  int fd;
  uv_poll_t poll;
  bool polling;
  bool hub_gone;
  bool overflow;
  unsigned go_seen, go_wanted;
  char queue[CHILD_QUEUE][XPROC_MSG_MAX];
  int nqueue;
} child = {.fd = -1};

static void child_on_readable(uv_poll_t *p, int status, int events) {
  (void)p;
  (void)events;
  for (;;) {
    char buf[XPROC_MSG_MAX + 1];
    ssize_t r = status < 0 ? 0 : recv(child.fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (r <= 0) {
      child.hub_gone = true;
      uv_poll_stop(&child.poll);
      return;
    }
    buf[r] = '\0';
    if (buf[0] == 'G') {
      child.go_seen++;
    } else if (buf[0] == 'M') {
      if (child.nqueue == CHILD_QUEUE) {
        child.overflow = true;
        continue;
      }
      snprintf(child.queue[child.nqueue++], XPROC_MSG_MAX, "%s", buf + 1);
    }
  }
}

int xproc_fork(int n, unsigned hub_timeout_ms, bool *all_ok) {
  int sv[XPROC_MAX_CHILDREN][2];
  struct hub h = {.n = n, .ok = true};
  *all_ok = false;
  if (n < 1 || n > XPROC_MAX_CHILDREN) {
    fprintf(stderr, "  xproc: %d instances (1..%d)\n", n, XPROC_MAX_CHILDREN);
    return -1;
  }
  for (int k = 0; k < n; k++)
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv[k]) != 0) {
      perror("  xproc: socketpair");
      for (int j = 0; j < k; j++) close(sv[j][0]), close(sv[j][1]);
      return -1;
    }
  fflush(NULL); /* nothing buffered is written twice */
  for (int k = 0; k < n; k++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("  xproc: fork");
      h.ok = false;
      h.n = k;
      break;
    }
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (int j = 0; j < n; j++) {
        close(sv[j][0]);
        if (j != k) close(sv[j][1]);
      }
      child.fd = sv[k][1];
      return k;
    }
    h.pid[k] = pid;
    h.fd[k] = sv[k][0];
  }
  for (int k = 0; k < n; k++) close(sv[k][1]);
  for (int k = h.n; k < n; k++) close(sv[k][0]);
  if (!h.ok) hub_close_all(&h);
  hub_run(&h, hub_timeout_ms);
  *all_ok = h.ok;
  return -1;
}

void xproc_child_start(uv_loop_t *loop) {
  uv_poll_init_socket(loop, &child.poll, child.fd);
  uv_poll_start(&child.poll, UV_READABLE | UV_DISCONNECT, child_on_readable);
  child.polling = true;
}

bool xproc_broadcast(const char *msg) {
  if (!send_kind(child.fd, 'M', msg)) {
    fprintf(stderr, "  xproc: broadcast '%s' failed\n", msg);
    return false;
  }
  return true;
}

struct match {
  const char *msg;
  bool prefix;
  int found;
};

static int find(const struct match *m) {
  for (int k = 0; k < child.nqueue; k++) {
    const char *q = child.queue[k];
    if (m->prefix ? strncmp(q, m->msg, strlen(m->msg)) == 0 : strcmp(q, m->msg) == 0)
      return k;
  }
  return -1;
}

static bool match_pred(void *arg) {
  struct match *m = arg;
  m->found = find(m);
  return m->found >= 0 || child.hub_gone || child.overflow;
}

bool xproc_wait(uv_loop_t *loop, const char *msg, bool prefix, char *out,
                size_t out_len, unsigned timeout_ms) {
  struct match m = {msg, prefix, -1};
  run_until_pred(loop, match_pred, &m, timeout_ms);
  m.found = find(&m);
  if (m.found < 0) {
    fprintf(stderr, "  xproc: waiting for '%s': %s\n", msg,
            child.overflow    ? "message queue overflowed"
            : child.hub_gone  ? "another instance ended"
                              : "timed out");
    return false;
  }
  if (out) snprintf(out, out_len, "%s", child.queue[m.found]);
  memmove(child.queue[m.found], child.queue[m.found + 1],
          (size_t)(child.nqueue - m.found - 1) * sizeof child.queue[0]);
  child.nqueue--;
  return true;
}

static bool go_pred(void *arg) {
  (void)arg;
  return child.go_seen >= child.go_wanted || child.hub_gone;
}

bool xproc_barrier(uv_loop_t *loop, unsigned timeout_ms) {
  child.go_wanted++;
  if (!send_kind(child.fd, 'B', NULL)) return false;
  run_until_pred(loop, go_pred, NULL, timeout_ms);
  if (child.go_seen >= child.go_wanted) return true;
  fprintf(stderr, "  xproc: barrier %u: %s\n", child.go_wanted,
          child.hub_gone ? "another instance ended" : "timed out");
  return false;
}

void xproc_child_stop(void) {
  if (!child.polling) return;
  child.polling = false;
  uv_close((uv_handle_t *)&child.poll, NULL);
}

void xproc_child_exit(bool failed) {
  fflush(NULL);
  exit(failed ? 1 : 0);
}
