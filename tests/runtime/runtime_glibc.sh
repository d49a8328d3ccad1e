#!/usr/bin/env bash
# libxpool-cuda.so loads under glibc 2.17 and later: no symbol it needs carries a newer GLIBC_
# version (containers with Ubuntu 22.04's 2.35 or RHEL 8's 2.28 preload it through
# /etc/ld.so.preload, where one missing version stops every process). Reads the library's dynamic
# symbol versions.
# Usage: runtime_glibc.sh LIBRARY
set -uo pipefail
lib="$1"
versions=$(objdump -T "$lib" | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' | sort -uV)
[ -n "$versions" ] || { echo "FAIL: no GLIBC versions read from $lib"; exit 1; }
newest=$(echo "$versions" | tail -1)
too_new=$(echo "$versions" | awk -F'[_.]' '{ if ($2 > 2 || ($2 == 2 && $3 > 17)) print }')
if [ -n "$too_new" ]; then
  echo "FAIL: symbols newer than GLIBC_2.17:"
  objdump -T "$lib" | grep -E "$(echo "$too_new" | sed 's/\./\\./g' | paste -sd'|')"
  exit 1
fi
echo "runtime_glibc: newest symbol version $newest"
