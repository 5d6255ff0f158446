using System.Diagnostics;
using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Bench;

/// <summary>
/// <c>gemv-stream</c>: the m = 1 BF16 GEMV (decoding's product) as a memory stream: y = x·Wᵀ over enough [n, k]
/// weights (~1 GiB) that none stays cached, in GB/s of weight bytes, next to the read-bandwidth probe of the inference
/// bench on the same threads and the probe's own summing loop run over the same weights (one thread). The GEMV is also
/// given per CPU-second, which time-slicing by other jobs on a shared machine does not inflate.
/// Usage: gemv-stream [--n 5632] [--k 2048] [--mib 1024] [--threads N] [--reps R] [--group G]
/// (--group 2 or 3: MultiLinear over G weights at a time, the fused q/k/v or gate/up path; a small --mib keeps the
/// weights in cache, which tells the loop's compute from the memory's rate).
/// </summary>
internal static unsafe class GemvStreamBench
{
    public static int Run(string[] args)
    {
        int n = BenchArgs.Int(args, "--n", 5632), k = BenchArgs.Int(args, "--k", 2048);
        int threads = BenchArgs.Int(args, "--threads", CpuBackend.ThreadsFromEnvironment());
        int reps = BenchArgs.Int(args, "--reps", 15), group = BenchArgs.Int(args, "--group", 1);
        long total = (long)BenchArgs.Int(args, "--mib", 1024) << 20;
        using var be = new CpuBackend(threads);
        long bytesEach = (long)n * k * 2;
        int count = (int)Math.Max(group, total / bytesEach / group * group);
        var rng = new Random(1);
        var host = new float[(long)n * k];
        for (int i = 0; i < host.Length; i++) host[i] = (float)(rng.NextDouble() * 2 - 1) / 45f;
        var weights = new Tensor[count];
        for (int i = 0; i < count; i++) { using var f = Tensor.FromArray(be, host, n, k); weights[i] = f.Cast(DType.BF16); }
        using var x = Tensor.FromArray(be, host.AsSpan(0, k).ToArray(), 1, k);
        var ys = Enumerable.Range(0, group).Select(_ => Tensor.Empty(be, 1, n)).ToArray();

        var wall = new List<double>();
        var cpu = new List<double>();
        for (int r = 0; r <= reps; r++)
        {
            var sw = Stopwatch.StartNew();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            if (group == 1) foreach (var w in weights) be.Gemm(x, false, w, true, ys[0]);
            else for (int i = 0; i < count; i += group) be.MultiLinear(x, weights[i..(i + group)], ys);
            sw.Stop();
            if (r == 0) continue;   // warm-up
            wall.Add(sw.Elapsed.TotalSeconds);
            cpu.Add((Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds / threads);
        }

        // The probe's loop over the weights themselves (one thread): the kernel's cost apart from the memory's.
        var sums = new List<double>();
        float sink = 0;
        for (int r = 0; r <= reps; r++)
        {
            var sw = Stopwatch.StartNew();
            foreach (var w in weights) sink += MemoryBandwidth.Sum(CpuBackend.Ptr<float>(w), bytesEach / 4);
            if (r > 0) sums.Add(sw.Elapsed.TotalSeconds);
        }
        GC.KeepAlive(sink);
        double probe = MemoryBandwidth.ReadBytesPerSecond(threads, 1L << 30, 5);

        double bytes = count * bytesEach;
        Console.WriteLine($"gemv-stream [{n}, {k}] BF16 ×{count} ({bytes / 1048576.0:F0} MiB), group {group}, {threads} thread(s), {reps} reps:");
        Console.WriteLine($"  GEMV median {bytes / Median(wall) / 1e9:F1} GB/s (best {bytes / wall.Min() / 1e9:F1}), per CPU-second {bytes / Median(cpu) / 1e9:F1}");
        Console.WriteLine($"  probe {probe / 1e9:F1} GB/s ({threads} thread(s), 1 GiB buffer) → GEMV at {bytes / Median(wall) / probe:P0} of it;" +
                          $" probe loop over these weights (1 thread) {bytes / Median(sums) / 1e9:F1} GB/s");
        foreach (var t in weights.Concat(ys)) t.Dispose();
        return 0;
    }

    private static double Median(List<double> xs)
    {
        var s = xs.OrderBy(v => v).ToList();
        return s[s.Count / 2];
    }
}
