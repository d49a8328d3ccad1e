#!/usr/bin/env bash
# Repeats of the compute-share figures that one run of runtime_compute.sh cannot tell from noise:
# small eager kernels at fixed shares with an unlimited run beside each, the priority set
# (alone, plain co-location, high priority), and equal thirds. Rounds are interleaved so that a
# drift of the machine hits every variant alike.   bash bench/gpu/lib/compute_repeats.sh [ROUNDS]
set -uo pipefail
LOG_NAME=compute_repeats.log
source "$(dirname "$0")/compute_common.sh"
S=${SECONDS_PER_RUN:-5}
ROUNDS=${1:-3}
for round in $(seq "$ROUNDS"); do
  echo "== round $round: small eager kernels"
  for share in 25 50 75; do
    BENCH_TAG=native $PY run small $S
    fresh; BENCH_TAG=fixed LD_PRELOAD="$RT" XPOOL_GPU_CORE=$share $PY run small $S
  done
  BENCH_TAG=native $PY run small $S
  echo "== round $round: priority"
  priority_set
done
for round in 1 2; do
  echo "== equal, start $round"
  equal_three
done
BENCH_TAG=native $PY run matmul $S
