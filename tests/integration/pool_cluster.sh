#!/usr/bin/env bash
# The standalone pool as real processes on loopback: one xpool-controller, four xpool-agents with
# simulated inventories (H100, A100, an NPU node, an FPGA node), and the `xpool` command.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
source "$(dirname "$0")/lib/expect.sh"

start_controller() {
  "$BIN/xpool-controller" --listen 127.0.0.1:${PORT:-0} --data "$WORK/data" --lease-ms 1000 \
    --metrics 127.0.0.1:0 >"$WORK/controller.log" 2>&1 &
  CONTROLLER_PID=$!
  pids+=($CONTROLLER_PID)
  for _ in $(seq 100); do
    grep -q "listening on" "$WORK/controller.log" && break
    sleep 0.05
  done
  PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/controller.log")
  METRICS_PORT=$(sed -n 's|.*metrics on http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$WORK/controller.log")
  export XPOOL_CONTROLLER=127.0.0.1:$PORT
}

inventory() {  # NAME TYPE MODEL COUNT [MEMORY]
  {
    echo "node: $1"
    echo "cpu: 32"
    echo "memory: 128Gi"
    echo "devices:"
    echo "  - model: $3"
    echo "    type: $2"
    echo "    count: $4"
    [ -n "${5:-}" ] && echo "    memory: $5"
  } >"$WORK/$1.yaml"
}

start_agent() {  # NAME
  "$BIN/xpool-agent" --controller "$XPOOL_CONTROLLER" --inventory "$WORK/$1.yaml" "${RUN_AS[@]}" \
    --state-dir "$WORK/state-$1" \
    >"$WORK/agent-$1.log" 2>&1 &
  AGENT_PID[$1]=$!
  pids+=($!)
}

declare -A AGENT_PID
start_controller
inventory h100 gpu H100-SXM 8
inventory a100 gpu A100-80GB 4
inventory npu npu Ascend-910B 8
inventory fpga fpga xilinx-u250 1 64Gi
for n in h100 a100 npu fpga; do start_agent $n; done
for _ in $(seq 100); do
  [ "$("$XPOOL" nodes -o json 2>/dev/null | grep -o '"ready": *true' | wc -l)" -eq 4 ] && break
  sleep 0.05
done
expect 0 'fpga +yes' -- nodes
expect 0 'npu/huawei-7 +npu +Ascend-910B' -- devices
expect 0 'nodes 4/4 ready · devices 21 · compute allocated 0.0 of 21' -- top --count 1
expect 0 '^\{"nodes": \[' -- top --count 1 -o json
expect 2 'interval' -- top --interval 0 --count 1

# A watcher sees each allocation of a run go through its states.
"$XPOOL" allocs --watch -o json >"$WORK/watch.log" 2>&1 &
WATCH=$!
pids+=($WATCH)
sleep 0.3
expect 0 '^watched$' -- run --type npu -- echo watched
for _ in $(seq 40); do grep -q '"state": *"released"' "$WORK/watch.log" && break; sleep 0.05; done
WID=$(sed -n 's/.*"id": *"\([a-z0-9]*\)".*/\1/p' "$WORK/watch.log" | head -1)
[ -n "$WID" ] && [ "$(grep -c "\"id\": *\"$WID\"" "$WORK/watch.log")" -ge 2 ] &&
  grep -q '"state": *"reserved"' "$WORK/watch.log" && grep -q '"reason": *"task ' "$WORK/watch.log" ||
  fail "the watch missed changes: $(cat "$WORK/watch.log")"
kill $WATCH

# Selectors send runs where they belong; the slice's quotas reach the task's environment.
expect 0 '^on a100$' -- run --model A100-80GB -- sh -c 'echo on $XPOOL_NODE'
# A rating instead of a model: the H100s (989 dense bf16 TFLOPS) have 900, nothing has 5000.
expect 0 '^on h100$' -- run --min-bf16-tflops 900 -- sh -c 'echo on $XPOOL_NODE'
expect 0 '^on a100$' -- run --min-bf16-tflops 300 --model A100-80GB,L4 -- sh -c 'echo on $XPOOL_NODE'
expect 2 'no device model in the pool has at least 5000 dense bf16 TFLOPS \(the best: H100-SXM' -- \
  run --min-bf16-tflops 5000 -- true
expect 0 '^on npu$' -- run --type npu -- sh -c 'echo on $XPOOL_NODE'
expect 0 '^on fpga$' -- run --type fpga -- sh -c 'echo on $XPOOL_NODE'
expect 0 '^on h100 devices 0,1,2,3$' -- run --gpus 4 --model H100-SXM -- \
  sh -c 'echo on $XPOOL_NODE devices $CUDA_VISIBLE_DEVICES'
expect 0 '^memory 4096 core 30 alloc a[0-9a-f]+$' -- run --gpu-core 30 --gpu-memory 4Gi --model A100-80GB -- \
  sh -c 'echo memory $XPOOL_GPU_MEMORY core $XPOOL_GPU_CORE alloc $XPOOL_ALLOCATION'
# How the slice takes its turns reaches the task's runtime; unset when not asked for.
expect 0 '^weighted high 200$' -- run --gpu-core 30 --gpu-memory 1Gi --compute-policy weighted \
  --priority high --compute-period 200 -- \
  sh -c 'echo $XPOOL_COMPUTE_POLICY $XPOOL_PRIORITY $XPOOL_COMPUTE_PERIOD_MS'
expect 0 '^policy= priority= period= dir=/dev/shm$' -- run --gpu-core 30 --gpu-memory 1Gi -- \
  sh -c 'echo policy=$XPOOL_COMPUTE_POLICY priority=$XPOOL_PRIORITY period=$XPOOL_COMPUTE_PERIOD_MS dir=$XPOOL_COMPUTE_DIR'
# Output on both streams; the command's exit code is xpool's.
expect 7 'to stderr' -- run --type fpga -- sh -c 'echo to stderr >&2; exit 7'
# Runs that ended released their slices.
expect 0 '^\[\]$' -- allocs -o json

# The metrics page is valid Prometheus text and counts what happened.
metrics >"$WORK/metrics.txt"
promtool check metrics <"$WORK/metrics.txt" || fail "promtool rejects the metrics page: $(cat "$WORK/metrics.txt")"
grep -q '^xpool_devices{type="gpu",model="H100-SXM"} 8$' "$WORK/metrics.txt" || fail "no H100 count in metrics"
grep -q '^xpool_allocations{state="released"} 11$' "$WORK/metrics.txt" || fail "released count wrong: $(grep allocations "$WORK/metrics.txt")"
grep -q '^xpool_scheduling_duration_seconds_count 11$' "$WORK/metrics.txt" || fail "scheduling histogram count wrong"
grep -q '^xpool_nodes{ready="true"} 4$' "$WORK/metrics.txt" || fail "ready node count wrong"

# The scheduler extender's verbs over HTTP, as kube-scheduler posts them.
post() {  # PATH BODY
  exec 3<>"/dev/tcp/127.0.0.1/$METRICS_PORT"
  printf 'POST %s HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    "$1" "${#2}" "$2" >&3
  cat <&3
  exec 3<&-
}
POD='{"metadata":{"name":"p","namespace":"d"},"spec":{"containers":[{"name":"c","resources":{"limits":{"xpool.io/gpu":"1","xpool.io/gpu-memory":"8192","xpool.io/gpu-core":"30"}}}]}}'
out=$(post /scheduler/filter "{\"Pod\":$POD,\"NodeNames\":[\"h100\",\"a100\",\"npu\",\"nowhere\"]}")
echo "$out" | grep -q '"NodeNames":\["h100","a100"\]' && echo "$out" | grep -q '"nowhere":"no xpool agent serves node nowhere"' &&
  echo "$out" | grep -q '"npu":"node npu has no device that could ever hold this' ||
  fail "extender filter over HTTP: $out"
out=$(post /scheduler/prioritize "{\"Pod\":$POD,\"NodeNames\":[\"h100\",\"fpga\"]}")
echo "$out" | grep -qE '\[\{"Host":"h100","Score":10\},\{"Host":"fpga","Score":0\}\]' || fail "prioritize over HTTP: $out"
out=$(post /scheduler/filter 'not json')
echo "$out" | grep -q '^HTTP/1.[01] 400' && echo "$out" | grep -q '"Error":"the body is not a JSON object' ||
  fail "a malformed filter body: $out"

# The resource names are the operator's to choose.
"$BIN/xpool-controller" --listen 127.0.0.1:0 --data "$WORK/names" --metrics 127.0.0.1:0 \
  --gpu-resource example.com/gpu >"$WORK/names.log" 2>&1 &
NAMES=$!
pids+=($NAMES)
for _ in $(seq 100); do grep -q "metrics on" "$WORK/names.log" && break; sleep 0.05; done
SAVED_PORT=$METRICS_PORT
METRICS_PORT=$(sed -n 's|.*metrics on http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$WORK/names.log")
out=$(post /scheduler/filter '{"Pod":{"spec":{"containers":[{"name":"c","resources":{"limits":{"example.com/gpu":"1"}}}]}},"NodeNames":["x"]}')
echo "$out" | grep -q '"x":"no xpool agent serves node x"' || fail "a renamed GPU resource is not ours: $out"
out=$(post /scheduler/filter '{"Pod":{"spec":{"containers":[{"name":"c","resources":{"limits":{"xpool.io/gpu":"1"}}}]}},"NodeNames":["x"]}')
echo "$out" | grep -q '"NodeNames":\["x"\]' || fail "the default name still counts after renaming: $out"
kill $NAMES
METRICS_PORT=$SAVED_PORT

# The FPGA node has one device: while a run holds it, another waits for capacity.
"$XPOOL" run --type fpga -- sh -c 'echo started; exec sleep 60' >"$WORK/held.log" 2>&1 &
HELD=$!
for _ in $(seq 100); do grep -q "^started" "$WORK/held.log" && break; sleep 0.05; done
expect 1 'no capacity for this request now' -- run --no-wait --type fpga -- true
ID=$("$XPOOL" allocs -o json | sed -n 's/.*"id": *"\([a-z0-9]*\)".*/\1/p' | head -1)
[ -n "$ID" ] || fail "no live allocation while a run holds the FPGA"
# Releasing it kills its task (137: SIGKILL) and frees the device.
expect 0 "released $ID" -- release "$ID"
wait $HELD
rc=$?
[ "$rc" -eq 137 ] || fail "the released run exited $rc, expected 137: $(cat "$WORK/held.log")"
grep -q "^xpool: the task was killed by signal 9 (SIGKILL) after $ID was released: " "$WORK/held.log" ||
  fail "the released run did not say why it ended: $(cat "$WORK/held.log")"
# A command the agent cannot execute says why (it exited 127 with no message).
printf '#!/bin/sh\necho hi\n' >"$WORK/noexec.sh"; chmod 644 "$WORK/noexec.sh"
expect 126 "cannot run '$WORK/noexec.sh': permission denied" -- run --type fpga -- "$WORK/noexec.sh"
expect 0 '^free$' -- run --type fpga -- echo free

# A controller killed with -9 and restarted keeps every allocation it acknowledged.
"$XPOOL" run --model A100-80GB --gpus 2 -- sh -c 'echo started; exec sleep 60' >"$WORK/survivor.log" 2>&1 &
SURVIVOR=$!
pids+=($SURVIVOR)
for _ in $(seq 100); do grep -q "^started" "$WORK/survivor.log" && break; sleep 0.05; done
BEFORE=$("$XPOOL" allocs -o json | grep -c '"id"')
kill -9 $CONTROLLER_PID
wait $CONTROLLER_PID 2>/dev/null
expect 1 'no controller answers' -- nodes
start_controller
for _ in $(seq 100); do "$XPOOL" nodes >/dev/null 2>&1 && break; sleep 0.05; done
AFTER=$("$XPOOL" allocs -o json | grep -c '"id"')
[ "$BEFORE" -eq 1 ] && [ "$AFTER" -eq 1 ] || fail "live allocations before/after restart: $BEFORE/$AFTER"
# It does not hand the held devices out again: 2 of the 4 A100s are left.
expect 1 'no capacity for this request now' -- run --no-wait --gpus 3 --model A100-80GB -- true
expect 0 '^two$' -- run --gpus 2 --model A100-80GB -- echo two

# An agent that stops heartbeating loses its node's allocations after the lease (1 s). The
# run's client goes first, so that only the lease can release it.
kill -9 $SURVIVOR
kill -9 "${AGENT_PID[a100]}"
for _ in $(seq 60); do
  "$XPOOL" allocs --all -o json | grep -q 'node a100 stopped heartbeating' && break
  sleep 0.1
done
expect 0 'stopped heartbeating' -- allocs --all
expect 0 'a100 +no' -- nodes
expect 1 'no capacity' -- run --no-wait --model A100-80GB -- true

# Bad input: a clear message and exit 2, nothing allocated.
expect 2 'gpu-memory' -- run --gpu-memory 8GB -- true
expect 2 'gpu-core' -- run --gpu-core 0 -- true
expect 2 'gpu-core' -- run --gpu-core 101 -- true
expect 2 "policy 'fair' is not one of" -- run --compute-policy fair -- true
expect 2 "priority 'urgent' is not one of normal, high" -- run --priority urgent -- true
expect 2 'from 10 to 10000' -- run --compute-period 5 -- true
expect 2 'can ever hold' -- run --model Z9000 -- true
expect 2 'needs its device memory' -- run --gpu-core 30 -- true
expect 2 'whole devices' -- run --gpus 2 --gpu-core 50 --gpu-memory 1Gi -- true
expect 2 'no allocation' -- release a0000
expect 2 'command' -- run
printf 'node: bad\ndevices:\n  - model: Z9000\n' >"$WORK/bad.yaml"
out=$("$BIN/xpool-agent" --controller "$XPOOL_CONTROLLER" --inventory "$WORK/bad.yaml" "${RUN_AS[@]}" 2>&1)
rc=$?
[ "$rc" -eq 2 ] && echo "$out" | grep -q "bad.yaml: devices\[0\]: model 'Z9000' is not in the catalog" ||
  fail "a malformed inventory gave rc=$rc: $out"
expect 0 '^\[\]$' -- allocs -o json
kill -9 $CONTROLLER_PID
expect 1 'no controller answers at 127.0.0.1' -- allocs

# The README's main job: `xpool up --demo` on the built-in inventory, a sample run, nothing left.
expect 0 'sample task on local: CUDA_VISIBLE_DEVICES=0 XPOOL_GPU_MEMORY=8192MiB XPOOL_GPU_CORE=25%' -- up --demo
echo "$LAST" | grep -qE 'a[0-9a-f]+ +released +local +1 +8Gi +25% +[0-9]+Mi +(-|[0-9.]+s) +(-|[0-9.]+%) +demo +task' || fail "demo allocation not listed: $LAST"
[ ! -e "$HOME/.xpool" ] || fail "the demo left $HOME/.xpool behind"

pool_finish pool_cluster
