/* SPDX-License-Identifier: Apache-2.0 */
/* Protocol status codes by their Core Specification names (uvble/status.h).
 * Tables indexed by code; a NULL slot is a reserved value. */
#include "uvble/status.h"

#include <stddef.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Vol 1, Part F, 1.3 "List of error codes". */
static const char *const hci_names[] = {
    [0x00] = "Success",
    [0x01] = "Unknown HCI Command",
    [0x02] = "Unknown Connection Identifier",
    [0x03] = "Hardware Failure",
    [0x04] = "Page Timeout",
    [0x05] = "Authentication Failure",
    [0x06] = "PIN or Key Missing",
    [0x07] = "Memory Capacity Exceeded",
    [0x08] = "Connection Timeout",
    [0x09] = "Connection Limit Exceeded",
    [0x0A] = "Synchronous Connection Limit To A Device Exceeded",
    [0x0B] = "Connection Already Exists",
    [0x0C] = "Command Disallowed",
    [0x0D] = "Connection Rejected due to Limited Resources",
    [0x0E] = "Connection Rejected Due To Security Reasons",
    [0x0F] = "Connection Rejected due to Unacceptable BD_ADDR",
    [0x10] = "Connection Accept Timeout Exceeded",
    [0x11] = "Unsupported Feature or Parameter Value",
    [0x12] = "Invalid HCI Command Parameters",
    [0x13] = "Remote User Terminated Connection",
    [0x14] = "Remote Device Terminated Connection due to Low Resources",
    [0x15] = "Remote Device Terminated Connection due to Power Off",
    [0x16] = "Connection Terminated By Local Host",
    [0x17] = "Repeated Attempts",
    [0x18] = "Pairing Not Allowed",
    [0x19] = "Unknown LMP PDU",
    [0x1A] = "Unsupported Remote Feature",
    [0x1B] = "SCO Offset Rejected",
    [0x1C] = "SCO Interval Rejected",
    [0x1D] = "SCO Air Mode Rejected",
    [0x1E] = "Invalid LMP Parameters / Invalid LL Parameters",
    [0x1F] = "Unspecified Error",
    [0x20] = "Unsupported LMP Parameter Value / Unsupported LL Parameter Value",
    [0x21] = "Role Change Not Allowed",
    [0x22] = "LMP Response Timeout / LL Response Timeout",
    [0x23] = "LMP Error Transaction Collision / LL Procedure Collision",
    [0x24] = "LMP PDU Not Allowed",
    [0x25] = "Encryption Mode Not Acceptable",
    [0x26] = "Link Key cannot be Changed",
    [0x27] = "Requested QoS Not Supported",
    [0x28] = "Instant Passed",
    [0x29] = "Pairing With Unit Key Not Supported",
    [0x2A] = "Different Transaction Collision",
    [0x2C] = "QoS Unacceptable Parameter",
    [0x2D] = "QoS Rejected",
    [0x2E] = "Channel Classification Not Supported",
    [0x2F] = "Insufficient Security",
    [0x30] = "Parameter Out Of Mandatory Range",
    [0x32] = "Role Switch Pending",
    [0x34] = "Reserved Slot Violation",
    [0x35] = "Role Switch Failed",
    [0x36] = "Extended Inquiry Response Too Large",
    [0x37] = "Secure Simple Pairing Not Supported By Host",
    [0x38] = "Host Busy - Pairing",
    [0x39] = "Connection Rejected due to No Suitable Channel Found",
    [0x3A] = "Controller Busy",
    [0x3B] = "Unacceptable Connection Parameters",
    [0x3C] = "Advertising Timeout",
    [0x3D] = "Connection Terminated due to MIC Failure",
    [0x3E] = "Connection Failed to be Established / Synchronization Timeout",
    [0x3F] = "MAC Connection Failed",
    [0x40] = "Coarse Clock Adjustment Rejected but Will Try to Adjust Using "
             "Clock Dragging",
    [0x41] = "Type0 Submap Not Defined",
    [0x42] = "Unknown Advertising Identifier",
    [0x43] = "Limit Reached",
    [0x44] = "Operation Cancelled by Host",
    [0x45] = "Packet Too Long",
};

