"""Work per busy second of a duty-cycled loop, without the runtime: does a process that idles
between bursts do less per second of burst than one that runs on?

  duty_cycle.py WORKLOAD ON_MS OFF_MS SECONDS MODE
  WORKLOAD  small (one element-wise kernel on 64 Ki floats per launch) | matmul (bf16 4096^3)
  OFF_MS    0: run continuously
  MODE      how the off time passes: sleep | yield (os.sched_yield in a loop) | spin
Each burst launches for ON_MS, then waits for the device; prints one JSON line.
Matrix products queue far more work than ON_MS in each burst, so only `small` is meaningful.
"""
import json
import os
import sys
import time

import torch


def main(workload, on_ms, off_ms, seconds, mode):
    if workload == "matmul":
        a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
        b = torch.randn_like(a)
        step, per_check = (lambda: torch.mm(a, b)), 1
    else:
        x = torch.randn(1 << 16, device="cuda")
        step, per_check = (lambda: x.mul_(1.0000001)), 16
    for _ in range(200):
        step()
    torch.cuda.synchronize()
    end = time.perf_counter() + seconds
    busy, launches = 0.0, 0
    while time.perf_counter() < end:
        start = time.perf_counter()
        stop = start + (on_ms / 1e3 if off_ms > 0 else 1.0)
        while time.perf_counter() < stop:
            for _ in range(per_check):
                step()
            launches += per_check
        torch.cuda.synchronize()
        busy += time.perf_counter() - start
        if off_ms <= 0:
            continue
        if mode == "sleep":
            time.sleep(off_ms / 1e3)
            continue
        resume = time.perf_counter() + off_ms / 1e3
        while time.perf_counter() < resume:
            if mode == "yield":
                os.sched_yield()
    print(json.dumps({"workload": workload, "on_ms": on_ms, "off_ms": off_ms, "mode": mode,
                      "launches_per_busy_s": launches / busy}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
