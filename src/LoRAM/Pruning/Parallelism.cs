using LoRAM.Tensors.Cpu;

namespace LoRAM.Pruning;

/// <summary>
/// Degree of parallelism for the host-side numerics of pruning and quantization: <c>LORAM_THREADS</c>
/// (as for the CPU backend), unless a benchmark pins it through <see cref="Override"/>.
/// </summary>
internal static class Parallelism
{
    internal static int? Override { get; set; }

    internal static int Threads => Math.Max(1, Override ?? CpuBackend.ThreadsFromEnvironment());

    internal static ParallelOptions Options => new() { MaxDegreeOfParallelism = Threads };
}
