using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoRAM.Tensors.Cpu.Gemm;

/// <summary>Loads of B's stored dtype widened to float32 lanes. Generic code over these structs is specialised
/// per dtype by the JIT, so the dtype test leaves the inner loops. Both widenings are exact.</summary>
internal unsafe interface IWiden
{
    static abstract int Size { get; }
    static abstract float One(byte* p);
    /// <summary>16 elements (requires Avx512F).</summary>
    static abstract Vector512<float> Load16(byte* p);
    /// <summary>8 elements (requires Avx2).</summary>
    static abstract Vector256<float> Load8(byte* p);
}

internal unsafe struct F32Widen : IWiden
{
    public static int Size => 4;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float One(byte* p) => *(float*)p;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load16(byte* p) => Avx512F.LoadVector512((float*)p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load8(byte* p) => Avx.LoadVector256((float*)p);
}

/// <summary>bfloat16 is the high half of a float32: widen to 32 bits and shift left by 16.</summary>
internal unsafe struct Bf16Widen : IWiden
{
    public static int Size => 2;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float One(byte* p) => BFloat16.ToSingle(*(ushort*)p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* p) =>
        Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Avx.LoadVector256((ushort*)p)), 16).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) =>
        Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Sse2.LoadVector128((ushort*)p)), 16).AsSingle();
}

/// <summary>
/// IEEE half → float without F16C (which .NET does not expose): place exponent+mantissa at float bit 13 and
/// multiply by 2^112 to rebias the exponent (15 → 127); this is exact for normals and subnormals alike. Inf/NaN
/// (exponent 31) instead get the float exponent 255 directly. The sign is or-ed back last.
/// </summary>
internal unsafe struct F16Widen : IWiden
{
    private const uint Magic = 0x7780_0000;   // 2^112

    public static int Size => 2;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float One(byte* p) => (float)*(Half*)p;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* p)
    {
        var h = Avx512F.ConvertToVector512UInt32(Avx.LoadVector256((ushort*)p));
        var em = Avx512F.And(h, Vector512.Create(0x7FFFu));
        var f = Avx512F.Multiply(Avx512F.ShiftLeftLogical(em, 13).AsSingle(), Vector512.Create(Magic).AsSingle()).AsUInt32();
        var special = Vector512.GreaterThanOrEqual(em, Vector512.Create(0x7C00u));
        f = Vector512.ConditionalSelect(special, Avx512F.Or(Avx512F.ShiftLeftLogical(em, 13), Vector512.Create(0x7F80_0000u)), f);
        return Avx512F.Or(f, Avx512F.ShiftLeftLogical(Avx512F.And(h, Vector512.Create(0x8000u)), 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p)
    {
        var h = Avx2.ConvertToVector256Int32(Sse2.LoadVector128((ushort*)p)).AsUInt32();
        var em = Avx2.And(h, Vector256.Create(0x7FFFu));
        var f = Avx.Multiply(Avx2.ShiftLeftLogical(em, 13).AsSingle(), Vector256.Create(Magic).AsSingle()).AsUInt32();
        var special = Vector256.GreaterThanOrEqual(em, Vector256.Create(0x7C00u));
        f = Vector256.ConditionalSelect(special, Avx2.Or(Avx2.ShiftLeftLogical(em, 13), Vector256.Create(0x7F80_0000u)), f);
        return Avx2.Or(f, Avx2.ShiftLeftLogical(Avx2.And(h, Vector256.Create(0x8000u)), 16)).AsSingle();
    }
}

/// <summary>Contiguous runs of B widened to float32 (packing's inner step).</summary>
internal static unsafe class Widen
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float One(byte* src, DType dtype) => dtype switch
    {
        DType.F32 => F32Widen.One(src),
        DType.BF16 => Bf16Widen.One(src),
        _ => F16Widen.One(src),
    };

    /// <summary>dst[0..count) = float(src[0..count)), with the vector width of <paramref name="isa"/>.</summary>
    public static void Run(byte* src, DType dtype, float* dst, int count, GemmKernel isa)
    {
        switch (dtype)
        {
            case DType.F32: Buffer.MemoryCopy(src, dst, count * 4L, count * 4L); break;
            case DType.BF16: Run<Bf16Widen>(src, dst, count, isa); break;
            default: Run<F16Widen>(src, dst, count, isa); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run<W>(byte* src, float* dst, int count, GemmKernel isa) where W : struct, IWiden
    {
        int i = 0;
        if (isa == GemmKernel.Avx512)
            for (; i + 16 <= count; i += 16) Avx512F.Store(dst + i, W.Load16(src + i * W.Size));
        else if (isa == GemmKernel.Avx2)
            for (; i + 8 <= count; i += 8) Avx.Store(dst + i, W.Load8(src + i * W.Size));
        for (; i < count; i++) dst[i] = W.One(src + i * W.Size);
    }
}
