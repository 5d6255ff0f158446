using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Ilgpu;

namespace LoRAM.Tensors;

/// <summary>Picks a backend by name: <c>cpu</c> (SIMD C#), <c>cuda</c> (ILGPU on an NVIDIA GPU) or
/// <c>ilgpu-cpu</c> (the ILGPU kernels on ILGPU's CPU accelerator, for testing them without a GPU).</summary>
public static class Backends
{
    public static readonly string[] Names = ["cpu", "cuda", "ilgpu-cpu"];

    /// <summary>A new backend of the given name (null or empty: CUDA if present, else CPU).</summary>
    public static Backend Create(string? name) => (name ?? "").Trim().ToLowerInvariant() switch
    {
        "" => IlgpuBackend.CudaAvailable ? IlgpuBackend.CreateCuda() : new CpuBackend(),
        "cpu" => new CpuBackend(),
        "cuda" => IlgpuBackend.CreateCuda(),
        "ilgpu-cpu" => IlgpuBackend.CreateCpu(),
        var other => throw new ArgumentException($"unknown device '{other}' (expected one of: {string.Join(", ", Names)})"),
    };
}
