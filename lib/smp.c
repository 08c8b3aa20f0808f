/* Security Manager — placeholder hooks until the layer lands. */
#include "ble_internal.h"

int smp_init(uvble_t *ble) {
  (void)ble;
  return 0;
}
void smp_stop(uvble_t *ble, int err) {
  (void)ble;
  (void)err;
}
void smp_close(uvble_t *ble) { (void)ble; }
void smp_conn_open(uvble_t *ble, struct ble_conn *c) {
  (void)ble;
  (void)c;
}
void smp_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  (void)ble;
  (void)c;
  (void)reason;
}

void smp_on_encryption_change(uvble_t *ble, const uint8_t *p, size_t len) {
  (void)p;
  (void)len;
  ble->stats.hci_events_unhandled++;
}
void smp_on_key_refresh(uvble_t *ble, const uint8_t *p, size_t len) {
  (void)p;
  (void)len;
  ble->stats.hci_events_unhandled++;
}
void smp_on_ltk_request(uvble_t *ble, const uint8_t *p, size_t len) {
  (void)p;
  (void)len;
  ble->stats.hci_events_unhandled++;
}
