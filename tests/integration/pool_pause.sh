#!/usr/bin/env bash
# A controller that was itself stopped longer than the lease (SIGSTOP: as a VM pause, swap or a
# debugger would) does not release the allocations of nodes that kept heartbeating: it gives every
# agent a lease to report first. A node that really went silent still loses its allocations.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
pool_extra_cleanup() { pkill -9 -f "sleep 9.17" 2>/dev/null; }

"$BIN/xpool-controller" --listen 127.0.0.1:0 --metrics "" --data "$WORK/data" --lease-ms 1000 \
  >"$WORK/controller.log" 2>&1 &
CONTROLLER=$!
pids+=($CONTROLLER)
for _ in $(seq 100); do grep -q "listening on" "$WORK/controller.log" && break; sleep 0.05; done
export XPOOL_CONTROLLER=$(sed -n 's/.*listening on \([^ ,]*\),.*/\1/p' "$WORK/controller.log")
printf 'node: n1\ndevices:\n  - model: L4\n    count: 1\n' >"$WORK/n1.yaml"
"$BIN/xpool-agent" --controller "$XPOOL_CONTROLLER" --inventory "$WORK/n1.yaml" \
  --state-dir "$WORK/state" "${RUN_AS[@]}" >"$WORK/agent.log" 2>&1 &
AGENT=$!
pids+=($AGENT)
for _ in $(seq 100); do grep -q "registered with" "$WORK/agent.log" && break; sleep 0.05; done
"$XPOOL" run -- sh -c 'echo started; sleep 9.17' >"$WORK/run.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q started "$WORK/run.log" && break; sleep 0.05; done
grep -q started "$WORK/run.log" || fail "the task did not start: $(cat "$WORK/run.log")"

kill -STOP $CONTROLLER
sleep 2.5
kill -CONT $CONTROLLER
sleep 1.5
grep -q "did not run for" "$WORK/controller.log" ||
  fail "the controller did not notice its own pause: $(cat "$WORK/controller.log")"
grep -q "stopped heartbeating" "$WORK/controller.log" &&
  fail "a pause of the controller released a healthy node's work: $(cat "$WORK/controller.log")"
"$XPOOL" allocs | grep -q running || fail "the allocation is gone after the pause: $("$XPOOL" allocs)"

# A node that really stops heartbeating still loses its allocations within about a lease.
kill -STOP $AGENT
for _ in $(seq 100); do grep -q "stopped heartbeating" "$WORK/controller.log" && break; sleep 0.05; done
kill -CONT $AGENT
grep -q "stopped heartbeating" "$WORK/controller.log" ||
  fail "a silent node kept its allocations: $(cat "$WORK/controller.log")"
pool_finish pool_pause
