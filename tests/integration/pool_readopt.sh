#!/usr/bin/env bash
# An agent killed with -9 and restarted re-adopts the tasks that ran on: the running `xpool run`
# reattaches and gets the rest of the output and the exit status; a release still kills an
# adopted task; a task that ended while its agent was down is reported when the agent is back.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
pool_extra_cleanup() { pkill -9 -f "sleep 7.31" 2>/dev/null; }

"$BIN/xpool-controller" --listen 127.0.0.1:0 --metrics "" --data "$WORK/data" --lease-ms 5000 \
  >"$WORK/controller.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$WORK/controller.log" && break; sleep 0.05; done
export XPOOL_CONTROLLER=$(sed -n 's/.*listening on \([^ ,]*\),.*/\1/p' "$WORK/controller.log")
printf 'node: n1\ndevices:\n  - model: L4\n    count: 2\n' >"$WORK/n1.yaml"
start_agent() {
  "$BIN/xpool-agent" --controller "$XPOOL_CONTROLLER" --inventory "$WORK/n1.yaml" \
    --state-dir "$WORK/state" "${RUN_AS[@]}" >>"$WORK/agent.log" 2>&1 &
  AGENT=$!
  pids+=($AGENT)
  for _ in $(seq 100); do [ "$(grep -c 'registered with' "$WORK/agent.log")" -ge "$1" ] && break; sleep 0.05; done
}
wait_for() {  # FILE PATTERN
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  fail "no /$2/ in $1: $(cat "$1")"
}
start_agent 1

# 1. A run outlives its agent's crash and ends normally.
"$XPOOL" run -- sh -c 'echo started; sleep 2; echo finished; exit 5' >"$WORK/run1.log" 2>&1 &
RUN1=$!
wait_for "$WORK/run1.log" '^started'
kill -9 $AGENT
sleep 0.3
start_agent 2
grep -q "adopted the task of" "$WORK/agent.log" || fail "the restarted agent adopted nothing: $(cat "$WORK/agent.log")"
wait $RUN1
rc=$?
[ "$rc" -eq 5 ] || fail "the run across the agent's restart exited $rc, expected 5: $(cat "$WORK/run1.log")"
[ "$(grep -c '^started' "$WORK/run1.log")" -eq 1 ] || fail "output repeated or lost: $(cat "$WORK/run1.log")"
grep -q '^finished' "$WORK/run1.log" || fail "the rest of the output was lost: $(cat "$WORK/run1.log")"

# 2. A release kills an adopted task.
"$XPOOL" run -- sh -c 'echo started; exec sleep 7.31' >"$WORK/run2.log" 2>&1 &
RUN2=$!
wait_for "$WORK/run2.log" '^started'
kill -9 $AGENT
start_agent 3
sleep 1  # the run reattaches
ID=$("$XPOOL" allocs -o json | sed -n 's/.*"id": *"\([a-z0-9]*\)".*/\1/p' | head -1)
"$XPOOL" release "$ID" >/dev/null || fail "release $ID failed"
wait $RUN2
rc=$?
[ "$rc" -eq 137 ] || fail "the released adopted task run exited $rc, expected 137: $(cat "$WORK/run2.log"; cat "$WORK/agent.log")"
pgrep -f "sleep 7.31" >/dev/null && fail "the adopted task survived its release"

# 3. A task that ends while its agent is down is reported once the agent is back.
"$XPOOL" run -- sh -c 'echo started; sleep 0.5; exit 3' >"$WORK/run3.log" 2>&1 &
RUN3=$!
wait_for "$WORK/run3.log" '^started'
kill -9 $AGENT
kill -9 $RUN3  # its client goes too: only the agent can tell the controller
sleep 1
start_agent 4
for _ in $(seq 100); do "$XPOOL" allocs --all | grep -q "task exited with code 3" && break; sleep 0.05; done
"$XPOOL" allocs --all | grep -q "task exited with code 3" || fail "the end of a task was lost: $("$XPOOL" allocs --all)"

pool_finish pool_readopt
