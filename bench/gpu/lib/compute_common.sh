# Sourced by the compute-share scripts (runtime_compute.sh, compute_repeats.sh) with LOG_NAME set:
# logs to $OUT/$LOG_NAME as well as the terminal, builds the runtime without third-party
# libraries, and defines
#   RT          the runtime library        PY / PYSIDE  a workload pinned to one core / unpinned
#   jobs_wait   waits for background jobs  fresh        removes the devices' compute segments
#   together    side-by-side runs start measuring together, 15 s from now
#   equal_three three matmul processes under equal, started together
#   priority_set  inference alone, beside a training tenant, and beside it at high priority
#   holders     the processes that hold a compute segment open or mapped (either keeps its locks)
OUT="${OUT:-/tmp/xpool-gpu}"
mkdir -p "$OUT"
LOG="$OUT/$LOG_NAME"
exec > >(tee "$LOG") 2>&1
# A bare `wait` would also wait for the tee above (bash >= 5.1): wait for the jobs by pid.
jobs_wait() { for p in $(jobs -p); do wait "$p"; done; }
B=build-gpu
cmake -S . -B $B -G Ninja -DXPOOL_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
cmake --build $B --target xpool-cuda >/dev/null || exit 1
RT="$PWD/$B/libxpool-cuda.so"
# Every workload runs under a time limit. A process measured alone runs on two cores: eager
# launches are CPU-bound, and their rate varies by a third between cores and runs unpinned; the
# second core is the one the default wait (auto) needs to poll instead of sleeping between leases.
PIN=""
command -v taskset >/dev/null && PIN="taskset -c ${PIN_CORES:-3,4}"
PY="timeout ${RUN_LIMIT_S:-90} $PIN python3 bench/gpu/lib/compute_bench.py"
PYSIDE="timeout ${RUN_LIMIT_S:-90} python3 bench/gpu/lib/compute_bench.py"  # side by side: unpinned
fresh() { rm -f /dev/shm/xpool-compute-*; }
together() { export BENCH_START_AT=$(($(date +%s) + 15)); }  # all warmed up by then
equal_three() {
  fresh; together
  for k in 1 2; do BENCH_TAG=equal LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=equal $PYSIDE run matmul 10 & done
  BENCH_TAG=equal LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=equal $PYSIDE run matmul 10
  jobs_wait
  unset BENCH_START_AT
}
priority_set() {
  BENCH_TAG=alone $PY infer 1000 4
  BENCH_TAG=colocated $PYSIDE run matmul 12 & sleep 4; BENCH_TAG=colocated $PY infer 1000 4; jobs_wait
  fresh
  BENCH_TAG=priority LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=best-effort $PYSIDE run matmul 12 & sleep 4
  BENCH_TAG=priority LD_PRELOAD="$RT" XPOOL_COMPUTE_POLICY=best-effort XPOOL_PRIORITY=high $PY infer 1000 4
  jobs_wait
}
holders() {
  for p in /proc/[0-9]*; do
    ls -l "$p/fd" 2>/dev/null | grep -q xpool-compute && echo "descriptor open in ${p#/proc/} ($(cat "$p/comm"))"
    grep -q xpool-compute "$p/maps" 2>/dev/null && echo "mapped in ${p#/proc/} ($(cat "$p/comm"))"
  done
}
