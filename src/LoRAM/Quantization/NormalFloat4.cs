using System.Runtime.Intrinsics;
using System.Runtime.CompilerServices;

namespace LoRAM.Quantization;

/// <summary>
/// NormalFloat4 (QLoRA, Dettmers et al. 2023, §3): 16 levels at quantiles of N(0, 1) rescaled to [−1, 1],
/// with an exact zero. Construction (QLoRA Eq. (4) as bitsandbytes' create_normal_map(offset = 0.9677083)):
/// 8 positive levels Φ⁻¹(linspace(offset, 0.5, 9)[:-1]), 7 negative −Φ⁻¹(linspace(offset, 0.5, 8)[:-1]),
/// plus 0, sorted and divided by the largest. The table below is bitsandbytes' hardcoded float32 copy; the
/// tests rebuild it from the quantiles.
/// </summary>
public static class NormalFloat4
{
    /// <summary>The 16 NF4 levels, code index 0..15 (bitsandbytes' table).</summary>
    public static ReadOnlySpan<float> Codes =>
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    /// <summary>
    /// Decision thresholds between neighbouring levels, ascending: bitsandbytes' dQuantizeNF4 constants (the
    /// midpoints of the levels, as printed by its test_normal_map_tree). x goes to the upper level when x &gt; t.
    /// </summary>
    internal static ReadOnlySpan<float> Thresholds =>
    [
        -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
        -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
        0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f, 0.3893125355243683f,
        0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f,
    ];

    /// <summary>Code index of the level nearest to <paramref name="normalized"/> (a weight divided by its block's absmax).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Quantize(float normalized)
    {
        // Branch-free count of thresholds below x: the same partition as bitsandbytes' binary decision tree.
        var t = Thresholds;
        int code = 0;
        for (int j = 0; j < t.Length; j++) code += normalized > t[j] ? 1 : 0;
        return (byte)code;
    }

    /// <summary>codes[i] = <see cref="Quantize(float)"/>(values[i] · scale), eight at a time with SIMD compares.</summary>
    internal static void Quantize(ReadOnlySpan<float> values, float scale, Span<byte> codes)
    {
        var t = Thresholds;
        Span<int> lanes = stackalloc int[Vector256<int>.Count];
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var s = Vector256.Create(scale);
            for (; i + 8 <= values.Length; i += 8)
            {
                var x = Vector256.Create(values.Slice(i, 8)) * s;
                var count = Vector256<int>.Zero;
                for (int j = 0; j < t.Length; j++)
                    count -= Vector256.GreaterThan(x, Vector256.Create(t[j])).AsInt32(); // true lanes are −1
                count.CopyTo(lanes);
                for (int k = 0; k < 8; k++) codes[i + k] = (byte)lanes[k];
            }
        }
        for (; i < values.Length; i++) codes[i] = Quantize(values[i] * scale);
    }

    /// <summary>The level of a code index.</summary>
    public static float Dequantize(int code) => Codes[code];
}
