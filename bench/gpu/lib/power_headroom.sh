#!/usr/bin/env bash
# Why no time share holds power-bound bf16 products to their share of throughput: it reads the
# card's power (energy counter), its instantaneous power and SM clock while products run
# unlimited, under fixed shares alone, and under a fixed share beside a filler that keeps the card
# busy. Under its power limit a saturated card lowers its clocks; a slice that leaves the card idle
# part of the time stays under the limit and runs at higher clocks, so each product costs more
# energy and less time. Summary by bench/gpu/lib/power_summary.py.
# One device-tool call:  bash bench/gpu/lib/power_headroom.sh   (log $OUT/power_headroom.log, ~4 min)
set -uo pipefail
LOG_NAME=power_headroom.log
source "$(dirname "$0")/compute_common.sh"
nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader
S=${SECONDS_PER_RUN:-8}
# Runs one case: TAG, then the environment of the measured process; the sampler reads the
# seconds the process counts, its first left out.
measure() {
  local tag=$1; shift
  fresh; together
  python3 bench/gpu/lib/sample_power.py "$tag" $((BENCH_START_AT + 1)) $((S - 2)) &
  env BENCH_TAG="$tag" "$@" $PY run matmul $S
  jobs_wait
}
measure unlimited
for share in 25 50 75; do
  measure "fixed-$share" LD_PRELOAD="$RT" XPOOL_GPU_CORE=$share
done
measure fixed-75-500ms LD_PRELOAD="$RT" XPOOL_GPU_CORE=75 XPOOL_COMPUTE_PERIOD_MS=500
# A filler at 25 % keeps the card saturated: the 75 % slice then runs at the saturated clocks.
fresh; together
python3 bench/gpu/lib/sample_power.py fixed-75-filled $((BENCH_START_AT + 1)) $((S - 2)) &
BENCH_TAG=fixed-75-filled-filler LD_PRELOAD="$RT" XPOOL_GPU_CORE=25 $PYSIDE run matmul $S &
BENCH_TAG=fixed-75-filled LD_PRELOAD="$RT" XPOOL_GPU_CORE=75 $PY run matmul $S
jobs_wait
unset BENCH_START_AT
measure unlimited
python3 bench/gpu/lib/power_summary.py "$LOG"
