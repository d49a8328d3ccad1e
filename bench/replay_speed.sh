#!/usr/bin/env bash
# Times one full replay of the default trace (1.3x inflation, one seed) per policy, pinned to one
# core, best of 5, with the FGD and best-fit baselines measured in the same run.
# Usage: bench/replay_speed.sh [TRACE_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
T="${1:-../shared/traces/alibaba-gpu-2023}"
for policy in xpool fgd best-fit; do
  best=""
  for _ in 1 2 3 4 5; do
    s=$(taskset -c 0 build/xpool sim --nodes "$T/openb_node_list_gpu_node.csv" --pods "$T/openb_pod_list_default.csv" \
      --policy "$policy" --seeds 42 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["wall_seconds"])')
    best=$(python3 -c "print(min(float('$s'), float('${best:-1e9}')))")
  done
  echo "$policy: best wall seconds for one replay: $best"
done
