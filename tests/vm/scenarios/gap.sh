# uvble on hci1 (user channel) and the kernel's host on hci0 (driven by
# btmgmt, no bluetoothd) find and connect to each other in both roles, and
# each side sees the other's address, advertising data and disconnection.
# Twice: with btvirt's default controllers (Bluetooth 5.0: both hosts use
# extended advertising, scanning and connecting), then with LE-only 4.x
# controllers (`btvirt -L`: legacy commands on both sides).
. "$UVBLE_SOURCE_DIR/tests/vm/lib.sh"
PEER="$VM_BIN/vm_peer hci1"

# gap_round NAME ADV_OPCODE: the checks, on the controllers started last;
# uvble must have set up advertising with ADV_OPCODE (0x0036 LE Set
# Extended Advertising Parameters, 0x0006 LE Set Advertising Parameters).
gap_round() {
  r=$1
  k=$(mgmt_addr 0)                     # the kernel's address (lower case)
  u=$(mgmt_addr 1)                     # uvble's
  U=$(echo "$u" | tr 'a-f' 'A-F')      # as btmgmt prints it
  for c in "le on" "bredr off" "connectable on" "power on"; do
    btmgmt -i hci0 $c >/dev/null
  done

  # uvble central, kernel peripheral: the kernel advertises connectably
  # (instance 1, Complete Local Name "kernel-peer"); uvble scans actively
  # and connects; the kernel lists the connection and ends it.
  run $r-add_adv btmgmt -i hci0 add-adv -c -g -d 0c096b65726e656c2d70656572 1
  expect_out $r-add_adv "Instance added: 1"
  run $r-central $PEER scan=$k,kernel-peer connect=$k \
    "spawn=btmgmt -i hci0 con" reap \
    "spawn=btmgmt -i hci0 disconnect -t 1 $u" reap wait-disconnect
  expect_rc $r-central 0
  expect_out $r-central "irq SCAN_RESULT addr=$k/0 adv_type=0"
  expect_out $r-central "name=\"kernel-peer\""
  expect_out_re $r-central "^irq PERIPHERAL_CONNECT handle=[0-9]+ addr=$k/0\$"
  expect_out $r-central "$U type LE Public"
  expect_out $r-central "$U disconnected"
  expect_out_re $r-central "^irq PERIPHERAL_DISCONNECT handle=[0-9]+ addr=$k/0\$"
  expect_out $r-central "vm_peer: all 7 steps ok"
  run $r-rm_adv btmgmt -i hci0 rm-adv 1

  # uvble advertising, the kernel discovering it. btvirt sends a scanner
  # one report when scanning or advertising starts, and the kernel drops
  # reports that beat its own "discovering" state, so uvble restarts
  # advertising twice while the kernel discovers (btmgmt's output comes
  # only when it exits: nothing to wait for).
  run $r-discover $PEER advertise=uvble-vm "spawn=btmgmt -i hci0 --timeout 8 find -l" \
    sleep=1500 advertise=uvble-vm sleep=1500 advertise=uvble-vm reap
  expect_rc $r-discover 0
  expect_out $r-discover "dev_found: $U type LE Public"
  expect_out $r-discover "AD flags 0x06"
  expect_out $r-discover "name uvble-vm"
  expect_true "$r: uvble advertised with opcode 0x08|$2" \
    sh -c "btmon -r '$LOG/$r-discover.btsnoop' | grep -qF '(0x08|$2)'"

  # uvble peripheral, kernel central: Add Device with action 2
  # (auto-connect) makes the kernel connect when it sees uvble advertise.
  # It is removed before uvble disconnects, or the kernel would connect
  # again.
  run $r-peripheral $PEER advertise=uvble-vm \
    "spawn=btmgmt -i hci0 add-device -a 2 -t 1 $u" reap wait-central=$k,1000 \
    "spawn=btmgmt -i hci0 con" reap \
    "spawn=btmgmt -i hci0 del-device -t 1 $u" reap disconnect
  expect_rc $r-peripheral 0
  expect_out_re $r-peripheral "^irq CENTRAL_CONNECT handle=[0-9]+ addr=$k/0\$"
  expect_out $r-peripheral "$U type LE Public"
  expect_out_re $r-peripheral "^irq CENTRAL_DISCONNECT handle=[0-9]+ addr=$k/0\$"
  expect_out $r-peripheral "vm_peer: all 9 steps ok"
  run $r-con_after btmgmt -i hci0 con
  expect_no_out $r-con_after "$U"
}

start_controllers -l2
gap_round ext 0x0036
stop_controllers
start_controllers -L -l2
gap_round legacy 0x0006
finish
