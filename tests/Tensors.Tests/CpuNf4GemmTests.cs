using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Cpu.Gemm;
using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>
/// CpuBackend.Nf4Gemm (NF4 panels decoded while packing; a decode path for m ≤ 4) against float64 products with the
/// dequantized matrix and against dequantize-then-Gemm. Bound per element: rel 1e-5 + abs 4e-5·√k — float32 sums of
/// k products of A in [−1, 1) and |ŵ| ≤ 2, the same order as the dense GEMM tests.
/// </summary>
public class CpuNf4GemmTests
{
    private static readonly GemmKernel[] Kernels = Enum.GetValues<GemmKernel>().Where(MicroKernels.IsSupported).ToArray();

    // m: the decode path (1, 3, 4) and the packed path (5, 37, 250 > MC); in: multiples of 64 (320 > KC = 256 gives a
    // second pass over k), and in not a multiple of 64, where blocks straddle rows of W: 688 (the shipped models'
    // down_proj, > KC), 100, 33 (odd: rows start mid-byte, and with out odd the count is odd, the last block short);
    // out odd.
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 192, 67 }, { 3, 64, 37 }, { 4, 320, 33 }, { 5, 128, 67 }, { 37, 320, 45 }, { 250, 64, 101 },
        { 1, 688, 67 }, { 4, 100, 33 }, { 3, 33, 45 }, { 5, 688, 37 }, { 37, 100, 45 }, { 250, 33, 101 }, { 2, 33, 1 },
        { 3, 208, 45 }, { 4, 688, 33 },   // in a multiple of 16 but not 64: AVX-512's straddling decode path
    };

    [Theory, MemberData(nameof(Shapes))]
    public void Nf4_product_matches_float64_and_dequantize_then_gemm_for_every_kernel_and_direction(int m, int inF, int outF)
    {
        using var backend = new CpuBackend(3);   // three threads on two cores: uneven splits
        var w = new Nf4Reference(outF, inF, seed: m * 1000 + inF + outF);
        var nf4 = w.Upload(backend);
        using var dense = Tensor.FromArray(backend, w.Dequantized, outF, inF);
        try
        {
            foreach (var kernel in Kernels)
                foreach (bool transW in new[] { true, false })
                {
                    int k = transW ? inF : outF, n = transW ? outF : inF;
                    float[] a = RandomValues(m * k, 31 + (int)kernel), c0 = RandomValues(m * n, 32);
                    using var ta = Tensor.FromArray(backend, a, m, k);
                    using var tc = Tensor.FromArray(backend, c0, m, n);
                    backend.Nf4Gemm(ta, nf4, transW, tc, 0.75f, 0.5f, kernel);
                    var (rel, abs) = Nf4Reference.Bound(k);
                    var got = tc.ToArray<float>();
                    AssertClose(w.Product(a, m, transW, c0, 0.75, 0.5), got, rel, abs, $"{kernel} transW={transW} vs float64");

                    using var td = Tensor.FromArray(backend, c0, m, n);
                    backend.Gemm(ta, false, dense, transW, td, 0.75f, 0.5f, kernel);
                    AssertClose(td.ToArray<float>(), got, rel, abs, $"{kernel} transW={transW} vs dequantize-then-gemm");
                }
        }
        finally { Nf4Reference.Free(nf4); }
    }

    [Theory]
    [InlineData(1, 192, 70)]
    [InlineData(13, 192, 70)]
    [InlineData(1, 100, 71)]   // blocks straddle rows; odd count, last block short
    [InlineData(13, 33, 45)]   // odd in: every other row starts in the low nibble of a byte
    public void Identity_times_W_transposed_reproduces_the_dequantized_weight_bit_for_bit(int extraRows, int inF, int outF)
    {
        // C = I·Ŵᵀ (+ zero rows): each output is 1·ŵ plus exact zeros, so any decoding slip shows as a bit difference.
        using var backend = new CpuBackend(2);
        var w = new Nf4Reference(outF, inF, seed: 5);
        var nf4 = w.Upload(backend);
        try
        {
            int m = inF + extraRows;
            var a = new float[m * inF];
            for (int i = 0; i < inF; i++) a[i * inF + i] = 1f;
            foreach (var kernel in Kernels)
            {
                using var ta = Tensor.FromArray(backend, a, m, inF);
                using var tc = Tensor.Empty(backend, m, outF);
                backend.Nf4Gemm(ta, nf4, true, tc, 1f, 0f, kernel);
                var c = tc.ToArray<float>();
                for (int i = 0; i < inF; i++)
                    for (int j = 0; j < outF; j++)
                        Assert.Equal(w.Dequantized[j * inF + i], c[i * outF + j]);
            }
        }
        finally { Nf4Reference.Free(nf4); }
    }

    [Theory]
    [InlineData(128, 39)]
    [InlineData(130, 39)]   // blocks straddle rows; 39·130 is even, rows start mid-block
    [InlineData(208, 39)]   // straddling, in a multiple of 16: AVX-512's straddling decode path
    public void Decode_path_with_a_few_rows_is_exact_on_unit_rows_too(int inF, int outF)
    {
        // m ≤ 4 rows of A that are unit vectors: y = ŵ[:, p] (transW) and dx = ŵ[p, :] (not), exactly.
        using var backend = new CpuBackend(2);
        var w = new Nf4Reference(outF, inF, seed: 6);
        var nf4 = w.Upload(backend);
        try
        {
            foreach (var kernel in Kernels)
            {
                using var x = Tensor.FromArray(backend, Unit(4, inF, [0, 63, 64, 127]), 4, inF);
                using var y = Tensor.Full(backend, float.NaN, 4, outF);   // beta = 0 ignores NaNs
                backend.Nf4Gemm(x, nf4, true, y, 1f, 0f, kernel);
                var yv = y.ToArray<float>();
                int[] cols = [0, 63, 64, 127];
                for (int r = 0; r < 4; r++)
                    for (int j = 0; j < outF; j++) Assert.Equal(w.Dequantized[j * inF + cols[r]], yv[r * outF + j]);

                using var dy = Tensor.FromArray(backend, Unit(3, outF, [0, 20, 38]), 3, outF);
                using var dx = Tensor.Full(backend, float.NaN, 3, inF);
                backend.Nf4Gemm(dy, nf4, false, dx, 1f, 0f, kernel);
                var dxv = dx.ToArray<float>();
                int[] rows = [0, 20, 38];
                for (int r = 0; r < 3; r++)
                    for (int i = 0; i < inF; i++) Assert.Equal(w.Dequantized[rows[r] * inF + i], dxv[r * inF + i]);
            }
        }
        finally { Nf4Reference.Free(nf4); }
    }

    [Fact]
    public void Mismatched_codes_or_scales_are_rejected()
    {
        using var backend = new CpuBackend(1);
        var w = new Nf4Reference(4, 64, seed: 1);
        var nf4 = w.Upload(backend);
        try
        {
            using var x = Tensor.Zeros(backend, 2, 64);
            using var y = Tensor.Zeros(backend, 2, 4);
            Assert.Throws<ArgumentException>(() => backend.Nf4Gemm(x, nf4 with { Rows = 5 }, true, y));
            Assert.Throws<ArgumentException>(() => backend.Nf4Gemm(x, nf4 with { Cols = 32, Rows = 8 }, true, y));   // shape fits, but A does not
            Assert.Throws<ArgumentException>(() => backend.Nf4Gemm(x, nf4 with { Cols = 63 }, true, y));   // 4·63 needs 126 code bytes, not 128
            Assert.Throws<ArgumentException>(() => backend.Nf4Gemm(y, nf4, true, x));
        }
        finally { Nf4Reference.Free(nf4); }
    }

    private static float[] Unit(int rows, int cols, int[] at)
    {
        var a = new float[rows * cols];
        for (int r = 0; r < rows; r++) a[r * cols + at[r]] = 1f;
        return a;
    }
}
