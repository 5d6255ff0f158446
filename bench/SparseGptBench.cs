using System.Diagnostics;
using System.Text.Json;
using LoRAM.Pruning;
using LoRAM.Quantization;
using LoRAM.Tensors.Cpu.Dense;

namespace LoRAM.Bench;

/// <summary>
/// `sparsegpt`: SparseGPT on one 2048×2048 layer, single-threaded by default — the time of the Hessian
/// (2/n)·Σ x xᵀ over n calibration rows, of the inverse-Hessian Cholesky factor, and of the OBS sweep
/// (50% unstructured and 2:4), then NF4 + double quantization of the pruned weight. Options: --size N, --samples N, --threads N, --json.
/// </summary>
internal static class SparseGptBench
{
    public static int Run(string[] args)
    {
        int size = BenchArgs.Int(args, "--size", 2048), samples = BenchArgs.Int(args, "--samples", 4096), threads = BenchArgs.Int(args, "--threads", 1);
        bool json = args.Contains("--json");
        Parallelism.Override = threads;
        if (size > 256) Warmup();
        var rng = new Random(42);
        var w = Gaussian(rng, size * size, 0.02);
        // Correlated inputs: a rank-64 latent plus noise.
        const int rank = 64;
        var z = Gaussian(rng, samples * rank, 1);
        var a = Gaussian(rng, rank * size, 1);
        var x = Gaussian(rng, samples * size, 0.1);
        Parallel.For(0, samples, s =>
        {
            for (int t = 0; t < rank; t++)
            {
                float zt = z[s * rank + t];
                for (int j = 0; j < size; j++) x[s * size + j] += zt * a[t * size + j];
            }
        });

        var sw = Stopwatch.StartNew();
        var acc = new HessianAccumulator(size);
        acc.Add(x, samples);
        var h = acc.Hessian();
        double hessianS = sw.Elapsed.TotalSeconds;

        sw.Restart();
        var factor = InverseHessianFactor.Compute(h, size);
        double factorS = sw.Elapsed.TotalSeconds;

        sw.Restart();
        var unstructured = SparseGpt.Prune(w, size, size, factor, SparsityTarget.Unstructured(0.5));
        double sweepS = sw.Elapsed.TotalSeconds;

        sw.Restart();
        var semi = SparseGpt.Prune(w, size, size, factor, SparsityTarget.SemiStructured(2, 4));
        double sweep24S = sw.Elapsed.TotalSeconds;

        sw.Restart();
        var semi48 = SparseGpt.Prune(w, size, size, factor, SparsityTarget.SemiStructured(4, 8));   // LoRAM-Semi's default
        double sweep48S = sw.Elapsed.TotalSeconds;

        // NF4 (QLoRA, double quantization) of the pruned weight: the next step of the pipeline.
        // These take milliseconds: best of 5.
        Nf4Weight nf4 = null!;
        double quantizeS = double.MaxValue, dequantizeS = double.MaxValue;
        var back = new float[size * size];
        for (int rep = 0; rep < 5; rep++)
        {
            sw.Restart();
            nf4 = Nf4Quantizer.Quantize(unstructured.Weights, size, size, doubleQuantization: true);
            quantizeS = Math.Min(quantizeS, sw.Elapsed.TotalSeconds);
            sw.Restart();
            nf4.DequantizeRows(0, size, back);
            dequantizeS = Math.Min(dequantizeS, sw.Elapsed.TotalSeconds);
        }

        double n = size;
        var report = new Dictionary<string, object>
        {
            ["suite"] = "sparsegpt", ["size"] = size, ["samples"] = samples, ["threads"] = threads,
            ["hessian_s"] = hessianS, ["hessian_gflops"] = samples * n * n / hessianS / 1e9,        // n·in² flops (lower half, FMA = 2)
            ["factor_s"] = factorS, ["factor_gflops"] = 2 * n * n * n / 3 / factorS / 1e9,          // Cholesky n³/3 + triangular inverse n³/3
            ["sweep_unstructured50_s"] = sweepS, ["sweep_2of4_s"] = sweep24S, ["sweep_4of8_s"] = sweep48S,
            ["sweep_gflops"] = n * n * n / sweepS / 1e9,                                           // lazy updates ≈ rows·cols² flops
            ["density_unstructured"] = unstructured.Mask.Density, ["density_2of4"] = semi.Mask.Density, ["density_4of8"] = semi48.Mask.Density,
            ["nf4_quantize_s"] = quantizeS, ["nf4_dequantize_s"] = dequantizeS, ["nf4_bits_per_parameter"] = nf4.BitsPerParameter,
        };
        if (json) Console.WriteLine(JsonSerializer.Serialize(report));
        else
        {
            Console.WriteLine($"SparseGPT {size}×{size}, {samples} calibration rows, {threads} thread(s)");
            Console.WriteLine($"  Hessian             {hessianS,8:F3} s  ({report["hessian_gflops"]:F1} GFLOP/s)");
            Console.WriteLine($"  factor (chol H⁻¹)   {factorS,8:F3} s  ({report["factor_gflops"]:F1} GFLOP/s)");
            Console.WriteLine($"  sweep 50% unstr.    {sweepS,8:F3} s  ({report["sweep_gflops"]:F1} GFLOP/s)");
            Console.WriteLine($"  sweep 2:4           {sweep24S,8:F3} s");
            Console.WriteLine($"  sweep 4:8           {sweep48S,8:F3} s");
            Console.WriteLine($"  NF4+DQ quantize     {quantizeS,8:F3} s  ({n * n / quantizeS / 1e6:F0} M weights/s, {nf4.BitsPerParameter:F3} bits/param)");
            Console.WriteLine($"  NF4 dequantize      {dequantizeS,8:F3} s  ({n * n / dequantizeS / 1e6:F0} M weights/s)");
        }
        return 0;
    }

    /// <summary>One small run first, so the timed run measures optimised code rather than the JIT's first tiers.</summary>
    private static void Warmup()
    {
        var rng = new Random(1);
        int n = 256;
        var x = Gaussian(rng, 2 * n * n, 1);
        var acc = new HessianAccumulator(n);
        acc.Add(x, 2 * n);
        var factor = InverseHessianFactor.Compute(acc.Hessian(), n);
        var w = Gaussian(rng, n * n, 0.02);
        SparseGpt.Prune(w, n, n, factor, SparsityTarget.Unstructured(0.5));
        SparseGpt.Prune(w, n, n, factor, SparsityTarget.SemiStructured(2, 4));
        Nf4Quantizer.Quantize(w, n, n).Dequantize();
    }

    private static float[] Gaussian(Random rng, int count, double scale)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++)
            x[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return x;
    }
}
