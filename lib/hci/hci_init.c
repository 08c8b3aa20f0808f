/* SPDX-License-Identifier: Apache-2.0 */
/* The controller init sequence run by uvble_active(ble, true).
 *
 * Reset, then what the host needs to know (version, supported commands and
 * features, LE buffers, address, how much advertising data a set holds),
 * then the event masks. Optional commands are sent only when Read Local Supported Commands lists them, and an
 * Unknown Command status from one of them is tolerated. Last, what the link
 * layer should use by default: the data length (Data Length Extension) and
 * PHY preferences; a controller refusing those is tolerated too (links then
 * start at 27 octets on LE 1M, as without them).
 */
#include <string.h>

#include "hci.h"
#include "pdu_reader.h"

enum init_step {
  STEP_RESET,
  STEP_READ_VERSION,
  STEP_READ_COMMANDS,
  STEP_READ_FEATURES,
  STEP_LE_READ_FEATURES,
  STEP_LE_READ_BUFFER,
  STEP_READ_BUFFER,
  STEP_SET_EVENT_MASK,
  STEP_WRITE_LE_HOST,
  STEP_LE_SET_EVENT_MASK,
  STEP_READ_BD_ADDR,
  STEP_LE_READ_MAX_ADV_LEN,
  STEP_LE_READ_MAX_DATA_LEN,
  STEP_LE_WRITE_DEFAULT_DATA_LEN,
  STEP_LE_SET_DEFAULT_PHY,
  STEP_DONE,
};

/* Supported-commands bits (Vol 4, Part E, 6.27): octet, bit. */
#define CMD_BIT_WRITE_LE_HOST_SUPPORTED 24, 6
#define CMD_BIT_LE_READ_BUFFER_SIZE_V2 41, 5

/* Advertising data a set holds (7.8.57's range). 31 is also what a
 * controller without LE Read Maximum Advertising Data Length is assumed to
 * take, extended advertising or not: the command exists because a
 * controller may support less than 1650, and 31 is the least it may. */
#define ADV_DATA_MIN 31
#define ADV_DATA_MAX 1650

/* Events we want (Set Event Mask, Vol 4, Part E, 7.3.1). */
static const uint64_t EVENT_MASK =
    (1ull << 4) |  /* Disconnection Complete */
    (1ull << 7) |  /* Encryption Change */
    (1ull << 15) | /* Hardware Error */
    (1ull << 25) | /* Data Buffer Overflow */
    (1ull << 47) | /* Encryption Key Refresh Complete */
    (1ull << 61);  /* LE Meta */

/* LE events (LE Set Event Mask, 7.8.1): connection complete, advertising
 * report, connection update, remote features, LTK request, remote
 * connection parameter request, data length change, P-256 public key,
 * DHKey, enhanced connection complete, directed advertising report, PHY
 * update, extended advertising report, scan timeout, advertising set
 * terminated, channel selection algorithm. */
static const uint64_t LE_EVENT_MASK = 0x1FFFull | (1ull << 16) |
                                      (1ull << 17) | (1ull << 19);

static void next_step(uvble_t *ble);

static void finish(uvble_t *ble, int status) {
  if (status == 0) {
    ble->state = BLE_ON;
    ble->info_valid = true;
  } else if (!ble_dead(ble)) {
    ble->state = BLE_OFF;
  }
  ble_active_done(ble, status);
}

