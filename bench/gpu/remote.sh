#!/usr/bin/env bash
# The remote GPU on a real GPU (issue 26's figures): builds the runtime-only configuration, a
# cubin of remote_kernels.cu and the driver-API program, then runs the program locally and
# through a remote session over loopback TCP in the same call, and the loopback baseline.
#   bash bench/gpu/remote.sh        (from the repository root on the GPU machine; OUT=dir)
# Prints: the two outputs and whether they are identical, the client's mapped driver, the
# round trip of an empty synchronisation and launches per second, remote and local, and the
# loopback TCP round trip.
set -euo pipefail
OUT="${OUT:-/tmp/xpool-remote}"
B=build-gpu
mkdir -p "$OUT"
cmake -S . -B "$B" -G Ninja -DXPOOL_RUNTIME_ONLY=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j "$(nproc)" --target xpool-cuda xpool-remote-server xpool-remote-cuda >/dev/null
g++ -O2 -std=c++20 -Isrc tests/fake_driver/driver_program.cc -ldl -o "$B/driver_program"
g++ -O2 bench/loopback_pingpong.cc -o "$B/loopback_pingpong"
nvcc -cubin -arch=sm_90 bench/gpu/lib/remote_kernels.cu -o "$B/kernels.cubin"
"$B/xpool-remote-server" --listen 127.0.0.1:0 --runtime "$B/libxpool-cuda.so" >"$OUT/server.out" \
  2>"$OUT/server.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null' EXIT
for _ in $(seq 100); do grep -q listening "$OUT/server.out" && break; sleep 0.05; done
EP="$(sed -n 's/.*listening on //p' "$OUT/server.out")"
STEPS=(--module "$B/kernels.cubin" describe compute 50000000 maps)
CUDA_VISIBLE_DEVICES=0 "$B/driver_program" "${STEPS[@]}" >"$OUT/local.txt" 2>&1
XPOOL_REMOTE="$EP" LD_LIBRARY_PATH="$PWD/$B/remote" "$B/driver_program" "${STEPS[@]}" \
  >"$OUT/remote.txt" 2>&1
echo "== local";  cat "$OUT/local.txt"
echo "== remote"; cat "$OUT/remote.txt"
if diff <(grep -v '^driver ' "$OUT/local.txt") <(grep -v '^driver ' "$OUT/remote.txt") >/dev/null; then
  echo "results: identical"
else
  echo "results: DIFFER"
fi
echo "== local bench";  CUDA_VISIBLE_DEVICES=0 "$B/driver_program" --module "$B/kernels.cubin" bench 6
echo "== remote bench"; XPOOL_REMOTE="$EP" LD_LIBRARY_PATH="$PWD/$B/remote" \
  "$B/driver_program" --module "$B/kernels.cubin" bench 6
echo "== baseline"; "$B/loopback_pingpong"
cat "$OUT/server.err"
