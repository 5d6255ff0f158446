using LoRAM.Quantization;
using MathNet.Numerics.Distributions;

namespace LoRAM.Tests.Quantization;

public class NormalFloat4Tests
{
    /// <summary>QLoRA's construction in float64: Φ⁻¹ at evenly spaced probabilities, 8 positive + 7 negative + 0, over the max.</summary>
    private static double[] FromNormalQuantiles(double offset = 0.9677083)
    {
        static double[] Linspace(double a, double b, int n) => Enumerable.Range(0, n).Select(i => a + (b - a) * i / (n - 1)).ToArray();
        var positive = Linspace(offset, 0.5, 9).Take(8).Select(p => Normal.InvCDF(0, 1, p));
        var negative = Linspace(offset, 0.5, 8).Take(7).Select(p => -Normal.InvCDF(0, 1, p));
        var v = positive.Concat(negative).Append(0.0).OrderBy(x => x).ToArray();
        double max = v.Max();
        return v.Select(x => x / max).ToArray();
    }

    [Fact]
    public void Codes_are_the_published_table_and_equal_the_normal_quantile_construction_to_1e_minus_6()
    {
        var codes = NormalFloat4.Codes.ToArray();
        Assert.Equal(16, codes.Length);
        // Published values (QLoRA appendix / bitsandbytes), spot-checked independently of the table.
        Assert.Equal(-1f, codes[0]);
        Assert.Equal(0f, codes[7]);
        Assert.Equal(1f, codes[15]);
        Assert.Equal(0.07958029955625534, codes[8], 1e-9);
        Assert.Equal(-0.6961928009986877, codes[1], 1e-9);
        var reference = FromNormalQuantiles();
        for (int j = 0; j < 16; j++) Assert.True(Math.Abs(codes[j] - reference[j]) < 1e-6, $"code {j}: {codes[j]} vs {reference[j]}");
    }

    [Fact]
    public void Decision_thresholds_are_the_midpoints_of_neighbouring_codes()
    {
        var c = NormalFloat4.Codes;
        var t = NormalFloat4.Thresholds;
        Assert.Equal(15, t.Length);
        // Bound: 1e-7 (bitsandbytes printed the midpoints from float32 levels).
        for (int j = 0; j < 15; j++) Assert.True(Math.Abs(t[j] - ((double)c[j] + c[j + 1]) / 2) < 1e-7, $"threshold {j}");
    }

    [Fact]
    public void Quantize_picks_the_nearest_code_and_every_code_is_reachable()
    {
        var c = NormalFloat4.Codes.ToArray();
        for (int j = 0; j < 16; j++) Assert.Equal(j, NormalFloat4.Quantize(c[j]));
        var rng = new Random(1);
        for (int k = 0; k < 20000; k++)
        {
            float x = (float)(2 * rng.NextDouble() - 1);
            int q = NormalFloat4.Quantize(x);
            double best = Enumerable.Range(0, 16).Min(j => Math.Abs(x - c[j]));
            Assert.True(Math.Abs(x - c[q]) <= best + 1e-7, $"x = {x}: code {q}");
        }
    }

    [Fact]
    public void Simd_block_quantization_equals_the_scalar_rule_including_values_on_the_thresholds()
    {
        var rng = new Random(2);
        var values = Enumerable.Range(0, 1000).Select(_ => (float)(3 * rng.NextDouble() - 1.5)).ToList();
        values.AddRange(NormalFloat4.Thresholds.ToArray().SelectMany(t => new[] { t, MathF.BitIncrement(t), MathF.BitDecrement(t) }));
        values.AddRange(NormalFloat4.Codes.ToArray());
        var x = values.ToArray();
        var codes = new byte[x.Length];
        NormalFloat4.Quantize(x, 1f, codes);
        for (int i = 0; i < x.Length; i++) Assert.Equal(NormalFloat4.Quantize(x[i]), codes[i]);
        NormalFloat4.Quantize(x, 0.37f, codes);
        for (int i = 0; i < x.Length; i++) Assert.Equal(NormalFloat4.Quantize(x[i] * 0.37f), codes[i]);
    }
}
