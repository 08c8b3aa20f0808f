# Pairing with bonding between uvble (btvirt's socket controller, static
# random address; see start_bluez_controllers) and BlueZ's bluetoothd
# (hci0), bluetoothctl's agent answered by lib.sh's responder.
#  1. uvble central pairs (LE Secure Connections, Just Works; BlueZ's agent
#     NoInputNoOutput) and disconnects as soon as the pairing completes:
#     BOTH sides must be bonded (uvble's ENCRYPTION_UPDATE says bonded,
#     BlueZ lists the device as Paired and Bonded with an LTK in
#     /var/lib/bluetooth/ADAPTER/DEVICE/info). Then uvble, restarted with
#     its bond store, connects again and the link encrypts with the stored
#     key: no SMP pairing on the air, no new question to BlueZ's agent.
#  2. BlueZ central pairs with uvble (Passkey Entry: uvble displays 123456,
#     BlueZ's agent, KeyboardOnly, types it) and uvble disconnects as soon
#     as it is encrypted: both bonded, authenticated. uvble connects again
#     and the link re-encrypts with the stored key (see below why not
#     BlueZ).
. "$UVBLE_SOURCE_DIR/tests/vm/lib.sh"
start_bluez_controllers
start_bluez
k=$(mgmt_addr 0)
K=$(echo "$k" | tr 'a-f' 'A-F')
u1=c0:55:56:4d:00:11
U1=$(echo "$u1" | tr 'a-f' 'A-F')
u2=c0:55:56:4d:00:12
U2=$(echo "$u2" | tr 'a-f' 'A-F')
PEER="$VM_BIN/vm_peer $UV"
bt "select $K"
bt "power on"
bt_expect "Changing power on succeeded" 10

# no_pairing NAME: uvble's capture of `run NAME` has an encryption but no
# SMP pairing.
no_pairing() {
  btmon -r "$LOG/$1.btsnoop" >"$LOG/$1.txt" 2>&1
  expect_true "$1: the link was encrypted" grep -q 'Encryption: Enabled' "$LOG/$1.txt"
  expect_true "$1: no SMP pairing" sh -c "! grep -q 'SMP: Pairing Request' '$LOG/$1.txt'"
}
# bonded_in_bluez ADDR: BlueZ lists ADDR as paired and bonded and keeps its LTK.
bonded_in_bluez() {
  # bluetoothd writes the info file when the kernel hands it the keys.
  # [LongTermKey] when BlueZ was the peripheral, [PeripheralLongTermKey]
  # (and the older name [SlaveLongTermKey]) when it was the central.
  _ltk='^\[(Peripheral)?LongTermKey\]'
  wait_for 10 grep -qE "$_ltk" "/var/lib/bluetooth/$K/$1/info"
  sed 's/^/  [info file] /' "/var/lib/bluetooth/$K/$1/info"
  expect_true "BlueZ stored an LTK for $1" grep -qE "$_ltk" "/var/lib/bluetooth/$K/$1/info"
  bt_info "$1" >"$LOG/info-$1.txt"
  sed "s/^/  [info $1] /" "$LOG/info-$1.txt"
  expect_true "BlueZ lists $1 as paired" grep -q "Paired: yes" "$LOG/info-$1.txt"
  expect_true "BlueZ lists $1 as bonded" grep -q "Bonded: yes" "$LOG/info-$1.txt"
}

# --- 2. BlueZ central pairs with a passkey; uvble disconnects at once -----------
bt "agent off"
bt_expect "Agent unregistered" 10
bt "agent KeyboardOnly"
bt_expect "Agent registered" 10
bt "default-agent"
bt_expect "Default agent request successful" 10
run_bg k_pair $PEER static-addr=$u2 bond-store=/tmp/k.bonds config=io,0 config=mitm,1 \
  passkey=123456 advertise=uvble-vm wait-central=$k,1000 wait-encryption disconnect
bt "scan le"
bt_expect "Device $U2" 30
bt "scan off"
bt "pair $U2"
bt_expect "Pairing successful" 60
run_wait k_pair
expect_rc k_pair 0
expect_out_re k_pair "^irq PASSKEY_ACTION handle=[0-9]+ action=3 "
expect_out_re k_pair "^irq ENCRYPTION_UPDATE handle=[0-9]+ encrypted=1 authenticated=1 bonded=1 key_size=16 status=0\$"
expect_true "BlueZ's agent typed the passkey" grep -q "Enter passkey" "$LOG/agent.answers"
bonded_in_bluez $U2
answers=$(wc -l <"$LOG/agent.answers")
# The reconnection is uvble's: with the kernel connecting again (bluetoothctl
# `connect`), Debian's 6.1.0-57 refused at once (Connection refused,
# le-connection-abort-by-local) after it had logged "debugfs: Directory
# '42' with parent 'hci0' already present" for the pairing's link (btvirt
# gives every link handle 42). LE Secure Connections keys serve either role.
bt "advertise on"
bt_expect "Advertising object registered" 10
run k_again $PEER static-addr=$u2 bond-store=/tmp/k.bonds config=io,0 config=mitm,1 \
  scan=$k connect=$k pair disconnect
expect_rc k_again 0
expect_out_re k_again "^irq ENCRYPTION_UPDATE handle=[0-9]+ encrypted=1 authenticated=1 bonded=1 key_size=16 status=0\$"
bt "advertise off"
no_pairing k_again
expect_true "BlueZ's agent was not asked again" [ "$(wc -l <"$LOG/agent.answers")" = "$answers" ]
# --- 1. uvble central bonds, disconnects at once; reconnects with the bond -----
bt "agent off"
bt_expect "Agent unregistered" 10
bt "agent NoInputNoOutput"
bt_expect "Agent registered" 10
bt "default-agent"
bt_expect "Default agent request successful" 10
bt "advertise on"
bt_expect "Advertising object registered" 10
run u_pair $PEER static-addr=$u1 bond-store=/tmp/u.bonds scan=$k connect=$k pair disconnect
expect_rc u_pair 0
expect_out_re u_pair "^irq ENCRYPTION_UPDATE handle=[0-9]+ encrypted=1 authenticated=0 bonded=1 key_size=16 status=0\$"
bonded_in_bluez $U1
answers=$(wc -l <"$LOG/agent.answers")
run u_again $PEER static-addr=$u1 bond-store=/tmp/u.bonds scan=$k connect=$k pair disconnect
expect_rc u_again 0
expect_out_re u_again "^irq ENCRYPTION_UPDATE handle=[0-9]+ encrypted=1 authenticated=0 bonded=1 key_size=16 status=0\$"
no_pairing u_again
expect_true "BlueZ's agent was not asked again" [ "$(wc -l <"$LOG/agent.answers")" = "$answers" ]
bt "advertise off"

finish
