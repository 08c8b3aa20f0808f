# Sourced by every scenario in tests/vm/scenarios/ (busybox sh, inside the
# guest, as root). /init has loaded the modules and mounted the source and
# build trees; UVBLE_SOURCE_DIR, UVBLE_BINARY_DIR and UVBLE_VM_LOG (a
# directory of the build tree kept after the run) are set.
#
# A scenario starts the controllers, runs commands with `run NAME CMD...`
# (output kept in $LOG/NAME.out and .err, uvble's HCI traffic in
# $LOG/NAME.btsnoop, exit status in $rc, all but the capture echoed to the
# console), checks them with expect_*, and ends with `finish`, whose
# exit status is the verdict.

VM_BIN=$UVBLE_BINARY_DIR/tests/vm
UVBLE_INFO=$UVBLE_BINARY_DIR/uvble-info
LOG=${UVBLE_VM_LOG:-/tmp}
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
checks_ok=0
checks_failed=0
bg_pids=""

ok() { checks_ok=$((checks_ok + 1)); echo "ok: $*"; }
not_ok() { checks_failed=$((checks_failed + 1)); echo "FAIL: $*"; }

# run NAME CMD [ARG...]: runs CMD, keeps its output, sets rc.
run() {
  _name=$1
  shift
  echo "+ $*"
  UVBLE_BTSNOOP="$LOG/$_name.btsnoop" "$@" >"$LOG/$_name.out" 2>"$LOG/$_name.err"
  rc=$?
  sed "s/^/  [$_name out] /" "$LOG/$_name.out"
  sed "s/^/  [$_name err] /" "$LOG/$_name.err"
  echo "  [$_name] exit status $rc"
}

# expect_rc NAME WANT: the last `run NAME` exited WANT.
expect_rc() {
  if [ "$rc" = "$2" ]; then ok "$1 exits $2"; else not_ok "$1 exits $rc, expected $2"; fi
}

# expect_out|expect_err NAME TEXT: the output of `run NAME` holds TEXT.
expect_out() { _expect "$1" out "$2"; }
expect_err() { _expect "$1" err "$2"; }
_expect() {
  if grep -qF -- "$3" "$LOG/$1.$2"; then ok "$1 std$2 has \"$3\""
  else not_ok "$1 std$2 lacks \"$3\""; fi
}
expect_no_out() {
  if grep -qF -- "$2" "$LOG/$1.out"; then not_ok "$1 stdout has \"$2\""
  else ok "$1 stdout has no \"$2\""; fi
}
# expect_out_re NAME REGEX: a line of the output matches the extended regex.
expect_out_re() {
  if grep -qE -- "$2" "$LOG/$1.out"; then ok "$1 stdout matches /$2/"
  else not_ok "$1 stdout does not match /$2/"; fi
}

# expect_true DESCRIPTION CMD [ARG...]: CMD succeeds.
expect_true() {
  _what=$1
  shift
  if "$@"; then ok "$_what"; else not_ok "$_what"; fi
}

# wait_for SECONDS CMD [ARG...]: polls CMD every 0.1 s until it succeeds.
wait_for() {
  _n=$(($1 * 10))
  shift
  while ! "$@" 2>/dev/null; do
    _n=$((_n - 1))
    [ $_n -gt 0 ] || return 1
    usleep 100000
  done
}

# start_controllers [--no-btmon] [BTVIRT_OPTION...]: btmon records every
# HCI packet of the session to $LOG/hci.btsnoop (user channel traffic
# included: the kernel mirrors it to the monitor channel) and decodes it to
# $LOG/btmon.log, then btvirt creates two virtual controllers on one
# simulated radio through /dev/vhci: hci0 for the kernel's host, hci1 for
# uvble. btmon's decoding costs more than a megabyte of L2CAP data can
# afford under emulation: --no-btmon leaves it out (`run` still has uvble
# write its own side to $LOG/NAME.btsnoop).
start_controllers() {
  if [ "${1:-}" = --no-btmon ]; then
    shift
  elif [ -z "${btmon_pid:-}" ]; then
    btmon -w "$LOG/hci.btsnoop" >"$LOG/btmon.log" 2>&1 &
    btmon_pid=$!
    bg_pids="$bg_pids $!"
    usleep 200000
  fi
  btvirt "$@" >>"$LOG/btvirt.log" 2>&1 &
  btvirt_pid=$!
  bg_pids="$bg_pids $!"
  if ! wait_for 10 test -e /sys/class/bluetooth/hci1; then
    not_ok "btvirt $* did not create hci0 and hci1"
    cat "$LOG/btvirt.log"
    finish
  fi
  # The kernel runs each new controller's setup; wait until mgmt knows
  # both and their addresses.
  wait_for 10 sh -c '[ "$(btmgmt info 2>/dev/null | grep -c "^	addr ")" = 2 ]' ||
    not_ok "mgmt does not list hci0 and hci1 with their addresses"
}

