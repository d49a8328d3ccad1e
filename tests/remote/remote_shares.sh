#!/usr/bin/env bash
# Remote sessions and a local program share one device's arbitration: two remote clients at 30 %
# and a local `xpool exec --gpu-core 30` command on the same fake device appear as three slices of
# one segment in `xpool shares`, each held to its share.
#   remote_shares.sh SERVER PROGRAM RUNTIME_LIB FAKE_DRIVER_DIR CLIENT_DIR XPOOL PROBE
set -uo pipefail
SERVER="$1" PROGRAM="$2" RUNTIME="$3" XPOOL="$6" PROBE="$7"
FAKE="$(realpath "$4")" CLIENT="$(realpath "$5")"
unset CUDA_VISIBLE_DEVICES XPOOL_GPU_MEMORY XPOOL_SLICE XPOOL_GPU_CORE LD_PRELOAD
WORK="$(mktemp -d)"
export XPOOL_COMPUTE_DIR="$WORK" FAKE_CUDA_TIMELINE="$WORK/timeline" FAKE_CUDA_EXPORT_FILE="$WORK/exports"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
printf 'xpool-fake-module\nsaxpy\nfill32\n' >"$WORK/module"

LD_LIBRARY_PATH="$FAKE" "$SERVER" --runtime "$RUNTIME" --slice-dir "$WORK" --listen 127.0.0.1:0 \
  >"$WORK/server" 2>"$WORK/server.err" &
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$WORK/server" && break; sleep 0.05; done
EP="$(sed -n 's/.*listening on //p' "$WORK/server")"
[ -n "$EP" ] || fail "server did not start: $(cat "$WORK/server.err")"

for k in 1 2; do
  XPOOL_REMOTE="$EP" XPOOL_GPU_CORE=30 LD_LIBRARY_PATH="$CLIENT" \
    "$PROGRAM" --module "$WORK/module" run 500 3 >"$WORK/remote$k" 2>&1 &
  PIDS+=($!)
done
LD_LIBRARY_PATH="$FAKE" "$XPOOL" exec --gpu-core 30 -- "$PROBE" ctx 0 run 500 3 kernel \
  >"$WORK/local" 2>&1 &
PIDS+=($!)
sleep 1.2
during=$("$XPOOL" shares --interval 0.6 --json) || fail "xpool shares failed"
wait "${PIDS[@]:1}"
python3 - "$during" <<'PY' || fail "shares: $during"
import json, sys
segments = json.loads(sys.argv[1])
assert len(segments) == 1, segments  # one device, one arbitration
slices = segments[0]["slices"]
names = sorted(s["name"].split("-")[1] for s in slices)
assert names == ["exec", "remote", "remote"], names
for s in slices:
    assert s["share_percent"] == 30 and len(s["pids"]) == 1, s
    assert 0 < s["use_percent"] <= 38, s
PY
grep -q "ran [1-9]" "$WORK/remote1" || fail "remote client 1: $(cat "$WORK/remote1")"
echo "ok: two remote sessions and a local command are three slices of one device at 30 % each"
echo "PASS"
