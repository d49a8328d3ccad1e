#!/usr/bin/python3
"""Lower bound on the GPUs any scheduler leaves unallocated at 100 % arrived on an openb trace.

At 100 % arrived the pods that have arrived ask for exactly the cluster's GPUs, so the unallocated
GPUs equal the demand of the pods that failed, and no policy can do better than the best packing of
that demand into the cluster's GPUs. This computes that best packing as a linear programme over
per-GPU patterns (multisets of sharing pods whose shares sum to at most one GPU) and reports
capacity minus the packed share.

It relaxes everything that only makes packing harder, so the figure is a floor, not a target:
  - the arrived pods are the trace's pod mix scaled to the cluster's GPUs (the replay resamples
    the trace, so each seed's mix differs slightly from this);
  - whole-GPU and multi-GPU pods may take any free GPUs, of any node;
  - CPU, host memory, GPU models and the order of arrival are ignored (the packing is offline);
  - pattern counts may be fractional.

Usage: bench/packing_bound.py NODE_CSV POD_CSV [POD_CSV ...]
Needs Debian's python3-scipy (scripts/setup installs it).
"""
import collections
import csv
import os
import sys

GPU_MILLI = 1000
PROG = os.path.basename(sys.argv[0])  # also names online_bound.py, which builds on this module

try:
    import numpy as np
    from scipy.optimize import linprog
except ImportError:
    sys.exit(f"{PROG}: needs numpy and scipy (apt-get install python3-scipy)")


def read_rows(path, needed):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit(f"{PROG}: cannot read {path}: {e.strerror}")
    if rows and not needed <= rows[0].keys():
        sys.exit(f"{PROG}: {path}: header lacks {sorted(needed - rows[0].keys())}")
    return rows


def patterns(sizes):
    """Every non-empty multiset of `sizes` whose sum fits one GPU, as count vectors."""
    out, current = [], []

    def extend(i, room):
        if i == len(sizes):
            if any(current):
                out.append(list(current))
            return
        k = 0
        while k * sizes[i] <= room:
            current.append(k)
            extend(i + 1, room - k * sizes[i])
            current.pop()
            k += 1

    extend(0, GPU_MILLI)
    return np.array(out, dtype=float)


def best_packing_loss(capacity, upper, lower=None, whole_upper=0, whole_lower=0):
    """Capacity minus the most GPU share a packing places, as a linear programme over per-GPU
    patterns. It places between lower[s] and upper[s] sharing pods of each share s, and between
    whole_lower and whole_upper GPUs of whole-GPU pods. Returns (that loss, or infinity when the
    lower bounds cannot all be placed; the number of patterns)."""
    lower = lower or {}
    sizes = sorted(upper)
    pats = patterns(sizes) if sizes else np.zeros((0, 0))
    n = len(pats)
    share_of = pats @ np.array(sizes, dtype=float) if n else np.zeros(0)
    # Variables: GPUs packed with each pattern, then GPUs given to whole-GPU pods.
    objective = -np.concatenate([share_of, [GPU_MILLI]])
    rows, limits = [np.ones(n + 1)], [capacity]
    for i, size in enumerate(sizes):
        column = np.concatenate([pats[:, i], [0]])
        rows += [column, -column]
        limits += [upper[size], -lower.get(size, 0)]
    whole = np.concatenate([np.zeros(n), [1]])
    rows += [whole, -whole]
    limits += [whole_upper, -whole_lower]
    result = linprog(objective, A_ub=np.array(rows), b_ub=np.array(limits), bounds=(0, None),
                     method="highs")
    if result.status == 2:  # infeasible
        return float("inf"), n
    if not result.success:
        sys.exit(f"{PROG}: the linear programme failed: {result.message}")
    return capacity + result.fun / GPU_MILLI, n


def bound(capacity_gpus, pod_rows):
    sharing = collections.Counter()  # milli-GPU share -> pods
    whole_gpus = 0
    for row in pod_rows:
        count, milli = int(row["num_gpu"]), int(row["gpu_milli"])
        if count == 0:
            continue
        if count > 1 or milli >= GPU_MILLI:
            whole_gpus += count
        else:
            sharing[milli] += 1
    demand_milli = whole_gpus * GPU_MILLI + sum(m * n for m, n in sharing.items())
    scale = capacity_gpus * GPU_MILLI / demand_milli  # arrived demand = capacity
    return best_packing_loss(capacity_gpus, {s: n * scale for s, n in sharing.items()},
                             whole_upper=whole_gpus * scale)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__.split("Usage: ")[1].split("\n")[0].join(["usage: ", ""]))
    nodes = read_rows(argv[1], {"gpu"})
    capacity = sum(int(r["gpu"]) for r in nodes)
    traces = [(path, read_rows(path, {"num_gpu", "gpu_milli"})) for path in argv[2:]]
    print(f"{'trace':32} {'GPUs':>6} {'patterns':>9} {'floor_unallocated@100':>22}")
    for path, rows in traces:
        floor, n = bound(capacity, rows)
        name = os.path.splitext(os.path.basename(path))[0]
        print(f"{name:32} {capacity:6d} {n:9d} {floor:22.1f}")


if __name__ == "__main__":
    main(sys.argv)
