#!/usr/bin/env bash
# One writer per store and per address (issue 28: a second controller on the same --listen and
# --data started silently and acknowledged allocations the first did not see). Real processes:
# a second controller on the same data directory, or on the same port, exits 2 with the reason;
# after the first is killed with -9 (the kernel drops its lock), a new one starts on the same
# data and keeps what the first acknowledged.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
cd "$WORK" || exit 1
"$BIN/xpool-controller" --listen 127.0.0.1:0 --data data --metrics 127.0.0.1:0 >first.log 2>&1 &
FIRST=$!
pids+=($FIRST)
for _ in $(seq 100); do grep -q "listening on" first.log && break; sleep 0.05; done
PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' first.log)
HTTP=$(sed -n 's|.*metrics on http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' first.log)
[ -n "$PORT" ] && [ -n "$HTTP" ] || fail "the first controller did not start: $(cat first.log)"

# Same data directory, another port: refused, naming the holder.
timeout 10 "$BIN/xpool-controller" --listen 127.0.0.1:0 --data data --metrics "" >second.log 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "a second controller on the same data exited $rc: $(cat second.log)"
grep -q "data directory 'data' is in use by another xpool-controller (pid $FIRST)" second.log ||
  fail "the refusal does not name the holder: $(cat second.log)"

# Same API port, another data directory: refused (no SO_REUSEPORT).
timeout 10 "$BIN/xpool-controller" --listen 127.0.0.1:$PORT --data other --metrics "" >third.log 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "a second controller on port $PORT exited $rc: $(cat third.log)"
grep -q "cannot listen on '127.0.0.1:$PORT'" third.log || fail "third: $(cat third.log)"
# Same HTTP port: refused too.
timeout 10 "$BIN/xpool-controller" --listen 127.0.0.1:0 --data other2 --metrics 127.0.0.1:$HTTP \
  >fourth.log 2>&1
rc=$?
[ "$rc" -eq 2 ] || fail "a second controller on HTTP port $HTTP exited $rc: $(cat fourth.log)"

# An allocation acknowledged by the first survives its kill -9 and the lock goes with it.
export XPOOL_CONTROLLER=127.0.0.1:$PORT
printf 'node: n1\ndevices:\n  - model: H100-SXM\n    count: 2\n' >n1.yaml
"$BIN/xpool-agent" --controller "$XPOOL_CONTROLLER" --inventory n1.yaml --state-dir state \
  "${RUN_AS[@]}" >agent.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$XPOOL" nodes 2>/dev/null | grep -q n1 && break; sleep 0.1; done
"$XPOOL" run --gpus 2 -- sh -c 'echo started; exec sleep 60' >held.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "^started" held.log && break; sleep 0.05; done
kill -9 "$FIRST"
wait "$FIRST" 2>/dev/null
"$BIN/xpool-controller" --listen 127.0.0.1:$PORT --data data --metrics "" >restarted.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" restarted.log && break; sleep 0.05; done
grep -q "listening on" restarted.log || fail "no restart on the same data: $(cat restarted.log)"
"$XPOOL" allocs 2>&1 | grep -q "n1 *2" || fail "the acknowledged allocation is gone: $("$XPOOL" allocs 2>&1)"
pool_finish pool_one_writer
