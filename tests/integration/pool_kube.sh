#!/usr/bin/env bash
# Kubernetes end to end on loopback: the controller's extender binds pods through a local HTTPS
# Kubernetes API (tests/tools/fake_kube_api.cc, which checks each call's method, path, headers and
# body), the agent's device plugin gives each container the slice the extender chose for exactly
# that container (kubelet harness with its pod-resources API: pods admitted in the opposite order
# from binding, a pod with an init container and two app containers, an init container whose
# devices the kubelet hands on and one whose it does not), and the controller releases the
# slices of pods that finish or are deleted, also while it was down. GPUs: the fake NVML's two
# H100s on node-a.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
export LD_LIBRARY_PATH="$BIN/fake_driver" FAKE_CUDA_DEVICES=2 FAKE_CUDA_DEVICE_MIB=81920
cd "$WORK" || exit 1
mkdir -p plugins shm
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 2>/dev/null || fail "openssl: no certificate"
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 1 -subj /CN=other \
  2>/dev/null
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$TOKEN" >token
pod() {  # NAME UID LIMITS(JSON) [ANNOTATIONS(JSON)]
  echo "{\"metadata\":{\"name\":\"$1\",\"namespace\":\"ml\",\"uid\":\"$2\",\"annotations\":${4:-{\}}},\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":$3}}]},\"status\":{\"phase\":\"Pending\"}}"
}
slice() { echo "{\"xpool.io/gpu\":\"1\",\"xpool.io/gpu-memory\":\"$1\",\"xpool.io/gpu-core\":\"$2\"}"; }
container() { echo "{\"name\":\"$1\",\"resources\":{\"limits\":$(slice "$2" "$3")}}"; }
pod_of() {  # NAME UID INIT-CONTAINERS APP-CONTAINERS (JSON lists)
  echo "{\"metadata\":{\"name\":\"$1\",\"namespace\":\"ml\",\"uid\":\"$2\"},\"spec\":{\"initContainers\":$3,\"containers\":$4},\"status\":{\"phase\":\"Pending\"}}"
}
MULTI=$(pod_of multi u-multi "[$(container prep 2048 10)]" "[$(container a 4096 10),{\"name\":\"log\"},$(container b 1024 10)]")
PREP2=$(pod_of prep2 u-prep2 "[$(container fetch 1024 10)]" "[$(container main 2048 10)]")
cat >pods.json <<JSON
{"kind":"PodList","apiVersion":"v1","items":[
 $(pod train u-train "$(slice 8192 30)"),
 $(pod infer u-infer "$(slice 4096 20)" '{"xpool.io/priority":"high","xpool.io/compute-policy":"best-effort","xpool.io/compute-period-ms":"200"}'),
 $(pod whole u-whole '{"xpool.io/gpu":"2"}'),
 $MULTI,
 $PREP2,
 $(pod plain u-plain '{"cpu":"1"}')]}
JSON

"$BIN/fake_kube_api" cert.pem key.pem "$TOKEN" pods.json >api.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" api.log && break; sleep 0.05; done
API=https://127.0.0.1:$(sed -n 's/^listening on //p' api.log)
kapi() { curl -sS --cacert cert.pem -H "Authorization: Bearer $TOKEN" "$@"; }

start_controller() {  # extra flags
  # The log is appended to across restarts: wait for this start's line, not an earlier one's.
  local started
  started=$(grep -c "binding and watching" controller.log 2>/dev/null)
  "$BIN/xpool-controller" --listen 127.0.0.1:${PORT:-0} --data data --metrics 127.0.0.1:${HTTP:-0} \
    --kube-api "$API" --kube-token-file token "$@" >>controller.log 2>&1 &
  CONTROLLER=$!
  pids+=($CONTROLLER)
  for _ in $(seq 100); do
    [ "$(grep -c "binding and watching" controller.log)" -gt "${started:-0}" ] && break
    sleep 0.05
  done
  PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' controller.log | tail -1)
  HTTP=$(sed -n 's|.*metrics on http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' controller.log | tail -1)
  export XPOOL_CONTROLLER=127.0.0.1:$PORT
}
start_controller --kube-ca-file cert.pem
"$BIN/kubelet_harness" plugins --commands commands >kubelet.log 2>&1 &
HARNESS=$!
pids+=($HARNESS)
"$BIN/xpool-agent" --controller "$XPOOL_CONTROLLER" --node-name node-a --state-dir state \
  --device-plugin-dir plugins --pod-resources-socket plugins/pod-resources.sock \
  --slice-dir "$WORK/shm" "${RUN_AS[@]}" >agent.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$XPOOL" nodes 2>/dev/null | grep -q node-a && break; sleep 0.1; done

