#!/usr/bin/env bash
# Is the small-eager loop's noise the host's? One device-tool call (about 5 min):
#   bash bench/gpu/lib/host_noise.sh [ROUNDS]     (log $OUT/host_noise.log; summary by host_noise.py)
# Each run of the small-eager loop (pinned to PIN_CORES, as in runtime_compute.sh) is measured
# beside a pure-Python loop pinned to HOST_CORE, both starting the same second: unlimited, then
# fixed 25 / 50 / 75 %, then unlimited again, ROUNDS times.
set -uo pipefail
LOG_NAME=host_noise.log
source "$(dirname "$0")/compute_common.sh"
ROUNDS="${1:-2}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-12}"
HOST="timeout ${RUN_LIMIT_S:-90} taskset -c ${HOST_CORE:-9} python3 bench/gpu/lib/cpu_loop.py"
steal() { awk '/^cpu /{print $9}' /proc/stat; }
beside() {  # TAG [ENV=VALUE...]: one small-eager run beside the host loop
  local tag=$1; shift
  fresh; export BENCH_START_AT=$(($(date +%s) + 8))
  BENCH_TAG=$tag $HOST "$SECONDS_PER_RUN" &
  env BENCH_TAG="$tag" "$@" $PY run small "$SECONDS_PER_RUN"
  jobs_wait; unset BENCH_START_AT
}
echo "INFO  $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo); steal jiffies before: $(steal)"
for round in $(seq "$ROUNDS"); do
  beside native
  for share in 25 50 75; do beside "fixed$share" LD_PRELOAD="$RT" XPOOL_GPU_CORE=$share; done
done
beside native
echo "INFO  steal jiffies after: $(steal)"
python3 bench/gpu/lib/host_noise.py "$LOG"
