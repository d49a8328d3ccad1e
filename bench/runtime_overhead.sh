#!/usr/bin/env bash
# The runtime's own cost per call, on the CPU, over the fake driver (whose calls cost a map update):
# ns per cuMemAlloc+cuMemFree pair and per cuLaunchKernel (of a zero-length kernel), with and
# without libxpool-cuda.so preloaded, and per launch through the compute limiter (best-effort, one
# tenant), alternating runs, medians of 5. The GPU figures are in bench/gpu/runtime_memory.sh.
#   bench/runtime_overhead.sh [build-dir]
set -euo pipefail
B="${1:-build}"
export LD_LIBRARY_PATH="$PWD/$B/fake_driver"
run() { "$B/cuda_probe" ctx 0 time-alloc 1000000 time-launch 10000000; }
declare -a na nl pa pl bl
for i in 1 2 3 4 5; do
  r=$(run); na+=($(awk '/time-alloc/{print $2}' <<<"$r")); nl+=($(awk '/time-launch/{print $2}' <<<"$r"))
  r=$(LD_PRELOAD="$PWD/$B/libxpool-cuda.so" XPOOL_GPU_MEMORY=8Gi run)
  pa+=($(awk '/time-alloc/{print $2}' <<<"$r")); pl+=($(awk '/time-launch/{print $2}' <<<"$r"))
  rm -f /tmp/xpool-compute-* /dev/shm/xpool-compute-*
  r=$(LD_PRELOAD="$PWD/$B/libxpool-cuda.so" XPOOL_COMPUTE_POLICY=best-effort "$B/cuda_probe" ctx 0 time-launch 10000000)
  bl+=($(awk '/time-launch/{print $2}' <<<"$r"))
done
median() { printf '%s\n' "$@" | sort -g | sed -n 3p; }
printf 'alloc+free pair ns: fake driver alone %s, with the runtime (8Gi quota) %s\n' "$(median "${na[@]}")" "$(median "${pa[@]}")"
printf 'launch ns:          fake driver alone %s, with the runtime %s, through the limiter %s\n' "$(median "${nl[@]}")" "$(median "${pl[@]}")" "$(median "${bl[@]}")"
