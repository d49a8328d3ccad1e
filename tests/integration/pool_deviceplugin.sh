#!/usr/bin/env bash
# The agent's Kubernetes device plugin against a kubelet harness (tests/tools/kubelet_harness.cc)
# over unix sockets: registration (asking for PreStartContainer), options, the device list with
# NUMA, a preferred allocation that keeps to one GPU, Allocate's environment and mounts (the
# container sees its slice's own folder, its settings file read-only and its GPU's arbitration
# file, never the agent's --slice-dir), the quotas written when the container starts (a pod the
# extender did not place: k/split), refusal of an unknown device, and registering again when the
# kubelet's socket is recreated. GPUs: the fake NVML's two H100s.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
export LD_LIBRARY_PATH="$BIN/fake_driver" FAKE_CUDA_DEVICES=2 FAKE_CUDA_DEVICE_MIB=81920
mkdir -p "$WORK/plugins" "$WORK/shm"
SHM="$WORK/shm"

"$BIN/kubelet_harness" "$WORK/plugins" >"$WORK/kubelet.log" 2>&1 &
HARNESS=$!
pids+=($HARNESS)
for _ in $(seq 100); do grep -q "kubelet ready" "$WORK/kubelet.log" && break; sleep 0.05; done
"$BIN/xpool-controller" --listen 127.0.0.1:0 --metrics "" --data "$WORK/data" >"$WORK/c.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$WORK/c.log" && break; sleep 0.05; done
"$BIN/xpool-agent" --controller "$(sed -n 's/.*listening on \([^ ,]*\),.*/\1/p' "$WORK/c.log")" \
  --state-dir "$WORK/state" --device-plugin-dir "$WORK/plugins" --device-plugin-split 4 \
  --slice-dir "$SHM" --pod-resources-socket "$WORK/plugins/pod-resources.sock" \
  "${RUN_AS[@]}" >"$WORK/agent.log" 2>&1 &
AGENT=$!
pids+=($AGENT)
wait $HARNESS
rc=$?
out=$(cat "$WORK/kubelet.log")
[ $rc -eq 0 ] || fail "the harness failed ($rc): $out $(cat "$WORK/agent.log")"
U0=GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadae00
echo "$out" | grep -q '^registered xpool.io/gpu endpoint xpool.sock version v1beta1 preferred 1 prestart 1$' || fail "registration: $out"
echo "$out" | grep -q '^options preferred 1 prestart 1$' || fail "options: $out"
echo "$out" | grep -q "^devices 8 healthy 8 first $U0::0 numa " || fail "device list: $out"
echo "$out" | grep -qE "^preferred ($U0::[0-3] ){3}\$" || fail "a preferred allocation spread over GPUs: $out"
# 3 of 4 virtual devices of one 80 GiB GPU: the runtime mounted, a slice folder named after the
# device ids, an empty settings file until the container starts, then 75 % of its memory and
# compute in it.
ARB=xpool-compute-v5-$U0
SLICE=$(echo "$out" | sed -n 's|^allocated .*XPOOL_SLICE=/var/run/xpool/slice/\(xpool-k8s-[0-9a-f]\{16\}\) .*|\1|p')
[ -n "$SLICE" ] || fail "no slice named after the device ids: $out"
echo "$out" | grep -q "^allocated CUDA_VISIBLE_DEVICES=$U0 XPOOL_SLICE=/var/run/xpool/slice/$SLICE XPOOL_SLICE_SETTINGS=/var/run/xpool/settings XPOOL_COMPUTE_DIR=/var/run/xpool/compute mounts [^ ]*:/usr/local/xpool/lib/libxpool-cuda.so:ro [^ ]*:/etc/ld.so.preload:ro $SHM/xpool-pods/$SLICE:/var/run/xpool/slice $SHM/xpool-pods/$SLICE.settings:/var/run/xpool/settings:ro $SHM/$ARB:/var/run/xpool/compute/$ARB devices [0-9]*\$" ||
  fail "allocate: $out"
echo "$out" | grep -q "^started default/p/c: XPOOL_GPU_CORE=75 XPOOL_GPU_MEMORY=61440\$" ||
  fail "the settings written at the container's start: $out $(cat "$WORK/agent.log")"
[ -f "$SHM/$ARB" ] && [ "$(stat -c %a "$SHM/$ARB")" = 666 ] || fail "no arbitration file for $U0 in --slice-dir"
[ "$(stat -c %a "$SHM/xpool-pods")" = 711 ] || fail "the pods' folder can be listed: $(stat -c %a "$SHM/xpool-pods")"
[ "$(stat -c %a "$SHM/xpool-pods/$SLICE")" = 777 ] || fail "the slice's folder: $(ls -la "$SHM/xpool-pods")"
[ "$(stat -c %a "$SHM/xpool-pods/$SLICE.settings")" = 644 ] || fail "the settings file can be written by the container's users: $(ls -la "$SHM/xpool-pods")"
echo "$out" | grep -q '^unknown device: refused$' || fail "an unknown device was accepted: $out"
echo "$out" | grep -q '^registered again xpool.io/gpu$' || fail "no re-registration after the kubelet restarted: $out"

# CDI: the spec names each GPU by UUID with its device node and the driver's shared nodes, and a
# container is given its GPU by that name instead of device nodes.
kill "$AGENT" 2>/dev/null
wait "$AGENT" 2>/dev/null
mkdir -p "$WORK/plugins2" "$WORK/cdi"
"$BIN/kubelet_harness" "$WORK/plugins2" >"$WORK/kubelet2.log" 2>&1 &
HARNESS=$!
pids+=($HARNESS)
for _ in $(seq 100); do grep -q "kubelet ready" "$WORK/kubelet2.log" && break; sleep 0.05; done
"$BIN/xpool-agent" --controller "$(sed -n 's/.*listening on \([^ ,]*\),.*/\1/p' "$WORK/c.log")" \
  --state-dir "$WORK/state2" --device-plugin-dir "$WORK/plugins2" --device-plugin-split 4 \
  --slice-dir "$SHM" --pod-resources-socket "$WORK/plugins2/pod-resources.sock" --cdi-dir "$WORK/cdi" \
  "${RUN_AS[@]}" >"$WORK/agent2.log" 2>&1 &
pids+=($!)
wait $HARNESS || fail "the harness failed with --cdi-dir: $(cat "$WORK/kubelet2.log") $(cat "$WORK/agent2.log")"
grep -q "^allocated CUDA_VISIBLE_DEVICES=$U0 .* devices 0 cdi xpool.io/gpu=$U0\$" "$WORK/kubelet2.log" ||
  fail "no CDI device in Allocate: $(cat "$WORK/kubelet2.log")"
python3 - "$WORK/cdi/xpool.io-gpu.json" "$U0" <<'PY' || fail "the CDI spec: $(cat "$WORK/cdi/xpool.io-gpu.json")"
import json, re, sys
spec = json.load(open(sys.argv[1]))
assert spec["cdiVersion"] == "0.6.0" and spec["kind"] == "xpool.io/gpu", spec
assert re.fullmatch(r"[a-z0-9.-]+/[a-zA-Z0-9_.-]+", spec["kind"])
names = [d["name"] for d in spec["devices"]]
assert len(names) == 2 and names[0] == sys.argv[2], names
assert all(re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.:-]*", n) for n in names), names
assert [d["containerEdits"]["deviceNodes"][0]["path"] for d in spec["devices"]] == ["/dev/nvidia0", "/dev/nvidia1"]
assert [n["path"] for n in spec["containerEdits"]["deviceNodes"]] == ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
PY

pool_finish pool_deviceplugin
