#!/usr/bin/env bash
# An agent without an inventory finds its GPUs through NVML (here the fake driver's NVML: three
# H100s, 0 and 1 joined by 4 NVLinks), registers them, and a run on them sees them by UUID.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
export LD_LIBRARY_PATH="$BIN/fake_driver" FAKE_CUDA_DEVICES=3 FAKE_CUDA_DEVICE_MIB=81559
# The agent's slice folder, where its tasks' runtimes keep their slices and arbitrate compute: a
# folder of this test's that the tasks can write to (they run as nobody when the test runs as root).
SLICES=$(mktemp -d /tmp/xpool-nvml-slices.XXXXXX)
chmod 1777 "$SLICES"
pool_extra_cleanup() { rm -rf "$SLICES"; }
export FAKE_CUDA_TIMELINE="$SLICES/timeline"

"$BIN/xpool-agent" --discover >"$WORK/node.json" || fail "--discover failed"
tr -d ' \n' <"$WORK/node.json" >"$WORK/flat.json"
[ "$(grep -o '"model":"H100-SXM"' "$WORK/flat.json" | wc -l)" -eq 3 ] || fail "models: $(cat "$WORK/node.json")"
grep -q '"uuid":"GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadae02"' "$WORK/flat.json" || fail "uuid of GPU 2"
grep -q '"memory_mib":"81559"' "$WORK/flat.json" || fail "memory"
grep -q '"pci_bus_id":"0000:11:00.0"' "$WORK/flat.json" || fail "bus id"
grep -q '"links":\[{"peer_index":1,"kind":"nvlink","lanes":4},{"peer_index":2,"kind":"pcie","lanes":0}\]' \
  "$WORK/flat.json" || fail "links of GPU 0: $(cat "$WORK/node.json")"
