/* SPDX-License-Identifier: Apache-2.0 */
/* Goodput in simulated time, for the "ll" benchmarks.
 *
 *   simclock --log UART_TX_LOG --kind l2cap|notify|write [--value-len N]
 *            [--json LINE]
 *
 * The simulated controllers (zephyr-ll) run slower than real time while
 * they stream: the 1 Mbaud HCI UART is modelled byte by byte in a 32-bit
 * program run by qemu, which costs several CPU seconds per simulated
 * second (bench/README.md). A wall-clock figure then measures this
 * machine's CPU, not the link. The controller can log every byte it sends
 * its host with its simulated time (nrf_hw_models' -uart1_log_txfile:
 * "time(microsecond),byte" lines; bench/zll-qemu adds the option); this
 * reads the receiving controller's log, follows H4, ACL and L2CAP framing,
 * and measures the stream of application bytes its host was handed:
 *
 *   l2cap   K-frames on a dynamic channel (CID >= 0x0040), SDU bytes (the
 *           SDU length field of each SDU's first K-frame left out)
 *   notify  ATT Handle Value Notifications (0x1B) whose value is N bytes
 *   write   ATT Write Commands (0x52) whose value is N bytes
 *
 * goodput = bytes after the first packet / (end of the last packet - end
 * of the first): the rate at which the air and the HCI delivered, the
 * pipeline fill left out. With --json (a line from bench/l2cap or
 * bench/gatt) it prints that line with value, air_ratio, hci_ratio,
 * seconds and kb_per_s in simulated time and the wall-clock figures kept
 * as wall_value, wall_seconds; sim_rt is simulated per wall second over
 * the transfer, hci_rx_busy the fraction of it the receiving controller's
 * UART was sending (--baud, default 1000000, for a byte's time); with
 * --rt R (the simulation's real-time ratio) sim_kept_rt says whether the
 * simulation kept it (sim_rt >= 0.8 R): a simulation that fell behind
 * races through idle stretches, and a host's wall-clock delays (a busy
 * machine's scheduling) then become long simulated stalls. Without --json, a JSON object of its own. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_L2CAP, K_NOTIFY, K_WRITE };

struct meter {
  enum kind kind;
  unsigned value_len;
  /* H4 */
  uint8_t hdr[5];
  unsigned hpos, hlen, left;
  bool acl;
  /* L2CAP PDU being reassembled (controller-to-host ACL) */
  unsigned l2_pos, l2_len, cid;
  uint8_t l2_hdr[7];
  bool counting;
  unsigned sdu_left;
  /* per ACL packet, and the stream */
  uint64_t pkt_bytes;
  uint64_t n, bytes, first_bytes;
  double t_first, t_last;
  /* UART idle time (gaps between bytes beyond one byte's time), summed,
   * and its value at the first and last packet of the stream */
  double byte_us, t_byte, idle, idle_first, idle_last;
};

/* One byte of an L2CAP PDU (header included) at position l2_pos. */
static void l2_byte(struct meter *m, uint8_t b) {
  unsigned p = m->l2_pos++;
  if (p < sizeof m->l2_hdr) m->l2_hdr[p] = b;
  if (p == 3) {
    m->l2_len = m->l2_hdr[0] | m->l2_hdr[1] << 8;
    m->cid = m->l2_hdr[2] | m->l2_hdr[3] << 8;
    m->counting = m->kind == K_L2CAP && m->cid >= 0x0040;
    return;
  }
  if (p < 4) return;
  if (m->kind == K_L2CAP) {
    if (!m->counting) return;
    /* The first K-frame of an SDU starts with its 2-byte length. */
    if (m->sdu_left == 0 && p < 6) {
      if (p == 5) m->sdu_left = m->l2_hdr[4] | m->l2_hdr[5] << 8;
      return;
    }
    if (m->sdu_left) m->sdu_left--;
    m->pkt_bytes++;
    return;
  }
  if (p == 4) {
    uint8_t op = m->kind == K_NOTIFY ? 0x1B : 0x52;
    m->counting = m->cid == 0x0004 && b == op && m->l2_len == 3 + m->value_len;
    return;
  }
  if (m->counting && p >= 7) m->pkt_bytes++;
}