static void on_step_done(uvble_t *ble, int err, uint8_t st, const uint8_t *r,
                         size_t n, void *arg) {
  (void)arg;
  struct hci *hci = &ble->hci;
  uvble_controller_info_t *info = &ble->info;
  if (ble->state != BLE_STARTING) {
    /* Closed, failed or stopped meanwhile: whoever changed the state has
     * already completed the active callback. */
    return;
  }
  bool optional = hci->init_step == STEP_WRITE_LE_HOST ||
                  hci->init_step == STEP_LE_READ_MAX_ADV_LEN;
  if (err == UVBLE_EHCI && optional && st == HCI_UNKNOWN_COMMAND) {
    err = 0;
    n = 0; /* nothing to read from a refusal */
  }
  /* The link layer defaults are optional too: a controller that lists
   * them but lacks them, or lacks a parameter value (Unsupported Feature or
   * Parameter Value), leaves links at their defaults. Any other error is a
   * controller in trouble. */
  if (err == UVBLE_EHCI && hci->init_step >= STEP_LE_READ_MAX_DATA_LEN &&
      (st == HCI_UNKNOWN_COMMAND || st == HCI_UNSUPPORTED_FEATURE)) {
    ble->stats.link_requests_refused++;
    err = 0;
    n = 0; /* nothing to read from a refusal */
  }
  if (err) {
    finish(ble, err);
    return;
  }
  /* Read into a copy: a short reply leaves info as it was. Longer replies
   * than we read are accepted (later versions append fields). */
  uvble_controller_info_t got = *info;
  struct pdu_reader rd;
  pdu_reader_init(&rd, r, n);
  switch (hci->init_step) {
    case STEP_READ_VERSION:
      got.hci_version = pdu_get_u8(&rd);
      got.hci_revision = pdu_get_le16(&rd);
      got.lmp_version = pdu_get_u8(&rd);
      got.manufacturer = pdu_get_le16(&rd);
      got.lmp_subversion = pdu_get_le16(&rd);
      break;
    case STEP_READ_COMMANDS:
      pdu_get_mem(&rd, got.commands, 64);
      break;
    case STEP_READ_FEATURES:
      pdu_get_mem(&rd, got.features, 8);
      break;
    case STEP_LE_READ_FEATURES:
      pdu_get_mem(&rd, got.le_features, 8);
      break;
    case STEP_LE_READ_BUFFER:
      got.acl_mtu = pdu_get_le16(&rd);
      got.acl_max_pkts = pdu_get_u8(&rd);
      if (pdu_left(&rd) >= 3) { /* v2 adds ISO buffers */
        got.iso_mtu = pdu_get_le16(&rd);
        got.iso_max_pkts = pdu_get_u8(&rd);
      }
      break;
    case STEP_READ_BUFFER:
      /* Shared BR/EDR buffers: ACL length (2), SCO length (1), ACL count
       * (2), SCO count (2). */
      got.acl_mtu = pdu_get_le16(&rd);
      pdu_skip(&rd, 1);
      got.acl_max_pkts = pdu_get_le16(&rd);
      pdu_skip(&rd, 2);
      break;
    case STEP_READ_BD_ADDR: {
      uint8_t addr[6];
      if (pdu_get_addr(&rd, addr))
        ble_addr_from_hci(&got.public_addr, UVBLE_ADDR_PUBLIC, addr);
      break;
    }
    case STEP_LE_READ_MAX_ADV_LEN:
      /* Max_Advertising_Data_Length, 0x001F..0x0672 (7.8.57). A refusal
       * leaves the legacy 31; a value outside the range is clamped into
       * it, so the host never offers more than a set can take. */
      if (n == 0) break;
      got.max_adv_data_len = pdu_get_le16(&rd);
      if (got.max_adv_data_len < ADV_DATA_MIN)
        got.max_adv_data_len = ADV_DATA_MIN;
      if (got.max_adv_data_len > ADV_DATA_MAX)
        got.max_adv_data_len = ADV_DATA_MAX;
      break;
    case STEP_LE_READ_MAX_DATA_LEN:
      /* Supported_Max_TX_Octets, _TX_Time, _RX_Octets, _RX_Time (7.8.46).
       * A refusal leaves zeros: no suggestion follows. */
      if (n == 0) break;
      got.max_tx_octets = pdu_get_le16(&rd);
      got.max_tx_time = pdu_get_le16(&rd);
      got.max_rx_octets = pdu_get_le16(&rd);
      got.max_rx_time = pdu_get_le16(&rd);
      break;
    default:
      break;
  }
  if (!pdu_ok(&rd)) goto short_reply;
  *info = got;
  hci->init_step++;
  next_step(ble);
  return;
short_reply:
  ble->stats.hci_events_malformed++;
  finish(ble, UVBLE_EPROTO);
}

/* What Read Local Supported Commands and LE Read Local Supported Features
 * reported (public, include/uvble/uvble.h). */
bool uvble_controller_has_command(const uvble_t *ble, int octet, int bit) {
  if (octet < 0 || octet >= 64 || bit < 0 || bit > 7) return false;
  return (ble->info.commands[octet] >> bit) & 1;
}

