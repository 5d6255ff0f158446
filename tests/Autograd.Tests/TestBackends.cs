using LoRAM.Tensors;
using LoRAM.Tensors.Cpu;

namespace LoRAM.Autograd.Tests;

/// <summary>The backends the autograd tests run on: the plain reference and the SIMD CPU kernels.</summary>
public static class TestBackends
{
    public static TheoryData<string> Names => new() { "reference", "cpu" };

    public static Backend Create(string name) => name switch
    {
        "reference" => new ReferenceBackend(),
        "cpu" => new CpuBackend(2),
        _ => throw new ArgumentException(name),
    };
}
