using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoRAM.Tensors.Cpu.Gemm;

/// <summary>
/// Products too thin for packing to pay, read straight from B in its stored dtype:
/// <list type="bullet">
/// <item>m = 1 (decoding one token): y = alpha·x·op(B) + beta·y. With B stored [n, k] (a Linear weight) each output
/// is one dot product of two contiguous rows; with B stored [k, n] a block of 64 outputs stays in registers while
/// the k rows of B stream past. Either way B is read exactly once, which is what bounds this case.</item>
/// <item>2 ≤ m ≤ 4 with B stored [n, k] (a few sequences decoding together): each row of B is loaded once and dotted
/// with every row of A.</item>
/// <item>small k (the rank-r LoRA product [m×r]·[r×n], r ≤ <see cref="SmallK"/>): each output needs only k FMAs, so
/// the cost is writing C. op(B) is widened one column strip at a time (k × <see cref="Strip"/> floats, in L1) and
/// each 16-wide piece of a row of C is Σ_p A(i, p)·B̂[p] computed in registers and stored once.</item>
/// </list>
/// The vector width follows the selected kernel (AVX-512, AVX2+FMA or scalar); tails are scalar.
/// </summary>
internal static unsafe class Gemv
{
    /// <summary>Largest k handled by <see cref="SmallInner"/>.</summary>
    internal const int SmallK = 16;
    private const int Strip = 512;

    // The vector width follows the caller's kernel choice (isa), so tests cover the AVX2 and scalar loops too.

    // ---- m = 1 -------------------------------------------------------------------------------------

    /// <summary>
    /// Tasks per thread of a decoding product. More than one: Parallel.For hands tasks out as threads come free, so
    /// when a worker starts late (its core busy with another job, or waking up) the others take its share instead of
    /// waiting for it at the join; with one task per thread the slowest thread sets the time of every product.
    /// </summary>
    internal const int TasksPerThread = 4;

    public static void Run(float* x, MatrixB b, float* y, float alpha, float beta, GemmKernel isa, int threads, ParallelOptions parallel)
    {
        switch (b.DType)
        {
            case DType.F32: Run<F32Widen>(x, b, y, alpha, beta, isa, threads, parallel); break;
            case DType.BF16: Run<Bf16Widen>(x, b, y, alpha, beta, isa, threads, parallel); break;
            default: Run<F16Widen>(x, b, y, alpha, beta, isa, threads, parallel); break;
        }
    }

    private static void Run<W>(float* x, MatrixB b, float* y, float alpha, float beta, GemmKernel isa, int threads, ParallelOptions parallel) where W : struct, IWiden
    {
        int n = b.N;
        // Outputs per task: at least 64 and ~64k multiply-adds, so scheduling is amortised; a multiple of 64.
        int per = Math.Max(Math.Max(64, 65536 / Math.Max(1, b.K)), (n + threads * TasksPerThread - 1) / (threads * TasksPerThread));
        per = (per + 63) / 64 * 64;
        Workers.For((n + per - 1) / per, threads, parallel, new VectorChunk<W>(x, b, y, alpha, beta, isa, per));
    }