bool uvble_controller_has_le_feature(const uvble_t *ble, int bit) {
  if (bit < 0 || bit >= 64) return false;
  return (ble->info.le_features[bit / 8] >> (bit % 8)) & 1;
}

static bool has_cmd(const uvble_t *ble, int octet, int bit) {
  return uvble_controller_has_command(ble, octet, bit);
}

static bool dle_supported(const uvble_t *ble) {
  return uvble_controller_has_le_feature(ble, HCI_LE_FEATURE_DLE) &&
         has_cmd(ble, HCI_CMD_LE_READ_MAX_DATA_LEN);
}

/* The PHYs this controller can use, as LE Set PHY's bits. */
static uint8_t supported_phys(const uvble_t *ble) {
  uint8_t m = 0x01;
  if (uvble_controller_has_le_feature(ble, HCI_LE_FEATURE_2M_PHY)) m |= 0x02;
  if (uvble_controller_has_le_feature(ble, HCI_LE_FEATURE_CODED_PHY))
    m |= 0x04;
  return m;
}

bool hci_phy_bits(const uvble_t *ble, int pref, struct hci_phy_bits *out) {
  /* TX_PHYs / RX_PHYs: bit 0 LE 1M, bit 1 LE 2M, bit 2 LE Coded; PHY_Options
   * 1 prefers S=2, 2 prefers S=8 (7.8.49). Only PHYs the controller has. */
  static const uint8_t BITS[] = {0x00, 0x01, 0x02, 0x04, 0x04, 0x04};
  static const uint16_t OPTS[] = {0, 0, 0, 0, 1, 2};
  if (pref < 0 || pref > UVBLE_PHY_PREF_CODED_S8) return false;
  uint8_t have = supported_phys(ble);
  memset(out, 0, sizeof *out);
  if (pref == UVBLE_PHY_PREF_ANY) {
    out->all = 0x03; /* no preference either way */
    out->tx = out->rx = have;
    return true;
  }
  if (!(have & BITS[pref])) return false;
  out->tx = out->rx = BITS[pref];
  out->options = OPTS[pref];
  return true;
}

/* The link layer defaults (Data Length Extension, PHY): the opcode and
 * parameters of the current step, or 0 when the controller has no use for
 * it. */
static uint16_t link_step(uvble_t *ble, uint8_t *p, size_t *len) {
  const uvble_controller_info_t *info = &ble->info;
  struct hci_phy_bits b;
  switch (ble->hci.init_step) {
    case STEP_LE_READ_MAX_DATA_LEN:
      if (!dle_supported(ble) ||
          !has_cmd(ble, HCI_CMD_LE_WRITE_DEFAULT_DATA_LEN))
        return 0;
      return HCI_OP_LE_READ_MAX_DATA_LEN;
    case STEP_LE_WRITE_DEFAULT_DATA_LEN:
      /* Valid ranges 0x001B..0x00FB octets, 0x0148..0x4290 us (7.8.35). */
      if (info->max_tx_octets < 27 || info->max_tx_octets > 251 ||
          info->max_tx_time < 328 || info->max_tx_time > 17040)
        return 0;
      put_le16(p, info->max_tx_octets);
      put_le16(p + 2, info->max_tx_time);
      *len = 4;
      return HCI_OP_LE_WRITE_DEFAULT_DATA_LEN;
    case STEP_LE_SET_DEFAULT_PHY:
      if (!has_cmd(ble, HCI_CMD_LE_SET_DEFAULT_PHY) ||
          supported_phys(ble) == 0x01 ||
          !hci_phy_bits(ble, ble->cfg.link.default_phy, &b))
        return 0;
      p[0] = b.all;
      p[1] = b.tx;
      p[2] = b.rx;
      *len = 3;
      return HCI_OP_LE_SET_DEFAULT_PHY;
    default:
      return 0;
  }
}

