#!/usr/bin/env bash
# Suite: the runtime's compute shares on GPU-paced workloads (bench/gpu/lib/compute_bench.py), on
# a real GPU; one call of the device tool runs all of it from the repository root:
#   bash bench/gpu/runtime_compute.sh            (log in $OUT/runtime_compute.log)
#   bash bench/gpu/runtime_compute.sh repeats N  (interleaved repeats: small kernels, priority, equal)
# bench/gpu/lib/check_compute_log.py then states each criterion of docs/runtime.md as PASS/FAIL.
if [ "${1:-}" = repeats ]; then
  shift
  exec bash "$(dirname "$0")/lib/compute_repeats.sh" "$@"
fi
set -uo pipefail
set -E
LOG_NAME=runtime_compute.log
source "$(dirname "$0")/lib/compute_common.sh"
trap 'python3 bench/gpu/lib/compute_segment.py' ERR
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
S=${SECONDS_PER_RUN:-6}
LONG_PERIOD_MS=${LONG_PERIOD_MS:-500}

echo "== 1. fixed shares, three workloads, unlimited baseline in the same run"
for w in matmul small graph; do
  BENCH_TAG=native $PY run $w $S
  for share in 10 25 50 75 100; do
    fresh; BENCH_TAG=fixed LD_PRELOAD="$RT" XPOOL_GPU_CORE=$share $PY run $w $S
    # The eager small kernels' unlimited rate drifts: a baseline beside every share.
    if [ $w = small ] && [ $share != 100 ]; then BENCH_TAG=native $PY run $w $S; fi
  done
  # Power-bound products run faster in short leases than saturated (clocks); a longer period
  # lets the clocks settle within each lease.
  if [ $w = matmul ]; then
    for share in 25 50 75; do
      fresh; BENCH_TAG=fixed LD_PRELOAD="$RT" XPOOL_GPU_CORE=$share XPOOL_COMPUTE_PERIOD_MS=$LONG_PERIOD_MS $PY run $w $S
    done
  fi
  BENCH_TAG=native $PY run $w $S
done
echo "== 2. steadiness: 30 s at fixed 30 %: products (the long period), graphs (the default)"
fresh; BENCH_TAG=steady LD_PRELOAD="$RT" XPOOL_GPU_CORE=30 XPOOL_COMPUTE_PERIOD_MS=$LONG_PERIOD_MS $PY run matmul 30
# The same with CUDA graphs at the default period: the runtime's steadiness without the clocks.
fresh; BENCH_TAG=steady LD_PRELOAD="$RT" XPOOL_GPU_CORE=30 $PY run graph 30
echo "== 3. weighted 30:70, equal thirds, best-effort alone"
fresh; together
BENCH_TAG=weighted LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=weighted XPOOL_GPU_CORE=30 $PYSIDE run matmul 10 &
BENCH_TAG=weighted LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=weighted XPOOL_GPU_CORE=70 $PYSIDE run matmul 10
jobs_wait
# Graph replays (about 1.2 ms each): launches longer than the 1 ms a holder may stay silent.
fresh; together
BENCH_TAG=weighted-graph LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=weighted XPOOL_GPU_CORE=30 $PYSIDE run graph 8 &
BENCH_TAG=weighted-graph LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=weighted XPOOL_GPU_CORE=70 $PYSIDE run graph 8
jobs_wait
unset BENCH_START_AT
equal_three
for w in matmul small; do
  fresh; BENCH_TAG=best-effort LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=best-effort $PY run $w $S
done
echo "== 4. priority: an inference step next to a saturating training tenant"
priority_set
BENCH_TAG=priority-alone LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=best-effort XPOOL_PRIORITY=high $PY infer 1000 4
# The step alone again: its speed drifts with the host's, so the reference is the mean of the runs
# before and after the measured ones (bench/gpu/lib/inference_overhead.sh).
BENCH_TAG=alone $PY infer 1000 4
python3 bench/gpu/lib/check_compute_log.py "$LOG"
