#!/bin/sh
# Installs uvble into a scratch prefix and builds the README example
# against it twice, the ways a user would: CMake's find_package(uvble) and
# pkg-config.
set -eu
src=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake -S "$src" -B "$work/build" -DUVBLE_TESTS=OFF -DCMAKE_INSTALL_PREFIX="$work/prefix" >/dev/null
cmake --build "$work/build" -j2 >/dev/null
cmake --install "$work/build" >/dev/null
mkdir "$work/app"
cp "$src/examples/hello.c" "$work/app/"
cat >"$work/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(app C)
find_package(uvble REQUIRED)
add_executable(hello hello.c)
target_link_libraries(hello uvble::uvble_shared)
CM
cmake -S "$work/app" -B "$work/app/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/app/build" >/dev/null
test -x "$work/app/build/hello"
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
export PKG_CONFIG_PATH
# shellcheck disable=SC2046
cc "$work/app/hello.c" -o "$work/app/hello-pc" $(pkg-config --cflags --libs uvble)
LD_LIBRARY_PATH="$work/prefix/lib" "$work/app/hello-pc" </dev/null >/dev/null 2>&1 || true
echo "install check: find_package and pkg-config builds OK"
