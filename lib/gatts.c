/* GATT server — placeholder hooks until the layer lands. */
#include "att.h"
#include "ble_internal.h"

int gatts_init(uvble_t *ble) {
  (void)ble;
  return 0;
}
void gatts_stop(uvble_t *ble, int err) {
  (void)ble;
  (void)err;
}
void gatts_close(uvble_t *ble) { (void)ble; }
void gatts_conn_open(uvble_t *ble, struct ble_conn *c) {
  (void)ble;
  (void)c;
}
void gatts_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  (void)ble;
  (void)c;
  (void)reason;
}
void gatts_on_pdu(uvble_t *ble, struct ble_conn *c, const uint8_t *pdu,
                  size_t len) {
  (void)ble;
  (void)c;
  (void)pdu;
  (void)len;
}
