#!/usr/bin/env bash
# The policies between slices with launches longer than a millisecond, and priority, on this
# runtime and, with RT_OLD set, on an older one in the same call:
#   1. weighted 30:70 and equal thirds with CUDA-graph replays (about 1.2 ms each on an H100):
#      before 97d7263, a holder waiting that long for room to launch looked silent, and a waiter
#      took its lease at every replay; layout v4 also counts the end of its queued work; and
#      weighted 30:70 with each replay waited for by the program (graph-sync);
#   2. the priority set (runtime_compute.sh section 4) beside an unlimited products baseline: a
#      high-priority waiter still goes by the holder's last launch alone.
# One device-tool call:  RT_OLD=scratch/libxpool-cuda-OLD.so bash bench/gpu/long_launches.sh
# (log $OUT/long_launches.log; the summary at its end).
set -uo pipefail
LOG_NAME=long_launches.log
source "$(dirname "$0")/compute_common.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
NEW_RT="$RT"
runtimes="new"
[ -n "${RT_OLD:-}" ] && runtimes="new old"
rt_of() { if [ "$1" = new ]; then echo "$NEW_RT"; else realpath "$RT_OLD"; fi; }

for label in $runtimes; do
  rt=$(rt_of $label)
  BENCH_TAG=native $PY run graph 6
  fresh; together
  BENCH_TAG=weighted-$label LD_PRELOAD="$rt" XPOOL_COMPUTE_POLICY=weighted XPOOL_GPU_CORE=30 $PYSIDE run graph 8 &
  BENCH_TAG=weighted-$label LD_PRELOAD="$rt" XPOOL_COMPUTE_POLICY=weighted XPOOL_GPU_CORE=70 $PYSIDE run graph 8
  jobs_wait
  fresh; together
  BENCH_TAG=weighted-sync-$label LD_PRELOAD="$rt" XPOOL_COMPUTE_POLICY=weighted XPOOL_GPU_CORE=30 $PYSIDE run graph-sync 8 &
  BENCH_TAG=weighted-sync-$label LD_PRELOAD="$rt" XPOOL_COMPUTE_POLICY=weighted XPOOL_GPU_CORE=70 $PYSIDE run graph-sync 8
  jobs_wait
  fresh; together
  for k in 1 2; do BENCH_TAG=equal-$label LD_PRELOAD="$rt" XPOOL_COMPUTE_POLICY=equal $PYSIDE run graph 8 & done
  BENCH_TAG=equal-$label LD_PRELOAD="$rt" XPOOL_COMPUTE_POLICY=equal $PYSIDE run graph 8
  jobs_wait
  unset BENCH_START_AT
done
BENCH_TAG=native $PY run graph 6

BENCH_TAG=native $PY run matmul 6
BENCH_TAG=alone $PY infer 1000 4
for label in $runtimes; do
  rt=$(rt_of $label)
  fresh
  BENCH_TAG=priority-$label LD_PRELOAD="$rt" XPOOL_COMPUTE_POLICY=best-effort $PYSIDE run matmul 12 & sleep 4
  BENCH_TAG=priority-$label LD_PRELOAD="$rt" XPOOL_COMPUTE_POLICY=best-effort XPOOL_PRIORITY=high $PY infer 1000 4
  jobs_wait
done
BENCH_TAG=alone $PY infer 1000 4
BENCH_TAG=native $PY run matmul 6

python3 - "$LOG" <<'EOF'
import statistics, sys
sys.path.insert(0, "bench/gpu")
from records import load, side_rate as rate, weighted_pair
recs = load(sys.argv[1])  # every run read without its first and last seconds
native = {w: statistics.mean(rate(r) for r in recs if r["mode"] == "run" and r["tag"] == "native"
                             and r["workload"] == w) for w in ("graph", "matmul")}
alone = [r for r in recs if r["mode"] == "infer" and r["tag"] == "alone"]
a50 = statistics.mean(r["p50_ms"] for r in alone); a99 = statistics.mean(r["p99_ms"] for r in alone)
print(f"unlimited: graph {native['graph']:.1f} it/s, matmul {native['matmul']:.1f} it/s; "
      f"inference alone p50 {a50:.2f} ms, p99 {a99:.2f} ms")
for label in ("new", "old"):
    for kind in ("", "sync-"):
        pair = weighted_pair([r for r in recs if r["tag"] == f"weighted-{kind}{label}"])
        if pair:
            print(f"{label}: weighted {kind}graph 30:70 ratio {pair[0] / pair[1]:.3f} (target 0.429), "
                  f"together {100 * sum(pair) / native['graph']:.1f} % of the unlimited graph")
    e = [100 * rate(r) / native["graph"] for r in recs if r["tag"] == f"equal-{label}"]
    if e:
        print(f"{label}: equal graph thirds " + " / ".join(f"{x:.1f}" for x in e) + " % of unlimited")
    p = {r["mode"]: r for r in recs if r["tag"] == f"priority-{label}"}
    if len(p) == 2:
        print(f"{label}: high-priority inference p50 {p['infer']['p50_ms']:.2f} ms "
              f"({p['infer']['p50_ms'] / a50:.2f}x), p99 {p['infer']['p99_ms']:.2f} ms "
              f"({p['infer']['p99_ms'] / a99:.2f}x); training {100 * rate(p['run']) / native['matmul']:.1f} "
              f"% of unlimited")
EOF
