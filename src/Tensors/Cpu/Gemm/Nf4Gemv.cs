using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoRAM.Tensors.Cpu.Gemm;

/// <summary>
/// NF4 products with m ≤ 4 rows (decoding), where packing would cost more than the product. W is streamed once,
/// a piece at a time decoded into a per-thread buffer that stays in L1:
/// <list type="bullet">
/// <item>op(B) = Wᵀ (forward, y = x·Ŵᵀ): output j is Σ_p x[p]·ŵ[j, p]; row j of W is decoded (k floats) and dotted
/// with each of the m rows of x.</item>
/// <item>op(B) = W (input gradient, dx = dy·Ŵ): a strip of ≤ <see cref="Strip"/> columns accumulates
/// Σ_p dy[r, p]·ŵ[p, strip] row by row of W, in a buffer of m strips, then is stored once.</item>
/// </list>
/// </summary>
internal static unsafe class Nf4Gemv
{
    internal const int MaxRows = 4;
    private const int Strip = 1024;

    public static void Run(MatrixA a, MatrixB b, float* c, float alpha, float beta, GemmKernel isa, int threads, ParallelOptions parallel)
    {
        int n = b.N;
        if (b.Trans)
        {
            int per = Math.Max(Math.Max(16, 65536 / Math.Max(1, a.M * b.K)), (n + threads - 1) / threads);
            Workers.For((n + per - 1) / per, threads, parallel, new Rows(a, b, c, alpha, beta, isa, per));
        }
        else
        {
            // Strips are 64 columns wide (a decoded run starts on a block when n is a multiple of 64; Nf4Dequant.Run
            // takes any start, so a block straddling two rows of W is decoded in two runs).
            int per = Math.Min(Strip, Math.Max(64, ((n + threads - 1) / threads + 63) / 64 * 64));
            Workers.For((n + per - 1) / per, threads, parallel, new Columns(a, b, c, alpha, beta, isa, per));
        }
    }

    private readonly struct Rows(MatrixA a, MatrixB b, float* c, float alpha, float beta, GemmKernel isa, int per) : IWorkItem
    {
        public void Run(int t) => DotRows(a, b, c, alpha, beta, isa, t * per, Math.Min(b.N, (t + 1) * per));
    }

