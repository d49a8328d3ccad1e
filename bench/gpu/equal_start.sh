#!/usr/bin/env bash
# Three processes under `equal` started together, twice, with the SM clock, power and utilisation
# sampled every 0.5 s. Run after bench/gpu/runtime_compute.sh has built build-gpu.
B=build-gpu
cmake --build $B --target xpool-cuda >/dev/null || exit 1
RT="$PWD/$B/libxpool-cuda.so"
nvidia-smi --query-gpu=clocks.sm,power.draw,utilization.gpu --format=csv,noheader -lms 500 > /tmp/clk.txt &
SMI=$!
for round in 1 2; do
  rm -f /dev/shm/xpool-compute-*
  export BENCH_START_AT=$(($(date +%s) + 12))
  for k in 1 2 3; do BENCH_TAG=equal LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=equal timeout 60 python3 bench/gpu/compute_bench.py run matmul 6 & done
  for p in $(jobs -p); do [ $p != $SMI ] && wait $p; done
  echo "round $round done at $(date +%s), start was $BENCH_START_AT"
done
kill $SMI; awk 'NR%2==0' /tmp/clk.txt | tr '\n' ';' | cut -c1-3000
