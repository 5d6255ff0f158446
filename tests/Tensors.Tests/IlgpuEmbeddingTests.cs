using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>Embedding gather (F32, BF16, F16 tables; exact) and scatter-add with repeated ids (atomics; float32
/// sums in any order: |err| ≤ 1e-6 + 1e-6·|expected|).</summary>
[Collection(IlgpuCollection.Name)]
public class IlgpuEmbeddingTests(IlgpuFixture f)
{
    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void Gather_copies_the_rows_of_the_ids_widened_exactly(DType dtype)
    {
        const int vocab = 23, d = 19;
        int[] ids = [3, 0, 22, 3, 7, 11];
        using var t32 = f.Up(RandomValues(vocab * d, 60), vocab, d);
        using var table = t32.Cast(dtype);
        using var values = table.Cast(DType.F32);
        using var tids = f.Up(ids, ids.Length);
        using var y = Tensor.Empty(f.Gpu, ids.Length, d);
        f.Gpu.EmbeddingGather(table, tids, y);
        AssertClose(EmbeddingGather(values.ToArray<float>(), ids, d), y.ToArray<float>(), 0, 0, "gather");
    }

    [Fact]
    public void Scatter_add_accumulates_repeated_ids()
    {
        const int vocab = 13, d = 21;
        int[] ids = [3, 0, 12, 3, 3, 7, 0];
        float[] dy = RandomValues(ids.Length * d, 61), dtable = RandomValues(vocab * d, 62);
        using var tids = f.Up(ids, ids.Length);
        using var tdy = f.Up(dy, ids.Length, d);
        using var tt = f.Up(dtable, vocab, d);
        f.Gpu.EmbeddingScatterAdd(tids, tdy, tt);
        AssertClose(EmbeddingScatterAdd(ids, dy, dtable, d), tt.ToArray<float>(), 1e-6, 1e-6, "scatter-add");
    }
}