static void acl_done(struct meter *m, double t) {
  if (!m->pkt_bytes) return;
  if (m->n++ == 0) {
    m->t_first = t;
    m->first_bytes = m->pkt_bytes;
    m->idle_first = m->idle;
  }
  m->t_last = t;
  m->idle_last = m->idle;
  m->bytes += m->pkt_bytes;
  m->pkt_bytes = 0;
}

static void h4_byte(struct meter *m, uint8_t b, double t) {
  if (m->hpos == 0) { /* packet indicator */
    m->acl = b == 0x02;
    if (b != 0x02 && b != 0x04) return; /* only ACL and events come up */
    m->hdr[m->hpos++] = b;
    m->hlen = m->acl ? 5 : 3;
    return;
  }
  if (m->hpos < m->hlen) {
    m->hdr[m->hpos++] = b;
    if (m->hpos < m->hlen) return;
    m->left = m->acl ? (unsigned)(m->hdr[3] | m->hdr[4] << 8) : m->hdr[2];
    /* Packet boundary: 10 = continuation, else a new L2CAP PDU. */
    if (m->acl && ((m->hdr[2] >> 4) & 3) != 1) m->l2_pos = 0;
    if (m->left == 0) m->hpos = 0;
    return;
  }
  if (m->acl) l2_byte(m, b);
  if (--m->left == 0) {
    if (m->acl) acl_done(m, t);
    m->hpos = 0;
  }
}

static int read_log(const char *path, struct meter *m) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "simclock: %s: %s\n", path, strerror(errno));
    return -1;
  }
  char line[128];
  double t;
  unsigned b;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "%lf,0x%x", &t, &b) == 2) {
      /* A byte's time stamp is when it ended, so a busy UART logs one
       * every byte_us. */
      if (m->t_byte > 0 && t - m->t_byte > 1.5 * m->byte_us)
        m->idle += t - m->t_byte - m->byte_us;
      m->t_byte = t;
      h4_byte(m, (uint8_t)b, t);
    }
  fclose(f);
  return 0;
}

/* A number member of our own flat JSON line, or -1. */
static double member(const char *json, const char *key) {
  char k[64];
  snprintf(k, sizeof k, "\"%s\":", key);
  const char *p = strstr(json, k);
  return p ? strtod(p + strlen(k), NULL) : -1;
}

/* Appends json to out with the number of member key replaced by v. */
static void put_line(const char *json, const char *const *keys,
                     const double *vals, size_t nk, FILE *out) {
  const char *p = json;
  while (*p) {
    size_t i;
    for (i = 0; i < nk; i++) {
      char k[64];
      int kl = snprintf(k, sizeof k, "\"%s\":", keys[i]);
      if (strncmp(p, k, (size_t)kl) == 0 && vals[i] >= 0) {
        char *end;
        fprintf(out, "%s%.*f", k, vals[i] < 10 ? 4 : 1, vals[i]);
        strtod(p + kl, &end);
        p = end;
        break;
      }
    }
    if (i == nk) fputc(*p++, out);
  }
}

