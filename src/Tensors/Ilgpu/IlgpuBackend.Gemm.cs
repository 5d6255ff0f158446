using ILGPU;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

// C[i] = alpha·op(A[i])·op(B[i]) + beta·C[i], tiled: each group of 64 threads computes a 64×64 tile of C, each thread
// an 8×8 block of it (rows ty + 8r, columns tx + 8c, so neighbouring threads write neighbouring columns). The k
// dimension is walked in slices of 16: the group stages the A and B slices in shared memory (B converted from its
// own dtype to float32 on the way, so a BF16/F16 weight is never widened in device memory), then every thread
// accumulates its 64 products in registers. Products of at most 4 rows against a [n, k] B (decoding) take a
// matrix-vector kernel instead.
public sealed partial class IlgpuBackend
{
    internal const int GemmTile = 64, GemmSlice = 16, GemmThreads = 64;
    /// <summary>Row pitch of the shared slices: one more than the tile, so the column-wise stores of a
    /// non-transposed A (and transposed B) fall in distinct banks.</summary>
    private const int GemmPitch = GemmTile + 1;

    /// <summary>A compile-time switch of a kernel: ILGPU specialises the kernel per struct, folding the branch.</summary>
    internal interface IFlag { bool On { get; } }
    internal readonly struct Yes : IFlag { public bool On => true; }
    internal readonly struct No : IFlag { public bool On => false; }

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