    private readonly struct Columns(MatrixA a, MatrixB b, float* c, float alpha, float beta, GemmKernel isa, int per) : IWorkItem
    {
        public void Run(int t) => AccumulateColumns(a, b, c, alpha, beta, isa, t * per, Math.Min(b.N, (t + 1) * per));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotRows(MatrixA a, MatrixB b, float* c, float alpha, float beta, GemmKernel isa, int j0, int j1)
    {
        // The fused path reads whole blocks of one row; when k is not a multiple of 64 blocks straddle rows of W, and
        // with k a multiple of 16 (models/base's down_proj: 688) no 16-element piece of a row straddles a block.
        if (isa == GemmKernel.Avx512 && a.K % Nf4Matrix.BlockSize == 0) DotRowsFused(a, b, c, alpha, beta, j0, j1);
        else if (isa == GemmKernel.Avx512 && a.K % 16 == 0) DotRowsStraddling(a, b, c, alpha, beta, j0, j1);
        else DotRowsBuffered(a, b, c, alpha, beta, isa, j0, j1);
    }

    /// <summary>
    /// AVX-512, decoded in registers: x is first split per 32 elements into its 16 even and 16 odd elements, so the
    /// high nibbles of 16 code bytes (even elements) and the low nibbles (odd elements) each feed one vpermps of the
    /// block's 16-entry table (levels·absmax) and one FMA, with no interleaving shuffles. vpermps reads only the low
    /// 4 bits of an index, so the low nibble needs no mask. Four accumulators per row hide the FMA latency.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotRowsFused(MatrixA a, MatrixB b, float* c, float alpha, float beta, int j0, int j1)
    {
        int m = a.M, k = a.K, n = b.N, blocks = k / Nf4Matrix.BlockSize;
        float* xs = Scratch.Current.Get(Scratch.PackedA, (long)m * k);
        for (int r = 0; r < m; r++)
        {
            float* src = a.P + (long)r * k, dst = xs + (long)r * k;
            for (int q = 0; q < k; q += 32)
                for (int t = 0; t < 16; t++) { dst[q + t] = src[q + 2 * t]; dst[q + 16 + t] = src[q + 2 * t + 1]; }
        }
        // Rows past m alias row 0: computed and discarded, so one loop body serves 2 ≤ m ≤ 4.
        float* x0 = xs, x1 = xs + (m > 1 ? k : 0), x2 = xs + (m > 2 ? 2L * k : 0), x3 = xs + (m > 3 ? 3L * k : 0);
        float* sums = stackalloc float[MaxRows];
        fixed (float* levelsPtr = Nf4Dequant.s_levels)
        {
            var levels = Avx512F.LoadVector512(levelsPtr);
            for (int j = j0; j < j1; j++)
            {
                byte* codes = b.P + ((long)j * k >> 1);
                float* scales = b.Absmax + (long)j * blocks;
                if (m == 1)
                {
                    Vector512<float> e0 = default, o0 = default, e1 = default, o1 = default;
                    for (int blk = 0; blk < blocks; blk++, codes += 32)
                    {
                        var table = Avx512F.Multiply(levels, Vector512.Create(scales[blk]));
                        float* x = x0 + blk * 64;
                        var v0 = Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(codes));
                        var v1 = Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(codes + 16));
                        e0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x), Avx512F.PermuteVar16x32(table, Avx512F.ShiftRightLogical(v0, 4)), e0);
                        o0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x + 16), Avx512F.PermuteVar16x32(table, v0), o0);
                        e1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x + 32), Avx512F.PermuteVar16x32(table, Avx512F.ShiftRightLogical(v1, 4)), e1);
                        o1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x + 48), Avx512F.PermuteVar16x32(table, v1), o1);
                    }
                    sums[0] = Vector512.Sum(Avx512F.Add(Avx512F.Add(e0, o0), Avx512F.Add(e1, o1)));
                }
                else
                {
                    Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default, t0 = default, t1 = default, t2 = default, t3 = default;
                    for (int blk = 0; blk < blocks; blk++)
                    {
                        var table = Avx512F.Multiply(levels, Vector512.Create(scales[blk]));
                        for (int half = 0; half < 2; half++, codes += 16)
                        {
                            int at = blk * 64 + half * 32;
                            var v = Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(codes));
                            var even = Avx512F.PermuteVar16x32(table, Avx512F.ShiftRightLogical(v, 4));
                            var odd = Avx512F.PermuteVar16x32(table, v);
                            s0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x0 + at), even, s0);
                            t0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x0 + at + 16), odd, t0);
                            s1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x1 + at), even, s1);
                            t1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x1 + at + 16), odd, t1);
                            s2 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x2 + at), even, s2);
                            t2 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x2 + at + 16), odd, t2);
                            s3 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x3 + at), even, s3);
                            t3 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x3 + at + 16), odd, t3);
                        }
                    }
                    sums[0] = Vector512.Sum(Avx512F.Add(s0, t0)); sums[1] = Vector512.Sum(Avx512F.Add(s1, t1));
                    sums[2] = Vector512.Sum(Avx512F.Add(s2, t2)); sums[3] = Vector512.Sum(Avx512F.Add(s3, t3));
                }
                for (int r = 0; r < m; r++)
                {
                    float* y = c + (long)r * n + j;
                    *y = beta == 0f ? alpha * sums[r] : alpha * sums[r] + beta * *y;
                }
            }
        }
    }

    /// <summary>
    /// AVX-512, decoded in registers, for k a multiple of 16 but not of 64: blocks straddle rows of W, so row j starts
    /// at flat element j·k, 16·t elements into a block. The row is read 16 elements (8 code bytes) at a time — a piece
    /// that never straddles a block, since j·k and the block size are multiples of 16 — each interleaved to element order
    /// (hi₀, lo₀, hi₁, ...) and looked up in its block's table (levels·absmax, rebuilt when the block changes) by one
    /// vpermps, which reads only the low 4 bits of an index, so neither nibble needs a mask. x is used as it is.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotRowsStraddling(MatrixA a, MatrixB b, float* c, float alpha, float beta, int j0, int j1)
    {
        int m = a.M, k = a.K, n = b.N;
        // Rows past m alias row 0: computed and discarded, so one loop body serves 1 ≤ m ≤ 4.
        float* x0 = a.P, x1 = a.P + (m > 1 ? k : 0), x2 = a.P + (m > 2 ? 2L * k : 0), x3 = a.P + (m > 3 ? 3L * k : 0);
        float* sums = stackalloc float[MaxRows];
        fixed (float* levelsPtr = Nf4Dequant.s_levels)
        {
            var levels = Avx512F.LoadVector512(levelsPtr);
            for (int j = j0; j < j1; j++)
            {
                long start = (long)j * k;
                byte* codes = b.P + (start >> 1);
                long block = start >> 6;
                var table = Avx512F.Multiply(levels, Vector512.Create(b.Absmax[block]));
                Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default, t0 = default;
                for (int p = 0; p < k; p += 16)
                {
                    if ((start + p) >> 6 != block)
                    {
                        block = (start + p) >> 6;
                        table = Avx512F.Multiply(levels, Vector512.Create(b.Absmax[block]));
                    }
                    var packed = Sse2.LoadScalarVector128((ulong*)(codes + (p >> 1))).AsByte();
                    var hi = Sse2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte();   // low nibble of each byte: its high code
                    var w = Avx512F.PermuteVar16x32(table, Avx512F.ConvertToVector512Int32(Sse2.UnpackLow(hi, packed)));
                    if (m == 1)
                    {
                        // Two accumulators, alternating, hide the FMA latency of the single row.
                        if ((p & 16) == 0) s0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x0 + p), w, s0);
                        else t0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x0 + p), w, t0);
                        continue;
                    }
                    s0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x0 + p), w, s0);
                    s1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x1 + p), w, s1);
                    s2 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x2 + p), w, s2);
                    s3 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x3 + p), w, s3);
                }
                s0 = Avx512F.Add(s0, t0);
                sums[0] = Vector512.Sum(s0); sums[1] = Vector512.Sum(s1); sums[2] = Vector512.Sum(s2); sums[3] = Vector512.Sum(s3);
                for (int r = 0; r < m; r++)
                {
                    float* y = c + (long)r * n + j;
                    *y = beta == 0f ? alpha * sums[r] : alpha * sums[r] + beta * *y;
                }
            }
        }
    }

    /// <summary>Other vector widths: row j decoded into an L1 buffer, then dotted with each row of x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotRowsBuffered(MatrixA a, MatrixB b, float* c, float alpha, float beta, GemmKernel isa, int j0, int j1)
    {
        int m = a.M, k = a.K, n = b.N;
        float* w = Scratch.Current.Get(Scratch.Row, k);
        float* sums = stackalloc float[MaxRows];
        for (int j = j0; j < j1; j++)
        {
            b.Load(0, j, w, k, isa);
            for (int r = 0; r < m; r++) sums[r] = Dot(a.P + (long)r * k, w, k, isa);
            for (int r = 0; r < m; r++)
            {
                float* y = c + (long)r * n + j;
                *y = beta == 0f ? alpha * sums[r] : alpha * sums[r] + beta * *y;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateColumns(MatrixA a, MatrixB b, float* c, float alpha, float beta, GemmKernel isa, int j0, int j1)
    {
        int m = a.M, k = a.K, n = b.N, width = j1 - j0;
        var scratch = Scratch.Current;
        float* w = scratch.Get(Scratch.Row, width);
        float* acc = scratch.Get(Scratch.PackedA, (long)m * width);
        new Span<float>(acc, m * width).Clear();
        for (int p = 0; p < k; p++)
        {
            b.Load(p, j0, w, width, isa);
            for (int r = 0; r < m; r++) Axpy(a.P[(long)r * k + p], w, acc + (long)r * width, width, isa);
        }
        for (int r = 0; r < m; r++)
        {
            float* y = c + (long)r * n + j0, s = acc + (long)r * width;
            for (int j = 0; j < width; j++) y[j] = beta == 0f ? alpha * s[j] : alpha * s[j] + beta * y[j];
        }
    }

    /// <summary>Σ x[i]·w[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* x, float* w, int k, GemmKernel isa)
    {
        int i = 0;
        float sum = 0f;
        if (isa == GemmKernel.Avx512)
        {
            Vector512<float> s0 = default, s1 = default;
            for (; i + 32 <= k; i += 32)
            {
                s0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x + i), Avx512F.LoadVector512(w + i), s0);
                s1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(x + i + 16), Avx512F.LoadVector512(w + i + 16), s1);
            }
            sum = Vector512.Sum(Avx512F.Add(s0, s1));
        }
        else if (isa == GemmKernel.Avx2)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i + 16 <= k; i += 16)
            {
                s0 = Fma.MultiplyAdd(Avx.LoadVector256(x + i), Avx.LoadVector256(w + i), s0);
                s1 = Fma.MultiplyAdd(Avx.LoadVector256(x + i + 8), Avx.LoadVector256(w + i + 8), s1);
            }
            sum = Vector256.Sum(Avx.Add(s0, s1));
        }
        for (; i < k; i++) sum = MathF.FusedMultiplyAdd(x[i], w[i], sum);
        return sum;
    }

    /// <summary>y[i] += alpha·x[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Axpy(float alpha, float* x, float* y, int count, GemmKernel isa)
    {
        int i = 0;
        if (isa == GemmKernel.Avx512)
        {
            var av = Vector512.Create(alpha);
            for (; i + 16 <= count; i += 16) Avx512F.Store(y + i, Avx512F.FusedMultiplyAdd(av, Avx512F.LoadVector512(x + i), Avx512F.LoadVector512(y + i)));
        }
        else if (isa == GemmKernel.Avx2)
        {
            var av = Vector256.Create(alpha);
            for (; i + 8 <= count; i += 8) Avx.Store(y + i, Fma.MultiplyAdd(av, Avx.LoadVector256(x + i), Avx.LoadVector256(y + i)));
        }
        for (; i < count; i++) y[i] = MathF.FusedMultiplyAdd(alpha, x[i], y[i]);
    }
}
