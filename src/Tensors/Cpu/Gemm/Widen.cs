using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoRAM.Tensors.Cpu.Gemm;

/// <summary>Widening of B's stored dtype to float32, a run of elements at a time. BF16 → F32 is exact
/// (the 16 bits become the high half); F16 → F32 is exact too.</summary>
internal static unsafe class Widen
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float One(byte* src, DType dtype) => dtype switch
    {
        DType.F32 => *(float*)src,
        DType.BF16 => BFloat16.ToSingle(*(ushort*)src),
        _ => (float)*(Half*)src,
    };

    /// <summary>dst[0..count) = float(src[0..count)), contiguous on both sides.</summary>
    public static void Run(byte* src, DType dtype, float* dst, int count)
    {
        switch (dtype)
        {
            case DType.F32:
                Buffer.MemoryCopy(src, dst, count * 4L, count * 4L);
                break;
            case DType.BF16:
                Bf16(src, dst, count);
                break;
            default:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(src, count), new Span<float>(dst, count));
                break;
        }
    }

    private static void Bf16(byte* src, float* dst, int count)
    {
        ushort* s = (ushort*)src;
        int i = 0;
        if (Avx512F.IsSupported)
        {
            for (; i + 16 <= count; i += 16)
                Avx512F.Store(dst + i, Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Avx.LoadVector256(s + i)), 16).AsSingle());
        }
        else if (Avx2.IsSupported)
        {
            for (; i + 8 <= count; i += 8)
                Avx.Store(dst + i, Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Sse2.LoadVector128(s + i)), 16).AsSingle());
        }
        for (; i < count; i++) dst[i] = BFloat16.ToSingle(s[i]);
    }
}
