#!/usr/bin/env bash
# The standalone pool on a real GPU: xpool-controller and an xpool-agent that finds the GPU through
# NVML, then `xpool run --gpu-core 30` of bf16 products; `xpool allocs` shows the device time the
# slice's leases held (GPU TIME), which is checked against the run's own 30 % share of its wall time,
# and the compute it uses now (CORE USED, compute_used_percent: that time's growth over 2 s).
# The binaries are built on the CPU machine and carried with their libraries in XPOOL_BIN_DIR
# (default scratch/xpool-bin, with libxpool-cuda.so beside the agent; docs/benchmarks.md says how).
# One device-tool call:   bash bench/gpu/pool_gpu_time.sh   (log $OUT/pool_gpu_time.log)
set -uo pipefail
OUT="${OUT:-/tmp/xpool-gpu}"
mkdir -p "$OUT"
exec > >(tee "$OUT/pool_gpu_time.log") 2>&1
BIN=$(readlink -f "${XPOOL_BIN_DIR:-scratch/xpool-bin}")
export LD_LIBRARY_PATH="$BIN" HOME=$(mktemp -d)
W=$(mktemp -d)
"$BIN/xpool-controller" --listen 127.0.0.1:0 --metrics "" --data "$W/data" >"$W/c.log" 2>&1 &
CONTROLLER=$!
for _ in $(seq 100); do grep -q "listening on" "$W/c.log" && break; sleep 0.05; done
export XPOOL_CONTROLLER=$(sed -n 's/.*listening on \([^ ,]*\),.*/\1/p' "$W/c.log")
"$BIN/xpool-agent" --state-dir "$W/state" --run-as "$(id -un)" >"$W/a.log" 2>&1 &
AGENT=$!
for _ in $(seq 100); do grep -q "registered with" "$W/a.log" && break; sleep 0.1; done
cat "$W/a.log"
"$BIN/xpool" devices
start=$(date +%s.%N)
# The task inherits the agent's library path (the carried libraries): PyTorch runs without it.
"$BIN/xpool" run --gpu-core 30 --gpu-memory 8Gi -- env -u LD_LIBRARY_PATH python3 "$PWD/bench/gpu/compute_bench.py" run matmul 12 &
RUN=$!
sleep 14
"$BIN/xpool" allocs
"$BIN/xpool" allocs -o json
"$BIN/xpool" shares --interval 1
echo "wall seconds since the run was asked for: $(awk "BEGIN { print $(date +%s.%N) - $start }")"
wait $RUN
kill $AGENT $CONTROLLER
