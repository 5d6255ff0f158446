namespace LoRAM.Pruning;

/// <summary>
/// What a non-structured pruner must reach: either an unstructured ratio p (exactly ⌊p · count⌋ weights
/// removed in the pruner's comparison group), or N:M semi-structured sparsity — at most N weights kept in
/// every run of M consecutive inputs of a row, i.e. exactly M − N removed (2:4 and 4:8 remove half).
/// </summary>
public readonly record struct SparsityTarget
{
    private SparsityTarget(double ratio, int n, int m) { Ratio = ratio; N = n; M = m; }

    /// <summary>Fraction of weights removed.</summary>
    public double Ratio { get; }

    /// <summary>Kept weights per group (0 for unstructured).</summary>
    public int N { get; }

    /// <summary>Group width along the input dimension (0 for unstructured).</summary>
    public int M { get; }

    public bool IsSemiStructured => M > 0;

    /// <summary>Weights removed per group of <see cref="M"/>.</summary>
    public int PrunedPerGroup => M - N;

    public static SparsityTarget Unstructured(double ratio)
    {
        if (!(ratio >= 0 && ratio < 1)) throw new ArgumentOutOfRangeException(nameof(ratio), "sparsity ratio must be in [0, 1)");
        return new SparsityTarget(ratio, 0, 0);
    }

    public static SparsityTarget SemiStructured(int n, int m)
    {
        if (m <= 0 || n <= 0 || n > m) throw new ArgumentOutOfRangeException(nameof(n), $"invalid N:M = {n}:{m}");
        return new SparsityTarget(1.0 - (double)n / m, n, m);
    }

    /// <summary>⌊p · count⌋, robust to p · count landing a rounding error below an integer.</summary>
    internal static long PrunedCount(double ratio, long count) => (long)Math.Floor(ratio * count + 1e-9);

    public override string ToString() => IsSemiStructured ? $"{N}:{M}" : $"unstructured {Ratio:P1}";
}
