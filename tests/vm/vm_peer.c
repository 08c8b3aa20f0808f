/* SPDX-License-Identifier: Apache-2.0 */
/* vm_peer TRANSPORT STEP...
 *
 * Runs uvble on TRANSPORT (hci1 in the VM) through the steps given, in
 * order; exits 0 when every step succeeded, 1 at the first failure. Each
 * step is NAME or NAME=ARG[,ARG...]; addresses are aa:bb:cc:dd:ee:ff
 * (public) or aa:bb:cc:dd:ee:ff/random.
 *
 *   scan=ADDR[,NAME]    active scan until ADDR is seen (with NAME in its
 *                       advertising data or scan response), then stop
 *   connect=ADDR        connect as central; done at PERIPHERAL_CONNECT
 *   advertise=NAME      advertise connectably with NAME (done at once)
 *   static-addr=ADDR    advertise, scan and connect from the static random
 *                       address ADDR (a controller whose own address changes
 *                       from run to run, as btvirt's socket ones do, still
 *                       gives the peer one identity to bond with)
 *   wait-central=ADDR[,MS]  wait until ADDR connects to us (CENTRAL_CONNECT);
 *                       with MS, restart advertising every MS ms meanwhile
 *                       (btvirt reports an advertiser to a scanner once,
 *                       when either starts, and the kernel can miss that
 *                       one report while its own scan is still starting)
 *   disconnect          end the connection; done at its DISCONNECT event
 *   wait-disconnect     wait until the peer ends the connection
 *   spawn=CMD ARG...    start a command (words split at spaces), output to
 *                       ours; done at once
 *   reap[=STATUS]       wait for the spawned command; it must exit STATUS
 *                       (default 0)
 *   sleep=MS            wait
 *   wait-file=PATH[,TEXT]  wait until PATH exists (and holds TEXT): the
 *                       scenario's signal that the kernel side got there
 *   timeout=SECONDS     the time limit of each later step (default 30)
 * plus the L2CAP steps of peer_l2cap.c, the security ones of peer_smp.c
 * and the GATT ones of peer_gatt.c.
 */
#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"
#include "uvble/adv.h"

static uint64_t step_timeout_ms = 30000;

long peer_parse_num(const char *text) {
  if (!text || !*text) return -1;
  char *end;
  long v = strtol(text, &end, 0);
  return (*end || v < 0) ? -1 : v;
}

int peer_parse_addr(const char *text, uvble_addr_t *out) {
  char buf[32];
  snprintf(buf, sizeof buf, "%s", text);
  out->type = UVBLE_ADDR_PUBLIC;
  char *slash = strchr(buf, '/');
  if (slash) {
    if (strcmp(slash + 1, "random") != 0) return UVBLE_EINVAL;
    *slash = 0;
    out->type = UVBLE_ADDR_RANDOM;
  }
  return uvble_addr_parse(out, buf);
}

static const char *addr_str(const uvble_addr_t *a, char buf[UVBLE_ADDR_STR_LEN]) {
  return uvble_addr_to_str(a, buf);
}

static bool same_addr(const uvble_addr_t *a, const uvble_addr_t *b) {
  return a->type == b->type && memcmp(a->val, b->val, 6) == 0;
}

/* ---- end of the run ------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) { (void)h; }
static void on_proc_closed(uv_handle_t *h) { free(h); }

static void on_ble_closed(uvble_t *ble, void *cb_arg) {
  (void)cb_arg;
  struct peer *p = uvble_get_data(ble);
  p->ble = NULL;
  uv_close((uv_handle_t *)&p->step_timer, on_handle_closed);
  uv_close((uv_handle_t *)&p->sleep_timer, on_handle_closed);
  uv_close((uv_handle_t *)&p->poll_timer, on_handle_closed);
  if (p->proc_started) {
    /* A command still running is stopped: the scenario failed already or
     * did not ask to reap it. */
    if (!p->proc_exited) uv_process_kill(p->proc, SIGTERM);
    uv_close((uv_handle_t *)p->proc, on_proc_closed);
  }
}

