namespace LoRAM.Tensors;

/// <summary>
/// Sizes of one <see cref="Backend.Gemm"/> call, derived and checked once by <see cref="Of"/>: C[i] [M, N] =
/// op(A[i]) [M, K] · op(B[i]) [K, N] for i &lt; <see cref="Batch"/>; B is shared by every entry when
/// <see cref="BroadcastB"/>.
/// </summary>
public readonly record struct GemmDims(int M, int N, int K, long Batch, bool BroadcastB)
{
    internal static GemmDims Of(Tensor a, bool transA, Tensor b, bool transB, Tensor c)
    {
        if (a.DType != DType.F32 || c.DType != DType.F32) throw new ArgumentException($"Gemm: A and C must be F32 (got {a.DType}, {c.DType})");
        if (b.DType is not (DType.F32 or DType.BF16 or DType.F16)) throw new ArgumentException($"Gemm: B must be F32, BF16 or F16 (got {b.DType})");
        if (a.Rank < 2 || b.Rank < 2 || c.Rank < 2) throw new ArgumentException($"Gemm: operands must have rank ≥ 2 ({a}, {b}, {c})");
        int m = transA ? a.Dim(-1) : a.Dim(-2), k = transA ? a.Dim(-2) : a.Dim(-1);
        int kb = transB ? b.Dim(-1) : b.Dim(-2), n = transB ? b.Dim(-2) : b.Dim(-1);
        long batch = BatchOf(a), batchB = BatchOf(b);
        if (kb != k || c.Dim(-2) != m || c.Dim(-1) != n || BatchOf(c) != batch || (batchB != batch && batchB != 1))
            throw new ArgumentException($"Gemm: shapes do not agree: A{Shape(a)}{(transA ? "ᵀ" : "")} · B{Shape(b)}{(transB ? "ᵀ" : "")} → C{Shape(c)}");
        return new GemmDims(m, n, k, batch, batchB == 1);
    }

    /// <summary>Product of the leading (batch) dimensions.</summary>
    private static long BatchOf(Tensor t)
    {
        long p = 1;
        for (int i = 0; i < t.Rank - 2; i++) p *= t.Dim(i);
        return p;
    }

    private static string Shape(Tensor t) => $"[{string.Join(", ", t.ShapeArray())}]";
}

/// <summary>
/// Sizes of one <see cref="Backend.MultiLinear"/> call, derived and checked once by <see cref="Of"/>: x [M, K] and
/// G = <see cref="N"/>.Length weights W_g [N[g], K] of one dtype, outputs y_g [M, N[g]].
/// </summary>
public readonly record struct MultiLinearDims(int M, int K, int[] N, DType WeightType)
{
    /// <summary>Rows of all weights together (Σ N[g]).</summary>
    public int TotalRows => N.Sum();

    internal static MultiLinearDims Of(Tensor x, IReadOnlyList<Tensor> weights, IReadOnlyList<Tensor> outputs)
    {
        if (weights.Count is < 1 or > Backend.MultiLinearMax || outputs.Count != weights.Count)
            throw new ArgumentException($"MultiLinear: 1 to {Backend.MultiLinearMax} weights, one output each (got {weights.Count} weights, {outputs.Count} outputs)");
        if (x.DType != DType.F32 || x.Rank < 1) throw new ArgumentException($"MultiLinear: x must be F32 [.., k] (got {x})");
        var dtype = weights[0].DType;
        if (dtype is not (DType.F32 or DType.BF16 or DType.F16)) throw new ArgumentException($"MultiLinear: weights must be F32, BF16 or F16 (got {dtype})");
        int m = x.Rows, k = x.Cols;
        var n = new int[weights.Count];
        for (int g = 0; g < n.Length; g++)
        {
            Tensor w = weights[g], y = outputs[g];
            if (w.DType != dtype) throw new ArgumentException($"MultiLinear: every weight must have one dtype (weight 0 is {dtype}, weight {g} is {w.DType})");
            if (w.Rank != 2 || w.Dim(1) != k || y.DType != DType.F32 || y.Rank < 1 || y.Rows != m || y.Cols != w.Dim(0))
                throw new ArgumentException($"MultiLinear: shapes do not agree: x[{string.Join(", ", x.ShapeArray())}] · W{g}[{string.Join(", ", w.ShapeArray())}]ᵀ → y{g}[{string.Join(", ", y.ShapeArray())}] {y.DType}");
            n[g] = w.Dim(0);
        }
        return new MultiLinearDims(m, k, n, dtype);
    }
}

/// <summary>
/// Sizes of one <see cref="Backend.Attention"/> call, derived and checked once by <see cref="Of"/>: q [B, T, Hq, D],
/// k and v [B, S, Hkv, D], S ≥ T, Hq a multiple of Hkv (each key/value head serves <see cref="Group"/> query heads).
/// </summary>
public readonly record struct AttentionShape(int B, int T, int S, int Hq, int Hkv, int D)
{
    /// <summary>Query heads per key/value head.</summary>
    public int Group => Hq / Hkv;

    /// <summary>Rows of lse (and of the queries): B·Hq·T.</summary>
    public long QueryRows => (long)B * Hq * T;

    /// <summary>Row index of key/value (b, s, h) in [B, S, Hkv, D], in units of D.</summary>
    public long KvRow(int b, int s, int h) => ((long)b * S + s) * Hkv + h;

    internal static AttentionShape Of(Tensor q, Tensor k, Tensor v, string kernel)
    {
        if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4) throw new ArgumentException($"{kernel}: q, k, v must be [B, T|S, H, D] ({q}, {k}, {v})");
        var g = new AttentionShape(q.Dim(0), q.Dim(1), k.Dim(1), q.Dim(2), k.Dim(2), q.Dim(3));
        if (k.Dim(0) != g.B || k.Dim(3) != g.D || !k.Shape.SequenceEqual(v.Shape) || g.S < g.T || g.Hkv == 0 || g.Hq % g.Hkv != 0)
            throw new ArgumentException($"{kernel}: q {q} does not fit k {k}, v {v} (need S ≥ T, Hq a multiple of Hkv)");
        return g;
    }
}
