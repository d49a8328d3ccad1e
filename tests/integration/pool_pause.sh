#!/usr/bin/env bash
# A controller that was itself stopped longer than the lease (SIGSTOP: as a VM pause, swap or a
# debugger would) does not release the allocations of nodes that kept heartbeating: it gives every
# agent a lease to report first. A node that really went silent still loses its allocations.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
pool_extra_cleanup() { pkill -9 -f "sleep 9.17" 2>/dev/null; }

pool_start_controller --data "$WORK/data" --lease-ms 1000
pool_start_agent n1 1
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