ext() { rm -f reply; curl -sS -o reply -w '%{http_code}' "http://127.0.0.1:$HTTP/scheduler/$1" -d "$2"; }
bind() { ext bind "{\"PodName\":\"$1\",\"PodNamespace\":\"ml\",\"PodUID\":\"$2\",\"Node\":\"node-a\"}"; }
live_of() { "$XPOOL" allocs -o json | grep -c "\"$1\"" ; }

# filter with the pod as kube-scheduler sends it
code=$(ext filter "{\"Pod\":$(pod train u-train "$(slice 8192 30)"),\"NodeNames\":[\"node-a\",\"node-x\"]}")
grep -q '"NodeNames":\["node-a"\]' reply && grep -q 'no xpool agent serves node node-x' reply ||
  fail "filter ($code): $(cat reply)"

# bind: the decision is recorded, the pod annotated and bound
code=$(bind train u-train)
[ "$code" = 200 ] && grep -q '"Error":""' reply || fail "bind train ($code): $(cat reply)"
kapi "$API/api/v1/namespaces/ml/pods/train" >train.json
ALLOC=$(sed -n 's/.*"xpool.io\/allocation":"\([^"]*\)".*/\1/p' train.json)
[ -n "$ALLOC" ] || fail "train has no allocation annotation: $(cat train.json)"
grep -q '"xpool.io/gpu-memory":"8192"' train.json && grep -q '"xpool.io/gpu-core":"30"' train.json &&
  grep -q '"nodeName":"node-a"' train.json || fail "train's annotations or node: $(cat train.json)"
for call in "GET /api/v1/namespaces/ml/pods/train 200" "PATCH /api/v1/namespaces/ml/pods/train 200" \
  "POST /api/v1/namespaces/ml/pods/train/binding 201"; do
  grep -q "^$call\$" api.log || fail "the API saw no '$call': $(cat api.log)"
done
# the same bind again (kube-scheduler retries): no second allocation, no error
code=$(bind train u-train)
grep -q '"Error":""' reply || fail "a repeated bind failed: $(cat reply)"
[ "$(live_of u-train)" = 1 ] || fail "a repeated bind made another allocation: $("$XPOOL" allocs)"
code=$(bind infer u-infer)
grep -q '"Error":""' reply || fail "bind infer: $(cat reply)"

# a pod of three containers (an init container, two app containers with slices, one without)
# fits where all three slices fit together, and holds one allocation per container
code=$(ext filter "{\"Pod\":$MULTI,\"NodeNames\":[\"node-a\"]}")
grep -q '"NodeNames":\["node-a"\]' reply || fail "filter of a pod of several containers ($code): $(cat reply)"
for p in "multi u-multi" "prep2 u-prep2"; do
  code=$(bind $p)
  grep -q '"Error":""' reply || fail "bind $p: $(cat reply)"
done
[ "$(live_of u-multi)" = 3 ] || fail "multi does not hold one allocation per container: $("$XPOOL" allocs)"
kapi "$API/api/v1/namespaces/ml/pods/multi" | grep -q '"xpool.io/allocation":"a[0-9a-f]*,a[0-9a-f]*,a[0-9a-f]*"' ||
  fail "multi's annotation does not name its three allocations"

# The kubelet admits infer before train (the opposite of binding) and calls Allocate with device
# ids only; each container's quotas are written when it starts, from the slice decided for
# exactly that container (the kubelet's pod-resources API says which one it is). The preferred
# virtual device is one of the GPU of the oldest pod that has not started.
TRAIN_GPU=$(sed -n 's/.*"xpool.io\/devices":"\([^"]*\)".*/\1/p' train.json)
# With a virtual device of train's GPU taken, left to itself the plugin would prefer the other GPU
# (the one with more free virtual devices).
if [ "$TRAIN_GPU" = GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadae00 ]; then echo "skip 1"; else echo "skip 10"; fi >>commands
cat >>commands <<EOF
prefer 1
admit ml/infer c 1
admit ml/train c 1
start ml/train c
start ml/infer c
admit ml/other c 1
start ml/other c
admit ml/multi prep 1 init
reuse ml/multi a prep
admit ml/multi b 1
start ml/multi prep
start ml/multi a
start ml/multi b
start ml/multi a
admit ml/prep2 fetch 1 init
admit ml/prep2 main 1
start ml/prep2 fetch
start ml/prep2 main
quit
EOF
wait $HARNESS
grep -q "^preferred $TRAIN_GPU::[0-9]* \$" kubelet.log ||
  fail "the preferred device is not on train's GPU $TRAIN_GPU: $(cat kubelet.log)"
