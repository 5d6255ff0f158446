using System.Runtime.InteropServices;

namespace LoRAM.Tensors.Cpu;

/// <summary>Host memory: 64-byte aligned native blocks from the pool, or borrowed memory (a mapped file).</summary>
internal sealed unsafe class CpuStorage : Storage
{
    private readonly IDisposable? _owner;
    private readonly bool _borrowed;
    private byte* _pointer;

    internal CpuStorage(CpuBackend backend, long bytes) : base(backend, bytes)
    {
        _pointer = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        if (_pointer == null) throw new OutOfMemoryException($"cannot allocate {bytes} bytes of host memory");
        GC.AddMemoryPressure(bytes);
    }

    internal CpuStorage(CpuBackend backend, IntPtr pointer, long bytes, IDisposable? owner) : base(backend, bytes)
    {
        _pointer = (byte*)pointer;
        _owner = owner;
        _borrowed = true;
    }

    public byte* Pointer => _pointer;

    public override bool Pooled => !_borrowed;

    protected internal override void Free()
    {
        if (_pointer == null) return;
        if (_borrowed) _owner?.Dispose();
        else
        {
            NativeMemory.AlignedFree(_pointer);
            GC.RemoveMemoryPressure(Bytes);
        }
        _pointer = null;
    }
}
