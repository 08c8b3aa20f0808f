#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The gateway as a service lives through: SIGHUP re-reads its config file
# and says what changed (a new alias reaches Home Assistant's device name,
# a poll starts; a broken file changes nothing); SIGKILL leaves its last
# will, so every entity (availability: gateway status AND device status,
# mode "all") turns unavailable; started again, it corrects the device
# status the dead one left "online" and does not carry out a command left
# retained.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq not found (apt-get install jq)"

start_broker
start sub mosquitto_sub -h 127.0.0.1 -p "$port" -v -t 'uvble/#' -t 'homeassistant/#'
sleep 0.3

start s1 "$EX/uvble-temp-sensor" --name uvble-rl --interval 300
a1=$(address_of s1)
node=uvble_${a1//:/}
t=uvble/testgw/$a1
disc="^homeassistant/sensor/$node/2a6e/config "

config() { # config ALIAS POLL TEMPERATURE-NAME
  cat >"$T/gw.json" <<JSON
{"id": "testgw", "services": ["181a"], "name_prefix": "uvble-rl",
 "devices": [{"address": "$a1", "alias": "$1",
              "characteristics": {"2a21": {"poll": $2}}}], "only_listed": false,
 "mqtt": {"url": "mqtt://127.0.0.1:$port"},
 "characteristics": {"2a6e": {"name": "$3"}}}
JSON
}
config Kitchen 0 Temperature
start gw "$EX/uvble-gateway" --config "$T/gw.json" -t "$UVBLE_TRANSPORT"
wait_for "$T/sub.out" "$disc.*\"name\":\"Kitchen\"" 60
wait_for "$T/sub.out" "^$t/status online" 10

# ---- reload --------------------------------------------------------------------
config Pantry 1 Inside
signal gw HUP
wait_for "$T/gw.err" "reloaded $T/gw.json: changed: devices, characteristics" 10
wait_for "$T/sub.out" "$disc\{\"name\":\"Inside\".*\"name\":\"Pantry\"" 10
wait_for "$T/gw.out" "\"event\":\"poll\".*\"characteristic\":\"2a21\".*\"value\":" 10 2
echo '{"mqtt": {"qos": 3}}' >"$T/gw.json"
signal gw HUP
wait_for "$T/gw.err" "reload failed, the running configuration stays: $T/gw.json: mqtt.qos: must be from 0 to 1" 10
n=$(grep -c '"event":"poll"' "$T/gw.out")
wait_for "$T/gw.out" '"event":"poll"' 10 $((n + 1)) # still running, still polling

# ---- SIGKILL: the will -----------------------------------------------------------
s=$(sed -n "s|$disc||p" "$T/sub.out" | tail -n 1)
jq -e ".availability_mode == \"all\" and ([.availability[].topic] | index(\"uvble/testgw/status\")) != null" \
  >/dev/null <<<"$s" || fail "availability does not hang on the gateway's will: $s"
signal gw KILL
finish gw
wait_for "$T/sub.out" '^uvble/testgw/status offline' 10
r=$(timeout 5 mosquitto_sub -h 127.0.0.1 -p "$port" -C 1 -W 3 --retained-only -t uvble/testgw/status)
[[ $r == offline ]] || fail "retained gateway status after SIGKILL: '$r'"
# The device's status says "online" (nobody was left to say otherwise);
# with mode "all" the gateway's "offline" wins for every entity.
grep "^$t/status " "$T/sub.out" | tail -n 1 | grep -q online || fail "device status changed without a gateway"

# ---- started again: the stale "online" is corrected ----------------------------
# (btvirt keeps the dead central's link up, so the sensor does not come
# back here; the correction does not wait for it.)
config Pantry 0 Inside
n=$(grep -c "^$t/status offline" "$T/sub.out")
# A command someone left retained is not carried out on (re)connection.
mosquitto_pub -h 127.0.0.1 -p "$port" -r -t "$t/2a21/set" -m 9
start gw "$EX/uvble-gateway" --config "$T/gw.json" -t "$UVBLE_TRANSPORT"
wait_for "$T/sub.out" '^uvble/testgw/status online' 10 2
wait_for "$T/sub.out" "^$t/status offline" 10 $((n + 1))
r=$(timeout 5 mosquitto_sub -h 127.0.0.1 -p "$port" -C 1 -W 3 --retained-only -t "$t/status")
[[ $r == offline ]] || fail "retained device status after the restart: '$r'"
wait_for "$T/gw.err" "$t/2a21/set: retained, ignored" 10
grep -q "$t/2a21/result" "$T/sub.out" && fail "the retained command was answered"
stop gw
stop s1
stop sub
stop broker
echo "examples.gateway_reload: ok"
