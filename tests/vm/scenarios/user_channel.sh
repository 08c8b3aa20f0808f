# uvble opens a controller through the HCI user channel of a real Linux
# kernel, and the errors a user meets on the way carry a message naming the
# fix: controller in use, blocked by rfkill, no permission, no such device.
# uvble-info is the program under test: what it prints is what users see.
. "$UVBLE_SOURCE_DIR/tests/vm/lib.sh"
start_controllers -l2

# --- bring-up: uvble reads what the kernel reads ------------------------------
addr1=$(mgmt_addr 1)
run info "$UVBLE_INFO" hci1
expect_rc info 0
expect_out info "Controller on hci1"
expect_out info "Address:       $addr1 (public)"
expect_out info "Manufacturer:  The Linux Foundation (1521)"
expect_out info "ACL buffers:   1 x 192 bytes"
# Closing hands the controller back: mgmt lists it again.
expect_true "hci1 is back with the kernel after uvble closed it" \
  wait_for 5 sh -c 'btmgmt info | grep -q "^hci1:"'

# --- in use: a second open of a controller uvble holds (EUSERS) ---------------
run busy "$UVBLE_INFO" hci1 hci1
expect_rc busy 1
expect_err busy "hci1 is up or in use: run \`btmgmt -i hci1 power off\` or stop bluetoothd"
expect_out busy "Address:       $addr1 (public)"

# --- up: the kernel powered it; uvble takes it down itself (HCIDEVDOWN) --------
run power_on btmgmt -i hci0 power on
expect_true "the kernel powered hci0" sh -c 'btmgmt -i hci0 info | grep -q "current settings: powered"'
run up "$UVBLE_INFO" hci0
expect_rc up 0
expect_out up "Controller on hci0"
expect_out up "Address:       $(mgmt_addr 0) (public)"
expect_true "hci0 is back with the kernel, powered off" \
  wait_for 5 sh -c 'btmgmt -i hci0 info | grep "current settings:" | grep -vq powered'

# --- rfkill: soft-blocked controller (ERFKILL from the open in bind) ----------
rfk=$(ls -d /sys/class/bluetooth/hci1/rfkill* | head -n1)
echo 1 >"$rfk/soft"
run rfkill "$UVBLE_INFO" hci1
expect_rc rfkill 1
expect_err rfkill "hci1 is blocked by rfkill: run \`rfkill unblock bluetooth\`"
echo 0 >"$rfk/soft"

# --- permission: not root, no capabilities (EPERM) -----------------------------
# A copy on the guest's tmpfs, which keeps file capabilities (the 9p share
# is the host's build tree: leave its files alone).
cp "$UVBLE_INFO" /tmp/uvble-info
chmod 0755 /tmp/uvble-info
run noperm "$VM_BIN/vm_runas" nobody /tmp/uvble-info hci1
expect_rc noperm 1
expect_err noperm "hci1: needs CAP_NET_ADMIN and CAP_NET_RAW: run as root or \`setcap cap_net_admin,cap_net_raw+eip <binary>\`"
# ... and the fix the message names works.
run setcap "$VM_BIN/vm_runas" setcap /tmp/uvble-info
expect_rc setcap 0
run capable "$VM_BIN/vm_runas" nobody /tmp/uvble-info hci1
expect_rc capable 0
expect_out capable "Address:       $addr1 (public)"

# --- no such device (ENODEV) --------------------------------------------------
run nodev "$UVBLE_INFO" hci9
expect_rc nodev 1
expect_err nodev "hci9: no such controller: list them with \`btmgmt info\`"

# --- a malformed name never reaches the kernel ----------------------------------
run badname "$UVBLE_INFO" hcix
expect_rc badname 1
expect_err badname "bad controller number"

finish
