#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tests/package_flags.sh BUILD_DIR
#
# What `cmake --install` would put in front of an application's compiler
# from this very build (the one under test, sanitizers and -Werror on):
# the CMake package's exported targets and uvble.pc. Our warning,
# -Werror and sanitizer flags are for our own targets only; none of them,
# nor our internal helper targets, may reach a consumer's build.
# (install_check.sh installs a plain build and builds apps against it.)
set -eu
build=$1
files=$(find "$build/CMakeFiles/Export" -name 'uvbleTargets*.cmake' 2>/dev/null || true)
[ -n "$files" ] || { echo "package flags: no generated uvbleTargets*.cmake under $build/CMakeFiles/Export" >&2; exit 1; }
[ -f "$build/uvble.pc" ] || { echo "package flags: no $build/uvble.pc" >&2; exit 1; }
fail=0
# shellcheck disable=SC2086
for f in $files "$build/uvble.pc"; do
  hits=$(grep -nE -- '-W[a-z]|-Werror|-fsanitize|-fno-sanitize|-fno-omit-frame-pointer|uvble_(warnings|sanitize|internal)|UVBLE_TEST_HOOKS' "$f" || true)
  if [ -n "$hits" ]; then
    echo "package flags: $f passes our private build settings on to consumers:" >&2
    echo "$hits" | sed 's/^/  /' >&2
    fail=1
  fi
done
[ "$fail" = 0 ] || exit 1
echo "package flags: exported targets and uvble.pc carry no warning, -Werror or sanitizer flags"
