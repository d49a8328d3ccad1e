#!/usr/bin/env bash
# Validates the runtime's memory isolation on a real GPU and measures its overhead; one call of
# the device tool runs all of it from the repository root:
#   bash bench/gpu/runtime_memory.sh            (results in $OUT/runtime_memory.log when OUT is set)
# Builds the runtime with -DXPOOL_RUNTIME_ONLY=ON (CMake, a compiler and CUDA are all it needs).
set -uo pipefail
OUT="${OUT:-/tmp/xpool-gpu}"
mkdir -p "$OUT"
LOG="$OUT/runtime_memory.log"
exec > >(tee "$LOG") 2>&1

B=build-gpu
cmake -S . -B $B -G Ninja -DXPOOL_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
cmake --build $B --target xpool-cuda >/dev/null || exit 1
RT="$PWD/$B/libxpool-cuda.so"
nvcc -O2 -arch=sm_90 -o $B/driver_checks bench/gpu/lib/driver_checks.cu -lcuda || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
PY="python3 bench/gpu/lib/torch_slice.py"
slice() { echo "/dev/shm/xpool-bench-$1"; }
inslice() {  # inslice QUOTA SLICE_NAME CMD...
  local q="$1" s="$2"; shift 2
  rm -f "$(slice "$s")"
  LD_PRELOAD="$RT" XPOOL_GPU_MEMORY="$q" XPOOL_SLICE="$(slice "$s")" "$@"
}

echo "== 1. PyTorch fills a 4 GiB slice in 64 MiB steps"
for conf in "" "expandable_segments:True" "backend:cudaMallocAsync"; do
  PYTORCH_CUDA_ALLOC_CONF="$conf" inslice 4Gi oom$RANDOM $PY oom 64
done
echo "== 2. The view inside the slice"
inslice 4Gi view $PY view
echo "== 3. Two processes share one slice; SIGKILL frees the share"
inslice 4Gi two $PY two 64 4096
echo "== 4. CUDA C++ on the driver API: VMM, arrays, managed under 1 GiB"
inslice 1Gi drv $B/driver_checks quota
echo "== 4b. VMM memory imported from another slice is charged while mapped; from the same slice, not twice"
SOCK=/tmp/xpool-vmm.sock
inslice 8Gi exp $B/driver_checks export 512 $SOCK & EXP=$!
inslice 2Gi imp $B/driver_checks import $SOCK
kill $EXP; wait $EXP 2>/dev/null
rm -f "$(slice same)"
LD_PRELOAD="$RT" XPOOL_GPU_MEMORY=4Gi XPOOL_SLICE="$(slice same)" $B/driver_checks export 512 $SOCK & EXP=$!
sleep 2
echo -n "same-slice "; LD_PRELOAD="$RT" XPOOL_GPU_MEMORY=4Gi XPOOL_SLICE="$(slice same)" $B/driver_checks import $SOCK
kill $EXP; wait $EXP 2>/dev/null
echo "== 5. No quota: bitwise the same result"
$PY determinism /tmp/det_native.pt
LD_PRELOAD="$RT" $PY determinism /tmp/det_runtime.pt
python3 -c "import torch; a=torch.load('/tmp/det_native.pt'); b=torch.load('/tmp/det_runtime.pt'); print('bitwise_equal', torch.equal(a,b) and a.view(torch.int32).equal(b.view(torch.int32)))"
echo "== 6. Overhead (native, runtime, native, runtime)"
for i in 1 2 3; do
  $B/driver_checks overhead
  LD_PRELOAD="$RT" $B/driver_checks overhead
done
# ABBA order, so that a drift across runs (clocks, caches) weighs on both sides alike.
for order in native runtime runtime native native runtime runtime native; do
  if [ $order = native ]; then $PY gpt2 100; else LD_PRELOAD="$RT" $PY gpt2 100; fi
done
python3 bench/gpu/lib/check_runtime_log.py "$LOG"
