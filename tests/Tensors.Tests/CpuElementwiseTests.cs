using LoRAM.Tensors.Cpu;
using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>Elementwise kernels against the float64 reference on 7×37 (a tail that is no multiple of any vector
/// width) and on a size large enough to be split over threads. Bound: |err| ≤ 1e-6 + 2e-6·|expected|
/// (a few float32 roundings).</summary>
public class CpuElementwiseTests
{
    private const double Rel = 2e-6, Abs = 1e-6;
    private readonly CpuBackend _cpu = new(2);

    public static TheoryData<int, int> Shapes => new() { { 7, 37 }, { 1, 1 }, { 301, 257 } };

    [Theory, MemberData(nameof(Shapes))]
    public void Add_sub_mul_scale_axpy_match_float64(int rows, int cols)
    {
        int n = rows * cols;
        float[] a = RandomValues(n, 1, 3), b = RandomValues(n, 2, 3);
        using var ta = Tensor.FromArray(_cpu, a, rows, cols);
        using var tb = Tensor.FromArray(_cpu, b, rows, cols);
        using var y = Tensor.Empty(_cpu, rows, cols);
        _cpu.Add(ta, tb, y); AssertClose(Add(a, b), y.ToArray<float>(), Rel, Abs, "Add");
        _cpu.Sub(ta, tb, y); AssertClose(Sub(a, b), y.ToArray<float>(), Rel, Abs, "Sub");
        _cpu.Mul(ta, tb, y); AssertClose(Mul(a, b), y.ToArray<float>(), Rel, Abs, "Mul");
        _cpu.Scale(ta, -0.37f, y); AssertClose(Scale(a, -0.37f), y.ToArray<float>(), Rel, Abs, "Scale");
        _cpu.Axpy(1.5f, ta, tb); AssertClose(Axpy(1.5f, a, b), tb.ToArray<float>(), Rel, Abs, "Axpy");
    }

    [Fact]
    public void Outputs_may_alias_an_input()
    {
        float[] a = RandomValues(259, 3), b = RandomValues(259, 4);
        using var ta = Tensor.FromArray(_cpu, a, 259);
        using var tb = Tensor.FromArray(_cpu, b, 259);
        _cpu.Mul(ta, tb, ta);
        AssertClose(Mul(a, b), ta.ToArray<float>(), Rel, Abs, "Mul in place");
        _cpu.Silu(tb, tb);
        AssertClose(Silu(b), tb.ToArray<float>(), Rel, Abs, "Silu in place");
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Silu_and_its_backward_match_float64(int rows, int cols)
    {
        int n = rows * cols;
        float[] x = RandomValues(n, 5, 8), dy = RandomValues(n, 6);
        using var tx = Tensor.FromArray(_cpu, x, rows, cols);
        using var tdy = Tensor.FromArray(_cpu, dy, rows, cols);
        using var y = Tensor.Empty(_cpu, rows, cols);
        _cpu.Silu(tx, y);
        AssertClose(Silu(x), y.ToArray<float>(), Rel, Abs, "Silu");
        _cpu.SiluBackward(tx, tdy, y);
        AssertClose(SiluBackward(x, dy), y.ToArray<float>(), Rel, Abs, "SiluBackward");
    }

    [Theory, MemberData(nameof(Shapes))]
    public void SwiGlu_and_its_backward_match_float64(int rows, int cols)
    {
        int n = rows * cols;
        float[] gate = RandomValues(n, 7, 8), up = RandomValues(n, 8, 2), dy = RandomValues(n, 9);
        using var tg = Tensor.FromArray(_cpu, gate, rows, cols);
        using var tu = Tensor.FromArray(_cpu, up, rows, cols);
        using var tdy = Tensor.FromArray(_cpu, dy, rows, cols);
        using var y = Tensor.Empty(_cpu, rows, cols);
        using var dg = Tensor.Empty(_cpu, rows, cols);
        _cpu.SwiGlu(tg, tu, y);
        AssertClose(SwiGlu(gate, up), y.ToArray<float>(), Rel, Abs, "SwiGlu");
        _cpu.SwiGluBackward(tg, tu, tdy, dg, y);
        var (edg, edu) = SwiGluBackward(gate, up, dy);
        AssertClose(edg, dg.ToArray<float>(), Rel, Abs, "dgate");
        AssertClose(edu, y.ToArray<float>(), Rel, Abs, "dup");
    }

    [Fact]
    public void Every_tail_length_after_the_16_and_8_lane_loops_is_handled()
    {
        for (int n = 1; n <= 40; n++)
        {
            float[] g = RandomValues(n, 100 + n, 6), u = RandomValues(n, 200 + n), dy = RandomValues(n, 300 + n);
            using var tg = Tensor.FromArray(_cpu, g, 1, n);
            using var tu = Tensor.FromArray(_cpu, u, 1, n);
            using var tdy = Tensor.FromArray(_cpu, dy, 1, n);
            using var y = Tensor.Empty(_cpu, 1, n);
            using var y2 = Tensor.Empty(_cpu, 1, n);
            _cpu.SwiGlu(tg, tu, y);
            AssertClose(SwiGlu(g, u), y.ToArray<float>(), Rel, Abs, $"SwiGlu n={n}");
            _cpu.SwiGluBackward(tg, tu, tdy, y, y2);
            var (dg, du) = SwiGluBackward(g, u, dy);
            AssertClose(dg, y.ToArray<float>(), Rel, Abs, $"dgate n={n}");
            AssertClose(du, y2.ToArray<float>(), Rel, Abs, $"dup n={n}");
            _cpu.SiluBackward(tg, tdy, y);
            AssertClose(SiluBackward(g, dy), y.ToArray<float>(), Rel, Abs, $"SiluBackward n={n}");
            _cpu.Softmax(tg, y);
            AssertClose(Softmax(g, 1, n), y.ToArray<float>(), 1e-5, 1e-7, $"Softmax n={n}");
        }
    }

    [Fact]
    public void Silu_saturates_without_nan_for_extreme_inputs()
    {
        float[] x = [-1000f, -90f, 0f, 90f, 1000f];
        using var tx = Tensor.FromArray(_cpu, x, 5);
        using var y = Tensor.Empty(_cpu, 5);
        _cpu.Silu(tx, y);
        AssertClose(Silu(x), y.ToArray<float>(), Rel, Abs, "Silu extremes");
    }

    [Fact]
    public void Dropout_follows_the_counter_stream_and_keeps_one_minus_p()
    {
        const int n = 20_011;
        const float p = 0.3f;
        float[] x = RandomValues(n, 10);
        using var tx = Tensor.FromArray(_cpu, x, n);
        using var y1 = Tensor.Empty(_cpu, n);
        using var y2 = Tensor.Empty(_cpu, n);
        _cpu.Dropout(tx, p, 42, y1);
        _cpu.Dropout(tx, p, 42, y2);
        var a = y1.ToArray<float>();
        Assert.Equal(a, y2.ToArray<float>());                                  // deterministic in (seed, i)
        AssertClose(Dropout(x, p, 42), a, Rel, Abs, "Dropout vs independent splitmix64");
        double kept = a.Count(v => v != 0) / (double)n;
        Assert.InRange(kept, 0.7 - 0.015, 0.7 + 0.015);                        // ~4.6σ of a binomial(n, 0.7)
        using var other = Tensor.Empty(_cpu, n);
        _cpu.Dropout(tx, p, 43, other);
        Assert.NotEqual(a, other.ToArray<float>());                            // another seed, another mask
        for (long i = 0; i < 1000; i++) Assert.Equal(DropoutUniform(7, i), CounterRng.Uniform(7, i));
    }

    [Fact]
    public void Convert_rounds_to_nearest_even_between_all_float_formats()
    {
        var values = RandomValues(1001, 11, 100).Concat(new[]
        {
            1.00390625f, 1.01171875f,                      // BF16 ties: down to even, up to even
            1 + MathF.Pow(2, -11), 1 + 3 * MathF.Pow(2, -11), // F16 ties: down, up
            65504f, 65519.99f, 65520f, 1e-8f, 6e-8f, -3e-5f, 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, 3.4e38f,
        }).ToArray();
        int n = values.Length;
        using var f32 = Tensor.FromArray(_cpu, values, n);
        using var bf = Tensor.Empty(_cpu, DType.BF16, n);
        using var f16 = Tensor.Empty(_cpu, DType.F16, n);
        using var back = Tensor.Empty(_cpu, n);
        _cpu.Convert(f32, bf);
        _cpu.Convert(bf, back);
        AssertBitsEqual(values.Select(v => RoundToBFloat16(v)).ToArray(), back.ToArray<float>(), "F32→BF16→F32");
        _cpu.Convert(f32, f16);
        _cpu.Convert(f16, back);
        AssertBitsEqual(values.Select(v => RoundToHalf(v)).ToArray(), back.ToArray<float>(), "F32→F16→F32");
        // BF16 → F16 widens exactly, then rounds once.
        _cpu.Convert(bf, f16);
        _cpu.Convert(f16, back);
        AssertBitsEqual(values.Select(v => RoundToHalf(RoundToBFloat16(v))).ToArray(), back.ToArray<float>(), "BF16→F16");
        _cpu.Convert(f16, bf);
        _cpu.Convert(bf, back);
        AssertBitsEqual(values.Select(v => RoundToBFloat16(RoundToHalf(RoundToBFloat16(v)))).ToArray(), back.ToArray<float>(), "F16→BF16");
    }

    [Fact]
    public void Convert_round_trip_of_representable_values_is_exact_and_nan_stays_nan()
    {
        var bits = Enumerable.Range(0, 1 << 16).Select(i => (ushort)i).ToArray();
        using var bf = Tensor.FromSpan<ushort>(_cpu, bits, DType.BF16, bits.Length);
        using var f = Tensor.Empty(_cpu, bits.Length);
        using var again = Tensor.Empty(_cpu, DType.BF16, bits.Length);
        _cpu.Convert(bf, f);
        _cpu.Convert(f, again);
        var a = again.ToArray<ushort>();
        var widened = f.ToArray<float>();
        for (int i = 0; i < bits.Length; i++)
            if (float.IsNaN(widened[i])) Assert.True(float.IsNaN(BFloat16.ToSingle(a[i])));
            else Assert.Equal(bits[i], a[i]);
    }

    [Theory]
    [InlineData(1, 7, 37)]
    [InlineData(3, 33, 65)]
    [InlineData(2, 100, 300)]
    public void Transpose_swaps_the_last_two_dimensions(int batch, int r, int c)
    {
        float[] x = RandomValues(batch * r * c, 12);
        using var tx = Tensor.FromArray(_cpu, x, batch, r, c);
        using var y = Tensor.Empty(_cpu, batch, c, r);
        _cpu.Transpose(tx, y);
        AssertClose(Transpose(x, batch, r, c), y.ToArray<float>(), 0, 0, "Transpose");
    }

    private static void AssertBitsEqual(double[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits((float)expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R}");
    }
}
