# LE credit-based channels between uvble (hci1, user channel) and the
# kernel's L2CAP (l2test on hci0), both ways in both roles:
#   uvble central:  kernel -> uvble 1 MiB of random data, checked by SHA-256
#                   uvble -> kernel 1 MiB of l2test's frames, checked by
#                   `l2test -r`
#   kernel central: the same two with 256 KiB each (emulation is slow: the
#                   megabytes above are what the time budget allows),
#                   l2test connecting to uvble.
# l2test's frames (sequence number, length, 0x7f filler) let l2test itself
# count the bytes and report any lost, reordered or altered frame.
. "$UVBLE_SOURCE_DIR/tests/vm/lib.sh"
start_controllers --no-btmon -l2
k=$(mgmt_addr 0)
u=$(mgmt_addr 1)
PEER="$VM_BIN/vm_peer hci1"
MB=1048576
QUARTER=262144
LE="-V le_public -i hci0"
for c in "le on" "bredr off" "connectable on" "power on" "advertising on"; do
  btmgmt -i hci0 $c >/dev/null
done

# --- uvble central, kernel peripheral ----------------------------------------------
head -c $MB /dev/urandom >/tmp/k2u-1.bin
sum1=$(sha256sum /tmp/k2u-1.bin | cut -d' ' -f1)
# -x: on connection, send the file, then read (and drop) what comes.
l2test -x -B /tmp/k2u-1.bin -b $MB -P 128 $LE >"$LOG/l2test-x.out" 2>"$LOG/l2test-x.err" &
bg_pids="$bg_pids $!"
# -r: receive, check l2test's frames, report every MiB.
l2test -r -b $MB -P 129 $LE >"$LOG/l2test-r.out" 2>"$LOG/l2test-r.err" &
bg_pids="$bg_pids $!"
signal_when "$LOG/l2test-r.err" "$MB bytes in" /tmp/kernel-got-1
usleep 300000
run central $PEER timeout=200 scan=$k connect=$k \
  l2cap-connect=128 recv=$MB l2cap-close \
  l2cap-connect=129 send=$MB wait-file=/tmp/kernel-got-1 l2cap-close disconnect
expect_rc central 0
expect_out_re central "^irq L2CAP_CONNECT handle=[0-9]+ cid=[0-9]+ psm=128 our_mtu=1024 peer_mtu=672\$"
expect_out central "vm_peer: received $MB bytes"
expect_out central "sha256 $sum1"
expect_out central "vm_peer: sent $MB bytes in 2048 SDUs of 512"
sed "s/^/  [l2test -r] /" "$LOG/l2test-r.err"
expect_true "l2test -r counted 1 MiB" grep -q "$MB bytes in" "$LOG/l2test-r.err"
expect_true "l2test -r saw no lost, resized or altered frame" \
  sh -c "! grep -q missmatch '$LOG/l2test-r.err'"
btmgmt -i hci0 advertising off >/dev/null

# --- kernel central, uvble peripheral --------------------------------------------
head -c $QUARTER /dev/urandom >/tmp/k2u-2.bin
sum2=$(sha256sum /tmp/k2u-2.bin | cut -d' ' -f1)
signal_when "$LOG/peripheral.err" "$QUARTER bytes in" /tmp/kernel-got-2
# -y: connect, send the file, then read; -u: connect and receive, checking
# l2test's frames. After the first channel closes the kernel drops the
# idle link by itself; uvble advertises again for the second.
run peripheral $PEER timeout=200 l2cap-listen=128 advertise=uvble-vm \
  "spawn=l2test -y -B /tmp/k2u-2.bin -b $QUARTER -P 128 $LE $u" \
  wait-central=$k,1000 l2cap-accept recv=$QUARTER l2cap-close reap wait-disconnect \
  advertise=uvble-vm "spawn=l2test -u -b $QUARTER -P 128 $LE $u" \
  wait-central=$k,1000 l2cap-accept send=$QUARTER wait-file=/tmp/kernel-got-2 l2cap-close reap disconnect
expect_rc peripheral 0
expect_out_re peripheral "^irq L2CAP_ACCEPT handle=[0-9]+ cid=[0-9]+ psm=128 peer_mtu=672\$"
expect_out peripheral "sha256 $sum2"
expect_out peripheral "vm_peer: sent $QUARTER bytes in 512 SDUs of 512"
expect_err peripheral "$QUARTER bytes in"
expect_true "l2test -u saw no lost, resized or altered frame" \
  sh -c "! grep -q missmatch '$LOG/peripheral.err'"
finish
