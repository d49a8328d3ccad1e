#!/usr/bin/env bash
# Small eager kernels (CPU-bound PyTorch launches) at fixed shares under each way of waiting in
# WAITS (default "block auto"; the first call compared block and spin), and best-effort alone, in
# interleaved rounds: every run sits between two unlimited runs and is divided by their mean
# (bench/gpu/rounds_summary.py). Then 30 s of CUDA
# graphs at fixed 30 %, to tell the runtime's steadiness apart from the clocks of bf16 products.
# One device-tool call:   bash bench/gpu/small_rounds.sh [ROUNDS]   (log $OUT/small_rounds.log)
set -uo pipefail
LOG_NAME=small_rounds.log
source "$(dirname "$0")/compute_common.sh"
S=${SECONDS_PER_RUN:-4}
nproc; uptime
for round in $(seq "${1:-3}"); do
  for share in 25 50 75; do
    BENCH_TAG=native $PY run small $S
    for wait in ${WAITS:-block auto}; do
      fresh; BENCH_TAG=$wait-$share LD_PRELOAD="$RT" XPOOL_GPU_CORE=$share XPOOL_COMPUTE_WAIT=$wait $PY run small $S
    done
  done
  BENCH_TAG=native $PY run small $S
  fresh; BENCH_TAG=best-effort LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=best-effort $PY run small $S
done
BENCH_TAG=native $PY run small $S
BENCH_TAG=native $PY run graph $S
fresh; BENCH_TAG=steady-graph LD_PRELOAD="$RT" XPOOL_GPU_CORE=30 $PY run graph 30
BENCH_TAG=native $PY run graph $S
python3 bench/gpu/rounds_summary.py "$LOG"
