#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The gateway reconnects with back-off when a device drops: the sensor
# drops its central twice (SIGHUP, as if carried out of range and back);
# each time the gateway reports the device disconnected, waits at least its
# first back-off step (1 s), connects again, subscribes again and values
# flow again; it never gives the device up.
source "$(dirname "$0")/lib.sh"

# Milliseconds since the epoch of a gateway JSON line's "time".
ms_of() {
  local ts
  ts=$(sed -n 's/.*"time":"\([^"]*\)".*/\1/p' <<<"$1")
  [[ -n $ts ]] || fail "no time in: $1"
  echo $(($(date -d "$ts" +%s%N) / 1000000))
}

start s1 "$EX/uvble-temp-sensor" --name uvble-rc --interval 200
a1=$(address_of s1)
start gw "$EX/uvble-gateway" -s 181a --name uvble-rc -t "$UVBLE_TRANSPORT"

notify="\"device\":\"$a1\".*\"event\":\"notify\".*\"characteristic\":\"2a6e\""
wait_for "$T/gw.out" "$notify" 60 2

for round in 1 2; do
  n=$(grep -cE "$notify" "$T/gw.out")
  signal s1 HUP
  wait_for "$T/s1.out" "^disconnected " 10 "$round"
  wait_for "$T/gw.out" "\"device\":\"$a1\".*\"event\":\"disconnected\"" 10 "$round"
  # The sensor advertises again; the gateway comes back after its back-off.
  wait_for "$T/gw.out" "\"device\":\"$a1\".*\"event\":\"connected\"" 30 $((round + 1))
  wait_for "$T/gw.out" "\"device\":\"$a1\".*\"event\":\"subscribed\".*\"2a6e\"" 20 $((round + 1))
  wait_for "$T/gw.out" "$notify" 20 $((n + 2))
  down=$(grep -E "\"device\":\"$a1\".*\"event\":\"disconnected\"" "$T/gw.out" | sed -n "${round}p")
  up=$(grep -E "\"device\":\"$a1\".*\"event\":\"connected\"" "$T/gw.out" | sed -n "$((round + 1))p")
  gap=$(($(ms_of "$up") - $(ms_of "$down")))
  ((gap >= 950)) || fail "round $round: reconnected ${gap} ms after the drop, before the 1 s back-off"
  echo "round $round: reconnected ${gap} ms after the drop"
done
# The device was never given up on.
grep -q "\"device\":\"$a1\".*\"event\":\"gone\"" "$T/gw.out" && fail "the gateway gave the device up"

stop gw
stop s1
echo "examples.gateway_reconnect: ok"
