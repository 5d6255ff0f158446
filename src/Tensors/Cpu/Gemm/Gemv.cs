using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoRAM.Tensors.Cpu.Gemm;

/// <summary>
/// Products too thin for packing to pay, read straight from B in its stored dtype:
/// <list type="bullet">
/// <item>m = 1 (decoding one token): y = alpha·x·op(B) + beta·y. With B stored [n, k] (a Linear weight) each output
/// is one dot product of contiguous rows; with B stored [k, n] the rows of B are accumulated, axpy-style, into a
/// column strip of y held on the stack. Either way B is streamed once, which is what bounds this case.</item>
/// <item>small k (the rank-r LoRA product [m×r]·[r×n], r ≤ <see cref="SmallK"/>): every output needs only k FMAs, so
/// the cost is writing C; op(B) is widened one column strip at a time (k × strip floats) and each row of C is
/// produced in a single pass.</item>
/// </list>
/// </summary>
internal static unsafe class Gemv
{
    /// <summary>Largest k handled by <see cref="SmallInner"/>.</summary>
    internal const int SmallK = 16;
    private const int Strip = 256;

    // ---- m = 1 -------------------------------------------------------------------------------------

    public static void Run(float* x, MatrixB b, float* y, float alpha, float beta, int threads, ParallelOptions parallel)
    {
        int n = b.N;
        // Chunks of outputs per task: enough work per task to amortise scheduling (≥ 64 outputs and ≥ ~64k MACs).
        int per = Math.Max(b.Trans ? Math.Max(16, 65536 / Math.Max(1, b.K)) : Strip, (n + threads - 1) / threads);
        if (!b.Trans) per = (per + Strip - 1) / Strip * Strip;
        int chunks = (n + per - 1) / per;
        if (threads > 1 && chunks > 1)
            System.Threading.Tasks.Parallel.For(0, chunks, parallel, t => Chunk(x, b, y, alpha, beta, t * per, Math.Min(n, (t + 1) * per)));
        else
            Chunk(x, b, y, alpha, beta, 0, n);
    }

