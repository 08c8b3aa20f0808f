#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A Nordic UART Service device through the gateway as Home Assistant sees
# it: one text entity (its discovery payload checked against Home
# Assistant's MQTT text schema) whose state is what the device sends (TX)
# and whose command, sent as plain text, reaches the device (RX).
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq not found (apt-get install jq)"

start_broker
start sub mosquitto_sub -h 127.0.0.1 -p "$port" -v -t 'uvble/#' -t 'homeassistant/#'
sleep 0.3
start periph "$EX/uvble-uart-bridge" peripheral --name uvble-nus-gw
a1=$(address_of periph)
pty=$(sed -n 's/^pty //p' "$T/periph.out")
[[ -c $pty ]] || fail "no PTY ($pty)"
node=uvble_${a1//:/}
t=uvble/testgw/$a1
tx=6e400003-b5a3-f393-e0a9-e50e24dcca9e
rx=6e400002-b5a3-f393-e0a9-e50e24dcca9e

start gw "$EX/uvble-gateway" --mqtt "mqtt://127.0.0.1:$port" --id testgw -s nus \
  --name uvble-nus-gw -t "$UVBLE_TRANSPORT"
wait_for "$T/gw.out" "\"event\":\"subscribed\".*\"characteristic\":\"$tx\"" 60
wait_for "$T/sub.out" "^homeassistant/text/$node/$tx/config " 10

# The options of Home Assistant's MQTT text platform
# (home-assistant.io/integrations/text.mqtt) the gateway may send.
allowed='["name","unique_id","state_topic","value_template","command_topic","max",
          "availability","availability_mode","qos","device","origin"]'
s=$(sed -n "s|^homeassistant/text/$node/$tx/config ||p" "$T/sub.out" | tail -n 1)
for check in "(keys - $allowed) == []" \
  ".command_topic == \"$t/$rx/set\" and .state_topic == \"$t/$tx\"" \
  '.value_template == "{{ value_json.text }}" and .max <= 255' \
  ".unique_id == \"${node}_$tx\" and .availability_mode == \"all\"" \
  ".availability == [{\"topic\":\"uvble/testgw/status\"},{\"topic\":\"$t/status\"}]"; do
  jq -e "$check" >/dev/null <<<"$s" || fail "text discovery: $check: $s"
done
# No second entity for RX: it is the text entity's command side.
grep -q "^homeassistant/[a-z_]*/$node/$rx/config" "$T/sub.out" && fail "an entity for RX"

# Home Assistant sends the text as it is: it reaches the device.
start ptyread head -c 11 "$pty"
sleep 0.3
mosquitto_pub -h 127.0.0.1 -p "$port" -t "$t/$rx/set" -m 'hello there'
wait_for "$T/sub.out" "^$t/$rx/result \{\"status\":\"ok\"\}" 10
finish ptyread || fail "reading the PTY failed"
[[ $(cat "$T/ptyread.out") == "hello there" ]] || fail "the device got '$(cat "$T/ptyread.out")'"
# What the device sends is the entity's state.
printf 'world' >"$pty"
wait_for "$T/sub.out" "^$t/$tx \{.*\"event\":\"notify\".*\"text\":\"world\"" 10

stop gw
stop periph
stop sub
stop broker
echo "examples.gateway_nus: ok"
