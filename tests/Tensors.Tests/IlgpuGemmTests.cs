using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>The tiled ILGPU GEMM against float64 and the SIMD CPU GEMM: odd sizes that leave partial 64×64 tiles
/// and partial k-slices, every transpose, batches with and without a broadcast B, B in F32/BF16/F16, alpha/beta.
/// Bound: |err| ≤ 1e-5·√k·(1 + |expected|)-ish, stated as abs 2e-5·k^½ and rel 1e-5 (float32 sums of k products of
/// values in [−1, 1)).</summary>
[Collection(IlgpuCollection.Name)]
public class IlgpuGemmTests(IlgpuFixture f)
{
    private static (double rel, double abs) Bound(int k) => (1e-5, 2e-5 * Math.Sqrt(Math.Max(1, k)));

    public static TheoryData<int, int, int, bool, bool> Shapes => new()
    {
        { 37, 45, 29, false, false },
        { 37, 45, 29, true, false },
        { 37, 45, 29, false, true },
        { 37, 45, 29, true, true },
        { 65, 130, 17, false, true },
        { 1, 70, 33, false, true },
        { 3, 45, 130, true, true },
        { 4, 9, 29, false, true },
        { 2, 66, 17, false, false },
        { 70, 1, 3, true, false },
        { 5, 7, 0, false, false },
    };

    [Theory, MemberData(nameof(Shapes))]
    public void Matches_float64_and_the_cpu_backend_on_odd_sizes_and_all_transposes(int m, int n, int k, bool transA, bool transB)
    {
        float[] a = RandomValues(m * k, 20), b = RandomValues(k * n, 21), c = RandomValues(m * n, 22);
        int[] sa = transA ? [k, m] : [m, k], sb = transB ? [n, k] : [k, n];
        using var ta = f.Up(a, sa);
        using var tb = f.Up(b, sb);
        using var tc = f.Up(c, m, n);
        f.Gpu.Gemm(ta, transA, tb, transB, tc, 0.75f, 0.5f);
        var expected = Gemm(a, transA, b, transB, c, 1, m, n, k, alpha: 0.75, beta: 0.5);
        var (rel, abs) = Bound(k);
        AssertClose(expected, tc.ToArray<float>(), rel, abs, "C vs float64");

        using var ca = f.UpCpu(a, sa);
        using var cb = f.UpCpu(b, sb);
        using var cc = f.UpCpu(c, m, n);
        f.Cpu.Gemm(ca, transA, cb, transB, cc, 0.75f, 0.5f);
        AssertClose(cc.ToArray<float>(), tc.ToArray<float>(), rel, abs, "C vs cpu");
    }

    /// <summary>MultiLinear (y_g = x·W_gᵀ for weights sharing x): the fused few-row kernel (m ≤ 4) and the per-weight
    /// GEMMs beyond, against float64 and the CPU backend's MultiLinear, with the bound above.</summary>
    [Theory]
    [InlineData(DType.BF16, 1, 3)]
    [InlineData(DType.F16, 3, 2)]
    [InlineData(DType.F32, 4, 3)]
    [InlineData(DType.BF16, 2, 1)]
    [InlineData(DType.F32, 6, 2)]   // the per-weight GEMM path
    public void MultiLinear_matches_float64_and_the_cpu_backend(DType dtype, int m, int weights)
    {
        const int k = 131;
        int[] n = new[] { 70, 9, 33 }[..weights];
        float[] x = RandomValues(m * k, 40 + m);
        var w = new Tensor[weights]; var y = new Tensor[weights]; var cw = new Tensor[weights]; var cy = new Tensor[weights];
        try
        {
            var exact = new float[weights][];
            for (int g = 0; g < weights; g++)
            {
                using var wf = f.Up(RandomValues(n[g] * k, 50 + g), n[g], k);
                w[g] = dtype == DType.F32 ? wf.Clone() : wf.Cast(dtype);
                using (var back = w[g].Cast(DType.F32)) exact[g] = back.ToArray<float>();   // the values W really holds
                y[g] = Tensor.Full(f.Gpu, float.NaN, m, n[g]);
                cw[g] = w[g].To(f.Cpu);
                cy[g] = Tensor.Empty(f.Cpu, m, n[g]);
            }
            using var tx = f.Up(x, m, k);
            using var cx = f.UpCpu(x, m, k);
            f.Gpu.MultiLinear(tx, w, y);
            f.Cpu.MultiLinear(cx, cw, cy);
            var (rel, abs) = Bound(k);
            for (int g = 0; g < weights; g++)
            {
                var got = y[g].ToArray<float>();
                AssertClose(Gemm(x, false, exact[g], true, null, 1, m, n[g], k), got, rel, abs, $"y{g} vs float64");
                AssertClose(cy[g].ToArray<float>(), got, rel, abs, $"y{g} vs cpu");
            }
        }
        finally
        {
            foreach (var t in w.Concat(y).Concat(cw).Concat(cy)) t?.Dispose();
        }
    }

