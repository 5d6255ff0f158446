using LoRAM.Tensors.Cpu.Dense;

namespace LoRAM.Pruning;

/// <summary>A pruned linear layer: the weights Ŵ [rows = out, cols = in] (zero where pruned) and their mask.</summary>
public sealed class PrunedLayer
{
    public PrunedLayer(float[] weights, SparsityPattern mask)
    {
        if (weights.Length != (long)mask.Rows * mask.Cols) throw new ArgumentException("weights and mask shapes differ");
        Weights = weights; Mask = mask;
    }

    public float[] Weights { get; }
    public SparsityPattern Mask { get; }
    public int Rows => Mask.Rows;
    public int Cols => Mask.Cols;

    /// <summary>
    /// ‖W X − Ŵ X‖²_F (float64) over inputs X [samples, cols] (row-major, one input per row): the layer-wise
    /// reconstruction error SparseGPT minimises.
    /// </summary>
    public double ReconstructionError(ReadOnlySpan<float> original, ReadOnlySpan<float> inputs, int samples) =>
        ReconstructionError(original, Weights, Rows, Cols, inputs, samples);

    /// <inheritdoc cref="ReconstructionError(ReadOnlySpan{float}, ReadOnlySpan{float}, int)"/>
    public static double ReconstructionError(ReadOnlySpan<float> original, ReadOnlySpan<float> pruned, int rows, int cols,
        ReadOnlySpan<float> inputs, int samples)
    {
        if (original.Length != (long)rows * cols || pruned.Length != original.Length) throw new ArgumentException("weight shapes differ");
        if (inputs.Length != (long)samples * cols) throw new ArgumentException($"expected {samples}×{cols} inputs");
        var delta = new double[(long)rows * cols];
        for (int i = 0; i < delta.Length; i++) delta[i] = (double)original[i] - pruned[i];
        var x = new double[(long)samples * cols];
        for (int i = 0; i < x.Length; i++) x[i] = inputs[i];
        var y = new double[(long)samples * rows]; // (X ΔWᵀ)[s, r]
        DenseKernels.AddProductNT(x, 0, cols, delta, 0, cols, y, 0, rows, samples, rows, cols, 1.0, false, Parallelism.Options);
        double sum = 0;
        foreach (double v in y) sum += v * v;
        return sum;
    }
}
