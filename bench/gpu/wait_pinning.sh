#!/usr/bin/env bash
# Small eager kernels at fixed 50 % under block, spin and auto, each on one core and on two, with
# the CPU time each run used (user and system seconds, bash's time), between unlimited runs.
# One device-tool call:   bash bench/gpu/wait_pinning.sh [ROUNDS]   (log $OUT/wait_pinning.log)
set -uo pipefail
LOG_NAME=wait_pinning.log
source "$(dirname "$0")/compute_common.sh"
S=${SECONDS_PER_RUN:-4}
BENCH="timeout ${RUN_LIMIT_S:-90} python3 bench/gpu/compute_bench.py"
timed() { local TIMEFORMAT="cpu seconds: user %U system %S"; time "$@"; }
for round in $(seq "${1:-2}"); do
  for cores in 3 3,4; do
    BENCH_TAG=native timed taskset -c $cores $BENCH run small $S
    for wait in block spin auto; do
      fresh; BENCH_TAG=$wait-cores$cores LD_PRELOAD="$RT" XPOOL_GPU_CORE=50 XPOOL_COMPUTE_WAIT=$wait \
        timed taskset -c $cores $BENCH run small $S
    done
  done
done
BENCH_TAG=native timed taskset -c 3 $BENCH run small $S
python3 bench/gpu/rounds_summary.py "$LOG"