static void finish(struct peer *p) {
  if (p->ending) return;
  p->ending = true;
  uv_timer_stop(&p->step_timer);
  uv_timer_stop(&p->sleep_timer);
  uv_timer_stop(&p->poll_timer);
  peer_l2cap_close(p);
  if (p->ble) uvble_close(p->ble, on_ble_closed, NULL);
}

void peer_fail(struct peer *p, const char *fmt, ...) {
  if (p->failed) return;
  p->failed = 1;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stdout, "vm_peer: step %d (%s) failed: ", p->cur + 1,
          p->cur < p->nsteps ? p->steps[p->cur].text : "-");
  vfprintf(stdout, fmt, ap);
  fprintf(stdout, "\n");
  va_end(ap);
  fflush(stdout);
  finish(p);
}

/* ---- step machine ----------------------------------------------------------- */

static void run_step(struct peer *p);

static void on_next(uv_timer_t *t) {
  struct peer *p = t->data;
  run_step(p);
}

void peer_step_done(struct peer *p) {
  if (p->failed || !p->step_active) return;
  p->step_active = false;
  uv_timer_stop(&p->step_timer);
  printf("vm_peer: step %d (%s) ok\n", p->cur + 1, p->steps[p->cur].text);
  fflush(stdout);
  p->cur++;
  /* Not re-entrantly from an irq: the next step starts on a later turn. */
  p->sleep_timer.data = p;
  uv_timer_start(&p->sleep_timer, on_next, 0, 0);
}

static void on_step_timeout(uv_timer_t *t) {
  struct peer *p = t->data;
  peer_fail(p, "no result within %llu ms", (unsigned long long)step_timeout_ms);
}

static void on_sleep_done(uv_timer_t *t) { peer_step_done(t->data); }

static void on_proc_exit(uv_process_t *proc, int64_t status, int term_signal) {
  struct peer *p = proc->data;
  p->proc_exited = true;
  p->proc_status = status;
  p->proc_term_signal = term_signal;
  printf("vm_peer: spawned command exited %lld (signal %d)\n", (long long)status,
         term_signal);
  fflush(stdout);
  if (p->step_active && strcmp(p->steps[p->cur].name, "reap") == 0) {
    const struct peer_step *s = &p->steps[p->cur];
    long want = s->nargs ? peer_parse_num(s->arg[0]) : 0;
    p->proc_started = false;
    uv_close((uv_handle_t *)p->proc, on_proc_closed);
    if (term_signal || status != want)
      peer_fail(p, "the command exited %lld (signal %d), expected %ld", (long long)status,
                term_signal, want);
    else
      peer_step_done(p);
  }
}

static int step_spawn(struct peer *p, const struct peer_step *s) {
  static char *argv[32];
  static char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s", s->rest ? s->rest : "");
  int n = 0;
  for (char *w = strtok(cmd, " "); w && n < 31; w = strtok(NULL, " ")) argv[n++] = w;
  argv[n] = NULL;
  if (n == 0 || p->proc_started) return UVBLE_EINVAL; /* one at a time: reap first */
  uv_stdio_container_t stdio[3] = {
      /* btmgmt wants a real stdin: on /dev/null it quits before printing. */
      {.flags = UV_INHERIT_FD, .data.fd = 0}, {.flags = UV_INHERIT_FD, .data.fd = 1},
      {.flags = UV_INHERIT_FD, .data.fd = 2}};
  uv_process_options_t o = {.exit_cb = on_proc_exit, .file = argv[0], .args = argv,
                            .stdio_count = 3, .stdio = stdio};
  p->proc = calloc(1, sizeof *p->proc);
  p->proc->data = p;
  fflush(stdout);
  int r = uv_spawn(p->loop, p->proc, &o);
  if (r < 0) {
    printf("vm_peer: spawn %s: %s\n", argv[0], uv_strerror(r));
    uv_close((uv_handle_t *)p->proc, on_proc_closed);
    return r;
  }
  p->proc_started = true;
  p->proc_exited = false;
  printf("vm_peer: spawned %s (pid %d)\n", s->rest, p->proc->pid);
  peer_step_done(p);
  return 0;
}

