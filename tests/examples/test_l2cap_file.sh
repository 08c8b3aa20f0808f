#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A file sent over an L2CAP credit-based channel arrives whole: the
# receiver's and the sender's SHA-256 both match sha256sum's; a second file
# over a new connection to the same receiver works too; a sender aimed at a
# PSM nobody listens on fails with status 1.
#
# --timeout bounds each step (the channel taking or delivering the next
# SDU), not the transfer: on a slow or loaded link (tests/ll: Zephyr's
# controllers in real time, which fall behind on a busy machine) a 64 KiB
# file takes far longer than one step's 10 s default.
source "$(dirname "$0")/lib.sh"

mkdir -p "$T/in" "$T/out"
# UVBLE_EXAMPLE_BYTES: smaller files on the real link layer (tests/ll).
big=${UVBLE_EXAMPLE_BYTES:-1048576}
head -c "$big" /dev/urandom >"$T/in/one.bin"
head -c $((big * 2 / 7 + 1)) /dev/urandom >"$T/in/two.bin"

step=--timeout=${UVBLE_EXAMPLE_STEP_S:-60}
start recv "$EX/uvble-l2cap-file" recv --name uvble-file-test -o "$T/out" "$step"
address_of recv >/dev/null

n=1
for f in one two; do
  start send_$f "$EX/uvble-l2cap-file" send "$T/in/$f.bin" --name uvble-file-test "$step"
  finish send_$f || fail "sending $f.bin failed"
  sum=$(sha256sum "$T/in/$f.bin" | cut -d' ' -f1)
  size=$(stat -c %s "$T/in/$f.bin")
  grep -q "^sent $f.bin ($size bytes) in .* kB/s, sha256 $sum OK$" "$T/send_$f.out" ||
    fail "the sender's summary for $f.bin"
  wait_for "$T/recv.out" "^received $f.bin \($size bytes\) in .* kB/s, sha256 $sum OK$" 10
  cmp "$T/in/$f.bin" "$T/out/$f.bin" || fail "$f.bin differs"
  # The receiver advertises again for the next sender.
  n=$((n + 1))
  wait_for "$T/recv.out" '^advertising as ' 10 $n
done

start wrong "$EX/uvble-l2cap-file" send "$T/in/two.bin" --name uvble-file-test --psm 0x91
if finish wrong; then fail "a send to an unused PSM succeeded"; fi
grep -q "opening the channel" "$T/wrong.err" || fail "no reason given for the refused channel"

stop recv
echo "examples.l2cap_file: ok"
