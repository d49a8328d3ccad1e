#!/usr/bin/python3
"""Lower bound on the GPUs left unallocated at 100 % arrived by any scheduler that places every pod
some GPU has room for, computed per seed from the arrivals of an inflate replay.

packing_bound.py gives the best offline packing, which may turn pods away at will. An online
scheduler cannot: until the cluster runs out of whole free GPUs (the *wall*; with no departures
it never comes back), every pod that arrives fits somewhere and is placed. So, for a wall after
arrival k:
  - every sharing pod and single whole-GPU pod among the first k was placed, so the unallocated
    GPUs are at least the capacity minus the best packing of the pods arrived by 100 % that
    includes those (a linear programme over per-GPU patterns, as in packing_bound.py): P(k),
    which grows with k;
  - every whole-GPU pod arriving after the wall fails, so they are at least the whole-GPU demand
    arriving after k and by 100 %: W(k), which shrinks with k.
A scheduler's wall is at some k, so it leaves at least min over k of max(P(k), W(k)). With k* the
first arrival where P(k) >= W(k), that is min(P(k*), W(k* - 1)), found by bisection.

Relaxed, so the figure is a floor: CPU, host memory, GPU models and nodes are ignored (multi-GPU
pods need not fit in one node and need not be placed before the wall), and pattern counts may be
fractional.

Usage: bench/online_bound.py NODE_CSV ARRIVALS_CSV
  ARRIVALS_CSV: from `xpool sim --nodes NODE_CSV --pods POD_CSV --seeds ... --arrivals FILE`.
Prints, per policy and seed, the bound and the policy's own unallocated GPUs at 100 % arrived.
Needs Debian's python3-scipy (scripts/setup installs it).
"""
import collections
import functools
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from packing_bound import GPU_MILLI, best_packing_loss, read_rows  # noqa: E402

def arrived_by_capacity(capacity, pods):
    """The pods that arrived while the demand was at most the capacity (100 % arrived)."""
    arrived, prefix = 0, []
    for count, milli, placed in pods:
        if arrived + count * milli > capacity * GPU_MILLI:
            break
        arrived += count * milli
        prefix.append((count, milli, placed))
    return prefix


def unallocated_gpus(capacity, pods):
    """The policy's unallocated GPUs once the last pod within the capacity has arrived."""
    placed = sum(c * m for c, m, ok in arrived_by_capacity(capacity, pods) if ok)
    return capacity - placed / GPU_MILLI


def seed_bound(capacity, pods):
    """pods: (num_gpu, gpu_milli, placed) in arrival order. Returns (bound, wall fraction)."""
    prefix = arrived_by_capacity(capacity, pods)
    upper = collections.Counter(m for c, m, _ in prefix if c == 1 and m < GPU_MILLI)
    whole_upper = sum(c for c, m, _ in prefix if c > 1 or m >= GPU_MILLI)

    @functools.lru_cache(maxsize=None)  # each is a linear programme; the bisection asks again
    def packing(k):
        lower = collections.Counter(m for c, m, _ in prefix[:k] if c == 1 and m < GPU_MILLI)
        single = sum(1 for c, m, _ in prefix[:k] if c == 1 and m >= GPU_MILLI)
        return best_packing_loss(capacity, upper, lower, whole_upper, single)[0]

    def whole_after(k):
        return sum(c for c, m, _ in prefix[k:] if c > 1 or m >= GPU_MILLI)

    lo, hi = 0, len(prefix)  # first k with packing(k) >= whole_after(k) lies in (lo, hi]
    if packing(0) >= whole_after(0):
        return packing(0), 0.0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if packing(mid) >= whole_after(mid):
            hi = mid
        else:
            lo = mid
    bound = min(packing(hi), whole_after(lo))
    wall = sum(c * m for c, m, _ in prefix[:hi]) / (capacity * GPU_MILLI)
    return bound, wall


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: " + __doc__.split("Usage: ")[1].split("\n")[0])
    capacity = sum(int(r["gpu"]) for r in read_rows(argv[1], {"gpu"}))
    runs = collections.defaultdict(list)
    for row in read_rows(argv[2], {"policy", "seed", "num_gpu", "gpu_milli", "placed"}):
        try:
            runs[(row["policy"], int(row["seed"]))].append(
                (int(row["num_gpu"]), int(row["gpu_milli"]), row["placed"] == "1"))
        except ValueError:
            sys.exit(f"online_bound.py: {argv[2]}: a row that does not parse: {row}")
    if not runs:
        sys.exit(f"online_bound.py: {argv[2]} holds no arrivals")
    print(f"{'policy':12} {'seed':>5} {'wall@':>7} {'online_floor@100':>17} {'policy_unalloc@100':>19}")
    totals = collections.defaultdict(lambda: [0.0, 0.0, 0])
    known = {}  # the arrival order depends on the seed only: policies of one seed share a bound
    for (policy, seed), pods in sorted(runs.items()):
        order = tuple((c, m) for c, m, _ in pods)
        if (seed, order) not in known:
            known[(seed, order)] = seed_bound(capacity, pods)
        bound, wall = known[(seed, order)]
        failed = unallocated_gpus(capacity, pods)
        print(f"{policy:12} {seed:5d} {100 * wall:6.2f}% {bound:17.1f} {failed:19.1f}")
        t = totals[policy]
        t[0] += bound
        t[1] += failed
        t[2] += 1
    for policy, (bound, failed, n) in sorted(totals.items()):
        print(f"{policy:12} {'mean':>5} {'':7} {bound / n:17.1f} {failed / n:19.1f}")


if __name__ == "__main__":
    main(sys.argv)
