#!/usr/bin/env bash
# Three hosts as network namespaces (ip netns, veth pairs to the root namespace): the controller
# in the root namespace, one agent in each host, credentials on. Runs land on the host their
# selector names and run there; a host cut off from the network loses its allocations after the
# lease. Needs root and ip netns; prints SKIP and passes without them.
set -uo pipefail
XPOOL="$1"
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! ip netns add xpool-probe-$$ 2>/dev/null; then
  echo "SKIP: network namespaces need root and ip netns"
  exit 0
fi
ip netns del xpool-probe-$$
source "$(dirname "$0")/lib/pool.sh"
TAG=$$
pool_extra_cleanup() {
  for k in 1 2 3; do
    ip netns del xp$TAG-h$k 2>/dev/null
    ip link del xp$TAG-v$k 2>/dev/null
  done
}

NET=$((100 + TAG % 100))  # 10.NET.k.0/24 per host
for k in 1 2 3; do
  ip netns add xp$TAG-h$k
  ip link add xp$TAG-v$k type veth peer name eth0 netns xp$TAG-h$k
  ip addr add 10.$NET.$k.1/24 dev xp$TAG-v$k
  ip link set xp$TAG-v$k up
  ip -n xp$TAG-h$k addr add 10.$NET.$k.2/24 dev eth0
  ip -n xp$TAG-h$k link set eth0 up
  ip -n xp$TAG-h$k link set lo up
  ip -n xp$TAG-h$k route add default via 10.$NET.$k.1
done

echo "join-token-for-the-netns-test" >"$WORK/join"
echo "user-token-for-the-netns-test carol" >"$WORK/users"
export XPOOL_TOKEN=user-token-for-the-netns-test
"$BIN/xpool-controller" --listen 0.0.0.0:0 --metrics "" --data "$WORK/data" --lease-ms 1500 \
  --join-token-file "$WORK/join" --users-file "$WORK/users" >"$WORK/c.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$WORK/c.log" && break; sleep 0.05; done
PORT=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\),.*/\1/p' "$WORK/c.log")
export XPOOL_CONTROLLER=127.0.0.1:$PORT

models=(H100-SXM A100-80GB L40S)
for k in 1 2 3; do
  printf 'node: host%d\ndevices:\n  - model: %s\n    count: 2\n' $k "${models[$((k - 1))]}" >"$WORK/h$k.yaml"
  ip netns exec xp$TAG-h$k "$BIN/xpool-agent" --controller 10.$NET.$k.1:$PORT \
    --listen 10.$NET.$k.2:0 --token-file "$WORK/join" --inventory "$WORK/h$k.yaml" \
    --state-dir "$WORK/state$k" --run-as nobody >"$WORK/a$k.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 200); do
  [ "$("$XPOOL" nodes -o json 2>/dev/null | grep -o '"ready": *true' | wc -l)" -eq 3 ] && break
  sleep 0.05
done
"$XPOOL" nodes | grep -q "host2 .* yes .*10\.$NET\.2\.2:" || fail "host2 not registered from its namespace: $("$XPOOL" nodes 2>&1)"

for k in 1 2 3; do
  out=$("$XPOOL" run --model "${models[$((k - 1))]}" -- sh -c 'echo $XPOOL_NODE $(hostname -I)' 2>&1)
  echo "$out" | grep -qE "^host$k 10\.$NET\.$k\.2 *$" || fail "a run for ${models[$((k - 1))]}: $out"
done

# host3 cut off: after the lease its allocation is released and it stops taking work.
"$XPOOL" run --model L40S -- sh -c 'echo started; exec sleep 30' >"$WORK/held.log" 2>&1 &
HELD=$!
pids+=($HELD)
for _ in $(seq 100); do grep -q "^started" "$WORK/held.log" && break; sleep 0.05; done
kill -9 $HELD
ip link set xp$TAG-v3 down
for _ in $(seq 100); do
  "$XPOOL" allocs --all | grep -q "node host3 stopped heartbeating" && break
  sleep 0.1
done
"$XPOOL" allocs --all | grep -q "node host3 stopped heartbeating" || fail "host3 kept its allocation"
out=$("$XPOOL" run --no-wait --model L40S -- true 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "no capacity" || fail "a cut-off host took work: $out"

pool_finish pool_netns
