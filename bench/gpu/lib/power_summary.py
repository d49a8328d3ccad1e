"""Summarises a power_headroom.sh log: for each case, throughput against the unlimited runs, the
card's mean power, the energy of one product, the instantaneous power and the SM clock.

  power_summary.py LOG
"""
import json
import statistics
import sys


def main(path):
    recs = [json.loads(line) for line in open(path) if line.startswith("{")]
    runs = {}
    for r in recs:
        if r["mode"] == "run":
            runs.setdefault(r["tag"], []).append(statistics.mean(r["per_second"][1:]))
    power = {}
    for r in recs:
        if r["mode"] == "power":
            power.setdefault(r["tag"], []).append(r)
    base = statistics.mean(runs["unlimited"])
    print(f"unlimited: {base:.0f} products/s ({', '.join('%.0f' % x for x in runs['unlimited'])})")
    print("| case | throughput, % of unlimited | card's mean power, W (limit) | J per product |"
          " instantaneous W p10 / p50 / p90 | SM MHz p10 / p50 / p90 |")
    print("|---|---|---|---|---|---|")
    for tag, samples in power.items():
        for i, p in enumerate(samples):
            rate = runs[tag][i]
            fillers = runs.get(tag + "-filler", [])
            filler = fillers[i] if i < len(fillers) else 0.0
            both = rate + filler
            share = f"{100 * rate / base:.1f}" + (f" (+ filler {100 * filler / base:.1f})" if filler else "")
            inst = p.get("instant_w", {})
            clk = p.get("sm_mhz", {})
            fmt = lambda d: " / ".join("%.0f" % d[k] for k in ("p10", "p50", "p90")) if d else "n/a"
            print(f"| {tag} | {share} | {p['mean_w']:.0f} ({p['limit_w']:.0f}) |"
                  f" {p['mean_w'] / both:.3f} | {fmt(inst)} | {fmt(clk)} |")


if __name__ == "__main__":
    main(sys.argv[1])
