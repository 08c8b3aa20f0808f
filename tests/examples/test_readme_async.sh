#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's async-layer example is examples/hello_async.c (the two must
# not drift apart), and it does what the README says: lists what
# advertises, then exits 0 with everything freed.
source "$(dirname "$0")/lib.sh"
src=$(cd "$(dirname "$0")/../.." && pwd)

awk '/^## The async layer in 20 lines/{f=1} f&&/^```c$/{p=1;next} p&&/^```$/{exit} p' \
  "$src/README.md" >"$T/readme.c"
tail -n +3 "$src/examples/hello_async.c" | diff -u "$T/readme.c" - ||
  fail "README.md and examples/hello_async.c differ"

start hello "$BIN/example_hello_async"
sleep 0.5
start sensor "$EX/uvble-temp-sensor" --name uvble-temp
s=$(address_of sensor)
finish hello || fail "hello_async exited with status $?"
grep -q "^$s uvble-temp$" "$T/hello.out" || fail "hello_async did not list the sensor"
stop sensor
echo "examples.readme_async: ok"
