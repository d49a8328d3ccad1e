#!/usr/bin/env bash
# xpool shares reads what the runtime's arbitration segments say, as an operator runs it: two
# commands under xpool exec at fixed 30 % and 50 % over the fake driver, read while they run and
# after they end.   Usage: cli_shares.sh XPOOL PROBE FAKE_DRIVER_DIR
source "$(dirname "$0")/cli_common.sh"
dir=$(mktemp -d /tmp/xpool-shares-test.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export XPOOL_COMPUTE_DIR="$dir" FAKE_CUDA_TIMELINE="$dir/timeline" FAKE_CUDA_EXPORT_FILE="$dir/exports"

out=$("$XPOOL" shares)
[ $? -eq 0 ] || fail "no segments is not an error"
expect "$out" "no compute segments in $dir"

"$XPOOL" exec --slice "$dir/xpool-slice-alloc-7" --gpu-core 30 -- "$PROBE" ctx 0 run 500 2 kernel >"$dir/30.out" &
"$XPOOL" exec --gpu-core 50 --priority high -- "$PROBE" ctx 0 run 500 2 kernel >"$dir/50.out" &
sleep 1
during=$("$XPOOL" shares --interval 0.5 --json) || fail "shares failed while the commands ran"
wait
after=$("$XPOOL" shares --json --interval 0) || fail "shares failed after the commands ended"
table=$("$XPOOL" shares --interval 0)
expect "$table" "policy fixed"
expect "$table" "xpool-slice-alloc-7"

python3 - "$during" "$after" "$dir" <<'PY' || fail "shares reported wrong figures"
import json, re, sys
during, after = (json.loads(a) for a in sys.argv[1:3])
assert len(during) == 1 and during[0]["policy"] == "fixed", during
by = {s["share_percent"]: s for s in during[0]["slices"]}
named, own = by[30], by[50]
assert named["name"] == "xpool-slice-alloc-7", named
assert own["name"].startswith("xpool-exec-"), own  # xpool exec gives each command a slice
assert own["priority"] == "high" and named["priority"] == "normal", during
for s, share in ((named, 30), (own, 50)):
    assert len(s["pids"]) == 1, s
    # In use, and no more than the cap over 0.5 s of 6-10 ms leases (less on a loaded machine).
    assert 0 < s["use_percent"] <= share + 8, (share, s)
done = {s["share_percent"]: s for s in after[0]["slices"]}
for share, s in done.items():
    assert s["pids"] == [] and not s["holding"], s
    # The device time the fake device ran the command's kernels over its 2 s (share=); the
    # leases charged also hold the gaps between kernels, a few percent (more on a loaded machine).
    ran = 2 * float(re.search(r"share=([0-9.]+)", open(f"{sys.argv[3]}/{share}.out").read())[1])
    assert ran - 0.02 <= s["used_seconds"] <= ran * 1.1 + 0.03, (share, ran, s)
PY

# Slices whose processes are gone and that have been idle past --hide-after are left out.
sleep 1
hidden=$("$XPOOL" shares --interval 0 --hide-after 0.5 --json) || fail "shares --hide-after failed"
python3 -c 'import json, sys; d = json.loads(sys.argv[1]); assert d[0]["slices"] == [], d' "$hidden" ||
  fail "idle slices were not left out: $hidden"
expect "$("$XPOOL" shares --interval 0 --hide-after 0.5)" "2 slices without processes, idle over 0.5 s, left out"
shown=$("$XPOOL" shares --interval 0 --hide-after 0.5 --all --json)
python3 -c 'import json, sys; d = json.loads(sys.argv[1]); assert len(d[0]["slices"]) == 2, d' "$shown" ||
  fail "--all did not show the idle slices: $shown"

# A segment that cannot be read is named on stderr, once, and fails the command; the readable
# ones are still shown.
echo junk > "$dir/xpool-compute-v5-bad"
table=$("$XPOOL" shares --all --interval 0.2 2>"$dir/err")
[ $? -eq 1 ] || fail "a segment that cannot be read must exit 1"
expect "$(cat "$dir/err")" "xpool-compute-v5-bad' is not an xpool compute segment"
[ "$(wc -l <"$dir/err")" -eq 1 ] || fail "the unreadable segment was reported more than once: $(cat "$dir/err")"
expect "$table" "xpool-slice-alloc-7"
err=$("$XPOOL" shares --dir "$dir/none" 2>&1)
[ $? -eq 1 ] || fail "a missing directory must exit 1"
expect "$err" "read directory"
"$XPOOL" shares --interval -1 2>/dev/null
[ $? -eq 2 ] || fail "a negative interval must exit 2"
echo "cli_shares: ok"