# Without NVML and without an inventory there is nothing to serve.
out=$(LD_LIBRARY_PATH=/nonexistent "$BIN/xpool-agent" --controller 127.0.0.1:1 "${RUN_AS[@]}" 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "describe this node with --inventory" || fail "no NVML: $out"

"$BIN/xpool-controller" --listen 127.0.0.1:0 --metrics 127.0.0.1:0 --data "$WORK/data" >"$WORK/c.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$WORK/c.log" && break; sleep 0.05; done
export XPOOL_CONTROLLER=$(sed -n 's/.*listening on \([^ ,]*\),.*/\1/p' "$WORK/c.log")
METRICS_PORT=$(sed -n 's|.*metrics on http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$WORK/c.log")
# No --runtime: on GPUs NVML found, the runtime beside the agent goes into every task.
"$BIN/xpool-agent" --state-dir "$WORK/state" --slice-dir "$SLICES" "${RUN_AS[@]}" >"$WORK/a.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "registered with" "$WORK/a.log" && break; sleep 0.05; done
out=$("$XPOOL" run --gpus 1 -- sh -c 'echo $LD_PRELOAD' 2>/dev/null)
[ "$out" = "$(readlink -f "$BIN/libxpool-cuda.so")" ] || fail "tasks on NVML GPUs lack the runtime: $out"
out=$("$XPOOL" run --gpus 2 --model H100-SXM -- sh -c 'echo $CUDA_VISIBLE_DEVICES' 2>&1)
echo "$out" | grep -qE '^GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadae0[0-2],GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadae0[0-2]$' ||
  fail "a run on discovered GPUs: $out"

# The runtime's segments tell the agent what a slice uses: it shows in `xpool devices`.
READY=/tmp/xpool-nvml-ready-$$
"$XPOOL" run --gpu-core 50 --gpu-memory 4Gi -- "$BIN/cuda_probe" ctx 0 alloc 1536 ready "$READY" hold \
  >"$WORK/probe.log" 2>&1 &
PROBE=$!
pids+=($PROBE)
for _ in $(seq 100); do [ -e "$READY" ] && break; sleep 0.05; done
[ -e "$READY" ] || fail "the probe did not allocate: $(cat "$WORK/probe.log")"
for _ in $(seq 40); do "$XPOOL" devices | grep -qE ' 4Gi/81559Mi +50%/100% +1[5-9][0-9][0-9]Mi ' && break; sleep 0.1; done
"$XPOOL" devices | grep -qE ' 4Gi/81559Mi +50%/100% +1[5-9][0-9][0-9]Mi ' || fail "usage not reported: $("$XPOOL" devices)"
for _ in $(seq 40); do "$XPOOL" allocs | grep -qE ' running .* 4Gi +50% +1[5-9][0-9][0-9]Mi ' && break; sleep 0.1; done
"$XPOOL" allocs | grep -qE ' running .* 4Gi +50% +1[5-9][0-9][0-9]Mi ' || fail "slice usage not reported: $("$XPOOL" allocs)"
ID=$("$XPOOL" allocs -o json | sed -n 's/.*"id": *"\([a-z0-9]*\)".*/\1/p' | head -1)
"$XPOOL" release "$ID" >/dev/null
wait $PROBE
rm -f "$READY"
for _ in $(seq 40); do [ ! -e "$SLICES/xpool-slice-$ID" ] && break; sleep 0.1; done
[ ! -e "$SLICES/xpool-slice-$ID" ] || fail "the slice's segment outlived its task"

# A number field of the first allocation `xpool allocs -o json` lists, read every 0.1 s up to
# TRIES times until it meets CONDITION (awk, on v); prints the last value read.
poll_allocation_number() {  # FIELD TRIES CONDITION
  local v=""
  for _ in $(seq "$2"); do
    v=$("$XPOOL" allocs -o json | sed -n "s/.*\"$1\": *\([0-9.e-]*\).*/\1/p" | head -1)
    [ -n "$v" ] && awk -v v="$v" "BEGIN { exit !($3) }" && break
    sleep 0.1
  done
  echo "$v"
}

# A slice's compute leases reach `xpool allocs` as device time (GPU TIME), from the agent.
"$XPOOL" run --gpu-core 30 --gpu-memory 1Gi -- "$BIN/cuda_probe" ctx 0 run 500 3 kernel \
  >"$WORK/compute.log" 2>&1 &
RUN=$!
pids+=($RUN)
START=$(date +%s.%N)
used=$(poll_allocation_number gpu_seconds_used 50 "v >= 0.45")
ELAPSED=$(awk "BEGIN { print $(date +%s.%N) - $START }")
awk "BEGIN { exit !($used >= 0.45 && $used <= 0.35 * $ELAPSED + 0.1) }" ||
  fail "device time of a 30 % slice after ${ELAPSED}s: '$used' s; $("$XPOOL" allocs)"
"$XPOOL" allocs | grep -qE ' running .* 1Gi +30% +[0-9.]+[KMG]?i? +[0-9]+\.[0-9]s ' ||
  fail "GPU TIME not shown: $("$XPOOL" allocs)"
# And as the compute it uses: device time over the last 2 s of reports, near its 30 %.
pct=$(poll_allocation_number compute_used_percent 40 "v > 0")
awk "BEGIN { exit !($pct >= 20 && $pct <= 40) }" ||
  fail "compute in use of a 30 % slice: '$pct' %; $("$XPOOL" allocs -o json)"
"$XPOOL" allocs | grep -qE ' running .* 1Gi +30% +[0-9.]+[KMG]?i? +[0-9]+\.[0-9]s +[0-9]+\.[0-9]% ' ||
  fail "CORE USED not shown: $("$XPOOL" allocs)"
"$XPOOL" top --count 1 >"$WORK/top.txt" 2>&1
grep -qE 'allocations 1, device time (0\.[1-9]|[1-9][0-9]*\.[0-9])s' "$WORK/top.txt" ||
  fail "xpool top's device time: $(cat "$WORK/top.txt")"
metrics >"$WORK/metrics.txt"
promtool check metrics <"$WORK/metrics.txt" || fail "promtool rejects the metrics page"
grep -qE '^xpool_tenant_gpu_seconds_used\{tenant=""\} (0\.[4-9]|[1-9])' "$WORK/metrics.txt" ||
  fail "the tenant's device time is not in the metrics: $(grep gpu_seconds "$WORK/metrics.txt")"
wait $RUN || fail "the compute run failed: $(cat "$WORK/compute.log")"
# The cap is what this test checks: the run's share stays at or under 30 % (+3 points). Below it
# the margin is wider than cli_exec's: the probe is launch-bound (500 us kernels) and shares two
# CPUs with a controller, an agent and this script's polling; beside other tests in CI it read
# 0.245 (the test now runs alone, RUN_SERIAL).
grep -qE 'share=0\.(2[0-9]|3[0-3])' "$WORK/compute.log" || fail "the run's share: $(cat "$WORK/compute.log")"
# Once the run's allocation is released, the tenant's counter keeps its device time.
for _ in $(seq 40); do metrics | grep -q '^xpool_allocations{state="running"} 0$' && break; sleep 0.1; done
metrics >"$WORK/metrics-after.txt"
before=$(sed -n 's/^xpool_tenant_gpu_seconds_used{tenant=""} //p' "$WORK/metrics.txt")
after=$(sed -n 's/^xpool_tenant_gpu_seconds_total{tenant=""} //p' "$WORK/metrics-after.txt")
awk "BEGIN { exit !(\"$after\" != \"\" && $after + 0 >= $before + 0) }" ||
  fail "the counter after the release: '$after' s, the gauge during the run: '$before' s"
! grep -q '^xpool_tenant_gpu_seconds_used{tenant=""}' "$WORK/metrics-after.txt" ||
  fail "the gauge still counts a released allocation: $(grep gpu_seconds "$WORK/metrics-after.txt")"

pool_finish pool_nvml
