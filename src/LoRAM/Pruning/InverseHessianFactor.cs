using LoRAM.Tensors.Cpu.Dense;

namespace LoRAM.Pruning;

/// <summary>
/// The factor SparseGPT sweeps with: the upper Cholesky factor U of the dampened inverse Hessian,
/// H⁻¹ = Uᵀ U (Frantar &amp; Alistarh 2023, Alg. 1: "H⁻¹ ← Cholesky(H⁻¹)ᵀ"). Row c of U holds, for the
/// OBS step at column c, the update direction [H_F⁻¹]_{c,:} / sqrt([H_F⁻¹]_cc) over the still-unpruned
/// columns F = {c, …, in−1}, so the whole sweep needs U alone.
/// <para>Before factoring, as SparseGPT does: dead inputs (H_jj = 0, the feature never fires) get H_jj = 1
/// and their weight column must be zeroed (<see cref="ZeroDeadColumns"/>); then λ = percdamp · mean(diag H) is
/// added to the diagonal. U is computed without forming H⁻¹: with J the reversal permutation and
/// J H J = M Mᵀ, U = J M⁻¹ J (one Cholesky and one triangular inverse, both float64 and parallel).</para>
/// </summary>
public sealed class InverseHessianFactor
{
    private readonly double[] _upper; // U, row-major [n, n]
    private readonly double[] _lower; // Uᵀ, row-major: the lazy block update reads columns of U contiguously
    private readonly bool[] _dead;

    private InverseHessianFactor(int size, double[] upper, double[] lower, bool[] dead, double damping)
    {
        Size = size; _upper = upper; _lower = lower; _dead = dead; Damping = damping;
    }

    /// <summary>Number of inputs (columns of W).</summary>
    public int Size { get; }

    /// <summary>λ added to diag H.</summary>
    public double Damping { get; }

    /// <summary>True for input features whose Hessian diagonal was 0.</summary>
    public ReadOnlySpan<bool> DeadInputs => _dead;

    /// <summary>U[i, j] (zero below the diagonal).</summary>
    public double this[int i, int j] => _upper[(long)i * Size + j];

    /// <summary>U, row-major [<see cref="Size"/>, <see cref="Size"/>].</summary>
    public ReadOnlySpan<double> Upper => _upper;

    internal double[] UpperArray => _upper;
    internal double[] LowerArray => _lower;

    /// <summary>Factors the Hessian H [n, n] (row-major, symmetric; not modified).</summary>
    /// <param name="percentDamping">SparseGPT's percdamp: λ = percdamp · mean(diag H) (default 0.01).</param>
    public static InverseHessianFactor Compute(ReadOnlySpan<double> hessian, int size, double percentDamping = 0.01)
    {
        if (hessian.Length != (long)size * size) throw new ArgumentException($"expected a {size}×{size} Hessian");
        if (percentDamping < 0) throw new ArgumentOutOfRangeException(nameof(percentDamping));
        var options = Parallelism.Options;
        int n = size;
        var dead = new bool[n];
        double meanDiag = 0;
        for (int i = 0; i < n; i++)
        {
            double d = hessian[i * n + i];
            dead[i] = d == 0;
            meanDiag += dead[i] ? 1.0 : d;
        }
        double damping = percentDamping * meanDiag / n;

        // B = J H J (+ dead fix + damping), then B = M Mᵀ.
        var b = new double[(long)n * n];
        for (int i = 0; i < n; i++)
        {
            var src = hessian.Slice((n - 1 - i) * n, n);
            for (int j = 0; j <= i; j++) b[(long)i * n + j] = src[n - 1 - j];
            int c = n - 1 - i;
            b[(long)i * n + i] = (dead[c] ? 1.0 : src[c]) + damping;
        }
        // Dead inputs: zero the off-diagonal entries too. They are 0 already whenever H came from data
        // (H_jj = 0 ⇒ x_j ≡ 0); clearing them keeps the factor well defined for hand-made Hessians.
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++)
                if (dead[n - 1 - i] || dead[n - 1 - j]) b[(long)i * n + j] = 0;
        BlockedCholesky.FactorLower(b, n, options);
        var mInv = BlockedCholesky.InvertLower(b, n, options);

        // U = J M⁻¹ J, written over B (no longer needed) to keep the peak at four n×n float64 arrays.
        var upper = b;
        var lower = new double[(long)n * n];
        Parallel.For(0, n, options, i =>
        {
            Array.Clear(upper, i * n, i);
            for (int j = i; j < n; j++)
            {
                double u = mInv[(long)(n - 1 - i) * n + (n - 1 - j)];
                upper[(long)i * n + j] = u;
                lower[(long)j * n + i] = u;
            }
        });
        return new InverseHessianFactor(n, upper, lower, dead, damping);
    }

    /// <summary>Sets W[:, j] = 0 for every dead input j of a weight W [rows, <see cref="Size"/>].</summary>
    public void ZeroDeadColumns(Span<float> weight, int rows)
    {
        for (int j = 0; j < Size; j++)
            if (_dead[j])
                for (int r = 0; r < rows; r++) weight[r * Size + j] = 0;
    }
}
