namespace LoRAM.Tensors.Cpu.Gemm;

/// <summary>One unit of a parallel loop, as a struct so a single-threaded call captures nothing (no closure is
/// allocated unless the work really goes to the thread pool).</summary>
internal interface IWorkItem
{
    void Run(int index);
}

internal static class Workers
{
    /// <summary>Runs item.Run(0..count) on up to <paramref name="threads"/> threads; inline when one suffices.</summary>
    public static void For<T>(int count, int threads, ParallelOptions parallel, T item) where T : struct, IWorkItem
    {
        if (threads <= 1 || count <= 1)
        {
            for (int i = 0; i < count; i++) item.Run(i);
            return;
        }
        OnPool(count, parallel, item);
    }

    // Separate method: the lambda's closure is allocated only on this path.
    private static void OnPool<T>(int count, ParallelOptions parallel, T item) where T : struct, IWorkItem =>
        System.Threading.Tasks.Parallel.For(0, count, parallel, i => item.Run(i));
}
