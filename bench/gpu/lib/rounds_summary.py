"""Summarises interleaved rounds (bench/gpu/runtime_robustness.sh busy): each run that is not unlimited is
divided by the mean of the unlimited runs of the same workload just before and just after it.
    python3 bench/gpu/lib/rounds_summary.py LOG
"""
import collections
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from records import around, deviations, load, rate  # noqa: E402


def main(path):
    runs = [r for r in load(path) if r.get("mode") == "run"]
    by_tag = collections.defaultdict(list)
    for i, r in enumerate(runs):
        if r["tag"] == "native":
            continue
        base = around(runs, i)
        if base is None:
            continue
        by_tag[(r["workload"], r["tag"])].append(100 * rate(r) / base)
        if len(r["per_second"]) >= 10:  # a steadiness run: each second against its share
            share = int(r["env"]["XPOOL_GPU_CORE"] or 100)
            target = base * share / 100
            dev = deviations(r, target)
            print(f"{r['workload']} {r['tag']}: first second {dev[0]:+.1f} %, seconds "
                  f"{min(dev):+.1f} .. {max(dev):+.1f} % of the target ({share} % of {base:.1f} it/s)")
    natives = collections.defaultdict(list)
    for r in runs:
        if r["tag"] == "native":
            natives[r["workload"]].append(rate(r))
    for w, v in natives.items():
        print(f"{w} unlimited: {', '.join(f'{x:.1f}' for x in v)} it/s")
    for (w, tag), v in sorted(by_tag.items()):
        print(f"{w} {tag}: {' / '.join(f'{x:.1f}' for x in v)} % of unlimited "
              f"(mean {statistics.mean(v):.1f})")


if __name__ == "__main__":
    main(sys.argv[1])
