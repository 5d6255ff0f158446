namespace LoRAM.Pruning;

/// <summary>
/// Magnitude pruning, the data-free baseline: remove the ⌊p · rows · cols⌋ smallest |W| of the whole matrix,
/// or the M − N smallest |W| of every M consecutive inputs of a row for N:M.
/// </summary>
public static class MagnitudePruning
{
    public static PrunedLayer Prune(ReadOnlySpan<float> weight, int rows, int cols, SparsityTarget target)
    {
        if (weight.Length != (long)rows * cols) throw new ArgumentException($"expected {rows}×{cols} weights, got {weight.Length}");
        if (target.IsSemiStructured && cols % target.M != 0) throw new ArgumentException($"{target} needs cols to be a multiple of {target.M}");
        var w = weight.ToArray();
        var scores = new double[w.Length];
        for (int i = 0; i < w.Length; i++) scores[i] = Math.Abs((double)w[i]);
        var kept = new bool[w.Length];
        if (target.IsSemiStructured)
            for (int g = 0; g < w.Length; g += target.M)
                MaskSelection.PruneLowestInGroup(scores.AsSpan(g, target.M), target.PrunedPerGroup, kept.AsSpan(g, target.M));
        else
            MaskSelection.PruneLowest(scores, SparsityTarget.PrunedCount(target.Ratio, w.LongLength), kept);
        var mask = new SparsityPattern(rows, cols, kept);
        mask.Apply(w);
        return new PrunedLayer(w, mask);
    }
}
