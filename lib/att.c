/* ATT bearer — placeholder hooks until the layer lands. */
#include "ble_internal.h"

int att_init(uvble_t *ble) {
  (void)ble;
  return 0;
}
void att_stop(uvble_t *ble, int err) {
  (void)ble;
  (void)err;
}
void att_close(uvble_t *ble) { (void)ble; }
void att_conn_open(uvble_t *ble, struct ble_conn *c) {
  (void)ble;
  (void)c;
}
void att_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  (void)ble;
  (void)c;
  (void)reason;
}
