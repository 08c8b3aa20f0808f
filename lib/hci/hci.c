/* SPDX-License-Identifier: Apache-2.0 */
/* HCI command queue and event dispatch.
 *
 * Commands wait in a queue until the controller grants a command credit
 * (Num_HCI_Command_Packets, Core Spec Vol 4, Part E, 4.4). Each Command
 * Complete or Command Status is matched to the oldest in-flight command with
 * the same opcode. The oldest in-flight command is timed: a controller that
 * stays silent fails the stack rather than hanging it.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "hci.h"
#include "pdu_reader.h"

#define HCI_DEFAULT_CMD_TIMEOUT_MS 2000
#define HCI_DEFAULT_MAX_QUEUED 64
#define HCI_DEFAULT_DRAIN_MS 1000
/* Commands sent and not yet answered. A controller grants at most 255
 * (Num_HCI_Command_Packets is one octet, Vol 4, Part E, 7.7.14) and an
 * unanswered command holds its grant; one that keeps granting more
 * without answering meets this bound, and the rest wait in the queue. */
#define HCI_MAX_INFLIGHT 255

struct hci_cmd {
  struct sq_node node; /* on hci.queue, then hci.inflight */
  uint16_t opcode;
  uint8_t len;
  hci_cmd_cb cb;
  void *arg;
  uint64_t sent_at; /* then the first loop pass after that */
  bool counted;     /* sent_at is that pass */
  uint8_t params[255];
};

void hci_cancel_all(uvble_t *ble, int err, bool keep_sent);

static struct hci_cmd *cmd_of(struct sq_node *n) {
  return n ? SQ_ENTRY(n, struct hci_cmd, node) : NULL;
}

static void on_timer_closed(uv_handle_t *h) {
  uvble_t *ble = h->data;
  ble->pending_closes--;
  ble_handle_closed(ble);
}

/* A command's timeout counts from the first pass of the loop over its
 * I/O after it was sent: before that the controller may not even have it
 * (setup between uvble_active() and uv_run(), a blocking callback). */
static void on_io_pass(uv_check_t *h) {
  uvble_t *ble = h->data;
  /* The poll just refreshed the loop's time: no clock read per pass. */
  uint64_t now = uv_now(ble->loop);
  ble->hci.io_pass_at = now;
  for (struct hci_cmd *c = cmd_of(ble->hci.inflight.head); c;
       c = cmd_of(c->node.next))
    if (!c->counted) {
      c->counted = true;
      c->sent_at = now;
    }
}

int hci_init(uvble_t *ble) {
  struct hci *hci = &ble->hci;
  memset(hci, 0, sizeof *hci);
  hci->cmd_credits = 1; /* until the controller says otherwise */
  hci->cmd_timeout_ms = HCI_DEFAULT_CMD_TIMEOUT_MS;
  hci->max_queued = HCI_DEFAULT_MAX_QUEUED;
  hci->l2cap_rx_max_pdu = 4 + 4096;
  hci->conn_txq_max = 256 * 1024;
  int r = uv_timer_init(ble->loop, &hci->cmd_timer);
  if (r) return r;
  hci->cmd_timer.data = ble;
  hci->timer_open = true;
  hci->drain_ms = HCI_DEFAULT_DRAIN_MS;
  r = uv_timer_init(ble->loop, &hci->edge_timer);
  if (r) return r;
  hci->edge_timer.data = ble;
  hci->edge_timer_open = true;
  r = uv_check_init(ble->loop, &hci->io_check);
  if (r) return r;
  hci->io_check.data = ble;
  hci->io_check_open = true;
  /* Runs on every pass but never keeps the loop alive by itself. */
  uv_check_start(&hci->io_check, on_io_pass);
  uv_unref((uv_handle_t *)&hci->io_check);
  return 0;
}

void hci_close(uvble_t *ble) {
  struct hci *hci = &ble->hci;
  /* Commands still unanswered after the linger are forgotten. */
  hci_cancel_all(ble, UVBLE_ECANCELED, false);
  if (hci->edge_timer_open) {
    hci->edge_timer_open = false;
    ble->pending_closes++;
    uv_close((uv_handle_t *)&hci->edge_timer, on_timer_closed);
  }
  if (hci->io_check_open) {
    hci->io_check_open = false;
    ble->pending_closes++;
    uv_close((uv_handle_t *)&hci->io_check, on_timer_closed);
  }
  if (!hci->timer_open) return;
  hci->timer_open = false;
  ble->pending_closes++;
  uv_close((uv_handle_t *)&hci->cmd_timer, on_timer_closed);
}