# signal_when FILE TEXT FLAG: in the background, creates FLAG once FILE
# holds TEXT (vm_peer's wait-file=FLAG step waits for it); gives up after
# five minutes.
signal_when() {
  (
    _n=3000
    while ! grep -qF -- "$2" "$1" 2>/dev/null; do
      _n=$((_n - 1))
      [ $_n -gt 0 ] || exit 1
      usleep 100000
    done
    touch "$3"
  ) &
  bg_pids="$bg_pids $!"
}

# stop_controllers: ends btvirt; its controllers go away, and the next
# start_controllers gets hci0 and hci1 again.
stop_controllers() {
  kill "$btvirt_pid" 2>/dev/null
  wait "$btvirt_pid" 2>/dev/null
  wait_for 10 sh -c '! test -e /sys/class/bluetooth/hci0' ||
    not_ok "hci0 is still there after btvirt ended"
}

# mgmt_settings INDEX: the kernel's current settings for hciINDEX.
mgmt_settings() {
  btmgmt -i "hci$1" info 2>/dev/null | sed -n 's/^[[:space:]]*current settings: //p'
}

# mgmt_addr INDEX: hciINDEX's public address as the kernel reads it, lower case.
mgmt_addr() {
  btmgmt -i "hci$1" info 2>/dev/null | sed -n 's/^[[:space:]]*addr \([0-9A-Fa-f:]*\) .*/\1/p' |
    tr 'A-F' 'a-f'
}

# finish: stops what start_controllers started and exits with the verdict.
finish() {
  for p in $bg_pids; do kill "$p" 2>/dev/null; done
  usleep 300000
  echo "scenario $(basename "$0" .sh): $checks_ok checks ok, $checks_failed failed"
  [ "$checks_failed" = 0 ] && [ "$checks_ok" -gt 0 ]
  exit $?
}

# ---- BlueZ as the peer -------------------------------------------------------
# start_bluez_controllers: btmon as in start_controllers, then `btvirt -L
# -l1 -s`: hci0 through /dev/vhci for the kernel and bluetoothd, and uvble's
# controller behind btvirt's socket ($UV, unix:/tmp/bt-server-le; a fresh
# LE controller on the same simulated radio per connection). bluetoothd
# manages every controller the kernel has: with uvble on hci1 it took hci1
# over each time uvble let it go, and the user channel's next bind then
# stalled (seconds, or for good) in this kernel; behind the socket uvble's
# controller is not the kernel's at all. Its address changes with each
# connection, so uvble uses a static random one (vm_peer's static-addr=).
# Both controllers are 4.x (-L; the socket ones always are): the kernel's
# LE Extended Create Connection from a 5.x hci0 never reached uvble.
UV=unix:/tmp/bt-server-le
start_bluez_controllers() {
  btmon -w "$LOG/hci.btsnoop" >"$LOG/btmon.log" 2>&1 &
  bg_pids="$bg_pids $!"
  usleep 200000
  btvirt -L -l1 -s >>"$LOG/btvirt.log" 2>&1 &
  btvirt_pid=$!
  bg_pids="$bg_pids $!"
  if ! wait_for 10 test -S /tmp/bt-server-le || ! wait_for 10 test -e /sys/class/bluetooth/hci0
  then
    not_ok "btvirt -l1 -s did not create hci0 and its socket"
    cat "$LOG/btvirt.log"
    finish
  fi
  wait_for 10 sh -c 'btmgmt info 2>/dev/null | grep -q "^	addr "' ||
    not_ok "mgmt does not list hci0 with its address"
}

# start_bluez: the system bus (dbus-daemon --system, Debian's system.conf
# and bluetoothd's policy file), bluetoothd (-n -d, log in
# $LOG/bluetoothd.log; main.conf: LE only, no adapter powered on its own)
# and one interactive bluetoothctl reading commands from a FIFO (`bt CMD`)
# and writing to $BT_LOG, which `bt_expect` searches. A background
# responder plays the user at bluetoothctl's agent prompts: "yes" to every
# confirmation and authorization, $BT_PASSKEY (default 123456) when asked
# to type a passkey; $LOG/agent.answers counts its answers.
BT_LOG=$LOG/bluetoothctl.log
BT_PASSKEY=123456
start_bluez() {
  mkdir -p /run/dbus /var/lib/bluetooth
  if ! dbus-daemon --system; then
    not_ok "dbus-daemon --system did not start"
    finish
  fi
  /usr/libexec/bluetooth/bluetoothd -n -d >"$LOG/bluetoothd.log" 2>&1 &
  bg_pids="$bg_pids $!"
  if ! wait_for 15 gdbus call --system --dest org.bluez --object-path /org/bluez/hci0 \
         --method org.freedesktop.DBus.Properties.Get org.bluez.Adapter1 Address; then
    not_ok "bluetoothd did not offer hci0 on the system bus"
    tail -20 "$LOG/bluetoothd.log"
    finish
  fi
  rm -f /tmp/bluetoothctl.in
  mkfifo /tmp/bluetoothctl.in
  bluetoothctl </tmp/bluetoothctl.in >"$BT_LOG" 2>&1 &
  bg_pids="$bg_pids $!"
  exec 3>/tmp/bluetoothctl.in
  # On a pipe bluetoothctl's readline blocks its main loop until the first
  # line arrives (it would wait for bluetoothd forever): give it one.
  echo version >&3
  _bt_mark=0
  : >"$LOG/agent.answers"
  (
    _done=0
    while :; do
      grep -oE 'Accept pairing \(yes/no\)|Confirm passkey [0-9]+ \(yes/no\)|Authorize service [^ ]* \(yes/no\)|Enter passkey \(number in 0-999999\)' \
        "$BT_LOG" 2>/dev/null >/tmp/agent.prompts
      _n=$(wc -l </tmp/agent.prompts)
      while [ "$_done" -lt "$_n" ]; do
        _done=$((_done + 1))
        _p=$(sed -n "${_done}p" /tmp/agent.prompts)
        case $_p in
          Enter*) echo "$BT_PASSKEY" >&3 ;;
          *) echo yes >&3 ;;
        esac
        echo "$_p" >>"$LOG/agent.answers"
      done
      usleep 300000
    done
  ) &
  bg_pids="$bg_pids $!"
  bt_expect "Agent registered" 10 >/dev/null
}

