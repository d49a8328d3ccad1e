#!/usr/bin/env bash
# The runtime's cost per launch: bench/gpu/launch_cost.cu alone, under best-effort, and with the
# runtime loaded at a 100 % share (not arbitrated). One device-tool call: bash bench/gpu/launch_cost.sh
set -u
B=build-gpu
cmake -S . -B $B -G Ninja -DXPOOL_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
cmake --build $B --target xpool-cuda >/dev/null || exit 1
RT="$PWD/$B/libxpool-cuda.so"
nvcc -O2 -o /tmp/lc bench/gpu/launch_cost.cu
for c in 0 20000; do
  for k in 1 2; do
    /tmp/lc $c
    rm -f /dev/shm/xpool-compute-*; LD_PRELOAD=$RT XPOOL_COMPUTE_POLICY=best-effort /tmp/lc $c
    rm -f /dev/shm/xpool-compute-*; LD_PRELOAD=$RT XPOOL_GPU_CORE=100 /tmp/lc $c
  done
done
