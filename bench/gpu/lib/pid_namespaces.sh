#!/usr/bin/env bash
# Two processes on one GPU, each in a PID namespace of its own (as two pods are, both pid 1),
# under weighted 30:70 with bf16 products: this runtime, and with RT_OLD set an older one in the
# same call. Each gets a /proc of its own too, as in a pod (without one, CUDA fails to start: error
# 304, "OS call failed"). Needs root (unshare --pid --mount-proc); prints SKIP without it.
# One device-tool call:  RT_OLD=scratch/libxpool-cuda-OLD.so bash bench/gpu/lib/pid_namespaces.sh
set -uo pipefail
LOG_NAME=pid_namespaces.log
source "$(dirname "$0")/compute_common.sh"
if ! unshare --pid --fork --kill-child --mount-proc true 2>/dev/null; then echo "SKIP: unshare --pid needs root"; exit 0; fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
NS="timeout ${RUN_LIMIT_S:-90} unshare --pid --fork --kill-child --mount-proc python3 bench/gpu/lib/compute_bench.py"
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
import statistics, sys
sys.path.insert(0, "bench/gpu")
from records import load, rate, weighted_pair
recs = load(sys.argv[1])
native = statistics.mean(rate(r) for r in recs if r["tag"] == "native")
for label in ("new", "old"):
    pair = weighted_pair([r for r in recs if r["tag"] == f"pidns-{label}"])
    if pair:
        print(f"{label}: weighted 30:70 in two PID namespaces, ratio {pair[0] / pair[1]:.3f} (target "
              f"0.429), together {100 * sum(pair) / native:.1f} % of unlimited")
PYEOF