static void arm_timer(uvble_t *ble);

static void complete(uvble_t *ble, struct hci_cmd *cmd, int err, uint8_t st,
                     const uint8_t *ret, size_t ret_len) {
  if (cmd->cb) cmd->cb(ble, err, st, ret, ret_len, cmd->arg);
  /* Parameters may be keys (LE Enable Encryption, LTK Request Reply). */
  sodium_memzero(cmd->params, cmd->len);
  free(cmd);
}

void hci_cancel_all(uvble_t *ble, int err, bool keep_sent) {
  struct hci *hci = &ble->hci;
  /* Detach the queues first (in flight, then not yet sent): callbacks may
   * queue new commands, which then fail immediately because the stack is
   * no longer usable. */
  struct sq gone = {0};
  if (!keep_sent) sq_concat(&gone, &hci->inflight);
  sq_concat(&gone, &hci->queue);
  if (hci->timer_open) uv_timer_stop(&hci->cmd_timer);
  if (keep_sent) {
    /* Sent ones keep their place until answered; only their callers hear
     * now. */
    for (struct hci_cmd *c = cmd_of(hci->inflight.head); c;
         c = cmd_of(c->node.next)) {
      hci_cmd_cb cb = c->cb;
      c->cb = NULL;
      if (cb) cb(ble, err, 0, NULL, 0, c->arg);
    }
  }
  struct hci_cmd *c;
  while ((c = cmd_of(sq_pop(&gone)))) complete(ble, c, err, 0, NULL, 0);
}

bool hci_inflight(const uvble_t *ble) {
  return !sq_empty(&ble->hci.inflight);
}

static void pump(uvble_t *ble) {
  struct hci *hci = &ble->hci;
  while (hci->cmd_credits > 0 && !sq_empty(&hci->queue) &&
         hci->inflight.len < HCI_MAX_INFLIGHT &&
         (!ble_dead(ble) || hci->lingering)) {
    struct hci_cmd *cmd = cmd_of(sq_pop(&hci->queue));

    uint8_t hdr[3];
    put_le16(hdr, cmd->opcode);
    hdr[2] = cmd->len;
    uvble_iov_t iov[2] = {{hdr, 3}, {cmd->params, cmd->len}};
    int r = uvble_transport_send(ble->transport, UVBLE_HCI_COMMAND, iov, 2);
    if (r < 0) {
      /* Back at the head: the stack fails on a later loop turn, which
       * completes it with everything else. Its sender, perhaps below us
       * on the stack, sees its request accepted, as if the controller had
       * not answered yet. */
      sq_push_front(&hci->queue, &cmd->node);
      ble_fail_later(ble, UVBLE_ETRANSPORT);
      break;
    }
    ble->stats.hci_cmds_sent++;
    hci->cmd_credits--;
    cmd->sent_at = ble_now_ms(ble->loop);
    sq_push(&hci->inflight, &cmd->node);
  }
  arm_timer(ble);
}

/* A deadline is judged against what the loop could see (Vol 4, Part E,
 * 4.4 sets no timeout; ours is the host's own). Counted from the first
 * pass over I/O after the send (on_io_pass); a command not yet seen by one
 * gets the full timeout from now. Past the deadline, if the loop has not
 * passed over its I/O since, an answer may be waiting unread: the verdict
 * waits for one more pass. Only then is the controller silent. */
static void cmd_timeout(uvble_t *ble);

static void on_cmd_timeout(uv_timer_t *t) {
  uvble_t *ble = t->data;
  ble_ref(ble);
  cmd_timeout(ble);
  ble_unref(ble);
}

static void cmd_timeout(uvble_t *ble) {
  struct hci *hci = &ble->hci;
  struct hci_cmd *cmd = cmd_of(hci->inflight.head);
  if (!cmd || ble_dead(ble)) return; /* uvble_close bounds its own wait */
  uint64_t now = ble_now_ms(ble->loop);
  uint64_t deadline = cmd->sent_at + hci->cmd_timeout_ms;
  if (now < deadline) {
    arm_timer(ble);
    return;
  }
  if (!cmd->counted) {
    cmd->sent_at = now;
    arm_timer(ble);
    return;
  }
  if (hci->io_pass_at <= deadline) {
    /* 1 ms: started inside the timer phase, it cannot run before the
     * loop's next poll. */
    uv_timer_start(&hci->cmd_timer, on_cmd_timeout, 1, 0);
    return;
  }
  ble->stats.hci_cmd_timeouts++;
  ble_fail(ble, UVBLE_ETIMEDOUT);
}

