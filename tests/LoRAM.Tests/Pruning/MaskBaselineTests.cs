using LoRAM.Pruning;
using static LoRAM.Tests.Pruning.PruningFixtures;

namespace LoRAM.Tests.Pruning;

public class MaskBaselineTests
{
    [Fact]
    public void Magnitude_removes_exactly_the_smallest_magnitudes_of_the_whole_matrix()
    {
        var w = new float[] { 0.5f, -0.1f, 3f, 0.2f, -2f, 0.05f };
        var pruned = MagnitudePruning.Prune(w, 2, 3, SparsityTarget.Unstructured(0.5));
        Assert.Equal(new[] { 0.5f, 0f, 3f, 0f, -2f, 0f }, pruned.Weights);
        Assert.Equal(3, pruned.Mask.PrunedCount);
    }

    [Fact]
    public void Wanda_weighs_magnitudes_by_input_norms_within_each_row()
    {
        // Scores |w|·‖x‖: row 0 = 10, 2, 3, 5 and row 1 = 10, 1, 1, 10 → each row loses its columns 1 and 2,
        // although row 0's column 3 holds the smallest weight.
        var w = new float[] { 1, 2, 3, 0.5f, /* row 1 */ 1, 1, 1, 1 };
        var norms = new double[] { 10, 1, 1, 10 };
        var pruned = Wanda.Prune(w, 2, 4, norms, SparsityTarget.Unstructured(0.5));
        Assert.Equal(new[] { 1f, 0f, 0f, 0.5f, 1f, 0f, 0f, 1f }, pruned.Weights);
        Assert.All(Enumerable.Range(0, 2), r => Assert.Equal(2, Enumerable.Range(0, 4).Count(c => !pruned.Mask.IsKept(r, c))));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.25)]
    public void Wanda_removes_floor_p_cols_in_every_row(double ratio)
    {
        var rng = new Random(4);
        int rows = 9, cols = 50;
        var w = Gaussian(rng, rows * cols);
        var x = CorrelatedInputs(rng, 30, cols, 5);
        var acc = new HessianAccumulator(cols);
        acc.Add(x, 30);
        var pruned = Wanda.Prune(w, rows, cols, acc.InputNorms(), SparsityTarget.Unstructured(ratio));
        for (int r = 0; r < rows; r++)
            Assert.Equal((int)Math.Floor(ratio * cols), Enumerable.Range(0, cols).Count(c => !pruned.Mask.IsKept(r, c)));
    }

    [Theory]
    [InlineData(2, 4)]
    [InlineData(4, 8)]
    public void Wanda_and_magnitude_N_M_masks_are_valid(int n, int m)
    {
        var rng = new Random(8);
        int rows = 7, cols = 64;
        var w = Gaussian(rng, rows * cols);
        var norms = Enumerable.Range(0, cols).Select(_ => 0.1 + rng.NextDouble()).ToArray();
        foreach (var pruned in new[] { Wanda.Prune(w, rows, cols, norms, SparsityTarget.SemiStructured(n, m)),
                     MagnitudePruning.Prune(w, rows, cols, SparsityTarget.SemiStructured(n, m)) })
        {
            Assert.True(pruned.Mask.SatisfiesNM(n, m));
            Assert.Equal(rows * cols / m * n, pruned.Mask.KeptCount);
        }
        var mag = MagnitudePruning.Prune(w, rows, cols, SparsityTarget.SemiStructured(n, m));
        // Each group keeps its n largest |w|.
        for (int g = 0; g < w.Length; g += m)
        {
            float smallestKept = Enumerable.Range(g, m).Where(i => mag.Mask.Kept[i]).Min(i => Math.Abs(w[i]));
            float largestPruned = Enumerable.Range(g, m).Where(i => !mag.Mask.Kept[i]).Max(i => Math.Abs(w[i]));
            Assert.True(smallestKept >= largestPruned);
        }
    }

    [Fact]
    public void Pattern_packs_lsb_first_and_round_trips()
    {
        var kept = new bool[] { true, false, false, false, false, false, false, false, /* byte 1 */ false, true, true };
        var mask = new SparsityPattern(1, 11, kept);
        var packed = mask.Pack();
        Assert.Equal(new byte[] { 0b0000_0001, 0b0000_0110 }, packed);
        var back = SparsityPattern.Unpack(packed, 1, 11);
        Assert.Equal(kept, back.Kept.ToArray());
        Assert.Equal(3.0 / 11, mask.Density, 12);
        Assert.False(new SparsityPattern(1, 4, new[] { true, true, true, false }).SatisfiesNM(2, 4));
    }
}
