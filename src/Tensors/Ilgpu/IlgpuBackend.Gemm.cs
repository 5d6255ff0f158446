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

    /// <summary>Eight floats held in registers: ILGPU keeps struct fields in registers, where an indexed local
    /// array would live in (slow) local memory.</summary>
    internal struct Vec8
    {
        public float X0, X1, X2, X3, X4, X5, X6, X7;

        /// <summary>s[at], s[at + 8], ..., s[at + 56]: a thread's 8 strided rows or columns of a shared slice.</summary>
        public static Vec8 Load(ArrayView<float> s, int at) => new()
        {
            X0 = s[at], X1 = s[at + 8], X2 = s[at + 16], X3 = s[at + 24],
            X4 = s[at + 32], X5 = s[at + 40], X6 = s[at + 48], X7 = s[at + 56],
        };

        /// <summary>acc + a·b, lane by lane.</summary>
        public static Vec8 Fma(Vec8 acc, float a, Vec8 b) => new()
        {
            X0 = acc.X0 + a * b.X0, X1 = acc.X1 + a * b.X1, X2 = acc.X2 + a * b.X2, X3 = acc.X3 + a * b.X3,
            X4 = acc.X4 + a * b.X4, X5 = acc.X5 + a * b.X5, X6 = acc.X6 + a * b.X6, X7 = acc.X7 + a * b.X7,
        };
    }

    internal static void GemmKernel<TB, TRead>(GemmShape s, ArrayView<float> a, ArrayView<TB> b, ArrayView<float> c)
        where TB : unmanaged where TRead : struct, IToFloat<TB>
    {
        TRead read = default;
        var sa = SharedMemory.Allocate<float>(GemmSlice * GemmPitch);
        var sb = SharedMemory.Allocate<float>(GemmSlice * GemmPitch);
        int tid = Group.IdxX, tx = tid & 7, ty = tid >> 3;
        int row0 = Grid.IdxY * GemmTile, col0 = Grid.IdxX * GemmTile;
        long aBase = Grid.IdxZ * s.StrideA, bBase = Grid.IdxZ * s.StrideB, cBase = Grid.IdxZ * s.StrideC;
        Vec8 c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;

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
                var ra = Vec8.Load(sa, kk * GemmPitch + ty);
                var rb = Vec8.Load(sb, kk * GemmPitch + tx);
                c0 = Vec8.Fma(c0, ra.X0, rb);
                c1 = Vec8.Fma(c1, ra.X1, rb);
                c2 = Vec8.Fma(c2, ra.X2, rb);
                c3 = Vec8.Fma(c3, ra.X3, rb);
                c4 = Vec8.Fma(c4, ra.X4, rb);
                c5 = Vec8.Fma(c5, ra.X5, rb);
                c6 = Vec8.Fma(c6, ra.X6, rb);
                c7 = Vec8.Fma(c7, ra.X7, rb);
            }
            Group.Barrier();
        }

        int col = col0 + tx;
        StoreRow(s, c, cBase, row0 + ty, col, c0);
        StoreRow(s, c, cBase, row0 + ty + 8, col, c1);
        StoreRow(s, c, cBase, row0 + ty + 16, col, c2);
        StoreRow(s, c, cBase, row0 + ty + 24, col, c3);
        StoreRow(s, c, cBase, row0 + ty + 32, col, c4);
        StoreRow(s, c, cBase, row0 + ty + 40, col, c5);
        StoreRow(s, c, cBase, row0 + ty + 48, col, c6);
        StoreRow(s, c, cBase, row0 + ty + 56, col, c7);
    }

    /// <summary>C[row, col + 8q] = alpha·v_q + beta·C[row, col + 8q] for the q inside the matrix.</summary>
    private static void StoreRow(GemmShape s, ArrayView<float> c, long cBase, int row, int col, Vec8 v)
    {
        if (row >= s.M) return;
        long at = cBase + (long)row * s.N + col;
        Store(s, c, at, col, v.X0);
        Store(s, c, at + 8, col + 8, v.X1);
        Store(s, c, at + 16, col + 16, v.X2);
        Store(s, c, at + 24, col + 24, v.X3);
        Store(s, c, at + 32, col + 32, v.X4);
        Store(s, c, at + 40, col + 40, v.X5);
        Store(s, c, at + 48, col + 48, v.X6);
        Store(s, c, at + 56, col + 56, v.X7);
    }

    private static void Store(GemmShape s, ArrayView<float> c, long at, int col, float value)
    {
        if (col >= s.N) return;
        float v = s.Alpha * value;
        c[at] = s.Beta == 0f ? v : v + s.Beta * c[at];   // beta = 0 ignores C (NaNs included)
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
