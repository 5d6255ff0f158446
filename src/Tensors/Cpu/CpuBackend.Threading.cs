namespace LoRAM.Tensors.Cpu;

public sealed partial class CpuBackend
{
    /// <summary>Below this many element-operations per thread, splitting costs more than it saves.</summary>
    private const long MinWorkPerThread = 32 * 1024;

    /// <summary>A body over the half-open range [start, end).</summary>
    internal delegate void RangeBody(int start, int end);

    /// <summary>
    /// Runs <paramref name="body"/> over [0, <paramref name="count"/>) split into contiguous ranges, one per
    /// thread, with Parallel.For; inline on the calling thread when the work (count · costPerItem) is small.
    /// Ranges are disjoint, so bodies that write only their own items need no locks.
    /// </summary>
    internal void ForRange(int count, long costPerItem, RangeBody body)
    {
        if (count <= 0) return;
        long work = (long)count * Math.Max(1, costPerItem);
        int chunks = (int)Math.Min(Math.Min(Threads, count), Math.Max(1, work / MinWorkPerThread));
        if (chunks <= 1) { body(0, count); return; }
        System.Threading.Tasks.Parallel.For(0, chunks, Parallel,
            c => body((int)((long)count * c / chunks), (int)((long)count * (c + 1) / chunks)));
    }

    /// <summary><see cref="ForRange"/> for elementwise kernels: ranges of elements, each costing one.</summary>
    internal void ForElements(long length, RangeBody body) => ForRange(checked((int)length), 1, body);
}
