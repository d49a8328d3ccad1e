#!/usr/bin/env bash
# Fixed slices whose shares add up to the whole device, all busy at once: does each get its share,
# and is the device kept full? One device-tool call (about 5 min with the defaults):
#   RT_OLD=path/to/an/older/libxpool-cuda.so bash bench/gpu/fixed_fill.sh [ROUNDS]
# (log $OUT/fixed_fill.log; RT_OLD optional: without it only this tree's runtime is measured;
# about 7 min with it, over the device tool's 10-min limit per call at ROUNDS 3).
# Each round, for each runtime: four processes of CUDA-graph replays at fixed 10 / 20 / 30 / 40 %,
# started together, then an unlimited graph run; two processes of bf16 products at fixed 10 and
# 90 %, then an unlimited products run; two processes of bf16 products at fixed 70 % with a 500 ms
# period (XPOOL_COMPUTE_PERIOD_MS=500) and 30 % with the default one, then an unlimited products
# run. Each process's rate, all but its first and last second, is divided by the mean of the
# unlimited runs of its workload just before and after.
set -uo pipefail
LOG_NAME=fixed_fill.log
source "$(dirname "$0")/compute_common.sh"
S=${SECONDS_PER_RUN:-6}
RUNTIMES="new=$RT"
[[ -n "${RT_OLD:-}" ]] && RUNTIMES="old=$(realpath "$RT_OLD") $RUNTIMES"
nvidia-smi --query-gpu=name,power.limit --format=csv,noheader
side_by_side() {  # RUNTIME TAG WORKLOAD SHARE[@PERIOD_MS]...
  local rt=$1 tag=$2 workload=$3; shift 3
  fresh; together
  for slice in "$@"; do
    local period=(); [[ $slice == *@* ]] && period=(XPOOL_COMPUTE_PERIOD_MS="${slice#*@}")
    env BENCH_TAG="$tag" LD_PRELOAD="$rt" XPOOL_GPU_CORE="${slice%@*}" "${period[@]}" \
      $PYSIDE run "$workload" $((S + 2)) &
  done
  jobs_wait; unset BENCH_START_AT
}
BENCH_TAG=native $PY run graph "$S"
BENCH_TAG=native $PY run matmul "$S"
for round in $(seq "${1:-2}"); do
  for named in $RUNTIMES; do
    side_by_side "${named#*=}" "${named%%=*}" graph 10 20 30 40
    BENCH_TAG=native $PY run graph "$S"
    side_by_side "${named#*=}" "${named%%=*}" matmul 10 90
    BENCH_TAG=native $PY run matmul "$S"
    side_by_side "${named#*=}" "${named%%=*}-periods" matmul 70@500 30
    BENCH_TAG=native $PY run matmul "$S"
  done
done
python3 - "$LOG" <<'PY'
import itertools, sys
sys.path.insert(0, "bench/gpu")
import records
for workload in ("graph", "matmul"):
    runs = [r for r in records.load(sys.argv[1]) if r.get("workload") == workload]
    # The processes of one side-by-side setting are consecutive runs with one tag.
    for tag, same in itertools.groupby(range(len(runs)), key=lambda k: runs[k]["tag"]):
        if tag == "native":
            continue
        group = list(same)
        base = records.around(runs, group[-1])
        shares = {}
        for k in group:
            env = runs[k]["env"]
            label = env["XPOOL_GPU_CORE"] + " %"
            if env.get("XPOOL_COMPUTE_PERIOD_MS"):
                label += f" ({env['XPOOL_COMPUTE_PERIOD_MS']} ms)"
            shares[label] = 100 * records.side_rate(runs[k]) / base
        cells = " / ".join(f"{s}: {v:.1f}" for s, v in shares.items())
        print(f"{workload} {tag}: {cells}; the device {sum(shares.values()):.1f} % "
              f"(unlimited {base:.0f} it/s)")
PY
