# Pairing between uvble's Security Manager (hci1, user channel) and the
# kernel's SMP (hci0; vm_mgmt plays bluetoothd's agent through the
# management interface, with a fixed passkey). LE Secure Connections both
# ways, Just Works and Passkey Entry, bonds kept on both sides: a
# reconnection encrypts with the stored keys, also after uvble restarts
# (its bond store on disk).
. "$UVBLE_SOURCE_DIR/tests/vm/lib.sh"
start_controllers -l2
k=$(mgmt_addr 0)
u=$(mgmt_addr 1)
PEER="$VM_BIN/vm_peer hci1"
MGMT="$VM_BIN/vm_mgmt 0"
for c in "le on" "bredr off" "bondable on" "sc on" "connectable on" "power on"; do
  btmgmt -i hci0 $c >/dev/null
done

# --- the kernel pairs with uvble (kernel central), Just Works ---------------------
run k_jw $PEER bond-store=/tmp/k_jw.bonds advertise=uvble-vm \
  "spawn=$MGMT pair $u 3 0" wait-central=$k,1000 wait-encryption reap disconnect
expect_rc k_jw 0
expect_out_re k_jw "^irq ENCRYPTION_UPDATE handle=[0-9]+ encrypted=1 authenticated=0 bonded=1 key_size=16 status=0\$"
expect_out k_jw "mgmt: new long term key type 0x02 authenticated 0 enc_size 16"
expect_out k_jw "mgmt: pair complete status 0x00"
run unpair1 btmgmt -i hci0 unpair -t 1 $u

# --- the kernel pairs with uvble, Passkey Entry: uvble shows 123456, the
# kernel (KeyboardOnly) is told it by the agent ------------------------------------
run k_pk $PEER bond-store=/tmp/k_pk.bonds config=io,0 config=mitm,1 passkey=123456 \
  advertise=uvble-vm "spawn=$MGMT pair $u 2 123456" wait-central=$k,1000 wait-encryption \
  reap disconnect
expect_rc k_pk 0
expect_out_re k_pk "^irq PASSKEY_ACTION handle=[0-9]+ action=3 "
expect_out k_pk "mgmt: passkey request"
expect_out_re k_pk "^irq ENCRYPTION_UPDATE handle=[0-9]+ encrypted=1 authenticated=1 bonded=1 key_size=16 status=0\$"
expect_out k_pk "mgmt: new long term key type 0x03 authenticated 1 enc_size 16"
run unpair2 btmgmt -i hci0 unpair -t 1 $u

# --- uvble pairs with the kernel (uvble central), Just Works; then reconnects
# and encrypts with the stored keys, in the same run and after a restart ----------
btmgmt -i hci0 advertising on >/dev/null
$MGMT agent 3 0 300 >"$LOG/agent-jw.out" 2>&1 &
agent=$!
run u_jw $PEER bond-store=/tmp/u_jw.bonds scan=$k connect=$k pair disconnect \
  scan=$k connect=$k pair disconnect
expect_rc u_jw 0
expect_true "uvble encrypted twice, bonded" \
  sh -c "[ \$(grep -c 'encrypted=1 authenticated=0 bonded=1 key_size=16 status=0' '$LOG/u_jw.out') = 2 ]"
run u_jw_again $PEER bond-store=/tmp/u_jw.bonds scan=$k connect=$k pair disconnect
expect_rc u_jw_again 0
expect_out_re u_jw_again "^irq ENCRYPTION_UPDATE handle=[0-9]+ encrypted=1 authenticated=0 bonded=1 key_size=16 status=0\$"
kill $agent
# One pairing (the kernel asks its agent once, makes one key); the two
# reconnections only encrypted.
sed "s/^/  [agent] /" "$LOG/agent-jw.out"
expect_true "the kernel paired once" \
  sh -c "[ \$(grep -c 'confirm request' '$LOG/agent-jw.out') = 1 ]"
expect_true "the kernel made one key" \
  sh -c "[ \$(grep -c 'new long term key type 0x02' '$LOG/agent-jw.out') = 1 ]"
run unpair3 btmgmt -i hci0 unpair -t 1 $u

# --- uvble pairs with the kernel, Passkey Entry: uvble shows 123456, the
# kernel's agent (KeyboardOnly) types it --------------------------------------------
$MGMT agent 2 123456 300 >"$LOG/agent-pk.out" 2>&1 &
agent=$!
run u_pk $PEER bond-store=/tmp/u_pk.bonds config=io,0 config=mitm,1 passkey=123456 \
  scan=$k connect=$k pair disconnect
expect_rc u_pk 0
expect_out_re u_pk "^irq PASSKEY_ACTION handle=[0-9]+ action=3 "
expect_out_re u_pk "^irq ENCRYPTION_UPDATE handle=[0-9]+ encrypted=1 authenticated=1 bonded=1 key_size=16 status=0\$"
kill $agent
sed "s/^/  [agent] /" "$LOG/agent-pk.out"
expect_true "the kernel's agent typed the passkey" grep -q "passkey request" "$LOG/agent-pk.out"
expect_true "the kernel made an authenticated key" \
  grep -q "new long term key type 0x03 authenticated 1" "$LOG/agent-pk.out"
finish
