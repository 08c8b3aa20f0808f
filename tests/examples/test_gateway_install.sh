#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `cmake --install` of the gateway into a fresh prefix: the program, the
# sample configuration (which passes --check) and the systemd unit, whose
# paths name that prefix and which asks for the user channel's two
# capabilities rather than root. The whole project is installed: the
# gateway links libuvble.so, as an application does, and finds it beside
# it (RUNPATH $ORIGIN/../lib).
source "$(dirname "$0")/lib.sh"
P=$T/prefix
cmake --install "$BIN" --prefix "$P" >"$T/install.out" 2>&1 ||
  fail "cmake --install failed: $(cat "$T/install.out")"
unit=$P/lib/systemd/system/uvble-gateway.service
[[ -x $P/bin/uvble-gateway ]] || fail "no $P/bin/uvble-gateway"
[[ -f $P/etc/uvble/gateway.json.example ]] || fail "no sample configuration"
[[ -f $unit ]] || fail "no systemd unit"
grep -qx "ExecStart=$P/bin/uvble-gateway --config $P/etc/uvble/gateway.json" "$unit" ||
  fail "ExecStart does not name the prefix: $(grep ExecStart "$unit")"
grep -qx "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW" "$unit" || fail "no capabilities"
grep -qx "DynamicUser=yes" "$unit" || fail "runs as root"
grep -qx "Restart=on-failure" "$unit" || fail "no restart on failure"
"$P/bin/uvble-gateway" --check --config "$P/etc/uvble/gateway.json.example" >"$T/check.out" 2>&1 ||
  fail "the sample does not pass --check: $(cat "$T/check.out")"
echo '{"mqtt": {"qos": 5}}' >"$T/bad.json"
"$P/bin/uvble-gateway" --check --config "$T/bad.json" >"$T/bad.out" 2>&1 && fail "--check passed a bad file"
grep -q "bad.json: mqtt.qos: must be from 0 to 1" "$T/bad.out" || fail "--check: $(cat "$T/bad.out")"
if command -v systemd-analyze >/dev/null; then
  # Only the unit's syntax: the program is not where the unit expects it
  # on this machine, nor is a user manager needed.
  systemd-analyze verify "$unit" 2>&1 | grep -v "is not executable" >"$T/verify.out" || true
  [[ -s $T/verify.out ]] && fail "systemd-analyze: $(cat "$T/verify.out")"
fi
echo "examples.gateway_install: ok"
