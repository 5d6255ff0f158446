using System.Diagnostics;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Bench;

/// <summary><c>attention</c>: the CPU attention kernel alone, forward and backward, at a training shape
/// (default SmolLM-135M's: B 4, T 512, 9 query / 3 KV heads of 64), median ms and GFLOP/s over the causal half.
/// Usage: attention [--b 4] [--t 512] [--hq 9] [--hkv 3] [--d 64] [--threads 1] [--reps 7]</summary>
internal static class AttentionBench
{
    public static int Run(string[] args)
    {
        int b = BenchArgs.Int(args, "--b", 4), t = BenchArgs.Int(args, "--t", 512), hq = BenchArgs.Int(args, "--hq", 9), hkv = BenchArgs.Int(args, "--hkv", 3), d = BenchArgs.Int(args, "--d", 64);
        int threads = BenchArgs.Int(args, "--threads", 1), reps = BenchArgs.Int(args, "--reps", 7);
        using var be = new CpuBackend(threads);
        var rng = new Random(1);
        Tensor Rand(params int[] shape) => Tensor.FromArray(be, Enumerable.Range(0, (int)Tensor.Elements(shape)).Select(_ => (float)rng.NextDouble() * 2 - 1).ToArray(), shape);
        using var q = Rand(b, t, hq, d); using var k = Rand(b, t, hkv, d); using var v = Rand(b, t, hkv, d); using var dO = Rand(b, t, hq, d);
        using var o = Tensor.Empty(be, b, t, hq, d); using var lse = Tensor.Empty(be, b, hq, t);
        using var dq = Tensor.Empty(be, b, t, hq, d); using var dk = Tensor.Empty(be, b, t, hkv, d); using var dv = Tensor.Empty(be, b, t, hkv, d);
        float scale = 1f / MathF.Sqrt(d);
        double Time(Action run)
        {
            for (int i = 0; i < 3; i++) run();
            var times = new List<double>();
            for (int i = 0; i < reps; i++) { var sw = Stopwatch.StartNew(); run(); times.Add(sw.Elapsed.TotalMilliseconds); }
            times.Sort();
            return times[reps / 2];
        }
        double fwd = Time(() => be.Attention(q, k, v, scale, o, lse));
        double bwd = Time(() => be.AttentionBackward(q, k, v, o, lse, dO, scale, dq, dk, dv));
        double causal = (double)b * hq * t * (t + 1) / 2 * d * 2;   // one product over the causal half
        Console.WriteLine($"attention B{b} T{t} Hq{hq} Hkv{hkv} D{d}, {threads} thread(s): forward {fwd:F2} ms ({2 * causal / fwd / 1e6:F1} GFLOP/s), " +
                          $"backward {bwd:F2} ms ({5 * causal / bwd / 1e6:F1} GFLOP/s), median of {reps}");
        return 0;
    }
}
