#!/usr/bin/env bash
# Matrix products alone under fixed shares at several periods (XPOOL_COMPUTE_PERIOD_MS), with the
# SM clock sampled through NVML at 50 %: how far the card's clocks explain throughput above the
# share. One device-tool call:   bash bench/gpu/compute_period.sh   (log $OUT/compute_period.log)
set -uo pipefail
LOG_NAME=compute_period.log
source "$(dirname "$0")/compute_common.sh"
nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader
S=6
fixed() {  # share period
  fresh
  BENCH_TAG=p$2 LD_PRELOAD="$RT" XPOOL_GPU_CORE=$1 XPOOL_COMPUTE_PERIOD_MS=$2 $PY run matmul $S
}
BENCH_TAG=native $PY run matmul $S
for period in 20 100 250 1000; do
  python3 bench/gpu/sample_clock.py "$OUT/m50p$period.clk" 11 &
  fixed 50 "$period"
  jobs_wait
  python3 bench/gpu/sample_clock.py --summary "$OUT/m50p$period.clk"
done
BENCH_TAG=native $PY run matmul $S
for period in 250 500 1000; do
  for share in 25 75; do fixed $share $period; done
done
fixed 50 500
BENCH_TAG=native $PY run matmul $S
