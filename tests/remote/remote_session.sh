#!/usr/bin/env bash
# A remote GPU session over the fake driver, client and server as separate processes on loopback
# TCP: the driver-API program gives the same results remote as local with no driver library
# mapped, the slice's quota is held on the server, a killed client's session goes within 1 s, a
# silent link fails calls within the timeout, an unsupported call is refused by name, and
# sessions from another address need their credential.
#   remote_session.sh SERVER PROGRAM RUNTIME_LIB FAKE_DRIVER_DIR CLIENT_DIR XPOOL
set -uo pipefail
SERVER="$1" PROGRAM="$2" RUNTIME="$3" XPOOL="$6"
FAKE="$(realpath "$4")" CLIENT="$(realpath "$5")"
unset CUDA_VISIBLE_DEVICES XPOOL_GPU_MEMORY XPOOL_SLICE XPOOL_GPU_CORE LD_PRELOAD
WORK="$(mktemp -d)"
export FAKE_CUDA_TIMELINE="$WORK/timeline" FAKE_CUDA_EXPORT_FILE="$WORK/exports"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  pkill -9 -f "xpool-remote-server --session-fd" -P "${PIDS[*]:-0}" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect() { grep -qF -- "$2" <<<"$1" || fail "expected '$2' in: $1"; }
printf 'xpool-fake-module\nsaxpy\nfill32\n' >"$WORK/module"

# start_server OUTFILE ARGS...: starts a server, sets EP to its endpoint and SERVER_PID.
start_server() {
  local out="$1"
  shift
  LD_LIBRARY_PATH="$FAKE" "$SERVER" --runtime "$RUNTIME" --slice-dir "$WORK" "$@" \
    >"$out" 2>"$out.err" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 100); do
    EP="$(sed -n 's/.*listening on //p' "$out")"
    [ -n "$EP" ] && return 0
    sleep 0.05
  done
  fail "server did not start: $(cat "$out.err")"
}
# The server's one live session process (ended ones may linger a moment as zombies).
live_session() { ps -o pid=,stat= --ppid "$SERVER_PID" | awk '$2 !~ /Z/ {print $1}'; }
remote() { XPOOL_REMOTE="$EP" LD_LIBRARY_PATH="$CLIENT" exec "$PROGRAM" "$@"; }
local_run() { CUDA_VISIBLE_DEVICES=0 LD_LIBRARY_PATH="$FAKE" "$PROGRAM" "$@"; }

# Bad input: clear messages and non-zero exits.
"$SERVER" --device x --listen 127.0.0.1:0 >/dev/null 2>"$WORK/bad"
[ $? -eq 2 ] || fail "a bad --device must exit 2"
expect "$(cat "$WORK/bad")" "--device 'x': give a device index"
"$SERVER" --runtime "$RUNTIME" >/dev/null 2>"$WORK/bad"
[ $? -eq 2 ] || fail "no --listen must exit 2"
expect "$(cat "$WORK/bad")" "give --listen"
got="$(LD_LIBRARY_PATH="$CLIENT" "$PROGRAM" describe 2>&1)"
expect "$got" "xpool-remote: XPOOL_REMOTE is not set: name the server as HOST:PORT"
expect "$got" "error 100"
got="$(XPOOL_REMOTE=127.0.0.1:1 LD_LIBRARY_PATH="$CLIENT" "$PROGRAM" describe 2>&1)"
expect "$got" "xpool-remote: cannot reach the GPU server 127.0.0.1:1"
got="$(XPOOL_REMOTE=127.0.0.1:1 XPOOL_REMOTE_TIMEOUT_MS=5 LD_LIBRARY_PATH="$CLIENT" "$PROGRAM" describe 2>&1)"
expect "$got" "XPOOL_REMOTE_TIMEOUT_MS '5': give milliseconds from 100 to 600000"
echo "ok: bad input named"

start_server "$WORK/s1" --listen 127.0.0.1:0

# Same results, both ways of finding the driver's functions; 3 M floats cross the 4 MiB chunks.
for how in "" --proc-address; do
  want="$(local_run $how --module "$WORK/module" describe compute 3000000 2>&1)"
  got="$(remote $how --module "$WORK/module" describe compute 3000000 2>&1)"
  expect "$want" "saxpy n 3000000 sum 1128000000.000"
  [ "$want" = "$got" ] || fail "remote differs from local ($how):
local:
$want
remote:
$got"
done
echo "ok: same results remote and local"

maps="$(remote maps)"
expect "$maps" "driver $CLIENT/libcuda.so.1"
grep -q "$FAKE" <<<"$maps" && fail "the client mapped the real driver: $maps"
echo "ok: the client maps no driver library ($maps)"

# The quota is the server's to hold: 1 GiB in steps of 256 MiB fits 3 beside the context.
want="$(CUDA_VISIBLE_DEVICES=0 LD_PRELOAD="$RUNTIME" XPOOL_GPU_MEMORY=1Gi LD_LIBRARY_PATH="$FAKE" \
  "$PROGRAM" alloc-until-oom 256 2>&1)"
