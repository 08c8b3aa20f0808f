/* L2CAP signalling and credit-based channels — placeholder hooks until the layer lands. */
#include "ble_internal.h"
#include "l2cap.h"

int l2cap_init(uvble_t *ble) {
  (void)ble;
  return 0;
}
void l2cap_stop(uvble_t *ble, int err) {
  (void)ble;
  (void)err;
}
void l2cap_close(uvble_t *ble) { (void)ble; }
void l2cap_conn_open(uvble_t *ble, struct ble_conn *c) {
  (void)ble;
  (void)c;
}
void l2cap_conn_closed(uvble_t *ble, struct ble_conn *c, uint8_t reason) {
  (void)ble;
  (void)c;
  (void)reason;
}
int l2cap_conn_param_update_request(uvble_t *ble, struct ble_conn *c,
                                    const struct l2cap_conn_params *p,
                                    l2cap_conn_param_cb cb, void *arg) {
  (void)ble;
  (void)c;
  (void)p;
  (void)cb;
  (void)arg;
  return UVBLE_ENOTSUP;
}
bool l2cap_dyn_rx(uvble_t *ble, struct ble_conn *c, uint16_t cid,
                  const uint8_t *data, size_t len) {
  (void)ble;
  (void)c;
  (void)cid;
  (void)data;
  (void)len;
  return false;
}
void l2cap_on_acl_completed(uvble_t *ble) { (void)ble; }
