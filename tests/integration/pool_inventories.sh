#!/usr/bin/env bash
# Every inventory example in deploy/inventory/ is accepted by `xpool up --inventory`, as the
# README tells a newcomer to type it: the node registers with its devices, and `xpool up` prints
# the controller's, the agent's and the HTTP server's addresses.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
EXAMPLES="$(cd "$(dirname "$0")/../../deploy/inventory" && pwd)"
n=0
for inv in "$EXAMPLES"/*.yaml; do
  name=$(basename "$inv" .yaml)
  n=$((n + 1))
  "$XPOOL" up --inventory "$inv" --data "$WORK/data-$name" --listen 127.0.0.1:0 >"$WORK/$name.log" 2>&1 &
  pid=$!
  pids+=($pid)
  for _ in $(seq 200); do grep -q "runs tasks on" "$WORK/$name.log" && break; sleep 0.05; done
  grep -q "xpool: metrics and the scheduler extender on http://127.0.0.1:" "$WORK/$name.log" ||
    fail "$name: no HTTP address printed: $(cat "$WORK/$name.log")"
  addr=$(sed -n 's/^xpool: controller on \([^ ]*\) .*/\1/p' "$WORK/$name.log")
  node=$(sed -n 's/^node: *\([^ ]*\).*/\1/p' "$inv")
  count=$(sed -n 's/^ *count: *\([0-9]*\).*/\1/p' "$inv")
  devices=$("$XPOOL" devices --controller "$addr" 2>&1 | grep -c "^$node/")
  [ "$devices" = "$count" ] || fail "$name: $devices devices of $node registered, expected $count"
  kill "$pid"
  wait "$pid" 2>/dev/null
done
[ "$n" -ge 3 ] || fail "only $n inventory examples"
pool_finish pool_inventories
