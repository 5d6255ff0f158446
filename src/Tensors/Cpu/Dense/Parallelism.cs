namespace LoRAM.Tensors.Cpu.Dense;

/// <summary>
/// Degree of parallelism for the host-side numerics of pruning and quantization: <c>LORAM_THREADS</c>
/// (as for the CPU backend), unless a benchmark pins it through <see cref="Override"/>.
/// </summary>
public static class Parallelism
{
    internal static int? Override { get; set; }

    public static int Threads => Math.Max(1, Override ?? CpuBackend.ThreadsFromEnvironment());

    public static ParallelOptions Options => new() { MaxDegreeOfParallelism = Threads };
}
