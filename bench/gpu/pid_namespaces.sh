#!/usr/bin/env bash
# Two processes on one GPU, each in a PID namespace of its own (as two pods are, both pid 1),
# under weighted 30:70 with bf16 products: this runtime, and with RT_OLD set an older one in the
# same call. Each gets a /proc of its own too, as in a pod (without one, CUDA fails to start: error
# 304, "OS call failed"). Needs root (unshare --pid --mount-proc); prints SKIP without it.
# One device-tool call:  RT_OLD=scratch/libxpool-cuda-OLD.so bash bench/gpu/pid_namespaces.sh
set -uo pipefail
LOG_NAME=pid_namespaces.log
source "$(dirname "$0")/compute_common.sh"
if ! unshare --pid --fork --kill-child --mount-proc true 2>/dev/null; then echo "SKIP: unshare --pid needs root"; exit 0; fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
NS="timeout ${RUN_LIMIT_S:-90} unshare --pid --fork --kill-child --mount-proc python3 bench/gpu/compute_bench.py"
runtimes="new"
[ -n "${RT_OLD:-}" ] && runtimes="new old"
BENCH_TAG=native $PY run matmul 6
for label in $runtimes; do
  rt="$RT"; [ $label = old ] && rt=$(realpath "$RT_OLD")
  fresh; together
  BENCH_TAG=pidns-$label LD_PRELOAD="$rt" XPOOL_COMPUTE_POLICY=weighted XPOOL_GPU_CORE=30 $NS run matmul 8 &
  BENCH_TAG=pidns-$label LD_PRELOAD="$rt" XPOOL_COMPUTE_POLICY=weighted XPOOL_GPU_CORE=70 $NS run matmul 8
  jobs_wait
  unset BENCH_START_AT
done
python3 - "$LOG" <<'PYEOF'
import json, statistics, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
native = statistics.mean(statistics.mean(r["per_second"][1:]) for r in recs if r["tag"] == "native")
side = lambda r: statistics.mean(r["per_second"][1:-1])  # the last second may be alone
for label in ("new", "old"):
    w = [r for r in recs if r["tag"] == f"pidns-{label}"]
    if len(w) == 2:
        by = {int(r["env"]["XPOOL_GPU_CORE"]): side(r) for r in w}
        print(f"{label}: weighted 30:70 in two PID namespaces, ratio {by[30] / by[70]:.3f} (target "
              f"0.429), together {100 * (by[30] + by[70]) / native:.1f} % of unlimited")
PYEOF
