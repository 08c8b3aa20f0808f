/* SPDX-License-Identifier: Apache-2.0 */
/* btsnoop capture writer: version 1, datalink 1002 (HCI UART / H4), so every
 * record's data starts with the H4 packet indicator. Each record goes to the
 * file with one write(), so a capture is readable while it is being written
 * and survives the process being killed. */
#ifndef UVBLE_HCI_TRANSPORT_BTSNOOP_H
#define UVBLE_HCI_TRANSPORT_BTSNOOP_H

#include <stddef.h>
#include <stdint.h>

#include "uvble/transport.h"

#define UVBLE_BTSNOOP_DATALINK_H4 1002
/* Microseconds from 0 AD to the Unix epoch, as btsnoop counts time. */
#define UVBLE_BTSNOOP_EPOCH_DELTA 0x00dcddb30f2f8000ULL
/* Record flags. */
#define UVBLE_BTSNOOP_RECEIVED 0x01 /* from the controller to the host */
#define UVBLE_BTSNOOP_CMD_EVT 0x02  /* command or event (else data) */

typedef struct uvble_btsnoop uvble_btsnoop_t;

/* Creates (truncates) path and writes the file header. Returns 0 or -errno. */
int uvble_btsnoop_open(const char *path, uvble_btsnoop_t **out);
/* Appends one record: received is 1 for controller-to-host; the packet is
 * type then iov[0..iovcnt). Returns 0 or -errno (the first write error also
 * stops the capture). */
int uvble_btsnoop_write(uvble_btsnoop_t *s, int received, uint8_t type,
                        const uvble_iov_t *iov, int iovcnt);
void uvble_btsnoop_close(uvble_btsnoop_t *s);

#endif
