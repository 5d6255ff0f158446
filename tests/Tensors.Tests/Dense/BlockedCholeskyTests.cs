using LoRAM.Tensors.Cpu.Dense;
using MathNet.Numerics.LinearAlgebra;
using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests.Dense;

public class BlockedCholeskyTests
{
    /// <summary>A = (2/n)·XᵀX + 0.01·I for X [size + 20, size]: symmetric positive definite, like a SparseGPT Hessian.</summary>
    private static double[] SymmetricPositiveDefinite(int size, int seed)
    {
        int n = size + 20;
        var x = RandomValues(n * size, seed);
        var a = new double[size * size];
        for (int i = 0; i < size; i++)
            for (int j = 0; j < size; j++)
            {
                double s = 0;
                for (int t = 0; t < n; t++) s += (double)x[t * size + i] * x[t * size + j];
                a[i * size + j] = 2.0 * s / n + (i == j ? 0.01 : 0);
            }
        return a;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(64)]
    [InlineData(150)] // crosses blocks of 64 with a ragged last one
    public void Blocked_cholesky_matches_MathNet_to_1e_minus_10(int size)
    {
        var a = SymmetricPositiveDefinite(size, size);
        var l = (double[])a.Clone();
        BlockedCholesky.FactorLower(l, size, new ParallelOptions { MaxDegreeOfParallelism = 2 });
        var expected = Matrix<double>.Build.DenseOfRowMajor(size, size, a).Cholesky().Factor;
        double scale = expected.Enumerate().Max(Math.Abs);
        for (int i = 0; i < size; i++)
            for (int j = 0; j < size; j++)
                Assert.True(Math.Abs(l[i * size + j] - expected[i, j]) <= 1e-10 * scale, $"L[{i},{j}]");
    }

    [Fact]
    public void Triangular_inverse_matches_MathNet_to_1e_minus_10()
    {
        const int size = 130;
        var l = SymmetricPositiveDefinite(size, 7);
        BlockedCholesky.FactorLower(l, size, new ParallelOptions { MaxDegreeOfParallelism = 2 });
        var inverse = BlockedCholesky.InvertLower(l, size, new ParallelOptions { MaxDegreeOfParallelism = 2 });
        var expected = Matrix<double>.Build.DenseOfRowMajor(size, size, l).Inverse();
        double scale = expected.Enumerate().Max(Math.Abs);
        for (int i = 0; i < size; i++)
            for (int j = 0; j < size; j++)
                Assert.True(Math.Abs(inverse[i * size + j] - expected[i, j]) <= 1e-10 * scale, $"L⁻¹[{i},{j}]");
    }
}