    [Theory]
    [InlineData(DType.BF16, 19)]
    [InlineData(DType.F16, 19)]
    [InlineData(DType.BF16, 3)]   // the few-row (decoding) kernel
    [InlineData(DType.F16, 1)]
    public void B_is_read_in_its_own_dtype(DType dtype, int m)
    {
        const int n = 66, k = 35;
        float[] a = RandomValues(m * k, 23), b = RandomValues(n * k, 24);
        using var ta = f.Up(a, m, k);
        using var tb32 = f.Up(b, n, k);
        using var tb = tb32.Cast(dtype);
        using var tc = Tensor.Empty(f.Gpu, m, n);
        f.Gpu.Gemm(ta, false, tb, true, tc);
        using var back = tb.Cast(DType.F32);   // the values B really holds
        var (rel, abs) = Bound(k);
        AssertClose(Gemm(a, false, back.ToArray<float>(), true, null, 1, m, n, k), tc.ToArray<float>(), rel, abs, $"B {dtype}");

        using var ca = f.UpCpu(a, m, k);
        using var cb = tb.To(f.Cpu);
        using var cc = Tensor.Empty(f.Cpu, m, n);
        f.Cpu.Gemm(ca, false, cb, true, cc);
        AssertClose(cc.ToArray<float>(), tc.ToArray<float>(), rel, abs, $"B {dtype} vs cpu");
    }

    [Theory]
    [InlineData(false, 21, false)]
    [InlineData(true, 21, false)]
    [InlineData(false, 2, true)]
    [InlineData(true, 2, true)]
    public void Batched_products_use_each_entry_of_B_or_broadcast_a_single_B(bool broadcastB, int m, bool transB)
    {
        const int batch = 3, n = 13, k = 70;
        float[] a = RandomValues(batch * m * k, 25), b = RandomValues((broadcastB ? 1 : batch) * k * n, 26);
        int[] sb = transB ? [n, k] : [k, n];
        using var ta = f.Up(a, batch, m, k);
        using var tb = broadcastB ? f.Up(b, sb) : f.Up(b, [batch, .. sb]);
        using var tc = Tensor.Empty(f.Gpu, batch, m, n);
        f.Gpu.Gemm(ta, false, tb, transB, tc);
        var (rel, abs) = Bound(k);
        AssertClose(Gemm(a, false, b, transB, null, batch, m, n, k, broadcastB), tc.ToArray<float>(), rel, abs, "batched C");
    }

    [Fact]
    public void Beta_zero_ignores_NaNs_already_in_C()
    {
        foreach (int m in new[] { 9, 2 })   // the tiled kernel and the few-row one
        {
            const int n = 11, k = 5;
            float[] a = RandomValues(m * k, 27), b = RandomValues(k * n, 28);
            using var ta = f.Up(a, m, k);
            using var tb = f.Up(b, n, k);
            using var tc = Tensor.Full(f.Gpu, float.NaN, m, n);
            f.Gpu.Gemm(ta, false, tb, true, tc);
            AssertClose(Gemm(a, false, b, true, null, 1, m, n, k), tc.ToArray<float>(), 1e-5, 1e-5, "C");
        }
    }

    [Fact]
    public void Mismatched_shapes_are_rejected()
    {
        using var a = Tensor.Zeros(f.Gpu, 3, 4);
        using var b = Tensor.Zeros(f.Gpu, 5, 6);
        using var c = Tensor.Zeros(f.Gpu, 3, 6);
        Assert.Throws<ArgumentException>(() => f.Gpu.Gemm(a, false, b, false, c));
    }
}
