#!/usr/bin/env bash
# The controller's HTTP server (/metrics and the scheduler extender) under hostile clients, real
# processes on loopback: a body over --http-max-body is refused (413) without the controller's
# memory growing; clients that trickle a request slower than the read timeout are dropped;
# fewer such clients than --http-workers that trickle it faster stay connected but do not stop
# others being served (more than that would: docs/kubernetes.md, "Limits"); an extender
# body in the API server's canonical quantity form ("10k") is answered.
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
cd "$WORK" || exit 1
"$BIN/xpool-controller" --listen 127.0.0.1:0 --data data --metrics 127.0.0.1:0 \
  --http-max-body 1048576 --http-workers 32 >controller.log 2>&1 &
CONTROLLER=$!
pids+=($CONTROLLER)
for _ in $(seq 100); do grep -q "metrics on" controller.log && break; sleep 0.05; done
METRICS_PORT=$(sed -n 's|.*metrics on http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' controller.log)
[ -n "$METRICS_PORT" ] || { cat controller.log; fail "no HTTP port"; # 4. --metrics-listen: /metrics on a port of its own, the extender alone on --http.
"$BIN/xpool-controller" --listen 127.0.0.1:0 --data data2 --metrics 127.0.0.1:0 \
  --metrics-listen 127.0.0.1:0 >apart.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "scheduler extender on" apart.log && break; sleep 0.05; done
M=$(sed -n 's|.*metrics on http://\(127.0.0.1:[0-9]*\)/metrics.*|\1|p' apart.log)
E=$(sed -n 's|.*scheduler extender on http://\(127.0.0.1:[0-9]*\)/scheduler.*|\1|p' apart.log)
[ -n "$M" ] && [ -n "$E" ] && [ "$M" != "$E" ] || fail "addresses: $(cat apart.log)"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "http://$M/metrics")" = 200 ] || fail "/metrics not on its own port"
[ "$(code "http://$E/metrics")" = 404 ] || fail "/metrics still on the extender's port"
[ "$(code --data-binary "$body" "http://$E/scheduler/filter")" = 200 ] || fail "no extender on --http"
[ "$(code --data-binary "$body" "http://$M/scheduler/filter")" = 404 ] || fail "the extender on the metrics port"
pool_finish pool_http_bounds; }
URL="http://127.0.0.1:$METRICS_PORT"
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$CONTROLLER/status"; }

# 1. A 64 MB filter body: refused with 413, memory unchanged (within 32 MiB).
before=$(rss_kib)
head -c $((64 << 20)) /dev/zero | tr '\0' ' ' >big.json
code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @big.json \
  -H 'Content-Type: application/json' "$URL/scheduler/filter")
[ "$code" = 413 ] || fail "a 64 MB body got HTTP $code, expected 413"
after=$(rss_kib)
[ $((after - before)) -lt 32768 ] || fail "RSS grew from ${before} to ${after} KiB on a refused body"

# 2. Slow clients, fewer than the workers: 16 trickling a header byte every 2.5 s (past the 1 s
# read timeout) and 12 every 0.5 s. The first are dropped; through both, /metrics answers at once.
cat >trickle.py <<'PY'
import socket, sys, time
period, count, seconds = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[4])))
    s.sendall(b"POST /scheduler/filter HTTP/1.1\r\n")
    socks.append(s)
alive, end = set(range(count)), time.time() + seconds
while time.time() < end:
    time.sleep(period)
    for i in list(alive):
        try:
            socks[i].sendall(b"X")
            socks[i].settimeout(0.001)
            if socks[i].recv(1) == b"":
                alive.discard(i)
        except (BlockingIOError, socket.timeout):
            pass
        except OSError:
            alive.discard(i)
print(len(alive))
PY
python3 trickle.py 2.5 16 10 "$METRICS_PORT" >slow.out &
SLOW=$!
python3 trickle.py 0.5 12 10 "$METRICS_PORT" >fast.out &
FAST=$!
sleep 4
for i in 1 2 3; do
  t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 3 "$URL/metrics")
  case "$t" in
    "200 "*) awk -v t="${t#200 }" 'BEGIN {exit !(t < 1.0)}' || fail "/metrics took ${t#200 } s beside slow clients" ;;
    *) fail "/metrics answered '$t' beside slow clients" ;;
  esac
  sleep 1
done
wait "$SLOW" "$FAST"
[ "$(cat slow.out)" = 0 ] || fail "$(cat slow.out) of 16 clients slower than the read timeout still connected"
kill -0 "$CONTROLLER" 2>/dev/null || fail "the controller died"

# 3. The extender reads the API server's canonical quantities (no agent: every node is refused
# with a reason, not with an error about the quantity).
body='{"Pod":{"metadata":{"name":"p","namespace":"ml","uid":"u"},"spec":{"containers":[{"name":"c","resources":{"limits":{"xpool.io/gpu":"1","xpool.io/gpu-memory":"10k","xpool.io/gpu-core":"30"}}}]}},"NodeNames":["n1"]}'
out=$(curl -s --data-binary "$body" "$URL/scheduler/filter")
echo "$out" | grep -q '"Error":""' || fail "filter of a 10k pod: $out"
echo "$out" | grep -q '"n1":"no xpool agent' || fail "filter of a 10k pod: $out"
pool_finish pool_http_bounds
