using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Ilgpu;

namespace LoRAM.Tensors;

/// <summary>The compute backends: SIMD C# on the CPU, ILGPU on an NVIDIA GPU (CUDA), or the ILGPU kernels on ILGPU's
/// CPU accelerator (for testing them without a GPU). <see cref="Auto"/> picks CUDA when present, else the CPU.</summary>
public enum Device { Auto, Cpu, Cuda, IlgpuCpu }

/// <summary>Creates backends; parses a device name once, at the edge (a flag or LORAM_DEVICE).</summary>
public static class Backends
{
    public static readonly string[] Names = ["cpu", "cuda", "ilgpu-cpu"];

    /// <summary>The device a name means (null or empty: <see cref="Device.Auto"/>); <see cref="ArgumentException"/> for any other name.</summary>
    public static Device Parse(string? name) => (name ?? "").Trim().ToLowerInvariant() switch
    {
        "" => Device.Auto,
        "cpu" => Device.Cpu,
        "cuda" => Device.Cuda,
        "ilgpu-cpu" => Device.IlgpuCpu,
        var other => throw new ArgumentException($"unknown device '{other}' (expected one of: {string.Join(", ", Names)})"),
    };

    /// <summary>The name <see cref="Parse"/> reads back.</summary>
    public static string Name(Device device) => device switch
    {
        Device.Cpu => "cpu", Device.Cuda => "cuda", Device.IlgpuCpu => "ilgpu-cpu",
        _ => IlgpuBackend.CudaAvailable ? "cuda" : "cpu",
    };

    /// <summary>A new backend for <paramref name="device"/>. CUDA without a usable GPU is an <see cref="InvalidOperationException"/>.</summary>
    public static Backend Create(Device device) => device switch
    {
        Device.Auto => IlgpuBackend.CudaAvailable ? IlgpuBackend.CreateCuda() : new CpuBackend(),
        Device.Cpu => new CpuBackend(),
        Device.Cuda => IlgpuBackend.CreateCuda(),
        Device.IlgpuCpu => IlgpuBackend.CreateCpu(),
        _ => throw new ArgumentOutOfRangeException(nameof(device)),
    };

    /// <summary>A new backend of the given name (null or empty: CUDA if present, else CPU).</summary>
    public static Backend Create(string? name) => Create(Parse(name));
}
