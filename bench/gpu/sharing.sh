#!/usr/bin/env bash
# Issue 24's suite: the programs users run (bench/gpu/lib/user_workloads.py), side by side with no
# sharing layer and as slices under the runtime, in one call on one GPU. Prints one JSON line per
# process and, at the end, each case's efficiency (the sum of each process's throughput over its
# own unshared side-by-side throughput, as a share of the device) and each slice's part of it.
#   CASES="tt td ww"   which pairs (train+train 30/70, train+decode 50/50, train-wait x2 50/50)
#   QUEUES="1000 10000"  XPOOL_COMPUTE_QUEUE_US values to try under each policy
#   POLICIES="weighted fixed"   SECONDS_PER_RUN=8
#   ALONE="train decode"   workloads first measured alone (ALONE= for none)
#   PROCESS_UTIL=1   also sample NVML's per-process SM utilisation over each measured window
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/xpool-gpu}"
mkdir -p "$OUT"
LOG="$OUT/sharing.jsonl"
: >"$LOG"
B=build-gpu
cmake -S . -B $B -G Ninja -DXPOOL_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
cmake --build $B --target xpool-cuda >/dev/null || exit 1
RT="$PWD/$B/libxpool-cuda.so"
SECS="${SECONDS_PER_RUN:-8}"
W="timeout 120 python3 bench/gpu/lib/user_workloads.py"
fresh() { rm -f /dev/shm/xpool-compute-*; }
# pair CASE TAG WORKLOAD_A SHARE_A WORKLOAD_B SHARE_B [ENV...]: both measured over the same seconds
pair() {
  local case="$1" tag="$2" wa="$3" sa="$4" wb="$5" sb="$6"
  shift 6
  fresh
  export BENCH_START_AT=$(($(date +%s) + ${WARM_S:-25}))
  export BENCH_STOP_AT=$((BENCH_START_AT + SECS + ${PAD_S:-6}))
  if [ "${PROCESS_UTIL:-0}" = 1 ]; then
    BENCH_TAG="$case/$tag/util" timeout 120 python3 bench/gpu/lib/process_util.py "$SECS" >>"$LOG" &
  fi
  if [ "$tag" = base ]; then
    BENCH_TAG="$case/$tag/a" $W "$wa" "$SECS" >>"$LOG" &
    BENCH_TAG="$case/$tag/b" $W "$wb" "$SECS" >>"$LOG"
  else
    env "$@" XPOOL_GPU_CORE="$sa" BENCH_TAG="$case/$tag/a" LD_PRELOAD="$RT" $W "$wa" "$SECS" >>"$LOG" &
    env "$@" XPOOL_GPU_CORE="$sb" BENCH_TAG="$case/$tag/b" LD_PRELOAD="$RT" $W "$wb" "$SECS" >>"$LOG"
  fi
  for p in $(jobs -p); do wait "$p"; done
  unset BENCH_START_AT BENCH_STOP_AT
  tail -3 "$LOG"
}
nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader
for w in ${ALONE-train decode}; do BENCH_TAG="alone/$w" $W "$w" "$SECS" | tee -a "$LOG"; done
for c in ${CASES:-tt td ww}; do
  case "$c" in
    tt) args=(train 30 train 70) ;;
    td) args=(train 50 decode 50) ;;
    ww) args=(train-wait 50 train-wait 50) ;;
    dg) args=(decode-graph 10 train 90) ;;
  esac
  pair "$c" base "${args[@]}"
  for policy in ${POLICIES:-weighted fixed}; do
    for q in ${QUEUES:-1000 10000}; do
      pair "$c" "$policy-q$q" "${args[@]}" XPOOL_COMPUTE_POLICY="$policy" XPOOL_COMPUTE_QUEUE_US="$q"
    done
  done
done
python3 - "$LOG" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {r["tag"]: r for r in rows}
print("case/run: efficiency %, parts (share) — each process over its own unshared side-by-side rate")
for tag, r in by.items():
    case, run, who = (tag.split("/") + ["", ""])[:3]
    if who != "a" or run == "base":
        continue
    a, b = r, by.get(f"{case}/{run}/b")
    ba, bb = by.get(f"{case}/base/a"), by.get(f"{case}/base/b")
    if not (b and ba and bb):
        continue
    na, nb = a["mean"] / ba["mean"], b["mean"] / bb["mean"]
    sa, sb = a["env"].get("XPOOL_GPU_CORE"), b["env"].get("XPOOL_GPU_CORE")
    late = max(x.get("late_s", 0) for x in (a, b, ba, bb))
    print(f"{case}/{run}: {100 * (na + nb) / 2:.1f} %  a {a['mean']:.2f}/s = {100 * na / (na + nb):.1f} % "
          f"(share {sa}), b {b['mean']:.2f}/s = {100 * nb / (na + nb):.1f} % (share {sb}); "
          f"base {ba['mean']:.2f} + {bb['mean']:.2f}" + (f"  UNRELIABLE: a process was {late:.1f} s late" if late > 0.5 else ""))
    util = by.get(f"{case}/{run}/util")
    if util:
        ua, ub = (util["sm"].get(str(x.get("pid")), 0) for x in (a, b))
        if ua + ub:
            print(f"    NVML SM: a {ua:.1f} %, b {ub:.1f} % -> a's part {100 * ua / (ua + ub):.1f} %")
PY
