#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The gateway with a config file against a real Mosquitto on loopback that
# wants a password (given through the environment, never on the command
# line): Home Assistant MQTT discovery payloads checked field by field
# against Home Assistant's schema for the entities used (sensor, number),
# retained values a late subscriber gets at once, a write that fails
# reported on /result only (the value topic never sees it), and a numeric
# /set encoded by the characteristic's format.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq not found (apt-get install jq)"

mosquitto_passwd -b -c "$T/passwd" gw s3cret 2>/dev/null || fail "mosquitto_passwd failed"
start_broker "allow_anonymous false" "password_file $T/passwd"
SUB=(-h 127.0.0.1 -p "$port" -u gw -P s3cret)

start sub mosquitto_sub "${SUB[@]}" -v -t 'uvble/#' -t 'homeassistant/#'
sleep 0.3

start s1 "$EX/uvble-temp-sensor" --name uvble-ha --interval 300
a1=$(address_of s1)
node=uvble_${a1//:/}

cat >"$T/gw.json" <<JSON
{
  "id": "testgw",
  "transports": ["$UVBLE_TRANSPORT"],
  "services": ["181a"],
  "devices": [{"address": "$a1", "alias": "Kitchen"}],
  "mqtt": {"url": "tcp://127.0.0.1:$port", "username": "gw",
           "password_env": "GW_TEST_PASSWORD", "qos": 1}
}
JSON
GW_TEST_PASSWORD=s3cret start gw "$EX/uvble-gateway" --config "$T/gw.json"

t=uvble/testgw/$a1
wait_for "$T/gw.err" "mqtt: connected to 127.0.0.1:$port" 10
wait_for "$T/sub.out" "^$t/2a6e \{.*\"event\":\"notify\"" 60 2
wait_for "$T/sub.out" "^homeassistant/number/$node/2a21/config " 10

# ---- discovery, field by field -------------------------------------------------
# The options Home Assistant's MQTT sensor and number platforms accept
# (home-assistant.io/integrations/sensor.mqtt, number.mqtt) among those the
# gateway could send: anything else is a typo Home Assistant would reject.
common='["name","unique_id","state_topic","value_template","device_class",
         "unit_of_measurement","availability","availability_mode","qos","device","origin"]'
payload() { sed -n "s|^$1 ||p" "$T/sub.out" | tail -n 1; }
check() { # check JSON JQ-EXPRESSION WHAT
  jq -e "$2" >/dev/null <<<"$1" || fail "discovery: $3: $1"
}
s=$(payload "homeassistant/sensor/$node/2a6e/config")
[[ -n $s ]] || fail "no discovery for 2a6e"
check "$s" "(keys - ($common + [\"state_class\"])) == []" "keys outside sensor's schema"
check "$s" '.name == "Temperature"' name
check "$s" ".unique_id == \"${node}_2a6e\"" unique_id
check "$s" ".state_topic == \"$t/2a6e\"" state_topic
check "$s" '.value_template == "{{ value_json.value }}"' value_template
check "$s" '.device_class == "temperature" and .unit_of_measurement == "°C"' "device_class/unit"
check "$s" '.state_class == "measurement"' state_class
check "$s" '.qos == 1' qos
check "$s" ".availability == [{\"topic\":\"uvble/testgw/status\"},{\"topic\":\"$t/status\"}]" availability
check "$s" '.availability_mode == "all"' availability_mode
check "$s" ".device.identifiers == [\"$node\"] and .device.connections == [[\"bluetooth\",\"$a1\"]]" device
check "$s" '.device.name == "Kitchen" and .device.model == "uvble-ha"' "device name (the alias)"
check "$s" '.origin.name == "uvble-gateway"' origin
n=$(payload "homeassistant/number/$node/2a21/config")
check "$n" "(keys - ($common + [\"command_topic\",\"min\",\"max\",\"step\",\"mode\"])) == []" "keys outside number's schema"
check "$n" ".command_topic == \"$t/2a21/set\" and .state_topic == \"$t/2a21\"" "number topics"
check "$n" '.min == 1 and .max == 65535 and .step == 1 and .mode == "box"' "number range"
check "$n" '.device_class == "duration" and .unit_of_measurement == "s"' "number class/unit"
# What the state topic carries is what value_template reads.
v=$(payload "$t/2a6e")
jq -e '.value | type == "number"' >/dev/null <<<"$v" || fail "2a6e value is not a number: $v"