started() { grep "^started $1:" kubelet.log | sed -n "${2:-1}p"; }
started ml/train/c | grep -q "^started ml/train/c: XPOOL_ALLOCATION=$ALLOC XPOOL_GPU_CORE=30 XPOOL_GPU_MEMORY=8192\$" ||
  fail "train did not get its slice: $(cat kubelet.log) $(cat agent.log)"
# infer's annotations reach its runtime; train, without any, gets the defaults
started ml/infer/c | grep -q "^started ml/infer/c: XPOOL_ALLOCATION=a[0-9a-f]* XPOOL_COMPUTE_PERIOD_MS=200 XPOOL_COMPUTE_POLICY=best-effort XPOOL_GPU_CORE=20 XPOOL_GPU_MEMORY=4096 XPOOL_PRIORITY=high\$" ||
  fail "infer did not get its slice and settings: $(cat kubelet.log)"
# infer's slice moved to the GPU the kubelet gave it, wherever the extender had put it
INFER_GPU=$(sed -n 's|^ml/infer/c allocated CUDA_VISIBLE_DEVICES=\([^ ]*\) .*|\1|p' kubelet.log)
INFER_ALLOC=$(started ml/infer/c | sed -n 's/.*XPOOL_ALLOCATION=\([^ ]*\) .*/\1/p')
"$XPOOL" allocs -o json | tr -d ' \n' | grep -q "\"id\":\"$INFER_ALLOC\"[^]]*\"device_uuid\":\"$INFER_GPU\"" ||
  fail "infer's allocation is not on the GPU the kubelet gave it ($INFER_GPU): $("$XPOOL" allocs -o json)"
# a pod the extender did not place gets 1/10 of a GPU
started ml/other/c | grep -q "^started ml/other/c: XPOOL_GPU_CORE=10 XPOOL_GPU_MEMORY=8192\$" ||
  fail "a pod the extender did not place: $(cat kubelet.log)"
# the init container starts first on devices the kubelet then hands to app container a: each gets
# its own slice, and a restarted container its own again
started ml/multi/prep | grep -q "XPOOL_GPU_CORE=10 XPOOL_GPU_MEMORY=2048\$" ||
  fail "multi's init container: $(cat kubelet.log) $(cat agent.log)"
started ml/multi/a 1 | grep -q "XPOOL_GPU_CORE=10 XPOOL_GPU_MEMORY=4096\$" &&
  started ml/multi/a 2 | grep -q "XPOOL_GPU_CORE=10 XPOOL_GPU_MEMORY=4096\$" ||
  fail "multi's container a (started, then restarted): $(cat kubelet.log)"
started ml/multi/b | grep -q "XPOOL_GPU_CORE=10 XPOOL_GPU_MEMORY=1024\$" || fail "multi's container b: $(cat kubelet.log)"
# an init container whose devices no app container took is tied to its pod by the next Allocate
started ml/prep2/fetch | grep -q "XPOOL_GPU_CORE=10 XPOOL_GPU_MEMORY=1024\$" &&
  started ml/prep2/main | grep -q "XPOOL_GPU_CORE=10 XPOOL_GPU_MEMORY=2048\$" ||
  fail "prep2: $(cat kubelet.log) $(cat agent.log)"

# a pod that does not fit is not bound and holds nothing
code=$(bind whole u-whole)
grep -q 'no free device share or memory' reply || fail "bind of a pod that does not fit: $(cat reply)"
grep -q "pods/whole/binding" api.log && fail "a pod that does not fit was bound"
[ "$(live_of u-whole)" = 0 ] || fail "a failed bind left an allocation"
# a pod of none of our resources is bound without an allocation or annotation
code=$(bind plain u-plain)
grep -q '"Error":""' reply && grep -q "^POST /api/v1/namespaces/ml/pods/plain/binding 201$" api.log ||
  fail "bind plain: $(cat reply)"
grep -q "^PATCH /api/v1/namespaces/ml/pods/plain " api.log && fail "a pod of none of ours was annotated"
code=$(bind nope u-nope)
grep -q 'pods \\"nope\\" not found' reply || fail "bind of a missing pod: $(cat reply)"
code=$(ext bind '{"PodName":"train"}')
[ "$code" = 400 ] && grep -q 'has no PodNamespace' reply || fail "a malformed bind ($code): $(cat reply)"

# a pod that finished gives its slice back at once
kapi -X PATCH -H 'Content-Type: application/merge-patch+json' -d '{"status":{"phase":"Succeeded"}}' \
  "$API/api/v1/namespaces/ml/pods/train/status" >/dev/null
