#!/usr/bin/env bash
# Repeats of the compute-share figures that one run of runtime_compute.sh cannot tell from noise:
# small eager kernels at fixed shares with an unlimited run beside each, the priority set
# (alone, plain co-location, high priority), and equal thirds. Rounds are interleaved so that a
# drift of the machine hits every variant alike.   bash bench/gpu/compute_repeats.sh [ROUNDS]
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
  BENCH_TAG=alone $PY infer 1000 4
  BENCH_TAG=colocated $PYSIDE run matmul 12 & sleep 4; BENCH_TAG=colocated $PY infer 1000 4; jobs_wait
  fresh
  BENCH_TAG=priority LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=best-effort $PYSIDE run matmul 12 & sleep 4
  BENCH_TAG=priority LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=best-effort XPOOL_PRIORITY=high $PY infer 1000 4
  jobs_wait
done
for round in 1 2; do
  echo "== equal, start $round"
  fresh; export BENCH_START_AT=$(($(date +%s) + 15))
  for k in 1 2; do BENCH_TAG=equal LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=equal $PYSIDE run matmul 10 & done
  BENCH_TAG=equal LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=equal $PYSIDE run matmul 10
  jobs_wait
  unset BENCH_START_AT
done
BENCH_TAG=native $PY run matmul $S
