using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Ilgpu;

namespace LoRAM.Autograd.Tests;

/// <summary>The backends the autograd tests run on: the plain reference, the SIMD CPU kernels and the ILGPU kernels
/// on ILGPU's CPU accelerator.</summary>
public static class TestBackends
{
    public static TheoryData<string> Names => new() { "reference", "cpu" };

    /// <summary>Also the ILGPU kernels, for tests cheap enough for ILGPU's emulated threads (the finite-difference
    /// checks run hundreds of forward passes and stay on the two above).</summary>
    public static TheoryData<string> NamesWithIlgpu => new() { "reference", "cpu", "ilgpu-cpu" };

    public static Backend Create(string name) => name switch
    {
        "reference" => new ReferenceBackend(),
        "cpu" => new CpuBackend(2),
        "ilgpu-cpu" => IlgpuBackend.CreateCpu(),
        _ => throw new ArgumentException(name),
    };
}