static int step_advertise(struct peer *p, const struct peer_step *s) {
  uint8_t adv[UVBLE_ADV_LEGACY_MAX], resp[UVBLE_ADV_LEGACY_MAX];
  size_t adv_len, resp_len;
  uvble_adv_fields_t f = {.name = s->nargs ? s->arg[0] : "uvble"};
  int r = uvble_adv_build(&f, UVBLE_ADV_LEGACY_MAX, adv, &adv_len, resp, &resp_len);
  if (r == 0) r = uvble_gap_advertise(p->ble, 100000, adv, adv_len, resp, resp_len, true);
  if (r == 0) peer_step_done(p);
  return r;
}

static void on_readvertise(uv_timer_t *t) {
  struct peer *p = t->data;
  if (!p->step_active || strcmp(p->steps[p->cur].name, "wait-central") != 0 || p->connected) {
    uv_timer_stop(t);
    return;
  }
  /* NULL payloads: the same advertising again, restarted. */
  int r = uvble_gap_advertise(p->ble, 100000, NULL, 0, NULL, 0, true);
  if (r < 0) peer_fail(p, "re-advertise: %s", uvble_strerror(r));
}

static int step_gap(struct peer *p, const struct peer_step *s) {
  const char *n = s->name;
  if (strcmp(n, "scan") == 0 || strcmp(n, "connect") == 0 || strcmp(n, "wait-central") == 0) {
    if (s->nargs < 1 || peer_parse_addr(s->arg[0], &p->want) != 0) return UVBLE_EINVAL;
  }
  if (strcmp(n, "scan") == 0) {
    snprintf(p->want_name, sizeof p->want_name, "%s", s->nargs > 1 ? s->arg[1] : "");
    p->scan_found = p->scan_stopping = false;
    return uvble_gap_scan(p->ble, 0, 100000, 100000, true);
  }
  if (strcmp(n, "connect") == 0) return uvble_gap_connect(p->ble, &p->want, 10000, 0, 0);
  if (strcmp(n, "wait-central") == 0) {
    /* The central may have been quicker than the steps before this one. */
    if (p->connected && same_addr(&p->peer_addr, &p->want)) {
      peer_step_done(p);
      return 0;
    }
    long ms = s->nargs > 1 ? peer_parse_num(s->arg[1]) : 0;
    if (ms < 0) return UVBLE_EINVAL;
    if (ms > 0) uv_timer_start(&p->poll_timer, on_readvertise, (uint64_t)ms, (uint64_t)ms);
    return 0;
  }
  if (strcmp(n, "wait-disconnect") == 0) {
    /* The event may have come while an earlier step (a reap) ran. */
    if (!p->connected) peer_step_done(p);
    return 0;
  }
  if (strcmp(n, "disconnect") == 0) {
    int r = uvble_gap_disconnect(p->ble, p->conn);
    return r == 1 ? 0 : r == 0 ? UVBLE_ENOTCONN : r;
  }
  if (strcmp(n, "advertise") == 0) return step_advertise(p, s);
  if (strcmp(n, "static-addr") == 0) {
    uvble_addr_t a;
    if (s->nargs != 1 || uvble_addr_parse(&a, s->arg[0]) != 0) return UVBLE_EINVAL;
    a.type = UVBLE_ADDR_RANDOM;
    int r = uvble_config_set_mac(p->ble, &a);
    if (r == 0) r = uvble_config_set_int(p->ble, UVBLE_CONFIG_ADDR_MODE, UVBLE_ADDR_MODE_RANDOM);
    if (r == 0) peer_step_done(p);
    return r;
  }
  return 1;
}

static bool file_has(const char *path, const char *text) {
  FILE *f = fopen(path, "r");
  if (!f) return false;
  bool found = !text;
  char line[512];
  while (!found && fgets(line, sizeof line, f)) found = strstr(line, text) != NULL;
  fclose(f);
  return found;
}

