#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The uvble command against the temperature sensor: gatt-dump prints its
# services, characteristics, descriptors and values decoded by their GATT
# format (under `capture`, which must leave a btsnoop file) and --json;
# scan lists it (text, --json in the scanner's schema, --raw); read, write
# and subscribe work on one characteristic; pair pairs (Just Works, and as
# the responder with --wait); a bond store's bonds are listed, used,
# found stale (with the --repair hint), re-paired and removed; bad values
# and addresses are refused at once naming the option; info describes a
# controller (-t too); bench measures an L2CAP channel. And the sensor's
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
grep -q '^  Characteristic 2a01 Appearance (handle 0x0005, read) = 768 \[00 03\]$' "$d" ||
  fail "gatt-dump: GAP Appearance is not 0x0300 (Generic Thermometer), as advertised"
grep -qE "^  Characteristic 2a6e Temperature \(handle 0x000c, read notify\) = -?[0-9]+\.[0-9]{2} degC \[[0-9a-f]{2} [0-9a-f]{2}\]$" "$d" ||
  fail "gatt-dump: temperature"
grep -q "^    Descriptor 2902 Client Characteristic Configuration (handle 0x000d) = 00 00$" "$d" ||
  fail "gatt-dump: CCCD"
grep -q "^  Characteristic 2a21 Measurement Interval (handle 0x000f, read write) = 1 s \[01 00\]$" "$d" ||
  fail "gatt-dump: measurement interval"
grep -q "^3 services, 5 characteristics, 2 descriptors$" "$d" || fail "gatt-dump: the summary line"
[[ $(head -c 8 "$T/dump.btsnoop" | tr '\0' '_') == btsnoop_ ]] || fail "capture: not a btsnoop file"
(($(grep -ac uvble-temp "$T/dump.btsnoop") >= 1)) || fail "capture: the device name never went by"
btmon -r "$T/dump.btsnoop" 2>/dev/null | grep -q "LE Set Scan Enable" || fail "capture: btmon cannot read it"

start dumpj "$UVBLE" gatt-dump --json "$s"
finish dumpj || fail "gatt-dump --json failed"
(($(wc -l <"$T/dumpj.out") == 1)) || fail "gatt-dump --json: not one document"
grep -q '^{"address":"'"$s"'","name":"uvble-temp","mtu":247,"encrypted":false,"services":\[{"uuid":"1800","name":"Generic Access","start_handle":1,"end_handle":5,' "$T/dumpj.out" ||
  fail "gatt-dump --json: device and first service"
grep -qE '"uuid":"2a6e","name":"Temperature","handle":12,"properties":\["read","notify"\],"hex":"[0-9a-f]{4}","value":-?[0-9.]+,"unit":"degC","descriptors":\[\{"uuid":"2902"' "$T/dumpj.out" ||
  fail "gatt-dump --json: temperature"

start scan "$UVBLE" scan --duration 2
start scanj "$UVBLE" scan --duration 2 --json --raw
finish scan || fail "scan failed"
finish scanj || fail "scan --json --raw failed"
grep -qE "^$s public +n/a uvble-temp +181a$" "$T/scan.out" ||
  fail "scan: the sensor is not listed"
# The schema of uvble-scanner (tests/examples/test_scanner.sh), plus "ad".
grep -qE '^\{"time":"[0-9T:.-]+Z","address":"'"$s"'","type":"public","rssi":null,"connectable":true,"adv_type":[0-9]+,"name":"uvble-temp","services":\["181a"\],"appearance":768,"ad":\[\{"type":1,"data":"06"\},' "$T/scanj.out" ||
  fail "scan --json --raw: the sensor's line"

# ---- read, write, subscribe ----------------------------------------------------
start read "$UVBLE" read "$s" 2a6e
finish read || fail "read failed"
grep -qE "^2a6e Temperature \(handle 0x000c\) = -?[0-9]+\.[0-9]{2} degC \[[0-9a-f]{2} [0-9a-f]{2}\]$" "$T/read.out" ||
  fail "read: the temperature"
start readh "$UVBLE" read --json --name uvble-temp handle:0x0003
finish readh || fail "read by handle failed"
grep -q '^{"address":"'"$s"'","event":"read","uuid":"2a00","handle":3,"hex":"7576626c652d74656d70","value":"uvble-temp"}$' "$T/readh.out" ||
  fail "read --json by handle: the device name"
start write "$UVBLE" write "$s" 2a21 2 --uint 2
finish write || fail "write --uint 2 failed"
grep -q "^wrote 2 bytes with a Write Request (acknowledged)$" "$T/write.out" || fail "write: result"
wait_for "$T/sensor.out" "^interval 2 s" 10
start writex "$UVBLE" write "$s" 2a21 0100
finish writex || fail "write (hex) failed"
wait_for "$T/sensor.out" "^interval 1 s" 10
start writero "$UVBLE" write "$s" 2a6e 0102
if finish writero; then fail "write to a read-only characteristic succeeded"; fi
grep -q "^uvble write: 2a6e (handle 0x000c) does not allow writing$" "$T/writero.err" ||
  fail "write to a read-only characteristic: the message"
