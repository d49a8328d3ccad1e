#!/usr/bin/env bash
# The controller under load (issue 5's figure): a real xpool-controller with its SQLite store in a
# temporary directory, bench/pool_bench.cc driving it from concurrent clients on loopback, and the
# controller's peak resident memory.   bash bench/pool_bench.sh [NODES] [CLIENTS] [SECONDS] [QUEUED]
set -euo pipefail
BUILD="${BUILD:-build}"
NODES="${1:-1000}" CLIENTS="${2:-16}" SECONDS_="${3:-10}"
DATA="$(mktemp -d "${STORE_DIR:-/tmp}/xpool-bench-XXXXXX")"
"$BUILD/xpool-controller" --listen 127.0.0.1:0 --metrics 127.0.0.1:0 --data "$DATA" --lease-ms 600000 \
  >"$DATA/controller.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$DATA/controller.log" && break; sleep 0.05; done
ADDR=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$DATA/controller.log")
HTTP=$(sed -n 's|.*metrics on http://\([0-9.:]*\)/metrics.*|\1|p' "$DATA/controller.log")
echo "store in $DATA ($(df --output=fstype "$DATA" | tail -1)), $(nproc) cores"
"$BUILD/pool_bench" --controller "$ADDR" --http "$HTTP" --nodes "$NODES" --clients "$CLIENTS" \
  --seconds "$SECONDS_" --queued "${4:-0}"
grep -E 'VmHWM|VmRSS' /proc/$PID/status | tr -s ' \t' ' ' | sed 's/^/controller /'
