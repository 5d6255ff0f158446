using System.Diagnostics;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Ilgpu;

namespace LoRAM.Bench;

/// <summary>
/// `ilgpu-check` suite: runs every kernel on an ILGPU device (--device cuda | ilgpu-cpu) and on the SIMD CpuBackend
/// on the same random inputs, at LLaMA-ish sizes, and prints per kernel the error vs the CPU, the bound it must meet,
/// PASS/FAIL, the device time (median of --reps runs after a warm-up, each between Synchronize calls) and GFLOP/s
/// for the products. Exits 1 when any kernel fails. The error is max|device − cpu| / max|cpu| over the outputs
/// (relative to the output's scale, so elements near zero do not dominate); exact kernels must give 0.
/// Options: --device cuda|ilgpu-cpu (default: cuda when present) --reps R (default 10) --small (sizes for the CPU
/// accelerator; default on ilgpu-cpu) --full --only NAME (substring filter).
/// </summary>
internal static class IlgpuCheck
{
    /// <summary>A kernel run with its inputs in place: Run launches it, Output reads every output back.</summary>
    private sealed record Prepared(Action Run, Func<float[]> Output);

    private sealed record Case(string Name, string Shape, double Bound, double Flops, Func<Inputs, Prepared> Prepare);

    /// <summary>Tensors uploaded to one backend from shared host arrays; all disposed together.</summary>
    private sealed class Inputs(Backend backend) : IDisposable
    {
        private readonly List<Tensor> _owned = [];
        public Backend B { get; } = backend;
        public Tensor F(float[] data, params int[] shape) => Own(Tensor.FromArray(B, data, shape));
        public Tensor I(int[] data, params int[] shape) => Own(Tensor.FromArray(B, data, shape));
        public Tensor U8(byte[] data) => Own(Tensor.FromSpan<byte>(B, data, DType.U8, data.Length));
        public Tensor E(params int[] shape) => Own(Tensor.Empty(B, shape));
        public Tensor E(DType dtype, params int[] shape) => Own(Tensor.Empty(B, dtype, shape));
        public Tensor Cast(Tensor t, DType dtype) => Own(t.Cast(dtype));
        private Tensor Own(Tensor t) { _owned.Add(t); return t; }
        public void Dispose() { foreach (var t in _owned) t.Dispose(); }
    }

