using LoRAM.Tensors;

namespace LoRAM.Llama.Tests.Support;

/// <summary>
/// What reading a hostile input may cost before it is refused (or served): managed bytes allocated on the reading
/// thread (<see cref="GC.GetAllocatedBytesForCurrentThread"/>, deterministic where a process-wide count would include
/// tests running beside it), the peak bytes a backend reserved for tensors, and wall time.
/// </summary>
public static class Bounded
{
    /// <summary>Runs <paramref name="action"/> and asserts it allocated at most <paramref name="maxManagedBytes"/> on this
    /// thread, reserved at most <paramref name="maxBackendBytes"/> on <paramref name="backend"/> (when given) and took at
    /// most <paramref name="maxSeconds"/>. Exceptions pass through (after the measurement) so callers can assert on them.</summary>
    public static void Run(Action action, long maxManagedBytes, double maxSeconds, Backend? backend = null, long maxBackendBytes = 0, string what = "")
    {
        backend?.ResetPeak();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try { action(); }
        finally
        {
            double seconds = clock.Elapsed.TotalSeconds;
            long managed = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(managed <= maxManagedBytes, $"{what}: allocated {managed / 1e6:F1} MB on the reading thread, bound {maxManagedBytes / 1e6:F1} MB");
            Assert.True(seconds <= maxSeconds, $"{what}: took {seconds:F2} s, bound {maxSeconds} s");
            if (backend is not null)
            {
                long reserved = backend.Memory.PeakReservedBytes;
                Assert.True(reserved <= maxBackendBytes, $"{what}: reserved {reserved / 1e6:F1} MB of tensors, bound {maxBackendBytes / 1e6:F1} MB");
            }
        }
    }
}
