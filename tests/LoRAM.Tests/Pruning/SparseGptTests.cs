using LoRAM.Pruning;
using MathNet.Numerics.LinearAlgebra;
using static LoRAM.Tests.Pruning.PruningFixtures;

namespace LoRAM.Tests.Pruning;

public class SparseGptTests
{
    private static (float[] W, float[] X, HessianAccumulator H) Problem(int seed, int rows, int cols, int n, int rank)
    {
        var rng = new Random(seed);
        var w = Gaussian(rng, rows * cols);
        var x = CorrelatedInputs(rng, n, cols, rank);
        var h = new HessianAccumulator(cols);
        h.Add(x, n);
        return (w, x, h);
    }

    /// <summary>
    /// The OBS sweep written the slow, obvious way in float64: H⁻¹ from MathNet, every column's update applied
    /// to all later columns at once (no lazy batching), masks chosen by the same rule.
    /// </summary>
    private static double[] ReferenceObs(float[] weight, int rows, int cols, double[] h, SparsityTarget target, int blockSize)
    {
        var hm = Matrix<double>.Build.DenseOfRowMajor(cols, cols, h);
        double lambda = 0.01 * hm.Diagonal().Average();
        var u = (hm + lambda * Matrix<double>.Build.DenseIdentity(cols)).Inverse().Cholesky().Factor.Transpose();
        var w = weight.Select(v => (double)v).ToArray();
        var kept = new bool[rows * cols];
        Array.Fill(kept, true);
        for (int c = 0; c < cols; c++)
        {
            if (!target.IsSemiStructured && c % blockSize == 0)
            {
                int i2 = Math.Min(cols, c + blockSize);
                long k = (long)Math.Floor(target.Ratio * rows * i2 + 1e-9) - (long)Math.Floor(target.Ratio * rows * c + 1e-9);
                var chosen = Enumerable.Range(0, rows).SelectMany(r => Enumerable.Range(c, i2 - c).Select(j => (r, j)))
                    .Select((p, idx) => (p.r, p.j, idx, s: w[p.r * cols + p.j] * w[p.r * cols + p.j] / (u[p.j, p.j] * u[p.j, p.j])))
                    .OrderBy(t => t.s).ThenBy(t => t.idx).Take((int)k);
                foreach (var t in chosen) kept[t.r * cols + t.j] = false;
            }
            for (int r = 0; r < rows; r++)
            {
                if (target.IsSemiStructured && c % target.M == 0)
                {
                    var lowest = Enumerable.Range(c, target.M)
                        .OrderBy(j => w[r * cols + j] * w[r * cols + j] / (u[j, j] * u[j, j])).ThenBy(j => j).Take(target.PrunedPerGroup);
                    foreach (int j in lowest) kept[r * cols + j] = false;
                }
                double q = kept[r * cols + c] ? w[r * cols + c] : 0;
                double e = (w[r * cols + c] - q) / u[c, c];
                for (int j = c; j < cols; j++) w[r * cols + j] -= e * u[c, j];
            }
        }
        for (int i = 0; i < w.Length; i++) if (!kept[i]) w[i] = 0;
        return w;
    }

    [Theory]
    [InlineData(0.5, 0, 0, 6, 24, 8)]
    [InlineData(0.3, 0, 0, 6, 24, 8)]
    [InlineData(0, 2, 4, 6, 24, 8)]
    [InlineData(0, 4, 8, 6, 24, 8)]
    [InlineData(0.5, 0, 0, 5, 328, 128)] // default blocks, ragged last block, lazy update wider than a cache block
    [InlineData(0, 2, 4, 5, 328, 128)]
    public void Lazy_blocked_sweep_equals_the_straightforward_float64_OBS_sweep(double ratio, int n, int m, int rows, int cols, int block)
    {
        var (w, _, h) = Problem(11, rows, cols, 64, 6);
        var target = m == 0 ? SparsityTarget.Unstructured(ratio) : SparsityTarget.SemiStructured(n, m);
        var pruned = SparseGpt.Prune(w, rows, cols, h, target, blockSize: block);
        var expected = ReferenceObs(w, rows, cols, h.Hessian(), target, block);
        double scale = MaxAbs(expected);
        // Bound: 1e-6 relative to the largest weight (float32 output of float64 sweeps).
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(pruned.Weights[i] - expected[i]) <= 1e-6 * scale, $"Ŵ[{i / cols},{i % cols}]: {pruned.Weights[i]} vs {expected[i]}");
    }

    [Fact]
    public void Sparsity_zero_leaves_the_weights_unchanged()
    {
        var (w, _, h) = Problem(2, 8, 40, 80, 40);
        var pruned = SparseGpt.Prune(w, 8, 40, h, SparsityTarget.Unstructured(0));
        Assert.Equal(w, pruned.Weights);
        Assert.Equal(1.0, pruned.Mask.Density);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.3)]
    [InlineData(0.77)]
    public void Unstructured_mask_removes_exactly_floor_p_times_count(double ratio)
    {
        int rows = 16, cols = 200; // blocks of 128 and a ragged 72
        var (w, _, h) = Problem(5, rows, cols, 64, 8);
        var pruned = SparseGpt.Prune(w, rows, cols, h, SparsityTarget.Unstructured(ratio));
        Assert.Equal((long)Math.Floor(ratio * rows * cols + 1e-9), pruned.Mask.PrunedCount);
        for (int i = 0; i < w.Length; i++)
            if (!pruned.Mask.Kept[i]) Assert.Equal(0f, pruned.Weights[i]);
    }

    [Theory]
    [InlineData(2, 4)]
    [InlineData(4, 8)]
    public void Semi_structured_mask_keeps_exactly_N_of_every_M(int n, int m)
    {
        int rows = 12, cols = 256;
        var (w, _, h) = Problem(6, rows, cols, 64, 8);
        var pruned = SparseGpt.Prune(w, rows, cols, h, SparsityTarget.SemiStructured(n, m));
        Assert.True(pruned.Mask.SatisfiesNM(n, m));
        Assert.Equal(rows * cols / m * n, pruned.Mask.KeptCount);
        Assert.True(SparsityPattern.FromNonZeros(pruned.Weights, rows, cols).SatisfiesNM(n, m));
    }

    [Theory]
    [InlineData(0, 0, 8.0)]  // measured 15.9× at 50% unstructured
    [InlineData(2, 4, 4.0)]  // measured 7.2× at 2:4
    public void Reconstruction_error_is_far_below_magnitude_pruning_on_correlated_inputs(int n, int m, double factor)
    {
        int rows = 32, cols = 128, samples = 512;
        var (w, x, h) = Problem(9, rows, cols, samples, 16);
        var target = m == 0 ? SparsityTarget.Unstructured(0.5) : SparsityTarget.SemiStructured(n, m);
        double sparseGpt = SparseGpt.Prune(w, rows, cols, h, target).ReconstructionError(w, x, samples);
        double magnitude = MagnitudePruning.Prune(w, rows, cols, target).ReconstructionError(w, x, samples);
        Assert.True(sparseGpt * factor < magnitude, $"SparseGPT {sparseGpt:E3} vs magnitude {magnitude:E3} (ratio {magnitude / sparseGpt:F2}, want > {factor})");
    }
}
