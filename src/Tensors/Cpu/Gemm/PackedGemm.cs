namespace LoRAM.Tensors.Cpu.Gemm;

/// <summary>
/// The packed, cache-blocked GEMM (GotoBLAS / BLIS loop nest) for one batch entry:
/// <code>
/// for jc in n step NC            B block KC×NC packed once, shared by every worker (lives in L3)
///   for pc in k step KC          C += alpha·A[:, pc]·B[pc, :]  (the first pc block applies beta)
///     for ic in m step MC        A block MC×KC packed by the worker that owns it (lives in L2)   ← parallel
///       for jr in NC step NR     B micro-panel KC×NR (lives in L1)                               ← or split
///         for ir in MC step MR   micro-kernel on an MR×NR tile of C (in registers)
/// </code>
/// Work is spread over M blocks; when m is too short to give every thread a block, each M block's N panels are
/// split among threads as well (each re-packs its small A block, which is cheap next to its share of FLOPs).
/// </summary>
internal static unsafe class PackedGemm
{
    // KC·NR·4 bytes = 32 KiB of B micro-panel for 12×32 (L1 is 32–48 KiB); MC·KC·4 = 240 KiB of A block (L2 ≥ 512 KiB).
    // MC and NC are multiples of every kernel's MR (12, 6, 4) and NR (32, 16, 4).
    // Measured on the 1-thread AVX-512 path (bench gemm): KC 192/128 or MC 120/96 were 3–25% slower on 2048 shapes.
    internal const int KC = 256, MC = 240, NC = 3072;

    public static void Run(MatrixA a, MatrixB b, float* c, float alpha, float beta, GemmKernel kernel, int threads, ParallelOptions parallel)
    {
        int m = a.M, n = b.N, k = a.K;
        int mr = MicroKernels.Mr(kernel), nr = MicroKernels.Nr(kernel);
        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc);
            int panels = (nc + nr - 1) / nr;
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                float betaPass = pc == 0 ? beta : 1f;
                float* bBlock = Scratch.Current.Get(Scratch.PackedB, (long)panels * nr * kc);

                int packers = Math.Min(threads, panels);
                Workers.For(packers, threads, parallel, new PackBlockOfB(b, pc, kc, jc, nc, nr, panels, packers, bBlock, kernel));

                int mc = MC;
                if (threads > 1 && (m + MC - 1) / MC < threads) mc = Math.Max(mr, ((m + threads - 1) / threads + mr - 1) / mr * mr);
                int mBlocks = (m + mc - 1) / mc;
                int nSplits = threads > mBlocks ? Math.Min(panels, threads / mBlocks) : 1;
                int tasks = mBlocks * nSplits;
                Workers.For(tasks, threads, parallel, new Block(a, c, n, jc, nc, pc, kc, mc, panels, nSplits, alpha, betaPass, kernel, bBlock));
            }
        }
    }

    /// <summary>Packing of one KC×NC block of B, split by panel ranges over <c>parts</c> workers.</summary>
    private readonly struct PackBlockOfB(MatrixB b, int pc, int kc, int jc, int nc, int nr, int panels, int parts, float* bBlock, GemmKernel isa) : IWorkItem
    {
        public void Run(int t) =>
            Packing.PackB(b, pc, kc, jc, nc, nr, (int)((long)t * panels / parts) * nr, (int)((long)(t + 1) * panels / parts) * nr,
                bBlock, Scratch.Current.Get(Scratch.Row, kc), isa);
    }

    /// <summary>One (jc, pc) step's macro-kernel, callable per task (an M block × a range of N panels).</summary>
    private readonly struct Block(MatrixA a, float* c, int ldc, int jc, int nc, int pc, int kc, int mc, int panels, int nSplits,
        float alpha, float beta, GemmKernel kernel, float* bBlock) : IWorkItem
    {
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public void Run(int task)
        {
            int mr = MicroKernels.Mr(kernel), nr = MicroKernels.Nr(kernel);
            int ib = task / nSplits, js = task % nSplits;
            int i0 = ib * mc, rows = Math.Min(mc, a.M - i0);
            int from = (int)((long)js * panels / nSplits), to = (int)((long)(js + 1) * panels / nSplits);

            var scratch = Scratch.Current;
            float* aBlock = scratch.Get(Scratch.PackedA, (long)((rows + mr - 1) / mr * mr) * kc);
            Packing.PackA(a, i0, rows, pc, kc, mr, aBlock);
            float* tile = scratch.Get(Scratch.Tile, mr * nr);

            for (int jr = from; jr < to; jr++)
            {
                int j = jr * nr, cols = Math.Min(nr, nc - j);
                float* bp = bBlock + (long)j * kc;
                for (int ir = 0; ir < rows; ir += mr)
                {
                    int rr = Math.Min(mr, rows - ir);
                    float* ap = aBlock + (long)ir * kc;
                    float* cp = c + (long)(i0 + ir) * ldc + jc + j;
                    if (rr == mr && cols == nr)
                    {
                        MicroKernels.Run(kernel, kc, ap, bp, cp, ldc, alpha, beta);
                        continue;
                    }
                    // Edge tile: compute the full tile aside, then merge only the part inside C.
                    MicroKernels.Run(kernel, kc, ap, bp, tile, nr, 1f, 0f);
                    for (int ii = 0; ii < rr; ii++)
                    {
                        float* crow = cp + (long)ii * ldc;
                        float* trow = tile + ii * nr;
                        if (beta == 0f) for (int jj = 0; jj < cols; jj++) crow[jj] = alpha * trow[jj];
                        else for (int jj = 0; jj < cols; jj++) crow[jj] = alpha * trow[jj] + beta * crow[jj];
                    }
                }
            }
        }
    }
}
