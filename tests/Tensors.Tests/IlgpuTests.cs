using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Ilgpu;

namespace LoRAM.Tensors.Tests;

/// <summary>One ILGPU CPU accelerator (and one SIMD CPU backend to compare with) shared by every Ilgpu*Tests class:
/// each kernel is compiled once for the whole run, and the classes run one after another on it.</summary>
public sealed class IlgpuFixture : IDisposable
{
    public IlgpuBackend Gpu { get; } = IlgpuBackend.CreateCpu();
    public CpuBackend Cpu { get; } = new(2);

    public Tensor Up(float[] data, params int[] shape) => Tensor.FromArray(Gpu, data, shape);
    public Tensor Up(int[] data, params int[] shape) => Tensor.FromArray(Gpu, data, shape);
    public Tensor UpCpu(float[] data, params int[] shape) => Tensor.FromArray(Cpu, data, shape);
    public Tensor UpCpu(int[] data, params int[] shape) => Tensor.FromArray(Cpu, data, shape);

    public void Dispose()
    {
        Gpu.Dispose();
        Cpu.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class IlgpuCollection : ICollectionFixture<IlgpuFixture>
{
    public const string Name = "ilgpu";
}