static void on_file_poll(uv_timer_t *t) {
  struct peer *p = t->data;
  const struct peer_step *s = &p->steps[p->cur];
  if (!p->step_active || strcmp(s->name, "wait-file") != 0) {
    uv_timer_stop(t);
    return;
  }
  if (!file_has(s->arg[0], s->nargs > 1 ? s->arg[1] : NULL)) return;
  uv_timer_stop(t);
  peer_step_done(p);
}

static int step_misc(struct peer *p, const struct peer_step *s) {
  const char *n = s->name;
  if (strcmp(n, "spawn") == 0) return step_spawn(p, s);
  if (strcmp(n, "reap") == 0) {
    if (!p->proc_started) return UVBLE_EINVAL;
    if (p->proc_exited) on_proc_exit(p->proc, p->proc_status, p->proc_term_signal);
    return 0;
  }
  if (strcmp(n, "sleep") == 0) {
    long ms = s->nargs ? peer_parse_num(s->arg[0]) : -1;
    if (ms < 0) return UVBLE_EINVAL;
    uv_timer_start(&p->sleep_timer, on_sleep_done, (uint64_t)ms, 0);
    return 0;
  }
  if (strcmp(n, "wait-file") == 0) {
    if (s->nargs < 1) return UVBLE_EINVAL;
    return uv_timer_start(&p->poll_timer, on_file_poll, 0, 100);
  }
  if (strcmp(n, "timeout") == 0) {
    long sec = s->nargs ? peer_parse_num(s->arg[0]) : -1;
    if (sec <= 0) return UVBLE_EINVAL;
    step_timeout_ms = (uint64_t)sec * 1000;
    peer_step_done(p);
    return 0;
  }
  return 1;
}

static void run_step(struct peer *p) {
  if (p->failed) return;
  if (p->cur >= p->nsteps) {
    printf("vm_peer: all %d steps ok\n", p->nsteps);
    finish(p);
    return;
  }
  const struct peer_step *s = &p->steps[p->cur];
  printf("vm_peer: step %d: %s\n", p->cur + 1, s->text);
  fflush(stdout);
  p->step_active = true;
  uv_timer_start(&p->step_timer, on_step_timeout, step_timeout_ms, 0);
  int r = step_gap(p, s);
  if (r == 1) r = step_misc(p, s);
  if (r == 1) r = peer_l2cap_step(p, s) ? 0 : 1;
  if (r == 1) r = peer_smp_step(p, s) ? 0 : 1;
  if (r == 1) r = peer_gatt_step(p, s) ? 0 : 1;
  if (r == 1)
    peer_fail(p, "unknown step");
  else if (r < 0)
    peer_fail(p, "%s", uvble_strerror(r));
}

/* ---- events ------------------------------------------------------------------ */

static void on_scan_result(struct peer *p, const uvble_evt_scan_result_t *e) {
  char name[64] = "";
  uvble_adv_name_str(e->adv_data, e->adv_data_len, NULL, 0, name, sizeof name);
  char a[UVBLE_ADDR_STR_LEN];
  printf("irq SCAN_RESULT addr=%s/%u adv_type=%u rssi=%d len=%zu name=\"%s\"\n",
         addr_str(&e->addr, a), e->addr.type, e->adv_type, e->rssi, e->adv_data_len, name);
  if (!same_addr(&e->addr, &p->want) || p->scan_found) return;
  if (p->want_name[0] && strcmp(name, p->want_name) != 0) return;
  p->scan_found = true;
  printf("vm_peer: found %s\n", a);
  p->scan_stopping = true;
  int r = uvble_gap_scan_stop(p->ble);
  if (r < 0) peer_fail(p, "scan_stop: %s", uvble_strerror(r));
}

