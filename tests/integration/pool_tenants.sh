#!/usr/bin/env bash
# The tenants file with real processes: a tenant at its limit waits while another tenant runs;
# SIGHUP with a malformed file keeps the configuration in force and says why; SIGHUP with a
# raised limit lets the waiting run in; a bad file at start is refused (exit 2).
set -uo pipefail
XPOOL="$1"
source "$(dirname "$0")/lib/pool.sh"
GO="/tmp/xpool-tenants-go-$$"
pool_extra_cleanup() { touch "$GO"; sleep 0.3; rm -f "$GO"; }

printf 'tenants:\n  team-a: {limit: {gpus: 1}}\n  team-b: {}\npriority-classes:\n  urgent: 10\n' \
  >"$WORK/tenants.yaml"
printf 'tenants:\n  team-a: {limit: {gpus: lots}}\n' >"$WORK/bad.yaml"
"$BIN/xpool-controller" --listen 127.0.0.1:0 --metrics "" --data "$WORK/bad-data" \
  --tenants "$WORK/bad.yaml" >"$WORK/bad.log" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "bad.yaml: tenant 'team-a'.limit.gpus" "$WORK/bad.log" ||
  fail "a bad tenants file at start (exit $rc): $(cat "$WORK/bad.log")"

pool_start_controller --data "$WORK/data" --tenants "$WORK/tenants.yaml"
pool_start_agent n1 2

hold="echo started; while [ ! -e $GO ]; do sleep 0.1; done"
"$XPOOL" run --tenant team-a -- sh -c "$hold" >"$WORK/a1.log" 2>&1 &
A1=$!
for _ in $(seq 100); do grep -q started "$WORK/a1.log" && break; sleep 0.05; done
"$XPOOL" run --tenant team-a -- echo a2-ran >"$WORK/a2.log" 2>&1 &
A2=$!
for _ in $(seq 100); do grep -q "at its limit" "$WORK/a2.log" && break; sleep 0.05; done
grep -q "team-a is at its limit of 1 GPUs" "$WORK/a2.log" ||
  fail "team-a's second run did not wait for its limit: $(cat "$WORK/a2.log")"
out=$(timeout 10 "$XPOOL" run --tenant team-b -- echo b-ran 2>&1)
echo "$out" | grep -q b-ran || fail "team-b could not use the free GPU: $out"
out=$(timeout 10 "$XPOOL" run --tenant team-b --priority-class asap -- true 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "known: urgent" || fail "an unknown priority class: $out"
out=$(timeout 10 "$XPOOL" run --tenant team-z -- true 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q "no tenant 'team-z'" || fail "an unknown tenant: $out"

# A malformed file on SIGHUP: the old configuration stays, and the log says why.
cp "$WORK/bad.yaml" "$WORK/tenants.yaml"
kill -HUP $CONTROLLER
for _ in $(seq 100); do grep -q "not reloaded" "$WORK/controller.log" && break; sleep 0.05; done
grep -q "not reloaded, the previous one stays in force" "$WORK/controller.log" ||
  fail "a bad reload was not reported: $(cat "$WORK/controller.log")"
sleep 0.3
grep -q a2-ran "$WORK/a2.log" && fail "a bad reload lifted team-a's limit"
kill -0 $CONTROLLER 2>/dev/null || fail "a bad reload stopped the controller"

# The limit raised: the waiting run goes in on the second GPU.
printf 'tenants:\n  team-a: {limit: {gpus: 2}}\n  team-b: {}\n' >"$WORK/tenants.yaml"
kill -HUP $CONTROLLER
for _ in $(seq 200); do kill -0 $A2 2>/dev/null || break; sleep 0.05; done
wait $A2
rc=$?
[ $rc -eq 0 ] && grep -q a2-ran "$WORK/a2.log" ||
  fail "a raised limit did not let the waiting run in (exit $rc): $(cat "$WORK/a2.log")"
grep -q "reloaded: 2 tenants" "$WORK/controller.log" || fail "the reload was not logged"
touch "$GO"
wait $A1
pool_finish pool_tenants
