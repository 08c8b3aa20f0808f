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
