namespace LoRAM.Quantization;

/// <summary>
/// bitsandbytes' signed 8-bit dynamic quantization map (create_dynamic_map(signed = True, max_exponent_bits = 7,
/// total_bits = 8)), used by QLoRA's double quantization of the block absmax values. For each decade
/// i = 0..6 it places the 2^i midpoints of linspace(0.1, 1, 2^i + 1) scaled by 10^(i−6), with both signs,
/// then adds 0 and 1: 254 + 2 = 256 sorted levels in [−0.99297, 1]. Arithmetic follows the reference in
/// float32 (torch.linspace's two-sided fused formula, float32 mean, scale rounded to float32 first), which
/// reproduces the printed map bit for bit.
/// </summary>
public static class DynamicMap
{
    private static readonly float[] s_signed = CreateSigned();
    private static readonly float[] s_midpoints = Midpoints(s_signed);

    /// <summary>The 256 levels, ascending.</summary>
    public static ReadOnlySpan<float> Signed => s_signed;

    /// <summary>Index of the level nearest to <paramref name="normalized"/> (in [−1, 1]); x goes up when x &gt; midpoint.</summary>
    public static byte Quantize(float normalized)
    {
        int lo = 0, hi = s_midpoints.Length; // number of midpoints below x, by binary search
        while (lo < hi)
        {
            int mid = (lo + hi) >> 1;
            if (normalized > s_midpoints[mid]) lo = mid + 1; else hi = mid;
        }
        return (byte)lo;
    }

    private static float[] CreateSigned()
    {
        const int maxExponentBits = 7, nonSignBits = 7;
        var data = new List<float>(256);
        for (int i = 0; i < maxExponentBits; i++)
        {
            int fractionItems = (1 << (i + nonSignBits - maxExponentBits)) + 1;
            var boundaries = LinspaceF32(0.1f, 1f, fractionItems);
            float scale = (float)Math.Pow(10, -(maxExponentBits - 1) + i);
            for (int k = 0; k + 1 < boundaries.Length; k++)
            {
                float mean = (boundaries[k] + boundaries[k + 1]) / 2f;
                data.Add(scale * mean);
                data.Add(-scale * mean);
            }
        }
        data.Add(0f);
        data.Add(1f);
        data.Sort();
        return data.ToArray();
    }

    /// <summary>
    /// torch.linspace in float32: start + step·i for the first half, end − step·(steps − 1 − i) after, each a
    /// fused multiply-add as torch's vectorised kernel computes it (plain multiply-then-add differs in 21
    /// levels from the map bitsandbytes users print).
    /// </summary>
    private static float[] LinspaceF32(float start, float end, int steps)
    {
        var v = new float[steps];
        float step = (end - start) / (steps - 1);
        int halfway = steps / 2;
        for (int i = 0; i < steps; i++)
            v[i] = i < halfway ? MathF.FusedMultiplyAdd(step, i, start) : MathF.FusedMultiplyAdd(-step, steps - 1 - i, end);
        return v;
    }

    private static float[] Midpoints(float[] levels)
    {
        var m = new float[levels.Length - 1];
        for (int j = 0; j < m.Length; j++) m[j] = (float)(((double)levels[j] + levels[j + 1]) / 2);
        return m;
    }
}
