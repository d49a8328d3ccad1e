"""Summary of bench/gpu/lib/host_noise.sh's log: for each small-eager run, measured beside a
pure-Python loop on another core (cpu_loop.py), how much of its per-second noise the host's speed
explains, and its share of the unlimited runs around it, raw and per unit of host speed.

  host_noise.py LOG
"""
import statistics
import sys

sys.path.insert(0, "bench/gpu")
import records  # noqa: E402


def cv(xs):
    return 100 * statistics.stdev(xs) / statistics.mean(xs)


def main(path):
    rows = records.load(path)
    runs = [r for r in rows if r["mode"] == "run"]
    loops = [r for r in rows if r["mode"] == "cpu"]
    if len(runs) != len(loops):
        sys.exit(f"{path}: {len(runs)} runs but {len(loops)} host loops")
    # Each second of a run divided by the host loop's same second: the run's rate per unit of
    # host speed. The first second (start-up) is left out, as records.rate does.
    for r, c in zip(runs, loops):
        r["speed"] = [x / h for x, h in zip(r["per_second"][1:], c["per_second"][1:])]
        r["host"] = c["per_second"][1:]
    print(f"{'run':<12} {'rate it/s':>9} {'CV %':>5} {'host CV %':>9} {'r':>5} "
          f"{'per host CV %':>13} {'CPU s/s':>7} {'share %':>8} {'per host %':>10}")
    for i, r in enumerate(runs):
        rate, host = r["per_second"][1:], r["host"]
        share = per_host = ""
        if r["tag"] != "native":
            share = f"{100 * records.rate(r) / records.around(runs, i):.1f}"
            near_speed = statistics.mean(statistics.mean(n["speed"])
                                         for n in records.neighbours(runs, i))
            per_host = f"{100 * statistics.mean(r['speed']) / near_speed:.1f}"
        print(f"{r['tag']:<12} {statistics.mean(rate):9.1f} {cv(rate):5.1f} {cv(host):9.1f} "
              f"{statistics.correlation(rate, host):5.2f} {cv(r['speed']):13.1f} "
              f"{statistics.mean(r['cpu_per_second'][1:]):7.2f} {share:>8} {per_host:>10}")


if __name__ == "__main__":
    main(sys.argv[1])
