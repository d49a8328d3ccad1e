#!/usr/bin/env bash
# Fixed shares where the device is kept busy, to tell the runtime's accuracy apart from what a
# lone, idling slice gains or loses outside it. One device-tool call:
#   bash bench/gpu/lib/busy_device.sh [ROUNDS]        (log $OUT/busy_device.log; ROUNDS default 2)
# 1. stream: 1024 element-wise kernels per iteration on 8 Mi floats (~20 us of GPU each, more
#    than a launch costs the CPU), so the GPU, not the launching CPU, bounds the rate; fixed 10 /
#    25 / 50 / 75 % and best-effort alone, each run between two unlimited runs
#    (rounds_summary.py divides it by their mean).
# 2. bf16 products at fixed X % beside a fixed (100 - X) % slice of the same products started
#    with it: together they keep the device saturated, so its clocks stay at their saturated level
#    as in the unlimited run. The X % process's rate, all but its first and last second, against
#    the unlimited runs before and after the pair.
# 3. steadiness on a busy device: bf16 products at fixed 30 % for 30 s beside a fixed 70 % filler;
#    each second against 30 % of the unlimited runs before and after.
# PARTS picks among "stream filled steady" (default: all three).
set -uo pipefail
LOG_NAME=busy_device.log
source "$(dirname "$0")/compute_common.sh"
S=${SECONDS_PER_RUN:-4}
nproc; uptime; nvidia-smi --query-gpu=name,power.limit,clocks.max.sm --format=csv,noheader
PARTS=${PARTS:-stream filled steady}
part() { [[ " $PARTS " == *" $1 "* ]]; }
if part stream; then
BENCH_KERNEL_TIME=1 BENCH_TAG=native $PY run stream $S
for round in $(seq "${1:-2}"); do
  for share in 10 25 50 75; do
    fresh; BENCH_TAG=fixed-$share LD_PRELOAD="$RT" XPOOL_GPU_CORE=$share $PY run stream $S
    BENCH_TAG=native $PY run stream $S
  done
  fresh; BENCH_TAG=best-effort LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=best-effort $PY run stream $S
  BENCH_TAG=native $PY run stream $S
done
python3 bench/gpu/lib/rounds_summary.py "$LOG"
fi
if part filled; then
echo "== bf16 products at X % beside (100 - X) %"
BENCH_TAG=native $PY run matmul $S
for share in 10 25 50 75; do
  fresh; together
  BENCH_TAG=filler LD_PRELOAD="$RT" XPOOL_GPU_CORE=$((100 - share)) $PYSIDE run matmul $((S + 2)) &
  BENCH_TAG=filled-$share LD_PRELOAD="$RT" XPOOL_GPU_CORE=$share $PYSIDE run matmul $((S + 2))
  jobs_wait; unset BENCH_START_AT
  BENCH_TAG=native $PY run matmul $S
done
python3 - "$LOG" <<'PY'
import sys
sys.path.insert(0, "bench/gpu")
import records
runs = [r for r in records.load(sys.argv[1]) if r.get("workload") == "matmul"]
for i, r in enumerate(runs):
    if not r["tag"].startswith("filled-"):
        continue
    filler = next(f for f in runs[i - 1:i + 2] if f["tag"] == "filler")
    base = records.around(runs, i)
    print(f"matmul fixed {r['tag'][7:]} % beside {filler['env']['XPOOL_GPU_CORE']} %: "
          f"{100 * records.side_rate(r) / base:.1f} % of unlimited ({base:.0f} it/s); the filler "
          f"{100 * records.side_rate(filler) / base:.1f} %")
PY
fi
if part steady; then
echo "== bf16 products at 30 % for 30 s beside a 70 % filler"
BENCH_TAG=native $PY run matmul $S
fresh; together
BENCH_TAG=filler LD_PRELOAD="$RT" XPOOL_GPU_CORE=70 $PYSIDE run matmul 33 &
BENCH_TAG=steady-filled LD_PRELOAD="$RT" XPOOL_GPU_CORE=30 $PYSIDE run matmul 31
jobs_wait; unset BENCH_START_AT
BENCH_TAG=native $PY run matmul $S
python3 - "$LOG" <<'PY'
import statistics, sys
sys.path.insert(0, "bench/gpu")
import records
runs = [r for r in records.load(sys.argv[1]) if r.get("workload") == "matmul"]
i = max(k for k, r in enumerate(runs) if r["tag"] == "steady-filled")
target = 0.3 * records.around(runs, i)
dev = records.deviations(runs[i], target)
print(f"matmul fixed 30 % beside 70 %, 31 s: first second {dev[0]:+.1f} %, seconds "
      f"{min(dev):+.1f} .. {max(dev):+.1f} % of the target ({target:.0f} it/s), mean "
      f"{statistics.mean(dev):+.1f} %")
PY
fi
