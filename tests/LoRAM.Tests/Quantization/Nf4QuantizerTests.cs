using LoRAM.Quantization;
using LoRAM.Tensors;

namespace LoRAM.Tests.Quantization;

public class Nf4QuantizerTests
{
    private static float[] Gaussian(int seed, int count, double scale = 0.02)
    {
        var rng = new Random(seed);
        var x = new float[count];
        for (int i = 0; i < count; i++)
            x[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return x;
    }

    [Fact]
    public void Codes_and_dequantization_match_a_float64_reference_of_the_same_definition()
    {
        int rows = 48, cols = 100; // blocks straddle rows; last block short
        var w = Gaussian(3, rows * cols);
        for (int i = 64; i < 128; i++) w[i] = 0; // an all-zero block
        var q = Nf4Quantizer.Quantize(w, rows, cols, doubleQuantization: false);
        var codes = NormalFloat4.Codes.ToArray();
        int nearTies = 0;
        for (int b = 0; b < q.Blocks; b++)
        {
            int i0 = b * 64, i1 = Math.Min(w.Length, i0 + 64);
            double absmax = Enumerable.Range(i0, i1 - i0).Max(i => Math.Abs((double)w[i]));
            Assert.Equal(absmax, q.Absmax![b]);
            for (int i = i0; i < i1; i++)
            {
                double x = absmax == 0 ? 0 : w[i] / absmax;
                var dist = Enumerable.Range(0, 16).Select(j => Math.Abs(x - codes[j])).ToArray();
                int expected = Array.IndexOf(dist, dist.Min());
                int actual = q.CodeAt(i);
                // Bit-exact codes, except where x sits within 1e-6 of a midpoint (float32 rounding decides).
                if (actual != expected)
                {
                    Assert.True(Math.Abs(dist[actual] - dist[expected]) < 1e-6, $"element {i}: code {actual} vs {expected}");
                    nearTies++;
                }
            }
        }
        Assert.True(nearTies <= 2);
        var back = q.Dequantize();
        for (int i = 0; i < w.Length; i++)
        {
            double absmax = q.Absmax![i / 64];
            // ŵ = NF4[code] · absmax as one float32 product: within float32 rounding (6e-8 relative) of float64.
            Assert.True(Math.Abs(codes[q.CodeAt(i)] * absmax - back[i]) <= 6e-8 * absmax);
            // NF4's widest half-gap is (−0.69619 − (−1))/2 = 0.15190 of the block absmax.
            Assert.True(Math.Abs(w[i] - back[i]) <= 0.15191 * absmax);
        }
    }

    [Fact]
    public void Every_code_index_is_reached_on_a_gaussian_weight()
    {
        var w = Gaussian(5, 64 * 64);
        var q = Nf4Quantizer.Quantize(w, 64, 64);
        var seen = new HashSet<int>();
        for (long i = 0; i < q.Count; i++) seen.Add(q.CodeAt(i));
        Assert.Equal(16, seen.Count);
    }

    [Fact]
    public void First_element_of_a_pair_is_packed_in_the_high_nibble()
    {
        var w = new float[64];
        w[0] = 2f;  // +absmax → code 15
        w[1] = -2f; // −absmax → code 0
        w[2] = 0f;  // code 7
        w[3] = 2f;
        var q = Nf4Quantizer.Quantize(w, 1, 64, doubleQuantization: false);
        Assert.Equal(0xF0, q.Packed[0]);
        Assert.Equal(0x7F, q.Packed[1]);
        Assert.Equal(new[] { 2f, -2f, 0f, 2f }, q.Dequantize()[..4]);
    }

    [Fact]
    public void Bits_per_parameter_are_4_5_plain_and_4_127_with_double_quantization()
    {
        var w = Gaussian(7, 256 * 256);
        Assert.Equal(4.5, Nf4Quantizer.Quantize(w, 256, 256, doubleQuantization: false).BitsPerParameter, 12);
        var dq = Nf4Quantizer.Quantize(w, 256, 256, doubleQuantization: true);
        Assert.Equal(4 + 8.0 / 64 + 32.0 / (64 * 256), dq.BitsPerParameter, 12);
        Assert.Equal(4.127, dq.BitsPerParameter, 3);
    }

    [Fact]
    public void Double_quantized_absmax_is_within_half_a_dynamic_map_gap_of_the_true_absmax()
    {
        // Rows with very different scales, so the absmax values spread out.
        int rows = 40, cols = 1024;
        var w = Gaussian(9, rows * cols);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) w[r * cols + c] *= 1 + r % 7;
        var plain = Nf4Quantizer.Quantize(w, rows, cols, doubleQuantization: false);
        var dq = Nf4Quantizer.Quantize(w, rows, cols, doubleQuantization: true);
        Assert.Equal(plain.Packed, dq.Packed); // codes use the exact absmax, as bitsandbytes does
        double mean = plain.Absmax!.Select(a => (double)a).Average();
        Assert.Equal(mean, dq.AbsmaxOffset, 1e-6);
        var map = DynamicMap.Signed;
        for (int b = 0; b < dq.Blocks; b++)
        {
            float scale = dq.AbsmaxScales![b / 256];
            double error = Math.Abs(dq.BlockAbsmax(b) - plain.Absmax![b]);
            // The largest gap of the dynamic map is 0.9/64 (top decade): error ≤ s_g · 0.9/128, plus float32 rounding.
            Assert.True(error <= scale * 0.9 / 128 + 1e-6 * plain.Absmax[b], $"block {b}: {error} > {scale * 0.9 / 128}");
        }
        var e = Nf4Quantizer.RoundTripError(w, dq);
        var ePlain = Nf4Quantizer.RoundTripError(w, plain);
        Assert.True(e.Relative < 0.12 && e.Relative < ePlain.Relative * 1.05, $"relative error {e.Relative} vs {ePlain.Relative}");
    }

