using LoRAM.Tensors.Cpu;
using static LoRAM.Tensors.Tests.Reference;

namespace LoRAM.Tensors.Tests;

/// <summary>Rotate-half RoPE against float64. Bound: |err| ≤ 1e-6 + 1e-5·|expected|.</summary>
public class CpuRopeTests
{
    private readonly CpuBackend _cpu = new(2);

    [Theory]
    [InlineData(7, 3, 10, false)]
    [InlineData(7, 3, 10, true)]
    [InlineData(13, 2, 64, false)]
    public void Rope_rotates_each_half_pair_by_its_angle(int tokens, int heads, int headDim, bool inverse)
    {
        const int maxPos = 50;
        var (cos, sin) = RopeTables(maxPos, headDim);
        float[] x = RandomValues(tokens * heads * headDim, 50, 2);
        int[] pos = Enumerable.Range(0, tokens).Select(t => (t * 7 + 3) % maxPos).ToArray();
        using var tx = Tensor.FromArray(_cpu, x, tokens, heads, headDim);
        using var tc = Tensor.FromArray(_cpu, cos, maxPos, headDim / 2);
        using var ts = Tensor.FromArray(_cpu, sin, maxPos, headDim / 2);
        using var tp = Tensor.FromArray(_cpu, pos, tokens);
        using var y = Tensor.Empty(_cpu, tokens, heads, headDim);
        _cpu.Rope(tx, tc, ts, tp, inverse, y);
        AssertClose(Rope(x, cos, sin, pos, tokens, heads, headDim, inverse), y.ToArray<float>(), 1e-5, 1e-6, "Rope");
    }

    [Fact]
    public void Inverse_rope_undoes_rope_in_place()
    {
        const int tokens = 5, heads = 4, headDim = 18;
        var (cos, sin) = RopeTables(16, headDim);
        float[] x = RandomValues(tokens * heads * headDim, 51);
        using var tx = Tensor.FromArray(_cpu, x, tokens, heads, headDim);
        using var tc = Tensor.FromArray(_cpu, cos, 16, headDim / 2);
        using var ts = Tensor.FromArray(_cpu, sin, 16, headDim / 2);
        using var tp = Tensor.FromArray(_cpu, new[] { 0, 15, 3, 3, 9 }, tokens);
        _cpu.Rope(tx, tc, ts, tp, false, tx);
        _cpu.Rope(tx, tc, ts, tp, true, tx);
        AssertClose(x, tx.ToArray<float>(), 1e-5, 1e-6, "Rope⁻¹∘Rope");
    }
}
