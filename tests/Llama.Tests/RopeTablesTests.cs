using LoRAM.Tensors.Cpu;

namespace LoRAM.Llama.Tests;

/// <summary>RoPE tables against hand-computed values of θ^(−2i/d) and HF's llama3 frequency adjustment.</summary>
public class RopeTablesTests
{
    [Fact]
    public void Plain_frequencies_are_theta_to_the_minus_2i_over_d()
    {
        // d = 8, θ = 10000: f = 1, 10000^-0.25 = 0.1, 10000^-0.5 = 0.01, 10000^-0.75 = 0.001.
        var f = RopeTables.InverseFrequencies(8, 10000, null);
        Assert.Equal([1.0, 0.1, 0.01, 0.001], f.Select(x => Math.Round(x, 12)));
        var (cos, sin) = RopeTables.Compute(3, 8, 10000, null);
        // Position 2, pair 1: angle 0.2 (float32 rounding of a float64 value: exact to 1 ulp).
        Assert.Equal((float)Math.Cos(0.2), cos[2 * 4 + 1]);
        Assert.Equal((float)Math.Sin(0.2), sin[2 * 4 + 1]);
        Assert.Equal(1f, cos[0]);
        Assert.Equal(0f, sin[3]);
    }

    [Fact]
    public void Llama3_scaling_keeps_short_waves_stretches_long_ones_and_interpolates_between()
    {
        // θ = 500000, d = 128, factor 8, low 1, high 4, L = 8192: λ_low = 8192, λ_high = 2048.
        var s = new RopeScaling(8, 1, 4, 8192);
        var plain = RopeTables.InverseFrequencies(128, 500000, null);
        var scaled = RopeTables.InverseFrequencies(128, 500000, s);
        int kept = 0, stretched = 0, mixed = 0;
        for (int i = 0; i < 64; i++)
        {
            double f = Math.Pow(500000, -2.0 * i / 128);          // hand formula, independent of the code
            Assert.Equal(f, plain[i], 1e-15);
            double wavelen = 2 * Math.PI / f, expected;
            if (wavelen < 2048) { expected = f; kept++; }
            else if (wavelen > 8192) { expected = f / 8; stretched++; }
            else
            {
                double smooth = (8192 / wavelen - 1) / (4 - 1);
                expected = (1 - smooth) * f / 8 + smooth * f;
                mixed++;
            }
            Assert.Equal(expected, scaled[i], Math.Abs(expected) * 1e-14);   // relative 1e-14
        }
        Assert.True(kept > 0 && stretched > 0 && mixed > 0, $"{kept} kept, {stretched} stretched, {mixed} interpolated");
        // i = 0 has λ = 2π < 2048 (kept); i = 63 has λ ≈ 2π·500000^(126/128) ≫ 8192 (stretched).
        Assert.Equal(1.0, scaled[0]);
        Assert.Equal(plain[63] / 8, scaled[63], 1e-20);
    }

    [Fact]
    public void Tables_on_a_backend_are_maxPositions_by_half_head_dim()
    {
        using var cpu = new CpuBackend(1);
        var config = LlamaConfig.Parse(LlamaConfigTests.Llama31_8B);
        var (cos, sin) = RopeTables.Create(cpu, config, maxPositions: 16);
        using (cos) using (sin)
        {
            Assert.Equal([16, 64], cos.ShapeArray());
            var f = RopeTables.InverseFrequencies(128, 500000, config.RopeScaling);
            var c = cos.ToArray<float>();
            var sn = sin.ToArray<float>();
            Assert.Equal((float)Math.Cos(15 * f[40]), c[15 * 64 + 40]);
            Assert.Equal((float)Math.Sin(15 * f[40]), sn[15 * 64 + 40]);
        }
    }

    [Fact]
    public void Linear_scaling_divides_every_frequency_by_the_factor()
    {
        var config = LlamaConfig.Parse("""{"hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 8, "vocab_size": 10, "rope_theta": 10000, "max_position_embeddings": 64, "rope_scaling": {"type": "linear", "factor": 4.0}}""");
        Assert.Equal(RopeScaling.LinearType, config.RopeScaling!.Type);
        var (cos, sin) = RopeTables.Compute(64, 16, 10000, config.RopeScaling, 64);
        for (int p = 0; p < 64; p++)
            for (int i = 0; i < 8; i++)
            {
                // float64 reference of HF's linear scaling: angle = p · θ^(−2i/d) / factor.
                double a = p * Math.Pow(10000, -2.0 * i / 16) / 4.0;
                Assert.Equal(Math.Cos(a), cos[p * 8 + i], 1e-6);
                Assert.Equal(Math.Sin(a), sin[p * 8 + i], 1e-6);
            }
    }

    [Fact]
    public void Dynamic_scaling_is_plain_rope_within_the_context_and_grows_the_base_beyond_it()
    {
        var config = LlamaConfig.Parse("""{"hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 8, "vocab_size": 10, "rope_theta": 10000, "max_position_embeddings": 32, "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}""");
        Assert.Equal(RopeScaling.DynamicType, config.RopeScaling!.Type);
        // Within max_position_embeddings HF's dynamic NTK leaves θ alone.
        Assert.Equal(RopeTables.InverseFrequencies(16, 10000, null), RopeTables.InverseFrequencies(16, 10000, config.RopeScaling, 32, 20));
        // A sequence of 48 positions: θ' = θ·(2·48/32 − 1)^(16/14) = 10000·2^(8/7), computed here in float64.
        double theta = 10000 * Math.Pow(2.0, 16.0 / 14.0);
        var (cos, sin) = RopeTables.Compute(48, 16, 10000, config.RopeScaling, 32);
        for (int p = 0; p < 48; p++)
            for (int i = 0; i < 8; i++)
            {
                double a = p / Math.Pow(theta, 2.0 * i / 16);
                Assert.Equal(Math.Cos(a), cos[p * 8 + i], 1e-6);
                Assert.Equal(Math.Sin(a), sin[p * 8 + i], 1e-6);
            }
        // The config round-trips with its type.
        Assert.Equal(config.RopeScaling, LlamaConfig.Parse(config.ToJson()).RopeScaling);
    }
}
