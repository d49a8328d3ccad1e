#!/usr/bin/env bash
# GPU health reaches the kubelet and the controller: the agent asks NVML about each GPU every
# --health-interval-ms, and a GPU NVML stops answering for (the fake NVML's GPU_IS_LOST, as for a
# GPU that fell off the bus) is sent unhealthy in ListAndWatch and in heartbeats, then healthy
# again when it answers again. While it is unhealthy the controller places nothing on it (a
# two-GPU run does not fit); after, it does. Kubelet harness over unix sockets; GPUs: the fake
# NVML's two H100s, 10 virtual devices each.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
export LD_LIBRARY_PATH="$BIN/fake_driver" FAKE_CUDA_DEVICES=2 FAKE_CUDA_DEVICE_MIB=81920
export FAKE_NVML_LOST_FILE="$WORK/lost"
cd "$WORK" || exit 1
mkdir -p plugins shm
: >commands
"$BIN/kubelet_harness" plugins --commands commands >kubelet.log 2>&1 &
HARNESS=$!
pids+=($HARNESS)
for _ in $(seq 100); do grep -q "kubelet ready" kubelet.log && break; sleep 0.05; done
"$BIN/xpool-controller" --listen 127.0.0.1:0 --metrics "" --data data >c.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" c.log && break; sleep 0.05; done
export XPOOL_CONTROLLER="$(sed -n 's/.*listening on \([^ ,]*\),.*/\1/p' c.log)"
"$BIN/xpool-agent" --controller "$(sed -n 's/.*listening on \([^ ,]*\),.*/\1/p' c.log)" \
  --state-dir state --device-plugin-dir plugins --slice-dir shm --health-interval-ms 100 \
  "${RUN_AS[@]}" >agent.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "^registered" kubelet.log && break; sleep 0.05; done
# One step at a time: each change is made once the harness has seen the state before it.
echo "watch-health 20" >>commands
for _ in $(seq 300); do grep -q "^health 20 of" kubelet.log && break; sleep 0.05; done
echo 1 >lost
echo "watch-health 10" >>commands
for _ in $(seq 300); do grep -q "^health 10 of" kubelet.log && break; sleep 0.05; done
for _ in $(seq 100); do grep -q "is unhealthy (its agent says)" c.log && break; sleep 0.05; done
grep -q "device [^ ]*/nvidia-1 is unhealthy (its agent says)" c.log ||
  fail "the controller was not told: $(cat c.log)"
"$XPOOL" run --no-wait --gpus 2 -- true >run1.log 2>&1 && fail "a two-GPU run was placed on a lost GPU: $(cat run1.log)"
rm -f lost
for _ in $(seq 100); do grep -q "is healthy again" c.log && break; sleep 0.05; done
"$XPOOL" run --gpus 2 -- true >run2.log 2>&1 || fail "a two-GPU run after recovery: $(cat run2.log) $(cat c.log)"
echo "watch-health 20" >>commands
echo quit >>commands
wait $HARNESS
out=$(grep '^health' kubelet.log | tr '\n' ';')
[ "$out" = "health 20 of 20;health 10 of 20;health 20 of 20;" ] ||
  fail "health seen by the kubelet: $out $(cat agent.log)"
grep -q "GPU GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadae01 is unhealthy" agent.log ||
  fail "the agent did not log the lost GPU: $(cat agent.log)"
grep -q "GPU GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadae01 is healthy again" agent.log ||
  fail "the agent did not log the recovery: $(cat agent.log)"
pool_finish pool_health