for _ in $(seq 50); do [ "$(live_of u-train)" = 0 ] && break; sleep 0.1; done
[ "$(live_of u-train)" = 0 ] || fail "train finished but holds its slice: $("$XPOOL" allocs)"
grep -q "released $ALLOC: pod ml/train Succeeded" controller.log || fail "no release message: $(cat controller.log)"

# a pod deleted while the controller was down is released when it comes back
[ "$(live_of u-infer)" = 1 ] || fail "infer lost its slice"
kill -9 $CONTROLLER
wait $CONTROLLER 2>/dev/null
kapi -X DELETE "$API/api/v1/namespaces/ml/pods/infer" >/dev/null
start_controller --kube-ca-file cert.pem
for _ in $(seq 50); do [ "$(live_of u-infer)" = 0 ] && break; sleep 0.1; done
[ "$(live_of u-infer)" = 0 ] || fail "infer was deleted but holds its slice: $("$XPOOL" allocs)"

# an API server whose certificate the CA does not sign is not trusted
kill $CONTROLLER
wait $CONTROLLER 2>/dev/null
start_controller --kube-ca-file other.pem
code=$(bind whole u-whole)
grep -qi 'certificate\|ssl' reply || fail "an untrusted API server was used: $(cat reply)"
# plain HTTP to the API is refused at start
"$BIN/xpool-controller" --listen 127.0.0.1:0 --data data2 --kube-api http://127.0.0.1:1 \
  --kube-token-file token >plain.log 2>&1
[ $? -eq 2 ] && grep -q 'must be https' plain.log || fail "plain HTTP was accepted: $(cat plain.log)"

# an extender that binds with the controller's rights is not served off loopback in plaintext,
# nor over HTTPS that any client may call, unless the operator says so
for tls in "" "--http-tls-cert cert.pem --http-tls-key key.pem"; do
  "$BIN/xpool-controller" --listen 127.0.0.1:0 --data data4 --http 0.0.0.0:0 $tls \
    --kube-api "$API" --kube-token-file token --kube-ca-file cert.pem >open.log 2>&1
  [ $? -eq 2 ] && grep -q "binds pods with the controller's rights" open.log ||
    fail "an open extender was served (${tls:-plain HTTP}): $(cat open.log)"
done
"$BIN/xpool-controller" --listen 127.0.0.1:0 --data data4 --http 0.0.0.0:0 --http-insecure \
  --kube-api "$API" --kube-token-file token --kube-ca-file cert.pem >insecure.log 2>&1 &
INSECURE=$!
for _ in $(seq 100); do grep -q "binding and watching" insecure.log && break; sleep 0.05; done
grep -q "binding and watching" insecure.log || fail "--http-insecure was refused: $(cat insecure.log)"
kill $INSECURE
wait $INSECURE 2>/dev/null

# the extender over HTTPS, answering only the client certificate kube-scheduler presents
kill $CONTROLLER
wait $CONTROLLER 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout client.key -out client.pem -days 1 \
  -subj /CN=kube-scheduler 2>/dev/null
"$BIN/xpool-controller" --listen 127.0.0.1:0 --data data --metrics 127.0.0.1:0 --http-tls-cert cert.pem \
  --http-tls-key key.pem --http-client-ca client.pem >tls.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "metrics on https://" tls.log && break; sleep 0.05; done
TLS=https://$(sed -n 's|.*metrics on https://\([0-9.:]*\)/metrics.*|\1|p' tls.log)
filter_body="{\"Pod\":$(pod train2 u-train2 "$(slice 1024 10)"),\"NodeNames\":[\"node-a\"]}"
curl -sS --cacert cert.pem "$TLS/scheduler/filter" -d "$filter_body" >tls.reply 2>&1 &&
  fail "HTTPS answered a client without a certificate: $(cat tls.reply)"
curl -sS --cacert cert.pem --cert client.pem --key client.key "$TLS/scheduler/filter" \
  -d "$filter_body" >tls.reply 2>&1
grep -q '"NodeNames":\["node-a"\]' tls.reply || fail "HTTPS with the client certificate: $(cat tls.reply) $(cat tls.log)"
"$BIN/xpool-controller" --listen 127.0.0.1:0 --data data3 --http-tls-cert cert.pem >half.log 2>&1
[ $? -eq 2 ] && grep -q 'needs both' half.log || fail "a certificate without its key was accepted: $(cat half.log)"

grep VIOLATION api.log && fail "calls that break the API's shape"
pool_finish pool_kube
