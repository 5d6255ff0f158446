using LoRAM.Tensors.Cpu;
using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>Embedding lookup (exact copies of the widened table) and its scatter-add (float32 sums; bound
/// |err| ≤ 1e-4 + 1e-5·|expected| for up to 50 repeated ids).</summary>
public class CpuEmbeddingTests
{
    private readonly CpuBackend _cpu = new(2);

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void Gather_reads_rows_of_a_table_in_any_float_dtype(DType dtype)
    {
        const int vocab = 11, d = 37;
        float[] table = RandomValues(vocab * d, 60, 4);
        int[] ids = [3, 0, 10, 3, 7, 7, 1];
        using var t32 = Tensor.FromArray(_cpu, table, vocab, d);
        using var t = t32.Cast(dtype);
        var stored = t.ToFloatArray();   // the table's values in its own dtype
        using var tid = Tensor.FromArray(_cpu, ids, ids.Length);
        using var y = Tensor.Empty(_cpu, ids.Length, d);
        _cpu.EmbeddingGather(t, tid, y);
        AssertClose(EmbeddingGather(stored, ids, d), y.ToArray<float>(), 0, 0, $"gather from {dtype}");
    }

    [Theory]
    [InlineData(11, 37, 7)]
    [InlineData(50, 1000, 200)]
    public void ScatterAdd_sums_repeated_ids_into_the_gradient(int vocab, int d, int n)
    {
        int[] ids = Enumerable.Range(0, n).Select(i => i * 5 % 4 % vocab).ToArray();   // heavy repetition
        float[] dy = RandomValues(n * d, 61), dt0 = RandomValues(vocab * d, 62);
        using var tid = Tensor.FromArray(_cpu, ids, n);
        using var tdy = Tensor.FromArray(_cpu, dy, n, d);
        using var dt = Tensor.FromArray(_cpu, dt0, vocab, d);
        _cpu.EmbeddingScatterAdd(tid, tdy, dt);
        AssertClose(EmbeddingScatterAdd(ids, dy, dt0, d), dt.ToArray<float>(), 1e-5, 1e-4, "scatter-add");
    }

    [Fact]
    public void Ids_outside_the_table_are_rejected()
    {
        using var t = Tensor.Zeros(_cpu, 4, 3);
        using var ids = Tensor.FromArray(_cpu, new[] { 1, 4 }, 2);
        using var y = Tensor.Empty(_cpu, 2, 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => _cpu.EmbeddingGather(t, ids, y));
        Assert.Throws<ArgumentOutOfRangeException>(() => _cpu.EmbeddingScatterAdd(ids, y, t));
    }
}
