using System.Diagnostics;
using System.Text.Json;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Cpu.Gemm;

namespace LoRAM.Bench;

/// <summary>
/// `gemm` suite: GFLOP/s (2·m·n·k / median time) of CpuBackend.Gemm on square sizes and LLaMA-shaped products,
/// with B stored F32 or BF16. bench/peers/gemm.py runs the same shapes with torch.matmul and prints the same JSON,
/// and bench/run-gemm-comparison.sh interleaves the two.
/// Options: --threads N (default LORAM_THREADS or all cores) --kernel avx512|avx2|scalar --reps R (default 7)
/// --json --only NAME (substring filter on the shape name).
/// </summary>
internal static class GemmBench
{
    /// <summary>m×k×n, and whether B is stored [n, k] (a Linear weight, y = x·Wᵀ) rather than [k, n].</summary>
    internal static readonly (string Name, int M, int K, int N, bool TransB)[] Shapes =
    [
        ("512^3", 512, 512, 512, false),
        ("1024^3", 1024, 1024, 1024, false),
        ("2048^3", 2048, 2048, 2048, false),
        ("qkv 2048x768x2048", 2048, 768, 2048, true),
        ("proj 2048x2048x768", 2048, 2048, 768, true),
        ("decode 1x3072x768", 1, 3072, 768, true),
        ("decode-b4 4x3072x768", 4, 3072, 768, true),
        ("lora-r8 2048x8x768", 2048, 8, 768, true),
    ];

    public static int Run(string[] args)
    {
        int threads = CpuBackend.ThreadsFromEnvironment(), reps = 7;
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
                default: Console.Error.WriteLine($"gemm: unknown option {args[i]}"); return 2;
            }
        }
        var kernel = kernelName is null ? MicroKernels.Default : MicroKernels.Choose(kernelName);
        using var backend = new CpuBackend(threads);
        var results = new List<Dictionary<string, object>>();
        var rng = new Random(1);
        foreach (var (name, m, k, n, transB) in Shapes)
        {
            if (only is not null && !name.Contains(only, StringComparison.OrdinalIgnoreCase)) continue;
            foreach (var dtype in new[] { DType.F32, DType.BF16 })
            {
                using var a = Tensor.FromArray(backend, Random(rng, m * k), m, k);
                using var bF = Tensor.FromArray(backend, Random(rng, k * n), transB ? n : k, transB ? k : n);
                using var b = dtype == DType.F32 ? bF.Clone() : ToBf16(backend, bF);
                using var c = Tensor.Zeros(backend, m, n);
                double flops = 2.0 * m * n * k;
                // Warm up (JIT tiers, packing buffers), at least ~0.5 s and 3 calls: tiered JIT promotes hot methods only after a delay.
                var warm = Stopwatch.StartNew();
                int warmCalls = 0;
                for (; warmCalls < 3 || warm.Elapsed.TotalSeconds < 0.5; warmCalls++) backend.Gemm(a, false, b, transB, c, 1f, 0f, kernel);
                // Each rep times enough calls to last ≥ ~20 ms, so small shapes are not timer noise.
                int calls = Math.Max(1, (int)(0.02 / Math.Max(1e-7, warm.Elapsed.TotalSeconds / warmCalls)));
                var times = new double[reps];
                for (int r = 0; r < reps; r++)
                {
                    var sw = Stopwatch.StartNew();
                    for (int i = 0; i < calls; i++) backend.Gemm(a, false, b, transB, c, 1f, 0f, kernel);
                    times[r] = sw.Elapsed.TotalSeconds / calls;
                }
                Array.Sort(times);
                double median = times[reps / 2];
                results.Add(new()
                {
                    ["name"] = name, ["m"] = m, ["k"] = k, ["n"] = n, ["transB"] = transB, ["dtype"] = dtype == DType.F32 ? "f32" : "bf16",
                    ["median_ms"] = Math.Round(median * 1e3, 4), ["gflops"] = Math.Round(flops / median / 1e9, 2),
                });
                if (!json) Console.WriteLine($"{name,-22} {results[^1]["dtype"],-5} {median * 1e3,10:F3} ms {flops / median / 1e9,9:F2} GFLOP/s");
            }
        }
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["suite"] = "gemm", ["impl"] = "loram", ["threads"] = threads, ["kernel"] = kernel.ToString().ToLowerInvariant(), ["reps"] = reps,
                ["results"] = results,
            }));
        return 0;
    }

    private static float[] Random(Random rng, int count)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    private static Tensor ToBf16(Backend backend, Tensor f32)
    {
        var bits = f32.ToArray<float>().Select(BFloat16.FromSingle).ToArray();
        return Tensor.FromSpan<ushort>(backend, bits, DType.BF16, f32.ShapeArray());
    }
}
