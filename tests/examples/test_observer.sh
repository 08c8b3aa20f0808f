#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# docs/observer.md's sketch (examples/observer.c) as a user runs it: two
# of them on one radio each broadcast their manufacturer data and each
# observes the other's, then both exit 0 after their 5 s.
source "$(dirname "$0")/lib.sh"

start o1 "$BIN/example_observer"
sleep 1 # btvirt reports an advertiser when a scan starts: o1 must be on air
start o2 "$BIN/example_observer"
finish o1 || fail "the first observer exited with status $?"
finish o2 || fail "the second observer exited with status $?"
a1=$(grep -m1 -oE '^[0-9a-f:]{17}' "$T/o2.out") || fail "the second saw no broadcast"
a2=$(grep -m1 -oE '^[0-9a-f:]{17}' "$T/o1.out") || fail "the first saw no broadcast"
[[ $a1 != "$a2" ]] || fail "both report the same device ($a1)"
grep -qE "^$a1 rssi -?[0-9]+ company 0xffff, 3 bytes$" "$T/o2.out" || fail "the broadcast's content"
echo "examples.observer: ok"
