using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LoRAM.Bench;

/// <summary>
/// This machine's memory read bandwidth, measured the way decoding uses memory: stream a buffer far larger
/// than the caches once, summing it with SIMD loads, on the given number of threads. Decoding one token
/// reads every weight once, so weights-bytes / bandwidth is the floor on time per token.
/// </summary>
internal static unsafe class MemoryBandwidth
{
    /// <summary>Median read bandwidth in bytes/s over <paramref name="reps"/> passes of a <paramref name="bytes"/> buffer.</summary>
    public static double ReadBytesPerSecond(int threads, long bytes = 1L << 30, int reps = 7) => Read(threads, bytes, reps).PerSecond;

    /// <summary>Median read bandwidth over wall time and over CPU time per thread (bytes per CPU-second of one thread:
    /// what the loop reads while it runs, whatever share of the core other jobs take).</summary>
    public static (double PerSecond, double PerCpuSecond) Read(int threads, long bytes = 1L << 30, int reps = 7)
    {
        var buffer = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            // Touch every page so the first pass does not measure page faults.
            new Span<byte>(buffer, (int)Math.Min(bytes, int.MaxValue)).Fill(1);
            if (bytes > int.MaxValue) new Span<byte>(buffer + int.MaxValue, (int)(bytes - int.MaxValue)).Fill(1);

            var times = new List<double>();
            var cpuTimes = new List<double>();
            float sink = 0;
            for (int r = 0; r < reps + 1; r++)
            {
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                long chunk = bytes / threads / 256 * 256;
                var partial = new float[threads];
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads },
                    t => partial[t] = Sum((float*)(buffer + t * chunk), chunk / sizeof(float)));
                sw.Stop();
                sink += partial.Sum();
                if (r > 0)   // the first pass warms up
                {
                    times.Add(sw.Elapsed.TotalSeconds);
                    cpuTimes.Add((Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds / threads);
                }
            }
            GC.KeepAlive(sink);
            times.Sort();
            cpuTimes.Sort();
            return (bytes / times[times.Count / 2], bytes / cpuTimes[cpuTimes.Count / 2]);
        }
        finally { NativeMemory.AlignedFree(buffer); }
    }

    internal static float Sum(float* p, long n)
    {
        Vector256<float> a = default, b = default, c = default, d = default;
        long i = 0;
        for (; i + 32 <= n; i += 32)
        {
            a += Vector256.Load(p + i);
            b += Vector256.Load(p + i + 8);
            c += Vector256.Load(p + i + 16);
            d += Vector256.Load(p + i + 24);
        }
        float s = Vector256.Sum(a + b + c + d);
        for (; i < n; i++) s += p[i];
        return s;
    }
}
