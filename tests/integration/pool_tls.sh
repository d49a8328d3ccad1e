#!/usr/bin/env bash
# TLS on the standalone pool's API, real processes: a controller and an agent serve TLS off
# loopback; the agent and the xpool command reach them through the cluster's CA. Plaintext
# clients and clients trusting another CA get nowhere; bad certificate files are refused with a
# clear message before anything is written.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
CALL="$BIN/pool_call"
HOST=$(non_loopback_host)
cd "$WORK" || exit 1

# The cluster's CA, a certificate it signed for this machine's addresses, and a stranger's CA.
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 \
  -subj /CN=xpool-test-ca 2>/dev/null || fail "openssl: no CA"
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=xpool \
  2>/dev/null || fail "openssl: no request"
printf 'subjectAltName=IP:127.0.0.1,IP:%s\n' "$HOST" >san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 \
  -extfile san.ext 2>/dev/null || fail "openssl: no server certificate"
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 1 \
  -subj /CN=stranger 2>/dev/null || fail "openssl: no stranger CA"

JOIN=join-token-0123456789abcdef
ALICE=alice-token-0123456789abcdef
echo "$JOIN" >join
printf '%s alice\n' "$ALICE" >users
printf 'node: n1\ndevices:\n  - model: L4\n    count: 2\n' >n1.yaml
AUTH=(--join-token-file join --users-file users)

# Bad certificate files: exit 2, the reason, and no data directory made.
expect_refused() {  # WHAT PATTERN ARGS...
  local what=$1 pattern=$2
  shift 2
  out=$("$BIN/xpool-controller" --listen "$HOST:0" --metrics "" --data "$WORK/refused" "${AUTH[@]}" "$@" 2>&1)
  [ $? -eq 2 ] && echo "$out" | grep -q "$pattern" || fail "$what: $out"
  [ ! -e "$WORK/refused" ] || fail "$what: the data directory was made"
}
expect_refused "a certificate without its key" "both --tls-cert and --tls-key" --tls-cert server.pem
expect_refused "another certificate's key" "is not the private key of" --tls-cert server.pem --tls-key other.key
expect_refused "a missing certificate" "cannot read the TLS certificate 'missing.pem'" --tls-cert missing.pem --tls-key server.key
expect_refused "a file that is no certificate" "holds no PEM certificate" --tls-cert users --tls-key server.key
out=$("$BIN/xpool-agent" --controller 127.0.0.1:1 --inventory n1.yaml --tls-ca missing.pem "${RUN_AS[@]}" 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "cannot read the TLS CA 'missing.pem'" || fail "agent, missing CA: $out"

# A plaintext controller off loopback says that tokens travel in the clear.
"$BIN/xpool-controller" --listen "$HOST:0" --metrics "" --data plain-data "${AUTH[@]}" >plain.log 2>&1 &
plain=$!
for _ in $(seq 100); do grep -q "plaintext" plain.log && break; sleep 0.05; done
grep -q "tokens travel in plaintext" plain.log || fail "no plaintext warning: $(cat plain.log)"
kill "$plain"

"$BIN/xpool-controller" --listen "$HOST:0" --metrics "" --data data "${AUTH[@]}" \
  --tls-cert server.pem --tls-key server.key >controller.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" controller.log && break; sleep 0.05; done
grep -q "listening on .* (TLS)" controller.log || fail "the controller does not say TLS: $(cat controller.log)"
! grep -q "plaintext" controller.log || fail "a TLS controller warned of plaintext"
ADDR=$(sed -n 's/.*listening on \([^ ,]*\).*/\1/p' controller.log)
export XPOOL_CONTROLLER=$ADDR

# The API speaks TLS with the CA's certificate; a plaintext client is not answered.
out=$(openssl s_client -connect "$ADDR" -CAfile ca.pem -verify_return_error -alpn h2 </dev/null 2>&1)
echo "$out" | grep -q "Verify return code: 0 (ok)" || fail "no verified TLS on $ADDR: $out"
[ "$("$CALL" "$ADDR" ListNodes "$ALICE")" = UNAVAILABLE ] || fail "a plaintext call was answered"

# Agents: trusting the cluster's CA, one registers; plaintext or trusting a stranger, not.
"$BIN/xpool-agent" --controller "$ADDR" --inventory n1.yaml --listen "$HOST:0" --token-file join \
  --tls-ca other.pem --tls-cert server.pem --tls-key server.key --node-name stranger \
  "${RUN_AS[@]}" >stranger-agent.log 2>&1 &
pids+=($!)
"$BIN/xpool-agent" --controller "$ADDR" --inventory n1.yaml --listen "$HOST:0" --token-file join \
  --node-name plain "${RUN_AS[@]}" >plain-agent.log 2>&1 &
pids+=($!)
"$BIN/xpool-agent" --controller "$ADDR" --inventory n1.yaml --listen "$HOST:0" --token-file join \
  --tls-ca ca.pem --tls-cert server.pem --tls-key server.key "${RUN_AS[@]}" >agent.log 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q "registered with" agent.log && break; sleep 0.05; done
grep -q "registered with" agent.log || fail "the agent trusting the CA did not register: $(cat agent.log)"
! grep -q "plaintext" agent.log || fail "a TLS agent warned of plaintext"
for _ in $(seq 200); do
  grep -q "cannot register" stranger-agent.log && grep -q "cannot register" plain-agent.log &&
    grep -q "plaintext" plain-agent.log && break
  sleep 0.05
done
grep -q "cannot register" stranger-agent.log || fail "an agent trusting a stranger CA: $(cat stranger-agent.log)"
grep -q "cannot register" plain-agent.log || fail "a plaintext agent: $(cat plain-agent.log)"
grep -q "tokens travel in plaintext" plain-agent.log || fail "no plaintext warning from the agent"
AGENT=$(sed -n 's/.*tasks on \([^ ]*\)$/\1/p' agent.log | head -1)
[ "$("$CALL" "$AGENT" Run "$ALICE")" = UNAVAILABLE ] || fail "the agent answered a plaintext call"

# The xpool command: with the CA it lists the pool and runs a task through the agent's TLS.
export XPOOL_TOKEN=$ALICE
out=$(XPOOL_TLS_CA=ca.pem "$XPOOL" nodes 2>&1)
echo "$out" | grep -q "^n1 " || fail "nodes over TLS: $out"
echo "$out" | grep -q "stranger\|plain" && fail "an agent without the CA registered: $out"
out=$(XPOOL_TLS_CA=ca.pem "$XPOOL" run -- sh -c 'echo ran on $XPOOL_NODE' 2>&1)
echo "$out" | grep -q "ran on n1" || fail "run over TLS: $out"
out=$("$XPOOL" nodes 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "no controller answers at $ADDR" || fail "nodes in plaintext: $out"
out=$(XPOOL_TLS_CA=other.pem "$XPOOL" nodes 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "no controller answers" || fail "nodes trusting a stranger: $out"
out=$(XPOOL_TLS_CA=missing.pem "$XPOOL" nodes 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "XPOOL_TLS_CA: cannot read the TLS CA 'missing.pem'" ||
  fail "nodes with a missing CA: $out"

# `xpool up` serves loopback in plaintext; a CA in the environment does not get in its way.
out=$(XPOOL_TLS_CA=missing.pem XPOOL_CONTROLLER= XPOOL_TOKEN= timeout 60 "$XPOOL" up --demo 2>&1)
echo "$out" | grep -q "sample task on" || fail "xpool up --demo with XPOOL_TLS_CA set: $out"

pool_finish pool_tls
