#!/usr/bin/env bash
# The uvble command against the temperature sensor: gatt-dump prints its
# services, characteristics, descriptors and values (under `capture`, which
# must leave a btsnoop file); scan lists it; pair pairs (Just Works); info
# describes a controller; bench measures an L2CAP channel. And the sensor's
# classic partner, temp_client, reads and is notified.
source "$(dirname "$0")/lib.sh"

start sensor "$EX/uvble-temp-sensor" --name uvble-temp
s=$(address_of sensor)

start dump "$UVBLE" capture "$T/dump.btsnoop" gatt-dump --name uvble-temp
finish dump || fail "gatt-dump failed"
d=$T/dump.out
grep -q "^Device $s (uvble-temp), MTU 247$" "$d" || fail "gatt-dump: device line"
grep -Eq "^Link: LE (1M|2M)/(1M|2M), data length [0-9]+/[0-9]+ octets \([0-9]+/[0-9]+ us\), interval [0-9.]+ ms, latency [0-9]+, timeout [0-9]+ ms$" "$d" ||
  fail "gatt-dump: link line"
grep -q "^Service 1800 Generic Access (handles 0x0001-0x0005)$" "$d" || fail "gatt-dump: GAP service"
grep -q '^  Characteristic 2a00 Device Name (handle 0x0003, read) = "uvble-temp"$' "$d" ||
  fail "gatt-dump: device name"
grep -q "^Service 181a Environmental Sensing (handles 0x000a-" "$d" || fail "gatt-dump: the sensor's service"
grep -q "^  Characteristic 2a6e Temperature (handle 0x000c, read notify) = [0-9a-f]\{2\} [0-9a-f]\{2\}$" "$d" ||
  fail "gatt-dump: temperature"
grep -q "^    Descriptor 2902 Client Characteristic Configuration (handle 0x000d) = 00 00$" "$d" ||
  fail "gatt-dump: CCCD"
grep -q "^  Characteristic 2a21 Measurement Interval (handle 0x000f, read write) = 01 00$" "$d" ||
  fail "gatt-dump: measurement interval"
[[ $(head -c 8 "$T/dump.btsnoop" | tr '\0' '_') == btsnoop_ ]] || fail "capture: not a btsnoop file"
(($(grep -ac uvble-temp "$T/dump.btsnoop") >= 1)) || fail "capture: the device name never went by"
btmon -r "$T/dump.btsnoop" 2>/dev/null | grep -q "LE Set Scan Enable" || fail "capture: btmon cannot read it"

start scan "$UVBLE" scan --duration 2
finish scan || fail "scan failed"
grep -qE "^$s public +n/a uvble-temp +181a$" "$T/scan.out" ||
  fail "scan: the sensor is not listed"

start pair "$UVBLE" pair "$s"
finish pair || fail "pair failed"
grep -q "^paired: encrypted yes, authenticated no, bonded no, key size 16$" "$T/pair.out" ||
  fail "pair: result"

start info "$UVBLE" info --json
finish info || fail "info failed"
grep -q '"address":"00:aa:01:' "$T/info.out" || fail "info: no address"

start bench "$UVBLE" bench l2cap --bytes 300000
finish bench || fail "bench failed"
grep -qE '^\{"bench":"uvble-l2cap","metric":"throughput","value":[0-9.]+,"unit":"kB/s","bytes":300000' "$T/bench.out" ||
  fail "bench: no result line"

start client "$EX/uvble-temp-client" --name uvble-temp --count 2
finish client || fail "temp_client (reads) failed"
(($(grep -cE '^temperature [0-9]+\.[0-9]{2}$' "$T/client.out") == 2)) || fail "temp_client: two readings"
start nclient "$EX/uvble-temp-client" --name uvble-temp --count 2 --notify
finish nclient || fail "temp_client (notify) failed"
(($(grep -cE '^temperature [0-9]+\.[0-9]{2}$' "$T/nclient.out") == 2)) || fail "temp_client: two notifications"

start missing "$UVBLE" gatt-dump --name nobody-here
if finish missing; then fail "gatt-dump of an absent device succeeded"; fi

# Passkey entry: a sensor that can only display asks for MITM protection;
# `uvble pair --io keyboard` prompts for the passkey and reads it from its
# stdin (a FIFO here) while its loop keeps serving the link.
start psensor "$EX/uvble-temp-sensor" --name uvble-pk --passkey
p=$(address_of psensor)
mkfifo "$T/pk.fifo"
exec 7<>"$T/pk.fifo" # held open: the readers never see an end of input
pkpair_STDIN=$T/pk.fifo
start pkpair "$UVBLE" pair --io keyboard --mitm "$p"
wait_for "$T/psensor.out" '^passkey [0-9]{6}$' 30
wait_for "$T/pkpair.out" 'enter the passkey the device shows' 10
echo "$(sed -n 's/^passkey //p' "$T/psensor.out" | head -n 1)" >&7
finish pkpair || fail "pair with a passkey failed"
grep -qE "^paired: encrypted yes, authenticated yes, bonded (yes|no), key size 16$" "$T/pkpair.out" ||
  fail "pair with a passkey: result"

# Ctrl-C at the passkey prompt ends the program at once: the prompt does
# not hold the loop.
pkquit_STDIN=$T/pk.fifo
start pkquit "$UVBLE" pair --io keyboard --mitm "$p"
wait_for "$T/pkquit.out" 'enter the passkey the device shows' 30
signal pkquit INT
for _ in $(seq 100); do
  pgrep -P "${PID[pkquit]}" >/dev/null || break
  sleep 0.1
done
pgrep -P "${PID[pkquit]}" >/dev/null && fail "uvble pair ignored Ctrl-C at its passkey prompt"
finish pkquit
status=$?
((status == 130)) || fail "uvble pair exited with $status after Ctrl-C (130 expected)"
exec 7>&-
stop psensor

stop sensor
echo "examples.uvble_tool: ok"
