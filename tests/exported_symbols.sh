#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tests/exported_symbols.sh LIBUVBLE.so INCLUDE_DIR
#
# The shared library's dynamic symbol table is its ABI. Checks both ways:
# - every defined export is a uvble_ name (the library is built with
#   -fvisibility=hidden; an internal such as conn_find or hci_send_cmd in
#   the table means a missing `static` or a stray visibility attribute);
# - every function a public header declares is exported (a declaration
#   without UVBLE_EXTERN would link in-tree against libuvble.a but not
#   for an application against libuvble.so).
set -eu
lib=$1
inc=$2
fail=0
[ -f "$lib" ] || { echo "exported symbols: no library at $lib" >&2; exit 1; }

exports=$(mktemp)
declared=$(mktemp)
trap 'rm -f "$exports" "$declared"' EXIT

# Defined dynamic symbols, without version suffixes. Linker-made symbols
# are not ours: _init, _fini, _edata, _end, __bss_start, and the
# __start_SECTION / __stop_SECTION bounds it defines for sections such as
# the coverage counters of a -fsanitize=fuzzer-no-link build.
nm -D --defined-only "$lib" | awk '{ print $NF }' | sed 's/@.*//' |
  grep -Ev '^(_init|_fini|_edata|_end|__bss_start|__(start|stop)_[A-Za-z0-9_]+)$' |
  sort -u >"$exports"
[ -s "$exports" ] || { echo "exported symbols: $lib exports nothing" >&2; exit 1; }

bad=$(grep -v '^uvble_' "$exports" || true)
if [ -n "$bad" ]; then
  echo "exported symbols: $lib exports names outside uvble_*:" >&2
  echo "$bad" | sed 's/^/  /' >&2
  fail=1
fi

# Functions declared in the public headers: comments and #define bodies
# removed, then every uvble_name( that is not a call inside a macro nor a
# function-pointer type ((*uvble_cb)).
for h in "$inc"/uvble/*.h; do
  awk '
    { line = $0 }
    indef { indef = (line ~ /\\$/); next }
    /^[ \t]*#/ { indef = (line ~ /\\$/); next }
    {
      out = ""
      while (length(line) > 0) {
        if (incomment) {
          i = index(line, "*/"); if (i == 0) { line = ""; break }
          line = substr(line, i + 2); incomment = 0
        } else {
          i = index(line, "/*"); if (i == 0) { out = out line; line = ""; break }
          out = out substr(line, 1, i - 1); line = substr(line, i + 2); incomment = 1
        }
      }
      print out
    }' "$h"
done | grep -oE '(\(\*[ ]*)?\buvble_[a-z0-9_]+[ ]*\(' | grep -v '^(' |
  sed 's/[ ]*($//' | sort -u >"$declared"
[ -s "$declared" ] || { echo "exported symbols: no declarations found in $inc/uvble" >&2; exit 1; }

missing=$(comm -23 "$declared" "$exports")
if [ -n "$missing" ]; then
  echo "exported symbols: declared in include/uvble but not exported (UVBLE_EXTERN missing?):" >&2
  echo "$missing" | sed 's/^/  /' >&2
  fail=1
fi
undeclared=$(comm -13 "$declared" "$exports")
if [ -n "$undeclared" ]; then
  echo "exported symbols: exported but declared in no public header:" >&2
  echo "$undeclared" | sed 's/^/  /' >&2
  fail=1
fi
[ "$fail" = 0 ] || exit 1
echo "exported symbols: $(wc -l <"$exports") exports, all uvble_* and declared in include/uvble"
