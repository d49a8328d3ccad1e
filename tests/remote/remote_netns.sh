#!/usr/bin/env bash
# A remote session across network namespaces: the client in its own namespace (a host of its
# own, reaching the server's over a veth pair), the server in the root one. The client needs its
# credential (it is not on loopback) and computes what it computes locally; when the link is
# taken down, the client's next call fails within its timeout and the server's session ends
# within the server's client timeout. Needs root and ip netns; prints SKIP and passes without.
#   remote_netns.sh SERVER PROGRAM RUNTIME_LIB FAKE_DRIVER_DIR CLIENT_DIR
set -uo pipefail
SERVER="$1" PROGRAM="$2" RUNTIME="$3"
FAKE="$(realpath "$4")" CLIENT="$(realpath "$5")"
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! ip netns add xpr-probe-$$ 2>/dev/null; then
  echo "SKIP: network namespaces need root and ip netns"
  exit 0
fi
ip netns del xpr-probe-$$
unset CUDA_VISIBLE_DEVICES XPOOL_GPU_MEMORY XPOOL_SLICE XPOOL_GPU_CORE LD_PRELOAD
WORK="$(mktemp -d)"
export FAKE_CUDA_TIMELINE="$WORK/timeline" FAKE_CUDA_EXPORT_FILE="$WORK/exports"
NS=xpr$$ VETH=xpr$$v NET=$((100 + $$ % 100))
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  ip netns del "$NS" 2>/dev/null
  ip link del "$VETH" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect() { grep -qF -- "$2" <<<"$1" || fail "expected '$2' in: $1"; }
printf 'xpool-fake-module\nsaxpy\nfill32\n' >"$WORK/module"

ip netns add "$NS"
ip link add "$VETH" type veth peer name eth0 netns "$NS"
ip addr add "10.$NET.7.1/24" dev "$VETH"
ip link set "$VETH" up
ip -n "$NS" addr add "10.$NET.7.2/24" dev eth0
ip -n "$NS" link set eth0 up
ip -n "$NS" link set lo up

echo "node-b-cred gpu-memory=4Gi" >"$WORK/credentials"
LD_LIBRARY_PATH="$FAKE" "$SERVER" --runtime "$RUNTIME" --slice-dir "$WORK" \
  --listen "10.$NET.7.1:0" --credentials "$WORK/credentials" --client-timeout-ms 1500 \
  >"$WORK/server" 2>"$WORK/server.err" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
for _ in $(seq 100); do grep -q listening "$WORK/server" && break; sleep 0.05; done
EP="$(sed -n 's/.*listening on //p' "$WORK/server")"
[ -n "$EP" ] || fail "server did not start: $(cat "$WORK/server.err")"
in_ns() { ip netns exec "$NS" env XPOOL_REMOTE="$EP" LD_LIBRARY_PATH="$CLIENT" "$@"; }

got="$(in_ns "$PROGRAM" describe 2>&1)"
expect "$got" "need their allocation's credential"
want="$(CUDA_VISIBLE_DEVICES=0 LD_LIBRARY_PATH="$FAKE" "$PROGRAM" --module "$WORK/module" compute 100000 2>&1)"
got="$(in_ns XPOOL_REMOTE_CREDENTIAL=node-b-cred "$PROGRAM" --module "$WORK/module" compute 100000 2>&1)"
# The slice, not the device, is what the remote program sees.
[ "$(grep -v meminfo <<<"$want")" = "$(grep -v meminfo <<<"$got")" ] ||
  fail "remote differs from local: $got"
expect "$got" "meminfo total 4096 MiB"
echo "ok: another namespace computes the same through its credential's 4 GiB slice"

in_ns XPOOL_REMOTE_CREDENTIAL=node-b-cred XPOOL_REMOTE_TIMEOUT_MS=1000 "$PROGRAM" \
  ready "$WORK/ready" sync-every 50 >"$WORK/cut" 2>&1 &
CLIENT_PID=$!
PIDS+=("$CLIENT_PID")
for _ in $(seq 100); do [ -f "$WORK/ready" ] && break; sleep 0.05; done
SESSION="$(ps -o pid=,stat= --ppid "$SERVER_PID" | awk '$2 !~ /Z/ {print $1}')"
[ -n "$SESSION" ] || fail "no session process"
ip link set "$VETH" down
start=$(date +%s%N)
for _ in $(seq 60); do kill -0 "$CLIENT_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$CLIENT_PID" 2>/dev/null && fail "the client hangs on a cut link"
got="$(cat "$WORK/cut")"
expect "$got" "sync failed with 46"
echo "ok: cut link: $(grep 'sync failed' <<<"$got")"
while kill -0 "$SESSION" 2>/dev/null; do
  [ $(( ($(date +%s%N) - start) / 1000000 )) -gt 8000 ] && fail "the session outlived its cut client by 8 s"
  sleep 0.1
done
echo "ok: the server's session ended $(( ($(date +%s%N) - start) / 1000000 )) ms after the cut"
echo "PASS"
