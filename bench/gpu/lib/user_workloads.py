"""The programs users run, as issue 24 names them; each measures its own throughput per second.

  user_workloads.py WORKLOAD SECONDS    prints one JSON line: per-second rates and their mean
    train         GPT-2-small training steps (transformers, random weights and tokens, bf16
                  autocast, AdamW, batch 8 x 512): steps/s
    decode        autoregressive decoding at batch 1 of a 12-layer, 768-wide decoder with a KV
                  cache (eager PyTorch, paced by the host): tokens/s
    decode-graph  the same decoder, each token one CUDA graph replay, as inference servers do:
                  tokens/s
    matmul        8192^2 bf16 products: products/s
    train-wait    `train` waiting BENCH_INPUT_WAIT_MS (default 15) for its input each step, the
                  device idle meanwhile: steps/s
  BENCH_START_AT=EPOCH_SECONDS   start measuring then (processes measured side by side); late_s in
                                 the output says how late a process was ready (its window moved)
  BENCH_STOP_AT=EPOCH_SECONDS    keep working, unmeasured, until then (partners never run alone)
  BENCH_TAG                      copied into the output line
Nothing is downloaded: models are built from their configurations.
"""
import json
import math
import os
import sys
import time

import torch

TAG = os.environ.get("BENCH_TAG", "")
ENV = {k: v for k, v in os.environ.items() if k.startswith("XPOOL_") and k != "XPOOL_SLICE"}


def gpt2_train(input_wait_s):
    from transformers import GPT2Config, GPT2LMHeadModel  # pylint: disable=import-outside-toplevel
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).cuda()
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tokens = torch.randint(0, 50257, (8, 512), device="cuda")

    def step():
        if input_wait_s:
            time.sleep(input_wait_s)  # the input pipeline; the device has nothing queued
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=tokens, labels=tokens).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss.item()  # as training loops log the loss: a synchronisation each step
        return 1

    return step


class Decoder(torch.nn.Module):
    """A GPT-style decoder over a preallocated KV cache: one token in, next-token logits out."""

    def __init__(self, layers=12, width=768, heads=12, vocab=50257, context=1024):
        super().__init__()
        self.heads, self.width, self.context = heads, width, context
        self.embed = torch.nn.Embedding(vocab, width)
        self.pos = torch.nn.Embedding(context, width)
        self.qkv = torch.nn.ModuleList(torch.nn.Linear(width, 3 * width) for _ in range(layers))
        self.proj = torch.nn.ModuleList(torch.nn.Linear(width, width) for _ in range(layers))
        self.mlp = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(width, 4 * width), torch.nn.GELU(),
                                torch.nn.Linear(4 * width, width)) for _ in range(layers))
        self.norm1 = torch.nn.ModuleList(torch.nn.LayerNorm(width) for _ in range(layers))
        self.norm2 = torch.nn.ModuleList(torch.nn.LayerNorm(width) for _ in range(layers))
        self.head = torch.nn.Linear(width, vocab, bias=False)
        shape = (layers, 1, heads, context, width // heads)
        self.register_buffer("k_cache", torch.zeros(shape), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape), persistent=False)

    def forward(self, token, position):  # token, position: int64 tensors of shape (1,)
        x = self.embed(token) + self.pos(position)  # (1, width)
        hd = self.width // self.heads
        mask = torch.arange(self.context, device=x.device) <= position  # attend to the past
        for i in range(len(self.qkv)):
            q, k, v = self.qkv[i](self.norm1[i](x)).view(3, self.heads, hd).unbind(0)
            self.k_cache[i, 0].index_copy_(1, position, k.unsqueeze(1))
            self.v_cache[i, 0].index_copy_(1, position, v.unsqueeze(1))
            scores = (self.k_cache[i, 0] @ q.unsqueeze(-1)).squeeze(-1) / math.sqrt(hd)
            weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)
            attended = (weights.unsqueeze(1) @ self.v_cache[i, 0]).reshape(1, self.width)
            x = x + self.proj[i](attended)
            x = x + self.mlp[i](self.norm2[i](x))
        return self.head(x)


def decode(graphed):
    torch.manual_seed(0)
    model = Decoder().cuda().to(torch.bfloat16).eval()
    model.k_cache = model.k_cache.to(torch.bfloat16)
    model.v_cache = model.v_cache.to(torch.bfloat16)
    token = torch.zeros(1, dtype=torch.long, device="cuda")
    position = torch.zeros(1, dtype=torch.long, device="cuda")
    one = torch.ones(1, dtype=torch.long, device="cuda")

    def eager():
        logits = model(token, position)
        token.copy_(logits.argmax(-1))
        position.add_(one).remainder_(model.context)

    run = eager
    if graphed:
        with torch.no_grad():
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    eager()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                eager()
        run = graph.replay

    def step():
        with torch.no_grad():
            for _ in range(16):
                run()
            token.cpu()  # the server reads each token: a synchronisation per 16 here
        return 16

    return step


def matmul():
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)

    def step():
        for _ in range(4):
            torch.mm(a, b)
        torch.cuda.synchronize()
        return 4

    return step


def make(name):
    wait_s = float(os.environ.get("BENCH_INPUT_WAIT_MS", "15")) / 1000
    return {"train": lambda: gpt2_train(0.0), "train-wait": lambda: gpt2_train(wait_s),
            "decode": lambda: decode(False), "decode-graph": lambda: decode(True),
            "matmul": matmul}[name]()


def main():
    name, seconds = sys.argv[1], float(sys.argv[2])
    step = make(name)
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    start_at = float(os.environ.get("BENCH_START_AT", "0"))
    late_s = max(0.0, time.time() - start_at) if start_at > 0 else 0.0
    time.sleep(max(0.0, start_at - time.time()))
    rates, done, second_start = [], 0, time.perf_counter()
    end = second_start + seconds
    while True:
        done += step()
        now = time.perf_counter()
        if now - second_start >= 1.0:
            rates.append(done / (now - second_start))
            done, second_start = 0, now
            if now >= end:
                break
    # Keep the device busy, unmeasured, until the partners' windows are surely over: a process
    # measured while its partner had already stopped would count time it had the GPU alone.
    stop_at = float(os.environ.get("BENCH_STOP_AT", "0"))
    while time.time() < stop_at:
        step()
    torch.cuda.synchronize()
    print(json.dumps({"workload": name, "tag": TAG, "env": ENV, "per_second": [round(r, 2) for r in rates],
                      "mean": round(sum(rates) / len(rates), 3), "late_s": round(late_s, 2),
                      "pid": os.getpid()}), flush=True)


if __name__ == "__main__":
    main()
