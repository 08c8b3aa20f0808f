#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 1 MiB each way through the UART bridge arrives intact: into the central's
# stdin and out of the peripheral's PTY, into the PTY and out of the
# central's stdout — the default (acknowledged) mode, as a user runs it.
# Then `uvble-uart-bridge central < file > out`, as the README shows it,
# exits by itself (status 0) once the file is through, in both modes.
source "$(dirname "$0")/lib.sh"

size=${UVBLE_EXAMPLE_BYTES:-1048576} # smaller on the real link layer (tests/ll)
head -c $size /dev/urandom >"$T/to_pty.bin"
head -c $size /dev/urandom >"$T/from_pty.bin"

start periph "$EX/uvble-uart-bridge" peripheral --name uvble-uart-test --link "$T/tty"
address_of periph >/dev/null
pty=$(sed -n 's/^pty //p' "$T/periph.out")
[[ -c $pty ]] || fail "no PTY ($pty)"
[[ $(readlink "$T/tty") == "$pty" ]] || fail "--link did not point at the PTY"

# A serial program on the PTY: reads what the central sends ...
start ptyread head -c $size "$pty"
central_STDIN=$T/to_pty.bin start central "$EX/uvble-uart-bridge" central --name uvble-uart-test
# ... and writes what the central must print.
start ptywrite dd if="$T/from_pty.bin" of="$pty" bs=4096 status=none

finish ptyread || fail "reading the PTY failed"
finish ptywrite || fail "writing the PTY failed"
deadline=$((SECONDS + 120))
while (($(stat -c %s "$T/central.out") < size)); do
  ((SECONDS < deadline)) || fail "central printed $(stat -c %s "$T/central.out") of $size bytes"
  sleep 0.2
done
cmp "$T/to_pty.bin" "$T/ptyread.out" || fail "stdin -> PTY: the bytes differ"
cmp "$T/from_pty.bin" "$T/central.out" || fail "PTY -> stdout: the bytes differ"
grep -q "MTU 247, acknowledged" "$T/central.err" || fail "the central did not use MTU 247 with acknowledgements"

stop central
grep -q "sent $size, received $size bytes" "$T/central.err" || fail "central's byte counts"
wait_for "$T/periph.out" "^disconnected .*sent $size, received $size bytes" 10

# A file through, and the central ends by itself after the end of its input,
# in both modes. --fast writes with Write Commands, which complete once
# queued on the link: the central must not disconnect before they are
# through (it used to, after the stack's 1 s drain, losing most of the file
# on a slow link; the stack counted them in acl_tx_dropped).
for mode in acked fast; do
  small=$((size < 65536 ? size + 17 : 64 * 1024 + 17)) # over --fast's 8 KiB between requests
  head -c $small /dev/urandom >"$T/file_$mode.bin"
  start ptyread_$mode head -c $small "$pty"
  args=()
  [[ $mode == fast ]] && args=(--fast)
  # shellcheck disable=SC2034  # read by start()
  declare "file_${mode}_STDIN=$T/file_$mode.bin"
  start file_$mode "$EX/uvble-uart-bridge" central --name uvble-uart-test --linger 500 "${args[@]}"
  finish file_$mode || fail "central < file ($mode) exited with status $?"
  finish ptyread_$mode || fail "reading the PTY ($mode) failed"
  cmp "$T/file_$mode.bin" "$T/ptyread_$mode.out" || fail "central < file ($mode): the bytes differ"
  grep -q "sent $small, received 0 bytes" "$T/file_$mode.err" || fail "central < file ($mode): byte counts"
done
stop periph
[[ -e $T/tty ]] && fail "the --link symlink was left behind"
echo "examples.uart_bridge: ok"
