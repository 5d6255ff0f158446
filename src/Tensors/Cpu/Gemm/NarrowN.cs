using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoRAM.Tensors.Cpu.Gemm;

/// <summary>
/// C = alpha·op(A)·op(B) + beta·C for a narrow C (n ≤ <see cref="MaxN"/> columns) and a long inner dimension: the
/// LoRA products u = x·Aᵀ, du = dy·B (n = r) and dB = dyᵀ·u (transA, n = r). The packed path would spend most of
/// such a call packing A for a 32-wide micro-kernel three quarters empty; here A is streamed once, unpacked.
///   A as stored [m, k]:  two rows at a time, each C element a dot product with a row of Bᵀ (B widened once,
///                        [8, k]): 2 loads of A, 8 loads of Bᵀ, 16 FMAs per 16 k.
///   A as stored [k, m] (transA): 32 C rows at a time, accumulated as Cᵀ over p: C[i.., j] += A[p, i..]·B[p, j];
///                        2 loads of A (consecutive in memory), 8 broadcasts, 16 FMAs per p.
/// B is zero-padded to 8 columns so that the 16 accumulators are plain locals (registers) for any n ≤ 8.
/// AVX-512 only; other kernels take the packed path.
/// </summary>
internal static unsafe class NarrowN
{
    internal const int MaxN = 8;

    public static bool Applies(MatrixA a, MatrixB b, GemmKernel isa) =>
        isa == GemmKernel.Avx512 && Avx512F.IsSupported && b.N <= MaxN && b.DType != DType.U8 && a.K >= 64 && a.M >= 16;