got="$(XPOOL_GPU_MEMORY=1Gi remote alloc-until-oom 256 2>&1)"
expect "$got" "then oom"
[ "$want" = "$got" ] || fail "quota differs: local '$want' remote '$got'"
echo "ok: quota held on the server ($got)"

# The same through `xpool exec --remote`, which sets the client up.
got="$("$XPOOL" exec --remote "$EP" --gpu-memory 1Gi -- "$PROGRAM" alloc-until-oom 256 2>&1)"
[ "$want" = "$got" ] || fail "xpool exec --remote: '$got', want '$want'"
got="$("$XPOOL" exec --remote "$EP" --devices 1 -- "$PROGRAM" maps 2>&1)"
expect "$got" "--devices and --slice name this machine's GPUs"
echo "ok: xpool exec --remote"

# An unsupported call: CUDA_ERROR_NOT_SUPPORTED and one line naming it.
got="$(remote unsupported 2>&1)"
expect "$got" "cuGraphCreate returned 801"
expect "$got" "xpool-remote: cuGraphCreate is not supported remotely"
echo "ok: unsupported call refused by name"

# A killed client's session process is gone within 1 s, its slice segment with it.
remote --module "$WORK/module" compute 1000 ready "$WORK/ready" hold >/dev/null 2>&1 &
CLIENT_PID=$!
PIDS+=("$CLIENT_PID")
for _ in $(seq 100); do [ -f "$WORK/ready" ] && break; sleep 0.05; done
SESSION="$(live_session)"
[ -n "$SESSION" ] || fail "no session process under the server"
[ -e "$WORK/xpool-remote-$SESSION" ] || fail "no slice segment for session $SESSION"
kill -9 "$CLIENT_PID"
start=$(date +%s%N)
while kill -0 "$SESSION" 2>/dev/null; do
  [ $(( ($(date +%s%N) - start) / 1000000 )) -gt 1000 ] && fail "session outlived its client by 1 s"
  sleep 0.02
done
gone_ms=$(( ($(date +%s%N) - start) / 1000000 ))
for _ in $(seq 50); do [ -e "$WORK/xpool-remote-$SESSION" ] || break; sleep 0.02; done
[ -e "$WORK/xpool-remote-$SESSION" ] && fail "slice segment left behind"
echo "ok: killed client's session released in ${gone_ms} ms"

# A silent link (the session stopped, as behind a cut cable) fails within the timeout.
rm -f "$WORK/ready"
XPOOL_REMOTE_TIMEOUT_MS=1000 remote ready "$WORK/ready" sync-every 50 >"$WORK/cut" 2>&1 &
CLIENT_PID=$!
PIDS+=("$CLIENT_PID")
for _ in $(seq 100); do [ -f "$WORK/ready" ] && break; sleep 0.05; done
SESSION="$(live_session)"
kill -STOP "$SESSION"
for _ in $(seq 60); do kill -0 "$CLIENT_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$CLIENT_PID" 2>/dev/null && fail "the client hangs on a silent link"
kill -9 "$SESSION"
got="$(cat "$WORK/cut")"
expect "$got" "sync failed with 46"
expect "$got" "link to the GPU server lost"
ms="$(sed -n 's/.*sync failed with 46 after \([0-9]*\) ms/\1/p' <<<"$got")"
[ "$ms" -le 2500 ] || fail "the failing call took $ms ms with a 1000 ms timeout"
echo "ok: silent link fails in ${ms} ms"

# The server's limit holds against a client that asks for more.
kill "$SERVER_PID"
start_server "$WORK/s2" --listen 127.0.0.1:0 --gpu-memory 2Gi
got="$(XPOOL_GPU_MEMORY=4Gi remote describe 2>&1)"
expect "$got" "refused the session: asked for 4Gi of GPU memory; the slice holds 2Gi"
got="$(remote describe 2>&1)"
expect "$got" "memory 2048 MiB"
echo "ok: server limit holds (a session sees its 2 GiB)"

# Off loopback a session needs its allocation's credential, and gets that allocation's limit.
OWN_IP="$(hostname -I 2>/dev/null | awk '{print $1}')"
if [ -n "$OWN_IP" ] && [[ "$OWN_IP" != 127.* ]]; then
  echo "s3cret-cred gpu-memory=3Gi" >"$WORK/credentials"
  kill "$SERVER_PID"
  start_server "$WORK/s3" --listen "$OWN_IP:0" --credentials "$WORK/credentials"
  got="$(remote describe 2>&1)"
  expect "$got" "refused the session: sessions from other machines need their allocation's credential"
  got="$(XPOOL_REMOTE_CREDENTIAL=wrong remote describe 2>&1)"
  expect "$got" "unknown session credential"
  got="$(XPOOL_REMOTE_CREDENTIAL=s3cret-cred remote describe 2>&1)"
  expect "$got" "memory 3072 MiB"
  echo "ok: credential required off loopback ($OWN_IP)"
else
  echo "SKIP: no address other than loopback for the credential check"
fi
echo "PASS"