    [Fact]
    public void Dynamic_map_is_bitsandbytes_signed_map()
    {
        var m = DynamicMap.Signed.ToArray();
        Assert.Equal(256, m.Length);
        for (int j = 1; j < 256; j++) Assert.True(m[j] > m[j - 1]);
        Assert.Equal(1f, m[255]);
        Assert.Contains(0f, m);
        Assert.Equal(5.5e-7, m.Where(v => v > 0).Min(), 1e-12); // decade 0: 1e-6 · (0.1 + 1)/2
        Assert.Equal(-(0.9859375 + 1) / 2, m[0], 1e-6);          // top decade: last midpoint of linspace(0.1, 1, 65)
        foreach (float v in m.Where(v => v > 0 && v < 1)) Assert.Contains(-v, m);
        Assert.Equal(127, m.Count(v => v < 0));
        Assert.Equal(m.Length - 1, Array.IndexOf(m, 1f));
        Assert.Equal(Array.IndexOf(m, 0f), DynamicMap.Quantize(0f));
        // Bit-exact float32 levels as printed from bitsandbytes' create_dynamic_map(); these differ by one ulp
        // under other float32 orders of evaluation (no fused linspace, or a float64 construction).
        var printed = new[] { 5.500000384017767e-07, 3.250000190746505e-06, 0.0003812500217463821,
            0.019843751564621925, 0.028281250968575478, 0.48671871423721313, 0.5710937976837158, 0.7117187976837158, 0.992968738079071 };
        var positive = m.Where(v => v > 0).ToArray();
        foreach (double v in printed) Assert.Contains((float)v, positive);
    }

    [Theory]
    [InlineData(100)]
    [InlineData(75)] // odd: rows start mid-byte, and the last byte holds a single code
    public void Row_range_dequantization_equals_the_same_rows_of_the_whole(int cols)
    {
        int rows = 9;
        var w = Gaussian(11, rows * cols);
        foreach (bool dq in new[] { false, true })
        {
            var q = Nf4Quantizer.Quantize(w, rows, cols, dq);
            var whole = q.Dequantize();
            var part = new float[3 * cols];
            q.DequantizeRows(3, 3, part);
            Assert.Equal(whole.AsSpan(3 * cols, 3 * cols).ToArray(), part);
            for (int i = 0; i < w.Length; i++)
                Assert.Equal(NormalFloat4.Codes[q.CodeAt(i)] * q.BlockAbsmax(i / 64), whole[i]);
        }
    }

    [Fact]
    public void Named_arrays_round_trip_with_and_without_double_quantization()
    {
        var w = Gaussian(13, 16 * 128);
        foreach (bool dq in new[] { false, true })
        {
            var q = Nf4Quantizer.Quantize(w, 16, 128, dq);
            var arrays = Nf4Quantizer.ToNamedArrays(q, "model.layers.0.mlp.up_proj.weight");
            Assert.Equal(new long[] { 16, 128 }, (long[])arrays["model.layers.0.mlp.up_proj.weight.shape"]);
            Assert.Equal(16 * 128 / 2, arrays["model.layers.0.mlp.up_proj.weight.nf4"].Length);
            Assert.IsType(dq ? typeof(byte[]) : typeof(float[]), arrays["model.layers.0.mlp.up_proj.weight.absmax"]);
            var back = Nf4Quantizer.FromNamedArrays(arrays, "model.layers.0.mlp.up_proj.weight");
            Assert.Equal(q.Dequantize(), back.Dequantize());
        }
    }

    [Fact]
    public void Bfloat16_weights_quantize_as_their_exact_float32_widening()
    {
        var w = Gaussian(17, 4 * 64);
        var bits = w.Select(BFloat16.FromSingle).ToArray();
        var widened = bits.Select(BFloat16.ToSingle).ToArray();
        Assert.Equal(Nf4Quantizer.Quantize(widened, 4, 64).Packed, Nf4Quantizer.QuantizeBFloat16(bits, 4, 64).Packed);
    }
}
