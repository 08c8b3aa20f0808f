#!/bin/sh
# The README's C example is examples/hello.c, which the build compiles:
# check the two have not drifted apart.
set -eu
src=$1
awk '/^## The core API in 20 lines/{f=1} f&&/^```c$/{p=1;next} p&&/^```$/{exit} p' "$src/README.md" >"${TMPDIR:-/tmp}/readme-hello.$$"
tail -n +2 "$src/examples/hello.c" | diff -u "${TMPDIR:-/tmp}/readme-hello.$$" - && rm -f "${TMPDIR:-/tmp}/readme-hello.$$"
