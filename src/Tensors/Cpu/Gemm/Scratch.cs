using System.Runtime.InteropServices;

namespace LoRAM.Tensors.Cpu.Gemm;

/// <summary>
/// Per-thread packing buffers: native, 64-byte aligned, grown to the largest request and then reused, so a GEMM in
/// steady state allocates nothing on the GC heap for its panels. Each slot is owned by one role (the packed B block
/// shared by a call's workers is the caller's; each worker packs A into its own), so a caller that also works as a
/// worker of its own parallel loop never overwrites its B. Freed by the finalizer when the thread goes.
/// </summary>
internal sealed unsafe class Scratch
{
    public const int PackedA = 0, PackedB = 1, Row = 2, Tile = 3, EvenOdd = 4, Slots = 5;

    [ThreadStatic] private static Scratch? t_current;

    private readonly float*[] _buffers = new float*[Slots];
    private readonly long[] _lengths = new long[Slots];

    public static Scratch Current => t_current ??= new Scratch();

    /// <summary>A buffer of at least <paramref name="floats"/> floats in <paramref name="slot"/>; contents undefined.</summary>
    public float* Get(int slot, long floats)
    {
        if (_lengths[slot] < floats)
        {
            if (_buffers[slot] != null) NativeMemory.AlignedFree(_buffers[slot]);
            long grown = Math.Max(floats, _lengths[slot] * 2);
            _buffers[slot] = (float*)NativeMemory.AlignedAlloc((nuint)(grown * 4), 64);
            _lengths[slot] = grown;
        }
        return _buffers[slot];
    }

    ~Scratch()
    {
        for (int i = 0; i < Slots; i++)
            if (_buffers[i] != null) NativeMemory.AlignedFree(_buffers[i]);
    }
}
