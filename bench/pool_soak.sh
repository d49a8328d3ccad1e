#!/usr/bin/env bash
# Issue 28's soak, scaled: a real xpool-controller with a short retention of released
# allocations, driven at a steady rate of allocate+release pairs; its resident memory and its
# store's size sampled every INTERVAL seconds. After the first retention period (plus the
# controller's once-a-minute pruning) both should stay flat.
#   bash bench/pool_soak.sh [MINUTES=6] [RATE=100] [RETENTION_MINUTES=1] [INTERVAL=30]
set -euo pipefail
BUILD="${BUILD:-build}"
MINUTES="${1:-6}" RATE="${2:-100}" RETENTION="${3:-1}" INTERVAL="${4:-30}"
DATA="$(mktemp -d "${STORE_DIR:-/tmp}/xpool-soak-XXXXXX")"
HOURS=$(python3 -c "print($RETENTION / 60)")
"$BUILD/xpool-controller" --listen 127.0.0.1:0 --metrics "" --data "$DATA" --lease-ms 600000 \
  --keep-released-hours "$HOURS" >"$DATA/controller.log" 2>&1 &
PID=$!
trap 'kill $PID $SAMPLER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$DATA/controller.log" && break; sleep 0.05; done
ADDR=$(sed -n 's/.*listening on \([0-9.:]*\).*/\1/p' "$DATA/controller.log")
echo "soak: $MINUTES min at $RATE pairs/s, retention $RETENTION min, store on $(df --output=fstype "$DATA" | tail -1)"
(
  start=$(date +%s)
  while kill -0 $PID 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
    store=$(du -sk "$DATA" | cut -f1)
    echo "soak: t=$(($(date +%s) - start))s controller_rss_kb=$rss store_kb=$store"
    sleep "$INTERVAL"
  done
) &
SAMPLER=$!
"$BUILD/pool_bench" --controller "$ADDR" --nodes 100 --clients 4 --seconds "$(python3 -c "print($MINUTES * 60)")" \
  --rate "$RATE" | grep -E "allocate\+release|registered"
grep -c "forgot" "$DATA/controller.log" | sed 's/^/soak: prunes /'
