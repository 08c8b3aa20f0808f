#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The broker restarts without persistence (every retained message lost):
# the gateway notices, reconnects with back-off and publishes its retained
# state again — its status, each device's status, Home Assistant discovery
# and the last values (2a21, read once at connection, is never notified) —
# so Home Assistant sees the devices again without a gateway restart.
source "$(dirname "$0")/lib.sh"

start_broker
start s1 "$EX/uvble-temp-sensor" --name uvble-br --interval 300
a1=$(address_of s1)
node=uvble_${a1//:/}
t=uvble/testgw/$a1
start gw "$EX/uvble-gateway" --mqtt "mqtt://127.0.0.1:$port" --id testgw -s 181a \
  --name uvble-br -t "$UVBLE_TRANSPORT"
wait_for "$T/gw.out" "\"event\":\"notify\".*\"characteristic\":\"2a6e\"" 60

signal broker KILL # the broker itself, not timeout(1) running it
finish broker
wait_for "$T/gw.err" "mqtt: 127.0.0.1:$port: .*; reconnecting" 10
mv "$T/broker.err" "$T/broker-first.err"
start broker mosquitto -c "$T/mosquitto.conf"
wait_for "$T/broker.err" " running" 10
start sub mosquitto_sub -h 127.0.0.1 -p "$port" -v -t 'uvble/#' -t 'homeassistant/#'
wait_for "$T/gw.err" "mqtt: connected to 127.0.0.1:$port" 15 2
for re in "^uvble/testgw/status online" "^$t/status online" \
  "^homeassistant/sensor/$node/2a6e/config \{" "^homeassistant/number/$node/2a21/config \{" \
  "^$t/2a6e \{.*\"event\":\"notify\"" "^$t/2a21 \{.*\"event\":\"read\""; do
  wait_for "$T/sub.out" "$re" 15
done
stop gw
stop s1
stop sub
stop broker
echo "examples.gateway_broker: ok"
