#!/usr/bin/env bash
# Preemption with real processes: a run of higher queue priority takes the GPU of a lower one.
# The lower task sees SIGTERM and may end cleanly within the grace period; one that ignores it
# is killed when the grace period ends. Each owner is told why.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"

pool_start_controller --data "$WORK/data" --preemption-grace-s 2
pool_start_agent n1 1

# preempt NAME SCRIPT: a run of SCRIPT (which says "started"), then a run of higher priority
# that takes its GPU. Sets took_ms (the higher run, start to end) and low_rc (the lower run's
# exit); the lower run's output is in $WORK/NAME.log.
preempt() {
  "$XPOOL" run -- sh -c "$2" >"$WORK/$1.log" 2>&1 &
  local low=$!
  for _ in $(seq 100); do grep -q started "$WORK/$1.log" && break; sleep 0.05; done
  local start out
  start=$(date +%s%N)
  out=$(timeout 20 "$XPOOL" run --queue-priority 10 -- echo "$1-preemptor-ran" 2>&1)
  took_ms=$((($(date +%s%N) - start) / 1000000))
  echo "$out" | grep -q "$1-preemptor-ran" || fail "the run preempting $1 did not run: $out"
  wait $low
  low_rc=$?
}

# A task that ends on SIGTERM.
preempt low1 'trap "echo got-sigterm; exit 0" TERM; echo started; while :; do sleep 0.1; done'
grep -q got-sigterm "$WORK/low1.log" || fail "the preempted task saw no SIGTERM: $(cat "$WORK/low1.log")"
grep -q "was preempted by .* (queue priority 10 over 0)" "$WORK/low1.log" ||
  fail "the preempted run did not say why: $(cat "$WORK/low1.log")"
[ "$took_ms" -lt 1800 ] || fail "a task that ended on SIGTERM still cost the whole grace ($took_ms ms)"

# A task that ignores SIGTERM is killed when the grace period (2 s) ends.
preempt low2 'trap "echo ignoring" TERM; echo started; while :; do sleep 0.1; done'
[ $low_rc -eq 137 ] || fail "a task that ignored SIGTERM exited $low_rc: $(cat "$WORK/low2.log")"
grep -q ignoring "$WORK/low2.log" || fail "the second task saw no SIGTERM: $(cat "$WORK/low2.log")"
grep -q "grace period ended" "$WORK/low2.log" || fail "no reason given: $(cat "$WORK/low2.log")"
[ "$took_ms" -ge 1900 ] || fail "the grace period was not given ($took_ms ms)"
grep -q "preempted by" "$WORK/controller.log" || fail "the controller did not log the preemption"

# --requeue: a preempted run waits again and runs its command again once the GPU is free.
COUNT="/tmp/xpool-preempt-count-$$"
pool_extra_cleanup() { rm -f "$COUNT"; }
"$XPOOL" run --requeue -- sh -c "n=\$(cat $COUNT 2>/dev/null || echo 0); echo \$((n + 1)) >$COUNT
  if [ \$n -eq 0 ]; then trap 'exit 0' TERM; echo first-attempt; while :; do sleep 0.1; done; fi
  echo second-attempt" >"$WORK/low3.log" 2>&1 &
LOW3=$!
for _ in $(seq 100); do grep -q first-attempt "$WORK/low3.log" && break; sleep 0.05; done
out=$(timeout 20 "$XPOOL" run --queue-priority 10 -- echo high3-ran 2>&1)
echo "$out" | grep -q high3-ran || fail "the third higher-priority run did not run: $out"
for _ in $(seq 200); do kill -0 $LOW3 2>/dev/null || break; sleep 0.05; done
wait $LOW3
rc=$?
[ $rc -eq 0 ] && grep -q "asking again" "$WORK/low3.log" && grep -q second-attempt "$WORK/low3.log" ||
  fail "--requeue did not run the command again (exit $rc): $(cat "$WORK/low3.log")"
pool_finish pool_preempt
