using ILGPU;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

// C[i] = alpha·op(A[i])·op(B[i]) + beta·C[i], tiled: each group of 64 threads computes a 64×64 tile of C, each thread
// an 8×8 block of it (rows ty + 8r, columns tx + 8c, so neighbouring threads write neighbouring columns). The k
// dimension is walked in slices of 16: the group stages the A and B slices in shared memory (B converted from its
// own dtype to float32 on the way, so a BF16/F16 weight is never widened in device memory), then every thread
// accumulates its 64 products from registers.
public sealed partial class IlgpuBackend
{
    internal const int GemmTile = 64, GemmSlice = 16, GemmThreads = 64;
    /// <summary>Row pitch of the shared slices: one more than the tile, so the column-wise stores of a
    /// non-transposed A (and transposed B) fall in distinct banks.</summary>
    private const int GemmPitch = GemmTile + 1;

    internal struct GemmShape
    {
        public int M, N, K, TransA, TransB;
        public long StrideA, StrideB, StrideC;
        public float Alpha, Beta;
    }

    internal static void GemmKernel<TB, TRead>(GemmShape s, ArrayView<float> a, ArrayView<TB> b, ArrayView<float> c)
        where TB : unmanaged where TRead : struct, IToFloat<TB>
    {
        TRead read = default;
        var sa = SharedMemory.Allocate<float>(GemmSlice * GemmPitch);
        var sb = SharedMemory.Allocate<float>(GemmSlice * GemmPitch);
        var acc = LocalMemory.Allocate<float>(64);
        var ra = LocalMemory.Allocate<float>(8);
        var rb = LocalMemory.Allocate<float>(8);
        int tid = Group.IdxX, tx = tid & 7, ty = tid >> 3;
        int row0 = Grid.IdxY * GemmTile, col0 = Grid.IdxX * GemmTile;
        long aBase = Grid.IdxZ * s.StrideA, bBase = Grid.IdxZ * s.StrideB, cBase = Grid.IdxZ * s.StrideC;
        for (int i = 0; i < 64; i++) acc[i] = 0f;

        int kEnd = s.Alpha == 0f ? 0 : s.K;   // alpha = 0: C = beta·C, A and B unread (NaNs in them included)
        for (int k0 = 0; k0 < kEnd; k0 += GemmSlice)
        {
            // Stage the slices: 1024 elements of each, 16 per thread, consecutive threads reading consecutive addresses.
            for (int r = 0; r < GemmSlice * GemmTile / GemmThreads; r++)
            {
                int e = tid + r * GemmThreads;
                int kk, ii;
                if (s.TransA == 0) { kk = e % GemmSlice; ii = e / GemmSlice; }
                else { ii = e % GemmTile; kk = e / GemmTile; }
                int gi = row0 + ii, gk = k0 + kk;
                float va = 0f;
                if (gi < s.M && gk < s.K) va = s.TransA == 0 ? a[aBase + (long)gi * s.K + gk] : a[aBase + (long)gk * s.M + gi];
                sa[kk * GemmPitch + ii] = va;

                int jj;
                if (s.TransB == 0) { jj = e % GemmTile; kk = e / GemmTile; }
                else { kk = e % GemmSlice; jj = e / GemmSlice; }
                int gj = col0 + jj;
                gk = k0 + kk;
                float vb = 0f;
                if (gj < s.N && gk < s.K) vb = read.ToFloat(s.TransB == 0 ? b[bBase + (long)gk * s.N + gj] : b[bBase + (long)gj * s.K + gk]);
                sb[kk * GemmPitch + jj] = vb;
            }
            Group.Barrier();
            for (int kk = 0; kk < GemmSlice; kk++)
            {
                for (int r = 0; r < 8; r++)
                {
                    ra[r] = sa[kk * GemmPitch + ty + 8 * r];
                    rb[r] = sb[kk * GemmPitch + tx + 8 * r];
                }
                for (int r = 0; r < 8; r++)
                for (int q = 0; q < 8; q++)
                    acc[r * 8 + q] += ra[r] * rb[q];
            }
            Group.Barrier();
        }

        for (int r = 0; r < 8; r++)
        {
            int gi = row0 + ty + 8 * r;
            if (gi >= s.M) continue;
            for (int q = 0; q < 8; q++)
            {
                int gj = col0 + tx + 8 * q;
                if (gj >= s.N) continue;
                long idx = cBase + (long)gi * s.N + gj;
                float v = s.Alpha * acc[r * 8 + q];
                c[idx] = s.Beta == 0f ? v : v + s.Beta * c[idx];   // beta = 0 ignores C (NaNs included)
            }
        }
    }

