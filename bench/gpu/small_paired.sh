#!/usr/bin/env bash
# Small eager kernels under fixed shares, each measured side by side with an unlimited process
# (no runtime) started at the same moment on another core, cores swapped between the two rounds.
# Biased low, kept as a record (docs/benchmarks.md): without MPS the GPU time-slices between the
# two processes' contexts, so the unlimited one runs faster while the fixed one waits. Use
# interleaved runs (compute_repeats.sh) for the figure.
# One device-tool call:   bash bench/gpu/small_paired.sh   (log in $OUT/small_paired.log)
set -uo pipefail
LOG_NAME=small_paired.log
source "$(dirname "$0")/compute_common.sh"
SIDE="timeout ${RUN_LIMIT_S:-90} python3 bench/gpu/compute_bench.py"
for share in 10 25 50 75; do
  for cores in "3 5" "5 3"; do
    set -- $cores
    fresh; export BENCH_START_AT=$(($(date +%s) + 8))  # both warmed up by then
    BENCH_TAG=paired-native taskset -c "$1" $SIDE run small 8 &
    BENCH_TAG=paired-fixed LD_PRELOAD="$RT" XPOOL_GPU_CORE=$share taskset -c "$2" $SIDE run small 8
    jobs_wait
    unset BENCH_START_AT
  done
done
python3 - "$LOG" <<'PY'
import json, statistics, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for i in range(0, len(recs) - 1, 2):
    pair = {r["tag"]: r for r in recs[i:i + 2]}
    fixed, native = pair.get("paired-fixed"), pair.get("paired-native")
    if not fixed or not native:
        continue
    rate = lambda r: statistics.mean(r["per_second"][1:])
    print(f"small fixed {fixed['env']['XPOOL_GPU_CORE']} %: {100 * rate(fixed) / rate(native):.1f} % "
          f"of the unlimited process beside it ({rate(fixed):.1f} vs {rate(native):.1f} it/s)")
PY
