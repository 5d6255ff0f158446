using System.Numerics.Tensors;

namespace LoRAM.Tensors.Cpu;

public sealed unsafe partial class CpuBackend
{
    // y[i, :] = table[ids[i], :], widening a BF16/F16 table row by row (the table itself is never widened).
    protected override void EmbeddingGatherCore(Tensor table, Tensor ids, Tensor y)
    {
        int vocab = table.Rows, d = table.Cols, n = checked((int)ids.Length);
        int* pid = Ptr<int>(ids);
        CheckIds(pid, n, vocab, "EmbeddingGather");
        byte* pt = Ptr<byte>(table);
        float* py = Ptr<float>(y);
        DType dtype = table.DType;
        ForRange(n, d, (s, e) =>
        {
            for (int i = s; i < e; i++)
            {
                long src = (long)pid[i] * d;
                var dst = new Span<float>(py + (long)i * d, d);
                switch (dtype)
                {
                    case DType.F32: new ReadOnlySpan<float>((float*)pt + src, d).CopyTo(dst); break;
                    case DType.F16: TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)pt + src, d), dst); break;
                    case DType.BF16: ToSingle((ushort*)pt + src, dst); break;
                    default: throw new ArgumentException($"EmbeddingGather: unsupported table dtype {dtype}");
                }
            }
        });
    }

    // dtable[ids[i], :] += dy[i, :]. Threads split the columns, not the ids: every thread walks all ids in order
    // over its own column range, so repeated ids need no atomics and the sums are deterministic.
    protected override void EmbeddingScatterAddCore(Tensor ids, Tensor dy, Tensor dtable)
    {
        int vocab = dtable.Rows, d = dtable.Cols, n = checked((int)ids.Length);
        int* pid = Ptr<int>(ids);
        CheckIds(pid, n, vocab, "EmbeddingScatterAdd");
        float* pdy = Ptr<float>(dy), pt = Ptr<float>(dtable);
        ForRange(d, n, (s, e) =>
        {
            for (int i = 0; i < n; i++)
                TensorPrimitives.Add(new ReadOnlySpan<float>(pt + (long)pid[i] * d + s, e - s),
                    new ReadOnlySpan<float>(pdy + (long)i * d + s, e - s), new Span<float>(pt + (long)pid[i] * d + s, e - s));
        });
    }

    private static void CheckIds(int* ids, int n, int vocab, string kernel)
    {
        for (int i = 0; i < n; i++)
            if ((uint)ids[i] >= (uint)vocab)
                throw new ArgumentOutOfRangeException("ids", ids[i], $"{kernel}: id at {i} outside a table of {vocab} rows");
    }
}