static void on_connect(struct peer *p, int event, const uvble_evt_connect_t *e) {
  const char *step = p->step_active ? p->steps[p->cur].name : "";
  bool central = event == UVBLE_IRQ_PERIPHERAL_CONNECT; /* we are central */
  if (e->conn_handle == 0xffff) {
    if (strcmp(step, "connect") == 0) peer_fail(p, "the connection attempt failed");
    return;
  }
  p->conn = e->conn_handle;
  p->connected = true;
  p->peer_addr = e->addr;
  if ((central && strcmp(step, "connect") == 0) ||
      (!central && strcmp(step, "wait-central") == 0)) {
    if (same_addr(&e->addr, &p->want))
      peer_step_done(p);
    else
      peer_fail(p, "connected to another address");
  }
}

static void on_disconnect(struct peer *p, const uvble_evt_connect_t *e) {
  const char *step = p->step_active ? p->steps[p->cur].name : "";
  if (e->conn_handle == 0xffff) {
    if (strcmp(step, "connect") == 0) peer_fail(p, "the connection attempt failed");
    return;
  }
  if (e->conn_handle != p->conn) return;
  p->connected = false;
  if (strcmp(step, "disconnect") == 0 || strcmp(step, "wait-disconnect") == 0)
    peer_step_done(p);
}

static void print_event(int event, const uvble_irq_data_t *d) {
  char a[UVBLE_ADDR_STR_LEN];
  switch (event) {
    case UVBLE_IRQ_CENTRAL_CONNECT:
    case UVBLE_IRQ_CENTRAL_DISCONNECT:
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
      printf("irq %s handle=%u addr=%s/%u\n", uvble_irq_name(event), d->connect.conn_handle,
             addr_str(&d->connect.addr, a), d->connect.addr.type);
      break;
    case UVBLE_IRQ_SCAN_RESULT: /* on_scan_result prints it */
    case UVBLE_IRQ_L2CAP_ACCEPT: /* peer_l2cap.c prints these ... */
    case UVBLE_IRQ_L2CAP_CONNECT:
    case UVBLE_IRQ_L2CAP_DISCONNECT:
    case UVBLE_IRQ_L2CAP_RECV: /* ... and these would be thousands of lines */
    case UVBLE_IRQ_L2CAP_SEND_READY:
    case UVBLE_IRQ_PASSKEY_ACTION: /* peer_smp.c prints these */
    case UVBLE_IRQ_ENCRYPTION_UPDATE:
    case UVBLE_IRQ_GET_SECRET: /* the bond store's traffic */
    case UVBLE_IRQ_SET_SECRET:
    case UVBLE_IRQ_GATTS_READ_REQUEST: /* one per Read Blob: many */
    case UVBLE_IRQ_GATTS_WRITE: /* peer_gatt.c prints the GATT events */
    case UVBLE_IRQ_GATTC_SERVICE_RESULT:
    case UVBLE_IRQ_GATTC_CHARACTERISTIC_RESULT:
    case UVBLE_IRQ_GATTC_DESCRIPTOR_RESULT:
    case UVBLE_IRQ_GATTC_READ_RESULT:
    case UVBLE_IRQ_GATTC_READ_DONE:
    case UVBLE_IRQ_GATTC_WRITE_DONE:
    case UVBLE_IRQ_GATTC_NOTIFY:
    case UVBLE_IRQ_GATTC_INDICATE:
    case UVBLE_IRQ_GATTS_INDICATE_DONE:
    case UVBLE_IRQ_MTU_EXCHANGED:
      break;
    default:
      printf("irq %s\n", uvble_irq_name(event));
  }
}

