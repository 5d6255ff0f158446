namespace LoRAM.Tensors.Cpu.Gemm;

/// <summary>
/// Packing copies the block of op(A) or op(B) a macro-kernel is about to sweep into the exact order the
/// micro-kernel reads it (GotoBLAS): A into panels of MR rows, each stored k-major (MR values per k), and B into
/// panels of NR columns, each stored k-major (NR values per k). Rows or columns past the matrix edge are zero, so
/// the kernel never branches on them. Packing is also where transposes disappear and where BF16/F16 B is widened
/// (or NF4 B dequantized) to float32 — one panel at a time, so a frozen weight is never materialised as float32.
/// </summary>
internal static unsafe class Packing
{
    /// <summary>Packs rows [i0, i0+mc) × columns [p0, p0+kc) of op(A) into ⌈mc/mr⌉ panels of mr·kc floats.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void PackA(in MatrixA a, int i0, int mc, int p0, int kc, int mr, float* dst)
    {
        float** src = stackalloc float*[mr];
        for (int ip = 0; ip < mc; ip += mr)
        {
            int rows = Math.Min(mr, mc - ip);
            float* d = dst + (long)ip * kc;
            if (a.Trans)
            {
                // Stored [k, m]: the mr values of one k are contiguous.
                for (int p = 0; p < kc; p++)
                {
                    float* s = a.P + (long)(p0 + p) * a.M + i0 + ip;
                    float* dp = d + p * mr;
                    int ii = 0;
                    for (; ii < rows; ii++) dp[ii] = s[ii];
                    for (; ii < mr; ii++) dp[ii] = 0f;
                }
            }
            else
            {
                // Stored [m, k]: walk the mr rows side by side so the packed panel is written sequentially
                // (mr read streams, each sequential, are cheaper than mr strided write streams).
                for (int ii = 0; ii < mr; ii++) src[ii] = a.P + (long)(i0 + ip + Math.Min(ii, rows - 1)) * a.K + p0;
                if (rows == mr)
                {
                    for (int p = 0; p < kc; p++, d += mr)
                        for (int ii = 0; ii < mr; ii++) d[ii] = src[ii][p];
                }
                else
                {
                    for (int p = 0; p < kc; p++, d += mr)
                    {
                        int ii = 0;
                        for (; ii < rows; ii++) d[ii] = src[ii][p];
                        for (; ii < mr; ii++) d[ii] = 0f;
                    }
                }
            }
        }
    }

    /// <summary>Packs rows [p0, p0+kc) × columns [j0+jFrom, j0+jTo) of op(B) (jFrom, jTo multiples of nr, relative to
    /// the block start j0 of width nc) into panels of nr·kc floats placed as if the whole block were packed.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void PackB(in MatrixB b, int p0, int kc, int j0, int nc, int nr, int jFrom, int jTo, float* dst, float* row, GemmKernel isa)
    {
        for (int jp = jFrom; jp < Math.Min(jTo, nc); jp += nr)
        {
            int cols = Math.Min(nr, nc - jp);
            float* d = dst + (long)jp * kc;
            if (!b.Trans)
            {
                // Stored [k, n]: each k contributes a contiguous run of `cols` values.
                for (int p = 0; p < kc; p++)
                {
                    float* dp = d + p * nr;
                    b.Load(p0 + p, j0 + jp, dp, cols, isa);
                    for (int jj = cols; jj < nr; jj++) dp[jj] = 0f;
                }
            }
            else
            {
                // Stored [n, k]: widen each column's run of kc values into `row`, then scatter it with stride nr.
                for (int jj = 0; jj < cols; jj++)
                {
                    b.Load(p0, j0 + jp + jj, row, kc, isa);
                    float* dp = d + jj;
                    for (int p = 0; p < kc; p++) dp[p * nr] = row[p];
                }
                for (int jj = cols; jj < nr; jj++)
                    for (int p = 0; p < kc; p++) d[p * nr + jj] = 0f;
            }
        }
    }
}
