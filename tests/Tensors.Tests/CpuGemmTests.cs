using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Cpu.Gemm;

namespace LoRAM.Tensors.Tests;

/// <summary>
/// CpuBackend.Gemm against a float64 triple loop on fresh random inputs. Error bound, per element:
/// |C − C_ref| ≤ 1e-5·√(k+1) · (|alpha|·Σ_p |A_ip·B_pj| + |beta·C0_ij|) — float32 accumulation error grows like √k
/// times the magnitude of the terms summed (B in BF16/F16 is compared with its exactly widened values).
/// </summary>
public class CpuGemmTests
{
    private static readonly GemmKernel[] Kernels =
        Enum.GetValues<GemmKernel>().Where(MicroKernels.IsSupported).ToArray();

    /// <summary>Kernel names (the enum is internal), only those this CPU supports.</summary>
    public static TheoryData<string> SupportedKernels()
    {
        var d = new TheoryData<string>();
        foreach (var k in Kernels) d.Add(k.ToString());
        return d;
    }

    [Theory]
    [MemberData(nameof(SupportedKernels))]
    public void Every_kernel_matches_float64_on_odd_sizes_and_all_transposes(string name)
    {
        var kernel = Enum.Parse<GemmKernel>(name);
        var rng = new Random(1000 + (int)kernel);
        using var backend = new CpuBackend(3);   // three threads on two cores: exercises uneven M/N splits
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
                for (int rep = 0; rep < 4; rep++)
                {
                    int m = rng.Next(2, 131), n = rng.Next(1, 131), k = rng.Next(17, 131);   // the packed path
                    Check(backend, kernel, rng, 1, m, n, k, ta, tb, DType.F32, false, 1f, 0f);
                }
    }

    [Theory]
    [MemberData(nameof(SupportedKernels))]
    public void Blocks_larger_than_the_cache_blocking_accumulate_over_k_and_split_over_m(string name)
    {
        var kernel = Enum.Parse<GemmKernel>(name);
        var rng = new Random(7);
        using var backend = new CpuBackend(2);
        // k > KC = 256 (second pc pass adds to the first, beta applied once); m > MC = 240 (several M blocks).
        Check(backend, kernel, rng, 1, PackedGemm.MC + 13, 45, PackedGemm.KC + 37, false, true, DType.F32, false, 0.75f, -0.5f);
        Check(backend, kernel, rng, 1, 29, 70, 2 * PackedGemm.KC + 5, true, false, DType.BF16, false, 1f, 2f);
    }

