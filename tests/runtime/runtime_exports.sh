#!/usr/bin/env bash
# libxpool-cuda.so exports exactly dlsym and the names in hooks.inc, and needs nothing beyond glibc:
# no libstdc++, no libcuda or NVML (opened at run time), no gRPC or protobuf.
# Usage: runtime_exports.sh LIBRARY HOOKS_INC
set -uo pipefail
lib="$1" hooks="$2"
fail() { echo "FAIL: $*"; exit 1; }
exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort)
expected=$( (echo dlsym; sed -n 's/^XPOOL_HOOK(\([A-Za-z0-9_]*\)).*/\1/p' "$hooks") | sort)
[ "$exported" = "$expected" ] || fail "exports differ: $(diff <(echo "$expected") <(echo "$exported") | tr '\n' ' ')"
needed=$(readelf -d "$lib" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
# libpthread and libdl: older glibcs keep the pthread and dl functions there (glibc_compat.cc).
[ "$needed" = "ld-linux-x86-64.so.2 libc.so.6 libdl.so.2 libpthread.so.0 " ] ||
  fail "unexpected dependencies: $needed"
echo "runtime_exports: $(wc -l <<<"$exported") symbols, needs only: $needed"