    private readonly struct VectorChunk<W>(float* x, MatrixB b, float* y, float alpha, float beta, GemmKernel isa, int per) : IWorkItem where W : struct, IWiden
    {
        public void Run(int t) => Chunk<W>(x, b, y, alpha, beta, isa, t * per, Math.Min(b.N, (t + 1) * per));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Chunk<W>(float* x, MatrixB b, float* y, float alpha, float beta, GemmKernel isa, int j0, int j1) where W : struct, IWiden
    {
        bool v512 = isa == GemmKernel.Avx512, v256 = isa == GemmKernel.Avx2;
        int k = b.K;
        if (b.Trans)
        {
            if (typeof(W) == typeof(Bf16Widen) && (v512 || v256))
            {
                Bf16Gemv.Rows(x, (ushort*)b.P, k, y, alpha, beta, j0, j1);   // decoding's BF16 case: its own loop
                return;
            }
            for (int j = j0; j < j1; j++)
            {
                float dot = Dot<W>(x, b.Address(0, j), k, isa);
                y[j] = beta == 0f ? alpha * dot : alpha * dot + beta * y[j];
            }
            return;
        }
        long ldb = (long)b.N * W.Size;
        int jv = j0;
        if (v512)
        {
            for (; jv + 64 <= j1; jv += 64)
            {
                Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
                byte* row = b.Address(0, jv);
                for (int p = 0; p < k; p++, row += ldb)
                {
                    var xp = Vector512.Create(x[p]);
                    s0 = Avx512F.FusedMultiplyAdd(xp, W.Load16(row), s0);
                    s1 = Avx512F.FusedMultiplyAdd(xp, W.Load16(row + 16 * W.Size), s1);
                    s2 = Avx512F.FusedMultiplyAdd(xp, W.Load16(row + 32 * W.Size), s2);
                    s3 = Avx512F.FusedMultiplyAdd(xp, W.Load16(row + 48 * W.Size), s3);
                }
                Store(y + jv, s0, alpha, beta); Store(y + jv + 16, s1, alpha, beta);
                Store(y + jv + 32, s2, alpha, beta); Store(y + jv + 48, s3, alpha, beta);
            }
        }
        else if (v256)
        {
            for (; jv + 32 <= j1; jv += 32)
            {
                Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
                byte* row = b.Address(0, jv);
                for (int p = 0; p < k; p++, row += ldb)
                {
                    var xp = Vector256.Create(x[p]);
                    s0 = Fma.MultiplyAdd(xp, W.Load8(row), s0);
                    s1 = Fma.MultiplyAdd(xp, W.Load8(row + 8 * W.Size), s1);
                    s2 = Fma.MultiplyAdd(xp, W.Load8(row + 16 * W.Size), s2);
                    s3 = Fma.MultiplyAdd(xp, W.Load8(row + 24 * W.Size), s3);
                }
                Store(y + jv, s0, alpha, beta); Store(y + jv + 8, s1, alpha, beta);
                Store(y + jv + 16, s2, alpha, beta); Store(y + jv + 24, s3, alpha, beta);
            }
        }
        for (; jv < j1; jv++)
        {
            float sum = 0f;
            byte* e = b.Address(0, jv);
            for (int p = 0; p < k; p++, e += ldb) sum = MathF.FusedMultiplyAdd(x[p], W.One(e), sum);
            y[jv] = beta == 0f ? alpha * sum : alpha * sum + beta * y[jv];
        }
    }

    /// <summary>Σ x[p]·w[p] over k contiguous elements of w in its dtype.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot<W>(float* x, byte* w, int k, GemmKernel isa) where W : struct, IWiden
    {
        bool v512 = isa == GemmKernel.Avx512, v256 = isa == GemmKernel.Avx2;
        int i = 0;
        float sum = 0f;
        if (v512)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (; i + 64 <= k; i += 64)
            {
                s0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x + i), W.Load16(w + i * W.Size), s0);
                s1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x + i + 16), W.Load16(w + (i + 16) * W.Size), s1);
                s2 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x + i + 32), W.Load16(w + (i + 32) * W.Size), s2);
                s3 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x + i + 48), W.Load16(w + (i + 48) * W.Size), s3);
            }
            for (; i + 16 <= k; i += 16)
                s0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x + i), W.Load16(w + i * W.Size), s0);
            sum = Vector512.Sum(Avx512F.Add(Avx512F.Add(s0, s1), Avx512F.Add(s2, s3)));
        }
        else if (v256)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i + 16 <= k; i += 16)
            {
                s0 = Fma.MultiplyAdd(Avx.LoadVector256(x + i), W.Load8(w + i * W.Size), s0);
                s1 = Fma.MultiplyAdd(Avx.LoadVector256(x + i + 8), W.Load8(w + (i + 8) * W.Size), s1);
            }
            sum = Vector256.Sum(Avx.Add(s0, s1));
        }
        for (; i < k; i++) sum = MathF.FusedMultiplyAdd(x[i], W.One(w + i * W.Size), sum);
        return sum;
    }

    // ---- 2 ≤ m ≤ 4, B stored [n, k] (a few sequences decoding together) ---------------------------------

    /// <summary>Largest m handled by <see cref="RunRows"/>.</summary>
    internal const int MaxRows = 4;

    /// <summary>C = alpha·A·Bᵀ + beta·C for A [m ≤ 4, k] row-major and B stored [n, k]: each row of B is loaded once
    /// and dotted with every row of A, so B is still streamed once (packing it would cost more than the product).</summary>
    public static void RunRows(MatrixA a, MatrixB b, float* c, float alpha, float beta, GemmKernel isa, int threads, ParallelOptions parallel)
    {
        switch (b.DType)
        {
            case DType.F32: RunRows<F32Widen>(a, b, c, alpha, beta, isa, threads, parallel); break;
            case DType.BF16: RunRows<Bf16Widen>(a, b, c, alpha, beta, isa, threads, parallel); break;
            default: RunRows<F16Widen>(a, b, c, alpha, beta, isa, threads, parallel); break;
        }
    }

    private static void RunRows<W>(MatrixA a, MatrixB b, float* c, float alpha, float beta, GemmKernel isa, int threads, ParallelOptions parallel) where W : struct, IWiden
    {
        int n = b.N;
        int per = Math.Max(Math.Max(16, 65536 / Math.Max(1, a.M * b.K)), (n + threads - 1) / threads);
        Workers.For((n + per - 1) / per, threads, parallel, new RowsChunk<W>(a, b, c, alpha, beta, isa, per));
    }

    private readonly struct RowsChunk<W>(MatrixA a, MatrixB b, float* c, float alpha, float beta, GemmKernel isa, int per) : IWorkItem where W : struct, IWiden
    {
        public void Run(int t) => DotRows<W>(a, b, c, alpha, beta, isa, t * per, Math.Min(b.N, (t + 1) * per));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotRows<W>(MatrixA a, MatrixB b, float* c, float alpha, float beta, GemmKernel isa, int j0, int j1) where W : struct, IWiden
    {
        bool v512 = isa == GemmKernel.Avx512, v256 = isa == GemmKernel.Avx2;
        int m = a.M, k = a.K, n = b.N;
        // Rows past m alias row 0: computed and discarded, so the loop body is the same for every m ≤ 4.
        float* x0 = a.P, x1 = a.P + (m > 1 ? k : 0), x2 = a.P + (m > 2 ? 2L * k : 0), x3 = a.P + (m > 3 ? 3L * k : 0);
        float* sums = stackalloc float[MaxRows];
        for (int j = j0; j < j1; j++)
        {
            byte* w = b.Address(0, j);
            int i = 0;
            float t0 = 0f, t1 = 0f, t2 = 0f, t3 = 0f;
            if (v512)
            {
                Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
                for (; i + 16 <= k; i += 16)
                {
                    var wv = W.Load16(w + i * W.Size);
                    s0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x0 + i), wv, s0);
                    s1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x1 + i), wv, s1);
                    s2 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x2 + i), wv, s2);
                    s3 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x3 + i), wv, s3);
                }
                t0 = Vector512.Sum(s0); t1 = Vector512.Sum(s1); t2 = Vector512.Sum(s2); t3 = Vector512.Sum(s3);
            }
            else if (v256)
            {
                Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
                for (; i + 8 <= k; i += 8)
                {
                    var wv = W.Load8(w + i * W.Size);
                    s0 = Fma.MultiplyAdd(Avx.LoadVector256(x0 + i), wv, s0);
                    s1 = Fma.MultiplyAdd(Avx.LoadVector256(x1 + i), wv, s1);
                    s2 = Fma.MultiplyAdd(Avx.LoadVector256(x2 + i), wv, s2);
                    s3 = Fma.MultiplyAdd(Avx.LoadVector256(x3 + i), wv, s3);
                }
                t0 = Vector256.Sum(s0); t1 = Vector256.Sum(s1); t2 = Vector256.Sum(s2); t3 = Vector256.Sum(s3);
            }
            for (; i < k; i++)
            {
                float wi = W.One(w + i * W.Size);
                t0 = MathF.FusedMultiplyAdd(x0[i], wi, t0); t1 = MathF.FusedMultiplyAdd(x1[i], wi, t1);
                t2 = MathF.FusedMultiplyAdd(x2[i], wi, t2); t3 = MathF.FusedMultiplyAdd(x3[i], wi, t3);
            }
            sums[0] = t0; sums[1] = t1; sums[2] = t2; sums[3] = t3;
            for (int r = 0; r < m; r++)
            {
                float* y = c + (long)r * n + j;
                *y = beta == 0f ? alpha * sums[r] : alpha * sums[r] + beta * *y;
            }
        }
    }

    // ---- several weights sharing A (decoding's q/k/v and gate/up) -----------------------------------

    /// <summary>Up to <see cref="Backend.MultiLinearMax"/> weights stored [n_g, k] (B0 first) and their outputs
    /// C_g [m, n_g]; unused slots have n = 0.</summary>
    internal readonly struct SharedWeights(MatrixB b0, float* c0, MatrixB b1, float* c1, MatrixB b2, float* c2)
    {
        public readonly MatrixB B0 = b0, B1 = b1, B2 = b2;
        public readonly float* C0 = c0, C1 = c1, C2 = c2;
        public int Rows => B0.N + B1.N + B2.N;
    }

    /// <summary>C_g = A·B_gᵀ for every weight of <paramref name="w"/> and A [m ≤ 4, k] row-major, as one parallel loop
    /// over the rows of all B_g taken as one [Σn_g, k] matrix: one fork/join for the group instead of one per
    /// weight. A task's rows may end in one weight and go on in the next.</summary>
    public static void RunShared(MatrixA a, SharedWeights w, GemmKernel isa, int threads, ParallelOptions parallel)
    {
        switch (w.B0.DType)
        {
            case DType.F32: RunShared<F32Widen>(a, w, isa, threads, parallel); break;
            case DType.BF16: RunShared<Bf16Widen>(a, w, isa, threads, parallel); break;
            default: RunShared<F16Widen>(a, w, isa, threads, parallel); break;
        }
    }

    private static void RunShared<W>(MatrixA a, SharedWeights w, GemmKernel isa, int threads, ParallelOptions parallel) where W : struct, IWiden
    {
        int rows = w.Rows;
        // Rows per task: ~64k multiply-adds at least (scheduling amortised), else TasksPerThread tasks per thread.
        int per = Math.Max(Math.Max(16, 65536 / Math.Max(1, a.M * a.K)), (rows + threads * TasksPerThread - 1) / (threads * TasksPerThread));
        Workers.For((rows + per - 1) / per, threads, parallel, new SharedChunk<W>(a, w, isa, per));
    }

    private readonly struct SharedChunk<W>(MatrixA a, SharedWeights w, GemmKernel isa, int per) : IWorkItem where W : struct, IWiden
    {
        public void Run(int t)
        {
            int r0 = t * per, r1 = Math.Min(w.Rows, (t + 1) * per);
            int n0 = w.B0.N, n01 = n0 + w.B1.N;
            Piece(w.B0, w.C0, r0, Math.Min(r1, n0), 0);
            Piece(w.B1, w.C1, Math.Max(r0, n0), Math.Min(r1, n01), n0);
            Piece(w.B2, w.C2, Math.Max(r0, n01), r1, n01);
        }

        /// <summary>Rows [r0, r1) of the concatenation, which belong to B (whose first row is row <paramref name="first"/>).</summary>
        private void Piece(MatrixB b, float* c, int r0, int r1, int first)
        {
            if (r0 >= r1) return;
            if (a.M == 1) Chunk<W>(a.P, b, c, 1f, 0f, isa, r0 - first, r1 - first);
            else DotRows<W>(a, b, c, 1f, 0f, isa, r0 - first, r1 - first);
        }
    }

    // ---- small k ----------------------------------------------------------------------------------

    /// <summary>C = alpha·op(A)·op(B) + beta·C for k ≤ <see cref="SmallK"/>, parallel over row ranges (each task
    /// re-widens its strips of B: k·n elements, negligible next to its rows·n outputs).</summary>
    public static void SmallInner(MatrixA a, MatrixB b, float* c, float alpha, float beta, GemmKernel isa, int threads, ParallelOptions parallel)
    {
        int m = a.M;
        int rowsPer = Math.Max(16, (m + threads - 1) / threads);
        Workers.For((m + rowsPer - 1) / rowsPer, threads, parallel, new RowRange(a, b, c, alpha, beta, isa, rowsPer));
    }

    private readonly struct RowRange(MatrixA a, MatrixB b, float* c, float alpha, float beta, GemmKernel isa, int rowsPer) : IWorkItem
    {
        public void Run(int t) => SmallRows(a, b, c, alpha, beta, isa, t * rowsPer, Math.Min(a.M, (t + 1) * rowsPer));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SmallRows(MatrixA a, MatrixB b, float* c, float alpha, float beta, GemmKernel isa, int i0, int i1)
    {
        bool v512 = isa == GemmKernel.Avx512, v256 = isa == GemmKernel.Avx2;
        int n = b.N, k = a.K;
        var scratch = Scratch.Current;
        float* bs = scratch.Get(Scratch.PackedB, (long)k * Strip);
        float* col = scratch.Get(Scratch.Row, k);
        float* ai = stackalloc float[4 * SmallK];
        for (int j0 = 0; j0 < n; j0 += Strip)
        {
            int w = Math.Min(Strip, n - j0);
            WidenStrip(b, j0, w, bs, col, isa);
            int i = i0;
            if (v512)
            {
                // Four rows at a time share each load of B̂: 1 load + 4 FMAs (broadcast operands) per p.
                for (; i + 4 <= i1; i += 4)
                {
                    for (int r = 0; r < 4; r++)
                        for (int p = 0; p < k; p++) ai[r * SmallK + p] = a[i + r, p];
                    float* c0 = c + (long)i * n + j0;
                    for (int jv = 0; jv + 16 <= w; jv += 16)
                    {
                        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
                        float* bp = bs + jv;
                        for (int p = 0; p < k; p++, bp += Strip)
                        {
                            var bv = Avx512F.LoadVector512(bp);
                            s0 = Avx512F.FusedMultiplyAdd(Vector512.Create(ai[p]), bv, s0);
                            s1 = Avx512F.FusedMultiplyAdd(Vector512.Create(ai[SmallK + p]), bv, s1);
                            s2 = Avx512F.FusedMultiplyAdd(Vector512.Create(ai[2 * SmallK + p]), bv, s2);
                            s3 = Avx512F.FusedMultiplyAdd(Vector512.Create(ai[3 * SmallK + p]), bv, s3);
                        }
                        Store(c0 + jv, s0, alpha, beta);
                        Store(c0 + n + jv, s1, alpha, beta);
                        Store(c0 + 2L * n + jv, s2, alpha, beta);
                        Store(c0 + 3L * n + jv, s3, alpha, beta);
                    }
                    for (int r = 0; r < 4; r++) ScalarTail(ai + r * SmallK, bs, c0 + (long)r * n, k, w & ~15, w, alpha, beta);
                }
            }
            for (; i < i1; i++)
            {
                for (int p = 0; p < k; p++) ai[p] = a[i, p];
                float* crow = c + (long)i * n + j0;
                int jv = 0;
                if (v512)
                    for (; jv + 16 <= w; jv += 16)
                    {
                        var s = Avx512F.Multiply(Vector512.Create(ai[0]), Avx512F.LoadVector512(bs + jv));
                        for (int p = 1; p < k; p++) s = Avx512F.FusedMultiplyAdd(Vector512.Create(ai[p]), Avx512F.LoadVector512(bs + p * Strip + jv), s);
                        Store(crow + jv, s, alpha, beta);
                    }
                else if (v256)
                    for (; jv + 8 <= w; jv += 8)
                    {
                        var s = Avx.Multiply(Vector256.Create(ai[0]), Avx.LoadVector256(bs + jv));
                        for (int p = 1; p < k; p++) s = Fma.MultiplyAdd(Vector256.Create(ai[p]), Avx.LoadVector256(bs + p * Strip + jv), s);
                        Store(crow + jv, s, alpha, beta);
                    }
                ScalarTail(ai, bs, crow, k, jv, w, alpha, beta);
            }
        }
    }

    /// <summary>Columns [from, to) of one row of the small-k product, one at a time.</summary>
    private static void ScalarTail(float* ai, float* bs, float* crow, int k, int from, int to, float alpha, float beta)
    {
        for (int jv = from; jv < to; jv++)
        {
            float s = 0f;
            for (int p = 0; p < k; p++) s = MathF.FusedMultiplyAdd(ai[p], bs[p * Strip + jv], s);
            crow[jv] = beta == 0f ? alpha * s : alpha * s + beta * crow[jv];
        }
    }

    /// <summary>bs[p·Strip + jj] = op(B)(p, j0 + jj) for p &lt; k, jj &lt; w.</summary>
    private static void WidenStrip(MatrixB b, int j0, int w, float* bs, float* col, GemmKernel isa)
    {
        int k = b.K;
        if (!b.Trans)
        {
            for (int p = 0; p < k; p++) Widen.Run(b.Address(p, j0), b.DType, bs + p * Strip, w, isa);
            return;
        }
        for (int jj = 0; jj < w; jj++)
        {
            Widen.Run(b.Address(0, j0 + jj), b.DType, col, k, isa);
            for (int p = 0; p < k; p++) bs[p * Strip + jj] = col[p];
        }
    }

    /// <summary>y = alpha·s + beta·y, not reading y when beta = 0 (so NaNs there are ignored).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* y, Vector512<float> s, float alpha, float beta) =>
        Avx512F.Store(y, beta == 0f ? Avx512F.Multiply(s, Vector512.Create(alpha))
            : Avx512F.FusedMultiplyAdd(s, Vector512.Create(alpha), Avx512F.Multiply(Avx512F.LoadVector512(y), Vector512.Create(beta))));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* y, Vector256<float> s, float alpha, float beta) =>
        Avx.Store(y, beta == 0f ? Avx.Multiply(s, Vector256.Create(alpha))
            : Fma.MultiplyAdd(s, Vector256.Create(alpha), Avx.Multiply(Avx.LoadVector256(y), Vector256.Create(beta))));
}