/* Vol 3, Part F, 3.4.1.1, Table 3.4. */
static const char *const att_names[] = {
    [0x00] = "Success",
    [0x01] = "Invalid Handle",
    [0x02] = "Read Not Permitted",
    [0x03] = "Write Not Permitted",
    [0x04] = "Invalid PDU",
    [0x05] = "Insufficient Authentication",
    [0x06] = "Request Not Supported",
    [0x07] = "Invalid Offset",
    [0x08] = "Insufficient Authorization",
    [0x09] = "Prepare Queue Full",
    [0x0A] = "Attribute Not Found",
    [0x0B] = "Attribute Not Long",
    [0x0C] = "Encryption Key Size Too Short",
    [0x0D] = "Invalid Attribute Value Length",
    [0x0E] = "Unlikely Error",
    [0x0F] = "Insufficient Encryption",
    [0x10] = "Unsupported Group Type",
    [0x11] = "Insufficient Resources",
    [0x12] = "Database Out Of Sync",
    [0x13] = "Value Not Allowed",
};

/* Core Specification Supplement, Part B, 1.2: common profile and service
 * error codes, indexed from 0xFC. */
static const char *const att_common_names[] = {
    "Write Request Rejected",
    "Client Characteristic Configuration Descriptor Improperly Configured",
    "Procedure Already in Progress",
    "Out of Range",
};

/* Vol 3, Part H, 3.5.5, Table 3.7. */
static const char *const smp_names[] = {
    [0x01] = "Passkey Entry Failed",
    [0x02] = "OOB Not Available",
    [0x03] = "Authentication Requirements",
    [0x04] = "Confirm Value Failed",
    [0x05] = "Pairing Not Supported",
    [0x06] = "Encryption Key Size",
    [0x07] = "Command Not Supported",
    [0x08] = "Unspecified Reason",
    [0x09] = "Repeated Attempts",
    [0x0A] = "Invalid Parameters",
    [0x0B] = "DHKey Check Failed",
    [0x0C] = "Numeric Comparison Failed",
    [0x0D] = "BR/EDR pairing in progress",
    [0x0E] = "Cross-transport Key Derivation/Generation not allowed",
    [0x0F] = "Key Rejected",
};

/* Vol 3, Part A, 4.23 (0x0000..0x000B) and 4.26 (0x000C..0x000F). */
static const char *const l2cap_result_names[] = {
    [0x0000] = "Connection successful",
    [0x0002] = "Connection refused - SPSM not supported",
    [0x0004] = "Connection refused - no resources available",
    [0x0005] = "Connection refused - insufficient authentication",
    [0x0006] = "Connection refused - insufficient authorization",
    [0x0007] = "Connection refused - encryption key size too short",
    [0x0008] = "Connection refused - insufficient encryption",
    [0x0009] = "Connection refused - invalid Source CID",
    [0x000A] = "Connection refused - Source CID already allocated",
    [0x000B] = "Connection refused - unacceptable parameters",
    [0x000C] = "All connections refused - invalid parameters",
    [0x000D] = "All connections pending - no further information available",
    [0x000E] = "All connections pending - authentication pending",
    [0x000F] = "All connections pending - authorization pending",
};

/* Vol 3, Part A, 4.1, Table 4.3. */
static const char *const l2cap_reject_names[] = {
    [0x0000] = "Command not understood",
    [0x0001] = "Signaling MTU exceeded",
    [0x0002] = "Invalid CID in request",
};

static const char *lookup(const char *const *table, size_t n, unsigned v,
                          const char *unknown) {
  return v < n && table[v] ? table[v] : unknown;
}

const char *uvble_hci_status_str(uint8_t status) {
  return lookup(hci_names, COUNT(hci_names), status, "Unknown HCI status");
}

const char *uvble_att_error_str(uint8_t code) {
  if (code >= 0x80 && code <= 0x9F) return "Application Error";
  if (code >= 0xFC) return att_common_names[code - 0xFC];
  return lookup(att_names, COUNT(att_names), code, "Unknown ATT error");
}

const char *uvble_smp_reason_str(uint8_t reason) {
  return lookup(smp_names, COUNT(smp_names), reason, "Unknown SMP reason");
}

const char *uvble_l2cap_result_str(uint16_t result) {
  return lookup(l2cap_result_names, COUNT(l2cap_result_names), result,
                "Unknown L2CAP result");
}

const char *uvble_l2cap_reject_str(uint16_t reason) {
  return lookup(l2cap_reject_names, COUNT(l2cap_reject_names), reason,
                "Unknown L2CAP reject reason");
}
