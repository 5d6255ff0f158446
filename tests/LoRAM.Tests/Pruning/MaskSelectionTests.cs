using LoRAM.Pruning;

namespace LoRAM.Tests.Pruning;

public class MaskSelectionTests
{
    [Theory]
    [InlineData(1000, 0)]
    [InlineData(1000, 10)]  // heavy ties
    [InlineData(7, 3)]
    public void Quickselect_finds_the_same_rank_as_sorting(int count, int distinct)
    {
        var rng = new Random(count + distinct);
        for (int trial = 0; trial < 20; trial++)
        {
            var v = Enumerable.Range(0, count).Select(_ => distinct == 0 ? rng.NextDouble() : rng.Next(distinct)).Select(x => (double)x).ToArray();
            var sorted = v.OrderBy(x => x).ToArray();
            int kth = rng.Next(count);
            Assert.Equal(sorted[kth], MaskSelection.KthSmallest((double[])v.Clone(), kth));
        }
    }

    [Fact]
    public void Prune_lowest_removes_exactly_k_with_ties_to_the_lowest_index()
    {
        var scores = new double[] { 3, 1, 2, 1, 1, 5 };
        var kept = new bool[6];
        MaskSelection.PruneLowest(scores, 2, kept);
        Assert.Equal(new[] { true, false, true, false, true, true }, kept);
    }
}
