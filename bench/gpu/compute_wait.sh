#!/usr/bin/env bash
# Small eager kernels under fixed shares with each way of waiting (XPOOL_COMPUTE_WAIT), between
# unlimited runs. One device-tool call:   bash bench/gpu/compute_wait.sh   (log $OUT/compute_wait.log)
set -uo pipefail
LOG_NAME=compute_wait.log
source "$(dirname "$0")/compute_common.sh"
for round in 1 2; do
  BENCH_TAG=native $PY run small 5
  for wait in block yield spin; do
    fresh; BENCH_TAG=$wait LD_PRELOAD="$RT" XPOOL_GPU_CORE=50 XPOOL_COMPUTE_WAIT=$wait $PY run small 5
  done
  fresh; BENCH_TAG=spin LD_PRELOAD="$RT" XPOOL_GPU_CORE=25 XPOOL_COMPUTE_WAIT=spin $PY run small 5
done
BENCH_TAG=native $PY run small 5
