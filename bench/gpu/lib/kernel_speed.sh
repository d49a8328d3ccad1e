#!/usr/bin/env bash
# Why bf16 products under fixed shares do more work than their share of the device's time. For
# products alone, unlimited and at fixed 25 / 50 / 75 % (default period), it reads:
#   - throughput against the unlimited runs around them;
#   - the device time the slice's leases held (held_time.py, from the arbitration segment);
#   - each product's own GPU time (timed events around every 25th, median).
# If throughput = held share x (a product's GPU time unlimited / at the share), the time share is
# exact and the rest is each product running faster on a card that idles between leases.
# One device-tool call:  bash bench/gpu/lib/kernel_speed.sh   (log $OUT/kernel_speed.log)
set -uo pipefail
LOG_NAME=kernel_speed.log
source "$(dirname "$0")/compute_common.sh"
nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader
S=8
export BENCH_KERNEL_TIME=1
BENCH_TAG=native $PY run matmul $S
for share in 25 50 75; do
  fresh
  python3 bench/gpu/lib/held_time.py $((S + 8)) &
  BENCH_TAG=fixed LD_PRELOAD="$RT" XPOOL_GPU_CORE=$share $PY run matmul $S
  jobs_wait
done
BENCH_TAG=native $PY run matmul $S

python3 - "$LOG" <<'PYEOF'
import json, statistics, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
rate = lambda r: statistics.mean(r["per_second"][1:])
native = [r for r in recs if r.get("tag") == "native"]
fixed = [r for r in recs if r.get("tag") == "fixed"]
held = [r for r in recs if r["mode"] == "held"]
base_rate = statistics.mean(rate(r) for r in native)
base_ms = statistics.mean(r["step_gpu_ms"] for r in native)
rates = ", ".join("%.0f" % rate(r) for r in native)
times = ", ".join("%.1f" % (r["step_gpu_ms"] * 1e3) for r in native)
print(f"unlimited: {base_rate:.0f} it/s ({rates}), a product {base_ms * 1e3:.1f} us of GPU time ({times})")
for r, h in zip(fixed, held):
    share = int(r["env"]["XPOOL_GPU_CORE"])
    # The seconds the workload ran: the sampler also covers its start-up and its exit.
    busy = [x for x in h["percent_per_second"] if x >= share / 2]
    held_pct = statistics.median(busy) if busy else float("nan")
    speed = base_ms / r["step_gpu_ms"]
    got = 100 * rate(r) / base_rate
    print(f"fixed {share} %: throughput {got:.1f} % of unlimited; leases held {held_pct:.1f} % of "
          f"the time; a product {r['step_gpu_ms'] * 1e3:.1f} us ({speed:.3f}x as fast); held x speed "
          f"= {held_pct * speed:.1f} %")
PYEOF