# ---- retained: a subscriber that comes later gets the last values at once -------
for leaf in 2a6e 2a21 status; do
  r=$(timeout 5 mosquitto_sub "${SUB[@]}" -C 1 -W 3 --retained-only -t "$t/$leaf") ||
    fail "nothing retained on $t/$leaf"
  [[ $leaf == status ]] && { [[ $r == online ]] || fail "retained status: $r"; } && continue
  jq -e '.event and .hex' >/dev/null <<<"$r" || fail "retained $leaf: $r"
done

# ---- a failed write: /result only ---------------------------------------------------
mosquitto_pub "${SUB[@]}" -t "$t/2a6e/set" -m 21.5 || fail "mosquitto_pub failed"
wait_for "$T/sub.out" "^$t/2a6e/result \{\"status\":\"error\",\"error\":\"ENOTSUP\",\"message\":\"this characteristic does not allow writing\"\}" 10
mosquitto_pub "${SUB[@]}" -t "$t/2a21/set" -m '{"hex":"zz"}'
wait_for "$T/sub.out" "^$t/2a21/result \{\"status\":\"error\",\"error\":\"EINVAL\",\"message\":\"not hex" 10
mosquitto_pub "${SUB[@]}" -t "$t/2a21/set" -m 70000
wait_for "$T/sub.out" "^$t/2a21/result .*EINVAL.*out of range" 10
grep -E "^$t/2a6e .*\"event\":\"write\"" "$T/sub.out" && fail "a failed write reached the value topic"
r=$(timeout 5 mosquitto_sub "${SUB[@]}" -C 1 -W 3 --retained-only -t "$t/2a6e")
grep -q '"write"' <<<"$r" && fail "the retained value is the failed write: $r"

# ---- numeric /set, short UUID forms in the topic ----------------------------------
mosquitto_pub "${SUB[@]}" -t "$t/0x2A21/set" -m 7
wait_for "$T/s1.out" "^interval 7 s \(written by " 10
wait_for "$T/sub.out" "^$t/0x2A21/result \{\"status\":\"ok\"\}" 10
wait_for "$T/sub.out" "^$t/2a21 \{.*\"event\":\"write\".*\"hex\":\"0700\",\"value\":7,\"unit\":\"s\"" 10
mosquitto_pub "${SUB[@]}" -t "$t/00002a21-0000-1000-8000-00805f9b34fb/set" -m 'hex:0300'
wait_for "$T/s1.out" "^interval 3 s \(written by " 10

# ---- a device taken off the allowlist: disconnected, its entities deleted ---------
sed -i "s/\"address\": \"$a1\"/\"address\": \"00:11:22:33:44:55\"/" "$T/gw.json"
signal gw HUP
wait_for "$T/gw.err" "$a1 is no longer allowed: disconnecting" 10
wait_for "$T/sub.out" "^$t/status offline" 10
wait_for "$T/gw.out" "\"device\":\"$a1\".*\"event\":\"gone\"" 10
for c in sensor/$node/2a6e number/$node/2a21; do
  r=$(timeout 5 mosquitto_sub "${SUB[@]}" -C 1 -W 2 --retained-only -t "homeassistant/$c/config") &&
    fail "homeassistant/$c/config is still retained: $r"
done

stop gw
wait_for "$T/sub.out" '^uvble/testgw/status offline' 10
stop s1
stop sub
stop broker
echo "examples.gateway_ha: ok"
