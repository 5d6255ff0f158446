namespace LoRAM.Pruning;

/// <summary>
/// Right-looking blocked Cholesky A = L Lᵀ in float64 (row-major, in place) and the inverse of a lower
/// triangular factor. Per block column: factor the diagonal block, solve the panel below it (rows in
/// parallel), then subtract P Pᵀ from the trailing lower triangle with the SIMD product kernel.
/// </summary>
internal static unsafe class BlockedCholesky
{
    internal const int Block = 64;

    /// <summary>Overwrites <paramref name="a"/> [n, n] with its lower Cholesky factor L (upper part zeroed).</summary>
    /// <exception cref="InvalidOperationException">A is not (numerically) positive definite.</exception>
    public static void FactorLower(double[] a, int n, ParallelOptions options)
    {
        for (int k0 = 0; k0 < n; k0 += Block)
        {
            int k1 = Math.Min(n, k0 + Block), kb = k1 - k0;
            fixed (double* p = a)
            {
                for (int j = k0; j < k1; j++)
                {
                    double* rowJ = p + (long)j * n;
                    double d = rowJ[j] - DenseKernels.Dot(rowJ + k0, rowJ + k0, j - k0);
                    if (!(d > 0)) throw new InvalidOperationException($"matrix is not positive definite (pivot {j}: {d})");
                    rowJ[j] = Math.Sqrt(d);
                    for (int i = j + 1; i < k1; i++)
                    {
                        double* rowI = p + (long)i * n;
                        rowI[j] = (rowI[j] - DenseKernels.Dot(rowI + k0, rowJ + k0, j - k0)) / rowJ[j];
                    }
                }
            }
            if (k1 == n) break;
            // Panel: L21 = A21 · L11⁻ᵀ, one independent forward substitution per row.
            Parallel.For(k1, n, options, i =>
            {
                fixed (double* p = a)
                {
                    double* rowI = p + (long)i * n;
                    for (int j = k0; j < k1; j++)
                    {
                        double* rowJ = p + (long)j * n;
                        rowI[j] = (rowI[j] - DenseKernels.Dot(rowI + k0, rowJ + k0, j - k0)) / rowJ[j];
                    }
                }
            });
            // Trailing update A22 -= L21 L21ᵀ (lower triangle only).
            int m = n - k1;
            DenseKernels.AddProductNT(a, k1 * n + k0, n, a, k1 * n + k0, n, a, k1 * n + k1, n, m, m, kb, -1.0,
                lowerOnly: true, options);
        }
        for (int i = 0; i < n; i++) Array.Clear(a, i * n + i + 1, n - i - 1);
    }

    /// <summary>L⁻¹ of a lower triangular L [n, n]: column j solves L x = e_j by forward substitution.</summary>
    public static double[] InvertLower(double[] l, int n, ParallelOptions options)
    {
        var inv = new double[(long)n * n];
        Parallel.For(0, n, options, () => new double[n], (j, _, x) =>
        {
            fixed (double* p = l, px = x)
            {
                px[j] = 1.0 / p[(long)j * n + j];
                inv[(long)j * n + j] = px[j];
                for (int i = j + 1; i < n; i++)
                {
                    double* rowI = p + (long)i * n;
                    px[i] = -DenseKernels.Dot(rowI + j, px + j, i - j) / rowI[i];
                    inv[(long)i * n + j] = px[i];
                }
            }
            return x;
        }, _ => { });
        return inv;
    }
}