    public static int Run(string[] args)
    {
        string device = IlgpuBackend.CudaAvailable ? "cuda" : "ilgpu-cpu";
        int reps = 10;
        bool? small = null;
        string? only = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--device": device = args[++i]; break;
                case "--reps": reps = int.Parse(args[++i]); break;
                case "--small": small = true; break;
                case "--full": small = false; break;
                case "--only": only = args[++i]; break;
                default: Console.Error.WriteLine($"ilgpu-check: unknown option {args[i]}"); return 2;
            }
        }
        using var gpu = device switch
        {
            "cuda" => IlgpuBackend.CreateCuda(),
            "ilgpu-cpu" => IlgpuBackend.CreateCpu(),
            _ => throw new ArgumentException($"--device must be cuda or ilgpu-cpu, got '{device}'"),
        };
        using var cpu = new CpuBackend();
        var cases = Cases(small ?? device != "cuda").Where(c => only == null || c.Name.Contains(only, StringComparison.OrdinalIgnoreCase)).ToList();
        Console.WriteLine($"ilgpu-check on {gpu.Name} vs cpu ({cpu.Threads} threads), {reps} reps; error = max|dev − cpu| / max|cpu|");
        Console.WriteLine($"{"kernel",-24} {"shape",-34} {"error",10} {"bound",9} {"",4} {"ms",10} {"GFLOP/s",9}");
        int failures = 0;
        foreach (var c in cases)
        {
            double error, ms;
            try
            {
                float[] expected;
                using (var ci = new Inputs(cpu))
                {
                    var p = c.Prepare(ci);
                    p.Run();
                    expected = p.Output();
                }
                using var gi = new Inputs(gpu);
                var g = c.Prepare(gi);
                g.Run();
                error = Error(expected, g.Output());
                g.Run();   // warm-up (the first run also compiled the kernel)
                var times = new double[reps];
                for (int r = 0; r < reps; r++)
                {
                    gpu.Synchronize();
                    long t0 = Stopwatch.GetTimestamp();
                    g.Run();
                    gpu.Synchronize();
                    times[r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                }
                Array.Sort(times);
                ms = times[reps / 2];
            }
            catch (Exception e)
            {
                Console.WriteLine($"{c.Name,-24} {c.Shape,-34} FAILED: {e.GetType().Name}: {e.Message}");
                failures++;
                continue;
            }
            bool pass = c.Bound == 0 ? error == 0 : error <= c.Bound;
            if (!pass) failures++;
            string gflops = c.Flops > 0 ? $"{c.Flops / (ms * 1e6),9:F1}" : "";
            Console.WriteLine($"{c.Name,-24} {c.Shape,-34} {error,10:E2} {c.Bound,9:E1} {(pass ? "PASS" : "FAIL"),4} {ms,10:F3} {gflops}");
        }
        Console.WriteLine(failures == 0 ? $"all {cases.Count} kernels pass" : $"{failures} of {cases.Count} kernels FAILED");
        return failures == 0 ? 0 : 1;
    }

    private static double Error(float[] expected, float[] actual)
    {
        if (expected.Length != actual.Length) return double.PositiveInfinity;
        double scale = 0, worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsNaN(expected[i]) && float.IsNaN(actual[i])) continue;
            scale = Math.Max(scale, Math.Abs((double)expected[i]));
            double d = Math.Abs((double)expected[i] - actual[i]);
            worst = double.IsNaN(d) ? double.PositiveInfinity : Math.Max(worst, d);
        }
        return worst == 0 ? 0 : worst / Math.Max(scale, 1e-30);
    }

    private static float[] Random(int n, int seed, double scale = 1)
    {
        var rng = new Random(seed);
        var r = new float[n];
        for (int i = 0; i < n; i++) r[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return r;
    }

    private static float[] Concat(params Tensor[] ts) => ts.SelectMany(t => t.ToFloatArray()).ToArray();

    private static IEnumerable<Case> Cases(bool small)
    {
        // ---- GEMM: square F32/BF16, a Linear (x·Wᵀ with a BF16 weight), attention-shaped batches ----
        int g = small ? 192 : 1024;
        foreach (var (bt, bound) in new[] { (DType.F32, 1e-5), (DType.BF16, 1e-5), (DType.F16, 1e-5) })
        {
            float[] a = Random(g * g, 1), b = Random(g * g, 2);
            yield return new($"gemm {bt}", $"{g}x{g}x{g}", bound, 2.0 * g * g * g, x =>
            {
                Tensor ta = x.F(a, g, g), tb = x.Cast(x.F(b, g, g), bt), tc = x.E(g, g);
                return new(() => x.B.Gemm(ta, false, tb, false, tc), () => tc.ToFloatArray());
            });
        }
        {
            int m = small ? 96 : 2048, kd = small ? 160 : 4096, n = small ? 112 : 4096;
            float[] a = Random(m * kd, 3), w = Random(n * kd, 4);
            yield return new("gemm linear x·Wᵀ BF16", $"{m}x{kd}x{n}", 1e-5, 2.0 * m * n * kd, x =>
            {
                Tensor ta = x.F(a, m, kd), tw = x.Cast(x.F(w, n, kd), DType.BF16), tc = x.E(m, n);
                return new(() => x.B.Gemm(ta, false, tw, true, tc), () => tc.ToFloatArray());
            });
            yield return new("gemm decode x·Wᵀ BF16", $"1x{kd}x{n}", 1e-5, 2.0 * n * kd, x =>
            {
                Tensor ta = x.F(a[..kd], 1, kd), tw = x.Cast(x.F(w, n, kd), DType.BF16), tc = x.E(1, n);
                return new(() => x.B.Gemm(ta, false, tw, true, tc), () => tc.ToFloatArray());
            });
            yield return new("gemm linear x·Wᵀ F32", $"{m}x{kd}x{n}", 1e-5, 2.0 * m * n * kd, x =>
            {
                Tensor ta = x.F(a, m, kd), tw = x.F(w, n, kd), tc = x.E(m, n);
                return new(() => x.B.Gemm(ta, false, tw, true, tc), () => tc.ToFloatArray());
            });
            // NF4 weights: random codes and positive block scales, the same bytes on both backends.
            var rng = new System.Random(11);
            int k4 = small ? 192 : kd;   // NF4 needs whole blocks of 64 along k
            var codes = new byte[(long)n * k4 / 2];
            rng.NextBytes(codes);
            float[] absmax = Random(n * k4 / Nf4Matrix.BlockSize, 12).Select(v => 0.05f + Math.Abs(v)).ToArray();
            Nf4Matrix Nf4(Inputs x) =>
                new(x.U8(codes), x.F(absmax, absmax.Length), n, k4);
            yield return new("nf4 linear x·Ŵᵀ", $"{m}x{k4}x{n}", 1e-5, 2.0 * m * n * k4, x =>
            {
                Tensor ta = x.F(Random(m * k4, 3), m, k4), tc = x.E(m, n);
                var w4 = Nf4(x);
                return new(() => x.B.Nf4Gemm(ta, w4, true, tc), () => tc.ToFloatArray());
            });
            yield return new("nf4 decode x·Ŵᵀ", $"1x{k4}x{n}", 1e-5, 2.0 * n * k4, x =>
            {
                Tensor ta = x.F(a[..k4], 1, k4), tc = x.E(1, n);
                var w4 = Nf4(x);
                return new(() => x.B.Nf4Gemm(ta, w4, true, tc), () => tc.ToFloatArray());
            });
            float[] dyNf4 = Random(m * n, 13);
            yield return new("nf4 dx = dy·Ŵ", $"{m}x{n}x{k4}", 1e-5, 2.0 * m * n * k4, x =>
            {
                Tensor tdy = x.F(dyNf4, m, n), tc = x.E(m, k4);
                var w4 = Nf4(x);
                return new(() => x.B.Nf4Gemm(tdy, w4, false, tc), () => tc.ToFloatArray());
            });
            float[] c0 = Random(kd * n, 5), dy = Random(m * n, 6);
            yield return new("gemm dx = dy·W BF16", $"{m}x{n}x{kd}", 1e-5, 2.0 * m * n * kd, x =>
            {
                Tensor tdy = x.F(dy, m, n), tw = x.Cast(x.F(w, n, kd), DType.BF16), tc = x.E(m, kd);
                return new(() => x.B.Gemm(tdy, false, tw, false, tc), () => tc.ToFloatArray());
            });
            yield return new("gemm dW += dyᵀ·x", $"{n}x{m}x{kd} β=1", 1e-5, 2.0 * m * n * kd, x =>
            {
                Tensor tdy = x.F(dy, m, n), ta = x.F(a, m, kd), tc = x.F(c0, n, kd);
                return new(() => x.B.Gemm(tdy, true, ta, false, tc, 1f, 1f), () => tc.ToFloatArray());
            });
        }
        {
            int batch = small ? 4 : 16, t = small ? 64 : 256, d = 64;
            float[] qs = Random(batch * t * d, 7), ks = Random(batch * t * d, 8);
            yield return new("gemm batched q·kᵀ", $"{batch}x[{t}x{d}x{t}]", 1e-5, 2.0 * batch * t * t * d, x =>
            {
                Tensor tq = x.F(qs, batch, t, d), tk = x.F(ks, batch, t, d), tc = x.E(batch, t, t);
                return new(() => x.B.Gemm(tq, false, tk, true, tc, 0.125f), () => tc.ToFloatArray());
            });
        }

        // ---- elementwise ----
        int n1 = small ? 100_003 : 4096 * 1024 + 3;
        float[] ea = Random(n1, 10, 4), eb = Random(n1, 11, 4), ec = Random(n1, 12);
        Case Elementwise(string name, double bound, Action<Backend, Tensor, Tensor, Tensor> op) => new(name, $"{n1}", bound, 0, x =>
        {
            Tensor a = x.F(ea, n1), b = x.F(eb, n1), y = x.F(ec, n1);
            return new(() => op(x.B, a, b, y), () => y.ToFloatArray());
        });
        yield return Elementwise("add", 1e-6, (be, a, b, y) => be.Add(a, b, y));
        yield return Elementwise("sub", 1e-6, (be, a, b, y) => be.Sub(a, b, y));
        yield return Elementwise("mul", 1e-6, (be, a, b, y) => be.Mul(a, b, y));
        yield return Elementwise("scale", 1e-6, (be, a, b, y) => be.Scale(a, 0.37f, y));
        yield return Elementwise("axpy (first run)", 1e-6, (be, a, b, y) => be.Axpy(-0.5f, a, y));
        yield return Elementwise("silu", 1e-5, (be, a, b, y) => be.Silu(a, y));
        yield return Elementwise("silu backward", 1e-5, (be, a, b, y) => be.SiluBackward(a, b, y));
        yield return Elementwise("swiglu", 1e-5, (be, a, b, y) => be.SwiGlu(a, b, y));
        yield return Elementwise("dropout p=0.1 (exact)", 0, (be, a, b, y) => be.Dropout(a, 0.1f, 1234567UL, y));
        yield return Elementwise("fill", 0, (be, a, b, y) => be.Fill(y, 0.25f));
        yield return new("swiglu backward", $"{n1}", 1e-5, 0, x =>
        {
            Tensor a = x.F(ea, n1), b = x.F(eb, n1), dy = x.F(ec, n1), dg = x.E(n1), du = x.E(n1);
            return new(() => x.B.SwiGluBackward(a, b, dy, dg, du), () => Concat(dg, du));
        });
        foreach (var (from, to) in new[] { (DType.F32, DType.BF16), (DType.F32, DType.F16), (DType.BF16, DType.F32), (DType.F16, DType.F32), (DType.BF16, DType.F16), (DType.F16, DType.BF16) })
            yield return new($"convert {from}→{to} (exact)", $"{n1}", 0, 0, x =>
            {
                Tensor src = from == DType.F32 ? x.F(ea, n1) : x.Cast(x.F(ea, n1), from), dst = x.E(to, n1);
                return new(() => x.B.Convert(src, dst), () => dst.ToFloatArray());
            });
        {
            int b = 4, r = small ? 129 : 1025, c = small ? 131 : 1023;
            float[] xs = Random(b * r * c, 13);
            yield return new("transpose F32 (exact)", $"{b}x{r}x{c}", 0, 0, x =>
            {
                Tensor tx = x.F(xs, b, r, c), ty = x.E(b, c, r);
                return new(() => x.B.Transpose(tx, ty), () => ty.ToFloatArray());
            });
        }

        // ---- row reductions and normalisation ----
        int rows = small ? 256 : 4096, cols = small ? 515 : 4096;
        float[] rx = Random(rows * cols, 20, 3), rdy = Random(rows * cols, 21), rw = Random(cols, 22, 1.5), rdw = Random(cols, 23);
        yield return new("row sum", $"{rows}x{cols}", 1e-5, 0, x =>
        {
            Tensor a = x.F(rx, rows, cols), y = x.E(rows);
            return new(() => x.B.RowSum(a, y), () => y.ToFloatArray());
        });
        yield return new("sum squares (double)", $"{rows * cols}", 2e-7, 0, x =>   // compared after rounding to float
        {
            Tensor a = x.F(rx, rows * cols);
            double result = 0;
            return new(() => result = x.B.SumSquares(a), () => [(float)result]);
        });
        yield return new("softmax", $"{rows}x{cols}", 1e-5, 0, x =>
        {
            Tensor a = x.F(rx, rows, cols), y = x.E(rows, cols);
            return new(() => x.B.Softmax(a, y), () => y.ToFloatArray());
        });
        yield return new("softmax backward", $"{rows}x{cols}", 1e-5, 0, x =>
        {
            Tensor a = x.F(rx, rows, cols), y = x.E(rows, cols), dy = x.F(rdy, rows, cols), dx = x.E(rows, cols);
            x.B.Softmax(a, y);
            return new(() => x.B.SoftmaxBackward(y, dy, dx), () => dx.ToFloatArray());
        });
        yield return new("rmsnorm", $"{rows}x{cols}", 1e-5, 0, x =>
        {
            Tensor a = x.F(rx, rows, cols), w = x.F(rw, cols), y = x.E(rows, cols), rstd = x.E(rows);
            return new(() => x.B.RmsNorm(a, w, 1e-5f, y, rstd), () => Concat(y, rstd));
        });
        yield return new("rmsnorm backward (+dw)", $"{rows}x{cols}", 1e-4, 0, x =>
        {
            Tensor a = x.F(rx, rows, cols), w = x.F(rw, cols), y = x.E(rows, cols), rstd = x.E(rows), dy = x.F(rdy, rows, cols), dx = x.E(rows, cols), dw = x.F(rdw, cols);
            x.B.RmsNorm(a, w, 1e-5f, y, rstd);
            return new(() => x.B.RmsNormBackward(a, w, rstd, dy, dx, dw), () => Concat(dx, dw));
        });

        // ---- attention pieces: B=2 T=256 Hq=8 Hkv=2 D=64 (decode: T=1 with a cache of S=256) ----
        // (On the CPU accelerator every warp shuffle is a barrier of 32 OS threads: keep the small sizes tiny.)
        int ab = small ? 1 : 2, at = small ? 16 : 256, hq = small ? 4 : 8, hkv = 2, hd = 64;
        float scale = 1f / MathF.Sqrt(hd);
        float[] q = Random(ab * at * hq * hd, 30, 2), k = Random(ab * at * hkv * hd, 31, 2), v = Random(ab * at * hkv * hd, 32), dO = Random(ab * at * hq * hd, 33);
        double attnFlops = 4.0 * ab * hq * at * (at + 1) / 2 * hd;
        yield return new("attention", $"B{ab} T{at} Hq{hq} Hkv{hkv} D{hd}", 1e-5, attnFlops, x =>
        {
            Tensor tq = x.F(q, ab, at, hq, hd), tk = x.F(k, ab, at, hkv, hd), tv = x.F(v, ab, at, hkv, hd), o = x.E(ab, at, hq, hd), lse = x.E(ab, hq, at);
            return new(() => x.B.Attention(tq, tk, tv, scale, o, lse), () => Concat(o, lse));
        });
        yield return new("attention decode T=1", $"B{ab} S{at} Hq{hq} Hkv{hkv} D{hd}", 1e-5, 4.0 * ab * hq * at * hd, x =>
        {
            Tensor tq = x.F(q[..(ab * hq * hd)], ab, 1, hq, hd), tk = x.F(k, ab, at, hkv, hd), tv = x.F(v, ab, at, hkv, hd), o = x.E(ab, 1, hq, hd);
            return new(() => x.B.Attention(tq, tk, tv, scale, o, null), () => o.ToFloatArray());
        });
        yield return new("attention backward", $"B{ab} T{at} Hq{hq} Hkv{hkv} D{hd}", 1e-4, 2.5 * attnFlops, x =>
        {
            Tensor tq = x.F(q, ab, at, hq, hd), tk = x.F(k, ab, at, hkv, hd), tv = x.F(v, ab, at, hkv, hd), o = x.E(ab, at, hq, hd), lse = x.E(ab, hq, at);
            Tensor tdo = x.F(dO, ab, at, hq, hd), dq = x.E(ab, at, hq, hd), dk = x.E(ab, at, hkv, hd), dv = x.E(ab, at, hkv, hd);
            x.B.Attention(tq, tk, tv, scale, o, lse);
            return new(() => x.B.AttentionBackward(tq, tk, tv, o, lse, tdo, scale, dq, dk, dv), () => Concat(dq, dk, dv));
        });
        {
            int tokens = ab * at, maxPos = 4096, half = hd / 2;
            float[] cos = new float[maxPos * half], sin = new float[maxPos * half];
            for (int p = 0; p < maxPos; p++)
            for (int i = 0; i < half; i++)
            {
                double angle = p * Math.Pow(10000, -2.0 * i / hd);
                cos[p * half + i] = (float)Math.Cos(angle);
                sin[p * half + i] = (float)Math.Sin(angle);
            }
            int[] positions = Enumerable.Range(0, tokens).Select(i => (i * 7) % maxPos).ToArray();
            yield return new("rope", $"{tokens}x{hq}x{hd}", 1e-5, 0, x =>
            {
                Tensor tx = x.F(q, tokens, hq, hd), tc = x.F(cos, maxPos, half), ts = x.F(sin, maxPos, half), tp = x.I(positions, tokens), y = x.E(tokens, hq, hd);
                return new(() => x.B.Rope(tx, tc, ts, tp, false, y), () => y.ToFloatArray());
            });
        }

        // ---- embeddings, loss, optimiser ----
        int vocab = small ? 1000 : 32000, dm = small ? 256 : 2048, ntok = small ? 64 : 512;
        float[] table = Random(vocab * dm, 40), edy = Random(ntok * dm, 41);
        int[] ids = Enumerable.Range(0, ntok).Select(i => (int)((i * 2654435761L) % vocab)).ToArray();
        ids[1] = ids[0];   // repeated ids accumulate
        yield return new("embedding gather BF16 (exact)", $"{vocab}x{dm}, {ntok} ids", 0, 0, x =>
        {
            Tensor tt = x.Cast(x.F(table, vocab, dm), DType.BF16), ti = x.I(ids, ntok), y = x.E(ntok, dm);
            return new(() => x.B.EmbeddingGather(tt, ti, y), () => y.ToFloatArray());
        });
        yield return new("embedding scatter-add (first run)", $"{vocab}x{dm}, {ntok} ids", 1e-6, 0, x =>
        {
            Tensor ti = x.I(ids, ntok), dy = x.F(edy, ntok, dm), dt = x.E(vocab, dm);
            x.B.Clear(dt);
            return new(() => x.B.EmbeddingScatterAdd(ti, dy, dt), () => dt.ToFloatArray());
        });
        {
            int n = small ? 64 : 512;
            float[] logits = Random(n * vocab, 42, 8);
            int[] targets = Enumerable.Range(0, n).Select(i => i % 10 == 9 ? -100 : (i * 31) % vocab).ToArray();
            yield return new("cross-entropy", $"{n}x{vocab}", 1e-5, 0, x =>
            {
                Tensor tl = x.F(logits, n, vocab), tt = x.I(targets, n), losses = x.E(n), lse = x.E(n);
                return new(() => x.B.CrossEntropy(tl, tt, -100, losses, lse), () => Concat(losses, lse));
            });
            yield return new("cross-entropy backward", $"{n}x{vocab}", 1e-5, 0, x =>
            {
                Tensor tl = x.F(logits, n, vocab), tt = x.I(targets, n), losses = x.E(n), lse = x.E(n), dl = x.E(n, vocab);
                x.B.CrossEntropy(tl, tt, -100, losses, lse);
                return new(() => x.B.CrossEntropyBackward(tl, tt, lse, -100, 1f / n, dl), () => dl.ToFloatArray());
            });
        }
        {
            int n = small ? 100_003 : 8 * 1024 * 1024;
            float[] p = Random(n, 50), gr = Random(n, 51), m1 = Random(n, 52, 0.1), m2 = Random(n, 53, 0.01).Select(Math.Abs).ToArray();
            yield return new("adamw (first run)", $"{n}", 1e-5, 0, x =>
            {
                Tensor tp = x.F(p, n), tg = x.F(gr, n), tm = x.F(m1, n), tv = x.F(m2, n);
                return new(() => x.B.AdamW(tp, tg, tm, tv, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.1f, 0.001f), () => Concat(tp, tm, tv));
            });
        }
    }
}
