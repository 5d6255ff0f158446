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

    private Action<Index1D, long, int, int, int, ArrayView<float>, ArrayView<int>, ArrayView<float>>? _gatherF32;
    private Action<Index1D, long, int, int, int, ArrayView<ushort>, ArrayView<int>, ArrayView<float>>? _gatherBF16, _gatherF16;
    private Action<Index1D, long, int, int, int, ArrayView<int>, ArrayView<float>, ArrayView<float>>? _scatterAdd;

    public override void EmbeddingGather(Tensor table, Tensor ids, Tensor y)
    {
        RequireDType(ids, DType.I32, "EmbeddingGather");
        RequireF32("EmbeddingGather", y);
        int d = table.Cols, vocab = table.Rows;
        if (y.Length != ids.Length * d) throw new ArgumentException($"EmbeddingGather: table {table}, ids {ids}, y {y}");
        long n = y.Length;
        if (n == 0) return;
        int threads = StrideThreads(n);
        switch (table.DType)
        {
            case DType.F32:
                _gatherF32 ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, long, int, int, int, ArrayView<float>, ArrayView<int>, ArrayView<float>>(EmbeddingGatherKernel<float, F32Codec>);
                _gatherF32(threads, n, threads, d, vocab, View<float>(table), View<int>(ids), View<float>(y));
                break;
            case DType.BF16:
                _gatherBF16 ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, long, int, int, int, ArrayView<ushort>, ArrayView<int>, ArrayView<float>>(EmbeddingGatherKernel<ushort, BF16Codec>);
                _gatherBF16(threads, n, threads, d, vocab, View<ushort>(table), View<int>(ids), View<float>(y));
                break;
            case DType.F16:
                _gatherF16 ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, long, int, int, int, ArrayView<ushort>, ArrayView<int>, ArrayView<float>>(EmbeddingGatherKernel<ushort, F16Codec>);
                _gatherF16(threads, n, threads, d, vocab, View<ushort>(table), View<int>(ids), View<float>(y));
                break;
            default: throw new ArgumentException($"EmbeddingGather: table must be F32, BF16 or F16, got {table}");
        }
    }

    public override void EmbeddingScatterAdd(Tensor ids, Tensor dy, Tensor dtable)
    {
        RequireDType(ids, DType.I32, "EmbeddingScatterAdd");
        RequireF32("EmbeddingScatterAdd", dy, dtable);
        int d = dtable.Cols;
        if (dy.Length != ids.Length * d) throw new ArgumentException($"EmbeddingScatterAdd: ids {ids}, dy {dy}, dtable {dtable}");
        long n = dy.Length;
        if (n == 0) return;
        _scatterAdd ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, long, int, int, int, ArrayView<int>, ArrayView<float>, ArrayView<float>>(EmbeddingScatterAddKernel);
        int threads = StrideThreads(n);
        _scatterAdd(threads, n, threads, d, dtable.Rows, View<int>(ids), View<float>(dy), View<float>(dtable));
    }
}
