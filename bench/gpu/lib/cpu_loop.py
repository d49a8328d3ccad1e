"""How fast the host runs Python right now: a pure-Python loop (no CUDA, no memory traffic) prints
its iterations per wall-clock second as one JSON line, for comparison with a workload of
compute_bench.py measured at the same time on another core.

  cpu_loop.py SECONDS      BENCH_START_AT=EPOCH_SECONDS: start measuring then (as compute_bench.py)
"""
import json
import os
import sys
import time


def main(seconds):
    time.sleep(max(0.0, float(os.environ.get("BENCH_START_AT", "0")) - time.time()))
    per_second = []
    x = 1.0
    edge, count = time.perf_counter() + 1.0, 0
    while len(per_second) < seconds:
        for _ in range(1000):
            x = x * 1.0000001 + 1e-9
        count += 1
        now = time.perf_counter()
        if now >= edge:
            per_second.append(count / (now - (edge - 1.0)))
            edge, count = now + 1.0, 0
    print(json.dumps({"mode": "cpu", "tag": os.environ.get("BENCH_TAG", ""),
                      "per_second": per_second}), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
