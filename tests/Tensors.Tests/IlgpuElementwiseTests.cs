using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>ILGPU elementwise kernels against float64 and against the SIMD CPU backend, on odd sizes.
/// Bound: |err| ≤ 1e-6 + 2e-6·|expected| (a few float32 roundings; the device exp may differ by an ulp or two);
/// dropout, conversions and transposes are exact (bit-identical to the CPU backend).</summary>
[Collection(IlgpuCollection.Name)]
public class IlgpuElementwiseTests(IlgpuFixture f)
{
    private const double Rel = 2e-6, Abs = 1e-6;

    public static TheoryData<int, int> Shapes => new() { { 7, 37 }, { 1, 1 }, { 61, 67 } };

    [Theory, MemberData(nameof(Shapes))]
    public void Add_sub_mul_scale_axpy_fill_match_float64(int rows, int cols)
    {
        int n = rows * cols;
        float[] a = RandomValues(n, 1, 3), b = RandomValues(n, 2, 3);
        using var ta = f.Up(a, rows, cols);
        using var tb = f.Up(b, rows, cols);
        using var y = Tensor.Empty(f.Gpu, rows, cols);
        f.Gpu.Add(ta, tb, y); AssertClose(Add(a, b), y.ToArray<float>(), Rel, Abs, "Add");
        f.Gpu.Sub(ta, tb, y); AssertClose(Sub(a, b), y.ToArray<float>(), Rel, Abs, "Sub");
        f.Gpu.Mul(ta, tb, y); AssertClose(Mul(a, b), y.ToArray<float>(), Rel, Abs, "Mul");
        f.Gpu.Scale(ta, -0.37f, y); AssertClose(Scale(a, -0.37f), y.ToArray<float>(), Rel, Abs, "Scale");
        f.Gpu.Axpy(1.5f, ta, tb); AssertClose(Axpy(1.5f, a, b), tb.ToArray<float>(), Rel, Abs, "Axpy");
        f.Gpu.Fill(y, 2.5f); Assert.All(y.ToArray<float>(), v => Assert.Equal(2.5f, v));
    }