start absent "$UVBLE" read "$s" 2a19
if finish absent; then fail "read of an absent characteristic succeeded"; fi
grep -q "^uvble read: the device has no characteristic 2a19$" "$T/absent.err" || fail "absent characteristic: message"
start sub "$UVBLE" subscribe "$s" 2a6e --count 2
finish sub || fail "subscribe failed"
(($(grep -cE '^\{"time":"[^"]+","address":"'"$s"'","event":"notify","uuid":"2a6e","handle":12,"hex":"[0-9a-f]{4}","value":-?[0-9.]+,"unit":"degC"\}$' "$T/sub.out") == 2)) ||
  fail "subscribe: two JSON lines"
start subd "$UVBLE" subscribe "$s" 2a6e --duration 3
finish subd || fail "subscribe --duration failed"
(($(grep -c '"event":"notify"' "$T/subd.out") >= 1)) || fail "subscribe --duration: no value in 3 s"
start subn "$UVBLE" subscribe "$s" 2a21 --count 1
if finish subn; then fail "subscribe to a characteristic without CCCD succeeded"; fi
grep -q "has no Client Characteristic Configuration descriptor" "$T/subn.err" || fail "subscribe without CCCD: message"

# ---- bad values and addresses: one line naming the option, at once -------------
bad() { # bad NAME EXPECTED-STDERR COMMAND...
  local name=$1 want=$2
  shift 2
  local t0=$SECONDS
  start "$name" "$@"
  local st=0
  finish "$name" || st=$?
  ((st == 2)) || fail "$name: exit status $st, 2 expected"
  ((SECONDS - t0 < 5)) || fail "$name: took $((SECONDS - t0)) s (it scanned?)"
  [[ $(cat "$T/$name.err") == "$want" ]] || fail "$name: said '$(cat "$T/$name.err")', not '$want'"
}
bad b_addr "uvble gatt-dump: ADDR: 'zz:zz' is not a Bluetooth address (like 00:aa:01:00:00:42)" \
  "$UVBLE" gatt-dump zz:zz
bad b_opt "uvble pair: --address: 'bogus' is not a Bluetooth address (like 00:aa:01:00:00:42)" \
  "$UVBLE" pair --address bogus
bad b_dur "uvble scan: --duration: 'abc' is not a whole number from 0 to 86400" \
  "$UVBLE" scan --duration abc
bad b_neg "uvble scan: --duration: '-5' is not a whole number from 0 to 86400" \
  "$UVBLE" scan --duration -5
bad b_rssi "uvble-scanner: --min-rssi: 'abc' is not a whole number from -127 to 20" \
  "$EX/uvble-scanner" --min-rssi abc
bad b_uint "uvble write: VALUE: '300' is not a whole number from 0 to 255" \
  "$UVBLE" write "$s" 2a21 300 --uint 1
bad b_hex "uvble write: VALUE: 'xyz' is not hex bytes (like 0102ff or 01:02:ff; --text for a string)" \
  "$UVBLE" write "$s" 2a21 xyz
bad b_count "uvble subscribe: --count: '0' is not a whole number from 1 to 4294967295" \
  "$UVBLE" subscribe "$s" 2a6e --count 0
# 010 is ten, not eight: a 010-second scan is still running after 8 s.
start octal "$UVBLE" scan --duration 010
sleep 8.5
kill -0 "$(pgrep -P "${PID[octal]}")" 2>/dev/null || fail "--duration 010 ended before 10 s (octal?)"
finish octal || fail "scan --duration 010 failed"
for prog in "$UVBLE" "$UVBLE scan" "$UVBLE info" "$BIN/uvble-info" "$EX/uvble-scanner" \
  "$EX/uvble-temp-sensor" "$EX/uvble-temp-client" "$EX/uvble-uart-bridge" "$EX/uvble-l2cap-file" \
  "$EX/uvble-gateway"; do
  # shellcheck disable=SC2086
  $prog --version | grep -qE "^[a-z0-9 -]+ \(uvble\) [0-9]+\.[0-9]+\.[0-9]+$" || fail "$prog --version"
done

start pair "$UVBLE" pair "$s"
finish pair || fail "pair failed"
grep -q "^paired: encrypted yes, authenticated no, bonded no, key size 16$" "$T/pair.out" ||
  fail "pair: result"

# ---- bonds ----------------------------------------------------------------------
B=$T/bonds
start bpair "$UVBLE" pair --bond-store "$B" "$s"
finish bpair || fail "pair --bond-store failed"
grep -q "^paired: encrypted yes, authenticated no, bonded yes, key size 16$" "$T/bpair.out" ||
  fail "pair --bond-store: result"
start blist "$UVBLE" bonds list --bond-store "$B"
finish blist || fail "bonds list failed"
grep -q "^$s public key size 16, LE Secure Connections, unauthenticated, IRK" "$T/blist.out" ||
  fail "bonds list: the sensor"
