#!/usr/bin/python3
"""Peer of `LoRAM.Bench train-step`: one whole LLaMA training step in torch eager, the same configurations, the same JSON.

Run with Debian's python3-torch 1.13 (`apt-get install python3-torch libopenblas0-pthread`):
  /usr/bin/python3 bench/peers/train_step.py --shape base|smollm-135m --mode lora|full [--threads N] [--steps N]
      [--seq-len 512] [--micro-batch 4] [--json]
A LLaMA written out by hand as Hugging Face's LlamaForCausalLM computes it (RMSNorm, rotate-half RoPE, causal GQA
attention by explicit softmax(q·kᵀ·scale + mask)·v — torch 1.13 has no scaled_dot_product_attention —, SwiGLU MLP),
random weights, token cross-entropy, backward, torch.optim.AdamW (weight decay 0, lr 1e-4).
  lora: frozen weights (requires_grad=False) plus r = 8 A/B parameters (alpha 16, dropout 0.05 on the LoRA input,
        PEFT's lora.Linear) on all seven projections; AdamW on A/B only. Frozen weights are FLOAT32 here: torch 1.13
        has no efficient bfloat16 matmul on the CPU (it would widen or run a slow reference kernel), so the peer holds
        its frozen weights in float32 — twice our bytes — and computes in float32 as we do.
  full: every weight a float32 parameter, AdamW on all.
Peak RSS is VmHWM after resetting it (/proc/self/clear_refs "5") once the model is built, as the C# side does.
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS are set from --threads before torch is imported.
"""
import argparse, json, math, os, sys, time

from openblas import openblas_core

