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
            // Strips are whole 64-blocks wide, so each decoded run starts on a block.
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
