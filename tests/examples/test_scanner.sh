#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The scanner piped (JSON lines) lists the demo's peripherals — the
# temperature sensor and the UART bridge — with their names, services and
# addresses; its filters keep what they should; --duration ends it with
# status 0; on a terminal it draws the table. btvirt reports an advertiser
# once, when the scan or the advertising starts, so the scanners start
# first.
source "$(dirname "$0")/lib.sh"

nus=6e400001-b5a3-f393-e0a9-e50e24dcca9e
# UVBLE_EXAMPLE_SCAN_S: longer on a simulated radio that may fall behind
# real time (tests/ll), so the advertisers' start-up fits in the scans.
dur=${UVBLE_EXAMPLE_SCAN_S:-8}
start all "$EX/uvble-scanner" --duration "$dur"
start by_service "$EX/uvble-scanner" --duration "$dur" --service 181a
start by_name "$EX/uvble-scanner" --duration "$dur" --name UART
start by_mfr "$EX/uvble-scanner" --duration "$dur" --manufacturer 0x0059
start by_rssi "$EX/uvble-scanner" --duration "$dur" --min-rssi -40
start passive "$EX/uvble-scanner" --duration "$dur" --passive
start table script -qefc "$EX/uvble-scanner --duration $dur --table" /dev/null
sleep 1

start sensor "$EX/uvble-temp-sensor" --name uvble-temp
start bridge "$EX/uvble-uart-bridge" peripheral --name uvble-uart
s=$(address_of sensor)
b=$(address_of bridge)

for p in all by_service by_name by_mfr by_rssi passive table; do
  finish $p || fail "scanner ($p) exited with status $?"
done

grep -q "\"address\":\"$s\".*\"name\":\"uvble-temp\",\"services\":\[\"181a\"\],\"appearance\":768" "$T/all.out" ||
  fail "the sensor is not listed"
grep -q "\"address\":\"$b\".*\"name\":\"uvble-uart\",\"services\":\[\"$nus\"\]" "$T/all.out" ||
  fail "the UART bridge is not listed"
while read -r line; do
  [[ $line == \{*\"address\":* ]] || fail "not a JSON object per line: $line"
done <"$T/all.out"

grep -q "\"address\":\"$s\"" "$T/by_service.out" || fail "--service 181a lost the sensor"
grep -q "\"address\":\"$b\"" "$T/by_service.out" && fail "--service 181a kept the bridge"
grep -q "\"address\":\"$b\"" "$T/by_name.out" || fail "--name UART lost the bridge"
grep -q "\"address\":\"$s\"" "$T/by_name.out" && fail "--name UART kept the sensor"
[[ -s $T/by_mfr.out ]] && fail "--manufacturer 0x0059 matched devices without manufacturer data"
# btvirt cannot measure RSSI (127, "not available"): such reports pass. A
# radio that measures it (tests/ll: about -60 dBm) is below -40: dropped.
if grep -q "\"address\":\"$s\",\"type\":\"public\",\"rssi\":null" "$T/all.out"; then
  grep -q "\"address\":\"$s\",\"type\":\"public\",\"rssi\":null" "$T/by_rssi.out" ||
    fail "--min-rssi dropped a report without RSSI"
else
  rssi=$(sed -n "s/.*\"address\":\"$s\",\"type\":\"public\",\"rssi\":\(-[0-9]*\).*/\1/p" "$T/all.out" | head -n 1)
  [[ -n $rssi ]] || fail "the sensor's RSSI is neither null nor a number"
  if ((rssi < -40)); then
    grep -q "\"address\":\"$s\"" "$T/by_rssi.out" && fail "--min-rssi -40 kept the sensor at $rssi dBm"
  else
    grep -q "\"address\":\"$s\"" "$T/by_rssi.out" || fail "--min-rssi -40 lost the sensor at $rssi dBm"
  fi
fi
# Passive: no scan requests, no scan responses; the advertisements come.
grep -q "\"address\":\"$s\"" "$T/passive.out" || fail "passive scan missed the sensor"

grep -q "ADDRESS .*TYPE .*RSSI .*NAME .*SERVICES" "$T/table.out" || fail "no table on a terminal"
grep -q "$s public .*uvble-temp .*181a" "$T/table.out" || fail "the table lacks the sensor"

stop sensor
stop bridge
echo "examples.scanner: ok"
