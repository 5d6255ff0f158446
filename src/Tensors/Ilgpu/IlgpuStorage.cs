using ILGPU;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

/// <summary>Accelerator memory: one ILGPU byte buffer, viewed as any element type by the kernels.</summary>
internal sealed class IlgpuStorage : Storage
{
    internal IlgpuStorage(IlgpuBackend backend, MemoryBuffer1D<byte, Stride1D.Dense> buffer, bool pooled = true) : base(backend, buffer.Length)
    {
        Buffer = buffer;
        Pooled = pooled;
    }

    public MemoryBuffer1D<byte, Stride1D.Dense>? Buffer { get; private set; }

    public override bool Pooled { get; }

    protected internal override void Free()
    {
        Buffer?.Dispose();
        Buffer = null;
    }
}