    private static void Chunk(float* x, MatrixB b, float* y, float alpha, float beta, int j0, int j1)
    {
        int k = b.K;
        if (b.Trans)
        {
            float* row = b.DType == DType.F16 ? Scratch.Current.Get(Scratch.Row, k) : null;
            for (int j = j0; j < j1; j++)
            {
                float dot = Dot(x, b.Address(0, j), b.DType, k, row);
                y[j] = beta == 0f ? alpha * dot : alpha * dot + beta * y[j];
            }
            return;
        }
        float* acc = stackalloc float[Strip];
        float* wide = stackalloc float[Strip];
        for (int s = j0; s < j1; s += Strip)
        {
            int w = Math.Min(Strip, j1 - s);
            var accSpan = new Span<float>(acc, w);
            accSpan.Clear();
            for (int p = 0; p < k; p++)
            {
                float xp = x[p];
                if (b.DType == DType.F32)
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(b.Address(p, s), w), xp, accSpan, accSpan);
                else
                {
                    Widen.Run(b.Address(p, s), b.DType, wide, w);
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(wide, w), xp, accSpan, accSpan);
                }
            }
            Store(acc, y + s, w, alpha, beta);
        }
    }

    /// <summary>Σ x[p]·w[p] over k elements of w in its dtype; F16 goes through <paramref name="row"/> (k floats).</summary>
    private static float Dot(float* x, byte* w, DType dtype, int k, float* row)
    {
        switch (dtype)
        {
            case DType.F32:
                return TensorPrimitives.Dot(new ReadOnlySpan<float>(x, k), new ReadOnlySpan<float>(w, k));
            case DType.BF16:
                return DotBf16(x, (ushort*)w, k);
            default:
                Widen.Run(w, dtype, row, k);
                return TensorPrimitives.Dot(new ReadOnlySpan<float>(x, k), new ReadOnlySpan<float>(row, k));
        }
    }

    private static float DotBf16(float* x, ushort* w, int k)
    {
        int i = 0;
        float sum = 0f;
        if (Avx512F.IsSupported)
        {
            Vector512<float> s0 = default, s1 = default;
            for (; i + 32 <= k; i += 32)
            {
                var w0 = Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Avx.LoadVector256(w + i)), 16).AsSingle();
                var w1 = Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Avx.LoadVector256(w + i + 16)), 16).AsSingle();
                s0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x + i), w0, s0);
                s1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x + i + 16), w1, s1);
            }
            sum = Vector512.Sum(Avx512F.Add(s0, s1));
        }
        else if (Avx2.IsSupported && Fma.IsSupported)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i + 16 <= k; i += 16)
            {
                var w0 = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Sse2.LoadVector128(w + i)), 16).AsSingle();
                var w1 = Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Sse2.LoadVector128(w + i + 8)), 16).AsSingle();
                s0 = Fma.MultiplyAdd(Avx.LoadVector256(x + i), w0, s0);
                s1 = Fma.MultiplyAdd(Avx.LoadVector256(x + i + 8), w1, s1);
            }
            sum = Vector256.Sum(Avx.Add(s0, s1));
        }
        for (; i < k; i++) sum = MathF.FusedMultiplyAdd(x[i], BFloat16.ToSingle(w[i]), sum);
        return sum;
    }

    /// <summary>y[0..w) = alpha·acc + beta·y, not reading y when beta = 0 (so NaNs there are ignored).</summary>
    private static void Store(float* acc, float* y, int w, float alpha, float beta)
    {
        var a = new ReadOnlySpan<float>(acc, w);
        var dst = new Span<float>(y, w);
        if (beta == 0f) TensorPrimitives.Multiply(a, alpha, dst);
        else
        {
            TensorPrimitives.Multiply(dst, beta, dst);
            TensorPrimitives.MultiplyAdd(a, alpha, dst, dst);
        }
    }

    // ---- small k ----------------------------------------------------------------------------------

    /// <summary>C = alpha·op(A)·op(B) + beta·C for k ≤ <see cref="SmallK"/>: per column strip, op(B) is widened to
    /// k × strip floats (tiny: it is the low-rank factor), then each row of C is Σ_p A(i, p)·B̂[p] in one pass.</summary>
    public static void SmallInner(MatrixA a, MatrixB b, float* c, float alpha, float beta, int threads, ParallelOptions parallel)
    {
        int m = a.M, n = b.N, k = a.K;
        int strips = (n + Strip - 1) / Strip;
        // Parallel over rows: each task handles a row range across every strip (its strip of B is re-widened per
        // task, k·Strip elements, negligible next to rows·Strip outputs).
        int rowsPer = Math.Max(8, (m + threads - 1) / threads);
        int tasks = (m + rowsPer - 1) / rowsPer;
        if (threads > 1 && tasks > 1)
            System.Threading.Tasks.Parallel.For(0, tasks, parallel, t => SmallRows(a, b, c, alpha, beta, t * rowsPer, Math.Min(m, (t + 1) * rowsPer), strips));
        else
            SmallRows(a, b, c, alpha, beta, 0, m, strips);
    }

    private static void SmallRows(MatrixA a, MatrixB b, float* c, float alpha, float beta, int i0, int i1, int strips)
    {
        int n = b.N, k = a.K;
        var scratch = Scratch.Current;
        float* bs = scratch.Get(Scratch.PackedB, (long)k * Strip);
        float* col = scratch.Get(Scratch.Row, k);
        float* acc = stackalloc float[Strip];
        float* ai = stackalloc float[SmallK];
        for (int s = 0; s < strips; s++)
        {
            int j0 = s * Strip, w = Math.Min(Strip, n - j0);
            WidenStrip(b, j0, w, bs, col);
            for (int i = i0; i < i1; i++)
            {
                for (int p = 0; p < k; p++) ai[p] = a[i, p];
                var accSpan = new Span<float>(acc, w);
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(bs, w), ai[0], accSpan);
                for (int p = 1; p < k; p++)
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(bs + p * Strip, w), ai[p], accSpan, accSpan);
                Store(acc, c + (long)i * n + j0, w, alpha, beta);
            }
        }
    }

    /// <summary>bs[p·Strip + jj] = op(B)(p, j0 + jj) for p &lt; k, jj &lt; w.</summary>
    private static void WidenStrip(MatrixB b, int j0, int w, float* bs, float* col)
    {
        int k = b.K;
        if (!b.Trans)
        {
            for (int p = 0; p < k; p++) Widen.Run(b.Address(p, j0), b.DType, bs + p * Strip, w);
            return;
        }
        for (int jj = 0; jj < w; jj++)
        {
            Widen.Run(b.Address(0, j0 + jj), b.DType, col, k);
            for (int p = 0; p < k; p++) bs[p * Strip + jj] = col[p];
        }
    }
}
