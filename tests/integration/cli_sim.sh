#!/usr/bin/env bash
# Runs the real `xpool` binary as a user would: the built-in workload, a trace, and bad input.
set -uo pipefail
XPOOL="$1"
DATA="$2"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
source "$(dirname "$0")/lib/expect.sh"

# The main job: the built-in synthetic workload with the default policy.
expect 0 '^xpool +[0-9]' -- sim --seeds 1
# A trace in both pod formats, all policies, JSON and CSV.
expect 0 'fgd' -- sim --nodes "$DATA/nodes.csv" --pods "$DATA/pods.csv" --policy all --seeds 1-2
expect 0 'xpool' -- sim --nodes "$DATA/nodes.csv" --pods "$DATA/pods5.csv" --seeds 3
"$XPOOL" sim --nodes "$DATA/nodes.csv" --pods "$DATA/pods.csv" --policy fgd,xpool --seeds 1 --json >"$WORK/out.json" ||
  fail "--json run failed"
for key in '"policy"' '"seeds"' '"alloc_pct_at_arrived"' '"90"' '"100"' '"130"' '"unallocated_gpus_at_100"' \
  '"frag_pct_at_90"' '"decisions_per_second"' '"wall_seconds"'; do
  grep -q "$key" "$WORK/out.json" || fail "--json output lacks $key"
done
head -c1 "$WORK/out.json" | grep -q '\[' || fail "--json output is not one array"
"$XPOOL" sim --nodes "$DATA/nodes.csv" --pods "$DATA/pods.csv" --seeds 1-3 --csv "$WORK/curves.csv" >/dev/null ||
  fail "--csv run failed"
[ "$(grep -c '^pods,xpool,' "$WORK/curves.csv")" -eq 6 ] || fail "--csv should hold alloc and frag rows for 3 seeds"
expect 0 'wait p50' -- sim --nodes "$DATA/nodes.csv" --pods "$DATA/pods.csv" --replay timed --seeds 1

# Bad input: a clear message, exit code 2, nothing written.
expect 2 "cannot open '/nonexistent.csv'" -- sim --nodes /nonexistent.csv --pods "$DATA/pods.csv"
printf 'name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,10,1,500\np1,1000,10,x,500\n' >"$WORK/bad.csv"
expect 2 "bad.csv:3: num_gpu" -- sim --nodes "$DATA/nodes.csv" --pods "$WORK/bad.csv" --csv "$WORK/never.csv"
[ ! -e "$WORK/never.csv" ] || fail "a failed run wrote its --csv file"
expect 2 "unknown policy 'tetris'" -- sim --policy tetris --csv "$WORK/never.csv"
expect 2 "seed list '42-x'" -- sim --seeds 42-x
expect 2 "both --nodes and --pods" -- sim --nodes "$DATA/nodes.csv"
expect 2 "--replay must be" -- sim --replay sometimes
expect 2 "needs creation and deletion times" -- sim --nodes "$DATA/nodes.csv" --pods "$DATA/pods5.csv" --replay timed
expect 2 "tune" -- sim --tune 0
expect 2 "" -- sim --no-such-flag
[ ! -e "$WORK/never.csv" ] && [ ! -e "$WORK/never.csv.tmp" ] || fail "a failed run left output behind"

[ "$failures" -eq 0 ] && echo "all CLI checks passed"
exit "$failures"