    [Fact]
    public void Outputs_may_alias_an_input()
    {
        float[] a = RandomValues(259, 3), b = RandomValues(259, 4);
        using var ta = f.Up(a, 259);
        using var tb = f.Up(b, 259);
        f.Gpu.Mul(ta, tb, ta);
        AssertClose(Mul(a, b), ta.ToArray<float>(), Rel, Abs, "Mul in place");
        f.Gpu.Silu(tb, tb);
        AssertClose(Silu(b), tb.ToArray<float>(), Rel, Abs, "Silu in place");
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Silu_swiglu_and_their_backwards_match_float64_and_the_cpu_backend(int rows, int cols)
    {
        int n = rows * cols;
        float[] x = RandomValues(n, 5, 8), up = RandomValues(n, 6, 2), dy = RandomValues(n, 7);
        using var tx = f.Up(x, rows, cols);
        using var tu = f.Up(up, rows, cols);
        using var tdy = f.Up(dy, rows, cols);
        using var y = Tensor.Empty(f.Gpu, rows, cols);
        using var y2 = Tensor.Empty(f.Gpu, rows, cols);
        f.Gpu.Silu(tx, y); AssertClose(Silu(x), y.ToArray<float>(), Rel, Abs, "Silu");
        f.Gpu.SiluBackward(tx, tdy, y); AssertClose(SiluBackward(x, dy), y.ToArray<float>(), Rel, Abs, "SiluBackward");
        f.Gpu.SwiGlu(tx, tu, y); AssertClose(SwiGlu(x, up), y.ToArray<float>(), Rel, Abs, "SwiGlu");
        f.Gpu.SwiGluBackward(tx, tu, tdy, y, y2);
        var (dg, du) = SwiGluBackward(x, up, dy);
        AssertClose(dg, y.ToArray<float>(), Rel, Abs, "dgate");
        AssertClose(du, y2.ToArray<float>(), Rel, Abs, "dup");

        using var cx = f.UpCpu(x, rows, cols);
        using var cu = f.UpCpu(up, rows, cols);
        using var cy = Tensor.Empty(f.Cpu, rows, cols);
        f.Cpu.SwiGlu(cx, cu, cy);
        f.Gpu.SwiGlu(tx, tu, y);
        AssertClose(cy.ToArray<float>(), y.ToArray<float>(), Rel, Abs, "SwiGlu vs cpu");
    }

    [Theory]
    [InlineData(0.1f, 7UL)]
    [InlineData(0.5f, 0xDEADBEEFUL)]
    [InlineData(0f, 3UL)]
    public void Dropout_draws_the_cpu_backends_mask_bit_for_bit(float p, ulong seed)
    {
        const int n = 4099;
        float[] x = RandomValues(n, 8, 2);
        using var tx = f.Up(x, n);
        using var y = Tensor.Empty(f.Gpu, n);
        f.Gpu.Dropout(tx, p, seed, y);
        using var cx = f.UpCpu(x, n);
        using var cy = Tensor.Empty(f.Cpu, n);
        f.Cpu.Dropout(cx, p, seed, cy);
        Assert.Equal(cy.ToArray<float>(), y.ToArray<float>());
        AssertClose(Dropout(x, p, seed), y.ToArray<float>(), 1e-6, 0, "Dropout vs float64");
    }

    /// <summary>Values that exercise rounding: random normals, ties, subnormals of both formats, overflow, ±0, ±∞, NaN.</summary>
    private static float[] ConversionInputs()
    {
        var special = new[]
        {
            0f, -0f, 1f, -1f, 65504f, 65519.99f, 65520f, 1e6f, -1e6f, float.PositiveInfinity, float.NegativeInfinity, float.NaN,
            6.1035156e-5f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f, 1e-7f, -3e-6f, 1e-40f, float.Epsilon, float.MaxValue,
            BitConverter.Int32BitsToSingle(0x3F808000), BitConverter.Int32BitsToSingle(0x3F818000), // BF16 ties to even
            BitConverter.Int32BitsToSingle(0x3F801000), BitConverter.Int32BitsToSingle(0x3F803000), // F16 ties to even
        };
        var rng = new Random(9);
        var random = Enumerable.Range(0, 1000).Select(_ => (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-30, 20))));
        return special.Concat(random).ToArray();
    }

    [Theory]
    [InlineData(DType.F32, DType.BF16)]
    [InlineData(DType.F32, DType.F16)]
    [InlineData(DType.BF16, DType.F32)]
    [InlineData(DType.F16, DType.F32)]
    [InlineData(DType.BF16, DType.F16)]
    [InlineData(DType.F16, DType.BF16)]
    public void Convert_rounds_to_nearest_even_exactly_as_the_cpu_backend(DType from, DType to)
    {
        var x = ConversionInputs();
        using var src32 = f.UpCpu(x, x.Length);
        using var src = from == DType.F32 ? src32.Clone() : src32.Cast(from);   // CPU rounding to the source dtype
        using var gsrc = src.To(f.Gpu);
        using var gdst = Tensor.Empty(f.Gpu, to, x.Length);
        f.Gpu.Convert(gsrc, gdst);
        using var cdst = Tensor.Empty(f.Cpu, to, x.Length);
        f.Cpu.Convert(src, cdst);
        var expected = cdst.ToArray<byte>();
        var actual = gdst.ToArray<byte>();
        var eFloats = cdst.ToFloatArray();
        var aFloats = gdst.To(f.Cpu).ToFloatArray();
        for (int i = 0; i < x.Length; i++)
        {
            if (float.IsNaN(eFloats[i])) { Assert.True(float.IsNaN(aFloats[i]), $"element {i}: NaN expected"); continue; }
            Assert.True(eFloats[i].Equals(aFloats[i]), $"{from}→{to} element {i} ({x[i]:R}): {aFloats[i]:R}, expected {eFloats[i]:R}");
        }
        Assert.Equal(expected.Length, actual.Length);
    }

    [Fact]
    public void Narrowing_matches_the_float64_rounding_reference()
    {
        var x = ConversionInputs().Where(v => !float.IsNaN(v)).ToArray();
        using var t = f.Up(x, x.Length);
        using var bf = t.Cast(DType.BF16);
        using var h = t.Cast(DType.F16);
        AssertClose(x.Select(v => RoundToBFloat16(v)).ToArray(), bf.To(f.Cpu).ToFloatArray(), 0, 0, "BF16");
        AssertClose(x.Select(v => RoundToHalf(v)).ToArray(), h.To(f.Cpu).ToFloatArray(), 0, 0, "F16");
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    public void Transpose_swaps_the_last_two_dimensions_of_every_batch_entry(DType dtype)
    {
        const int b = 3, r = 17, c = 29;
        float[] x = RandomValues(b * r * c, 10);
        using var t32 = f.Up(x, b, r, c);
        using var t = t32.Cast(dtype);
        using var y = Tensor.Empty(f.Gpu, dtype, b, c, r);
        f.Gpu.Transpose(t, y);
        using var y32 = y.Cast(DType.F32);
        using var back = t.Cast(DType.F32);
        AssertClose(Transpose(back.ToArray<float>(), b, r, c), y32.ToArray<float>(), 0, 0, "Transpose");
    }
}
