using System.Runtime.CompilerServices;

namespace LoRAM.Tensors;

/// <summary>bfloat16 as raw 16-bit patterns: the top half of an IEEE float32 (1 sign, 8 exponent, 7 mantissa bits).</summary>
public static class BFloat16
{
    /// <summary>Widening is exact: the 16 bits become the high half of a float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>Round to nearest, ties to even; NaN stays a (quiet) NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFF_FFFF) > 0x7F80_0000) return (ushort)((u >> 16) | 0x0040);
        uint rounding = 0x7FFF + ((u >> 16) & 1);
        return (ushort)((u + rounding) >> 16);
    }
}
