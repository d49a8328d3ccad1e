#!/usr/bin/env bash
# High-priority inference beside a best-effort training tenant, this runtime against an older one
# (RT_OLD) in interleaved rounds, with the inference alone between them; and weighted 30:70 on
# CUDA-graph replays, repeated, with each run's seconds shown (a start-up transient, if any).
# One device-tool call:  RT_OLD=scratch/libxpool-cuda-OLD.so bash bench/gpu/priority_rounds.sh [ROUNDS]
# (WEIGHTED_ROUNDS=0 leaves the weighted runs out.)
set -uo pipefail
LOG_NAME=priority_rounds.log
source "$(dirname "$0")/compute_common.sh"
NEW_RT="$RT"
OLD_RT=$(realpath "$RT_OLD")
BENCH_TAG=native $PY run matmul 6
for round in $(seq "${1:-3}"); do
  BENCH_TAG=alone $PY infer 1000 4
  for label in new old; do
    rt=$NEW_RT; [ $label = old ] && rt=$OLD_RT
    fresh
    BENCH_TAG=priority-$label LD_PRELOAD="$rt" XPOOL_COMPUTE_POLICY=best-effort $PYSIDE run matmul 12 & sleep 4
    BENCH_TAG=priority-$label LD_PRELOAD="$rt" XPOOL_COMPUTE_POLICY=best-effort XPOOL_PRIORITY=high $PY infer 1000 4
    jobs_wait
  done
done
BENCH_TAG=alone $PY infer 1000 4
BENCH_TAG=native $PY run matmul 6
[ "${WEIGHTED_ROUNDS:-1}" != 0 ] && BENCH_TAG=native $PY run graph 6
for round in $(seq "${WEIGHTED_ROUNDS:-${1:-3}}"); do
  fresh; together
  BENCH_TAG=weighted LD_PRELOAD="$NEW_RT" XPOOL_COMPUTE_POLICY=weighted XPOOL_GPU_CORE=30 $PYSIDE run graph 8 &
  BENCH_TAG=weighted LD_PRELOAD="$NEW_RT" XPOOL_COMPUTE_POLICY=weighted XPOOL_GPU_CORE=70 $PYSIDE run graph 8
  jobs_wait
  unset BENCH_START_AT
done
[ "${WEIGHTED_ROUNDS:-1}" != 0 ] && BENCH_TAG=native $PY run graph 6
python3 - "$LOG" <<'PYEOF'
import json, statistics, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
rate = lambda r: statistics.mean(r["per_second"][1:])
native = {w: statistics.mean([rate(r) for r in recs if r["mode"] == "run" and r["tag"] == "native"
                              and r["workload"] == w] or [float("nan")]) for w in ("graph", "matmul")}
alone = [r for r in recs if r["mode"] == "infer" and r["tag"] == "alone"]
print("alone p50 " + " ".join(f"{r['p50_ms']:.2f}" for r in alone) + " ms; p99 " +
      " ".join(f"{r['p99_ms']:.2f}" for r in alone) + " ms")
a50 = statistics.mean(r["p50_ms"] for r in alone); a99 = statistics.mean(r["p99_ms"] for r in alone)
for label in ("new", "old"):
    inf = [r for r in recs if r["tag"] == f"priority-{label}" and r["mode"] == "infer"]
    run = [r for r in recs if r["tag"] == f"priority-{label}" and r["mode"] == "run"]
    print(f"{label}: p50 " + " ".join(f"{r['p50_ms'] / a50:.2f}x" for r in inf) + "; p99 " +
          " ".join(f"{r['p99_ms'] / a99:.2f}x" for r in inf) + "; training " +
          " ".join(f"{100 * rate(r) / native['matmul']:.1f}" for r in run) + " % of unlimited")
w = [r for r in recs if r["tag"] == "weighted"]
for a, b in zip(w[0::2], w[1::2]):
    by = {int(r["env"]["XPOOL_GPU_CORE"]): r for r in (a, b)}
    side = lambda r, first: statistics.mean(r["per_second"][first:-1])  # the last second may be alone
    print(f"weighted graph: ratio {side(by[30], 1) / side(by[70], 1):.3f}, seconds 3-7 "
          f"{side(by[30], 2) / side(by[70], 2):.3f}; "
          f"30 % {[round(x) for x in by[30]['per_second']]}, 70 % {[round(x) for x in by[70]['per_second']]}")
PYEOF
