#!/usr/bin/python3
"""Peer of `LoRAM.Bench gemm`: the same shapes through torch.matmul, the same timing rule, the same JSON.

Run with Debian's python3-torch (`apt-get install python3-torch libopenblas0-pthread`): /usr/bin/python3 bench/peers/gemm.py
--threads N --reps R --json [--only NAME]. Debian's torch calls OpenBLAS (pthread build) for float32 matmul, whose
thread pool is not torch's: OPENBLAS_NUM_THREADS is set from --threads before torch is imported.
OPENBLAS_CORETYPE (e.g. SkylakeX) passes through to OpenBLAS and is reported in the JSON.

"f32": C = A @ B with B float32 (B stored [n, k] and used as a transposed view where the shape says transB).
"bf16": B stored bfloat16, computed in float32 as our Gemm does: C = A @ B.float() — torch has no mixed
float32×bfloat16 matmul, so the widening of the whole B is part of each call (that is what we avoid).
"""
import argparse, json, os, sys, time

from openblas import openblas_core

SHAPES = [  # name, m, k, n, transB — keep in step with bench/GemmBench.cs
    ("512^3", 512, 512, 512, False),
    ("1024^3", 1024, 1024, 1024, False),
    ("2048^3", 2048, 2048, 2048, False),
    ("qkv 2048x768x2048", 2048, 768, 2048, True),
    ("proj 2048x2048x768", 2048, 2048, 768, True),
    ("decode 1x3072x768", 1, 3072, 768, True),
    ("decode-b4 4x3072x768", 4, 3072, 768, True),
    ("lora-r8 2048x8x768", 2048, 8, 768, True),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--only")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    results = []
    for name, m, k, n, trans_b in SHAPES:
        if args.only and args.only.lower() not in name.lower():
            continue
        for dtype in ("f32", "bf16"):
            a = torch.rand(m, k) * 2 - 1
            w = torch.rand(n, k) * 2 - 1 if trans_b else torch.rand(k, n) * 2 - 1
            c = torch.empty(m, n)
            if dtype == "f32":
                b = w.t() if trans_b else w
                run = lambda: torch.matmul(a, b, out=c)
            else:
                wb = w.to(torch.bfloat16)
                run = (lambda: torch.matmul(a, wb.float().t(), out=c)) if trans_b else (lambda: torch.matmul(a, wb.float(), out=c))
            # Same rule as the C# suite: warm up >= 0.5 s and 3 calls; each rep >= ~20 ms of calls; median of reps.
            t0, warm_calls = time.perf_counter(), 0
            while warm_calls < 3 or time.perf_counter() - t0 < 0.5:
                run(); warm_calls += 1
            per_call = (time.perf_counter() - t0) / warm_calls
            calls = max(1, int(0.02 / max(1e-7, per_call)))
            times = []
            for _ in range(args.reps):
                t = time.perf_counter()
                for _ in range(calls):
                    run()
                times.append((time.perf_counter() - t) / calls)
            times.sort()
            median = times[args.reps // 2]
            flops = 2.0 * m * n * k
            results.append({"name": name, "m": m, "k": k, "n": n, "transB": trans_b, "dtype": dtype,
                            "median_ms": round(median * 1e3, 4), "gflops": round(flops / median / 1e9, 2)})
            if not args.json:
                print(f"{name:<22} {dtype:<5} {median * 1e3:10.3f} ms {flops / median / 1e9:9.2f} GFLOP/s")
    if args.json:
        print(json.dumps({"suite": "gemm", "impl": "torch", "threads": args.threads, "reps": args.reps,
                          "torch": torch.__version__, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "auto"),
                          "openblas_core": openblas_core(),
                          "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
