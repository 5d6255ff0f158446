using LoRAM.Pruning;
using MathNet.Numerics.LinearAlgebra;
using static LoRAM.Tests.Pruning.PruningFixtures;

namespace LoRAM.Tests.Pruning;

public class FactorizationTests
{
    [Theory]
    [InlineData(37, 21)]
    [InlineData(2100, 5)] // more rows than one internal chunk of 2048
    public void Hessian_is_two_over_n_times_sum_of_outer_products_whatever_the_batch_split(int n, int cols)
    {
        var rng = new Random(1);
        var x = Gaussian(rng, n * cols);
        var whole = new HessianAccumulator(cols);
        whole.Add(x, n);
        var split = new HessianAccumulator(cols);
        split.Add(x.AsSpan(0, 10 * cols), 10);
        split.Add(x.AsSpan(10 * cols), n - 10);
        var expected = ReferenceHessian(x, n, cols);
        double scale = MaxAbs(expected);
        // Bound: float64 summation order only, relative 1e-12.
        Assert.All(whole.Hessian().Zip(expected), p => Assert.True(Math.Abs(p.First - p.Second) <= 1e-12 * scale));
        Assert.All(split.Hessian().Zip(expected), p => Assert.True(Math.Abs(p.First - p.Second) <= 1e-12 * scale));
        var norms = whole.InputNorms();
        for (int j = 0; j < cols; j++)
            Assert.Equal(Math.Sqrt(expected[j * cols + j] * n / 2), norms[j], 1e-10);
    }

    [Fact]
    public void Inverse_hessian_factor_is_the_upper_cholesky_of_the_dampened_inverse_as_MathNet_computes_it()
    {
        var rng = new Random(7);
        int size = 130, n = 100; // n < size: H is singular without the damping, as with few calibration tokens
        var x = CorrelatedInputs(rng, n, size, 12);
        var acc = new HessianAccumulator(size);
        acc.Add(x, n);
        var h = acc.Hessian();
        var factor = InverseHessianFactor.Compute(h, size, 0.01);

        var hm = Matrix<double>.Build.DenseOfRowMajor(size, size, h);
        double lambda = 0.01 * hm.Diagonal().Average();
        Assert.Equal(lambda, factor.Damping, 1e-12);
        var dampened = hm + lambda * Matrix<double>.Build.DenseIdentity(size);
        var inverse = dampened.Cholesky().Solve(Matrix<double>.Build.DenseIdentity(size));
        inverse = (inverse + inverse.Transpose()) / 2;
        var expectedU = inverse.Cholesky().Factor.Transpose();
        double scale = expectedU.Enumerate().Max(Math.Abs);
        // Bound: relative 1e-10 of the largest entry (two different factorisation orders in float64).
        for (int i = 0; i < size; i++)
            for (int j = 0; j < size; j++)
                Assert.True(Math.Abs(factor[i, j] - expectedU[i, j]) <= 1e-10 * scale, $"U[{i},{j}]: {factor[i, j]} vs {expectedU[i, j]}");
    }

    [Fact]
    public void Dead_inputs_get_unit_diagonal_and_zeroed_weight_columns()
    {
        var rng = new Random(3);
        int size = 10, n = 40;
        var x = Gaussian(rng, n * size);
        for (int s = 0; s < n; s++) x[s * size + 4] = 0; // feature 4 never fires
        var acc = new HessianAccumulator(size);
        acc.Add(x, n);
        var h = acc.Hessian();
        var factor = InverseHessianFactor.Compute(h, size, 0.01);
        Assert.True(factor.DeadInputs[4]);
        Assert.Equal(1, factor.DeadInputs.ToArray().Count(d => d));

        var hm = Matrix<double>.Build.DenseOfRowMajor(size, size, h);
        hm[4, 4] = 1;
        double lambda = 0.01 * hm.Diagonal().Average();
        var expectedU = (hm + lambda * Matrix<double>.Build.DenseIdentity(size)).Inverse().Cholesky().Factor.Transpose();
        for (int i = 0; i < size; i++)
            for (int j = 0; j < size; j++)
                Assert.Equal(expectedU[i, j], factor[i, j], 1e-10);

        var w = Gaussian(rng, 3 * size);
        factor.ZeroDeadColumns(w, 3);
        for (int r = 0; r < 3; r++) Assert.Equal(0f, w[r * size + 4]);
    }
}
