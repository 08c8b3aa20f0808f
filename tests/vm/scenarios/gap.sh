# uvble on hci1 (user channel) and the kernel's host on hci0 (driven by
# btmgmt, no bluetoothd) find and connect to each other in both roles, and
# each side sees the other's address, advertising data and disconnection.
. "$UVBLE_SOURCE_DIR/tests/vm/lib.sh"
start_controllers -l2
k=$(mgmt_addr 0)                     # the kernel's address (lower case)
u=$(mgmt_addr 1)                     # uvble's
U=$(echo "$u" | tr 'a-f' 'A-F')      # as btmgmt prints it
PEER="$VM_BIN/vm_peer hci1"
for c in "le on" "bredr off" "connectable on" "power on"; do
  btmgmt -i hci0 $c >/dev/null
done

# --- uvble central, kernel peripheral -------------------------------------------
# The kernel advertises connectably (instance 1, Complete Local Name
# "kernel-peer"); uvble scans actively, connects; the kernel lists the
# connection and ends it.
run add_adv btmgmt -i hci0 add-adv -c -g -d 0c096b65726e656c2d70656572 1
expect_out add_adv "Instance added: 1"
run central $PEER scan=$k,kernel-peer connect=$k \
  "spawn=btmgmt -i hci0 con" reap \
  "spawn=btmgmt -i hci0 disconnect -t 1 $u" reap wait-disconnect
expect_rc central 0
expect_out central "irq SCAN_RESULT addr=$k/0 adv_type=0"
expect_out central "name=\"kernel-peer\""
expect_out_re central "^irq PERIPHERAL_CONNECT handle=[0-9]+ addr=$k/0\$"
expect_out central "$U type LE Public"
expect_out central "$U disconnected"
expect_out_re central "^irq PERIPHERAL_DISCONNECT handle=[0-9]+ addr=$k/0\$"
expect_out central "vm_peer: all 7 steps ok"
run rm_adv btmgmt -i hci0 rm-adv 1

# --- uvble advertising, kernel discovering ------------------------------------
run discover $PEER advertise=uvble-vm "spawn=btmgmt -i hci0 --timeout 5 find -l" reap
expect_rc discover 0
expect_out discover "dev_found: $U type LE Public"
expect_out discover "AD flags 0x06"
expect_out discover "name uvble-vm"

# --- uvble peripheral, kernel central -----------------------------------------
# Add Device with action 2 (auto-connect) makes the kernel connect when it
# sees uvble advertise. It is removed before uvble disconnects, or the
# kernel would connect again.
run peripheral $PEER advertise=uvble-vm \
  "spawn=btmgmt -i hci0 add-device -a 2 -t 1 $u" reap wait-central=$k \
  "spawn=btmgmt -i hci0 con" reap \
  "spawn=btmgmt -i hci0 del-device -t 1 $u" reap disconnect
expect_rc peripheral 0
expect_out_re peripheral "^irq CENTRAL_CONNECT handle=[0-9]+ addr=$k/0\$"
expect_out peripheral "$U type LE Public"
expect_out_re peripheral "^irq CENTRAL_DISCONNECT handle=[0-9]+ addr=$k/0\$"
expect_out peripheral "vm_peer: all 9 steps ok"
run con_after btmgmt -i hci0 con
expect_no_out con_after "$U"

finish