    /// <typeparam name="TPrefetch">Whether slice k+1 is fetched into registers while slice k is multiplied. It hides
    /// the global loads' latency and doubled F32 throughput on an H100 at 1024³ (and +25% at 2048×4096×4096), but with
    /// 16-bit B it was 20–30% slower at LLaMA sizes (the extra live registers cost more occupancy than it hides).</typeparam>
    internal static void GemmKernel<TB, TRead, TPrefetch>(GemmShape s, ArrayView<float> a, ArrayView<TB> b, ArrayView<float> c)
        where TB : unmanaged where TRead : struct, IToFloat<TB> where TPrefetch : struct, IFlag
    {
        bool prefetch = default(TPrefetch).On;
        var sa = SharedMemory.Allocate<float>(GemmSlice * GemmPitch);
        var sb = SharedMemory.Allocate<float>(GemmSlice * GemmPitch);
        int tid = Group.IdxX, tx = tid & 7, ty = tid >> 3;
        int row0 = Grid.IdxY * GemmTile, col0 = Grid.IdxX * GemmTile;
        long aBase = Grid.IdxZ * s.StrideA, bBase = Grid.IdxZ * s.StrideB, cBase = Grid.IdxZ * s.StrideC;
        Vec8 c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;

        // Each slice is 1024 elements of A and of B, 16 per thread (elements tid + 64r), fetched into registers (one
        // slice ahead when prefetching, so the loads of slice k+1 are in flight while slice k is multiplied).
        int kEnd = s.Alpha == 0f ? 0 : s.K;   // alpha = 0: C = beta·C, A and B unread (NaNs in them included)
        Vec8 pa0 = default, pa1 = default, pb0 = default, pb1 = default;
        if (prefetch && kEnd > 0)
        {
            pa0 = FetchA(s, a, aBase, row0, 0, tid);
            pa1 = FetchA(s, a, aBase, row0, 0, tid + 512);
            pb0 = FetchB<TB, TRead>(s, b, bBase, col0, 0, tid);
            pb1 = FetchB<TB, TRead>(s, b, bBase, col0, 0, tid + 512);
        }
        for (int k0 = 0; k0 < kEnd; k0 += GemmSlice)
        {
            if (!prefetch)
            {
                pa0 = FetchA(s, a, aBase, row0, k0, tid);
                pa1 = FetchA(s, a, aBase, row0, k0, tid + 512);
                pb0 = FetchB<TB, TRead>(s, b, bBase, col0, k0, tid);
                pb1 = FetchB<TB, TRead>(s, b, bBase, col0, k0, tid + 512);
            }
            PutA(s, sa, pa0, tid);
            PutA(s, sa, pa1, tid + 512);
            PutB(s, sb, pb0, tid);
            PutB(s, sb, pb1, tid + 512);
            Group.Barrier();
            int next = k0 + GemmSlice;
            if (prefetch && next < kEnd)
            {
                pa0 = FetchA(s, a, aBase, row0, next, tid);
                pa1 = FetchA(s, a, aBase, row0, next, tid + 512);
                pb0 = FetchB<TB, TRead>(s, b, bBase, col0, next, tid);
                pb1 = FetchB<TB, TRead>(s, b, bBase, col0, next, tid + 512);
            }
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

    /// <summary>Products with at most this many rows and B stored [n, k] (decoding through a Linear layer) take
    /// <see cref="GemvKernel{TB, TRead}"/>: the 64×64 tile would leave most of its rows empty and run too few groups.</summary>
    internal const int GemvMaxRows = 4;

    // C[i, j] for i < m ≤ 4 and one column j per group: the group's threads stride over k reading B's row j (contiguous,
    // so the loads coalesce), each keeping m partial sums, which a shared-memory reduction then adds up.
    internal static void GemvKernel<TB, TRead>(GemmShape s, ArrayView<float> a, ArrayView<TB> b, ArrayView<float> c)
        where TB : unmanaged where TRead : struct, IToFloat<TB>
    {
        var scratch = SharedMemory.Allocate<float>(GemmThreads);
        TRead read = default;
        int j = Grid.IdxX;
        long aBase = Grid.IdxZ * s.StrideA, bRow = Grid.IdxZ * s.StrideB + (long)j * s.K, cBase = Grid.IdxZ * s.StrideC;
        float p0 = 0f, p1 = 0f, p2 = 0f, p3 = 0f;
        int kEnd = s.Alpha == 0f ? 0 : s.K;
        for (int p = Group.IdxX; p < kEnd; p += Group.DimX)
        {
            float bv = read.ToFloat(b[bRow + p]);
            p0 += bv * RowOfA(s, a, aBase, 0, p);
            if (s.M > 1) p1 += bv * RowOfA(s, a, aBase, 1, p);
            if (s.M > 2) p2 += bv * RowOfA(s, a, aBase, 2, p);
            if (s.M > 3) p3 += bv * RowOfA(s, a, aBase, 3, p);
        }
        p0 = KernelMath.GroupSum(p0, scratch);
        if (s.M > 1) p1 = KernelMath.GroupSum(p1, scratch);   // s.M is the same for the whole group
        if (s.M > 2) p2 = KernelMath.GroupSum(p2, scratch);
        if (s.M > 3) p3 = KernelMath.GroupSum(p3, scratch);
        if (Group.IdxX != 0) return;
        Store(s, c, cBase + j, j, p0);
        if (s.M > 1) Store(s, c, cBase + s.N + j, j, p1);
        if (s.M > 2) Store(s, c, cBase + 2L * s.N + j, j, p2);
        if (s.M > 3) Store(s, c, cBase + 3L * s.N + j, j, p3);
    }

    /// <summary>Sizes of one fused <see cref="Backend.MultiLinear"/> launch: x [M, K], weights [N0 | N1 | N2, K] (N = 0: unused).</summary>
    internal struct MultiShape
    {
        public int M, K, N0, N1, N2;
    }

    // y_g[i, j] = Σ_p x[i, p]·W_g[j, p] for i < m ≤ 4 and up to three weights sharing x: one group per row of the
    // concatenation [W0; W1; W2], so the whole group of products is one launch; each group finds its weight and runs
    // GemvKernel's body on that row (strided over k, coalesced, then a shared-memory reduction).
    internal static void MultiGemvKernel<TB, TRead>(MultiShape s, ArrayView<float> x,
        ArrayView<TB> w0, ArrayView<TB> w1, ArrayView<TB> w2, ArrayView<float> y0, ArrayView<float> y1, ArrayView<float> y2)
        where TB : unmanaged where TRead : struct, IToFloat<TB>
    {
        var scratch = SharedMemory.Allocate<float>(GemmThreads);
        int r = Grid.IdxX;   // uniform over the group, so the branches (and the barriers inside) are too
        if (r < s.N0) MultiGemvRow<TB, TRead>(s.M, s.K, s.N0, x, w0, y0, r, scratch);
        else if (r < s.N0 + s.N1) MultiGemvRow<TB, TRead>(s.M, s.K, s.N1, x, w1, y1, r - s.N0, scratch);
        else MultiGemvRow<TB, TRead>(s.M, s.K, s.N2, x, w2, y2, r - s.N0 - s.N1, scratch);
    }

    /// <summary>y[i, j] = x[i, :]·W[j, :] for i &lt; m, W [n, k].</summary>
    private static void MultiGemvRow<TB, TRead>(int m, int k, int n, ArrayView<float> x, ArrayView<TB> w, ArrayView<float> y, int j,
        ArrayView<float> scratch) where TB : unmanaged where TRead : struct, IToFloat<TB>
    {
        TRead read = default;
        long row = (long)j * k;
        float p0 = 0f, p1 = 0f, p2 = 0f, p3 = 0f;
        for (int p = Group.IdxX; p < k; p += Group.DimX)
        {
            float wv = read.ToFloat(w[row + p]);
            p0 += wv * x[p];
            if (m > 1) p1 += wv * x[k + p];
            if (m > 2) p2 += wv * x[2L * k + p];
            if (m > 3) p3 += wv * x[3L * k + p];
        }
        p0 = KernelMath.GroupSum(p0, scratch);
        if (m > 1) p1 = KernelMath.GroupSum(p1, scratch);
        if (m > 2) p2 = KernelMath.GroupSum(p2, scratch);
        if (m > 3) p3 = KernelMath.GroupSum(p3, scratch);
        if (Group.IdxX != 0) return;
        y[j] = p0;
        if (m > 1) y[n + j] = p1;
        if (m > 2) y[2L * n + j] = p2;
        if (m > 3) y[3L * n + j] = p3;
    }

    protected override void MultiLinearCore(MultiLinearDims dims, Tensor x, IReadOnlyList<Tensor> weights, IReadOnlyList<Tensor> outputs)
    {
        var (m, k, n, dtype) = dims;
        if (m == 0) return;
        if (m > GemvMaxRows || k == 0)
        {
            for (int g = 0; g < n.Length; g++) GemmCore(new GemmDims(m, n[g], k, 1, true), x, false, weights[g], true, outputs[g], 1f, 0f);
            return;
        }
        var shape = new MultiShape { M = m, K = k, N0 = n[0], N1 = n.Length > 1 ? n[1] : 0, N2 = n.Length > 2 ? n[2] : 0 };
        var config = new KernelConfig(new Index3D(dims.TotalRows, 1, 1), new Index3D(GemmThreads, 1, 1));
        // Unused slots get weight 0's views: their rows (N = 0) are never reached.
        Tensor W(int g) => weights[g < n.Length ? g : 0];
        ArrayView<float> Y(int g) => View<float>(outputs[g < n.Length ? g : 0]);
        switch (dtype)
        {
            case DType.F32:
                Kernels.Get(static acc => acc.LoadStreamKernel<MultiShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>>(MultiGemvKernel<float, F32Codec>))(
                    config, shape, View<float>(x), View<float>(W(0)), View<float>(W(1)), View<float>(W(2)), Y(0), Y(1), Y(2));
                break;
            case DType.BF16:
                Kernels.Get(static acc => acc.LoadStreamKernel<MultiShape, ArrayView<float>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>>(MultiGemvKernel<ushort, BF16Codec>))(
                    config, shape, View<float>(x), View<ushort>(W(0)), View<ushort>(W(1)), View<ushort>(W(2)), Y(0), Y(1), Y(2));
                break;
            default:
                Kernels.Get(static acc => acc.LoadStreamKernel<MultiShape, ArrayView<float>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>,
                    ArrayView<float>, ArrayView<float>, ArrayView<float>>(MultiGemvKernel<ushort, F16Codec>))(
                    config, shape, View<float>(x), View<ushort>(W(0)), View<ushort>(W(1)), View<ushort>(W(2)), Y(0), Y(1), Y(2));
                break;
        }
    }

    /// <summary>op(A)[i, p].</summary>
    private static float RowOfA(GemmShape s, ArrayView<float> a, long aBase, int i, int p) =>
        s.TransA == 0 ? a[aBase + (long)i * s.K + p] : a[aBase + (long)p * s.M + i];

    // Element e of a slice, (kk, ii) of A's 16×64 slice or (kk, jj) of B's: consecutive e walk the operand's
    // contiguous dimension, so consecutive threads read consecutive addresses.
    private static int SliceK(int trans, int e, bool isA) => (trans == 0) == isA ? e % GemmSlice : e / GemmTile;
    private static int SliceMn(int trans, int e, bool isA) => (trans == 0) == isA ? e / GemmSlice : e % GemmTile;

    private static float ElementA(GemmShape s, ArrayView<float> a, long aBase, int row0, int k0, int e)
    {
        int gi = row0 + SliceMn(s.TransA, e, true), gk = k0 + SliceK(s.TransA, e, true);
        if (gi >= s.M || gk >= s.K) return 0f;
        return s.TransA == 0 ? a[aBase + (long)gi * s.K + gk] : a[aBase + (long)gk * s.M + gi];
    }

    private static float ElementB<TB, TRead>(GemmShape s, ArrayView<TB> b, long bBase, int col0, int k0, int e)
        where TB : unmanaged where TRead : struct, IToFloat<TB>
    {
        int gj = col0 + SliceMn(s.TransB, e, false), gk = k0 + SliceK(s.TransB, e, false);
        if (gj >= s.N || gk >= s.K) return 0f;
        TRead read = default;
        return read.ToFloat(s.TransB == 0 ? b[bBase + (long)gk * s.N + gj] : b[bBase + (long)gj * s.K + gk]);
    }

    /// <summary>Elements e, e + 64, ..., e + 448 of A's slice at k0.</summary>
    private static Vec8 FetchA(GemmShape s, ArrayView<float> a, long aBase, int row0, int k0, int e) => new()
    {
        X0 = ElementA(s, a, aBase, row0, k0, e), X1 = ElementA(s, a, aBase, row0, k0, e + 64),
        X2 = ElementA(s, a, aBase, row0, k0, e + 128), X3 = ElementA(s, a, aBase, row0, k0, e + 192),
        X4 = ElementA(s, a, aBase, row0, k0, e + 256), X5 = ElementA(s, a, aBase, row0, k0, e + 320),
        X6 = ElementA(s, a, aBase, row0, k0, e + 384), X7 = ElementA(s, a, aBase, row0, k0, e + 448),
    };

    private static Vec8 FetchB<TB, TRead>(GemmShape s, ArrayView<TB> b, long bBase, int col0, int k0, int e)
        where TB : unmanaged where TRead : struct, IToFloat<TB> => new()
    {
        X0 = ElementB<TB, TRead>(s, b, bBase, col0, k0, e), X1 = ElementB<TB, TRead>(s, b, bBase, col0, k0, e + 64),
        X2 = ElementB<TB, TRead>(s, b, bBase, col0, k0, e + 128), X3 = ElementB<TB, TRead>(s, b, bBase, col0, k0, e + 192),
        X4 = ElementB<TB, TRead>(s, b, bBase, col0, k0, e + 256), X5 = ElementB<TB, TRead>(s, b, bBase, col0, k0, e + 320),
        X6 = ElementB<TB, TRead>(s, b, bBase, col0, k0, e + 384), X7 = ElementB<TB, TRead>(s, b, bBase, col0, k0, e + 448),
    };

    private static void PutA(GemmShape s, ArrayView<float> sa, Vec8 v, int e)
    {
        Put(sa, s.TransA, true, e, v.X0); Put(sa, s.TransA, true, e + 64, v.X1);
        Put(sa, s.TransA, true, e + 128, v.X2); Put(sa, s.TransA, true, e + 192, v.X3);
        Put(sa, s.TransA, true, e + 256, v.X4); Put(sa, s.TransA, true, e + 320, v.X5);
        Put(sa, s.TransA, true, e + 384, v.X6); Put(sa, s.TransA, true, e + 448, v.X7);
    }

    private static void PutB(GemmShape s, ArrayView<float> sb, Vec8 v, int e)
    {
        Put(sb, s.TransB, false, e, v.X0); Put(sb, s.TransB, false, e + 64, v.X1);
        Put(sb, s.TransB, false, e + 128, v.X2); Put(sb, s.TransB, false, e + 192, v.X3);
        Put(sb, s.TransB, false, e + 256, v.X4); Put(sb, s.TransB, false, e + 320, v.X5);
        Put(sb, s.TransB, false, e + 384, v.X6); Put(sb, s.TransB, false, e + 448, v.X7);
    }

    /// <summary>Shared slices are k-major: [kk][i or j], pitch <see cref="GemmPitch"/>.</summary>
    private static void Put(ArrayView<float> slice, int trans, bool isA, int e, float v) =>
        slice[SliceK(trans, e, isA) * GemmPitch + SliceMn(trans, e, isA)] = v;

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

    protected override void GemmCore(GemmDims dims, Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha, float beta)
    {
        var (m, n, k, batch, broadcastB) = dims;
        if (m == 0 || n == 0 || batch == 0) return;

        var shape = new GemmShape
        {
            M = m, N = n, K = k, TransA = transA ? 1 : 0, TransB = transB ? 1 : 0,
            StrideA = (long)m * k, StrideB = broadcastB ? 0 : (long)k * n, StrideC = (long)m * n,
            Alpha = alpha, Beta = beta,
        };
        var va = View<float>(a);
        var vc = View<float>(c);
        // Grid z (the batch) is limited to 65535 on CUDA: larger batches go in chunks.
        for (long b0 = 0; b0 < batch; b0 += 65535)
        {
            int count = (int)Math.Min(65535, batch - b0);
            bool gemv = m <= GemvMaxRows && transB;
            var config = gemv
                ? new KernelConfig(new Index3D(n, 1, count), new Index3D(GemmThreads, 1, 1))
                : new KernelConfig(new Index3D((n + GemmTile - 1) / GemmTile, (m + GemmTile - 1) / GemmTile, count), new Index3D(GemmThreads, 1, 1));
            var ca = va.SubView(b0 * shape.StrideA, count * shape.StrideA);
            var cc = vc.SubView(b0 * shape.StrideC, count * shape.StrideC);
            long bOff = b0 * shape.StrideB, bLen = shape.StrideB == 0 ? (long)k * n : count * shape.StrideB;
            switch (b.DType)
            {
                case DType.F32:
                    var f32 = gemv
                        ? Kernels.Get(static acc => acc.LoadStreamKernel<GemmShape, ArrayView<float>, ArrayView<float>, ArrayView<float>>(GemvKernel<float, F32Codec>))
                        : Kernels.Get(static acc => acc.LoadStreamKernel<GemmShape, ArrayView<float>, ArrayView<float>, ArrayView<float>>(GemmKernel<float, F32Codec, Yes>));
                    f32(config, shape, ca, View<float>(b).SubView(bOff, bLen), cc);
                    break;
                case DType.BF16:
                    var bf16 = gemv
                        ? Kernels.Get(static acc => acc.LoadStreamKernel<GemmShape, ArrayView<float>, ArrayView<ushort>, ArrayView<float>>(GemvKernel<ushort, BF16Codec>))
                        : Kernels.Get(static acc => acc.LoadStreamKernel<GemmShape, ArrayView<float>, ArrayView<ushort>, ArrayView<float>>(GemmKernel<ushort, BF16Codec, No>));
                    bf16(config, shape, ca, View<ushort>(b).SubView(bOff, bLen), cc);
                    break;
                default:
                    var f16 = gemv
                        ? Kernels.Get(static acc => acc.LoadStreamKernel<GemmShape, ArrayView<float>, ArrayView<ushort>, ArrayView<float>>(GemvKernel<ushort, F16Codec>))
                        : Kernels.Get(static acc => acc.LoadStreamKernel<GemmShape, ArrayView<float>, ArrayView<ushort>, ArrayView<float>>(GemmKernel<ushort, F16Codec, No>));
                    f16(config, shape, ca, View<ushort>(b).SubView(bOff, bLen), cc);
                    break;
            }
        }
    }
}
