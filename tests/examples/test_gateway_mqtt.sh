#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The gateway serves two temperature sensors at once and publishes their
# notifications to a real Mosquitto broker on loopback (read back with
# mosquitto_sub); a write sent to the command topic reaches the sensor.
#
# btvirt (BlueZ 5.66) gives a second peripheral of one central a link
# handle its own controller does not know (see
# tests/integration/test_gap_connect.c), so on virtual controllers the
# gateway gets one controller per device (-t twice); on real hardware and
# on Zephyr's link layer (tests/ll) one controller serves them all.
source "$(dirname "$0")/lib.sh"

start_broker

start sub mosquitto_sub -h 127.0.0.1 -p "$port" -v -t 'uvble/#'
sleep 0.5

start s1 "$EX/uvble-temp-sensor" --name uvble-t1
start s2 "$EX/uvble-temp-sensor" --name uvble-t2
a1=$(address_of s1)
a2=$(address_of s2)
[[ -n $a1 && -n $a2 && $a1 != "$a2" ]] || fail "sensor addresses: '$a1' '$a2'"

gw_t=(-t "$UVBLE_TRANSPORT" -t "$UVBLE_TRANSPORT")
[[ -n ${UVBLE_LL_TRANSPORTS:-} ]] && gw_t=() # start() hands it one controller
start gw "$EX/uvble-gateway" --mqtt "mqtt://127.0.0.1:$port" --id testgw \
  -s 181a --name uvble-t "${gw_t[@]}"

# Notifications from both sensors, on stdout and through the broker.
for a in "$a1" "$a2"; do
  wait_for "$T/gw.out" "\"device\":\"$a\".*\"event\":\"notify\".*\"characteristic\":\"2a6e\".*\"value\":[0-9.-]+" 60 3
  wait_for "$T/sub.out" "^uvble/testgw/$a/2a6e \{.*\"event\":\"notify\"" 30 3
  wait_for "$T/sub.out" "^uvble/testgw/$a/status online" 10
done
grep -q '^uvble/testgw/status online' "$T/sub.out" || fail "no gateway status on the broker"

# Both at once: while both links are up, each sensor's values keep coming.
n1=$(grep -c "^uvble/testgw/$a1/2a6e .*notify" "$T/sub.out")
n2=$(grep -c "^uvble/testgw/$a2/2a6e .*notify" "$T/sub.out")
wait_for "$T/sub.out" "^uvble/testgw/$a1/2a6e .*notify" 20 $((n1 + 2))
wait_for "$T/sub.out" "^uvble/testgw/$a2/2a6e .*notify" 20 $((n2 + 2))

# A command: set sensor 1's Measurement Interval to 5 s.
mosquitto_pub -h 127.0.0.1 -p "$port" -t "uvble/testgw/$a1/2a21/set" -m 0500 ||
  fail "mosquitto_pub failed"
wait_for "$T/s1.out" "^interval 5 s \(written by " 20
wait_for "$T/sub.out" "^uvble/testgw/$a1/2a21/result \{\"status\":\"ok\"\}" 10
grep -q "^interval" "$T/s2.out" && fail "sensor 2 saw a write meant for sensor 1"

# A write to a device the gateway does not serve is refused on the broker.
mosquitto_pub -h 127.0.0.1 -p "$port" -t "uvble/testgw/00:11:22:33:44:55/2a21/set" -m 0500
wait_for "$T/sub.out" "^uvble/testgw/00:11:22:33:44:55/2a21/result .*ENOTCONN" 10

stop gw
wait_for "$T/sub.out" '^uvble/testgw/status offline' 10
stop s1
stop s2
stop sub
stop broker
echo "examples.gateway_mqtt: ok"
