#!/usr/bin/env bash
# Where small eager kernels (PyTorch, CPU-bound launches) lose throughput under fixed shares.
# One device-tool call:   bash bench/gpu/small_eager_probe.sh   (log $OUT/small_eager_probe.log)
#  1. without the runtime, bursts of launches between idle spells (bench/gpu/duty_cycle.py);
#  2. fixed 50 % alone, and beside a second fixed 50 % slice (CUDA graphs) that keeps the device
#     busy while the first waits;
#  3. best-effort alone, fixed 90 and 99 %, and fixed 50 % in one-second leases (period 2 s).
set -uo pipefail
LOG_NAME=small_eager_probe.log
source "$(dirname "$0")/compute_common.sh"
DUTY="timeout 60 $PIN python3 bench/gpu/duty_cycle.py"
for round in 1 2; do
  $DUTY small 0 0 4 sleep
  for on in 4 10 100; do $DUTY small $on $on 4 sleep; done
  for mode in yield spin; do $DUTY small 10 10 4 $mode; done
done
$DUTY small 0 0 4 sleep
half() { LD_PRELOAD="$RT" XPOOL_GPU_CORE=50 XPOOL_COMPUTE_WAIT=yield "$@"; }
for round in 1 2; do
  BENCH_TAG=native $PY run small 5
  fresh; python3 bench/gpu/sample_clock.py "$OUT/alone$round.clk" 9 &
  BENCH_TAG=alone half $PY run small 5; jobs_wait
  python3 bench/gpu/sample_clock.py --summary "$OUT/alone$round.clk"
  fresh; together
  BENCH_TAG=filler LD_PRELOAD="$RT" XPOOL_GPU_CORE=50 $PYSIDE run graph 7 &
  BENCH_TAG=paired half $PY run small 5; jobs_wait; unset BENCH_START_AT
  fresh; BENCH_TAG=best-effort LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=best-effort $PY run small 5
  for share in 90 99; do
    fresh; BENCH_TAG=f$share LD_PRELOAD="$RT" XPOOL_GPU_CORE=$share XPOOL_COMPUTE_WAIT=yield $PY run small 5
  done
  fresh; BENCH_TAG=f50p2000 XPOOL_COMPUTE_PERIOD_MS=2000 half $PY run small 7
done
BENCH_TAG=native $PY run small 5