    private Action<KernelConfig, GemmShape, ArrayView<float>, ArrayView<float>, ArrayView<float>>? _gemmF32;
    private Action<KernelConfig, GemmShape, ArrayView<float>, ArrayView<ushort>, ArrayView<float>>? _gemmBF16, _gemmF16;

    public override void Gemm(Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha = 1f, float beta = 0f)
    {
        if (a.DType != DType.F32 || c.DType != DType.F32) throw new ArgumentException($"Gemm: A and C must be F32 (got {a.DType}, {c.DType})");
        if (b.DType is not (DType.F32 or DType.BF16 or DType.F16)) throw new ArgumentException($"Gemm: B must be F32, BF16 or F16 (got {b.DType})");
        if (a.Rank < 2 || b.Rank < 2 || c.Rank < 2) throw new ArgumentException($"Gemm: operands must have rank ≥ 2 ({a}, {b}, {c})");
        int m = transA ? a.Dim(-1) : a.Dim(-2), k = transA ? a.Dim(-2) : a.Dim(-1);
        int kb = transB ? b.Dim(-1) : b.Dim(-2), n = transB ? b.Dim(-2) : b.Dim(-1);
        long batch = Batch(a), batchB = Batch(b);
        if (kb != k || c.Dim(-2) != m || c.Dim(-1) != n || Batch(c) != batch || (batchB != batch && batchB != 1))
            throw new ArgumentException($"Gemm: shapes do not agree: A[{string.Join(", ", a.ShapeArray())}]{(transA ? "ᵀ" : "")} · " +
                                        $"B[{string.Join(", ", b.ShapeArray())}]{(transB ? "ᵀ" : "")} → C[{string.Join(", ", c.ShapeArray())}]");
        if (m == 0 || n == 0 || batch == 0) return;

        var shape = new GemmShape
        {
            M = m, N = n, K = k, TransA = transA ? 1 : 0, TransB = transB ? 1 : 0,
            StrideA = (long)m * k, StrideB = batchB == 1 ? 0 : (long)k * n, StrideC = (long)m * n,
            Alpha = alpha, Beta = beta,
        };
        var va = View<float>(a);
        var vc = View<float>(c);
        // Grid z (the batch) is limited to 65535 on CUDA: larger batches go in chunks.
        for (long b0 = 0; b0 < batch; b0 += 65535)
        {
            int count = (int)Math.Min(65535, batch - b0);
            var config = new KernelConfig(new Index3D((n + GemmTile - 1) / GemmTile, (m + GemmTile - 1) / GemmTile, count), new Index3D(GemmThreads, 1, 1));
            var ca = va.SubView(b0 * shape.StrideA, count * shape.StrideA);
            var cc = vc.SubView(b0 * shape.StrideC, count * shape.StrideC);
            long bOff = b0 * shape.StrideB, bLen = shape.StrideB == 0 ? (long)k * n : count * shape.StrideB;
            switch (b.DType)
            {
                case DType.F32:
                    _gemmF32 ??= Accelerator.LoadStreamKernel<GemmShape, ArrayView<float>, ArrayView<float>, ArrayView<float>>(GemmKernel<float, F32Codec>);
                    _gemmF32(config, shape, ca, View<float>(b).SubView(bOff, bLen), cc);
                    break;
                case DType.BF16:
                    _gemmBF16 ??= Accelerator.LoadStreamKernel<GemmShape, ArrayView<float>, ArrayView<ushort>, ArrayView<float>>(GemmKernel<ushort, BF16Codec>);
                    _gemmBF16(config, shape, ca, View<ushort>(b).SubView(bOff, bLen), cc);
                    break;
                default:
                    _gemmF16 ??= Accelerator.LoadStreamKernel<GemmShape, ArrayView<float>, ArrayView<ushort>, ArrayView<float>>(GemmKernel<ushort, F16Codec>);
                    _gemmF16(config, shape, ca, View<ushort>(b).SubView(bOff, bLen), cc);
                    break;
            }
        }
    }

    private static long Batch(Tensor t)
    {
        long p = 1;
        for (int i = 0; i < t.Rank - 2; i++) p *= t.Dim(i);
        return p;
    }
}
