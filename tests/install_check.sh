#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs uvble the way the README says (configure with the default
# prefix, then `cmake --install build --prefix P`) and builds apps against
# P the ways a user would: CMake's find_package(uvble) and pkg-config. The
# pkg-config file must point at P (not at the configure-time prefix), the
# shared library must carry its semver SONAME and report the version the
# headers name, it must export only the public API, and the example
# programs must be installed (linked to it, found relative to themselves).
set -eu
src=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "install check: $*" >&2; exit 1; }
cmake -S "$src" -B "$work/build" -DUVBLE_TESTS=OFF >/dev/null
cmake --build "$work/build" -j2 >/dev/null
P=$work/prefix
cmake --install "$work/build" --prefix "$P" >/dev/null
mkdir "$work/app"
cp "$src/examples/hello.c" "$work/app/"
cat >"$work/app/ver.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <uvble/uvble.h>
int main(void) {
  printf("%s\n", uvble_version_string());
  return strcmp(uvble_version_string(), UVBLE_VERSION_STRING) != 0 ||
         uvble_version() != UVBLE_VERSION_HEX;
}
C
cat >"$work/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(app C)
find_package(uvble REQUIRED)
add_executable(hello hello.c)
target_link_libraries(hello uvble::uvble_shared)
CM
cmake -S "$work/app" -B "$work/app/build" -DCMAKE_PREFIX_PATH="$P" >/dev/null
cmake --build "$work/app/build" >/dev/null
test -x "$work/app/build/hello" || fail "find_package build made no program"
libdir=$(ls -d "$P"/lib*/ | head -n 1)
pcdir=$(dirname "$(find "$P" -name uvble.pc | head -n 1)")
[ -f "$pcdir/uvble.pc" ] || fail "no uvble.pc under $P"
PKG_CONFIG_PATH=$pcdir
export PKG_CONFIG_PATH
case "$(pkg-config --cflags uvble)" in
  *"$P"*) ;;
  *) fail "uvble.pc does not point at the install prefix: $(pkg-config --cflags uvble)" ;;
esac
want=$(sed -n 's/^project(uvble VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[ "$(pkg-config --modversion uvble)" = "$want" ] || fail "pkg-config version $(pkg-config --modversion uvble), project $want"
# shellcheck disable=SC2046
cc "$work/app/hello.c" -o "$work/app/hello-pc" $(pkg-config --cflags --libs uvble) ||
  fail "pkg-config build of hello.c failed"
# shellcheck disable=SC2046
cc "$work/app/ver.c" -o "$work/app/ver" $(pkg-config --cflags --libs uvble) ||
  fail "pkg-config build of the version check failed"
got=$(LD_LIBRARY_PATH="$libdir" "$work/app/ver") || fail "the library reports $got, the headers $want"
[ "$got" = "$want" ] || fail "uvble_version_string() is $got, the project $want"
major=${want%%.*}
minor=${want#*.}
minor=${minor%%.*}
if [ "$major" = 0 ]; then soname=libuvble.so.0.$minor; else soname=libuvble.so.$major; fi
readelf -d "$libdir/libuvble.so" | grep -q "SONAME.*\[$soname\]" ||
  fail "SONAME is not $soname: $(readelf -d "$libdir/libuvble.so" | grep SONAME)"
# The installed library exports the public API and nothing else, and the
# installed package passes none of our build's private flags on.
incdir=$(dirname "$(dirname "$(find "$P" -path '*/uvble/uvble.h' | head -n 1)")")
"$src/tests/exported_symbols.sh" "$libdir/libuvble.so" "$incdir" >/dev/null ||
  fail "the installed libuvble.so exports more or less than the public API"
# shellcheck disable=SC2046
if grep -nE -- '-W[a-z]|-fsanitize|uvble_(warnings|sanitize|internal)|UVBLE_TEST_HOOKS' \
    "$pcdir/uvble.pc" $(find "$P" -name 'uvbleTargets*.cmake'); then
  fail "the installed package carries our private build flags (above)"
fi
for prog in uvble uvble-info uvble-scanner uvble-temp-sensor uvble-temp-client \
  uvble-uart-bridge uvble-l2cap-file; do
  [ -x "$P/bin/$prog" ] || fail "$prog is not installed in $P/bin"
  "$P/bin/$prog" --version | grep -q "$want" || fail "$prog --version does not say $want"
done
echo "install check: find_package and pkg-config builds OK against $P (version $want, $soname)"
