#!/usr/bin/env bash
# The queue, with real processes: a run that finds the pool full waits and starts when capacity
# frees; `xpool queue` shows it and why; --no-wait still fails at once; the queue outlives a
# controller killed with SIGKILL; Ctrl-C on a waiting run takes it out of the queue.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
GO="/tmp/xpool-queue-go-$$"
pool_extra_cleanup() { touch "$GO"; sleep 0.3; rm -f "$GO"; }

pool_start_controller --data "$WORK/data"
pool_start_agent n1 1

# The only GPU is held until $GO exists.
"$XPOOL" run -- sh -c "echo first; while [ ! -e $GO ]; do sleep 0.1; done" >"$WORK/first.log" 2>&1 &
FIRST=$!
for _ in $(seq 100); do grep -q first "$WORK/first.log" && break; sleep 0.05; done
grep -q first "$WORK/first.log" || fail "the first task did not start: $(cat "$WORK/first.log")"

"$XPOOL" run --tenant team-b -- echo second >"$WORK/second.log" 2>"$WORK/second.err" &
SECOND=$!
for _ in $(seq 100); do grep -q "is queued, position 1" "$WORK/second.err" && break; sleep 0.05; done
grep -q "is queued, position 1" "$WORK/second.err" ||
  fail "a run on a full pool did not say it waits: $(cat "$WORK/second.err")"
queue=$("$XPOOL" queue)
echo "$queue" | grep -q "team-b.*node n1 is held for it" || fail "xpool queue: $queue"
"$XPOOL" queue -o json | grep -q '"state": *"queued"' || fail "xpool queue -o json: $("$XPOOL" queue -o json)"

out=$(timeout 10 "$XPOOL" run --no-wait -- true 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "no capacity" || fail "--no-wait did not fail at once: $out"

# The controller dies and comes back on the same address and store: the request still waits.
kill -9 $CONTROLLER
wait $CONTROLLER 2>/dev/null
LISTEN="$XPOOL_CONTROLLER" pool_start_controller --data "$WORK/data"
for _ in $(seq 200); do "$XPOOL" queue 2>/dev/null | grep -q team-b && break; sleep 0.05; done
"$XPOOL" queue | grep -q team-b || fail "the queue did not outlive the controller: $("$XPOOL" queue 2>&1)"

# A waiting run interrupted by its user leaves the queue.
"$XPOOL" run --tenant team-c -- echo third >"$WORK/third.log" 2>&1 &
THIRD=$!
for _ in $(seq 100); do grep -q "is queued, position 2" "$WORK/third.log" && break; sleep 0.05; done
grep -q "is queued, position 2" "$WORK/third.log" || fail "the third run: $(cat "$WORK/third.log")"
kill -INT $THIRD
wait $THIRD
rc=$?
[ $rc -eq 130 ] || fail "an interrupted waiting run exited $rc: $(cat "$WORK/third.log")"
"$XPOOL" queue | grep -q team-c && fail "an interrupted run stayed queued: $("$XPOOL" queue)"

# Capacity frees: the waiting run starts and ends as a run does.
touch "$GO"
wait $FIRST || fail "the first run failed: $(cat "$WORK/first.log")"
for _ in $(seq 200); do kill -0 $SECOND 2>/dev/null || break; sleep 0.05; done
wait $SECOND
rc=$?
[ $rc -eq 0 ] && grep -q second "$WORK/second.log" ||
  fail "the waiting run did not run when capacity freed (exit $rc): $(cat "$WORK/second.err")"
[ -z "$("$XPOOL" queue | sed 1d)" ] || fail "the queue is not empty: $("$XPOOL" queue)"
pool_finish pool_queue
