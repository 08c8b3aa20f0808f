#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The README's C examples are examples/hello.c and examples/request.c, and
# docs/observer.md's is examples/observer.c, which the build compiles: check the copies have
# not drifted apart.
set -eu
src=$1
awk '/^## The core API in 20 lines/{f=1} f&&/^```c$/{p=1;next} p&&/^```$/{exit} p' "$src/README.md" >"${TMPDIR:-/tmp}/readme-hello.$$"
tail -n +3 "$src/examples/hello.c" | diff -u "${TMPDIR:-/tmp}/readme-hello.$$" - && rm -f "${TMPDIR:-/tmp}/readme-hello.$$"
awk '/^## A sketch: broadcast and observe/{f=1} f&&/^```c$/{p=1;next} p&&/^```$/{exit} p' "$src/docs/observer.md" >"${TMPDIR:-/tmp}/observer.$$"
tail -n +3 "$src/examples/observer.c" | diff -u "${TMPDIR:-/tmp}/observer.$$" - && rm -f "${TMPDIR:-/tmp}/observer.$$"
awk '/^## Requests: operations you can cancel/{f=1} f&&/^```c$/{p=1;next} p&&/^```$/{exit} p' "$src/README.md" >"${TMPDIR:-/tmp}/readme-request.$$"
tail -n +3 "$src/examples/request.c" | diff -u "${TMPDIR:-/tmp}/readme-request.$$" - && rm -f "${TMPDIR:-/tmp}/readme-request.$$"