# bt CMD...: sends a command line to bluetoothctl; bt_expect then searches
# only what it printed after this.
bt() {
  _bt_mark=$(wc -c <"$BT_LOG")
  echo "bluetoothctl> $*"
  echo "$*" >&3
}

# bt_expect TEXT [SECONDS]: bluetoothctl printed TEXT since the last `bt`
# (within SECONDS, default 30); counts a check.
bt_expect() {
  # Timed by the clock: under emulation each poll costs a good part of the
  # 0.1 s wait_for assumes.
  _end=$(($(date +%s) + ${2:-30}))
  until tail -c +$((_bt_mark + 1)) "$BT_LOG" | grep -qF -- "$1"; do
    if [ "$(date +%s)" -ge "$_end" ]; then
      not_ok "bluetoothctl did not print \"$1\" within ${2:-30} s"
      return 1
    fi
    usleep 100000
  done
  ok "bluetoothctl printed \"$1\""
}

# bt_info ADDR: bluetoothctl's `info ADDR`, run on its own, to stdout.
bt_info() {
  bluetoothctl info "$1" 2>&1 | sed 's/\x1b\[[0-9;]*m//g'
}

# bt_char_path UUID: the D-Bus object of the remote characteristic UUID, as
# bluetoothctl announced it ("[NEW] Characteristic", the path on the line
# before the UUID).
bt_char_path() {
  sed 's/\x1b\[[0-9;]*m//g; s/\r/\n/g' "$BT_LOG" |
    awk -v u="$1" '$1 == u && prev ~ /^\/org\/bluez\/hci0\/dev_/ { print prev; exit } { prev = $1 }'
}

# gatt_read PATH: the value of characteristic PATH read through org.bluez
# (GattCharacteristic1.ReadValue), as hex digits.
gatt_read() {
  gdbus call --system --dest org.bluez --object-path "$1" \
    --method org.bluez.GattCharacteristic1.ReadValue '{}' | grep -o '0x[0-9a-f][0-9a-f]' |
    sed 's/^0x//' | tr -d '\n'
}

# gatt_write PATH HEX: writes HEX to characteristic PATH (WriteValue, a
# write request; long values become prepared writes).
gatt_write() {
  _bytes=$(echo "$2" | sed 's/\(..\)/0x\1, /g; s/, $//')
  gdbus call --system --dest org.bluez --object-path "$1" \
    --method org.bluez.GattCharacteristic1.WriteValue "[byte $_bytes]" "{'type': <'request'>}"
}

# pattern N S: the hex digits of vm_peer's pat:N:S (byte i is (S + i) & 0xff).
pattern() {
  _i=0
  while [ $_i -lt "$1" ]; do
    printf %02x $((($2 + _i) & 255))
    _i=$((_i + 1))
  done
}

# run_bg NAME CMD...: `run` in the background; run_wait NAME collects it
# (sets rc, prints its output as `run` does).
run_bg() {
  _name=$1
  shift
  echo "+ $* &"
  UVBLE_BTSNOOP="$LOG/$_name.btsnoop" "$@" >"$LOG/$_name.out" 2>"$LOG/$_name.err" &
  eval "_pid_$(echo "$_name" | tr -c 'a-zA-Z0-9\n' _)=$!"
}
run_wait() {
  eval "wait \$_pid_$(echo "$1" | tr -c 'a-zA-Z0-9\n' _)"
  rc=$?
  sed "s/^/  [$1 out] /" "$LOG/$1.out"
  sed "s/^/  [$1 err] /" "$LOG/$1.err"
  echo "  [$1] exit status $rc"
}
