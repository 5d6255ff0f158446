using System.Diagnostics;
using System.Text.Json;
using LoRAM.Quantization;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Cpu.Gemm;

namespace LoRAM.Bench;

/// <summary>
/// `nf4-gemm` suite: CpuBackend.Nf4Gemm (W in NF4, decoded while packing / in the decode path) against
/// CpuBackend.Gemm with the same W stored BF16, on LLaMA-shaped linear products; median time of each and their ratio
/// (the issue's goal: NF4 within 1.5× of BF16). Options: --threads N (default 1) --kernel avx512|avx2|scalar
/// --reps R (default 7) --json --only NAME.
/// </summary>
internal static class Nf4GemmBench
{
    /// <summary>x [m, k] against W; forward y = x·Wᵀ with W [n, k] (transW), or input gradient dx = dy·W with W [k, n].</summary>
    private static readonly (string Name, int M, int K, int N, bool TransW)[] Shapes =
    [
        ("fwd 2048x768 . 2048x768^T", 2048, 768, 2048, true),
        ("fwd 2048x2048 . 768x2048^T", 2048, 2048, 768, true),
        ("bwd 2048x2048 . 2048x768", 2048, 2048, 768, false),
        ("decode 1x3072 . 768x3072^T", 1, 3072, 768, true),
        ("decode-b4 4x3072 . 768x3072^T", 4, 3072, 768, true),
        // models/base's down_proj (in 688 = 10.75 blocks: NF4 blocks straddle rows) and an aligned twin (in 704).
        ("fwd-688 2048x688 . 256x688^T", 2048, 688, 256, true),
        ("decode-688 1x688 . 256x688^T", 1, 688, 256, true),
        ("decode-704 1x704 . 256x704^T", 1, 704, 256, true),
        ("bwd-688 2048x256 . 256x688", 2048, 256, 688, false),
    ];

    public static int Run(string[] args)
    {
        int threads = 1, reps = 7;
        string? kernelName = null, only = null;
        bool json = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--threads": threads = int.Parse(args[++i]); break;
                case "--kernel": kernelName = args[++i]; break;
                case "--reps": reps = int.Parse(args[++i]); break;
                case "--only": only = args[++i]; break;
                case "--json": json = true; break;
                default: Console.Error.WriteLine($"nf4-gemm: unknown option {args[i]}"); return 2;
            }
        }
        var kernel = kernelName is null ? MicroKernels.Default : MicroKernels.Choose(kernelName);
        using var backend = new CpuBackend(threads);
        var results = new List<Dictionary<string, object>>();
        var rng = new Random(1);
        if (!json) Console.WriteLine($"{"shape",-30} {"bf16 ms",10} {"nf4 ms",10} {"nf4/bf16",9}");
        foreach (var (name, m, k, n, transW) in Shapes)
        {
            if (only is not null && !name.Contains(only, StringComparison.OrdinalIgnoreCase)) continue;
            int rows = transW ? n : k, cols = transW ? k : n;   // W [out, in]
            var w = new float[rows * cols];
            for (int i = 0; i < w.Length; i++) w[i] = (float)((rng.NextDouble() * 2 - 1) * 0.05);
            var x = new float[m * k];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            using var a = Tensor.FromArray(backend, x, m, k);
            using var bf16 = Tensor.FromSpan<ushort>(backend, w.Select(BFloat16.FromSingle).ToArray(), DType.BF16, rows, cols);
            using var nf4 = Nf4FrozenWeight.Upload(backend, Nf4Quantizer.Quantize(w, rows, cols, doubleQuantization: false));
            using var c = Tensor.Zeros(backend, m, n);
            double tBf16 = Median(() => backend.Gemm(a, false, bf16, transW, c, 1f, 0f, kernel), reps);
            double tNf4 = Median(() => backend.Nf4Gemm(a, nf4.Matrix, transW, c, 1f, 0f, kernel), reps);
            double flops = 2.0 * m * n * k;
            results.Add(new()
            {
                ["name"] = name, ["m"] = m, ["k"] = k, ["n"] = n, ["transW"] = transW,
                ["bf16_ms"] = Math.Round(tBf16 * 1e3, 4), ["nf4_ms"] = Math.Round(tNf4 * 1e3, 4), ["ratio"] = Math.Round(tNf4 / tBf16, 3),
                ["bf16_gflops"] = Math.Round(flops / tBf16 / 1e9, 2), ["nf4_gflops"] = Math.Round(flops / tNf4 / 1e9, 2),
            });
            if (!json) Console.WriteLine($"{name,-30} {tBf16 * 1e3,10:F3} {tNf4 * 1e3,10:F3} {tNf4 / tBf16,9:F3}");
        }
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["suite"] = "nf4-gemm", ["threads"] = threads, ["kernel"] = kernel.ToString().ToLowerInvariant(), ["reps"] = reps, ["results"] = results,
            }));
        return 0;
    }

    /// <summary>Median seconds per call over <paramref name="reps"/> reps of ≥ ~20 ms each, after ≥ 0.5 s of warm-up (JIT tiers, buffers).</summary>
    private static double Median(Action call, int reps)
    {
        var warm = Stopwatch.StartNew();
        int warmCalls = 0;
        for (; warmCalls < 3 || warm.Elapsed.TotalSeconds < 0.5; warmCalls++) call();
        int calls = Math.Max(1, (int)(0.02 / Math.Max(1e-7, warm.Elapsed.TotalSeconds / warmCalls)));
        var times = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < calls; i++) call();
            times[r] = sw.Elapsed.TotalSeconds / calls;
        }
        Array.Sort(times);
        return times[reps / 2];
    }
}
