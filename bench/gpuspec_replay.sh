#!/usr/bin/env bash
# Model-constrained variants of the default openb trace (bench/gpuspec_variants.py) replayed with
# fgd, xpool and best-fit: allocation % at 100 % arrived, mean of seeds 42-51, one line per variant.
# Usage: bench/gpuspec_replay.sh [TRACE_DIR] [SEED] [WEIGHTS...]   (default: seed 7, all weights)
set -euo pipefail
cd "$(dirname "$0")/.."
TRACES="${1:-../shared/traces/alibaba-gpu-2023}"
SEED="${2:-7}"
shift $(($# > 2 ? 2 : $#))
WEIGHTS=("${@:-published capacity uniform}")
OUT="${TMPDIR:-/tmp}/xpool-gpuspec-$SEED"
mkdir -p "$OUT"
printf '%-10s %-9s %11s %8s %8s %9s\n' weights fraction constrained fgd xpool best-fit
for w in ${WEIGHTS[*]}; do
  for f in 05 10 20 25 33; do
    pods="$OUT/openb_pod_list_$w$f.csv"
    python3 bench/gpuspec_variants.py --pods "$TRACES/openb_pod_list_default.csv" \
      --nodes "$TRACES/openb_node_list_gpu_node.csv" --fraction "0.$f" --seed "$SEED" \
      --weights "$w" --out "$pods" 2>"$OUT/gen.log"
    constrained=$(sed -n 's/.*: \([0-9]*\) of .*/\1/p' "$OUT/gen.log")
    build/xpool sim --nodes "$TRACES/openb_node_list_gpu_node.csv" --pods "$pods" \
      --policy fgd,xpool,best-fit --json --published /dev/null |
      python3 -c '
import json, sys
r = {x["policy"]: x["alloc_pct_at_arrived"]["100"] for x in json.load(sys.stdin)}
print("%-10s %-9s %11s %8.2f %8.2f %9.2f" % (sys.argv[1], sys.argv[2] + " %", sys.argv[3],
      r["fgd"], r["xpool"], r["best-fit"]))
' "$w" "$f" "$constrained"
  done
done
