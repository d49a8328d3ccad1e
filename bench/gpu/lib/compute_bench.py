"""Workloads for bench/gpu/runtime_compute.sh; each prints one JSON line.

  compute_bench.py run WORKLOAD SECONDS   iterations per wall-clock second of one workload:
                                          matmul (bf16 4096^3 products), small (1024 tiny
                                          element-wise kernels per iteration), graph (the same
                                          kernels captured in one CUDA graph), graph-sync (the
                                          graph, waited for after each replay), stream (1024
                                          element-wise kernels per iteration on 8 Mi floats,
                                          ~20 us each: launches that keep the GPU busy)
  BENCH_START_AT=EPOCH_SECONDS           run: start measuring then (side-by-side runs)
  BENCH_KERNEL_TIME=1                     run: also the GPU time of every 25th step, between two
                                          timed events (median, "step_gpu_ms")
  compute_bench.py infer STEPS GAP_MS     latency of an inference step (6-layer, 1024-wide
                                          encoder, batch 8 x 256, bf16, forward only), one step
                                          every GAP_MS
"""
import json
import os
import statistics
import sys
import time

import torch

ENV = {k: os.environ.get(k) for k in ("XPOOL_GPU_CORE", "XPOOL_COMPUTE_POLICY", "XPOOL_PRIORITY",
                                      "XPOOL_COMPUTE_PERIOD_MS")}
TAG = os.environ.get("BENCH_TAG", "")


def workload(name):
    if name == "matmul":
        a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
        return lambda: torch.mm(a, b)
    x = torch.randn(1 << 23 if name == "stream" else 1 << 16, device="cuda")

    def small():
        for _ in range(1024):
            x.mul_(1.0000001)

    if name in ("small", "stream"):
        return small
    small()  # warm up before capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        small()
    if name == "graph-sync":
        return lambda: (graph.replay(), torch.cuda.synchronize())
    return graph.replay


def run(name, seconds):
    step = workload(name)
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    # Processes measured side by side start together, once all have warmed up.
    start_at = float(os.environ.get("BENCH_START_AT", "0"))
    time.sleep(max(0.0, start_at - time.time()))
    timed = os.environ.get("BENCH_KERNEL_TIME") == "1"
    pairs, step_ms = [], []
    per_second, cpu_per_second = [], []
    start, cpu_start = time.perf_counter(), time.process_time()
    edge, count = start + 1.0, 0
    while len(per_second) < seconds:
        if timed and count % 25 == 0:
            pair = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            pair[0].record()
            step()
            pair[1].record()
            pairs.append(pair)
        else:
            step()
        count += 1
        if time.perf_counter() >= edge:
            torch.cuda.synchronize()
            now = time.perf_counter()
            per_second.append(count / (now - (edge - 1.0)))
            cpu = time.process_time()
            cpu_per_second.append((cpu - cpu_start) / (now - (edge - 1.0)))
            edge, count, cpu_start = now + 1.0, 0, cpu
            # A pair that spans a wait for the lease also holds the device's idle time: the
            # median leaves those few out.
            step_ms += [a.elapsed_time(b) for a, b in pairs]
            pairs = []
    out = {"mode": "run", "workload": name, "tag": TAG, "env": ENV, "per_second": per_second,
           "cpu_per_second": cpu_per_second}
    if step_ms:
        out["step_gpu_ms"] = statistics.median(step_ms)
    print(json.dumps(out), flush=True)


def infer(steps, gap_ms):
    layer = torch.nn.TransformerEncoderLayer(1024, 16, 4096, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, 6).cuda().to(torch.bfloat16).eval()
    x = torch.randn(8, 256, 1024, device="cuda", dtype=torch.bfloat16)
    lat = []
    with torch.no_grad():
        for i in range(steps + 20):
            torch.cuda.synchronize()
            t = time.perf_counter()
            model(x)
            torch.cuda.synchronize()
            if i >= 20:
                lat.append((time.perf_counter() - t) * 1e3)
            time.sleep(gap_ms / 1e3)
    lat.sort()
    print(json.dumps({"mode": "infer", "tag": TAG, "env": ENV, "p50_ms": lat[len(lat) // 2],
                      "p99_ms": lat[len(lat) * 99 // 100]}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]))
    else:
        infer(int(sys.argv[2]), float(sys.argv[3]))
