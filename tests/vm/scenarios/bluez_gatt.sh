# GATT between uvble (a btvirt controller through its socket; see
# start_bluez_controllers) and BlueZ's bluetoothd (hci0, with dbus-daemon;
# driven through bluetoothctl and, for values checked byte for byte,
# org.bluez over D-Bus with gdbus): an independent GATT client and server,
# each side checking what the other did.
#  1. BlueZ's client, uvble's server (MTU 23, so 300- and 200-byte values
#     take Read Blob and prepared writes): discovery, read, long read,
#     write, long write, notification, indication.
#  2. uvble's client, BlueZ's server (bluetoothctl's gatt.register-*),
#     MTU 23 again: discovery, long read, write, long write, read back,
#     subscription and a notification.
. "$UVBLE_SOURCE_DIR/tests/vm/lib.sh"
start_bluez_controllers
start_bluez
k=$(mgmt_addr 0)
u=c0:55:56:4d:00:01
U=$(echo "$u" | tr 'a-f' 'A-F')
PEER="$VM_BIN/vm_peer $UV static-addr=$u"
SVC=12345678-1234-5678-1234-56789abc0000
C1=12345678-1234-5678-1234-56789abc0001
C2=12345678-1234-5678-1234-56789abc0002
C3=12345678-1234-5678-1234-56789abc0003
K=$(echo "$k" | tr 'a-f' 'A-F')
bt "select $K"
bt "power on"
bt_expect "Changing power on succeeded" 10

# --- 1. BlueZ's GATT client against uvble's server -----------------------------
run_bg server $PEER config=mtu,23 gatts-register gatts-set=1,pat:300:7 advertise=uvble-vm \
  wait-central=$k,1000 wait-write=1,41424344 wait-write=1,pat:200:33 wait-subscribed=2 \
  notify=2,4e4f5449 wait-subscribed=3 indicate=3,494e4449 wait-disconnect
bt "scan le"
bt_expect "Device $U" 30
bt "scan off"
bt "connect $U"
bt_expect "Connection successful"
bt_expect "ServicesResolved: yes"
p1=$(bt_char_path $C1)
expect_true "BlueZ discovered uvble's characteristics ($p1)" \
  sh -c "[ -n '$p1' ] && [ -n '$(bt_char_path $C2)' ] && [ -n '$(bt_char_path $C3)' ]"
bt "menu gatt"
bt "select-attribute $C1"
bt "read"
# The first line of bluetoothctl's hex dump of pat:300:7.
bt_expect "07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16"
v=$(gatt_read "$p1")
expect_true "BlueZ read uvble's 300-byte value (${#v} hex digits)" [ "$v" = "$(pattern 300 7)" ]
bt 'write "0x41 0x42 0x43 0x44"'
bt_expect "Attempting to write"
expect_true "BlueZ wrote a 200-byte value" gatt_write "$p1" "$(pattern 200 33)"
v=$(gatt_read "$p1")
expect_true "and reads it back" [ "$v" = "$(pattern 200 33)" ]
bt "select-attribute $C2"
bt "notify on"
bt_expect "4e 4f 54 49"
bt "select-attribute $C3"
bt "notify on"
bt_expect "49 4e 44 49"
bt "back"
bt "disconnect $U"
bt_expect "Successful disconnected"
run_wait server
expect_rc server 0
expect_out server "vm_peer: subscribed to"
expect_out_re server "^irq GATTS_INDICATE_DONE handle=[0-9]+ status=0\$"
expect_out server "vm_peer: all 13 steps ok"
expect_true "uvble served Read Blob, Prepare Write and Execute Write" \
  sh -c "btmon -r '$LOG/server.btsnoop' > '$LOG/server.txt'; grep -q 'ATT: Read Blob Request' '$LOG/server.txt' &&
         grep -q 'ATT: Prepare Write Request' '$LOG/server.txt' &&
         grep -q 'ATT: Execute Write Request' '$LOG/server.txt'"

# --- 2. uvble's GATT client against BlueZ's server ------------------------------
bt "menu gatt"
bt "register-service $SVC"
bt_expect "Primary (yes/no):" 10
bt "yes"
bt "register-characteristic $C1 read,write,notify"
bt_expect "Enter value:" 10
# bluetoothctl refuses writes longer than the value it was given. (No
# space at the end: it would count an empty word as one more byte.)
bt "$(pattern 120 90 | sed 's/\(..\)/0x\1 /g; s/ $//')"
bt "register-application"
bt_expect "Application registered" 10
bt "back"
bt "advertise on"
bt_expect "Advertising object registered" 10
# bluetoothctl 5.66 has no command to change a local value (select-attribute
# local came later), but it notifies each value a client writes: uvble
# subscribes, writes, and must be notified of what it wrote.
run_bg client $PEER config=mtu,23 scan=$k connect=$k discover=$SVC read=$C1,pat:120:90 \
  write=$C1,5758 read=$C1,5758 write=$C1,pat:120:1 read=$C1,pat:120:1 subscribe=$C1,1 \
  write=$C1,4e4f wait-notify=$C1,4e4f disconnect
bt_expect "Notify sock acquired" 60
bt_expect "4e 4f" 30
run_wait client
expect_rc client 0
expect_out_re client "^vm_peer: characteristic $C1 value handle [0-9]+ end [0-9]+ properties 0x1a\$"
expect_out client "vm_peer: notified handle="
expect_out client "vm_peer: all 14 steps ok"
bt "advertise off"
finish
