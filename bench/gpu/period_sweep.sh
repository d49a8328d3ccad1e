#!/usr/bin/env bash
# Does the lease period (XPOOL_COMPUTE_PERIOD_MS) move the two workloads that miss their share
# under `fixed` at the default 20 ms?
#   1. bf16 products at 25 / 50 / 75 % with 1000 ms leases (clocks settle within a lease), and
#      30 s at 30 % for steadiness;
#   2. small eager kernels at 25 / 50 / 75 % with 20 ms and 100 ms periods, in interleaved rounds:
#      a loss paid once per lease shrinks fivefold with the longer period, noise does not.
# Every run sits between two unlimited runs and is divided by their mean (rounds_summary.py).
# One device-tool call:   bash bench/gpu/period_sweep.sh [ROUNDS]   (log $OUT/period_sweep.log)
set -uo pipefail
LOG_NAME=period_sweep.log
source "$(dirname "$0")/compute_common.sh"
nproc; uptime
BENCH_TAG=native $PY run matmul 6
for share in 25 50 75; do
  fresh; BENCH_TAG=p1000-$share LD_PRELOAD="$RT" XPOOL_GPU_CORE=$share XPOOL_COMPUTE_PERIOD_MS=1000 $PY run matmul 6
  BENCH_TAG=native $PY run matmul 6
done
fresh; BENCH_TAG=steady-p1000 LD_PRELOAD="$RT" XPOOL_GPU_CORE=30 XPOOL_COMPUTE_PERIOD_MS=1000 $PY run matmul 30
BENCH_TAG=native $PY run matmul 6
for round in $(seq "${1:-2}"); do
  for share in 25 50 75; do
    BENCH_TAG=native $PY run small 4
    for period in 20 100; do
      fresh; BENCH_TAG=p$period-$share LD_PRELOAD="$RT" XPOOL_GPU_CORE=$share XPOOL_COMPUTE_PERIOD_MS=$period $PY run small 4
    done
  done
done
BENCH_TAG=native $PY run small 4
python3 bench/gpu/rounds_summary.py "$LOG"
