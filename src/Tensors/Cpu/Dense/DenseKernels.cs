using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LoRAM.Tensors.Cpu.Dense;

/// <summary>
/// The one float64 product kernel the pruning numerics are built on (Hessian, Cholesky trailing update, the
/// lazy SparseGPT block update): C[i, j] += α · Σ_k A[i, k] · B[j, k] ("NT": both operands row-major with k
/// contiguous), so every inner loop is a SIMD dot product over contiguous memory.
/// </summary>
public static unsafe class DenseKernels
{
    private const int TileRows = 4, TileCols = 2, KC = 256, NC = 256;

    /// <summary>
    /// C[i, j] += α · A[i, :] · B[j, :] for i &lt; m, j &lt; n over k elements, parallel over bands of rows of C.
    /// With <paramref name="lowerOnly"/> only j ≤ i is written (symmetric updates that keep the lower triangle).
    /// </summary>
    public static void AddProductNT(double[] a, int aOffset, int lda, double[] b, int bOffset, int ldb,
        double[] c, int cOffset, int ldc, int m, int n, int k, double alpha, bool lowerOnly, ParallelOptions options)
    {
        if (m <= 0 || n <= 0 || k <= 0) return;
        int bands = (m + TileRows - 1) / TileRows;
        // Cache blocking: a KC×NC slab of B (512 KiB) stays in L2 while every band of A streams past it;
        // each band's 4×KC slice of A sits in L1 across the slab.
        for (int j0 = 0; j0 < n; j0 += NC)
        {
            int nb = Math.Min(NC, n - j0);
            int firstBand = lowerOnly ? j0 / TileRows : 0; // bands wholly above the diagonal have nothing to do
            for (int k0 = 0; k0 < k; k0 += KC)
            {
                int kb = Math.Min(KC, k - k0);
                Parallel.For(firstBand, bands, options, band =>
                {
                    // Lower-only work grows with the row index: hand out bands in reverse so the big ones start first.
                    int i0 = (lowerOnly ? bands - 1 - (band - firstBand) : band) * TileRows;
                    fixed (double* pa = a, pb = b, pc = c)
                        Band(pa + aOffset + k0, lda, pb + bOffset + (long)j0 * ldb + k0, ldb, pc + cOffset + j0, ldc,
                            i0, Math.Min(TileRows, m - i0), nb, kb, alpha, lowerOnly ? i0 - j0 : int.MaxValue);
                });
            }
        }
    }

    /// <summary>C[i0 + r, j] += α · A[i0 + r, :] · B[j, :] for r &lt; rows, j &lt; n (a band of 4 rows).</summary>
    private static void Band(double* a, int lda, double* b, int ldb, double* c, int ldc, int i0, int rows, int n,
        int k, double alpha, int diagonal)
    {
        // Lower-only updates pass diagonal = i0 − (first column of this slab): (r, j) is on or below the
        // diagonal when j ≤ r + diagonal. int.MaxValue = full update.
        int jEnd = diagonal == int.MaxValue ? n : Math.Clamp(rows + diagonal, 0, n);
        Span<double> tile = stackalloc double[TileRows * TileCols];
        for (int j0 = 0; j0 < jEnd; j0 += TileCols)
        {
            int cols = Math.Min(TileCols, jEnd - j0);
            if (rows == TileRows && cols == TileCols) Tile4x2(a + (long)i0 * lda, lda, b + (long)j0 * ldb, ldb, k, tile);
            else TileScalar(a + (long)i0 * lda, lda, b + (long)j0 * ldb, ldb, k, rows, cols, tile);
            for (int r = 0; r < rows; r++)
                for (int s = 0; s < cols; s++)
                {
                    int i = i0 + r, j = j0 + s;
                    if (diagonal != int.MaxValue && j > r + diagonal) continue;
                    c[(long)i * ldc + j] += alpha * tile[r * TileCols + s];
                }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x2(double* a, int lda, double* b, int ldb, int k, Span<double> tile)
    {
        double* a0 = a, a1 = a + lda, a2 = a + 2L * lda, a3 = a + 3L * lda, b0 = b, b1 = b + ldb;
        Vector256<double> s00 = default, s01 = default, s10 = default, s11 = default,
            s20 = default, s21 = default, s30 = default, s31 = default;
        int t = 0;
        for (; t + 4 <= k; t += 4)
        {
            var vb0 = Vector256.Load(b0 + t); var vb1 = Vector256.Load(b1 + t);
            var va = Vector256.Load(a0 + t);
            s00 = Vector256.FusedMultiplyAdd(va, vb0, s00); s01 = Vector256.FusedMultiplyAdd(va, vb1, s01);
            va = Vector256.Load(a1 + t);
            s10 = Vector256.FusedMultiplyAdd(va, vb0, s10); s11 = Vector256.FusedMultiplyAdd(va, vb1, s11);
            va = Vector256.Load(a2 + t);
            s20 = Vector256.FusedMultiplyAdd(va, vb0, s20); s21 = Vector256.FusedMultiplyAdd(va, vb1, s21);
            va = Vector256.Load(a3 + t);
            s30 = Vector256.FusedMultiplyAdd(va, vb0, s30); s31 = Vector256.FusedMultiplyAdd(va, vb1, s31);
        }
        tile[0] = Vector256.Sum(s00); tile[1] = Vector256.Sum(s01);
        tile[2] = Vector256.Sum(s10); tile[3] = Vector256.Sum(s11);
        tile[4] = Vector256.Sum(s20); tile[5] = Vector256.Sum(s21);
        tile[6] = Vector256.Sum(s30); tile[7] = Vector256.Sum(s31);
        for (; t < k; t++)
        {
            tile[0] += a0[t] * b0[t]; tile[1] += a0[t] * b1[t];
            tile[2] += a1[t] * b0[t]; tile[3] += a1[t] * b1[t];
            tile[4] += a2[t] * b0[t]; tile[5] += a2[t] * b1[t];
            tile[6] += a3[t] * b0[t]; tile[7] += a3[t] * b1[t];
        }
    }

    private static void TileScalar(double* a, int lda, double* b, int ldb, int k, int rows, int cols, Span<double> tile)
    {
        for (int r = 0; r < rows; r++)
            for (int s = 0; s < cols; s++)
                tile[r * TileCols + s] = Dot(a + (long)r * lda, b + (long)s * ldb, k);
    }

    /// <summary>Σ_t x[t]·y[t], vectorised.</summary>
    internal static double Dot(double* x, double* y, int k)
    {
        Vector256<double> s0 = default, s1 = default;
        int t = 0;
        for (; t + 8 <= k; t += 8)
        {
            s0 = Vector256.FusedMultiplyAdd(Vector256.Load(x + t), Vector256.Load(y + t), s0);
            s1 = Vector256.FusedMultiplyAdd(Vector256.Load(x + t + 4), Vector256.Load(y + t + 4), s1);
        }
        double sum = Vector256.Sum(s0 + s1);
        for (; t < k; t++) sum += x[t] * y[t];
        return sum;
    }
}
