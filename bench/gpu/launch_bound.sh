#!/usr/bin/env bash
# Fixed shares of launch-bound work in C++ (bench/gpu/launch_bound.cu), each share between two
# unlimited runs, twice; one device-tool call:   bash bench/gpu/launch_bound.sh
set -u
B=build-gpu
cmake -S . -B $B -G Ninja -DXPOOL_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
cmake --build $B --target xpool-cuda >/dev/null || exit 1
RT="$PWD/$B/libxpool-cuda.so"
nvcc -O2 -o /tmp/launch_bound bench/gpu/launch_bound.cu || exit 1
PIN=""
command -v taskset >/dev/null && PIN="taskset -c ${PIN_CORE:-3}"
for round in 1 2; do
  for share in 25 50 75; do
    $PIN /tmp/launch_bound 8 2000 3
    rm -f /dev/shm/xpool-compute-*
    LD_PRELOAD=$RT XPOOL_GPU_CORE=$share $PIN /tmp/launch_bound 8 2000 3
  done
  $PIN /tmp/launch_bound 8 2000 3
done
