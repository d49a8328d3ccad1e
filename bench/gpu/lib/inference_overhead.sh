#!/usr/bin/env bash
# What the runtime costs an inference step with nothing beside it (compute_bench.py infer), in
# interleaved rounds: without the runtime; preloaded at a 100 % share (launches not intercepted);
# arbitrated best-effort at normal and at high priority. Each with 4 ms between steps (every
# step's first launch takes the pause path) and with none.
# One device-tool call:  bash bench/gpu/lib/inference_overhead.sh [ROUNDS]   (log $OUT/inference_overhead.log)
set -uo pipefail
LOG_NAME=inference_overhead.log
source "$(dirname "$0")/compute_common.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for round in $(seq "${1:-3}"); do
  for gap in 4 0; do
    BENCH_TAG=native-gap$gap $PY infer 600 $gap
    fresh; BENCH_TAG=share100-gap$gap LD_PRELOAD="$RT" XPOOL_GPU_CORE=100 $PY infer 600 $gap
    fresh; BENCH_TAG=normal-gap$gap LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=best-effort $PY infer 600 $gap
    fresh; BENCH_TAG=high-gap$gap LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=best-effort XPOOL_PRIORITY=high $PY infer 600 $gap
  done
done
python3 - "$LOG" <<'PYEOF'
import collections, json, statistics, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = collections.defaultdict(list)
for r in recs:
    by[r["tag"]].append(r)
for gap in (4, 0):
    base = statistics.mean(r["p50_ms"] for r in by[f"native-gap{gap}"])
    for kind in ("native", "share100", "normal", "high"):
        rs = by[f"{kind}-gap{gap}"]
        p50 = " / ".join("%.3f" % r["p50_ms"] for r in rs)
        p99 = " / ".join("%.2f" % r["p99_ms"] for r in rs)
        mean = statistics.mean(r["p50_ms"] for r in rs)
        print(f"gap {gap} ms, {kind}: p50 {p50} ms (mean {mean / base:.3f}x native); p99 {p99} ms")
PYEOF
