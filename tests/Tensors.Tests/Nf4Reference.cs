namespace LoRAM.Tensors.Tests;

/// <summary>
/// A random NF4 matrix and its float64 reference products, written from <see cref="Nf4Matrix"/>'s definition:
/// ŵ_i = NF4[code_i]·absmax_{i/64} (a float32 product), code_i the high nibble of byte i/2 for even i, else the low.
/// Random bytes make every code reachable; scales are uniform in [0.25, 2). Any shape: blocks run along the flattened
/// matrix (a block straddles two rows when Cols is not a multiple of 64; an odd count leaves the last low nibble unused,
/// and it is random here, so a kernel that reads it shows).
/// </summary>
public sealed class Nf4Reference
{
    public Nf4Reference(int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        Rows = rows; Cols = cols;
        Codes = new byte[(rows * cols + 1) / 2];
        rng.NextBytes(Codes);
        Absmax = new float[(rows * cols + Nf4Matrix.BlockSize - 1) / Nf4Matrix.BlockSize];
        for (int b = 0; b < Absmax.Length; b++) Absmax[b] = (float)(0.25 + 1.75 * rng.NextDouble());
        Dequantized = new float[rows * cols];
        for (int i = 0; i < Dequantized.Length; i++)
        {
            int code = i % 2 == 0 ? Codes[i / 2] >> 4 : Codes[i / 2] & 0xF;
            Dequantized[i] = Nf4Matrix.Levels[code] * Absmax[i / Nf4Matrix.BlockSize];
        }
    }

    public int Rows { get; }
    public int Cols { get; }
    public byte[] Codes { get; }
    public float[] Absmax { get; }

    /// <summary>Ŵ [Rows, Cols] in float32, as the definition computes it.</summary>
    public float[] Dequantized { get; }

    public Nf4Matrix Upload(Backend backend) => new(
        Tensor.FromSpan<byte>(backend, Codes, DType.U8, Codes.Length),
        Tensor.FromSpan<float>(backend, Absmax, DType.F32, Absmax.Length), Rows, Cols);

    /// <summary>alpha·A·op(Ŵ) + beta·C in float64; A [m, k], op(Ŵ) = Ŵᵀ when transW.</summary>
    public double[] Product(float[] a, int m, bool transW, float[]? c, double alpha, double beta)
    {
        int k = transW ? Cols : Rows, n = transW ? Rows : Cols;
        return Reference.Gemm(a, false, Dequantized, transW, c, 1, m, n, k, alpha: alpha, beta: beta);
    }

    /// <summary>Per-element bound |err| ≤ abs + rel·|expected| for float32 sums of k products of A in [−1, 1) and |ŵ| ≤ 2:
    /// rel 1e-5, abs 4e-5·√k (twice the dense GEMM tests' 2e-5·√k, as |ŵ| reaches 2).</summary>
    public static (double Rel, double Abs) Bound(int k) => (1e-5, 4e-5 * Math.Sqrt(Math.Max(1, k)));

    public static void Free(Nf4Matrix w)
    {
        w.Codes.Dispose();
        w.Absmax.Dispose();
    }
}
