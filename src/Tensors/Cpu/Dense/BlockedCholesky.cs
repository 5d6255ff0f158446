using System.Runtime.Intrinsics;

namespace LoRAM.Tensors.Cpu.Dense;

/// <summary>
/// Right-looking blocked Cholesky A = L Lᵀ in float64 (row-major, in place) and the inverse of a lower
/// triangular factor. Per block column: factor the diagonal block, solve the panel below it (rows in
/// parallel), then subtract P Pᵀ from the trailing lower triangle with the SIMD product kernel.
/// </summary>
public static unsafe class BlockedCholesky
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

    /// <summary>
    /// L⁻¹ of a lower triangular L [n, n]: column j solves L x = e_j by forward substitution. Four columns
    /// j0..j0+3 go together (zero-padded below their diagonals) so each row of L read from memory feeds four
    /// dot products.
    /// </summary>
    public static double[] InvertLower(double[] l, int n, ParallelOptions options)
    {
        var inv = new double[(long)n * n];
        int groups = (n + 3) / 4;
        Parallel.For(0, groups, options, () => new double[4 * n], (g, _, x) =>
        {
            int j0 = g * 4, width = Math.Min(4, n - j0);
            Array.Clear(x);
            fixed (double* p = l, px = x)
            {
                double* x0 = px, x1 = px + n, x2 = px + 2 * n, x3 = px + 3 * n;
                for (int i = j0; i < n; i++)
                {
                    double* rowI = p + (long)i * n;
                    // Σ_{t ∈ [j0, i)} L[i, t] x_c[t] for the four columns at once.
                    var (d0, d1, d2, d3) = Dot4(rowI + j0, x0 + j0, x1 + j0, x2 + j0, x3 + j0, i - j0);
                    double inverseDiagonal = 1.0 / rowI[i];
                    x0[i] = ((i == j0 ? 1 : 0) - d0) * inverseDiagonal;
                    x1[i] = i < j0 + 1 ? 0 : ((i == j0 + 1 ? 1 : 0) - d1) * inverseDiagonal;
                    x2[i] = i < j0 + 2 ? 0 : ((i == j0 + 2 ? 1 : 0) - d2) * inverseDiagonal;
                    x3[i] = i < j0 + 3 ? 0 : ((i == j0 + 3 ? 1 : 0) - d3) * inverseDiagonal;
                    for (int c = 0; c < width; c++) inv[(long)i * n + j0 + c] = px[c * n + i];
                }
            }
            return x;
        }, _ => { });
        return inv;
    }

    private static (double, double, double, double) Dot4(double* row, double* x0, double* x1, double* x2, double* x3, int k)
    {
        Vector256<double> s0 = default, s1 = default, s2 = default, s3 = default;
        int t = 0;
        for (; t + 4 <= k; t += 4)
        {
            var r = Vector256.Load(row + t);
            s0 = Vector256.FusedMultiplyAdd(r, Vector256.Load(x0 + t), s0);
            s1 = Vector256.FusedMultiplyAdd(r, Vector256.Load(x1 + t), s1);
            s2 = Vector256.FusedMultiplyAdd(r, Vector256.Load(x2 + t), s2);
            s3 = Vector256.FusedMultiplyAdd(r, Vector256.Load(x3 + t), s3);
        }
        double d0 = Vector256.Sum(s0), d1 = Vector256.Sum(s1), d2 = Vector256.Sum(s2), d3 = Vector256.Sum(s3);
        for (; t < k; t++)
        {
            d0 += row[t] * x0[t]; d1 += row[t] * x1[t]; d2 += row[t] * x2[t]; d3 += row[t] * x3[t];
        }
        return (d0, d1, d2, d3);
    }
}
