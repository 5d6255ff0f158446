using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

// The CPU accelerator calls kernels from IL it emits into the dynamic assembly "ILGPURuntime"; kernels and
// their parameter types are internal, so that assembly must see them.
[assembly: InternalsVisibleTo("ILGPURuntime")]

namespace LoRAM.Tensors.Ilgpu;

/// <summary>Device functions shared by the kernels: 16-bit float conversions done on raw bits (so they compile
/// to any ILGPU target and agree bit for bit with <see cref="BFloat16"/> and <see cref="Half"/>), the sigmoid,
/// and group-wide reductions through shared memory.</summary>
internal static class KernelMath
{
    /// <summary>Largest group the row kernels use; their shared scratch is this long.</summary>
    public const int MaxRowGroup = 256;

    // ---- bfloat16: the high half of a float32 --------------------------------------------------------

    public static float BF16ToFloat(ushort bits) => Interop.IntAsFloat((uint)bits << 16);

    /// <summary>Round to nearest even, as <see cref="BFloat16.FromSingle"/>; NaN stays a quiet NaN.</summary>
    public static ushort FloatToBF16(float value)
    {
        uint u = Interop.FloatAsInt(value);
        if ((u & 0x7FFF_FFFFu) > 0x7F80_0000u) return (ushort)((u >> 16) | 0x0040u);
        uint rounding = 0x7FFFu + ((u >> 16) & 1u);
        return (ushort)((u + rounding) >> 16);
    }

    // ---- IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits -----------------------------------

    /// <summary>Exact widening, subnormals included.</summary>
    public static float F16ToFloat(ushort h)
    {
        uint sign = ((uint)h & 0x8000u) << 16;
        uint e = ((uint)h >> 10) & 0x1Fu, m = (uint)h & 0x3FFu;
        if (e == 0x1F) return Interop.IntAsFloat(sign | 0x7F80_0000u | (m << 13));
        if (e != 0) return Interop.IntAsFloat(sign | ((e + 112u) << 23) | (m << 13));
        float v = m * (1f / 16777216f);   // subnormal: m · 2⁻²⁴, exact in float32
        return sign != 0 ? -v : v;
    }

    /// <summary>Round to nearest even, overflow to ±∞, gradual underflow: what (Half)x does.</summary>
    public static ushort FloatToF16(float value)
    {
        uint x = Interop.FloatAsInt(value);
        uint sign = (x >> 16) & 0x8000u, ax = x & 0x7FFF_FFFFu;
        if (ax > 0x7F80_0000u) return (ushort)(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));   // NaN, quiet
        if (ax >= 0x477F_F000u) return (ushort)(sign | 0x7C00u);                           // ≥ 65520 rounds to ∞
        if (ax < 0x3880_0000u)                                                              // below 2⁻¹⁴: subnormal
        {
            if (ax < 0x3300_0000u) return (ushort)sign;                                     // below 2⁻²⁵: ±0
            uint m = (ax & 0x7F_FFFFu) | 0x80_0000u;
            int shift = 126 - (int)(ax >> 23);                                              // units of 2⁻²⁴
            uint q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
            if (rem > half || (rem == half && (q & 1u) != 0)) q++;
            return (ushort)(sign | q);
        }
        uint r = ax - 0x3800_0000u;                                                         // rebias 127 → 15
        uint qn = r >> 13, remn = r & 0x1FFFu;
        if (remn > 0x1000u || (remn == 0x1000u && (qn & 1u) != 0)) qn++;
        return (ushort)(sign | qn);
    }

    // ---- activations ---------------------------------------------------------------------------------

    /// <summary>σ(x) = 1/(1 + e^(−x)).</summary>
    public static float Sigmoid(float x) => 1f / (1f + XMath.Exp(-x));

    /// <summary>Σ of <paramref name="v"/> over the warp by an xor butterfly: every lane ends with the same value (each
    /// step adds the same two operands in every lane pair, and float addition is commutative).</summary>
    public static float WarpSum(float v)
    {
        for (int m = Warp.WarpSize / 2; m > 0; m >>= 1) v += Warp.ShuffleXor(v, m);
        return v;
    }

    // ---- group reductions (every thread of the group must call them) ---------------------------------

    /// <summary>Σ of <paramref name="v"/> over the group; the group size must be a power of two.</summary>
    public static float GroupSum(float v, ArrayView<float> scratch)
    {
        int tid = Group.IdxX;
        scratch[tid] = v;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s >>= 1)
        {
            if (tid < s) scratch[tid] += scratch[tid + s];
            Group.Barrier();
        }
        float r = scratch[0];
        Group.Barrier();   // the scratch may be reused at once
        return r;
    }

    /// <summary>max of <paramref name="v"/> over the group; the group size must be a power of two.</summary>
    public static float GroupMax(float v, ArrayView<float> scratch)
    {
        int tid = Group.IdxX;
        scratch[tid] = v;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s >>= 1)
        {
            if (tid < s) scratch[tid] = XMath.Max(scratch[tid], scratch[tid + s]);
            Group.Barrier();
        }
        float r = scratch[0];
        Group.Barrier();
        return r;
    }
}

// ---- element readers and writers: kernels are generic over them, so one kernel serves F32, BF16 and F16 --

internal interface IToFloat<T> where T : unmanaged { float ToFloat(T v); }
internal interface IFromFloat<T> where T : unmanaged { T FromFloat(float v); }

internal readonly struct F32Codec : IToFloat<float>, IFromFloat<float>
{
    public float ToFloat(float v) => v;
    public float FromFloat(float v) => v;
}

internal readonly struct BF16Codec : IToFloat<ushort>, IFromFloat<ushort>
{
    public float ToFloat(ushort v) => KernelMath.BF16ToFloat(v);
    public ushort FromFloat(float v) => KernelMath.FloatToBF16(v);
}

internal readonly struct F16Codec : IToFloat<ushort>, IFromFloat<ushort>
{
    public float ToFloat(ushort v) => KernelMath.F16ToFloat(v);
    public ushort FromFloat(float v) => KernelMath.FloatToF16(v);
}
