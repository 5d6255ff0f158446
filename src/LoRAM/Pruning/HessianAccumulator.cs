using LoRAM.Tensors.Cpu.Dense;

namespace LoRAM.Pruning;

/// <summary>
/// The layer-wise Hessian of the reconstruction loss ‖WX − ŴX‖² used by SparseGPT (Frantar &amp; Alistarh 2023,
/// §3): H = (2/n) · Σ_s x_s x_sᵀ over the n calibration inputs x_s ∈ ℝ^in reaching the layer.
/// Batches are accumulated as an unscaled float64 sum S = Σ x xᵀ (lower triangle, SIMD blocked), so adding
/// batches in any split gives the same H; the 2/n scale is applied when <see cref="Hessian"/> is read.
/// </summary>
public sealed class HessianAccumulator
{
    private readonly double[] _sum; // lower triangle of Σ x xᵀ, row-major [in, in]

    public HessianAccumulator(int inputs)
    {
        if (inputs <= 0) throw new ArgumentOutOfRangeException(nameof(inputs));
        Inputs = inputs;
        _sum = new double[(long)inputs * inputs];
    }

    /// <summary>Width of the layer input (columns of W).</summary>
    public int Inputs { get; }

    /// <summary>Number of calibration rows accumulated so far.</summary>
    public long Samples { get; private set; }

    /// <summary>Adds a batch X [rows, <see cref="Inputs"/>] (row-major) of layer inputs, any number of rows.</summary>
    public void Add(ReadOnlySpan<float> inputs, int rows)
    {
        if (inputs.Length != (long)rows * Inputs) throw new ArgumentException($"expected {rows}×{Inputs} inputs, got {inputs.Length}");
        int n = Inputs;
        // Xᵀ in float64 makes every H entry a contiguous dot product of two rows of Xᵀ; chunks of rows bound
        // that copy to in × 2048 doubles.
        const int ChunkRows = 2048;
        var xt = new double[(long)n * Math.Min(rows, ChunkRows)];
        for (int s0 = 0; s0 < rows; s0 += ChunkRows)
        {
            int m = Math.Min(ChunkRows, rows - s0);
            for (int s = 0; s < m; s++)
            {
                var row = inputs.Slice((s0 + s) * n, n);
                for (int j = 0; j < n; j++) xt[(long)j * m + s] = row[j];
            }
            DenseKernels.AddProductNT(xt, 0, m, xt, 0, m, _sum, 0, n, n, n, m, 1.0, lowerOnly: true, Parallelism.Options);
        }
        Samples += rows;
    }

    /// <summary>H = (2/n) Σ x xᵀ as a full symmetric float64 matrix [in, in], row-major.</summary>
    public double[] Hessian()
    {
        if (Samples == 0) throw new InvalidOperationException("no calibration inputs were added");
        int n = Inputs;
        double scale = 2.0 / Samples;
        var h = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
                h[(long)i * n + j] = h[(long)j * n + i] = scale * _sum[(long)i * n + j];
        return h;
    }

    /// <summary>‖X_j‖₂ = sqrt(Σ_s x_sj²) per input feature j: the activation norm Wanda multiplies |W| by.</summary>
    public double[] InputNorms()
    {
        var norms = new double[Inputs];
        for (int j = 0; j < Inputs; j++) norms[j] = Math.Sqrt(_sum[(long)j * Inputs + j]);
        return norms;
    }
}
