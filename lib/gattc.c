/* GATT client — placeholder hooks until the layer lands. */
#include "att.h"
#include "ble_internal.h"

int gattc_init(uvble_t *ble) {
  (void)ble;
  return 0;
}
void gattc_stop(uvble_t *ble, int err) {
  (void)ble;
  (void)err;
}
void gattc_close(uvble_t *ble) { (void)ble; }
void gattc_conn_open(uvble_t *ble, struct ble_conn *c) {
  (void)ble;
  (void)c;
}
void gattc_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  (void)ble;
  (void)c;
  (void)reason;
}
void gattc_on_value(uvble_t *ble, struct ble_conn *c, bool indication,
                    uint16_t handle, const uint8_t *value, size_t len) {
  (void)ble;
  (void)c;
  (void)indication;
  (void)handle;
  (void)value;
  (void)len;
}