static void next_step(uvble_t *ble) {
  struct hci *hci = &ble->hci;
  uvble_controller_info_t *info = &ble->info;
  uint8_t p[8] = {0};
  uint16_t op = 0;
  size_t len = 0;
  for (;;) {
    switch (hci->init_step) {
      case STEP_RESET:
        op = HCI_OP_RESET;
        break;
      case STEP_READ_VERSION:
        op = HCI_OP_READ_LOCAL_VERSION;
        break;
      case STEP_READ_COMMANDS:
        op = HCI_OP_READ_LOCAL_COMMANDS;
        break;
      case STEP_READ_FEATURES:
        op = HCI_OP_READ_LOCAL_FEATURES;
        break;
      case STEP_LE_READ_FEATURES:
        op = HCI_OP_LE_READ_LOCAL_FEATURES;
        break;
      case STEP_LE_READ_BUFFER:
        op = has_cmd(ble, CMD_BIT_LE_READ_BUFFER_SIZE_V2)
                 ? HCI_OP_LE_READ_BUFFER_SIZE_V2
                 : HCI_OP_LE_READ_BUFFER_SIZE;
        break;
      case STEP_READ_BUFFER:
        /* Only when the LE buffers are shared with BR/EDR (length 0). */
        if (info->acl_mtu != 0 && info->acl_max_pkts != 0) {
          hci->init_step++;
          continue;
        }
        op = HCI_OP_READ_BUFFER_SIZE;
        break;
      case STEP_SET_EVENT_MASK:
        op = HCI_OP_SET_EVENT_MASK;
        put_le32(p, (uint32_t)EVENT_MASK);
        put_le32(p + 4, (uint32_t)(EVENT_MASK >> 32));
        len = 8;
        break;
      case STEP_WRITE_LE_HOST:
        /* Dual-mode controllers want the host's LE support declared;
         * LE-only ones (feature bit 37 "BR/EDR Not Supported") do not. */
        if ((info->features[4] & 0x20) ||
            !has_cmd(ble, CMD_BIT_WRITE_LE_HOST_SUPPORTED)) {
          hci->init_step++;
          continue;
        }
        op = HCI_OP_WRITE_LE_HOST_SUPPORTED;
        p[0] = 1;
        p[1] = 0;
        len = 2;
        break;
      case STEP_LE_SET_EVENT_MASK:
        op = HCI_OP_LE_SET_EVENT_MASK;
        put_le32(p, (uint32_t)LE_EVENT_MASK);
        put_le32(p + 4, (uint32_t)(LE_EVENT_MASK >> 32));
        len = 8;
        break;
      case STEP_READ_BD_ADDR:
        op = HCI_OP_READ_BD_ADDR;
        break;
      case STEP_LE_READ_MAX_ADV_LEN:
        /* Only extended advertising can carry more than 31 octets. */
        if (!uvble_controller_has_le_feature(ble, HCI_LE_FEATURE_EXT_ADV) ||
            !has_cmd(ble, HCI_CMD_LE_READ_MAX_ADV_DATA_LEN)) {
          hci->init_step++;
          continue;
        }
        op = HCI_OP_LE_READ_MAX_ADV_DATA_LEN;
        break;
      case STEP_LE_READ_MAX_DATA_LEN:
      case STEP_LE_WRITE_DEFAULT_DATA_LEN:
      case STEP_LE_SET_DEFAULT_PHY:
        if (!(op = link_step(ble, p, &len))) {
          hci->init_step++;
          continue;
        }
        break;
      case STEP_DONE:
      default:
        if (info->acl_mtu == 0 || info->acl_max_pkts == 0) {
          finish(ble, UVBLE_EPROTO); /* no way to send data */
          return;
        }
        hci->acl_mtu = info->acl_mtu;
        hci->acl_total = info->acl_max_pkts;
        hci->acl_free = info->acl_max_pkts;
        finish(ble, 0);
        return;
    }
    break;
  }
  int r = hci_send_cmd(ble, op, p, len, on_step_done, NULL);
  if (r < 0) finish(ble, r);
}

void hci_start_init(uvble_t *ble) {
  memset(&ble->info, 0, sizeof ble->info);
  ble->info.max_adv_data_len = ADV_DATA_MIN;
  ble->info_valid = false;
  /* After Reset the controller grants one command (Vol 4, Part E, 7.3.2). */
  ble->hci.cmd_credits = 1;
  ble->hci.init_step = STEP_RESET;
  next_step(ble);
}
