#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The gateway reaches its broker over TLS (mqtts://, a host name resolved
# without blocking the loop, the certificate checked against it and a CA
# from the config file) and over IPv6 ([::1]); a broker that never answers
# does not hold the gateway up (its controller comes up at once) and is
# given up after 10 s.
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || fail "openssl not found"

# A CA and a certificate for "localhost".
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -keyout "$T/ca.key" -out "$T/ca.crt" -subj /CN=uvble-test-ca 2>/dev/null || fail "openssl (CA)"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/srv.key" \
  -out "$T/srv.csr" -subj /CN=localhost 2>/dev/null || fail "openssl (CSR)"
printf 'subjectAltName=DNS:localhost\n' >"$T/ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
  -days 1 -out "$T/srv.crt" -extfile "$T/ext" 2>/dev/null || fail "openssl (sign)"
chmod a+r "$T"/*.key

tls=$((20000 + RANDOM % 40000))
v6=$((tls + 1))
v6ok=0
[[ -e /proc/net/if_inet6 ]] && v6ok=1
extra=("allow_anonymous true" "listener $tls 127.0.0.1" "cafile $T/ca.crt"
  "certfile $T/srv.crt" "keyfile $T/srv.key")
((v6ok)) && extra+=("listener $v6 ::1")
start_broker "${extra[@]}"
grep -q "Error" "$T/broker.err" && fail "broker: $(grep Error "$T/broker.err")"

start sub mosquitto_sub -h 127.0.0.1 -p "$port" -v -t 'tls/#'
sleep 0.3

cat >"$T/tls.json" <<JSON
{"id": "tlsgw", "mqtt": {"url": "mqtts://localhost:$tls", "ca_file": "$T/ca.crt",
                         "topic_prefix": "tls"}}
JSON
start gw1 "$EX/uvble-gateway" --config "$T/tls.json" -t "$UVBLE_TRANSPORT"
wait_for "$T/gw1.err" "mqtt: connected to localhost:$tls \(TLS\)" 15
wait_for "$T/sub.out" "^tls/tlsgw/status online" 10
stop gw1
wait_for "$T/sub.out" "^tls/tlsgw/status offline" 10

if ((v6ok)); then
  start gw2 "$EX/uvble-gateway" --mqtt "tcp://[::1]:$v6" --id v6gw -t "$UVBLE_TRANSPORT"
  wait_for "$T/gw2.err" "mqtt: connected to ::1:$v6" 15
  stop gw2
else
  echo "no IPv6 here: [::1] not tried"
fi

# A broker that never answers must not stall the loop: a listener that
# never accepts, its queue filled by itself, so the kernel drops our SYN.
# The controller comes up at once; the connect is given up after 10 s.
start hole perl -MIO::Socket::INET -e '
  $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or die;
  @c = map { IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $s->sockport,
                                   Timeout => 1) } 1 .. 3;
  $| = 1; print $s->sockport, "\n"; sleep 600'
wait_for "$T/hole.out" '^[0-9]+$' 10
hole=$(head -n 1 "$T/hole.out")
start gw3 "$EX/uvble-gateway" --mqtt "mqtt://127.0.0.1:$hole" --id none -t "$UVBLE_TRANSPORT"
t0=$SECONDS
wait_for "$T/gw3.err" "controller .* up as " 5
wait_for "$T/gw3.err" "mqtt: 127.0.0.1:$hole: no answer; reconnecting" 15
((SECONDS - t0 >= 9)) || fail "gave the connect up after $((SECONDS - t0)) s, before 10 s"
stop gw3
kill "${PID[hole]}" 2>/dev/null
finish hole
stop sub
stop broker
echo "examples.gateway_tls: ok"
