#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's request example (examples/request.c) as a user runs it: it
# connects to an advertiser with a request and disconnects with another,
# then exits 0; a device that is not there ends the connect request with
# the controller's status (btvirt refuses at once when nothing advertises
# at that address); a bad address is refused with a usage line.
source "$(dirname "$0")/lib.sh"

start adv "$BIN/uvble" pair --wait 60 --adv-name reqtest
wait_for "$T/adv.out" '^advertising as ' 30 || fail "the advertiser never started"
addr=$(grep -m1 -oE '([0-9a-f]{2}:){5}[0-9a-f]{2}' "$T/adv.out")
start req "$BIN/example_request" "$addr"
finish req || fail "the example exited with status $?"
grep -qE '^connected: handle [0-9]+$' "$T/req.out" || fail "no connection reported"
grep -qE '^disconnected: reason 0x[0-9a-f]{2}$' "$T/req.out" || fail "no disconnection reported"
# The advertiser waited for a pairing that never came: it ends with the
# link ("the connection dropped", or "not connected" when the link was gone
# before its pairing started), never by succeeding.
if finish adv; then fail "the advertiser reported a pairing"; fi
grep -qE '^uvble pair: securing the link: (the connection dropped|not connected)$' "$T/adv.err" ||
  fail "the advertiser failed otherwise"

start absent "$BIN/example_request" 11:22:33:44:55:66 random
finish absent || fail "the example exited with status $? for an absent device"
grep -qE '^not connected: .+' "$T/absent.out" || fail "no failure reported for an absent device"

if "$BIN/example_request" not-an-address >"$T/bad.out" 2>&1; then
  fail "a bad address was accepted"
fi
grep -q '^usage: ' "$T/bad.out" || fail "no usage line for a bad address"
echo "examples.request: ok"
