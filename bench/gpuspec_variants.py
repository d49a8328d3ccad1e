#!/usr/bin/env python3
"""Makes model-constrained variants of an openb pod list, as the FGD artifact's gpuspecXX lists are
made from the default one: the same pods, a fraction of the GPU pods given a gpu_spec (the GPU
models they accept, '|'-separated). Each pod drawn gets a spec from SPEC weights, among the specs
whose models the cluster has a node able to host the pod on (enough GPUs, CPU and memory), so
that no constraint makes a pod unplaceable in an empty cluster.

  gpuspec_variants.py --pods POD_CSV --nodes NODE_CSV --fraction 0.20 --seed 1 --out OUT_CSV
      [--weights published|capacity|uniform]

Weights: `published` follows the artifact's gpuspec33 list, whose most frequent specs are T4
(1291 pods), G2 (331) and P100 (279) of 2388; the other 487 are spread over the remaining
specs of the cluster in proportion to their GPUs (what is not published is not guessed
further). `capacity` weighs each model by its GPUs in the cluster; `uniform` weighs all specs
alike. Tune a policy on several of these, never on one file.
"""
import argparse
import collections
import csv
import random
import sys

PUBLISHED_TOP = {"T4": 1291, "G2": 331, "P100": 279}
PUBLISHED_TOTAL = 2388
# Specs a pod can name: single models, and the one pair the artifact's lists use.
PAIRS = ["V100M16|V100M32"]


def read_nodes(path):
    nodes = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            nodes.append((row["model"], int(row["gpu"]), int(row["cpu_milli"]), int(row["memory_mib"])))
    return nodes


def spec_weights(nodes, how):
    gpus = collections.Counter()
    for model, count, _, _ in nodes:
        if count > 0:
            gpus[model] += count
    specs = [m for m in sorted(gpus)] + [p for p in PAIRS if all(m in gpus for m in p.split("|"))]
    capacity = {s: sum(gpus[m] for m in s.split("|")) for s in specs}
    if how == "uniform":
        return {s: 1.0 for s in specs}
    if how == "capacity":
        return {s: float(capacity[s]) for s in specs if "|" not in s}
    rest = [s for s in specs if s not in PUBLISHED_TOP]
    rest_gpus = sum(capacity[s] for s in rest)
    weights = {s: float(n) for s, n in PUBLISHED_TOP.items() if s in capacity}
    remaining = PUBLISHED_TOTAL - sum(PUBLISHED_TOP.values())
    for s in rest:
        weights[s] = remaining * capacity[s] / rest_gpus
    return weights


def hosts(nodes, spec, pod):
    models = set(spec.split("|"))
    gpus, cpu, mem = int(pod["num_gpu"]), int(pod["cpu_milli"]), int(pod["memory_mib"])
    return any(m in models and g >= gpus and c >= cpu and mm >= mem for m, g, c, mm in nodes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pods", required=True)
    ap.add_argument("--nodes", required=True)
    ap.add_argument("--fraction", type=float, required=True, help="of the GPU pods, 0..1")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--weights", choices=["published", "capacity", "uniform"], default="published")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if not 0 <= args.fraction <= 1:
        sys.exit("gpuspec_variants: --fraction must be from 0 to 1")
    nodes = read_nodes(args.nodes)
    weights = spec_weights(nodes, args.weights)
    with open(args.pods, newline="") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames
        pods = list(reader)
    if "gpu_spec" not in fields:
        sys.exit("gpuspec_variants: the pod list has no gpu_spec column (11-column openb format)")
    rng = random.Random(args.seed)
    gpu_pods = [i for i, p in enumerate(pods) if int(p["num_gpu"]) > 0 and not p["gpu_spec"]]
    chosen = rng.sample(gpu_pods, round(args.fraction * len(gpu_pods)))
    named = collections.Counter()
    for i in sorted(chosen):
        feasible = [s for s in weights if hosts(nodes, s, pods[i])]
        if not feasible:
            continue
        spec = rng.choices(feasible, weights=[weights[s] for s in feasible])[0]
        pods[i]["gpu_spec"] = spec
        named[spec] += 1
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(pods)
    print(f"gpuspec_variants: {sum(named.values())} of {len(gpu_pods)} GPU pods constrained: "
          + ", ".join(f"{s} {n}" for s, n in named.most_common()), file=sys.stderr)


if __name__ == "__main__":
    main()
