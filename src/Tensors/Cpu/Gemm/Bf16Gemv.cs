using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoRAM.Tensors.Cpu.Gemm;

/// <summary>
/// Decoding's product y = x·Wᵀ (m = 1) for W stored BF16 [n, k]: the loop that bounds a decoded token, since it
/// streams every weight once. A bfloat16 is the high half of a float32, so a 256-bit load of 16 weights holds, in
/// each 32-bit lane l, weight 2l in the low half and weight 2l+1 in the high half: <c>lane &lt;&lt; 16</c> is weight 2l
/// as a float and <c>lane &amp; 0xFFFF0000</c> is weight 2l+1. Dotting those with x's even and odd elements (x reordered
/// once per task, block by block of 16, by <see cref="EvenOdd"/>) costs a load, a shift, an and and two FMAs per 16
/// weights, with no widening shuffle.
/// Measured on Zen 4 (bench <c>gemv-stream</c>, one thread, 1 GiB of [5632, 2048] weights): ~22 GB/s per CPU-second,
/// the rate of a plain summing loop over the same memory, where the vpmovzxwd widening reached ~19 with 512-bit or
/// 256-bit vectors alike; 512-bit even/odd was no faster than the widening, and four rows sharing each load of x were
/// slower (four streams at once).
/// </summary>
internal static unsafe class Bf16Gemv
{
    /// <summary>xp = x with each block of 16 reordered as its 8 even then its 8 odd elements (k rounded down to 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void EvenOdd(float* x, float* xp, int k)
    {
        for (int i = 0; i + 16 <= k; i += 16)
        {
            var lo = Avx.LoadVector256(x + i);
            var hi = Avx.LoadVector256(x + i + 8);
            // Shuffle picks elements 0, 2 (or 1, 3) of each 128-bit half of lo and hi; the 64-bit permute puts lo's first.
            Avx.Store(xp + i, Avx2.Permute4x64(Avx.Shuffle(lo, hi, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle());
            Avx.Store(xp + i + 8, Avx2.Permute4x64(Avx.Shuffle(lo, hi, 0b11_01_11_01).AsDouble(), 0b11_01_10_00).AsSingle());
        }
    }

    /// <summary>y[j] = alpha·(x·W[j, :]) + beta·y[j] for rows j0 ≤ j &lt; j1 of W (BF16, [n, k]); needs AVX2 and FMA.
    /// Every row is summed by the same loop whatever the rows around it, so results do not depend on how rows are split
    /// among tasks (the fused and separate projections agree to the bit).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(float* x, ushort* w, int k, float* y, float alpha, float beta, int j0, int j1)
    {
        float* xp = Scratch.Current.Get(Scratch.EvenOdd, k);
        EvenOdd(x, xp, k);
        for (int j = j0; j < j1; j++)
        {
            float dot = Dot(x, xp, w + (long)j * k, k);
            y[j] = beta == 0f ? alpha * dot : alpha * dot + beta * y[j];
        }
    }

    /// <summary>x·w over k elements: blocks of 32 into two even/odd accumulator pairs, a last block of 16 into the
    /// first pair, the tail (k mod 16) scalar from x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* x, float* xp, ushort* w, int k)
    {
        Vector256<float> e0 = default, o0 = default, e1 = default, o1 = default;
        var high = Vector256.Create(0xFFFF_0000u);
        int i = 0;
        for (; i + 32 <= k; i += 32)
        {
            var v0 = Avx.LoadVector256((uint*)(w + i));
            var v1 = Avx.LoadVector256((uint*)(w + i + 16));
            e0 = Fma.MultiplyAdd(Avx2.ShiftLeftLogical(v0, 16).AsSingle(), Avx.LoadVector256(xp + i), e0);
            o0 = Fma.MultiplyAdd(Avx2.And(v0, high).AsSingle(), Avx.LoadVector256(xp + i + 8), o0);
            e1 = Fma.MultiplyAdd(Avx2.ShiftLeftLogical(v1, 16).AsSingle(), Avx.LoadVector256(xp + i + 16), e1);
            o1 = Fma.MultiplyAdd(Avx2.And(v1, high).AsSingle(), Avx.LoadVector256(xp + i + 24), o1);
        }
        if (i + 16 <= k)
        {
            var v0 = Avx.LoadVector256((uint*)(w + i));
            e0 = Fma.MultiplyAdd(Avx2.ShiftLeftLogical(v0, 16).AsSingle(), Avx.LoadVector256(xp + i), e0);
            o0 = Fma.MultiplyAdd(Avx2.And(v0, high).AsSingle(), Avx.LoadVector256(xp + i + 8), o0);
            i += 16;
        }
        float sum = Vector256.Sum(Avx.Add(Avx.Add(e0, o0), Avx.Add(e1, o1)));
        for (; i < k; i++) sum = MathF.FusedMultiplyAdd(x[i], BFloat16.ToSingle(w[i]), sum);
        return sum;
    }
}
