using System.Diagnostics;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Bench;

/// <summary><c>lora-parts</c>: each kernel call of one LoRA linear's forward and backward (n tokens, in → out, r = 8,
/// BF16 W0, dropout), timed alone: where a LoRA projection's time goes beyond its two base GEMMs.
/// Usage: lora-parts [--n 2048] [--in 256] [--out 688] [--threads 1] [--reps 9]</summary>
internal static class LoraPartsBench
{
    public static int Run(string[] args)
    {
        int n = BenchArgs.Int(args, "--n", 2048), inF = BenchArgs.Int(args, "--in", 256), outF = BenchArgs.Int(args, "--out", 688), r = 8;
        int threads = BenchArgs.Int(args, "--threads", 1), reps = BenchArgs.Int(args, "--reps", 9);
        using var be = new CpuBackend(threads);
        var rng = new Random(1);
        Tensor Rand(params int[] shape) => Tensor.FromArray(be, Enumerable.Range(0, (int)Tensor.Elements(shape)).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(), shape);
        using var x = Rand(n, inF); using var w32 = Rand(outF, inF); using var w = w32.Cast(DType.BF16);
        using var a = Rand(r, inF); using var b = Rand(outF, r); using var y = Rand(n, outF); using var dy = Rand(n, outF);
        using var xd = Rand(n, inF); using var u = Rand(n, r); using var du = Rand(n, r); using var dx = Rand(n, inF);
        using var da = Rand(r, inF); using var db = Rand(outF, r); using var t = Rand(n, inF);
        var parts = new (string Name, Action Run)[]
        {
            ("fwd y = x·W0ᵀ (bf16)", () => be.Gemm(x, false, w, true, y)),
            ("fwd xd = drop(x)", () => be.Dropout(x, 0.05f, 7, xd)),
            ("fwd u = xd·Aᵀ", () => be.Gemm(xd, false, a, true, u)),
            ("fwd y += s·u·Bᵀ", () => be.Gemm(u, false, b, true, y, 2f, 1f)),
            ("bwd xd = drop(x) again", () => be.Dropout(x, 0.05f, 7, xd)),
            ("bwd dB += s·dyᵀ·u", () => be.Gemm(dy, true, u, false, db, 2f, 1f)),
            ("bwd du = s·dy·B", () => be.Gemm(dy, false, b, false, du, 2f)),
            ("bwd dA += duᵀ·xd", () => be.Gemm(du, true, xd, false, da, 1f, 1f)),
            ("bwd dx = dy·W0 (bf16)", () => be.Gemm(dy, false, w, false, dx)),
            ("bwd t = du·A", () => be.Gemm(du, false, a, false, t)),
            ("bwd drop(t)", () => be.Dropout(t, 0.05f, 7, t)),
            ("bwd dx += t", () => be.Add(dx, t, dx)),
        };
        Console.WriteLine($"lora-parts n={n} in={inF} out={outF} r={r}, {threads} thread(s), median of {reps}");
        double total = 0;
        foreach (var (name, run) in parts)
        {
            for (int i = 0; i < 5; i++) run();
            var times = new List<double>();
            for (int i = 0; i < reps; i++) { var sw = Stopwatch.StartNew(); run(); times.Add(sw.Elapsed.TotalMilliseconds); }
            times.Sort();
            total += times[reps / 2];
            Console.WriteLine($"  {name,-26} {times[reps / 2],8:F3} ms");
        }
        Console.WriteLine($"  {"total",-26} {total,8:F3} ms");
        return 0;
    }
}
