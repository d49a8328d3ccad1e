"""PyTorch inside an xpool slice: the checks of bench/gpu/runtime_memory.sh that need torch.

Each mode prints one JSON line. The runtime is injected by the caller (LD_PRELOAD and XPOOL_*);
nvidia-smi is always asked from outside the slice (LD_PRELOAD removed) so that it reports the
driver's own per-process figures.
"""
import json
import os
import signal
import subprocess
import sys
import time

import torch

MIB = 1024 * 1024


def outside_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def smi_used_mib(pids):
    """Per-process GPU memory as nvidia-smi counts it, summed over pids."""
    out = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
        capture_output=True, text=True, env=outside_env(), check=True).stdout
    total = 0
    for line in out.strip().splitlines():
        pid, used = [x.strip() for x in line.split(",")]
        if int(pid) in pids:
            total += int(used)
    return total


def fill_until_oom(step_mib):
    held = []
    err = None
    while True:
        try:
            t = torch.empty(step_mib * MIB, dtype=torch.uint8, device="cuda")
            t.fill_(1)
            held.append(t)
        except torch.OutOfMemoryError as e:  # the normal PyTorch error, nothing else
            err = "OutOfMemoryError"
            break
        except Exception as e:  # pylint: disable=broad-except
            err = f"{type(e).__name__}: {str(e)[:200]}"
            break
        if len(held) > 100000:
            break
    torch.cuda.synchronize()
    return held, err


def mode_oom(step_mib):
    held, err = fill_until_oom(step_mib)
    used = smi_used_mib({os.getpid()})
    free, total = torch.cuda.mem_get_info()
    print(json.dumps({"mode": "oom", "alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF", "default"),
                      "tensors": len(held), "tensor_mib": len(held) * step_mib, "error": err,
                      "smi_used_mib": used, "mem_get_info_total_mib": total // MIB,
                      "mem_get_info_free_mib": free // MIB}), flush=True)


def mode_view():
    torch.zeros(1, device="cuda")
    free, total = torch.cuda.mem_get_info()
    smi = subprocess.run(["nvidia-smi", "--query-gpu=memory.total,memory.used", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout.strip()
    print(json.dumps({"mode": "view", "mem_get_info_total_mib": total // MIB,
                      "mem_get_info_free_mib": free // MIB, "nvidia_smi_in_slice": smi}), flush=True)


def mode_hold(mib, ready_file):
    t = torch.empty(mib * MIB, dtype=torch.uint8, device="cuda")
    t.fill_(1)
    torch.cuda.synchronize()
    open(ready_file, "w").close()
    time.sleep(3600)


def mode_two(step_mib, quota_mib):
    """A holds 2 GiB; this process (B) fills the rest; A is SIGKILLed; B must get A's share back."""
    ready = f"/tmp/xpool-hold-{os.getpid()}"
    a = subprocess.Popen([sys.executable, __file__, "hold", "2048", ready])
    while not os.path.exists(ready):
        time.sleep(0.01)
    held, err = fill_until_oom(step_mib)
    together = smi_used_mib({os.getpid(), a.pid})
    os.kill(a.pid, signal.SIGKILL)
    a.wait()
    killed_at = time.monotonic()
    regained = None
    while time.monotonic() - killed_at < 5:
        try:
            held.append(torch.empty(1024 * MIB, dtype=torch.uint8, device="cuda"))
            regained = time.monotonic() - killed_at
            break
        except torch.OutOfMemoryError:
            time.sleep(0.01)
    print(json.dumps({"mode": "two", "b_tensors_while_a_held": len(held) - (1 if regained else 0),
                      "error": err, "smi_used_both_mib": together, "quota_mib": quota_mib,
                      "regained_1gib_after_kill_s": regained}), flush=True)


def mode_determinism(out_file):
    torch.manual_seed(1234)
    torch.use_deterministic_algorithms(True)
    model = torch.nn.Sequential(torch.nn.Linear(512, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 512)).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(64, 512, device="cuda")
    for _ in range(20):
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()]).cpu()
    torch.save(flat, out_file)
    print(json.dumps({"mode": "determinism", "loss": float(loss)}), flush=True)


def mode_gpt2(steps):
    """GPT-2-small-sized training (124M parameters, bf16 autocast, random tokens): tokens/s."""
    torch.manual_seed(0)
    layers, width, heads, seq, batch, vocab = 12, 768, 12, 1024, 8, 50257
    layer = torch.nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu",
                                             batch_first=True, norm_first=True)
    body = torch.nn.TransformerEncoder(layer, layers)
    emb = torch.nn.Embedding(vocab, width)
    head = torch.nn.Linear(width, vocab, bias=False)
    model = torch.nn.ModuleDict({"emb": emb, "body": body, "head": head}).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(seq, device="cuda")

    def step():
        tokens = torch.randint(0, vocab, (batch, seq + 1), device="cuda")
        with torch.autocast("cuda", dtype=torch.bfloat16):
            h = model["body"](model["emb"](tokens[:, :-1]), mask=mask, is_causal=True)
            logits = model["head"](h)
            loss = torch.nn.functional.cross_entropy(logits.float().view(-1, vocab), tokens[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(json.dumps({"mode": "gpt2", "preloaded": "LD_PRELOAD" in os.environ,
                      "tokens_per_s": steps * batch * seq / dt}), flush=True)


if __name__ == "__main__":
    m = sys.argv[1]
    if m == "oom":
        mode_oom(int(sys.argv[2]))
    elif m == "view":
        mode_view()
    elif m == "hold":
        mode_hold(int(sys.argv[2]), sys.argv[3])
    elif m == "two":
        mode_two(int(sys.argv[2]), int(sys.argv[3]))
    elif m == "determinism":
        mode_determinism(sys.argv[2])
    elif m == "gpt2":
        mode_gpt2(int(sys.argv[2]))
    else:
        sys.exit(f"unknown mode {m}")
