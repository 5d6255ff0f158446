using System.Numerics.Tensors;
using LoRAM.Tensors.Cpu.Dense;

namespace LoRAM.Pruning;

/// <summary>
/// SparseGPT (Frantar &amp; Alistarh 2023, Alg. 1): one-shot pruning of a linear layer W [rows = out, cols = in]
/// that minimises the reconstruction error ‖WX − ŴX‖² by an Optimal Brain Surgeon sweep over the columns.
/// <code>
///   H⁻¹ = Uᵀ U                                   (U: <see cref="InverseHessianFactor"/>)
///   for each block of B = 128 columns [i1, i2):
///     unstructured: M₁ = the ⌊p·rows·i2⌋ − ⌊p·rows·i1⌋ lowest w²/[U]cc² in the block      (adaptive mask)
///     for c in [i1, i2):
///       N:M: at c ≡ i1 (mod M) remove the M − N lowest w²/[U]cc² of W[r, c:c+M] per row
///       q = w_c ∘ M₁[:, c];   e = (w_c − q) / U_cc                           (OBS error, Eq. 3)
///       W[:, c:i2] −= e · U[c, c:i2]                                          (OBS update of the block)
///     W[:, i2:] −= E · U[i1:i2, i2:]                                          (lazy batch update)
/// </code>
/// The in-block sweep is independent per row (each row's errors only touch that row), so rows run in
/// parallel; the lazy update is one SIMD float64 GEMM. W is handled in float64 throughout.
/// Unstructured masks remove exactly ⌊p · rows · cols⌋ weights (the cumulative floor per block); the
/// reference takes "score ≤ the k-th smallest", which removes one more per block.
/// </summary>
public static class SparseGpt
{
    public const int DefaultBlockSize = 128;

    /// <summary>Prunes W [rows, cols] (row-major) with the Hessian accumulated from its calibration inputs.</summary>
    public static PrunedLayer Prune(ReadOnlySpan<float> weight, int rows, int cols, HessianAccumulator hessian,
        SparsityTarget target, double percentDamping = 0.01, int blockSize = DefaultBlockSize)
    {
        if (hessian.Inputs != cols) throw new ArgumentException($"Hessian is for {hessian.Inputs} inputs, W has {cols} columns");
        var factor = InverseHessianFactor.Compute(hessian.Hessian(), cols, percentDamping);
        return Prune(weight, rows, cols, factor, target, blockSize);
    }

    /// <summary>Prunes W [rows, cols] (row-major) given the factor of its dampened inverse Hessian.</summary>
    public static PrunedLayer Prune(ReadOnlySpan<float> weight, int rows, int cols, InverseHessianFactor factor,
        SparsityTarget target, int blockSize = DefaultBlockSize)
    {
        if (weight.Length != (long)rows * cols) throw new ArgumentException($"expected {rows}×{cols} weights, got {weight.Length}");
        if (factor.Size != cols) throw new ArgumentException($"factor is for {factor.Size} inputs, W has {cols} columns");
        if (blockSize <= 0) throw new ArgumentOutOfRangeException(nameof(blockSize));
        if (target.IsSemiStructured && (cols % target.M != 0 || blockSize % target.M != 0))
            throw new ArgumentException($"{target} needs cols ({cols}) and the block size ({blockSize}) to be multiples of {target.M}");

        var options = Parallelism.Options;
        var w = new double[(long)rows * cols];
        for (int i = 0; i < w.Length; i++) w[i] = weight[i];
        var dead = factor.DeadInputs;
        for (int c = 0; c < cols; c++)
            if (dead[c])
                for (int r = 0; r < rows; r++) w[(long)r * cols + c] = 0;

        var kept = new bool[(long)rows * cols];
        Array.Fill(kept, true);
        var u = factor.UpperArray;
        var err = new double[(long)rows * blockSize];
        var scores = new double[(long)rows * blockSize];
        var blockKept = new bool[(long)rows * blockSize];

        for (int i1 = 0; i1 < cols; i1 += blockSize)
        {
            int i2 = Math.Min(cols, i1 + blockSize), count = i2 - i1;
            if (!target.IsSemiStructured)
            {
                for (int r = 0; r < rows; r++)
                    for (int t = 0; t < count; t++)
                    {
                        int c = i1 + t;
                        double d = u[(long)c * cols + c], x = w[(long)r * cols + c];
                        scores[r * count + t] = x * x / (d * d);
                    }
                long k = SparsityTarget.PrunedCount(target.Ratio, (long)rows * i2) - SparsityTarget.PrunedCount(target.Ratio, (long)rows * i1);
                var blockSpan = blockKept.AsSpan(0, rows * count);
                MaskSelection.PruneLowest(scores.AsSpan(0, rows * count), k, blockSpan);
                for (int r = 0; r < rows; r++)
                    blockSpan.Slice(r * count, count).CopyTo(kept.AsSpan(r * cols + i1, count));
            }

            Parallel.For(0, rows, options, r => SweepRow(w, kept, u, err, r, cols, i1, i2, blockSize, target));

            if (i2 < cols)
                DenseKernels.AddProductNT(err, 0, blockSize, factor.LowerArray, i2 * cols + i1, cols, w, i2, cols,
                    rows, cols - i2, count, -1.0, lowerOnly: false, options);
        }

        var pruned = new float[w.Length];
        for (int i = 0; i < w.Length; i++) pruned[i] = kept[i] ? (float)w[i] : 0f;
        return new PrunedLayer(pruned, new SparsityPattern(rows, cols, kept));
    }

    /// <summary>The OBS sweep of one row over the block [i1, i2); records e_c in err[r, c − i1].</summary>
    private static void SweepRow(double[] w, bool[] kept, double[] u, double[] err, int r, int cols, int i1, int i2,
        int blockSize, SparsityTarget target)
    {
        var row = w.AsSpan(r * cols, cols);
        var rowKept = kept.AsSpan(r * cols, cols);
        var rowErr = err.AsSpan(r * blockSize, blockSize);
        Span<double> groupScores = stackalloc double[target.IsSemiStructured ? target.M : 0];
        for (int c = i1; c < i2; c++)
        {
            if (target.IsSemiStructured && (c - i1) % target.M == 0)
            {
                for (int t = 0; t < target.M; t++)
                {
                    double d = u[(long)(c + t) * cols + c + t];
                    groupScores[t] = row[c + t] * row[c + t] / (d * d);
                }
                MaskSelection.PruneLowestInGroup(groupScores, target.PrunedPerGroup, rowKept.Slice(c, target.M));
            }
            double wc = row[c], q = rowKept[c] ? wc : 0.0;
            double e = (wc - q) / u[(long)c * cols + c];
            rowErr[c - i1] = e;
            row[c] = q;
            if (e != 0 && c + 1 < i2)
            {
                var dst = row.Slice(c + 1, i2 - c - 1);
                TensorPrimitives.MultiplyAdd(u.AsSpan((int)((long)c * cols + c + 1), i2 - c - 1), -e, dst, dst);
            }
        }
    }
}
