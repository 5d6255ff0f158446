using LoRAM.Tensors.Cpu;
using LoRAM.Tensors.Cpu.Gemm;

namespace LoRAM.Tensors.Tests;

/// <summary>
/// CpuBackend.MultiLinear (y_g = x·W_gᵀ for up to three weights sharing x) against a float64 loop on fresh random
/// inputs, and against one <see cref="Backend.Gemm"/> per weight. Bound per element, as for Gemm:
/// |y − y_ref| ≤ 1e-5·√(k+1)·Σ_p |x_ip·W_jp| (W in BF16/F16 compared with its exactly widened values).
/// </summary>
public class CpuMultiLinearTests
{
    private static readonly GemmKernel[] Kernels = Enum.GetValues<GemmKernel>().Where(MicroKernels.IsSupported).ToArray();

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void Matches_float64_for_every_row_count_weight_count_and_vector_width(DType dtype)
    {
        var rng = new Random(30 + (int)dtype);
        foreach (int threads in new[] { 1, 3 })
        {
            using var backend = new CpuBackend(threads);
            foreach (var kernel in Kernels)
                foreach (int m in new[] { 1, 2, 4, 7 })   // 7: the prefill path, one Gemm per weight
                {
                    // k = 1030: a vector tail; rows 50 + 30 + 90 make three threads' tasks start and end inside weights.
                    Check(backend, kernel, rng, m, 1030, [50, 30, 90], dtype);
                    Check(backend, kernel, rng, m, 75, [37, 5], dtype);
                    Check(backend, kernel, rng, m, 50, [130], dtype);   // k = 32 + 16 + 2: every block size of the BF16 loop
                }
        }
    }

    [Fact]
    public void Equals_one_gemm_per_weight_at_a_decoding_shape()
    {
        var rng = new Random(5);
        using var backend = new CpuBackend(2);
        int k = 576;
        int[] n = [576, 192, 192];
        using var x = Tensor.FromArray(backend, Random(rng, k), 1, 1, k);
        var w = n.Select(rows => { using var f = Tensor.FromArray(backend, Random(rng, rows * k), rows, k); return f.Cast(DType.BF16); }).ToArray();
        var fused = n.Select(rows => Tensor.Empty(backend, 1, 1, rows)).ToArray();
        var single = n.Select(rows => Tensor.Empty(backend, 1, 1, rows)).ToArray();
        try
        {
            backend.MultiLinear(x, w, fused);
            using var x2 = x.Reshape(1, k);
            for (int g = 0; g < n.Length; g++)
                using (var y2 = single[g].Reshape(1, n[g]))
                    backend.Gemm(x2, false, w[g], true, y2);
            // The same rows dotted by the same loop: identical, not merely close.
            for (int g = 0; g < n.Length; g++) Assert.Equal(single[g].ToArray<float>(), fused[g].ToArray<float>());
        }
        finally
        {
            foreach (var t in w.Concat(fused).Concat(single)) t.Dispose();
        }
    }

    [Fact]
    public void Rejects_mixed_dtypes_and_mismatched_shapes()
    {
        using var backend = new CpuBackend(1);
        using var x = Tensor.Zeros(backend, 1, 8);
        using var w32 = Tensor.Zeros(backend, 4, 8);
        using var w16 = w32.Cast(DType.BF16);
        using var wk = Tensor.Zeros(backend, 4, 9);
        using var y = Tensor.Zeros(backend, 1, 4);
        using var y2 = Tensor.Zeros(backend, 1, 4);
        Assert.Throws<ArgumentException>(() => backend.MultiLinear(x, [w32, w16], [y, y2]));
        Assert.Throws<ArgumentException>(() => backend.MultiLinear(x, [wk], [y]));
        Assert.Throws<ArgumentException>(() => backend.MultiLinear(x, [w32, w32, w32, w32], [y, y, y, y]));
        Assert.Throws<ArgumentException>(() => backend.MultiLinear(x, [w32], [y, y2]));
    }

    private static void Check(CpuBackend backend, GemmKernel kernel, Random rng, int m, int k, int[] n, DType dtype)
    {
        var hx = Random(rng, m * k);
        var hw = n.Select(rows => Random(rng, rows * k)).ToArray();
        var w = new Tensor[n.Length];
        var y = new Tensor[n.Length];
        try
        {
            for (int g = 0; g < n.Length; g++)
            {
                using var f = Tensor.FromArray(backend, hw[g], n[g], k);
                w[g] = dtype == DType.F32 ? f.Clone() : f.Cast(dtype);
                using (var back = w[g].Cast(DType.F32)) hw[g] = back.ToArray<float>();   // the values W really holds
                y[g] = Tensor.Full(backend, float.NaN, m, n[g]);                        // overwritten, never read
            }
            using var x = Tensor.FromArray(backend, hx, m, k);
            backend.MultiLinear(x, w, y, kernel);

            double tol = 1e-5 * Math.Sqrt(k + 1);
            for (int g = 0; g < n.Length; g++)
            {
                var got = y[g].ToArray<float>();
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n[g]; j++)
                    {
                        double sum = 0, mag = 0;
                        for (int p = 0; p < k; p++)
                        {
                            double t = (double)hx[i * k + p] * hw[g][j * k + p];
                            sum += t;
                            mag += Math.Abs(t);
                        }
                        double err = Math.Abs(got[i * n[g] + j] - sum);
                        if (!(err <= tol * mag + 1e-30))
                            Assert.Fail($"{kernel} {dtype}, {backend.Threads} threads, m {m}, k {k}, weight {g} of [{string.Join(", ", n)}]: y[{i}, {j}] = {got[i * n[g] + j]}, expected {sum} (|err| {err:E2} > {tol * mag:E2})");
                    }
            }
        }
        finally
        {
            foreach (var t in w.Concat(y)) t?.Dispose();
        }
    }

    private static float[] Random(Random rng, int count)
    {
        var r = new float[count];
        for (int i = 0; i < count; i++) r[i] = (float)(rng.NextDouble() * 2 - 1);
        return r;
    }
}