static void arm_timer(uvble_t *ble) {
  struct hci *hci = &ble->hci;
  if (!hci->timer_open) return;
  struct hci_cmd *oldest = cmd_of(hci->inflight.head);
  if (!oldest) {
    uv_timer_stop(&hci->cmd_timer);
    return;
  }
  uint64_t deadline = oldest->sent_at + hci->cmd_timeout_ms;
  uint64_t now = ble_now_ms(ble->loop);
  uv_timer_start(&hci->cmd_timer, on_cmd_timeout,
                 deadline > now ? deadline - now : 0, 0);
}

int hci_send_cmd(uvble_t *ble, uint16_t opcode, const void *params, size_t len,
                 hci_cmd_cb cb, void *arg) {
  struct hci *hci = &ble->hci;
  if (len > 255) return UVBLE_EINVAL;
  if (ble_dead(ble) && !hci->lingering) return UVBLE_ENOTACTIVE;
  if (hci->queue.len >= hci->max_queued) return UVBLE_ENOBUFS;
  struct hci_cmd *cmd = malloc(sizeof *cmd);
  if (!cmd) return UVBLE_ENOMEM;
  cmd->opcode = opcode;
  cmd->len = (uint8_t)len;
  cmd->cb = cb;
  cmd->arg = arg;
  cmd->counted = false;
  if (len) memcpy(cmd->params, params, len);
  sq_push(&hci->queue, &cmd->node);
  pump(ble);
  return 0;
}

/* Removes and returns the oldest in-flight command with this opcode. */
static struct hci_cmd *take_inflight(struct hci *hci, uint16_t opcode) {
  struct sq_node **at = &hci->inflight.head, *prev = NULL;
  for (; *at; at = &(prev = *at)->next)
    if (cmd_of(*at)->opcode == opcode)
      return cmd_of(sq_unlink(&hci->inflight, at, prev));
  return NULL;
}

/* Num_HCI_Command_Packets replaces our credit count (it is the controller's
 * current allowance, not an increment). */
static void set_credits(uvble_t *ble, uint8_t ncmd) {
  ble->hci.cmd_credits = ncmd;
}

/* Command Complete and Command Status share this: update the credits,
 * then hand the answer to the command it belongs to. */
static void finish_command(uvble_t *ble, uint8_t ncmd, uint16_t opcode,
                           uint8_t status, const uint8_t *ret, size_t ret_len) {
  set_credits(ble, ncmd);
  struct hci_cmd *cmd = NULL;
  if (opcode != 0x0000) { /* opcode 0 is a credit update only */
    cmd = take_inflight(&ble->hci, opcode);
    if (!cmd) ble->stats.hci_events_unexpected++;
  }
  if (cmd) {
    arm_timer(ble);
    complete(ble, cmd, status ? UVBLE_EHCI : 0, status, ret, ret_len);
  }
  if (!ble_dead(ble)) pump(ble);
}

/* Command Complete (7.7.14): Num_HCI_Command_Packets, opcode, then the
 * return parameters, whose first byte is the status. */
static void on_command_complete(uvble_t *ble, const uint8_t *p, size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  uint8_t ncmd = pdu_get_u8(&r);
  uint16_t opcode = pdu_get_le16(&r);
  if (!pdu_ok(&r)) {
    ble->stats.hci_events_malformed++;
    return;
  }
  bool has_status = pdu_left(&r) > 0;
  if (opcode != 0x0000 && !has_status) {
    /* Every command we send returns at least a status byte. */
    ble->stats.hci_events_malformed++;
    finish_command(ble, ncmd, opcode, 0xff, NULL, 0);
    return;
  }
  uint8_t status = has_status ? pdu_get_u8(&r) : 0;
  size_t n;
  const uint8_t *ret = pdu_get_rest(&r, &n);
  finish_command(ble, ncmd, opcode, status, has_status ? ret : NULL, n);
}

