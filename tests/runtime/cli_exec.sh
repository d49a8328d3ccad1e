#!/usr/bin/env bash
# xpool exec as a user runs it: the real binary, the real runtime, the fake driver.
# Usage: cli_exec.sh XPOOL PROBE FAKE_DRIVER_DIR
source "$(dirname "$0")/cli_common.sh"

out=$("$XPOOL" exec --gpu-memory 1Gi -- "$PROBE" ctx 0 alloc-until-oom 64 meminfo) || fail "exec failed"
expect "$out" "allocated 11 then oom"
expect "$out" "meminfo ok free=20 total=1024"
ls /dev/shm | grep -q "^xpool-exec-" && fail "the command's own slice segment was left behind"

"$XPOOL" exec --gpu-memory 1Gi -- sh -c 'exit 7'
[ $? -eq 7 ] || fail "exit code not passed through"

err=$("$XPOOL" exec --gpu-memory 8GB -- true 2>&1)
[ $? -eq 2 ] || fail "bad quota must exit 2"
expect "$err" "--gpu-memory"

"$XPOOL" exec -- /nonexistent/program 2>/dev/null
[ $? -eq 127 ] || fail "a missing command must exit 127"

err=$("$XPOOL" exec --devices 0,x -- true 2>&1)
[ $? -eq 2 ] || fail "bad device list must exit 2"

out=$("$XPOOL" exec --devices 1 --gpu-memory 2Gi -- "$PROBE" ctx 0 meminfo nvml-meminfo 1)
expect "$out" "meminfo ok free=1748 total=2048"
expect "$out" "nvml 0 0 total=2048"

# Two commands joining one slice share its quota.
slice=$(mktemp -u /tmp/xpool-exec-test.XXXXXX)
"$XPOOL" exec --slice "$slice" --gpu-memory 2Gi -- "$PROBE" ctx 0 alloc 600 ready "$slice.ready" hold >/dev/null &
holder=$!
for _ in $(seq 500); do [ -e "$slice.ready" ] && break; sleep 0.01; done
out=$("$XPOOL" exec --slice "$slice" --gpu-memory 2Gi -- "$PROBE" ctx 0 alloc-until-oom 64)
expect "$out" "allocated 13 then oom"
# Signals reach the command: SIGTERM to xpool exec ends it with 128+15.
kill -TERM $holder
wait $holder
[ $? -eq 143 ] || fail "SIGTERM was not forwarded"
rm -f "$slice" "$slice.ready"
# A compute share: the fake device's 500 us kernels get 30 % of its time.
export FAKE_CUDA_TIMELINE=$(mktemp -u /tmp/xpool-exec-timeline.XXXXXX) XPOOL_COMPUTE_DIR=/tmp
out=$("$XPOOL" exec --gpu-core 30 -- "$PROBE" ctx 0 run 500 1 kernel)
share=$(sed -n 's/.*share=\([0-9.]*\).*/\1/p' <<<"$out")
awk -v s="$share" 'BEGIN { exit !(s > 0.26 && s < 0.34) }' || fail "--gpu-core 30 gave share $share"
err=$("$XPOOL" exec --gpu-core 0 -- true 2>&1)
[ $? -eq 2 ] || fail "--gpu-core 0 must exit 2"
expect "$err" "--gpu-core"
err=$("$XPOOL" exec --compute-policy fair -- true 2>&1)
[ $? -eq 2 ] || fail "an unknown policy must exit 2"
err=$("$XPOOL" exec --priority urgent -- true 2>&1)
[ $? -eq 2 ] || fail "an unknown priority must exit 2"
err=$("$XPOOL" exec --gpu-core 30 --compute-period 5 -- true 2>&1)
[ $? -eq 2 ] || fail "--compute-period 5 must exit 2"
expect "$err" "--compute-period: period '5' is not a whole number of milliseconds from 10 to 10000"
out=$("$XPOOL" exec --gpu-core 30 --compute-period 200 -- sh -c 'echo "period=$XPOOL_COMPUTE_PERIOD_MS"')
expect "$out" "period=200"
rm -f "$FAKE_CUDA_TIMELINE" /tmp/xpool-compute-*
echo "cli_exec: all checks passed"