# The sensor keeps no bonds (no store): our bond is stale. Nothing re-pairs
# by itself; the message names the status and the fix.
start stale "$UVBLE" read --bond-store "$B" "$s" 2a6e
if finish stale; then fail "read with a stale bond succeeded"; fi
grep -q "^uvble read: the stored bond no longer works (the controller answered with HCI status 0x06 (PIN or Key Missing)).*pair again with: uvble pair --repair --bond-store $B $s$" "$T/stale.err" ||
  fail "stale bond: the message"
start repair "$UVBLE" pair --repair --bond-store "$B" "$s"
finish repair || fail "pair --repair failed"
grep -q "^removed the stored bond with $s$" "$T/repair.out" || fail "pair --repair: did not remove the bond"
grep -q "^paired: encrypted yes, authenticated no, bonded yes" "$T/repair.out" || fail "pair --repair: result"
start nobond "$UVBLE" read --bond-store "$T/other" "$s" 2a6e
if finish nobond; then fail "read --bond-store without a bond succeeded"; fi
grep -q "^uvble read: no bond with $s in $T/other: add --pair to pair first$" "$T/nobond.err" ||
  fail "no bond: the message"
start bread "$UVBLE" read --bond-store "$T/other" --pair "$s" 2a6e
finish bread || fail "read --bond-store --pair failed"
grep -q "^2a6e Temperature" "$T/bread.out" || fail "read --pair: the value"
start bdump "$UVBLE" gatt-dump --bond-store "$T/other2" --pair "$s"
finish bdump || fail "gatt-dump --bond-store --pair failed"
grep -q "^Device $s (uvble-temp), MTU 247, encrypted$" "$T/bdump.out" || fail "gatt-dump --pair: not encrypted"
start bremove "$UVBLE" bonds remove "$s" --bond-store "$B"
finish bremove || fail "bonds remove failed"
start blist2 "$UVBLE" bonds list --bond-store "$B"
finish blist2 || fail "bonds list (after remove) failed"
grep -q "^no bonds$" "$T/blist2.out" || fail "bonds remove: the bond is still listed"
start bclear "$UVBLE" bonds clear --bond-store "$T/other"
finish bclear || fail "bonds clear failed"
grep -q "^removed 1 bond$" "$T/bclear.out" || fail "bonds clear: result"

# pair --wait: the responder. One uvble advertises and accepts; another
# pairs (--pair) and reads the waiter's name over the encrypted link.
# (A central that disconnects the moment pairing completes can drop its
# last key PDUs before they leave -- issue 14's graceful disconnect.)
start waiter "$UVBLE" pair --wait 60 --adv-name uvble-waiter --bond-store "$T/w"
wait_for "$T/waiter.out" "^advertising as " 30
start central "$UVBLE" read --name uvble-waiter --bond-store "$T/c" --pair 2a00
finish central || fail "read --pair from a --wait peer failed"
grep -q '^2a00 Device Name (handle 0x0003) = "' "$T/central.out" ||
  fail "read --pair from a --wait peer: the name"
finish waiter || fail "pair --wait failed"
grep -q "^paired: encrypted yes, authenticated no, bonded yes, key size 16$" "$T/waiter.out" ||
  fail "pair --wait: result"

start info "$UVBLE" info --json
finish info || fail "info failed"
grep -q '"address":"00:aa:01:' "$T/info.out" || fail "info: no address"
start infot "$UVBLE" info --json -t "$UVBLE_TRANSPORT"
finish infot || fail "info -t failed"
grep -q '"transport":"'"$UVBLE_TRANSPORT"'","address":"00:aa:01:' "$T/infot.out" || fail "info -t: not that transport"

start bench "$UVBLE" bench l2cap --bytes 300000
finish bench || fail "bench failed"
grep -qE '^\{"bench":"uvble-l2cap","metric":"throughput","value":[0-9.]+,"unit":"kB/s","bytes":300000' "$T/bench.out" ||
  fail "bench: no result line"
start gbench "$UVBLE" bench gatt --bytes 100000
finish gbench || fail "bench gatt failed"
grep -qE '^\{"bench":"uvble-gatt","metric":"notify_throughput","value":[0-9.]+,"unit":"kB/s","bytes":100000,' "$T/gbench.out" ||
  fail "bench gatt: no throughput line"
start lbench "$UVBLE" bench gatt --latency --reads 50
finish lbench || fail "bench gatt --latency failed"
grep -qE '^\{"bench":"uvble-gatt","metric":"read_latency","value":[0-9]+,"unit":"us",.*"reads":50,' "$T/lbench.out" ||
  fail "bench gatt --latency: no latency line"
# On a terminal: a sentence, not JSON.
start tbench script -qefc "$UVBLE bench gatt --latency --reads 20" /dev/null
finish tbench || fail "bench gatt on a terminal failed"
grep -qE "^GATT read latency over 20 reads: median [0-9]+ us" "$T/tbench.out" || fail "bench gatt: no summary on a terminal"

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