    public static void Run(MatrixA a, MatrixB b, float* c, float alpha, float beta, int threads, ParallelOptions parallel)
    {
        int n = b.N, k = a.K;
        // op(B) widened once and zero-padded to 8 columns (k·8 floats, shared by every task): Bᵀ [8, k] for the
        // dot products, B [k, 8] for the column form; padded columns are computed and never written.
        float* bw = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)((long)MaxN * k * 4 + 64), 64);
        try
        {
            new Span<float>(bw, MaxN * k).Clear();
            for (int p = 0; p < k; p++)
                for (int j = 0; j < n; j++)
                    bw[a.Trans ? (long)p * MaxN + j : (long)j * k + p] = b[p, j];
            int block = a.Trans ? 32 : 2;
            int blocks = (a.M + block - 1) / block;
            int per = (long)a.M * k * n < 1L << 20 ? blocks : Math.Max(1, (blocks + threads - 1) / threads);   // split only real work
            Workers.For((blocks + per - 1) / per, threads, parallel, new Range(a, bw, c, n, alpha, beta, block, per));
        }
        finally { System.Runtime.InteropServices.NativeMemory.AlignedFree(bw); }
    }

    private readonly struct Range(MatrixA a, float* bw, float* c, int n, float alpha, float beta, int block, int per) : IWorkItem
    {
        public void Run(int t)
        {
            int i0 = t * per * block, i1 = Math.Min(a.M, (t + 1) * per * block);
            if (a.Trans) Columns(a, bw, c, n, alpha, beta, i0, i1);
            else Rows(a, bw, c, n, alpha, beta, i0, i1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(float* c, float s, float alpha, float beta) => *c = beta == 0f ? alpha * s : alpha * s + beta * *c;

    /// <summary>A stored [m, k]: rows [i0, i1) of C as dot products with Bᵀ [8, k], two rows at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows(MatrixA a, float* bt, float* c, int n, float alpha, float beta, int i0, int i1)
    {
        int k = a.K, kv = k & ~15;
        float* sums = stackalloc float[2 * MaxN];
        for (int i = i0; i < i1; i += 2)
        {
            int rows = Math.Min(2, i1 - i);
            float* r0 = a.P + (long)i * k, r1 = rows == 2 ? r0 + k : r0;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
            for (int p = 0; p < kv; p += 16)
            {
                var x0 = Avx512F.LoadVector512(r0 + p);
                var x1 = Avx512F.LoadVector512(r1 + p);
                float* w = bt + p;
                var w0 = Avx512F.LoadVector512(w); a0 = Avx512F.FusedMultiplyAdd(x0, w0, a0); b0 = Avx512F.FusedMultiplyAdd(x1, w0, b0); w += k;
                var w1 = Avx512F.LoadVector512(w); a1 = Avx512F.FusedMultiplyAdd(x0, w1, a1); b1 = Avx512F.FusedMultiplyAdd(x1, w1, b1); w += k;
                var w2 = Avx512F.LoadVector512(w); a2 = Avx512F.FusedMultiplyAdd(x0, w2, a2); b2 = Avx512F.FusedMultiplyAdd(x1, w2, b2); w += k;
                var w3 = Avx512F.LoadVector512(w); a3 = Avx512F.FusedMultiplyAdd(x0, w3, a3); b3 = Avx512F.FusedMultiplyAdd(x1, w3, b3); w += k;
                var w4 = Avx512F.LoadVector512(w); a4 = Avx512F.FusedMultiplyAdd(x0, w4, a4); b4 = Avx512F.FusedMultiplyAdd(x1, w4, b4); w += k;
                var w5 = Avx512F.LoadVector512(w); a5 = Avx512F.FusedMultiplyAdd(x0, w5, a5); b5 = Avx512F.FusedMultiplyAdd(x1, w5, b5); w += k;
                var w6 = Avx512F.LoadVector512(w); a6 = Avx512F.FusedMultiplyAdd(x0, w6, a6); b6 = Avx512F.FusedMultiplyAdd(x1, w6, b6); w += k;
                var w7 = Avx512F.LoadVector512(w); a7 = Avx512F.FusedMultiplyAdd(x0, w7, a7); b7 = Avx512F.FusedMultiplyAdd(x1, w7, b7);
            }
            sums[0] = Vector512.Sum(a0); sums[1] = Vector512.Sum(a1); sums[2] = Vector512.Sum(a2); sums[3] = Vector512.Sum(a3);
            sums[4] = Vector512.Sum(a4); sums[5] = Vector512.Sum(a5); sums[6] = Vector512.Sum(a6); sums[7] = Vector512.Sum(a7);
            sums[8] = Vector512.Sum(b0); sums[9] = Vector512.Sum(b1); sums[10] = Vector512.Sum(b2); sums[11] = Vector512.Sum(b3);
            sums[12] = Vector512.Sum(b4); sums[13] = Vector512.Sum(b5); sums[14] = Vector512.Sum(b6); sums[15] = Vector512.Sum(b7);
            for (int r = 0; r < rows; r++)
            {
                float* x = r == 0 ? r0 : r1, crow = c + (long)(i + r) * n;
                for (int j = 0; j < n; j++)
                {
                    float s = sums[r * MaxN + j];
                    float* w = bt + (long)j * k;
                    for (int p = kv; p < k; p++) s = MathF.FusedMultiplyAdd(x[p], w[p], s);
                    Put(crow + j, s, alpha, beta);
                }
            }
        }
    }

    /// <summary>A stored [k, m] (transA): C rows [i0, i1), 32 at a time, accumulated over p against B [k, 8].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Columns(MatrixA a, float* bk, float* c, int n, float alpha, float beta, int i0, int i1)
    {
        int k = a.K, m = a.M;
        float* tile = stackalloc float[32 * MaxN];
        for (int i = i0; i < i1; i += 32)
        {
            int w = Math.Min(32, i1 - i);
            if (w == 32)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
                float* x = a.P + i, bp = bk;
                for (int p = 0; p < k; p++, x += m, bp += MaxN)
                {
                    var x0 = Avx512F.LoadVector512(x);
                    var x1 = Avx512F.LoadVector512(x + 16);
                    var v = Vector512.Create(bp[0]); a0 = Avx512F.FusedMultiplyAdd(x0, v, a0); b0 = Avx512F.FusedMultiplyAdd(x1, v, b0);
                    v = Vector512.Create(bp[1]); a1 = Avx512F.FusedMultiplyAdd(x0, v, a1); b1 = Avx512F.FusedMultiplyAdd(x1, v, b1);
                    v = Vector512.Create(bp[2]); a2 = Avx512F.FusedMultiplyAdd(x0, v, a2); b2 = Avx512F.FusedMultiplyAdd(x1, v, b2);
                    v = Vector512.Create(bp[3]); a3 = Avx512F.FusedMultiplyAdd(x0, v, a3); b3 = Avx512F.FusedMultiplyAdd(x1, v, b3);
                    v = Vector512.Create(bp[4]); a4 = Avx512F.FusedMultiplyAdd(x0, v, a4); b4 = Avx512F.FusedMultiplyAdd(x1, v, b4);
                    v = Vector512.Create(bp[5]); a5 = Avx512F.FusedMultiplyAdd(x0, v, a5); b5 = Avx512F.FusedMultiplyAdd(x1, v, b5);
                    v = Vector512.Create(bp[6]); a6 = Avx512F.FusedMultiplyAdd(x0, v, a6); b6 = Avx512F.FusedMultiplyAdd(x1, v, b6);
                    v = Vector512.Create(bp[7]); a7 = Avx512F.FusedMultiplyAdd(x0, v, a7); b7 = Avx512F.FusedMultiplyAdd(x1, v, b7);
                }
                a0.Store(tile); b0.Store(tile + 16); a1.Store(tile + 32); b1.Store(tile + 48);
                a2.Store(tile + 64); b2.Store(tile + 80); a3.Store(tile + 96); b3.Store(tile + 112);
                a4.Store(tile + 128); b4.Store(tile + 144); a5.Store(tile + 160); b5.Store(tile + 176);
                a6.Store(tile + 192); b6.Store(tile + 208); a7.Store(tile + 224); b7.Store(tile + 240);
            }
            else
            {
                for (int j = 0; j < n; j++)   // the last few rows, one element at a time
                    for (int ii = 0; ii < w; ii++)
                    {
                        float s = 0f;
                        for (int p = 0; p < k; p++) s = MathF.FusedMultiplyAdd(a.P[(long)p * m + i + ii], bk[(long)p * MaxN + j], s);
                        tile[j * 32 + ii] = s;
                    }
            }
            for (int ii = 0; ii < w; ii++)
            {
                float* crow = c + (long)(i + ii) * n;
                for (int j = 0; j < n; j++) Put(crow + j, tile[j * 32 + ii], alpha, beta);
            }
        }
    }
}
