#!/usr/bin/env bash
# Credentials of the standalone pool, real processes: off loopback, every API refuses a caller
# without a valid token, agents need the join token, users reach only their own allocations.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
CALL="$BIN/pool_call"
HOST=$(non_loopback_host)

JOIN=join-token-0123456789abcdef
ALICE=alice-token-0123456789abcdef
BOB=bob-token-0123456789abcdef0000
echo "$JOIN" >"$WORK/join"
echo "wrong-join-token-0123456789" >"$WORK/wrong"
printf '# token user\n%s alice\n%s bob\n' "$ALICE" "$BOB" >"$WORK/users"
printf 'node: n1\ndevices:\n  - model: L4\n    count: 2\n' >"$WORK/n1.yaml"

# Off loopback, credentials are not optional.
out=$("$BIN/xpool-controller" --listen "$HOST:0" --metrics "" --data "$WORK/d0" 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "only loopback" || fail "controller without tokens on $HOST: $out"
out=$("$BIN/xpool-agent" --controller 127.0.0.1:1 --inventory "$WORK/n1.yaml" --listen "$HOST:0" \
  "${RUN_AS[@]}" 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "only loopback" || fail "agent without token on $HOST: $out"
printf 'short\n' >"$WORK/short"
out=$("$BIN/xpool-controller" --listen "$HOST:0" --join-token-file "$WORK/short" --data "$WORK/d0" 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "16 characters" || fail "a short token was accepted: $out"

"$BIN/xpool-controller" --listen "$HOST:0" --metrics "" --data "$WORK/data" --join-token-file "$WORK/join" \
  --users-file "$WORK/users" >"$WORK/controller.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$WORK/controller.log" && break; sleep 0.05; done
ADDR=$(sed -n 's/.*listening on \([^ ,]*\),.*/\1/p' "$WORK/controller.log")
export XPOOL_CONTROLLER=$ADDR

for m in Register Heartbeat Allocate Release GetAllocation ListAllocations WatchAllocations ListNodes; do
  [ "$("$CALL" "$ADDR" $m)" = UNAUTHENTICATED ] || fail "$m without a token was not refused"
  [ "$("$CALL" "$ADDR" $m not-a-known-token-at-all)" = UNAUTHENTICATED ] || fail "$m with a bad token"
done
[ "$("$CALL" "$ADDR" Register "$ALICE")" = UNAUTHENTICATED ] || fail "a user token registered a node"
[ "$("$CALL" "$ADDR" Allocate "$JOIN")" = UNAUTHENTICATED ] || fail "the join token allocated"
[ "$("$CALL" "$ADDR" ListNodes "$ALICE")" = OK ] || fail "alice cannot list nodes"
grep -q "refused Allocate from ipv4:$HOST" "$WORK/controller.log" || fail "refusals are not logged"

# An agent with a wrong token is refused; with the join token it registers.
"$BIN/xpool-agent" --controller "$ADDR" --inventory "$WORK/n1.yaml" --listen "$HOST:0" \
  --token-file "$WORK/wrong" "${RUN_AS[@]}" >"$WORK/wrong-agent.log" 2>&1 &
pids+=($!)
"$BIN/xpool-agent" --controller "$ADDR" --inventory "$WORK/n1.yaml" --listen "$HOST:0" \
  --token-file "$WORK/join" "${RUN_AS[@]}" >"$WORK/agent.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "registered with" "$WORK/agent.log" && break; sleep 0.05; done
grep -q "registered with" "$WORK/agent.log" || fail "the agent with the join token did not register"
grep -q "cannot register.*not accepted" "$WORK/wrong-agent.log" || fail "the wrong token was not refused: $(cat "$WORK/wrong-agent.log")"
AGENT=$(sed -n 's/.*tasks on \([^ ]*\)$/\1/p' "$WORK/agent.log" | head -1)
[ "$("$CALL" "$AGENT" Run)" = UNAUTHENTICATED ] || fail "the agent ran a task for a caller without a token"

# Users: no token, no way in; a run under alice's token is alice's, and bob cannot touch it.
out=$("$XPOOL" nodes 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "needs a credential" || fail "nodes without a token: $out"
out=$(XPOOL_TOKEN=$ALICE "$XPOOL" run -- sh -c 'echo as $(id -un) on $XPOOL_NODE' 2>&1)
echo "$out" | grep -q "on n1" || fail "alice's run failed: $out"
XPOOL_TOKEN=$ALICE "$XPOOL" run -- sh -c 'echo started; exec sleep 30' >"$WORK/alice.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "^started" "$WORK/alice.log" && break; sleep 0.05; done
ID=$(XPOOL_TOKEN=$ALICE "$XPOOL" allocs -o json | sed -n 's/.*"id": *"\([a-z0-9]*\)".*/\1/p' | head -1)
XPOOL_TOKEN=$ALICE "$XPOOL" allocs -o json | grep -q '"owner": *"alice"' || fail "the owner is not alice"
out=$(XPOOL_TOKEN=$BOB "$XPOOL" release "$ID" 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "belongs to alice" || fail "bob released alice's allocation: $out"
[ "$("$CALL" "$AGENT" Run "$BOB" "$ID")" = PERMISSION_DENIED ] || fail "bob ran a task on alice's slice"
XPOOL_TOKEN=$ALICE "$XPOOL" release "$ID" >/dev/null || fail "alice cannot release her allocation"

pool_finish pool_auth