    [Fact]
    public void Random_sizes_from_1_to_130_in_every_dimension_take_every_path()
    {
        var rng = new Random(42);
        using var backend = new CpuBackend(2);
        for (int rep = 0; rep < 24; rep++)
        {
            int m = rng.Next(1, 131), n = rng.Next(1, 131), k = rng.Next(1, 131);
            if (rep % 4 == 0) m = 1;                 // GEMV path
            if (rep % 4 == 1) k = rng.Next(1, 17);   // small-k (LoRA rank) path
            var dt = (DType)(rep % 3);               // F32, BF16, F16
            Check(backend, MicroKernels.Default, rng, 1, m, n, k, rep % 2 == 0, rep % 3 == 0, dt, false, 1f, 0f);
        }
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void Every_path_reads_B_in_its_own_dtype_at_every_vector_width(DType dtype)
    {
        var rng = new Random(10 + (int)dtype);
        using var backend = new CpuBackend(2);
        foreach (var kernel in Kernels)   // the GEMV and small-k loops follow the kernel's vector width too
            foreach (bool tb in new[] { false, true })
            {
                Check(backend, kernel, rng, 1, 37, 101, 75, false, tb, dtype, false, 1f, 0f);   // packed
                Check(backend, kernel, rng, 1, 1, 600, 300, false, tb, dtype, false, 1f, 0.5f);  // m = 1 GEMV, several strips
                Check(backend, kernel, rng, 1, 90, 300, 8, true, tb, dtype, false, 2f, 0f);     // rank-8 LoRA product
                for (int m = 2; m <= 4; m++)
                    Check(backend, kernel, rng, 1, m, 77, 133, false, tb, dtype, false, 1f, -1f); // few-row decode
            }
    }

    [Fact]
    public void Narrow_products_with_a_long_inner_dimension_match_float64()
    {
        // The LoRA shapes u = x·Aᵀ, du = dy·B, dB = dyᵀ·u (n = r ≤ 8, k in the hundreds): the narrow-N path, with odd
        // k (vector tail), odd m (a last single row; a last partial block of 32 when A is transposed), n < 8 (padding).
        var rng = new Random(11);
        using var two = new CpuBackend(2);
        using var one = new CpuBackend(1);
        foreach (var backend in new[] { one, two })
            foreach (int n in new[] { 1, 5, 8 })
                foreach (bool ta in new[] { false, true })
                    foreach (bool tb in new[] { false, true })
                    {
                        var dt = (DType)((n + (ta ? 1 : 0)) % 3);
                        Check(backend, MicroKernels.Default, rng, 1, 83, n, 301, ta, tb, dt, false, 1.5f, 0f);
                        Check(backend, MicroKernels.Default, rng, 1, 700, n, 129, ta, tb, DType.F32, false, 1f, -0.5f);
                    }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Batched_products_use_each_entry_of_B_or_broadcast_a_single_B(bool broadcastB)
    {
        var rng = new Random(broadcastB ? 3 : 4);
        using var backend = new CpuBackend(2);
        Check(backend, MicroKernels.Default, rng, 3, 33, 41, 29, false, false, DType.F32, broadcastB, 1f, 0f);
        Check(backend, MicroKernels.Default, rng, 4, 1, 50, 40, false, true, DType.BF16, broadcastB, 1f, 1f);
        Check(backend, MicroKernels.Default, rng, 2, 20, 30, 4, true, true, DType.F32, broadcastB, -1f, 0.5f);
        // Two threads run small entries side by side; one thread (or large entries) runs them in turn, each split.
        using var single = new CpuBackend(1);
        Check(single, MicroKernels.Default, rng, 3, 33, 41, 29, true, false, DType.F16, broadcastB, 1f, 0f);
    }

    [Theory]
    [InlineData(1, 70, 50)]     // GEMV
    [InlineData(3, 70, 50)]     // few-row GEMV (with B stored [n, k])
    [InlineData(40, 70, 8)]     // small k
    [InlineData(40, 70, 50)]    // packed, full and edge tiles
    [InlineData(40, 70, 0)]     // empty inner dimension: C = beta·C = 0
    public void Beta_zero_ignores_NaNs_already_in_C(int m, int n, int k)
    {
        var rng = new Random(m + n + k);
        using var backend = new CpuBackend(2);
        foreach (var kernel in Kernels)
        foreach (bool tb in new[] { false, true })
        {
            using var a = Tensor.FromArray(backend, RandomArray(rng, m * k), m, k);
            using var b = Tensor.FromArray(backend, RandomArray(rng, k * n), tb ? n : k, tb ? k : n);
            using var c = Tensor.Full(backend, float.NaN, m, n);
            backend.Gemm(a, false, b, tb, c, 1f, 0f, kernel);
            Assert.All(c.ToArray<float>(), v => Assert.False(float.IsNaN(v)));
        }
    }

    [Fact]
    public unsafe void Widening_F16_and_BF16_is_exact_for_every_bit_pattern()
    {
        // F16 has no F16C path in .NET: the vector widening is a bit trick, checked here on all 65 536 patterns
        // (subnormals, infinities and NaNs included) against the runtime's scalar conversion.
        var bits = Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();
        var got = new float[bits.Length];
        fixed (ushort* src = bits)
        fixed (float* dst = got)
        {
            foreach (var isa in Kernels)
            {
            Widen.Run((byte*)src, DType.F16, dst, bits.Length, isa);
            for (int i = 0; i < bits.Length; i++)
            {
                float want = (float)BitConverter.UInt16BitsToHalf(bits[i]);
                Assert.True(float.IsNaN(want) ? float.IsNaN(got[i]) : BitConverter.SingleToUInt32Bits(want) == BitConverter.SingleToUInt32Bits(got[i]),
                    $"F16 0x{bits[i]:X4}: got {got[i]}, want {want}");
            }
            Widen.Run((byte*)src, DType.BF16, dst, bits.Length, isa);
            for (int i = 0; i < bits.Length; i++)
                Assert.Equal((uint)bits[i] << 16, BitConverter.SingleToUInt32Bits(got[i]));
            }
        }
    }

    [Theory]
    [InlineData(1, 300, 200)]    // GEMV
    [InlineData(64, 300, 8)]     // small k
    [InlineData(64, 300, 200)]   // packed
    [InlineData(3, 300, 200)]    // few-row GEMV
    public void Single_threaded_products_allocate_nothing_once_the_packing_buffers_have_grown(int m, int n, int k)
    {
        var rng = new Random(5);
        using var backend = new CpuBackend(1);
        using var a = Tensor.FromArray(backend, RandomArray(rng, m * k), m, k);
        using var b = Tensor.FromSpan<ushort>(backend, RandomArray(rng, k * n).Select(BFloat16.FromSingle).ToArray(), DType.BF16, n, k);
        using var c = Tensor.Zeros(backend, m, n);
        backend.Gemm(a, false, b, true, c);   // first call grows this thread's packing buffers
        // The fewest bytes any of five calls allocated: a product that allocates allocates on every call, while the
        // runtime's own one-off work on this thread (tiered re-compilation of a hot method) lands in one call only —
        // seen once in a CI run as 3,200 bytes on a single call.
        long fewest = long.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            backend.Gemm(a, false, b, true, c);
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, fewest);
    }

    [Fact]
    public void Mismatched_shapes_are_rejected()
    {
        using var backend = new CpuBackend(1);
        using var a = Tensor.Zeros(backend, 4, 5);
        using var b = Tensor.Zeros(backend, 6, 3);
        using var c = Tensor.Zeros(backend, 4, 3);
        Assert.Throws<ArgumentException>(() => backend.Gemm(a, false, b, false, c));
        using var b2 = Tensor.Zeros(backend, 2, 5, 3);
        using var c2 = Tensor.Zeros(backend, 3, 4, 3);
        using var a2 = Tensor.Zeros(backend, 3, 4, 5);
        Assert.Throws<ArgumentException>(() => backend.Gemm(a2, false, b2, false, c2));   // B batch neither 1 nor A's
    }

    // ---- reference -------------------------------------------------------------------------------

    private static void Check(CpuBackend backend, GemmKernel kernel, Random rng, int batch, int m, int n, int k,
        bool ta, bool tb, DType bType, bool broadcastB, float alpha, float beta)
    {
        int bb = broadcastB ? 1 : batch;
        var ha = RandomArray(rng, batch * m * k);
        var hb = RandomArray(rng, bb * k * n);
        var hc = RandomArray(rng, batch * m * n);
        // B as stored (BF16/F16 rounded) and its exact float values for the reference.
        ushort[] bits = bType switch
        {
            DType.BF16 => hb.Select(BFloat16.FromSingle).ToArray(),
            DType.F16 => hb.Select(v => BitConverter.HalfToUInt16Bits((Half)v)).ToArray(),
            _ => [],
        };
        if (bType == DType.BF16) hb = bits.Select(BFloat16.ToSingle).ToArray();
        if (bType == DType.F16) hb = bits.Select(u => (float)BitConverter.UInt16BitsToHalf(u)).ToArray();

        using var a = Tensor.FromArray(backend, ha, batch, ta ? k : m, ta ? m : k);
        int[] bShape = [bb, tb ? n : k, tb ? k : n];
        using var b = bType == DType.F32 ? Tensor.FromArray(backend, hb, bShape) : Tensor.FromSpan<ushort>(backend, bits, bType, bShape);
        using var c = Tensor.FromArray(backend, hc, batch, m, n);
        backend.Gemm(a, ta, b, tb, c, alpha, beta, kernel);
        var got = c.ToArray<float>();

        double tol = 1e-5 * Math.Sqrt(k + 1);
        for (int e = 0; e < batch; e++)
        {
            int ao = e * m * k, bo = (broadcastB ? 0 : e) * k * n, co = e * m * n;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double sum = 0, mag = 0;
                    for (int p = 0; p < k; p++)
                    {
                        double x = ha[ao + (ta ? p * m + i : i * k + p)] * (double)hb[bo + (tb ? j * k + p : p * n + j)];
                        sum += x;
                        mag += Math.Abs(x);
                    }
                    double c0 = hc[co + i * n + j];
                    double want = alpha * sum + (beta == 0 ? 0 : beta * c0);
                    double bound = tol * (Math.Abs(alpha) * mag + Math.Abs(beta * c0)) + 1e-30;
                    double err = Math.Abs(got[co + i * n + j] - want);
                    Assert.True(err <= bound,
                        $"{kernel} batch {e} ({i},{j}) of {m}×{n}×{k} ta={ta} tb={tb} {bType}: got {got[co + i * n + j]}, want {want}, err {err:E2} > {bound:E2}");
                }
        }
    }

    private static float[] RandomArray(Random rng, int count)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }
}
