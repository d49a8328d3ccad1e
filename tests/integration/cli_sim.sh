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
expect 0 '^xpool 0\.[0-9]+\.[0-9]+$' -- --version
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
# --arrivals: every arrived pod of each seed, in order, with its fate.
"$XPOOL" sim --nodes "$DATA/nodes.csv" --pods "$DATA/pods.csv" --policy xpool --seeds 1-2 --json \
  --arrivals "$WORK/arrivals.csv" >"$WORK/arrivals.json" || fail "--arrivals run failed"
head -1 "$WORK/arrivals.csv" | grep -qx 'policy,seed,index,num_gpu,gpu_milli,placed' ||
  fail "--arrivals header"
for seed in 1 2; do
  rows=$(grep -c "^xpool,$seed," "$WORK/arrivals.csv")
  placed=$(grep -c "^xpool,$seed,.*,1\$" "$WORK/arrivals.csv")
  [ "$rows" -gt 0 ] && [ "$placed" -gt 0 ] && [ "$placed" -le "$rows" ] ||
    fail "--arrivals seed $seed: $rows rows, $placed placed"
  [ "$(grep -c "^xpool,$seed,0," "$WORK/arrivals.csv")" -eq 1 ] || fail "--arrivals seed $seed: index 0"
done
expect 2 "--arrivals needs the inflate replay" -- sim --nodes "$DATA/nodes.csv" --pods "$DATA/pods.csv" \
  --replay timed --arrivals "$WORK/never.csv"
# bench/online_bound.py: a floor no policy goes under. 810-milli pods leave 190 that only the few
# 160-milli pods fill, so the floor is well above zero.
{
  echo "sn,cpu_milli,memory_mib,gpu,model"
  for n in 1 2 3 4 5 6; do echo "n$n,64000,262144,4,V100M32"; done
} >"$WORK/frag_nodes.csv"
{
  echo "name,cpu_milli,memory_mib,num_gpu,gpu_milli"
  for i in $(seq 1 12); do echo "a$i,1000,1024,1,810"; done
  for i in $(seq 1 8); do echo "b$i,1000,1024,1,1000"; done
  for i in $(seq 1 6); do echo "c$i,1000,1024,1,470"; done
  for i in 1 2; do echo "d$i,1000,1024,1,160"; done
} >"$WORK/frag_pods.csv"
"$XPOOL" sim --nodes "$WORK/frag_nodes.csv" --pods "$WORK/frag_pods.csv" --policy all --seeds 1-4 \
  --arrivals "$WORK/frag_arrivals.csv" >/dev/null || fail "--arrivals run on the fragmenting trace failed"
BOUND="$(dirname "$0")/../../bench/online_bound.py"
if "$BOUND" "$WORK/frag_nodes.csv" "$WORK/frag_arrivals.csv" >"$WORK/bound.txt"; then
  awk '$2 ~ /^[0-9]+$/ { rows++; if ($4 > $5 + 0.05) bad = bad " " $1 "/" $2; if ($4 > 0.5) positive++ }
       END { if (rows != 28 || bad != "" || positive != rows) { print "rows " rows ", under the floor:" bad \
             ", floors above 0.5: " positive; exit 1 } }' "$WORK/bound.txt" ||
    fail "online_bound.py: $(cat "$WORK/bound.txt")"
else
  fail "online_bound.py failed"
fi
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

# On a terminal the progress bar is erased before the table: the table's first line starts a
# clean line (it was glued to the bar).
if command -v script >/dev/null; then
  script -qec "'$XPOOL' sim --seeds 42" /dev/null >"$WORK/tty.out" 2>&1
  python3 - "$WORK/tty.out" <<'PY' || fail "the progress bar is not erased before the table"
import sys
text = open(sys.argv[1], "rb").read().decode(errors="replace")
before = text[: text.find("workload ")]
sys.exit(0 if "[#" in before and before.endswith("\r") else 1)
PY
fi

[ "$failures" -eq 0 ] && echo "all CLI checks passed"
exit "$failures"
