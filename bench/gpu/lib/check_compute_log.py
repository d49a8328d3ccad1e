"""Reads the log of bench/gpu/runtime_compute.sh and states each compute-share criterion as
PASS/FAIL (exit status 1 if any fails).   python3 bench/gpu/lib/check_compute_log.py LOG
"""
import statistics
import sys

from records import deviations, load, rate, side_rate, weighted_pair


def main(path):
    recs = load(path)
    ok = True

    def report(name, passed, detail):
        nonlocal ok
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}")

    runs = [r for r in recs if r["mode"] == "run"]
    native = {}
    for w in ("matmul", "small", "graph"):
        base = [rate(r) for r in runs if r["tag"] == "native" and r["workload"] == w]
        if not base:
            continue
        native[w] = statistics.mean(base)
        print(f"INFO  {w} unlimited: {native[w]:.1f} it/s (runs {', '.join(f'{b:.1f}' for b in base)})")
        for r in (r for r in runs if r["tag"] == "fixed" and r["workload"] == w):
            share = int(r["env"]["XPOOL_GPU_CORE"])
            got = 100 * rate(r) / native[w]
            period = r["env"].get("XPOOL_COMPUTE_PERIOD_MS")
            name = f"{w} fixed {share} %" + (f" (period {period} ms)" if period else "")
            if share == 100:
                report(f"{w} at a 100 % share costs <= 1 %", got >= 99, f"{got:.1f} % of unlimited")
            else:
                report(name, abs(got - share) <= 3, f"{got:.1f} % of unlimited")
    for steady in (r for r in runs if r["tag"] == "steady" and r["workload"] in native):
        w = steady["workload"]
        target = 0.30 * native[w]
        dev = deviations(steady, target)
        period = steady["env"].get("XPOOL_COMPUTE_PERIOD_MS")
        print(f"INFO  steady {w} run: period {period or 'default'} ms")
        report(f"{w} fixed 30 % reached within 1 s", abs(dev[0]) <= 5,
               f"first second {dev[0]:+.1f} % of the target")
        report(f"{w} fixed 30 % steady over 30 s (each second within +-5 %)", max(map(abs, dev)) <= 5,
               f"per-second deviation from the target {min(dev):+.1f} % .. {max(dev):+.1f} %")
        mean = statistics.mean(steady["per_second"][1:])
        spread = [100 * (x - mean) / target for x in steady["per_second"][1:]]
        print(f"INFO  {w} seconds 2-30 around their own mean: {min(spread):+.1f} % .. {max(spread):+.1f} % "
              f"of the target (the mean is {100 * (mean - target) / target:+.1f} % off the target)")
    for tag, w in (("weighted", "matmul"), ("weighted-graph", "graph")):
        pair = weighted_pair([r for r in runs if r["tag"] == tag])
        if pair is None:
            continue
        low, high = pair
        ratio = low / high
        report(f"weighted 30:70, {w}", abs(ratio / (30 / 70) - 1) <= 0.05,
               f"{low:.1f} vs {high:.1f} it/s, ratio {ratio:.3f} (30:70 = 0.429), "
               f"together {100 * (low + high) / native[w]:.1f} % of unlimited")
    equal = [100 * side_rate(r) / native["matmul"] for r in runs if r["tag"] == "equal"]
    if equal:
        report("equal, three processes", all(abs(e - 100 / 3) <= 3 for e in equal),
               ", ".join(f"{e:.1f} %" for e in equal) + " of unlimited")
    for r in (r for r in runs if r["tag"] == "best-effort"):
        got = 100 * rate(r) / native[r["workload"]]
        report(f"best-effort alone, {r['workload']}", got >= 97, f"{got:.1f} % of unlimited")
    inf = {r["tag"]: r for r in recs if r["mode"] == "infer"}
    alone = [r for r in recs if r["mode"] == "infer" and r["tag"] == "alone"]
    if alone and "priority" in inf:
        # The step alone, measured before and after the others: the mean of its readings.
        a = {k: statistics.mean(r[k] for r in alone) for k in ("p50_ms", "p99_ms")}
        p, c = inf["priority"], inf.get("colocated")
        report("high-priority inference p50 <= 1.2x alone", p["p50_ms"] <= 1.2 * a["p50_ms"],
               f"{p['p50_ms']:.2f} ms vs {a['p50_ms']:.2f} ms alone ({p['p50_ms'] / a['p50_ms']:.2f}x)")
        report("high-priority inference p99 <= 1.5x alone", p["p99_ms"] <= 1.5 * a["p99_ms"],
               f"{p['p99_ms']:.2f} ms vs {a['p99_ms']:.2f} ms alone ({p['p99_ms'] / a['p99_ms']:.2f}x)")
        if c:
            print(f"INFO  plain co-location: p50 {c['p50_ms']:.2f} ms ({c['p50_ms'] / a['p50_ms']:.2f}x), "
                  f"p99 {c['p99_ms']:.2f} ms ({c['p99_ms'] / a['p99_ms']:.2f}x)")
        pa = inf.get("priority-alone")
        if pa:
            print(f"INFO  inference alone under the runtime: p50 {pa['p50_ms']:.2f} ms, p99 {pa['p99_ms']:.2f} ms")
        for r in (r for r in runs if r["tag"] in ("priority", "colocated")):
            print(f"INFO  training tenant ({r['tag']}): {100 * rate(r) / native['matmul']:.1f} % of "
                  f"unlimited, per second {[round(x) for x in r['per_second']]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
