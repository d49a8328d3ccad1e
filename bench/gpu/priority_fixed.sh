#!/usr/bin/env bash
# A normal 30 % slice beside a high-priority 50 % one, both under fixed, with bf16 products; each
# run's throughput against an unlimited run, and `xpool shares` read while they run and after.
# The xpool binary is built on the CPU machine and carried with its libraries (XPOOL_BIN_DIR,
# default scratch/xpool-bin; see docs/benchmarks.md).
# One device-tool call:   bash bench/gpu/priority_fixed.sh   (log $OUT/priority_fixed.log)
set -uo pipefail
LOG_NAME=priority_fixed.log
source "$(dirname "$0")/compute_common.sh"
BIN=${XPOOL_BIN_DIR:-scratch/xpool-bin}
shares() { LD_LIBRARY_PATH="$BIN" "$BIN/xpool" shares "$@"; }
BENCH_TAG=native $PY run matmul 5
for round in 1 2; do
  fresh; together
  BENCH_TAG=normal-30 LD_PRELOAD="$RT" XPOOL_GPU_CORE=30 XPOOL_SLICE=/dev/shm/xpool-slice-normal-30 $PYSIDE run matmul 10 &
  BENCH_TAG=high-50 LD_PRELOAD="$RT" XPOOL_GPU_CORE=50 XPOOL_PRIORITY=high XPOOL_SLICE=/dev/shm/xpool-slice-high-50 $PYSIDE run matmul 10 &
  sleep 20; shares --interval 2
  jobs_wait; unset BENCH_START_AT
  shares --interval 0 --json
  rm -f /dev/shm/xpool-slice-*
done
BENCH_TAG=native $PY run matmul 5
python3 bench/gpu/rounds_summary.py "$LOG"