SHAPES = {  # keep in step with bench/TrainStepBench.cs and bench/InferenceBench.cs
    "base": dict(d=256, layers=6, heads=8, kv_heads=4, head_dim=32, ff=688, vocab=259, tied=False),
    "smollm-135m": dict(d=576, layers=30, heads=9, kv_heads=3, head_dim=64, ff=1536, vocab=49152, tied=True),
    "tiny": dict(d=64, layers=2, heads=4, kv_heads=2, head_dim=16, ff=128, vocab=259, tied=False),
}


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="base", choices=sorted(SHAPES))
    ap.add_argument("--mode", default="lora", choices=["lora", "full"])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--profile-steps", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    c = SHAPES[args.shape]
    d, hd, H, Hkv, ff, V = c["d"], c["head_dim"], c["heads"], c["kv_heads"], c["ff"], c["vocab"]
    lora = args.mode == "lora"
    rank, alpha, dropout = 8, 16.0, 0.05
    scaling = alpha / rank

    def weight(out_f, in_f, bound):
        return (torch.rand(out_f, in_f) * 2 - 1) * bound

    class Linear:
        def __init__(self, out_f, in_f):
            self.w = weight(out_f, in_f, 1 / math.sqrt(in_f)).requires_grad_(not lora)
            if lora:
                self.a = weight(rank, in_f, 1 / math.sqrt(in_f)).requires_grad_(True)
                self.b = torch.zeros(out_f, rank, requires_grad=True)

        def params(self):
            return [self.a, self.b] if lora else [self.w]

        def __call__(self, x):
            y = F.linear(x, self.w)
            if lora:
                y = y + F.linear(F.linear(F.dropout(x, dropout, True), self.a), self.b) * scaling
            return y

    def norm_weight():
        return (1 + (torch.rand(d) * 2 - 1) * 0.1).requires_grad_(not lora)

    layers = []
    for _ in range(c["layers"]):
        layers.append(dict(n1=norm_weight(), q=Linear(H * hd, d), k=Linear(Hkv * hd, d), v=Linear(Hkv * hd, d),
                           o=Linear(d, H * hd), n2=norm_weight(), g=Linear(ff, d), u=Linear(ff, d), dn=Linear(d, ff)))
    emb = ((torch.rand(V, d) * 2 - 1)).requires_grad_(not lora)
    final_norm = norm_weight()
    head = None if c["tied"] else weight(V, d, 1 / math.sqrt(d)).requires_grad_(not lora)

    if lora:
        params = [p for l in layers for k in ("q", "k", "v", "o", "g", "u", "dn") for p in l[k].params()]
    else:
        params = [emb, final_norm] + ([head] if head is not None else []) + \
                 [p for l in layers for k in ("q", "k", "v", "o", "g", "u", "dn") for p in l[k].params()] + \
                 [l[k] for l in layers for k in ("n1", "n2")]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)

    T, B = args.seq_len, args.micro_batch
    inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
    freqs = torch.outer(torch.arange(T).float(), inv)
    cos = torch.cat([freqs, freqs], -1).cos()
    sin = torch.cat([freqs, freqs], -1).sin()
    mask = torch.full((T, T), float("-inf")).triu(1)

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w

    def rope(x):  # x [B, H, T, hd]
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    def forward(ids):
        x = F.embedding(ids, emb)
        for l in layers:
            h = rms(x, l["n1"])
            q = rope(l["q"](h).view(B, T, H, hd).transpose(1, 2))
            k = rope(l["k"](h).view(B, T, Hkv, hd).transpose(1, 2))
            v = l["v"](h).view(B, T, Hkv, hd).transpose(1, 2)
            k = k.repeat_interleave(H // Hkv, dim=1)
            v = v.repeat_interleave(H // Hkv, dim=1)
            s = torch.matmul(q, k.transpose(-1, -2)) * (1 / math.sqrt(hd)) + mask
            a = torch.matmul(torch.softmax(s, -1), v).transpose(1, 2).reshape(B, T, H * hd)
            x = x + l["o"](a)
            h = rms(x, l["n2"])
            x = x + l["dn"](F.silu(l["g"](h)) * l["u"](h))
        return F.linear(rms(x, final_norm), emb if head is None else head)

    ids = torch.randint(0, V, (B, T))
    targets = torch.randint(0, V, (B, T))
    last_loss = [float("nan")]

    def step():
        logits = forward(ids)
        loss = F.cross_entropy(logits.view(-1, V), targets.view(-1))
        last_loss[0] = loss.item()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    reset_peak_rss()
    step()  # warm-up
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1e3)
    rss = peak_rss()
    ops = {}
    with torch.autograd.profiler.profile() as prof:
        for _ in range(args.profile_steps):
            step()
    for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:12]:
        ops[e.key] = {"self_ms": round(e.self_cpu_time_total / 1e3 / args.profile_steps, 3), "calls": e.count // args.profile_steps}
    times.sort()
    median = times[len(times) // 2]
    n_params = sum(p.numel() for l in layers for k in ("q", "k", "v", "o", "g", "u", "dn") for p in [l[k].w]) + \
        emb.numel() + (head.numel() if head is not None else 0) + d * (2 * c["layers"] + 1)
    result = {"suite": "train-step", "impl": "torch", "torch": torch.__version__, "shape": args.shape, "mode": args.mode,
              "threads": args.threads, "seq_len": T, "micro_batch": B, "steps": args.steps, "parameters": n_params,
              "trainable_parameters": sum(p.numel() for p in params), "frozen_dtype": "f32" if lora else "none",
              "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "auto"), "openblas_core": openblas_core(),
              "tokens_per_s": B * T / (median / 1e3), "median_step_ms": median, "min_step_ms": times[0], "step_ms": times,
              "loss": last_loss[0], "peak_rss_bytes": rss, "ops": ops}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"train-step {args.shape} {args.mode} (torch {torch.__version__}, {args.threads} thread(s)): "
              f"median {median:.1f} ms = {result['tokens_per_s']:.0f} tok/s; loss {last_loss[0]:.4f}; peak RSS {rss / 2**20:.0f} MiB")
        for k, v in ops.items():
            print(f"  {k:<32} {v['self_ms']:9.1f} ms  ({v['calls']} calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
