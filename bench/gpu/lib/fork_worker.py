"""A training process under a compute share that forks data-loader workers and one helper that
only sleeps for 30 s (fork, no exec), for bench/gpu/lib/fork_worker.sh: once it has launched work
and its children run, it prints its pid and theirs as one JSON line, then keeps launching until
killed. The data-loader workers notice their parent's death within about 5 s; the helper does
not."""
import glob
import json
import os
import time

import torch

a = torch.randn(2048, 2048, device="cuda")
(a @ a).sum().item()  # launched: a member of the device's arbitration file
loader = torch.utils.data.DataLoader(range(1000), num_workers=2, persistent_workers=True,
                                     multiprocessing_context="fork")
batches = iter(loader)
next(batches)
if os.fork() == 0:
    time.sleep(30)
    os._exit(0)
workers = []
for children in glob.glob(f"/proc/{os.getpid()}/task/*/children"):
    workers += [int(p) for p in open(children).read().split()]
print(json.dumps({"parent": os.getpid(), "workers": workers}), flush=True)
while True:
    a @ a
    torch.cuda.synchronize()
    time.sleep(0.001)
