#!/usr/bin/env bash
# Small eager kernels (CPU-bound PyTorch launches) at the fixed shares in SHARES (default
# "25 50 75") under each way of waiting in WAITS (default "block auto"; the first call compared
# block and spin), and best-effort alone, in
# interleaved rounds: every run sits between two unlimited runs and is divided by their mean
# (bench/gpu/rounds_summary.py). Then, unless STEADY=0, 30 s of CUDA
# graphs at fixed 30 %, to tell the runtime's steadiness apart from the clocks of bf16 products.
# One device-tool call:   bash bench/gpu/small_rounds.sh [ROUNDS]   (log $OUT/small_rounds.log)
set -uo pipefail
LOG_NAME=small_rounds.log
source "$(dirname "$0")/compute_common.sh"
S=${SECONDS_PER_RUN:-4}
nproc; uptime
for round in $(seq "${1:-3}"); do
  for share in ${SHARES:-25 50 75}; do
    BENCH_TAG=native $PY run small $S
    for wait in ${WAITS:-block auto}; do
      fresh
      # HELD=1: beside it, the device time its leases held each second (held_time.py).
      if [ "${HELD:-0}" = 1 ]; then python3 bench/gpu/held_time.py $((S + 5)) & fi
      BENCH_TAG=$wait-$share LD_PRELOAD="$RT" XPOOL_GPU_CORE=$share XPOOL_COMPUTE_WAIT=$wait $PY run small $S
      jobs_wait
    done
  done
  BENCH_TAG=native $PY run small $S
  fresh; BENCH_TAG=best-effort LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=best-effort $PY run small $S
done
BENCH_TAG=native $PY run small $S
if [ "${STEADY:-1}" != 0 ]; then
  BENCH_TAG=native $PY run graph $S
  fresh; BENCH_TAG=steady-graph LD_PRELOAD="$RT" XPOOL_GPU_CORE=30 $PY run graph 30
  BENCH_TAG=native $PY run graph $S
fi
python3 bench/gpu/rounds_summary.py "$LOG"