static int on_irq(uvble_t *ble, int event, const uvble_irq_data_t *d, void *arg) {
  struct peer *p = arg;
  (void)ble;
  print_event(event, d);
  switch (event) {
    case UVBLE_IRQ_SCAN_RESULT:
      on_scan_result(p, &d->scan_result);
      break;
    case UVBLE_IRQ_SCAN_DONE:
      if (p->step_active && strcmp(p->steps[p->cur].name, "scan") == 0) {
        if (p->scan_found)
          peer_step_done(p);
        else
          peer_fail(p, "the scan ended without a report from the address");
      }
      break;
    case UVBLE_IRQ_PERIPHERAL_CONNECT:
    case UVBLE_IRQ_CENTRAL_CONNECT:
      on_connect(p, event, &d->connect);
      break;
    case UVBLE_IRQ_PERIPHERAL_DISCONNECT:
    case UVBLE_IRQ_CENTRAL_DISCONNECT:
      on_disconnect(p, &d->connect);
      break;
  }
  peer_smp_irq(p, event, d);
  peer_gatt_irq(p, event, d);
  fflush(stdout);
  return peer_l2cap_irq(p, event, d);
}

static void on_active(uvble_t *ble, int status, void *cb_arg) {
  (void)cb_arg;
  struct peer *p = uvble_get_data(ble);
  if (status != 0) {
    printf("vm_peer: %s: power-up failed: %s\n", p->spec, uvble_strerror(status));
    p->failed = 1;
    finish(p);
    return;
  }
  uvble_controller_info_t in;
  uvble_controller_info(ble, &in);
  p->own = in.public_addr;
  char a[UVBLE_ADDR_STR_LEN];
  printf("vm_peer: %s up, address %s\n", p->spec, addr_str(&p->own, a));
  run_step(p);
}

/* ---- command line ------------------------------------------------------------ */

static int parse_step(char *text, struct peer_step *s) {
  memset(s, 0, sizeof *s);
  s->text = text;
  char *eq = strchr(text, '=');
  size_t n = eq ? (size_t)(eq - text) : strlen(text);
  if (n == 0 || n >= sizeof s->name) return -1;
  memcpy(s->name, text, n);
  if (!eq) return 0;
  s->rest = strdup(eq + 1);
  s->args_buf = strdup(eq + 1);
  char *save = NULL;
  for (char *a = strtok_r(s->args_buf, ",", &save); a && s->nargs < PEER_MAX_ARGS;
       a = strtok_r(NULL, ",", &save))
    s->arg[s->nargs++] = a;
  return 0;
}

static void free_steps(struct peer *p) {
  for (int i = 0; i < p->nsteps; i++) {
    free(p->steps[i].rest);
    free(p->steps[i].args_buf);
  }
  free(p->steps);
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "-h") == 0) {
    fprintf(stderr, "usage: vm_peer TRANSPORT STEP... (see tests/vm/vm_peer.c)\n%s%s%s",
            peer_l2cap_usage, peer_smp_usage, peer_gatt_usage);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct peer p = {.loop = uv_default_loop(), .spec = argv[1], .conn = 0xffff};
  p.nsteps = argc - 2;
  p.steps = calloc((size_t)p.nsteps + 1, sizeof *p.steps);
  for (int i = 0; i < p.nsteps; i++)
    if (parse_step(argv[i + 2], &p.steps[i]) != 0) {
      fprintf(stderr, "vm_peer: bad step \"%s\"\n", argv[i + 2]);
      return 2;
    }
  uv_timer_init(p.loop, &p.step_timer);
  uv_timer_init(p.loop, &p.sleep_timer);
  uv_timer_init(p.loop, &p.poll_timer);
  p.step_timer.data = p.sleep_timer.data = p.poll_timer.data = &p;
  char err[256] = "";
  int r = uvble_new(p.loop, p.spec, &p.ble, err, sizeof err);
  if (r < 0) {
    printf("vm_peer: %s\n", err[0] ? err : uvble_strerror(r));
    return 1;
  }
  uvble_set_data(p.ble, &p);
  uvble_irq(p.ble, on_irq, &p);
  r = uvble_active(p.ble, true, on_active, NULL);
  if (r < 0) {
    printf("vm_peer: active: %s\n", uvble_strerror(r));
    p.failed = 1;
    finish(&p);
  }
  uv_run(p.loop, UV_RUN_DEFAULT);
  free_steps(&p);
  uv_loop_close(p.loop);
  return p.failed ? 1 : 0;
}
