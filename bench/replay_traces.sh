#!/usr/bin/env bash
# Replays every pod list of the Alibaba openb trace with the given policies (default: fgd and
# xpool; "all" for every policy) over seeds 42-51 and prints one line per (trace, policy):
# allocation % at 100 % arrived, unallocated GPUs there, and the published figure.
# Usage: bench/replay_traces.sh [TRACE_DIR] [POLICIES] [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
TRACES="${1:-../shared/traces/alibaba-gpu-2023}"
POLICIES="${2:-fgd,xpool}"
SEEDS="${3:-42-51}"
printf '%-32s %-15s %10s %12s %12s %9s\n' trace policy alloc@100 unalloc@100 published wall_s
for pods in "$TRACES"/openb_pod_list_*.csv; do
  name="$(basename "$pods" .csv)"
  build/xpool sim --nodes "$TRACES/openb_node_list_gpu_node.csv" --pods "$pods" --policy "$POLICIES" \
    --seeds "$SEEDS" --json |
    python3 -c '
import json, sys
name = sys.argv[1]
for r in json.load(sys.stdin):
    pub = r.get("published", {}).get("alloc_pct_at_arrived", {}).get("100")
    pub_s = "%.2f" % pub if pub is not None else "-"
    print("%-32s %-15s %10.2f %12.0f %12s %9.2f" % (name, r["policy"], r["alloc_pct_at_arrived"]["100"],
          r["unallocated_gpus_at_100"], pub_s, r["wall_seconds"]))
' "$name"
done
