using LoRAM.Tensors.Cpu.Dense;

namespace LoRAM.Pruning;

/// <summary>
/// Wanda (Sun et al. 2024, "Pruning by Weights and activations"): score S_rj = |W_rj| · ‖X_j‖₂ and remove the
/// lowest scores within each output row (their comparison group), or the M − N lowest of every M consecutive
/// inputs of a row for N:M. No weight update.
/// </summary>
public static class Wanda
{
    /// <summary>Prunes W [rows, cols] with the input norms of the calibration inputs accumulated for the layer.</summary>
    public static PrunedLayer Prune(ReadOnlySpan<float> weight, int rows, int cols, HessianAccumulator inputs, SparsityTarget target) =>
        Prune(weight, rows, cols, inputs.InputNorms(), target);

    /// <summary>Prunes W [rows, cols] given ‖X_j‖₂ per input (e.g. <see cref="HessianAccumulator.InputNorms"/>).</summary>
    public static PrunedLayer Prune(ReadOnlySpan<float> weight, int rows, int cols, ReadOnlySpan<double> inputNorms, SparsityTarget target)
    {
        if (weight.Length != (long)rows * cols) throw new ArgumentException($"expected {rows}×{cols} weights, got {weight.Length}");
        if (inputNorms.Length != cols) throw new ArgumentException($"expected {cols} input norms");
        if (target.IsSemiStructured && cols % target.M != 0) throw new ArgumentException($"{target} needs cols to be a multiple of {target.M}");
        var w = weight.ToArray();
        var norms = inputNorms.ToArray();
        var kept = new bool[w.Length];
        long perRow = SparsityTarget.PrunedCount(target.Ratio, cols);
        Parallel.For(0, rows, Parallelism.Options, () => new double[cols], (r, _, scores) =>
        {
            for (int j = 0; j < cols; j++) scores[j] = Math.Abs((double)w[(long)r * cols + j]) * norms[j];
            var rowKept = kept.AsSpan(r * cols, cols);
            if (target.IsSemiStructured)
                for (int g = 0; g < cols; g += target.M)
                    MaskSelection.PruneLowestInGroup(scores.AsSpan(g, target.M), target.PrunedPerGroup, rowKept.Slice(g, target.M));
            else
                MaskSelection.PruneLowest(scores, perRow, rowKept);
            return scores;
        }, _ => { });
        var mask = new SparsityPattern(rows, cols, kept);
        mask.Apply(w);
        return new PrunedLayer(w, mask);
    }
}