/* Command Status (7.7.15): status, Num_HCI_Command_Packets, opcode. */
static void on_command_status(uvble_t *ble, const uint8_t *p, size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  uint8_t status = pdu_get_u8(&r), ncmd = pdu_get_u8(&r);
  uint16_t opcode = pdu_get_le16(&r);
  if (!pdu_done(&r)) {
    ble->stats.hci_events_malformed++;
    return;
  }
  finish_command(ble, ncmd, opcode, status, NULL, 0);
}

/* uvble_close() lingers: only what it waits for matters (the layers are
 * gone); conn_edge.c registered what it waits for. */
static void on_event_lingering(uvble_t *ble, uint8_t code, const uint8_t *p,
                               size_t len) {
  switch (code) {
    case HCI_EV_COMMAND_COMPLETE:
      on_command_complete(ble, p, len);
      break;
    case HCI_EV_COMMAND_STATUS:
      on_command_status(ble, p, len);
      break;
    default:
      break;
  }
  if (ble->hci.linger_fn) ble->hci.linger_fn(ble, code, p, len);
}

int hci_add_event_handler(uvble_t *ble, uint8_t code, hci_event_fn fn) {
  if (code >= HCI_EVENT_CODES || code == HCI_EV_COMMAND_COMPLETE ||
      code == HCI_EV_COMMAND_STATUS || code == HCI_EV_HARDWARE_ERROR ||
      code == HCI_EV_LE_META || !fn)
    return UVBLE_EINVAL;
  if (ble->hci.ev_fn[code]) return UVBLE_EBUSY;
  ble->hci.ev_fn[code] = fn;
  return 0;
}

int hci_add_le_event_handler(uvble_t *ble, uint8_t subevent, hci_event_fn fn) {
  if (subevent >= HCI_LE_SUBEVENT_CODES || !fn) return UVBLE_EINVAL;
  if (ble->hci.le_fn[subevent]) return UVBLE_EBUSY;
  ble->hci.le_fn[subevent] = fn;
  return 0;
}

void hci_set_linger_handler(uvble_t *ble, hci_linger_fn fn) {
  ble->hci.linger_fn = fn;
}

static void on_le_meta(uvble_t *ble, const uint8_t *p, size_t len) {
  struct pdu_reader r;
  pdu_reader_init(&r, p, len);
  uint8_t sub = pdu_get_u8(&r);
  size_t n;
  const uint8_t *params = pdu_get_rest(&r, &n);
  if (!pdu_ok(&r)) {
    ble->stats.hci_events_malformed++;
    return;
  }
  hci_event_fn fn = sub < HCI_LE_SUBEVENT_CODES ? ble->hci.le_fn[sub] : NULL;
  if (!fn) {
    /* Scan timeout (scans are timed by the host), channel selection, ...:
     * nothing a layer acts on. */
    ble->stats.hci_events_unhandled++;
    return;
  }
  fn(ble, params, n);
}

static void on_event(uvble_t *ble, const uint8_t *pkt, size_t len);

void hci_on_event(uvble_t *ble, const uint8_t *pkt, size_t len) {
  ble_ref(ble);
  on_event(ble, pkt, len);
  ble_unref(ble);
}

static void on_event(uvble_t *ble, const uint8_t *pkt, size_t len) {
  ble->stats.hci_events++;
  struct pdu_reader r;
  pdu_reader_init(&r, pkt, len);
  uint8_t code = pdu_get_u8(&r);
  size_t want = pdu_get_u8(&r), plen;
  const uint8_t *p = pdu_get_rest(&r, &plen);
  if (!pdu_ok(&r) || want != plen) {
    ble->stats.hci_events_malformed++;
    return;
  }
  if (ble->state == BLE_CLOSING) {
    on_event_lingering(ble, code, p, plen);
    return;
  }
  switch (code) {
    case HCI_EV_COMMAND_COMPLETE:
      on_command_complete(ble, p, plen);
      break;
    case HCI_EV_COMMAND_STATUS:
      on_command_status(ble, p, plen);
      break;
    case HCI_EV_LE_META:
      on_le_meta(ble, p, plen);
      break;
    case HCI_EV_HARDWARE_ERROR:
      /* The controller needs a reset; nothing the host sends will work. */
      ble_fail(ble, UVBLE_EIO);
      break;
    default: {
      /* Data Buffer Overflow among them: nothing to act on. */
      hci_event_fn fn = code < HCI_EVENT_CODES ? ble->hci.ev_fn[code] : NULL;
      if (fn)
        fn(ble, p, plen);
      else
        ble->stats.hci_events_unhandled++;
      break;
    }
  }
}
