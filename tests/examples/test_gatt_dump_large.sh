#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `uvble gatt-dump` lists every service of a large database (it once
# stopped at 64 without a word): 154 services, each with its
# characteristic and value, then the summary line; --json the same.
source "$(dirname "$0")/lib.sh"

n=154
start many "$BIN/tests/uvble-test-many-services" $n
a=$(address_of many)
start dump "$UVBLE" gatt-dump "$a"
finish dump || fail "gatt-dump failed"
(($(grep -c "^Service a[0-9a-f]\{3\} " "$T/dump.out") == n)) ||
  fail "gatt-dump listed $(grep -c "^Service a" "$T/dump.out") of $n services"
grep -q "^  Characteristic b099 (handle 0x[0-9a-f]*, read) = 99 00$" "$T/dump.out" ||
  fail "the 154th service's characteristic and value"
grep -q "^$((n + 2)) services, $((n + 3)) characteristics, 1 descriptors$" "$T/dump.out" ||
  fail "the summary line: $(tail -n 1 "$T/dump.out")"
finish many || fail "the peripheral exited with status $?"
echo "examples.gatt_dump_large: ok"
