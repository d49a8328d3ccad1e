"""The compute benchmarks' logs, read one way by every summary: the JSON lines that
compute_bench.py and held_time.py print, and the rates taken from them. Summaries run from the
repository root import it with sys.path.insert(0, "bench/gpu")."""
import json
import statistics


def load(path):
    """The JSON records of a log, in order."""
    return [json.loads(line) for line in open(path) if line.startswith("{")]


def rate(record):
    """A run's iterations per second, its first second (start-up) left out."""
    return statistics.mean(record["per_second"][1:])


def side_rate(record):
    """The same for a run beside others, its last second left out too: the processes do not end
    together, and the one that ends last runs that second alone."""
    return statistics.mean(record["per_second"][1:-1])


def weighted_pair(runs):
    """Of two side-by-side runs at XPOOL_GPU_CORE 30 and 70: their rates (30 %, 70 %), or None
    when `runs` is not such a pair."""
    if len(runs) != 2:
        return None
    by = {int(r["env"]["XPOOL_GPU_CORE"]): side_rate(r) for r in runs}
    return by[30], by[70]


def neighbours(runs, i):
    """The unlimited ("native") runs of run i's workload just before and just after it in `runs`:
    two, one when there is no other, or none."""
    def unlimited(n):
        return n["tag"] == "native" and n["workload"] == runs[i]["workload"]

    before = [n for n in reversed(runs[:i]) if unlimited(n)][:1]
    after = [n for n in runs[i + 1:] if unlimited(n)][:1]
    return before + after


def around(runs, i):
    """The mean rate of run i's neighbours, or None when it has none."""
    near = neighbours(runs, i)
    return statistics.mean(rate(n) for n in near) if near else None


def deviations(record, target):
    """Each second's rate of `record` against `target`, in % of the target."""
    return [100 * (x - target) / target for x in record["per_second"]]
