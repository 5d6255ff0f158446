using ILGPU;
using ILGPU.Runtime;

namespace LoRAM.Tensors.Ilgpu;

// Token embeddings: a gather that widens a BF16/F16 table element by element, and its transpose, a scatter-add
// with atomics (repeated ids in a batch hit the same row).
public sealed partial class IlgpuBackend
{
    // y[i, c] = table[ids[i], c]; an id outside the table (not checkable on the host without a download) yields NaN.
    internal static void EmbeddingGatherKernel<T, TRead>(Index1D t, long n, int stride, int d, int vocab,
        ArrayView<T> table, ArrayView<int> ids, ArrayView<float> y) where T : unmanaged where TRead : struct, IToFloat<T>
    {
        TRead read = default;
        for (long e = t; e < n; e += stride)
        {
            long i = e / d;
            int c = (int)(e - i * d), id = ids[i];
            y[e] = id < 0 || id >= vocab ? float.NaN : read.ToFloat(table[(long)id * d + c]);
        }
    }

    // dtable[ids[i], c] += dy[i, c]; ids outside the table are skipped.
    internal static void EmbeddingScatterAddKernel(Index1D t, long n, int stride, int d, int vocab,
        ArrayView<int> ids, ArrayView<float> dy, ArrayView<float> dtable)
    {
        for (long e = t; e < n; e += stride)
        {
            long i = e / d;
            int c = (int)(e - i * d), id = ids[i];
            if (id >= 0 && id < vocab) Atomic.Add(ref dtable[(long)id * d + c], dy[e]);
        }
    }

    protected override void EmbeddingGatherCore(Tensor table, Tensor ids, Tensor y)
    {
        if (y.Length == 0) return;
        switch (table.DType)
        {
            case DType.F32: Gather<float, F32Codec>(table, ids, y); break;
            case DType.BF16: Gather<ushort, BF16Codec>(table, ids, y); break;
            default: Gather<ushort, F16Codec>(table, ids, y); break;
        }
    }

    private void Gather<T, TRead>(Tensor table, Tensor ids, Tensor y) where T : unmanaged where TRead : struct, IToFloat<T>
    {
        var kernel = Kernels.Get(static acc => acc.LoadAutoGroupedStreamKernel<Index1D, long, int, int, int,
            ArrayView<T>, ArrayView<int>, ArrayView<float>>(EmbeddingGatherKernel<T, TRead>));
        int threads = StrideThreads(y.Length);
        kernel(threads, y.Length, threads, table.Cols, table.Rows, View<T>(table), View<int>(ids), View<float>(y));
    }

    protected override void EmbeddingScatterAddCore(Tensor ids, Tensor dy, Tensor dtable)
    {
        long n = dy.Length;
        if (n == 0) return;
        var kernel = Kernels.Get(static acc => acc.LoadAutoGroupedStreamKernel<Index1D, long, int, int, int,
            ArrayView<int>, ArrayView<float>, ArrayView<float>>(EmbeddingScatterAddKernel));
        int threads = StrideThreads(n);
        kernel(threads, n, threads, dtable.Cols, dtable.Rows, View<int>(ids), View<float>(dy), View<float>(dtable));
    }
}
