using ILGPU;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

// C = alpha·A·op(Ŵ) + beta·C for an NF4 matrix W [out, in]: the tiled GEMM of IlgpuBackend.Gemm.cs (64×64 tile of C
// per group of 64 threads, k in slices of 16 staged in shared memory) with B's loader replaced: each thread decodes
// the NF4 elements it fetches, ŵ_i = NF4[code_i]·absmax_{i/64}, from the packed byte (high nibble = even element)
// and the block's scale, reading the 16 levels from a shared-memory copy. So W stays 4-bit in device memory.
// Decoding (m ≤ 4, op(Ŵ) = Ŵᵀ): one group per output column, its threads striding along row j of W.
public sealed partial class IlgpuBackend
{
    internal static void Nf4GemmKernel(GemmShape s, ArrayView<float> a, ArrayView<byte> codes, ArrayView<float> absmax,
        ArrayView<float> levels, ArrayView<float> c)
    {
        var sa = SharedMemory.Allocate<float>(GemmSlice * GemmPitch);
        var sb = SharedMemory.Allocate<float>(GemmSlice * GemmPitch);
        var lut = SharedMemory.Allocate<float>(16);
        int tid = Group.IdxX, tx = tid & 7, ty = tid >> 3;
        if (tid < 16) lut[tid] = levels[tid];
        Group.Barrier();
        int row0 = Grid.IdxY * GemmTile, col0 = Grid.IdxX * GemmTile;
        Vec8 c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        int kEnd = s.Alpha == 0f ? 0 : s.K;
        for (int k0 = 0; k0 < kEnd; k0 += GemmSlice)
        {
            PutA(s, sa, FetchA(s, a, 0, row0, k0, tid), tid);
            PutA(s, sa, FetchA(s, a, 0, row0, k0, tid + 512), tid + 512);
            PutB(s, sb, FetchNf4(s, codes, absmax, lut, col0, k0, tid), tid);
            PutB(s, sb, FetchNf4(s, codes, absmax, lut, col0, k0, tid + 512), tid + 512);
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
        StoreRow(s, c, 0, row0 + ty, col, c0);
        StoreRow(s, c, 0, row0 + ty + 8, col, c1);
        StoreRow(s, c, 0, row0 + ty + 16, col, c2);
        StoreRow(s, c, 0, row0 + ty + 24, col, c3);
        StoreRow(s, c, 0, row0 + ty + 32, col, c4);
        StoreRow(s, c, 0, row0 + ty + 40, col, c5);
        StoreRow(s, c, 0, row0 + ty + 48, col, c6);
        StoreRow(s, c, 0, row0 + ty + 56, col, c7);
    }

    internal static void Nf4GemvKernel(GemmShape s, ArrayView<float> a, ArrayView<byte> codes, ArrayView<float> absmax,
        ArrayView<float> levels, ArrayView<float> c)
    {
        var scratch = SharedMemory.Allocate<float>(GemmThreads);
        var lut = SharedMemory.Allocate<float>(16);
        if (Group.IdxX < 16) lut[Group.IdxX] = levels[Group.IdxX];
        Group.Barrier();
        int j = Grid.IdxX;
        long rowStart = (long)j * s.K;
        float p0 = 0f, p1 = 0f, p2 = 0f, p3 = 0f;
        int kEnd = s.Alpha == 0f ? 0 : s.K;
        for (int p = Group.IdxX; p < kEnd; p += Group.DimX)
        {
            float w = Nf4At(codes, absmax, lut, rowStart + p);
            p0 += w * a[p];
            if (s.M > 1) p1 += w * a[(long)s.K + p];
            if (s.M > 2) p2 += w * a[2L * s.K + p];
            if (s.M > 3) p3 += w * a[3L * s.K + p];
        }
        p0 = KernelMath.GroupSum(p0, scratch);
        if (s.M > 1) p1 = KernelMath.GroupSum(p1, scratch);
        if (s.M > 2) p2 = KernelMath.GroupSum(p2, scratch);
        if (s.M > 3) p3 = KernelMath.GroupSum(p3, scratch);
        if (Group.IdxX != 0) return;
        Store(s, c, j, j, p0);
        if (s.M > 1) Store(s, c, s.N + j, j, p1);
        if (s.M > 2) Store(s, c, 2L * s.N + j, j, p2);
        if (s.M > 3) Store(s, c, 3L * s.N + j, j, p3);
    }

    /// <summary>ŵ_i = NF4[code_i]·absmax_{i/64}; code_i is the high nibble of byte i/2 for even i, else the low.</summary>
    private static float Nf4At(ArrayView<byte> codes, ArrayView<float> absmax, ArrayView<float> lut, long i)
    {
        int pair = codes[i >> 1];
        int code = (i & 1) == 0 ? pair >> 4 : pair & 0xF;
        return lut[code] * absmax[i >> 6];
    }

    /// <summary>op(Ŵ)(gk, gj) for element e of B's slice; op(Ŵ) = Ŵᵀ when TransB (W stored [n, k]), else Ŵ ([k, n]).</summary>
    private static float ElementNf4(GemmShape s, ArrayView<byte> codes, ArrayView<float> absmax, ArrayView<float> lut, int col0, int k0, int e)
    {
        int gj = col0 + SliceMn(s.TransB, e, false), gk = k0 + SliceK(s.TransB, e, false);
        if (gj >= s.N || gk >= s.K) return 0f;
        return Nf4At(codes, absmax, lut, s.TransB == 0 ? (long)gk * s.N + gj : (long)gj * s.K + gk);
    }

    private static Vec8 FetchNf4(GemmShape s, ArrayView<byte> codes, ArrayView<float> absmax, ArrayView<float> lut, int col0, int k0, int e) => new()
    {
        X0 = ElementNf4(s, codes, absmax, lut, col0, k0, e), X1 = ElementNf4(s, codes, absmax, lut, col0, k0, e + 64),
        X2 = ElementNf4(s, codes, absmax, lut, col0, k0, e + 128), X3 = ElementNf4(s, codes, absmax, lut, col0, k0, e + 192),
        X4 = ElementNf4(s, codes, absmax, lut, col0, k0, e + 256), X5 = ElementNf4(s, codes, absmax, lut, col0, k0, e + 320),
        X6 = ElementNf4(s, codes, absmax, lut, col0, k0, e + 384), X7 = ElementNf4(s, codes, absmax, lut, col0, k0, e + 448),
    };

    private Action<KernelConfig, GemmShape, ArrayView<float>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>>? _nf4Gemm, _nf4Gemv;
    private MemoryBuffer1D<float, Stride1D.Dense>? _nf4Levels;

    public override void Nf4Gemm(Tensor a, Nf4Matrix w, bool transW, Tensor c, float alpha = 1f, float beta = 0f)
    {
        var (m, n, k) = Nf4GemmShape(a, w, transW, c);
        if (m == 0 || n == 0) return;
        var shape = new GemmShape { M = m, N = n, K = k, TransA = 0, TransB = transW ? 1 : 0, Alpha = alpha, Beta = beta };
        _nf4Levels ??= Accelerator.Allocate1D(Nf4Matrix.Levels.ToArray());
        bool gemv = m <= GemvMaxRows && transW;
        var config = gemv
            ? new KernelConfig(new Index3D(n, 1, 1), new Index3D(GemmThreads, 1, 1))
            : new KernelConfig(new Index3D((n + GemmTile - 1) / GemmTile, (m + GemmTile - 1) / GemmTile, 1), new Index3D(GemmThreads, 1, 1));
        var kernel = gemv
            ? _nf4Gemv ??= Accelerator.LoadStreamKernel<GemmShape, ArrayView<float>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Nf4GemvKernel)
            : _nf4Gemm ??= Accelerator.LoadStreamKernel<GemmShape, ArrayView<float>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Nf4GemmKernel);
        kernel(config, shape, View<float>(a), View<byte>(w.Codes), View<float>(w.Absmax), _nf4Levels.View, View<float>(c));
    }
}