static int usage(void) {
  fprintf(stderr,
          "usage: simclock --log UART_TX_LOG --kind l2cap|notify|write "
          "[--value-len N] [--baud N] [--rt R] [--json LINE]\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *log = NULL, *json = NULL, *kind = NULL;
  double rt = 0;
  struct meter m;
  memset(&m, 0, sizeof m);
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--log") == 0) log = argv[i + 1];
    else if (strcmp(argv[i], "--json") == 0) json = argv[i + 1];
    else if (strcmp(argv[i], "--kind") == 0) kind = argv[i + 1];
    else if (strcmp(argv[i], "--rt") == 0)
      rt = strtod(argv[i + 1], NULL);
    else if (strcmp(argv[i], "--baud") == 0)
      m.byte_us = 1e7 / strtod(argv[i + 1], NULL);
    else if (strcmp(argv[i], "--value-len") == 0)
      m.value_len = (unsigned)strtoul(argv[i + 1], NULL, 0);
    else return usage();
  }
  if (!log || !kind) return usage();
  if (!(m.byte_us > 0)) m.byte_us = 10; /* 1 Mbaud, 8N1 */
  if (strcmp(kind, "l2cap") == 0) m.kind = K_L2CAP;
  else if (strcmp(kind, "notify") == 0) m.kind = K_NOTIFY;
  else if (strcmp(kind, "write") == 0) m.kind = K_WRITE;
  else {
    fprintf(stderr, "simclock: --kind '%s' is not l2cap, notify or write\n", kind);
    return 2;
  }
  if (m.kind != K_L2CAP && !m.value_len) {
    fprintf(stderr, "simclock: --kind %s needs --value-len\n", kind);
    return 2;
  }
  if (read_log(log, &m) < 0) return 1;
  if (m.n < 2 || m.t_last <= m.t_first) {
    fprintf(stderr, "simclock: %s: fewer than two %s packets in the log\n", log, kind);
    return 1;
  }
  double secs = (m.t_last - m.t_first) / 1e6;
  double kbps = (double)(m.bytes - m.first_bytes) * 8 / 1e3 / secs;
  /* How much of the transfer the receiving controller's UART was busy:
   * below 1, something upstream (air, credits, the sending host) left it
   * waiting. */
  double busy = 1 - (m.idle_last - m.idle_first) / (m.t_last - m.t_first);
  if (!json) {
    printf("{\"sim_seconds\":%.6f,\"sim_kbps\":%.1f,\"bytes\":%" PRIu64
           ",\"packets\":%" PRIu64 ",\"hci_rx_busy\":%.4f}\n",
           secs, kbps, m.bytes, m.n, busy);
    return 0;
  }
  size_t len = strlen(json);
  if (len < 2 || json[len - 1] != '}') {
    fprintf(stderr, "simclock: --json is not one of the benchmarks' lines\n");
    return 2;
  }
  double wall = member(json, "value"), wall_s = member(json, "seconds");
  double air = member(json, "air_limit_kbps"), hci = member(json, "hci_limit_kbps");
  static const char *const keys[] = {"value", "air_ratio", "hci_ratio",
                                     "seconds", "kb_per_s", "goodput_kbps",
                                     "packets_per_s"};
  double vals[] = {kbps,
                   air > 0 ? kbps / air : -1,
                   hci > 0 ? kbps / hci : -1,
                   secs,
                   member(json, "kb_per_s") >= 0 ? kbps / 8 : -1,
                   member(json, "goodput_kbps") >= 0 ? kbps : -1,
                   member(json, "packets_per_s") >= 0 ? (m.n - 1) / secs : -1};
  char *head = strndup(json, len - 1);
  if (!head) return 1;
  put_line(head, keys, vals, sizeof keys / sizeof keys[0], stdout);
  double sim_rt = wall_s > 0 ? secs / wall_s : 0;
  printf(",\"clock\":\"sim\",\"hci_rx_busy\":%.4f,\"wall_value\":%.1f,"
         "\"wall_seconds\":%.3f,\"sim_rt\":%.4f",
         busy, wall, wall_s, sim_rt);
  /* Behind its ratio, the simulation races through idle stretches, and
   * every wall-clock delay of a host becomes a long simulated stall. */
  if (rt > 0)
    printf(",\"rt\":%g,\"sim_kept_rt\":%s", rt,
           sim_rt >= 0.8 * rt ? "true" : "false");
  printf("}\n");
  free(head);
  return 0;
}
