using LoRAM.Tensors.Cpu.Dense;
using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests.Dense;

public class DenseKernelTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Blocked_NT_product_equals_the_triple_loop_across_cache_blocks(bool lowerOnly)
    {
        // m, n and k cross the 4×2 tiles and the 256-wide cache blocks, with ragged ends.
        int m = 301, n = lowerOnly ? 301 : 263, k = 517;
        int seed = lowerOnly ? 1 : 4;
        var a = RandomValues(m * k, seed).Select(v => (double)v).ToArray();
        var b = lowerOnly ? a : RandomValues(n * k, seed + 1).Select(v => (double)v).ToArray();
        var c = RandomValues(m * n, seed + 2).Select(v => (double)v).ToArray();
        var expected = (double[])c.Clone();
        for (int i = 0; i < m; i++)
            for (int j = 0; j < (lowerOnly ? i + 1 : n); j++)
            {
                double s = 0;
                for (int t = 0; t < k; t++) s += a[i * k + t] * b[j * k + t];
                expected[i * n + j] -= 0.5 * s;
            }
        DenseKernels.AddProductNT(a, 0, k, b, 0, k, c, 0, n, m, n, k, -0.5, lowerOnly, new ParallelOptions { MaxDegreeOfParallelism = 2 });
        // Bound: float64 summation order, 1e-12 relative to the largest entry (|entries| ≲ 100).
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < c.Length; i++) Assert.True(Math.Abs(c[i] - expected[i]) <= 1e-12 * scale, $"C[{i / n},{i % n}]");
    }
}
